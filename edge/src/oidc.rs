//! "Sign in with a provider": OAuth 2.0 authorization code flow with PKCE (S256) and OpenID
//! Connect id tokens, against one configured provider.
//!
//! `GET /store/auth/oidc/start` sends the browser to the provider with a fresh `state`, `nonce`
//! and PKCE challenge; the three secrets stay with the browser in a short-lived, HMAC-signed,
//! `HttpOnly` cookie scoped to these two routes, so any edge instance can finish the flow and
//! no table holds half-finished logins. `GET /store/auth/oidc/callback` checks that the
//! provider's `state` is the cookie's (against login CSRF), exchanges the code at the token
//! endpoint with the PKCE verifier, verifies the id token against the provider's JWKS (RS256 or
//! ES256, issuer, audience, expiry, nonce: [`agora_auth::verify_id_token`]), and asks the
//! identity service to sign in the provider's user (`oidc_login`, linking or creating the
//! account), which answers a token pair.

use std::sync::OnceLock;
use std::time::Duration;

use agora_auth::{constant_time_eq, new_nonce, new_state, PkcePair};
use agora_kernel::{DomainError, Principal};
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::accounts::TokenPair;
use crate::error::{ApiErrorBody, Json, Query};
use crate::{service, ApiError, AppState};

/// The configured OpenID provider.
#[derive(Clone)]
pub struct OidcConfig {
    /// The provider's name as recorded with linked identities (`google`, `github`, ...).
    pub provider: String,
    /// Expected `iss` of id tokens.
    pub issuer: String,
    pub authorize_url: String,
    pub token_url: String,
    pub jwks_url: String,
    pub client_id: String,
    /// Sent to the token endpoint when set (`client_secret_post`); public clients rely on PKCE.
    pub client_secret: Option<String>,
    /// Our callback as registered with the provider (`.../store/auth/oidc/callback`).
    pub redirect_uri: String,
    /// Signs the login-attempt cookie; every edge instance needs the same one.
    pub state_key: Vec<u8>,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("provider", &self.provider)
            .field("issuer", &self.issuer)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("jwks_url", &self.jwks_url)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The endpoints an OpenID provider publishes at `<issuer>/.well-known/openid-configuration`.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// Reads the provider's discovery document (at start-up, for the endpoints not configured);
/// its `issuer` must be the one configured (OpenID Connect Discovery §4.3).
pub async fn discover(issuer: &str) -> anyhow::Result<Discovery> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let discovery: Discovery = client()
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    anyhow::ensure!(
        discovery.issuer == issuer,
        "the discovery document at {url} names issuer {:?}, not {issuer:?}",
        discovery.issuer
    );
    Ok(discovery)
}

/// The cookie holding one login attempt.
pub const COOKIE: &str = "agora_oidc";
const COOKIE_PATH: &str = "/store/auth/oidc";
/// How long a login attempt may take at the provider.
pub const ATTEMPT_SECS: i64 = 600;
/// Budget for each call to the provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/store/auth/oidc/start", get(start))
        .route("/store/auth/oidc/callback", get(callback))
}

/// What the cookie carries: the attempt's secrets and its expiry.
#[derive(Serialize, Deserialize)]
struct Attempt {
    state: String,
    nonce: String,
    verifier: String,
    expires_at: i64,
}

fn sign(key: &[u8], payload: &str) -> Result<String, ApiError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(ApiError::internal)?;
    mac.update(payload.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

fn cookie_value(key: &[u8], attempt: &Attempt) -> Result<String, ApiError> {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(attempt).map_err(ApiError::internal)?);
    let signature = sign(key, &payload)?;
    Ok(format!("{payload}.{signature}"))
}

/// The attempt in the request's cookie, if it is signed with `key` and not expired at `now`.
fn read_cookie(key: &[u8], headers: &HeaderMap, now: i64) -> Option<Attempt> {
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)?;
    let (payload, signature) = value.split_once('.')?;
    let expected = sign(key, payload).ok()?;
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return None;
    }
    let attempt: Attempt = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (attempt.expires_at > now).then_some(attempt)
}

fn set_cookie(config: &OidcConfig, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    // `Secure` whenever our callback is HTTPS (a plain-HTTP callback is only for local use);
    // `SameSite=Lax` lets the provider's top-level redirect back carry it.
    let secure = if config.redirect_uri.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .map_err(ApiError::internal)
}

fn configured(state: &AppState) -> Result<&OidcConfig, ApiError> {
    state.config.oidc.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "auth.oidc_not_configured",
            "no OpenID provider is configured",
        )
    })
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

fn provider_error(what: &str, error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%error, "OpenID provider: {what}");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "auth.oidc_provider_error",
        format!("the sign-in provider failed: {what}"),
    )
}

fn state_mismatch() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "auth.oidc_state_mismatch",
        "this sign-in was not started here, or took too long; start again",
    )
}

/// Start signing in with the configured provider: redirects to its authorization page.
#[utoipa::path(get, path = "/store/auth/oidc/start", tag = "auth",
    responses((status = 303, description = "to the provider's authorization page; sets the login-attempt cookie"),
        (status = 404, body = ApiErrorBody, description = "no provider is configured")))]
