//! JWT access tokens: HS256 only, keys named by `kid` so they can rotate, claims validated
//! against an explicit `now`, and the mapping from roles (and, for a vendor's user, the
//! `vendor` claim) to a kernel [`Principal`].

use std::collections::HashMap;
use std::str::FromStr;

use agora_kernel::{CustomerId, DomainError, ErrorKind, Principal};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Lifetime of an access token. Short, because an access token cannot be revoked before it
/// expires; the refresh token (opaque, stored hashed, revocable) renews it.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
/// Clock skew tolerated on `exp`, `nbf` and `iat` between our own processes.
pub const CLOCK_LEEWAY_SECS: i64 = 5;
/// Shortest HMAC secret accepted: 256 bits, the output size of SHA-256 (RFC 7518 §3.2).
pub const MIN_HMAC_KEY_BYTES: usize = 32;
/// Longest token we parse at all; ours are a few hundred bytes, and this bounds the work a
/// garbage `Authorization` header can cause.
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest `kid` accepted in our configuration.
const MAX_KID_CHARS: usize = 64;

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The account id (a UUID for customers; staff ids come from the same account table).
    pub sub: String,
    /// Role names (`customer`, `vendor`, `staff`, `admin`, `auditor`); unknown names are ignored.
    pub roles: Vec<String>,
    /// The marketplace vendor the account is a user of (its binding, made by the platform).
    /// The `vendor` role means nothing without it: see [`AccessClaims::principal`]. Absent
    /// from tokens of accounts bound to no vendor, and from tokens issued before vendors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: i64,
    /// Not valid before, seconds since the Unix epoch.
    pub nbf: i64,
    pub iss: String,
    pub aud: String,
    /// This token's unique id (for logs and, if ever needed, a deny list).
    pub jti: String,
    /// The session (refresh-token family) this token was issued for; revoking the family stops
    /// its refreshes, and the edge may check this id against revoked sessions.
    pub sid: String,
}

/// The roles of the platform. Back-office roles rank admin > staff > auditor > vendor when a
/// token carries several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Customer,
    Vendor,
    Auditor,
    Staff,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Customer,
        Role::Vendor,
        Role::Auditor,
        Role::Staff,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Vendor => "vendor",
            Role::Auditor => "auditor",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    /// Whether the role acts in the back office: as [`Principal::Staff`], or for `vendor` as
    /// [`Principal::Vendor`] when the token names the vendor.
    pub fn is_back_office(self) -> bool {
        !matches!(self, Role::Customer)
    }

    /// The role named `name`, if it is one of ours (exact, lower case).
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the claims carry at least one of `roles` (by exact name).
pub fn has_any_role(claims: &AccessClaims, roles: &[&str]) -> bool {
    claims.roles.iter().any(|r| roles.contains(&r.as_str()))
}

impl AccessClaims {
    /// These claims acting for `vendor` (or for none): the identity service issues a vendor's
    /// user's token with it.
    pub fn with_vendor(self, vendor: Option<String>) -> AccessClaims {
        AccessClaims { vendor, ..self }
    }

    /// The `vendor` claim, if it names one (an empty one names none).
    pub fn vendor(&self) -> Option<&str> {
        self.vendor.as_deref().filter(|v| !v.is_empty())
    }

    /// The kernel principal these claims stand for. The highest back-office role (admin >
    /// staff > auditor > vendor) decides: `admin`, `staff` and `auditor` give
    /// [`Principal::Staff`] with that role; `vendor` gives [`Principal::Vendor`] for the
    /// `vendor` claim, and nothing without one (a vendor's user acts for its vendor only, so a
    /// `vendor` role alone names no one to act for). Otherwise the `customer` role gives
    /// [`Principal::Customer`], whose `sub` must be a UUID; with neither, [`TokenError::NoRole`].
    pub fn principal(&self) -> Result<Principal, TokenError> {
        let back_office = self
            .roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .filter(|r| r.is_back_office())
            .max();
        match (back_office, self.vendor()) {
            (Some(Role::Vendor), Some(vendor)) => {
                return Ok(Principal::Vendor {
                    id: self.sub.clone(),
                    vendor: vendor.to_string(),
                });
            }
            // A vendor's role without its vendor: a customer at most.
            (Some(Role::Vendor), None) | (None, _) => {}
            (Some(role), _) => {
                return Ok(Principal::Staff {
                    id: self.sub.clone(),
                    role: role.as_str().to_string(),
                });
            }
        }
        if self.roles.iter().any(|r| r == Role::Customer.as_str()) {
            let id = CustomerId::from_str(&self.sub)
                .map_err(|_| TokenError::Invalid(InvalidReason::Subject))?;
            return Ok(Principal::Customer { id });
        }
        Err(TokenError::NoRole)
    }
}

