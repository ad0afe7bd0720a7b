//! The shopper's side of fulfilment: each parcel of an order with its status and tracking link,
//! asking to return delivered units, and following the return.

use std::collections::BTreeMap;

use agora_order::OrderView;
use agora_returns::ReturnView;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde_json::json;

use crate::api::enc;
use crate::layout::{csrf, date, error_page, form_quantities, money, page};
use crate::session::Ctx;
use crate::store::order_creds;
use crate::Web;

type Page = Result<Response, Response>;

const REASONS: [(&str, &str); 7] = [
    ("size_or_fit", "Size or fit"),
    ("no_longer_needed", "No longer needed"),
    ("damaged", "Arrived damaged"),
    ("defective", "Does not work"),
    ("wrong_item", "Wrong item sent"),
    ("not_as_described", "Not as described"),
    ("other", "Other"),
];

fn words(status: &str) -> String {
    status.replace('_', " ")
}

/// Units of each line that may still be returned: delivered, and neither in a return nor
/// refunded.
fn returnable(order: &OrderView) -> Vec<(&agora_order::OrderLineView, i64)> {
    order
        .lines
        .iter()
        .map(|l| {
            let gone = l.returned_units.max(l.refunded_units);
            (l, l.delivered_units - gone)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The order page's parcels (status, carrier, tracking link), the returns, and the form to
/// ask for a return while there are returnable units.
pub fn order_section(ctx: &Ctx, order: &OrderView, error: Option<&str>) -> Markup {
    let id = enc(&order.id);
    let returnable = returnable(order);
    html! {
        @if !order.parcels.is_empty() {
            h2 { "Parcels" }
            ol.parcels #parcels {
                @for (n, p) in order.parcels.iter().enumerate() {
                    li data-status=(p.status.as_str()) {
                        strong { "Parcel " (n + 1) } ": " span.parcel-status { (words(p.status.as_str())) }
                        br;
                        span.muted { (p.lines.iter().map(|l| {
                            let title = order.lines.iter().find(|o| o.sku == l.sku).map_or(l.sku.as_str(), |o| o.title.as_str());
                            format!("{} × {title}", l.quantity)
                        }).collect::<Vec<_>>().join(", ")) }
                        @if let (Some(c), Some(t)) = (&p.carrier, &p.tracking_number) {
                            br; (c) " · " @if let Some(u) = &p.tracking_url { a href=(u) rel="noopener noreferrer" { "Track " (t) } } @else { "tracking number " (t) }
                        }
                        @if let Some(d) = p.delivered_at { br; "Delivered " (date(&d)) }
                    }
                }
            }
        }
        @if !order.returns.is_empty() {
            h2 { "Returns" }
            ul #returns { @for r in &order.returns {
                li { a href=(format!("/orders/{id}/returns/{}", enc(&r.return_id))) { "Return of " (r.lines.iter().map(|l| l.quantity).sum::<i64>()) " item(s)" } " · asked " (date(&r.opened_at)) }
            } }
        }
        @if !returnable.is_empty() {
            form #return-form method="post" action=(format!("/orders/{id}/returns")) {
                (csrf(ctx))
                input type="hidden" name="key" value=(uuid::Uuid::new_v4().to_string());
                fieldset {
                    legend { "Return items" }
                    @if let Some(e) = error { div.error role="alert" { (e) } }
                    @for (l, n) in &returnable {
                        @let sku = l.sku.as_str();
                        div.return-line {
                            label for=(format!("ret-{sku}")) { (l.title) " (up to " (n) ")" }
                            select id=(format!("ret-{sku}")) name=(format!("qty:{sku}")) {
                                @for q in 0..=*n { option value=(q) { (q) } }
                            }
                            label for=(format!("why-{sku}")) { "Why" }
                            select id=(format!("why-{sku}")) name=(format!("why:{sku}")) {
                                @for (value, label) in REASONS { option value=(value) { (label) } }
                            }
                        }
                    }
                    label for="return-note" { "Anything we should know (optional)" }
                    input #return-note type="text" name="note" maxlength="500";
                    button type="submit" { "Ask to return" }
                }
            }
        }
    }
}

