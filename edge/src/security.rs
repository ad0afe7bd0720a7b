//! Hardening around every route: per-client rate limits on the routes that guess passwords or
//! send mail, CORS for the configured storefront origins only, security headers, and a stable
//! error for bodies over the size limit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::{auth, ApiError, AppState};

/// Rate-limit settings of the sign-in, sign-up, password-reset and notify-me routes.
#[derive(Clone, Debug)]
pub struct RateLimitConfig {
    /// Requests per minute one client may make to one limited route, on average.
    pub per_minute: u32,
    /// Requests one client may make at once before the average applies.
    pub burst: u32,
    /// Take the client address from the last `X-Forwarded-For` entry (set when the edge runs
    /// behind one trusted proxy; otherwise a client could pick its own address).
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_minute: 10,
            burst: 10,
            trust_forwarded_for: false,
        }
    }
}

/// Past this many remembered clients, forget the ones whose budget is full again.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// One budget per client address and route (or per client and scope).
pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<(String, IpAddr)>,
    trust_forwarded_for: bool,
    /// One budget for every path of the limited routes, instead of one per path: a route
    /// whose path holds an id (`/store/products/{id}/notify-me`) would otherwise give a client
    /// a fresh budget per id.
    scope: Option<&'static str>,
}

impl RateLimiter {
    /// Limits with one budget per scope and client, whatever the path.
    pub fn scoped(config: &RateLimitConfig, scope: &'static str) -> RateLimiter {
        RateLimiter {
            scope: Some(scope),
            ..RateLimiter::new(config)
        }
    }

    pub fn new(config: &RateLimitConfig) -> RateLimiter {
        let per_minute = NonZeroU32::new(config.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        RateLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_minute(per_minute).allow_burst(burst),
            ),
            trust_forwarded_for: config.trust_forwarded_for,
            scope: None,
        }
    }

    /// The client's address: the peer, or the proxy's last `X-Forwarded-For` entry when
    /// trusted. Without either (a router called directly in tests), one shared address.
    fn client(&self, request: &Request) -> IpAddr {
        if self.trust_forwarded_for {
            let forwarded = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse::<IpAddr>().ok());
            if let Some(ip) = forwarded {
                return ip;
            }
        }
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

/// Middleware: `429 request.rate_limited` with `Retry-After` once a client spent its budget
/// for this route.
pub async fn rate_limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let route = match limiter.scope {
        Some(scope) => scope.to_string(),
        None => request.uri().path().to_string(),
    };
    let key = (route, limiter.client(&request));
    if limiter.limiter.len() > MAX_TRACKED_CLIENTS {
        limiter.limiter.retain_recent();
    }
    match limiter.limiter.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(limiter.limiter.clock().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "request.rate_limited",
                format!("too many requests; retry in {seconds} s"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// CORS for the storefront: only the configured origins, only our methods and headers, no
/// cookies (credentials travel in headers). With no origins configured, browsers on other
/// origins get no CORS grant at all.
pub fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-cart-token"),
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}

/// The Content-Security-Policy of every JSON reply: load nothing, be framed by nothing.
pub const JSON_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Adds the headers every reply carries: no sniffing, no framing, no referrer, HTTPS only,
/// no caching (replies hold carts, orders and tokens), and [`JSON_CSP`] unless the route set its
/// own policy (the docs page does).
pub fn with_security_headers(router: axum::Router) -> axum::Router {
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(JSON_CSP),
        ))
}

/// Middleware: a body over the limit answers with our error shape (`413 request.too_large`)
/// whichever extractor noticed it; axum's own rejection is plain text.
pub async fn stable_too_large(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
            "request body too large",
        )
        .into_response();
    }
    response
}

/// Middleware: the route-family check of `/admin` and `/audit`, before anything reads the
/// request. Only a valid back-office credential gets through (staff or a vendor's user; 401
/// without one, 403 for a customer); each route then checks the roles of its own area. Running first means a
/// customer learns nothing about a back-office route, not even whether its body would parse.
pub async fn back_office_gate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let gated = ["/admin", "/audit"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if gated && request.method() != Method::OPTIONS {
        match auth::bearer(&state, request.headers()) {
            Ok(Some(
                agora_kernel::Principal::Staff { .. } | agora_kernel::Principal::Vendor { .. },
            )) => {}
            Ok(Some(_)) => {
                return ApiError::forbidden("the back office is for staff and vendors")
                    .into_response()
            }
            Ok(None) => {
                return ApiError::unauthorized("an Authorization: Bearer token is required")
                    .into_response()
            }
            Err(e) => return e.into_response(),
        }
    }
    next.run(request).await
}

/// The longest `x-request-id` the edge keeps.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Middleware, outside the one that assigns request ids: a client's `x-request-id` of more than
/// [`MAX_REQUEST_ID_LEN`] characters, or with anything but visible ASCII, is dropped, so the
/// request gets a fresh UUID instead. The id is echoed back and lands in every event's metadata
/// (as the causation id), so an unbounded one would bloat the event store and the logs.
pub async fn bounded_request_id(mut request: Request, next: Next) -> Response {
    let acceptable = request
        .headers()
        .get_all("x-request-id")
        .iter()
        .map(|v| {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= MAX_REQUEST_ID_LEN && b.iter().all(u8::is_ascii_graphic)
        })
        .collect::<Vec<_>>();
    // One acceptable value, or none at all; two values are as ambiguous as a bad one.
    if acceptable.len() > 1 || acceptable.iter().any(|ok| !ok) {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// Whether JSON text holds a `\u0000` escape (an escape when preceded by an odd number of
/// backslashes). Postgres cannot store NUL in `json` or `text`, so such a value would fail
/// deep in a service instead of being refused here.
fn json_has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

/// Whether a body holds a NUL character, raw or as a JSON `\u0000` escape. Every body is
/// checked whatever its declared content type, because some routes parse a body they read as
/// bytes (an optional body) and the declared type is the client's to choose.
fn body_has_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0) || json_has_nul_escape(bytes)
}

/// Middleware: NUL characters are refused before any service sees them, in the path
/// (`400 request.invalid_path`), the query (`400 request.invalid_query`) or the body, of any
/// content type (`400 request.nul_character`). The body is read within the size limit
/// (`413 request.too_large`).
pub async fn reject_nul(request: Request, next: Next) -> Response {
    let nul = |s: &str| s.to_ascii_lowercase().contains("%00") || s.contains('\0');
    if nul(request.uri().path()) {
        return ApiError::bad_request("request.invalid_path", "the path holds a NUL character")
            .into_response();
    }
    if request.uri().query().is_some_and(nul) {
        return ApiError::bad_request("request.invalid_query", "the query holds a NUL character")
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
            "request body too large",
        )
        .into_response();
    };
    if body_has_nul(&bytes) {
        return ApiError::bad_request("request.nul_character", "the body holds a NUL character")
            .into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::{body_has_nul, json_has_nul_escape};

    #[test]
    fn only_a_real_nul_escape_counts() {
        assert!(json_has_nul_escape(br#"{"name":"\u0000"}"#));
        assert!(json_has_nul_escape(br#"{"name":"a\\\u0000"}"#));
        assert!(!json_has_nul_escape(br#"{"name":"\\u0000"}"#));
        assert!(!json_has_nul_escape(br#"{"name":"u0000"}"#));
    }

    #[test]
    fn a_raw_nul_byte_counts_in_any_body() {
        assert!(body_has_nul(b"note=a\0b"));
        assert!(body_has_nul(br#"{"note":"\u0000"}"#));
        assert!(!body_has_nul(b"plain text"));
    }
}
