use agora_kernel::{DomainError, ErrorKind};

use crate::{
    MAX_BODY_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS, MAX_REASON_CHARS, MAX_RESPONSE_CHARS,
    MAX_TITLE_CHARS,
};

/// Why a review command (or read) was refused. Codes are stable API: never rename one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("no such review")]
    NotFound,
    #[error("you may not do this to this review")]
    Forbidden,
    #[error("the review's status does not allow this")]
    InvalidTransition,
    #[error("a rating is 1 to 5 stars")]
    InvalidRating,
    #[error("a title is 1 to {MAX_TITLE_CHARS} characters without control characters")]
    InvalidTitle,
    #[error("a review's text is at most {MAX_BODY_CHARS} characters")]
    InvalidBody,
    #[error("a display name is 1 to {MAX_NAME_CHARS} characters without control characters")]
    InvalidName,
    #[error("a response is 1 to {MAX_RESPONSE_CHARS} characters")]
    InvalidResponse,
    #[error("a reason is 1 to {MAX_REASON_CHARS} characters without control characters")]
    InvalidReason,
    #[error("a product or vendor id is 1 to {MAX_ID_CHARS} characters without control characters")]
    InvalidProduct,
}

impl DomainError for ReviewError {
    fn code(&self) -> &'static str {
        match self {
            ReviewError::NotFound => "review.not_found",
            ReviewError::Forbidden => "review.forbidden",
            ReviewError::InvalidTransition => "review.invalid_transition",
            ReviewError::InvalidRating => "review.invalid_rating",
            ReviewError::InvalidTitle => "review.invalid_title",
            ReviewError::InvalidBody => "review.invalid_body",
            ReviewError::InvalidName => "review.invalid_name",
            ReviewError::InvalidResponse => "review.invalid_response",
            ReviewError::InvalidReason => "review.invalid_reason",
            ReviewError::InvalidProduct => "review.invalid_product",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            ReviewError::NotFound => ErrorKind::NotFound,
            ReviewError::Forbidden => ErrorKind::Forbidden,
            ReviewError::InvalidTransition => ErrorKind::Conflict,
            ReviewError::InvalidRating
            | ReviewError::InvalidTitle
            | ReviewError::InvalidBody
            | ReviewError::InvalidName
            | ReviewError::InvalidResponse
            | ReviewError::InvalidReason
            | ReviewError::InvalidProduct => ErrorKind::Invalid,
        }
    }
}
