//! Payment reconciliation in the back office: the latest comparison of the payment provider's
//! statement with our payments (nightly, or `agora reconcile`), and every mismatch it found.

use axum::extract::State;
use axum::Extension;
use maud::html;
use serde_json::Value;

use super::{gate, get_json, office_page, Page};
use crate::session::Ctx;
use crate::Web;

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

/// Minor units as `12.34 EUR`, or a dash.
fn amount(minor: &Value, currency: &str) -> String {
    match minor.as_i64() {
        Some(m) => format!(
            "{}{}.{:02} {currency}",
            if m < 0 { "-" } else { "" },
            m.abs() / 100,
            m.abs() % 100
        ),
        None => "—".into(),
    }
}

/// `GET /backoffice/reconciliation`: the latest run and its mismatches.
pub async fn page(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Page {
    gate(&ctx)?;
    let r = get_json(&web, &ctx, "/admin/reconciliation").await?;
    let run = &r["run"];
    let mismatches = r["mismatches"].as_array().cloned().unwrap_or_default();
    Ok(office_page(
        &ctx,
        "Payment reconciliation",
        html! {
            h1 { "Payment reconciliation" }
            p.muted { "The payment provider's statement (captures, refunds, fees) against every payment's events. It runs nightly; "
                code { "agora reconcile" } " runs it now." }
            @if run.is_null() {
                p #no-run { "No reconciliation has run yet." }
            } @else {
                ul.stats #run {
                    li { "Run" strong { (run["id"]) } }
                    li { "Finished (UTC)" strong { (text(run, "finished_at").replace('T', " ").chars().take(19).collect::<String>()) } }
                    li { "Provider" strong { (text(run, "provider")) } }
                    li { "Payments" strong { (run["payments"]) } }
                    li { "Provider records" strong { (run["records"]) } }
                    li { "Fees checked" strong { (run["fee_rule"].as_str().unwrap_or("no")) } }
                    li { "Mismatches" strong #mismatch-count { (run["mismatches"]) }
                        @if run["mismatches"].as_i64() == Some(0) { span.badge.ok { "all agree" } } @else { span.badge.bad { "to investigate" } } }
                }
                @if !mismatches.is_empty() {
                    div.table-wrap { table.stack #mismatches {
                        thead { tr { th scope="col" { "Kind" } th scope="col" { "Order" } th scope="col" { "Provider payment" } th scope="col" { "Ours" } th scope="col" { "Provider's" } th scope="col" { "Detail" } } }
                        tbody { @for m in &mismatches {
                            @let currency = m["currency"].as_str().unwrap_or_default();
                            tr {
                                td data-label="Kind" { span.badge.bad { (text(m, "kind").replace('_', " ")) } }
                                td data-label="Order" { @match m["payment_id"].as_str() { Some(id) => { a href=(format!("/backoffice/orders/{id}")) { (id) } } None => { "none of ours" } } }
                                td data-label="Provider payment" { code { (text(m, "provider_ref")) } }
                                td.num data-label="Ours" { (amount(&m["ours_minor"], currency)) }
                                td.num data-label="Provider's" { (amount(&m["theirs_minor"], currency)) }
                                td data-label="Detail" { (text(m, "detail")) }
                            }
                        } }
                    } }
                }
            }
        },
    ))
}
