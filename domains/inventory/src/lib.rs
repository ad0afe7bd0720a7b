//! Inventory: how many units of each SKU are on hand, and how many are held for orders.
//!
//! One aggregate, [`StockItem`], one stream per SKU (stream type `stock`, id the SKU). Stock
//! moves by receipts and manual adjustments (back office) and by reservations, which the
//! checkout saga takes, commits on payment or releases on failure, and which expire when their
//! time is up. Time always arrives inside commands (`now`); `decide` never reads a clock.
//!
//! Invariants (enforced by [`StockItem::decide`]):
//! - `0 <= reserved <= on_hand <= MAX_ON_HAND`, hence `available = on_hand - reserved >= 0`;
//! - the state's derived fields (the running sum of reserved units, the index by expiry) always
//!   describe its open reservations exactly: `evolve` keeps them and deserializing rebuilds them,
//!   so `decide` never walks every open reservation;
//! - every quantity in a command is within `1..=MAX_QUANTITY`;
//! - retries are harmless: re-reserving the same id for the same quantity, releasing an unknown
//!   id and re-committing a recently committed id record nothing;
//! - after any change, one signal event (`LowStock`, `OutOfStock`, `BackInStock`) is recorded
//!   when, and only when, availability crosses the threshold or zero: once per crossing;
//! - only the back office moves stock; only the platform (or an admin) reserves it; only the
//!   back office reads it.

mod command;
mod error;
mod event;
mod stock;

pub use command::{AdjustReason, StockCommand};
pub use error::InventoryError;
pub use event::StockEvent;
pub use stock::{
    CommittedReservation, CqrsEnvelope, Reservation, ReservationView, StockItem, StockView,
    DEFAULT_LOW_STOCK_THRESHOLD, MAX_NOTE_CHARS, MAX_ON_HAND, MAX_ORDER_REF_CHARS, MAX_QUANTITY,
    MAX_RESERVATION_ID_CHARS, MAX_THRESHOLD, REMEMBERED_COMMITS,
};

agora_kernel::contract!(StockItem {
    service: "stock",
    description: "Stock per SKU; one actor serializes each SKU",
    command: StockCommand,
    view: StockView,
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
            "serde",
            "serde_json",
            "thiserror",
            "cqrs-es",
            "uuid",
            "chrono",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }
}
