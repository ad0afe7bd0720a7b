//! The runtime around aggregates: the event store, the actor host and the feed relay.
//!
//! - [`EventStore`]: postgres-es's `PostgresEventRepository` (the plain event store; its
//!   snapshot and aggregate stores double-apply events) plus Agora's metadata and hash chain.
//! - [`AggregateHost`]: one ractor actor per live aggregate, spawned on its first message,
//!   passivated when idle, replaced after a panic. Commands are idempotent by command id.
//! - [`feed`]: the relay that moves committed events from the outbox to JetStream, and the
//!   reactors' consumer loop.
//! - [`parked`]: events a consumer gave up on after its retries: parked, listed, replayed.
//!
//! Invariants:
//! - an event is committed together with its outbox row (a trigger) or not at all;
//! - each stream's metadata forms a hash chain from [`agora_kernel::GENESIS_HASH`];
//! - a command id that produced events is never applied twice: before deciding, the actor
//!   checks the command ids recorded in the stream's metadata.

mod book;
pub mod feed;
mod host;
pub mod parked;
pub mod queue;
mod service;
mod store;

pub use book::{Folded, StreamBook};
pub use host::{AggregateHost, HostConfig};
pub use service::{read, AggregateService};
pub use store::{fold, row_to_event, AppendError, EventStore};

/// Every migration of the platform, embedded: `agora migrate` and start-up apply them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
