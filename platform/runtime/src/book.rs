//! Aggregates of one type folded once per process and caught up from the event store on every
//! use: what a service that spans aggregates reads when it needs their current state (the
//! checkout pricing a cart's products) without asking each aggregate's actor over NATS.
//!
//! Each use reads, in one query for all the ids asked for, only the events committed after the
//! version this process has folded, so the answer is every committed event's outcome, exactly
//! as the aggregate's own actor would fold it, whichever process wrote them. The folded states
//! are kept in a bounded cache (least recently used go first; one is folded again from its
//! stream when next asked for).

use std::collections::HashMap;
use std::sync::Arc;

use agora_kernel::{Decider, ErrorBody};
use sqlx::{PgPool, Row};

/// An aggregate as its committed events leave it.
#[derive(Clone, Debug, Default)]
pub struct Folded<A> {
    pub state: A,
    /// The sequence of the last event folded; 0: the stream has no events.
    pub version: u64,
}

/// Aggregates of type `A`, folded in memory and caught up from the store on every use.
pub struct StreamBook<A: Decider> {
    pool: PgPool,
    folded: moka::sync::Cache<String, Arc<Folded<A>>>,
}

impl<A> StreamBook<A>
where
    A: Decider + Clone + Send + Sync + 'static,
{
    /// A book keeping at most `capacity` folded aggregates.
    pub fn new(pool: PgPool, capacity: u64) -> Self {
        StreamBook {
            pool,
            folded: moka::sync::Cache::new(capacity),
        }
    }

    /// Each of `ids` as its committed events leave it (version 0 for a stream without
    /// events), with one query for all of them.
    pub async fn current(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, Arc<Folded<A>>>, ErrorBody> {
        let mut known: HashMap<String, Arc<Folded<A>>> = ids
            .iter()
            .map(|id| {
                let folded = self.folded.get(*id).unwrap_or_default();
                (id.to_string(), folded)
            })
            .collect();
        let (names, after): (Vec<String>, Vec<i64>) = known
            .iter()
            .map(|(id, f)| (id.clone(), f.version as i64))
            .unzip();
        let rows = sqlx::query(
            "SELECT e.aggregate_id, e.sequence, e.payload
             FROM unnest($2::text[], $3::bigint[]) AS k(id, after)
             JOIN events e ON e.aggregate_type = $1 AND e.aggregate_id = k.id
                          AND e.sequence > k.after
             ORDER BY e.aggregate_id, e.sequence",
        )
        .bind(A::TYPE)
        .bind(&names)
        .bind(&after)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| ErrorBody::unavailable(format!("reading {} streams: {e}", A::TYPE)))?;
        let mut caught_up: HashMap<String, Folded<A>> = HashMap::new();
        for row in &rows {
            let id: String = row.get(0);
            let sequence = row.get::<i64, _>(1) as u64;
            let payload: serde_json::Value = row.get(2);
            let folded = caught_up
                .entry(id.clone())
                .or_insert_with(|| known.get(&id).map(|f| (**f).clone()).unwrap_or_default());
            let event: A::Event = serde_json::from_value(payload).map_err(|err| {
                ErrorBody::internal(format!("cannot read {} {id} #{sequence}: {err}", A::TYPE))
            })?;
            folded.state.evolve(&event);
            folded.version = sequence;
        }
        for (id, folded) in caught_up {
            let folded = Arc::new(folded);
            self.folded.insert(id.clone(), folded.clone());
            known.insert(id, folded);
        }
        Ok(known)
    }
}
