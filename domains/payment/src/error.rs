use agora_kernel::{DomainError, ErrorKind};

use crate::{MAX_AMOUNT_MINOR, MAX_CODE_CHARS, MAX_PAYMENT_METHOD_CHARS};

/// Why a payment command (or read) was refused. Codes are stable API: never rename one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// No payment was started on this stream, or the reader may not see payments.
    #[error("no such payment")]
    NotFound,
    /// Only the platform and admins record payment facts; staff may also request refunds.
    #[error("you may not do this to a payment")]
    Forbidden,
    /// The same stream or refund id was already used with different values: a caller bug,
    /// and guessing which of the two it meant would be worse.
    #[error("this payment or refund already exists with different values")]
    Mismatch,
    #[error("an amount must be between 1 and {MAX_AMOUNT_MINOR} minor units and within what the payment allows")]
    InvalidAmount,
    #[error("a payment method is a provider token of 1 to {MAX_PAYMENT_METHOD_CHARS} printable ASCII characters")]
    InvalidMethod,
    #[error("the amount is not in the payment's currency")]
    CurrencyMismatch,
    #[error("the payment's status does not allow this")]
    InvalidTransition,
    #[error("the payment was already captured")]
    AlreadyCaptured,
    #[error("the payment has not been captured")]
    NotCaptured,
    #[error("the refund would exceed what was captured and not yet refunded or being refunded")]
    RefundExceedsCaptured,
    #[error("the refund would exceed what the shopper paid for these units of the line")]
    RefundExceedsLine,
    #[error("a line refund names a line of the order and at most its units not yet refunded")]
    InvalidRefundLine,
    #[error("no such refund")]
    UnknownRefund,
    /// The charge is disputed: no refund until the dispute is decided.
    #[error("the payment is disputed: no refund may be made until the dispute is decided")]
    Disputed,
    #[error("a provider code, id or reference is 1 to {MAX_CODE_CHARS} characters without control characters")]
    InvalidCode,
}

impl DomainError for PaymentError {
    fn code(&self) -> &'static str {
        match self {
            PaymentError::NotFound => "payment.not_found",
            PaymentError::Forbidden => "payment.forbidden",
            PaymentError::Mismatch => "payment.mismatch",
            PaymentError::InvalidAmount => "payment.invalid_amount",
            PaymentError::InvalidMethod => "payment.invalid_method",
            PaymentError::CurrencyMismatch => "payment.currency_mismatch",
            PaymentError::InvalidTransition => "payment.invalid_transition",
            PaymentError::AlreadyCaptured => "payment.already_captured",
            PaymentError::NotCaptured => "payment.not_captured",
            PaymentError::RefundExceedsCaptured => "payment.refund_exceeds_captured",
            PaymentError::UnknownRefund => "payment.unknown_refund",
            PaymentError::RefundExceedsLine => "payment.refund_exceeds_line",
            PaymentError::InvalidRefundLine => "payment.invalid_refund_line",
            PaymentError::InvalidCode => "payment.invalid_code",
            PaymentError::Disputed => "payment.disputed",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            PaymentError::NotFound | PaymentError::UnknownRefund => ErrorKind::NotFound,
            PaymentError::Forbidden => ErrorKind::Forbidden,
            PaymentError::Mismatch
            | PaymentError::InvalidTransition
            | PaymentError::AlreadyCaptured
            | PaymentError::NotCaptured
            | PaymentError::RefundExceedsCaptured
            | PaymentError::RefundExceedsLine
            | PaymentError::Disputed => ErrorKind::Conflict,
            PaymentError::InvalidRefundLine
            | PaymentError::InvalidAmount
            | PaymentError::InvalidMethod
            | PaymentError::CurrencyMismatch
            | PaymentError::InvalidCode => ErrorKind::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [PaymentError; 15] = [
        PaymentError::NotFound,
        PaymentError::Forbidden,
        PaymentError::Mismatch,
        PaymentError::InvalidAmount,
        PaymentError::InvalidMethod,
        PaymentError::CurrencyMismatch,
        PaymentError::InvalidTransition,
        PaymentError::AlreadyCaptured,
        PaymentError::NotCaptured,
        PaymentError::RefundExceedsCaptured,
        PaymentError::UnknownRefund,
        PaymentError::InvalidCode,
        PaymentError::RefundExceedsLine,
        PaymentError::InvalidRefundLine,
        PaymentError::Disputed,
    ];

    #[test]
    fn every_code_is_namespaced_and_unique() {
        let codes: std::collections::BTreeSet<_> = ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), ALL.len());
        assert!(codes.iter().all(|c| c.starts_with("payment.")));
    }

    #[test]
    fn each_error_has_the_documented_kind() {
        let kinds: Vec<(&str, ErrorKind)> = ALL.iter().map(|e| (e.code(), e.kind())).collect();
        assert_eq!(
            kinds,
            vec![
                ("payment.not_found", ErrorKind::NotFound),
                ("payment.forbidden", ErrorKind::Forbidden),
                ("payment.mismatch", ErrorKind::Conflict),
                ("payment.invalid_amount", ErrorKind::Invalid),
                ("payment.invalid_method", ErrorKind::Invalid),
                ("payment.currency_mismatch", ErrorKind::Invalid),
                ("payment.invalid_transition", ErrorKind::Conflict),
                ("payment.already_captured", ErrorKind::Conflict),
                ("payment.not_captured", ErrorKind::Conflict),
                ("payment.refund_exceeds_captured", ErrorKind::Conflict),
                ("payment.unknown_refund", ErrorKind::NotFound),
                ("payment.invalid_code", ErrorKind::Invalid),
                ("payment.refund_exceeds_line", ErrorKind::Conflict),
                ("payment.invalid_refund_line", ErrorKind::Invalid),
                ("payment.disputed", ErrorKind::Conflict),
            ]
        );
    }

    #[test]
    fn messages_never_carry_input() {
        // No variant has a payload, so nothing a caller sent can leak into a reply.
        for e in ALL {
            assert!(!e.to_string().is_empty());
            assert_eq!(e.to_body().code, e.code());
        }
    }
}
