use agora_kernel::Sku;
use serde::{Deserialize, Serialize};

use agora_promotion::PromotionCode;

use crate::CartLine;

/// Commands on one cart. The owner is never sent by the client: it is the acting principal.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CartCommand {
    /// Opens a cart owned by the acting guest or customer.
    Create {},
    /// Adds `quantity` units of `sku`, to an existing line if there is one.
    AddItem {
        sku: Sku,
        quantity: i64,
    },
    /// Sets the quantity of an existing line.
    ChangeQuantity {
        sku: Sku,
        quantity: i64,
    },
    RemoveItem {
        sku: Sku,
    },
    Clear {},
    /// Adds the lines of a guest cart (read by the service on the guest's authority).
    AbsorbGuestCart {
        source_cart_id: String,
        lines: Vec<CartLine>,
        /// The guest cart's promotion code: kept when this cart has none.
        #[serde(default)]
        code: Option<PromotionCode>,
    },
    /// Keeps a promotion code on the cart (replacing any other): pricing shows what it takes
    /// off or why it does not apply, and the checkout redeems it.
    ApplyCode {
        code: PromotionCode,
    },
    RemoveCode {},
    /// Closes a guest cart whose lines were absorbed by `target_cart_id`.
    MarkMerged {
        target_cart_id: String,
    },
    /// Locks the cart for checkout `order_id`: its lines are frozen until the checkout
    /// completes or aborts. A lock older than [`crate::CHECKOUT_LOCK_SECS`] may be taken over by
    /// another checkout (the first one was abandoned mid-way).
    BeginCheckout {
        order_id: String,
        now: chrono::DateTime<chrono::Utc>,
    },
    /// The order was placed and paid: the cart is closed for good (platform only).
    CompleteCheckout {
        order_id: String,
    },
    /// The checkout failed: the cart opens again, lines intact (platform only).
    AbortCheckout {
        order_id: String,
    },
}