pub async fn start(State(state): State<AppState>) -> Result<Response, ApiError> {
    let config = configured(&state)?;
    let pkce = PkcePair::new();
    let attempt = Attempt {
        state: new_state(),
        nonce: new_nonce(),
        verifier: pkce.verifier.clone(),
        expires_at: chrono::Utc::now().timestamp() + ATTEMPT_SECS,
    };
    let mut url = reqwest::Url::parse(&config.authorize_url)
        .map_err(|e| ApiError::internal(format!("OIDC authorize URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", &config.redirect_uri)
        .append_pair("scope", "openid email profile")
        .append_pair("state", &attempt.state)
        .append_pair("nonce", &attempt.nonce)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", agora_auth::pkce::PKCE_METHOD);
    let cookie = set_cookie(
        config,
        &cookie_value(&config.state_key, &attempt)?,
        ATTEMPT_SECS,
    )?;
    let location = HeaderValue::from_str(url.as_str()).map_err(ApiError::internal)?;
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
    )
        .into_response())
}

/// What the provider sends back to the callback.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// Must equal the login attempt's.
    pub state: Option<String>,
    /// Set when the user or the provider refused.
    pub error: Option<String>,
    pub error_description: Option<String>,
    // Other parameters some providers add (`scope`, `iss`, `session_state`...) are ignored.
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

/// The provider's redirect back: finishes signing in and answers a token pair.
#[utoipa::path(get, path = "/store/auth/oidc/callback", tag = "auth", params(CallbackQuery),
    responses((status = 200, body = TokenPair), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 502, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    let config = configured(&state)?;
    if let Some(error) = &query.error {
        tracing::info!(%error, description = ?query.error_description, "the provider refused a sign-in");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.oidc_denied",
            "the sign-in provider did not sign the user in",
        ));
    }
    let (Some(code), Some(returned_state)) = (query.code, query.state) else {
        return Err(ApiError::bad_request(
            "request.invalid_query",
            "the callback needs `code` and `state`",
        ));
    };
    let now = chrono::Utc::now().timestamp();
    let attempt = read_cookie(&config.state_key, &headers, now).ok_or_else(state_mismatch)?;
    if !constant_time_eq(attempt.state.as_bytes(), returned_state.as_bytes()) {
        return Err(state_mismatch());
    }

    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", config.redirect_uri.as_str()),
        ("client_id", config.client_id.as_str()),
        ("code_verifier", attempt.verifier.as_str()),
    ];
    if let Some(secret) = config.client_secret.as_deref() {
        form.push(("client_secret", secret));
    }
    let response = client()
        .post(&config.token_url)
        .header(header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| provider_error("token endpoint unreachable", e))?;
    if !response.status().is_success() {
        // A refused code (used, expired, wrong verifier) is the user's to retry, not ours.
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.oidc_code_rejected",
            "the sign-in provider refused the authorization code; start again",
        ));
    }
    let tokens: TokenResponse = response
        .json()
        .await
        .map_err(|e| provider_error("malformed token response", e))?;
    let id_token = tokens
        .id_token
        .ok_or_else(|| provider_error("no id_token in the token response", "missing"))?;
    let jwks = client()
        .get(&config.jwks_url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| provider_error("JWKS unreachable", e))?
        .text()
        .await
        .map_err(|e| provider_error("JWKS unreadable", e))?;
    let claims = agora_auth::verify_id_token(
        &id_token,
        &jwks,
        &config.issuer,
        &config.client_id,
        &attempt.nonce,
        now,
    )
    .map_err(|e| {
        tracing::info!(reason = ?e.reason(), "id token refused");
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            e.code(),
            "the id token is invalid",
        )
    })?;
    let email = claims.email.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "auth.oidc_email_missing",
            "the provider shared no email address; allow the email scope",
        )
    })?;
    let login = agora_workflows::OidcLogin {
        provider: config.provider.clone(),
        subject: claims.sub,
        email,
        email_verified: claims.email_verified,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    };
    // The edge vouches for the identity it just verified, as the platform.
    let reply: agora_nats::CommandReply<TokenPair> = service::command(
        &state,
        &headers,
        Uuid::new_v4().to_string(),
        Principal::system("edge-oidc"),
        agora_workflows::IdentityRequest::OidcLogin(login),
    )
    .await?;
    let clear = set_cookie(config, "", 0)?;
    Ok(([(header::SET_COOKIE, clear)], Json(reply.view)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn attempt(expires_at: i64) -> Attempt {
        Attempt {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            expires_at,
        }
    }

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(cookie).expect("a header"),
        );
        h
    }

    #[test]
    fn a_signed_unexpired_cookie_is_read_back() {
        let value = cookie_value(KEY, &attempt(200)).expect("signed");
        let read = read_cookie(KEY, &headers(&format!("a=b; {COOKIE}={value}")), 100);
        assert_eq!(read.map(|a| a.state), Some("s".to_string()));
    }

    #[test]
    fn a_forged_expired_or_foreign_cookie_is_refused() {
        let value = cookie_value(KEY, &attempt(200)).expect("signed");
        assert!(read_cookie(KEY, &headers(&format!("{COOKIE}={value}")), 200).is_none());
        let other_key = b"another key of thirty-two bytes!";
        assert!(read_cookie(other_key, &headers(&format!("{COOKIE}={value}")), 100).is_none());
        let (payload, sig) = value.split_once('.').expect("two parts");
        let forged = cookie_value(KEY, &attempt(10_000)).expect("signed");
        let (forged_payload, _) = forged.split_once('.').expect("two parts");
        assert_ne!(payload, forged_payload);
        let spliced = format!("{COOKIE}={forged_payload}.{sig}");
        assert!(read_cookie(KEY, &headers(&spliced), 100).is_none());
        assert!(read_cookie(KEY, &HeaderMap::new(), 100).is_none());
    }
}
