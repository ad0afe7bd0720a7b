//! Feed events a consumer could not handle: how a consumer retries them, parks them in
//! `feed_parked` once its retries are spent, and how staff list and replay them.
//!
//! A replay is a request on `agora.feed.replay.<consumer>`, answered by a running instance of
//! that consumer: it reads the event back from the store, runs its own handler on it (the same
//! code path as a delivery from the feed) and deletes the parked row when the handler
//! succeeds. Only the consumer's process has what its handler needs (a projection's table, the
//! saga's services, the notifier's templates), so the replay goes to it rather than being
//! applied by whoever asks.

use std::future::Future;
use std::time::Duration;

use agora_kernel::RecordedEvent;
use agora_nats::subjects;
use async_nats::jetstream::{self, AckKind};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};

use crate::store::row_to_event;

/// How a consumer retries an event its handler failed.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Deliveries after which an event that still fails is parked (JetStream's
    /// `info.delivered` counts them, across instances and restarts).
    pub max_deliver: u64,
    /// The wait after the first failed delivery; the wait grows by as much with each further
    /// one.
    pub step: Duration,
    /// The longest wait between two deliveries.
    pub max_backoff: Duration,
}

impl Retry {
    /// Ten deliveries over about 25 seconds (the reactors' backoff before parking existed:
    /// 500 ms more per delivery, at most 10 s). A consumer whose work can wait on a provider
    /// allows more deliveries.
    pub const DEFAULT: Retry = Retry {
        max_deliver: 10,
        step: Duration::from_millis(500),
        max_backoff: Duration::from_secs(10),
    };

    /// The wait before redelivering an event delivered `delivered` times so far.
    pub fn backoff(&self, delivered: u64) -> Duration {
        let steps = delivered.clamp(1, 1_000) as u32;
        self.step.saturating_mul(steps).min(self.max_backoff)
    }
}

/// Settles a message whose handler failed with `error`: a redelivery after a backoff, or, once
/// `retry.max_deliver` deliveries have failed, a row in `feed_parked` and the message
/// terminated so the feed moves on. If the row cannot be written the message is redelivered:
/// an event is never dropped without a trace.
pub async fn settle_failure(
    pool: &PgPool,
    consumer: &str,
    retry: Retry,
    message: &jetstream::Message,
    event: &RecordedEvent,
    error: &str,
) {
    let (delivered, stream_seq) = message
        .info()
        .map(|i| (i.delivered.max(1) as u64, i.stream_sequence))
        .unwrap_or((1, 0));
    let label = event.msg_id();
    if delivered < retry.max_deliver {
        tracing::warn!(consumer, event = %label, delivered, error, "event not handled; redelivering");
        let _ = message
            .ack_with(AckKind::Nak(Some(retry.backoff(delivered))))
            .await;
        return;
    }
    match park(pool, consumer, event, stream_seq, delivered, error).await {
        Ok(id) => {
            tracing::error!(consumer, event = %label, event_type = %event.event_type, stream_seq,
                delivered, parked_id = id, error, "event parked after its last delivery");
            metrics::counter!("agora_feed_parked_total", "consumer" => consumer.to_string())
                .increment(1);
            let _ = message.ack_with(AckKind::Term).await;
        }
        Err(e) => {
            tracing::error!(consumer, event = %label, error = %e, "cannot park event; redelivering");
            let _ = message
                .ack_with(AckKind::Nak(Some(retry.max_backoff)))
                .await;
        }
    }
}

/// Records `event` as parked by `consumer`; a second parking of the same event updates the
/// row. Returns the row's id.
pub async fn park(
    pool: &PgPool,
    consumer: &str,
    event: &RecordedEvent,
    stream_seq: u64,
    deliveries: u64,
    error: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO feed_parked (consumer, aggregate_type, aggregate_id, sequence, event_type, stream_seq, deliveries, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (consumer, aggregate_type, aggregate_id, sequence) DO UPDATE
         SET stream_seq = EXCLUDED.stream_seq, deliveries = EXCLUDED.deliveries,
             error = EXCLUDED.error, parked_at = now()
         RETURNING id",
    )
    .bind(consumer)
    .bind(&event.aggregate_type)
    .bind(&event.aggregate_id)
    .bind(event.sequence as i64)
    .bind(&event.event_type)
    .bind(stream_seq as i64)
    .bind(deliveries as i64)
    .bind(error)
    .fetch_one(pool)
    .await
}

/// One parked event as staff see it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ParkedEvent {
    pub id: i64,
    /// The durable consumer that gave up on it (`proj_orders`, `saga_checkout`, `notifier`).
    pub consumer: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    /// Its position in the JetStream feed.
    pub stream_seq: i64,
    /// Deliveries that failed.
    pub deliveries: i64,
    /// The handler's error on the last delivery (or the last replay).
    pub error: String,
    pub parked_at: chrono::DateTime<chrono::Utc>,
}

/// Parked events, oldest first, and how many there are in all.
pub async fn list_parked(
    pool: &PgPool,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<ParkedEvent>), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, consumer, aggregate_type, aggregate_id, sequence, event_type, stream_seq,
                deliveries, error, parked_at, count(*) OVER () AS total
         FROM feed_parked ORDER BY id LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = rows.first().map(|r| r.get::<i64, _>("total")).unwrap_or(0);
    let items = rows
        .iter()
        .map(|r| ParkedEvent {
            id: r.get("id"),
            consumer: r.get("consumer"),
            aggregate_type: r.get("aggregate_type"),
            aggregate_id: r.get("aggregate_id"),
            sequence: r.get("sequence"),
            event_type: r.get("event_type"),
            stream_seq: r.get("stream_seq"),
            deliveries: r.get("deliveries"),
            error: r.get("error"),
            parked_at: r.get("parked_at"),
        })
        .collect();
    Ok((total, items))
}

