//! The processes that span aggregates, and the IO around them:
//!
//! - [`PaymentService`] (`agora.payment.*`): the payment aggregate plus the provider. Each
//!   endpoint records what it is about to do, calls the [`agora_gateway::PaymentGateway`] with
//!   an idempotency key derived from the payment and the operation, and records the answer.
//! - [`CheckoutService`] (`agora.checkout.start`): turns a shopper's cart into a checkout: reads
//!   the cart on the shopper's authority, prices it from the catalog (never from the client),
//!   validates the order it would place, locks the cart, records the saga's start and places the
//!   order.
//! - [`ProductService`] (`agora.product.*`): the product aggregate plus SKU ownership: a SKU
//!   is claimed in `sku_claims` for one product for life before a command brings it in, so two
//!   products never carry one SKU (`409 catalog.sku_taken`).
//! - [`PromotionService`] (`agora.promotion.*`): the promotion aggregate plus code ownership:
//!   a code is claimed in `promotion_codes` for one promotion for life before `create` runs
//!   (`409 promotion.code_taken`).
//! - [`runner`]: drives every checkout saga from the event feed (checkout, payment and order
//!   events), performing [`agora_checkout::Checkout::next_action`] until the saga waits or ends,
//!   and a sweep that abandons unpaid checkouts and nudges stalled ones.
//! - [`fulfilment`]: keeps orders, shipments and returns in step from the event feed (units
//!   allocated to parcels, parcels' statuses onto the order, returns opened or released) and
//!   finishes received returns (stock moved, money refunded), with a sweep for stalled ones.
//! - [`IdentityService`] (`agora.identity.*`): registration, sign-in, refresh-token rotation,
//!   email verification, password reset and change, and provider sign-in, over the `account`
//!   and `session` aggregates, with the email, credential, session and mail-outbox tables.
//!
//! Invariants: every effect on another aggregate or on the provider is idempotent: command
//! ids are derived from the order id and the step ([`step_id`]), reservation ids from the order
//! and the SKU, provider idempotency keys from the payment and the operation. A step performed
//! twice (a redelivered message, two instances, a crash between an effect and its record)
//! therefore has the effect once.

mod checkout_service;
mod claims;
pub mod fulfilment;
mod identity_contract;
mod identity_service;
pub mod marketplace;
mod payment_service;
mod product_service;
mod promotion_book;
mod promotion_service;
pub mod runner;
mod shipping_book;
mod stock_service;

pub use checkout_service::{CheckoutService, Pricing};
pub use identity_contract::*;
pub use identity_service::{IdentityService, IdentitySettings};
pub use payment_service::PaymentService;
pub use product_service::ProductService;
pub use promotion_book::PromotionBook;
pub use promotion_service::PromotionService;
pub use shipping_book::ShippingBook;
pub use stock_service::{sku_vendor, StockService};

use agora_kernel::CommandId;

/// The command id of step `step` of the process for `order_id`: the same on every retry, in
/// every process.
pub fn step_id(order_id: &str, step: &str) -> CommandId {
    CommandId::from_uuid(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("agora:checkout:{order_id}:{step}").as_bytes(),
    ))
}
