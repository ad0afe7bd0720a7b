//! The feed relay against a real Postgres and NATS server: it stops publishing when it loses its
//! lock, a standby takes over, and a row that cannot be published is set aside.

use std::time::Duration;

use agora_nats::subjects;
use agora_testkit::{eventually, TestDb, TestNats};
use async_nats::jetstream;
use sqlx::{Connection, PgPool};
use tokio::sync::oneshot;

/// The relay's advisory-lock key (see `feed.rs`).
const RELAY_LOCK: i64 = 0x4147_4f52_4101;
const WAIT: Duration = Duration::from_secs(20);

struct Setup {
    _db: TestDb,
    _nats: TestNats,
    db_url: String,
    pool: PgPool,
    client: async_nats::Client,
}

async fn setup() -> anyhow::Result<Setup> {
    let db = TestDb::create().await?;
    let nats = TestNats::start()?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&db.url())
        .await?;
    agora_runtime::MIGRATOR.run(&pool).await?;
    let client = async_nats::connect(nats.url()).await?;
    Ok(Setup {
        db_url: db.url(),
        _db: db,
        _nats: nats,
        pool,
        client,
    })
}

/// A relay running until the returned sender is dropped or fired.
fn start_relay(
    s: &Setup,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(agora_runtime::feed::run_relay(
        s.pool.clone(),
        s.client.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    (stop, task)
}

/// Commits an event the way the store does as far as the feed cares: the trigger adds its
/// outbox row.
async fn commit(pool: &PgPool, id: &str, sequence: i64, payload: serde_json::Value) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('counter', $1, $2, 'Added', '1.0', $3, '{}')",
    )
    .bind(id)
    .bind(sequence)
    .bind(sqlx::types::Json(payload))
    .execute(pool)
    .await
    .expect("insert event");
}

async fn outbox_len(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM event_outbox")
        .fetch_one(pool)
        .await
        .expect("count outbox")
}

/// The feed subjects JetStream holds, in stream order.
async fn published(client: &async_nats::Client) -> Vec<String> {
    let js = jetstream::new(client.clone());
    let mut stream = js
        .get_stream(subjects::EVENT_STREAM)
        .await
        .expect("feed stream");
    let last = stream
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let mut subjects = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            subjects.push(m.subject.to_string());
        }
    }
    subjects
}

/// The backend holding the relay lock, if any.
async fn lock_holder(pool: &PgPool) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND ((classid::bigint << 32) | objid::bigint) = $1",
    )
    .bind(RELAY_LOCK)
    .fetch_optional(pool)
    .await
    .expect("read pg_locks")
}

#[tokio::test]
async fn a_relay_whose_lock_connection_dies_stops_publishing_and_a_standby_takes_over(
) -> anyhow::Result<()> {
    let s = setup().await?;
    let (stop_a, relay_a) = start_relay(&s);
    commit(&s.pool, "a", 1, serde_json::json!({"Added": 1})).await;
    eventually(WAIT, || async {
        (outbox_len(&s.pool).await == 0).then_some(())
    })
    .await?;
    let holder = lock_holder(&s.pool).await.expect("relay A holds the lock");

    // Relay A's lock connection dies (as on a network cut or a Postgres restart of that
    // backend). Another session takes the lock at once, standing for a standby that won the
    // election and now publishes: from here on, A must not publish a single row.
    let mut other = sqlx::PgConnection::connect(&s.db_url).await?;
    // One statement, so this session queues for the lock while the terminated backend still
    // holds it: A, reconnecting, cannot jump the queue.
    let (terminated, _): (bool, ()) =
        sqlx::query_as("SELECT pg_terminate_backend($1), pg_advisory_lock($2)")
            .bind(holder)
            .bind(RELAY_LOCK)
            .fetch_one(&mut other)
            .await?;
    assert!(terminated);
    // A second relay stands by meanwhile.
    let (stop_b, relay_b) = start_relay(&s);

    commit(&s.pool, "a", 2, serde_json::json!({"Added": 2})).await;
    // Proving that nothing is published needs a wait: twenty relay polls (100 ms each).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        outbox_len(&s.pool).await,
        1,
        "a relay published without holding the lock"
    );
    assert_eq!(published(&s.client).await, vec!["agora.evt.counter.a"]);

    // A stops for good; when the lock is free again, the standby B takes over and publishes.
    let _ = stop_a.send(());
    relay_a.await??;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(RELAY_LOCK)
        .execute(&mut other)
        .await?;
    eventually(WAIT, || async {
        (outbox_len(&s.pool).await == 0).then_some(())
    })
    .await?;
    assert_eq!(
        published(&s.client).await,
        vec!["agora.evt.counter.a", "agora.evt.counter.a"]
    );
    assert!(lock_holder(&s.pool).await.is_some(), "B holds the lock");
    let _ = stop_b.send(());
    relay_b.await??;
    Ok(())
}

#[tokio::test]
async fn a_row_that_cannot_be_published_is_set_aside_and_the_rows_behind_it_are_published(
) -> anyhow::Result<()> {
    let s = setup().await?;
    let (stop, relay) = start_relay(&s);
    let max_payload = s.client.server_info().max_payload;
    commit(&s.pool, "good", 1, serde_json::json!({"Added": 1})).await;
    // Bigger than anything the server accepts in one message.
    let huge = "x".repeat(max_payload + 1);
    commit(&s.pool, "huge", 1, serde_json::json!({ "note": huge })).await;
    // An id that is no subject token (the store does not check; the subject grammar does).
    commit(&s.pool, "not a token", 1, serde_json::json!({"Added": 1})).await;
    commit(&s.pool, "good", 2, serde_json::json!({"Added": 2})).await;

    eventually(WAIT, || async {
        (outbox_len(&s.pool).await == 0).then_some(())
    })
    .await?;
    assert_eq!(
        published(&s.client).await,
        vec!["agora.evt.counter.good", "agora.evt.counter.good"]
    );
    let dead: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT aggregate_id, sequence, error FROM feed_dead_letters ORDER BY outbox_id",
    )
    .fetch_all(&s.pool)
    .await?;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!((dead[0].0.as_str(), dead[0].1), ("huge", 1));
    assert!(dead[0].2.contains("max payload"), "{}", dead[0].2);
    assert_eq!((dead[1].0.as_str(), dead[1].1), ("not a token", 1));
    let _ = stop.send(());
    relay.await??;
    Ok(())
}
