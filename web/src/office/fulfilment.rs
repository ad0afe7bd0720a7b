//! The back office's fulfilment: the queue of orders to pack (oldest first), packing an
//! order's units into parcels, each parcel's page (packing slip, hand-over, tracking), and
//! the returns to review and receive. Everything goes through the API's `/admin/fulfilment`,
//! `/admin/orders/{id}/shipments`, `/admin/shipments` and `/admin/returns` routes.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use serde_json::json;

use super::{back, back_with_error, flash, gate, get_json, key_field, office_page, Flash, Page};
use crate::api::enc;
use crate::layout::{csrf, date, error_page, form_quantities, money};
use crate::session::Ctx;
use crate::Web;
use agora_fulfilment::ShipmentView;
use agora_order::OrderView;
use agora_returns::ReturnView;

const RETURNS: &str = "/backoffice/returns";

pub(super) fn short(id: &str) -> &str {
    &id[..8.min(id.len())]
}

/// A status as people read it: `out_for_delivery` → "out for delivery".
fn words(status: &str) -> String {
    status.replace('_', " ")
}

/// `GET /backoffice/fulfilment`: orders waiting to be packed, oldest first, and the latest
/// parcels.
pub async fn queue(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let queue = get_json(&web, &ctx, "/admin/fulfilment/queue?limit=100").await?;
    let shipments = get_json(&web, &ctx, "/admin/shipments?limit=50").await?;
    let empty = vec![];
    let orders = queue["orders"].as_array().unwrap_or(&empty);
    let parcels = shipments["shipments"].as_array().unwrap_or(&empty);
    Ok(office_page(
        &ctx,
        "Fulfilment",
        html! {
            h1 { "Fulfilment" }
            (flash(&f))
            h2 { "To pack " span.muted { "(" (queue["total"].as_i64().unwrap_or(0)) ", oldest first)" } }
            @if orders.is_empty() { div.empty { p { "Nothing to pack: every paid order is on its way." } } } @else {
                div.table-wrap { table.stack #queue {
                    thead { tr { th scope="col" { "Order" } th scope="col" { "Placed" } th scope="col" { "Status" } th.num scope="col" { "Units" } th.num scope="col" { "Total" } } }
                    tbody { @for o in orders {
                        @let id = o["order_id"].as_str().unwrap_or_default();
                        tr data-order=(id) {
                            td data-label="Order" { a href=(format!("/backoffice/orders/{}#pack", enc(id))) { (short(id)) } " " span.muted { (o["email"].as_str().unwrap_or_default()) } }
                            td data-label="Placed" { (o["placed_at"].as_str().unwrap_or_default().get(..16).unwrap_or_default().replace('T', " ")) }
                            td data-label="Status" { (words(o["status"].as_str().unwrap_or_default())) }
                            td.num data-label="Units" { (o["item_count"].as_i64().unwrap_or(0)) }
                            td.num data-label="Total" { (money(o["total_minor"].as_i64().unwrap_or(0), o["currency"].as_str().unwrap_or("EUR"))) }
                        }
                    } }
                } }
            }
            h2 { "Latest parcels" }
            @if parcels.is_empty() { p.muted { "No parcels yet." } } @else {
                div.table-wrap { table.stack #parcels {
                    thead { tr { th scope="col" { "Parcel" } th scope="col" { "Order" } th scope="col" { "Status" } th scope="col" { "Carrier" } th.num scope="col" { "Units" } } }
                    tbody { @for p in parcels {
                        @let id = p["shipment_id"].as_str().unwrap_or_default();
                        @let order = p["order_id"].as_str().unwrap_or_default();
                        tr data-shipment=(id) {
                            td data-label="Parcel" { a href=(format!("/backoffice/shipments/{}", enc(id))) { (short(id)) } }
                            td data-label="Order" { a href=(format!("/backoffice/orders/{}", enc(order))) { (short(order)) } }
                            td data-label="Status" { (words(p["status"].as_str().unwrap_or_default())) }
                            td data-label="Carrier" { (p["carrier"].as_str().unwrap_or("—")) " " span.muted { (p["tracking_number"].as_str().unwrap_or("")) } }
                            td.num data-label="Units" { (p["units"].as_i64().unwrap_or(0)) }
                        }
                    } }
                } }
            }
        },
    ))
}

