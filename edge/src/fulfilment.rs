//! Fulfilment and returns over HTTP.
//!
//! - The back office packs an order into parcels (`POST /admin/orders/{id}/shipments`: the
//!   order sets the units aside first, so no unit is packed twice, then the shipment is
//!   created), hands each to a carrier and lists the fulfilment queue, shipments and returns.
//! - Carriers post tracking to `/hooks/carriers/generic` (our signed shape) and
//!   `/hooks/carriers/easypost` (EasyPost's `X-Hmac-Signature`); a forged, expired or malformed
//!   delivery is refused before anything is read, a repeated one records nothing.
//! - Shoppers request returns of delivered units (`POST /store/orders/{id}/returns`), read and
//!   withdraw them; the back office approves, rejects and receives them, and the fulfilment
//!   runner moves the stock and refunds.
//!
//! The shipment, return and order services decide everything; the runner keeps them in step
//! (see `agora_workflows::fulfilment`). Lists come from the `shipments`, `returns` and `orders`
//! read models.

use agora_fulfilment::carrier;
use agora_fulfilment::{Shipment, ShipmentCommand};
use agora_kernel::{CommandId, DomainError, Principal, Sku};
use agora_nats::{Bus, CommandReply};
use agora_order::{LineUnits, Order, OrderCommand, OrderOwner, OrderView};
use agora_returns::{
    Disposition, ReceivedLine, Return, ReturnCommand, ReturnLine, ReturnReason, ReturnView,
};
use agora_workflows::fulfilment::{shipment_create, step, Fulfilment};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::{auth, params, service, ApiError, AppState};

/// How far a signed generic webhook's timestamp may be from our clock.
const WEBHOOK_TOLERANCE_SECS: i64 = 300;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/fulfilment/queue", get(queue))
        .route("/admin/orders/{id}/shipments", post(create_shipment))
        .route("/admin/shipments", get(list_shipments))
        .route("/admin/shipments/{id}", get(admin_shipment))
        .route("/admin/shipments/{id}/hand-over", post(hand_over))
        .route("/admin/shipments/{id}/cancel", post(cancel_shipment))
        .route("/hooks/carriers/generic", post(generic_webhook))
        .route("/hooks/carriers/easypost", post(easypost_webhook))
        .route("/store/orders/{id}/returns", post(request_return))
        .route("/store/returns/{id}", get(store_return))
        .route("/store/returns/{id}/cancel", post(store_cancel_return))
        .route("/admin/returns", get(list_returns))
        .route("/admin/returns/{id}", get(admin_return))
        .route("/admin/returns/{id}/approve", post(approve_return))
        .route("/admin/returns/{id}/reject", post(reject_return))
        .route("/admin/returns/{id}/receive", post(receive_return))
}

// ---------------------------------------------------------------------------------------------
// Bodies and replies

/// Units of one order line.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitsBody {
    #[schema(example = "TSHIRT-RED-M", pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub sku: String,
    #[schema(example = 1, minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

/// Body of `POST /admin/orders/{id}/shipments`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShipment {
    /// The units this parcel carries; absent or empty: every unit not in a parcel yet.
    #[serde(default)]
    pub lines: Option<Vec<UnitsBody>>,
}

/// Body of `POST /admin/shipments/{id}/hand-over`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOver {
    #[schema(example = "DHL", min_length = 1, max_length = 64)]
    pub carrier: String,
    #[schema(example = "00340434161094042557", min_length = 1, max_length = 64)]
    pub tracking_number: String,
    /// The carrier's tracking page for the parcel (https).
    #[serde(default)]
    #[schema(example = "https://www.dhl.com/track?id=00340434161094042557")]
    pub tracking_url: Option<String>,
}

/// An empty body (`{}`), for routes whose path says everything.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// One line of a return request.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineBody {
    #[schema(example = "TSHIRT-RED-M", pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub sku: String,
    #[schema(example = 1, minimum = 1, maximum = 10000)]
    pub quantity: i64,
    /// `damaged`, `defective`, `wrong_item`, `not_as_described`, `no_longer_needed`,
    /// `size_or_fit` or `other`.
    #[schema(example = "size_or_fit")]
    pub reason: String,
    #[serde(default)]
    #[schema(example = "too small", max_length = 500)]
    pub note: Option<String>,
}