/// `POST /orders/{id}/returns`: the chosen units as one return request.
pub async fn request(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let to = format!("/orders/{}", enc(&id));
    let note = form
        .get("note")
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    // The quantities come from selects, so a value that is not a number is a tampered form:
    // it counts as nothing chosen.
    let lines: Vec<_> = form_quantities(&form)
        .unwrap_or_default()
        .into_iter()
        .map(|(sku, quantity)| {
            let reason = form
                .get(&format!("why:{sku}"))
                .map_or("other", String::as_str);
            json!({"sku": sku, "quantity": quantity, "reason": reason, "note": note})
        })
        .collect();
    if lines.is_empty() {
        return Redirect::to(&format!(
            "{to}?return_error={}",
            enc("Choose at least one item to return")
        ))
        .into_response();
    }
    let creds = order_creds(&ctx, &id);
    let result = web
        .api
        .post(
            &format!("/store/orders/{}/returns", enc(&id)),
            &creds,
            form.get("key").map(String::as_str),
            &json!({"lines": lines}),
        )
        .await;
    match result {
        Ok(r) => {
            let rid = r["id"].as_str().unwrap_or_default();
            Redirect::to(&format!("{to}/returns/{}", enc(rid))).into_response()
        }
        Err(e) if e.status.is_client_error() && e.status.as_u16() != 404 => {
            let message = match e.code.as_str() {
                "order.return_window_closed" => {
                    "The return window for these items has closed.".to_string()
                }
                "order.not_delivered" => "These items have not been delivered yet.".to_string(),
                "order.exceeds_returnable" => {
                    "Some of these items are already being returned or were refunded.".to_string()
                }
                _ => e.message.clone(),
            };
            Redirect::to(&format!("{to}?return_error={}", enc(&message))).into_response()
        }
        Err(e) => error_page(&ctx, &e),
    }
}

/// `GET /orders/{id}/returns/{rid}`: the return's status, line by line.
pub async fn show(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((id, rid)): Path<(String, String)>,
) -> Page {
    let creds = order_creds(&ctx, &id);
    let r: ReturnView = web
        .api
        .get(&format!("/store/returns/{}", enc(&rid)), &creds)
        .await
        .map_err(|e| error_page(&ctx, &e))?;
    let status = r.status.as_str();
    let explain = match status {
        "requested" => "We received your request and will review it shortly.",
        "approved" => "Approved: please send the items back. We refund them once they arrive.",
        "rejected" => "We could not accept this return.",
        "cancelled" => "You withdrew this return.",
        "received" => "The items arrived; your refund is on its way.",
        "closed" => "Done: the refund went to your original payment method.",
        _ => "",
    };
    let content = html! {
        h1 { "Return " span.muted { (&r.id[..8.min(r.id.len())]) } }
        p { "Status: " strong #return-status .badge data-status=(status) { (words(status)) } }
        p { (explain) }
        @if let Some(reason) = &r.rejection_reason { p { "Reason: " (reason) } }
        div.table-wrap { table.stack {
            thead { tr { th scope="col" { "Item" } th.num scope="col" { "Qty" } th scope="col" { "Why" } th.num scope="col" { "Refunded" } } }
            tbody { @for l in &r.lines {
                tr { td { (l.title) } td.num data-label="Qty" { (l.quantity) } td data-label="Why" { (words(l.reason.as_str())) }
                     td.num data-label="Refunded" { @if let Some(m) = l.refunded { (money(m.amount_minor, m.currency.as_str())) } @else { "—" } } }
            } }
        } }
        @if let Some(t) = r.refunded_total { p { "Refunded: " strong #return-refunded { (money(t.amount_minor, t.currency.as_str())) } } }
        @if status == "requested" {
            form method="post" action=(format!("/orders/{}/returns/{}/cancel", enc(&id), enc(&rid))) {
                (csrf(&ctx))
                button.secondary type="submit" { "Withdraw this return" }
            }
        }
        p { a href=(format!("/orders/{}", enc(&id))) { "Back to the order" } }
    };
    Ok(page(&ctx, "Return", content).into_response())
}

/// `POST /orders/{id}/returns/{rid}/cancel`.
pub async fn cancel(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((id, rid)): Path<(String, String)>,
) -> Response {
    let creds = order_creds(&ctx, &id);
    let to = format!("/orders/{}/returns/{}", enc(&id), enc(&rid));
    match web
        .api
        .post(
            &format!("/store/returns/{}/cancel", enc(&rid)),
            &creds,
            None,
            &json!({}),
        )
        .await
    {
        Ok(_) => Redirect::to(&to).into_response(),
        Err(e) => error_page(&ctx, &e),
    }
}
