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
mod error;
mod health;
mod openapi;

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
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(health::router())
        .merge(carts::router())
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
