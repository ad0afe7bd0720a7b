//! Analytics for the back office (`/admin/analytics/...`): sales by day, product, category and
//! vendor; the conversion funnel; a summary (revenue and average order value per currency,
//! customers and repeat customers, refunds); refunds by reason. JSON, and CSV for the
//! spreadsheet-shaped ones (`.csv`, with a header row).
//!
//! Everything comes from the analytics read models (`agora_projections::analytics`, which says
//! what counts as a sale, a payment and a refund's reason), over a range of UTC days of at most
//! 366 (`from` and `to`, both inclusive). Money is integer minor units with its currency; an
//! average is rounded down to a minor unit and a rate is in basis points (10 000 = 100 %),
//! rounded down, `null` when there is nothing to divide by.
//!
//! Who sees what: the shop's staff, admins and auditors (the `Sales` area) see everything. A
//! vendor's user sees sales by product and by vendor, narrowed to its own vendor's rows; the
//! shop's figures (sales by day and category, the funnel, the summary, refunds) are `403` to it.

use agora_kernel::Principal;
use agora_projections::analytics::{self as model, average_minor, rate_bp};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiErrorBody, Json, Query};
use crate::promotions::csv_field;
use crate::{auth, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/analytics/sales", get(sales))
        .route("/admin/analytics/sales.csv", get(sales_csv))
        .route("/admin/analytics/funnel", get(funnel))
        .route("/admin/analytics/funnel.csv", get(funnel_csv))
        .route("/admin/analytics/summary", get(summary))
        .route("/admin/analytics/refunds", get(refunds))
        .route("/admin/analytics/refunds.csv", get(refunds_csv))
}

// ---------------------------------------------------------------------------------------------
// Who asks

/// Whose figures a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Viewer {
    /// The shop's staff: everything.
    Shop,
    /// A vendor's user: its own vendor's rows.
    Vendor(String),
}

/// The caller of a report that vendors may read narrowed: 401 without credentials, 403 for
/// callers outside the back office.
fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Viewer, ApiError> {
    if let Some(Principal::Vendor { vendor, .. }) = auth::bearer(state, headers)? {
        return Ok(Viewer::Vendor(vendor));
    }
    auth::back_office(state, headers, auth::Area::Sales, false)?;
    Ok(Viewer::Shop)
}

/// The caller of one of the shop's own reports: staff of the `Sales` area only (a vendor's user
/// gets 403).
fn shop(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    auth::back_office(state, headers, auth::Area::Sales, false).map(|_| ())
}

fn shop_only() -> ApiError {
    ApiError::forbidden(
        "these are the shop's figures; a vendor reads its sales by product or vendor",
    )
}

// ---------------------------------------------------------------------------------------------
// Queries

/// A range of days.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day (UTC), `YYYY-MM-DD`, inclusive.
    #[param(format = Date)]
    pub from: String,
    /// Last day (UTC), `YYYY-MM-DD`, inclusive; not before `from`, at most 366 days in all.
    #[param(format = Date)]
    pub to: String,
}

/// How sales are broken down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SalesBy {
    /// One row per UTC day and currency.
    #[default]
    Day,
    /// One row per SKU and currency over the range.
    Product,
    /// One row per category and currency over the range.
    Category,
    /// One row per vendor and currency over the range.
    Vendor,
}

/// Query of the sales report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesQuery {
    /// First day (UTC), `YYYY-MM-DD`, inclusive.
    #[param(format = Date)]
    pub from: String,
    /// Last day (UTC), `YYYY-MM-DD`, inclusive; not before `from`, at most 366 days in all.
    #[param(format = Date)]
    pub to: String,
    /// `day` (the default), `product`, `category` or `vendor`. A vendor's user may ask for
    /// `product` and `vendor` only.
    #[param(inline)]
    pub by: Option<SalesBy>,
}

fn range(from: &str, to: &str) -> Result<(NaiveDate, NaiveDate), ApiError> {
    crate::orders::report_range(from, to)
}

// ---------------------------------------------------------------------------------------------
// Shapes

