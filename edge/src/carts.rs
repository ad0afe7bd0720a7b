//! `/store/carts`: the shopper's cart, served by the cart service over NATS.

use std::collections::BTreeMap;

use agora_cart::{CartCommand, CartError, CartStatus, CartView};
use agora_checkout::{CheckoutRequest, QuoteCart};
use agora_kernel::{CommandId, DomainError, Principal, Sku};
use agora_nats::CommandReply;
use agora_promotion::{PromotionCode, PromotionError};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::pricing_memo::PricingMemo;
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
        .route(
            "/store/carts/{cart_id}/code",
            axum::routing::put(apply_code).delete(remove_code),
        )
        .route("/store/carts/{cart_id}/pricing", get(get_pricing))
        .route("/store/customers/me/cart/merge", post(merge_cart))
}

/// Body of `POST /store/carts`: nothing yet; the owner is whoever presents the credentials.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCart {}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// SKU code: 1–64 of `A-Z a-z 0-9 _ -`.
    #[schema(
        example = "TSHIRT-RED-M",
        pattern = "^[A-Za-z0-9_-]{1,64}$",
        min_length = 1,
        max_length = 64
    )]
    pub sku: String,
    /// Units to add, 1–99.
    #[schema(example = 1, minimum = 1, maximum = 99)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeQuantity {
    /// New quantity, 1–99.
    #[schema(minimum = 1, maximum = 99)]
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
    /// The promotion code kept on the cart; `GET /store/carts/{id}/pricing` says what it
    /// takes off or why it does not apply, and the checkout redeems it.
    #[serde(default)]
    pub code: Option<String>,
}

/// Body of `PUT /store/carts/{id}/code`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyCode {
    /// 3–40 of `A-Z a-z 0-9 - _`, case-insensitive (`summer-10` is `SUMMER-10`).
    #[schema(example = "SUMMER10", pattern = "^\\s*[A-Za-z0-9_-]{3,40}\\s*$")]
    pub code: String,
}

/// `acme:express,bolt:standard` as a map from vendor id to option id.
fn vendor_options(raw: Option<&str>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut options = BTreeMap::new();
    for pair in raw
        .unwrap_or("")
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        let Some((vendor, option)) = pair.split_once(':') else {
            return Err(ApiError::bad_request(
                "request.invalid_shipping_option",
                "vendor_shipping_options is vendor_id:option_id pairs separated by commas",
            ));
        };
        options.insert(vendor.trim().to_string(), option.trim().to_string());
    }
    crate::checkout::check_vendor_options(&options)?;
    Ok(options)
}

/// Query of `GET /store/carts/{id}/pricing`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PricingQuery {
    /// Price this code instead of the one kept on the cart.
    pub code: Option<String>,
    /// The destination's country (ISO 3166-1 alpha-2), which decides the tax rule; without
    /// it the shop's fallback rule estimates the tax (`tax_estimated: true`).
    #[param(pattern = "^[A-Z]{2}$")]
    pub country: Option<String>,
    /// The destination's region (ISO 3166-2 subdivision, `CA` or `US-CA`), with a country.
    #[param(max_length = 64)]
    pub region: Option<String>,
    /// The destination's postcode (with a country), which may narrow the shipping zone.
    #[param(max_length = 16)]
    pub postcode: Option<String>,
    /// The shipping option to price, from `shipping_options` (default: the cheapest).
    #[param(max_length = 64)]
    pub shipping_option: Option<String>,
    /// The option to price for each vendor that ships at its own rates (`vendor_shipping`),
    /// as `vendor_id:option_id` pairs separated by commas (default: each one's cheapest).
    #[param(max_length = 6500, example = "acme:express")]
    pub vendor_shipping_options: Option<String>,
}

