//! Notifications at the edge: back-in-stock subscriptions (`/store/products/{id}/notify-me`,
//! rate-limited per client, with double opt-in confirmed at `/store/notify-me/confirm`),
//! a customer's preferences (`/store/customers/me/notifications`) and the back office's view of
//! the queue (`/admin/notifications`, with retry of failed ones).
//!
//! These tables are the notifier's own operational state (not events, not read models); every
//! statement on them lives in `agora_notifier::store`, which this module calls.

use agora_kernel::DomainError;
use agora_notifications::{EmailAddress, Preferences, Status};
use agora_notifier::store::{self, NotificationRow, RetryOutcome};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::{auth, params, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/store/notify-me/confirm", post(confirm))
        .route(
            "/store/customers/me/notifications",
            get(get_preferences).put(put_preferences),
        )
        .route("/admin/notifications", get(list))
        .route("/admin/notifications/{id}/retry", post(retry))
}

/// The routes that take a client's word for an address, under a per-client rate limit.
pub fn limited_router() -> Router<AppState> {
    Router::new().route("/store/products/{id}/notify-me", post(notify_me))
}

fn invalid(e: agora_notifications::NotificationError) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
}

/// A back-in-stock subscription request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyMe {
    /// A SKU of this product that is out of stock.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$", min_length = 1, max_length = 64)]
    pub sku: String,
    /// Where to write when it is back.
    #[schema(example = "ada@example.com", min_length = 3, max_length = 254)]
    pub email: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Subscription {
    pub product_id: String,
    pub sku: String,
    pub email: String,
    /// False when this email was already subscribed to this SKU (nothing changed).
    pub created: bool,
    /// False until the address's owner followed the link of the confirmation mail (double
    /// opt-in): no back-in-stock mail goes to an unconfirmed address.
    pub confirmed: bool,
}

/// Ask to be told once when an out-of-stock SKU is available again. Idempotent per SKU and
/// email; the subscription is deleted once the message is queued. An address not yet confirmed
/// gets one confirmation mail first (double opt-in, also for later subscriptions while it is
/// pending) and no back-in-stock mail until confirmed. Rate-limited per client (429).
#[utoipa::path(post, path = "/store/products/{id}/notify-me", tag = "notifications", request_body = NotifyMe,
    params(("id" = String, Path, description = "product id")),
    responses((status = 202, body = Subscription), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 413, body = ApiErrorBody),
        (status = 415, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 429, body = ApiErrorBody)))]
pub async fn notify_me(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<NotifyMe>,
) -> Result<(StatusCode, Json<Subscription>), ApiError> {
    let product_id = params::product_id(&raw)?;
    let sku = params::sku(&body.sku)?;
    let email = EmailAddress::parse(&body.email).map_err(invalid)?;
    // A signed-in customer's preferences then apply to the message; guests need no account.
    let customer_id = if headers.contains_key(axum::http::header::AUTHORIZATION) {
        auth::customer(&state, &headers).ok().map(|c| c.to_string())
    } else {
        None
    };
    let sold: Option<bool> = sqlx::query_scalar(
        "SELECT $2 = ANY(skus) FROM products WHERE product_id = $1 AND status = 'published'",
    )
    .bind(&product_id)
    .bind(sku.as_str())
    .fetch_optional(&state.pool)
    .await?;
    if sold != Some(true) {
        return Err(ApiError::not_found(
            "catalog.not_found",
            "no published product with this SKU",
        ));
    }
    let available: Option<i64> =
        sqlx::query_scalar("SELECT available FROM stock_levels WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_optional(&state.pool)
            .await?;
    if available.unwrap_or(0) > 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "notifications.in_stock",
            "this SKU is in stock: it can be bought now",
        ));
    }
    let subscribed = store::subscribe(
        &state.pool,
        sku.as_str(),
        &email,
        &product_id,
        customer_id.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Subscription {
            product_id,
            sku: sku.to_string(),
            email: email.as_str().to_string(),
            created: subscribed.created,
            confirmed: subscribed.confirmed,
        }),
    ))
}

/// Body of `POST /store/notify-me/confirm`: the token from the confirmation mail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmAddress {
    /// The token of the link in the confirmation mail (64 hex digits).
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConfirmedAddress {
    pub email: String,
    pub confirmed: bool,
}

/// Confirm an address for back-in-stock mail with the token of its confirmation mail (the
/// storefront's `/notify-me/confirm?token=...` page posts it here). Its subscriptions then get
/// their back-in-stock mail. Confirming again with the same token is the same success.
#[utoipa::path(post, path = "/store/notify-me/confirm", tag = "notifications", request_body = ConfirmAddress,
    responses((status = 200, body = ConfirmedAddress), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 413, body = ApiErrorBody),
        (status = 415, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    Json(body): Json<ConfirmAddress>,
) -> Result<Json<ConfirmedAddress>, ApiError> {
    let token = body.token.trim();
    let not_found = || {
        ApiError::not_found(
            "notifications.confirmation_not_found",
            "no pending confirmation has this token (or its link expired; subscribe again)",
        )
    };
    if token.is_empty() || token.len() > 128 {
        return Err(not_found());
    }
    let email = store::confirm_address(&state.pool, token)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(ConfirmedAddress {
        email,
        confirmed: true,
    }))
}

