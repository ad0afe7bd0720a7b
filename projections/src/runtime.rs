use std::future::Future;
use std::time::Duration;

use agora_kernel::RecordedEvent;
use agora_nats::{codec, subjects};
use agora_runtime::parked::{self, Retry};
use agora_runtime::{row_to_event, EventStore};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;

/// A read model fed by the events of one aggregate type.
pub trait Projection: Send + Sync + 'static {
    /// The projection's name, also its consumer name and its live table's name.
    const NAME: &'static str;
    /// The aggregate type whose events it reads.
    const AGGREGATE_TYPE: &'static str;
    /// The live table's column holding the aggregate id.
    const ID_COLUMN: &'static str;
    /// Tables derived from the same events in the same transactions as the live table (totals
    /// that only an event moving a row forward may change). [`rebuild`] rebuilds them beside the
    /// live table and swaps them in with it; `apply` must write them under
    /// [`companion_table`]`(Self::NAME, table, name)`, so a rebuild's replay lands in the
    /// rebuild's copies and never counts an event twice in the live ones.
    const COMPANION_TABLES: &'static [&'static str] = &[];
    /// How an event whose `apply` fails is retried before it is parked.
    const RETRY: Retry = Retry::DEFAULT;
    /// Whether each commit announces the ids of the streams it changed (`name:id,id,...`)
    /// instead of the bare name, for caches that keep one entry per stream (the edge's cart
    /// pricing).
    const ANNOUNCES_STREAMS: bool = false;

    /// Creates an empty table with the live table's shape under `table`.
    fn create_table_sql(table: &str) -> String {
        format!("CREATE TABLE {table} (LIKE {} INCLUDING ALL)", Self::NAME)
    }

    /// The feed subjects it consumes; by default every event of `AGGREGATE_TYPE`.
    fn subjects(&self) -> Vec<String> {
        vec![subjects::events_of(Self::AGGREGATE_TYPE)]
    }

    /// The last sequence applied to `event`'s stream in `table`, locking its row; by default the
    /// `version` column of the row whose [`Projection::ID_COLUMN`] is the stream id.
    fn version(
        &self,
        conn: &mut PgConnection,
        table: &str,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send {
        crate::state::row_version(conn, table, Self::ID_COLUMN, &event.aggregate_id)
    }

    /// The last sequence applied to each of `ids`' streams (0 for none), locking their rows,
    /// in one query: by default the `version` column of the rows whose
    /// [`Projection::ID_COLUMN`] is among `ids`. A projection that overrides
    /// [`Projection::version`] overrides this too (or [`Projection::apply_batch`]).
    fn versions(
        &self,
        conn: &mut PgConnection,
        table: &str,
        ids: &[&str],
    ) -> impl Future<Output = Result<std::collections::HashMap<String, u64>, sqlx::Error>> + Send
    {
        let id_column = Self::ID_COLUMN;
        let sql = format!(
            "SELECT {id_column}, version FROM {table} WHERE {id_column} = ANY($1) ORDER BY {id_column} FOR UPDATE"
        );
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        async move {
            let rows: Vec<(String, i64)> = sqlx::query_as(&sql).bind(ids).fetch_all(conn).await?;
            Ok(rows.into_iter().map(|(id, v)| (id, v as u64)).collect())
        }
    }

    /// Applies consecutive events of one stream, the first right after the row's version.
    fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Applies a whole batch of feed events (of any streams, in feed order, possibly already
    /// applied or with gaps before them) inside the runner's transaction. The default takes it
    /// one stream at a time: one version check, the events not applied yet (a gap among them
    /// filled from `store`), one [`Projection::apply`]; so a stream with several events in the
    /// batch costs one fold and one row write. A projection may override it to work set-based,
    /// provided the outcome is the same. When it fails, the runner rolls back and applies the
    /// batch again event by event under savepoints, parking only the event that fails.
    fn apply_batch(
        &self,
        conn: &mut PgConnection,
        store: &EventStore,
        table: &str,
        events: &[RecordedEvent],
    ) -> impl Future<Output = anyhow::Result<()>> + Send
    where
        Self: Sized,
    {
        async move {
            let streams = by_stream(events);
            let ids: Vec<&str> = streams
                .iter()
                .filter_map(|s| s.first().map(|e| e.aggregate_id.as_str()))
                .collect();
            let versions = self.versions(conn, table, &ids).await?;
            for stream in streams {
                let Some(first) = stream.first() else {
                    continue;
                };
                let version = versions.get(&first.aggregate_id).copied().unwrap_or(0);
                apply_stream(self, conn, store, version, table, &stream).await?;
            }
            Ok(())
        }
    }
}

/// Runs projection `P` from its durable consumer until `shutdown` resolves. Several instances
/// may run at once: they share the consumer, and the row lock plus sequence guard keep them
/// correct. An event whose `apply` fails is settled alone (redelivered with backoff, then
/// parked); the rest of its batch is committed and acknowledged. The instance also answers
/// replay requests for the events its consumer parked.
pub async fn run<P: Projection>(
    projection: std::sync::Arc<P>,
    pool: PgPool,
    js: jetstream::Context,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let consumer = consumer_name::<P>();
    let mut messages = agora_runtime::feed::durable_messages(
        &js,
        &consumer,
        projection.subjects(),
        // Messages delivered to an instance that died are redelivered after this; an event
        // takes milliseconds to project, so keep the recovery lag short.
        Duration::from_secs(5),
        10_000,
    )
    .await?;
    let client = js.client();
    let mut replays = parked::replay_requests(&client, &consumer).await?;
    tokio::pin!(shutdown);
    loop {
        let first = tokio::select! {
            _ = &mut shutdown => break,
            Some(request) = replays.next() => {
                // The same path as a delivery: one event, its own transaction.
                parked::answer_replay(&pool, &client, &consumer, request, |event, _| {
                    let (projection, pool, store) = (&*projection, &pool, &store);
                    async move {
                        let mut outcomes = project(projection, pool, store, P::NAME, &[event], true).await?;
                        match outcomes.pop().flatten() {
                            None => Ok(()),
                            Some(e) => Err(e),
                        }
                    }
                })
                .await;
                continue;
            }
            m = messages.next() => m,
        };
        let Some(first) = first else { break };
        // What arrives within a few milliseconds joins this batch: one transaction for many
        // events (under load, many commits share each transaction; idle, an event waits
        // `GATHER` at most).
        let mut batch = vec![first];
        let gathered_by = tokio::time::Instant::now() + GATHER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(gathered_by, messages.next()).await {
                Ok(Some(m)) => batch.push(m),
                _ => break,
            }
        }
        let mut delivered = Vec::with_capacity(batch.len());
        for message in batch {
            match message {
                Ok(m) => delivered.push(m),
                Err(e) => tracing::warn!(projection = P::NAME, error = %e, "feed error"),
            }
        }
        let mut events = Vec::with_capacity(delivered.len());
        let mut good = Vec::with_capacity(delivered.len());
        for message in delivered {
            match codec::decode::<RecordedEvent>(&message.payload) {
                Ok(e) => {
                    events.push(e);
                    good.push(message);
                }
                Err(e) => {
                    // Not ours to fix by retrying: record it and move on.
                    tracing::error!(projection = P::NAME, error = %e, "undecodable feed message");
                    let _ = message.ack_with(AckKind::Term).await;
                }
            }
        }
        if good.is_empty() {
            continue;
        }
        let span = tracing::info_span!("project", projection = P::NAME, events = events.len());
        // The whole batch at once first; only when some event fails, again with each event
        // under its own savepoint, so the others still land.
        let mut outcome = project(&*projection, &pool, &store, P::NAME, &events, false)
            .instrument(span.clone())
            .await;
        if matches!(&outcome, Ok(o) if o.iter().any(Option::is_some)) {
            outcome = project(&*projection, &pool, &store, P::NAME, &events, true)
                .instrument(span)
                .await;
        }
        match outcome {
            Ok(outcomes) => {
                let now = chrono::Utc::now();
                for ((message, event), failure) in good.iter().zip(&events).zip(outcomes) {
                    match failure {
                        None => {
                            if let Some(at) = event.recorded_at() {
                                let lag = (now - at).num_microseconds().unwrap_or(0) as f64 / 1e6;
                                metrics::histogram!("agora_projection_lag_seconds", "projection" => P::NAME).record(lag);
                            }
                            let _ = message.ack().await;
                        }
                        Some(e) => {
                            parked::settle_failure(
                                &pool,
                                &consumer,
                                P::RETRY,
                                message,
                                event,
                                &format!("{e:#}"),
                            )
                            .await;
                        }
                    }
                }
            }
            Err(e) => {
                // The transaction itself failed (the database, not an event): retry all of
                // them, and park none, since no event is to blame.
                tracing::warn!(projection = P::NAME, error = %e, "projecting failed; will retry");
                for message in good {
                    let delivered = message.info().map(|i| i.delivered as u64).unwrap_or(1);
                    let _ = message
                        .ack_with(AckKind::Nak(Some(P::RETRY.backoff(delivered))))
                        .await;
                }
            }
        }
    }
    Ok(())
}

