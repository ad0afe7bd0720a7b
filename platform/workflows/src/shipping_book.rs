//! The shop's shipping zones as the checkout quotes with them: the profile folded once per
//! process and caught up from the event store on every use (one indexed read of the events
//! after the last one folded, usually none), so a quote is as exact as a fold of the whole
//! stream and costs the same however often the settings changed.

use std::sync::{Arc, Mutex};

use agora_kernel::{Decider, ErrorBody};
use agora_shipping::{ShippingEvent, ShippingProfile, Zone, DEFAULT_PROFILE};

/// The profile folded so far, with its last sequence and its zones ready to quote with.
#[derive(Default)]
struct Folded {
    version: u64,
    profile: ShippingProfile,
    zones: Arc<Vec<Zone>>,
}

pub struct ShippingBook {
    store: agora_runtime::EventStore,
    folded: Mutex<Folded>,
}

impl ShippingBook {
    pub fn new(pool: sqlx::PgPool) -> Self {
        ShippingBook {
            store: agora_runtime::EventStore::new(pool),
            folded: Mutex::new(Folded::default()),
        }
    }

    /// The shop's zones as its committed events leave them (none: the shop charges its one
    /// configured rate).
    pub async fn zones(&self) -> Result<Arc<Vec<Zone>>, ErrorBody> {
        let after = self.folded.lock().expect("shipping book poisoned").version;
        let events = self
            .store
            .range(ShippingProfile::TYPE, DEFAULT_PROFILE, after, u64::MAX)
            .await
            .map_err(|e| ErrorBody::unavailable(format!("shipping settings: {e}")))?;
        let mut folded = self.folded.lock().expect("shipping book poisoned");
        let mut changed = false;
        for e in &events {
            // A concurrent caller may have folded it already.
            if e.sequence <= folded.version {
                continue;
            }
            let event: ShippingEvent =
                serde::Deserialize::deserialize(&e.payload).map_err(|err| {
                    ErrorBody::internal(format!(
                        "cannot read shipping settings #{}: {err}",
                        e.sequence
                    ))
                })?;
            folded.profile.evolve(&event);
            folded.version = e.sequence;
            changed = true;
        }
        if changed {
            folded.zones = Arc::new(folded.profile.zones());
        }
        Ok(folded.zones.clone())
    }
}
