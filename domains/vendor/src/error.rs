use agora_kernel::{DomainError, ErrorKind};

use crate::ledger::MAX_ENTRY_ID_CHARS;
use crate::vendor::{
    MAX_CATEGORY_CHARS, MAX_EMAIL_CHARS, MAX_LEGAL_NAME_CHARS, MAX_NAME_CHARS,
    MAX_PAYOUT_ACCOUNT_CHARS, MAX_PAYOUT_ID_CHARS, MAX_REASON_CHARS, MAX_RULES, MAX_RULE_ID_CHARS,
    MAX_TRANSFER_ID_CHARS, MAX_USERS,
};

/// Why a vendor command (or read), a commission or a ledger entry was refused. Codes are
/// stable API: never rename one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VendorError {
    /// Also what a stranger gets for a vendor that exists: existence is never revealed.
    #[error("no such vendor")]
    NotFound,
    #[error("you may not do this to the vendor")]
    Forbidden,
    #[error("this vendor already applied, with other details")]
    AlreadyExists,
    #[error("the vendor's status does not allow this")]
    InvalidTransition,
    #[error("a vendor keeps at least one admin user")]
    LastAdmin,
    #[error("a vendor has at most {MAX_USERS} users")]
    TooManyUsers,
    #[error("this commission rule id is already set, with other terms")]
    RuleExists,
    #[error("a vendor has at most {MAX_RULES} commission rules")]
    TooManyRules,
    #[error("a commission rule takes effect now or later, never in the past")]
    RetroactiveRule,
    #[error("this ledger entry id is already recorded, with other content")]
    EntryConflict,
    /// An outcome recorded for a payout the vendor never allowed: a bug of the caller, or the
    /// wrong vendor.
    #[error("no payout of this vendor has this id")]
    UnknownPayout,
    #[error("the payout is more than the vendor's balance less its payouts under way or made")]
    InsufficientBalance,
    #[error("this payout id is already used with another amount, or already has another outcome")]
    PayoutConflict,
    #[error("a suspended vendor is paid out once it is reactivated")]
    PayoutsFrozen,
    #[error("a payout is more than zero and at least the minimum payout")]
    BelowMinimum,
    #[error("a payout id is 1 to {MAX_PAYOUT_ID_CHARS} visible ASCII characters")]
    InvalidPayoutId,
    #[error("a transfer id is 1 to {MAX_TRANSFER_ID_CHARS} visible ASCII characters")]
    InvalidTransferId,
    #[error("a name is 1 to {MAX_NAME_CHARS} characters and not only spaces")]
    InvalidName,
    #[error("a legal name is 1 to {MAX_LEGAL_NAME_CHARS} characters and not only spaces")]
    InvalidLegalName,
    #[error("an email is at most {MAX_EMAIL_CHARS} characters: text, one @, text, no spaces")]
    InvalidEmail,
    #[error("a country is an ISO 3166 alpha-2 code: two upper-case letters")]
    InvalidCountry,
    #[error("a payout account is 1 to {MAX_PAYOUT_ACCOUNT_CHARS} visible ASCII characters")]
    InvalidPayoutAccount,
    #[error("a reason is 1 to {MAX_REASON_CHARS} characters and not only spaces")]
    InvalidReason,
    #[error("a commission rule id is 1 to {MAX_RULE_ID_CHARS} visible ASCII characters")]
    InvalidRuleId,
    #[error("a commission percentage is 0 to 10000 basis points")]
    InvalidPercent,
    #[error("a fixed commission fee is at least zero")]
    InvalidFee,
    #[error("a category is 1 to {MAX_CATEGORY_CHARS} of a-z, 0-9 and -")]
    InvalidCategory,
    #[error("amounts that are combined are in one currency")]
    CurrencyMismatch,
    #[error(
        "a ledger entry has an id of 1 to {MAX_ENTRY_ID_CHARS} visible ASCII characters, an \
         amount of its kind's sign, and an availability date only if it is a sale or commission"
    )]
    InvalidEntry,
    #[error("an amount is at least zero and the amounts add up without overflow")]
    InvalidAmount,
}

