use agora_kernel::{DomainError, ErrorKind};

use crate::order::{
    MAX_ADDRESS_FIELD_CHARS, MAX_CARRIER_CHARS, MAX_EMAIL_CHARS, MAX_ID_CHARS, MAX_LINES,
    MAX_NOTE_CHARS, MAX_QUANTITY, MAX_SHIPPING, MAX_TAX_RATE_BP, MAX_TITLE_CHARS,
    MAX_TRACKING_CHARS, MAX_UNIT_PRICE,
};

/// Why an order command (or read) was refused. Codes are stable API: never rename one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// Also what a stranger gets for an order that exists: existence is never revealed.
    #[error("no such order")]
    NotFound,
    #[error("you may not do this to the order")]
    Forbidden,
    #[error("the order was already placed with different content")]
    AlreadyExists,
    #[error("the order's status does not allow this")]
    InvalidTransition,
    #[error("the order has not been paid")]
    NotPaid,
    #[error("an order has at least one line")]
    Empty,
    #[error("an order has at most {MAX_LINES} lines")]
    TooManyLines,
    #[error("each SKU appears on one line only")]
    DuplicateSku,
    #[error("a quantity must be between 1 and {MAX_QUANTITY}")]
    QuantityOutOfRange,
    #[error("a unit price is between 1 and {MAX_UNIT_PRICE} minor units, shipping between 0 and {MAX_SHIPPING}")]
    InvalidPrice,
    #[error("a vendor's own shipping names a vendor of the order's lines once, in its currency, within the order's shipping")]
    InvalidShipping,
    #[error("every amount of an order is in one currency")]
    CurrencyMismatch,
    #[error("an address needs a name, street, city and postal code of at most {MAX_ADDRESS_FIELD_CHARS} characters and a two-letter country code")]
    InvalidAddress,
    #[error("the email address is not valid (at most {MAX_EMAIL_CHARS} characters)")]
    InvalidEmail,
    #[error("a tax rate is between 0 and {MAX_TAX_RATE_BP} basis points")]
    InvalidTaxRate,
    #[error("the discount does not fit the order: one per line, none above its line, within the shipping fee")]
    InvalidDiscount,
    #[error("a shipment needs a carrier (at most {MAX_CARRIER_CHARS} characters) and a tracking number (at most {MAX_TRACKING_CHARS})")]
    InvalidShipment,
    #[error("the amount does not match the order")]
    InvalidAmount,
    #[error("refunds cannot exceed the amount captured")]
    RefundExceedsCaptured,
    #[error("a refund of a line gives back at most what was paid for its units")]
    RefundExceedsLine,
    #[error(
        "a line refund names a SKU of the order and at least one of its units not refunded yet"
    )]
    InvalidRefundLine,
    #[error("a note is at most {MAX_NOTE_CHARS} characters")]
    InvalidNote,
    #[error("the amounts are too large")]
    Overflow,
    #[error("a line needs a product id of 1 to {MAX_ID_CHARS} characters and a title of 1 to {MAX_TITLE_CHARS}")]
    InvalidLine,
    #[error("a line's vendor id is 1 to {MAX_ID_CHARS} characters without control characters or surrounding spaces")]
    InvalidVendor,
    #[error("a cart id is 1 to {MAX_ID_CHARS} characters")]
    InvalidCartId,
    #[error("a refund id is 1 to {MAX_ID_CHARS} characters")]
    InvalidRefundId,
    #[error("a dispute has an id and a reason of 1 to {MAX_ID_CHARS} characters, and only a known dispute is closed")]
    InvalidDispute,
    #[error("a parcel or return has a shipment or return id of 1 to {MAX_ID_CHARS} characters and 1 to {MAX_LINES} lines of distinct SKUs, each of 1 to {MAX_QUANTITY} units")]
    InvalidUnits,
    #[error("the order has no line of this SKU")]
    UnknownLine,
    #[error("the order has no parcel with this shipment id")]
    UnknownParcel,
    #[error("more units than the order has left to ship")]
    ExceedsUnshipped,
    #[error("these units were not delivered yet")]
    NotDelivered,
    #[error("the return window for these units has closed")]
    ReturnWindowClosed,
    #[error("more units than were delivered and not yet returned or refunded")]
    ExceedsReturnable,
}

