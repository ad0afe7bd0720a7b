//! Inventory in the back office (`/admin/inventory`): stock moves by commands to the `stock`
//! service (one aggregate per SKU); one SKU's stock is read from the service, lists, the
//! movements ledger and the low-stock report from the read models.
//!
//! Receipts and adjustments are stamped with the edge's clock (`now`), never the client's.

use agora_catalog::ProductView;
use agora_inventory::{AdjustReason, ReservationView, StockCommand, StockView};
use agora_kernel::{Principal, Sku};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::{auth, params, service, ApiError, AppState};

pub fn router() -> Router<AppState> {
    // `low-stock` is also a well-formed SKU; axum prefers the static segment, so the report
    // stays reachable (a router test checks it).
    Router::new()
        .route("/admin/inventory", get(list_stock))
        .route("/admin/inventory/low-stock", get(low_stock))
        .route("/admin/inventory/{sku}", get(get_stock))
        .route("/admin/inventory/{sku}/movements", get(movements))
        .route("/admin/inventory/{sku}/receive", post(receive))
        .route("/admin/inventory/{sku}/adjust", post(adjust))
        .route("/admin/inventory/{sku}/threshold", put(set_threshold))
}

// ---------------------------------------------------------------------------------------------
// Shapes

/// One open reservation: units held for an order until it is paid, released or expired.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Reservation {
    pub id: String,
    pub quantity: i64,
    pub expires_at: DateTime<Utc>,
    pub order_ref: String,
}

impl From<ReservationView> for Reservation {
    fn from(r: ReservationView) -> Reservation {
        Reservation {
            id: r.id,
            quantity: r.quantity,
            expires_at: r.expires_at,
            order_ref: r.order_ref,
        }
    }
}

/// A SKU's stock, from its service. A SKU never received has nothing on hand.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Stock {
    pub sku: String,
    /// Position in the SKU's stock stream; grows with every change.
    pub version: u64,
    /// Units in the warehouse, reserved or not.
    pub on_hand: i64,
    /// Units held for orders.
    pub reserved: i64,
    /// `on_hand - reserved`.
    pub available: i64,
    /// The SKU counts as low on stock when `available` is at or below this.
    pub low_stock_threshold: i64,
    /// How many reservations are open (always filled).
    pub open_reservations: u64,
    /// The open reservations, ordered by reservation id. `GET /admin/inventory/{sku}` lists
    /// them all; the replies to commands (receive, adjust, threshold) list none, since a SKU on
    /// sale can hold thousands: read the SKU for the list.
    pub reservations: Vec<Reservation>,
}

impl From<StockView> for Stock {
    fn from(v: StockView) -> Stock {
        Stock {
            sku: v.sku,
            version: v.version,
            on_hand: v.on_hand,
            reserved: v.reserved,
            available: v.available,
            low_stock_threshold: v.low_stock_threshold,
            open_reservations: v.open_reservations,
            reservations: v.reservations.into_iter().map(Reservation::from).collect(),
        }
    }
}

/// Body of `POST /admin/inventory/{sku}/receive`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receive {
    /// Units that arrived, 1–1 000 000.
    #[schema(example = 24, minimum = 1, maximum = 1000000)]
    pub quantity: i64,
    /// Up to 200 characters (`PO-1234`).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub reason: Option<String>,
}

/// Why stock on hand is corrected by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Units can no longer be sold (a decrease).
    Damaged,
    /// Units went missing (a decrease).
    Lost,
    /// Units turned up (an increase).
    Found,
    /// A physical count disagreed with the books (either way).
    Recount,
    /// An earlier entry was wrong (either way).
    Correction,
}

impl From<Reason> for AdjustReason {
    fn from(r: Reason) -> AdjustReason {
        match r {
            Reason::Damaged => AdjustReason::Damaged,
            Reason::Lost => AdjustReason::Lost,
            Reason::Found => AdjustReason::Found,
            Reason::Recount => AdjustReason::Recount,
            Reason::Correction => AdjustReason::Correction,
        }
    }
}

/// Body of `POST /admin/inventory/{sku}/adjust`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    /// Change of on hand, non-zero, at most 1 000 000 either way; it may not take on hand below
    /// what is reserved.
    #[schema(example = -2, minimum = -1000000, maximum = 1000000)]
    pub delta: i64,
    pub reason: Reason,
    /// Up to 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub note: Option<String>,
}

