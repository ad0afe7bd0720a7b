//! `/audit`: the event log of any stream, with a verification of its hash chain.

use agora_kernel::{verify_chain, ChainVerdict, RecordedEvent};
use agora_nats::subjects;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiErrorBody, Json, Path};
use crate::{auth, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/audit/streams/{aggregate_type}/{aggregate_id}",
        get(stream),
    )
}

/// A stream's complete history and whether its hash chain is intact.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditedStream {
    #[schema(value_type = Object)]
    pub verdict: ChainVerdict,
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<RecordedEvent>,
}

/// Every event of one stream, in order, with metadata and hash-chain verification.
#[utoipa::path(get, path = "/audit/streams/{aggregate_type}/{aggregate_id}", tag = "audit",
    params(("aggregate_type" = String, Path, description = "e.g. cart"), ("aggregate_id" = String, Path, description = "stream id")),
    security(("bearer" = [])),
    responses((status = 200, body = AuditedStream), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
) -> Result<Json<AuditedStream>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Audit, false)?;
    if !subjects::is_token(&aggregate_type) || !subjects::is_token(&aggregate_id) {
        return Err(ApiError::bad_request(
            "request.invalid_id",
            "malformed stream id",
        ));
    }
    let store = agora_runtime::EventStore::new(state.pool.clone());
    let events = store
        .range(&aggregate_type, &aggregate_id, 0, u64::MAX)
        .await?;
    if events.is_empty() {
        return Err(ApiError::not_found("stream.not_found", "no such stream"));
    }
    Ok(Json(AuditedStream {
        verdict: verify_chain(&events),
        events,
    }))
}
