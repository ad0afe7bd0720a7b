//! `/store/carts`: the shopper's cart, served by the cart service over NATS.

use agora_kernel::Principal;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiErrorBody, Json, Path};
use crate::{auth, params, service, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/store/carts", post(create_cart))
        .route("/store/carts/{cart_id}", get(get_cart))
        .route(
            "/store/carts/{cart_id}/items",
            post(add_item).delete(clear_cart),
        )
        .route(
            "/store/carts/{cart_id}/items/{sku}",
            patch(change_quantity).delete(remove_item),
        )
}

/// Body of `POST /store/carts`: nothing yet; the owner is whoever presents the credentials.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCart {}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// SKU code: 1–64 of `A-Z a-z 0-9 . _ -`.
    #[schema(example = "TSHIRT-RED-M")]
    pub sku: String,
    /// Units to add, 1–99.
    #[schema(example = 1)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeQuantity {
    /// New quantity, 1–99.
    pub quantity: i64,
}

/// One line of a cart.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CartLine {
    pub sku: String,
    pub quantity: i64,
}

/// A cart as the shopper sees it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Cart {
    pub id: String,
    /// Position in the cart's event stream; grows with every change.
    pub version: u64,
    /// `open`, `merged`, `checking_out` (locked by a checkout in progress) or `checked_out`.
    pub status: String,
    pub customer_id: Option<Uuid>,
    pub lines: Vec<CartLine>,
    pub item_count: i64,
    pub merged_into: Option<String>,
    /// The order of the checkout in progress or completed.
    #[serde(default)]
    pub order_id: Option<String>,
}

/// Reply to `POST /store/carts`. Keep `cart_token`: it is the only proof of ownership of a
/// guest cart and is never shown again.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreatedCart {
    pub cart_id: String,
    pub cart_token: String,
    pub cart: Cart,
}

/// The NATS service hosting cart aggregates.
pub const CART_SERVICE: &str = "cart";

fn cart_id(raw: &str) -> Result<String, ApiError> {
    params::uuid_id(raw, "cart")
}

/// Sends cart command `endpoint` and returns the cart after it.
async fn command<C: Serialize>(
    state: &AppState,
    headers: &HeaderMap,
    endpoint: &str,
    id: String,
    principal: Principal,
    body: C,
) -> Result<Cart, ApiError> {
    let reply =
        service::command::<C, Cart>(state, headers, CART_SERVICE, endpoint, id, principal, body)
            .await?;
    Ok(reply.view)
}

/// Open a guest cart.
#[utoipa::path(post, path = "/store/carts", tag = "cart",
    request_body(content = CreateCart, description = "empty object"),
    responses((status = 201, body = CreatedCart), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn create_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<CreatedCart>), ApiError> {
    // The body is optional; when present it must be the (empty) object.
    if !body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_slice::<CreateCart>(&body).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                ApiError::bad_request("request.malformed_json", e.to_string())
            } else {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "request.invalid_body",
                    e.to_string(),
                )
            }
        })?;
    }
    let token = auth::new_guest_token();
    let principal = Principal::Guest {
        token_sha256: agora_cart::token_sha256(&token),
    };
    let id = Uuid::new_v4().to_string();
    let cart = command(
        &state,
        &headers,
        "create",
        id.clone(),
        principal,
        serde_json::json!({}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedCart {
            cart_id: id,
            cart_token: token,
            cart,
        }),
    ))
}

/// Read a cart (the owner's view, strongly consistent: served by the cart's actor).
#[utoipa::path(get, path = "/store/carts/{cart_id}", tag = "cart",
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = Cart), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
pub async fn get_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::guest(&headers)?;
    Ok(Json(
        service::get(&state, &headers, CART_SERVICE, id, principal).await?,
    ))
}

/// Add units of a SKU. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/store/carts/{cart_id}/items", tag = "cart", request_body = AddItem,
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("X-Cart-Token" = String, Header, description = "the cart's secret token"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    responses((status = 200, body = Cart), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn add_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<AddItem>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::guest(&headers)?;
    Ok(Json(
        command(&state, &headers, "add_item", id, principal, body).await?,
    ))
}

/// Set the quantity of a line.
#[utoipa::path(patch, path = "/store/carts/{cart_id}/items/{sku}", tag = "cart", request_body = ChangeQuantity,
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("sku" = String, Path, description = "SKU"),
           ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = Cart), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn change_quantity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, sku)): Path<(String, String)>,
    Json(body): Json<ChangeQuantity>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::guest(&headers)?;
    let cmd = serde_json::json!({"sku": sku, "quantity": body.quantity});
    Ok(Json(
        command(&state, &headers, "change_quantity", id, principal, cmd).await?,
    ))
}

/// Remove a line.
#[utoipa::path(delete, path = "/store/carts/{cart_id}/items/{sku}", tag = "cart",
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("sku" = String, Path, description = "SKU"),
           ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = Cart), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn remove_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, sku)): Path<(String, String)>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::guest(&headers)?;
    let cmd = serde_json::json!({ "sku": sku });
    Ok(Json(
        command(&state, &headers, "remove_item", id, principal, cmd).await?,
    ))
}

/// Remove every line.
#[utoipa::path(delete, path = "/store/carts/{cart_id}/items", tag = "cart",
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = Cart), (status = 404, body = ApiErrorBody)))]
pub async fn clear_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::guest(&headers)?;
    Ok(Json(
        command(
            &state,
            &headers,
            "clear",
            id,
            principal,
            serde_json::json!({}),
        )
        .await?,
    ))
}
