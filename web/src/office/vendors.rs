//! The marketplace in the back office.
//!
//! A vendor's users get their own back office: a dashboard (sales, orders to ship, low stock,
//! balance), their products and stock (the API lists only theirs), their orders, parcels and
//! returns, and their money (balance, ledger, payouts). Staff get the list of vendors and each
//! vendor's page: its review (approve, reject, suspend, reactivate), commission rules, balance,
//! ledger and payouts. Every page calls the API as the signed-in person, so the vendor and
//! order aggregates decide what each sees: another vendor's page is a 404 page.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::fulfilment::short;
use super::{back, flash, gate, get_json, key_field, office_page, Flash, Page};
use crate::api::enc;
use crate::layout::{csrf, money, money_json};
use crate::session::Ctx;
use crate::Web;

/// The vendor the signed-in person acts for, if a vendor's user.
pub fn vendor_of(ctx: &Ctx) -> Option<&str> {
    ctx.session.as_ref().and_then(|s| s.principal.vendor())
}

/// The navigation of a vendor's back office.
pub fn nav(vendor: &str) -> Markup {
    let v = enc(vendor);
    html! {
        nav aria-label="Back office" {
            ul.cats {
                li { a href="/backoffice" { "Dashboard" } }
                li { a href="/backoffice/products" { "Products" } }
                li { a href="/backoffice/inventory" { "Inventory" } }
                li { a href=(format!("/backoffice/vendors/{v}/orders")) { "Orders" } }
                li { a href=(format!("/backoffice/vendors/{v}")) { "Money" } }
                li { a href=(format!("/backoffice/vendors/{v}/reports")) { "Reports" } }
                li { a href="/backoffice/shipping" { "Shipping" } }
                li { a href="/backoffice/reviews" { "Reviews" } }
            }
        }
    }
}

