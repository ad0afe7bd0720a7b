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
//! - request bodies are limited in size and reject unknown fields.

mod admin;
mod audit;
mod auth;
mod carts;
mod catalog;
mod checkout;
mod error;
mod health;
mod inventory;
mod openapi;
mod orders;
mod params;
mod search;
mod service;

use std::sync::Arc;
use std::time::Duration;

use agora_nats::Bus;
use axum::http::{HeaderName, HeaderValue};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::ApiError;
pub use openapi::ApiDoc;

/// The largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Configuration handed in by the binary.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Bearer token for `/admin` and `/audit` until accounts and roles exist; `None` disables
    /// those routes.
    pub admin_token: Option<String>,
    /// Secret that signs the payment provider's webhooks (`whsec_...`); `None` disables
    /// `/hooks/payments/stripe`.
    pub stripe_webhook_secret: Option<String>,
    /// Budget for one request's NATS round trips.
    pub request_timeout: Duration,
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    pub bus: Bus,
    pub pool: PgPool,
    pub config: Arc<EdgeConfig>,
    pub metrics: Option<PrometheusHandle>,
    /// The product search index (Meilisearch with Postgres fallback, or Postgres alone).
    pub search: Arc<agora_search::Search>,
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(health::router())
        .merge(carts::router())
        .merge(search::router())
        .merge(catalog::router())
        .merge(inventory::router())
        .merge(orders::router())
        .merge(checkout::router())
        .merge(admin::router())
        .merge(audit::router())
        .merge(openapi::router())
        .fallback(|| async { ApiError::not_found("route.not_found", "no such route") })
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cache-control"),
            HeaderValue::from_static("no-store"),
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state))
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
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const TOKEN: &str = "test-admin-token";

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
            bus: Bus::new(client),
            search,
            pool,
            config: Arc::new(EdgeConfig {
                admin_token: Some(TOKEN.into()),
                stripe_webhook_secret: None,
                request_timeout: Duration::from_millis(200),
            }),
            metrics: None,
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
        ] {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is not documented");
            if path.starts_with("/admin") {
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} has no security"
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
