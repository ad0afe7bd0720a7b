//! The checkout service's contract (`agora.checkout.<request>`): what the edge asks of it. The
//! saga's own [`crate::CheckoutCommand`]s are recorded by the service and its runner and never
//! travel on the bus.

use std::collections::BTreeMap;

use agora_kernel::{Currency, Money};
use agora_order::{Address, OrderPromotion, OrderTax};
pub use agora_shipping::ShippingQuote;
use serde::{Deserialize, Serialize};

use crate::{Checkout, CheckoutView};

/// A request to the checkout service; the envelope's aggregate id is the order id.
// `Start` dwarfs `Quote`, but a request is decoded, handled and dropped, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckoutRequest {
    /// Turns the shopper's cart into an order and starts the saga that pays for it.
    Start(StartCheckout),
    /// Prices the shopper's cart as a checkout would, without placing anything (reply:
    /// [`CartPricing`]); the envelope's aggregate id is the cart id.
    Quote(QuoteCart),
}

/// `agora.checkout.quote`: what the cart would cost now. Its principal must be allowed to read
/// the cart (the cart service decides).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteCart {
    pub cart_id: String,
    /// A code to price instead of the one kept on the cart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The destination's country (ISO 3166-1 alpha-2) and region, which decide the tax rule;
    /// without a country the shop's fallback rule gives an estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The destination's postcode, which may narrow the shipping zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// The shipping option to price (default: the cheapest offered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_option: Option<String>,
    /// The option to price for each vendor that ships at its own rates, by vendor id
    /// (default: its cheapest).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vendor_shipping_options: BTreeMap<String, String>,
}

/// A cart priced as its checkout would price it now: catalog prices, the active automatic
/// promotions and the code, the shop's shipping and tax rules. Nothing is held: a promotion
/// used up before the checkout refuses it then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartPricing {
    pub cart_id: String,
    /// The cart version priced.
    pub cart_version: u64,
    /// The cart's status at that version: only an `open` cart takes changes and checks out.
    #[serde(default)]
    pub cart_status: agora_cart::CartStatus,
    pub currency: Currency,
    pub lines: Vec<PricedCartLine>,
    /// The lines before discounts.
    pub subtotal: Money,
    /// Everything the promotions take off the lines (the sum of the lines' discounts).
    pub discount: Money,
    /// The shipping fee before promotions: the chosen option's price at the shop's rates (the
    /// shop's one rate when it has no shipping zones) plus each vendor's own in
    /// `vendor_shipping`; zero for what is still pending.
    pub shipping: Money,
    /// Some lines ship by zone and no destination was given: their shipping is priced at
    /// checkout.
    pub shipping_pending: bool,
    /// The options at the shop's rates that ship the lines not in `vendor_shipping` to the
    /// destination, cheapest first (empty without shipping zones or a destination, and when
    /// every line ships at a vendor's own rates).
    pub shipping_options: Vec<ShippingQuote>,
    /// The option priced at the shop's rates: the one asked for, else the cheapest.
    pub shipping_option: Option<ShippingQuote>,
    /// The lines of each vendor that ships at its own rates, priced with them (a marketplace
    /// vendor's own shipping settings), in order of the vendors' first lines.
    #[serde(default)]
    pub vendor_shipping: Vec<VendorShippingQuote>,
    pub shipping_discount: Money,
    pub tax: Money,
    /// What the shopper would pay.
    pub total: Money,
    /// The tax rule used and how it rounds.
    pub tax_rule: OrderTax,
    /// `true` when no destination was given and the shop's fallback rule was used.
    pub tax_estimated: bool,
    /// The promotions that apply, in stacking order.
    pub promotions: Vec<OrderPromotion>,
    /// The code priced (the request's, else the cart's).
    pub code: Option<String>,
    /// Why that code does not apply; a checkout with it would be refused with this error.
    pub code_rejection: Option<CodeRejection>,
    /// The next moment a promotion on offer starts or ends, when the same cart could price
    /// differently although nothing changed; `None` when no promotion has such a moment ahead.
    #[serde(default)]
    pub valid_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// How one vendor's lines ship at its own rates: the options that ship them to the
/// destination (cheapest first), the one priced (asked for, else the cheapest) and its price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorShippingQuote {
    pub vendor_id: String,
    /// The cart's SKUs this vendor ships.
    pub skus: Vec<String>,
    pub options: Vec<ShippingQuote>,
    pub option: Option<ShippingQuote>,
    /// The option's price; zero while `pending`.
    pub fee: Money,
    /// No destination was given: priced at checkout.
    pub pending: bool,
}

/// One line of a [`CartPricing`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedCartLine {
    pub sku: String,
    pub product_id: String,
    /// `product_title — variant_title` (the product's title alone for an untitled variant),
    /// as the order line will read.
    pub title: String,
    #[serde(default)]
    pub product_title: String,
    #[serde(default)]
    pub variant_title: String,
    pub quantity: i64,
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub subtotal: Money,
    /// What the promotions take off this line.
    pub discount: Money,
    /// `subtotal − discount`, before tax.
    pub total: Money,
}

/// Why an entered code does not apply: the stable error code a checkout would answer, and its
/// message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRejection {
    pub error: String,
    pub message: String,
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
    /// The shipping option chosen (an id from the cart's pricing); default: the cheapest that
    /// ships to the address. Without shipping zones the shop's one rate applies and no option
    /// may be named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_option: Option<String>,
    /// The option chosen for each vendor that ships at its own rates (its `vendor_shipping`
    /// in the cart's pricing), by vendor id; default: its cheapest. Naming a vendor that does
    /// not ship any of the cart's lines at its own rates is `shipping.option_unavailable`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vendor_shipping_options: BTreeMap<String, String>,
}

agora_kernel::contract!(Checkout {
    service: "checkout",
    description: "Checkout: starts and runs the checkout saga",
    command: CheckoutRequest,
    view: CheckoutView,
});