/// A cart priced as its checkout would price it now (prices from the catalog, never the
/// client): `cart_version` and `cart_status` (`open`, `checking_out`...), `lines` (`sku`,
/// `product_id`, `title`, `product_title`, `variant_title`, `quantity`, `unit_price`,
/// `subtotal`, `discount`, `total`), `subtotal`, `discount`, `shipping`, `shipping_discount`, `tax`,
/// `total` (money as `{amount_minor, currency}`), `shipping_pending` (the shop ships by zone
/// and no country was given: shipping is priced once it is), `shipping_options` (the options
/// that ship the cart to the destination, cheapest first: `zone_id`, `option_id`, `name`,
/// `kind`, `price`, `free`, `min_days`, `max_days`), `shipping_option` (the one priced),
/// `vendor_shipping` (for each marketplace vendor that ships its lines at its own rates:
/// `vendor_id`, `skus`, `options`, `option`, `fee`, `pending`; the top-level options are then
/// the shop's rates' for the other lines, and `shipping` adds them all up),
/// `tax_rule` (the rate used and its rounding), `tax_estimated`, `promotions` (each applied promotion with its `discount` and
/// `shipping_discount`), `code` and `code_rejection` (`{error, message}`: the stable
/// `promotion.*` code a checkout with it would be refused with), `valid_until` (the next
/// moment a promotion on offer starts or ends, or null). Nothing is held: the checkout checks
/// the promotions again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct CartPricing(pub serde_json::Value);

/// Reply to `POST /store/carts`. Keep `cart_token`: it is the only proof of ownership of a
/// guest cart and is never shown again. A signed-in customer's cart has none: their bearer
/// token proves ownership.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreatedCart {
    pub cart_id: String,
    pub cart_token: Option<String>,
    pub cart: Cart,
}

/// Body of `POST /store/customers/me/cart/merge`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeCart {
    /// The guest cart to merge (its `X-Cart-Token` goes in the header).
    pub cart_id: String,
    /// The customer's cart to merge it into; absent: the customer's most recently changed
    /// open cart, or a new one.
    #[serde(default)]
    pub into_cart_id: Option<String>,
}

fn cart_id(raw: &str) -> Result<String, ApiError> {
    params::uuid_id(raw, "cart")
}

/// Sends a cart command and returns the cart after it.
async fn command(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    principal: Principal,
    command: CartCommand,
) -> Result<Cart, ApiError> {
    let command_id = service::command_id(headers, &principal)?;
    let reply: CommandReply<Cart> =
        cart_command(state, headers, id, command_id, principal, command).await?;
    Ok(reply.view)
}

/// Sends one command to cart `id`. Whatever the answer (a timeout may still have changed the
/// cart), the pricings the edge keeps for the cart are forgotten: every cart change made
/// through the edge goes through here.
async fn cart_command<V: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    command_id: CommandId,
    principal: Principal,
    command: CartCommand,
) -> Result<CommandReply<V>, ApiError> {
    let reply =
        service::command_as(state, headers, id.clone(), command_id, principal, command).await;
    state.pricing_memo.cart_changed(&id);
    reply
}

/// The SKU of a cart line, from the body or the path: a malformed one is a command the cart
/// cannot take (`422 request.invalid_command`).
fn line_sku(raw: &str) -> Result<Sku, ApiError> {
    Sku::parse(raw).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.invalid_command",
            format!("invalid sku: {e}"),
        )
    })
}

