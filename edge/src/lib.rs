//! The edge: the only place that speaks HTTP/JSON to users.
//!
//! Storefront (`/store`), back office (`/admin`) and audit (`/audit`) routes turn requests into
//! NATS requests to the owning service, or read projections in Postgres. Every response carries
//! an `x-request-id`; every error is `{"code","message"}` with a status from [`ApiError`].
//!
//! Invariants:
//! - the edge never writes the event store or a read model; commands go to services;
//! - the client never supplies an owner, price, status or total: the principal comes from
//!   credentials, everything else from the services;
//! - request bodies are limited in size and reject unknown fields;
//! - every route authenticates its caller the same way (`auth`): a bearer access token or the
//!   bootstrap admin token, or a guest cart token on storefront object routes; route families
//!   check roles at the edge, and every object request carries the caller's own principal to
//!   the owning service, which checks ownership.

mod accounts;
mod admin;
mod analytics;
pub mod audit;
mod auth;
mod carts;
mod catalog;
mod checkout;
mod error;
mod feed;
mod fulfilment;
mod health;
mod inventory;
mod marketplace;
mod notifications;
mod oidc;
mod openapi;
mod orders;
mod params;
pub mod pricing_memo;
mod promotions;
pub mod read_cache;
mod reconciliation;
mod reviews;
mod search;
mod security;
mod service;
mod shipping;
mod timing;
mod vendors;

use std::sync::Arc;
use std::time::Duration;

use agora_nats::Bus;
use axum::http::HeaderName;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub use error::ApiError;
pub use health::serve_metrics;
pub use oidc::{discover as discover_oidc, Discovery as OidcDiscovery, OidcConfig};
pub use openapi::ApiDoc;
pub use reviews::review_id;
pub use security::RateLimitConfig;
pub use timing::timed;

/// The largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Configuration handed in by the binary.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// A bootstrap bearer token for the back office, standing for an admin (to grant the first
    /// staff roles); `None` accepts only access tokens.
    pub admin_token: Option<String>,
    /// Verifies access tokens (the identity service signs them with the same keys).
    pub token_keys: Arc<agora_auth::TokenKeys>,
    /// Browser origins allowed to call the API (the storefront's); empty: none.
    pub cors_origins: Vec<String>,
    /// The OpenID provider for "sign in with ..."; `None` turns `/store/auth/oidc/*` off.
    pub oidc: Option<OidcConfig>,
    /// Limits on sign-in, sign-up and password-reset requests per client.
    pub rate_limit: RateLimitConfig,
    /// Secret that signs the payment provider's webhooks (`whsec_...`); `None` disables
    /// `/hooks/payments/stripe`.
    pub stripe_webhook_secret: Option<String>,
    /// Budget for one request's NATS round trips.
    pub request_timeout: Duration,
    /// Days after delivery within which a shopper may return units.
    pub return_window_days: u32,
    /// The smallest vendor payout, in minor units.
    pub payout_minimum_minor: i64,
    /// Secret of carrier webhooks in Agora's own shape; `None` disables
    /// `/hooks/carriers/generic`.
    pub carrier_webhook_secret: Option<String>,
    /// EasyPost's webhook secret; `None` disables `/hooks/carriers/easypost`.
    pub easypost_webhook_secret: Option<String>,
    /// The auditor's signing key, when this process holds it: checkpoints on demand
    /// (`POST /audit/checkpoints`) and signed exports (`GET /audit/export`); `None`: both 409.
    pub audit_signer: Option<Arc<dyn audit::Signer>>,
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    /// Behind an `Arc`: every handler and middleware clones the state, and a NATS client's
    /// clone touches a dozen shared counters.
    pub bus: Arc<Bus>,
    pub pool: PgPool,
    pub config: Arc<EdgeConfig>,
    pub metrics: Option<PrometheusHandle>,
    /// The product search index (Meilisearch with Postgres fallback, or Postgres alone).
    pub search: Arc<agora_search::Search>,
    /// Answers of the public catalog routes, until a read model they read changes.
    pub read_cache: Arc<read_cache::ReadCache>,
    /// Cart pricings, until something they were priced from changes.
    pub pricing_memo: Arc<pricing_memo::PricingMemo>,
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let limiter = Arc::new(security::RateLimiter::new(&state.config.rate_limit));
    let cors = security::cors(&state.config.cors_origins);
    let limited = accounts::limited_router().route_layer(axum::middleware::from_fn_with_state(
        limiter,
        security::rate_limit,
    ));
    // Anyone may type any address into notify-me: one budget per client for all products.
    let notify_limiter = Arc::new(security::RateLimiter::scoped(
        &state.config.rate_limit,
        "notify-me",
    ));
    let notify_limited = notifications::limited_router().route_layer(
        axum::middleware::from_fn_with_state(notify_limiter, security::rate_limit),
    );
    // Public catalog reads: served from the read cache until a read model they read changes.
    let cached = Router::new()
        .merge(search::router())
        .merge(catalog::store_router())
        .merge(reviews::store_router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.read_cache.clone(),
            read_cache::cached,
        ));
    let api = Router::new()
        .merge(health::router())
        .merge(carts::router())
        .merge(cached)
        .merge(catalog::router())
        .merge(inventory::router())
        .merge(orders::router())
        .merge(analytics::router())
        .merge(promotions::router())
        .merge(shipping::router())
        .merge(fulfilment::router())
        .merge(vendors::router())
        .merge(reviews::router())
        .merge(marketplace::router())
        .merge(checkout::router())
        .merge(accounts::router())
        .merge(limited)
        .merge(oidc::router())
        .merge(notifications::router())
        .merge(notify_limited)
        .merge(admin::router())
        .merge(feed::router())
        .merge(audit::router())
        .merge(reconciliation::router())
        .merge(openapi::router())
        .fallback(|| async { ApiError::not_found("route.not_found", "no such route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::back_office_gate,
        ))
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(security::reject_nul))
        .layer(axum::middleware::from_fn(security::stable_too_large))
        .layer(cors);
    security::with_security_headers(api)
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .layer(axum::middleware::from_fn(security::bounded_request_id))
}

