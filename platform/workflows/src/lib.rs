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

use std::future::Future;
use std::time::Duration;

use agora_kernel::{CommandId, CorrelationId, RecordedEvent};
use agora_nats::RequestContext;

tokio::task_local! {
    /// The correlation id and the cause of the feed event being handled, if any.
    static CAUSE: (CorrelationId, String);
}

/// Runs `work` on behalf of the feed event `event`: every request [`context`] builds inside it
/// carries the event's correlation id, with the event (`<type>/<id>/<sequence>`) as its cause,
/// so the events a saga step records trace back to the request that started the saga.
pub(crate) async fn on_behalf_of<F: Future>(event: &RecordedEvent, work: F) -> F::Output {
    let correlation = event
        .metadata
        .get("correlation_id")
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse().ok());
    match correlation {
        Some(correlation) => CAUSE.scope((correlation, event.msg_id()), work).await,
        None => work.await,
    }
}

/// A request context with `budget` to finish: inside [`on_behalf_of`] it continues the feed
/// event's correlation, elsewhere (a sweep, a timer) it starts a new one.
pub(crate) fn context(budget: Duration) -> RequestContext {
    let mut ctx = RequestContext::new(budget);
    let _ = CAUSE.try_with(|(correlation, cause)| {
        ctx.correlation_id = *correlation;
        ctx.causation_id = cause.clone();
    });
    ctx
}

/// The command id of step `step` of the process for `order_id`: the same on every retry, in
/// every process.
pub fn step_id(order_id: &str, step: &str) -> CommandId {
    CommandId::from_uuid(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("agora:checkout:{order_id}:{step}").as_bytes(),
    ))
}
