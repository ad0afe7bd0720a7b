//! A stream of 100,000 events through the auditor's API: it pages by sequence and by time,
//! and is verified whole in one streamed pass, without the process's memory growing with the
//! stream. A binary of its own, so no other test's platform shares (and inflates) its memory.

mod common;

use common::admin_get as get;

use agora::Roles;
use agora_kernel::{RecordedEvent, GENESIS_HASH};
use common::{spawn_app, TestApp};
use serde_json::json;

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// The high-water mark of this process's resident memory, in kB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Writes a valid hash-chained stream of `n` events straight into the store (the fastest way
/// to a stream of 100,000 events; the chain is exactly what the actor host would write).
async fn write_long_stream(app: &TestApp, aggregate_type: &str, aggregate_id: &str, n: u64) {
    let mut prev = GENESIS_HASH.to_string();
    let mut sequence = 0;
    while sequence < n {
        let mut batch: Vec<RecordedEvent> = Vec::with_capacity(5_000);
        for _ in 0..5_000.min(n - sequence) {
            sequence += 1;
            let mut e = RecordedEvent {
                aggregate_type: aggregate_type.into(),
                aggregate_id: aggregate_id.into(),
                sequence,
                event_type: "Counted".into(),
                event_version: "1".into(),
                payload: json!({"Counted": {"n": sequence, "note": "x".repeat(200)}}),
                metadata: json!({
                    "command_id": uuid::Uuid::new_v4(), "correlation_id": uuid::Uuid::new_v4(),
                    "causation_id": "test", "actor": {"kind": "system", "id": "test"},
                    "recorded_at": chrono::Utc::now(), "prev_hash": prev, "hash": "",
                }),
            };
            let hash = e.compute_hash(&prev);
            e.metadata["hash"] = json!(hash);
            prev = hash;
            batch.push(e);
        }
        let seqs: Vec<i64> = batch.iter().map(|e| e.sequence as i64).collect();
        let payloads: Vec<String> = batch.iter().map(|e| e.payload.to_string()).collect();
        let metadata: Vec<String> = batch.iter().map(|e| e.metadata.to_string()).collect();
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT $1, $2, s, 'Counted', '1', p::json, m::json FROM UNNEST($3::bigint[], $4::text[], $5::text[]) AS t(s, p, m)",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(&seqs)
        .bind(&payloads)
        .bind(&metadata)
        .execute(&app.pool)
        .await
        .expect("insert");
    }
    sqlx::query("DELETE FROM event_outbox WHERE aggregate_type = $1")
        .bind(aggregate_type)
        .execute(&app.pool)
        .await
        .expect("no feed for the test's own stream type");
}

#[tokio::test]
async fn a_stream_of_100000_events_pages_and_verifies_in_constant_memory() {
    let app = spawn_app(Roles {
        edge: true,
        ..Roles::default()
    })
    .await;
    write_long_stream(&app, "counter", "long", 100_000).await;

    // Paged by sequence: 100 pages of 1,000, consecutive, each bounded.
    let before = peak_rss_kb();
    let mut after = 0u64;
    let mut pages = 0;
    loop {
        let (status, page) = get(
            &app,
            &format!("/audit/streams/counter/long?limit=1000&after={after}"),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events");
        assert!(events.len() <= 1000);
        for e in events {
            after += 1;
            assert_eq!(e["sequence"].as_u64(), Some(after));
        }
        pages += 1;
        match page["next_after"].as_u64() {
            Some(next) => assert_eq!(next, after),
            None => break,
        }
    }
    assert_eq!((after, pages), (100_000, 100));

    // Verified whole, streamed: the chain of 100,000 events checks out.
    let (status, page) = get(&app, "/audit/streams/counter/long?limit=1&verify=true").await;
    assert_eq!(status, 200);
    assert_eq!(page["verdict"]["intact"], true, "{page}");
    assert_eq!(page["verdict"]["events"], 100_000);
    assert_eq!(page["head"]["sequence"], 100_000);
    // The stream's events take some 80 MB as JSON values; paging and verifying them
    // never held more than a page.
    let grown_kb = peak_rss_kb().saturating_sub(before);
    assert!(grown_kb < 40_000, "peak memory grew by {grown_kb} kB");

    // Paged by time: nothing before the first event, everything from it.
    let (_, first) = get(&app, "/audit/streams/counter/long?limit=1").await;
    let at = first["events"][0]["metadata"]["recorded_at"]
        .as_str()
        .expect("time")
        .to_string();
    let (status, page) = get(
        &app,
        &format!("/audit/streams/counter/long?limit=5&to={}", urlencode(&at)),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(0));
    app.stop().await;
}
