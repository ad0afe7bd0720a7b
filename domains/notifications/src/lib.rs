//! Notifications as pure decisions: which messages a fact causes, for whom, by which channel,
//! rendered how, and when a failed delivery is tried again.
//!
//! The IO (the feed consumer, the outbox table, SMTP and the SMS provider) lives in
//! `agora-notifier`; this crate only decides, so every rule is tested without a server.
//!
//! - [`Kind`], [`Category`], [`Channel`], [`Status`]: the vocabulary, with stable wire names.
//! - [`notification_id`]: the deterministic id of a notification (UUID v5 of the source event,
//!   kind, channel and recipient), so a redelivered event yields the same id and inserts nothing.
//! - [`Content`] and [`plan`]: from what happened (an order update, an account link, a stock
//!   signal) and who should hear it, the [`Draft`]s to store, each already rendered.
//! - [`render`]: subject, plain text and HTML per kind; money as integer minor units formatted
//!   with its currency, never through floating point; every user-supplied text HTML-escaped.
//! - [`Preferences`]: per customer, which categories by which channel; SMS needs an opt-in and
//!   a phone number in E.164 form.
//! - [`RetryPolicy`]: exponential backoff with a cap, then `failed`.
//!
//! Invariants: the same inputs always give the same drafts, ids and bytes (no clock, no
//! randomness); security mail (verification, password reset) cannot be turned off and never
//! goes by SMS; nothing is sent by SMS without an opt-in and a phone number.

mod content;
mod error;
mod id;
mod kind;
mod plan;
mod preferences;
pub mod render;
mod retry;

pub use content::{
    order_update, stock_signal, AccountLink, Content, LineSummary, OrderNotice, OrderUpdate,
    StockSignal,
};
pub use error::NotificationError;
pub use id::{notification_id, Source};
pub use kind::{Category, Channel, Kind, Status};
pub use plan::{plan, Audience, Draft};
pub use preferences::{ChannelChoice, EmailAddress, Phone, Preferences};
pub use render::{Rendered, Shop};
pub use retry::{AfterFailure, RetryPolicy};

#[cfg(test)]
mod tests {
    /// A domain crate does no IO: only the kernel, the pure order and inventory contracts,
    /// serialization, errors, time and ids.
    #[test]
    fn the_crate_depends_on_no_io_crate() {
        let allowed = [
            "agora-kernel",
            "agora-order",
            "agora-inventory",
            "serde",
            "thiserror",
            "chrono",
            "uuid",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }
}