/// Open a cart: a guest cart (answered with its secret token) or, with a customer's bearer
/// token, a cart owned by the customer.
#[utoipa::path(post, path = "/store/carts", tag = "cart",
    request_body(content = CreateCart, description = "empty object"),
    responses((status = 201, body = CreatedCart), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn create_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<CreatedCart>), ApiError> {
    // The body is optional; when present it must be the (empty) object.
    let CreateCart {} = params::optional_body(&headers, &body)?;
    // A signed-in customer's cart is theirs (a vendor's user's too, as the customer of its
    // account); staff get none; anyone else gets a guest cart and its token.
    let (principal, token) = match auth::bearer(&state, &headers)?
        .map(auth::as_shopper)
        .transpose()?
    {
        Some(customer @ Principal::Customer { .. }) => (customer, None),
        Some(_) => {
            return Err(ApiError::forbidden(
                "back-office credentials cannot own a cart; sign in as a customer",
            ))
        }
        None => {
            let token = auth::new_guest_token();
            let principal = Principal::Guest {
                token_sha256: agora_cart::token_sha256(&token),
            };
            (principal, Some(token))
        }
    };
    let id = Uuid::new_v4().to_string();
    let cart = command(
        &state,
        &headers,
        id.clone(),
        principal,
        CartCommand::Create {},
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
    responses((status = 200, body = Cart), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn get_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    Ok(Json(
        service::get::<agora_cart::Cart, _>(&state, &headers, id, principal).await?,
    ))
}

/// Add units of a SKU. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/store/carts/{cart_id}/items", tag = "cart", request_body = AddItem,
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("X-Cart-Token" = String, Header, description = "the cart's secret token"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    responses((status = 200, body = Cart), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody, description = "the cart is closed (`cart.closed`) or has too many lines"), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn add_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<AddItem>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    Ok(Json(
        command(
            &state,
            &headers,
            id,
            principal,
            CartCommand::AddItem {
                sku: line_sku(&body.sku)?,
                quantity: body.quantity,
            },
        )
        .await?,
    ))
}

/// Set the quantity of a line.
#[utoipa::path(patch, path = "/store/carts/{cart_id}/items/{sku}", tag = "cart", request_body = ChangeQuantity,
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("sku" = String, Path, description = "SKU"),
           ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = Cart), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody, description = "the cart is closed (`cart.closed`)"), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn change_quantity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, sku)): Path<(String, String)>,
    Json(body): Json<ChangeQuantity>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    let cmd = CartCommand::ChangeQuantity {
        sku: line_sku(&sku)?,
        quantity: body.quantity,
    };
    Ok(Json(command(&state, &headers, id, principal, cmd).await?))
}

/// Remove a line.
#[utoipa::path(delete, path = "/store/carts/{cart_id}/items/{sku}", tag = "cart",
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("sku" = String, Path, description = "SKU"),
           ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = Cart), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody, description = "the cart is closed (`cart.closed`)"), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn remove_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, sku)): Path<(String, String)>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    let cmd = CartCommand::RemoveItem {
        sku: line_sku(&sku)?,
    };
    Ok(Json(command(&state, &headers, id, principal, cmd).await?))
}

/// Remove every line.
#[utoipa::path(delete, path = "/store/carts/{cart_id}/items", tag = "cart",
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = Cart), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody, description = "the cart is closed (`cart.closed`)"), (status = 503, body = ApiErrorBody)))]
pub async fn clear_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    Ok(Json(
        command(&state, &headers, id, principal, CartCommand::Clear {}).await?,
    ))
}

/// Keep a promotion code on the cart (it replaces any other). The cart takes any well-formed
/// code; its pricing says whether it applies and why not, and the checkout refuses a code that
/// does not apply with the same reason.
#[utoipa::path(put, path = "/store/carts/{cart_id}/code", tag = "cart", request_body = ApplyCode,
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = Cart), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody, description = "the cart is closed or being checked out"),
        (status = 422, body = ApiErrorBody, description = "not a well-formed code (`promotion.unknown_code`)"),
        (status = 503, body = ApiErrorBody)))]
pub async fn apply_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<ApplyCode>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    let code = PromotionCode::parse(&body.code)
        .map_err(|_| ApiError::from(PromotionError::UnknownCode.to_body()))?;
    let cmd = CartCommand::ApplyCode { code };
    Ok(Json(command(&state, &headers, id, principal, cmd).await?))
}

/// Take the promotion code off the cart.
#[utoipa::path(delete, path = "/store/carts/{cart_id}/code", tag = "cart",
    params(("cart_id" = String, Path, description = "cart id (UUID)"), ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = Cart), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody, description = "the cart is closed or being checked out"), (status = 503, body = ApiErrorBody)))]
pub async fn remove_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Cart>, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    Ok(Json(
        command(&state, &headers, id, principal, CartCommand::RemoveCode {}).await?,
    ))
}

