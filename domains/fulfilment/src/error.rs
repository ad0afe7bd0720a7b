use agora_kernel::{DomainError, ErrorKind};

use crate::shipment::{
    MAX_ADDRESS_FIELD_CHARS, MAX_CARRIER_CHARS, MAX_EVENT_ID_CHARS, MAX_LINES, MAX_ORDER_ID_CHARS,
    MAX_QUANTITY, MAX_TEXT_CHARS, MAX_TITLE_CHARS, MAX_TRACKING_NUMBER_CHARS,
    MAX_TRACKING_URL_CHARS, MAX_VENDOR_ID_CHARS,
};

/// Why a shipment command (or read) was refused. Codes are stable API: never rename one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipmentError {
    /// Also what a shopper gets for a shipment that exists (shipments are back-office records),
    /// and a vendor's user for a shipment of another vendor or of the shop.
    #[error("no such shipment")]
    NotFound,
    #[error("you may not do this to the shipment")]
    Forbidden,
    #[error("the shipment already exists")]
    AlreadyExists,
    #[error("the shipment's status does not allow this")]
    InvalidTransition,
    #[error("the parcel has not been handed to a carrier yet")]
    NotHandedOver,
    #[error("this tracking event was already recorded")]
    TrackingDuplicate,
    #[error("a later tracking event (or the delivery) was already recorded")]
    TrackingStale,
    #[error("an order id is 1 to {MAX_ORDER_ID_CHARS} characters and not only spaces")]
    InvalidOrderId,
    #[error(
        "a vendor id is 1 to {MAX_VENDOR_ID_CHARS} characters without spaces or control characters"
    )]
    InvalidVendorId,
    #[error("a shipment has at least one line")]
    Empty,
    #[error("a shipment has at most {MAX_LINES} lines")]
    TooManyLines,
    #[error("each SKU appears on one line only")]
    DuplicateSku,
    #[error("a quantity must be between 1 and {MAX_QUANTITY}")]
    QuantityOutOfRange,
    #[error("a line title is 1 to {MAX_TITLE_CHARS} characters and not only spaces")]
    InvalidTitle,
    #[error("an address needs a name, street, city and postal code of at most {MAX_ADDRESS_FIELD_CHARS} characters and a two-letter country code")]
    InvalidAddress,
    #[error("a carrier is 1 to {MAX_CARRIER_CHARS} characters and not only spaces")]
    InvalidCarrier,
    #[error("a tracking number is 1 to {MAX_TRACKING_NUMBER_CHARS} letters, digits, '-' or '_'")]
    InvalidTrackingNumber,
    #[error("a tracking URL starts with https:// and is at most {MAX_TRACKING_URL_CHARS} characters without spaces")]
    InvalidTrackingUrl,
    #[error("a tracking event id is 1 to {MAX_EVENT_ID_CHARS} characters and not only spaces")]
    InvalidEventId,
    #[error("a tracking description is at most {MAX_TEXT_CHARS} characters")]
    InvalidDescription,
    #[error("a tracking location is at most {MAX_TEXT_CHARS} characters")]
    InvalidLocation,
}

impl DomainError for ShipmentError {
    fn code(&self) -> &'static str {
        match self {
            ShipmentError::NotFound => "shipment.not_found",
            ShipmentError::Forbidden => "shipment.forbidden",
            ShipmentError::AlreadyExists => "shipment.already_exists",
            ShipmentError::InvalidTransition => "shipment.invalid_transition",
            ShipmentError::NotHandedOver => "shipment.not_handed_over",
            ShipmentError::TrackingDuplicate => "shipment.tracking_duplicate",
            ShipmentError::TrackingStale => "shipment.tracking_stale",
            ShipmentError::InvalidOrderId => "shipment.invalid_order_id",
            ShipmentError::InvalidVendorId => "shipment.invalid_vendor_id",
            ShipmentError::Empty => "shipment.empty",
            ShipmentError::TooManyLines => "shipment.too_many_lines",
            ShipmentError::DuplicateSku => "shipment.duplicate_sku",
            ShipmentError::QuantityOutOfRange => "shipment.quantity_out_of_range",
            ShipmentError::InvalidTitle => "shipment.invalid_title",
            ShipmentError::InvalidAddress => "shipment.invalid_address",
            ShipmentError::InvalidCarrier => "shipment.invalid_carrier",
            ShipmentError::InvalidTrackingNumber => "shipment.invalid_tracking_number",
            ShipmentError::InvalidTrackingUrl => "shipment.invalid_tracking_url",
            ShipmentError::InvalidEventId => "shipment.invalid_event_id",
            ShipmentError::InvalidDescription => "shipment.invalid_description",
            ShipmentError::InvalidLocation => "shipment.invalid_location",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            ShipmentError::NotFound => ErrorKind::NotFound,
            ShipmentError::Forbidden => ErrorKind::Forbidden,
            ShipmentError::AlreadyExists
            | ShipmentError::InvalidTransition
            | ShipmentError::NotHandedOver
            | ShipmentError::TrackingDuplicate
            | ShipmentError::TrackingStale => ErrorKind::Conflict,
            ShipmentError::InvalidOrderId
            | ShipmentError::InvalidVendorId
            | ShipmentError::Empty
            | ShipmentError::TooManyLines
            | ShipmentError::DuplicateSku
            | ShipmentError::QuantityOutOfRange
            | ShipmentError::InvalidTitle
            | ShipmentError::InvalidAddress
            | ShipmentError::InvalidCarrier
            | ShipmentError::InvalidTrackingNumber
            | ShipmentError::InvalidTrackingUrl
            | ShipmentError::InvalidEventId
            | ShipmentError::InvalidDescription
            | ShipmentError::InvalidLocation => ErrorKind::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_namespaced_and_unique() {
        let all = [
            ShipmentError::NotFound,
            ShipmentError::Forbidden,
            ShipmentError::AlreadyExists,
            ShipmentError::InvalidTransition,
            ShipmentError::NotHandedOver,
            ShipmentError::TrackingDuplicate,
            ShipmentError::TrackingStale,
            ShipmentError::InvalidOrderId,
            ShipmentError::InvalidVendorId,
            ShipmentError::Empty,
            ShipmentError::TooManyLines,
            ShipmentError::DuplicateSku,
            ShipmentError::QuantityOutOfRange,
            ShipmentError::InvalidTitle,
            ShipmentError::InvalidAddress,
            ShipmentError::InvalidCarrier,
            ShipmentError::InvalidTrackingNumber,
            ShipmentError::InvalidTrackingUrl,
            ShipmentError::InvalidEventId,
            ShipmentError::InvalidDescription,
            ShipmentError::InvalidLocation,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| c.starts_with("shipment.")));
        // Refusals of state are conflicts, bad input is invalid: never a 5xx.
        assert!(all.iter().all(|e| e.kind().http_status() < 500));
        assert_eq!(ShipmentError::TrackingStale.kind(), ErrorKind::Conflict);
        assert_eq!(ShipmentError::InvalidTrackingUrl.kind(), ErrorKind::Invalid);
        assert_eq!(
            ShipmentError::InvalidVendorId.code(),
            "shipment.invalid_vendor_id"
        );
    }
}
