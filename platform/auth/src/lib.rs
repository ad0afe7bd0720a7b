//! Credentials for Agora's edge: password hashing and policy, HS256 access tokens with
//! rotating keys and role checks, opaque secrets (refresh, verification and reset tokens), and
//! the OAuth 2.0 PKCE / OpenID Connect helpers for "sign in with a provider".
//!
//! The crate is pure apart from randomness: no network, no clock (every check takes `now` in
//! Unix seconds), no storage. The accounts domain stores what it returns; the edge calls
//! [`TokenKeys::verify`] and [`AccessClaims::principal`] on every request. Access tokens carry
//! `sub` (the account), `roles`, an optional `vendor` (the marketplace vendor the account is
//! bound to), `sid` (the session) and the registered claims.
//!
//! # Invariants
//! - **No plaintext secret is stored or logged.** Passwords are kept only as argon2id PHC
//!   strings; opaque tokens only as [`token_sha256`]; `Debug` of keys and PKCE verifiers is
//!   redacted. Error messages never echo the input.
//! - **Passwords use argon2id at or above OWASP's minimums** (default m = 19 MiB, t = 2, p = 1);
//!   [`PasswordHasher::new`] refuses weaker parameters, [`PasswordHasher::needs_rehash`] flags
//!   stored hashes below the current ones, and [`PasswordHasher::verify_dummy`] makes logins of
//!   unknown emails cost as much as real ones.
//! - **Token algorithms are pinned.** Access tokens are HS256 only, with a known `kid`; id
//!   tokens are RS256 or ES256 only, with a key of the matching type from the provider's JWKS.
//!   `alg: none`, algorithm substitution and `crit` headers are refused before any key is used.
//! - **Comparisons of secrets are timing-safe**: argon2 compares in constant time, and
//!   [`constant_time_eq`] serves hashes, `state` and `nonce`.
//! - **A vendor's user acts for one vendor, named in its token.** The highest back-office role
//!   decides the principal (admin > staff > auditor > vendor); `vendor` gives
//!   `Principal::Vendor { id: sub, vendor }` only with the signed `vendor` claim (which the
//!   identity service sets exactly while the account is bound to that vendor), and without
//!   it no back-office principal at all (a customer, if the token has that role).
//! - **Error codes are stable** (`auth.invalid_token`, `auth.token_expired`,
//!   `auth.password_too_short`, ...) and come with a kernel [`ErrorKind`](agora_kernel::ErrorKind);
//!   why a token failed ([`InvalidReason`]) is for logs, never for the reply.

pub mod password;
pub mod pkce;
pub mod secrets;
pub mod token;

pub use password::{
    check_password_policy, Argon2Params, HashError, PasswordHasher, PolicyError,
    MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
};
pub use pkce::{
    new_nonce, new_state, pkce_matches, s256_challenge, verify_id_token, IdTokenClaims, PkceError,
    PkcePair,
};
pub use secrets::{constant_time_eq, new_opaque_token, token_sha256};
pub use token::{
    has_any_role, AccessClaims, HmacKey, InvalidReason, KeyError, Role, TokenError, TokenKeys,
    ACCESS_TOKEN_TTL_SECS, CLOCK_LEEWAY_SECS,
};