impl DomainError for VendorError {
    fn code(&self) -> &'static str {
        match self {
            VendorError::NotFound => "vendor.not_found",
            VendorError::Forbidden => "vendor.forbidden",
            VendorError::AlreadyExists => "vendor.already_exists",
            VendorError::InvalidTransition => "vendor.invalid_transition",
            VendorError::LastAdmin => "vendor.last_admin",
            VendorError::TooManyUsers => "vendor.too_many_users",
            VendorError::RuleExists => "vendor.rule_exists",
            VendorError::TooManyRules => "vendor.too_many_rules",
            VendorError::RetroactiveRule => "vendor.retroactive_rule",
            VendorError::EntryConflict => "vendor.entry_conflict",
            VendorError::UnknownPayout => "vendor.unknown_payout",
            VendorError::InsufficientBalance => "vendor.insufficient_balance",
            VendorError::PayoutConflict => "vendor.payout_conflict",
            VendorError::PayoutsFrozen => "vendor.payouts_frozen",
            VendorError::BelowMinimum => "vendor.below_minimum",
            VendorError::InvalidPayoutId => "vendor.invalid_payout_id",
            VendorError::InvalidTransferId => "vendor.invalid_transfer_id",
            VendorError::InvalidName => "vendor.invalid_name",
            VendorError::InvalidLegalName => "vendor.invalid_legal_name",
            VendorError::InvalidEmail => "vendor.invalid_email",
            VendorError::InvalidCountry => "vendor.invalid_country",
            VendorError::InvalidPayoutAccount => "vendor.invalid_payout_account",
            VendorError::InvalidReason => "vendor.invalid_reason",
            VendorError::InvalidRuleId => "vendor.invalid_rule_id",
            VendorError::InvalidPercent => "vendor.invalid_percent",
            VendorError::InvalidFee => "vendor.invalid_fee",
            VendorError::InvalidCategory => "vendor.invalid_category",
            VendorError::CurrencyMismatch => "vendor.currency_mismatch",
            VendorError::InvalidEntry => "vendor.invalid_entry",
            VendorError::InvalidAmount => "vendor.invalid_amount",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            VendorError::NotFound | VendorError::UnknownPayout => ErrorKind::NotFound,
            VendorError::Forbidden => ErrorKind::Forbidden,
            VendorError::AlreadyExists
            | VendorError::InvalidTransition
            | VendorError::LastAdmin
            | VendorError::TooManyUsers
            | VendorError::RuleExists
            | VendorError::TooManyRules
            | VendorError::EntryConflict
            | VendorError::InsufficientBalance
            | VendorError::PayoutConflict
            | VendorError::PayoutsFrozen => ErrorKind::Conflict,
            VendorError::BelowMinimum
            | VendorError::InvalidPayoutId
            | VendorError::InvalidTransferId
            | VendorError::RetroactiveRule
            | VendorError::InvalidName
            | VendorError::InvalidLegalName
            | VendorError::InvalidEmail
            | VendorError::InvalidCountry
            | VendorError::InvalidPayoutAccount
            | VendorError::InvalidReason
            | VendorError::InvalidRuleId
            | VendorError::InvalidPercent
            | VendorError::InvalidFee
            | VendorError::InvalidCategory
            | VendorError::CurrencyMismatch
            | VendorError::InvalidEntry
            | VendorError::InvalidAmount => ErrorKind::Invalid,
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
            (VendorError::NotFound, "vendor.not_found", NotFound),
            (VendorError::Forbidden, "vendor.forbidden", Forbidden),
            (
                VendorError::AlreadyExists,
                "vendor.already_exists",
                Conflict,
            ),
            (
                VendorError::InvalidTransition,
                "vendor.invalid_transition",
                Conflict,
            ),
            (VendorError::LastAdmin, "vendor.last_admin", Conflict),
            (VendorError::TooManyUsers, "vendor.too_many_users", Conflict),
            (VendorError::RuleExists, "vendor.rule_exists", Conflict),
            (VendorError::TooManyRules, "vendor.too_many_rules", Conflict),
            (
                VendorError::RetroactiveRule,
                "vendor.retroactive_rule",
                Invalid,
            ),
            (
                VendorError::EntryConflict,
                "vendor.entry_conflict",
                Conflict,
            ),
            (VendorError::InvalidName, "vendor.invalid_name", Invalid),
            (
                VendorError::InvalidLegalName,
                "vendor.invalid_legal_name",
                Invalid,
            ),
            (VendorError::InvalidEmail, "vendor.invalid_email", Invalid),
            (
                VendorError::InvalidCountry,
                "vendor.invalid_country",
                Invalid,
            ),
            (
                VendorError::InvalidPayoutAccount,
                "vendor.invalid_payout_account",
                Invalid,
            ),
            (VendorError::InvalidReason, "vendor.invalid_reason", Invalid),
            (
                VendorError::InvalidRuleId,
                "vendor.invalid_rule_id",
                Invalid,
            ),
            (
                VendorError::InvalidPercent,
                "vendor.invalid_percent",
                Invalid,
            ),
            (VendorError::InvalidFee, "vendor.invalid_fee", Invalid),
            (
                VendorError::InvalidCategory,
                "vendor.invalid_category",
                Invalid,
            ),
            (
                VendorError::CurrencyMismatch,
                "vendor.currency_mismatch",
                Invalid,
            ),
            (VendorError::InvalidEntry, "vendor.invalid_entry", Invalid),
            (VendorError::InvalidAmount, "vendor.invalid_amount", Invalid),
            (
                VendorError::UnknownPayout,
                "vendor.unknown_payout",
                NotFound,
            ),
            (
                VendorError::InsufficientBalance,
                "vendor.insufficient_balance",
                Conflict,
            ),
            (
                VendorError::PayoutConflict,
                "vendor.payout_conflict",
                Conflict,
            ),
            (
                VendorError::PayoutsFrozen,
                "vendor.payouts_frozen",
                Conflict,
            ),
            (VendorError::BelowMinimum, "vendor.below_minimum", Invalid),
            (
                VendorError::InvalidPayoutId,
                "vendor.invalid_payout_id",
                Invalid,
            ),
            (
                VendorError::InvalidTransferId,
                "vendor.invalid_transfer_id",
                Invalid,
            ),
        ];
        for (error, code, kind) in &all {
            assert_eq!(error.code(), *code);
            assert!(code.starts_with("vendor."), "{code}");
            assert_eq!(error.kind(), *kind, "{code}");
            assert!(!error.to_string().is_empty(), "{code}");
        }
        let codes: std::collections::BTreeSet<_> = all.iter().map(|(e, ..)| e.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
