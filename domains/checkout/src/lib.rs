//! The checkout saga: the process manager that turns a priced cart into a paid order, or undoes
//! everything it did. It is an aggregate like any other (stream type `checkout`, stream id =
//! the order id), so its progress is a list of facts in Postgres and survives any crash.
//!
//! The saga itself does no IO. [`Checkout::next_action`] says what must happen next given what
//! has been recorded; a runner (agora-workflows) performs that action through the owning
//! services — every call idempotent (deterministic command ids, reservation ids and provider
//! idempotency keys) — and records the outcome with [`CheckoutCommand::Record`]. After a crash
//! the runner reloads the stream and performs the same next action again, which is safe
//! because every action is idempotent.
//!
//! The happy path: `place_order → reserve_stock → authorize → (await the shopper's
//! confirmation) → confirm_order` (hold the reservations as long as the authorization lives,
//! so they cannot expire before the capture) `→ capture → finish` (commit the reservations,
//! record the capture on the order, close the cart). Any failure before the capture turns into
//! one `compensate` action: release every reservation, void the authorization, cancel the
//! order with the reason, reopen the cart; when the provider turns out to have captured
//! anyway (a cancel that raced the capture), the compensation refunds instead of voiding. An
//! order cancelled after it was paid is `revert`ed: exactly the units taken go back (a held
//! reservation is released, a committed one returned) and the capture is refunded.
//!
//! Invariants (enforced by `decide`): an outcome is recorded only in the phase that expects
//! it (a stale or repeated outcome records nothing); once the payment capture is recorded the
//! saga never compensates (it can only complete, or later revert by refund); compensation
//! happens at most once; `compensated` and `reverted` are recorded only once the money is back
//! (never captured, voided, or refunded in full), and a refund the provider refused
//! [`MAX_REFUND_ATTEMPTS`] times ends in `refund_failed`, for staff.

mod checkout;
mod service;

pub use checkout::*;
pub use service::{
    CartPricing, CheckoutRequest, CodeRejection, PricedCartLine, QuoteCart, ShippingQuote,
    StartCheckout, VendorShippingQuote,
};