/// Sales of one UTC day in one currency: the orders confirmed that day (less those cancelled
/// since), and the refunds of sales that went through that day.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SalesDay {
    pub day: NaiveDate,
    pub currency: String,
    pub orders: i64,
    pub units: i64,
    /// The lines before discounts.
    pub subtotal_minor: i64,
    /// Taken off the items and the shipping by promotions.
    pub discount_minor: i64,
    /// The shipping fees before their discount.
    pub shipping_minor: i64,
    pub tax_minor: i64,
    /// What the shoppers paid for the orders.
    pub total_minor: i64,
    pub refunds: i64,
    pub refunded_minor: i64,
    /// `total_minor − refunded_minor`.
    pub net_minor: i64,
    /// `total_minor / orders`, rounded down; `null` without orders.
    pub average_order_value_minor: Option<i64>,
}

/// What lines of one kind sold over the range, in one currency.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineFigures {
    pub currency: String,
    /// Orders with such lines.
    pub orders: i64,
    pub units: i64,
    /// Unit price × units.
    pub gross_minor: i64,
    /// Taken off by promotions.
    pub discount_minor: i64,
    /// What the shoppers paid for them: after discounts, with tax.
    pub revenue_minor: i64,
    /// Units given back by refunds of the lines, and the money.
    pub refunded_units: i64,
    pub refunded_minor: i64,
}

/// One SKU's sales over the range.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductSales {
    pub product_id: String,
    pub sku: String,
    /// As it was sold last in the range.
    pub title: String,
    /// The marketplace vendor selling it; `null` for the shop's own goods.
    pub vendor_id: Option<String>,
    #[serde(flatten)]
    pub figures: LineFigures,
}

/// One category's sales over the range.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategorySales {
    /// `null` for lines sold without a category.
    pub category_id: Option<String>,
    #[serde(flatten)]
    pub figures: LineFigures,
}

/// One vendor's sales over the range.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VendorSales {
    /// `null` for the shop's own lines.
    pub vendor_id: Option<String>,
    #[serde(flatten)]
    pub figures: LineFigures,
}

/// The rows of a sales report, as `by` asked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SalesItems {
    Days(Vec<SalesDay>),
    Products(Vec<ProductSales>),
    Categories(Vec<CategorySales>),
    Vendors(Vec<VendorSales>),
}

/// Documented as one array whose rows are any of the four kinds (`anyOf`): the derived
/// `oneOf` of four arrays is wrong for an empty report, which every one of them matches.
impl utoipa::PartialSchema for SalesItems {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder};
        use utoipa::openapi::Ref;
        ArrayBuilder::new()
            .items(
                AnyOfBuilder::new()
                    .item(Ref::from_schema_name("SalesDay"))
                    .item(Ref::from_schema_name("ProductSales"))
                    .item(Ref::from_schema_name("CategorySales"))
                    .item(Ref::from_schema_name("VendorSales")),
            )
            .description(Some(
                "The rows: days (`by=day`), products, categories or vendors, as `by` asked.",
            ))
            .into()
    }
}

impl ToSchema for SalesItems {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push(("SalesDay".into(), SalesDay::schema()));
        schemas.push(("ProductSales".into(), ProductSales::schema()));
        schemas.push(("CategorySales".into(), CategorySales::schema()));
        schemas.push(("VendorSales".into(), VendorSales::schema()));
        <SalesDay as ToSchema>::schemas(schemas);
        <ProductSales as ToSchema>::schemas(schemas);
        <CategorySales as ToSchema>::schemas(schemas);
        <VendorSales as ToSchema>::schemas(schemas);
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SalesReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: SalesBy,
    /// For a vendor's user, its own vendor's rows only.
    pub vendor_id: Option<String>,
    /// By day then currency (`day`: a day without sales or refunds has no row); otherwise
    /// best revenue first.
    pub items: SalesItems,
}

/// The funnel's stages over some days, each counted on the day of its own event, and the rates
/// from stage to stage in basis points (rounded down; `null` when the stage before is 0). A day's
/// rate may pass 10 000: a cart filled today may have been created yesterday.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct FunnelFigures {
    pub carts_created: i64,
    /// Carts that got their first item.
    pub carts_with_items: i64,
    pub checkouts_started: i64,
    /// Checkouts whose payment was captured.
    pub paid: i64,
    /// `carts_with_items / carts_created`.
    pub add_to_cart_rate_bp: Option<i64>,
    /// `checkouts_started / carts_with_items`.
    pub checkout_rate_bp: Option<i64>,
    /// `paid / checkouts_started`.
    pub payment_rate_bp: Option<i64>,
    /// `paid / carts_created`.
    pub conversion_rate_bp: Option<i64>,
}

