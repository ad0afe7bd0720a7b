//! OAuth 2.0 authorization code flow with PKCE (RFC 7636) and OpenID Connect id-token checks,
//! for "sign in with <provider>". Fetching the provider's JWKS and exchanging the code are the
//! caller's IO; everything here is pure apart from randomness.

use agora_kernel::{DomainError, ErrorKind};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use crate::secrets::{constant_time_eq, new_opaque_token};
use crate::token::{reason_of, InvalidReason, RawHeader, TokenError};

/// The only code challenge method we send: `plain` would hand the verifier to anyone who sees
/// the authorization request.
pub const PKCE_METHOD: &str = "S256";
/// Shortest and longest code verifier (RFC 7636 §4.1).
pub const PKCE_VERIFIER_MIN_CHARS: usize = 43;
pub const PKCE_VERIFIER_MAX_CHARS: usize = 128;
/// Clock skew tolerated against the provider's clock, which is not ours.
pub const ID_TOKEN_LEEWAY_SECS: i64 = 60;
/// Oldest `iat` accepted: the id token comes from the code exchange we just made, so an older
/// one is a replay.
pub const ID_TOKEN_MAX_AGE_SECS: i64 = 10 * 60;

/// A PKCE code verifier and its S256 challenge. The verifier is a secret until the code
/// exchange: keep it server-side (in the login attempt), send only the challenge.
#[derive(Clone, PartialEq, Eq)]
pub struct PkcePair {
    pub verifier: String,
    pub challenge: String,
}

impl std::fmt::Debug for PkcePair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PkcePair")
            .field("verifier", &"<redacted>")
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Default for PkcePair {
    fn default() -> Self {
        Self::new()
    }
}

impl PkcePair {
    /// A fresh pair: a 43-character verifier of 256 random bits (base64url, all unreserved
    /// characters) and its challenge.
    pub fn new() -> PkcePair {
        let verifier = new_opaque_token();
        let challenge = s256_challenge(&verifier);
        PkcePair {
            verifier,
            challenge,
        }
    }

    /// The pair for a given verifier, which must be 43–128 unreserved characters.
    pub fn from_verifier(verifier: impl Into<String>) -> Result<PkcePair, PkceError> {
        let verifier = verifier.into();
        if !is_valid_verifier(&verifier) {
            return Err(PkceError::InvalidVerifier);
        }
        let challenge = s256_challenge(&verifier);
        Ok(PkcePair {
            verifier,
            challenge,
        })
    }
}

/// A malformed PKCE verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("the PKCE code verifier must be 43 to 128 unreserved characters")]
    InvalidVerifier,
}

impl DomainError for PkceError {
    fn code(&self) -> &'static str {
        "auth.invalid_pkce_verifier"
    }
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

/// Whether `verifier` is 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (PKCE_VERIFIER_MIN_CHARS..=PKCE_VERIFIER_MAX_CHARS).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(ASCII(verifier)))` without padding (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The server side of PKCE (for a provider we run, such as the test one): whether `verifier`
/// is well formed and hashes to `challenge`, compared in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    is_valid_verifier(verifier)
        && constant_time_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

/// A fresh OAuth `state` (256 random bits): binds the provider's redirect to the login attempt
/// that started it, against login CSRF. Compare it with [`constant_time_eq`].
pub fn new_state() -> String {
    new_opaque_token()
}

/// A fresh OIDC `nonce` (256 random bits): binds the id token to the login attempt, against
/// replayed id tokens.
pub fn new_nonce() -> String {
    new_opaque_token()
}

/// What we take from a verified id token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdTokenClaims {
    /// The provider's stable id of the user (link accounts by issuer + sub, never by email).
    pub sub: String,
    pub email: Option<String>,
    /// Whether the provider vouches for the email; an unverified email must not link accounts.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// The id token's claims as sent.
#[derive(Deserialize)]
struct RawIdClaims {
    sub: String,
    exp: i64,
    iat: Option<i64>,
    nbf: Option<i64>,
    /// A string or a list; jsonwebtoken has already checked that it names us.
    aud: serde_json::Value,
    azp: Option<String>,
    nonce: Option<String>,
    email: Option<String>,
    #[serde(default, deserialize_with = "bool_or_string")]
    email_verified: bool,
    name: Option<String>,
}

/// Some providers send `email_verified` as the string `"true"`.
fn bool_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrString {
        Bool(bool),
        String(String),
    }
    Ok(match Option::<BoolOrString>::deserialize(deserializer)? {
        Some(BoolOrString::Bool(b)) => b,
        Some(BoolOrString::String(s)) => s.eq_ignore_ascii_case("true"),
        None => false,
    })
}