/// What the cart costs now: each line with its discount, the promotions that apply, the code
/// and why it does not apply, shipping, tax and the total, priced by the checkout service
/// exactly as a checkout now would be (a checkout may still find a promotion used up
/// meanwhile). An empty cart has no price (`422 cart.empty`). Asked again by the same shopper
/// without a destination, the answer may come from the edge's memory of it, kept until the
/// cart, the catalog, the vendors or the promotions change or `valid_until` passes.
#[utoipa::path(get, path = "/store/carts/{cart_id}/pricing", tag = "cart",
    params(("cart_id" = String, Path, description = "cart id (UUID)"), PricingQuery,
           ("X-Cart-Token" = String, Header, description = "the cart's secret token")),
    responses((status = 200, body = CartPricing), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody, description = "an item is no longer for sale"),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn get_pricing(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    RawQuery(raw_query): RawQuery,
    Query(query): Query<PricingQuery>,
) -> Result<Response, ApiError> {
    let id = cart_id(&raw)?;
    let principal = auth::shopper(&state, &headers)?;
    if let Some(country) = &query.country {
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ApiError::bad_request(
                "request.invalid_country",
                "country is an ISO 3166-1 alpha-2 code in upper case, such as DE",
            ));
        }
    }
    // Each parameter's length limit, and whether it only means something with a country.
    let limits = [
        (
            &query.region,
            64,
            true,
            "request.invalid_region",
            "region is at most 64 characters, and needs a country",
        ),
        (
            &query.code,
            64,
            false,
            "request.invalid_code",
            "a promotion code is 3 to 40 characters",
        ),
        (
            &query.postcode,
            16,
            true,
            "request.invalid_postcode",
            "postcode is at most 16 characters, and needs a country",
        ),
        (
            &query.shipping_option,
            64,
            false,
            "request.invalid_shipping_option",
            "a shipping option id is at most 64 characters",
        ),
    ];
    for (value, max, needs_country, code, message) in limits {
        if value
            .as_ref()
            .is_some_and(|v| v.len() > max || (needs_country && query.country.is_none()))
        {
            return Err(ApiError::bad_request(code, message));
        }
    }
    let vendor_shipping_options = vendor_options(query.vendor_shipping_options.as_deref())?;
    // A shopper's cart page asked for again: the pricing kept since nothing it was priced
    // from changed (see `pricing_memo`). Kept only for the shopper who asked, whom the cart
    // authorized when it was priced.
    let has_destination = query.country.is_some()
        || query.shipping_option.is_some()
        || !vendor_shipping_options.is_empty();
    let memo = &state.pricing_memo;
    let memo_key = PricingMemo::key(
        &principal,
        raw_query.as_deref().unwrap_or(""),
        has_destination,
    );
    if let Some(key) = &memo_key {
        if let Some(body) = memo.get(&id, key) {
            metrics::counter!("agora_pricing_memo_requests_total", "outcome" => "hit").increment(1);
            return Ok(json_bytes(body));
        }
        metrics::counter!("agora_pricing_memo_requests_total", "outcome" => "miss").increment(1);
    }
    let stamp = memo.stamp();
    let quote = QuoteCart {
        cart_id: id.clone(),
        code: query.code,
        country: query.country,
        region: query.region,
        postcode: query.postcode,
        shipping_option: query.shipping_option,
        vendor_shipping_options,
    };
    let ctx = auth::context(&state, &headers);
    let pricing: agora_checkout::CartPricing = state
        .bus
        .call(
            &id,
            CommandId::new_random(),
            principal,
            &CheckoutRequest::Quote(quote),
            &ctx,
        )
        .await?;
    let body = Bytes::from(serde_json::to_vec(&pricing).map_err(ApiError::internal)?);
    if let (Some(key), Some(stamp)) = (memo_key, stamp) {
        memo.put(&id, key, stamp, pricing.valid_until, body.clone());
    }
    Ok(json_bytes(body))
}

/// A JSON answer from bytes already serialized.
fn json_bytes(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A command id for one step of merging `source` into `target`: a retried merge repeats the
/// same commands, which the carts then apply once.
fn merge_step(source: &str, target: &str, step: &str) -> CommandId {
    CommandId::from_uuid(Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("agora:cart-merge:{source}:{target}:{step}").as_bytes(),
    ))
}