/// Body of `POST /store/orders/{id}/returns`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestReturn {
    pub lines: Vec<ReturnLineBody>,
}

/// Body of `POST /admin/returns/{id}/reject`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectReturn {
    /// Why, for the shopper.
    #[schema(
        example = "the item shows signs of wear",
        min_length = 1,
        max_length = 500
    )]
    pub reason: String,
}

/// One received line.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLineBody {
    #[schema(example = "TSHIRT-RED-M", pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub sku: String,
    #[schema(example = 1, minimum = 1, maximum = 10000)]
    pub quantity: i64,
    /// `restock` (sellable again) or `write_off` (damaged).
    #[schema(example = "restock")]
    pub disposition: String,
}

/// Body of `POST /admin/returns/{id}/receive`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveReturn {
    pub lines: Vec<ReceivedLineBody>,
}

/// A shipment as its service shows it: `{id, version, order_id, status, lines: [{sku, title,
/// quantity}], address, carrier, tracking_number, tracking_url, created_at, handed_over_at,
/// delivered_at, history: [{event_id, status, occurred_at, description, location}]}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct ShipmentBody(pub serde_json::Value);

/// A return as its service shows it: `{id, version, order_id, status, lines: [{sku, title,
/// quantity, reason, note, received_quantity, disposition, stock_moved, refunded,
/// refund_id}], rejection_reason, shipping_refund, refunded_total, requested_at, updated_at}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct ReturnBody(pub serde_json::Value);

/// What a carrier webhook did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookReceipt {
    pub received: bool,
    /// Whether the scan changed the parcel's history.
    pub applied: bool,
    /// Why not, when it did not: `duplicate` (this event was recorded before), `stale` (older
    /// than the parcel's latest scan), `not_tracking` (an EasyPost event about something else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// An order waiting to be packed.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct QueueEntry {
    pub order_id: String,
    /// `confirmed` (nothing sent yet) or `partially_shipped`.
    pub status: String,
    pub email: String,
    pub item_count: i64,
    pub total_minor: i64,
    pub currency: String,
    pub placed_at: DateTime<Utc>,
}