/// The JWKS document, with keys kept raw so that one key we cannot parse (a new key type)
/// does not make the others unusable.
#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// Verifies an OpenID Connect id token against the provider's JWKS (`jwks_json`, as fetched
/// from its `jwks_uri`): the header must say RS256 or ES256 with a `kid` found in the JWKS on a
/// key of the matching type; the signature must verify; `iss` must be `issuer`; `aud` must
/// contain `audience` (our client id, also required in `azp` when several audiences are
/// listed); `exp`, `nbf` and `iat` must hold at `now` (Unix seconds) within
/// [`ID_TOKEN_LEEWAY_SECS`], `iat` no older than [`ID_TOKEN_MAX_AGE_SECS`]; and `nonce` must
/// equal `expected_nonce`. `none` and every HMAC algorithm are refused: with HS256 an attacker
/// could sign with the provider's public key as the secret.
pub fn verify_id_token(
    id_token: &str,
    jwks_json: &str,
    issuer: &str,
    audience: &str,
    expected_nonce: &str,
    now: i64,
) -> Result<IdTokenClaims, TokenError> {
    let invalid = TokenError::Invalid;
    let header = RawHeader::parse(id_token)?;
    let algorithm = match header.alg.as_str() {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        _ => return Err(invalid(InvalidReason::Algorithm)),
    };
    let kid = header
        .kid
        .as_deref()
        .ok_or(invalid(InvalidReason::UnknownKey))?;
    let jwk = find_key(jwks_json, kid, algorithm)?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid(InvalidReason::Key))?;

    let mut validation = Validation::new(algorithm);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<RawIdClaims>(id_token, &key, &validation)
        .map_err(|e| invalid(reason_of(&e)))?
        .claims;

    if now >= claims.exp.saturating_add(ID_TOKEN_LEEWAY_SECS) {
        return Err(TokenError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now.saturating_add(ID_TOKEN_LEEWAY_SECS))
    {
        return Err(invalid(InvalidReason::NotYetValid));
    }
    let iat = claims.iat.ok_or(invalid(InvalidReason::MissingClaim))?;
    if iat > now.saturating_add(ID_TOKEN_LEEWAY_SECS)
        || iat < now.saturating_sub(ID_TOKEN_MAX_AGE_SECS)
    {
        return Err(invalid(InvalidReason::IssuedAt));
    }
    let several_audiences = claims.aud.as_array().is_some_and(|list| list.len() > 1);
    match claims.azp.as_deref() {
        Some(azp) if azp != audience => return Err(invalid(InvalidReason::Audience)),
        None if several_audiences => return Err(invalid(InvalidReason::Audience)),
        _ => {}
    }
    let nonce_ok = !expected_nonce.is_empty()
        && claims
            .nonce
            .as_deref()
            .is_some_and(|n| constant_time_eq(n.as_bytes(), expected_nonce.as_bytes()));
    if !nonce_ok {
        return Err(invalid(InvalidReason::Nonce));
    }
    Ok(IdTokenClaims {
        sub: claims.sub,
        email: claims.email,
        email_verified: claims.email_verified,
        name: claims.name,
    })
}

/// The JWKS key with `kid` that can verify `algorithm`: RSA for RS256, P-256 for ES256, not
/// marked for encryption, and not declared for another algorithm.
fn find_key(jwks_json: &str, kid: &str, algorithm: Algorithm) -> Result<Jwk, TokenError> {
    let jwks: RawJwks =
        serde_json::from_str(jwks_json).map_err(|_| TokenError::Invalid(InvalidReason::Key))?;
    let mut kid_found = false;
    for raw in jwks.keys {
        if raw.get("kid").and_then(|k| k.as_str()) != Some(kid) {
            continue;
        }
        kid_found = true;
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        let declared = jwk.common.key_algorithm;
        let type_fits = match (&jwk.algorithm, algorithm) {
            (AlgorithmParameters::RSA(_), Algorithm::RS256) => {
                declared.is_none() || declared == Some(KeyAlgorithm::RS256)
            }
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
                ec.curve == EllipticCurve::P256
                    && (declared.is_none() || declared == Some(KeyAlgorithm::ES256))
            }
            _ => false,
        };
        let use_fits = matches!(
            jwk.common.public_key_use,
            None | Some(PublicKeyUse::Signature)
        );
        if type_fits && use_fits {
            return Ok(jwk);
        }
    }
    Err(TokenError::Invalid(if kid_found {
        InvalidReason::Key
    } else {
        InvalidReason::UnknownKey
    }))
}

#[cfg(test)]
#[path = "pkce_tests.rs"]
mod tests;