impl FunnelFigures {
    fn of(carts_created: i64, carts_with_items: i64, checkouts_started: i64, paid: i64) -> Self {
        FunnelFigures {
            carts_created,
            carts_with_items,
            checkouts_started,
            paid,
            add_to_cart_rate_bp: rate_bp(carts_with_items, carts_created),
            checkout_rate_bp: rate_bp(checkouts_started, carts_with_items),
            payment_rate_bp: rate_bp(paid, checkouts_started),
            conversion_rate_bp: rate_bp(paid, carts_created),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunnelDay {
    pub day: NaiveDate,
    #[serde(flatten)]
    pub figures: FunnelFigures,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunnelReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// By day; a day where no stage moved has no row.
    pub days: Vec<FunnelDay>,
    /// The whole range.
    pub total: FunnelFigures,
}

/// Sales over the range in one currency.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CurrencySummary {
    pub currency: String,
    pub orders: i64,
    /// What the shoppers paid for the orders.
    pub revenue_minor: i64,
    /// Refunds of sales that went through in the range.
    pub refunded_minor: i64,
    /// `revenue_minor − refunded_minor`.
    pub net_minor: i64,
    /// `revenue_minor / orders`, rounded down; `null` without orders.
    pub average_order_value_minor: Option<i64>,
}

/// Every refund of the range in one currency, whatever its reason (cancelled orders' too).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundTotal {
    pub currency: String,
    pub refunds: i64,
    pub amount_minor: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SummaryReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// By currency.
    pub sales: Vec<CurrencySummary>,
    /// Customers with a sale in the range (a guest counts by the email of the order).
    pub customers: i64,
    /// Of them, those with at least two sales up to `to` (two in the range, or one before).
    pub repeat_customers: i64,
    /// `repeat_customers / customers` in basis points, rounded down; `null` without customers.
    pub repeat_customer_rate_bp: Option<i64>,
    /// By currency.
    pub refunds: Vec<RefundTotal>,
}

/// Refunds of one reason in one currency over the range.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundReason {
    /// A return's reason (`damaged`, `defective`, `wrong_item`, `not_as_described`,
    /// `no_longer_needed`, `size_or_fit`, `other`), `order_cancelled`, or `unspecified`.
    pub reason: String,
    pub currency: String,
    pub refunds: i64,
    pub amount_minor: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundsReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Largest amount first.
    pub items: Vec<RefundReason>,
}

fn figures(f: model::LineFigures) -> LineFigures {
    LineFigures {
        currency: f.currency,
        orders: f.orders,
        units: f.units,
        gross_minor: f.gross_minor,
        discount_minor: f.discount_minor,
        revenue_minor: f.revenue_minor,
        refunded_units: f.refunded_units,
        refunded_minor: f.refunded_minor,
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn sales_report(
    state: &AppState,
    headers: &HeaderMap,
    query: &SalesQuery,
) -> Result<SalesReport, ApiError> {
    let viewer = viewer(state, headers)?;
    let (from, to) = range(&query.from, &query.to)?;
    let by = query.by.unwrap_or_default();
    let vendor = match &viewer {
        Viewer::Shop => None,
        Viewer::Vendor(v) if matches!(by, SalesBy::Product | SalesBy::Vendor) => Some(v.as_str()),
        Viewer::Vendor(_) => return Err(shop_only()),
    };
    let pool = &state.pool;
    let items = match by {
        SalesBy::Day => SalesItems::Days(
            model::sales_by_day(pool, from, to)
                .await?
                .into_iter()
                .map(|d| SalesDay {
                    net_minor: d.total_minor - d.refunded_minor,
                    average_order_value_minor: average_minor(d.total_minor, d.orders),
                    day: d.day,
                    currency: d.currency,
                    orders: d.orders,
                    units: d.units,
                    subtotal_minor: d.subtotal_minor,
                    discount_minor: d.discount_minor,
                    shipping_minor: d.shipping_minor,
                    tax_minor: d.tax_minor,
                    total_minor: d.total_minor,
                    refunds: d.refunds,
                    refunded_minor: d.refunded_minor,
                })
                .collect(),
        ),
        SalesBy::Product => SalesItems::Products(
            model::sales_by_product(pool, from, to, vendor)
                .await?
                .into_iter()
                .map(|p| ProductSales {
                    product_id: p.product_id,
                    sku: p.sku,
                    title: p.title,
                    vendor_id: p.vendor_id,
                    figures: figures(p.figures),
                })
                .collect(),
        ),
        SalesBy::Category => SalesItems::Categories(
            model::sales_by_category(pool, from, to)
                .await?
                .into_iter()
                .map(|c| CategorySales {
                    category_id: c.key,
                    figures: figures(c.figures),
                })
                .collect(),
        ),
        SalesBy::Vendor => SalesItems::Vendors(
            model::sales_by_vendor(pool, from, to, vendor)
                .await?
                .into_iter()
                .map(|v| VendorSales {
                    vendor_id: v.key,
                    figures: figures(v.figures),
                })
                .collect(),
        ),
    };
    Ok(SalesReport {
        from,
        to,
        by,
        vendor_id: vendor.map(str::to_string),
        items,
    })
}

/// Sales over a range of days: by day, product (SKU), category or vendor, per currency (staff,
/// admins, auditors; a vendor's user by product or vendor, its own rows only).
#[utoipa::path(get, path = "/admin/analytics/sales", tag = "analytics", params(SalesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = SalesReport),
        (status = 400, description = "a malformed or too wide range, an unknown `by` (`request.invalid_query`)", body = ApiErrorBody),
        (status = 401, body = ApiErrorBody),
        (status = 403, description = "not in the back office, or a vendor's user asking for the shop's figures (`auth.forbidden`)", body = ApiErrorBody)))]