impl TryFrom<&AccessClaims> for Principal {
    type Error = TokenError;
    fn try_from(claims: &AccessClaims) -> Result<Self, Self::Error> {
        claims.principal()
    }
}

/// Why a token was refused, for logs and tests. Never sent to the client: the reply only says
/// `auth.invalid_token`, so a prober learns nothing about which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidReason {
    /// Not three base64url parts of JSON, too long, or claims of the wrong shape.
    Malformed,
    /// The header names an algorithm we do not accept here (`none`, `HS512`, `RS256`, ...).
    Algorithm,
    /// The header carries `crit` extensions, which we do not implement (RFC 7515 §4.1.11).
    CriticalHeader,
    /// No `kid`, or a `kid` we do not know.
    UnknownKey,
    /// The key set (JWKS) could not be read, or the key does not fit the algorithm.
    Key,
    /// The signature does not verify.
    Signature,
    Issuer,
    Audience,
    /// A required claim is missing.
    MissingClaim,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future, or (for id tokens) too far in the past.
    IssuedAt,
    /// The id token's `nonce` is missing or is not the one we sent.
    Nonce,
    /// The subject is not a valid account id for its role.
    Subject,
}

/// A refused token. Both codes are `Unauthenticated` (401); the reason stays in logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is invalid")]
    Invalid(InvalidReason),
    #[error("the token has expired")]
    Expired,
    /// A valid token whose roles give no principal: no customer or back-office role, or a
    /// `vendor` role without the vendor claim and no customer role.
    #[error("the token carries no usable role")]
    NoRole,
}

impl TokenError {
    /// The detailed reason, for logs (`None` for expiry and missing roles).
    pub fn reason(&self) -> Option<InvalidReason> {
        match self {
            TokenError::Invalid(reason) => Some(*reason),
            TokenError::Expired | TokenError::NoRole => None,
        }
    }
}

impl DomainError for TokenError {
    fn code(&self) -> &'static str {
        match self {
            TokenError::Invalid(_) => "auth.invalid_token",
            TokenError::Expired => "auth.token_expired",
            TokenError::NoRole => "auth.no_role",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            TokenError::Invalid(_) | TokenError::Expired => ErrorKind::Unauthenticated,
            TokenError::NoRole => ErrorKind::Forbidden,
        }
    }
}

/// A refused key configuration (a startup error, never a request error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an HMAC secret has fewer than {MIN_HMAC_KEY_BYTES} bytes")]
    WeakKey,
    #[error("a key id is empty, longer than {MAX_KID_CHARS} characters or not printable ASCII")]
    InvalidKid,
    #[error("two keys share one key id")]
    DuplicateKid,
}

impl DomainError for KeyError {
    fn code(&self) -> &'static str {
        match self {
            KeyError::WeakKey => "auth.weak_key",
            KeyError::InvalidKid => "auth.invalid_kid",
            KeyError::DuplicateKid => "auth.duplicate_kid",
        }
    }
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

