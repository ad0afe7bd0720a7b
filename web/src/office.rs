//! The back office: dashboard, products (list, publish, unpublish), inventory (receive),
//! orders (list, detail with timeline, ship, deliver, refund).
//!
//! Every page calls the API as the signed-in person, so the API's role checks decide: a
//! customer (or a role the area does not admit) gets the API's 403 as a 403 page.

use agora_order::OrderView;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{enc, ApiFailure};
use crate::layout::{csrf, error_box, error_page, money, money_json, page};
use crate::session::Ctx;
use crate::store::timeline;
use crate::Web;

mod analytics;
mod audit;
mod fulfilment;
mod reconciliation;
pub(crate) mod reviews;
mod shipping;
mod vendors;

pub fn router() -> Router<Web> {
    Router::new()
        .route("/backoffice", get(dashboard))
        .route("/backoffice/products", get(products))
        .route(
            "/backoffice/products/new",
            get(new_product_form).post(create_product),
        )
        .route(
            "/backoffice/products/{id}",
            get(edit_product_form).post(update_product),
        )
        .route("/backoffice/products/{id}/variants", post(add_variant))
        .route("/backoffice/products/{id}/{action}", post(product_action))
        .route("/backoffice/inventory", get(inventory))
        .route("/backoffice/inventory/receive", post(receive))
        .route("/backoffice/inventory/{sku}", get(stock_item))
        .route("/backoffice/inventory/{sku}/adjust", post(adjust))
        .route("/backoffice/inventory/{sku}/threshold", post(threshold))
        .route(
            "/backoffice/categories",
            get(categories_page).post(create_category),
        )
        .route("/backoffice/categories/{id}", post(rename_category))
        .route(
            "/backoffice/promotions",
            get(promotions).post(create_promotion),
        )
        .route("/backoffice/promotions/report.csv", get(promotions_report))
        .route(
            "/backoffice/promotions/{id}/{action}",
            post(promotion_action),
        )
        .route("/backoffice/promotions/{id}", get(promotion_detail))
        .route("/backoffice/promotions/{id}/terms", post(revise_promotion))
        .route(
            "/backoffice/promotions/{id}/codes.csv",
            get(promotion_codes_csv),
        )
        .route("/backoffice/accounts", get(accounts))
        .route("/backoffice/accounts/{id}", get(account))
        .route("/backoffice/accounts/{id}/roles", post(change_role))
        .route("/backoffice/accounts/{id}/groups", post(set_groups))
        .route(
            "/backoffice/products/{id}/variants/{sku}/price",
            post(change_price),
        )
        .route("/backoffice/orders/{id}/cancel", post(cancel))
        .route("/backoffice/orders", get(orders))
        .route("/backoffice/orders/{id}", get(order))
        .route("/backoffice/orders/{id}/ship", post(ship))
        .route("/backoffice/orders/{id}/deliver", post(deliver))
        .route("/backoffice/orders/{id}/refund", post(refund))
        .route("/backoffice/notifications", get(notifications))
        .route(
            "/backoffice/notifications/{id}/retry",
            post(retry_notification),
        )
        .route("/backoffice/audit", get(audit::log))
        .route(
            "/backoffice/audit/streams/{aggregate_type}/{aggregate_id}",
            get(audit::stream),
        )
        .route("/backoffice/audit/events/{position}", get(audit::event))
        .route(
            "/backoffice/audit/correlations/{id}",
            get(audit::correlation),
        )
        .route(
            "/backoffice/audit/checkpoints",
            get(audit::checkpoints).post(audit::sign_now),
        )
        .route(
            "/backoffice/audit/streams/{aggregate_type}/{aggregate_id}/export.tar",
            get(audit::export_stream),
        )
        .route("/backoffice/reconciliation", get(reconciliation::page))
        .route("/backoffice/analytics", get(analytics::page))
        .route("/backoffice/analytics/{file}", get(analytics::csv))
        .route("/backoffice/fulfilment", get(fulfilment::queue))
        .route("/backoffice/orders/{id}/shipments", post(fulfilment::pack))
        .route("/backoffice/shipments/{id}", get(fulfilment::shipment))
        .route("/backoffice/shipments/{id}/slip", get(fulfilment::slip))
        .route(
            "/backoffice/shipments/{id}/hand-over",
            post(fulfilment::hand_over),
        )
        .route(
            "/backoffice/shipments/{id}/cancel",
            post(fulfilment::cancel_shipment),
        )
        .route("/backoffice/returns", get(fulfilment::returns))
        .route("/backoffice/returns/{id}", get(fulfilment::return_detail))
        .route(
            "/backoffice/returns/{id}/approve",
            post(fulfilment::approve),
        )
        .route("/backoffice/returns/{id}/reject", post(fulfilment::reject))
        .route(
            "/backoffice/returns/{id}/receive",
            post(fulfilment::receive),
        )
        .route("/backoffice/reviews", get(reviews::list))
        .route("/backoffice/reviews/{id}/{action}", post(reviews::action))
        .route("/backoffice/vendors", get(vendors::list))
        .route("/backoffice/vendors/{id}", get(vendors::detail))
        .route("/backoffice/vendors/{id}/orders", get(vendors::orders))
        .route("/backoffice/vendors/{id}/reports", get(vendors::reports))
        .route(
            "/backoffice/vendors/{id}/reports/sales.csv",
            get(vendors::reports_csv),
        )
        .route("/backoffice/vendors/{id}/rules", post(vendors::rule))
        .route("/backoffice/vendors/{id}/payouts", post(vendors::payout))
        .route("/backoffice/vendors/{id}/{action}", post(vendors::action))
        .route("/backoffice/shipping", get(shipping::settings))
        .route("/backoffice/shipping/zones", post(shipping::save_zone))
        .route("/backoffice/shipping/options", post(shipping::save_option))
        .route(
            "/backoffice/shipping/zones/{zone}/remove",
            post(shipping::remove_zone),
        )
        .route(
            "/backoffice/shipping/zones/{zone}/options/{option}/remove",
            post(shipping::remove_option),
        )
}

type Page = Result<Response, Response>;

/// Signed-in people only; who may see what is the API's decision.
// The refusal is a whole page (a redirect), built once per refused request: no hot path.
#[allow(clippy::result_large_err)]
fn gate(ctx: &Ctx) -> Result<(), Response> {
    if ctx.session.is_none() {
        return Err(Redirect::to("/account/signin?next=/backoffice").into_response());
    }
    Ok(())
}

fn nav() -> Markup {
    html! {
        nav aria-label="Back office" {
            ul.cats {
                li { a href="/backoffice" { "Dashboard" } }
                li { a href="/backoffice/products" { "Products" } }
                li { a href="/backoffice/categories" { "Categories" } }
                li { a href="/backoffice/inventory" { "Inventory" } }
                li { a href="/backoffice/orders" { "Orders" } }
                li { a href="/backoffice/promotions" { "Promotions" } }
                li { a href="/backoffice/fulfilment" { "Fulfilment" } }
                li { a href="/backoffice/returns" { "Returns" } }
                li { a href="/backoffice/shipping" { "Shipping" } }
                li { a href="/backoffice/vendors" { "Vendors" } }
                li { a href="/backoffice/reviews" { "Reviews" } }
                li { a href="/backoffice/accounts" { "Accounts" } }
                li { a href="/backoffice/analytics" { "Analytics" } }
                li { a href="/backoffice/reconciliation" { "Reconciliation" } }
                li { a href="/backoffice/notifications" { "Notifications" } }
                li { a href="/backoffice/audit" { "Audit" } }
            }
        }
    }
}

fn office_page(ctx: &Ctx, title: &str, content: Markup) -> Response {
    let nav = match vendors::vendor_of(ctx) {
        Some(vendor) => vendors::nav(vendor),
        None => nav(),
    };
    page(ctx, title, html! { (nav) (content) }).into_response()
}

async fn get_json(web: &Web, ctx: &Ctx, uri: &str) -> Result<Value, Response> {
    web.api
        .get::<Value>(uri, &ctx.person())
        .await
        .map_err(|e| error_page(ctx, &e))
}

/// One page of an admin list route: `path?limit=…&offset=…` plus the filters that are not blank
/// (trimmed), as its items and total.
async fn list_page(
    web: &Web,
    ctx: &Ctx,
    path: &str,
    limit: i64,
    offset: i64,
    filters: &[(&str, &str)],
) -> Result<(Vec<Value>, i64), Response> {
    let mut query: Vec<(&str, String)> =
        vec![("limit", limit.to_string()), ("offset", offset.to_string())];
    for (name, value) in filters {
        if !value.trim().is_empty() {
            query.push((name, value.trim().to_string()));
        }
    }
    let list = get_json(
        web,
        ctx,
        &format!(
            "{path}?{}",
            serde_urlencoded::to_string(&query).unwrap_or_default()
        ),
    )
    .await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok((items, list["total"].as_i64().unwrap_or(0)))
}

/// A bodiless lifecycle action on one back-office object: `action` (one of `allowed`, else a
/// 404 page) goes to `POST /admin/<kind>/<id>/<action>`, then back to `back` (a back-office
/// page) or the object's list.
async fn lifecycle_action(
    web: &Web,
    ctx: &Ctx,
    kind: &str,
    id: &str,
    action: &str,
    allowed: &[&str],
    back: Option<String>,
) -> Response {
    if let Err(r) = gate(ctx) {
        return r;
    }
    if !allowed.contains(&action) {
        return error_page(
            ctx,
            &ApiFailure {
                status: StatusCode::NOT_FOUND,
                code: "route.not_found".into(),
                message: "no such action".into(),
            },
        );
    }
    let to = back
        .filter(|b| b.starts_with("/backoffice/"))
        .unwrap_or_else(|| format!("/backoffice/{kind}"));
    act(
        web,
        ctx,
        &format!("/admin/{kind}/{}/{action}", enc(id)),
        &to,
    )
    .await
}

/// A bodiless back-office action: `POST` to the API route `api` as the signed-in person, then
/// back to the page `to` with the outcome.
async fn act(web: &Web, ctx: &Ctx, api: &str, to: &str) -> Response {
    if let Err(r) = gate(ctx) {
        return r;
    }
    let result = web.api.post(api, &ctx.person(), None, &json!({})).await;
    back(to, result, ctx)
}

