//! Credentials at the edge. Until accounts exist (identity issue), shoppers prove possession of
//! a guest cart with its secret token, and the back office uses one configured bearer token.

use agora_kernel::{CorrelationId, CustomerId, Principal};
use agora_nats::RequestContext;
use axum::http::HeaderMap;

use crate::{ApiError, AppState};

pub const CART_TOKEN_HEADER: &str = "x-cart-token";

/// A fresh unguessable guest token: 256 random bits, hex.
pub fn new_guest_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The guest principal proven by the `X-Cart-Token` header.
pub fn guest(headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = headers
        .get(CART_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| ApiError::unauthorized("the X-Cart-Token header is required"))?;
    Ok(Principal::Guest {
        token_sha256: agora_cart::token_sha256(token),
    })
}

/// The signed-in customer. Customer sign-in does not exist yet: identity (issue #5) fills this
/// in from the customer's credentials; until then no request is a customer's, so every route
/// that needs one answers `401 auth.missing_credentials`.
pub fn customer(_state: &AppState, _headers: &HeaderMap) -> Result<CustomerId, ApiError> {
    Err(ApiError::unauthorized(
        "customer sign-in is not available yet",
    ))
}

/// Checks the back-office bearer token (constant-time) and returns the staff principal.
pub fn staff(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
    let Some(expected) = state.config.admin_token.as_deref() else {
        return Err(ApiError::forbidden(
            "the back office is disabled: no admin token is configured",
        ));
    };
    if !ct_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "auth.invalid_token",
            "invalid token",
        ));
    }
    Ok(Principal::Staff {
        id: "admin-token".into(),
        role: "admin".into(),
    })
}

/// Compares without an early exit on the first differing byte.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The NATS request context of an HTTP request: its request id becomes the correlation and
/// causation id; `traceparent` passes through.
pub fn context(state: &AppState, headers: &HeaderMap) -> RequestContext {
    let mut ctx = RequestContext::new(state.config.request_timeout);
    if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        if let Ok(c) = id.parse::<CorrelationId>() {
            ctx.correlation_id = c;
        }
        ctx.causation_id = id.to_string();
    }
    ctx.traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map(str::to_string);
    ctx
}
