//! A vendor's back office over HTTP: its orders, parcels and returns, its ledger, balance and
//! payouts, and the back office's list of vendors.
//!
//! Every route is under one vendor (`/admin/vendors/{id}/...`) and first reads that vendor on
//! the caller's authority: the vendor aggregate lets staff, admins and auditors read any vendor
//! and a vendor's users only their own, and to anyone else it does not exist (404). What the
//! route then lists is that vendor's rows only. A single order, parcel or return is read through
//! its own routes (`/admin/orders/{id}`...), where the owning aggregate narrows a vendor's user
//! to its own lines.

use agora_kernel::{Money, Principal};
use agora_nats::CommandReply;
use agora_vendor::{Vendor, VendorCommand, VendorView};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiErrorBody, Json, Path};
use agora_workflows::marketplace::ledger_sums;

use crate::fulfilment::{returns_page, shipments_page, ListQuery, ReturnList, ShipmentList};
use crate::{auth, params, service, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/vendors", get(list_vendors))
        .route("/admin/vendors/{id}/orders", get(vendor_orders))
        .route("/admin/vendors/{id}/shipments", get(vendor_shipments))
        .route("/admin/vendors/{id}/returns", get(vendor_returns))
        .route("/admin/vendors/{id}/ledger", get(ledger))
        .route("/admin/vendors/{id}/balance", get(balance))
        .route("/admin/vendors/{id}/payouts", post(request_payout))
        .route("/admin/vendors/{id}/reports/sales", get(sales_report))
        .route(
            "/admin/vendors/{id}/reports/sales.csv",
            get(sales_report_csv),
        )
}

/// The vendor `raw` as the caller may see it: 403 for callers outside the back office, 404
/// for a vendor that does not exist for the caller (another vendor's users, unknown ids).
async fn the_vendor(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    write: bool,
) -> Result<(Principal, VendorView), ApiError> {
    let principal = auth::back_office(state, headers, auth::Area::Fulfilment, write)?;
    let id = params::uuid_id(raw, "vendor")?;
    let view: VendorView = service::get::<Vendor, _>(state, headers, id, principal.clone()).await?;
    Ok((principal, view))
}

/// Paging and a status.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VendorListQuery {
    /// A status name (`applied`, `active`, `suspended`, `rejected`, `closed` for vendors;
    /// an order status for orders).
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// One vendor in the back office's list.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct VendorSummary {
    pub vendor_id: String,
    pub status: String,
    pub name: String,
    pub country: String,
    pub contact_email: String,
    pub users: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorList {
    pub vendors: Vec<VendorSummary>,
    pub total: i64,
}

/// The vendors, newest applications first (from the `vendors` read model): for staff, admins
/// and auditors; a vendor's users read their own vendor at `/admin/vendors/{id}`.
#[utoipa::path(get, path = "/admin/vendors", tag = "vendor", params(VendorListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = VendorList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn list_vendors(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<VendorListQuery>,
) -> Result<Json<VendorList>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let status = params::status_name(&query.status)?;
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        summary: VendorSummary,
        total: i64,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT vendor_id, status, name, country, contact_email, users, created_at, updated_at,
                count(*) OVER () AS total
         FROM vendors WHERE ($1::text IS NULL OR status = $1)
         ORDER BY created_at DESC, vendor_id LIMIT $2 OFFSET $3",
    )
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(VendorList {
        total: rows.first().map_or(0, |r| r.total),
        vendors: rows.into_iter().map(|r| r.summary).collect(),
    }))
}

/// One order of a vendor: its lines' figures only.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct VendorOrder {
    pub order_id: String,
    /// The order's status; the vendor's own sub-order status is on `GET /admin/orders/{id}`.
    pub status: String,
    pub currency: String,
    /// The vendor's lines before discounts.
    pub subtotal_minor: i64,
    pub units: i64,
    pub line_count: i32,
    pub ship_city: String,
    pub ship_country: String,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How far a vendor's order list counts its orders.
const COUNT_BOUND: i64 = 1_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorOrderList {
    pub orders: Vec<VendorOrder>,
    /// The orders matching, counted up to 1,000.
    pub total: i64,
    /// Whether more than `total` match.
    pub more: bool,
}

