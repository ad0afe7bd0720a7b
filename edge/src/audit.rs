//! `/audit`: the auditor's reading of the event log.
//!
//! - a stream, paged by sequence or time, with an optional verification of its hash chain
//!   against the latest signed checkpoint (read in constant memory however long the stream);
//! - the whole log searched by stream, event type, actor, correlation id and time, newest
//!   first, paged by the log's position; one event with its metadata;
//! - time travel: an aggregate's state as of a sequence or an instant, folded by the same pure
//!   `evolve` the services use, and the difference (a JSON Patch) between two such states;
//! - a causal chain: every event one request (its correlation id) caused, across streams, in
//!   order, as a tree of causes;
//! - the signed checkpoints (taken by `agora audit checkpoint` and the platform's timer).
//!
//! Everything here reads Postgres directly: the event store is the source of truth and these
//! routes never write.

use std::collections::HashMap;

use agora_kernel::{Decider, RecordedEvent};
use agora_nats::subjects;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::{auth, params, ApiError, AppState};

/// Largest page of events.
pub const MAX_EVENTS: u32 = 1000;
/// Events per page when the client names no limit.
pub const DEFAULT_EVENTS: u32 = 100;
/// Most events one causal chain lists.
pub const MAX_CHAIN: i64 = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/audit/streams/{aggregate_type}/{aggregate_id}",
            get(stream),
        )
        .route(
            "/audit/streams/{aggregate_type}/{aggregate_id}/state",
            get(state_as_of),
        )
        .route(
            "/audit/streams/{aggregate_type}/{aggregate_id}/diff",
            get(diff),
        )
        .route("/audit/events", get(search))
        .route("/audit/events/{position}", get(event))
        .route("/audit/correlations/{correlation_id}", get(chain))
        .route("/audit/checkpoints", get(checkpoints).post(sign_checkpoint))
        .route("/audit/export", get(export))
}

/// What the edge may ask of the auditor's signing key, when its process holds one (the key
/// file is the process's, never the database's). The platform implements it over the event
/// store; the edge only asks.
#[async_trait::async_trait]
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// Signs and stores a checkpoint of every stream's head now; its id.
    async fn checkpoint(&self) -> anyhow::Result<i64>;
    /// Writes a signed export of the events recorded in `[from, to)` of `streams` (all streams
    /// when empty) into the new directory `dir`; how many events it holds.
    async fn export(
        &self,
        dir: &std::path::Path,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        streams: Vec<(String, String)>,
    ) -> anyhow::Result<u64>;
}

fn signer(state: &AppState) -> Result<std::sync::Arc<dyn Signer>, ApiError> {
    state.config.audit_signer.clone().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "audit.no_signing_key",
            "this process holds no audit signing key (AGORA_AUDIT_KEY_FILE): sign with `agora audit checkpoint` or `agora audit export` where the key is",
        )
    })
}

/// The columns every read of the log selects.
const COLUMNS: &str = "position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

/// One event of the log with its place in the whole log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogEvent {
    /// The event's position in the whole log (the order events were stored in).
    pub position: i64,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub event: RecordedEvent,
}

fn log_event(row: &sqlx::postgres::PgRow) -> LogEvent {
    LogEvent {
        position: row.get("position"),
        event: agora_runtime::row_to_event(row),
    }
}

fn stream_id(aggregate_type: &str, aggregate_id: &str) -> Result<(), ApiError> {
    if subjects::is_token(aggregate_type) && subjects::is_token(aggregate_id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "request.invalid_id",
            "malformed stream id",
        ))
    }
}

fn limit(limit: Option<u32>) -> Result<i64, ApiError> {
    match limit.unwrap_or(DEFAULT_EVENTS) {
        n @ 1..=MAX_EVENTS => Ok(i64::from(n)),
        _ => Err(params::invalid_query(format!("limit is 1 to {MAX_EVENTS}"))),
    }
}

