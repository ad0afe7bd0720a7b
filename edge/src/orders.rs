//! Orders: the shopper's order (`/store/orders/{id}`, proven by the cart token it was checked
//! out with), the customer's order history (`/store/customers/me/orders`), and the back office
//! (`/admin/orders...`, `/admin/reports/daily-sales`).
//!
//! One order is read from and changed through the `order` service, which decides who may see
//! and change it (another shopper's order is `not found`); refunds go to the `payment` service.
//! Lists and the sales report come from the `orders` and `daily_sales` read models. Commands
//! are stamped with the edge's clock (`now`), never the client's, and a shopper cannot choose
//! the cancel reason: the route decides it.

use agora_kernel::DomainError as _;
use agora_kernel::{Currency, Money};
use agora_nats::CommandReply;
use agora_order::{CancelReason, OrderCommand, OrderStatus};
use agora_payment::{PaymentRequest, RefundPayment};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::{auth, params, service, ApiError, AppState};

/// Widest range of the daily sales report, in days.
pub const MAX_REPORT_DAYS: i64 = 366;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/store/orders/{id}", get(store_order))
        .route("/store/orders/{id}/events", get(store_order_events))
        .route("/store/orders/{id}/cancel", post(store_cancel))
        .route("/store/customers/me/orders", get(my_orders))
        .route("/admin/orders", get(list_orders))
        .route("/admin/orders/{id}", get(admin_order))
        .route("/admin/orders/{id}/ship", post(ship))
        .route("/admin/orders/{id}/deliver", post(deliver))
        .route("/admin/orders/{id}/cancel", post(admin_cancel))
        .route("/admin/orders/{id}/refund", post(refund))
        .route("/admin/orders/{id}/payment", get(admin_payment))
        .route("/admin/reports/daily-sales", get(daily_sales))
}

// ---------------------------------------------------------------------------------------------
// Shapes

/// An order as the order service shows it to the caller: lines, totals, address, status and
/// history. Its shape belongs to the order service; the edge passes it through.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct OrderView(pub serde_json::Value);

/// Body of the cancel routes. Empty or absent: cancel without a note.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    /// Why, in the caller's words: up to 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// Body of `POST /admin/orders/{id}/ship`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipOrder {
    /// Up to 64 characters, not blank.
    #[schema(example = "DHL", min_length = 1, max_length = 64, pattern = "\\S")]
    pub carrier: String,
    /// Up to 128 characters, not blank.
    #[schema(
        example = "JD014600003828463829",
        min_length = 1,
        max_length = 128,
        pattern = "\\S"
    )]
    pub tracking_number: String,
}

/// Body of `POST /admin/orders/{id}/deliver`: nothing (or absent).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverOrder {}

/// Body of `POST /admin/orders/{id}/refund`. The currency is the order's.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundOrder {
    /// Amount to give back, in minor units of the order's currency; at most what was captured
    /// and not yet refunded (the payment service checks). With a `line`, at most what the
    /// shopper paid for those units, and by default exactly that.
    #[serde(default)]
    #[schema(example = 1500, minimum = 1)]
    pub amount_minor: Option<i64>,
    /// Units of one line to give back (a return of goods): the refund is then capped at what
    /// the shopper paid for them, after the line's discount and with its tax, and the order
    /// records the units as refunded.
    #[serde(default)]
    pub line: Option<RefundLineBody>,
    /// Accepted for the back office's notes; the payment service's `refund` takes no reason
    /// yet, so it is not recorded.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Units of one order line to refund.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLineBody {
    #[schema(example = "TSHIRT-RED-M", pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub sku: String,
    #[schema(example = 1, minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

/// Reply to a refund: the payment after the refund was requested. The refund itself completes
/// at the provider; the order shows it once the payment service records it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundAccepted {
    /// Position in the payment's event stream.
    pub version: u64,
    /// `true` when this `Idempotency-Key` had already been used: nothing new happened.
    pub duplicate: bool,
    /// The payment as its service shows it.
    #[schema(value_type = Object)]
    pub view: serde_json::Value,
}

