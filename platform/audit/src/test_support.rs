//! Builders of valid hash-chained streams, for the unit tests and (by `#[path]`) the binary's
//! integration test. Depends on nothing but the kernel.
#![allow(dead_code)]

use agora_kernel::{RecordedEvent, GENESIS_HASH};
use serde_json::json;

/// A valid stream of `n` events (sequences 1..=n), chained from the genesis hash the way the
/// event store records them.
pub fn chained_stream(aggregate_type: &str, aggregate_id: &str, n: u64) -> Vec<RecordedEvent> {
    let mut events: Vec<RecordedEvent> = (1..=n)
        .map(|sequence| RecordedEvent {
            aggregate_type: aggregate_type.to_string(),
            aggregate_id: aggregate_id.to_string(),
            sequence,
            event_type: if sequence == 1 { "Opened" } else { "ItemAdded" }.to_string(),
            event_version: "1".to_string(),
            payload: json!({"sku": format!("SKU-{sequence}"), "quantity": sequence, "note": "ü \"q\"\n"}),
            metadata: json!({
                "actor": {"kind": "system", "id": "test"},
                "causation_id": format!("cmd-{sequence}"),
                "recorded_at": format!("2026-01-01T00:00:{:02}Z", sequence % 60),
            }),
        })
        .collect();
    rechain(&mut events);
    events
}

/// Recomputes every event's `prev_hash` and `hash` from the genesis hash, as an attacker with
/// write access to the store would after editing an event.
pub fn rechain(events: &mut [RecordedEvent]) {
    let mut prev = GENESIS_HASH.to_string();
    for event in events {
        event.metadata["prev_hash"] = json!(prev);
        let hash = event.compute_hash(&prev);
        event.metadata["hash"] = json!(hash);
        prev = hash;
    }
}
