//! `/admin/promotions`: promotions and coupon codes in the back office, served by the
//! promotion service over NATS; the list and the redemptions report come from the
//! `promotions` read model. Shoppers never see a promotion here: the checkout prices carts
//! with them (`code` in the checkout body).

use agora_promotion::{CodeSpec, PromotionCommand, PromotionTerms};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiErrorBody, Json, Path};
use crate::{auth, params, service, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/promotions",
            post(create_promotion).get(list_promotions),
        )
        .route(
            "/admin/promotions/{promotion_id}",
            get(get_promotion).put(revise_promotion),
        )
        .route(
            "/admin/promotions/{promotion_id}/{transition}",
            post(change_status),
        )
        .route("/admin/reports/promotions.csv", get(redemptions_report))
}

/// Body of `POST /admin/promotions`: the terms and how shoppers get the promotion.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePromotion {
    /// `{name, currency, action, applies_to?, eligibility?, window?, limits?, stacking?}`;
    /// amounts are `{amount_minor, currency}`, percentages basis points.
    #[schema(value_type = Object)]
    pub terms: PromotionTerms,
    /// `"automatic"`, `{"code": {"code": "SUMMER10"}}` or
    /// `{"unique_codes": {"prefix": "VIP", "count": 100, "seed": 42}}`.
    #[schema(value_type = Object)]
    pub codes: CodeSpec,
}

/// A promotion as the back office sees it (the promotion service's view).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PromotionReply {
    pub promotion_id: String,
    #[schema(value_type = Object)]
    pub promotion: serde_json::Value,
}

fn promotion_id(raw: &str) -> Result<String, ApiError> {
    params::uuid_id(raw, "promotion")
}

/// Create a promotion as a draft (admin, staff). With an `Idempotency-Key`, a retry creates
/// nothing more and answers the same promotion; a code another promotion holds is
/// `409 promotion.code_taken`.
#[utoipa::path(post, path = "/admin/promotions", tag = "promotions",
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    request_body = CreatePromotion, security(("bearer" = [])),
    responses((status = 201, body = PromotionReply), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
              (status = 503, body = ApiErrorBody)))]
pub async fn create_promotion(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CreatePromotion>,
) -> Result<(StatusCode, Json<PromotionReply>), ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, true)?;
    let command_id = service::command_id(&headers, &principal)?;
    // The stream id follows from the command id, so a retried create names the same stream.
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("agora:promotion:{command_id}").as_bytes(),
    )
    .to_string();
    let command = PromotionCommand::Create {
        terms: body.terms,
        codes: body.codes,
        now: Utc::now(),
    };
    let reply: agora_nats::CommandReply<serde_json::Value> =
        service::command_as(&state, &headers, id.clone(), command_id, principal, command).await?;
    let status = if reply.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(PromotionReply {
            promotion_id: id,
            promotion: reply.view,
        }),
    ))
}

/// One promotion with its codes, uses and budget, from its own stream (admin, staff, auditor).
#[utoipa::path(get, path = "/admin/promotions/{promotion_id}", tag = "promotions",
    params(("promotion_id" = String, Path, description = "promotion id")), security(("bearer" = [])),
    responses((status = 200, body = PromotionReply), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn get_promotion(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<PromotionReply>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let id = promotion_id(&id)?;
    let view: serde_json::Value =
        service::get::<agora_promotion::Promotion, _>(&state, &headers, id.clone(), principal)
            .await?;
    Ok(Json(PromotionReply {
        promotion_id: id,
        promotion: view,
    }))
}

/// Body of `PUT /admin/promotions/{id}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisePromotion {
    /// The whole new terms (as in `POST /admin/promotions`).
    #[schema(value_type = Object)]
    pub terms: PromotionTerms,
}

/// Replace the terms of a draft promotion (admin, staff); once activated its terms are fixed
/// (`409 promotion.not_editable`), so no order is ever priced by terms that changed under it.
#[utoipa::path(put, path = "/admin/promotions/{promotion_id}", tag = "promotions",
    params(("promotion_id" = String, Path, description = "promotion id"),
           ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    request_body = RevisePromotion, security(("bearer" = [])),
    responses((status = 200, body = PromotionReply), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
              (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn revise_promotion(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<RevisePromotion>,
) -> Result<Json<PromotionReply>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, true)?;
    let id = promotion_id(&id)?;
    let command = PromotionCommand::Revise {
        terms: body.terms,
        now: Utc::now(),
    };
    let reply: agora_nats::CommandReply<serde_json::Value> =
        service::command(&state, &headers, id.clone(), principal, command).await?;
    Ok(Json(PromotionReply {
        promotion_id: id,
        promotion: reply.view,
    }))
}

/// Activate (draft or paused → active), pause (active → paused) or end (for good) a promotion
/// (admin, staff). Repeating a transition already made changes nothing.
#[utoipa::path(post, path = "/admin/promotions/{promotion_id}/{transition}", tag = "promotions",
    params(("promotion_id" = String, Path, description = "promotion id"),
           ("transition" = String, Path, description = "`activate`, `pause` or `end`"),
           ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    security(("bearer" = [])),
    responses((status = 200, body = PromotionReply), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
              (status = 503, body = ApiErrorBody)))]
