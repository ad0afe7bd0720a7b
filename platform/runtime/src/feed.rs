//! The feed relay, which moves committed events from the Postgres outbox to JetStream, and
//! [`consume`], the one way a reactor (the checkout saga, the notifier) reads the feed.
//!
//! Exactly one relay publishes at a time (a Postgres advisory lock held on a connection of its
//! own; other instances wait as standbys), so each stream's events are published in sequence
//! order. The active relay checks on that connection before every round that the lock is still
//! its own, so a relay whose lock connection dropped stops publishing before a standby starts.
//! A row that can never be published (too big for the server, an id that is no subject token)
//! moves to `feed_dead_letters` instead of blocking every row behind it. An outbox row is deleted
//! only after JetStream acknowledged its publish; after a crash, rows still present are
//! published again, and `Nats-Msg-Id = <type>/<id>/<sequence>` lets JetStream drop the repeat.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use agora_kernel::RecordedEvent;
use agora_nats::{codec, headers, subjects};
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use sqlx::{Connection, PgConnection, PgPool, Row};

use crate::store::row_to_event;

/// The advisory-lock key that elects the single active relay.
const RELAY_LOCK: i64 = 0x4147_4f52_4101; // "AGORA" + 1
const BATCH: i64 = 512;
/// Rows published (and deleted) between two vacuums of the outbox (see [`crate::queue`]).
const OUTBOX_VACUUM_EVERY: u64 = 10_000;
/// How often the relay looks at the outbox when nobody woke it.
const POLL: Duration = Duration::from_millis(100);
/// How often a standby tries to take the relay lock.
const STANDBY_POLL: Duration = Duration::from_millis(500);
/// How long the active relay waits to confirm it still holds the lock before it stands down.
const LEADER_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

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

/// Runs the relay until `shutdown` resolves: stands by until it wins the advisory lock, then
/// publishes, and goes back to standing by whenever it finds it no longer holds the lock.
pub async fn run_relay(
    pool: PgPool,
    client: async_nats::Client,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let js = jetstream::new(client.clone());
    ensure_stream(&js).await?;
    tokio::pin!(shutdown);
    let mut wake = client
        .subscribe(subjects::FEED_WAKE)
        .await
        .map_err(|e| anyhow::anyhow!("subscribe {}: {e}", subjects::FEED_WAKE))?;
    loop {
        let Some((mut lock_conn, session)) = stand_by(&pool, &mut shutdown).await else {
            return Ok(());
        };
        tracing::info!("feed relay active");
        metrics::gauge!("agora_feed_relay_active").set(1.0);
        let stopped = lead(
            &pool,
            &js,
            &mut lock_conn,
            session,
            &mut wake,
            &mut shutdown,
        )
        .await;
        metrics::gauge!("agora_feed_relay_active").set(0.0);
        // Closing the connection releases the lock if it is somehow still held.
        let _ = lock_conn.close().await;
        if stopped {
            return Ok(());
        }
    }
}