fn check_range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<(), ApiError> {
    match (from, to) {
        (Some(f), Some(t)) if t < f => Err(params::invalid_query("to is before from")),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// One stream

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Only events after this sequence (the previous page's `next_after`).
    pub after: Option<u64>,
    /// Events per page, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// Only events recorded at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only events recorded before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Also verify the whole stream's hash chain against the latest checkpoint.
    #[serde(default)]
    pub verify: bool,
}

/// A stream's head: its last sequence and that event's chain hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct Head {
    pub sequence: u64,
    pub hash: String,
}

/// A page of one stream's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditedStream {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The stream's last event now.
    pub head: Head,
    pub events: Vec<LogEvent>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<u64>,
    /// With `verify=true`: the whole stream checked.
    pub verdict: Option<StreamVerdict>,
}

/// Whether a stream's history is what was recorded, and what was anchored.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamVerdict {
    pub events: u64,
    /// The chain checks out and agrees with the latest checkpoint that anchored the stream.
    pub intact: bool,
    /// The first sequence whose hash or position does not check out.
    pub broken_at: Option<u64>,
    pub head_hash: String,
    /// The checkpoint the stream was compared with, if one anchored it.
    pub checkpoint: Option<i64>,
    /// What is wrong, if anything.
    #[schema(value_type = Option<Object>)]
    pub problem: Option<agora_audit::Problem>,
}

/// A page of one stream's events, in order, with metadata; with `verify=true` the whole
/// stream's hash chain checked against the latest signed checkpoint.
#[utoipa::path(get, path = "/audit/streams/{aggregate_type}/{aggregate_id}", tag = "audit",
    params(("aggregate_type" = String, Path, description = "e.g. cart", pattern = "^[A-Za-z0-9_-]{1,128}$"),
        ("aggregate_id" = String, Path, description = "stream id", pattern = "^[A-Za-z0-9_-]{1,128}$"), StreamQuery),
    security(("bearer" = [])),
    responses((status = 200, body = AuditedStream), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
    Query(q): Query<StreamQuery>,
) -> Result<Json<AuditedStream>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Audit, false)?;
    stream_id(&aggregate_type, &aggregate_id)?;
    let limit = limit(q.limit)?;
    check_range(q.from, q.to)?;
    let after = i64::try_from(q.after.unwrap_or(0))
        .map_err(|_| params::invalid_query("after is too large"))?;
    let head = head_of(&state.pool, &aggregate_type, &aggregate_id)
        .await?
        .ok_or_else(|| ApiError::not_found("stream.not_found", "no such stream"))?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events
         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
           AND ($4::timestamptz IS NULL OR recorded_at >= $4)
           AND ($5::timestamptz IS NULL OR recorded_at < $5)
         ORDER BY sequence LIMIT $6"
    ))
    .bind(&aggregate_type)
    .bind(&aggregate_id)
    .bind(after)
    .bind(q.from)
    .bind(q.to)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let mut events: Vec<LogEvent> = rows.iter().map(log_event).collect();
    let next_after = if events.len() as i64 > limit {
        events.truncate(limit as usize);
        events.last().map(|e| e.event.sequence)
    } else {
        None
    };
    let verdict = if q.verify {
        Some(verify_stream(&state.pool, &aggregate_type, &aggregate_id).await?)
    } else {
        None
    };
    Ok(Json(AuditedStream {
        aggregate_type,
        aggregate_id,
        head,
        events,
        next_after,
        verdict,
    }))
}

async fn head_of(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<Head>, sqlx::Error> {
    let row: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT sequence, metadata->>'hash' FROM events
         WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(sequence, hash)| Head {
        sequence: sequence as u64,
        hash: hash.unwrap_or_default(),
    }))
}

