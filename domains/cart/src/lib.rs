//! The shopping cart: a guest's or a customer's basket of SKUs and quantities.
//!
//! The cart is its own event stream, so it survives sessions and devices: any edge instance can
//! rebuild it from the store. Prices are deliberately absent: they come from the catalog at
//! checkout and are never taken from the client.
//!
//! Invariants (enforced by [`Cart::decide`]):
//! - every line's quantity is within `1..=MAX_QUANTITY`; a cart holds at most `MAX_LINES` lines;
//! - only the owner (the guest holding the cart's token, or the customer) or back-office staff
//!   may read or change a cart;
//! - a cart merged into another is closed: it accepts no further changes.

mod cart;
mod command;
mod error;
mod event;

pub use cart::{
    Cart, CartLine, CartOwner, CartStatus, CartView, CqrsEnvelope, CHECKOUT_LOCK_SECS, MAX_LINES,
    MAX_QUANTITY,
};
pub use command::CartCommand;
pub use error::CartError;
pub use event::CartEvent;

/// Hashes a guest cart token; only the hash is stored or compared.
pub fn token_sha256(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}