/// Body of `PUT /admin/inventory/{sku}/threshold`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetThreshold {
    /// 0–1 000 000.
    #[schema(example = 5, minimum = 0, maximum = 1000000)]
    pub threshold: i64,
}

/// Query of `GET /admin/inventory`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StockFilter {
    /// `true`: only SKUs at or below their threshold; `false`: only SKUs above it.
    pub low_stock: Option<bool>,
    /// Part of the SKU, case-insensitive: 1 to 64 of the characters a SKU has (letters,
    /// digits, `_`, `-`); anything else is a `400`.
    pub sku: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A row of the stock-levels read model.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct StockLevel {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub low_stock_threshold: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockPage {
    /// Rows matching the filter, over all pages.
    pub total: i64,
    pub items: Vec<StockLevel>,
}

/// Query of `GET /admin/inventory/{sku}/movements`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MovementQuery {
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    /// Only movements older than this stream position: the `next_before_sequence` of the
    /// previous page.
    pub before_sequence: Option<i64>,
}

/// One entry of the movements ledger.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Movement {
    /// Position of the event in the SKU's stream.
    pub sequence: i64,
    /// The event type (`StockReceived`, `StockAdjusted`, `StockReserved`, ...).
    pub kind: String,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    /// Receipt reason, adjustment reason, or `released`/`expired`/`sold`.
    pub reason: Option<String>,
    pub note: Option<String>,
    pub reservation_id: Option<String>,
    pub at: DateTime<Utc>,
    /// Who caused it, as recorded in the event's metadata.
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MovementPage {
    /// Newest first.
    pub items: Vec<Movement>,
    /// Pass as `before_sequence` for the next page; absent on the last page.
    pub next_before_sequence: Option<i64>,
}

