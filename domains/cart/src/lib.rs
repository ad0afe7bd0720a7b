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

agora_kernel::contract!(Cart {
    service: "cart",
    description: "Shopping carts: one actor per live cart",
    command: CartCommand,
    view: CartView,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_crate_does_no_io() {
        let allowed = [
            "agora-kernel",
            "agora-promotion",
            "serde",
            "strum",
            "serde_json",
            "thiserror",
            "cqrs-es",
            "uuid",
            "chrono",
            "sha2",
            "hex",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }

    #[test]
    fn command_names_are_their_serde_tags() {
        let sku = agora_kernel::Sku::parse("TEE-1").expect("sku");
        agora_kernel::check_names(&[
            CartCommand::Create {},
            CartCommand::AddItem {
                sku: sku.clone(),
                quantity: 1,
            },
            CartCommand::ChangeQuantity {
                sku: sku.clone(),
                quantity: 2,
            },
            CartCommand::RemoveItem { sku: sku.clone() },
            CartCommand::Clear {},
            CartCommand::AbsorbGuestCart {
                source_cart_id: "c1".into(),
                lines: vec![CartLine { sku, quantity: 1 }],
                code: None,
            },
            CartCommand::ApplyCode {
                code: agora_promotion::PromotionCode::parse("SUMMER10").expect("code"),
            },
            CartCommand::RemoveCode {},
            CartCommand::MarkMerged {
                target_cart_id: "c2".into(),
            },
            CartCommand::BeginCheckout {
                order_id: "o1".into(),
                now: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            },
            CartCommand::CompleteCheckout {
                order_id: "o1".into(),
            },
            CartCommand::AbortCheckout {
                order_id: "o1".into(),
            },
        ]);
    }
}
