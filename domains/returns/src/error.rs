use agora_kernel::{DomainError, ErrorKind};

use crate::rma::{
    MAX_LINES, MAX_NOTE_CHARS, MAX_ORDER_ID_CHARS, MAX_QUANTITY, MAX_REASON_CHARS,
    MAX_REFUND_ID_CHARS, MAX_TITLE_CHARS, MAX_VENDOR_ID_CHARS,
};

/// Why a return command (or read) was refused. Codes are stable API: never rename one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    /// Also what a stranger gets for a return that exists: existence is never revealed. A
    /// vendor's user is a stranger to every return with a line that is not its vendor's.
    #[error("no such return")]
    NotFound,
    #[error("you may not do this to the return")]
    Forbidden,
    #[error("this return already exists")]
    AlreadyExists,
    #[error("the return's status does not allow this")]
    InvalidTransition,
    #[error("this line (or the shipping) was already refunded with another refund")]
    AlreadyRefunded,
    #[error("this refund id is already recorded for another line or the shipping")]
    DuplicateRefundId,
    #[error("no units of this line were received")]
    LineNotReceived,
    #[error("a return has at least one line")]
    Empty,
    #[error("a return has at most {MAX_LINES} lines")]
    TooManyLines,
    #[error("each SKU appears on one line only")]
    DuplicateSku,
    #[error("a quantity must be between 1 and {MAX_QUANTITY}")]
    QuantityOutOfRange,
    #[error("more units were received than the shopper asked to return")]
    ExceedsRequested,
    #[error("the return has no line of this SKU")]
    UnknownLine,
    #[error("a line's title is 1 to {MAX_TITLE_CHARS} characters and not only spaces")]
    InvalidTitle,
    #[error("a note is at most {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
    #[error(
        "a vendor id is 1 to {MAX_VENDOR_ID_CHARS} characters without spaces or control characters"
    )]
    InvalidVendorId,
    #[error("an order id is 1 to {MAX_ORDER_ID_CHARS} characters and not only spaces")]
    InvalidOrderId,
    #[error("a guest owner is the SHA-256 of their token: 64 hexadecimal digits")]
    InvalidOwner,
    #[error("a reason is 1 to {MAX_REASON_CHARS} characters and not only spaces")]
    InvalidReason,
    #[error("a refund id is 1 to {MAX_REFUND_ID_CHARS} characters and not only spaces")]
    InvalidRefundId,
    #[error("a refund is at least zero, and the refunds of a return add up to a valid amount")]
    InvalidAmount,
    #[error("every refund of a return is in one currency")]
    CurrencyMismatch,
}

impl DomainError for ReturnError {
    fn code(&self) -> &'static str {
        match self {
            ReturnError::NotFound => "return.not_found",
            ReturnError::Forbidden => "return.forbidden",
            ReturnError::AlreadyExists => "return.already_exists",
            ReturnError::InvalidTransition => "return.invalid_transition",
            ReturnError::AlreadyRefunded => "return.already_refunded",
            ReturnError::DuplicateRefundId => "return.duplicate_refund_id",
            ReturnError::LineNotReceived => "return.line_not_received",
            ReturnError::Empty => "return.empty",
            ReturnError::TooManyLines => "return.too_many_lines",
            ReturnError::DuplicateSku => "return.duplicate_sku",
            ReturnError::QuantityOutOfRange => "return.quantity_out_of_range",
            ReturnError::ExceedsRequested => "return.exceeds_requested",
            ReturnError::UnknownLine => "return.unknown_line",
            ReturnError::InvalidTitle => "return.invalid_title",
            ReturnError::NoteTooLong => "return.note_too_long",
            ReturnError::InvalidVendorId => "return.invalid_vendor_id",
            ReturnError::InvalidOrderId => "return.invalid_order_id",
            ReturnError::InvalidOwner => "return.invalid_owner",
            ReturnError::InvalidReason => "return.invalid_reason",
            ReturnError::InvalidRefundId => "return.invalid_refund_id",
            ReturnError::InvalidAmount => "return.invalid_amount",
            ReturnError::CurrencyMismatch => "return.currency_mismatch",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            ReturnError::NotFound => ErrorKind::NotFound,
            ReturnError::Forbidden => ErrorKind::Forbidden,
            ReturnError::AlreadyExists
            | ReturnError::InvalidTransition
            | ReturnError::AlreadyRefunded
            | ReturnError::DuplicateRefundId
            | ReturnError::LineNotReceived => ErrorKind::Conflict,
            ReturnError::Empty
            | ReturnError::TooManyLines
            | ReturnError::DuplicateSku
            | ReturnError::QuantityOutOfRange
            | ReturnError::ExceedsRequested
            | ReturnError::UnknownLine
            | ReturnError::InvalidTitle
            | ReturnError::NoteTooLong
            | ReturnError::InvalidVendorId
            | ReturnError::InvalidOrderId
            | ReturnError::InvalidOwner
            | ReturnError::InvalidReason
            | ReturnError::InvalidRefundId
            | ReturnError::InvalidAmount
            | ReturnError::CurrencyMismatch => ErrorKind::Invalid,
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
            (ReturnError::NotFound, "return.not_found", NotFound),
            (ReturnError::Forbidden, "return.forbidden", Forbidden),
            (
                ReturnError::AlreadyExists,
                "return.already_exists",
                Conflict,
            ),
            (
                ReturnError::InvalidTransition,
                "return.invalid_transition",
                Conflict,
            ),
            (
                ReturnError::AlreadyRefunded,
                "return.already_refunded",
                Conflict,
            ),
            (
                ReturnError::DuplicateRefundId,
                "return.duplicate_refund_id",
                Conflict,
            ),
            (
                ReturnError::LineNotReceived,
                "return.line_not_received",
                Conflict,
            ),
            (ReturnError::Empty, "return.empty", Invalid),
            (ReturnError::TooManyLines, "return.too_many_lines", Invalid),
            (ReturnError::DuplicateSku, "return.duplicate_sku", Invalid),
            (
                ReturnError::QuantityOutOfRange,
                "return.quantity_out_of_range",
                Invalid,
            ),
            (
                ReturnError::ExceedsRequested,
                "return.exceeds_requested",
                Invalid,
            ),
            (ReturnError::UnknownLine, "return.unknown_line", Invalid),
            (ReturnError::InvalidTitle, "return.invalid_title", Invalid),
            (ReturnError::NoteTooLong, "return.note_too_long", Invalid),
            (
                ReturnError::InvalidVendorId,
                "return.invalid_vendor_id",
                Invalid,
            ),
            (
                ReturnError::InvalidOrderId,
                "return.invalid_order_id",
                Invalid,
            ),
            (ReturnError::InvalidOwner, "return.invalid_owner", Invalid),
            (ReturnError::InvalidReason, "return.invalid_reason", Invalid),
            (
                ReturnError::InvalidRefundId,
                "return.invalid_refund_id",
                Invalid,
            ),
            (ReturnError::InvalidAmount, "return.invalid_amount", Invalid),
            (
                ReturnError::CurrencyMismatch,
                "return.currency_mismatch",
                Invalid,
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
