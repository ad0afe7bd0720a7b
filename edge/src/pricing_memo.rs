//! The edge's memory of cart pricings: a cart page shown again is not priced again.
//!
//! Pricing a cart takes the checkout service a dozen reads (the cart, each product, the
//! vendors, the promotions, the shipping settings). A shopper looks at the same cart many
//! times between changes, so the edge keeps each `GET /store/carts/{id}/pricing` answer, for
//! the shopper who asked and the query they asked with, until something it was priced from
//! changes:
//! - the cart itself: the edge forgets a cart's pricings as soon as a command it sent to the
//!   cart has an answer (a shopper always sees their own change), and when the carts read
//!   model announces the cart's stream (a change made elsewhere: another edge process, a
//!   checkout);
//! - the catalog, the vendors and the promotions: any change to their read models ([`SOURCES`]);
//! - for a customer's cart, the orders read model too (a first-order promotion), and a change
//!   of customer groups made through this edge;
//! - shipping settings changed through this edge (whether a cart's shipping waits for a
//!   destination depends on the zones);
//! - time: a pricing is never served past the moment a promotion on offer starts or ends
//!   (`valid_until`), nor after the time-to-live, which also bounds what the checkout reads
//!   that announces nothing (customer groups changed through another edge process, the
//!   shop's shipping settings).
//!
//! Only pricings without a destination are kept (the cart page's): with a country, shipping
//! options and their prices come from shipping settings that announce no change, and the
//! checkout form must show what the checkout will charge.
//!
//! The stamps follow [`crate::read_cache`]'s rule: an entry records the generations and the
//! cart epoch read *before* its pricing was asked for, so an answer that straddled a change is
//! never served; while the change listener is down nothing is kept or served.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_kernel::Principal;
use axum::body::Bytes;

use crate::read_cache::Follower;

/// Read models every kept pricing was priced from: a commit to any of them forgets them all.
pub const SOURCES: [&str; 4] = ["products", "categories", "vendors", "promotions"];
/// The read model whose changes forget customers' pricings (first-order promotions).
const ORDERS: &str = "orders";
/// The read model that announces changed carts by id.
const CARTS: &str = "carts";
/// The key prefix of a customer's pricings.
const CUSTOMER: &str = "c:";
/// Pricings kept per cart at most (one per shopper and query).
const PER_CART: usize = 8;

/// What was current when a pricing was asked for.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    generation: u64,
    customers: u64,
    epoch: u64,
}

#[derive(Clone)]
struct Priced {
    /// Who asked and with which query (see [`PricingMemo::key`]).
    key: String,
    stamp: Stamp,
    expires: Instant,
    body: Bytes,
}

/// Cart pricings, by cart, valid until what they were priced from changes.
pub struct PricingMemo {
    entries: Option<moka::sync::Cache<String, Arc<Vec<Priced>>>>,
    /// Moves on at every change of a read model in [`SOURCES`].
    generation: AtomicU64,
    /// Moves on at every change of what customers' pricings read beyond their carts: the
    /// orders read model, customer groups.
    customers: AtomicU64,
    /// Moves on at every cart change heard; `changed` holds each changed cart's epoch.
    epoch: AtomicU64,
    changed: moka::sync::Cache<String, u64>,
    live: AtomicBool,
    ttl: Duration,
}