/// Query of `GET /store/customers/me/orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// One of the customer's orders, from the read model (it may lag a moment behind the order).
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct OrderSummary {
    pub order_id: String,
    /// `placed`, `stock_reserved`, `payment_authorized`, `confirmed`, `shipped`, `delivered`,
    /// `cancelled` or `refunded`.
    pub status: String,
    pub currency: String,
    pub subtotal_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub refunded_minor: i64,
    pub line_count: i32,
    pub item_count: i64,
    /// The lines as frozen at checkout: `sku`, `product_id`, `title`, `unit_price`, `quantity`.
    #[schema(value_type = Vec<Object>)]
    pub lines: serde_json::Value,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderHistory {
    /// The customer's orders over all pages.
    pub total: i64,
    /// Newest first.
    pub items: Vec<OrderSummary>,
}

/// Query of `GET /admin/orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    /// `placed`, `stock_reserved`, `payment_authorized`, `confirmed`, `shipped`, `delivered`,
    /// `cancelled` or `refunded`.
    pub status: Option<String>,
    /// Placed at or after this moment (inclusive): an RFC 3339 time (`2025-03-01T12:00:00Z`;
    /// write a `+` offset as `%2B`) or a date (`2025-03-01`, its midnight UTC).
    pub from: Option<String>,
    /// Placed before this moment (exclusive), in the same forms as `from`: `from=2025-03-01&
    /// to=2025-03-02` is one UTC day.
    pub to: Option<String>,
    /// Orders of this customer (UUID).
    pub customer_id: Option<Uuid>,
    /// Orders with this email address, ignoring case.
    pub email: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// An order row of the back-office read model. A guest's order has no `customer_id`.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct OrderRow {
    pub order_id: String,
    /// `guest` or `customer`.
    pub owner_kind: String,
    pub customer_id: Option<Uuid>,
    pub email: String,
    /// An order status name (see the `status` filter).
    pub status: String,
    pub currency: String,
    pub subtotal_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub line_count: i32,
    pub item_count: i64,
    #[schema(value_type = Vec<Object>)]
    pub lines: serde_json::Value,
    #[schema(value_type = Object)]
    pub shipping_address: serde_json::Value,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// `customer_request`, `staff`, `out_of_stock`, `payment_declined`, `payment_failed` or
    /// `abandoned`.
    pub cancel_reason: Option<String>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Position in the order's event stream the row reflects.
    pub version: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderPage {
    /// Rows matching the filter, over all pages.
    pub total: i64,
    /// Newest first.
    pub items: Vec<OrderRow>,
}

/// Query of `GET /admin/reports/daily-sales`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DailySalesQuery {
    /// First day (UTC), `YYYY-MM-DD`, inclusive.
    #[param(format = Date)]
    pub from: String,
    /// Last day (UTC), `YYYY-MM-DD`, inclusive; not before `from`, at most 366 days in all.
    #[param(format = Date)]
    pub to: String,
    /// Only this currency (`EUR`); all currencies when absent.
    #[param(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
}

/// Sales of one UTC day in one currency. An order counts on the day it was confirmed, a refund
/// on the day it went through.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct DailySales {
    pub day: NaiveDate,
    pub currency: String,
    pub orders_confirmed: i64,
    /// Sum of the totals of the orders confirmed that day.
    pub gross_minor: i64,
    /// Refunds that went through that day.
    pub refunded_minor: i64,
    /// Orders cancelled that day after they had been confirmed.
    pub orders_cancelled_after_confirm: i64,
    /// Units of the orders confirmed that day.
    pub items_sold: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DailySalesReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// By day, then currency; a day without sales, refunds or cancellations has no row.
    pub items: Vec<DailySales>,
}

// ---------------------------------------------------------------------------------------------
// Parsing

fn order_id(raw: &str) -> Result<String, ApiError> {
    params::uuid_id(raw, "order")
}

/// A status filter: an order status name. `new` names an order that does not exist yet, so no
/// row ever has it.
fn status_filter(raw: &str) -> Result<OrderStatus, ApiError> {
    serde_json::from_value::<OrderStatus>(serde_json::Value::String(raw.to_string()))
        .ok()
        .filter(|s| *s != OrderStatus::New)
        .ok_or_else(|| {
            params::invalid_query(
                "status is placed, stock_reserved, payment_authorized, confirmed, shipped, delivered, cancelled or refunded",
            )
        })
}

/// A calendar date, exactly `YYYY-MM-DD`.
fn date(name: &str, raw: &str) -> Result<NaiveDate, ApiError> {
    Some(raw)
        .filter(|r| r.len() == 10)
        .and_then(|r| NaiveDate::parse_from_str(r, "%Y-%m-%d").ok())
        .ok_or_else(|| params::invalid_query(format!("{name} is a date, YYYY-MM-DD")))
}

/// A moment: an RFC 3339 time, or a `YYYY-MM-DD` date meaning its midnight UTC.
fn moment(name: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    if raw.len() == 10 {
        return date(name, raw).map(|d| d.and_time(NaiveTime::MIN).and_utc());
    }
    // An unescaped `+` in a query string arrives as a space; read it as the offset it was.
    DateTime::parse_from_rfc3339(&raw.replace(' ', "+"))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            params::invalid_query(format!("{name} is an RFC 3339 time or a YYYY-MM-DD date"))
        })
}

/// The currency of an order view, where the order service puts it: at the top, or in `total`.
fn view_currency(view: &serde_json::Value) -> Result<Currency, ApiError> {
    [&view["currency"], &view["total"]["currency"]]
        .into_iter()
        .find_map(|c| c.as_str().and_then(|c| Currency::parse(c).ok()))
        .ok_or_else(|| ApiError::internal("the order view names no currency"))
}

// ---------------------------------------------------------------------------------------------
// Handlers: one order, through the order service

