//! The payment-provider ports and their adapters.
//!
//! The payment service (agora-workflows) talks to a card processor only through
//! [`PaymentGateway`]. Two adapters implement it:
//!
//! - [`TestGateway`]: a built-in provider that behaves like Stripe's test mode, kept in Postgres
//!   so that it survives our process being killed: it plays an external system, with its own
//!   tables and its own log of the effects it really performed (for tests to count them).
//! - [`StripeGateway`]: Stripe's PaymentIntents API over HTTPS.
//!
//! Marketplace vendors are paid through the second port, [`PayoutGateway`] (module
//! [`payout`]): one idempotent transfer to the vendor's connected account per payout, with
//! [`TestPayouts`] (Postgres, like the test gateway) and [`StripeConnectPayouts`] (Stripe
//! Connect transfers) as adapters. Both ports keep the invariants below.
//!
//! Payments are reconciled through the third port, [`ProviderStatement`] (module
//! [`reconcile`](mod@reconcile)): the provider's record of the captures and refunds it made,
//! with their fees ([`ProviderRecord`]), read from the test gateway's own log or from Stripe's
//! balance transactions. The pure [`reconcile()`] matches it against our payments
//! ([`OurPayment`], built from the payment aggregate or its view) and lists every
//! [`Mismatch`]; a [`FeeRule`] (`"2.9%+30"`) checks the fees.
//!
//! [`webhook`] verifies and parses the provider's webhooks into the payment's
//! [`ProviderEventKind`].
//!
//! This crate does IO (HTTP, Postgres); the payment aggregate itself stays pure.
//!
//! # Invariants
//! - **Every call carries an idempotency key.** The same key with the same parameters returns
//!   the first outcome without repeating the effect; the same key with other parameters is
//!   `Rejected { code: "idempotency_key_reused" }`. Callers derive keys from the payment
//!   (`<payment id>/capture`) or the payout (`<payout id>/transfer`), never from the attempt,
//!   so a retry can never charge or pay twice.
//! - **[`GatewayError::Timeout`] means the outcome is unknown**: the provider may have
//!   performed the operation. The only correct reaction is to retry with the *same* key (or to
//!   wait for the webhook). [`GatewayError::Unavailable`] means nothing happened.
//! - The Postgres-backed test providers store a key's row and response in the transaction that
//!   performs the effect, so a concurrent call with the key waits and replays, and a process
//!   killed midway leaves neither.
//! - **No card numbers, ever.** Payment methods are provider tokens (`pm_card_visa`); a raw
//!   card number is refused before anything is stored or sent.
//! - Secrets (the Stripe secret key, webhook secrets) never appear in `Debug` output or logs.

use agora_kernel::Money;
pub use agora_payment::{AuthorizationOutcome, ProviderEventKind};

mod idempotency;
pub mod payout;
pub mod reconcile;
pub mod stripe;
pub mod test;
pub mod webhook;

pub use payout::{
    PayoutGateway, PerformedTransfer, StripeConnectPayouts, TestPayouts, Transfer, TransferRequest,
};
pub use reconcile::{
    reconcile, FeeRule, FeeRuleError, Mismatch, MismatchKind, OurPayment, OurRefund,
    ProviderRecord, ProviderStatement, RecordKind,
};
pub use stripe::{StripeConfig, StripeGateway};
pub use test::TestGateway;
pub use webhook::{
    parse_stripe_event, sign_stripe_payload, verify_stripe_signature, StripeEvent, WebhookError,
};

/// A card processor, seen from the platform. Every operation is idempotent per key.
#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// The provider's stable name: `"test"` or `"stripe"`.
    fn name(&self) -> &'static str;

    /// Places a hold of `req.amount` on the payment method (manual capture).
    async fn authorize(&self, req: &AuthorizeRequest)
        -> Result<AuthorizationOutcome, GatewayError>;

    /// Re-reads an authorization that required action (after the shopper's client confirmed,
    /// e.g. 3-D Secure).
    async fn confirm(
        &self,
        idempotency_key: &str,
        provider_ref: &str,
    ) -> Result<AuthorizationOutcome, GatewayError>;

    /// Captures `amount` (at most the authorized amount) of an authorization.
    async fn capture(
        &self,
        idempotency_key: &str,
        provider_ref: &str,
        amount: Money,
    ) -> Result<(), GatewayError>;

    /// Releases an authorization that was not captured. Voiding a voided one succeeds.
    async fn void(&self, idempotency_key: &str, provider_ref: &str) -> Result<(), GatewayError>;

    /// Refunds `amount` of a captured payment; returns the provider's refund id. `refund_id`
    /// and `order_id` are ours, echoed back by the provider's webhooks.
    async fn refund(
        &self,
        idempotency_key: &str,
        provider_ref: &str,
        amount: Money,
        refund_id: &str,
        order_id: &str,
    ) -> Result<String, GatewayError>;
}

/// What an authorization needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// Derived from the payment (`<payment id>/authorize`), identical on every retry.
    pub idempotency_key: String,
    /// Stored with the provider (Stripe metadata `agora_order_id`) so webhooks lead back to us.
    pub order_id: String,
    pub amount: Money,
    /// The provider's payment-method token (`pm_card_visa`), never a card number.
    pub payment_method: String,
}

/// Why a provider call did not produce an answer we can act on.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum GatewayError {
    /// No answer in time: the operation may or may not have happened. Retry with the SAME
    /// idempotency key. Also used when the connection broke after the request was sent.
    #[error("the payment provider did not answer in time; the outcome is unknown")]
    Timeout,
    /// The provider could not be reached or failed (5xx); nothing happened. Retry.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused for good (invalid state, already captured, amount too large...).
    #[error("the payment provider rejected the request ({code}): {message}")]
    Rejected { code: String, message: String },
}

impl GatewayError {
    /// A stable code for logs and failure records: `gateway.timeout`, `gateway.unavailable`,
    /// or the provider's own code for a rejection (`amount_too_large`).
    pub fn code(&self) -> &str {
        match self {
            GatewayError::Timeout => "gateway.timeout",
            GatewayError::Unavailable(_) => "gateway.unavailable",
            GatewayError::Rejected { code, .. } => code,
        }
    }

    /// Whether retrying the same call (same key) can lead to a different answer.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, GatewayError::Rejected { .. })
    }

    pub(crate) fn rejected(code: &str, message: impl Into<String>) -> GatewayError {
        GatewayError::Rejected {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// Whether `s` looks like a primary account number: 12 to 19 digits, perhaps grouped by spaces
/// or dashes. Such a value must never be stored, logged or forwarded.
pub(crate) fn looks_like_card_number(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    s.chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
        && (12..=19).contains(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_recognised_with_or_without_grouping() {
        assert!(looks_like_card_number("4242424242424242"));
        assert!(looks_like_card_number("4242 4242 4242 4242"));
        assert!(looks_like_card_number("4242-4242-4242-4242"));
        assert!(!looks_like_card_number("pm_card_visa"));
        assert!(!looks_like_card_number("1234"));
    }

    #[test]
    fn only_rejections_are_final() {
        assert!(GatewayError::Timeout.is_retryable());
        assert!(GatewayError::Unavailable("down".into()).is_retryable());
        let rejected = GatewayError::rejected("amount_too_large", "too much");
        assert!(!rejected.is_retryable());
        assert_eq!(rejected.code(), "amount_too_large");
    }
}
