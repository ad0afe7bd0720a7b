//! `/admin/feed`: feed events a consumer gave up on (parked after its last retry), and their
//! replay through that consumer's own handler (see `agora_runtime::parked`).

use agora_runtime::parked::{self, ParkedEvent, ReplayError};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::{auth, params, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/feed/parked", get(list_parked))
        .route("/admin/feed/parked/{id}/replay", post(replay))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ParkedFilter {
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// An event a feed consumer failed to handle on every delivery it allowed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ParkedItem {
    pub id: i64,
    /// The durable consumer: `proj_<projection>`, `saga_checkout` or `notifier`.
    pub consumer: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The event's sequence in its stream.
    pub sequence: i64,
    pub event_type: String,
    /// Its position in the JetStream feed.
    pub stream_seq: i64,
    /// Deliveries that failed.
    pub deliveries: i64,
    /// The handler's error on the last delivery or replay.
    pub error: String,
    pub parked_at: chrono::DateTime<chrono::Utc>,
}

impl From<ParkedEvent> for ParkedItem {
    fn from(p: ParkedEvent) -> Self {
        ParkedItem {
            id: p.id,
            consumer: p.consumer,
            aggregate_type: p.aggregate_type,
            aggregate_id: p.aggregate_id,
            sequence: p.sequence,
            event_type: p.event_type,
            stream_seq: p.stream_seq,
            deliveries: p.deliveries,
            error: p.error,
            parked_at: p.parked_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ParkedPage {
    pub total: i64,
    pub items: Vec<ParkedItem>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Replayed {
    /// The parked event's id; it is no longer parked.
    pub replayed: i64,
}

/// List parked feed events, oldest first.
#[utoipa::path(get, path = "/admin/feed/parked", tag = "admin", params(ParkedFilter),
    security(("bearer" = [])),
    responses((status = 200, body = ParkedPage), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
pub async fn list_parked(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<ParkedFilter>,
) -> Result<Json<ParkedPage>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Operations, false)?;
    let (limit, offset) = params::page(filter.limit, filter.offset)?;
    let (total, items) = parked::list_parked(&state.pool, limit, offset).await?;
    Ok(Json(ParkedPage {
        total,
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Replay a parked event: a running instance of its consumer reads it back from the event
/// store and runs its handler on it; on success it is no longer parked. 409 when the handler
/// fails again (the event stays parked with the new error), 503 when no instance of the
/// consumer answers.
#[utoipa::path(post, path = "/admin/feed/parked/{id}/replay", tag = "admin",
    params(("id" = i64, Path, description = "parked event id")),
    security(("bearer" = [])),
    responses((status = 200, body = Replayed), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Operations, true)?;
    let id = raw
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request(
                "request.invalid_id",
                "a parked event id is a positive integer",
            )
        })?;
    match parked::replay_parked(&state.pool, state.bus.client(), id).await {
        Ok(()) => Ok(Json(Replayed { replayed: id })),
        Err(ReplayError::NotFound(_)) => Err(ApiError::not_found(
            "feed.parked_not_found",
            "no such parked event",
        )),
        Err(ReplayError::Failed(e)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "feed.replay_failed",
            format!("the consumer failed again; the event stays parked: {e}"),
        )),
        Err(ReplayError::Unavailable { consumer, .. }) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "feed.consumer_unavailable",
            format!("no instance of consumer {consumer} answered; start it and retry"),
        )),
        Err(ReplayError::Database(e)) => Err(e.into()),
    }
}