/// Query of `GET /admin/inventory/low-stock`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LowStockQuery {
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A SKU at or below its low-stock threshold, with the product it belongs to.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct LowStockItem {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub low_stock_threshold: i64,
    /// Absent when no product in the read model lists the SKU.
    pub product_id: Option<String>,
    pub product_title: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LowStockReport {
    pub total: i64,
    /// Least available first.
    pub items: Vec<LowStockItem>,
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn send(
    state: &AppState,
    headers: &HeaderMap,
    raw_sku: &str,
    command: StockCommand,
) -> Result<Json<Stock>, ApiError> {
    let principal = auth::back_office(state, headers, auth::Area::Inventory, true)?;
    let sku = params::sku(raw_sku)?;
    vendor_scope(state, headers, &principal, &sku).await?;
    let reply =
        service::command::<_, StockView>(state, headers, sku.to_string(), principal, command)
            .await?;
    Ok(Json(reply.view.into()))
}

/// A vendor reaches only the stock of its own products' SKUs; another vendor's SKU looks
/// missing. The stock aggregate knows no vendors: `sku_claims` names the one product a SKU
/// belongs to (written before the product's command commits), and the product's own service
/// says whose it is.
async fn vendor_scope(
    state: &AppState,
    headers: &HeaderMap,
    principal: &Principal,
    sku: &Sku,
) -> Result<(), ApiError> {
    let Principal::Vendor { vendor, .. } = principal else {
        return Ok(());
    };
    let not_found = || {
        ApiError::not_found(
            "inventory.not_found",
            "no stock of this SKU among your products",
        )
    };
    let product: Option<String> =
        sqlx::query_scalar("SELECT product_id FROM sku_claims WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_optional(&state.pool)
            .await?;
    let product = product.ok_or_else(not_found)?;
    let view: ProductView =
        service::get::<agora_catalog::Product, _>(state, headers, product, principal.clone())
            .await
            .map_err(|e| {
                if e.status == axum::http::StatusCode::NOT_FOUND {
                    not_found()
                } else {
                    e
                }
            })?;
    if &view.vendor_id == vendor {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// Record goods received: on hand grows by `quantity`.
#[utoipa::path(post, path = "/admin/inventory/{sku}/receive", tag = "inventory", request_body = Receive,
    params(("sku" = String, Path, description = "SKU"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = Stock), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<Receive>,
) -> Result<Json<Stock>, ApiError> {
    let command = StockCommand::Receive {
        quantity: body.quantity,
        reason: body.reason,
        now: Utc::now(),
    };
    send(&state, &headers, &raw, command).await
}

/// Correct on hand by hand, with a reason.
#[utoipa::path(post, path = "/admin/inventory/{sku}/adjust", tag = "inventory", request_body = Adjust,
    params(("sku" = String, Path, description = "SKU"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = Stock), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn adjust(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<Adjust>,
) -> Result<Json<Stock>, ApiError> {
    let command = StockCommand::Adjust {
        delta: body.delta,
        reason: body.reason.into(),
        note: body.note,
        now: Utc::now(),
    };
    send(&state, &headers, &raw, command).await
}

/// Set the SKU's low-stock threshold.
#[utoipa::path(put, path = "/admin/inventory/{sku}/threshold", tag = "inventory", request_body = SetThreshold,
    params(("sku" = String, Path, description = "SKU"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = Stock), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn set_threshold(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<SetThreshold>,
) -> Result<Json<Stock>, ApiError> {
    let command = StockCommand::SetThreshold {
        threshold: body.threshold,
    };
    send(&state, &headers, &raw, command).await
}

/// One SKU's stock with its open reservations (strongly consistent: served by its service).
#[utoipa::path(get, path = "/admin/inventory/{sku}", tag = "inventory",
    params(("sku" = String, Path, description = "SKU")),
    security(("bearer" = [])),
    responses((status = 200, body = Stock), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn get_stock(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Stock>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Inventory, false)?;
    let sku = params::sku(&raw)?;
    vendor_scope(&state, &headers, &principal, &sku).await?;
    let view: StockView =
        service::get::<agora_inventory::StockItem, _>(&state, &headers, sku.to_string(), principal)
            .await?;
    Ok(Json(view.into()))
}

#[derive(sqlx::FromRow)]
struct StockLevelRecord {
    #[sqlx(flatten)]
    level: StockLevel,
    total: i64,
}

/// List the stock-levels read model by SKU.
#[utoipa::path(get, path = "/admin/inventory", tag = "inventory", params(StockFilter),
    security(("bearer" = [])),
    responses((status = 200, body = StockPage), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn list_stock(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<StockFilter>,
) -> Result<Json<StockPage>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Inventory, false)?;
    let (limit, offset) = params::page(filter.limit, filter.offset)?;
    // A part of a SKU is made of a SKU's characters: the SKU rule checks it.
    let pattern = match filter.sku.as_deref() {
        Some(part) => Some(params::contains_pattern(params::sku(part)?.as_str())),
        None => None,
    };
    let records: Vec<StockLevelRecord> = sqlx::query_as(
        "SELECT sku, on_hand, reserved, available, low_stock_threshold, updated_at,
                count(*) OVER () AS total
         FROM stock_levels
         WHERE ($1::boolean IS NULL OR (available <= low_stock_threshold) = $1)
           AND ($4::text IS NULL OR sku ILIKE $4 ESCAPE '\\')
           AND ($5::text IS NULL OR sku IN (SELECT c.sku FROM sku_claims c
                JOIN products p ON p.product_id = c.product_id WHERE p.vendor_id = $5))
         ORDER BY sku
         LIMIT $2 OFFSET $3",
    )
    .bind(filter.low_stock)
    .bind(limit)
    .bind(offset)
    .bind(&pattern)
    .bind(principal.vendor())
    .fetch_all(&state.pool)
    .await?;
    let total = records.first().map(|r| r.total).unwrap_or(0);
    Ok(Json(StockPage {
        total,
        items: records.into_iter().map(|r| r.level).collect(),
    }))
}

/// The movements ledger of one SKU, newest first, paged by stream position.
#[utoipa::path(get, path = "/admin/inventory/{sku}/movements", tag = "inventory",
    params(("sku" = String, Path, description = "SKU"), MovementQuery),
    security(("bearer" = [])),
    responses((status = 200, body = MovementPage), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn movements(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<MovementQuery>,
) -> Result<Json<MovementPage>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Inventory, false)?;
    let sku = params::sku(&raw)?;
    vendor_scope(&state, &headers, &principal, &sku).await?;
    let (limit, _) = params::page(query.limit, None)?;
    if query.before_sequence.is_some_and(|s| s < 1) {
        return Err(params::invalid_query("before_sequence must be 1 or more"));
    }
    let items: Vec<Movement> = sqlx::query_as(
        "SELECT sequence, kind, on_hand_delta, reserved_delta, reason, note, reservation_id, at, actor
         FROM stock_movements
         WHERE sku = $1 AND ($2::bigint IS NULL OR sequence < $2)
         ORDER BY sequence DESC
         LIMIT $3",
    )
    .bind(sku.as_str())
    .bind(query.before_sequence)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(MovementPage {
        next_before_sequence: next_before(&items, limit),
        items,
    }))
}

/// The cursor of the page after `items`: its oldest sequence, unless the page was not full
/// (then it was the last). A full last page costs one more, empty, request.
fn next_before(items: &[Movement], limit: i64) -> Option<i64> {
    if i64::try_from(items.len()).is_ok_and(|n| n == limit) {
        items.last().map(|m| m.sequence)
    } else {
        None
    }
}

#[derive(sqlx::FromRow)]
struct LowStockRecord {
    #[sqlx(flatten)]
    item: LowStockItem,
    total: i64,
}

/// SKUs at or below their low-stock threshold, least available first, with their product.
#[utoipa::path(get, path = "/admin/inventory/low-stock", tag = "inventory", params(LowStockQuery),
    security(("bearer" = [])),
    responses((status = 200, body = LowStockReport), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn low_stock(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LowStockQuery>,
) -> Result<Json<LowStockReport>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Inventory, false)?;
    let (limit, offset) = params::page(query.limit, query.offset)?;
    // Nothing stops two products from listing one SKU; the report names one, preferring a
    // product still on sale, so each SKU appears once.
    let records: Vec<LowStockRecord> = sqlx::query_as(
        "SELECT s.sku, s.on_hand, s.reserved, s.available, s.low_stock_threshold, s.updated_at,
                p.product_id, p.title AS product_title, count(*) OVER () AS total
         FROM stock_levels s
         LEFT JOIN LATERAL (
             SELECT product_id, title FROM products
             WHERE skus @> ARRAY[s.sku]
             ORDER BY status = 'archived', updated_at DESC, product_id
             LIMIT 1
         ) p ON true
         WHERE s.available <= s.low_stock_threshold
           AND ($3::text IS NULL OR s.sku IN (SELECT c.sku FROM sku_claims c
                JOIN products v ON v.product_id = c.product_id WHERE v.vendor_id = $3))
         ORDER BY s.available, s.sku
         LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .bind(principal.vendor())
    .fetch_all(&state.pool)
    .await?;
    let total = records.first().map(|r| r.total).unwrap_or(0);
    Ok(Json(LowStockReport {
        total,
        items: records.into_iter().map(|r| r.item).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn movement(sequence: i64) -> Movement {
        Movement {
            sequence,
            kind: "StockReceived".into(),
            on_hand_delta: 1,
            reserved_delta: 0,
            reason: None,
            note: None,
            reservation_id: None,
            at: DateTime::<Utc>::UNIX_EPOCH,
            actor: json!({"kind": "staff"}),
        }
    }

    #[test]
    fn a_full_page_of_movements_points_past_its_oldest_entry() {
        let page = [movement(9), movement(8), movement(7)];
        assert_eq!(next_before(&page, 3), Some(7));
        assert_eq!(next_before(&page, 4), None);
        assert_eq!(next_before(&[], 3), None);
    }

    #[test]
    fn every_adjust_reason_reaches_the_domain_under_its_own_name() {
        for reason in [
            Reason::Damaged,
            Reason::Lost,
            Reason::Found,
            Reason::Recount,
            Reason::Correction,
        ] {
            assert_eq!(
                serde_json::to_value(reason).expect("serializes"),
                serde_json::to_value(AdjustReason::from(reason)).expect("serializes")
            );
        }
        assert!(
            serde_json::from_value::<Adjust>(json!({"delta": -1, "reason": "stolen"})).is_err()
        );
    }

    #[test]
    fn the_client_never_supplies_the_time() {
        assert!(serde_json::from_value::<Receive>(
            json!({"quantity": 1, "now": "2025-01-01T00:00:00Z"})
        )
        .is_err());
        assert!(serde_json::from_value::<Adjust>(
            json!({"delta": 1, "reason": "found", "now": "2025-01-01T00:00:00Z"})
        )
        .is_err());
        assert!(
            serde_json::from_value::<SetThreshold>(json!({"threshold": 1, "sku": "A"})).is_err()
        );
    }
}