pub async fn sales(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SalesQuery>,
) -> Result<Json<SalesReport>, ApiError> {
    Ok(Json(sales_report(&state, &headers, &query).await?))
}

/// The sales report as CSV, with a header row whose columns follow `by`.
#[utoipa::path(get, path = "/admin/analytics/sales.csv", tag = "analytics", params(SalesQuery),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 400, description = "a malformed or too wide range, an unknown `by` (`request.invalid_query`)", body = ApiErrorBody),
        (status = 401, body = ApiErrorBody),
        (status = 403, description = "not in the back office, or a vendor's user asking for the shop's figures (`auth.forbidden`)", body = ApiErrorBody)))]
pub async fn sales_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SalesQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let report = sales_report(&state, &headers, &query).await?;
    Ok(csv(sales_to_csv(&report.items)))
}

const FIGURE_COLUMNS: &str =
    "currency,orders,units,gross_minor,discount_minor,revenue_minor,refunded_units,refunded_minor";

fn figure_cells(f: &LineFigures) -> String {
    format!(
        "{},{},{},{},{},{},{},{}",
        csv_field(&f.currency),
        f.orders,
        f.units,
        f.gross_minor,
        f.discount_minor,
        f.revenue_minor,
        f.refunded_units,
        f.refunded_minor
    )
}

fn optional(value: &Option<String>) -> String {
    value.as_deref().map(csv_field).unwrap_or_default()
}

fn sales_to_csv(items: &SalesItems) -> String {
    let mut out = String::new();
    match items {
        SalesItems::Days(days) => {
            out.push_str("day,currency,orders,units,subtotal_minor,discount_minor,shipping_minor,tax_minor,total_minor,refunds,refunded_minor,net_minor,average_order_value_minor\n");
            for d in days {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    d.day,
                    csv_field(&d.currency),
                    d.orders,
                    d.units,
                    d.subtotal_minor,
                    d.discount_minor,
                    d.shipping_minor,
                    d.tax_minor,
                    d.total_minor,
                    d.refunds,
                    d.refunded_minor,
                    d.net_minor,
                    d.average_order_value_minor
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                ));
            }
        }
        SalesItems::Products(products) => {
            out.push_str(&format!(
                "product_id,sku,title,vendor_id,{FIGURE_COLUMNS}\n"
            ));
            for p in products {
                out.push_str(&format!(
                    "{},{},{},{},{}\n",
                    csv_field(&p.product_id),
                    csv_field(&p.sku),
                    csv_field(&p.title),
                    optional(&p.vendor_id),
                    figure_cells(&p.figures)
                ));
            }
        }
        SalesItems::Categories(categories) => {
            out.push_str(&format!("category_id,{FIGURE_COLUMNS}\n"));
            for c in categories {
                out.push_str(&format!(
                    "{},{}\n",
                    optional(&c.category_id),
                    figure_cells(&c.figures)
                ));
            }
        }
        SalesItems::Vendors(vendors) => {
            out.push_str(&format!("vendor_id,{FIGURE_COLUMNS}\n"));
            for v in vendors {
                out.push_str(&format!(
                    "{},{}\n",
                    optional(&v.vendor_id),
                    figure_cells(&v.figures)
                ));
            }
        }
    }
    out
}

