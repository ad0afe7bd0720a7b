use agora_kernel::{DomainError, ErrorKind};

use crate::validate::{
    MAX_ADDRESSES, MAX_ADDRESS_FIELD_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_EMAIL_CHARS, MAX_GROUPS,
    MAX_LINKED_IDENTITIES, MAX_PHONE_CHARS, MAX_PROVIDER_CHARS, MAX_SUBJECT_CHARS,
    MAX_USER_AGENT_CHARS, MAX_VENDOR_ID_CHARS,
};

/// Why an identity command (or read) was refused. Codes are stable API: never rename one.
/// Messages never echo the input (it may be a credential).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Also what a stranger gets for an account or session that exists: existence is never
    /// revealed.
    #[error("no such account or session")]
    NotFound,
    #[error("you may not do this")]
    Forbidden,
    #[error("the account or session already exists")]
    AlreadyRegistered,
    #[error("the email address is not valid (one @, a dot in the domain, no spaces, at most {MAX_EMAIL_CHARS} characters)")]
    InvalidEmail,
    #[error(
        "a display name is 1 to {MAX_DISPLAY_NAME_CHARS} characters without control characters"
    )]
    InvalidName,
    #[error("an address needs a name, street, city and postal code of at most {MAX_ADDRESS_FIELD_CHARS} characters, a two-letter country code and a phone of at most {MAX_PHONE_CHARS}")]
    InvalidAddress,
    #[error(
        "a phone number is at most {MAX_PHONE_CHARS} characters of digits, spaces and + - ( ) . /"
    )]
    InvalidPhone,
    #[error("roles are customer, vendor, staff, admin and auditor")]
    InvalidRole,
    #[error("a customer group is 1 to 64 of a-z 0-9 -, and an account is in at most {MAX_GROUPS} groups")]
    InvalidGroup,
    #[error("an account has at most {MAX_ADDRESSES} addresses")]
    TooManyAddresses,
    #[error(
        "a user agent is at most {MAX_USER_AGENT_CHARS} characters without control characters"
    )]
    InvalidUserAgent,
    #[error("a linked identity needs a provider (at most {MAX_PROVIDER_CHARS} characters) and a subject (at most {MAX_SUBJECT_CHARS}); an account links at most {MAX_LINKED_IDENTITIES}")]
    InvalidIdentity,
    #[error("a new token needs a SHA-256 of 64 lower-case hex digits and an expiry after now")]
    InvalidNewToken,
    #[error("no such address")]
    UnknownAddress,
    #[error("the token is not valid")]
    InvalidToken,
    #[error("the token has expired")]
    TokenExpired,
    #[error("the session was revoked")]
    SessionRevoked,
    #[error("an admin cannot revoke their own admin role")]
    CannotDemoteSelf,
    #[error("the account is closed")]
    Closed,
    #[error("a vendor id is 1 to {MAX_VENDOR_ID_CHARS} visible ASCII characters")]
    InvalidVendor,
    /// The account is bound to another vendor: an account is a user of at most one vendor,
    /// so it must be unbound from that one first.
    #[error("the account is bound to another vendor")]
    VendorTaken,
}

