//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

/// Ready when NATS is connected and Postgres answers.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let nats = state.bus.client().connection_state() == async_nats::connection::State::Connected;
    let pg = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let status = if nats && pg {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({"nats": nats, "postgres": pg})),
    )
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match &state.metrics {
        Some(handle) => (StatusCode::OK, handle.render()),
        None => (StatusCode::NOT_FOUND, String::new()),
    }
}
