//! How read models fold their aggregate; read-model rows never hold the aggregate itself. A read
//! model of short streams (carts, categories) folds the stream from the event store on each
//! batch ([`fold_stream`]); one of streams that grow without bound (a hot SKU's stock, a
//! promotion's redemptions, products) keeps the folded state in a private companion table
//! (`product_states`, `stock_states`, `promotion_states`) through [`fold_row`], so that a batch
//! costs the same however long the stream has grown.

use agora_kernel::{Decider, RecordedEvent};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

/// An aggregate folded up to the newest event of a batch, with the times a row needs.
pub struct Folded<A> {
    pub state: A,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Loads the folded aggregate of `events`' stream (if any) from `state_table`, folds `events`
/// (one stream, consecutive) into it and stores it back. The state table is the projection's
/// own (a companion of its read model, rebuilt and swapped with it): read-model rows never hold
/// the aggregate's private shape.
pub async fn fold_row<A: Decider + serde::Serialize + serde::de::DeserializeOwned>(
    conn: &mut PgConnection,
    state_table: &str,
    id_column: &str,
    events: &[RecordedEvent],
) -> anyhow::Result<Option<Folded<A>>> {
    let Some(first) = events.first() else {
        return Ok(None);
    };
    let row = sqlx::query(&format!(
        "SELECT state, created_at FROM {state_table} WHERE {id_column} = $1"
    ))
    .bind(&first.aggregate_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (state, created_at) = match row {
        Some(row) => (
            serde_json::from_value::<A>(row.get("state"))?,
            Some(row.get::<DateTime<Utc>, _>("created_at")),
        ),
        None => (A::default(), None),
    };
    let folded = fold_onto(state, created_at, events)?;
    sqlx::query(&format!(
        "INSERT INTO {state_table} ({id_column}, state, created_at) VALUES ($1, $2, $3)
         ON CONFLICT ({id_column}) DO UPDATE SET state = EXCLUDED.state"
    ))
    .bind(&first.aggregate_id)
    .bind(serde_json::to_value(&folded.state)?)
    .bind(folded.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(Some(folded))
}

/// Folds the stream of `events` (one stream, consecutive) from its first event through the
/// last of `events`: the earlier events are read from the event store in the projection's own
/// transaction, so the row needs no copy of the aggregate's state.
pub async fn fold_stream<A: Decider>(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> anyhow::Result<Option<Folded<A>>> {
    let Some(first) = events.first() else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
         FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence < $3
         ORDER BY sequence",
    )
    .bind(&first.aggregate_type)
    .bind(&first.aggregate_id)
    .bind(first.sequence as i64)
    .fetch_all(&mut *conn)
    .await?;
    let earlier: Vec<RecordedEvent> = rows.iter().map(agora_runtime::row_to_event).collect();
    Ok(Some(fold_onto(
        A::default(),
        None,
        earlier.iter().chain(events),
    )?))
}

/// Folds `events` onto `state`, whose stream began at `created_at` (unknown for a new one).
fn fold_onto<'e, A: Decider>(
    mut state: A,
    mut created_at: Option<DateTime<Utc>>,
    events: impl IntoIterator<Item = &'e RecordedEvent>,
) -> anyhow::Result<Folded<A>> {
    let (mut version, mut updated_at) = (0, Utc::now());
    for e in events {
        let event: A::Event = serde::Deserialize::deserialize(&e.payload)?;
        state.evolve(&event);
        version = e.sequence;
        if let Some(at) = e.recorded_at() {
            updated_at = at;
            created_at.get_or_insert(at);
        }
    }
    Ok(Folded {
        state,
        version,
        created_at: created_at.unwrap_or(updated_at),
        updated_at,
    })
}

/// The last applied sequence of one row, locking it for the rest of the transaction.
pub async fn row_version(
    conn: &mut PgConnection,
    table: &str,
    id_column: &str,
    id: &str,
) -> Result<u64, sqlx::Error> {
    let v: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM {table} WHERE {id_column} = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(v.unwrap_or(0) as u64)
}