/// Orders to pack, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Queue {
    pub orders: Vec<QueueEntry>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// A shipment in the back office's list.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ShipmentSummary {
    pub shipment_id: String,
    pub order_id: String,
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub units: i64,
    pub country: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShipmentList {
    pub shipments: Vec<ShipmentSummary>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// A return in the back office's list.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ReturnSummary {
    pub return_id: String,
    pub order_id: String,
    pub status: String,
    pub units: i64,
    pub refunded_minor: Option<i64>,
    pub currency: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReturnList {
    pub returns: Vec<ReturnSummary>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// Paging, and a status filter for the lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// A status name (`packing`, `shipped`... for shipments; `requested`, `approved`... for
    /// returns).
    pub status: Option<String>,
    /// Only this order's.
    pub order_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn invalid(code: &str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn units(lines: &[UnitsBody]) -> Result<Vec<LineUnits>, ApiError> {
    lines
        .iter()
        .map(|l| {
            let sku = Sku::parse(&l.sku)
                .map_err(|_| invalid("order.unknown_line", "the order has no line of this SKU"))?;
            Ok(LineUnits {
                sku,
                quantity: l.quantity,
            })
        })
        .collect()
}

fn the_runner(state: &AppState) -> Fulfilment {
    Fulfilment {
        bus: Bus::clone(&state.bus),
        pool: state.pool.clone(),
        return_window_days: state.config.return_window_days,
        crash_after: None,
    }
}

/// The id of the stream a request creates: derived from its `Idempotency-Key` (so a retry
/// names the same shipment or return), or new.
fn new_stream_id(headers: &HeaderMap, principal: &Principal) -> Result<String, ApiError> {
    Ok(service::command_id(headers, principal)?.to_string())
}

async fn shipment_command(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    command: ShipmentCommand,
) -> Result<Json<ShipmentBody>, ApiError> {
    let principal = auth::back_office(state, headers, auth::Area::Fulfilment, true)?;
    let id = params::uuid_id(raw, "shipment")?;
    let reply: CommandReply<serde_json::Value> =
        service::command(state, headers, id, principal, command).await?;
    Ok(Json(ShipmentBody(reply.view)))
}

async fn return_command(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    principal: Principal,
    command: ReturnCommand,
) -> Result<Json<ReturnBody>, ApiError> {
    let id = params::uuid_id(raw, "return")?;
    let reply: CommandReply<serde_json::Value> =
        service::command(state, headers, id, principal, command).await?;
    Ok(Json(ReturnBody(reply.view)))
}

// ---------------------------------------------------------------------------------------------
// Shipments

/// The orders to pack, oldest first: confirmed and paid, or partly shipped.
#[utoipa::path(get, path = "/admin/fulfilment/queue", tag = "fulfilment", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Queue), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Result<Json<Queue>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let (limit, offset) = params::page(query.limit, query.offset)?;
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        entry: QueueEntry,
        total: i64,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT order_id, status, email, item_count, total_minor, currency, placed_at,
                count(*) OVER () AS total
         FROM orders
         WHERE status IN ('confirmed', 'partially_shipped') AND captured_minor >= total_minor
         ORDER BY placed_at, order_id LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok(Json(Queue {
        orders: rows.into_iter().map(|r| r.entry).collect(),
        total,
        limit,
        offset,
    }))
}

/// Pack a parcel: sets the units aside on the order (never more than it has left to ship:
/// `409 order.exceeds_unshipped`), then creates the shipment with the order's titles and
/// address. The `Idempotency-Key` names the shipment, so a retry creates it once.
#[utoipa::path(post, path = "/admin/orders/{id}/shipments", tag = "fulfilment",
    request_body(content = CreateShipment, description = "optional; no lines: every unit not packed yet"),
    params(("id" = String, Path, description = "order id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "names the shipment: retries create it once")),
    security(("bearer" = [])),
    responses((status = 201, body = ShipmentBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn create_shipment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<ShipmentBody>), ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Fulfilment, true)?;
    let order_id = params::uuid_id(&raw, "order")?;
    let body: CreateShipment = params::optional_body(&headers, &body)?;
    let order: OrderView =
        service::get::<Order, _>(&state, &headers, order_id.clone(), principal.clone()).await?;
    let lines = match body.lines.as_deref() {
        Some(lines) if !lines.is_empty() => units(lines)?,
        _ => {
            let left: Vec<LineUnits> = order
                .lines
                .iter()
                .filter(|l| l.quantity > l.allocated_units)
                .map(|l| LineUnits {
                    sku: l.sku.clone(),
                    quantity: l.quantity - l.allocated_units,
                })
                .collect();
            if left.is_empty() {
                return Err(agora_order::OrderError::ExceedsUnshipped.to_body().into());
            }
            left
        }
    };
    let shipment_id = new_stream_id(&headers, &principal)?;
    let _: CommandReply<serde_json::Value> = service::command_as(
        &state,
        &headers,
        order_id,
        // The edge's own step ids: the runner sends the same commands as the platform, and a
        // command id is never shared between callers.
        step(&shipment_id, "edge:allocate"),
        principal.clone(),
        OrderCommand::AllocateParcel {
            shipment_id: shipment_id.clone(),
            lines: lines.clone(),
            now: Utc::now(),
        },
    )
    .await?;
    let create = shipment_create(&order, &lines)?;
    let created: Result<CommandReply<serde_json::Value>, ApiError> = service::command_as(
        &state,
        &headers,
        shipment_id.clone(),
        step(&shipment_id, "edge:create"),
        principal.clone(),
        create,
    )
    .await;
    let view = match created {
        Ok(reply) => reply.view,
        Err(e) if e.body.code == "shipment.already_exists" => {
            service::get::<Shipment, _>(&state, &headers, shipment_id, principal).await?
        }
        Err(e) => return Err(e),
    };
    Ok((StatusCode::CREATED, Json(ShipmentBody(view))))
}

/// Shipments, newest first, from the `shipments` read model.
#[utoipa::path(get, path = "/admin/shipments", tag = "fulfilment", params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ShipmentList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn list_shipments(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<ShipmentList>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    Ok(Json(shipments_page(&state, &query, None).await?))
}

/// A page of the `shipments` read model, of one vendor's parcels if `vendor` is given.
pub(crate) async fn shipments_page(
    state: &AppState,
    query: &ListQuery,
    vendor: Option<&str>,
) -> Result<ShipmentList, ApiError> {
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let status = params::status_name(&query.status)?;
    let order_id = query
        .order_id
        .as_deref()
        .map(|o| params::uuid_id(o, "order"))
        .transpose()?;
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        summary: ShipmentSummary,
        total: i64,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT shipment_id, order_id, status, carrier, tracking_number, units, country,
                created_at, updated_at, count(*) OVER () AS total
         FROM shipments
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR order_id = $2)
           AND ($5::text IS NULL OR vendor_id = $5)
         ORDER BY created_at DESC, shipment_id LIMIT $3 OFFSET $4",
    )
    .bind(status)
    .bind(order_id)
    .bind(limit)
    .bind(offset)
    .bind(vendor)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok(ShipmentList {
        shipments: rows.into_iter().map(|r| r.summary).collect(),
        total,
        limit,
        offset,
    })
}

