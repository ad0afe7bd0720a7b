//! Shipping settings as the checkout quotes with them: the shop's own profile (`default`) and
//! the profiles of marketplace vendors that ship at their own rates (stream id: the vendor's
//! id), each folded once per process and caught up from the event store on every use. One
//! indexed query reads the events after the last one folded of every profile asked for
//! (usually none), so a quote is as exact as a fold of the whole streams and costs the same
//! however often the settings changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use agora_kernel::{Decider, ErrorBody};
use agora_shipping::{ShippingEvent, ShippingProfile, Zone};
use sqlx::Row;

/// A profile folded so far, with its last sequence and its zones ready to quote with.
#[derive(Default)]
struct Folded {
    version: u64,
    profile: ShippingProfile,
    zones: Arc<Vec<Zone>>,
}

pub struct ShippingBook {
    pool: sqlx::PgPool,
    folded: Mutex<HashMap<String, Folded>>,
}

impl ShippingBook {
    pub fn new(pool: sqlx::PgPool) -> Self {
        ShippingBook {
            pool,
            folded: Mutex::new(HashMap::new()),
        }
    }

    /// The zones of each profile of `ids` as their committed events leave them, with one
    /// query; a profile without events has none (a vendor without rates of its own).
    pub async fn profiles(
        &self,
        ids: &[&str],
    ) -> Result<BTreeMap<String, Arc<Vec<Zone>>>, ErrorBody> {
        let (names, after): (Vec<String>, Vec<i64>) = {
            let folded = self.folded.lock().expect("shipping book poisoned");
            ids.iter()
                .map(|id| {
                    let version = folded.get(*id).map_or(0, |f| f.version);
                    (id.to_string(), version as i64)
                })
                .unzip()
        };
        let rows = sqlx::query(
            "SELECT e.aggregate_id, e.sequence, e.payload
             FROM unnest($2::text[], $3::bigint[]) AS k(id, after)
             JOIN events e ON e.aggregate_type = $1 AND e.aggregate_id = k.id
                          AND e.sequence > k.after
             ORDER BY e.aggregate_id, e.sequence",
        )
        .bind(ShippingProfile::TYPE)
        .bind(&names)
        .bind(&after)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| ErrorBody::unavailable(format!("shipping settings: {e}")))?;
        let mut folded = self.folded.lock().expect("shipping book poisoned");
        let mut changed: Vec<String> = vec![];
        for row in &rows {
            let id: String = row.get(0);
            let sequence = row.get::<i64, _>(1) as u64;
            let payload: serde_json::Value = row.get(2);
            let profile = folded.entry(id.clone()).or_default();
            // A concurrent caller may have folded it already.
            if sequence <= profile.version {
                continue;
            }
            let event: ShippingEvent = serde_json::from_value(payload).map_err(|err| {
                ErrorBody::internal(format!(
                    "cannot read shipping settings {id} #{sequence}: {err}"
                ))
            })?;
            profile.profile.evolve(&event);
            profile.version = sequence;
            if !changed.contains(&id) {
                changed.push(id);
            }
        }
        for id in changed {
            if let Some(profile) = folded.get_mut(&id) {
                profile.zones = Arc::new(profile.profile.zones());
            }
        }
        Ok(ids
            .iter()
            .map(|id| {
                let zones = folded.get(*id).map(|f| f.zones.clone()).unwrap_or_default();
                (id.to_string(), zones)
            })
            .collect())
    }
}
