//! The shared kernel: the small vocabulary every bounded context speaks.
//!
//! - [`Money`]: integer minor units plus an ISO-4217 currency; never floats.
//! - Typed ids ([`typed_id!`]) so a cart id can never be passed where an order id is expected.
//! - [`ErrorKind`] and [`ErrorBody`]: every domain error has a stable, documented code and a kind
//!   that the edge maps to an HTTP status.
//! - [`Contract`] and [`Command`]: what a service answers on the bus, typed; no caller writes an
//!   endpoint name.
//! - [`Principal`]: who acted, carried by every command and recorded in every event's metadata.
//! - [`EventMetadata`] and the hash chain ([`chain_hash`]) that makes each stream tamper-evident.
//!
//! Invariant: this crate does no IO and reads no clock; time and ids arrive as values.

mod address;
mod contract;
mod decider;
mod error;
mod ids;
mod metadata;
mod money;
mod principal;
mod purity;
mod recorded;
mod sku;

pub use address::{subdivision, Address};
pub use contract::{check_names, Command, Contract, GET};
pub use decider::{CqrsEnvelope, Decider};
pub use error::{DomainError, ErrorBody, ErrorKind};
pub use ids::{CommandId, CorrelationId, CustomerId, ParseIdError};
pub use metadata::{chain_hash, EventMetadata, GENESIS_HASH};
pub use money::{Currency, Money, MoneyError};
pub use principal::{same_digest, Caller, Principal};
pub use purity::assert_only_dependencies;
pub use recorded::{verify_chain, ChainVerdict, RecordedEvent};
pub use sku::{InvalidSku, Sku};