fn csv(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body)
}

async fn funnel_report(
    state: &AppState,
    headers: &HeaderMap,
    query: &RangeQuery,
) -> Result<FunnelReport, ApiError> {
    shop(state, headers)?;
    let (from, to) = range(&query.from, &query.to)?;
    let rows = model::funnel(&state.pool, from, to).await?;
    let sum = |f: fn(&model::FunnelDay) -> i64| rows.iter().map(f).sum::<i64>();
    let total = FunnelFigures::of(
        sum(|d| d.carts_created),
        sum(|d| d.carts_with_items),
        sum(|d| d.checkouts_started),
        sum(|d| d.paid),
    );
    let days = rows
        .iter()
        .map(|d| FunnelDay {
            day: d.day,
            figures: FunnelFigures::of(
                d.carts_created,
                d.carts_with_items,
                d.checkouts_started,
                d.paid,
            ),
        })
        .collect();
    Ok(FunnelReport {
        from,
        to,
        days,
        total,
    })
}

/// The conversion funnel (cart created → first item → checkout started → paid) per day and over
/// the range, with its rates in basis points (staff, admins, auditors).
#[utoipa::path(get, path = "/admin/analytics/funnel", tag = "analytics", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, body = FunnelReport),
        (status = 400, description = "a malformed or too wide range (`request.invalid_query`)", body = ApiErrorBody),
        (status = 401, body = ApiErrorBody),
        (status = 403, description = "not staff of the sales area; vendors' users included (`auth.forbidden`)", body = ApiErrorBody)))]
pub async fn funnel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RangeQuery>,
) -> Result<Json<FunnelReport>, ApiError> {
    Ok(Json(funnel_report(&state, &headers, &query).await?))
}

/// The funnel per day as CSV, with a header row.
#[utoipa::path(get, path = "/admin/analytics/funnel.csv", tag = "analytics", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 400, description = "a malformed or too wide range (`request.invalid_query`)", body = ApiErrorBody),
        (status = 401, body = ApiErrorBody),
        (status = 403, description = "not staff of the sales area; vendors' users included (`auth.forbidden`)", body = ApiErrorBody)))]
pub async fn funnel_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RangeQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let report = funnel_report(&state, &headers, &query).await?;
    let rate = |r: Option<i64>| r.map(|v| v.to_string()).unwrap_or_default();
    let mut out = String::from(
        "day,carts_created,carts_with_items,checkouts_started,paid,add_to_cart_rate_bp,checkout_rate_bp,payment_rate_bp,conversion_rate_bp\n",
    );
    for d in &report.days {
        let f = &d.figures;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            d.day,
            f.carts_created,
            f.carts_with_items,
            f.checkouts_started,
            f.paid,
            rate(f.add_to_cart_rate_bp),
            rate(f.checkout_rate_bp),
            rate(f.payment_rate_bp),
            rate(f.conversion_rate_bp)
        ));
    }
    Ok(csv(out))
}

/// Orders, revenue, average order value and refunds per currency, customers and the repeat
/// customers' rate, over a range of days (staff, admins, auditors).
#[utoipa::path(get, path = "/admin/analytics/summary", tag = "analytics", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, body = SummaryReport),
        (status = 400, description = "a malformed or too wide range (`request.invalid_query`)", body = ApiErrorBody),
        (status = 401, body = ApiErrorBody),
        (status = 403, description = "not staff of the sales area; vendors' users included (`auth.forbidden`)", body = ApiErrorBody)))]
