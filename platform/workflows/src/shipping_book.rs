//! Shipping settings as the checkout quotes with them: the shop's own profile (`default`) and
//! the profiles of marketplace vendors that ship at their own rates (stream id: the vendor's
//! id), folded by a [`StreamBook`] (once per process, caught up from the event store on every
//! use with one query for all the profiles asked for), so a quote is as exact as a fold of the
//! whole streams. Each profile's zones, ready to quote with, are derived once per version.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use agora_kernel::ErrorBody;
use agora_runtime::StreamBook;
use agora_shipping::{ShippingProfile, Zone};

/// Shipping profiles are few: the shop's and those of vendors with rates of their own.
const PROFILES_FOLDED: u64 = 10_000;

/// A profile's zones and the version they were derived at.
type Derived = (u64, Arc<Vec<Zone>>);

pub struct ShippingBook {
    profiles: StreamBook<ShippingProfile>,
    zones: Mutex<HashMap<String, Derived>>,
}

impl ShippingBook {
    pub fn new(pool: sqlx::PgPool) -> Self {
        ShippingBook {
            profiles: StreamBook::new(pool, PROFILES_FOLDED),
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// The zones of each profile of `ids` as their committed events leave them, with one
    /// query; a profile without events has none (a vendor without rates of its own).
    pub async fn profiles(
        &self,
        ids: &[&str],
    ) -> Result<BTreeMap<String, Arc<Vec<Zone>>>, ErrorBody> {
        let folded = self.profiles.current(ids).await?;
        let mut zones = self.zones.lock().expect("shipping book poisoned");
        Ok(folded
            .into_iter()
            .map(|(id, f)| {
                let derived = match zones.get(&id) {
                    Some((version, z)) if *version == f.version => z.clone(),
                    _ => {
                        let z = Arc::new(f.state.zones());
                        zones.insert(id.clone(), (f.version, z.clone()));
                        z
                    }
                };
                (id, derived)
            })
            .collect())
    }
}