/// The durable consumer of projection `P`: `proj_<name>`.
pub fn consumer_name<P: Projection>() -> String {
    format!("proj_{}", P::NAME)
}

/// The Postgres channel on which a read model's name is announced when a transaction that
/// changed it commits (`LISTEN agora_read_models`): caches of read-model queries drop what
/// they hold when they hear a name they depend on. Postgres delivers the notification after
/// the commit, so a query started after it sees the change.
pub const READ_MODELS_CHANGED: &str = "agora_read_models";

/// The statement that announces a change of read model `name` on [`READ_MODELS_CHANGED`]
/// when the transaction commits. `name` is a projection's constant name (or, from
/// [`notify_streams_sql`], one followed by checked stream ids), never raw input.
pub fn notify_sql(name: &str) -> String {
    debug_assert!(name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-:,".contains(&b)));
    format!("SELECT pg_notify('{READ_MODELS_CHANGED}', '{name}')")
}

/// The statements that announce, on [`READ_MODELS_CHANGED`], which streams of read model
/// `name` a transaction changed: `name:id,id,...`, in as many notifications as Postgres's
/// payload limit needs. Should an id hold anything but letters, digits, `-` and `_`, the bare
/// name is announced instead, which means every stream.
pub fn notify_streams_sql<'a>(name: &str, ids: impl IntoIterator<Item = &'a str>) -> String {
    /// Well below Postgres's 8000-byte payload limit.
    const MAX_PAYLOAD: usize = 7000;
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let plain = |id: &&str| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if ids.is_empty() || !ids.iter().all(plain) {
        return notify_sql(name);
    }
    let mut statements = Vec::new();
    let mut payload = String::new();
    for id in ids {
        if !payload.is_empty() && payload.len() + id.len() + 1 > MAX_PAYLOAD {
            statements.push(notify_sql(&payload));
            payload.clear();
        }
        payload.push_str(if payload.is_empty() { name } else { "," });
        if payload == name {
            payload.push(':');
        }
        payload.push_str(id);
    }
    statements.push(notify_sql(&payload));
    statements.join("; ")
}