/// The orders holding the vendor's lines, newest first (from the `vendor_orders` read model).
#[utoipa::path(get, path = "/admin/vendors/{id}/orders", tag = "vendor", params(
        ("id" = String, Path, description = "vendor id (UUID)"), VendorListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = VendorOrderList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn vendor_orders(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<VendorListQuery>,
) -> Result<Json<VendorOrderList>, ApiError> {
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let status = params::status_name(&query.status)?;
    let (_, vendor) = the_vendor(&state, &headers, &raw, false).await?;
    // Counted up to a bound: a vendor with many orders pages through them; counting them all
    // would cost a scan of its whole history on every page.
    let counted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM vendor_orders
             WHERE vendor_id = $1 AND ($2::text IS NULL OR status = $2) LIMIT $3) AS o",
    )
    .bind(&vendor.id)
    .bind(status)
    .bind(COUNT_BOUND + 1)
    .fetch_one(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    let total = counted.min(COUNT_BOUND);
    let more = counted > COUNT_BOUND;
    let orders: Vec<VendorOrder> = sqlx::query_as(
        "SELECT order_id, status, currency, subtotal_minor, units, line_count, ship_city,
                ship_country, placed_at, updated_at
         FROM vendor_orders WHERE vendor_id = $1 AND ($2::text IS NULL OR status = $2)
         ORDER BY placed_at DESC, order_id DESC LIMIT $3 OFFSET $4",
    )
    .bind(&vendor.id)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(VendorOrderList {
        orders,
        total,
        more,
    }))
}

/// The vendor's parcels, newest first.
#[utoipa::path(get, path = "/admin/vendors/{id}/shipments", tag = "vendor", params(
        ("id" = String, Path, description = "vendor id (UUID)"), ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ShipmentList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn vendor_shipments(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ShipmentList>, ApiError> {
    let (_, vendor) = the_vendor(&state, &headers, &raw, false).await?;
    Ok(Json(
        shipments_page(&state, &query, Some(&vendor.id)).await?,
    ))
}

/// The returns of the vendor's lines, newest first (a return spanning vendors is staff's).
#[utoipa::path(get, path = "/admin/vendors/{id}/returns", tag = "vendor", params(
        ("id" = String, Path, description = "vendor id (UUID)"), ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn vendor_returns(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ReturnList>, ApiError> {
    let (_, vendor) = the_vendor(&state, &headers, &raw, false).await?;
    Ok(Json(returns_page(&state, &query, Some(&vendor.id)).await?))
}

/// Paging of the ledger.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// The event an entry came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntrySource {
    /// The stream type (`order`).
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
}

/// One movement of the vendor's money.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    pub entry_id: String,
    /// `sale`, `commission`, `refund` or `adjustment` (payouts are the vendor's own, in its
    /// balance).
    pub kind: String,
    /// Signed: sales positive, commission and refunds negative.
    #[schema(value_type = Object)]
    pub amount: Money,
    pub at: DateTime<Utc>,
    /// Pending until then (the end of the return window).
    pub available_at: Option<DateTime<Utc>>,
    pub order_id: String,
    pub sku: Option<String>,
    /// The commission rule a commission was taken by.
    pub rule_id: Option<String>,
    /// The event the entry was derived from (see `/admin/audit/...`).
    pub source: EntrySource,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
    pub total: i64,
}