fn minor(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// `GET /backoffice` for a vendor's user: its sales, orders to ship, low stock and balance.
pub async fn dashboard(web: &Web, ctx: &Ctx, vendor: &str) -> Page {
    let v = enc(vendor);
    let profile = get_json(web, ctx, &format!("/admin/vendors/{v}")).await?;
    let balance = get_json(web, ctx, &format!("/admin/vendors/{v}/balance")).await?;
    let to_ship = get_json(
        web,
        ctx,
        &format!("/admin/vendors/{v}/orders?status=confirmed&limit=20"),
    )
    .await?;
    let partly = get_json(
        web,
        ctx,
        &format!("/admin/vendors/{v}/orders?status=partially_shipped&limit=20"),
    )
    .await?;
    let recent = get_json(web, ctx, &format!("/admin/vendors/{v}/orders?limit=100")).await?;
    let low = get_json(web, ctx, "/admin/inventory/low-stock").await?;
    let c = balance["currency"].as_str().unwrap_or("EUR").to_string();
    let sold: i64 = recent["orders"]
        .as_array()
        .map(|os| os.iter().map(|o| minor(&o["subtotal_minor"])).sum())
        .unwrap_or(0);
    let empty = vec![];
    let waiting: Vec<&Value> = to_ship["orders"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .chain(partly["orders"].as_array().unwrap_or(&empty))
        .collect();
    let low_items = low["items"].as_array().cloned().unwrap_or_default();
    Ok(office_page(
        ctx,
        "Back office",
        html! {
            h1 { (profile["name"].as_str().unwrap_or("Your shop")) }
            p { "Status: " strong #vendor-status { (profile["status"].as_str().unwrap_or_default()) }
                @if let Some(r) = profile["suspension_reason"].as_str() { " · " (r) } }
            ul.stats {
                li { "Orders" strong #vendor-orders { (recent["total"].as_i64().unwrap_or(0)) @if recent["more"].as_bool() == Some(true) { "+" } } }
                li { "Sold (latest 100 orders, before tax)" strong { (money(sold, &c)) } }
                li { a href="#to-ship" { "To ship" } strong #to-ship-count { (to_ship["total"].as_i64().unwrap_or(0) + partly["total"].as_i64().unwrap_or(0)) } }
                li { a href=(format!("/backoffice/vendors/{v}")) { "Available" } strong #balance-available { (money(minor(&balance["available_minor"]), &c)) } }
                li { "Pending" strong { (money(minor(&balance["pending_minor"]), &c)) } }
                li { a href="/backoffice/inventory?low_stock=1" { "Low-stock SKUs" } strong { (low["total"].as_i64().unwrap_or(0)) } }
            }
            h2 #to-ship { "Orders to ship" }
            (order_table(&waiting, &c))
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

fn order_table(orders: &[&Value], currency: &str) -> Markup {
    html! {
        @if orders.is_empty() { div.empty { p { "No orders here." } } } @else {
            div.table-wrap { table.stack .vendor-orders {
                thead { tr { th scope="col" { "Order" } th scope="col" { "Placed" } th scope="col" { "Status" } th.num scope="col" { "Units" } th.num scope="col" { "Your lines" } th scope="col" { "Ships to" } } }
                tbody { @for o in orders {
                    @let id = o["order_id"].as_str().unwrap_or_default();
                    tr data-order=(id) {
                        td data-label="Order" { a href=(format!("/backoffice/orders/{}", enc(id))) { (short(id)) } }
                        td data-label="Placed" { (o["placed_at"].as_str().unwrap_or_default().get(..16).unwrap_or_default().replace('T', " ")) }
                        td data-label="Status" { (o["status"].as_str().unwrap_or_default()) }
                        td.num data-label="Units" { (o["units"].as_i64().unwrap_or(0)) }
                        td.num data-label="Your lines" { (money(minor(&o["subtotal_minor"]), o["currency"].as_str().unwrap_or(currency))) }
                        td data-label="Ships to" { (o["ship_city"].as_str().unwrap_or_default()) ", " (o["ship_country"].as_str().unwrap_or_default()) }
                    }
                } }
            } }
        }
    }
}

/// `GET /backoffice/vendors/{id}/orders`: the vendor's orders, its parcels and its returns.
pub async fn orders(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let v = enc(&id);
    let status = f.status_name();
    let uri = match &status {
        Some(s) => format!("/admin/vendors/{v}/orders?limit=100&status={s}"),
        None => format!("/admin/vendors/{v}/orders?limit=100"),
    };
    let list = get_json(&web, &ctx, &uri).await?;
    let parcels = get_json(
        &web,
        &ctx,
        &format!("/admin/vendors/{v}/shipments?limit=50"),
    )
    .await?;
    let returns = get_json(&web, &ctx, &format!("/admin/vendors/{v}/returns?limit=50")).await?;
    let empty = vec![];
    let rows: Vec<&Value> = list["orders"].as_array().unwrap_or(&empty).iter().collect();
    let here = format!("/backoffice/vendors/{v}/orders");
    Ok(office_page(
        &ctx,
        "Orders",
        html! {
            h1 { "Orders" }
            (flash(&f))
            nav aria-label="Order status" { ul.cats {
                li { a href=(here) aria-current=[status.is_none().then_some("page")] { "All" } }
                @for s in ["confirmed", "partially_shipped", "shipped", "delivered", "cancelled", "refunded"] {
                    li { a href=(format!("{here}?status={s}")) aria-current=[(status.as_deref() == Some(s)).then_some("page")] { (s) } }
                }
            } }
            p { (list["total"].as_i64().unwrap_or(0)) @if list["more"].as_bool() == Some(true) { "+" } " orders hold your lines. Open one to pack your parcel." }
            (order_table(&rows, "EUR"))
            h2 { "Parcels" }
            @let shipments = parcels["shipments"].as_array().cloned().unwrap_or_default();
            @if shipments.is_empty() { div.empty { p { "No parcels yet." } } } @else {
                div.table-wrap { table.stack #vendor-parcels {
                    thead { tr { th scope="col" { "Parcel" } th scope="col" { "Order" } th scope="col" { "Status" } th scope="col" { "Carrier" } th.num scope="col" { "Units" } } }
                    tbody { @for s in &shipments {
                        @let sid = s["shipment_id"].as_str().unwrap_or_default();
                        @let oid = s["order_id"].as_str().unwrap_or_default();
                        tr data-shipment=(sid) {
                            td data-label="Parcel" { a href=(format!("/backoffice/shipments/{}", enc(sid))) { (short(sid)) } }
                            td data-label="Order" { a href=(format!("/backoffice/orders/{}", enc(oid))) { (short(oid)) } }
                            td data-label="Status" { (s["status"].as_str().unwrap_or_default()) }
                            td data-label="Carrier" { (s["carrier"].as_str().unwrap_or("—")) " " (s["tracking_number"].as_str().unwrap_or_default()) }
                            td.num data-label="Units" { (s["units"].as_i64().unwrap_or(0)) }
                        }
                    } }
                } }
            }
            h2 { "Returns" }
            @let rets = returns["returns"].as_array().cloned().unwrap_or_default();
            @if rets.is_empty() { div.empty { p { "No returns." } } } @else {
                div.table-wrap { table.stack #vendor-returns {
                    thead { tr { th scope="col" { "Return" } th scope="col" { "Order" } th scope="col" { "Status" } th.num scope="col" { "Units" } } }
                    tbody { @for r in &rets {
                        @let rid = r["return_id"].as_str().unwrap_or_default();
                        @let oid = r["order_id"].as_str().unwrap_or_default();
                        tr {
                            td data-label="Return" { a href=(format!("/backoffice/returns/{}", enc(rid))) { (short(rid)) } }
                            td data-label="Order" { a href=(format!("/backoffice/orders/{}", enc(oid))) { (short(oid)) } }
                            td data-label="Status" { (r["status"].as_str().unwrap_or_default()) }
                            td.num data-label="Units" { (r["units"].as_i64().unwrap_or(0)) }
                        }
                    } }
                } }
            }
        },
    ))
}

/// `GET /backoffice/vendors`: the vendors, by status (staff).
pub async fn list(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let status = f.status_name();
    let uri = match &status {
        Some(s) => format!("/admin/vendors?limit=100&status={s}"),
        None => "/admin/vendors?limit=100".to_string(),
    };
    let list = get_json(&web, &ctx, &uri).await?;
    let vendors = list["vendors"].as_array().cloned().unwrap_or_default();
    Ok(office_page(
        &ctx,
        "Vendors",
        html! {
            h1 { "Vendors" }
            (flash(&f))
            nav aria-label="Vendor status" { ul.cats {
                li { a href="/backoffice/vendors" aria-current=[status.is_none().then_some("page")] { "All" } }
                @for s in ["applied", "active", "suspended", "rejected", "closed"] {
                    li { a href=(format!("/backoffice/vendors?status={s}")) aria-current=[(status.as_deref() == Some(s)).then_some("page")] { (s) } }
                }
            } }
            @if vendors.is_empty() { div.empty { p { "No vendors here." } } } @else {
                div.table-wrap { table.stack #vendors {
                    thead { tr { th scope="col" { "Vendor" } th scope="col" { "Status" } th scope="col" { "Country" } th scope="col" { "Contact" } th.num scope="col" { "Users" } th scope="col" { "Applied" } } }
                    tbody { @for v in &vendors {
                        @let id = v["vendor_id"].as_str().unwrap_or_default();
                        tr data-vendor=(id) {
                            td data-label="Vendor" { a href=(format!("/backoffice/vendors/{}", enc(id))) { (v["name"].as_str().unwrap_or_default()) } }
                            td data-label="Status" { (v["status"].as_str().unwrap_or_default()) }
                            td data-label="Country" { (v["country"].as_str().unwrap_or_default()) }
                            td data-label="Contact" { (v["contact_email"].as_str().unwrap_or_default()) }
                            td.num data-label="Users" { (v["users"].as_i64().unwrap_or(0)) }
                            td data-label="Applied" { (v["created_at"].as_str().unwrap_or_default().get(..10).unwrap_or_default()) }
                        }
                    } }
                } }
            }
        },
    ))
}

/// `GET /backoffice/vendors/{id}`: the vendor, its review, rules, balance, payouts and ledger.
pub async fn detail(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let v = enc(&id);
    let vendor = get_json(&web, &ctx, &format!("/admin/vendors/{v}")).await?;
    let balance = get_json(&web, &ctx, &format!("/admin/vendors/{v}/balance")).await?;
    let ledger = get_json(&web, &ctx, &format!("/admin/vendors/{v}/ledger?limit=50")).await?;
    let staff = vendor_of(&ctx).is_none();
    let c = balance["currency"].as_str().unwrap_or("EUR").to_string();
    let base = format!("/backoffice/vendors/{v}");
    let status = vendor["status"].as_str().unwrap_or_default();
    let entries = ledger["entries"].as_array().cloned().unwrap_or_default();
    let payouts = balance["payouts"].as_array().cloned().unwrap_or_default();
    let rules = vendor["commission_rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(office_page(
        &ctx,
        vendor["name"].as_str().unwrap_or("Vendor"),
        html! {
            h1 { (vendor["name"].as_str().unwrap_or_default()) }
            (flash(&f))
            p { "Status: " strong #vendor-status { (status) } " · " (vendor["legal_name"].as_str().unwrap_or_default())
                " · " (vendor["country"].as_str().unwrap_or_default()) " · " (vendor["contact_email"].as_str().unwrap_or_default())
                @if let Some(r) = vendor["suspension_reason"].as_str() { " · suspended: " (r) }
                @if let Some(r) = vendor["rejection_reason"].as_str() { " · rejected: " (r) } }
            @if !staff { p { a href=(format!("{base}/orders")) { "Your orders, parcels and returns" } } }
            p { a href=(format!("{base}/reports")) { "Sales by day" } }
            @if staff {
                div.two {
                    section {
                        h2 { "Review" }
                        @if status == "applied" {
                            form method="post" action=(format!("{base}/approve")) { (csrf(&ctx)) button #approve type="submit" { "Approve" } }
                            form.inline-form method="post" action=(format!("{base}/reject")) { (csrf(&ctx))
                                div { label for="reject-reason" { "Why not" } input #reject-reason type="text" name="reason" required maxlength="500"; }
                                button.secondary type="submit" { "Reject" } }
                        }
                        @if status == "active" {
                            form.inline-form method="post" action=(format!("{base}/suspend")) { (csrf(&ctx))
                                div { label for="suspend-reason" { "Why" } input #suspend-reason type="text" name="reason" required maxlength="500"; }
                                button.secondary #suspend type="submit" { "Suspend: off the storefront" } }
                        }
                        @if status == "suspended" {
                            form method="post" action=(format!("{base}/reactivate")) { (csrf(&ctx)) button #reactivate type="submit" { "Reactivate" } }
                        }
                        p { a href=(format!("{base}/orders")) { "Its orders, parcels and returns" } }
                        p { a #vendor-shipping href=(format!("/backoffice/shipping?vendor={v}")) { "Its shipping rates" } }
                    }
                    section {
                        h2 { "Commission rules" }
                        @if rules.is_empty() { p { "None: the platform keeps nothing of its sales." } } @else {
                            ul #rules { @for r in &rules { li {
                                (r["rule_id"].as_str().unwrap_or_default()) ": " (format!("{:.2} %", r["percent_bp"].as_i64().unwrap_or(0) as f64 / 100.0))
                                @if let Some(fee) = r.get("fixed").filter(|f| !f.is_null()) { " + " (money_json(fee)) }
                                @if let Some(cat) = r["category"].as_str() { " on " (cat) }
                                " from " (r["effective_from"].as_str().unwrap_or_default().get(..16).unwrap_or_default().replace('T', " "))
                            } } }
                        }
                        form.inline-form #rule-form method="post" action=(format!("{base}/rules")) {
                            (csrf(&ctx))
                            div { label for="rule-id" { "Rule id" } input #rule-id type="text" name="rule_id" required maxlength="64" pattern="[A-Za-z0-9._-]+"; }
                            div { label for="rule-percent" { "Percent" } input #rule-percent type="text" inputmode="decimal" name="percent" required; }
                            div { label for="rule-fee" { "Fee per line (" (c) ")" } input #rule-fee type="text" inputmode="decimal" name="fee"; }
                            div { label for="rule-category" { "Category (optional)" } input #rule-category type="text" name="category" maxlength="64"; }
                            div { label for="rule-from" { "From (UTC, never in the past)" } input #rule-from type="datetime-local" name="from" required; }
                            button type="submit" { "Add rule" }
                        }
                    }
                }
            }
            h2 { "Balance" }
            ul.stats {
                li { "Available" strong #available { (money(minor(&balance["available_minor"]), &c)) } }
                li { "Pending (return window)" strong #pending { (money(minor(&balance["pending_minor"]), &c)) } }
                li { "Paid out" strong #paid-out { (money(minor(&balance["paid_out_minor"]), &c)) } }
                li { "Payouts on their way" strong { (money(minor(&balance["payouts_outstanding_minor"]), &c)) } }
            }
            form.inline-form #payout-form method="post" action=(format!("{base}/payouts")) {
                (csrf(&ctx))
                (key_field())
                div { label for="payout-amount" { "Amount (" (c) "; empty: everything available)" } input #payout-amount type="text" inputmode="decimal" name="amount"; }
                button type="submit" { "Pay out" }
            }
            h2 { "Payouts" }
            @if payouts.is_empty() { div.empty { p { "No payouts yet." } } } @else {
                div.table-wrap { table.stack #payouts {
                    thead { tr { th scope="col" { "Requested" } th.num scope="col" { "Amount" } th scope="col" { "Status" } th scope="col" { "Transfer" } } }
                    tbody { @for p in &payouts { tr {
                        td data-label="Requested" { (p["requested_at"].as_str().unwrap_or_default().get(..16).unwrap_or_default().replace('T', " ")) }
                        td.num data-label="Amount" { (money_json(&p["amount"])) }
                        td.payout-status data-label="Status" { (p["status"].as_str().unwrap_or_default()) @if let Some(r) = p["reason"].as_str() { ": " (r) } }
                        td data-label="Transfer" { (p["transfer_id"].as_str().unwrap_or("—")) }
                    } } }
                } }
            }
            h2 { "Ledger" }
            p { "Every figure comes from one recorded event of its order." }
            @if entries.is_empty() { div.empty { p { "No sales yet." } } } @else {
                div.table-wrap { table.stack #ledger {
                    thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Order" } th scope="col" { "SKU" } th.num scope="col" { "Amount" } th scope="col" { "Available from" } th scope="col" { "Event" } } }
                    tbody { @for e in &entries {
                        @let order = e["order_id"].as_str().unwrap_or_default();
                        tr data-kind=(e["kind"].as_str().unwrap_or_default()) {
                            td data-label="When" { (e["at"].as_str().unwrap_or_default().get(..16).unwrap_or_default().replace('T', " ")) }
                            td data-label="What" { (e["kind"].as_str().unwrap_or_default()) @if let Some(r) = e["rule_id"].as_str() { " (" (r) ")" } }
                            td data-label="Order" { a href=(format!("/backoffice/orders/{}", enc(order))) { (short(order)) } }
                            td data-label="SKU" { (e["sku"].as_str().unwrap_or("—")) }
                            td.num data-label="Amount" { (money_json(&e["amount"])) }
                            td data-label="Available from" { (e["available_at"].as_str().unwrap_or("at once").get(..16).unwrap_or("at once").replace('T', " ")) }
                            td data-label="Event" { (e["source"]["aggregate_type"].as_str().unwrap_or_default()) " #" (e["source"]["sequence"].as_i64().unwrap_or(0)) }
                        }
                    } }
                } }
            }
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /backoffice/vendors/{id}/{action}`: approve, reject, suspend or reactivate.
pub async fn action(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ReasonForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("/backoffice/vendors/{}", enc(&id));
    if !["approve", "reject", "suspend", "reactivate"].contains(&action.as_str()) {
        return Redirect::to(&to).into_response();
    }
    let body = match form.reason.filter(|r| !r.trim().is_empty()) {
        Some(reason) => json!({"reason": reason.trim()}),
        None => json!({}),
    };
    let result = web
        .api
        .post(
            &format!("/admin/vendors/{}/{action}", enc(&id)),
            &ctx.person(),
            None,
            &body,
        )
        .await;
    back(&to, result, &ctx)
}

/// Minor units (or basis points) from what people type: `12`, `12.5`, `12,50`.
fn minor_units(text: &str) -> Option<i64> {
    crate::store::major_to_minor(&text.trim().replace(',', "."))
}

#[derive(Debug, Deserialize)]
pub struct RuleForm {
    rule_id: String,
    percent: String,
    #[serde(default)]
    fee: Option<String>,
    #[serde(default)]
    category: Option<String>,
    from: String,
}

/// `POST /backoffice/vendors/{id}/rules`: a commission rule from a moment on.
pub async fn rule(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<RuleForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("/backoffice/vendors/{}", enc(&id));
    let Some(percent_bp) = minor_units(&form.percent) else {
        return super::back_with_error(&to, "The percent is a number such as 12 or 12.5.");
    };
    let fee = match form.fee.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => match minor_units(f) {
            Some(m) => Some(json!({"amount_minor": m, "currency": "EUR"})),
            None => return super::back_with_error(&to, "The fee is an amount such as 0.50."),
        },
    };
    // A datetime-local field has no zone: it is read as UTC, as the label says.
    let from = match chrono::NaiveDateTime::parse_from_str(form.from.trim(), "%Y-%m-%dT%H:%M") {
        Ok(t) => t.and_utc(),
        Err(_) => return super::back_with_error(&to, "Give the start as a date and time."),
    };
    let body = json!({
        "rule_id": form.rule_id.trim(),
        "percent_bp": percent_bp,
        "fixed": fee,
        "category": form.category.as_deref().map(str::trim).filter(|c| !c.is_empty()),
        "effective_from": from,
    });
    let result = web
        .api
        .post(
            &format!("/admin/vendors/{}/commission-rules", enc(&id)),
            &ctx.person(),
            None,
            &body,
        )
        .await;
    back(&to, result, &ctx)
}

#[derive(Debug, Deserialize)]
pub struct PayoutForm {
    #[serde(default)]
    amount: Option<String>,
    key: String,
}

/// `POST /backoffice/vendors/{id}/payouts`: pays the vendor out now (the form's key names the
/// payout, so a double submit pays once).
pub async fn payout(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<PayoutForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = format!("/backoffice/vendors/{}", enc(&id));
    let body = match form
        .amount
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        None => json!({}),
        Some(a) => match minor_units(a) {
            Some(m) => json!({"amount": {"amount_minor": m, "currency": "EUR"}}),
            None => return super::back_with_error(&to, "The amount is a sum such as 25.00."),
        },
    };
    let result = web
        .api
        .post(
            &format!("/admin/vendors/{}/payouts", enc(&id)),
            &ctx.person(),
            Some(&form.key),
            &body,
        )
        .await;
    back(&to, result, &ctx)
}

#[cfg(test)]
mod tests {
    use super::minor_units;

    #[test]
    fn amounts_are_read_as_people_type_them() {
        assert_eq!(minor_units("12"), Some(1200));
        assert_eq!(minor_units("12.5"), Some(1250));
        assert_eq!(minor_units("12,05"), Some(1205));
        assert_eq!(minor_units("0.50"), Some(50));
        assert_eq!(minor_units("1.234"), None);
        assert_eq!(minor_units("-3"), None);
        assert_eq!(minor_units("abc"), None);
    }
}

/// The days of a sales report: `from` and `to` as typed, or the last 30 days.
#[derive(Debug, Default, Deserialize)]
pub struct ReportRange {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

impl ReportRange {
    fn days(&self) -> (String, String) {
        let today = chrono::Utc::now().date_naive();
        let pick = |v: &Option<String>, default: chrono::NaiveDate| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map_or_else(|| default.to_string(), str::to_string)
        };
        (
            pick(&self.from, today - chrono::Duration::days(29)),
            pick(&self.to, today),
        )
    }
}

async fn sales_report(
    web: &Web,
    ctx: &Ctx,
    id: &str,
    range: &ReportRange,
) -> Result<(Value, String, String), Response> {
    let (from, to) = range.days();
    let report = get_json(
        web,
        ctx,
        &format!(
            "/admin/vendors/{}/reports/sales?from={}&to={}",
            enc(id),
            enc(&from),
            enc(&to)
        ),
    )
    .await?;
    Ok((report, from, to))
}

/// `GET /backoffice/vendors/{id}/reports`: the vendor's sales by day (its ledger), for its own
/// users and staff, with a CSV download.
pub async fn reports(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(range): Query<ReportRange>,
) -> Page {
    gate(&ctx)?;
    let vendor = get_json(&web, &ctx, &format!("/admin/vendors/{}", enc(&id))).await?;
    let (report, from, to) = sales_report(&web, &ctx, &id, &range).await?;
    let days = report["items"].as_array().cloned().unwrap_or_default();
    let base = format!("/backoffice/vendors/{}", enc(&id));
    let total = |field: &str| days.iter().map(|d| minor(&d[field])).sum::<i64>();
    let currency = days
        .first()
        .and_then(|d| d["currency"].as_str())
        .unwrap_or("EUR")
        .to_string();
    let name = vendor["name"].as_str().unwrap_or("Vendor").to_string();
    Ok(office_page(
        &ctx,
        &format!("{name}: sales"),
        html! {
            h1 { (name) ": sales by day" }
            form.inline-form method="get" action=(format!("{base}/reports")) {
                div { label for="from" { "From" } input #from type="date" name="from" value=(from); }
                div { label for="to" { "To" } input #to type="date" name="to" value=(to); }
                button type="submit" { "Show" }
            }
            p { a #sales-csv href=(format!("{base}/reports/sales.csv?from={}&to={}", enc(&from), enc(&to))) { "Download CSV" } }
            @if days.is_empty() { p.empty { "No sales in these days." } } @else {
                table #sales-days {
                    thead { tr { th { "Day" } th { "Orders" } th { "Sales" } th { "Commission" } th { "Refunds" } th { "Chargebacks" } th { "Adjustments" } th { "Net" } } }
                    tbody {
                        @for d in &days {
                            @let c = d["currency"].as_str().unwrap_or("EUR");
                            tr data-day=(d["day"].as_str().unwrap_or_default()) {
                                td { (d["day"].as_str().unwrap_or_default()) }
                                td { (minor(&d["orders"])) }
                                td { (money(minor(&d["sales_minor"]), c)) }
                                td { (money(minor(&d["commission_minor"]), c)) }
                                td { (money(minor(&d["refunds_minor"]), c)) }
                                td { (money(minor(&d["chargebacks_minor"]), c)) }
                                td { (money(minor(&d["adjustments_minor"]), c)) }
                                td.net { (money(minor(&d["net_minor"]), c)) }
                            }
                        }
                    }
                    tfoot { tr {
                        th { "Total" } td { (total("orders")) }
                        td { (money(total("sales_minor"), &currency)) }
                        td { (money(total("commission_minor"), &currency)) }
                        td { (money(total("refunds_minor"), &currency)) }
                        td { (money(total("chargebacks_minor"), &currency)) }
                        td { (money(total("adjustments_minor"), &currency)) }
                        td #net-total { (money(total("net_minor"), &currency)) }
                    } }
                }
            }
        },
    )
    .into_response())
}

/// `GET /backoffice/vendors/{id}/reports/sales.csv`: the same days, to save.
pub async fn reports_csv(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(range): Query<ReportRange>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let (report, _, _) = match sales_report(&web, &ctx, &id, &range).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let fields = [
        "orders",
        "sales_minor",
        "commission_minor",
        "refunds_minor",
        "chargebacks_minor",
        "adjustments_minor",
        "net_minor",
    ];
    let mut csv = format!("day,currency,{}\n", fields.join(","));
    for d in report["items"].as_array().cloned().unwrap_or_default() {
        csv.push_str(d["day"].as_str().unwrap_or_default());
        csv.push(',');
        csv.push_str(d["currency"].as_str().unwrap_or_default());
        for f in fields {
            csv.push_str(&format!(",{}", minor(&d[f])));
        }
        csv.push('\n');
    }
    super::csv_download("sales.csv", csv)
}