pub async fn summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RangeQuery>,
) -> Result<Json<SummaryReport>, ApiError> {
    shop(&state, &headers)?;
    let (from, to) = range(&query.from, &query.to)?;
    let sales = model::sales_by_currency(&state.pool, from, to)
        .await?
        .into_iter()
        .map(|c| CurrencySummary {
            net_minor: c.total_minor - c.refunded_minor,
            average_order_value_minor: average_minor(c.total_minor, c.orders),
            currency: c.currency,
            orders: c.orders,
            revenue_minor: c.total_minor,
            refunded_minor: c.refunded_minor,
        })
        .collect();
    let customers = model::customers(&state.pool, from, to).await?;
    let mut refunds: Vec<RefundTotal> = Vec::new();
    for r in model::refunds_by_reason(&state.pool, from, to).await? {
        match refunds.iter_mut().find(|t| t.currency == r.currency) {
            Some(t) => {
                t.refunds += r.refunds;
                t.amount_minor += r.amount_minor;
            }
            None => refunds.push(RefundTotal {
                currency: r.currency,
                refunds: r.refunds,
                amount_minor: r.amount_minor,
            }),
        }
    }
    refunds.sort_by(|a, b| a.currency.cmp(&b.currency));
    Ok(Json(SummaryReport {
        from,
        to,
        sales,
        customers: customers.customers,
        repeat_customers: customers.repeat_customers,
        repeat_customer_rate_bp: rate_bp(customers.repeat_customers, customers.customers),
        refunds,
    }))
}

async fn refunds_report(
    state: &AppState,
    headers: &HeaderMap,
    query: &RangeQuery,
) -> Result<RefundsReport, ApiError> {
    shop(state, headers)?;
    let (from, to) = range(&query.from, &query.to)?;
    let items = model::refunds_by_reason(&state.pool, from, to)
        .await?
        .into_iter()
        .map(|r| RefundReason {
            reason: r.reason,
            currency: r.currency,
            refunds: r.refunds,
            amount_minor: r.amount_minor,
        })
        .collect();
    Ok(RefundsReport { from, to, items })
}

/// Refunds by reason and currency over a range of days (staff, admins, auditors).
#[utoipa::path(get, path = "/admin/analytics/refunds", tag = "analytics", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, body = RefundsReport),
        (status = 400, description = "a malformed or too wide range (`request.invalid_query`)", body = ApiErrorBody),
        (status = 401, body = ApiErrorBody),
        (status = 403, description = "not staff of the sales area; vendors' users included (`auth.forbidden`)", body = ApiErrorBody)))]
pub async fn refunds(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RangeQuery>,
) -> Result<Json<RefundsReport>, ApiError> {
    Ok(Json(refunds_report(&state, &headers, &query).await?))
}

/// Refunds by reason as CSV, with a header row.
#[utoipa::path(get, path = "/admin/analytics/refunds.csv", tag = "analytics", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 400, description = "a malformed or too wide range (`request.invalid_query`)", body = ApiErrorBody),
        (status = 401, body = ApiErrorBody),
        (status = 403, description = "not staff of the sales area; vendors' users included (`auth.forbidden`)", body = ApiErrorBody)))]
pub async fn refunds_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RangeQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let report = refunds_report(&state, &headers, &query).await?;
    let mut out = String::from("reason,currency,refunds,amount_minor\n");
    for r in &report.items {
        out.push_str(&format!(
            "{},{},{},{}\n",
            csv_field(&r.reason),
            csv_field(&r.currency),
            r.refunds,
            r.amount_minor
        ));
    }
    Ok(csv(out))
}