/// The head the latest checkpoint anchored for a stream, with that checkpoint's id.
pub async fn anchored_head(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<(i64, agora_audit::StreamHead)>, sqlx::Error> {
    let row: Option<(i64, i64, String)> = sqlx::query_as(
        "SELECT (SELECT max(id) FROM audit_checkpoints), sequence, hash FROM audit_checkpoint_heads
         WHERE aggregate_type = $1 AND aggregate_id = $2
         ORDER BY checkpoint_id DESC LIMIT 1",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(checkpoint, sequence, hash)| {
        (
            checkpoint,
            agora_audit::StreamHead {
                aggregate_type: aggregate_type.to_string(),
                aggregate_id: aggregate_id.to_string(),
                sequence: sequence as u64,
                hash,
            },
        )
    }))
}

/// Checks a whole stream, streaming its events (constant memory), against the latest
/// checkpoint that anchored it.
pub async fn verify_stream(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<StreamVerdict, ApiError> {
    let anchored = anchored_head(pool, aggregate_type, aggregate_id).await?;
    let mut verifier = agora_audit::StreamVerifier::new(
        aggregate_type,
        aggregate_id,
        anchored.as_ref().map(|(_, head)| head),
    );
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence"
    );
    let mut rows = sqlx::query(&sql)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        verifier.push(&agora_runtime::row_to_event(&row));
    }
    let finding = verifier.finish();
    let broken_at = match &finding.problem {
        Some(agora_audit::Problem::ChainBroken { at }) => Some(*at),
        _ => None,
    };
    Ok(StreamVerdict {
        events: finding.events,
        intact: finding.problem.is_none(),
        broken_at,
        head_hash: finding.head_hash,
        checkpoint: anchored.map(|(id, _)| id),
        problem: finding.problem,
    })
}

// ---------------------------------------------------------------------------------------------
// Searching the log

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Stream type, e.g. `order`.
    pub aggregate_type: Option<String>,
    /// Stream id (with `aggregate_type`).
    pub aggregate_id: Option<String>,
    /// Event type, e.g. `OrderPlaced`.
    pub event_type: Option<String>,
    /// Who acted: an account, staff or system id, or `guest`.
    pub actor: Option<String>,
    /// The request that caused the events.
    pub correlation_id: Option<String>,
    /// Recorded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Only events before this position (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Events per page, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// A page of the log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    pub items: Vec<LogEvent>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

fn token_filter(name: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v) if !subjects::is_token(v) => Err(params::invalid_query(format!(
            "{name} is 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'"
        ))),
        _ => Ok(()),
    }
}

/// Searches the whole log, newest first: by stream, event type, actor, correlation id and time.
#[utoipa::path(get, path = "/audit/events", tag = "audit", params(SearchQuery),
    security(("bearer" = [])),
    responses((status = 200, body = LogPage), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Result<Json<LogPage>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Audit, false)?;
    let limit = limit(q.limit)?;
    check_range(q.from, q.to)?;
    token_filter("aggregate_type", &q.aggregate_type)?;
    token_filter("aggregate_id", &q.aggregate_id)?;
    token_filter("event_type", &q.event_type)?;
    if q.aggregate_id.is_some() && q.aggregate_type.is_none() {
        return Err(params::invalid_query("aggregate_id needs aggregate_type"));
    }
    if let Some(a) = &q.actor {
        if a.is_empty() || a.len() > 200 || a.chars().any(char::is_control) {
            return Err(params::invalid_query(
                "actor is 1 to 200 printable characters",
            ));
        }
    }
    if let Some(c) = &q.correlation_id {
        if uuid::Uuid::parse_str(c).is_err() {
            return Err(params::invalid_query("correlation_id is a UUID"));
        }
    }
    if q.before.is_some_and(|b| b < 1) {
        return Err(params::invalid_query("before is a position, at least 1"));
    }
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events
         WHERE ($1::text IS NULL OR aggregate_type = $1)
           AND ($2::text IS NULL OR aggregate_id = $2)
           AND ($3::text IS NULL OR event_type = $3)
           AND ($4::text IS NULL OR actor = $4)
           AND ($5::text IS NULL OR correlation_id = $5)
           AND ($6::timestamptz IS NULL OR recorded_at >= $6)
           AND ($7::timestamptz IS NULL OR recorded_at < $7)
           AND ($8::bigint IS NULL OR position < $8)
         ORDER BY position DESC LIMIT $9"
    ))
    .bind(&q.aggregate_type)
    .bind(&q.aggregate_id)
    .bind(&q.event_type)
    .bind(&q.actor)
    .bind(q.correlation_id.as_ref().map(|c| c.to_lowercase()))
    .bind(q.from)
    .bind(q.to)
    .bind(q.before)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let mut items: Vec<LogEvent> = rows.iter().map(log_event).collect();
    let next_before = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|e| e.position)
    } else {
        None
    };
    Ok(Json(LogPage { items, next_before }))
}

