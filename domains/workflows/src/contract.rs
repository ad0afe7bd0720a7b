//! Request bodies of the workflow endpoints (`agora.checkout.start`, `agora.payment.*`), shared
//! with the edge.

use agora_kernel::Money;
use agora_order::Address;
use agora_payment::ProviderEventKind;
use serde::{Deserialize, Serialize};

/// `agora.checkout.start`; the envelope's aggregate id is the order id (derived by the edge
/// from the cart and the shopper's `Idempotency-Key`), its principal the shopper.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartCheckout {
    pub cart_id: String,
    pub email: String,
    pub shipping_address: Address,
    /// The provider's payment-method token (`pm_card_visa`).
    pub payment_method: String,
    /// SHA-256 of the shopper's request body: the same key with another body is refused.
    pub request_hash: String,
    /// A promotion code the shopper entered; it must apply, or the checkout is refused with
    /// the reason (`promotion.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `agora.payment.authorize`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizePayment {
    pub amount: Money,
    pub payment_method: String,
}

/// `agora.payment.refund`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundPayment {
    pub refund_id: String,
    pub amount: Money,
}

/// `agora.payment.provider_event`: a webhook the edge verified.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEvent {
    pub event_id: String,
    #[serde(default)]
    pub provider_ref: Option<String>,
    pub kind: ProviderEventKind,
}

/// Endpoints that take no fields (`confirm`, `capture`, `void`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

/// The payment service's endpoints.
pub const PAYMENT_ENDPOINTS: &[&str] = &[
    "authorize",
    "confirm",
    "capture",
    "void",
    "refund",
    "provider_event",
];