/// What the analytics routes decide alone, through the router with nothing behind it (see
/// `crate::tests`): a request that gets past the edge's checks ends in `500` (no Postgres).
#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const ADMIN: &str = "Bearer test-admin-token";

    /// A vendor user's access token for vendor `acme`.
    fn vendor() -> String {
        let keys = crate::tests::test_keys();
        let claims = keys
            .new_claims(
                uuid::Uuid::new_v4().to_string(),
                vec!["vendor".into()],
                "s",
                chrono::Utc::now().timestamp(),
            )
            .with_vendor(Some("acme".into()));
        format!("Bearer {}", keys.issue(&claims))
    }

    /// Sends a GET (with `authorization`, if any) and returns the status and the error code.
    async fn get(uri: &str, authorization: Option<&str>) -> (u16, String) {
        let mut request = Request::builder().uri(uri);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        let response = crate::tests::offline_router()
            .await
            .oneshot(request.body(Body::empty()).expect("a request"))
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

    const RANGE: &str = "from=2025-01-01&to=2025-01-31";

    fn routes() -> [&'static str; 7] {
        [
            "/admin/analytics/sales",
            "/admin/analytics/sales.csv",
            "/admin/analytics/funnel",
            "/admin/analytics/funnel.csv",
            "/admin/analytics/summary",
            "/admin/analytics/refunds",
            "/admin/analytics/refunds.csv",
        ]
    }

    #[tokio::test]
    async fn every_analytics_route_needs_credentials() {
        for route in routes() {
            let uri = format!("{route}?{RANGE}");
            assert_eq!(get(&uri, None).await.0, 401, "{uri}");
        }
    }

    #[tokio::test]
    async fn bad_ranges_and_breakdowns_are_refused_before_any_io() {
        for route in routes() {
            for query in [
                "",
                "from=2025-01-01",
                "from=2025-01-01&to=2025-01-01T00:00:00Z",
                "from=2025-02-01&to=2025-01-31",
                "from=2024-01-01&to=2025-01-01",
                "from=2025-01-01&to=2025-01-31&currency=EUR",
            ] {
                let uri = format!("{route}?{query}");
                assert_eq!(
                    get(&uri, Some(ADMIN)).await,
                    (400, "request.invalid_query".to_string()),
                    "{uri}"
                );
            }
        }
        for by in ["week", "", "Product"] {
            let uri = format!("/admin/analytics/sales?{RANGE}&by={by}");
            assert_eq!(
                get(&uri, Some(ADMIN)).await,
                (400, "request.invalid_query".to_string()),
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn staff_get_through_to_the_read_models() {
        // Postgres is unreachable here: 500 means every check passed.
        for route in routes() {
            let uri = format!("{route}?{RANGE}");
            assert_eq!(get(&uri, Some(ADMIN)).await.0, 500, "{uri}");
        }
        for by in ["day", "product", "category", "vendor"] {
            let uri = format!("/admin/analytics/sales.csv?{RANGE}&by={by}");
            assert_eq!(get(&uri, Some(ADMIN)).await.0, 500, "{uri}");
        }
    }

    #[tokio::test]
    async fn a_vendor_reads_its_own_sales_by_product_or_vendor_and_nothing_of_the_shop() {
        let vendor = vendor();
        for by in ["product", "vendor"] {
            for route in ["/admin/analytics/sales", "/admin/analytics/sales.csv"] {
                let uri = format!("{route}?{RANGE}&by={by}");
                assert_eq!(get(&uri, Some(&vendor)).await.0, 500, "{uri}");
            }
        }
        let mut shops: Vec<String> = ["day", "category"]
            .iter()
            .map(|by| format!("/admin/analytics/sales?{RANGE}&by={by}"))
            .collect();
        shops.push(format!("/admin/analytics/sales?{RANGE}"));
        shops.extend(routes()[2..].iter().map(|r| format!("{r}?{RANGE}")));
        for uri in shops {
            assert_eq!(
                get(&uri, Some(&vendor)).await,
                (403, "auth.forbidden".to_string()),
                "{uri}"
            );
        }
    }

    #[test]
    fn funnel_rates_are_basis_points_of_the_stage_before() {
        let f = FunnelFigures::of(8, 4, 2, 1);
        assert_eq!(
            (
                f.add_to_cart_rate_bp,
                f.checkout_rate_bp,
                f.payment_rate_bp,
                f.conversion_rate_bp
            ),
            (Some(5000), Some(5000), Some(5000), Some(1250))
        );
        assert_eq!(FunnelFigures::of(0, 0, 0, 0).conversion_rate_bp, None);
    }

    #[test]
    fn a_sales_csv_has_a_header_row_and_quotes_what_it_must() {
        let csv = sales_to_csv(&SalesItems::Products(vec![ProductSales {
            product_id: "p-1".into(),
            sku: "TEE-M".into(),
            title: "Tee, black".into(),
            vendor_id: None,
            figures: LineFigures {
                currency: "EUR".into(),
                orders: 1,
                units: 2,
                gross_minor: 3000,
                discount_minor: 0,
                revenue_minor: 3000,
                refunded_units: 0,
                refunded_minor: 0,
            },
        }]));
        assert_eq!(
            csv,
            "product_id,sku,title,vendor_id,currency,orders,units,gross_minor,discount_minor,revenue_minor,refunded_units,refunded_minor\n\
             p-1,TEE-M,\"Tee, black\",,EUR,1,2,3000,0,3000,0,0\n"
        );
    }

    #[test]
    fn every_analytics_route_is_documented() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(crate::ApiDoc::openapi()).expect("serializes");
        for route in routes() {
            let operation = &doc["paths"][route]["get"];
            assert!(operation.is_object(), "GET {route} is not documented");
            for status in ["200", "400", "401", "403"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "GET {route} does not list {status}"
                );
            }
        }
    }
}
