//! Product reviews over HTTP.
//!
//! Shoppers: `POST /store/products/{id}/reviews` writes (or rewrites) the signed-in customer's
//! review of a product, `GET /store/products/{id}/reviews` lists the approved ones with the
//! average, `POST /store/reviews/{id}/withdraw` takes one's own down. The back office:
//! `GET /admin/reviews` (staff and auditors: all; a vendor's user: its products' only),
//! `GET /admin/reviews/{id}`, and moderation and answers (`approve`, `reject`, `respond`), which
//! the review aggregate authorizes: staff moderate, the product's seller answers.
//!
//! The platform, not the shopper, says which product, whose it is and whether the shopper
//! bought it: the edge reads the product (published, of an active vendor) and the shopper's
//! paid orders before it sends the review.

use agora_kernel::{CustomerId, Principal};
use agora_review::{Review, ReviewCommand, ReviewView};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiErrorBody, Json, Path};
use crate::{auth, params, service, ApiError, AppState};

/// A product's reviews (`GET`, public: the edge caches it) and writing one (`POST`).
pub fn store_router() -> Router<AppState> {
    Router::new().route(
        "/store/products/{id}/reviews",
        get(product_reviews).post(write_review),
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/store/reviews/{id}/withdraw", post(withdraw))
        .route("/admin/reviews", get(list_reviews))
        .route("/admin/reviews/{id}", get(get_review))
        .route("/admin/reviews/{id}/approve", post(approve))
        .route("/admin/reviews/{id}/reject", post(reject))
        .route("/admin/reviews/{id}/respond", post(respond))
}

/// A review as the API returns it (the aggregate's view, for its readers).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ReviewBody(pub ReviewView);

/// Body of `POST /store/products/{id}/reviews`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteReview {
    /// 1 to 5 stars.
    pub rating: u8,
    /// 1 to 120 characters.
    pub title: String,
    /// Up to 5,000 characters; line breaks allowed.
    #[serde(default)]
    pub body: String,
    /// How the review is signed (`Ada L.`), 1 to 80 characters.
    pub display_name: String,
}

/// The stream of `customer`'s review of `product`: one review per shopper and product, so
/// writing again edits it.
pub fn review_id(customer: &CustomerId, product: &str) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("agora:review:{product}:{customer}").as_bytes(),
    )
    .to_string()
}

fn not_found() -> ApiError {
    ApiError::not_found("review.not_found", "no such review")
}

/// Writes the signed-in customer's review of a published product, or rewrites it (back to
/// moderation). `verified_purchase` says whether the customer has a paid order of it.
#[utoipa::path(post, path = "/store/products/{id}/reviews", tag = "reviews", request_body = WriteReview,
    params(("id" = String, Path, description = "product id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 201, body = ReviewBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn write_review(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<WriteReview>,
) -> Result<(StatusCode, Json<ReviewBody>), ApiError> {
    let product = params::product_id(&raw)?;
    // The storefront's shopper (a vendor's user shops as its account's customer).
    let principal = auth::shopper(&state, &headers)?;
    let Principal::Customer { id: customer } = principal else {
        return Err(ApiError::forbidden("reviews are written by customers"));
    };
    // A published product of the shop or of an active vendor; the vendor is named only when
    // it is a marketplace vendor.
    let found: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT p.vendor_id, v.vendor_id FROM products p LEFT JOIN vendors v ON v.vendor_id = p.vendor_id
         WHERE p.product_id = $1 AND p.status = 'published' AND (v.vendor_id IS NULL OR v.status = 'active')",
    )
    .bind(&product)
    .fetch_optional(&state.pool)
    .await?;
    let Some((_, vendor)) = found else {
        return Err(ApiError::not_found("catalog.not_found", "no such product"));
    };
    let line = serde_json::json!([{ "product_id": product }]);
    let verified: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM orders WHERE customer_id = $1 AND lines @> $2
                          AND status IN ('confirmed', 'partially_shipped', 'shipped', 'delivered'))",
    )
    .bind(customer.as_uuid())
    .bind(&line)
    .fetch_one(&state.pool)
    .await?;
    let command = ReviewCommand::Submit {
        product_id: product.clone(),
        vendor_id: vendor,
        author: None,
        author_name: body.display_name,
        rating: body.rating,
        title: body.title,
        body: body.body,
        verified_purchase: verified,
        now: Utc::now(),
    };
    let reply = service::command::<_, ReviewView>(
        &state,
        &headers,
        review_id(&customer, &product),
        Principal::Customer { id: customer },
        command,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ReviewBody(reply.view))))
}