/// One event of the log, with its metadata (actor, correlation, cause, time, chain hashes).
#[utoipa::path(get, path = "/audit/events/{position}", tag = "audit",
    params(("position" = i64, Path, description = "the event's position in the log", minimum = 1)),
    security(("bearer" = [])),
    responses((status = 200, body = LogEvent), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
pub async fn event(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(position): Path<String>,
) -> Result<Json<LogEvent>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Audit, false)?;
    let position: i64 = position.parse().ok().filter(|p| *p >= 1).ok_or_else(|| {
        ApiError::bad_request("request.invalid_id", "a position is a number, at least 1")
    })?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM events WHERE position = $1"))
        .bind(position)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("event.not_found", "no event at this position"))?;
    Ok(Json(log_event(&row)))
}

// ---------------------------------------------------------------------------------------------
// Time travel

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// The state after this sequence.
    pub sequence: Option<u64>,
    /// The state at this instant (RFC 3339): after every event recorded at or before it.
    pub at: Option<DateTime<Utc>>,
}

/// One point of a stream's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct Point {
    /// The last event folded (0: before the stream began).
    pub sequence: u64,
    /// When that event was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// An aggregate's state at one point of its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateAsOf {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub as_of: Point,
    /// The aggregate's full view then, as its service would have replied.
    #[schema(value_type = Object)]
    pub state: serde_json::Value,
}

/// How far to fold a stream.
#[derive(Clone, Copy, Debug)]
enum Until {
    Sequence(u64),
    At(DateTime<Utc>),
}

fn until(sequence: Option<u64>, at: Option<DateTime<Utc>>, what: &str) -> Result<Until, ApiError> {
    match (sequence, at) {
        (Some(s), None) if i64::try_from(s).is_ok() => Ok(Until::Sequence(s)),
        (None, Some(at)) => Ok(Until::At(at)),
        _ => Err(params::invalid_query(format!(
            "give one of {what}sequence and {what}at"
        ))),
    }
}

/// Folds one stream up to a point with the aggregate's own `evolve`, streaming the events.
async fn fold_until<A: Decider>(
    pool: &PgPool,
    aggregate_id: &str,
    until: Until,
) -> Result<(serde_json::Value, Point), ApiError> {
    let (sequence, at) = match until {
        Until::Sequence(s) => (s as i64, None),
        Until::At(at) => (i64::MAX, Some(at)),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM events
         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence <= $3
           AND ($4::timestamptz IS NULL OR recorded_at <= $4)
         ORDER BY sequence"
    );
    let mut rows = sqlx::query(&sql)
        .bind(A::TYPE)
        .bind(aggregate_id)
        .bind(sequence)
        .bind(at)
        .fetch(pool);
    let mut state = A::default();
    let mut point = Point {
        sequence: 0,
        recorded_at: None,
    };
    while let Some(row) = rows.try_next().await? {
        let e = agora_runtime::row_to_event(&row);
        let event: A::Event = serde::Deserialize::deserialize(&e.payload).map_err(|err| {
            ApiError::from(agora_kernel::ErrorBody::internal(format!(
                "cannot read {} {} #{}: {err}",
                e.aggregate_type, e.aggregate_id, e.sequence
            )))
        })?;
        state.evolve(&event);
        point = Point {
            sequence: e.sequence,
            recorded_at: e.recorded_at(),
        };
    }
    let view = serde_json::to_value(state.view(aggregate_id, point.sequence))
        .map_err(|e| ApiError::from(agora_kernel::ErrorBody::internal(e.to_string())))?;
    Ok((view, point))
}