impl PricingMemo {
    /// A memo of at most `max_bytes` of answers (0: none), each served for at most `ttl`.
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        let entries = (max_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|cart: &String, kept: &Arc<Vec<Priced>>| {
                    let bytes: usize = kept.iter().map(|p| p.key.len() + p.body.len() + 96).sum();
                    u32::try_from(cart.len() + bytes).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .build()
        });
        PricingMemo {
            entries,
            generation: AtomicU64::new(0),
            customers: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            // A change must be remembered for as long as a pricing that straddled it could be
            // kept: never longer than the time-to-live.
            changed: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ttl + Duration::from_secs(1))
                .build(),
            live: AtomicBool::new(false),
            ttl,
        }
    }

    /// A memo that keeps nothing.
    pub fn off() -> Self {
        Self::new(0, Duration::ZERO)
    }

    /// The key of `principal`'s pricing with `query`, if such pricings are kept: a shopper's
    /// (a guest's by their token, a customer's by their id) without a destination.
    pub fn key(principal: &Principal, query: &str, has_destination: bool) -> Option<String> {
        if has_destination {
            return None;
        }
        match principal {
            Principal::Guest { token_sha256 } => Some(format!("g:{token_sha256}?{query}")),
            Principal::Customer { id } => Some(format!("{CUSTOMER}{id}?{query}")),
            _ => None,
        }
    }

    /// The pricing of `cart` kept for `key`, if nothing it was priced from has changed since.
    pub fn get(&self, cart: &str, key: &str) -> Option<Bytes> {
        if !self.live.load(Ordering::SeqCst) {
            return None;
        }
        let kept = self.entries.as_ref()?.get(cart)?;
        let priced = kept.iter().find(|p| p.key == key)?;
        self.current(cart, priced).then(|| priced.body.clone())
    }

    fn current(&self, cart: &str, priced: &Priced) -> bool {
        let stamp = priced.stamp;
        stamp.generation == self.generation.load(Ordering::SeqCst)
            && (!priced.key.starts_with(CUSTOMER)
                || stamp.customers == self.customers.load(Ordering::SeqCst))
            && self.changed.get(cart).is_none_or(|at| at <= stamp.epoch)
            && Instant::now() < priced.expires
    }

    /// What is current now, read before a pricing is asked for; `None` when nothing may be
    /// kept (the memo is off, or changes are not being heard).
    pub fn stamp(&self) -> Option<Stamp> {
        (self.entries.is_some() && self.live.load(Ordering::SeqCst)).then(|| Stamp {
            generation: self.generation.load(Ordering::SeqCst),
            customers: self.customers.load(Ordering::SeqCst),
            epoch: self.epoch.load(Ordering::SeqCst),
        })
    }

    /// Keeps `body`, the pricing of `cart` for `key` asked for at `stamp`, until `valid_until`
    /// at the latest.
    pub fn put(
        &self,
        cart: &str,
        key: String,
        stamp: Stamp,
        valid_until: Option<chrono::DateTime<chrono::Utc>>,
        body: Bytes,
    ) {
        let Some(entries) = &self.entries else {
            return;
        };
        let mut ttl = self.ttl;
        if let Some(until) = valid_until {
            let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
            ttl = ttl.min(left);
        }
        let priced = Priced {
            key,
            stamp,
            expires: Instant::now() + ttl,
            body,
        };
        if !self.current(cart, &priced) {
            return;
        }
        let mut kept: Vec<Priced> = Vec::new();
        if let Some(old) = entries.get(cart) {
            kept.extend(
                old.iter()
                    .filter(|p| p.key != priced.key && self.current(cart, p))
                    .cloned(),
            );
        }
        kept.truncate(PER_CART - 1);
        kept.push(priced);
        entries.insert(cart.to_string(), Arc::new(kept));
        // A change heard while this was being inserted: `cart_changed` records the change
        // before it forgets the cart, so either it forgets this entry or this sees the change.
        if self.changed.get(cart).is_some_and(|at| at > stamp.epoch) {
            entries.invalidate(cart);
        }
    }

    /// `cart` changed: forget its pricings, and any being asked for now.
    pub fn cart_changed(&self, cart: &str) {
        let at = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.changed.insert(cart.to_string(), at);
        if let Some(entries) = &self.entries {
            entries.invalidate(cart);
        }
    }

    /// A customer's groups changed: forget every customer's pricings.
    pub fn customers_changed(&self) {
        self.customers.fetch_add(1, Ordering::SeqCst);
    }

    /// Something every pricing may read changed (the shipping settings, changed through this
    /// edge): forget them all.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }
}

impl Follower for PricingMemo {
    fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    fn heard(&self, payload: &str) {
        if let Some(ids) = payload
            .strip_prefix(CARTS)
            .and_then(|rest| rest.strip_prefix(':'))
        {
            ids.split(',').for_each(|id| self.cart_changed(id));
        } else if payload == CARTS || SOURCES.contains(&payload) {
            // The bare name (a rebuild) means every cart.
            self.forget_all();
        } else if payload == ORDERS {
            self.customers_changed();
        }
    }