/// Sends an order command as `principal` and returns the order after it.
async fn send(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    principal: agora_kernel::Principal,
    command: OrderCommand,
) -> Result<Json<OrderView>, ApiError> {
    let reply = service::command::<_, OrderView>(state, headers, id, principal, command).await?;
    Ok(Json(reply.view))
}

/// Read an order as the shopper who placed it (strongly consistent: served by its service).
#[utoipa::path(get, path = "/store/orders/{id}", tag = "order",
    params(("id" = String, Path, description = "order id (UUID)"),
           ("X-Cart-Token" = String, Header, description = "the token of the cart the order was checked out from")),
    responses((status = 200, body = OrderView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn store_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let id = order_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    Ok(Json(
        service::get::<agora_order::Order, _>(&state, &headers, id, principal).await?,
    ))
}

/// How long `GET /store/orders/{id}/events` follows an order before it ends the stream.
const FOLLOW_FOR: std::time::Duration = std::time::Duration::from_secs(120);
/// How often it reads the order again when no event woke it (one published before it
/// subscribed, a feed outage).
const FOLLOW_FALLBACK: std::time::Duration = std::time::Duration::from_secs(3);

/// Follow an order through its checkout instead of polling it: server-sent events, one `order`
/// event (the order as `GET /store/orders/{id}` returns it) at once and another on every
/// change, woken by the order's own events on the feed. The stream ends after the order leaves
/// the checkout (confirmed, cancelled or later: that event has `"final": true` beside the
/// order), or after two minutes with an `end` event.
#[utoipa::path(get, path = "/store/orders/{id}/events", tag = "order",
    params(("id" = String, Path, description = "order id (UUID)"),
           ("X-Cart-Token" = String, Header, description = "the token of the cart the order was checked out from")),
    responses((status = 200, content_type = "text/event-stream", body = String,
            description = "`event: order` with `{\"order\": <the order>, \"final\": bool}`; `event: end` when the stream gives up"),
        (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn store_order_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<
    axum::response::sse::Sse<
        impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;

    let id = order_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    // Subscribe before the first read, so an event between the two still wakes the stream.
    let feed = state
        .bus
        .client()
        .subscribe(agora_nats::subjects::event("order", &id))
        .await
        .ok();
    let read = {
        let (state, headers, id, principal) = (state.clone(), headers.clone(), id, principal);
        move || {
            let (state, headers, id, principal) = (
                state.clone(),
                headers.clone(),
                id.clone(),
                principal.clone(),
            );
            async move {
                service::get::<agora_order::Order, serde_json::Value>(
                    &state, &headers, id, principal,
                )
                .await
            }
        }
    };
    // The first read answers errors (401, 404...) as errors, before the stream starts.
    let first = read().await?;
    struct Follow<R> {
        read: R,
        feed: Option<async_nats::Subscriber>,
        next: Option<serde_json::Value>,
        version: Option<u64>,
        deadline: tokio::time::Instant,
        done: bool,
    }
    let follow = Follow {
        read,
        feed,
        next: Some(first),
        version: None,
        deadline: tokio::time::Instant::now() + FOLLOW_FOR,
        done: false,
    };
    let stream = futures::stream::unfold(follow, |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            if let Some(order) = f.next.take() {
                let version = order["version"].as_u64();
                if version != f.version {
                    f.version = version;
                    let settled =
                        OrderStatus::deserialize(&order["status"]).is_ok_and(|s| !s.in_checkout());
                    f.done = settled;
                    let data = serde_json::json!({"order": order, "final": settled});
                    return Some((
                        Ok(Event::default().event("order").data(data.to_string())),
                        f,
                    ));
                }
            }
            let now = tokio::time::Instant::now();
            if now >= f.deadline {
                f.done = true;
                return Some((Ok(Event::default().event("end").data("timeout")), f));
            }
            let wait = FOLLOW_FALLBACK.min(f.deadline - now);
            match f.feed.as_mut() {
                Some(feed) => match tokio::time::timeout(wait, feed.next()).await {
                    Ok(None) => f.feed = None,
                    Ok(Some(_)) => {
                        // The events of one commit arrive together: one read for all of them.
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        while futures::FutureExt::now_or_never(feed.next())
                            .flatten()
                            .is_some()
                        {}
                    }
                    Err(_) => {}
                },
                None => tokio::time::sleep(wait).await,
            }
            match (f.read)().await {
                Ok(order) => f.next = Some(order),
                Err(_) => {
                    f.done = true;
                    return Some((Ok(Event::default().event("end").data("unavailable")), f));
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Cancel one's own order before it ships.
#[utoipa::path(post, path = "/store/orders/{id}/cancel", tag = "order",
    request_body(content = CancelOrder, description = "optional; an empty body cancels without a note"),
    params(("id" = String, Path, description = "order id (UUID)"),
           ("X-Cart-Token" = String, Header, description = "the token of the cart the order was checked out from"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    responses((status = 200, body = OrderView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn store_cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<OrderView>, ApiError> {
    let id = order_id(&raw)?;
    let body: CancelOrder = params::optional_body(&headers, &body)?;
    let principal = auth::shopper(&state, &headers)?;
    let command = OrderCommand::Cancel {
        reason: CancelReason::CustomerRequest,
        note: body.note,
        now: Utc::now(),
    };
    send(&state, &headers, id, principal, command).await
}

/// Read any order (strongly consistent: served by its service).
#[utoipa::path(get, path = "/admin/orders/{id}", tag = "order",
    params(("id" = String, Path, description = "order id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn admin_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Fulfilment, false)?;
    let id = order_id(&raw)?;
    Ok(Json(
        service::get::<agora_order::Order, _>(&state, &headers, id, principal).await?,
    ))
}

/// Record that a confirmed order left the warehouse.
#[utoipa::path(post, path = "/admin/orders/{id}/ship", tag = "order", request_body = ShipOrder,
    params(("id" = String, Path, description = "order id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn ship(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<ShipOrder>,
) -> Result<Json<OrderView>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, true)?;
    let id = order_id(&raw)?;
    let command = OrderCommand::Ship {
        carrier: body.carrier,
        tracking_number: body.tracking_number,
        now: Utc::now(),
    };
    send(&state, &headers, id, principal, command).await
}

/// Record that a shipped order arrived.
#[utoipa::path(post, path = "/admin/orders/{id}/deliver", tag = "order",
    request_body(content = DeliverOrder, description = "optional; an empty object"),
    params(("id" = String, Path, description = "order id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn deliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<OrderView>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, true)?;
    let id = order_id(&raw)?;
    let DeliverOrder {} = params::optional_body(&headers, &body)?;
    let command = OrderCommand::MarkDelivered { now: Utc::now() };
    send(&state, &headers, id, principal, command).await
}

/// Cancel an order before it ships, on the back office's authority (reason `staff`).
#[utoipa::path(post, path = "/admin/orders/{id}/cancel", tag = "order",
    request_body(content = CancelOrder, description = "optional; an empty body cancels without a note"),
    params(("id" = String, Path, description = "order id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn admin_cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<OrderView>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, true)?;
    let id = order_id(&raw)?;
    let body: CancelOrder = params::optional_body(&headers, &body)?;
    let command = OrderCommand::Cancel {
        reason: CancelReason::Staff,
        note: body.note,
        now: Utc::now(),
    };
    send(&state, &headers, id, principal, command).await
}

/// Refund captured money, in the order's currency. The `Idempotency-Key` is required and
/// becomes the refund's id, so a retried request never refunds twice.
#[utoipa::path(post, path = "/admin/orders/{id}/refund", tag = "order", request_body = RefundOrder,
    params(("id" = String, Path, description = "order id (UUID)"),
           ("Idempotency-Key" = String, Header, description = "required: identifies the refund; retries with the same key refund once")),
    security(("bearer" = [])),
    responses((status = 202, body = RefundAccepted), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<RefundOrder>,
) -> Result<(StatusCode, Json<RefundAccepted>), ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, true)?;
    let id = order_id(&raw)?;
    if !headers.contains_key(service::IDEMPOTENCY_KEY_HEADER) {
        return Err(ApiError::bad_request(
            "request.missing_idempotency_key",
            "a refund needs an Idempotency-Key: it identifies the refund, so a retry never refunds twice",
        ));
    }
    // The same id `service::command` sends as the command id.
    let refund_id = service::command_id(&headers, &principal)?.to_string();
    // The order, not the client, says which currency was paid.
    let order: serde_json::Value =
        service::get::<agora_order::Order, _>(&state, &headers, id.clone(), principal.clone())
            .await?;
    let currency = view_currency(&order)?;
    let line = match &body.line {
        None => None,
        Some(line) => Some(line_share(&order, line)?),
    };
    if body.amount_minor.is_none() && line.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.invalid_refund",
            "a refund gives an amount_minor, a line, or both",
        ));
    }
    // Without an amount, the payment refunds exactly what the line's units cost.
    let amount = body.amount_minor.map(|m| Money::new(m, currency));
    let command = PaymentRequest::Refund(RefundPayment {
        refund_id,
        amount,
        line,
    });
    let reply: CommandReply<serde_json::Value> =
        service::command(&state, &headers, id, principal, command).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RefundAccepted {
            version: reply.version,
            duplicate: reply.duplicate,
            view: reply.view,
        }),
    ))
}

/// The order's facts about the line a refund names: what the shopper paid for it, over how
/// many units.
fn line_share(
    order: &serde_json::Value,
    line: &RefundLineBody,
) -> Result<agora_payment::LineShare, ApiError> {
    let invalid = || ApiError::from(agora_payment::PaymentError::InvalidRefundLine.to_body());
    let sku = agora_kernel::Sku::parse(&line.sku).map_err(|_| invalid())?;
    if !(1..=10_000).contains(&line.quantity) {
        return Err(invalid());
    }
    let found = order["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["sku"] == sku.as_str()))
        .ok_or_else(invalid)?;
    let line_paid: Money =
        serde_json::from_value(found["paid"].clone()).map_err(ApiError::internal)?;
    Ok(agora_payment::LineShare {
        units: agora_payment::RefundUnits {
            sku,
            quantity: line.quantity,
        },
        line_paid,
        line_units: found["quantity"].as_i64().unwrap_or(0),
    })
}

// ---------------------------------------------------------------------------------------------
// Handlers: read models

#[derive(sqlx::FromRow)]
struct SummaryRecord {
    #[sqlx(flatten)]
    summary: OrderSummary,
    total: i64,
}

/// The signed-in customer's orders, newest first (from the read model).
#[utoipa::path(get, path = "/store/customers/me/orders", tag = "order", params(HistoryQuery),
    responses((status = 200, body = OrderHistory), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody)))]
pub async fn my_orders(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<OrderHistory>, ApiError> {
    let customer = auth::customer(&state, &headers)?;
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let records: Vec<SummaryRecord> = sqlx::query_as(
        "SELECT order_id, status, currency, subtotal_minor, shipping_minor, tax_minor, total_minor,
                refunded_minor, line_count, item_count, lines, carrier, tracking_number, placed_at,
                updated_at, count(*) OVER () AS total
         FROM orders
         WHERE customer_id = $1
         ORDER BY placed_at DESC, order_id DESC
         LIMIT $2 OFFSET $3",
    )
    .bind(customer.as_uuid())
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total = records.first().map(|r| r.total).unwrap_or(0);
    Ok(Json(OrderHistory {
        total,
        items: records.into_iter().map(|r| r.summary).collect(),
    }))
}

#[derive(sqlx::FromRow)]
struct OrderRecord {
    #[sqlx(flatten)]
    row: OrderRow,
    total: i64,
}

/// List orders from the read model, newest first.
#[utoipa::path(get, path = "/admin/orders", tag = "order", params(OrderFilter),
    security(("bearer" = [])),
    responses((status = 200, body = OrderPage), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn list_orders(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<OrderFilter>,
) -> Result<Json<OrderPage>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let (limit, offset) = params::page(filter.limit, filter.offset)?;
    let status = filter.status.as_deref().map(status_filter).transpose()?;
    let from = filter
        .from
        .as_deref()
        .map(|f| moment("from", f))
        .transpose()?;
    let to = filter.to.as_deref().map(|t| moment("to", t)).transpose()?;
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            return Err(params::invalid_query("to is before from"));
        }
    }
    let email = filter.email.as_deref().map(str::trim);
    if email.is_some_and(|e| e.is_empty() || e.len() > 320) {
        return Err(params::invalid_query("email is 1 to 320 characters"));
    }
    let records: Vec<OrderRecord> = sqlx::query_as(
        "SELECT order_id, owner_kind, customer_id, email, status, currency, subtotal_minor,
                shipping_minor, tax_minor, total_minor, captured_minor, refunded_minor, line_count,
                item_count, lines, shipping_address, carrier, tracking_number, cancel_reason,
                placed_at, updated_at, version, count(*) OVER () AS total
         FROM orders
         WHERE ($1::text IS NULL OR status = $1)
           AND ($2::timestamptz IS NULL OR placed_at >= $2)
           AND ($3::timestamptz IS NULL OR placed_at < $3)
           AND ($4::uuid IS NULL OR customer_id = $4)
           AND ($5::text IS NULL OR lower(email) = lower($5))
         ORDER BY placed_at DESC, order_id DESC
         LIMIT $6 OFFSET $7",
    )
    .bind(status.map(|s| s.as_str()))
    .bind(from)
    .bind(to)
    .bind(filter.customer_id)
    .bind(email)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total = records.first().map(|r| r.total).unwrap_or(0);
    Ok(Json(OrderPage {
        total,
        items: records.into_iter().map(|r| r.row).collect(),
    }))
}

/// Sales per UTC day and currency over a range of at most 366 days (from the read model).
#[utoipa::path(get, path = "/admin/reports/daily-sales", tag = "reports", params(DailySalesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = DailySalesReport), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn daily_sales(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<DailySalesQuery>,
) -> Result<Json<DailySalesReport>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let (from, to) = report_range(&query.from, &query.to)?;
    let currency = query
        .currency
        .as_deref()
        .map(|c| {
            Currency::parse(c).map_err(|_| {
                params::invalid_query("currency is a three-letter ISO 4217 code (EUR)")
            })
        })
        .transpose()?;
    let items: Vec<DailySales> = sqlx::query_as(
        "SELECT day, currency, orders_confirmed, gross_minor, refunded_minor,
                orders_cancelled_after_confirm, items_sold
         FROM daily_sales
         WHERE day BETWEEN $1 AND $2 AND ($3::text IS NULL OR currency = $3)
         ORDER BY day, currency",
    )
    .bind(from)
    .bind(to)
    .bind(currency.as_ref().map(Currency::as_str))
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(DailySalesReport { from, to, items }))
}