/// Most events projected in one transaction.
const BATCH: usize = 256;
/// How long a batch waits for more events after its first.
const GATHER: Duration = Duration::from_millis(25);

/// Applies feed events to `table` in one transaction, filling any gap from the store. Returns,
/// per event, the error that stopped it. Without `isolate`, the first failure rolls the whole
/// transaction back and every event is reported failed with it; with `isolate`, each event runs
/// under its own savepoint and only the failing ones are rolled back. `Err` means the
/// transaction itself failed.
async fn project<P: Projection>(
    projection: &P,
    pool: &PgPool,
    store: &EventStore,
    table: &str,
    events: &[RecordedEvent],
    isolate: bool,
) -> anyhow::Result<Vec<Option<anyhow::Error>>> {
    let mut tx = pool.begin().await?;
    // Read models are rebuildable from the event store: they need not wait for fsync. Whoever
    // caches reads of this read model hears of the change when the transaction commits (one
    // round trip for both statements).
    let notify = if P::ANNOUNCES_STREAMS {
        notify_streams_sql(P::NAME, events.iter().map(|e| e.aggregate_id.as_str()))
    } else {
        notify_sql(P::NAME)
    };
    let begin = format!("SET LOCAL synchronous_commit = off; {notify}");
    sqlx::Executor::execute(&mut *tx, sqlx::raw_sql(&begin)).await?;
    if !isolate {
        if let Err(e) = projection.apply_batch(&mut tx, store, table, events).await {
            tx.rollback().await?;
            return Ok(events
                .iter()
                .map(|_| Some(anyhow::anyhow!("{e:#}")))
                .collect());
        }
        tx.commit().await?;
        return Ok(events.iter().map(|_| None).collect());
    }
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
        match apply_one(projection, &mut savepoint, store, table, event).await {
            Ok(()) => {
                savepoint.commit().await?;
                outcomes.push(None);
            }
            Err(e) => {
                savepoint.rollback().await?;
                outcomes.push(Some(e));
            }
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// The events of a batch grouped by stream, streams in the order they first appear, each
/// stream's events in sequence order without repeats.
fn by_stream(events: &[RecordedEvent]) -> Vec<Vec<&RecordedEvent>> {
    let mut index: std::collections::HashMap<(&str, &str), usize> = Default::default();
    let mut streams: Vec<Vec<&RecordedEvent>> = Vec::new();
    for e in events {
        let key = (e.aggregate_type.as_str(), e.aggregate_id.as_str());
        let i = *index.entry(key).or_insert_with(|| {
            streams.push(Vec::new());
            streams.len() - 1
        });
        streams[i].push(e);
    }
    for stream in &mut streams {
        stream.sort_by_key(|e| e.sequence);
        stream.dedup_by_key(|e| e.sequence);
    }
    streams
}

/// Applies the events of one stream (sorted, no repeats) after `version`, the last one its
/// row has, in one [`Projection::apply`]; events missing before or among them are read from
/// the store.
async fn apply_stream<P: Projection>(
    projection: &P,
    conn: &mut PgConnection,
    store: &EventStore,
    version: u64,
    table: &str,
    stream: &[&RecordedEvent],
) -> anyhow::Result<()> {
    let Some(last) = stream.last() else {
        return Ok(());
    };
    let fresh: Vec<RecordedEvent> = stream
        .iter()
        .filter(|e| e.sequence > version)
        .map(|e| (*e).clone())
        .collect();
    let Some(head) = fresh.first() else {
        return Ok(());
    };
    let consecutive = head.sequence == version + 1
        && fresh.windows(2).all(|w| w[1].sequence == w[0].sequence + 1);
    let batch = if consecutive {
        fresh
    } else {
        metrics::counter!("agora_projection_gaps_total", "projection" => P::NAME).increment(1);
        let mut filled = store
            .range(
                &last.aggregate_type,
                &last.aggregate_id,
                version,
                last.sequence,
            )
            .await?;
        filled.push((*last).clone());
        filled
    };
    projection.apply(conn, table, &batch).await
}

/// Applies one event unless it was applied already; first fills a gap before it from the store.
async fn apply_one<P: Projection>(
    projection: &P,
    conn: &mut PgConnection,
    store: &EventStore,
    table: &str,
    event: &RecordedEvent,
) -> anyhow::Result<()> {
    let version = projection.version(conn, table, event).await?;
    if event.sequence > version {
        let mut batch = Vec::new();
        if event.sequence > version + 1 {
            metrics::counter!("agora_projection_gaps_total", "projection" => P::NAME).increment(1);
            batch = store
                .range(
                    &event.aggregate_type,
                    &event.aggregate_id,
                    version,
                    event.sequence,
                )
                .await?;
        }
        batch.push(event.clone());
        projection.apply(conn, table, &batch).await?;
    }
    Ok(())
}

/// The suffix of the tables a rebuild fills before they are swapped in.
const REBUILD_SUFFIX: &str = "_rebuild";

/// The name under which a projection whose live table is `live`, writing to `table` (the live
/// table or its rebuild), finds its companion table `companion` (see
/// [`Projection::COMPANION_TABLES`]): `daily_sales` for `orders`, `daily_sales_rebuild` for
/// `orders_rebuild`.
pub fn companion_table(live: &str, table: &str, companion: &str) -> String {
    match table.strip_prefix(live) {
        Some(suffix) => format!("{companion}{suffix}"),
        None => format!("{table}_{companion}"),
    }
}

/// Rebuilds `P`'s read model (its live table and its [`Projection::COMPANION_TABLES`]) from the
/// event store into fresh tables and swaps them in, while the live projection keeps running.
/// Returns the number of events replayed.
///
/// The final catch-up and the swap happen under an EXCLUSIVE lock on the live table (then on
/// the companions, in the order the live projection takes them): live writes wait (reads go
/// on), every event committed by then is in the new tables, and every later one is applied by
/// the live projection to the new tables after the swap. All tables swap in one transaction.
pub async fn rebuild<P: Projection>(projection: &P, pool: &PgPool) -> anyhow::Result<u64> {
    let fresh = format!("{}{REBUILD_SUFFIX}", P::NAME);
    let mut conn = pool.acquire().await?;
    sqlx::query(&format!("DROP TABLE IF EXISTS {fresh}"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&P::create_table_sql(&fresh))
        .execute(&mut *conn)
        .await?;
    for companion in P::COMPANION_TABLES {
        let fresh_companion = companion_table(P::NAME, &fresh, companion);
        sqlx::query(&format!("DROP TABLE IF EXISTS {fresh_companion}"))
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!(
            "CREATE TABLE {fresh_companion} (LIKE {companion} INCLUDING ALL)"
        ))
        .execute(&mut *conn)
        .await?;
    }
    drop(conn);
    let mut replayed = replay_missing(projection, pool, &fresh).await?;

    let mut tx = pool.begin().await?;
    let live: Vec<&str> = std::iter::once(P::NAME)
        .chain(P::COMPANION_TABLES.iter().copied())
        .collect();
    sqlx::query(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", live.join(", ")))
        .execute(&mut *tx)
        .await?;
    replayed += replay_into(projection, &mut tx, &fresh).await?;
    let notify = notify_sql(P::NAME);
    sqlx::Executor::execute(&mut *tx, sqlx::raw_sql(&notify)).await?;
    for table in live {
        let old = format!("{table}_old");
        let new = companion_table(P::NAME, &fresh, table);
        sqlx::query(&format!("ALTER TABLE {table} RENAME TO {old}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("ALTER TABLE {new} RENAME TO {table}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("DROP TABLE {old}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(replayed)
}

/// Replays, outside any lock, every event `table` has not applied yet, one stream at a time.
async fn replay_missing<P: Projection>(
    projection: &P,
    pool: &PgPool,
    table: &str,
) -> anyhow::Result<u64> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    let n = replay_into(projection, &mut tx, table).await?;
    tx.commit().await?;
    Ok(n)
}

/// Applies every event of `P::AGGREGATE_TYPE` newer than each row's version in `table`.
async fn replay_into<P: Projection>(
    projection: &P,
    conn: &mut PgConnection,
    table: &str,
) -> anyhow::Result<u64> {
    let id_column = P::ID_COLUMN;
    let rows = sqlx::query(&format!(
        "SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
         FROM events e LEFT JOIN {table} r ON r.{id_column} = e.aggregate_id
         WHERE e.aggregate_type = $1 AND e.sequence > COALESCE(r.version, 0)
         ORDER BY e.aggregate_id, e.sequence"
    ))
    .bind(P::AGGREGATE_TYPE)
    .fetch_all(&mut *conn)
    .await?;
    let events: Vec<RecordedEvent> = rows.iter().map(row_to_event).collect();
    let mut start = 0;
    while start < events.len() {
        let id = &events[start].aggregate_id;
        let end = start
            + events[start..]
                .iter()
                .take_while(|e| &e.aggregate_id == id)
                .count();
        projection.apply(conn, table, &events[start..end]).await?;
        start = end;
    }
    Ok(events.len() as u64)
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    fn event(id: &str, sequence: u64) -> RecordedEvent {
        RecordedEvent {
            aggregate_type: "cart".into(),
            aggregate_id: id.into(),
            sequence,
            event_type: "E".into(),
            event_version: "1".into(),
            payload: serde_json::Value::Null,
            metadata: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_commit_announces_the_streams_it_changed_within_the_payload_limit() {
        assert_eq!(
            notify_streams_sql("carts", ["b", "a", "b"]),
            "SELECT pg_notify('agora_read_models', 'carts:a,b')"
        );
        // An id that could break out of the literal: every stream, by the bare name.
        assert_eq!(
            notify_streams_sql("carts", ["a", "x'); DROP TABLE carts; --"]),
            notify_sql("carts")
        );
        assert_eq!(notify_streams_sql("carts", []), notify_sql("carts"));
        // 500 UUIDs do not fit one payload: each notification stays under the limit, and
        // together they name every id once.
        let ids: Vec<String> = (0..500)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect();
        let sql = notify_streams_sql("carts", ids.iter().map(String::as_str));
        let payloads: Vec<&str> = sql
            .split("; ")
            .map(|s| {
                s.strip_prefix("SELECT pg_notify('agora_read_models', 'carts:")
                    .and_then(|s| s.strip_suffix("')"))
                    .expect(s)
            })
            .collect();
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() + "carts:".len() <= 7000));
        let named: Vec<&str> = payloads.iter().flat_map(|p| p.split(',')).collect();
        assert_eq!(named, ids.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn a_batch_is_applied_stream_by_stream_in_order_without_repeats() {
        // Interleaved streams, one event redelivered, one out of order.
        let batch = [
            event("a", 1),
            event("b", 4),
            event("a", 3),
            event("a", 2),
            event("b", 4),
            event("b", 5),
        ];
        let grouped: Vec<Vec<(String, u64)>> = by_stream(&batch)
            .into_iter()
            .map(|s| {
                s.into_iter()
                    .map(|e| (e.aggregate_id.clone(), e.sequence))
                    .collect()
            })
            .collect();
        assert_eq!(
            grouped,
            vec![
                vec![("a".into(), 1), ("a".into(), 2), ("a".into(), 3)],
                vec![("b".into(), 4), ("b".into(), 5)],
            ]
        );
    }
}
