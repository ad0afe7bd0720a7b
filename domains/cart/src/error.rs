use agora_kernel::{DomainError, ErrorKind};

use crate::{MAX_LINES, MAX_QUANTITY};

/// Why a cart command was refused. Codes are stable API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("no such cart")]
    NotFound,
    #[error("the cart already exists")]
    AlreadyExists,
    #[error("a quantity must be between 1 and {MAX_QUANTITY}")]
    QuantityOutOfRange,
    #[error("a cart holds at most {MAX_LINES} lines")]
    TooManyLines,
    #[error("this SKU is not in the cart")]
    ItemNotInCart,
    #[error("the cart was merged into another cart and is closed")]
    Closed,
    #[error("a guest cart cannot absorb another cart; sign in first")]
    MergeTargetIsGuest,
    #[error("a cart cannot be merged into itself")]
    MergeIntoSelf,
    #[error("the cart is being checked out; its lines cannot change until that ends")]
    CheckoutInProgress,
    #[error("an empty cart cannot be checked out")]
    Empty,
    #[error("the cart is not being checked out by this order")]
    CheckoutMismatch,
    #[error("only the platform may complete or abort a checkout")]
    Forbidden,
}

impl DomainError for CartError {
    fn code(&self) -> &'static str {
        match self {
            CartError::NotFound => "cart.not_found",
            CartError::AlreadyExists => "cart.already_exists",
            CartError::QuantityOutOfRange => "cart.quantity_out_of_range",
            CartError::TooManyLines => "cart.too_many_lines",
            CartError::ItemNotInCart => "cart.item_not_in_cart",
            CartError::Closed => "cart.closed",
            CartError::MergeTargetIsGuest => "cart.merge_target_is_guest",
            CartError::MergeIntoSelf => "cart.merge_into_self",
            CartError::CheckoutInProgress => "cart.checkout_in_progress",
            CartError::Empty => "cart.empty",
            CartError::CheckoutMismatch => "cart.checkout_mismatch",
            CartError::Forbidden => "cart.forbidden",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            CartError::NotFound => ErrorKind::NotFound,
            CartError::AlreadyExists
            | CartError::Closed
            | CartError::CheckoutInProgress
            | CartError::CheckoutMismatch => ErrorKind::Conflict,
            CartError::Forbidden => ErrorKind::Forbidden,
            CartError::QuantityOutOfRange
            | CartError::TooManyLines
            | CartError::ItemNotInCart
            | CartError::MergeTargetIsGuest
            | CartError::MergeIntoSelf
            | CartError::Empty => ErrorKind::Invalid,
        }
    }
}