/// The vendor's ledger, newest first: every sale, commission, refund and adjustment, each with
/// the event it came from.
#[utoipa::path(get, path = "/admin/vendors/{id}/ledger", tag = "vendor", params(
        ("id" = String, Path, description = "vendor id (UUID)"), LedgerQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Ledger), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn ledger(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<LedgerQuery>,
) -> Result<Json<Ledger>, ApiError> {
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let (_, vendor) = the_vendor(&state, &headers, &raw, false).await?;
    type Row = (
        String,
        String,
        i64,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT entry_id, kind, amount_minor, currency, at, available_at, order_id, sku, rule_id,
                source_type, source_id, source_sequence, count(*) OVER ()
         FROM vendor_ledger WHERE vendor_id = $1
         ORDER BY at DESC, entry_id LIMIT $2 OFFSET $3",
    )
    .bind(&vendor.id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    let total = rows.first().map_or(0, |r| r.12);
    let mut entries = Vec::with_capacity(rows.len());
    for r in rows {
        let currency = agora_kernel::Currency::parse(&r.3).map_err(ApiError::internal)?;
        entries.push(LedgerEntry {
            entry_id: r.0,
            kind: r.1,
            amount: Money::new(r.2, currency),
            at: r.4,
            available_at: r.5,
            order_id: r.6,
            sku: r.7,
            rule_id: r.8,
            source: EntrySource {
                aggregate_type: r.9,
                aggregate_id: r.10,
                sequence: r.11,
            },
        });
    }
    Ok(Json(Ledger { entries, total }))
}

/// What the platform holds for a vendor and what it paid out.
#[derive(Debug, Serialize, ToSchema)]
pub struct Balance {
    pub currency: String,
    /// Sales less commission still in their return window.
    pub pending_minor: i64,
    /// Everything earned that is out of its window, refunds and adjustments included, before
    /// payouts.
    pub earned_available_minor: i64,
    /// Payouts sent.
    pub paid_out_minor: i64,
    /// Payouts requested and not settled yet.
    pub payouts_outstanding_minor: i64,
    /// What a payout may take now: earned and available, less payouts paid and outstanding.
    pub available_minor: i64,
    /// The vendor's latest payouts, newest first.
    #[schema(value_type = Vec<Object>)]
    pub payouts: Vec<agora_vendor::PayoutView>,
}

async fn balance_of(state: &AppState, vendor: &VendorView) -> Result<Balance, ApiError> {
    let sums = ledger_sums(&state.pool, &vendor.id).await?;
    let paid_out = vendor.paid_out.map_or(0, |m| m.amount_minor);
    let outstanding = vendor.payouts_outstanding.map_or(0, |m| m.amount_minor);
    let (currency, pending, earned) = match sums {
        Some(s) => (
            s.pending.currency.as_str().to_string(),
            s.pending.amount_minor,
            s.earned_available.amount_minor,
        ),
        None => (
            vendor
                .paid_out
                .map_or_else(|| "EUR".to_string(), |m| m.currency.as_str().to_string()),
            0,
            0,
        ),
    };
    Ok(Balance {
        currency,
        pending_minor: pending,
        earned_available_minor: earned,
        paid_out_minor: paid_out,
        payouts_outstanding_minor: outstanding,
        available_minor: earned - paid_out - outstanding,
        payouts: vendor.payouts.clone(),
    })
}

/// The vendor's balance: pending, available, paid out, and its latest payouts.
#[utoipa::path(get, path = "/admin/vendors/{id}/balance", tag = "vendor", params(
        ("id" = String, Path, description = "vendor id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = Balance), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn balance(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Balance>, ApiError> {
    let (_, vendor) = the_vendor(&state, &headers, &raw, false).await?;
    Ok(Json(balance_of(&state, &vendor).await?))
}

/// Body of `POST /admin/vendors/{id}/payouts`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutBody {
    /// How much; absent: everything available.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub amount: Option<Money>,
}