pub async fn change_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, transition)): Path<(String, String)>,
) -> Result<Json<PromotionReply>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, true)?;
    let id = promotion_id(&id)?;
    let now = Utc::now();
    let command = match transition.as_str() {
        "activate" => PromotionCommand::Activate { now },
        "pause" => PromotionCommand::Pause { now },
        "end" => PromotionCommand::End { now },
        _ => {
            return Err(ApiError::not_found(
                "route.not_found",
                "no such transition: activate, pause or end",
            ))
        }
    };
    let reply: agora_nats::CommandReply<serde_json::Value> =
        service::command(&state, &headers, id.clone(), principal, command).await?;
    Ok(Json(PromotionReply {
        promotion_id: id,
        promotion: reply.view,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PromotionFilter {
    /// `draft`, `active`, `paused` or `ended`.
    pub status: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// One promotion in the back-office list.
#[derive(Debug, Deserialize, Serialize, ToSchema, sqlx::FromRow)]
pub struct PromotionRow {
    pub promotion_id: String,
    pub name: String,
    pub status: String,
    /// `automatic`, `code` or `unique_codes`.
    pub kind: String,
    pub currency: String,
    pub code: Option<String>,
    pub priority: i32,
    /// Uses held or final.
    pub uses: i64,
    pub confirmed_uses: i64,
    /// Discount given (held or final), minor units.
    pub spent_minor: i64,
    pub total_uses: Option<i64>,
    pub budget_minor: Option<i64>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PromotionPage {
    pub total: i64,
    pub items: Vec<PromotionRow>,
}

#[derive(sqlx::FromRow)]
struct PromotionRecord {
    #[sqlx(flatten)]
    row: PromotionRow,
    total: i64,
}

/// List promotions from the read model, newest first (admin, staff, auditor).
#[utoipa::path(get, path = "/admin/promotions", tag = "promotions", params(PromotionFilter),
    security(("bearer" = [])),
    responses((status = 200, body = PromotionPage), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody)))]
pub async fn list_promotions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<PromotionFilter>,
) -> Result<Json<PromotionPage>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let (limit, offset) = params::page(filter.limit, filter.offset)?;
    if let Some(status) = &filter.status {
        if !matches!(status.as_str(), "draft" | "active" | "paused" | "ended") {
            return Err(params::invalid_query(
                "status is draft, active, paused or ended",
            ));
        }
    }
    let records: Vec<PromotionRecord> = sqlx::query_as(
        "SELECT promotion_id, name, status, kind, currency, code, priority, uses, confirmed_uses,
                spent_minor, total_uses, budget_minor, version, created_at, updated_at,
                count(*) OVER () AS total
         FROM promotions
         WHERE ($1::text IS NULL OR status = $1)
         ORDER BY created_at DESC, promotion_id DESC
         LIMIT $2 OFFSET $3",
    )
    .bind(filter.status.as_deref())
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total = records.first().map(|r| r.total).unwrap_or(0);
    Ok(Json(PromotionPage {
        total,
        items: records.into_iter().map(|r| r.row).collect(),
    }))
}

/// A CSV field, quoted when it must be (RFC 4180), and never read as a formula by a
/// spreadsheet (a leading `=`, `+`, `-` or `@` gets a `'`).
pub(crate) fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Redemptions per promotion as CSV (admin, staff, auditor): paid orders that carry it, the
/// discount they were given and their revenue (order totals), in minor units of the
/// promotion's currency. Orders still being paid are not counted.
#[utoipa::path(get, path = "/admin/reports/promotions.csv", tag = "reports", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody)))]
pub async fn redemptions_report(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let rows: Vec<(String, String, String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT p.promotion_id, p.name, p.status, p.currency, p.confirmed_uses, p.confirmed_minor,
                COALESCE((SELECT sum(o.total_minor) FROM orders o
                          WHERE o.order_id IN (SELECT r.order_id FROM promotion_redemptions r
                                               WHERE r.promotion_id = p.promotion_id
                                                 AND r.state = 'confirmed')), 0)::bigint
         FROM promotions p
         ORDER BY p.created_at, p.promotion_id",
    )
    .fetch_all(&state.pool)
    .await?;
    let mut csv = String::from(
        "promotion_id,name,status,currency,redemptions,discount_minor,revenue_minor\n",
    );
    for (id, name, status, currency, uses, discount, revenue) in rows {
        csv.push_str(&format!(
            "{id},{},{status},{currency},{uses},{discount},{revenue}\n",
            csv_field(&name)
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv))
}
