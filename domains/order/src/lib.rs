//! Orders: what a shopper bought, for how much, and how far it got (paid, shipped, refunded).
//!
//! One aggregate, [`Order`], one stream per order (stream type `order`, id a UUID). The
//! checkout saga places it from a priced cart ([`totals`] tells it what to charge first), then
//! walks it along the happy path `Placed → StockReserved → PaymentAuthorized → Confirmed`,
//! records the capture, and the back office ships it. Time always arrives inside commands
//! (`now`); `decide` never reads a clock.
//!
//! Invariants (enforced by [`Order::decide`]):
//! - an order has `1..=MAX_LINES` lines with distinct SKUs, quantities in `1..=MAX_QUANTITY`,
//!   positive unit prices, and every amount in one currency; its totals are computed here,
//!   never taken from the caller: `tax` follows the recorded tax rule ([`OrderTax`]: rate,
//!   prices with or without tax, rounding half up per line or per order), or, without one,
//!   is rounded half up once from `subtotal + shipping`;
//! - only the platform (or an admin) places orders and records payment steps; the back office
//!   ships and cancels; the owner may only read and cancel at their own request; auditors only
//!   read; to anyone else an order does not exist (`order.not_found`, never `forbidden`);
//! - retries are harmless: replaying a command whose effect is already recorded (same place,
//!   an earlier step, the same shipment, a known refund id) records nothing;
//! - nothing ships before the whole total was captured; `0 <= refunded <= captured <= total`;
//! - a refund of units of one line ([`RefundLine`]) gives back at most what the shopper paid for
//!   them: the line after its discount, with its tax as the order was taxed, shared over its
//!   units (`agora_promotion::prorate`); each unit is refunded once;
//! - the view never contains the guest token hash.

mod contract;
mod error;
mod order;

pub use contract::*;
pub use error::OrderError;
pub use order::{
    order_totals, totals, totals_discounted, Cancellation, CqrsEnvelope, Order, OrderLineView,
    OrderReturn, OrderView, ParcelView, Shipment, TimelineEntry, Totals, MAX_ADDRESS_FIELD_CHARS,
    MAX_CARRIER_CHARS, MAX_EMAIL_CHARS, MAX_ID_CHARS, MAX_LINES, MAX_NOTE_CHARS, MAX_PHONE_CHARS,
    MAX_QUANTITY, MAX_RETURN_WINDOW_DAYS, MAX_SHIPPING, MAX_TAX_RATE_BP, MAX_TITLE_CHARS,
    MAX_TRACKING_CHARS, MAX_TRACKING_URL_CHARS, MAX_UNIT_PRICE, MIN_EMAIL_CHARS,
};

agora_kernel::contract!(Order {
    service: "order",
    description: "Orders: one actor per live order",
    command: OrderCommand,
    view: OrderView,
});

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