/// Waits until this instance holds the relay lock, on a connection of its own (not one the
/// pool could hand to anyone else). `None` when `shutdown` resolved first.
async fn stand_by(
    pool: &PgPool,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<(PgConnection, i32)> {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .application_name("agora-feed-relay");
    loop {
        match PgConnection::connect_with(&options).await {
            Ok(mut conn) => {
                match sqlx::query_as::<_, (bool, i32)>(
                    "SELECT pg_try_advisory_lock($1), pg_backend_pid()",
                )
                .bind(RELAY_LOCK)
                .fetch_one(&mut conn)
                .await
                {
                    Ok((true, session)) => return Some((conn, session)),
                    Ok((false, _)) => {}
                    Err(e) => tracing::warn!(error = %e, "feed relay: lock attempt failed"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "feed relay: cannot connect to stand by"),
        }
        tokio::select! {
            _ = shutdown.as_mut() => return None,
            _ = tokio::time::sleep(STANDBY_POLL) => {}
        }
    }
}

/// Publishes while this instance leads. Before every round it checks, on the connection that
/// holds the lock, that the lock is still its own: if that connection dropped (network, a
/// restarted or terminated backend), Postgres released the lock and a standby may already
/// publish, so this instance must not publish another row. Returns true when `shutdown`
/// resolved, false when leadership was lost.
async fn lead(
    pool: &PgPool,
    js: &jetstream::Context,
    lock_conn: &mut PgConnection,
    session: i32,
    wake: &mut async_nats::Subscriber,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> bool {
    let mut sweeper = crate::queue::Sweeper::new("event_outbox", OUTBOX_VACUUM_EVERY);
    loop {
        match still_leader(lock_conn, session).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("feed relay lost its lock; standing by");
                return false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "feed relay cannot confirm its lock; standing by");
                return false;
            }
        }
        let published = match publish_batch(pool, js).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "feed relay batch failed; retrying");
                tokio::select! {
                    _ = shutdown.as_mut() => return true,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
                0
            }
        };
        sweeper.deleted(pool, published as u64).await;
        if published as i64 == BATCH {
            // The next round starts at once and answers the wake-ups that came meanwhile: take
            // them off the subscription, or its buffer fills while the relay is behind.
            while futures::FutureExt::now_or_never(wake.next())
                .flatten()
                .is_some()
            {}
            continue;
        }
        tokio::select! {
            _ = shutdown.as_mut() => return true,
            // A wake-up means new rows; the poll covers a lost or never-sent wake-up.
            _ = wake.next() => {
                // Many commits, one query: swallow the wake-ups that are already here.
                while futures::FutureExt::now_or_never(wake.next()).flatten().is_some() {}
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Whether the session of `conn` still holds the relay lock. A session-level advisory lock
/// ends only with its session or an explicit unlock, and nothing unlocks it on this dedicated
/// connection, so the lock is held exactly while the session that took it is alive: the same
/// backend must answer. (Reading `pg_locks` instead would copy the server's whole lock table
/// under all its partition locks on every round.) A hung connection counts as lost: a relay
/// that cannot tell must not publish.
async fn still_leader(conn: &mut PgConnection, session: i32) -> anyhow::Result<bool> {
    let check = sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()").fetch_one(conn);
    Ok(tokio::time::timeout(LEADER_CHECK_TIMEOUT, check).await?? == session)
}

/// Why a row can never be published, if it cannot: such a row is set aside instead of failing
/// every batch behind it.
fn unpublishable(event: &RecordedEvent) -> Option<String> {
    if !subjects::is_token(&event.aggregate_type) || !subjects::is_token(&event.aggregate_id) {
        return Some(format!(
            "aggregate type {:?} or id {:?} is not a subject token",
            event.aggregate_type, event.aggregate_id
        ));
    }
    None
}

/// One outbox row that will never be published.
struct DeadLetter {
    outbox_id: i64,
    event: RecordedEvent,
    error: String,
}

/// Publishes the oldest outbox rows and deletes those JetStream acknowledged; rows that can
/// never be published move to `feed_dead_letters`. Returns the rows that left the outbox.
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
    let mut dead = Vec::new();
    for row in &rows {
        let id: i64 = row.get("id");
        let event = row_to_event(row);
        if let Some(error) = unpublishable(&event) {
            dead.push(DeadLetter {
                outbox_id: id,
                event,
                error,
            });
            continue;
        }
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::MSG_ID, event.msg_id().as_str());
        let subject = subjects::event(&event.aggregate_type, &event.aggregate_id);
        match js
            .publish_with_headers(subject, h, codec::encode(&event))
            .await
        {
            Ok(ack) => acks.push((id, ack.into_future())),
            // The client refuses it before sending: no retry will ever fit it.
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::MaxPayloadExceeded => dead
                .push(DeadLetter {
                    outbox_id: id,
                    event,
                    error: e.to_string(),
                }),
            // The connection, not the row: stop here and retry the rest next round.
            Err(e) => {
                tracing::warn!(error = %e, outbox_id = id, "publish failed; will retry");
                break;
            }
        }
    }
    // Publish all, then await the acknowledgements together: one round trip per batch.
    let (ids, acks): (Vec<i64>, Vec<_>) = acks.into_iter().unzip();
    let mut done = Vec::with_capacity(ids.len());
    for (ack, id) in futures::future::join_all(acks).await.into_iter().zip(ids) {
        match ack {
            Ok(_) => done.push(id),
            Err(e) => {
                tracing::warn!(error = %e, outbox_id = id, "publish not acknowledged; will retry");
                break;
            }
        }
    }
    let mut tx = pool.begin().await?;
    for letter in &dead {
        // The row is in the log with everything needed to find the event again.
        tracing::error!(
            outbox_id = letter.outbox_id,
            event = %letter.event.msg_id(),
            event_type = %letter.event.event_type,
            error = %letter.error,
            "feed row cannot be published; moved to feed_dead_letters"
        );
        sqlx::query(
            "INSERT INTO feed_dead_letters (outbox_id, aggregate_type, aggregate_id, sequence, event_type, error)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (outbox_id) DO NOTHING",
        )
        .bind(letter.outbox_id)
        .bind(&letter.event.aggregate_type)
        .bind(&letter.event.aggregate_id)
        .bind(letter.event.sequence as i64)
        .bind(&letter.event.event_type)
        .bind(&letter.error)
        .execute(&mut *tx)
        .await?;
        done.push(letter.outbox_id);
    }
    sqlx::query("DELETE FROM event_outbox WHERE id = ANY($1)")
        .bind(&done)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    metrics::counter!("agora_feed_published_total").increment((done.len() - dead.len()) as u64);
    if !dead.is_empty() {
        metrics::counter!("agora_feed_dead_letters_total").increment(dead.len() as u64);
    }
    Ok(done.len())
}

/// A durable consumer of some event types of the feed (see [`consume`]).
pub struct Subscription {
    /// The durable consumer's name; instances sharing it split the work.
    pub name: &'static str,
    /// Aggregate types whose events it reads.
    pub aggregate_types: &'static [&'static str],
    /// Events handled at once (events of different streams are independent).
    pub concurrency: usize,
    /// Unacknowledged events JetStream lets it hold.
    pub max_ack_pending: i64,
    /// How a failed event is retried before it is parked.
    pub retry: crate::parked::Retry,
    /// Where parked events go (`feed_parked`).
    pub pool: PgPool,
}

