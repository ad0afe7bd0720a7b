use agora_kernel::{DomainError, ErrorKind};

use crate::terms::{MAX_BATCH_CODES, MAX_FILTER_ENTRIES, MAX_NAME_CHARS};

/// Why a promotion command was refused, or why a promotion does not apply to a cart (the
/// pricing engine reports the same codes, so a shopper hears one reason whichever step found
/// it). Codes are stable API: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PromotionError {
    /// Shoppers never manage promotions; only the platform (or an admin) redeems them.
    #[error("you may not do this to a promotion")]
    Forbidden,
    #[error("no such promotion")]
    NotFound,
    #[error("the promotion already exists")]
    AlreadyExists,
    #[error("a promotion's name is 1 to {MAX_NAME_CHARS} characters and not only spaces")]
    InvalidName,
    #[error("a percentage is between 1 and 10000 basis points (0.01 % to 100 %)")]
    InvalidPercentage,
    #[error("an amount must be positive")]
    InvalidAmount,
    #[error("every amount of a promotion is in the promotion's currency")]
    CurrencyMismatch,
    #[error("a validity window must end after it starts")]
    InvalidWindow,
    #[error("a limit must be positive")]
    InvalidLimit,
    #[error("buy X get Y needs X and Y of at least 1")]
    InvalidBuyXGetY,
    #[error("a promotion names at most {MAX_FILTER_ENTRIES} SKUs, products, categories or groups of each kind")]
    TooManyFilterEntries,
    #[error("a batch has 1 to {MAX_BATCH_CODES} codes with a prefix of at most 16 characters")]
    InvalidCodeBatch,
    #[error("only a draft promotion's terms can be changed")]
    NotEditable,
    #[error("the promotion cannot move to that state from its current one")]
    InvalidTransition,
    #[error("the promotion has ended")]
    Ended,
    #[error("the promotion is not active")]
    NotActive,
    #[error("the promotion has expired")]
    Expired,
    #[error("the promotion has not started yet")]
    NotYetValid,
    #[error("the order does not reach the promotion's minimum")]
    MinimumNotReached,
    #[error("no item in the cart is covered by the promotion")]
    NoMatchingItems,
    #[error("the promotion is for another group of customers")]
    CustomerNotEligible,
    #[error("the promotion is for a first order only")]
    FirstOrderOnly,
    #[error("sign in to use this promotion")]
    SignInRequired,
    #[error("this code is not valid")]
    UnknownCode,
    #[error("this code has already been redeemed")]
    CodeUsed,
    #[error("the promotion has been used up")]
    UsedUp,
    #[error("you have already used this promotion")]
    AlreadyUsed,
    #[error("the promotion's budget is exhausted")]
    BudgetExhausted,
    #[error("the promotion would take nothing off this order")]
    NothingToDiscount,
    #[error("the promotion cannot be combined with another one applied to this order")]
    NotCombinable,
    #[error("this order already holds a different redemption of the promotion")]
    RedemptionConflict,
    #[error("no redemption of the promotion for this order")]
    UnknownRedemption,
    #[error("amount overflow")]
    Overflow,
}

impl PromotionError {
    /// Every error, for tests and documentation.
    pub const ALL: &'static [PromotionError] = &[
        PromotionError::Forbidden,
        PromotionError::NotFound,
        PromotionError::AlreadyExists,
        PromotionError::InvalidName,
        PromotionError::InvalidPercentage,
        PromotionError::InvalidAmount,
        PromotionError::CurrencyMismatch,
        PromotionError::InvalidWindow,
        PromotionError::InvalidLimit,
        PromotionError::InvalidBuyXGetY,
        PromotionError::TooManyFilterEntries,
        PromotionError::InvalidCodeBatch,
        PromotionError::NotEditable,
        PromotionError::InvalidTransition,
        PromotionError::Ended,
        PromotionError::NotActive,
        PromotionError::Expired,
        PromotionError::NotYetValid,
        PromotionError::MinimumNotReached,
        PromotionError::NoMatchingItems,
        PromotionError::CustomerNotEligible,
        PromotionError::FirstOrderOnly,
        PromotionError::SignInRequired,
        PromotionError::UnknownCode,
        PromotionError::CodeUsed,
        PromotionError::UsedUp,
        PromotionError::AlreadyUsed,
        PromotionError::BudgetExhausted,
        PromotionError::NothingToDiscount,
        PromotionError::NotCombinable,
        PromotionError::RedemptionConflict,
        PromotionError::UnknownRedemption,
        PromotionError::Overflow,
    ];
}

impl PromotionError {
    /// The error whose code is `code`, for reading a reason back from the wire.
    pub fn from_code(code: &str) -> Option<PromotionError> {
        PromotionError::ALL
            .iter()
            .copied()
            .find(|e| e.code() == code)
    }
}

/// On the wire a reason is its stable code (`"promotion.expired"`).
impl serde::Serialize for PromotionError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for PromotionError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        PromotionError::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown promotion error {code}")))
    }
}

