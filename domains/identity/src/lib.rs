//! Identity: accounts (email, profile, saved addresses, roles, linked sign-in providers) and
//! sessions (refresh-token families with rotation and reuse detection).
//!
//! Two aggregates, both pure: `decide` does no IO and reads no clock, makes no random numbers
//! and computes no hash. The identity service (built on top) generates tokens, mails them,
//! hashes passwords with argon2id and tokens with SHA-256, and passes times, ids and token
//! hashes in commands; passwords and tokens never reach this crate.
//!
//! - [`Account`] (stream type `account`, id the account's UUID, which is the
//!   [`CustomerId`](agora_kernel::CustomerId) of a customer), served as NATS service
//!   `account` with one endpoint per command (`agora.account.bind_vendor`, ...; see
//!   [`AccountCommand::NAMES`](agora_kernel::Command::NAMES)). The service keeps the email
//!   uniqueness table and the credentials table beside it; it stores a new password hash only
//!   once `PasswordReset` / `PasswordChanged` is committed, and revokes every session on an
//!   event with `revoke_sessions`.
//! - [`Session`] (stream type `session`, id the refresh-token family's UUID): one sign-in on
//!   one device. [`Session::check_rotation`] tells the service what a presented refresh token
//!   amounts to; `Rotate` records the same decision.
//!
//! Invariants (enforced by the `decide`s):
//! - existence is never revealed: a principal that may not read an account or session gets
//!   `identity.not_found` whatever it sends; a closed account exists only for the back office;
//! - only the platform registers accounts, sends session commands and binds an account to a
//!   marketplace vendor or unbinds it; only admins (and the platform) grant or revoke roles,
//!   and an admin cannot revoke their own admin role; the owner edits their profile and
//!   addresses, changes their password and closes the account; staff and auditors only read;
//! - an account is bound to at most one vendor (`BindVendor` / `UnbindVendor`, sent by the
//!   vendor workflow; the identity service puts the vendor and the `vendor` role in access
//!   tokens exactly while it is bound): binding it to its vendor again or unbinding a vendor
//!   it is not bound to records nothing, binding it while it is bound to another is
//!   `identity.vendor_taken` (409), so a late removal never ends a newer binding;
//! - verification and reset tokens work once, expire, and only the newest of each kind counts;
//!   a refresh token is exchanged at most once, and presenting an exchanged one revokes its
//!   whole family, after which no token of it works;
//! - token hashes are compared in constant time and appear in events and state only, never in
//!   a view;
//! - an account has at most [`MAX_ADDRESSES`] addresses, and exactly one default whenever it
//!   has any; emails are recorded normalized ([`normalize_email`]).

mod account;
mod contract;
mod cqrs;
mod error;
mod session;
mod validate;

pub use account::{Account, AccountView, AddressView, LinkedIdentity};
pub use agora_kernel::CqrsEnvelope;
pub use contract::*;
pub use error::IdentityError;
pub use session::{RotationVerdict, Session, SessionView, MAX_REMEMBERED_TOKENS};
pub use validate::{
    normalize_email, MAX_ADDRESSES, MAX_ADDRESS_FIELD_CHARS, MAX_DISPLAY_NAME_CHARS,
    MAX_EMAIL_CHARS, MAX_GROUPS, MAX_LINKED_IDENTITIES, MAX_PHONE_CHARS, MAX_PROVIDER_CHARS,
    MAX_SUBJECT_CHARS, MAX_USER_AGENT_CHARS, MAX_VENDOR_ID_CHARS, MIN_EMAIL_CHARS,
    TOKEN_SHA256_HEX_CHARS,
};

agora_kernel::contract!(Account {
    service: "account",
    description: "Accounts: profile, addresses, roles, linked identities",
    command: AccountCommand,
    view: AccountView,
});

agora_kernel::contract!(Session {
    service: "session",
    description: "Sessions: refresh-token families",
    command: SessionCommand,
    view: SessionView,
});

#[cfg(test)]
mod tests {
    /// A domain crate does no IO: its dependencies are the kernel, serialization, errors,
    /// cqrs-es and value types, nothing that opens a socket or a file (nor a hash or a random
    /// number generator: the service computes those).
    #[test]
    fn the_crate_depends_on_no_io_crate() {
        let allowed = [
            "strum",
            "agora-kernel",
            "serde",
            "serde_json",
            "thiserror",
            "cqrs-es",
            "chrono",
            "uuid",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }
}