/// Paging of a review list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewPageQuery {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// One published review, as shoppers see it.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct PublicReview {
    pub id: String,
    pub rating: i16,
    pub title: String,
    pub body: String,
    pub author_name: String,
    pub verified_purchase: bool,
    /// The seller's answer.
    pub response: Option<String>,
    /// `vendor` or `shop`.
    pub response_by: Option<String>,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductReviews {
    pub product_id: String,
    /// Approved reviews.
    pub count: i64,
    /// Their average in tenths of a star (45 is 4.5 stars); absent without reviews.
    pub average_tenths: Option<i32>,
    /// Newest first.
    pub reviews: Vec<PublicReview>,
}

/// A product's approved reviews, newest first, with their count and average.
#[utoipa::path(get, path = "/store/products/{id}/reviews", tag = "reviews",
    params(("id" = String, Path, description = "product id (UUID)"), ReviewPageQuery),
    responses((status = 200, body = ProductReviews), (status = 400, body = ApiErrorBody)))]
pub async fn product_reviews(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(query): Query<ReviewPageQuery>,
) -> Result<Json<ProductReviews>, ApiError> {
    let product = params::product_id(&raw)?;
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let (count, average): (i64, Option<i32>) = sqlx::query_as(
        "SELECT count(*), round(avg(rating) * 10)::int FROM reviews
         WHERE product_id = $1 AND status = 'approved'",
    )
    .bind(&product)
    .fetch_one(&state.pool)
    .await?;
    let reviews: Vec<PublicReview> = sqlx::query_as(
        "SELECT review_id AS id, rating, title, body, author_name, verified_purchase, response,
                response_by, submitted_at
         FROM reviews WHERE product_id = $1 AND status = 'approved'
         ORDER BY submitted_at DESC, review_id LIMIT $2 OFFSET $3",
    )
    .bind(&product)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(ProductReviews {
        product_id: product,
        count,
        average_tenths: average,
        reviews,
    }))
}

/// The author takes their review down.
#[utoipa::path(post, path = "/store/reviews/{id}/withdraw", tag = "reviews",
    params(("id" = String, Path, description = "review id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = ReviewBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<ReviewBody>, ApiError> {
    let id = params::uuid_id(&raw, "review")?;
    // The storefront's shopper (a vendor's user shops as its account's customer).
    let principal = auth::shopper(&state, &headers)?;
    let reply = service::command::<_, ReviewView>(
        &state,
        &headers,
        id,
        principal,
        ReviewCommand::Withdraw { now: Utc::now() },
    )
    .await?;
    Ok(Json(ReviewBody(reply.view)))
}

/// Filters of the back office's review list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewListQuery {
    /// `pending`, `approved`, `rejected` or `withdrawn`.
    pub status: Option<String>,
    /// One product's reviews (UUID).
    pub product_id: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// One review in the back office's list.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ReviewSummary {
    pub id: String,
    pub product_id: String,
    /// The product's title, when the product read model has it.
    pub product_title: Option<String>,
    pub vendor_id: Option<String>,
    pub author_name: String,
    pub rating: i16,
    pub title: String,
    pub body: String,
    pub verified_purchase: bool,
    pub status: String,
    /// The moderators' reason; never shown to a vendor.
    pub rejection_reason: Option<String>,
    pub response: Option<String>,
    pub response_by: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The review's stream version this row shows (a command's reply says which it made).
    pub version: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewList {
    pub reviews: Vec<ReviewSummary>,
    pub total: i64,
}

