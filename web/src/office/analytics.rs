//! Analytics in the back office: sales by day (a chart), the conversion funnel, average order
//! value, repeat customers, the best-selling products, sales by category and vendor, and
//! refunds by reason, for a range of days in the URL, each with its CSV. Every figure comes
//! from the `/admin/analytics` routes, which read projections filled by replaying the whole
//! history.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::Extension;
use chrono::{Duration, NaiveDate, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::{gate, get_json, office_page, Page};
use crate::api::enc;
use crate::session::Ctx;
use crate::Web;

#[derive(Debug, Default, Deserialize)]
pub struct RangeForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    by: String,
}

/// `GET /backoffice/analytics/{sales|funnel|refunds}.csv`: the API's CSV, to save.
pub async fn csv(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(file): Path<String>,
    Query(q): Query<RangeForm>,
) -> Page {
    gate(&ctx)?;
    let Some(report) = ["sales.csv", "funnel.csv", "refunds.csv"]
        .into_iter()
        .find(|f| *f == file)
    else {
        return Err(crate::layout::error_page(
            &ctx,
            &crate::api::ApiFailure {
                status: axum::http::StatusCode::NOT_FOUND,
                code: "route.not_found".into(),
                message: "no such report".into(),
            },
        ));
    };
    let mut uri = format!(
        "/admin/analytics/{report}?from={}&to={}",
        enc(&q.from),
        enc(&q.to)
    );
    if !q.by.is_empty() {
        uri.push_str(&format!("&by={}", enc(&q.by)));
    }
    let bytes = web
        .api
        .get_bytes(&uri, &ctx.person())
        .await
        .map_err(|e| crate::layout::error_page(&ctx, &e))?;
    Ok(super::csv_download(report, bytes).into_response())
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

fn int(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or(0)
}

/// Minor units as `1,234.56 EUR`.
fn money(minor: i64, currency: &str) -> String {
    let (sign, m) = if minor < 0 {
        ("-", -minor)
    } else {
        ("", minor)
    };
    let units = (m / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02} {currency}", m % 100)
}

/// Basis points as `12.34 %`, or a dash when there was nothing to divide.
fn rate(bp: &Value) -> String {
    bp.as_i64()
        .map(|b| format!("{}.{:02} %", b / 100, b % 100))
        .unwrap_or_else(|| "—".into())
}

/// The net sales of each day of the range in one currency, as bars (an SVG with a text
/// alternative; the table below it holds the same figures).
fn chart(days: &[(NaiveDate, i64)], currency: &str) -> Markup {
    let max = days.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let (w, h, pad) = (720_i64, 200_i64, 24_i64);
    let n = days.len().max(1) as i64;
    let slot = (w - pad) / n;
    let bar = (slot - 2).max(1);
    let total: i64 = days.iter().map(|(_, v)| v).sum();
    let label = format!(
        "Net sales per day in {currency}, {} days, {} in all, highest day {}",
        days.len(),
        money(total, currency),
        money(max, currency)
    );
    html! {
        figure.chart {
            svg #sales-chart viewBox=(format!("0 0 {w} {}", h + pad)) role="img" aria-label=(label) {
                title { (label) }
                line x1=(pad) y1=(h) x2=(w) y2=(h) stroke="#9aa5b1" stroke-width="1" {}
                @for (i, (day, v)) in days.iter().enumerate() {
                    @let height = (v.max(&0) * (h - 10)) / max;
                    rect x=(pad + i as i64 * slot) y=(h - height) width=(bar) height=(height) fill="#1f5fbf" {
                        title { (day) ": " (money(*v, currency)) }
                    }
                }
                text x="0" y="12" font-size="11" fill="#52606d" { (money(max, currency)) }
                @if let (Some((first, _)), Some((last, _))) = (days.first(), days.last()) {
                    text x=(pad) y=(h + 16) font-size="11" fill="#52606d" { (first) }
                    text x=(w) y=(h + 16) font-size="11" fill="#52606d" text-anchor="end" { (last) }
                }
            }
            figcaption { "Net sales per day (" (currency) ")" }
        }
    }
}