/// Folds a stream of any known aggregate type: the one list of the types time travel knows.
async fn replay(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    until: Until,
) -> Result<(serde_json::Value, Point), ApiError> {
    let id = aggregate_id;
    match aggregate_type {
        "cart" => fold_until::<agora_cart::Cart>(pool, id, until).await,
        "product" => fold_until::<agora_catalog::Product>(pool, id, until).await,
        "category" => fold_until::<agora_catalog::Category>(pool, id, until).await,
        "stock" => fold_until::<agora_inventory::StockItem>(pool, id, until).await,
        "order" => fold_until::<agora_order::Order>(pool, id, until).await,
        "payment" => fold_until::<agora_payment::Payment>(pool, id, until).await,
        "checkout" => fold_until::<agora_checkout::Checkout>(pool, id, until).await,
        "promotion" => fold_until::<agora_promotion::Promotion>(pool, id, until).await,
        "shipping_profile" => fold_until::<agora_shipping::ShippingProfile>(pool, id, until).await,
        "shipment" => fold_until::<agora_fulfilment::Shipment>(pool, id, until).await,
        "return" => fold_until::<agora_returns::Return>(pool, id, until).await,
        "vendor" => fold_until::<agora_vendor::Vendor>(pool, id, until).await,
        "review" => fold_until::<agora_review::Review>(pool, id, until).await,
        "account" => fold_until::<agora_identity::Account>(pool, id, until).await,
        "session" => fold_until::<agora_identity::Session>(pool, id, until).await,
        _ => Err(ApiError::not_found(
            "stream.not_found",
            "no such stream type",
        )),
    }
}

async fn existing(pool: &PgPool, aggregate_type: &str, aggregate_id: &str) -> Result<(), ApiError> {
    head_of(pool, aggregate_type, aggregate_id)
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("stream.not_found", "no such stream"))
}

/// An aggregate's state as of a sequence or an instant, folded from its events by the same
/// pure `evolve` its service uses.
#[utoipa::path(get, path = "/audit/streams/{aggregate_type}/{aggregate_id}/state", tag = "audit",
    params(("aggregate_type" = String, Path, description = "e.g. order", pattern = "^[A-Za-z0-9_-]{1,128}$"),
        ("aggregate_id" = String, Path, description = "stream id", pattern = "^[A-Za-z0-9_-]{1,128}$"), AsOfQuery),
    security(("bearer" = [])),
    responses((status = 200, body = StateAsOf), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
pub async fn state_as_of(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
    Query(q): Query<AsOfQuery>,
) -> Result<Json<StateAsOf>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Audit, false)?;
    stream_id(&aggregate_type, &aggregate_id)?;
    let until = until(q.sequence, q.at, "")?;
    existing(&state.pool, &aggregate_type, &aggregate_id).await?;
    let (view, as_of) = replay(&state.pool, &aggregate_type, &aggregate_id, until).await?;
    Ok(Json(StateAsOf {
        aggregate_type,
        aggregate_id,
        as_of,
        state: view,
    }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    pub from_sequence: Option<u64>,
    /// RFC 3339.
    pub from_at: Option<DateTime<Utc>>,
    pub to_sequence: Option<u64>,
    /// RFC 3339.
    pub to_at: Option<DateTime<Utc>>,
}

/// What changed in an aggregate's state between two points of its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateDiff {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub from: Point,
    pub to: Point,
    /// RFC 6902 JSON Patch from the first state to the second.
    #[schema(value_type = Vec<Object>)]
    pub patch: json_patch::Patch,
}