/// The customer's cart to merge into: the one named, or their most recently changed open cart
/// (from the read model), or a new cart whose id follows from the guest cart, so a retry finds
/// the same one.
async fn merge_target(
    state: &AppState,
    headers: &HeaderMap,
    customer: &Principal,
    customer_id: Uuid,
    source: &str,
    named: Option<&str>,
) -> Result<String, ApiError> {
    if let Some(raw) = named {
        return cart_id(raw);
    }
    let newest: Option<String> = sqlx::query_scalar(
        "SELECT cart_id FROM carts WHERE customer_id = $1 AND status = 'open' AND cart_id <> $2
         ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(customer_id)
    .bind(source)
    .fetch_optional(&state.pool)
    .await?;
    if let Some(id) = newest {
        return Ok(id);
    }
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("agora:cart-merge-target:{customer_id}:{source}").as_bytes(),
    )
    .to_string();
    let _: CommandReply<CartView> = cart_command(
        state,
        headers,
        id.clone(),
        merge_step(source, &id, "create"),
        customer.clone(),
        CartCommand::Create {},
    )
    .await?;
    Ok(id)
}

/// Merge a guest cart into the signed-in customer's cart, after signing in: the guest cart
/// (proven by its `X-Cart-Token`) closes as `merged`, and its lines are added to the
/// customer's cart (quantities add up, capped at the per-line maximum). Safe to retry. A
/// customer cart that cannot take them (`409 cart.checkout_in_progress` while a checkout holds
/// it) changes nothing: the guest cart stays open with its lines.
#[utoipa::path(post, path = "/store/customers/me/cart/merge", tag = "cart", request_body = MergeCart,
    params(("X-Cart-Token" = String, Header, description = "the guest cart's secret token")),
    security(("bearer" = [])),
    responses((status = 200, body = Cart, description = "the customer's cart after the merge"), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn merge_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<MergeCart>,
) -> Result<Json<Cart>, ApiError> {
    let (customer_id, customer) = auth::me(&state, &headers)?;
    let customer = auth::as_shopper(customer)?;
    if !matches!(customer, Principal::Customer { .. }) {
        return Err(ApiError::forbidden(
            "only a customer's cart can absorb a guest cart",
        ));
    }
    let guest = auth::guest(&headers)?;
    let source = cart_id(&body.cart_id)?;
    let target = merge_target(
        &state,
        &headers,
        &customer,
        customer_id,
        &source,
        body.into_cart_id.as_deref(),
    )
    .await?;
    if target == source {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cart.merge_into_self",
            "a cart cannot be merged into itself",
        ));
    }
    // The target must be the customer's before anything changes: the cart service answers
    // `cart.not_found` for anyone else's.
    let _: Cart =
        service::get::<agora_cart::Cart, _>(&state, &headers, target.clone(), customer.clone())
            .await?;
    // The guest cart's lines, on the guest's authority. Only an open cart is merged, or one
    // already merged into this very target (a retry, which repeats the same commands).
    let source_view: CartView =
        service::get::<agora_cart::Cart, _>(&state, &headers, source.clone(), guest.clone())
            .await?;
    match source_view.status {
        CartStatus::Open => {}
        CartStatus::Merged if source_view.merged_into.as_deref() == Some(target.as_str()) => {}
        CartStatus::CheckingOut => return Err(CartError::CheckoutInProgress.to_body().into()),
        _ => return Err(CartError::Closed.to_body().into()),
    }
    // The target accepts first: a target that refuses (a checkout in progress, a closed cart)
    // leaves the guest cart as it was, open with its lines. Only then is the guest cart
    // closed; each step has a command id of its own, so a retry after a failure in between
    // applies neither twice.
    let absorb = CartCommand::AbsorbGuestCart {
        source_cart_id: source.clone(),
        lines: source_view.lines,
        code: source_view.code,
    };
    let merged: CommandReply<Cart> = cart_command(
        &state,
        &headers,
        target.clone(),
        merge_step(&source, &target, "absorb"),
        customer,
        absorb,
    )
    .await?;
    let _: CommandReply<CartView> = cart_command(
        &state,
        &headers,
        source.clone(),
        merge_step(&source, &target, "mark_merged"),
        guest,
        CartCommand::MarkMerged {
            target_cart_id: target.clone(),
        },
    )
    .await?;
    Ok(Json(merged.view))
}