    fn listening(&self, live: bool) {
        self.forget_all();
        self.live.store(live, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CART: &str = "3f1d9a52-8c1e-4d47-9a8e-2f3b7c6d5e41";

    fn live() -> PricingMemo {
        let memo = PricingMemo::new(1 << 20, Duration::from_secs(30));
        memo.listening(true);
        memo
    }

    fn guest() -> String {
        PricingMemo::key(
            &Principal::Guest {
                token_sha256: "ab".repeat(32),
            },
            "",
            false,
        )
        .expect("a guest's cart page is kept")
    }

    fn keep(memo: &PricingMemo, stamp: Stamp, body: &'static str) {
        memo.put(CART, guest(), stamp, None, Bytes::from(body));
    }

    #[test]
    fn a_pricing_is_served_again_until_its_cart_changes() {
        let memo = live();
        keep(&memo, memo.stamp().expect("live"), "v1");
        assert_eq!(memo.get(CART, &guest()).as_deref(), Some(&b"v1"[..]));
        memo.cart_changed(CART);
        assert_eq!(memo.get(CART, &guest()), None);
    }

    #[test]
    fn a_pricing_that_straddled_a_change_is_never_kept() {
        let memo = live();
        let before = memo.stamp().expect("live");
        // The cart changes (heard from the carts read model) while it is being priced.
        memo.heard(&format!("carts:other,{CART}"));
        keep(&memo, before, "stale");
        assert_eq!(memo.get(CART, &guest()), None);
        // Priced again after the change: kept.
        keep(&memo, memo.stamp().expect("live"), "fresh");
        assert_eq!(memo.get(CART, &guest()).as_deref(), Some(&b"fresh"[..]));
    }

    #[test]
    fn catalog_and_promotion_changes_forget_every_pricing_and_others_do_not() {
        let memo = live();
        keep(&memo, memo.stamp().expect("live"), "v1");
        memo.heard("stock_levels");
        memo.heard("carts:someone-else");
        memo.heard("orders");
        assert!(
            memo.get(CART, &guest()).is_some(),
            "a guest's pricing ignores orders"
        );
        memo.heard("promotions");
        assert_eq!(memo.get(CART, &guest()), None);
    }

    #[test]
    fn a_customers_pricing_is_forgotten_when_orders_or_groups_change() {
        let memo = live();
        let key = PricingMemo::key(
            &Principal::Customer {
                id: agora_kernel::CustomerId::new_random(),
            },
            "code=SUMMER10",
            false,
        )
        .expect("kept");
        let keep = || {
            let stamp = memo.stamp().expect("live");
            memo.put(CART, key.clone(), stamp, None, Bytes::from("c"));
            assert!(memo.get(CART, &key).is_some());
        };
        keep();
        memo.heard("orders");
        assert_eq!(memo.get(CART, &key), None);
        keep();
        memo.customers_changed();
        assert_eq!(memo.get(CART, &key), None);
    }

    #[test]
    fn nothing_is_kept_for_staff_with_a_destination_or_while_deaf() {
        assert!(PricingMemo::key(
            &Principal::Guest {
                token_sha256: "x".into()
            },
            "country=DE",
            true
        )
        .is_none());
        assert!(PricingMemo::key(&Principal::system("seed"), "", false).is_none());
        let memo = live();
        let before = memo.stamp().expect("live");
        memo.listening(false);
        assert!(memo.stamp().is_none());
        keep(&memo, before, "v1");
        memo.listening(true);
        assert_eq!(
            memo.get(CART, &guest()),
            None,
            "kept before the listener came back"
        );
    }

    #[test]
    fn a_pricing_is_not_served_past_the_next_promotion_boundary() {
        let memo = live();
        let soon = chrono::Utc::now() + chrono::Duration::milliseconds(30);
        memo.put(
            CART,
            guest(),
            memo.stamp().expect("live"),
            Some(soon),
            Bytes::from("v1"),
        );
        assert!(memo.get(CART, &guest()).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(memo.get(CART, &guest()), None);
    }
}
