//! The promotions the checkout prices with, folded once and kept in memory.
//!
//! Every use brings them up to date from the event store, reading only the events each cached
//! promotion has not seen yet (one query for all the active automatic promotions), so a price
//! is as exact as a fold of the whole stream and costs the same however long the stream has
//! grown. The read model only says which automatic promotions are active; their terms and
//! counters always come from their own events.

use std::collections::HashMap;
use std::sync::Mutex;

use agora_kernel::{CustomerId, Decider, ErrorBody, RecordedEvent};
use agora_promotion::{
    Offer, OrderId, Promotion, PromotionCode, PromotionError, PromotionEvent, PromotionId,
    PromotionStatus,
};
use sqlx::{PgPool, Row};
use std::str::FromStr;

/// The promotions seen so far, each with the last sequence folded into it.
pub struct PromotionBook {
    store: agora_runtime::EventStore,
    folded: Mutex<HashMap<String, (u64, Promotion)>>,
}

fn store_error(e: sqlx::Error) -> ErrorBody {
    ErrorBody::unavailable(format!("promotions: {e}"))
}

impl PromotionBook {
    pub fn new(pool: PgPool) -> Self {
        PromotionBook {
            store: agora_runtime::EventStore::new(pool),
            folded: Mutex::new(HashMap::new()),
        }
    }

    fn known(&self) -> (Vec<String>, Vec<i64>) {
        let folded = self.folded.lock().expect("promotion book poisoned");
        folded
            .iter()
            .map(|(id, (v, _))| (id.clone(), *v as i64))
            .unzip()
    }

    /// Folds `events` (each stream's in sequence order) into the cache. An event already
    /// folded (by a concurrent caller that read it too) is skipped.
    fn fold(&self, events: &[RecordedEvent]) -> Result<(), ErrorBody> {
        let mut folded = self.folded.lock().expect("promotion book poisoned");
        for e in events {
            let (version, promotion) = folded.entry(e.aggregate_id.clone()).or_default();
            if e.sequence <= *version {
                continue;
            }
            let event: PromotionEvent =
                serde::Deserialize::deserialize(&e.payload).map_err(|err| {
                    ErrorBody::internal(format!(
                        "cannot read promotion {} #{}: {err}",
                        e.aggregate_id, e.sequence
                    ))
                })?;
            promotion.evolve(&event);
            *version = e.sequence;
        }
        Ok(())
    }

    /// The offer of promotion `id` for `customer` and the `entered` code, from the cache. A
    /// use that this very `order` already holds (a retried checkout whose first attempt
    /// reserved, then lost its answer) counts as available to it, so the retry prices the
    /// same and its `Reserve` is the idempotent repeat.
    fn offer(
        &self,
        id: &str,
        customer: Option<CustomerId>,
        entered: Option<&PromotionCode>,
        order: Option<OrderId>,
    ) -> Result<Offer, PromotionError> {
        let promotion_id = PromotionId::from_str(id).map_err(|_| PromotionError::NotFound)?;
        let folded = self.folded.lock().expect("promotion book poisoned");
        let Some((_, promotion)) = folded.get(id) else {
            return Err(PromotionError::NotFound);
        };
        match order.and_then(|o| promotion.redemptions.get(&o).map(|held| (o, held))) {
            None => promotion.offer(promotion_id, customer, entered),
            Some((order_id, held)) => {
                let mut without = promotion.clone();
                without.evolve(&PromotionEvent::RedemptionReleased {
                    order_id,
                    customer: held.customer,
                    code: held.code.clone(),
                    amount: held.amount,
                    released_at: held.reserved_at,
                });
                without.offer(promotion_id, customer, entered)
            }
        }
    }

    /// The active automatic promotions (the read model lists them), each as its committed
    /// events leave it, as offers for `customer` (and `order`, see [`Self::offer`]); one
    /// that cannot be offered (paused since the listing) is left out.
    pub async fn automatic(
        &self,
        customer: Option<CustomerId>,
        order: Option<OrderId>,
    ) -> Result<Vec<Offer>, ErrorBody> {
        let (ids, versions) = self.known();
        let rows = sqlx::query(
            "SELECT p.promotion_id AS listed, e.aggregate_type, e.aggregate_id, e.sequence,
                    e.event_type, e.event_version, e.payload, e.metadata
             FROM promotions p
             LEFT JOIN unnest($1::text[], $2::bigint[]) AS k(id, v) ON k.id = p.promotion_id
             LEFT JOIN events e ON e.aggregate_type = 'promotion'
                  AND e.aggregate_id = p.promotion_id AND e.sequence > COALESCE(k.v, 0)
             WHERE p.status = 'active' AND p.kind = 'automatic'
             ORDER BY p.promotion_id, e.sequence",
        )
        .bind(&ids)
        .bind(&versions)
        .fetch_all(self.store.pool())
        .await
        .map_err(store_error)?;
        let mut listed: Vec<String> = Vec::new();
        let mut events = Vec::new();
        for row in &rows {
            let id: String = row.get("listed");
            if listed.last() != Some(&id) {
                listed.push(id);
            }
            if row.get::<Option<i64>, _>("sequence").is_some() {
                events.push(agora_runtime::row_to_event(row));
            }
        }
        self.fold(&events)?;
        let offers = listed
            .iter()
            .filter_map(|id| self.offer(id, customer, None, order).ok())
            .collect();
        // An ended promotion never applies again: it leaves memory (a code of one that is
        // used again is folded anew, to say it ended).
        self.folded
            .lock()
            .expect("promotion book poisoned")
            .retain(|_, (_, p)| p.status != Some(PromotionStatus::Ended));
        Ok(offers)
    }

    /// The offer of the promotion that `code` redeems, for `customer` (and `order`, see
    /// [`Self::offer`]): `promotion.unknown_code` when no promotion has it.
    pub async fn for_code(
        &self,
        code: &PromotionCode,
        customer: Option<CustomerId>,
        order: Option<OrderId>,
    ) -> Result<Result<Offer, PromotionError>, ErrorBody> {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT promotion_id FROM promotion_codes WHERE code = $1")
                .bind(code.as_str())
                .fetch_optional(self.store.pool())
                .await
                .map_err(store_error)?;
        let Some(id) = owner else {
            return Ok(Err(PromotionError::UnknownCode));
        };
        let after = {
            let folded = self.folded.lock().expect("promotion book poisoned");
            folded.get(&id).map_or(0, |(v, _)| *v)
        };
        let events = self
            .store
            .range(Promotion::TYPE, &id, after, u64::MAX)
            .await
            .map_err(store_error)?;
        self.fold(&events)?;
        Ok(match self.offer(&id, customer, Some(code), order) {
            Err(PromotionError::NotFound) => Err(PromotionError::UnknownCode),
            offer => offer,
        })
    }
}