/// One HS256 secret with its key id. The secret is never printed.
#[derive(Clone)]
pub struct HmacKey {
    kid: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacKey")
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl HmacKey {
    /// A key from configuration; the secret needs at least [`MIN_HMAC_KEY_BYTES`] bytes.
    pub fn new(kid: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<HmacKey, KeyError> {
        let kid = kid.into();
        let secret = secret.into();
        if kid.is_empty()
            || kid.chars().count() > MAX_KID_CHARS
            || !kid.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(KeyError::InvalidKid);
        }
        if secret.len() < MIN_HMAC_KEY_BYTES {
            return Err(KeyError::WeakKey);
        }
        Ok(HmacKey { kid, secret })
    }

    /// A fresh random 256-bit key (development, tests, or a first key to put in a secret store).
    pub fn generate(kid: impl Into<String>) -> Result<HmacKey, KeyError> {
        use rand::RngCore;
        let mut secret = vec![0u8; MIN_HMAC_KEY_BYTES];
        rand::rng().fill_bytes(&mut secret);
        HmacKey::new(kid, secret)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// Issues and verifies access tokens. One key signs; older keys only verify, so tokens signed
/// before a rotation stay valid until they expire (at most [`ACCESS_TOKEN_TTL_SECS`]).
pub struct TokenKeys {
    /// Expected `iss` of every token, and the one new claims get.
    issuer: String,
    /// Expected `aud` of every token, and the one new claims get.
    audience: String,
    /// The `kid` written into new tokens' headers.
    signing_kid: String,
    /// The current key, for signing.
    encoding: EncodingKey,
    /// Every key that may verify (current and previous), by `kid`.
    decoding: HashMap<String, DecodingKey>,
    /// Built once: HS256 only, iss and aud pinned, times checked by us against `now`.
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.decoding.keys().collect();
        kids.sort();
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("signing_kid", &self.signing_kid)
            .field("verifying_kids", &kids)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys for tokens of `issuer` meant for `audience`: `current` signs and verifies,
    /// `previous` only verify. Key ids must be distinct.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        current: HmacKey,
        previous: Vec<HmacKey>,
    ) -> Result<TokenKeys, KeyError> {
        let issuer = issuer.into();
        let audience = audience.into();
        let mut decoding = HashMap::new();
        for key in std::iter::once(&current).chain(previous.iter()) {
            if decoding
                .insert(key.kid.clone(), DecodingKey::from_secret(&key.secret))
                .is_some()
            {
                return Err(KeyError::DuplicateKid);
            }
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        // Times are checked in `verify` against the caller's `now`, so tests and replays control
        // the clock, and the leeway is ours (jsonwebtoken's default is 60 s).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        Ok(TokenKeys {
            issuer,
            audience,
            signing_kid: current.kid.clone(),
            encoding: EncodingKey::from_secret(&current.secret),
            decoding,
            validation,
        })
    }

    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Claims for a new access token for account `sub` in session `sid`, issued at `now`
    /// (Unix seconds) and valid for [`ACCESS_TOKEN_TTL_SECS`], with a fresh `jti` and no
    /// vendor (see [`AccessClaims::with_vendor`]).
    pub fn new_claims(
        &self,
        sub: impl Into<String>,
        roles: Vec<String>,
        sid: impl Into<String>,
        now: i64,
    ) -> AccessClaims {
        AccessClaims {
            sub: sub.into(),
            roles,
            vendor: None,
            exp: now + ACCESS_TOKEN_TTL_SECS,
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            sid: sid.into(),
        }
    }

    /// Signs `claims` with the current key (HS256, header `kid` = the current key id).
    pub fn issue(&self, claims: &AccessClaims) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        // Cannot fail: the claims serialize to plain JSON, and an HMAC key of any length signs.
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// Verifies a token at time `now` (Unix seconds): the header must say HS256 with a known
    /// `kid`, the signature must match that key, `iss` and `aud` must be ours, and `nbf`, `iat`
    /// and `exp` must hold within [`CLOCK_LEEWAY_SECS`].
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let header = RawHeader::parse(token)?;
        // Pin the algorithm before anything else looks at the token: `none`, HS384/512 and every
        // asymmetric algorithm are refused, whatever key the attacker hoped we would pick.
        if header.alg != "HS256" {
            return Err(TokenError::Invalid(InvalidReason::Algorithm));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(TokenError::Invalid(InvalidReason::UnknownKey))?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map_err(|e| TokenError::Invalid(reason_of(&e)))?
            .claims;
        if now >= claims.exp.saturating_add(CLOCK_LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now.saturating_add(CLOCK_LEEWAY_SECS) {
            return Err(TokenError::Invalid(InvalidReason::NotYetValid));
        }
        if claims.iat > now.saturating_add(CLOCK_LEEWAY_SECS) {
            return Err(TokenError::Invalid(InvalidReason::IssuedAt));
        }
        Ok(claims)
    }
}

/// The JOSE header as sent, read before jsonwebtoken parses it: jsonwebtoken cannot represent
/// `alg: none` (it fails to parse), and we want to refuse by algorithm, explicitly.
#[derive(Deserialize)]
pub(crate) struct RawHeader {
    pub alg: String,
    pub kid: Option<String>,
    crit: Option<serde_json::Value>,
}

impl RawHeader {
    pub(crate) fn parse(token: &str) -> Result<RawHeader, TokenError> {
        let malformed = TokenError::Invalid(InvalidReason::Malformed);
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return Err(malformed);
        }
        let encoded = token.split('.').next().ok_or(malformed)?;
        let json = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| malformed)?;
        let header: RawHeader = serde_json::from_slice(&json).map_err(|_| malformed)?;
        if header.crit.is_some() {
            return Err(TokenError::Invalid(InvalidReason::CriticalHeader));
        }
        Ok(header)
    }
}