/// Reviews, most recently changed first: every review for staff and auditors, the reviews
/// of its own products for a vendor's user.
#[utoipa::path(get, path = "/admin/reviews", tag = "reviews", params(ReviewListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReviewList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn list_reviews(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ReviewListQuery>,
) -> Result<Json<ReviewList>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, false)?;
    let (limit, offset) = params::page(query.limit, query.offset)?;
    let status = params::status_name(&query.status)?;
    let product = query
        .product_id
        .as_deref()
        .map(params::product_id)
        .transpose()?;
    let vendor = principal.vendor().map(str::to_string);
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        summary: ReviewSummary,
        total: i64,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.review_id AS id, r.product_id, p.title AS product_title, r.vendor_id,
                r.author_name, r.rating, r.title, r.body, r.verified_purchase, r.status,
                r.rejection_reason, r.response, r.response_by, r.submitted_at, r.updated_at,
                r.version, count(*) OVER () AS total
         FROM reviews r LEFT JOIN products p ON p.product_id = r.product_id
         WHERE ($1::text IS NULL OR r.status = $1)
           AND ($2::text IS NULL OR r.product_id = $2)
           AND ($3::text IS NULL OR r.vendor_id = $3)
         ORDER BY r.updated_at DESC, r.review_id LIMIT $4 OFFSET $5",
    )
    .bind(status)
    .bind(&product)
    .bind(&vendor)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let reviews = rows
        .into_iter()
        .map(|r| ReviewSummary {
            // The moderators' notes are the shop's.
            rejection_reason: r.summary.rejection_reason.filter(|_| vendor.is_none()),
            ..r.summary
        })
        .collect();
    Ok(Json(ReviewList { reviews, total }))
}

/// One review, as the review aggregate lets the caller see it (another vendor's: 404).
#[utoipa::path(get, path = "/admin/reviews/{id}", tag = "reviews",
    params(("id" = String, Path, description = "review id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = ReviewBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn get_review(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<ReviewBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, false)?;
    let id = params::uuid_id(&raw, "review")?;
    let view: ReviewView = service::get::<Review, _>(&state, &headers, id, principal)
        .await
        .map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                not_found()
            } else {
                e
            }
        })?;
    Ok(Json(ReviewBody(view)))
}

/// Body of `POST /admin/reviews/{id}/reject`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectReview {
    /// For the author: why it is not published (1 to 500 characters).
    pub reason: String,
}

/// Body of `POST /admin/reviews/{id}/respond`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondToReview {
    /// The seller's public answer (1 to 2,000 characters).
    pub text: String,
}

async fn moderate(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    command: ReviewCommand,
) -> Result<Json<ReviewBody>, ApiError> {
    let principal = auth::back_office(state, headers, auth::Area::Catalog, true)?;
    let id = params::uuid_id(raw, "review")?;
    let reply = service::command::<_, ReviewView>(state, headers, id, principal, command).await?;
    Ok(Json(ReviewBody(reply.view)))
}

/// Publishes a pending review (staff and admins).
#[utoipa::path(post, path = "/admin/reviews/{id}/approve", tag = "reviews",
    params(("id" = String, Path, description = "review id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = ReviewBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<ReviewBody>, ApiError> {
    moderate(
        &state,
        &headers,
        &raw,
        ReviewCommand::Approve { now: Utc::now() },
    )
    .await
}

/// Does not publish a review, or takes a published one down, with a reason for its author
/// (staff and admins).
#[utoipa::path(post, path = "/admin/reviews/{id}/reject", tag = "reviews", request_body = RejectReview,
    params(("id" = String, Path, description = "review id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = ReviewBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<RejectReview>,
) -> Result<Json<ReviewBody>, ApiError> {
    let command = ReviewCommand::Reject {
        reason: body.reason,
        now: Utc::now(),
    };
    moderate(&state, &headers, &raw, command).await
}

/// The seller's public answer to a published review: the product's vendor's users, or staff.
#[utoipa::path(post, path = "/admin/reviews/{id}/respond", tag = "reviews", request_body = RespondToReview,
    params(("id" = String, Path, description = "review id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = ReviewBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn respond(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<RespondToReview>,
) -> Result<Json<ReviewBody>, ApiError> {
    let command = ReviewCommand::Respond {
        text: body.text,
        now: Utc::now(),
    };
    moderate(&state, &headers, &raw, command).await
}
