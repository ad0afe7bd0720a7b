//! The feed relay: moves committed events from the Postgres outbox to JetStream.
//!
//! Exactly one relay publishes at a time (a Postgres advisory lock; other instances wait as
//! standbys), so each stream's events are published in sequence order. An outbox row is deleted
//! only after JetStream acknowledged its publish; after a crash, rows still present are
//! published again, and `Nats-Msg-Id = <type>/<id>/<sequence>` lets JetStream drop the repeat.

use std::future::IntoFuture;
use std::time::Duration;

use agora_nats::{codec, headers, subjects};
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use sqlx::{PgPool, Row};

use crate::store::row_to_event;

/// The advisory-lock key that elects the single active relay.
const RELAY_LOCK: i64 = 0x4147_4f52_4101; // "AGORA" + 1
const BATCH: i64 = 512;
/// How often the relay looks at the outbox when nobody woke it.
const POLL: Duration = Duration::from_millis(100);

/// Tells the relay that events were committed (best effort: it also polls).
pub fn wake(client: &async_nats::Client) {
    let client = client.clone();
    // Publishing only queues the message in the client; it does not wait for the server.
    tokio::spawn(async move {
        let _ = client
            .publish(subjects::FEED_WAKE, bytes::Bytes::new())
            .await;
    });
}

/// Creates (or updates) the JetStream stream that carries the feed.
pub async fn ensure_stream(js: &jetstream::Context) -> anyhow::Result<stream::Stream> {
    let config = stream::Config {
        name: subjects::EVENT_STREAM.to_string(),
        subjects: vec![subjects::ALL_EVENTS.to_string()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        // Long enough for any restart to be de-duplicated; older repeats are caught by the
        // projections' sequence guard.
        duplicate_window: Duration::from_secs(600),
        max_age: Duration::from_secs(30 * 24 * 3600),
        ..Default::default()
    };
    let stream = js
        .get_or_create_stream(config)
        .await
        .map_err(|e| anyhow::anyhow!("create stream {}: {e}", subjects::EVENT_STREAM))?;
    Ok(stream)
}

/// Runs the relay until `shutdown` resolves.
pub async fn run_relay(
    pool: PgPool,
    client: async_nats::Client,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let js = jetstream::new(client.clone());
    ensure_stream(&js).await?;
    tokio::pin!(shutdown);
    // The lock lives as long as this connection; if the process dies, Postgres releases it
    // and a standby takes over.
    let mut lock_conn = pool.acquire().await?;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(RELAY_LOCK)
            .fetch_one(&mut *lock_conn)
            .await?;
        if got {
            break;
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    tracing::info!("feed relay active");
    let mut wake = client
        .subscribe(subjects::FEED_WAKE)
        .await
        .map_err(|e| anyhow::anyhow!("subscribe {}: {e}", subjects::FEED_WAKE))?;
    loop {
        let published = match publish_batch(&pool, &js).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "feed relay batch failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                0
            }
        };
        if published as i64 == BATCH {
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            // A wake-up means new rows; the poll covers a lost or never-sent wake-up.
            _ = wake.next() => {
                // Many commits, one query: swallow the wake-ups that are already here.
                while futures::FutureExt::now_or_never(wake.next()).flatten().is_some() {}
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    drop(lock_conn);
    Ok(())
}

/// Publishes the oldest outbox rows and deletes those JetStream acknowledged.
async fn publish_batch(pool: &PgPool, js: &jetstream::Context) -> anyhow::Result<usize> {
    let rows = sqlx::query(
        "SELECT o.id, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version,
                e.payload, e.metadata
         FROM event_outbox o
         JOIN events e USING (aggregate_type, aggregate_id, sequence)
         ORDER BY o.id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut acks = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.get("id");
        let event = row_to_event(row);
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::MSG_ID, event.msg_id().as_str());
        let subject = subjects::event(&event.aggregate_type, &event.aggregate_id);
        let ack = js
            .publish_with_headers(subject, h, codec::encode(&event))
            .await
            .map_err(|e| anyhow::anyhow!("publish: {e}"))?;
        acks.push(ack.into_future());
        ids.push(id);
    }
    // Publish all, then await the acknowledgements together: one round trip per batch.
    let mut done = Vec::with_capacity(ids.len());
    for (ack, id) in futures::future::join_all(acks).await.into_iter().zip(ids) {
        match ack {
            Ok(_) => done.push(id),
            Err(e) => {
                tracing::warn!(error = %e, "publish not acknowledged; will retry");
                break;
            }
        }
    }
    sqlx::query("DELETE FROM event_outbox WHERE id = ANY($1)")
        .bind(&done)
        .execute(pool)
        .await?;
    metrics::counter!("agora_feed_published_total").increment(done.len() as u64);
    Ok(done.len())
}