impl DomainError for IdentityError {
    fn code(&self) -> &'static str {
        match self {
            IdentityError::NotFound => "identity.not_found",
            IdentityError::Forbidden => "identity.forbidden",
            IdentityError::AlreadyRegistered => "identity.already_registered",
            IdentityError::InvalidEmail => "identity.invalid_email",
            IdentityError::InvalidName => "identity.invalid_name",
            IdentityError::InvalidAddress => "identity.invalid_address",
            IdentityError::InvalidPhone => "identity.invalid_phone",
            IdentityError::InvalidRole => "identity.invalid_role",
            IdentityError::InvalidGroup => "identity.invalid_group",
            IdentityError::TooManyAddresses => "identity.too_many_addresses",
            IdentityError::InvalidUserAgent => "identity.invalid_user_agent",
            IdentityError::InvalidIdentity => "identity.invalid_identity",
            IdentityError::InvalidNewToken => "identity.invalid_new_token",
            IdentityError::UnknownAddress => "identity.unknown_address",
            IdentityError::InvalidToken => "identity.invalid_token",
            IdentityError::TokenExpired => "identity.token_expired",
            IdentityError::SessionRevoked => "identity.session_revoked",
            IdentityError::CannotDemoteSelf => "identity.cannot_demote_self",
            IdentityError::Closed => "identity.closed",
            IdentityError::InvalidVendor => "identity.invalid_vendor",
            IdentityError::VendorTaken => "identity.vendor_taken",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            IdentityError::NotFound | IdentityError::UnknownAddress => ErrorKind::NotFound,
            IdentityError::Forbidden => ErrorKind::Forbidden,
            IdentityError::AlreadyRegistered
            | IdentityError::CannotDemoteSelf
            | IdentityError::Closed
            | IdentityError::VendorTaken => ErrorKind::Conflict,
            IdentityError::InvalidEmail
            | IdentityError::InvalidName
            | IdentityError::InvalidAddress
            | IdentityError::InvalidPhone
            | IdentityError::InvalidRole
            | IdentityError::InvalidGroup
            | IdentityError::TooManyAddresses
            | IdentityError::InvalidUserAgent
            | IdentityError::InvalidIdentity
            | IdentityError::InvalidNewToken
            | IdentityError::InvalidVendor => ErrorKind::Invalid,
            IdentityError::InvalidToken
            | IdentityError::TokenExpired
            | IdentityError::SessionRevoked => ErrorKind::Unauthenticated,
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
            (IdentityError::NotFound, "identity.not_found", NotFound),
            (IdentityError::Forbidden, "identity.forbidden", Forbidden),
            (
                IdentityError::AlreadyRegistered,
                "identity.already_registered",
                Conflict,
            ),
            (
                IdentityError::InvalidEmail,
                "identity.invalid_email",
                Invalid,
            ),
            (IdentityError::InvalidName, "identity.invalid_name", Invalid),
            (
                IdentityError::InvalidAddress,
                "identity.invalid_address",
                Invalid,
            ),
            (
                IdentityError::InvalidPhone,
                "identity.invalid_phone",
                Invalid,
            ),
            (IdentityError::InvalidRole, "identity.invalid_role", Invalid),
            (
                IdentityError::InvalidGroup,
                "identity.invalid_group",
                Invalid,
            ),
            (
                IdentityError::TooManyAddresses,
                "identity.too_many_addresses",
                Invalid,
            ),
            (
                IdentityError::InvalidUserAgent,
                "identity.invalid_user_agent",
                Invalid,
            ),
            (
                IdentityError::InvalidIdentity,
                "identity.invalid_identity",
                Invalid,
            ),
            (
                IdentityError::InvalidNewToken,
                "identity.invalid_new_token",
                Invalid,
            ),
            (
                IdentityError::UnknownAddress,
                "identity.unknown_address",
                NotFound,
            ),
            (
                IdentityError::InvalidToken,
                "identity.invalid_token",
                Unauthenticated,
            ),
            (
                IdentityError::TokenExpired,
                "identity.token_expired",
                Unauthenticated,
            ),
            (
                IdentityError::SessionRevoked,
                "identity.session_revoked",
                Unauthenticated,
            ),
            (
                IdentityError::CannotDemoteSelf,
                "identity.cannot_demote_self",
                Conflict,
            ),
            (IdentityError::Closed, "identity.closed", Conflict),
            (
                IdentityError::InvalidVendor,
                "identity.invalid_vendor",
                Invalid,
            ),
            (
                IdentityError::VendorTaken,
                "identity.vendor_taken",
                Conflict,
            ),
        ];
        for (error, code, kind) in &all {
            assert_eq!(error.code(), *code);
            assert_eq!(error.kind(), *kind, "{code}");
            assert_eq!(error.to_body().code, *code);
        }
        let codes: std::collections::BTreeSet<_> = all.iter().map(|(e, ..)| e.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
