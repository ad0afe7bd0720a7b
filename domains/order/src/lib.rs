//! Orders: what a shopper bought, for how much, and how far it got (paid, shipped, refunded).
//!
//! One aggregate, [`Order`], one stream per order (stream type `order`, id a UUID). The
//! checkout saga places it from a priced cart ([`totals`] tells it what to charge first), then
//! walks it along the happy path `Placed → StockReserved → PaymentAuthorized → Confirmed`,
//! records the capture, and the back office ships it. Time always arrives inside commands
//! (`now`); `decide` never reads a clock.
//!
//! A marketplace order has one checkout and one payment but many sellers: each line may name
//! the vendor who sells it ([`OrderLine::vendor_id`]), and the lines of one seller (a vendor,
//! or the shop for lines without one) form a sub-order ([`SubOrderView`]) that the seller
//! fulfils on its own, with its own status, while the order's status follows all its units.
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
//! - a vendor's user (`Principal::Vendor`) reaches an order only when its vendor sells at
//!   least one of the order's lines (otherwise `order.not_found`); it may read it and pack or
//!   unpack parcels of its own lines only (`AllocateParcel` of its SKUs, `ReleaseParcel` of a
//!   parcel all of whose units are its own); anything else is `order.forbidden` and records
//!   nothing;
//! - a vendor's user sees only its share, on a read and in a command's reply alike
//!   (`Decider::view_for`, `Decider::command_view_for`): its lines, its sub-order, its parcels
//!   and returns, its share of the money, and of the shopper only the shipping address; every
//!   other principal sees the full view;
//! - a sub-order's status is the order's until the order is confirmed (and when it is
//!   cancelled or refunded as a whole), then follows its own units by the same rule as the
//!   order's; the order's status never depends on how its lines are grouped;
//! - retries are harmless: replaying a command whose effect is already recorded (same place,
//!   an earlier step, the same shipment, a known refund id) records nothing;
//! - nothing ships before the whole total was captured; `0 <= refunded <= captured <= total`;
//! - a refund of units of one line ([`RefundLine`]) gives back at most what the shopper paid for
//!   them: the line after its discount, with its tax as the order was taxed, shared over its
//!   units (`agora_promotion::prorate`); each unit is refunded once;
//! - a line's vendor id, when present, is 1 to `MAX_ID_CHARS` characters without control
//!   characters or surrounding spaces (`order.invalid_vendor`); lines recorded before vendors
//!   existed have none and belong to the shop;
//! - the view never contains the guest token hash.

mod contract;
mod error;
mod order;

pub use contract::*;
pub use error::OrderError;
pub use order::{
    order_totals, totals, totals_discounted, Cancellation, CqrsEnvelope, Order, OrderDispute,
    OrderLineView, OrderReturn, OrderView, ParcelView, Shipment, SubOrderView, TimelineEntry,
    Totals, MAX_ADDRESS_FIELD_CHARS, MAX_CARRIER_CHARS, MAX_EMAIL_CHARS, MAX_ID_CHARS, MAX_LINES,
    MAX_NOTE_CHARS, MAX_PHONE_CHARS, MAX_QUANTITY, MAX_RETURN_WINDOW_DAYS, MAX_SHIPPING,
    MAX_TAX_RATE_BP, MAX_TITLE_CHARS, MAX_TRACKING_CHARS, MAX_TRACKING_URL_CHARS, MAX_UNIT_PRICE,
    MIN_EMAIL_CHARS,
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
