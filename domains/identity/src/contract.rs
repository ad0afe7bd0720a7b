//! Identity's wire contract: ids, roles, addresses, and the commands and events of both
//! aggregates. Field and variant names are published (events are stored forever; commands are
//! NATS payloads): never rename them.

use std::str::FromStr;

use agora_kernel::CustomerId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::IdentityError;

agora_kernel::typed_id!(
    /// An account: the stream id of its [`Account`](crate::Account). For a customer it is also
    /// their [`CustomerId`]; back-office users have accounts with the same kind of id.
    AccountId,
    "account"
);
agora_kernel::typed_id!(
    /// One saved address of an account, chosen by the service when the address is added.
    AddressId,
    "address"
);
agora_kernel::typed_id!(
    /// One refresh token of a session, chosen by the service when it issues the token.
    TokenId,
    "token"
);

impl From<CustomerId> for AccountId {
    fn from(id: CustomerId) -> Self {
        AccountId(id.as_uuid())
    }
}

impl From<AccountId> for CustomerId {
    fn from(id: AccountId) -> Self {
        CustomerId::from_uuid(id.as_uuid())
    }
}

/// What an account may do on the platform. Access tokens carry the role names; the edge maps
/// them to a [`Principal`](agora_kernel::Principal). Declared in alphabetical order, so a sorted
/// set of roles is sorted by name too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Grants and revokes roles and does everything staff do.
    Admin,
    /// Reads everything in the back office, changes nothing.
    Auditor,
    /// Shops: every account starts with this role.
    Customer,
    /// Back-office staff: orders, stock, catalog.
    Staff,
    /// A marketplace vendor's user. It means something only with a vendor: access tokens
    /// carry it exactly while the account is bound to one (see
    /// [`AccountCommand::BindVendor`]), whether or not the account holds the role.
    Vendor,
}

impl Role {
    /// Every role, sorted by name.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Auditor,
        Role::Customer,
        Role::Staff,
        Role::Vendor,
    ];

    /// The wire name (`admin`), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Customer => "customer",
            Role::Staff => "staff",
            Role::Vendor => "vendor",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a role name from outside (an admin's form, a query string): exact lower-case names
/// only, anything else is `identity.invalid_role`.
impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(name: &str) -> Result<Role, IdentityError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or(IdentityError::InvalidRole)
    }
}

/// The kernel's postal address (one shape everywhere).
pub use agora_kernel::Address;

