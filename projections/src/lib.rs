//! Read models, built from the event feed.
//!
//! The projection runtime ([`run`]) reads one durable JetStream consumer per projection and
//! applies the events already delivered in one Postgres transaction. When an event fails, the
//! batch runs again with each event under its own savepoint: the failing one is rolled back
//! alone, retried with backoff and, after [`Projection::RETRY`] deliveries, parked in
//! `feed_parked` (see [`agora_runtime::parked`]), while the other events of the batch are
//! committed and acknowledged. The durable consumer holds the
//! position in the feed (its pending count is the lag); there is no checkpoint table.
//!
//! Invariants:
//! - writes are guarded by the stream sequence: each read-model row stores the last sequence
//!   applied, an event at or below it is skipped, so a replay yields the same rows;
//! - a gap (an event whose predecessor was never seen) is filled from the event store before
//!   the event is applied, so a lost feed message never loses an update;
//! - a read model can be rebuilt from the event store into a fresh table and swapped in while
//!   the live projection keeps running ([`rebuild`]); tables derived from the same events in the
//!   same transactions (`daily_sales` beside `orders`) are rebuilt and swapped with it;
//! - every transaction that changes a read model announces its name on the Postgres channel
//!   [`READ_MODELS_CHANGED`] when it commits (the edge's read cache listens).
//!
//! [`analytics`] holds the analytics read models (sales by day, product, category and vendor;
//! the conversion funnel; customers; refunds by reason), one projection per stream type.

pub mod analytics;
pub mod carts;
pub mod categories;
pub mod fulfilment;
pub mod orders;
pub mod payments;
pub mod products;
pub mod promotions;
pub mod reviews;
mod runtime;
pub mod search;
mod state;
pub mod stock;
pub mod vendors;

pub use runtime::{
    companion_table, consumer_name, notify_sql, notify_streams_sql, rebuild, run, Projection,
    READ_MODELS_CHANGED,
};
