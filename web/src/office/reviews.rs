//! Reviews in the back office: staff moderate (approve, reject with a reason) and answer; a
//! vendor's users see the reviews of their own products and answer the published ones. Every
//! page calls the API as the signed-in person, so the review aggregate decides who may do
//! what, and a vendor's list holds only its products' reviews.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{back, flash, gate, get_json, key_field, office_page, vendors, Flash, Page};
use crate::api::enc;
use crate::layout::csrf;
use crate::session::Ctx;
use crate::Web;

/// `★★★☆☆` for a rating of 1 to 5.
pub fn stars(rating: i64) -> String {
    let full = rating.clamp(0, 5) as usize;
    format!("{}{}", "★".repeat(full), "☆".repeat(5 - full))
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

fn review_row(ctx: &Ctx, r: &Value, staff: bool) -> Markup {
    let id = text(r, "id");
    let status = text(r, "status");
    let base = format!("/backoffice/reviews/{}", enc(id));
    html! {
        tr data-review=(id) data-status=(status) {
            td data-label="Product" {
                a href=(format!("/products/{}", enc(text(r, "product_id")))) { (r["product_title"].as_str().unwrap_or("(product)")) }
            }
            td data-label="Rating" { span.stars aria-label=(format!("{} of 5 stars", r["rating"].as_i64().unwrap_or(0))) { (stars(r["rating"].as_i64().unwrap_or(0))) } }
            td data-label="Review" {
                strong { (text(r, "title")) }
                @if !text(r, "body").is_empty() { p { (text(r, "body")) } }
                p.muted { "by " (text(r, "author_name")) @if r["verified_purchase"].as_bool() == Some(true) { " · " span.badge.ok { "Verified purchase" } } }
                @if let Some(reason) = r["rejection_reason"].as_str() { p.muted { "Rejected: " (reason) } }
                @if let Some(answer) = r["response"].as_str() { p.response { "Answer: " (answer) } }
            }
            td data-label="Status" { span.status { (status) } }
            td data-label="Actions" {
                @if staff && status == "pending" {
                    form method="post" action=(format!("{base}/approve")) { (csrf(ctx)) (key_field()) button.approve type="submit" { "Approve" } }
                }
                @if staff && (status == "pending" || status == "approved") {
                    form.inline-form method="post" action=(format!("{base}/reject")) { (csrf(ctx)) (key_field())
                        label for=(format!("reason-{id}")) { "Reason" }
                        input id=(format!("reason-{id}")) type="text" name="reason" required maxlength="500";
                        button.secondary type="submit" { "Reject" } }
                }
                @if status == "approved" {
                    form.inline-form method="post" action=(format!("{base}/respond")) { (csrf(ctx)) (key_field())
                        label for=(format!("answer-{id}")) { "Answer" }
                        input id=(format!("answer-{id}")) type="text" name="text" required maxlength="2000" value=(r["response"].as_str().unwrap_or_default());
                        button.secondary type="submit" { "Answer" } }
                }
            }
        }
    }
}

/// `GET /backoffice/reviews`: staff see the moderation queue (pending first), a vendor's user
/// the reviews of its products.
pub async fn list(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let staff = vendors::vendor_of(&ctx).is_none();
    let status = f
        .status_name()
        .or_else(|| staff.then(|| "pending".to_string()));
    let uri = match &status {
        Some(s) if s != "all" => format!("/admin/reviews?limit=100&status={s}"),
        _ => "/admin/reviews?limit=100".to_string(),
    };
    let list = get_json(&web, &ctx, &uri).await?;
    let reviews = list["reviews"].as_array().cloned().unwrap_or_default();
    let current = status.clone().unwrap_or_else(|| "all".into());
    Ok(office_page(
        &ctx,
        "Reviews",
        html! {
            h1 { "Reviews" }
            (flash(&f))
            nav aria-label="Review status" { ul.cats {
                @for s in ["pending", "approved", "rejected", "withdrawn", "all"] {
                    li { a href=(format!("/backoffice/reviews?status={s}")) aria-current=[(current == s).then_some("page")] { (s) } }
                }
            } }
            @let total = list["total"].as_i64().unwrap_or(0);
            p { (total) @if total == 1 { " review" } @else { " reviews" }
                @if staff { ". Approve what may be published; an answer appears under the review on the product page." }
                @else { " of your products. Answer the published ones: the answer appears under the review." } }
            @if reviews.is_empty() { div.empty { p { "No reviews here." } } } @else {
                div.table-wrap { table.stack #reviews {
                    thead { tr { th scope="col" { "Product" } th scope="col" { "Rating" } th scope="col" { "Review" } th scope="col" { "Status" } th scope="col" { "Actions" } } }
                    tbody { @for r in &reviews { (review_row(&ctx, r, staff)) } }
                } }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    text: Option<String>,
    key: String,
}

/// `POST /backoffice/reviews/{id}/{action}`: approve, reject or respond.
pub async fn action(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ReviewForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let to = "/backoffice/reviews";
    let body = match action.as_str() {
        "approve" => json!({}),
        "reject" => json!({"reason": form.reason.unwrap_or_default().trim()}),
        "respond" => json!({"text": form.text.unwrap_or_default().trim()}),
        _ => return Redirect::to(to).into_response(),
    };
    let result = web
        .api
        .post(
            &format!("/admin/reviews/{}/{action}", enc(&id)),
            &ctx.person(),
            Some(&form.key),
            &body,
        )
        .await;
    if let Ok(reply) = &result {
        until_listed(&web, &ctx, &id, reply).await;
    }
    back(to, result, &ctx)
}

/// Waits, up to two seconds, until the review list (a read model, a moment behind) shows the
/// change a command made, so the page the person lands on shows it too.
async fn until_listed(web: &Web, ctx: &Ctx, id: &str, reply: &Value) {
    let Some(version) = reply["version"].as_i64() else {
        return;
    };
    let uri = format!(
        "/admin/reviews?limit=100&product_id={}",
        enc(reply["product_id"].as_str().unwrap_or_default())
    );
    for _ in 0..20 {
        if let Ok(list) = web.api.get::<Value>(&uri, &ctx.person()).await {
            let shown = list["reviews"].as_array().is_some_and(|rows| {
                rows.iter()
                    .any(|r| r["id"] == id && r["version"].as_i64() >= Some(version))
            });
            if shown {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
