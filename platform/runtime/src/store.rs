use agora_kernel::{Decider, ErrorBody, RecordedEvent};
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use postgres_es::PostgresEventRepository;
use sqlx::{PgPool, Row};

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer appended to the stream first (postgres-es's optimistic lock).
    #[error("another writer appended to the stream first")]
    Conflict,
    /// The outcome is unknown: the commit may or may not have happened.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

/// The event store: postgres-es for appends and stream reads, plain SQL for the few reads
/// postgres-es does not offer (a range of one stream, for feed gaps).
#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
    repo: std::sync::Arc<PostgresEventRepository>,
}

impl EventStore {
    pub fn new(pool: PgPool) -> Self {
        EventStore {
            repo: std::sync::Arc::new(PostgresEventRepository::new(pool.clone())),
            pool,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Every event of one stream, in order.
    pub async fn load<A: cqrs_es::Aggregate>(
        &self,
        id: &str,
    ) -> Result<Vec<RecordedEvent>, ErrorBody> {
        let events = self
            .repo
            .get_events::<A>(id)
            .await
            .map_err(|e| ErrorBody::unavailable(format!("event store: {e}")))?;
        Ok(events.into_iter().map(from_serialized).collect())
    }

    /// Appends events to one stream in one transaction; fails with `Conflict` if any of their
    /// sequences is taken.
    pub async fn append<A: cqrs_es::Aggregate>(
        &self,
        events: &[RecordedEvent],
    ) -> Result<(), AppendError> {
        let serialized: Vec<SerializedEvent> = events.iter().cloned().map(to_serialized).collect();
        match self.repo.persist::<A>(&serialized, None).await {
            Ok(()) => Ok(()),
            Err(PersistenceError::OptimisticLockError) => Err(AppendError::Conflict),
            Err(e) => Err(AppendError::Unavailable(e.to_string())),
        }
    }

    /// Events of one stream with `after < sequence < before`, for filling a gap in the feed.
    pub async fn range(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: u64,
        before: u64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
             FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 AND sequence < $4
             ORDER BY sequence",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(after as i64)
        .bind(before.min(i64::MAX as u64) as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_to_event).collect())
    }
}

pub fn row_to_event(row: &sqlx::postgres::PgRow) -> RecordedEvent {
    RecordedEvent {
        aggregate_type: row.get("aggregate_type"),
        aggregate_id: row.get("aggregate_id"),
        sequence: row.get::<i64, _>("sequence") as u64,
        event_type: row.get("event_type"),
        event_version: row.get("event_version"),
        payload: row.get("payload"),
        metadata: row.get("metadata"),
    }
}

fn from_serialized(e: SerializedEvent) -> RecordedEvent {
    RecordedEvent {
        aggregate_type: e.aggregate_type,
        aggregate_id: e.aggregate_id,
        sequence: e.sequence as u64,
        event_type: e.event_type,
        event_version: e.event_version,
        payload: e.payload,
        metadata: e.metadata,
    }
}

fn to_serialized(e: RecordedEvent) -> SerializedEvent {
    SerializedEvent::new(
        e.aggregate_id,
        e.sequence as usize,
        e.aggregate_type,
        e.event_type,
        e.event_version,
        e.payload,
        e.metadata,
    )
}

/// Folds recorded events into a fresh aggregate, returning it with its version and head hash.
pub fn fold<A: Decider>(events: &[RecordedEvent]) -> Result<(A, u64, String), ErrorBody> {
    let mut state = A::default();
    let mut version = 0;
    let mut head = agora_kernel::GENESIS_HASH.to_string();
    for e in events {
        let event: A::Event = serde::Deserialize::deserialize(&e.payload).map_err(|err| {
            ErrorBody::internal(format!(
                "cannot read {} {} #{}: {err}",
                e.aggregate_type, e.aggregate_id, e.sequence
            ))
        })?;
        state.evolve(&event);
        version = e.sequence;
        if let Some(h) = e.recorded_hash() {
            head = h.to_string();
        }
    }
    Ok((state, version, head))
}