/// The order page's parcels and the form that packs the next one (every unit not packed yet,
/// by default).
pub fn order_parcels(ctx: &Ctx, order: &OrderView) -> Markup {
    let base = format!("/backoffice/orders/{}", enc(&order.id));
    let left: Vec<_> = order
        .lines
        .iter()
        .filter(|l| l.quantity > l.allocated_units)
        .collect();
    html! {
        h2 #pack { "Parcels" }
        @if order.parcels.is_empty() { p.muted { "No parcel packed yet." } } @else {
            ul.parcels {
                @for p in &order.parcels {
                    li data-shipment=(p.shipment_id) {
                        a href=(format!("/backoffice/shipments/{}", enc(&p.shipment_id))) { "Parcel " (short(&p.shipment_id)) }
                        " · " strong.parcel-status { (words(p.status.as_str())) }
                        " · " (p.lines.iter().map(|l| format!("{} × {}", l.quantity, l.sku.as_str())).collect::<Vec<_>>().join(", "))
                        @if let (Some(c), Some(t)) = (&p.carrier, &p.tracking_number) { " · " (c) " " (t) }
                    }
                }
            }
        }
        @if !left.is_empty() && matches!(order.status, agora_order::OrderStatus::Confirmed | agora_order::OrderStatus::PartiallyShipped) {
            form #pack-form method="post" action=(format!("{base}/shipments")) {
                (csrf(ctx))
                (key_field())
                fieldset {
                    legend { "Pack a parcel" }
                    @for l in &left {
                        @let field = format!("qty-{}", l.sku.as_str());
                        div {
                            label for=(field) { (l.title) " (" (l.sku.as_str()) "), " (l.quantity - l.allocated_units) " to pack" }
                            input id=(field) type="number" name=(format!("qty:{}", l.sku.as_str())) min="0" max=(l.quantity - l.allocated_units) value=(l.quantity - l.allocated_units);
                        }
                    }
                    button type="submit" { "Pack parcel" }
                }
            }
        }
    }
}

/// `POST /backoffice/orders/{id}/shipments`: the quantities typed, as one parcel.
pub async fn pack(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("/backoffice/orders/{}", enc(&id));
    let lines: Vec<_> = match form_quantities(&form) {
        Ok(lines) => lines
            .into_iter()
            .map(|(sku, q)| json!({"sku": sku, "quantity": q}))
            .collect(),
        Err(message) => return back_with_error(&to, message),
    };
    if lines.is_empty() {
        return back_with_error(&to, "Choose at least one unit to pack");
    }
    let key = form.get("key").map(String::as_str);
    let result = web
        .api
        .post(
            &format!("/admin/orders/{}/shipments", enc(&id)),
            &ctx.person(),
            key,
            &json!({"lines": lines}),
        )
        .await;
    match result {
        Ok(shipment) => {
            let sid = shipment["id"].as_str().unwrap_or_default();
            Redirect::to(&format!("/backoffice/shipments/{}?notice=done", enc(sid))).into_response()
        }
        Err(e) => back_with_error(&to, &e.message),
    }
}

fn address_lines(s: &ShipmentView) -> Markup {
    let a = &s.address;
    html! {
        (a.name) br;
        (a.line1) br;
        @if let Some(l2) = &a.line2 { (l2) br; }
        (a.postal_code) " " (a.city) br;
        @if let Some(r) = &a.region { (r) ", " }
        (a.country)
    }
}