/// One shipment with its tracking history.
#[utoipa::path(get, path = "/admin/shipments/{id}", tag = "fulfilment",
    params(("id" = String, Path, description = "shipment id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = ShipmentBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn admin_shipment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<ShipmentBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Fulfilment, false)?;
    let id = params::uuid_id(&raw, "shipment")?;
    Ok(Json(ShipmentBody(
        service::get::<Shipment, _>(&state, &headers, id, principal).await?,
    )))
}

/// The parcel left with the carrier under this tracking number.
#[utoipa::path(post, path = "/admin/shipments/{id}/hand-over", tag = "fulfilment", request_body = HandOver,
    params(("id" = String, Path, description = "shipment id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = ShipmentBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn hand_over(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<HandOver>,
) -> Result<Json<ShipmentBody>, ApiError> {
    let command = ShipmentCommand::HandOver {
        carrier: body.carrier,
        tracking_number: body.tracking_number,
        tracking_url: body.tracking_url,
        now: Utc::now(),
    };
    shipment_command(&state, &headers, &raw, command).await
}

/// Cancel a parcel still being packed; its units may be packed again.
#[utoipa::path(post, path = "/admin/shipments/{id}/cancel", tag = "fulfilment",
    request_body(content = Empty, description = "optional; an empty object"),
    params(("id" = String, Path, description = "shipment id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = ShipmentBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn cancel_shipment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<ShipmentBody>, ApiError> {
    let Empty {} = params::optional_body(&headers, &body)?;
    shipment_command(
        &state,
        &headers,
        &raw,
        ShipmentCommand::Cancel { now: Utc::now() },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Carrier webhooks

fn webhook_error(e: carrier::WebhookError) -> ApiError {
    e.to_body().into()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Records a verified scan on the parcel with its tracking number. The carrier's event id
/// names the command, so a redelivery is recognised even before the shipment sees it.
async fn record_scan(
    state: &AppState,
    headers: &HeaderMap,
    source: &str,
    update: carrier::TrackingUpdate,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let shipment_id: Option<String> = sqlx::query_scalar(
        "SELECT shipment_id FROM shipments
         WHERE tracking_number = $1 AND status <> 'cancelled'
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(update.tracking_number.trim())
    .fetch_optional(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    let Some(shipment_id) = shipment_id else {
        // Not (yet) known: the carrier retries, by which time the hand-over is in the list.
        return Err(ApiError::not_found(
            "shipment.unknown_tracking_number",
            "no parcel was handed over under this tracking number",
        ));
    };
    let command_id = CommandId::from_uuid(Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("carrier:{source}:{shipment_id}:{}", update.event_id).as_bytes(),
    ));
    let reply: Result<CommandReply<serde_json::Value>, ApiError> = service::command_as(
        state,
        headers,
        shipment_id,
        command_id,
        Principal::system("carrier-webhook"),
        update.command(Utc::now()),
    )
    .await;
    let ignored = |why: &str| {
        Ok(Json(WebhookReceipt {
            received: true,
            applied: false,
            ignored: Some(why.to_string()),
        }))
    };
    match reply {
        Ok(reply) if reply.duplicate => ignored("duplicate"),
        Ok(_) => Ok(Json(WebhookReceipt {
            received: true,
            applied: true,
            ignored: None,
        })),
        Err(e) if e.body.code == "shipment.tracking_duplicate" => ignored("duplicate"),
        Err(e) if e.body.code == "shipment.tracking_stale" => ignored("stale"),
        Err(e) => Err(e),
    }
}

/// A carrier scan in Agora's own shape, signed `Agora-Signature: t=<unix>,v1=<hex>` (HMAC-SHA256
/// of `"<t>.<body>"` under the configured secret, five minutes of tolerance).
#[utoipa::path(post, path = "/hooks/carriers/generic", tag = "webhooks",
    params(("Agora-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex hmac>")),
    request_body(content = Object, description = "{event_id, tracking_number, carrier?, status, occurred_at, description?, location?}"),
    responses((status = 200, body = WebhookReceipt), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn generic_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let Some(secret) = state.config.carrier_webhook_secret.as_deref() else {
        return Err(ApiError::not_found(
            "webhook.not_configured",
            "no carrier webhook secret is configured",
        ));
    };
    carrier::verify_generic(
        &[secret.as_bytes()],
        header(&headers, carrier::GENERIC_SIGNATURE_HEADER),
        &body,
        Utc::now(),
        chrono::Duration::seconds(WEBHOOK_TOLERANCE_SECS),
    )
    .map_err(webhook_error)?;
    let update = carrier::parse_generic(&body).map_err(webhook_error)?;
    record_scan(&state, &headers, "generic", update).await
}

/// EasyPost's tracker webhook (`tracker.updated` events), verified by `X-Hmac-Signature`.
#[utoipa::path(post, path = "/hooks/carriers/easypost", tag = "webhooks",
    params(("X-Hmac-Signature" = String, Header, description = "hmac-sha256-hex=<hex>")),
    request_body(content = Object, description = "an EasyPost Event whose result is a Tracker"),
    responses((status = 200, body = WebhookReceipt), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn easypost_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let Some(secret) = state.config.easypost_webhook_secret.as_deref() else {
        return Err(ApiError::not_found(
            "webhook.not_configured",
            "no EasyPost webhook secret is configured",
        ));
    };
    carrier::verify_easypost(
        &[secret.as_bytes()],
        header(&headers, carrier::EASYPOST_SIGNATURE_HEADER),
        &body,
    )
    .map_err(webhook_error)?;
    match carrier::parse_easypost(&body).map_err(webhook_error)? {
        Some(update) => record_scan(&state, &headers, "easypost", update).await,
        None => Ok(Json(WebhookReceipt {
            received: true,
            applied: false,
            ignored: Some("not_tracking".into()),
        })),
    }
}

// ---------------------------------------------------------------------------------------------
// Returns

/// Ask to return delivered units. The order decides (delivered, within the return window,
/// not returned or refunded already: `409 order.not_delivered`, `order.return_window_closed`,
/// `order.exceeds_returnable`); the `Idempotency-Key` names the return, so a retry asks once.
#[utoipa::path(post, path = "/store/orders/{id}/returns", tag = "returns", request_body = RequestReturn,
    params(("id" = String, Path, description = "order id (UUID)"),
           ("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token (the cart the order was checked out from)"),
           ("Idempotency-Key" = Option<String>, Header, description = "names the return: retries ask once")),
    responses((status = 201, body = ReturnBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn request_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<RequestReturn>,
) -> Result<(StatusCode, Json<ReturnBody>), ApiError> {
    let principal = auth::shopper(&state, &headers)?;
    let order_id = params::uuid_id(&raw, "order")?;
    // Only the order's owner reads it; everyone else learns nothing.
    let order: OrderView =
        service::get::<Order, _>(&state, &headers, order_id.clone(), principal.clone()).await?;
    let owner = match &principal {
        Principal::Guest { token_sha256 } => OrderOwner::Guest {
            token_sha256: token_sha256.clone(),
        },
        Principal::Customer { id } => OrderOwner::Customer { customer_id: *id },
        _ => {
            return Err(ApiError::forbidden(
                "returns are requested by the shopper who placed the order",
            ))
        }
    };
    if body.lines.is_empty() || body.lines.len() > agora_returns::MAX_LINES {
        return Err(agora_returns::ReturnError::Empty.to_body().into());
    }
    let mut lines = vec![];
    for l in &body.lines {
        let unknown = || invalid("order.unknown_line", "the order has no line of this SKU");
        let sku = Sku::parse(&l.sku).map_err(|_| unknown())?;
        let line = order
            .lines
            .iter()
            .find(|o| o.sku == sku)
            .ok_or_else(unknown)?;
        let reason: ReturnReason =
            serde_json::from_value(serde_json::Value::String(l.reason.clone()))
                .map_err(|_| ApiError::from(agora_returns::ReturnError::InvalidReason.to_body()))?;
        lines.push(ReturnLine {
            sku,
            title: line.title.clone(),
            quantity: l.quantity,
            reason,
            note: l.note.clone().filter(|n| !n.trim().is_empty()),
            vendor_id: line.vendor_id.clone(),
        });
    }
    let return_id = new_stream_id(&headers, &principal)?;
    let units: Vec<LineUnits> = lines
        .iter()
        .map(|l| LineUnits {
            sku: l.sku.clone(),
            quantity: l.quantity,
        })
        .collect();
    let requested: Result<CommandReply<serde_json::Value>, ApiError> = service::command_as(
        &state,
        &headers,
        return_id.clone(),
        step(&return_id, "request"),
        Principal::system("returns"),
        ReturnCommand::Request {
            order_id: order_id.clone(),
            owner,
            lines,
            now: Utc::now(),
        },
    )
    .await;
    match requested {
        Ok(_) => {}
        Err(e) if e.body.code == "return.already_exists" => {}
        Err(e) => return Err(e),
    }
    // The order's decision, at once (the runner does the same from the feed if this request
    // stops here): a refusal rejects the return and is the answer.
    if let Some(refusal) = the_runner(&state)
        .open_return(&return_id, &order_id, units)
        .await?
    {
        return Err(refusal.into());
    }
    let view: serde_json::Value =
        service::get::<Return, _>(&state, &headers, return_id, principal).await?;
    Ok((StatusCode::CREATED, Json(ReturnBody(view))))
}

/// A return, as its shopper sees it.
#[utoipa::path(get, path = "/store/returns/{id}", tag = "returns",
    params(("id" = String, Path, description = "return id (UUID)"),
           ("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token")),
    responses((status = 200, body = ReturnBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn store_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<ReturnBody>, ApiError> {
    let principal = auth::shopper(&state, &headers)?;
    let id = params::uuid_id(&raw, "return")?;
    let view: ReturnView = service::get::<Return, _>(&state, &headers, id, principal).await?;
    Ok(Json(ReturnBody(
        serde_json::to_value(view).map_err(ApiError::internal)?,
    )))
}

/// Withdraw a return before the shop decided it.
#[utoipa::path(post, path = "/store/returns/{id}/cancel", tag = "returns",
    request_body(content = Empty, description = "optional; an empty object"),
    params(("id" = String, Path, description = "return id (UUID)"),
           ("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token")),
    responses((status = 200, body = ReturnBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn store_cancel_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<ReturnBody>, ApiError> {
    let principal = auth::shopper(&state, &headers)?;
    let Empty {} = params::optional_body(&headers, &body)?;
    return_command(
        &state,
        &headers,
        &raw,
        principal,
        ReturnCommand::Cancel { now: Utc::now() },
    )
    .await
}

/// Returns, newest first, from the `returns` read model.
#[utoipa::path(get, path = "/admin/returns", tag = "returns", params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn list_returns(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<ReturnList>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    Ok(Json(returns_page(&state, &query, None).await?))
}

/// A page of the `returns` read model, of one vendor's returns if `vendor` is given.
pub(crate) async fn returns_page(
    state: &AppState,
    query: &ListQuery,
    vendor: Option<&str>,
) -> Result<ReturnList, ApiError> {
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let status = params::status_name(&query.status)?;
    let order_id = query
        .order_id
        .as_deref()
        .map(|o| params::uuid_id(o, "order"))
        .transpose()?;
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        summary: ReturnSummary,
        total: i64,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT return_id, order_id, status, units, refunded_minor, currency, created_at,
                updated_at, count(*) OVER () AS total
         FROM returns
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR order_id = $2)
           AND ($5::text IS NULL OR vendor_id = $5)
         ORDER BY created_at DESC, return_id LIMIT $3 OFFSET $4",
    )
    .bind(status)
    .bind(order_id)
    .bind(limit)
    .bind(offset)
    .bind(vendor)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok(ReturnList {
        returns: rows.into_iter().map(|r| r.summary).collect(),
        total,
        limit,
        offset,
    })
}

/// One return.
#[utoipa::path(get, path = "/admin/returns/{id}", tag = "returns",
    params(("id" = String, Path, description = "return id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn admin_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<ReturnBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Fulfilment, false)?;
    let id = params::uuid_id(&raw, "return")?;
    Ok(Json(ReturnBody(
        service::get::<Return, _>(&state, &headers, id, principal).await?,
    )))
}

/// Agree to take the units back.
#[utoipa::path(post, path = "/admin/returns/{id}/approve", tag = "returns",
    request_body(content = Empty, description = "optional; an empty object"),
    params(("id" = String, Path, description = "return id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn approve_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<ReturnBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Fulfilment, true)?;
    let Empty {} = params::optional_body(&headers, &body)?;
    return_command(
        &state,
        &headers,
        &raw,
        principal,
        ReturnCommand::Approve { now: Utc::now() },
    )
    .await
}

/// Refuse the return, saying why; its units may be returned again.
#[utoipa::path(post, path = "/admin/returns/{id}/reject", tag = "returns", request_body = RejectReturn,
    params(("id" = String, Path, description = "return id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn reject_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<RejectReturn>,
) -> Result<Json<ReturnBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Fulfilment, true)?;
    return_command(
        &state,
        &headers,
        &raw,
        principal,
        ReturnCommand::Reject {
            reason: body.reason,
            now: Utc::now(),
        },
    )
    .await
}

/// The parcel arrived: which units, and whether each goes back on the shelf or is written off.
/// The fulfilment runner then moves the stock and refunds exactly what those units cost.
#[utoipa::path(post, path = "/admin/returns/{id}/receive", tag = "returns", request_body = ReceiveReturn,
    params(("id" = String, Path, description = "return id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn receive_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<ReceiveReturn>,
) -> Result<Json<ReturnBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Fulfilment, true)?;
    let lines = body
        .lines
        .iter()
        .map(|l| {
            let sku = Sku::parse(&l.sku)
                .map_err(|_| ApiError::from(agora_returns::ReturnError::UnknownLine.to_body()))?;
            let disposition: Disposition = serde_json::from_value(serde_json::Value::String(
                l.disposition.clone(),
            ))
            .map_err(|_| {
                invalid(
                    "return.invalid_disposition",
                    "a disposition is `restock` or `write_off`",
                )
            })?;
            Ok(ReceivedLine {
                sku,
                quantity: l.quantity,
                disposition,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    return_command(
        &state,
        &headers,
        &raw,
        principal,
        ReturnCommand::Receive {
            lines,
            now: Utc::now(),
        },
    )
    .await
}