/// Serves the API on `listener` until `shutdown` resolves. Handlers see the peer address
/// (rate limits are per client).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Serves `app` (the API from [`router`], perhaps with more routes merged beside it, such as
/// the web pages) on `listener` until `shutdown` resolves.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Router-level checks of what the edge decides alone, before any service or database is
/// asked: routing, credentials, ids, query and body validation. The state points at a NATS
/// server and a database that do not exist, so anything that gets further fails visibly
/// (`503` from NATS, `500` from Postgres) instead of hanging.
#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{HeaderMap, Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const TOKEN: &str = "test-admin-token";

    /// The signing key of the offline router's access tokens.
    pub(crate) fn test_keys() -> agora_auth::TokenKeys {
        let key = agora_auth::HmacKey::new("k1", b"offline-router-test-key-0123456789".to_vec())
            .expect("a key");
        agora_auth::TokenKeys::new("agora", "agora-api", key, vec![]).expect("keys")
    }

    pub(crate) fn test_config() -> EdgeConfig {
        EdgeConfig {
            admin_token: Some(TOKEN.into()),
            token_keys: Arc::new(test_keys()),
            cors_origins: vec!["https://shop.example".into()],
            oidc: None,
            rate_limit: RateLimitConfig {
                per_minute: 10,
                burst: 3,
                trust_forwarded_for: false,
            },
            stripe_webhook_secret: None,
            request_timeout: Duration::from_millis(200),
            return_window_days: 30,
            payout_minimum_minor: 1000,
            carrier_webhook_secret: None,
            easypost_webhook_secret: None,
            audit_signer: None,
        }
    }

    pub(crate) async fn offline_router() -> Router {
        // Port 1 refuses connections: nothing listens there.
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect("nats://127.0.0.1:1")
            .await
            .expect("a client that connects in the background");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy("postgres://agora@127.0.0.1:1/agora")
            .expect("a lazy pool");
        let search = Arc::new(agora_search::Search::postgres(agora_search::PgSearch::new(
            pool.clone(),
        )));
        router(AppState {
            bus: Arc::new(Bus::new(client)),
            search,
            pool,
            config: Arc::new(test_config()),
            metrics: None,
            read_cache: Arc::new(read_cache::ReadCache::off()),
            pricing_memo: Arc::new(pricing_memo::PricingMemo::off()),
        })
    }

    /// Sends one request (as admin when `admin`) and returns the status and the error code.
    async fn check(
        method: &str,
        uri: &str,
        body: Option<&str>,
        admin: bool,
    ) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(uri);
        if admin {
            request = request.header("authorization", format!("Bearer {TOKEN}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let response = offline_router()
            .await
            .oneshot(request.body(body).expect("a request"))
            .await
            .expect("a response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
            .unwrap_or_default();
        (status, code)
    }

    fn expect(actual: (StatusCode, String), status: u16, code: &str) {
        assert_eq!(
            actual,
            (
                StatusCode::from_u16(status).expect("a status"),
                code.to_string()
            )
        );
    }

    #[tokio::test]
    async fn the_low_stock_report_is_not_taken_for_a_sku() {
        // The report reads Postgres (unreachable here: 500); a SKU would ask the stock
        // service over NATS (unreachable here: 503).
        expect(
            check("GET", "/admin/inventory/low-stock", None, true).await,
            500,
            "internal",
        );
        expect(
            check("GET", "/admin/inventory/low-stocks", None, true).await,
            503,
            "service.timeout",
        );
    }

    #[tokio::test]
    async fn malformed_path_ids_are_rejected_before_any_io() {
        expect(
            check("GET", "/store/products/not-a-uuid", None, false).await,
            400,
            "request.invalid_id",
        );
        expect(
            check("GET", "/admin/products/42", None, true).await,
            400,
            "request.invalid_id",
        );
        expect(
            check("POST", "/admin/feed/parked/x1/replay", None, true).await,
            400,
            "request.invalid_id",
        );
        expect(
            check("POST", "/admin/products/42/publish", None, true).await,
            400,
            "request.invalid_id",
        );
        expect(
            check(
                "PATCH",
                "/admin/categories/Mens_Shirts",
                Some(r#"{"name":"x"}"#),
                true,
            )
            .await,
            400,
            "request.invalid_id",
        );
        let product = "/admin/products/5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11";
        expect(
            check(
                "PUT",
                &format!("{product}/variants/a.b/price"),
                Some(r#"{"amount_minor":1,"currency":"EUR"}"#),
                true,
            )
            .await,
            400,
            "request.invalid_id",
        );
        expect(
            check("DELETE", &format!("{product}/variants/a.b"), None, true).await,
            400,
            "request.invalid_id",
        );
        expect(
            check(
                "POST",
                "/admin/inventory/a.b/receive",
                Some(r#"{"quantity":1}"#),
                true,
            )
            .await,
            400,
            "request.invalid_id",
        );
        expect(
            check("GET", "/admin/inventory/a.b/movements", None, true).await,
            400,
            "request.invalid_id",
        );
    }

    #[tokio::test]
    async fn back_office_routes_need_the_admin_token() {
        for (method, uri, body) in [
            ("GET", "/admin/products", None),
            (
                "POST",
                "/admin/products",
                Some(r#"{"title":"T","vendor_id":"acme"}"#),
            ),
            (
                "POST",
                "/admin/categories",
                Some(r#"{"id":"men","name":"Men"}"#),
            ),
            ("GET", "/admin/inventory", None),
            ("GET", "/admin/inventory/low-stock", None),
            (
                "PUT",
                "/admin/inventory/A/threshold",
                Some(r#"{"threshold":3}"#),
            ),
        ] {
            expect(
                check(method, uri, body, false).await,
                401,
                "auth.missing_credentials",
            );
        }
    }

    #[tokio::test]
    async fn bodies_with_fields_the_client_may_not_send_are_rejected() {
        let product = "/admin/products/5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11";
        for (method, uri, body) in [
            (
                "POST",
                "/admin/products",
                r#"{"title":"T","vendor_id":"acme","status":"published"}"#,
            ),
            ("POST", "/admin/products", r#"{"title":"T"}"#),
            ("PATCH", product, r#"{"version":3}"#),
            (
                "POST",
                "/admin/inventory/A/receive",
                r#"{"quantity":1,"now":"2025-01-01T00:00:00Z"}"#,
            ),
            (
                "POST",
                "/admin/inventory/A/adjust",
                r#"{"delta":-1,"reason":"stolen"}"#,
            ),
        ] {
            expect(
                check(method, uri, Some(body), true).await,
                422,
                "request.invalid_body",
            );
        }
    }

    #[tokio::test]
    async fn malformed_references_are_rejected_before_any_io() {
        expect(
            check(
                "POST",
                "/admin/products",
                Some(r#"{"title":"T","vendor_id":"acme","category_id":"Not Valid"}"#),
                true,
            )
            .await,
            422,
            "catalog.invalid_category_id",
        );
        expect(
            check(
                "POST",
                "/admin/categories",
                Some(r#"{"id":"Men","name":"Men"}"#),
                true,
            )
            .await,
            422,
            "catalog.invalid_category_id",
        );
        expect(
            check(
                "POST",
                "/admin/categories",
                Some(r#"{"id":"men","name":"Men","parent_id":"men"}"#),
                true,
            )
            .await,
            422,
            "catalog.invalid_parent",
        );
    }

    #[tokio::test]
    async fn malformed_queries_are_rejected_before_any_io() {
        for (uri, admin) in [
            ("/store/products?limit=0", false),
            ("/store/products?offset=-1", false),
            ("/store/products?color=red", false),
            ("/store/products?category_id=Not_A_Slug", false),
            ("/admin/products?status=sold", true),
            ("/admin/products?limit=101", true),
            ("/admin/inventory?low_stock=maybe", true),
            ("/admin/inventory/A/movements?before_sequence=0", true),
        ] {
            expect(
                check("GET", uri, None, admin).await,
                400,
                "request.invalid_query",
            );
        }
    }

    /// An access token signed with the offline router's key for `roles`, issued `age` seconds
    /// ago.
    pub(crate) fn token(sub: &str, roles: &[&str], age: i64) -> String {
        let keys = test_keys();
        let claims = keys.new_claims(
            sub,
            roles.iter().map(|r| r.to_string()).collect(),
            "session",
            chrono::Utc::now().timestamp() - age,
        );
        keys.issue(&claims)
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = app.clone().oneshot(request).await.expect("a response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
            .unwrap_or_default();
        (status, headers, code)
    }

    fn get_with(uri: &str, authorization: &str) -> Request<Body> {
        Request::builder()
            .uri(uri)
            .header("authorization", authorization)
            .body(Body::empty())
            .expect("a request")
    }

    #[tokio::test]
    async fn forged_expired_and_unsigned_tokens_are_refused() {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let b64 = |s: &str| engine.encode(s);
        let app = offline_router().await;
        let customer = uuid::Uuid::new_v4().to_string();
        let good = token(&customer, &["customer"], 0);
        let mut parts = good.split('.');
        let (header, payload, signature) = (
            parts.next().expect("a header"),
            parts.next().expect("claims"),
            parts.next().expect("a signature"),
        );
        let mut claims: serde_json::Value =
            serde_json::from_slice(&engine.decode(payload).expect("base64")).expect("claims");
        claims["roles"] = serde_json::json!(["admin"]);
        let escalated = format!("{header}.{}.{signature}", b64(&claims.to_string()));
        let unsigned = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&claims.to_string())
        );
        let other_key = agora_auth::TokenKeys::new(
            "agora",
            "agora-api",
            agora_auth::HmacKey::new("k2", b"another-key-that-is-long-enough-000".to_vec())
                .expect("a key"),
            vec![],
        )
        .expect("keys");
        let unknown_kid = other_key.issue(&other_key.new_claims(
            customer.clone(),
            vec!["admin".into()],
            "s",
            chrono::Utc::now().timestamp(),
        ));
        let expired = token(&customer, &["admin"], 3600);
        for (what, bearer, code) in [
            ("escalated roles", escalated.as_str(), "auth.invalid_token"),
            ("alg none", unsigned.as_str(), "auth.invalid_token"),
            ("unknown kid", unknown_kid.as_str(), "auth.invalid_token"),
            ("garbage", "not-a-token", "auth.invalid_token"),
            ("expired", expired.as_str(), "auth.token_expired"),
        ] {
            for uri in ["/admin/orders", "/store/customers/me/orders"] {
                let (status, _, got) = send(&app, get_with(uri, &format!("Bearer {bearer}"))).await;
                assert_eq!(
                    (status.as_u16(), got.as_str()),
                    (401, code),
                    "{what} on {uri}"
                );
            }
        }
        let (status, _, code) = send(&app, get_with("/admin/orders", "Basic YTpi")).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (401, "auth.invalid_token")
        );
    }

    #[tokio::test]
    async fn roles_decide_which_back_office_routes_answer() {
        let app = offline_router().await;
        let id = uuid::Uuid::new_v4().to_string();
        let customer = format!("Bearer {}", token(&id, &["customer"], 0));
        let auditor = format!("Bearer {}", token(&id, &["auditor"], 0));
        let vendor = {
            let keys = test_keys();
            let claims = keys
                .new_claims(
                    &id,
                    vec!["vendor".into()],
                    "session",
                    chrono::Utc::now().timestamp(),
                )
                .with_vendor(Some("acme".into()));
            format!("Bearer {}", keys.issue(&claims))
        };
        let unbound_vendor = format!("Bearer {}", token(&id, &["vendor"], 0));
        let staff = format!("Bearer {}", token(&id, &["staff"], 0));
        let account = "/admin/accounts/5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11/roles/admin";
        let deliver = "/admin/orders/5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11/deliver";
        // Allowed routes get past the edge and fail on the unreachable database (500) or NATS
        // (503); the others are 403.
        for (who, method, uri, allowed) in [
            (&customer, "GET", "/admin/orders", false),
            (&customer, "GET", "/admin/products", false),
            (&customer, "GET", "/audit/streams/cart/x", false),
            (&customer, "POST", account, false),
            (&auditor, "GET", "/admin/orders", true),
            (&auditor, "GET", "/audit/streams/cart/x", true),
            (&auditor, "POST", deliver, false),
            (&vendor, "GET", "/admin/products", true),
            (&vendor, "GET", "/admin/orders", false),
            (&staff, "GET", "/admin/orders", true),
            (&staff, "GET", "/audit/streams/cart/x", false),
            (&staff, "POST", account, false),
            (&auditor, "GET", "/admin/feed/parked", true),
            (&auditor, "POST", "/admin/feed/parked/1/replay", false),
            (&vendor, "GET", "/admin/feed/parked", false),
            (&staff, "POST", "/admin/feed/parked/1/replay", true),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", who.as_str())
                .body(Body::empty())
                .expect("a request");
            let (status, _, code) = send(&app, request).await;
            if allowed {
                assert!(status.is_server_error(), "{method} {uri}: {status} {code}");
            } else {
                assert_eq!(
                    (status.as_u16(), code.as_str()),
                    (403, "auth.forbidden"),
                    "{method} {uri}"
                );
            }
        }
        // A vendor role bound to no vendor is nobody in the back office.
        let request = Request::builder()
            .uri("/admin/products")
            .header("authorization", unbound_vendor.as_str())
            .body(Body::empty())
            .expect("a request");
        let (status, _, code) = send(&app, request).await;
        assert_eq!((status.as_u16(), code.as_str()), (403, "auth.no_role"));
    }

    #[tokio::test]
    async fn every_reply_carries_the_security_headers() {
        let app = offline_router().await;
        for uri in ["/healthz", "/store/products/42", "/no/such/route"] {
            let request = Request::builder()
                .uri(uri)
                .body(Body::empty())
                .expect("a request");
            let (_, headers, _) = send(&app, request).await;
            for (name, value) in [
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
                ("referrer-policy", "no-referrer"),
                ("cache-control", "no-store"),
                ("content-security-policy", security::JSON_CSP),
            ] {
                assert_eq!(
                    headers.get(name).and_then(|v| v.to_str().ok()),
                    Some(value),
                    "{name} on {uri}"
                );
            }
            assert!(headers.contains_key("strict-transport-security"), "{uri}");
        }
        let docs = Request::builder()
            .uri("/docs")
            .body(Body::empty())
            .expect("a request");
        let (status, headers, _) = send(&app, docs).await;
        assert_eq!(status, StatusCode::OK);
        let csp = headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // The reference works offline: nothing may come from another host.
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("https:"),
            "{csp}"
        );
    }

    /// Scalar's script is served by the edge itself (built in from the pinned npm package),
    /// and the page loads it from there, never from a CDN.
    #[tokio::test]
    async fn the_api_reference_loads_nothing_from_other_hosts() {
        let app = offline_router().await;
        let page = app
            .clone()
            .oneshot(
                Request::builder()
                    .uri("/docs")
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("a response");
        let html = page.into_body().collect().await.expect("a body").to_bytes();
        let html = String::from_utf8_lossy(&html);
        assert!(!html.contains("src=\"http"), "{html}");
        let script = app
            .oneshot(
                Request::builder()
                    .uri("/docs/scalar.js")
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("a response");
        if cfg!(scalar_embedded) {
            assert!(html.contains("src=\"/docs/scalar.js\""), "{html}");
            assert_eq!(script.status(), StatusCode::OK);
        } else {
            assert_eq!(script.status(), StatusCode::NOT_FOUND);
        }
    }

    #[tokio::test]
    async fn only_the_storefront_origin_may_call_from_a_browser() {
        let app = offline_router().await;
        let preflight = |origin: &str| {
            Request::builder()
                .method("OPTIONS")
                .uri("/store/carts")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type",
                )
                .body(Body::empty())
                .expect("a request")
        };
        let (_, allowed, _) = send(&app, preflight("https://shop.example")).await;
        assert_eq!(
            allowed
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("https://shop.example")
        );
        let (_, refused, _) = send(&app, preflight("https://evil.example")).await;
        assert!(!refused.contains_key("access-control-allow-origin"));
    }

    #[tokio::test]
    async fn sign_in_attempts_are_rate_limited_per_client_and_route() {
        let app = offline_router().await;
        let post = |uri: &str, body: &'static str| {
            Request::builder()
                .method("POST")
                .uri(uri)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("a request")
        };
        let login = r#"{"email":"a@example.com","password":"x"}"#;
        // The test configuration allows a burst of 3; the identity service is unreachable.
        for _ in 0..3 {
            let (status, _, _) = send(&app, post("/store/auth/login", login)).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        }
        let (status, headers, code) = send(&app, post("/store/auth/login", login)).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (429, "request.rate_limited")
        );
        let retry: u64 = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a Retry-After in seconds");
        assert!((1..=60).contains(&retry), "{retry}");
        // Another route has its own budget.
        let reset = post("/store/auth/password-reset", r#"{"email":"a@example.com"}"#);
        assert_eq!(send(&app, reset).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn a_nul_character_is_refused_in_a_body_of_any_content_type() {
        let app = offline_router().await;
        let order = "/store/orders/5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11/cancel";
        for (content_type, body) in [
            ("text/plain", r#"{"note":"\u0000"}"#.as_bytes()),
            ("text/plain", b"{\"note\":\"a\0b\"}".as_slice()),
            ("application/json", r#"{"note":"\u0000"}"#.as_bytes()),
            ("application/octet-stream", b"\0".as_slice()),
        ] {
            let request = Request::builder()
                .method("POST")
                .uri(order)
                .header("content-type", content_type)
                .header("x-cart-token", "t")
                .body(Body::from(body.to_vec()))
                .expect("a request");
            let (status, _, code) = send(&app, request).await;
            assert_eq!(
                (status.as_u16(), code.as_str()),
                (400, "request.nul_character"),
                "{content_type} {body:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_payment_method_outside_its_documented_pattern_is_refused_at_once() {
        let body = |method: &str| {
            serde_json::json!({
                "email": "ada@example.com",
                "payment_method": method,
                "shipping_address": {"name": "Ada", "line1": "1 Row", "city": "London",
                    "postal_code": "N1", "country": "GB"}
            })
            .to_string()
        };
        let uri = "/store/carts/5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11/checkout";
        for method in ["", "pm card", "pm_\u{e9}"] {
            expect(
                check("POST", uri, Some(&body(method)), false).await,
                422,
                "payment.invalid_method",
            );
        }
        // A well-formed token gets as far as the credentials check.
        expect(
            check("POST", uri, Some(&body("pm_card_visa")), false).await,
            401,
            "auth.missing_credentials",
        );
    }

    #[tokio::test]
    async fn a_route_that_reads_json_refuses_other_content_types() {
        let app = offline_router().await;
        let id = "5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11";
        for (method, uri, admin) in [
            ("POST", format!("/store/orders/{id}/cancel"), false),
            ("POST", format!("/admin/orders/{id}/cancel"), true),
            ("POST", format!("/admin/orders/{id}/deliver"), true),
            ("POST", "/store/carts".to_string(), false),
            ("POST", format!("/store/carts/{id}/items"), false),
        ] {
            let mut request = Request::builder()
                .method(method)
                .uri(&uri)
                .header("content-type", "text/plain")
                .header("x-cart-token", "t");
            if admin {
                request = request.header("authorization", format!("Bearer {TOKEN}"));
            }
            let request = request
                .body(Body::from(r#"{"note":"x"}"#))
                .expect("a request");
            let (status, _, code) = send(&app, request).await;
            assert_eq!(
                (status.as_u16(), code.as_str()),
                (415, "request.unsupported_media_type"),
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn an_unbounded_or_unprintable_request_id_is_replaced_by_a_uuid() {
        let app = offline_router().await;
        let echoed = |value: &[u8]| {
            Request::builder()
                .uri("/healthz")
                .header(
                    "x-request-id",
                    axum::http::HeaderValue::from_bytes(value).expect("a header value"),
                )
                .body(Body::empty())
                .expect("a request")
        };
        let long = "a".repeat(129);
        for bad in [
            long.as_bytes(),
            b"has space",
            b"tab\tid",
            "caf\u{e9}".as_bytes(),
        ] {
            let (_, headers, _) = send(&app, echoed(bad)).await;
            let id = headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .expect("an echoed id");
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{bad:?} became {id}");
        }
        let fine = "a".repeat(128);
        for good in [fine.as_str(), "req-42/abc"] {
            let (_, headers, _) = send(&app, echoed(good.as_bytes())).await;
            assert_eq!(
                headers.get("x-request-id").and_then(|v| v.to_str().ok()),
                Some(good)
            );
        }
    }

    #[tokio::test]
    async fn oversized_bodies_get_a_stable_error() {
        let app = offline_router().await;
        let big = format!(
            r#"{{"sku":"A","quantity":1,"pad":"{}"}}"#,
            "x".repeat(MAX_BODY_BYTES)
        );
        for uri in [
            "/store/carts",
            "/store/carts/5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11/items",
        ] {
            let request = Request::builder()
                .method("POST")
                .uri(uri)
                .header("content-type", "application/json")
                .header("x-cart-token", "t")
                .body(Body::from(big.clone()))
                .expect("a request");
            let (status, _, code) = send(&app, request).await;
            assert_eq!(
                (status.as_u16(), code.as_str()),
                (413, "request.too_large"),
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn account_bodies_never_take_roles_or_status_from_the_client() {
        let id = uuid::Uuid::new_v4().to_string();
        let customer = format!("Bearer {}", token(&id, &["customer"], 0));
        let app = offline_router().await;
        let address =
            r#""address":{"name":"a","line1":"b","city":"c","postal_code":"d","country":"DE"}"#;
        for (method, uri, body) in [
            (
                "POST",
                "/store/auth/register",
                r#"{"email":"a@example.com","password":"p","roles":["admin"]}"#.to_string(),
            ),
            (
                "POST",
                "/store/auth/register",
                r#"{"email":"a@example.com","password":"p","email_verified":true}"#.into(),
            ),
            (
                "PATCH",
                "/store/customers/me",
                r#"{"display_name":"x","roles":["admin"]}"#.into(),
            ),
            (
                "PATCH",
                "/store/customers/me",
                r#"{"status":"active"}"#.into(),
            ),
            (
                "POST",
                "/store/customers/me/addresses",
                format!(r#"{{{address},"id":"x"}}"#),
            ),
            (
                "POST",
                "/store/customers/me/cart/merge",
                r#"{"cart_id":"x","lines":[]}"#.into(),
            ),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .header("content-type", "application/json")
                .header("authorization", customer.as_str())
                .header("x-cart-token", "t")
                .body(Body::from(body.clone()))
                .expect("a request");
            let (status, _, code) = send(&app, request).await;
            assert_eq!(
                (status.as_u16(), code.as_str()),
                (422, "request.invalid_body"),
                "{method} {uri} {body}"
            );
        }
    }

    #[test]
    fn every_route_is_documented() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializes");
        for (path, method) in [
            ("/admin/products", "get"),
            ("/admin/products", "post"),
            ("/admin/products/{id}", "get"),
            ("/admin/products/{id}", "patch"),
            ("/admin/products/{id}/variants", "post"),
            ("/admin/products/{id}/variants/{sku}", "delete"),
            ("/admin/products/{id}/variants/{sku}/price", "put"),
            ("/admin/products/{id}/publish", "post"),
            ("/admin/products/{id}/unpublish", "post"),
            ("/admin/products/{id}/archive", "post"),
            ("/admin/categories", "post"),
            ("/admin/categories/{id}", "patch"),
            ("/store/products", "get"),
            ("/store/products/{id}", "get"),
            ("/store/categories", "get"),
            ("/admin/inventory", "get"),
            ("/admin/inventory/low-stock", "get"),
            ("/admin/inventory/{sku}", "get"),
            ("/admin/inventory/{sku}/movements", "get"),
            ("/admin/inventory/{sku}/receive", "post"),
            ("/admin/inventory/{sku}/adjust", "post"),
            ("/admin/inventory/{sku}/threshold", "put"),
            ("/store/carts/{cart_id}/checkout", "post"),
            ("/store/orders/{order_id}/payment", "get"),
            ("/store/orders/{order_id}/payment/confirm", "post"),
            ("/hooks/payments/stripe", "post"),
            ("/store/orders/{id}", "get"),
            ("/admin/orders", "get"),
            ("/store/products/{id}/notify-me", "post"),
            ("/store/customers/me/notifications", "get"),
            ("/store/customers/me/notifications", "put"),
            ("/admin/notifications", "get"),
            ("/admin/notifications/{id}/retry", "post"),
            ("/admin/feed/parked", "get"),
            ("/admin/feed/parked/{id}/replay", "post"),
            ("/store/auth/register", "post"),
            ("/store/auth/login", "post"),
            ("/store/auth/refresh", "post"),
            ("/store/auth/logout", "post"),
            ("/store/auth/verify-email", "post"),
            ("/store/auth/password-reset", "post"),
            ("/store/auth/password-reset/confirm", "post"),
            ("/store/auth/verify-email/resend", "post"),
            ("/store/auth/oidc/start", "get"),
            ("/store/auth/oidc/callback", "get"),
            ("/store/customers/me", "get"),
            ("/store/customers/me", "patch"),
            ("/store/customers/me/password", "post"),
            ("/store/customers/me/addresses", "get"),
            ("/store/customers/me/addresses", "post"),
            ("/store/customers/me/addresses/{id}", "patch"),
            ("/store/customers/me/addresses/{id}", "delete"),
            ("/store/customers/me/addresses/{id}/default", "post"),
            ("/store/customers/me/cart/merge", "post"),
            ("/admin/accounts/{id}", "get"),
            ("/admin/accounts/{id}/roles/{role}", "post"),
            ("/admin/accounts/{id}/roles/{role}", "delete"),
        ] {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is not documented");
            let security = operation["security"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if path.starts_with("/admin") || path.starts_with("/store/customers/me") {
                assert!(
                    !security.is_empty() && security.iter().all(|r| r.get("bearer").is_some()),
                    "{method} {path} does not require a bearer token: {security:?}"
                );
            }
            if path.starts_with("/store/auth") || path == "/store/products" {
                assert!(
                    security.is_empty(),
                    "{method} {path} is public: {security:?}"
                );
            }
        }
        let params = doc["paths"]["/admin/products"]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!params.is_empty());
        assert!(params.iter().all(|p| p["in"] == "query"), "{params:?}");
    }
}
