//! `/admin/reconciliation`: the latest reconciliation of the payment provider's statement with
//! our payments (run nightly and by `agora reconcile`), with every mismatch it found.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiErrorBody, Json};
use crate::{auth, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/reconciliation", get(latest))
}

/// One reconciliation run.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ReconciliationRun {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `test` or `stripe`.
    pub provider: String,
    /// Payments first recorded from then on; absent: the whole history.
    pub since: Option<DateTime<Utc>>,
    pub payments: i64,
    /// The provider's records compared.
    pub records: i64,
    pub mismatches: i64,
    /// The fee rule checked (`2.9%+30`); absent: fees not checked.
    pub fee_rule: Option<String>,
}

/// One difference between the provider's statement and our payments.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ReconciliationMismatch {
    /// `captured_here_not_there`, `captured_there_not_here`, `capture_amount_differs`,
    /// `refund_missing_there`, `refund_missing_here`, `refund_amount_differs`, `fee_differs` or
    /// `currency_differs`.
    pub kind: String,
    /// Our payment (the order id), when we have one.
    pub payment_id: Option<String>,
    /// The provider's payment (a payment intent).
    pub provider_ref: String,
    pub currency: Option<String>,
    /// What our events say, in minor units.
    pub ours_minor: Option<i64>,
    /// What the provider's statement says, in minor units.
    pub theirs_minor: Option<i64>,
    pub detail: String,
}

/// The latest run and its mismatches.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reconciliation {
    /// Absent until the first run.
    pub run: Option<ReconciliationRun>,
    pub mismatches: Vec<ReconciliationMismatch>,
}

/// The latest reconciliation of the payment provider's statement with our payments, and every
/// mismatch it found.
#[utoipa::path(get, path = "/admin/reconciliation", tag = "payments",
    security(("bearer" = [])),
    responses((status = 200, body = Reconciliation), (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
pub async fn latest(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Reconciliation>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let run: Option<ReconciliationRun> = sqlx::query_as(
        "SELECT id, started_at, finished_at, provider, since, payments, records, mismatches, fee_rule
         FROM reconciliation_runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&state.pool)
    .await?;
    let mismatches =
        match &run {
            Some(r) => sqlx::query_as(
                "SELECT kind, payment_id, provider_ref, currency, ours_minor, theirs_minor, detail
                 FROM reconciliation_mismatches WHERE run_id = $1 ORDER BY n LIMIT 10000",
            )
            .bind(r.id)
            .fetch_all(&state.pool)
            .await?,
            None => Vec::new(),
        };
    Ok(Json(Reconciliation { run, mismatches }))
}