/// One stage of the funnel as a bar of its share of the carts created.
fn stage(name: &str, id: &str, n: i64, of: i64) -> Markup {
    let pct = if of > 0 { (n * 100 / of).min(100) } else { 0 };
    html! {
        li #(id) {
            span.stage { (name) }
            span.meter role="presentation" { span style=(format!("width:{pct}%")) {} }
            strong { (n) }
        }
    }
}

/// `GET /backoffice/analytics`: the shop's figures for a range of days (default: the last 30).
pub async fn page(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<RangeForm>,
) -> Page {
    gate(&ctx)?;
    let today = Utc::now().date_naive();
    let to = NaiveDate::parse_from_str(q.to.trim(), "%Y-%m-%d").unwrap_or(today);
    let from =
        NaiveDate::parse_from_str(q.from.trim(), "%Y-%m-%d").unwrap_or(to - Duration::days(29));
    let range = format!(
        "from={}&to={}",
        enc(&from.to_string()),
        enc(&to.to_string())
    );
    let summary = get_json(&web, &ctx, &format!("/admin/analytics/summary?{range}")).await?;
    let days = get_json(
        &web,
        &ctx,
        &format!("/admin/analytics/sales?{range}&by=day"),
    )
    .await?;
    let funnel = get_json(&web, &ctx, &format!("/admin/analytics/funnel?{range}")).await?;
    let products = get_json(
        &web,
        &ctx,
        &format!("/admin/analytics/sales?{range}&by=product"),
    )
    .await?;
    let categories = get_json(
        &web,
        &ctx,
        &format!("/admin/analytics/sales?{range}&by=category"),
    )
    .await?;
    let vendors = get_json(
        &web,
        &ctx,
        &format!("/admin/analytics/sales?{range}&by=vendor"),
    )
    .await?;
    let refunds = get_json(&web, &ctx, &format!("/admin/analytics/refunds?{range}")).await?;

    let sales = summary["sales"].as_array().cloned().unwrap_or_default();
    let main_currency = sales
        .iter()
        .max_by_key(|s| int(s, "revenue_minor"))
        .map(|s| text(s, "currency").to_string())
        .unwrap_or_else(|| "EUR".into());
    let day_items = days["items"].as_array().cloned().unwrap_or_default();
    let mut series: Vec<(NaiveDate, i64)> = Vec::new();
    let mut d = from;
    while d <= to {
        let net = day_items
            .iter()
            .filter(|x| text(x, "currency") == main_currency && text(x, "day") == d.to_string())
            .map(|x| int(x, "net_minor"))
            .sum();
        series.push((d, net));
        d += Duration::days(1);
    }
    let total = &funnel["total"];
    let mut top: Vec<Value> = products["items"].as_array().cloned().unwrap_or_default();
    top.sort_by_key(|p| -int(p, "revenue_minor"));
    top.truncate(10);
    let group_rows = |v: &Value, key: &str, none: &str| -> Vec<(String, Value)> {
        let mut rows: Vec<(String, Value)> = v["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|x| (x[key].as_str().unwrap_or(none).to_string(), x))
            .collect();
        rows.sort_by_key(|(_, x)| -int(x, "revenue_minor"));
        rows
    };
    let by_category = group_rows(&categories, "category_id", "uncategorised");
    let by_vendor = group_rows(&vendors, "vendor_id", "the shop");
    let reasons = refunds["items"].as_array().cloned().unwrap_or_default();
    let csv = |what: &str, extra: &str| format!("/backoffice/analytics/{what}.csv?{range}{extra}");

    Ok(office_page(
        &ctx,
        "Analytics",
        html! {
            h1 { "Analytics" }
            form.inline-form method="get" action="/backoffice/analytics" {
                div { label for="from" { "From" } input #from type="date" name="from" value=(from); }
                div { label for="to" { "To" } input #to type="date" name="to" value=(to); }
                div { button type="submit" { "Show" } }
            }
            p.muted { "Every figure is a read model filled by replaying the whole event history, so it is correct from the shop's first day. Sales count on the day an order is paid; a cancelled order never counts." }
            ul.stats #summary {
                @for s in &sales {
                    li { "Orders (" (text(s, "currency")) ")" strong { (int(s, "orders")) } }
                    li { "Net sales" strong #net { (money(int(s, "net_minor"), text(s, "currency"))) } }
                    li { "Average order" strong #aov { (s["average_order_value_minor"].as_i64().map(|m| money(m, text(s, "currency"))).unwrap_or_else(|| "—".into())) } }
                }
                li { "Customers" strong #customers { (int(&summary, "customers")) } }
                li { "Repeat customers" strong #repeat { (int(&summary, "repeat_customers")) " (" (rate(&summary["repeat_customer_rate_bp"])) ")" } }
            }
            section {
                h2 { "Sales by day" }
                (chart(&series, &main_currency))
                p { a href=(csv("sales", "&by=day")) download { "Sales by day (CSV)" } }
            }
            section {
                h2 { "Conversion funnel" }
                ol.funnel #funnel {
                    (stage("Carts created", "f-carts", int(total, "carts_created"), int(total, "carts_created")))
                    (stage("Carts with an item", "f-items", int(total, "carts_with_items"), int(total, "carts_created")))
                    (stage("Checkouts started", "f-checkouts", int(total, "checkouts_started"), int(total, "carts_created")))
                    (stage("Paid", "f-paid", int(total, "paid"), int(total, "carts_created")))
                }
                p { "Conversion from cart to payment: " strong #conversion { (rate(&total["conversion_rate_bp"])) } " · "
                    a href=(csv("funnel", "")) download { "Funnel by day (CSV)" } }
            }
            section {
                h2 { "Best-selling products" }
                @if top.is_empty() { p { "No sale in this range." } } @else {
                    div.table-wrap { table.stack #top-products {
                        thead { tr { th scope="col" { "Product" } th scope="col" { "SKU" } th scope="col" { "Units" } th scope="col" { "Revenue" } th scope="col" { "Refunded" } } }
                        tbody { @for p in &top { tr {
                            td data-label="Product" { a href=(format!("/backoffice/products/{}", text(p, "product_id"))) { (text(p, "title")) } }
                            td data-label="SKU" { (text(p, "sku")) }
                            td.num data-label="Units" { (int(p, "units")) }
                            td.num data-label="Revenue" { (money(int(p, "revenue_minor"), text(p, "currency"))) }
                            td.num data-label="Refunded" { (money(int(p, "refunded_minor"), text(p, "currency"))) }
                        } } }
                    } }
                }
                p { a href=(csv("sales", "&by=product")) download { "Sales by product (CSV)" } }
            }
            div.forms {
                section {
                    h2 { "By category" }
                    div.table-wrap { table.stack #by-category {
                        thead { tr { th scope="col" { "Category" } th scope="col" { "Units" } th scope="col" { "Revenue" } } }
                        tbody { @for (name, x) in &by_category { tr {
                            td data-label="Category" { (name) }
                            td.num data-label="Units" { (int(x, "units")) }
                            td.num data-label="Revenue" { (money(int(x, "revenue_minor"), text(x, "currency"))) }
                        } } }
                    } }
                    p { a href=(csv("sales", "&by=category")) download { "CSV" } }
                }
                section {
                    h2 { "By vendor" }
                    div.table-wrap { table.stack #by-vendor {
                        thead { tr { th scope="col" { "Vendor" } th scope="col" { "Units" } th scope="col" { "Revenue" } } }
                        tbody { @for (name, x) in &by_vendor { tr {
                            td data-label="Vendor" { (name) }
                            td.num data-label="Units" { (int(x, "units")) }
                            td.num data-label="Revenue" { (money(int(x, "revenue_minor"), text(x, "currency"))) }
                        } } }
                    } }
                    p { a href=(csv("sales", "&by=vendor")) download { "CSV" } }
                }
            }
            section {
                h2 { "Refunds by reason" }
                @if reasons.is_empty() { p #no-refunds { "No refund in this range." } } @else {
                    div.table-wrap { table.stack #refund-reasons {
                        thead { tr { th scope="col" { "Reason" } th scope="col" { "Refunds" } th scope="col" { "Amount" } } }
                        tbody { @for r in &reasons { tr {
                            td data-label="Reason" { (text(r, "reason").replace('_', " ")) }
                            td.num data-label="Refunds" { (int(r, "refunds")) }
                            td.num data-label="Amount" { (money(int(r, "amount_minor"), text(r, "currency"))) }
                        } } }
                    } }
                }
                p { a href=(csv("refunds", "")) download { "Refunds by reason (CSV)" } }
            }
        },
    ))
}