/// `GET /backoffice/shipments/{id}`: the parcel, its scans, the hand-over and cancel forms.
pub async fn shipment(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let s: ShipmentView = web
        .api
        .get(&format!("/admin/shipments/{}", enc(&id)), &ctx.person())
        .await
        .map_err(|e| error_page(&ctx, &e))?;
    let base = format!("/backoffice/shipments/{}", enc(&id));
    let status = s.status.as_str();
    Ok(office_page(
        &ctx,
        "Parcel",
        html! {
            h1 { "Parcel " (short(&s.id)) }
            (flash(&f))
            p { "Status: " strong #shipment-status { (words(status)) } " · order " a href=(format!("/backoffice/orders/{}", enc(&s.order_id))) { (short(&s.order_id)) }
                " · " a #slip-link href=(format!("{base}/slip")) target="_blank" { "Packing slip" } }
            div.two {
                section {
                    h2 { "Contents" }
                    div.table-wrap { table.stack {
                        thead { tr { th scope="col" { "SKU" } th scope="col" { "Item" } th.num scope="col" { "Qty" } } }
                        tbody { @for l in &s.lines { tr { td data-label="SKU" { (l.sku.as_str()) } td data-label="Item" { (l.title) } td.num data-label="Qty" { (l.quantity) } } } }
                    } }
                    h2 { "Ship to" }
                    p { (address_lines(&s)) }
                    @if status == "packing" {
                        h2 { "Hand over" }
                        form #hand-over method="post" action=(format!("{base}/hand-over")) {
                            (csrf(&ctx))
                            (key_field())
                            div { label for="carrier" { "Carrier" } input #carrier type="text" name="carrier" required maxlength="64"; }
                            div { label for="tracking" { "Tracking number" } input #tracking type="text" name="tracking_number" required maxlength="64"; }
                            div { label for="tracking-url" { "Tracking link (optional)" } input #tracking-url type="url" name="tracking_url" maxlength="500"; }
                            button type="submit" { "Hand over to carrier" }
                        }
                        form.inline-form method="post" action=(format!("{base}/cancel")) {
                            (csrf(&ctx))
                            button.secondary type="submit" { "Cancel parcel" }
                        }
                    } @else if let (Some(c), Some(t)) = (&s.carrier, &s.tracking_number) {
                        p { "With " strong { (c) } ", tracking number " strong #tracking-number { (t) }
                            @if let Some(u) = &s.tracking_url { " · " a href=(u) rel="noopener noreferrer" { "track" } } }
                    }
                }
                section {
                    h2 { "Tracking" }
                    @if s.history.is_empty() { p.muted { "No scans yet." } } @else {
                        ol.timeline #tracking-history { @for h in s.history.iter().rev() {
                            li { strong { (words(h.status.as_str())) } " · " (date(&h.occurred_at))
                                @if let Some(l) = &h.location { " · " (l) }
                                @if let Some(d) = &h.description { br; span.muted { (d) } } }
                        } }
                    }
                }
            }
        },
    ))
}

/// `GET /backoffice/shipments/{id}/slip`: the packing slip, a page of its own for the printer.
pub async fn slip(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Page {
    gate(&ctx)?;
    let s: ShipmentView = web
        .api
        .get(&format!("/admin/shipments/{}", enc(&id)), &ctx.person())
        .await
        .map_err(|e| error_page(&ctx, &e))?;
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Packing slip " (short(&s.id)) }
                link rel="stylesheet" href="/assets/site.css";
                script src="/assets/live.js" defer {}
            }
            body.slip {
                main {
                    h1 { "Packing slip" }
                    p { "Parcel " strong { (s.id) } br; "Order " strong { (s.order_id) } br; "Packed " (date(&s.created_at)) }
                    h2 { "Ship to" }
                    p.box { (address_lines(&s)) }
                    h2 { "Contents" }
                    table {
                        thead { tr { th scope="col" { "SKU" } th scope="col" { "Item" } th.num scope="col" { "Qty" } th scope="col" { "Packed" } } }
                        tbody { @for l in &s.lines { tr { td { (l.sku.as_str()) } td { (l.title) } td.num { (l.quantity) } td { "☐" } } } }
                    }
                    p { "Units: " (s.lines.iter().map(|l| l.quantity).sum::<i64>()) }
                    p.noprint { button type="button" data-print { "Print" } }
                }
            }
        }
    };
    Ok(Html(markup.into_string()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct HandOverForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_number: String,
    #[serde(default)]
    tracking_url: String,
}

pub async fn hand_over(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<HandOverForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let url = Some(form.tracking_url.trim()).filter(|u| !u.is_empty());
    let result = web
        .api
        .post(
            &format!("/admin/shipments/{}/hand-over", enc(&id)),
            &ctx.person(),
            form.key.as_deref(),
            &json!({"carrier": form.carrier.trim(), "tracking_number": form.tracking_number.trim(), "tracking_url": url}),
        )
        .await;
    back(&format!("/backoffice/shipments/{}", enc(&id)), result, &ctx)
}

pub async fn cancel_shipment(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    super::act(
        &web,
        &ctx,
        &format!("/admin/shipments/{}/cancel", enc(&id)),
        &format!("/backoffice/shipments/{}", enc(&id)),
    )
    .await
}

/// `GET /backoffice/returns`: returns, newest first, by status.
pub async fn returns(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let status = f.status_name();
    let uri = match &status {
        Some(s) => format!("/admin/returns?limit=100&status={s}"),
        None => "/admin/returns?limit=100".to_string(),
    };
    let list = get_json(&web, &ctx, &uri).await?;
    let empty = vec![];
    let rows = list["returns"].as_array().unwrap_or(&empty);
    Ok(office_page(
        &ctx,
        "Returns",
        html! {
            h1 { "Returns" }
            (flash(&f))
            nav aria-label="Return status" { ul.cats {
                li { a href=(RETURNS) aria-current=[status.is_none().then_some("page")] { "All" } }
                @for s in ["requested", "approved", "received", "closed", "rejected", "cancelled"] {
                    li { a href=(format!("{RETURNS}?status={s}")) aria-current=[(status.as_deref() == Some(s)).then_some("page")] { (s) } }
                }
            } }
            @if rows.is_empty() { div.empty { p { "No returns here." } } } @else {
                div.table-wrap { table.stack #returns {
                    thead { tr { th scope="col" { "Return" } th scope="col" { "Order" } th scope="col" { "Status" } th.num scope="col" { "Units" } th.num scope="col" { "Refunded" } th scope="col" { "Requested" } } }
                    tbody { @for r in rows {
                        @let id = r["return_id"].as_str().unwrap_or_default();
                        @let order = r["order_id"].as_str().unwrap_or_default();
                        tr data-return=(id) {
                            td data-label="Return" { a href=(format!("{RETURNS}/{}", enc(id))) { (short(id)) } }
                            td data-label="Order" { a href=(format!("/backoffice/orders/{}", enc(order))) { (short(order)) } }
                            td data-label="Status" { (r["status"].as_str().unwrap_or_default()) }
                            td.num data-label="Units" { (r["units"].as_i64().unwrap_or(0)) }
                            td.num data-label="Refunded" { @if let Some(m) = r["refunded_minor"].as_i64() { (money(m, r["currency"].as_str().unwrap_or("EUR"))) } @else { "—" } }
                            td data-label="Requested" { (r["created_at"].as_str().unwrap_or_default().get(..16).unwrap_or_default().replace('T', " ")) }
                        }
                    } }
                } }
            }
        },
    ))
}