impl DomainError for PromotionError {
    fn code(&self) -> &'static str {
        match self {
            PromotionError::Forbidden => "promotion.forbidden",
            PromotionError::NotFound => "promotion.not_found",
            PromotionError::AlreadyExists => "promotion.already_exists",
            PromotionError::InvalidName => "promotion.invalid_name",
            PromotionError::InvalidPercentage => "promotion.invalid_percentage",
            PromotionError::InvalidAmount => "promotion.invalid_amount",
            PromotionError::CurrencyMismatch => "promotion.currency_mismatch",
            PromotionError::InvalidWindow => "promotion.invalid_window",
            PromotionError::InvalidLimit => "promotion.invalid_limit",
            PromotionError::InvalidBuyXGetY => "promotion.invalid_buy_x_get_y",
            PromotionError::TooManyFilterEntries => "promotion.too_many_filter_entries",
            PromotionError::InvalidCodeBatch => "promotion.invalid_code_batch",
            PromotionError::NotEditable => "promotion.not_editable",
            PromotionError::InvalidTransition => "promotion.invalid_transition",
            PromotionError::Ended => "promotion.ended",
            PromotionError::NotActive => "promotion.not_active",
            PromotionError::Expired => "promotion.expired",
            PromotionError::NotYetValid => "promotion.not_yet_valid",
            PromotionError::MinimumNotReached => "promotion.minimum_not_reached",
            PromotionError::NoMatchingItems => "promotion.no_matching_items",
            PromotionError::CustomerNotEligible => "promotion.customer_not_eligible",
            PromotionError::FirstOrderOnly => "promotion.first_order_only",
            PromotionError::SignInRequired => "promotion.sign_in_required",
            PromotionError::UnknownCode => "promotion.unknown_code",
            PromotionError::CodeUsed => "promotion.code_used",
            PromotionError::UsedUp => "promotion.used_up",
            PromotionError::AlreadyUsed => "promotion.already_used",
            PromotionError::BudgetExhausted => "promotion.budget_exhausted",
            PromotionError::NothingToDiscount => "promotion.nothing_to_discount",
            PromotionError::NotCombinable => "promotion.not_combinable",
            PromotionError::RedemptionConflict => "promotion.redemption_conflict",
            PromotionError::UnknownRedemption => "promotion.unknown_redemption",
            PromotionError::Overflow => "promotion.overflow",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            PromotionError::Forbidden => ErrorKind::Forbidden,
            PromotionError::NotFound | PromotionError::UnknownRedemption => ErrorKind::NotFound,
            PromotionError::AlreadyExists
            | PromotionError::NotEditable
            | PromotionError::InvalidTransition
            | PromotionError::Ended
            | PromotionError::NotActive
            | PromotionError::Expired
            | PromotionError::NotYetValid
            | PromotionError::CodeUsed
            | PromotionError::UsedUp
            | PromotionError::AlreadyUsed
            | PromotionError::BudgetExhausted
            | PromotionError::RedemptionConflict => ErrorKind::Conflict,
            PromotionError::InvalidName
            | PromotionError::InvalidPercentage
            | PromotionError::InvalidAmount
            | PromotionError::CurrencyMismatch
            | PromotionError::InvalidWindow
            | PromotionError::InvalidLimit
            | PromotionError::InvalidBuyXGetY
            | PromotionError::TooManyFilterEntries
            | PromotionError::InvalidCodeBatch
            | PromotionError::MinimumNotReached
            | PromotionError::NoMatchingItems
            | PromotionError::CustomerNotEligible
            | PromotionError::FirstOrderOnly
            | PromotionError::SignInRequired
            | PromotionError::UnknownCode
            | PromotionError::NothingToDiscount
            | PromotionError::NotCombinable
            | PromotionError::Overflow => ErrorKind::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_namespaced_and_unique() {
        let codes: std::collections::BTreeSet<_> =
            PromotionError::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), PromotionError::ALL.len());
        assert!(codes.iter().all(|c| c.starts_with("promotion.")));
        for error in PromotionError::ALL {
            let wire = serde_json::to_value(error).expect("serializes");
            assert_eq!(wire, serde_json::json!(error.code()));
            assert_eq!(
                serde_json::from_value::<PromotionError>(wire).ok(),
                Some(*error)
            );
        }
    }

    #[test]
    fn the_codes_the_storefront_shows_keep_their_names() {
        // Published: the storefront and the back office switch on these.
        for (error, code) in [
            (PromotionError::Expired, "promotion.expired"),
            (PromotionError::NotYetValid, "promotion.not_yet_valid"),
            (
                PromotionError::MinimumNotReached,
                "promotion.minimum_not_reached",
            ),
            (PromotionError::UsedUp, "promotion.used_up"),
            (PromotionError::AlreadyUsed, "promotion.already_used"),
            (PromotionError::NotCombinable, "promotion.not_combinable"),
            (
                PromotionError::BudgetExhausted,
                "promotion.budget_exhausted",
            ),
        ] {
            assert_eq!(error.code(), code);
        }
    }
}
