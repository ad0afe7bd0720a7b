use agora_kernel::Sku;
use serde::{Deserialize, Serialize};

use agora_promotion::PromotionCode;

use crate::{CartLine, CartOwner};

/// Facts about a cart. A published contract: variants and fields are never renamed; a change
/// of shape gets a new event version and an upcaster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartEvent {
    CartCreated {
        owner: CartOwner,
    },
    ItemAdded {
        sku: Sku,
        quantity: i64,
    },
    QuantityChanged {
        sku: Sku,
        quantity: i64,
    },
    ItemRemoved {
        sku: Sku,
    },
    CartCleared {},
    GuestCartAbsorbed {
        source_cart_id: String,
        lines: Vec<CartLine>,
        /// The guest cart's code, taken over because this cart had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<PromotionCode>,
    },
    CodeApplied {
        code: PromotionCode,
    },
    CodeRemoved {},
    CartMerged {
        target_cart_id: String,
    },
    CheckoutBegun {
        order_id: String,
        at: chrono::DateTime<chrono::Utc>,
    },
    CheckedOut {
        order_id: String,
    },
    CheckoutAborted {
        order_id: String,
    },
}

impl CartEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            CartEvent::CartCreated { .. } => "CartCreated",
            CartEvent::ItemAdded { .. } => "ItemAdded",
            CartEvent::QuantityChanged { .. } => "QuantityChanged",
            CartEvent::ItemRemoved { .. } => "ItemRemoved",
            CartEvent::CartCleared { .. } => "CartCleared",
            CartEvent::GuestCartAbsorbed { .. } => "GuestCartAbsorbed",
            CartEvent::CartMerged { .. } => "CartMerged",
            CartEvent::CodeApplied { .. } => "CodeApplied",
            CartEvent::CodeRemoved { .. } => "CodeRemoved",
            CartEvent::CheckoutBegun { .. } => "CheckoutBegun",
            CartEvent::CheckedOut { .. } => "CheckedOut",
            CartEvent::CheckoutAborted { .. } => "CheckoutAborted",
        }
    }
}