/// `GET /backoffice/returns/{id}`: the lines with their reasons, and what staff can do next.
pub async fn return_detail(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let r: ReturnView = web
        .api
        .get(&format!("/admin/returns/{}", enc(&id)), &ctx.person())
        .await
        .map_err(|e| error_page(&ctx, &e))?;
    let base = format!("{RETURNS}/{}", enc(&id));
    let status = r.status.as_str();
    Ok(office_page(
        &ctx,
        "Return",
        html! {
            h1 { "Return " (short(&r.id)) }
            (flash(&f))
            p { "Status: " strong #return-status { (status) } " · order " a href=(format!("/backoffice/orders/{}", enc(&r.order_id))) { (short(&r.order_id)) } " · requested " (date(&r.requested_at)) }
            @if let Some(reason) = &r.rejection_reason { p { "Rejected: " (reason) } }
            div.table-wrap { table.stack #return-lines {
                thead { tr { th scope="col" { "Item" } th.num scope="col" { "Asked" } th scope="col" { "Reason" } th.num scope="col" { "Received" } th scope="col" { "Stock" } th.num scope="col" { "Refunded" } } }
                tbody { @for l in &r.lines {
                    tr data-sku=(l.sku.as_str()) {
                        td data-label="Item" { (l.title) br; span.muted { (l.sku.as_str()) } }
                        td.num data-label="Asked" { (l.quantity) }
                        td data-label="Reason" { (words(l.reason.as_str())) @if let Some(n) = &l.note { br; span.muted { "“" (n) "”" } } }
                        td.num data-label="Received" { @if let Some(q) = l.received_quantity { (q) } @else { "—" } }
                        td data-label="Stock" { @if let Some(d) = l.disposition { (words(d.as_str())) @if l.stock_moved { " ✓" } } @else { "—" } }
                        td.num.refunded data-label="Refunded" { @if let Some(m) = l.refunded { (money(m.amount_minor, m.currency.as_str())) } @else { "—" } }
                    }
                } }
            } }
            @if let Some(s) = r.shipping_refund { p { "Shipping refunded: " (money(s.amount_minor, s.currency.as_str())) } }
            @if let Some(t) = r.refunded_total { p { "Refunded in total: " strong #refunded-total { (money(t.amount_minor, t.currency.as_str())) } } }
            @if let Some(fail) = &r.last_refund_failure { div.error role="alert" { "The last refund failed: " (fail.reason) } }
            @if status == "requested" {
                div.two {
                    form #approve method="post" action=(format!("{base}/approve")) { (csrf(&ctx)) button type="submit" { "Approve return" } }
                    form #reject method="post" action=(format!("{base}/reject")) {
                        (csrf(&ctx))
                        label for="reject-reason" { "Why not (the shopper reads this)" }
                        input #reject-reason type="text" name="reason" required maxlength="500";
                        button.secondary type="submit" { "Reject return" }
                    }
                }
            }
            @if status == "approved" {
                form #receive method="post" action=(format!("{base}/receive")) {
                    (csrf(&ctx))
                    fieldset {
                        legend { "Receive the parcel" }
                        @for l in &r.lines {
                            @let sku = l.sku.as_str();
                            div {
                                label for=(format!("recv-{sku}")) { (l.title) " (" (sku) "): units that arrived" }
                                input id=(format!("recv-{sku}")) type="number" name=(format!("qty:{sku}")) min="0" max=(l.quantity) value=(l.quantity);
                                label for=(format!("disp-{sku}")) { "What becomes of them" }
                                select id=(format!("disp-{sku}")) name=(format!("disp:{sku}")) {
                                    option value="restock" { "Back in stock" }
                                    option value="write_off" { "Write off (damaged)" }
                                }
                            }
                        }
                        button type="submit" { "Receive and refund" }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    reason: String,
}

pub async fn approve(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    super::act(
        &web,
        &ctx,
        &format!("/admin/returns/{}/approve", enc(&id)),
        &format!("{RETURNS}/{}", enc(&id)),
    )
    .await
}

pub async fn reject(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<RejectForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let result = web
        .api
        .post(
            &format!("/admin/returns/{}/reject", enc(&id)),
            &ctx.person(),
            None,
            &json!({"reason": form.reason.trim()}),
        )
        .await;
    back(&format!("{RETURNS}/{}", enc(&id)), result, &ctx)
}

pub async fn receive(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("{RETURNS}/{}", enc(&id));
    let lines: Vec<_> = match form_quantities(&form) {
        Ok(lines) => lines
            .into_iter()
            .map(|(sku, q)| {
                let disposition = form
                    .get(&format!("disp:{sku}"))
                    .map_or("restock", String::as_str);
                json!({"sku": sku, "quantity": q, "disposition": disposition})
            })
            .collect(),
        Err(message) => return back_with_error(&to, message),
    };
    if lines.is_empty() {
        return back_with_error(&to, "Enter the units that arrived");
    }
    let result = web
        .api
        .post(
            &format!("/admin/returns/{}/receive", enc(&id)),
            &ctx.person(),
            None,
            &json!({"lines": lines}),
        )
        .await;
    back(&to, result, &ctx)
}