/// Pay the vendor out now: at least the shop's minimum, at most what is available. The
/// `Idempotency-Key` names the payout, so a retry pays once; the provider's transfer follows
/// within seconds (the balance's `payouts` shows it `paid`, or `failed` with the reason and
/// the money back).
#[utoipa::path(post, path = "/admin/vendors/{id}/payouts", tag = "vendor", request_body = PayoutBody,
    params(("id" = String, Path, description = "vendor id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "names the payout: retries pay once")),
    security(("bearer" = [])),
    responses((status = 201, body = Balance), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn request_payout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Balance>), ApiError> {
    let body: PayoutBody = params::optional_body(&headers, &body)?;
    let (principal, vendor) = the_vendor(&state, &headers, &raw, true).await?;
    let before = balance_of(&state, &vendor).await?;
    let currency = agora_kernel::Currency::parse(&before.currency).map_err(ApiError::internal)?;
    let amount = body
        .amount
        .unwrap_or_else(|| Money::new(before.available_minor, currency));
    let payout_id = service::command_id(&headers, &principal)?.to_string();
    let command = VendorCommand::RequestPayout {
        payout_id,
        amount,
        earned_available: Money::new(before.earned_available_minor, currency),
        minimum: Money::new(state.config.payout_minimum_minor, currency),
        now: Utc::now(),
    };
    let reply: CommandReply<VendorView> =
        service::command(&state, &headers, vendor.id.clone(), principal, command).await?;
    Ok((
        StatusCode::CREATED,
        Json(balance_of(&state, &reply.view).await?),
    ))
}

/// Query of a vendor's sales report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesReportQuery {
    /// First day (UTC), `YYYY-MM-DD`, inclusive.
    #[param(format = Date)]
    pub from: String,
    /// Last day (UTC), `YYYY-MM-DD`, inclusive; not before `from`, at most 366 days in all.
    #[param(format = Date)]
    pub to: String,
}

/// A vendor's money of one UTC day in one currency, from its ledger: what its lines sold and
/// what was taken off or given back that day, each by kind (signed as in the ledger).
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct VendorSalesDay {
    pub day: chrono::NaiveDate,
    pub currency: String,
    /// Orders with a sale of the vendor's lines that day.
    pub orders: i64,
    pub sales_minor: i64,
    /// The platform's commission (negative), net of commission re-charged.
    pub commission_minor: i64,
    pub refunds_minor: i64,
    pub chargebacks_minor: i64,
    /// Commission given back with refunds and chargebacks, disputes won.
    pub adjustments_minor: i64,
    /// What the vendor earned that day: every entry but payouts.
    pub net_minor: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VendorSalesReport {
    pub vendor_id: String,
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    /// By day, then currency; a day without entries has no row.
    pub items: Vec<VendorSalesDay>,
}

async fn sales_days(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    query: &SalesReportQuery,
) -> Result<VendorSalesReport, ApiError> {
    let (from, to) = crate::orders::report_range(&query.from, &query.to)?;
    let (_, vendor) = the_vendor(state, headers, raw, false).await?;
    let items: Vec<VendorSalesDay> = sqlx::query_as(
        "SELECT (at AT TIME ZONE 'UTC')::date AS day, currency,
                count(DISTINCT order_id) FILTER (WHERE kind = 'sale') AS orders,
                COALESCE(sum(amount_minor) FILTER (WHERE kind = 'sale'), 0)::bigint AS sales_minor,
                COALESCE(sum(amount_minor) FILTER (WHERE kind = 'commission'), 0)::bigint AS commission_minor,
                COALESCE(sum(amount_minor) FILTER (WHERE kind = 'refund'), 0)::bigint AS refunds_minor,
                COALESCE(sum(amount_minor) FILTER (WHERE kind = 'chargeback'), 0)::bigint AS chargebacks_minor,
                COALESCE(sum(amount_minor) FILTER (WHERE kind = 'adjustment'), 0)::bigint AS adjustments_minor,
                COALESCE(sum(amount_minor) FILTER (WHERE kind NOT IN ('payout', 'payout_failed')), 0)::bigint AS net_minor
         FROM vendor_ledger
         WHERE vendor_id = $1
           AND at >= ($2::date)::timestamp AT TIME ZONE 'UTC'
           AND at < ($3::date + 1)::timestamp AT TIME ZONE 'UTC'
         GROUP BY 1, 2
         ORDER BY 1, 2",
    )
    .bind(&vendor.id)
    .bind(from)
    .bind(to)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    Ok(VendorSalesReport {
        vendor_id: vendor.id,
        from,
        to,
        items,
    })
}

/// A vendor's sales by day, from its ledger: for its own users, staff, admins and auditors;
/// another vendor's users get 404.
#[utoipa::path(get, path = "/admin/vendors/{id}/reports/sales", tag = "vendor",
    params(("id" = String, Path, description = "vendor id (UUID)"), SalesReportQuery),
    security(("bearer" = [])),
    responses((status = 200, body = VendorSalesReport), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn sales_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<SalesReportQuery>,
) -> Result<Json<VendorSalesReport>, ApiError> {
    Ok(Json(sales_days(&state, &headers, &raw, &query).await?))
}

/// The same report as CSV, for a spreadsheet.
#[utoipa::path(get, path = "/admin/vendors/{id}/reports/sales.csv", tag = "vendor",
    params(("id" = String, Path, description = "vendor id (UUID)"), SalesReportQuery),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn sales_report_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(query): Query<SalesReportQuery>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let report = sales_days(&state, &headers, &raw, &query).await?;
    let mut csv = String::from(
        "day,currency,orders,sales_minor,commission_minor,refunds_minor,chargebacks_minor,adjustments_minor,net_minor\n",
    );
    for d in report.items {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            d.day,
            crate::promotions::csv_field(&d.currency),
            d.orders,
            d.sales_minor,
            d.commission_minor,
            d.refunds_minor,
            d.chargebacks_minor,
            d.adjustments_minor,
            d.net_minor
        ));
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        csv,
    ))
}