/// The difference between an aggregate's states at two points (sequences or instants), as a
/// JSON Patch.
#[utoipa::path(get, path = "/audit/streams/{aggregate_type}/{aggregate_id}/diff", tag = "audit",
    params(("aggregate_type" = String, Path, description = "e.g. order", pattern = "^[A-Za-z0-9_-]{1,128}$"),
        ("aggregate_id" = String, Path, description = "stream id", pattern = "^[A-Za-z0-9_-]{1,128}$"), DiffQuery),
    security(("bearer" = [])),
    responses((status = 200, body = StateDiff), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<StateDiff>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Audit, false)?;
    stream_id(&aggregate_type, &aggregate_id)?;
    let from = until(q.from_sequence, q.from_at, "from_")?;
    let to = until(q.to_sequence, q.to_at, "to_")?;
    existing(&state.pool, &aggregate_type, &aggregate_id).await?;
    let (a, from) = replay(&state.pool, &aggregate_type, &aggregate_id, from).await?;
    let (b, to) = replay(&state.pool, &aggregate_type, &aggregate_id, to).await?;
    Ok(Json(StateDiff {
        aggregate_type,
        aggregate_id,
        from,
        to,
        patch: json_patch::diff(&a, &b),
    }))
}

// ---------------------------------------------------------------------------------------------
// Causal chains

/// One event of a causal chain, with what caused it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainEvent {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: u64,
    pub event_type: String,
    pub recorded_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    /// The message that caused it: the request, a command, or another event
    /// (`<type>/<id>/<sequence>`).
    pub causation_id: String,
    /// The position of the event that caused it, when that event is in the chain.
    pub caused_by: Option<i64>,
}

/// A node of the tree of causes: an event and the events it caused.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainNode {
    pub position: i64,
    #[schema(no_recursion)]
    pub caused: Vec<ChainNode>,
}

/// Everything one request caused.
#[derive(Debug, Serialize, ToSchema)]
pub struct CausalChain {
    pub correlation_id: String,
    /// Every event, in the order they were stored.
    pub events: Vec<ChainEvent>,
    /// The events the request caused directly, each with what it caused in turn.
    pub tree: Vec<ChainNode>,
    /// Per stream type, how many events.
    pub streams: HashMap<String, u64>,
}

/// Every event one request (its correlation id) caused, across all streams, in order, with
/// its causes as a tree.
#[utoipa::path(get, path = "/audit/correlations/{correlation_id}", tag = "audit",
    params(("correlation_id" = String, Path, description = "an HTTP request's id", format = "uuid")),
    security(("bearer" = [])),
    responses((status = 200, body = CausalChain), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
pub async fn chain(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(correlation_id): Path<String>,
) -> Result<Json<CausalChain>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Audit, false)?;
    let correlation_id = params::uuid_id(&correlation_id, "correlation")?;
    let chain = causal_chain(&state.pool, &correlation_id).await?;
    if chain.events.is_empty() {
        return Err(ApiError::not_found(
            "correlation.not_found",
            "no event carries this correlation id",
        ));
    }
    Ok(Json(chain))
}

