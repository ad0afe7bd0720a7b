//! `/admin`: back-office reads of projections in Postgres (never the event store).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiErrorBody, Json, Query};
use crate::{auth, params, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/carts", get(list_carts))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CartFilter {
    /// `open` or `merged`.
    pub status: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A cart row of the back-office read model.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CartRow {
    pub cart_id: String,
    pub owner_kind: String,
    pub status: String,
    pub line_count: i32,
    pub item_count: i64,
    pub lines: serde_json::Value,
    pub version: i64,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CartPage {
    pub total: i64,
    pub items: Vec<CartRow>,
}

/// List carts from the read model, newest first.
#[utoipa::path(get, path = "/admin/carts", tag = "admin", params(CartFilter),
    security(("bearer" = [])),
    responses((status = 200, body = CartPage), (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
pub async fn list_carts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<CartFilter>,
) -> Result<Json<CartPage>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let (limit, offset) = params::page(filter.limit, filter.offset)?;
    let rows = sqlx::query(
        "SELECT cart_id, owner_kind, status, line_count, item_count, lines, version, updated_at, count(*) OVER () AS total
         FROM carts WHERE ($1::text IS NULL OR status = $1) ORDER BY updated_at DESC, cart_id LIMIT $2 OFFSET $3",
    )
    .bind(&filter.status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total = rows.first().map(|r| r.get::<i64, _>("total")).unwrap_or(0);
    let items = rows
        .iter()
        .map(|r| CartRow {
            cart_id: r.get("cart_id"),
            owner_kind: r.get("owner_kind"),
            status: r.get("status"),
            line_count: r.get("line_count"),
            item_count: r.get("item_count"),
            lines: r.get("lines"),
            version: r.get("version"),
            updated_at: r.get("updated_at"),
        })
        .collect();
    Ok(Json(CartPage { total, items }))
}