impl DomainError for OrderError {
    fn code(&self) -> &'static str {
        match self {
            OrderError::NotFound => "order.not_found",
            OrderError::Forbidden => "order.forbidden",
            OrderError::AlreadyExists => "order.already_exists",
            OrderError::InvalidTransition => "order.invalid_transition",
            OrderError::NotPaid => "order.not_paid",
            OrderError::Empty => "order.empty",
            OrderError::TooManyLines => "order.too_many_lines",
            OrderError::DuplicateSku => "order.duplicate_sku",
            OrderError::QuantityOutOfRange => "order.quantity_out_of_range",
            OrderError::InvalidPrice => "order.invalid_price",
            OrderError::InvalidShipping => "order.invalid_shipping",
            OrderError::CurrencyMismatch => "order.currency_mismatch",
            OrderError::InvalidAddress => "order.invalid_address",
            OrderError::InvalidEmail => "order.invalid_email",
            OrderError::InvalidTaxRate => "order.invalid_tax_rate",
            OrderError::InvalidDiscount => "order.invalid_discount",
            OrderError::InvalidShipment => "order.invalid_shipment",
            OrderError::InvalidAmount => "order.invalid_amount",
            OrderError::RefundExceedsCaptured => "order.refund_exceeds_captured",
            OrderError::RefundExceedsLine => "order.refund_exceeds_line",
            OrderError::InvalidRefundLine => "order.invalid_refund_line",
            OrderError::InvalidNote => "order.invalid_note",
            OrderError::Overflow => "order.overflow",
            OrderError::InvalidLine => "order.invalid_line",
            OrderError::InvalidVendor => "order.invalid_vendor",
            OrderError::InvalidCartId => "order.invalid_cart_id",
            OrderError::InvalidRefundId => "order.invalid_refund_id",
            OrderError::InvalidDispute => "order.invalid_dispute",
            OrderError::InvalidUnits => "order.invalid_units",
            OrderError::UnknownLine => "order.unknown_line",
            OrderError::UnknownParcel => "order.unknown_parcel",
            OrderError::ExceedsUnshipped => "order.exceeds_unshipped",
            OrderError::NotDelivered => "order.not_delivered",
            OrderError::ReturnWindowClosed => "order.return_window_closed",
            OrderError::ExceedsReturnable => "order.exceeds_returnable",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            OrderError::NotFound => ErrorKind::NotFound,
            OrderError::Forbidden => ErrorKind::Forbidden,
            OrderError::AlreadyExists
            | OrderError::InvalidTransition
            | OrderError::NotPaid
            | OrderError::RefundExceedsCaptured
            | OrderError::RefundExceedsLine
            | OrderError::ExceedsUnshipped
            | OrderError::NotDelivered
            | OrderError::ReturnWindowClosed
            | OrderError::ExceedsReturnable => ErrorKind::Conflict,
            OrderError::Empty
            | OrderError::TooManyLines
            | OrderError::DuplicateSku
            | OrderError::QuantityOutOfRange
            | OrderError::InvalidPrice
            | OrderError::InvalidShipping
            | OrderError::CurrencyMismatch
            | OrderError::InvalidAddress
            | OrderError::InvalidEmail
            | OrderError::InvalidTaxRate
            | OrderError::InvalidDiscount
            | OrderError::InvalidShipment
            | OrderError::InvalidAmount
            | OrderError::InvalidNote
            | OrderError::Overflow
            | OrderError::InvalidLine
            | OrderError::InvalidVendor
            | OrderError::InvalidCartId
            | OrderError::InvalidRefundId
            | OrderError::InvalidDispute
            | OrderError::InvalidRefundLine
            | OrderError::InvalidUnits
            | OrderError::UnknownLine
            | OrderError::UnknownParcel => ErrorKind::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_namespaced_unique_and_of_the_documented_kind() {
        use ErrorKind::*;
        let all = [
            (OrderError::NotFound, "order.not_found", NotFound),
            (OrderError::Forbidden, "order.forbidden", Forbidden),
            (OrderError::AlreadyExists, "order.already_exists", Conflict),
            (
                OrderError::InvalidTransition,
                "order.invalid_transition",
                Conflict,
            ),
            (OrderError::NotPaid, "order.not_paid", Conflict),
            (OrderError::Empty, "order.empty", Invalid),
            (OrderError::TooManyLines, "order.too_many_lines", Invalid),
            (OrderError::DuplicateSku, "order.duplicate_sku", Invalid),
            (
                OrderError::QuantityOutOfRange,
                "order.quantity_out_of_range",
                Invalid,
            ),
            (OrderError::InvalidPrice, "order.invalid_price", Invalid),
            (
                OrderError::InvalidShipping,
                "order.invalid_shipping",
                Invalid,
            ),
            (
                OrderError::CurrencyMismatch,
                "order.currency_mismatch",
                Invalid,
            ),
            (OrderError::InvalidAddress, "order.invalid_address", Invalid),
            (OrderError::InvalidEmail, "order.invalid_email", Invalid),
            (
                OrderError::InvalidTaxRate,
                "order.invalid_tax_rate",
                Invalid,
            ),
            (
                OrderError::InvalidDiscount,
                "order.invalid_discount",
                Invalid,
            ),
            (
                OrderError::InvalidShipment,
                "order.invalid_shipment",
                Invalid,
            ),
            (OrderError::InvalidAmount, "order.invalid_amount", Invalid),
            (
                OrderError::RefundExceedsCaptured,
                "order.refund_exceeds_captured",
                Conflict,
            ),
            (OrderError::InvalidNote, "order.invalid_note", Invalid),
            (OrderError::Overflow, "order.overflow", Invalid),
            (OrderError::InvalidLine, "order.invalid_line", Invalid),
            (OrderError::InvalidVendor, "order.invalid_vendor", Invalid),
            (OrderError::InvalidCartId, "order.invalid_cart_id", Invalid),
            (
                OrderError::InvalidRefundId,
                "order.invalid_refund_id",
                Invalid,
            ),
            (
                OrderError::RefundExceedsLine,
                "order.refund_exceeds_line",
                Conflict,
            ),
            (
                OrderError::InvalidRefundLine,
                "order.invalid_refund_line",
                Invalid,
            ),
            (OrderError::InvalidDispute, "order.invalid_dispute", Invalid),
            (OrderError::InvalidUnits, "order.invalid_units", Invalid),
            (OrderError::UnknownLine, "order.unknown_line", Invalid),
            (OrderError::UnknownParcel, "order.unknown_parcel", Invalid),
            (
                OrderError::ExceedsUnshipped,
                "order.exceeds_unshipped",
                Conflict,
            ),
            (OrderError::NotDelivered, "order.not_delivered", Conflict),
            (
                OrderError::ReturnWindowClosed,
                "order.return_window_closed",
                Conflict,
            ),
            (
                OrderError::ExceedsReturnable,
                "order.exceeds_returnable",
                Conflict,
            ),
        ];
        for (error, code, kind) in &all {
            assert_eq!(error.code(), *code);
            assert_eq!(error.kind(), *kind, "{code}");
        }
        let codes: std::collections::BTreeSet<_> = all.iter().map(|(e, ..)| e.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