/// The signed-in customer's notification preferences (the defaults until changed).
#[utoipa::path(get, path = "/store/customers/me/notifications", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = Object, description = "Preferences"), (status = 401, body = ApiErrorBody)))]
pub async fn get_preferences(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Preferences>, ApiError> {
    let customer = auth::customer(&state, &headers)?;
    let mut conn = state.pool.acquire().await?;
    let stored = store::preferences(&mut conn, &customer.to_string()).await?;
    Ok(Json(stored.unwrap_or_default()))
}

/// Replace the signed-in customer's preferences. Text messages need `phone` (E.164) and
/// `sms_opt_in: true`; account mail (verification, password reset) cannot be turned off.
#[utoipa::path(put, path = "/store/customers/me/notifications", tag = "notifications",
    request_body(content = Object, description = "Preferences: {order_updates: {email, sms}, back_in_stock: {email, sms}, phone, sms_opt_in}"),
    security(("bearer" = [])),
    responses((status = 200, body = Object, description = "Preferences"), (status = 401, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody)))]
pub async fn put_preferences(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<Preferences>, ApiError> {
    let customer = auth::customer(&state, &headers)?;
    // Parsed here rather than by the extractor so that a bad phone number answers with its
    // own code instead of a generic body error.
    let preferences: Preferences = serde_json::from_value(body).map_err(|e| {
        let message = e.to_string();
        if message.contains("phone number") {
            invalid(agora_notifications::NotificationError::InvalidPhone)
        } else {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "request.invalid_body",
                message,
            )
        }
    })?;
    let preferences = preferences.validate().map_err(invalid)?;
    store::put_preferences(&state.pool, &customer.to_string(), &preferences).await?;
    Ok(Json(preferences))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationFilter {
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: Option<String>,
    /// `order_confirmed`, `order_shipped`, `password_reset`, `low_stock`, `back_in_stock`...
    pub kind: Option<String>,
    /// 1-based page of `limit` rows.
    pub page: Option<i64>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
}

/// One notification (without its body).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationItem {
    pub id: String,
    pub kind: String,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
    pub last_error: Option<String>,
    pub source: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<NotificationRow> for NotificationItem {
    fn from(r: NotificationRow) -> Self {
        NotificationItem {
            id: r.id.to_string(),
            kind: r.kind,
            channel: r.channel,
            recipient: r.recipient,
            subject: r.subject,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            source: r.source,
            created_at: r.created_at,
            sent_at: r.sent_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    pub total: i64,
    pub page: i64,
    pub items: Vec<NotificationItem>,
}

/// The notification queue, newest first: what was sent, what waits, what failed and why.
#[utoipa::path(get, path = "/admin/notifications", tag = "notifications", params(NotificationFilter),
    security(("bearer" = [])),
    responses((status = 200, body = NotificationPage), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<NotificationFilter>,
) -> Result<Json<NotificationPage>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, false)?;
    let status = match filter.status.as_deref() {
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            params::invalid_query("status is one of pending, sending, sent, failed")
        })?),
        None => None,
    };
    if let Some(k) = filter.kind.as_deref() {
        if agora_notifications::Kind::parse(k).is_none() {
            return Err(params::invalid_query("unknown notification kind"));
        }
    }
    let page = filter.page.unwrap_or(1);
    if !(1..=100_000).contains(&page) {
        return Err(params::invalid_query("page must be 1 or more"));
    }
    let (limit, _) = params::page(filter.limit, None)?;
    let (rows, total) = store::list(
        &state.pool,
        status,
        filter.kind.as_deref(),
        limit,
        (page - 1) * limit,
    )
    .await?;
    Ok(Json(NotificationPage {
        total,
        page,
        items: rows.into_iter().map(Into::into).collect(),
    }))
}

/// Queue a failed notification again, due now, with a fresh attempt budget.
#[utoipa::path(post, path = "/admin/notifications/{id}/retry", tag = "notifications",
    params(("id" = String, Path, description = "notification id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = NotificationItem), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<NotificationItem>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Sales, true)?;
    let id = raw
        .parse::<uuid::Uuid>()
        .map_err(|_| ApiError::bad_request("request.invalid_id", "a notification id is a UUID"))?;
    match store::retry(&state.pool, id).await? {
        RetryOutcome::Queued(row) => Ok(Json(row.into())),
        RetryOutcome::NotFound => Err(ApiError::not_found(
            "notifications.not_found",
            "no such notification",
        )),
        RetryOutcome::NotFailed(status) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "notifications.not_retryable",
            format!("only a failed notification can be retried; this one is {status}"),
        )),
    }
}