/// Commands on one account (stream id: the account id, a UUID). Every variant name is also the
/// NATS endpoint name; see [`AccountCommand::NAMES`]. Token hashes are the lower-case hex
/// SHA-256 of tokens the service generated and mailed; `decide` never sees a token or a
/// password.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AccountCommand {
    /// Opens the account and issues its first email-verification token. Only the platform
    /// registers (the service acts for the anonymous visitor, after checking that the email is
    /// not taken).
    Register {
        email: String,
        display_name: String,
        /// `false` for an account created by signing in with a provider (no password yet).
        password_set: bool,
        verification_token_sha256: String,
        verification_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// The visitor followed the verification link.
    VerifyEmail {
        token_sha256: String,
        now: DateTime<Utc>,
    },
    /// Sends a new verification link; the previous one stops working.
    IssueVerification {
        token_sha256: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// Sends a password-reset link; earlier ones stop working.
    RequestPasswordReset {
        token_sha256: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// The visitor followed the reset link and chose a new password, which the service stores
    /// only once `PasswordReset` is committed.
    ResetPassword {
        token_sha256: String,
        now: DateTime<Utc>,
    },
    /// The signed-in owner changed their password (the service checked the old one).
    ChangePassword {
        now: DateTime<Utc>,
    },
    /// Changes only the fields given. An empty (or blank) `phone` removes the phone number.
    UpdateProfile {
        #[serde(default)]
        display_name: Option<String>,
        #[serde(default)]
        phone: Option<String>,
        #[serde(default)]
        marketing_opt_in: Option<bool>,
    },
    AddAddress {
        address_id: AddressId,
        address: Address,
        #[serde(default)]
        make_default: bool,
    },
    UpdateAddress {
        address_id: AddressId,
        address: Address,
    },
    RemoveAddress {
        address_id: AddressId,
    },
    SetDefaultAddress {
        address_id: AddressId,
    },
    GrantRole {
        role: Role,
    },
    RevokeRole {
        role: Role,
    },
    /// Puts the customer in exactly these customer groups (`vip`, `wholesale`): promotions
    /// may be for some groups only.
    SetGroups {
        groups: std::collections::BTreeSet<String>,
    },
    /// Links an OAuth / OpenID Connect identity: `provider` names the provider (`google`,
    /// `github`, or a configured issuer URL), `subject` is its stable user id (`sub`).
    LinkIdentity {
        provider: String,
        subject: String,
        /// Whether the provider vouches that the account's email belongs to this user.
        email_verified: bool,
        now: DateTime<Utc>,
    },
    /// Closes the account for good; only the back office can still read it.
    Close {
        now: DateTime<Utc>,
    },
    /// Binds the account to one marketplace vendor (sent by the vendor workflow when the
    /// vendor is approved or the account is added as its user): its access tokens then carry
    /// the vendor, and the edge sees a `Principal::Vendor`. Only the platform sends it.
    /// Binding to the vendor it is bound to records nothing; binding while bound to another
    /// is `identity.vendor_taken`.
    BindVendor {
        /// The vendor's id (its stream id), taken exactly as given.
        vendor: String,
        now: DateTime<Utc>,
    },
    /// Ends the account's binding to `vendor` (its user was removed, the vendor closed or was
    /// rejected). Only the platform sends it. Records nothing unless the account is bound to
    /// exactly this vendor, so a late removal never ends a newer binding.
    UnbindVendor {
        vendor: String,
        now: DateTime<Utc>,
    },
}

/// How a profile update changed the phone number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneChange {
    Set(String),
    Removed,
}

/// Facts about an account. A published contract. Events that carry a token hash are the only
/// place it is kept; views never show one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEvent {
    AccountRegistered {
        /// The stream id, so that the account knows its owner.
        account_id: AccountId,
        /// Normalized: trimmed and lower case.
        email: String,
        display_name: String,
        roles: Vec<Role>,
        /// Whether the account was registered with a password (`false`: a provider sign-in).
        password_set: bool,
        at: DateTime<Utc>,
    },
    /// A verification token was mailed; it replaces any earlier one.
    VerificationIssued {
        token_sha256: String,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    EmailVerified {
        at: DateTime<Utc>,
    },
    /// A reset token was mailed; it replaces any earlier one.
    PasswordResetRequested {
        token_sha256: String,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The reset token was used. The service stores the new password hash after this commits
    /// and, when `revoke_sessions` (always, today), revokes every session of the account.
    PasswordReset {
        revoke_sessions: bool,
        at: DateTime<Utc>,
    },
    PasswordChanged {
        at: DateTime<Utc>,
    },
    /// Only the fields that changed are present.
    ProfileUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<PhoneChange>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        marketing_opt_in: Option<bool>,
    },
    /// `is_default`: the address became the default (the previous default, if any, no longer
    /// is).
    AddressAdded {
        address_id: AddressId,
        address: Address,
        is_default: bool,
    },
    AddressUpdated {
        address_id: AddressId,
        address: Address,
    },
    /// When the default was removed, a `DefaultAddressSet` for the oldest remaining address
    /// follows in the same commit.
    AddressRemoved {
        address_id: AddressId,
    },
    DefaultAddressSet {
        address_id: AddressId,
    },
    RoleGranted {
        role: Role,
    },
    RoleRevoked {
        role: Role,
    },
    GroupsSet {
        groups: std::collections::BTreeSet<String>,
    },
    IdentityLinked {
        provider: String,
        subject: String,
        at: DateTime<Utc>,
    },
    /// The service revokes every session of the account when `revoke_sessions` (always).
    AccountClosed {
        revoke_sessions: bool,
        at: DateTime<Utc>,
    },
    /// The account became a user of marketplace vendor `vendor` (it was bound to none).
    AccountVendorBound {
        vendor: String,
        at: DateTime<Utc>,
    },
    /// The account is no longer bound to `vendor` (the vendor it was bound to).
    AccountVendorUnbound {
        vendor: String,
        at: DateTime<Utc>,
    },
}

impl AccountEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::AccountRegistered { .. } => "AccountRegistered",
            AccountEvent::VerificationIssued { .. } => "VerificationIssued",
            AccountEvent::EmailVerified { .. } => "EmailVerified",
            AccountEvent::PasswordResetRequested { .. } => "PasswordResetRequested",
            AccountEvent::PasswordReset { .. } => "PasswordReset",
            AccountEvent::PasswordChanged { .. } => "PasswordChanged",
            AccountEvent::ProfileUpdated { .. } => "ProfileUpdated",
            AccountEvent::AddressAdded { .. } => "AddressAdded",
            AccountEvent::AddressUpdated { .. } => "AddressUpdated",
            AccountEvent::AddressRemoved { .. } => "AddressRemoved",
            AccountEvent::DefaultAddressSet { .. } => "DefaultAddressSet",
            AccountEvent::RoleGranted { .. } => "RoleGranted",
            AccountEvent::RoleRevoked { .. } => "RoleRevoked",
            AccountEvent::GroupsSet { .. } => "GroupsSet",
            AccountEvent::IdentityLinked { .. } => "IdentityLinked",
            AccountEvent::AccountClosed { .. } => "AccountClosed",
            AccountEvent::AccountVendorBound { .. } => "AccountVendorBound",
            AccountEvent::AccountVendorUnbound { .. } => "AccountVendorUnbound",
        }
    }
}

