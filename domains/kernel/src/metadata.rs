use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{CommandId, CorrelationId};

/// The hash that precedes the first event of every stream.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is recorded beside every event. Together with the event itself it is hashed into the
/// stream's chain: `hash = sha256(prev_hash ‖ canonical(event without hash))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventMetadata {
    pub command_id: CommandId,
    pub correlation_id: CorrelationId,
    /// The id of the message (command or event) that caused this one.
    pub causation_id: String,
    /// Who acted: `{"kind": "guest" | "customer" | "staff" | "system", "id", "role"}`.
    pub actor: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
    /// W3C trace context of the request, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The chain hash of one event. Inputs are canonical: serde_json (without `preserve_order`)
/// writes object keys sorted, so the same event always hashes the same, whether it was just built
/// or read back from Postgres. The `hash` field itself is excluded.
#[allow(clippy::too_many_arguments)]
pub fn chain_hash(
    prev_hash: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    payload: &serde_json::Value,
    metadata: &serde_json::Value,
) -> String {
    let mut metadata = metadata.clone();
    if let Some(object) = metadata.as_object_mut() {
        object.remove("hash");
    }
    let canonical = serde_json::json!([
        prev_hash,
        aggregate_type,
        aggregate_id,
        sequence,
        event_type,
        event_version,
        payload,
        metadata
    ]);
    let mut hasher = Sha256::new();
    hasher.update(canonical.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hash_ignores_key_order_and_its_own_field() {
        let a = chain_hash(
            GENESIS_HASH,
            "cart",
            "x",
            1,
            "ItemAdded",
            "1",
            &json!({"a":1,"b":2}),
            &json!({"hash":"h1","z":1}),
        );
        let b = chain_hash(
            GENESIS_HASH,
            "cart",
            "x",
            1,
            "ItemAdded",
            "1",
            &json!({"b":2,"a":1}),
            &json!({"z":1,"hash":"other"}),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn any_change_to_the_event_changes_the_hash() {
        let base = chain_hash(
            GENESIS_HASH,
            "cart",
            "x",
            1,
            "ItemAdded",
            "1",
            &json!({"q":1}),
            &json!({}),
        );
        assert_ne!(
            base,
            chain_hash(
                GENESIS_HASH,
                "cart",
                "x",
                1,
                "ItemAdded",
                "1",
                &json!({"q":2}),
                &json!({})
            )
        );
        assert_ne!(
            base,
            chain_hash(
                GENESIS_HASH,
                "cart",
                "x",
                2,
                "ItemAdded",
                "1",
                &json!({"q":1}),
                &json!({})
            )
        );
        assert_ne!(
            base,
            chain_hash(
                &"1".repeat(64),
                "cart",
                "x",
                1,
                "ItemAdded",
                "1",
                &json!({"q":1}),
                &json!({})
            )
        );
    }
}