/// The messages of the durable pull consumer `name` on the feed (created if missing) for
/// `filter_subjects`, acknowledged explicitly: unacknowledged ones come back after `ack_wait`,
/// and at most `max_ack_pending` are out at once.
pub async fn durable_messages(
    js: &jetstream::Context,
    name: &str,
    filter_subjects: Vec<String>,
    ack_wait: Duration,
    max_ack_pending: i64,
) -> anyhow::Result<jetstream::consumer::pull::Stream> {
    use async_nats::jetstream::consumer::{pull, AckPolicy};

    let stream = ensure_stream(js).await?;
    let consumer = stream
        .get_or_create_consumer(
            name,
            pull::Config {
                durable_name: Some(name.to_string()),
                filter_subjects,
                ack_policy: AckPolicy::Explicit,
                ack_wait,
                max_ack_pending,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("create consumer {name}: {e}"))?;
    consumer
        .stream()
        .max_messages_per_batch(256)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("consume {name}: {e}"))
}

/// Reads `subscription`'s events from the feed until `shutdown` resolves, handing each to
/// `handle` with how many times it has been delivered. `Ok` acknowledges it; `Err` redelivers
/// it after a backoff that doubles with the deliveries, and parks it in `feed_parked` once
/// `retry.max_deliver` deliveries failed; an undecodable message is terminated. Each event is
/// settled on its own: one failing event holds back nothing else. The same instance answers
/// replay requests for its parked events (see [`crate::parked`]) with the same `handle`.
/// Handlers must be idempotent: JetStream delivers at least once, and redelivers what a
/// crashed instance held after 30 s.
pub async fn consume<H, Fut, E>(
    js: &jetstream::Context,
    subscription: Subscription,
    handle: H,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()>
where
    H: Fn(RecordedEvent, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    use async_nats::jetstream::AckKind;

    let name = subscription.name;
    let retry = subscription.retry;
    let pool = subscription.pool;
    let mut messages = durable_messages(
        js,
        name,
        subscription
            .aggregate_types
            .iter()
            .map(|t| subjects::events_of(t))
            .collect(),
        // A handler can wait on a slow provider; redeliver only well after that.
        Duration::from_secs(30),
        subscription.max_ack_pending,
    )
    .await?;
    let client = js.client();
    let mut replays = crate::parked::replay_requests(&client, name).await?;
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(subscription.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let next = tokio::select! {
            _ = &mut shutdown => break,
            Some(request) = replays.next() => {
                let (pool, client, handle) = (pool.clone(), client.clone(), handle.clone());
                tasks.spawn(async move {
                    crate::parked::answer_replay(&pool, &client, name, request, |event, delivered| async move {
                        handle(event, delivered).await.map_err(|e| anyhow::anyhow!("{e}"))
                    })
                    .await;
                });
                continue;
            }
            m = messages.next() => m,
        };
        while tasks.try_join_next().is_some() {}
        let Some(message) = next else { break };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = name, error = %e, "feed error");
                continue;
            }
        };
        let permit = permits.clone().acquire_owned().await?;
        let handle = handle.clone();
        let pool = pool.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let event = match codec::decode::<RecordedEvent>(&message.payload) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(consumer = name, error = %e, "undecodable feed message");
                    let _ = message.ack_with(AckKind::Term).await;
                    return;
                }
            };
            let delivered = message.info().map(|i| i.delivered as u64).unwrap_or(1);
            match handle(event.clone(), delivered).await {
                Ok(()) => {
                    let _ = message.ack().await;
                }
                Err(e) => {
                    crate::parked::settle_failure(
                        &pool,
                        name,
                        retry,
                        &message,
                        &event,
                        &e.to_string(),
                    )
                    .await;
                }
            }
        });
    }
    tasks.shutdown().await;
    Ok(())
}
