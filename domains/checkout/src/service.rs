//! The checkout service's contract (`agora.checkout.<request>`): what the edge asks of it. The
//! saga's own [`crate::CheckoutCommand`]s are recorded by the service and its runner and never
//! travel on the bus.

use agora_order::Address;
use serde::{Deserialize, Serialize};

use crate::{Checkout, CheckoutView};

/// A request to the checkout service; the envelope's aggregate id is the order id.
#[derive(Clone, Debug, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckoutRequest {
    /// Turns the shopper's cart into an order and starts the saga that pays for it.
    Start(StartCheckout),
}

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

agora_kernel::contract!(Checkout {
    service: "checkout",
    description: "Checkout: starts and runs the checkout saga",
    command: CheckoutRequest,
    view: CheckoutView,
});
