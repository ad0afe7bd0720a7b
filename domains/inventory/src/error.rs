use agora_kernel::{DomainError, ErrorKind};

use crate::{
    MAX_NOTE_CHARS, MAX_ON_HAND, MAX_ORDER_REF_CHARS, MAX_QUANTITY, MAX_RESERVATION_ID_CHARS,
    MAX_THRESHOLD,
};

/// Why a stock command (or read) was refused. Codes are stable API: never rename one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// Shoppers never touch stock; only the back office moves it, and only the platform (or
    /// an admin) reserves it.
    #[error("you may not do this to stock")]
    Forbidden,
    #[error("a stock item's id is its SKU: 1 to 64 characters of letters, digits, '_' or '-'")]
    InvalidSku,
    #[error("a quantity must be between 1 and {MAX_QUANTITY}")]
    QuantityOutOfRange,
    #[error("an adjustment is a non-zero change of at most {MAX_QUANTITY} units either way")]
    InvalidDelta,
    #[error("damaged and lost stock is a decrease, found stock an increase")]
    DeltaContradictsReason,
    #[error("a low-stock threshold is between 0 and {MAX_THRESHOLD}")]
    InvalidThreshold,
    #[error("a reason is at most {MAX_NOTE_CHARS} characters")]
    ReasonTooLong,
    #[error("a note is at most {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
    #[error("a reservation id is 1 to {MAX_RESERVATION_ID_CHARS} characters and not only spaces")]
    InvalidReservationId,
    #[error("an order reference is at most {MAX_ORDER_REF_CHARS} characters")]
    InvalidOrderRef,
    #[error("a reservation must expire after the time of the request")]
    InvalidExpiry,
    #[error("not enough stock is available")]
    InsufficientStock,
    #[error("stock on hand cannot go below the quantity reserved for orders")]
    BelowReserved,
    #[error("stock on hand cannot exceed {MAX_ON_HAND} units")]
    OnHandLimit,
    #[error("this reservation id is already used for a different quantity")]
    ReservationConflict,
    #[error("no such reservation")]
    UnknownReservation,
}

impl DomainError for InventoryError {
    fn code(&self) -> &'static str {
        match self {
            InventoryError::Forbidden => "inventory.forbidden",
            InventoryError::InvalidSku => "inventory.invalid_sku",
            InventoryError::QuantityOutOfRange => "inventory.quantity_out_of_range",
            InventoryError::InvalidDelta => "inventory.invalid_delta",
            InventoryError::DeltaContradictsReason => "inventory.delta_contradicts_reason",
            InventoryError::InvalidThreshold => "inventory.invalid_threshold",
            InventoryError::ReasonTooLong => "inventory.reason_too_long",
            InventoryError::NoteTooLong => "inventory.note_too_long",
            InventoryError::InvalidReservationId => "inventory.invalid_reservation_id",
            InventoryError::InvalidOrderRef => "inventory.invalid_order_ref",
            InventoryError::InvalidExpiry => "inventory.invalid_expiry",
            InventoryError::InsufficientStock => "inventory.insufficient_stock",
            InventoryError::BelowReserved => "inventory.below_reserved",
            InventoryError::OnHandLimit => "inventory.on_hand_limit",
            InventoryError::ReservationConflict => "inventory.reservation_conflict",
            InventoryError::UnknownReservation => "inventory.unknown_reservation",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            InventoryError::Forbidden => ErrorKind::Forbidden,
            InventoryError::UnknownReservation => ErrorKind::NotFound,
            InventoryError::InsufficientStock
            | InventoryError::BelowReserved
            | InventoryError::OnHandLimit
            | InventoryError::ReservationConflict => ErrorKind::Conflict,
            InventoryError::InvalidSku
            | InventoryError::QuantityOutOfRange
            | InventoryError::InvalidDelta
            | InventoryError::DeltaContradictsReason
            | InventoryError::InvalidThreshold
            | InventoryError::ReasonTooLong
            | InventoryError::NoteTooLong
            | InventoryError::InvalidReservationId
            | InventoryError::InvalidOrderRef
            | InventoryError::InvalidExpiry => ErrorKind::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_namespaced_and_unique() {
        let all = [
            InventoryError::Forbidden,
            InventoryError::InvalidSku,
            InventoryError::QuantityOutOfRange,
            InventoryError::InvalidDelta,
            InventoryError::DeltaContradictsReason,
            InventoryError::InvalidThreshold,
            InventoryError::ReasonTooLong,
            InventoryError::NoteTooLong,
            InventoryError::InvalidReservationId,
            InventoryError::InvalidOrderRef,
            InventoryError::InvalidExpiry,
            InventoryError::InsufficientStock,
            InventoryError::BelowReserved,
            InventoryError::OnHandLimit,
            InventoryError::ReservationConflict,
            InventoryError::UnknownReservation,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| c.starts_with("inventory.")));
    }
}