/// Where an account is in its life.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Nothing registered yet: the stream is empty.
    #[default]
    New,
    Active,
    Closed,
}

impl AccountStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            AccountStatus::New => "new",
            AccountStatus::Active => "active",
            AccountStatus::Closed => "closed",
        }
    }
}

/// Why a session (a refresh-token family) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// The user signed out.
    Logout,
    /// The password was reset (or the account closed): every session ends.
    PasswordReset,
    /// The back office ended it.
    Admin,
    /// A rotated refresh token was presented again: someone else may hold the family.
    ReuseDetected,
}

impl RevokeReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::PasswordReset => "password_reset",
            RevokeReason::Admin => "admin",
            RevokeReason::ReuseDetected => "reuse_detected",
        }
    }
}

/// Commands on one session (stream id: the refresh-token family id, a UUID). Only the platform
/// sends them; see [`SessionCommand::NAMES`].
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SessionCommand {
    /// Opens the family with its first refresh token (after a successful sign-in).
    Start {
        account_id: AccountId,
        token_id: TokenId,
        token_sha256: String,
        expires_at: DateTime<Utc>,
        #[serde(default)]
        user_agent: Option<String>,
        now: DateTime<Utc>,
    },
    /// Exchanges the presented refresh token for a new one. Presenting an already rotated
    /// token revokes the family instead (the command still succeeds, with those events); see
    /// [`Session::check_rotation`](crate::Session::check_rotation).
    Rotate {
        presented_sha256: String,
        new_token_id: TokenId,
        new_token_sha256: String,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    Revoke {
        reason: RevokeReason,
        now: DateTime<Utc>,
    },
}

/// Facts about a session. A published contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionEvent {
    SessionStarted {
        account_id: AccountId,
        token_id: TokenId,
        token_sha256: String,
        expires_at: DateTime<Utc>,
        user_agent: Option<String>,
        at: DateTime<Utc>,
    },
    /// The current token was exchanged: `to_token_id` (with `token_sha256`) is now current.
    TokenRotated {
        from_token_id: TokenId,
        to_token_id: TokenId,
        token_sha256: String,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// `token_id`, already rotated, was presented again. A `SessionRevoked` follows.
    ReuseDetected {
        token_id: TokenId,
        at: DateTime<Utc>,
    },
    SessionRevoked {
        reason: RevokeReason,
        at: DateTime<Utc>,
    },
}

impl SessionEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            SessionEvent::SessionStarted { .. } => "SessionStarted",
            SessionEvent::TokenRotated { .. } => "TokenRotated",
            SessionEvent::ReuseDetected { .. } => "ReuseDetected",
            SessionEvent::SessionRevoked { .. } => "SessionRevoked",
        }
    }
}

/// Where a session is in its life.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Not started: the stream is empty.
    #[default]
    New,
    Active,
    Revoked,
}

impl SessionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionStatus::New => "new",
            SessionStatus::Active => "active",
            SessionStatus::Revoked => "revoked",
        }
    }
}

#[cfg(test)]
mod tests;
