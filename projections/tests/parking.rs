//! The projection runtime against a real Postgres and NATS server: one event that `apply`
//! cannot handle is retried, then parked, while the other events of its batch are applied; a
//! replay applies it through the same path once it can be.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agora_kernel::RecordedEvent;
use agora_projections::Projection;
use agora_testkit::{eventually, TestDb, TestNats};
use sqlx::{PgConnection, PgPool};
use tokio::sync::oneshot;

/// Sums the `n` of each counter's events; an event carrying `"poison": true` fails until cured.
struct Tally {
    cured: AtomicBool,
}

impl Projection for Tally {
    const NAME: &'static str = "tally";
    const AGGREGATE_TYPE: &'static str = "counter";
    const ID_COLUMN: &'static str = "id";

    async fn version(
        &self,
        conn: &mut PgConnection,
        table: &str,
        event: &RecordedEvent,
    ) -> Result<u64, sqlx::Error> {
        let v: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT version FROM {table} WHERE id = $1 FOR UPDATE"
        ))
        .bind(&event.aggregate_id)
        .fetch_optional(conn)
        .await?;
        Ok(v.unwrap_or(0) as u64)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        for event in events {
            // Write first, fail after: the savepoint must undo the write of a failing event.
            sqlx::query(&format!(
                "INSERT INTO {table} (id, version, total) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET version = $2, total = {table}.total + $3"
            ))
            .bind(&event.aggregate_id)
            .bind(event.sequence as i64)
            .bind(event.payload["n"].as_i64().unwrap_or(0))
            .execute(&mut *conn)
            .await?;
            if event.payload["poison"] == true && !self.cured.load(Ordering::SeqCst) {
                anyhow::bail!("cannot project {}", event.msg_id());
            }
        }
        Ok(())
    }
}

async fn totals(pool: &PgPool) -> Vec<(String, i64, i64)> {
    sqlx::query_as("SELECT id, version, total FROM tally ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("read tally")
}

#[tokio::test]
async fn an_event_that_cannot_be_projected_is_parked_and_the_rest_of_its_batch_is_applied(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let nats = TestNats::start()?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&db.url())
        .await?;
    agora_runtime::MIGRATOR.run(&pool).await?;
    sqlx::query(
        "CREATE TABLE tally (id text PRIMARY KEY, version bigint NOT NULL, total bigint NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let client = async_nats::connect(nats.url()).await?;

    // One transaction, so the projection finds all of them delivered at once: one batch.
    let mut tx = pool.begin().await?;
    for (id, sequence, payload) in [
        ("a", 1, serde_json::json!({"n": 1})),
        ("p", 1, serde_json::json!({"n": 100, "poison": true})),
        ("b", 1, serde_json::json!({"n": 2})),
        ("a", 2, serde_json::json!({"n": 3})),
    ] {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ('counter', $1, $2, 'Added', '1.0', $3, '{}')",
        )
        .bind(id)
        .bind(sequence)
        .bind(sqlx::types::Json(payload))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let (stop_relay, stopped_relay) = oneshot::channel::<()>();
    let relay = tokio::spawn(agora_runtime::feed::run_relay(
        pool.clone(),
        client.clone(),
        async move {
            let _ = stopped_relay.await;
        },
    ));
    let outbox_empty = || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM event_outbox")
            .fetch_one(&pool)
            .await
            .ok()?;
        (n == 0).then_some(())
    };
    eventually(Duration::from_secs(20), outbox_empty).await?;

    let tally = Arc::new(Tally {
        cured: AtomicBool::new(false),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let projection = tokio::spawn(agora_projections::run(
        tally.clone(),
        pool.clone(),
        async_nats::jetstream::new(client.clone()),
        async move {
            let _ = stopped.await;
        },
    ));

    // The good events land at once, without waiting for the poison one's retries.
    eventually(Duration::from_secs(10), || async {
        let t = totals(&pool).await;
        (t == vec![("a".into(), 2, 4), ("b".into(), 1, 2)]).then_some(())
    })
    .await?;
    // The default retry allows ten deliveries over about 25 seconds.
    let parked: (i64, String, String, i64, i64, String) =
        eventually(Duration::from_secs(60), || async {
            sqlx::query_as(
                "SELECT id, consumer, aggregate_id, sequence, deliveries, error FROM feed_parked",
            )
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
        })
        .await?;
    assert_eq!(
        (parked.1.as_str(), parked.2.as_str(), parked.3, parked.4),
        ("proj_tally", "p", 1, 10)
    );
    assert!(
        parked.5.contains("cannot project counter/p/1"),
        "{}",
        parked.5
    );
    // Nothing of the failed event was kept.
    assert_eq!(totals(&pool).await.len(), 2);

    // Replaying goes through the projection's own path once it can apply the event.
    tally.cured.store(true, Ordering::SeqCst);
    agora_runtime::parked::replay_parked(&pool, &client, parked.0).await?;
    assert_eq!(
        totals(&pool).await,
        vec![("a".into(), 2, 4), ("b".into(), 1, 2), ("p".into(), 1, 100)]
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM feed_parked")
        .fetch_one(&pool)
        .await?;
    assert_eq!(left, 0);

    let _ = stop.send(());
    projection.await??;
    let _ = stop_relay.send(());
    relay.await??;
    Ok(())
}