fn back(to: &str, result: Result<Value, ApiFailure>, ctx: &Ctx) -> Response {
    match result {
        Ok(_) => Redirect::to(&format!(
            "{to}{}notice=done",
            if to.contains('?') { "&" } else { "?" }
        ))
        .into_response(),
        Err(e) if e.status == StatusCode::FORBIDDEN || e.status.is_server_error() => {
            error_page(ctx, &e)
        }
        Err(e) => Redirect::to(&format!(
            "{to}{}error={}",
            if to.contains('?') { "&" } else { "?" },
            enc(&e.message)
        ))
        .into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    offset: Option<i64>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    low_stock: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// The movements page's cursor: entries older than this stream position.
    #[serde(default)]
    before: Option<i64>,
}

impl Flash {
    /// The page's status filter, if it names a status (`a-z` and `_`); anything else is none.
    fn status_name(&self) -> Option<String> {
        self.status
            .clone()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    }
}

/// A fresh idempotency key per rendered form: submitting the same form twice (a double click,
/// a resend after a timeout) applies once.
fn key_field() -> Markup {
    html! { input type="hidden" name="key" value=(uuid::Uuid::new_v4().to_string()); }
}

/// Back to the page `to` with `message` shown as the error.
fn back_with_error(to: &str, message: &str) -> Response {
    let join = if to.contains('?') { "&" } else { "?" };
    Redirect::to(&format!("{to}{join}error={}", enc(message))).into_response()
}

/// The words of a list people type: separated by commas, spaces or lines.
fn words(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Hundredths as people read them: 1250 → `12.50` (minor units of euros, basis points of a
/// percent).
fn hundredths(n: i64) -> String {
    format!("{}.{:02}", n / 100, n % 100)
}

fn flash(f: &Flash) -> Markup {
    html! {
        @if f.notice.is_some() { div.notice role="status" { "Saved." } }
        (error_box(f.error.as_deref()))
    }
}

/// `GET /backoffice`: today's sales, orders by status, low stock.
pub async fn dashboard(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Page {
    gate(&ctx)?;
    if let Some(vendor) = vendors::vendor_of(&ctx) {
        return vendors::dashboard(&web, &ctx, vendor).await;
    }
    let today = chrono::Utc::now().date_naive().to_string();
    let orders = get_json(&web, &ctx, "/admin/orders?limit=100").await?;
    let sales = web
        .api
        .get::<Value>(
            &format!("/admin/reports/daily-sales?from={today}&to={today}"),
            &ctx.person(),
        )
        .await
        .unwrap_or(Value::Null);
    let low = web
        .api
        .get::<Value>("/admin/inventory/low-stock", &ctx.person())
        .await
        .unwrap_or(Value::Null);
    let failed = web
        .api
        .get::<Value>("/admin/notifications?status=failed&limit=1", &ctx.person())
        .await
        .ok()
        .and_then(|v| v["total"].as_i64());
    let rows = orders["items"].as_array().cloned().unwrap_or_default();
    let mut by_status: std::collections::BTreeMap<String, i64> = Default::default();
    for o in &rows {
        *by_status
            .entry(o["status"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    let low_items = low
        .as_array()
        .cloned()
        .or_else(|| low["items"].as_array().cloned())
        .unwrap_or_default();
    // Today's row of the daily sales report (`items`, one per day and currency).
    let day = sales["items"]
        .as_array()
        .and_then(|d| d.first().cloned())
        .unwrap_or(Value::Null);
    Ok(office_page(
        &ctx,
        "Back office",
        html! {
            h1 { "Dashboard" }
            ul.stats {
                li { "Orders (all)" strong { (orders["total"].as_i64().unwrap_or(0)) } }
                li { "Orders today" strong #orders-today { (day["orders_confirmed"].as_i64().unwrap_or(0)) } }
                li { "Sales today" strong { (money(day["gross_minor"].as_i64().unwrap_or(0), day["currency"].as_str().unwrap_or("EUR"))) } }
                li { a href="/backoffice/inventory?low_stock=1" { "Low-stock SKUs" } strong { (low["total"].as_i64().unwrap_or(low_items.len() as i64)) } }
                li { a href="/backoffice/notifications?status=failed" { "Failed notifications" } strong { (failed.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) } }
            }
            h2 { "Orders by status (latest 100)" }
            @if by_status.is_empty() { div.empty { p { "No orders yet." } } }
            ul.cats { @for (s, n) in &by_status { li { a href=(format!("/backoffice/orders?status={}", enc(s))) { (s) ": " (n) } } } }
            h2 { "Low stock" }
            @if low_items.is_empty() { div.empty { p { "Nothing is running low." } } } @else {
                div.table-wrap { table.stack {
                    thead { tr { th scope="col" { "SKU" } th.num scope="col" { "Available" } th.num scope="col" { "Threshold" } } }
                    tbody { @for s in &low_items { tr { td { (s["sku"].as_str().unwrap_or_default()) } td.num { (s["available"].as_i64().unwrap_or(0)) } td.num { (s["low_stock_threshold"].as_i64().unwrap_or(0)) } } } }
                } }
            }
        },
    ))
}

/// `GET /backoffice/products`: list with search and status filter, publish/unpublish/archive.
pub async fn products(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let offset = f.offset.unwrap_or(0).max(0);
    let (items, total) = list_page(
        &web,
        &ctx,
        "/admin/products",
        25,
        offset,
        &[
            ("q", f.q.as_deref().unwrap_or("")),
            ("status", f.status.as_deref().unwrap_or("")),
        ],
    )
    .await?;
    let here = format!(
        "/backoffice/products?{}",
        serde_urlencoded::to_string([
            ("q", f.q.clone().unwrap_or_default()),
            ("status", f.status.clone().unwrap_or_default())
        ])
        .unwrap_or_default()
    );
    Ok(office_page(
        &ctx,
        "Products",
        html! {
            h1 { "Products" }
            (flash(&f))
            p { a.button #new-product href="/backoffice/products/new" { "New product" } }
            form.inline-form method="get" action="/backoffice/products" {
                label for="pq" { "Search" }
                input #pq type="search" name="q" value=(f.q.clone().unwrap_or_default());
                label for="ps" { "Status" }
                select #ps name="status" {
                    option value="" { "Any" }
                    @for s in ["draft", "published", "unpublished", "archived"] { option value=(s) selected[f.status.as_deref() == Some(s)] { (s) } }
                }
                button type="submit" { "Filter" }
            }
            p { (total) " products" }
            div.table-wrap { table.stack #products {
                thead { tr { th scope="col" { "Title" } th scope="col" { "Status" } th scope="col" { "SKUs" } th scope="col" { "Actions" } } }
                tbody {
                    @for p in &items {
                        @let id = p["id"].as_str().unwrap_or_default();
                        tr data-product=(id) {
                            td { a href=(format!("/backoffice/products/{}", enc(id))) { (p["title"].as_str().unwrap_or_default()) } }
                            td { (p["status"].as_str().unwrap_or_default()) }
                            td { @for v in p["variants"].as_array().cloned().unwrap_or_default() { (v["sku"].as_str().unwrap_or_default()) " " } }
                            td {
                                @for action in ["publish", "unpublish", "archive"] {
                                    form.inline-form method="post" action=(format!("/backoffice/products/{}/{action}", enc(id))) {
                                        (csrf(&ctx))
                                        input type="hidden" name="back" value=(here);
                                        button.secondary type="submit" aria-label=(format!("{action} {}", p["title"].as_str().unwrap_or_default())) { (action) }
                                    }
                                    " "
                                }
                            }
                        }
                    }
                }
            } }
            nav.pager aria-label="Pages" {
                @if offset > 0 { a href=(format!("{here}&offset={}", (offset - 25).max(0))) { "← Previous" } }
                @if offset + 25 < total { a href=(format!("{here}&offset={}", offset + 25)) { "Next →" } }
            }
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct BackForm {
    #[serde(default)]
    back: Option<String>,
}

/// `POST /backoffice/products/{id}/{publish|unpublish|archive}`.
pub async fn product_action(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<BackForm>,
) -> Response {
    lifecycle_action(
        &web,
        &ctx,
        "products",
        &id,
        &action,
        &["publish", "unpublish", "archive"],
        form.back,
    )
    .await
}

/// `GET /backoffice/inventory`: levels filtered by SKU and low stock, a form to receive
/// stock, and a link per SKU to its movements, adjustments and threshold.
pub async fn inventory(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let offset = f.offset.unwrap_or(0).max(0);
    let sku = f.sku.clone().unwrap_or_default();
    let low = f.low_stock.as_deref().is_some_and(|v| !v.is_empty());
    let (items, total) = list_page(
        &web,
        &ctx,
        "/admin/inventory",
        50,
        offset,
        &[("sku", &sku), ("low_stock", if low { "true" } else { "" })],
    )
    .await?;
    let here = format!(
        "/backoffice/inventory?{}",
        serde_urlencoded::to_string([
            ("sku", sku.clone()),
            ("low_stock", if low { "1".into() } else { String::new() })
        ])
        .unwrap_or_default()
    );
    Ok(office_page(
        &ctx,
        "Inventory",
        html! {
            h1 { "Inventory" }
            (flash(&f))
            h2 { "Receive stock" }
            form.inline-form #receive method="post" action="/backoffice/inventory/receive" {
                (csrf(&ctx))
                (key_field())
                div { label for="rsku" { "SKU" } input #rsku type="text" name="sku" required; }
                div { label for="rqty" { "Quantity" } input #rqty type="number" name="quantity" min="1" required; }
                div { label for="rreason" { "Reason" } input #rreason type="text" name="reason"; }
                button type="submit" { "Receive" }
            }
            h2 { "Levels" }
            form.inline-form #inventory-filter method="get" action="/backoffice/inventory" {
                div { label for="isku" { "SKU contains" } input #isku type="search" name="sku" value=(sku); }
                label.inline { input #ilow type="checkbox" name="low_stock" value="1" checked[low]; "Low stock only" }
                button type="submit" { "Filter" }
            }
            p { (total) " SKUs" }
            @if items.is_empty() { div.empty { p { "No SKUs match." } } } @else {
                div.table-wrap { table.stack #levels {
                    thead { tr { th scope="col" { "SKU" } th.num scope="col" { "On hand" } th.num scope="col" { "Reserved" } th.num scope="col" { "Available" } th.num scope="col" { "Low at" } } }
                    tbody { @for s in &items {
                        @let item = s["sku"].as_str().unwrap_or_default();
                        @let is_low = s["available"].as_i64().unwrap_or(0) <= s["low_stock_threshold"].as_i64().unwrap_or(0);
                        tr data-sku=(item) {
                            td data-label="SKU" { a href=(format!("/backoffice/inventory/{}", enc(item))) { (item) } @if is_low { " " span.badge.bad { "low" } } }
                            td.num data-label="On hand" { (s["on_hand"].as_i64().unwrap_or(0)) }
                            td.num data-label="Reserved" { (s["reserved"].as_i64().unwrap_or(0)) }
                            td.num data-label="Available" { (s["available"].as_i64().unwrap_or(0)) }
                            td.num data-label="Low at" { (s["low_stock_threshold"].as_i64().unwrap_or(0)) }
                        }
                    } }
                } }
            }
            nav.pager aria-label="Pages" {
                @if offset > 0 { a href=(format!("{here}&offset={}", (offset - 50).max(0))) { "← Previous" } }
                @if offset + 50 < total { a href=(format!("{here}&offset={}", offset + 50)) { "Next →" } }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ReceiveForm {
    #[serde(default)]
    key: Option<String>,
    sku: String,
    quantity: String,
    #[serde(default)]
    reason: String,
}

/// `POST /backoffice/inventory/receive`.
pub async fn receive(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<ReceiveForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let quantity: i64 = form.quantity.trim().parse().unwrap_or(0);
    let reason = (!form.reason.trim().is_empty()).then(|| form.reason.trim().to_string());
    let result = web
        .api
        .post(
            &format!("/admin/inventory/{}/receive", enc(form.sku.trim())),
            &ctx.person(),
            form.key.as_deref(),
            &json!({"quantity": quantity, "reason": reason}),
        )
        .await;
    back("/backoffice/inventory", result, &ctx)
}

/// `GET /backoffice/orders`: filter by status, page through.
pub async fn orders(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let offset = f.offset.unwrap_or(0).max(0);
    let email = f.email.clone().unwrap_or_default();
    let (items, total) = list_page(
        &web,
        &ctx,
        "/admin/orders",
        25,
        offset,
        &[
            ("status", f.status.as_deref().unwrap_or("")),
            ("email", &email),
        ],
    )
    .await?;
    let status = f.status.clone().unwrap_or_default();
    Ok(office_page(
        &ctx,
        "Orders",
        html! {
            h1 { "Orders" }
            (flash(&f))
            form.inline-form method="get" action="/backoffice/orders" {
                label for="oe" { "Email" }
                input #oe type="search" name="email" value=(email);
                label for="os" { "Status" }
                select #os name="status" {
                    option value="" { "Any" }
                    @for s in ["placed", "confirmed", "shipped", "delivered", "cancelled"] { option value=(s) selected[status == s] { (s) } }
                }
                button type="submit" { "Filter" }
            }
            p { (total) " orders" }
            @if items.is_empty() { div.empty { p { "No orders match." } } } @else {
                div.table-wrap { table.stack #orders {
                    thead { tr { th scope="col" { "Order" } th scope="col" { "Email" } th scope="col" { "Status" } th.num scope="col" { "Total" } } }
                    tbody { @for o in &items {
                        @let id = o["order_id"].as_str().unwrap_or_default();
                        tr { td { a href=(format!("/backoffice/orders/{}", enc(id))) { (&id[..8.min(id.len())]) } } td { (o["email"].as_str().unwrap_or_default()) } td { (o["status"].as_str().unwrap_or_default()) } td.num { (money(o["total_minor"].as_i64().unwrap_or(0), o["currency"].as_str().unwrap_or("EUR"))) } }
                    } }
                } }
            }
            nav.pager aria-label="Pages" {
                @if offset > 0 { a href=(format!("/backoffice/orders?status={}&email={}&offset={}", enc(&status), enc(&email), (offset - 25).max(0))) { "← Previous" } }
                @if offset + 25 < total { a href=(format!("/backoffice/orders?status={}&email={}&offset={}", enc(&status), enc(&email), offset + 25)) { "Next →" } }
            }
        },
    ))
}

/// `GET /backoffice/orders/{id}`: detail with timeline; ship, deliver, refund.
pub async fn order(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let order: OrderView = web
        .api
        .get(&format!("/admin/orders/{}", enc(&id)), &ctx.person())
        .await
        .map_err(|e| error_page(&ctx, &e))?;
    let c = order.currency.to_string();
    // A vendor's user sees its own sub-order's status (its lines' parcels), staff the order's.
    let shown = match vendors::vendor_of(&ctx) {
        Some(_) => order.sub_orders.first().map_or(order.status, |s| s.status),
        None => order.status,
    };
    let status = serde_json::to_value(shown)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let base = format!("/backoffice/orders/{}", enc(&id));
    Ok(office_page(
        &ctx,
        "Order",
        html! {
            h1 { "Order " (&order.id[..8.min(order.id.len())]) }
            (flash(&f))
            p { "Status: " strong #order-status { (status) } @if !order.email.is_empty() { " · " (order.email) }
                @if let Some(o) = &order.shipping_option { " · ships by " strong #order-shipping-option { (o.name) }  " (" (o.kind) ", " (crate::layout::days(o.min_days.into(), o.max_days.into())) ", " (money(order.shipping.amount_minor, &c)) ")" }
                @if vendors::vendor_of(&ctx).is_none() { @for vs in &order.vendor_shipping { " · " span.vendor-shipping data-vendor=(vs.vendor_id) { "a vendor's own: " (vs.option.name) " (" (money(vs.fee.amount_minor, &c)) ")" } } } }
            div.two {
                section {
                    h2 { "Lines" }
                    div.table-wrap { table.stack {
                        thead { tr { th scope="col" { "SKU" } th scope="col" { "Title" } th scope="col" { "Qty" } th.num scope="col" { "Total" } th.num scope="col" { "Paid" } th.num scope="col" { "Refunded units" } } }
                        tbody { @for l in &order.lines { tr data-sku=(l.sku.as_str()) { td data-label="SKU" { (l.sku.as_str()) } td data-label="Title" { (l.title) } td data-label="Qty" { (l.quantity) } td.num data-label="Total" { (money(l.line_total.amount_minor, &c)) } td.num data-label="Paid" { (money(l.paid.amount_minor, &c)) } td.num.refunded-units data-label="Refunded units" { (l.refunded_units) } } } }
                    } }
                    @if vendors::vendor_of(&ctx).is_some() {
                        // A vendor sees its own lines' share; the payment is the shop's.
                        p { "Your lines: " strong { (money(order.total.amount_minor, &c)) } " with tax" }
                    } @else {
                        p { "Total " strong { (money(order.total.amount_minor, &c)) } " · captured " (money(order.captured.amount_minor, &c)) " · refunded " span #refunded { (money(order.refunded.amount_minor, &c)) } }
                    }
                    (fulfilment::order_parcels(&ctx, &order))
                    @if !order.disputes.is_empty() {
                        h2 { "Disputes" }
                        div.table-wrap { table.stack #disputes {
                            thead { tr { th scope="col" { "Dispute" } th scope="col" { "Reason" } th.num scope="col" { "Amount" } th scope="col" { "Outcome" } } }
                            tbody { @for d in &order.disputes {
                                tr data-dispute=(d.dispute_id) {
                                    td data-label="Dispute" { (d.dispute_id) }
                                    td data-label="Reason" { (d.reason) }
                                    td.num data-label="Amount" { (money(d.amount.amount_minor, &c)) }
                                    td data-label="Outcome" { @match d.outcome {
                                        None => { "open: no refund until it is decided" }
                                        Some(agora_order::DisputeOutcome::Won) => { "won" }
                                        Some(agora_order::DisputeOutcome::Lost) => { "lost (charged back)" }
                                    } }
                                }
                            } }
                        } }
                    }
                    @if !order.returns.is_empty() {
                        h2 { "Returns" }
                        ul { @for r in &order.returns { li { a href=(format!("/backoffice/returns/{}", enc(&r.return_id))) { "Return " (&r.return_id[..8.min(r.return_id.len())]) } " · " (r.lines.iter().map(|l| format!("{} × {}", l.quantity, l.sku.as_str())).collect::<Vec<_>>().join(", ")) } } }
                    }
                    @if vendors::vendor_of(&ctx).is_none() {
                    h2 { "Ship in one go (no parcels)" }
                    form.inline-form #ship method="post" action=(format!("{base}/ship")) {
                        (csrf(&ctx))
                        (key_field())
                        div { label for="carrier" { "Carrier" } input #carrier type="text" name="carrier" required; }
                        div { label for="tracking" { "Tracking number" } input #tracking type="text" name="tracking_number" required; }
                        button type="submit" { "Ship" }
                    }
                    h2 { "Deliver" }
                    form method="post" action=(format!("{base}/deliver")) { (csrf(&ctx)) button.secondary type="submit" { "Mark delivered" } }
                    h2 { "Cancel" }
                    form.inline-form #cancel method="post" action=(format!("{base}/cancel")) {
                        (csrf(&ctx))
                        (key_field())
                        div { label for="cancel-note" { "Why (optional)" } input #cancel-note type="text" name="note" maxlength="500"; }
                        button.secondary type="submit" { "Cancel order" }
                    }
                    h2 { "Refund" }
                    form.inline-form #refund method="post" action=(format!("{base}/refund")) {
                        (csrf(&ctx))
                        (key_field())
                        div { label for="refund-line" { "Units of" } select #refund-line name="sku" {
                            option value="" { "The order as a whole" }
                            @for l in &order.lines { option value=(l.sku.as_str()) { (l.sku.as_str()) } }
                        } }
                        div { label for="refund-quantity" { "Units" } input #refund-quantity type="number" name="quantity" min="1" max="10000"; }
                        div { label for="amount" { "Amount (" (c) "; empty for a line: what its units cost)" } input #amount type="text" inputmode="decimal" name="amount"; }
                        div { label for="reason" { "Reason" } input #reason type="text" name="reason"; }
                        button type="submit" { "Refund" }
                    }
                    }
                }
                section {
                    h2 { "Timeline" }
                    ol.timeline { (timeline(&order)) }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ShipForm {
    #[serde(default)]
    key: Option<String>,
    carrier: String,
    tracking_number: String,
}

pub async fn ship(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<ShipForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let result = web
        .api
        .post(
            &format!("/admin/orders/{}/ship", enc(&id)),
            &ctx.person(),
            form.key.as_deref(),
            &json!({"carrier": form.carrier, "tracking_number": form.tracking_number}),
        )
        .await;
    back(&format!("/backoffice/orders/{}", enc(&id)), result, &ctx)
}

pub async fn deliver(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    act(
        &web,
        &ctx,
        &format!("/admin/orders/{}/deliver", enc(&id)),
        &format!("/backoffice/orders/{}", enc(&id)),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct RefundForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    reason: String,
}

pub async fn refund(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<RefundForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("/backoffice/orders/{}", enc(&id));
    let fail = |message: &str| back_with_error(&to, message);
    let amount_minor = match form.amount.trim() {
        "" => None,
        text => match crate::store::major_to_minor(text) {
            Some(minor) => Some(minor),
            None => return fail("Enter the amount like 12.50"),
        },
    };
    let line = match form.sku.trim() {
        "" => None,
        sku => match form.quantity.trim().parse::<i64>() {
            Ok(quantity) => Some(json!({"sku": sku, "quantity": quantity})),
            Err(_) => return fail("Enter how many units of the line to refund"),
        },
    };
    if amount_minor.is_none() && line.is_none() {
        return fail("Enter the amount like 12.50, or choose a line and its units");
    }
    let reason = (!form.reason.trim().is_empty()).then(|| form.reason.trim().to_string());
    let result = web
        .api
        .post(
            &format!("/admin/orders/{}/refund", enc(&id)),
            &ctx.person(),
            form.key.as_deref(),
            &json!({"amount_minor": amount_minor, "line": line, "reason": reason}),
        )
        .await;
    back(&to, result, &ctx)
}

/// Category ids and names, for the product form's select.
async fn categories(web: &Web, ctx: &Ctx) -> Vec<(String, String)> {
    let tree: Vec<Value> = web
        .api
        .get("/store/categories", &ctx.person())
        .await
        .unwrap_or_default();
    let mut out = Vec::new();
    fn walk(nodes: &[Value], depth: usize, out: &mut Vec<(String, String)>) {
        for n in nodes {
            let name = format!(
                "{}{}",
                "— ".repeat(depth),
                n["name"].as_str().unwrap_or_default()
            );
            out.push((n["id"].as_str().unwrap_or_default().to_string(), name));
            walk(
                n["children"].as_array().map(Vec::as_slice).unwrap_or(&[]),
                depth + 1,
                out,
            );
        }
    }
    walk(&tree, 0, &mut out);
    out
}

/// The fields a product form shows (also shown again after a refusal).
#[derive(Debug, Default, Deserialize)]
pub struct ProductForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category_id: String,
    #[serde(default)]
    vendor_id: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    variant_title: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    currency: String,
}

fn product_fields(
    ctx: &Ctx,
    form: &ProductForm,
    cats: &[(String, String)],
    with_variant: bool,
) -> Markup {
    html! {
        (csrf(ctx))
        (key_field())
        fieldset {
            legend { "Product" }
            label for="title" { "Title" }
            input #title type="text" name="title" value=(form.title) required maxlength="200";
            label for="description" { "Description" }
            textarea #description name="description" rows="4" { (form.description) }
            label for="category_id" { "Category" }
            select #category_id name="category_id" {
                option value="" { "No category" }
                @for (id, name) in cats { option value=(id) selected[form.category_id == *id] { (name) } }
            }
            @if with_variant {
                label for="vendor_id" { "Vendor" }
                input #vendor_id type="text" name="vendor_id" value=(if form.vendor_id.is_empty() { "agora" } else { form.vendor_id.as_str() }) required;
            }
        }
        @if with_variant {
            (variant_fields(form))
        }
    }
}

fn variant_fields(form: &ProductForm) -> Markup {
    html! {
        fieldset {
            legend { "Variant" }
            label for="sku" { "SKU" }
            input #sku type="text" name="sku" value=(form.sku) required pattern="[A-Za-z0-9_\\-]{1,64}" aria-describedby="sku-help";
            p #sku-help .muted { "Letters, digits, - and _ (up to 64)." }
            label for="variant_title" { "Variant name" }
            input #variant_title type="text" name="variant_title" value=(form.variant_title) required;
            label for="price" { "Price" }
            input #price type="text" inputmode="decimal" name="price" value=(form.price) required aria-describedby="price-help";
            p #price-help .muted { "For example 19.99" }
            label for="currency" { "Currency" }
            select #currency name="currency" {
                @for c in ["EUR", "USD", "GBP"] { option value=(c) selected[form.currency == c] { (c) } }
            }
        }
    }
}

fn variant_json(form: &ProductForm) -> Result<Value, String> {
    let amount = crate::store::major_to_minor(form.price.trim())
        .ok_or_else(|| "Enter the price like 19.99.".to_string())?;
    let currency = if form.currency.is_empty() {
        "EUR"
    } else {
        form.currency.as_str()
    };
    Ok(
        json!({"sku": form.sku.trim(), "title": form.variant_title.trim(),
              "price": {"amount_minor": amount, "currency": currency}}),
    )
}

fn new_product_page(
    ctx: &Ctx,
    form: &ProductForm,
    cats: &[(String, String)],
    error: Option<&str>,
) -> Response {
    office_page(
        ctx,
        "New product",
        html! {
            h1 { "New product" }
            (error_box(error))
            form #product-form method="post" action="/backoffice/products/new" style="max-width:40rem" {
                (product_fields(ctx, form, cats, true))
                p { button type="submit" { "Create draft" } }
            }
        },
    )
}

/// `GET /backoffice/products/new`.
pub async fn new_product_form(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Page {
    gate(&ctx)?;
    let cats = categories(&web, &ctx).await;
    Ok(new_product_page(&ctx, &ProductForm::default(), &cats, None))
}

/// `POST /backoffice/products/new`: creates a draft product with its first variant.
pub async fn create_product(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<ProductForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let cats = categories(&web, &ctx).await;
    let variant = match variant_json(&form) {
        Ok(v) => v,
        Err(message) => return new_product_page(&ctx, &form, &cats, Some(&message)),
    };
    let category = (!form.category_id.is_empty()).then(|| form.category_id.clone());
    let body = json!({"title": form.title.trim(), "description": form.description.trim(),
        "category_id": category, "vendor_id": form.vendor_id.trim(), "variants": [variant]});
    match web
        .api
        .post("/admin/products", &ctx.person(), form.key.as_deref(), &body)
        .await
    {
        Ok(created) => {
            let id = created["id"].as_str().unwrap_or_default();
            Redirect::to(&format!("/backoffice/products/{}?notice=created", enc(id)))
                .into_response()
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let mut r = new_product_page(&ctx, &form, &cats, Some(&e.message));
            *r.status_mut() = e.status;
            r
        }
        Err(e) => error_page(&ctx, &e),
    }
}

/// `GET /backoffice/products/{id}`: edit title, description, category; variants; status.
pub async fn edit_product_form(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let product = get_json(&web, &ctx, &format!("/admin/products/{}", enc(&id))).await?;
    let cats = categories(&web, &ctx).await;
    let form = ProductForm {
        title: product["title"].as_str().unwrap_or_default().into(),
        description: product["description"].as_str().unwrap_or_default().into(),
        category_id: product["category_id"].as_str().unwrap_or_default().into(),
        ..ProductForm::default()
    };
    let here = format!("/backoffice/products/{}", enc(&id));
    Ok(office_page(
        &ctx,
        "Edit product",
        html! {
            h1 { "Edit product" }
            (flash(&f))
            p { "Status: " strong #product-status { (product["status"].as_str().unwrap_or_default()) } }
            div.two {
                form #product-form method="post" action=(here) {
                    (product_fields(&ctx, &form, &cats, false))
                    p { button type="submit" { "Save" } }
                }
                section {
                    h2 { "Variants" }
                    div.table-wrap { table.stack {
                        thead { tr { th scope="col" { "SKU" } th scope="col" { "Name" } th.num scope="col" { "Price" } th scope="col" { "New price" } } }
                        tbody { @for v in product["variants"].as_array().cloned().unwrap_or_default() {
                            @let sku = v["sku"].as_str().unwrap_or_default();
                            @let currency = v["price"]["currency"].as_str().unwrap_or("EUR");
                            tr data-sku=(sku) {
                                td data-label="SKU" { (sku) }
                                td data-label="Name" { (v["title"].as_str().unwrap_or_default()) }
                                td.num data-label="Price" { span.price { (crate::layout::money_json(&v["price"])) } }
                                td data-label="New price" {
                                    form.inline-form.price-form method="post" action=(format!("{here}/variants/{}/price", enc(sku))) {
                                        (csrf(&ctx))
                                        (key_field())
                                        input type="hidden" name="currency" value=(currency);
                                        label.sr-only for=(format!("price-{sku}")) { "New price of " (sku) " (" (currency) ")" }
                                        input id=(format!("price-{sku}")) type="text" inputmode="decimal" name="price" required size="8";
                                        button.secondary type="submit" { "Change price" }
                                    }
                                }
                            }
                        } }
                    } }
                    h2 { "Add a variant" }
                    form #variant-form method="post" action=(format!("{here}/variants")) {
                        (csrf(&ctx))
                        (key_field())
                        (variant_fields(&ProductForm::default()))
                        p { button type="submit" { "Add variant" } }
                    }
                    h2 { "Publishing" }
                    @for action in ["publish", "unpublish", "archive"] {
                        form.inline-form method="post" action=(format!("{here}/{action}")) {
                            (csrf(&ctx))
                            input type="hidden" name="back" value=(here);
                            button.secondary type="submit" { (action) }
                        }
                        " "
                    }
                }
            }
        },
    ))
}

/// `POST /backoffice/products/{id}`: saves title, description and category.
pub async fn update_product(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<ProductForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let category = (!form.category_id.is_empty()).then(|| form.category_id.clone());
    let body = json!({"title": form.title.trim(), "description": form.description.trim(), "category_id": category});
    let result = web
        .api
        .call(
            axum::http::Method::PATCH,
            &format!("/admin/products/{}", enc(&id)),
            &ctx.person(),
            form.key.as_deref(),
            Some(&body),
        )
        .await;
    back(&format!("/backoffice/products/{}", enc(&id)), result, &ctx)
}

/// `POST /backoffice/products/{id}/variants`.
pub async fn add_variant(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<ProductForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("/backoffice/products/{}", enc(&id));
    let variant = match variant_json(&form) {
        Ok(v) => v,
        Err(message) => return back_with_error(&to, &message),
    };
    let result = web
        .api
        .post(
            &format!("/admin/products/{}/variants", enc(&id)),
            &ctx.person(),
            form.key.as_deref(),
            &variant,
        )
        .await;
    back(&to, result, &ctx)
}

/// `GET /backoffice/notifications`: the outbox, filtered by status, with retry for failures.
pub async fn notifications(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let status = f.status.clone().unwrap_or_default();
    let page = f.offset.unwrap_or(1).max(1);
    let mut query: Vec<(&str, String)> = vec![("limit", "50".into()), ("page", page.to_string())];
    if !status.is_empty() {
        query.push(("status", status.clone()));
    }
    let list = get_json(
        &web,
        &ctx,
        &format!(
            "/admin/notifications?{}",
            serde_urlencoded::to_string(&query).unwrap_or_default()
        ),
    )
    .await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let total = list["total"].as_i64().unwrap_or(0);
    Ok(office_page(
        &ctx,
        "Notifications",
        html! {
            h1 { "Notifications" }
            (flash(&f))
            form.inline-form method="get" action="/backoffice/notifications" {
                label for="ns" { "Status" }
                select #ns name="status" {
                    option value="" { "Any" }
                    @for s in ["pending", "sending", "sent", "failed"] { option value=(s) selected[status == s] { (s) } }
                }
                button type="submit" { "Filter" }
            }
            p { (total) " notifications" }
            @if items.is_empty() { div.empty { p { "No notifications match." } } } @else {
                div.table-wrap { table.stack #notifications {
                    thead { tr { th scope="col" { "Kind" } th scope="col" { "To" } th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Last error" } th scope="col" { span.sr-only { "Actions" } } } }
                    tbody { @for n in &items {
                        @let id = n["id"].as_str().unwrap_or_default();
                        tr {
                            td data-label="Kind" { (n["kind"].as_str().unwrap_or_default()) }
                            td data-label="To" { (n["recipient"].as_str().unwrap_or_default()) }
                            td data-label="Status" { (n["status"].as_str().unwrap_or_default()) }
                            td data-label="Attempts" { (n["attempts"].as_i64().unwrap_or(0)) }
                            td data-label="Last error" { (n["last_error"].as_str().unwrap_or("")) }
                            td {
                                @if n["status"] == "failed" {
                                    form method="post" action=(format!("/backoffice/notifications/{}/retry", enc(id))) {
                                        (csrf(&ctx))
                                        button.secondary type="submit" { "Retry" }
                                    }
                                }
                            }
                        }
                    } }
                } }
            }
            nav.pager aria-label="Pages" {
                @if page > 1 { a href=(format!("/backoffice/notifications?status={}&offset={}", enc(&status), page - 1)) { "← Previous" } }
                @if page * 50 < total { a href=(format!("/backoffice/notifications?status={}&offset={}", enc(&status), page + 1)) { "Next →" } }
            }
        },
    ))
}

/// `POST /backoffice/notifications/{id}/retry`.
pub async fn retry_notification(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    act(
        &web,
        &ctx,
        &format!("/admin/notifications/{}/retry", enc(&id)),
        "/backoffice/notifications?status=failed",
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Inventory: one SKU

/// `GET /backoffice/inventory/{sku}`: the SKU's stock (from its service), its movements
/// (newest first, paged by stream position), and forms to adjust stock and set the low-stock
/// threshold.
pub async fn stock_item(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(sku): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let base = format!("/backoffice/inventory/{}", enc(&sku));
    let stock = get_json(&web, &ctx, &format!("/admin/inventory/{}", enc(&sku))).await?;
    let mut query = format!("/admin/inventory/{}/movements?limit=25", enc(&sku));
    if let Some(before) = f.before.filter(|b| *b > 0) {
        query.push_str(&format!("&before_sequence={before}"));
    }
    let movements = get_json(&web, &ctx, &query).await?;
    let items = movements["items"].as_array().cloned().unwrap_or_default();
    let available = stock["available"].as_i64().unwrap_or(0);
    let threshold = stock["low_stock_threshold"].as_i64().unwrap_or(0);
    Ok(office_page(
        &ctx,
        &format!("Stock of {sku}"),
        html! {
            p { a href="/backoffice/inventory" { "← Inventory" } }
            h1 { "Stock of " (sku) }
            (flash(&f))
            ul.stats #stock {
                li { "On hand" strong #on-hand { (stock["on_hand"].as_i64().unwrap_or(0)) } }
                li { "Reserved" strong { (stock["reserved"].as_i64().unwrap_or(0)) } }
                li { "Available" strong #available { (available) } }
                li { "Low-stock threshold" strong #threshold { (threshold) }
                     @if available <= threshold { span.badge.bad #low-badge { "low stock" } } }
            }
            div.forms {
                section {
                    h2 { "Adjust stock" }
                    form #adjust method="post" action=(format!("{base}/adjust")) {
                        (csrf(&ctx))
                        (key_field())
                        label for="delta" { "Change of units on hand" }
                        input #delta type="number" name="delta" required min="-1000000" max="1000000" aria-describedby="delta-help";
                        p #delta-help .muted { "Negative to remove units, positive to add them." }
                        label for="adjust-reason" { "Reason" }
                        select #adjust-reason name="reason" required {
                            @for (value, label) in ADJUST_REASONS { option value=(value) { (label) } }
                        }
                        label for="adjust-note" { "Note (optional)" }
                        input #adjust-note type="text" name="note" maxlength="200";
                        p { button type="submit" { "Adjust" } }
                    }
                }
                section {
                    h2 { "Low-stock threshold" }
                    form #threshold-form method="post" action=(format!("{base}/threshold")) {
                        (csrf(&ctx))
                        (key_field())
                        label for="threshold-value" { "Counts as low at or below" }
                        input #threshold-value type="number" name="threshold" value=(threshold) required min="0" max="1000000";
                        p { button type="submit" { "Set threshold" } }
                    }
                }
            }
            h2 { "Movements" }
            @if items.is_empty() { div.empty { p { "No movements yet." } } } @else {
                div.table-wrap { table.stack #movements {
                    thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "What" } th.num scope="col" { "On hand" } th.num scope="col" { "Reserved" } th scope="col" { "Reason" } th scope="col" { "Note" } } }
                    tbody { @for m in &items {
                        tr {
                            td data-label="#" { (m["sequence"].as_i64().unwrap_or(0)) }
                            td data-label="When" { (m["at"].as_str().and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok()).map(|t| crate::layout::date(&t)).unwrap_or_default()) }
                            td data-label="What" { (movement_label(m["kind"].as_str().unwrap_or_default())) }
                            td.num data-label="On hand" { (signed(m["on_hand_delta"].as_i64().unwrap_or(0))) }
                            td.num data-label="Reserved" { (signed(m["reserved_delta"].as_i64().unwrap_or(0))) }
                            td data-label="Reason" { (m["reason"].as_str().unwrap_or("")) }
                            td data-label="Note" { (m["note"].as_str().unwrap_or("")) }
                        }
                    } }
                } }
            }
            nav.pager aria-label="Movement pages" {
                @if f.before.is_some() { a href=(base) { "← Newest" } }
                @if let Some(next) = movements["next_before_sequence"].as_i64() { a href=(format!("{base}?before={next}")) { "Older →" } }
            }
        },
    ))
}

/// The API's adjustment reasons and how people read them.
const ADJUST_REASONS: [(&str, &str); 5] = [
    ("recount", "Recount"),
    ("damaged", "Damaged"),
    ("lost", "Lost"),
    ("found", "Found"),
    ("correction", "Correction"),
];

/// A movement's event type for people.
fn movement_label(kind: &str) -> &str {
    match kind {
        "StockReceived" => "Received",
        "StockAdjusted" => "Adjusted",
        "ThresholdSet" => "Threshold set",
        "StockReserved" => "Reserved",
        "ReservationReleased" => "Released",
        "ReservationCommitted" => "Sold",
        "ReservationExpired" => "Reservation expired",
        other => other,
    }
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

#[derive(Debug, Deserialize)]
pub struct AdjustForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    delta: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

/// `POST /backoffice/inventory/{sku}/adjust`.
pub async fn adjust(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(sku): Path<String>,
    Form(form): Form<AdjustForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("/backoffice/inventory/{}", enc(&sku));
    let Ok(delta) = form.delta.trim().parse::<i64>() else {
        return back_with_error(&to, "Enter the change as a whole number, like -2 or 5.");
    };
    let note = (!form.note.trim().is_empty()).then(|| form.note.trim().to_string());
    let result = web
        .api
        .post(
            &format!("/admin/inventory/{}/adjust", enc(&sku)),
            &ctx.person(),
            form.key.as_deref(),
            &json!({"delta": delta, "reason": form.reason, "note": note}),
        )
        .await;
    back(&to, result, &ctx)
}

#[derive(Debug, Deserialize)]
pub struct ThresholdForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    threshold: String,
}

/// `POST /backoffice/inventory/{sku}/threshold`.
pub async fn threshold(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(sku): Path<String>,
    Form(form): Form<ThresholdForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("/backoffice/inventory/{}", enc(&sku));
    let Ok(threshold) = form.threshold.trim().parse::<i64>() else {
        return back_with_error(&to, "Enter the threshold as a whole number, like 5.");
    };
    let result = web
        .api
        .call(
            axum::http::Method::PUT,
            &format!("/admin/inventory/{}/threshold", enc(&sku)),
            &ctx.person(),
            form.key.as_deref(),
            Some(&json!({"threshold": threshold})),
        )
        .await;
    back(&to, result, &ctx)
}

// ---------------------------------------------------------------------------------------------
// Categories

/// `GET /backoffice/categories`: the categories, searchable, sortable and paged, each with a
/// rename form; a form to create one.
pub async fn categories_page(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let offset = f.offset.unwrap_or(0).max(0);
    let q = f.q.clone().unwrap_or_default();
    let sort = f
        .sort
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "name".into());
    let (items, total) = list_page(
        &web,
        &ctx,
        "/admin/categories",
        25,
        offset,
        &[("sort", &sort), ("q", &q)],
    )
    .await?;
    let parents = categories(&web, &ctx).await;
    let here = format!(
        "/backoffice/categories?{}",
        serde_urlencoded::to_string([("q", q.clone()), ("sort", sort.clone())]).unwrap_or_default()
    );
    Ok(office_page(
        &ctx,
        "Categories",
        html! {
            h1 { "Categories" }
            (flash(&f))
            section.panel {
                h2 { "New category" }
                form.inline-form #new-category method="post" action="/backoffice/categories" {
                    (csrf(&ctx))
                    (key_field())
                    div { label for="cat-name" { "Name" } input #cat-name type="text" name="name" required maxlength="100"; }
                    div {
                        label for="cat-id" { "Id in addresses" }
                        input #cat-id type="text" name="id" required maxlength="64" pattern="[a-z0-9\\-]{1,64}" aria-describedby="cat-id-help";
                    }
                    div {
                        label for="cat-parent" { "Parent" }
                        select #cat-parent name="parent_id" {
                            option value="" { "None (top level)" }
                            @for (id, name) in &parents { option value=(id) { (name) } }
                        }
                    }
                    button type="submit" { "Create category" }
                }
                p #cat-id-help .muted { "Lower-case letters, digits and -, like mens-shirts. It cannot change later." }
            }
            h2 { "All categories" }
            form.inline-form #category-filter method="get" action="/backoffice/categories" {
                label for="cq" { "Search" }
                input #cq type="search" name="q" value=(q);
                label for="csort" { "Sort by" }
                select #csort name="sort" {
                    @for (value, label) in [("name", "Name"), ("newest", "Newest"), ("products", "Most products")] {
                        option value=(value) selected[sort == value] { (label) }
                    }
                }
                button type="submit" { "Filter" }
            }
            p { (total) " categories" }
            @if items.is_empty() { div.empty { p { "No categories match." } } } @else {
                div.table-wrap { table.stack #categories {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Parent" } th.num scope="col" { "Products" } th scope="col" { "Rename" } } }
                    tbody { @for c in &items {
                        @let id = c["id"].as_str().unwrap_or_default();
                        tr data-category=(id) {
                            td data-label="Name" { a href=(format!("/categories/{}", enc(id))) { (c["name"].as_str().unwrap_or_default()) } }
                            td data-label="Id" { code { (id) } }
                            td data-label="Parent" { (c["parent_id"].as_str().unwrap_or("–")) }
                            td.num data-label="Products" { (c["product_count"].as_i64().unwrap_or(0)) }
                            td {
                                form.inline-form method="post" action=(format!("/backoffice/categories/{}", enc(id))) {
                                    (csrf(&ctx))
                                    (key_field())
                                    input type="hidden" name="back" value=(here);
                                    label.sr-only for=(format!("rename-{id}")) { "New name for " (c["name"].as_str().unwrap_or_default()) }
                                    input id=(format!("rename-{id}")) type="text" name="name" required maxlength="100" value=(c["name"].as_str().unwrap_or_default());
                                    button.secondary type="submit" { "Rename" }
                                }
                            }
                        }
                    } }
                } }
            }
            nav.pager aria-label="Pages" {
                @if offset > 0 { a href=(format!("{here}&offset={}", (offset - 25).max(0))) { "← Previous" } }
                @if offset + 25 < total { a href=(format!("{here}&offset={}", offset + 25)) { "Next →" } }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct CategoryForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    back: Option<String>,
}

/// `POST /backoffice/categories`: creates a category.
pub async fn create_category(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<CategoryForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let parent = (!form.parent_id.is_empty()).then(|| form.parent_id.clone());
    let result = web
        .api
        .post(
            "/admin/categories",
            &ctx.person(),
            form.key.as_deref(),
            &json!({"id": form.id.trim(), "name": form.name.trim(), "parent_id": parent}),
        )
        .await;
    back("/backoffice/categories", result, &ctx)
}

/// `POST /backoffice/categories/{id}`: renames a category.
pub async fn rename_category(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<CategoryForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = form
        .back
        .clone()
        .filter(|b| b.starts_with("/backoffice/"))
        .unwrap_or_else(|| "/backoffice/categories".into());
    let result = web
        .api
        .call(
            axum::http::Method::PATCH,
            &format!("/admin/categories/{}", enc(&id)),
            &ctx.person(),
            form.key.as_deref(),
            Some(&json!({"name": form.name.trim()})),
        )
        .await;
    back(&to, result, &ctx)
}

// ---------------------------------------------------------------------------------------------
// Products: a variant's price

#[derive(Debug, Deserialize)]
pub struct PriceForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    price: String,
    #[serde(default)]
    currency: String,
}

/// `POST /backoffice/products/{id}/variants/{sku}/price`.
pub async fn change_price(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((id, sku)): Path<(String, String)>,
    Form(form): Form<PriceForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("/backoffice/products/{}", enc(&id));
    let Some(amount) = crate::store::major_to_minor(form.price.trim()) else {
        return back_with_error(&to, "Enter the price like 19.99.");
    };
    let result = web
        .api
        .call(
            axum::http::Method::PUT,
            &format!("/admin/products/{}/variants/{}/price", enc(&id), enc(&sku)),
            &ctx.person(),
            form.key.as_deref(),
            Some(&json!({"amount_minor": amount, "currency": form.currency})),
        )
        .await;
    back(&to, result, &ctx)
}

// ---------------------------------------------------------------------------------------------
// Orders: cancel

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    note: String,
}

/// `POST /backoffice/orders/{id}/cancel`: cancels on the back office's authority (the order
/// service refuses once shipped; a paid order is refunded and restocked by the saga).
pub async fn cancel(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<CancelForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let note = (!form.note.trim().is_empty()).then(|| form.note.trim().to_string());
    let result = web
        .api
        .post(
            &format!("/admin/orders/{}/cancel", enc(&id)),
            &ctx.person(),
            form.key.as_deref(),
            &json!({"note": note}),
        )
        .await;
    back(&format!("/backoffice/orders/{}", enc(&id)), result, &ctx)
}

// ---------------------------------------------------------------------------------------------
// Accounts and roles

/// `GET /backoffice/accounts`: accounts by email, searchable, sortable and paged.
pub async fn accounts(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let offset = f.offset.unwrap_or(0).max(0);
    let q = f.q.clone().unwrap_or_default();
    let sort = f
        .sort
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "newest".into());
    let (items, total) = list_page(
        &web,
        &ctx,
        "/admin/accounts",
        25,
        offset,
        &[("sort", &sort), ("q", &q)],
    )
    .await?;
    let here = format!(
        "/backoffice/accounts?{}",
        serde_urlencoded::to_string([("q", q.clone()), ("sort", sort.clone())]).unwrap_or_default()
    );
    Ok(office_page(
        &ctx,
        "Accounts",
        html! {
            h1 { "Customers and accounts" }
            (flash(&f))
            form.inline-form #account-filter method="get" action="/backoffice/accounts" {
                label for="aq" { "Email contains" }
                input #aq type="search" name="q" value=(q);
                label for="asort" { "Sort by" }
                select #asort name="sort" {
                    @for (value, label) in [("newest", "Newest"), ("email", "Email")] {
                        option value=(value) selected[sort == value] { (label) }
                    }
                }
                button type="submit" { "Filter" }
            }
            p { (total) " accounts" }
            @if items.is_empty() { div.empty { p { "No accounts match." } } } @else {
                div.table-wrap { table.stack #accounts {
                    thead { tr { th scope="col" { "Email" } th scope="col" { "Registered" } } }
                    tbody { @for a in &items {
                        @let id = a["account_id"].as_str().unwrap_or_default();
                        tr data-account=(id) {
                            td data-label="Email" { a href=(format!("/backoffice/accounts/{}", enc(id))) { (a["email"].as_str().unwrap_or_default()) } }
                            td data-label="Registered" { (a["created_at"].as_str().and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok()).map(|t| crate::layout::date(&t)).unwrap_or_default()) }
                        }
                    } }
                } }
            }
            nav.pager aria-label="Pages" {
                @if offset > 0 { a href=(format!("{here}&offset={}", (offset - 25).max(0))) { "← Previous" } }
                @if offset + 25 < total { a href=(format!("{here}&offset={}", offset + 25)) { "Next →" } }
            }
        },
    ))
}

/// `GET /backoffice/accounts/{id}`: one account's profile and roles; admins grant and revoke
/// roles here (the API refuses anyone else, and the forms are shown to admins only).
pub async fn account(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let a = get_json(&web, &ctx, &format!("/admin/accounts/{}", enc(&id))).await?;
    let roles: Vec<String> = a["roles"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    let groups: Vec<&str> = a["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let admin = ctx.session.as_ref().is_some_and(|s| s.role() == "admin");
    let base = format!("/backoffice/accounts/{}", enc(&id));
    let grantable: Vec<&str> = agora_identity::Role::ALL
        .iter()
        .map(|r| r.as_str())
        .filter(|r| !roles.iter().any(|held| held == r))
        .collect();
    Ok(office_page(
        &ctx,
        "Account",
        html! {
            p { a href="/backoffice/accounts" { "← Accounts" } }
            h1 { (a["email"].as_str().unwrap_or_default()) }
            (flash(&f))
            dl.facts {
                dt { "Name" } dd { (a["display_name"].as_str().filter(|n| !n.is_empty()).unwrap_or("–")) }
                dt { "Email confirmed" } dd { (if a["email_verified"].as_bool().unwrap_or(false) { "yes" } else { "no" }) }
                dt { "Status" } dd { (a["status"].as_str().unwrap_or_default()) }
                dt { "Saved addresses" } dd { (a["addresses"].as_array().map(Vec::len).unwrap_or(0)) }
                dt { "Orders" } dd { a href=(format!("/backoffice/orders?email={}", enc(a["email"].as_str().unwrap_or_default()))) { "Orders placed with this email" } }
            }
            h2 { "Roles" }
            ul #roles {
                @for r in &roles {
                    li data-role=(r) {
                        (r)
                        @if admin {
                            " "
                            form.inline-form method="post" action=(format!("{base}/roles")) {
                                (csrf(&ctx))
                                input type="hidden" name="role" value=(r);
                                input type="hidden" name="action" value="revoke";
                                button.secondary type="submit" aria-label=(format!("Revoke {r}")) { "Revoke" }
                            }
                        }
                    }
                }
            }
            @if admin {
                @if !grantable.is_empty() {
                    form.inline-form #grant method="post" action=(format!("{base}/roles")) {
                        (csrf(&ctx))
                        input type="hidden" name="action" value="grant";
                        label for="grant-role" { "Role to grant" }
                        select #grant-role name="role" {
                            @for r in &grantable { option value=(r) { (r) } }
                        }
                        button type="submit" { "Grant role" }
                    }
                    p.muted { "The person gets the new role the next time they sign in." }
                }
            } @else {
                p.muted #roles-note { "Only admins grant or revoke roles." }
            }
            h2 { "Customer groups" }
            p #groups { @if groups.is_empty() { "In no group." } @else { (groups.join(", ")) } }
            @if admin {
                form.inline-form #set-groups method="post" action=(format!("{base}/groups")) {
                    (csrf(&ctx))
                    label for="groups-field" { "Groups (comma-separated: promotions may be for some groups only)" }
                    input #groups-field type="text" name="groups" value=(groups.join(", ")) maxlength="1400";
                    button type="submit" { "Save groups" }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct GroupsForm {
    #[serde(default)]
    groups: String,
}

/// `POST /backoffice/accounts/{id}/groups`: the API's `PUT /admin/accounts/{id}/groups`.
pub async fn set_groups(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<GroupsForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let groups = words(&form.groups.to_ascii_lowercase());
    let result = web
        .api
        .call(
            axum::http::Method::PUT,
            &format!("/admin/accounts/{}/groups", enc(&id)),
            &ctx.person(),
            None,
            Some(&json!({"groups": groups})),
        )
        .await;
    back(&format!("/backoffice/accounts/{}", enc(&id)), result, &ctx)
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    action: String,
}

/// `POST /backoffice/accounts/{id}/roles`: grant (`POST`) or revoke (`DELETE`) the API's
/// `/admin/accounts/{id}/roles/{role}`.
pub async fn change_role(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let method = match form.action.as_str() {
        "grant" => axum::http::Method::POST,
        "revoke" => axum::http::Method::DELETE,
        _ => {
            return error_page(
                &ctx,
                &ApiFailure {
                    status: StatusCode::BAD_REQUEST,
                    code: "web.invalid_action".into(),
                    message: "the action is grant or revoke".into(),
                },
            )
        }
    };
    let result = web
        .api
        .call(
            method,
            &format!("/admin/accounts/{}/roles/{}", enc(&id), enc(&form.role)),
            &ctx.person(),
            None,
            None,
        )
        .await;
    back(&format!("/backoffice/accounts/{}", enc(&id)), result, &ctx)
}

// ---------------------------------------------------------------------------------------------
// Promotions

/// `GET /backoffice/promotions`: promotions filtered by status, with their uses and what they
/// gave, the actions their status allows, and a form for a new code or automatic promotion.
pub async fn promotions(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let offset = f.offset.unwrap_or(0).max(0);
    let status = f.status.clone().unwrap_or_default();
    let (items, total) = list_page(
        &web,
        &ctx,
        "/admin/promotions",
        25,
        offset,
        &[("status", &status)],
    )
    .await?;
    let here = format!(
        "/backoffice/promotions?{}",
        serde_urlencoded::to_string([("status", status.clone())]).unwrap_or_default()
    );
    Ok(office_page(
        &ctx,
        "Promotions",
        html! {
            h1 { "Promotions" }
            (flash(&f))
            p { a href="/backoffice/promotions/report.csv" download { "Download the redemptions report (CSV)" } }
            section.panel {
                h2 { "New promotion" }
                p.muted { "A new promotion starts as a draft: activate it when it should apply." }
                form #new-promotion method="post" action="/backoffice/promotions" {
                    (csrf(&ctx))
                    (key_field())
                    div.inline-form {
                        div { label for="p-name" { "Name" } input #p-name type="text" name="name" required maxlength="100"; }
                        div {
                            label for="p-how" { "How shoppers get it" }
                            select #p-how name="how" {
                                option value="code" { "One code shoppers enter" }
                                option value="automatic" { "Automatic (no code)" }
                                option value="unique" { "A batch of unique codes (one use each)" }
                            }
                        }
                        div {
                            label for="p-code" { "Code (one code)" }
                            input #p-code type="text" name="code" maxlength="40" pattern="[A-Za-z0-9_\\-]{3,40}" autocomplete="off";
                        }
                        div {
                            label for="p-prefix" { "Prefix (unique codes)" }
                            input #p-prefix type="text" name="prefix" maxlength="20" pattern="[A-Za-z0-9]{1,20}" autocomplete="off";
                        }
                        div { label for="p-count" { "How many codes (unique codes)" } input #p-count type="number" name="count" min="1" max="10000"; }
                    }
                    (terms_fields(&PromotionForm::default()))
                    button type="submit" { "Create promotion" }
                }
            }
            h2 { "All promotions" }
            form.inline-form #promotion-filter method="get" action="/backoffice/promotions" {
                label for="pstatus" { "Status" }
                select #pstatus name="status" {
                    option value="" { "Any" }
                    @for value in ["draft", "active", "paused", "ended"] {
                        option value=(value) selected[status == value] { (value) }
                    }
                }
                button type="submit" { "Filter" }
            }
            p { (total) @if total == 1 { " promotion" } @else { " promotions" } }
            @if items.is_empty() { div.empty { p { "No promotions match." } } } @else {
                div.table-wrap { table.stack #promotions {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Code" } th scope="col" { "Status" }
                        th.num scope="col" { "Uses" } th.num scope="col" { "Given" } th scope="col" { "Actions" }
                    } }
                    tbody { @for p in &items {
                        @let id = p["promotion_id"].as_str().unwrap_or_default();
                        @let state = p["status"].as_str().unwrap_or_default();
                        @let currency = p["currency"].as_str().unwrap_or("EUR");
                        tr data-promotion=(id) {
                            td data-label="Name" { a href=(format!("/backoffice/promotions/{}", enc(id))) { (p["name"].as_str().unwrap_or_default()) } }
                            td data-label="Code" { @if let Some(code) = p["code"].as_str() { code { (code) } } @else { (p["kind"].as_str().unwrap_or_default()) } }
                            td data-label="Status" { span.badge data-status=(state) { (state) } }
                            td.num data-label="Uses" {
                                (p["uses"].as_i64().unwrap_or(0))
                                @if let Some(limit) = p["total_uses"].as_i64() { " / " (limit) }
                            }
                            td.num data-label="Given" {
                                (money(p["spent_minor"].as_i64().unwrap_or(0), currency))
                                @if let Some(budget) = p["budget_minor"].as_i64() { " / " (money(budget, currency)) }
                            }
                            td {
                                @for (action, label, allowed) in [
                                    ("activate", "Activate", state == "draft" || state == "paused"),
                                    ("pause", "Pause", state == "active"),
                                    ("end", "End", state != "ended"),
                                ] {
                                    @if allowed {
                                        form.inline-form method="post" action=(format!("/backoffice/promotions/{}/{action}", enc(id))) {
                                            (csrf(&ctx))
                                            input type="hidden" name="back" value=(here);
                                            button.secondary type="submit" aria-label=(format!("{label} {}", p["name"].as_str().unwrap_or_default())) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                } }
            }
            nav.pager aria-label="Pages" {
                @if offset > 0 { a href=(format!("{here}&offset={}", (offset - 25).max(0))) { "← Previous" } }
                @if offset + 25 < total { a href=(format!("{here}&offset={}", offset + 25)) { "Next →" } }
            }
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct PromotionForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    minimum: String,
    #[serde(default)]
    total_uses: String,
    #[serde(default)]
    uses_per_customer: String,
    #[serde(default)]
    budget: String,
    #[serde(default)]
    how: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    count: String,
    #[serde(default)]
    buy: String,
    #[serde(default)]
    get: String,
    #[serde(default)]
    skus: String,
    #[serde(default)]
    categories: String,
    #[serde(default)]
    products: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    first_order: Option<String>,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    combinable: Option<String>,
}

/// The form fields of a promotion's terms (discount; items and shoppers; limits, dates and
/// stacking), filled in with `v`: the same fields create a promotion and revise a draft.
fn terms_fields(v: &PromotionForm) -> Markup {
    let kinds = [
        ("amount_off_order", "Amount off the order"),
        ("percent_off_order", "Percent off the order"),
        ("percent_off_items", "Percent off matching items"),
        ("amount_off_each_item", "Amount off each matching item"),
        ("buy_x_get_y", "Buy X, get Y (percent off the Y)"),
        ("free_shipping", "Free shipping"),
    ];
    html! {
        fieldset {
            legend { "Discount" }
            div.inline-form {
                div {
                    label for="p-kind" { "Kind" }
                    select #p-kind name="kind" {
                        @for (value, label) in kinds { option value=(value) selected[v.kind == value] { (label) } }
                    }
                }
                div { label for="p-value" { "Amount (€) or percent" } input #p-value type="text" name="value" inputmode="decimal" maxlength="12" value=(v.value); }
                div { label for="p-buy" { "Buy X (buy X, get Y)" } input #p-buy type="number" name="buy" min="1" max="999" value=(v.buy); }
                div { label for="p-get" { "Get Y (buy X, get Y)" } input #p-get type="number" name="get" min="1" max="999" value=(v.get); }
            }
        }
        fieldset {
            legend { "Which items and which shoppers" }
            div.inline-form {
                div { label for="p-skus" { "SKUs (comma-separated, optional)" } input #p-skus type="text" name="skus" maxlength="2000" value=(v.skus); }
                div { label for="p-categories" { "Categories (ids, optional)" } input #p-categories type="text" name="categories" maxlength="2000" value=(v.categories); }
                div { label for="p-products" { "Products (ids, optional)" } input #p-products type="text" name="products" maxlength="4000" value=(v.products); }
                div { label for="p-min" { "Minimum subtotal (€, optional)" } input #p-min type="text" name="minimum" inputmode="decimal" maxlength="12" value=(v.minimum); }
                div { label for="p-groups" { "Customer groups (optional)" } input #p-groups type="text" name="groups" maxlength="2000" value=(v.groups); }
                div { label.inline { input #p-first type="checkbox" name="first_order" value="1" checked[v.first_order.is_some()]; " First order only" } }
            }
        }
        fieldset {
            legend { "Limits, dates and stacking" }
            div.inline-form {
                div { label for="p-uses" { "Uses in all (optional)" } input #p-uses type="number" name="total_uses" min="1" value=(v.total_uses); }
                div { label for="p-per" { "Uses per customer (optional)" } input #p-per type="number" name="uses_per_customer" min="1" value=(v.uses_per_customer); }
                div { label for="p-budget" { "Budget (€, optional)" } input #p-budget type="text" name="budget" inputmode="decimal" maxlength="12" value=(v.budget); }
                div { label for="p-starts" { "Starts (UTC, optional)" } input #p-starts type="datetime-local" name="starts_at" value=(v.starts_at); }
                div { label for="p-ends" { "Ends (UTC, optional)" } input #p-ends type="datetime-local" name="ends_at" value=(v.ends_at); }
                div { label for="p-priority" { "Priority (lower applies first)" } input #p-priority type="number" name="priority" min="0" max="1000000" placeholder="100" value=(v.priority); }
                div { label.inline { input #p-combinable type="checkbox" name="combinable" value="1" checked[v.combinable.is_some()]; " Combines with other promotions" } }
            }
        }
    }
}

impl PromotionForm {
    /// The form that describes `t`, a promotion's terms as the API shows them.
    fn from_terms(t: &Value) -> PromotionForm {
        let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_default();
        let number = |v: &Value| v.as_u64().map(|n| n.to_string()).unwrap_or_default();
        let euros = |v: &Value| {
            v["amount_minor"]
                .as_i64()
                .map(hundredths)
                .unwrap_or_default()
        };
        let percent = |bp: &Value| {
            bp.as_u64()
                .map(|bp| hundredths(bp as i64))
                .unwrap_or_default()
        };
        let joined = |v: &Value| {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let when = |v: &Value| {
            v.as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| {
                    t.with_timezone(&chrono::Utc)
                        .format("%Y-%m-%dT%H:%M")
                        .to_string()
                })
                .unwrap_or_default()
        };
        let action = &t["action"];
        let (kind, value, buy, get) = match action {
            Value::String(s) => (s.clone(), String::new(), String::new(), String::new()),
            Value::Object(o) => match o.iter().next() {
                Some((kind, a)) => (
                    kind.clone(),
                    if a["amount"].is_object() {
                        euros(&a["amount"])
                    } else {
                        percent(&a["percent_bp"])
                    },
                    number(&a["buy"]),
                    number(&a["get"]),
                ),
                None => Default::default(),
            },
            _ => Default::default(),
        };
        PromotionForm {
            name: text(&t["name"]),
            kind,
            value,
            buy,
            get,
            minimum: euros(&t["eligibility"]["minimum_subtotal"]),
            total_uses: number(&t["limits"]["total_uses"]),
            uses_per_customer: number(&t["limits"]["uses_per_customer"]),
            budget: euros(&t["limits"]["budget"]),
            skus: joined(&t["applies_to"]["skus"]),
            categories: joined(&t["applies_to"]["categories"]),
            products: joined(&t["applies_to"]["products"]),
            groups: joined(&t["eligibility"]["customer_groups"]),
            first_order: (t["eligibility"]["first_order_only"].as_bool() == Some(true))
                .then(|| "1".to_string()),
            starts_at: when(&t["window"]["starts_at"]),
            ends_at: when(&t["window"]["ends_at"]),
            priority: number(&t["stacking"]["priority"]),
            combinable: (t["stacking"]["combinable"].as_bool() == Some(true))
                .then(|| "1".to_string()),
            ..PromotionForm::default()
        }
    }
}

/// `POST /backoffice/promotions/{id}/terms`: revises a draft's terms (the API refuses once it
/// is active).
pub async fn revise_promotion(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<PromotionForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let page = format!("/backoffice/promotions/{}", enc(&id));
    let terms = match promotion_terms(&form) {
        Ok(terms) => terms,
        Err(message) => return back_with_error(&page, &message),
    };
    let result = web
        .api
        .call(
            axum::http::Method::PUT,
            &format!("/admin/promotions/{}", enc(&id)),
            &ctx.person(),
            form.key.as_deref(),
            Some(&json!({"terms": terms})),
        )
        .await;
    back(&page, result, &ctx)
}

/// The terms the promotion form describes, or what is wrong with it (the API checks the rest).
fn promotion_terms(form: &PromotionForm) -> Result<Value, String> {
    let euros = |field: &str, text: &str| -> Result<Option<Value>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        crate::store::major_to_minor(text.trim())
            .map(|minor| Some(json!({"amount_minor": minor, "currency": "EUR"})))
            .ok_or_else(|| format!("{field} must be an amount like 5.00"))
    };
    let count = |field: &str, text: &str| -> Result<Option<u64>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        text.trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("{field} must be a whole number"))
    };
    let percent = |text: &str| {
        crate::store::major_to_minor(text.trim())
            .filter(|bp| (1..=10_000).contains(bp))
            .ok_or("The percent must be between 0.01 and 100")
    };
    let action = match form.kind.as_str() {
        "amount_off_order" => {
            let amount = euros("The amount", &form.value)?.ok_or("Enter the amount off")?;
            json!({"amount_off_order": {"amount": amount}})
        }
        "amount_off_each_item" => {
            let amount = euros("The amount", &form.value)?.ok_or("Enter the amount off")?;
            json!({"amount_off_each_item": {"amount": amount}})
        }
        "percent_off_order" => json!({"percent_off_order": {"percent_bp": percent(&form.value)?}}),
        "percent_off_items" => json!({"percent_off_items": {"percent_bp": percent(&form.value)?}}),
        "buy_x_get_y" => {
            let buy = count("Buy X", &form.buy)?.ok_or("Enter how many to buy (X)")?;
            let get = count("Get Y", &form.get)?.ok_or("Enter how many they get (Y)")?;
            // The Y are free unless a percent is given.
            let percent_bp = if form.value.trim().is_empty() {
                10_000
            } else {
                percent(&form.value)?
            };
            json!({"buy_x_get_y": {"buy": buy, "get": get, "percent_bp": percent_bp}})
        }
        "free_shipping" => json!("free_shipping"),
        _ => return Err("Choose a kind of discount".into()),
    };
    let when = |field: &str, text: &str| -> Result<Option<String>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
            .map(|t| Some(t.and_utc().to_rfc3339()))
            .map_err(|_| format!("{field} must be a date and time"))
    };
    let mut terms = json!({
        "name": form.name.trim(),
        "currency": "EUR",
        "action": action,
        "applies_to": {
            "skus": words(&form.skus.to_ascii_uppercase()),
            "categories": words(&form.categories),
            "products": words(&form.products),
        },
        "eligibility": {
            "minimum_subtotal": euros("The minimum subtotal", &form.minimum)?,
            "customer_groups": words(&form.groups),
            "first_order_only": form.first_order.is_some(),
        },
        "window": {
            "starts_at": when("The start", &form.starts_at)?,
            "ends_at": when("The end", &form.ends_at)?,
        },
        "limits": {
            "total_uses": count("Uses in all", &form.total_uses)?,
            "uses_per_customer": count("Uses per customer", &form.uses_per_customer)?,
            "budget": euros("The budget", &form.budget)?,
        },
        "stacking": {
            "combinable": form.combinable.is_some(),
            "priority": count("The priority", &form.priority)?.unwrap_or(100),
        },
    });
    if terms["eligibility"]["minimum_subtotal"].is_null() {
        terms["eligibility"]
            .as_object_mut()
            .map(|e| e.remove("minimum_subtotal"));
    }
    Ok(terms)
}

/// How shoppers get the promotion the form describes: automatic, one code, or a batch of
/// unique codes (generated from a seed that the form's key decides, so a resubmitted form
/// creates the same codes).
fn promotion_codes(form: &PromotionForm) -> Result<Value, String> {
    match form.how.as_str() {
        "automatic" => Ok(json!("automatic")),
        "unique" => {
            let prefix = form.prefix.trim().to_ascii_uppercase();
            if prefix.is_empty() {
                return Err("Enter a prefix for the unique codes".into());
            }
            let count: u32 = form
                .count
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or("The number of codes must be between 1 and 10000")?;
            let key = form
                .key
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            // Within 2^53, so that any JSON reader keeps it exact.
            let seed = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes())
                .as_u64_pair()
                .0
                >> 11;
            Ok(json!({"unique_codes": {"prefix": prefix, "count": count, "seed": seed}}))
        }
        // One code (the form's default); an empty code was an automatic promotion before the
        // form asked, and still is.
        _ if form.code.trim().is_empty() => Ok(json!("automatic")),
        _ => Ok(json!({"code": {"code": form.code.trim()}})),
    }
}

/// `POST /backoffice/promotions`: creates a draft promotion, with one code or automatic.
pub async fn create_promotion(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<PromotionForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let terms = match promotion_terms(&form) {
        Ok(terms) => terms,
        Err(message) => return back_with_error("/backoffice/promotions", &message),
    };
    let codes = match promotion_codes(&form) {
        Ok(codes) => codes,
        Err(message) => return back_with_error("/backoffice/promotions", &message),
    };
    let result = web
        .api
        .post(
            "/admin/promotions",
            &ctx.person(),
            form.key.as_deref(),
            &json!({"terms": terms, "codes": codes}),
        )
        .await;
    back("/backoffice/promotions", result, &ctx)
}

/// Terms of a promotion for people: what it takes off, on what, for whom and when.
fn describe_terms(t: &Value) -> Markup {
    let currency = t["currency"].as_str().unwrap_or("EUR");
    let action = &t["action"];
    let pct = |bp: &Value| format!("{} %", hundredths(bp.as_i64().unwrap_or(0)));
    let what = if let Some(a) = action.get("amount_off_order") {
        format!("{} off the order", money_json(&a["amount"]))
    } else if let Some(a) = action.get("amount_off_each_item") {
        format!("{} off each matching item", money_json(&a["amount"]))
    } else if let Some(a) = action.get("percent_off_order") {
        format!("{} off the order", pct(&a["percent_bp"]))
    } else if let Some(a) = action.get("percent_off_items") {
        format!("{} off matching items", pct(&a["percent_bp"]))
    } else if let Some(a) = action.get("buy_x_get_y") {
        format!(
            "Buy {}, get {} at {} off",
            a["buy"],
            a["get"],
            pct(&a["percent_bp"])
        )
    } else {
        "Free shipping".to_string()
    };
    let joined = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
    };
    let applies = &t["applies_to"];
    let items = [
        joined(&applies["skus"]).map(|s| format!("SKUs {s}")),
        joined(&applies["categories"]).map(|s| format!("categories {s}")),
        joined(&applies["products"]).map(|s| format!("products {s}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ");
    html! {
        dl.facts #promotion-terms {
            dt { "Discount" } dd { (what) }
            dt { "Items" } dd { @if items.is_empty() { "Every item" } @else { (items) } }
            @if let Some(min) = t["eligibility"]["minimum_subtotal"]["amount_minor"].as_i64() {
                dt { "Minimum subtotal" } dd { (money(min, currency)) }
            }
            @if let Some(groups) = joined(&t["eligibility"]["customer_groups"]) {
                dt { "Customer groups" } dd { (groups) }
            }
            @if t["eligibility"]["first_order_only"].as_bool() == Some(true) {
                dt { "Shoppers" } dd { "First order only" }
            }
            dt { "Valid" } dd {
                (t["window"]["starts_at"].as_str().unwrap_or("now")) " → " (t["window"]["ends_at"].as_str().unwrap_or("no end"))
            }
            dt { "Stacking" } dd {
                @if t["stacking"]["combinable"].as_bool() == Some(true) { "Combines" } @else { "Exclusive" }
                ", priority " (t["stacking"]["priority"].as_u64().unwrap_or(100))
            }
        }
    }
}

/// At most this many unique codes are listed on the page; the CSV has them all.
const CODES_ON_PAGE: usize = 500;

/// `GET /backoffice/promotions/{id}`: one promotion's terms, counters and codes (a batch's
/// unique codes with the order holding each).
pub async fn promotion_detail(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let reply = get_json(&web, &ctx, &format!("/admin/promotions/{}", enc(&id))).await?;
    let p = &reply["promotion"];
    let name = p["terms"]["name"]
        .as_str()
        .unwrap_or("Promotion")
        .to_string();
    let currency = p["terms"]["currency"].as_str().unwrap_or("EUR");
    let codes = p["unique_codes"].as_array().cloned().unwrap_or_default();
    Ok(office_page(
        &ctx,
        &name,
        html! {
            p { a href="/backoffice/promotions" { "← Promotions" } }
            h1 { (name) }
            (flash(&f))
            p { span.badge data-status=(p["status"].as_str().unwrap_or_default()) { (p["status"].as_str().unwrap_or_default()) }
                " · " (p["kind"].as_str().unwrap_or_default())
                @if let Some(code) = p["code"].as_str() { " · code " code { (code) } } }
            @let state = p["status"].as_str().unwrap_or_default();
            div.inline-form #promotion-actions {
                @for (action, label, allowed) in [
                    ("activate", "Activate", state == "draft" || state == "paused"),
                    ("pause", "Pause", state == "active"),
                    ("end", "End", state != "ended"),
                ] {
                    @if allowed {
                        form.inline-form method="post" action=(format!("/backoffice/promotions/{}/{action}", enc(&id))) {
                            (csrf(&ctx))
                            input type="hidden" name="back" value=(format!("/backoffice/promotions/{}", enc(&id)));
                            button.secondary type="submit" { (label) }
                        }
                    }
                }
            }
            @if p["terms"].is_object() { (describe_terms(&p["terms"])) }
            @if state == "draft" && p["terms"].is_object() {
                details #edit-terms {
                    summary { "Edit the terms (drafts only)" }
                    @let values = PromotionForm::from_terms(&p["terms"]);
                    form #revise-promotion method="post" action=(format!("/backoffice/promotions/{}/terms", enc(&id))) {
                        (csrf(&ctx))
                        (key_field())
                        div.inline-form { div { label for="p-name" { "Name" } input #p-name type="text" name="name" required maxlength="100" value=(values.name); } }
                        (terms_fields(&values))
                        button type="submit" { "Save terms" }
                    }
                }
            }
            p #promotion-counters { (p["uses"].as_u64().unwrap_or(0)) " uses, "
                (money(p["spent"]["amount_minor"].as_i64().unwrap_or(0), currency)) " given" }
            @if !codes.is_empty() {
                h2 { "Unique codes" }
                p { (p["codes_redeemed"].as_u64().unwrap_or(0)) " of " (p["codes_total"].as_u64().unwrap_or(0)) " redeemed. "
                    a #codes-csv href=(format!("/backoffice/promotions/{}/codes.csv", enc(&id))) download { "Download every code (CSV)" } }
                div.table-wrap { table.stack #unique-codes {
                    thead { tr { th scope="col" { "Code" } th scope="col" { "Redeemed by order" } } }
                    tbody { @for c in codes.iter().take(CODES_ON_PAGE) {
                        tr { td data-label="Code" { code { (c["code"].as_str().unwrap_or_default()) } }
                             td data-label="Order" { @if let Some(order) = c["redeemed_by"].as_str() {
                                 a href=(format!("/backoffice/orders/{}", enc(order))) { (order) } } @else { "—" } } }
                    } }
                } }
                @if codes.len() > CODES_ON_PAGE { p.muted { "The first " (CODES_ON_PAGE) " are shown; the CSV has all " (codes.len()) "." } }
            }
        },
    ))
}

/// `GET /backoffice/promotions/{id}/codes.csv`: a batch's unique codes, to hand out.
pub async fn promotion_codes_csv(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let reply = match get_json(&web, &ctx, &format!("/admin/promotions/{}", enc(&id))).await {
        Ok(reply) => reply,
        Err(r) => return r,
    };
    let mut csv = String::from("code,redeemed_by_order\n");
    for c in reply["promotion"]["unique_codes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        csv.push_str(&format!(
            "{},{}\n",
            c["code"].as_str().unwrap_or_default(),
            c["redeemed_by"].as_str().unwrap_or_default()
        ));
    }
    csv_download("codes.csv", csv)
}

/// A CSV file to save as `name`.
pub(crate) fn csv_download(name: &str, csv: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        csv,
    )
        .into_response()
}

/// `POST /backoffice/promotions/{id}/{activate|pause|end}`.
pub async fn promotion_action(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<BackForm>,
) -> Response {
    lifecycle_action(
        &web,
        &ctx,
        "promotions",
        &id,
        &action,
        &["activate", "pause", "end"],
        form.back,
    )
    .await
}

/// `GET /backoffice/promotions/report.csv`: the API's redemptions report, for the signed-in
/// person (who must be allowed to read it).
pub async fn promotions_report(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    match web
        .api
        .get_bytes("/admin/reports/promotions.csv", &ctx.person())
        .await
    {
        Ok(csv) => csv_download("promotions.csv", csv),
        Err(e) => error_page(&ctx, &e),
    }
}