/// The report's days, both inclusive: `to` not before `from`, at most 366 days in all.
pub(crate) fn report_range(from: &str, to: &str) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let (from, to) = (date("from", from)?, date("to", to)?);
    if to < from {
        return Err(params::invalid_query("to is before from"));
    }
    if (to - from).num_days() + 1 > MAX_REPORT_DAYS {
        return Err(params::invalid_query(format!(
            "the report covers at most {MAX_REPORT_DAYS} days"
        )));
    }
    Ok((from, to))
}

/// What the order routes decide alone, through the router with nothing behind it (see
/// `crate::tests`): a request that gets past the edge's checks ends in `503` (no NATS) or
/// `500` (no Postgres).
#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use serde_json::json;
    use tower::ServiceExt;

    const ADMIN: (&str, &str) = ("authorization", "Bearer test-admin-token");
    const CART_TOKEN: (&str, &str) = ("x-cart-token", "a-guest-token");
    const KEY: (&str, &str) = ("idempotency-key", "refund-1");
    const ORDER: &str = "5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11";

    /// Sends one request and returns the status and the error code.
    async fn check(
        method: &str,
        uri: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let response = crate::tests::offline_router()
            .await
            .oneshot(request.body(body).expect("a request"))
            .await
            .expect("a response");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
            .unwrap_or_default();
        (status, code)
    }

    fn expect(actual: (u16, String), status: u16, code: &str, what: &str) {
        assert_eq!(actual, (status, code.to_string()), "{what}");
    }

    #[tokio::test]
    async fn order_routes_need_credentials() {
        let order = format!("/store/orders/{ORDER}");
        let admin = format!("/admin/orders/{ORDER}");
        for (method, uri, body) in [
            ("GET", order.clone(), None),
            ("POST", format!("{order}/cancel"), None),
            ("GET", "/store/customers/me/orders".into(), None),
            ("GET", "/admin/orders".into(), None),
            ("GET", admin.clone(), None),
            (
                "POST",
                format!("{admin}/ship"),
                Some(r#"{"carrier":"DHL","tracking_number":"1"}"#),
            ),
            ("POST", format!("{admin}/deliver"), None),
            ("POST", format!("{admin}/cancel"), Some(r#"{"note":"x"}"#)),
            (
                "POST",
                format!("{admin}/refund"),
                Some(r#"{"amount_minor":1}"#),
            ),
            (
                "GET",
                "/admin/reports/daily-sales?from=2025-01-01&to=2025-01-31".into(),
                None,
            ),
        ] {
            expect(
                check(method, &uri, body, &[KEY]).await,
                401,
                "auth.missing_credentials",
                &format!("{method} {uri}"),
            );
        }
        // A cart token proves nothing in the back office.
        expect(
            check("GET", &admin, None, &[CART_TOKEN]).await,
            401,
            "auth.missing_credentials",
            "a shopper in the back office",
        );
    }

    #[tokio::test]
    async fn the_order_history_needs_a_customers_token() {
        for headers in [&[][..], &[CART_TOKEN]] {
            expect(
                check("GET", "/store/customers/me/orders", None, headers).await,
                401,
                "auth.missing_credentials",
                "history without a bearer token",
            );
        }
        // The bootstrap admin token has no account, hence no orders.
        expect(
            check("GET", "/store/customers/me/orders", None, &[ADMIN]).await,
            403,
            "auth.forbidden",
            "history of the admin token",
        );
        // A customer's token gets through to the read model (unreachable here: 500).
        let keys = crate::tests::test_keys();
        let customer = uuid::Uuid::new_v4().to_string();
        let claims = keys.new_claims(
            customer,
            vec!["customer".into()],
            "s",
            chrono::Utc::now().timestamp(),
        );
        let bearer = format!("Bearer {}", keys.issue(&claims));
        expect(
            check(
                "GET",
                "/store/customers/me/orders",
                None,
                &[("authorization", bearer.as_str())],
            )
            .await,
            500,
            "internal",
            "history of a customer",
        );
        // A query that cannot even be parsed fails first.
        for uri in [
            "/store/customers/me/orders?limit=ten",
            "/store/customers/me/orders?status=placed",
        ] {
            expect(
                check("GET", uri, None, &[]).await,
                400,
                "request.invalid_query",
                uri,
            );
        }
    }

    #[tokio::test]
    async fn malformed_order_ids_are_rejected_before_any_io() {
        for (method, uri, body, headers) in [
            ("GET", "/store/orders/42", None, &[CART_TOKEN][..]),
            ("POST", "/store/orders/42/cancel", None, &[CART_TOKEN]),
            ("GET", "/admin/orders/42", None, &[ADMIN]),
            (
                "POST",
                "/admin/orders/not-a-uuid/ship",
                Some(r#"{"carrier":"DHL","tracking_number":"1"}"#),
                &[ADMIN],
            ),
            ("POST", "/admin/orders/42/deliver", None, &[ADMIN]),
            ("POST", "/admin/orders/42/cancel", None, &[ADMIN]),
            (
                "POST",
                "/admin/orders/42/refund",
                Some(r#"{"amount_minor":1}"#),
                &[ADMIN, KEY],
            ),
        ] {
            expect(
                check(method, uri, body, headers).await,
                400,
                "request.invalid_id",
                &format!("{method} {uri}"),
            );
        }
    }

    #[tokio::test]
    async fn a_refund_needs_an_idempotency_key() {
        let uri = format!("/admin/orders/{ORDER}/refund");
        let body = Some(r#"{"amount_minor":1500,"reason":"damaged"}"#);
        expect(
            check("POST", &uri, body, &[ADMIN]).await,
            400,
            "request.missing_idempotency_key",
            "no key",
        );
        expect(
            check("POST", &uri, body, &[ADMIN, ("idempotency-key", "")]).await,
            400,
            "request.invalid_idempotency_key",
            "an empty key",
        );
        // With a key the edge asks the order service for the currency (no NATS here: 503).
        expect(
            check("POST", &uri, body, &[ADMIN, KEY]).await,
            503,
            "service.timeout",
            "a key",
        );
    }

    #[tokio::test]
    async fn bodies_with_fields_the_client_may_not_send_are_rejected() {
        let admin = format!("/admin/orders/{ORDER}");
        let store = format!("/store/orders/{ORDER}");
        for (uri, body, headers) in [
            (
                format!("{store}/cancel"),
                r#"{"reason":"staff"}"#,
                &[CART_TOKEN][..],
            ),
            (
                format!("{admin}/ship"),
                r#"{"carrier":"DHL","tracking_number":"1","now":"2025-01-01T00:00:00Z"}"#,
                &[ADMIN],
            ),
            (format!("{admin}/ship"), r#"{"carrier":"DHL"}"#, &[ADMIN]),
            (
                format!("{admin}/deliver"),
                r#"{"at":"2025-01-01"}"#,
                &[ADMIN],
            ),
            (
                format!("{admin}/cancel"),
                r#"{"note":"x","reason":"abandoned"}"#,
                &[ADMIN],
            ),
            (
                format!("{admin}/refund"),
                r#"{"amount_minor":1,"currency":"USD"}"#,
                &[ADMIN, KEY],
            ),
            (
                format!("{admin}/refund"),
                r#"{"amount_minor":"1"}"#,
                &[ADMIN, KEY],
            ),
        ] {
            expect(
                check("POST", &uri, Some(body), headers).await,
                422,
                "request.invalid_body",
                &format!("{uri} {body}"),
            );
        }
        expect(
            check("POST", &format!("{admin}/cancel"), Some("{"), &[ADMIN]).await,
            400,
            "request.malformed_json",
            "broken JSON",
        );
    }

    #[tokio::test]
    async fn well_formed_commands_and_reads_reach_the_services() {
        let admin = format!("/admin/orders/{ORDER}");
        let store = format!("/store/orders/{ORDER}");
        for (method, uri, body, headers) in [
            ("GET", store.clone(), None, &[CART_TOKEN][..]),
            ("POST", format!("{store}/cancel"), None, &[CART_TOKEN]),
            (
                "POST",
                format!("{store}/cancel"),
                Some(r#"{"note":"too slow"}"#),
                &[CART_TOKEN],
            ),
            ("GET", admin.clone(), None, &[ADMIN]),
            (
                "POST",
                format!("{admin}/ship"),
                Some(r#"{"carrier":"DHL","tracking_number":"1"}"#),
                &[ADMIN],
            ),
            ("POST", format!("{admin}/deliver"), None, &[ADMIN]),
            ("POST", format!("{admin}/deliver"), Some("{}"), &[ADMIN]),
            ("POST", format!("{admin}/cancel"), Some("{}"), &[ADMIN]),
        ] {
            expect(
                check(method, &uri, body, headers).await,
                503,
                "service.timeout",
                &format!("{method} {uri}"),
            );
        }
    }

    #[tokio::test]
    async fn malformed_list_and_report_queries_are_rejected_before_any_io() {
        for uri in [
            "/admin/orders?status=shipping",
            "/admin/orders?status=new",
            "/admin/orders?status=Placed",
            "/admin/orders?from=yesterday",
            "/admin/orders?to=2025-13-01",
            "/admin/orders?from=2025-03-02&to=2025-03-01",
            "/admin/orders?customer_id=42",
            "/admin/orders?email=",
            "/admin/orders?limit=101",
            "/admin/orders?offset=-1",
            "/admin/orders?sort=total",
            "/admin/reports/daily-sales",
            "/admin/reports/daily-sales?from=2025-01-01",
            "/admin/reports/daily-sales?from=2025-01-01&to=2025-01-01T00:00:00Z",
            "/admin/reports/daily-sales?from=2025-02-01&to=2025-01-31",
            "/admin/reports/daily-sales?from=2024-01-01&to=2025-01-01",
            "/admin/reports/daily-sales?from=2025-01-01&to=2025-01-31&currency=eur",
            "/admin/reports/daily-sales?from=2025-01-01&to=2025-01-31&limit=5",
        ] {
            expect(
                check("GET", uri, None, &[ADMIN]).await,
                400,
                "request.invalid_query",
                uri,
            );
        }
        // Well-formed queries get as far as Postgres (unreachable here: 500).
        for uri in [
            "/admin/orders",
            "/admin/orders?status=confirmed&from=2025-03-01&to=2025-03-01T12:00:00%2B02:00",
            "/admin/orders?to=2025-03-01T12:00:00+02:00&email=Ada@Example.com",
            &format!("/admin/orders?customer_id={ORDER}&limit=10&offset=20"),
            // 2024 is a leap year: its 366 days are the widest report.
            "/admin/reports/daily-sales?from=2024-01-01&to=2024-12-31",
            "/admin/reports/daily-sales?from=2025-01-01&to=2025-01-01&currency=EUR",
        ] {
            expect(
                check("GET", uri, None, &[ADMIN]).await,
                500,
                "internal",
                uri,
            );
        }
    }

    #[test]
    fn moments_are_rfc_3339_times_or_dates_at_utc_midnight() {
        let at = |raw: &str| moment("from", raw).expect(raw);
        assert_eq!(at("2025-03-01"), at("2025-03-01T00:00:00Z"));
        assert_eq!(at("2025-03-01T02:00:00+02:00"), at("2025-03-01T00:00:00Z"));
        // A `+` the query string turned into a space.
        assert_eq!(at("2025-03-01T02:00:00 02:00"), at("2025-03-01T00:00:00Z"));
        for bad in [
            "2025-3-1x",
            "2025-02-30",
            "01/03/2025",
            "2025-03-01T25:00:00Z",
            "",
        ] {
            assert!(moment("from", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_filters_are_the_order_statuses_a_row_can_have() {
        for status in [
            OrderStatus::Placed,
            OrderStatus::StockReserved,
            OrderStatus::PaymentAuthorized,
            OrderStatus::Confirmed,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::Cancelled,
            OrderStatus::Refunded,
        ] {
            assert_eq!(status_filter(status.as_str()).expect("a status"), status);
        }
        assert!(status_filter("new").is_err());
    }

    #[test]
    fn the_refund_currency_is_the_orders() {
        assert_eq!(
            view_currency(
                &json!({"currency": "EUR", "total": {"amount_minor": 1, "currency": "EUR"}})
            )
            .expect("a currency"),
            Currency::EUR
        );
        assert_eq!(
            view_currency(&json!({"total": {"amount_minor": 1, "currency": "USD"}}))
                .expect("a currency"),
            Currency::USD
        );
        assert!(view_currency(&json!({"id": "x"})).is_err());
    }

    #[test]
    fn the_client_never_supplies_the_time_or_the_reason() {
        assert!(serde_json::from_value::<CancelOrder>(
            json!({"note": "x", "now": "2025-01-01T00:00:00Z"})
        )
        .is_err());
        assert!(serde_json::from_value::<CancelOrder>(json!({"reason": "staff"})).is_err());
        assert!(serde_json::from_value::<ShipOrder>(
            json!({"carrier": "DHL", "tracking_number": "1", "now": "2025-01-01T00:00:00Z"})
        )
        .is_err());
    }

    #[test]
    fn every_order_route_is_documented() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(crate::ApiDoc::openapi()).expect("serializes");
        for (path, method) in [
            ("/store/orders/{id}", "get"),
            ("/store/orders/{id}/cancel", "post"),
            ("/store/customers/me/orders", "get"),
            ("/admin/orders", "get"),
            ("/admin/orders/{id}", "get"),
            ("/admin/orders/{id}/ship", "post"),
            ("/admin/orders/{id}/deliver", "post"),
            ("/admin/orders/{id}/cancel", "post"),
            ("/admin/orders/{id}/refund", "post"),
            ("/admin/reports/daily-sales", "get"),
        ] {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is not documented");
            if path.starts_with("/admin") {
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} has no security"
                );
            }
        }
        assert_eq!(
            doc["components"]["schemas"]["OrderView"]["type"], "object",
            "the order view is an object"
        );
        let refund = &doc["paths"]["/admin/orders/{id}/refund"]["post"];
        assert!(refund["responses"]["202"].is_object());
        let key = refund["parameters"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "Idempotency-Key").cloned())
            .expect("the key is documented");
        assert_eq!(key["required"], true);
    }
}

/// The order's payment as the back office sees it: status, the provider's reference, what was
/// captured and refunded, each refund, each dispute and what was charged back (staff, admins,
/// auditors).
#[utoipa::path(get, path = "/admin/orders/{id}/payment", tag = "order",
    params(("id" = String, Path, description = "order id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn admin_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let id = order_id(&raw)?;
    Ok(Json(
        service::get::<agora_payment::Payment, _>(&state, &headers, id, principal).await?,
    ))
}
