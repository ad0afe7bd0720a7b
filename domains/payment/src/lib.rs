//! Payments: one payment per order, recording what the payment provider did with it.
//!
//! One aggregate, [`Payment`], one stream per order (stream type `payment`, id the order id).
//! The crate is pure: no IO and no clock. The payment service calls the provider with one
//! idempotency key per operation (`<id>/authorize`, `<id>/capture`, `<id>/void`,
//! `<id>/refund/<refund id>`) and records each outcome with a [`PaymentCommand`]; verified
//! provider webhooks arrive as [`PaymentCommand::ApplyProviderEvent`]. Time arrives inside
//! commands (`now`).
//!
//! The shopper's confirmation, our own answers and the provider's webhooks race each other and
//! are all retried, so every command is idempotent and the first fact wins. Invariants
//! (enforced by [`Payment::decide`]):
//! - a payment is captured at most once: a repeated or late capture, from us or from a
//!   webhook, records nothing, and a captured payment can no longer be voided;
//! - succeeded plus pending refunds never exceed the captured amount: a refund reserves its
//!   amount when requested, before the provider is called, and frees it only when it fails;
//! - a provider event id is acted upon at most once, however often it is redelivered, and a
//!   stale one (`authorized` after `captured`) is recorded for the audit trail without effect;
//! - `start` fixes the order, amount and payment method; reusing a stream or a refund id with
//!   different values is refused (`payment.mismatch`);
//! - only the platform and admins record payment facts (staff may also request refunds); only
//!   the back office (admin, staff, auditor) reads payments.

mod contract;
mod error;
mod payment;
mod service;

pub use contract::*;
pub use error::PaymentError;
pub use payment::{
    CqrsEnvelope, Dispute, DisputeStatus, DisputeView, Payment, PaymentView, Refund, RefundStatus,
    RefundView, MAX_AMOUNT_MINOR, MAX_CODE_CHARS, MAX_PAYMENT_METHOD_CHARS,
};
pub use service::{AuthorizePayment, PaymentRequest, ProviderEvent, RefundPayment};

#[cfg(test)]
mod tests {
    /// A domain crate does no IO: its dependencies are the kernel, serialization, errors,
    /// cqrs-es and value types, nothing that opens a socket or a file.
    #[test]
    fn the_crate_depends_on_no_io_crate() {
        let allowed = [
            "strum",
            "agora-kernel",
            "agora-promotion",
            "serde",
            "serde_json",
            "thiserror",
            "cqrs-es",
            "chrono",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }
}