/// The causal chain of one correlation id: one indexed query, then the tree in memory.
pub async fn causal_chain(pool: &PgPool, correlation_id: &str) -> Result<CausalChain, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT position, aggregate_type, aggregate_id, sequence, event_type, recorded_at,
                metadata->'actor' AS actor, metadata->>'causation_id' AS causation_id
         FROM events WHERE correlation_id = $1 ORDER BY position LIMIT $2",
    )
    .bind(correlation_id)
    .bind(MAX_CHAIN)
    .fetch_all(pool)
    .await?;
    let mut events: Vec<ChainEvent> = rows
        .iter()
        .map(|r| ChainEvent {
            position: r.get("position"),
            aggregate_type: r.get("aggregate_type"),
            aggregate_id: r.get("aggregate_id"),
            sequence: r.get::<i64, _>("sequence") as u64,
            event_type: r.get("event_type"),
            recorded_at: r.get("recorded_at"),
            actor: r
                .get::<Option<serde_json::Value>, _>("actor")
                .unwrap_or_default(),
            causation_id: r
                .get::<Option<String>, _>("causation_id")
                .unwrap_or_default(),
            caused_by: None,
        })
        .collect();
    let by_msg_id: HashMap<String, i64> = events
        .iter()
        .map(|e| {
            (
                format!("{}/{}/{}", e.aggregate_type, e.aggregate_id, e.sequence),
                e.position,
            )
        })
        .collect();
    let mut streams = HashMap::new();
    for e in &mut events {
        e.caused_by = by_msg_id.get(&e.causation_id).copied();
        *streams.entry(e.aggregate_type.clone()).or_insert(0) += 1;
    }
    let tree = tree(&events);
    Ok(CausalChain {
        correlation_id: correlation_id.to_string(),
        events,
        tree,
        streams,
    })
}

/// Builds the tree of causes; children in log order.
fn tree(events: &[ChainEvent]) -> Vec<ChainNode> {
    let mut children: HashMap<Option<i64>, Vec<i64>> = HashMap::new();
    for e in events {
        children.entry(e.caused_by).or_default().push(e.position);
    }
    fn build(at: Option<i64>, children: &HashMap<Option<i64>, Vec<i64>>) -> Vec<ChainNode> {
        children
            .get(&at)
            .map(|positions| {
                positions
                    .iter()
                    .map(|p| ChainNode {
                        position: *p,
                        caused: build(Some(*p), children),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    build(None, &children)
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

/// A signed checkpoint as stored.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CheckpointRow {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// Streams anchored.
    pub streams: i64,
    /// Events anchored (the sum of the heads' sequences).
    pub events: i64,
    pub merkle_root: String,
    pub key_id: String,
    pub public_key: String,
    pub signature: String,
    /// Where the checkpoint was published, if anywhere.
    pub published_to: Option<String>,
}

/// The latest signed checkpoints, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointList {
    pub items: Vec<CheckpointRow>,
}

/// The latest 100 signed checkpoints, newest first.
#[utoipa::path(get, path = "/audit/checkpoints", tag = "audit",
    security(("bearer" = [])),
    responses((status = 200, body = CheckpointList), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn checkpoints(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<CheckpointList>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Audit, false)?;
    let items: Vec<CheckpointRow> = sqlx::query_as(
        "SELECT id, created_at, streams, events, merkle_root, key_id, public_key, signature, published_to
         FROM audit_checkpoints ORDER BY id DESC LIMIT 100",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(CheckpointList { items }))
}

/// Signs a checkpoint of every stream's head now (also taken hourly by role `audit`).
#[utoipa::path(post, path = "/audit/checkpoints", tag = "audit",
    security(("bearer" = [])),
    responses((status = 201, body = CheckpointRow), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody, description = "audit.no_signing_key: this process holds no signing key")))]
pub async fn sign_checkpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<(axum::http::StatusCode, Json<CheckpointRow>), ApiError> {
    auth::back_office(&state, &headers, auth::Area::Audit, true)?;
    let signer = signer(&state)?;
    let id = signer.checkpoint().await.map_err(|e| {
        tracing::error!(error = %e, "audit checkpoint failed");
        ApiError::from(agora_kernel::ErrorBody::unavailable(
            "the checkpoint could not be taken",
        ))
    })?;
    let row: CheckpointRow = sqlx::query_as(
        "SELECT id, created_at, streams, events, merkle_root, key_id, public_key, signature, published_to
         FROM audit_checkpoints WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&state.pool)
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(row)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Events recorded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Events recorded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Streams as `type/id`, comma-separated, at most 100; none: every stream.
    pub streams: Option<String>,
}

/// Most streams one export names.
const MAX_EXPORT_STREAMS: usize = 100;

fn export_streams(raw: &Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = raw.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let streams: Vec<(String, String)> = raw
        .split(',')
        .map(|s| match s.split_once('/') {
            Some((t, i)) if subjects::is_token(t) && subjects::is_token(i) => {
                Ok((t.to_string(), i.to_string()))
            }
            _ => Err(params::invalid_query(
                "streams are type/id pairs, comma-separated",
            )),
        })
        .collect::<Result<_, _>>()?;
    if streams.len() > MAX_EXPORT_STREAMS {
        return Err(params::invalid_query(format!(
            "at most {MAX_EXPORT_STREAMS} streams"
        )));
    }
    Ok(streams)
}

/// A signed, self-verifying export of a time range and/or a set of streams, as one tar file
/// (`export/events.jsonl`, `export/manifest.json`, `export/manifest.sig`); check it with
/// `agora-audit-verify export export --public-key <hex>`.
#[utoipa::path(get, path = "/audit/export", tag = "audit", params(ExportQuery),
    security(("bearer" = [])),
    responses((status = 200, content_type = "application/x-tar", description = "the export, as a tar archive"),
        (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody, description = "audit.no_signing_key: this process holds no signing key")))]
pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    auth::back_office(&state, &headers, auth::Area::Audit, false)?;
    check_range(q.from, q.to)?;
    let streams = export_streams(&q.streams)?;
    let signer = signer(&state)?;
    let failed = |e: anyhow::Error| {
        tracing::error!(error = %e, "audit export failed");
        ApiError::from(agora_kernel::ErrorBody::unavailable(
            "the export could not be written",
        ))
    };
    let work = tempfile::tempdir().map_err(|e| failed(e.into()))?;
    let dir = work.path().join("export");
    signer
        .export(&dir, q.from, q.to, streams)
        .await
        .map_err(failed)?;
    // The archive is written to a file and streamed from it: memory does not grow with the
    // export. The directory goes when the work is done; the open file stays readable.
    let archive = tokio::task::spawn_blocking(move || -> anyhow::Result<std::fs::File> {
        let path = work.path().join("export.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&path)?);
        builder.append_dir_all("export", &dir)?;
        builder.into_inner()?.sync_all()?;
        let file = std::fs::File::open(&path)?;
        drop(work);
        Ok(file)
    })
    .await
    .map_err(|e| failed(e.into()))?
    .map_err(failed)?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(archive),
    ));
    let name = format!("agora-export-{}.tar", Utc::now().format("%Y%m%dT%H%M%SZ"));
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/x-tar".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: i64, id: &str, sequence: u64, cause: &str) -> ChainEvent {
        ChainEvent {
            position,
            aggregate_type: "t".into(),
            aggregate_id: id.into(),
            sequence,
            event_type: "E".into(),
            recorded_at: None,
            actor: serde_json::Value::Null,
            causation_id: cause.into(),
            caused_by: None,
        }
    }

    #[test]
    fn the_tree_hangs_each_event_under_the_event_that_caused_it() {
        let mut events = vec![
            event(1, "a", 1, "request"),
            event(2, "b", 1, "t/a/1"),
            event(3, "c", 1, "t/a/1"),
            event(4, "d", 1, "t/b/1"),
            event(5, "e", 1, "request"),
        ];
        let ids: HashMap<String, i64> = events
            .iter()
            .map(|e| (format!("t/{}/{}", e.aggregate_id, e.sequence), e.position))
            .collect();
        for e in &mut events {
            e.caused_by = ids.get(&e.causation_id).copied();
        }
        let t = tree(&events);
        let shape: Vec<(i64, Vec<i64>)> = t
            .iter()
            .map(|n| (n.position, n.caused.iter().map(|c| c.position).collect()))
            .collect();
        assert_eq!(shape, vec![(1, vec![2, 3]), (5, vec![])]);
        assert_eq!(t[0].caused[0].caused[0].position, 4);
    }
}