/// A consumer's answer to a replay request.
#[derive(Debug, Serialize, Deserialize)]
struct ReplayReply {
    /// The handler's error; `None` when it succeeded and the row is gone.
    error: Option<String>,
}

/// Why a replay did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no parked event {0}")]
    NotFound(i64),
    /// The consumer's handler failed again; the event stays parked with this error.
    #[error("the consumer failed again: {0}")]
    Failed(String),
    /// No instance of the consumer runs, or none answered in time.
    #[error("consumer {consumer} did not answer: {reason}")]
    Unavailable { consumer: String, reason: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// How long a replay may take: a handler may call slow providers.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(30);

/// Asks the consumer that parked event `id` to replay it. `Ok` once its handler succeeded and
/// the row is deleted.
pub async fn replay_parked(
    pool: &PgPool,
    client: &async_nats::Client,
    id: i64,
) -> Result<(), ReplayError> {
    let consumer: Option<String> =
        sqlx::query_scalar("SELECT consumer FROM feed_parked WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    let consumer = consumer.ok_or(ReplayError::NotFound(id))?;
    if !subjects::is_token(&consumer) {
        return Err(ReplayError::Unavailable {
            consumer,
            reason: "not a consumer name".into(),
        });
    }
    let unavailable = |reason: String| ReplayError::Unavailable {
        consumer: consumer.clone(),
        reason,
    };
    let request = client.request(subjects::feed_replay(&consumer), id.to_string().into());
    let reply = tokio::time::timeout(REPLAY_TIMEOUT, request)
        .await
        .map_err(|_| unavailable("timed out".into()))?
        .map_err(|e| unavailable(e.to_string()))?;
    let reply: ReplayReply =
        serde_json::from_slice(&reply.payload).map_err(|e| unavailable(e.to_string()))?;
    match reply.error {
        None => Ok(()),
        Some(e) if e == NOT_FOUND => Err(ReplayError::NotFound(id)),
        Some(e) => Err(ReplayError::Failed(e)),
    }
}

/// The reply when the row vanished meanwhile (replayed by someone else).
const NOT_FOUND: &str = "not parked";

/// Subscribes an instance of `consumer` to its replay requests (one instance answers each).
pub async fn replay_requests(
    client: &async_nats::Client,
    consumer: &str,
) -> anyhow::Result<async_nats::Subscriber> {
    let subject = subjects::feed_replay(consumer);
    client
        .queue_subscribe(subject.clone(), subjects::QUEUE_GROUP.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("subscribe {subject}: {e}"))
}

/// Answers one replay request of `consumer`: reads the parked event back from the store, runs
/// `handle` on it with its delivery count (one more than the failed ones), and deletes the row
/// when `handle` succeeds, or records the new error when it fails. Handlers are idempotent, so
/// a replay whose row could not be deleted can simply run again.
pub async fn answer_replay<F, Fut>(
    pool: &PgPool,
    client: &async_nats::Client,
    consumer: &str,
    request: async_nats::Message,
    handle: F,
) where
    F: FnOnce(RecordedEvent, u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let error = replay_one(pool, consumer, &request, handle).await.err();
    if let Some(e) = &error {
        tracing::warn!(consumer, error = %e, "replay of a parked event failed");
    }
    if let Some(reply) = request.reply {
        let body = serde_json::to_vec(&ReplayReply { error }).unwrap_or_default();
        let _ = client.publish(reply, body.into()).await;
    }
}

async fn replay_one<F, Fut>(
    pool: &PgPool,
    consumer: &str,
    request: &async_nats::Message,
    handle: F,
) -> Result<(), String>
where
    F: FnOnce(RecordedEvent, u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let id: i64 = std::str::from_utf8(&request.payload)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| "the request is not a parked event id".to_string())?;
    let row = sqlx::query(
        "SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version,
                e.payload, e.metadata, p.deliveries
         FROM feed_parked p JOIN events e USING (aggregate_type, aggregate_id, sequence)
         WHERE p.id = $1 AND p.consumer = $2",
    )
    .bind(id)
    .bind(consumer)
    .fetch_optional(pool)
    .await
    .map_err(|e| e.to_string())?
    .ok_or_else(|| NOT_FOUND.to_string())?;
    let event = row_to_event(&row);
    let deliveries = row.get::<i64, _>("deliveries").max(0) as u64;
    tracing::info!(consumer, parked_id = id, event = %event.msg_id(), "replaying a parked event");
    match handle(event, deliveries + 1).await {
        Ok(()) => {
            sqlx::query("DELETE FROM feed_parked WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map_err(|e| e.to_string())?;
            metrics::counter!("agora_feed_replayed_total", "consumer" => consumer.to_string())
                .increment(1);
            Ok(())
        }
        Err(e) => {
            let error = format!("{e:#}");
            let _ = sqlx::query("UPDATE feed_parked SET error = $2 WHERE id = $1")
                .bind(id)
                .bind(&error)
                .execute(pool)
                .await;
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_grows_by_one_step_per_delivery_up_to_the_longest() {
        let r = Retry::DEFAULT;
        assert_eq!(r.backoff(1), Duration::from_millis(500));
        assert_eq!(r.backoff(2), Duration::from_secs(1));
        assert_eq!(r.backoff(9), Duration::from_millis(4_500));
        assert_eq!(r.backoff(20), Duration::from_secs(10));
        assert_eq!(r.backoff(u64::MAX), Duration::from_secs(10));
    }
}