/// Maps jsonwebtoken's error to our reason.
pub(crate) fn reason_of(error: &jsonwebtoken::errors::Error) -> InvalidReason {
    use jsonwebtoken::errors::ErrorKind as K;
    match error.kind() {
        K::InvalidSignature => InvalidReason::Signature,
        K::InvalidIssuer => InvalidReason::Issuer,
        K::InvalidAudience => InvalidReason::Audience,
        K::MissingRequiredClaim(_) => InvalidReason::MissingClaim,
        K::InvalidAlgorithm | K::MissingAlgorithm | K::InvalidAlgorithmName => {
            InvalidReason::Algorithm
        }
        K::InvalidEcdsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => InvalidReason::Key,
        _ => InvalidReason::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const SECRET_V1: &[u8] = b"0123456789abcdef0123456789abcdef-v1";
    const SECRET_V2: &[u8] = b"0123456789abcdef0123456789abcdef-v2";
    const CUSTOMER: &str = "6a1f4f0e-8a4b-4c1e-9a51-0d6f3f4e2b10";

    fn keys() -> TokenKeys {
        let current = HmacKey::new("k1", SECRET_V1).expect("key");
        TokenKeys::new("https://agora.test", "agora-api", current, vec![]).expect("keys")
    }

    fn claims(keys: &TokenKeys, roles: &[&str]) -> AccessClaims {
        keys.new_claims(
            CUSTOMER,
            roles.iter().map(|r| r.to_string()).collect(),
            "session-1",
            NOW,
        )
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn invalid(reason: InvalidReason) -> Result<AccessClaims, TokenError> {
        Err(TokenError::Invalid(reason))
    }

    #[test]
    fn an_issued_token_verifies_to_the_same_claims() {
        let keys = keys();
        let claims = claims(&keys, &["customer"]);
        let token = keys.issue(&claims);
        assert_eq!(keys.verify(&token, NOW + 1), Ok(claims.clone()));
        assert_eq!(claims.exp - claims.iat, ACCESS_TOKEN_TTL_SECS);
        assert_eq!(ACCESS_TOKEN_TTL_SECS, 900);
    }

    #[test]
    fn an_expired_token_is_refused_after_five_seconds_of_leeway() {
        let keys = keys();
        let claims = claims(&keys, &["customer"]);
        let token = keys.issue(&claims);
        assert!(keys.verify(&token, claims.exp + 4).is_ok());
        assert_eq!(
            keys.verify(&token, claims.exp + 5),
            Err(TokenError::Expired)
        );
        assert_eq!(TokenError::Expired.code(), "auth.token_expired");
        assert_eq!(TokenError::Expired.kind(), ErrorKind::Unauthenticated);
    }

    #[test]
    fn a_token_used_before_its_nbf_is_refused() {
        let keys = keys();
        let mut claims = claims(&keys, &["customer"]);
        claims.nbf = NOW + 60;
        let token = keys.issue(&claims);
        assert_eq!(
            keys.verify(&token, NOW),
            invalid(InvalidReason::NotYetValid)
        );
        assert!(keys.verify(&token, NOW + 60).is_ok());
        let error = TokenError::Invalid(InvalidReason::NotYetValid);
        assert_eq!(error.code(), "auth.invalid_token");
        assert_eq!(error.kind(), ErrorKind::Unauthenticated);
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let keys = keys();
        let mut claims = claims(&keys, &["customer"]);
        claims.iat = NOW + 600;
        let token = keys.issue(&claims);
        assert_eq!(keys.verify(&token, NOW), invalid(InvalidReason::IssuedAt));
    }

    #[test]
    fn a_token_for_another_issuer_or_audience_is_refused() {
        let keys = keys();
        let mut other_iss = claims(&keys, &["customer"]);
        other_iss.iss = "https://evil.test".into();
        assert_eq!(
            keys.verify(&keys.issue(&other_iss), NOW),
            invalid(InvalidReason::Issuer)
        );
        let mut other_aud = claims(&keys, &["customer"]);
        other_aud.aud = "another-api".into();
        assert_eq!(
            keys.verify(&keys.issue(&other_aud), NOW),
            invalid(InvalidReason::Audience)
        );
    }

    #[test]
    fn a_token_with_a_tampered_payload_is_refused() {
        let keys = keys();
        let token = keys.issue(&claims(&keys, &["customer"]));
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims(&keys, &["admin"]);
        forged.sub = "someone-else".into();
        let payload = b64(&serde_json::to_string(&forged).expect("json"));
        let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(
            keys.verify(&tampered, NOW),
            invalid(InvalidReason::Signature)
        );
    }

    #[test]
    fn a_token_with_a_tampered_signature_is_refused() {
        let keys = keys();
        let token = keys.issue(&claims(&keys, &["customer"]));
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        // Change the first character: the last one may only carry padding bits.
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{signed}.{first}{}", &signature[1..]);
        assert_eq!(
            keys.verify(&tampered, NOW),
            invalid(InvalidReason::Signature)
        );
        assert_eq!(
            keys.verify(&format!("{signed}."), NOW),
            invalid(InvalidReason::Signature)
        );
    }

    #[test]
    fn a_token_with_an_unknown_or_missing_kid_is_refused() {
        let keys = keys();
        let other = TokenKeys::new(
            "https://agora.test",
            "agora-api",
            HmacKey::new("k9", SECRET_V1).expect("key"),
            vec![],
        )
        .expect("keys");
        let token = other.issue(&claims(&other, &["customer"]));
        assert_eq!(keys.verify(&token, NOW), invalid(InvalidReason::UnknownKey));

        let mut header = Header::new(Algorithm::HS256);
        header.kid = None;
        let no_kid = jsonwebtoken::encode(
            &header,
            &claims(&keys, &["customer"]),
            &EncodingKey::from_secret(SECRET_V1),
        )
        .expect("encode");
        assert_eq!(
            keys.verify(&no_kid, NOW),
            invalid(InvalidReason::UnknownKey)
        );
    }

    #[test]
    fn an_alg_none_token_is_refused() {
        let keys = keys();
        let claims = claims(&keys, &["admin"]);
        let header = b64(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        let payload = b64(&serde_json::to_string(&claims).expect("json"));
        let unsigned = format!("{header}.{payload}.");
        assert_eq!(
            keys.verify(&unsigned, NOW),
            invalid(InvalidReason::Algorithm)
        );
        // Case games do not help either.
        let header = b64(r#"{"alg":"None","typ":"JWT","kid":"k1"}"#);
        assert_eq!(
            keys.verify(&format!("{header}.{payload}."), NOW),
            invalid(InvalidReason::Algorithm)
        );
    }

    #[test]
    fn an_hs512_token_signed_with_the_same_secret_is_refused() {
        let keys = keys();
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some("k1".into());
        let token = jsonwebtoken::encode(
            &header,
            &claims(&keys, &["customer"]),
            &EncodingKey::from_secret(SECRET_V1),
        )
        .expect("encode");
        assert_eq!(keys.verify(&token, NOW), invalid(InvalidReason::Algorithm));
    }

    #[test]
    fn a_token_with_critical_header_extensions_is_refused() {
        let keys = keys();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        header.crit = Some(vec!["exp".into()]);
        let token = jsonwebtoken::encode(
            &header,
            &claims(&keys, &["customer"]),
            &EncodingKey::from_secret(SECRET_V1),
        )
        .expect("encode");
        assert_eq!(
            keys.verify(&token, NOW),
            invalid(InvalidReason::CriticalHeader)
        );
    }

    #[test]
    fn garbage_is_a_malformed_token() {
        let keys = keys();
        for garbage in ["", "abc", "a.b", "a.b.c.d", "!!!.???.***"] {
            assert_eq!(
                keys.verify(garbage, NOW),
                invalid(InvalidReason::Malformed),
                "{garbage:?}"
            );
        }
        let huge = format!("{}.{}.x", "a".repeat(MAX_TOKEN_BYTES), "b");
        assert_eq!(keys.verify(&huge, NOW), invalid(InvalidReason::Malformed));
    }

    #[test]
    fn after_a_rotation_old_tokens_verify_and_new_ones_use_the_new_kid() {
        let old = keys();
        let before = old.issue(&claims(&old, &["customer"]));
        let rotated = TokenKeys::new(
            "https://agora.test",
            "agora-api",
            HmacKey::new("k2", SECRET_V2).expect("key"),
            vec![HmacKey::new("k1", SECRET_V1).expect("key")],
        )
        .expect("keys");
        assert!(rotated.verify(&before, NOW).is_ok());
        let after = rotated.issue(&claims(&rotated, &["customer"]));
        assert_eq!(
            RawHeader::parse(&after).expect("header").kid.as_deref(),
            Some("k2")
        );
        assert_eq!(rotated.signing_kid(), "k2");
        assert!(rotated.verify(&after, NOW).is_ok());
        // Once k1 is retired, its tokens stop verifying; the old keys never knew k2.
        let retired = TokenKeys::new(
            "https://agora.test",
            "agora-api",
            HmacKey::new("k2", SECRET_V2).expect("key"),
            vec![],
        )
        .expect("keys");
        assert_eq!(
            retired.verify(&before, NOW),
            invalid(InvalidReason::UnknownKey)
        );
        assert_eq!(old.verify(&after, NOW), invalid(InvalidReason::UnknownKey));
    }

    #[test]
    fn weak_secrets_and_duplicate_kids_are_refused() {
        assert_eq!(
            HmacKey::new("k1", &b"short secret"[..]).err(),
            Some(KeyError::WeakKey)
        );
        assert_eq!(KeyError::WeakKey.code(), "auth.weak_key");
        assert_eq!(
            HmacKey::new("", SECRET_V1).err(),
            Some(KeyError::InvalidKid)
        );
        let duplicate = TokenKeys::new(
            "i",
            "a",
            HmacKey::new("k1", SECRET_V1).expect("key"),
            vec![HmacKey::new("k1", SECRET_V2).expect("key")],
        );
        assert_eq!(duplicate.err(), Some(KeyError::DuplicateKid));
        let key = HmacKey::generate("fresh").expect("key");
        assert!(!format!("{key:?}").contains(&hex::encode(&key.secret)));
    }

    const VENDOR: &str = "c4a1e2b3-7d5f-4e6a-9b8c-0d1e2f3a4b5c";

    fn vendor_claims(keys: &TokenKeys, roles: &[&str], vendor: Option<&str>) -> AccessClaims {
        claims(keys, roles).with_vendor(vendor.map(str::to_string))
    }

    #[test]
    fn a_vendor_role_with_its_vendor_is_a_vendor_principal() {
        let keys = keys();
        let vendor = Ok(Principal::Vendor {
            id: CUSTOMER.into(),
            vendor: VENDOR.into(),
        });
        assert_eq!(
            vendor_claims(&keys, &["vendor"], Some(VENDOR)).principal(),
            vendor
        );
        assert_eq!(
            vendor_claims(&keys, &["customer", "vendor"], Some(VENDOR)).principal(),
            vendor
        );
    }

    #[test]
    fn a_higher_back_office_role_wins_over_the_vendor() {
        let keys = keys();
        for (roles, role) in [
            (&["vendor", "auditor"][..], "auditor"),
            (&["staff", "vendor", "customer"], "staff"),
            (&["vendor", "admin"], "admin"),
        ] {
            assert_eq!(
                vendor_claims(&keys, roles, Some(VENDOR)).principal(),
                Ok(Principal::Staff {
                    id: CUSTOMER.into(),
                    role: role.into(),
                }),
                "{roles:?}"
            );
        }
    }

    #[test]
    fn a_vendor_role_without_a_vendor_acts_at_most_as_a_customer() {
        let keys = keys();
        for vendor in [None, Some("")] {
            assert_eq!(
                vendor_claims(&keys, &["vendor"], vendor).principal(),
                Err(TokenError::NoRole),
                "{vendor:?}"
            );
            assert_eq!(
                vendor_claims(&keys, &["vendor", "customer"], vendor).principal(),
                Ok(Principal::Customer {
                    id: CUSTOMER.parse().expect("uuid")
                }),
                "{vendor:?}"
            );
        }
        assert_eq!(TokenError::NoRole.code(), "auth.no_role");
        // A vendor claim without the role makes no vendor's user either.
        assert_eq!(
            vendor_claims(&keys, &["customer"], Some(VENDOR)).principal(),
            Ok(Principal::Customer {
                id: CUSTOMER.parse().expect("uuid")
            })
        );
        assert_eq!(
            vendor_claims(&keys, &[], Some(VENDOR)).principal(),
            Err(TokenError::NoRole)
        );
    }

    #[test]
    fn the_vendor_claim_is_signed_and_left_out_when_absent() {
        let keys = keys();
        let bound = vendor_claims(&keys, &["vendor"], Some(VENDOR));
        let token = keys.issue(&bound);
        assert_eq!(keys.verify(&token, NOW), Ok(bound.clone()));
        let json = serde_json::to_value(&bound).expect("json");
        assert_eq!(json["vendor"], VENDOR);
        // Tokens of unbound accounts (and tokens issued before vendors) have no such claim.
        let unbound = claims(&keys, &["customer"]);
        assert_eq!(unbound.vendor, None);
        let json = serde_json::to_value(&unbound).expect("json");
        assert!(json.get("vendor").is_none(), "{json}");
        let token = keys.issue(&unbound);
        assert_eq!(keys.verify(&token, NOW), Ok(unbound));
        // Forging the claim into a signed token breaks the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = json;
        forged["vendor"] = serde_json::json!(VENDOR);
        forged["roles"] = serde_json::json!(["vendor"]);
        let payload = b64(&forged.to_string());
        assert_eq!(
            keys.verify(&format!("{}.{payload}.{}", parts[0], parts[2]), NOW),
            invalid(InvalidReason::Signature)
        );
    }

    #[test]
    fn role_checks_match_exact_role_names() {
        let keys = keys();
        let claims = claims(&keys, &["customer", "vendor"]);
        assert!(has_any_role(&claims, &["vendor", "admin"]));
        assert!(!has_any_role(&claims, &["admin", "staff"]));
        assert!(!has_any_role(&claims, &["Vendor"]));
        assert!(!has_any_role(&claims, &[]));
    }

    #[test]
    fn claims_map_to_the_kernel_principal_by_their_highest_role() {
        let keys = keys();
        let customer = claims(&keys, &["customer"]).principal();
        assert_eq!(
            customer,
            Ok(Principal::Customer {
                id: CUSTOMER.parse().expect("uuid")
            })
        );
        let staff = |roles: &[&str]| match claims(&keys, roles).principal() {
            Ok(Principal::Staff { id, role }) => {
                assert_eq!(id, CUSTOMER);
                role
            }
            other => panic!("{roles:?} gave {other:?}"),
        };
        assert_eq!(staff(&["vendor", "auditor"]), "auditor");
        assert_eq!(staff(&["auditor", "staff", "vendor"]), "staff");
        assert_eq!(staff(&["staff", "admin"]), "admin");
        assert_eq!(staff(&["customer", "admin"]), "admin");

        assert_eq!(claims(&keys, &[]).principal(), Err(TokenError::NoRole));
        assert_eq!(
            claims(&keys, &["superuser"]).principal(),
            Err(TokenError::NoRole)
        );
        let mut bad_sub = claims(&keys, &["customer"]);
        bad_sub.sub = "not-a-uuid".into();
        assert_eq!(
            Principal::try_from(&bad_sub),
            Err(TokenError::Invalid(InvalidReason::Subject))
        );
    }
}
