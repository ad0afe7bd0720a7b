//! Checkout and payment routes: `POST /store/carts/{id}/checkout`, the shopper's payment
//! confirmation, and the payment provider's webhook.

use std::collections::BTreeMap;

use agora_checkout::{CheckoutRequest, StartCheckout};
use agora_kernel::{CommandId, Principal};
use agora_nats::CommandReply;
use agora_order::Order;
use agora_payment::{Payment, PaymentRequest, ProviderEvent};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiErrorBody, Json, Path};
use crate::{auth, params, service, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/store/carts/{cart_id}/checkout", post(checkout))
        .route("/store/orders/{order_id}/payment", get(get_payment))
        .route(
            "/store/orders/{order_id}/payment/confirm",
            post(confirm_payment),
        )
        .route("/hooks/payments/stripe", post(stripe_webhook))
}

/// A postal address.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// Up to 200 characters, not blank (as `line1`, `city` and `postal_code`).
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 200,
        pattern = "\\S"
    )]
    pub name: String,
    #[schema(
        example = "12 Analytical Row",
        min_length = 1,
        max_length = 200,
        pattern = "\\S"
    )]
    pub line1: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[schema(example = "London", min_length = 1, max_length = 200, pattern = "\\S")]
    pub city: String,
    #[schema(example = "N1 9GU", min_length = 1, max_length = 200, pattern = "\\S")]
    pub postal_code: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    #[schema(example = "GB", pattern = "^[A-Z]{2}$")]
    pub country: String,
    #[serde(default)]
    #[schema(max_length = 32)]
    pub phone: Option<String>,
}

/// Body of `POST /store/carts/{id}/checkout`. Prices, totals, the owner and the status are
/// never taken from the client: they come from the catalog, the rules and the credentials.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    #[schema(example = "ada@example.com", min_length = 3, max_length = 254)]
    pub email: String,
    pub shipping_address: AddressBody,
    /// The payment provider's payment-method token, never a card number. The built-in test
    /// provider knows `pm_card_visa`, `pm_card_mastercard`, `pm_card_chargeDeclined`,
    /// `pm_card_chargeDeclinedInsufficientFunds`, `pm_card_authenticationRequired`,
    /// `pm_card_timeoutAfterCharge` and `pm_card_unavailable`.
    #[schema(
        example = "pm_card_visa",
        pattern = "^[!-~]{1,128}$",
        min_length = 1,
        max_length = 128
    )]
    pub payment_method: String,
    /// A promotion code (3–40 characters). It must apply to the cart, or the checkout is
    /// refused with the reason (`409`/`422 promotion.*`: `promotion.unknown_code`,
    /// `promotion.used_up`, `promotion.minimum_not_reached`...). Automatic promotions apply
    /// without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "SUMMER10", min_length = 3, max_length = 40)]
    pub code: Option<String>,
    /// The shipping option (an `option_id` from the cart's `shipping_options` for this
    /// address); default: the cheapest that ships there. `422 shipping.no_zone` when the shop
    /// does not ship to the address, `422 shipping.option_unavailable` when the option is not
    /// offered for it (or the shop has no shipping zones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "standard", min_length = 1, max_length = 64)]
    pub shipping_option: Option<String>,
    /// The option for each marketplace vendor that ships its lines at its own rates (the
    /// cart pricing's `vendor_shipping`), by vendor id; default: its cheapest. `shipping_option`
    /// is then for the other lines, at the shop's rates. `422 shipping.option_unavailable`
    /// when a vendor named ships none of the cart's lines at its own rates or does not offer
    /// the option.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(example = json!({"acme": "express"}))]
    pub vendor_shipping_options: BTreeMap<String, String>,
}

/// The order created by a checkout (the order view; see `GET /store/orders/{id}`).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CheckoutReply {
    pub order_id: String,
    /// `placed` right after checkout; follow `GET /store/orders/{id}` to `confirmed` or
    /// `cancelled`.
    pub status: String,
    #[schema(value_type = Object)]
    pub order: serde_json::Value,
}

const MISSING_KEY: &str = "request.missing_idempotency_key";

/// At most [`MAX_VENDOR_OPTIONS`] vendors, each id and option id 1 to 64 characters.
pub(crate) fn check_vendor_options(options: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let fits = |s: &String| (1..=64).contains(&s.len());
    if options.len() > MAX_VENDOR_OPTIONS || !options.iter().all(|(k, v)| fits(k) && fits(v)) {
        return Err(ApiError::bad_request(
            "request.invalid_shipping_option",
            "vendor_shipping_options names at most 100 vendors, each id and option id 1 to 64 characters",
        ));
    }
    Ok(())
}

/// Vendors one checkout may name options for: one per line at most.
const MAX_VENDOR_OPTIONS: usize = 100;

/// The order id of a checkout: the same cart and key always give the same order.
fn order_id(cart_id: &str, headers: &HeaderMap) -> Result<String, ApiError> {
    let key = service::idempotency_key(headers)?.ok_or_else(|| {
        ApiError::bad_request(MISSING_KEY, "checkout needs an Idempotency-Key header")
    })?;
    Ok(Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("agora:checkout:{cart_id}:{key}").as_bytes(),
    )
    .to_string())
}

/// Turn the cart into an order and start paying for it.
///
/// Requires `Idempotency-Key`: every retry with the same key returns the same order; the same
/// key with a different body is refused (`409 checkout.idempotency_key_reused`). The order is
/// `placed` when this returns; stock reservation, payment authorization, confirmation and
/// capture follow within moments (see `GET /store/orders/{id}`). A second checkout of a cart
/// whose checkout is in progress gets `409 cart.checkout_in_progress`.
#[utoipa::path(post, path = "/store/carts/{cart_id}/checkout", tag = "checkout",
    params(("cart_id" = String, Path, description = "cart id"),
           ("Idempotency-Key" = String, Header, description = "makes retries safe; required"),
           ("X-Cart-Token" = String, Header, description = "the guest cart's token")),
    request_body = CheckoutBody,
    responses((status = 201, body = CheckoutReply), (status = 200, body = CheckoutReply, description = "a retry: the same order"),
              (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
              (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn checkout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(cart_id): Path<String>,
    Json(body): Json<CheckoutBody>,
) -> Result<(StatusCode, Json<CheckoutReply>), ApiError> {
    let cart_id = params::uuid_id(&cart_id, "cart")?;
    // The payment service refuses such a token too, but only after the order is placed; the
    // document promises the refusal now.
    let method = body.payment_method.as_bytes();
    if !(1..=128).contains(&method.len()) || !method.iter().all(u8::is_ascii_graphic) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment.invalid_method",
            "payment_method is 1 to 128 visible ASCII characters",
        ));
    }
    check_vendor_options(&body.vendor_shipping_options)?;
    let principal = auth::shopper(&state, &headers)?;
    let order_id = order_id(&cart_id, &headers)?;
    let command_id = service::command_id(&headers, &principal)?;
    let canonical = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    let request_hash = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(
            [cart_id.as_bytes(), b"\n", &canonical].concat(),
        ))
    };
    let a = body.shipping_address;
    let start = StartCheckout {
        cart_id,
        email: body.email,
        shipping_address: agora_order::Address {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            region: a.region,
            country: a.country,
            phone: a.phone,
        },
        payment_method: body.payment_method,
        request_hash,
        code: body.code,
        shipping_option: body.shipping_option,
        vendor_shipping_options: body.vendor_shipping_options,
    };
    let reply: CommandReply<serde_json::Value> = service::command_as(
        &state,
        &headers,
        order_id.clone(),
        command_id,
        principal,
        CheckoutRequest::Start(start),
    )
    .await?;
    let status = reply.view["status"]
        .as_str()
        .unwrap_or("placed")
        .to_string();
    let code = if reply.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        code,
        Json(CheckoutReply {
            order_id,
            status,
            order: reply.view,
        }),
    ))
}

/// The payment's state as the shopper may see it.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PaymentState {
    /// `authorizing`, `requires_action`, `authorized`, `captured`, `declined`, `failed`...
    pub status: String,
    /// While `requires_action`: the secret the provider's client library needs to confirm.
    pub client_secret: Option<String>,
}

fn payment_state(view: &serde_json::Value) -> PaymentState {
    PaymentState {
        status: view["status"].as_str().unwrap_or_default().to_string(),
        client_secret: view["client_secret"].as_str().map(str::to_string),
    }
}

/// The order's payment as the shopper may see it: its status and, while the provider needs the
/// shopper's action (3-D Secure), the client secret the provider's client library needs.
#[utoipa::path(get, path = "/store/orders/{order_id}/payment", tag = "checkout",
    params(("order_id" = String, Path, description = "order id"),
           ("X-Cart-Token" = String, Header, description = "the token of the cart the order came from")),
    responses((status = 200, body = PaymentState), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn get_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Result<Json<PaymentState>, ApiError> {
    let order_id = params::uuid_id(&order_id, "order")?;
    let principal = auth::shopper(&state, &headers)?;
    // The order service decides whether this shopper owns the order; the payment service
    // serves the platform only.
    let _: serde_json::Value =
        service::get::<Order, _>(&state, &headers, order_id.clone(), principal).await?;
    let view: serde_json::Value = service::get::<Payment, _>(
        &state,
        &headers,
        order_id,
        Principal::system("edge-payment-status"),
    )
    .await?;
    Ok(Json(payment_state(&view)))
}

/// Confirm a payment that required the shopper's action (3-D Secure), after the provider's
/// client library completed it. Safe to repeat; a payment confirmed by the provider's webhook
/// first is simply reported.
#[utoipa::path(post, path = "/store/orders/{order_id}/payment/confirm", tag = "checkout",
    params(("order_id" = String, Path, description = "order id"),
           ("X-Cart-Token" = String, Header, description = "the token of the cart the order came from")),
    responses((status = 200, body = PaymentState), (status = 401, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn confirm_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Result<Json<PaymentState>, ApiError> {
    let order_id = params::uuid_id(&order_id, "order")?;
    let principal = auth::shopper(&state, &headers)?;
    // The order service decides whether this shopper owns the order.
    let _: serde_json::Value =
        service::get::<Order, _>(&state, &headers, order_id.clone(), principal).await?;
    let reply: CommandReply<serde_json::Value> = service::command(
        &state,
        &headers,
        order_id,
        Principal::system("edge-payment-confirmation"),
        PaymentRequest::Confirm {},
    )
    .await?;
    Ok(Json(payment_state(&reply.view)))
}

/// Stripe webhook: verifies `Stripe-Signature` (HMAC-SHA256 over `t.body`, five minutes of
/// tolerance, constant-time comparison) and hands the event to the payment service, which
/// de-duplicates it by Stripe's event id. Answers 2xx for events that do not concern a known
/// payment, so Stripe stops retrying them; 5xx when the platform could not take it, so Stripe
/// retries.
#[utoipa::path(post, path = "/hooks/payments/stripe", tag = "webhooks",
    params(("Stripe-Signature" = String, Header, description = "t=<unix>,v1=<hex hmac>")),
    request_body(content = Object, description = "a Stripe event"),
    responses((status = 200, description = "received"), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(secret) = state.config.stripe_webhook_secret.as_deref() else {
        return Err(ApiError::not_found(
            "webhook.not_configured",
            "no Stripe webhook secret is configured",
        ));
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    agora_gateway::webhook::verify_stripe_signature(&body, signature, secret, now, 300)
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    let event = agora_gateway::webhook::parse_stripe_event(&body)
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    // An intent and its refunds carry our order id; a dispute names only the intent, which the
    // payments read model knows (a dispute comes days after the payment was recorded).
    let order_id = match event.order_id.clone() {
        Some(id) => Some(id),
        None => match &event.provider_ref {
            Some(reference) => sqlx::query_scalar::<_, String>(
                "SELECT payment_id FROM payments WHERE provider_ref = $1 LIMIT 1",
            )
            .bind(reference)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| {
                ApiError::unavailable(agora_kernel::ErrorBody::new(
                    agora_kernel::ErrorKind::Unavailable,
                    "payments.unavailable",
                    format!("payments lookup: {e}"),
                ))
            })?,
            None => None,
        },
    };
    let Some(order_id) = order_id.filter(|id| Uuid::parse_str(id).is_ok()) else {
        return Ok(Json(
            serde_json::json!({"received": true, "applied": false}),
        ));
    };
    let command_id = CommandId::from_uuid(Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("stripe:event:{}", event.id).as_bytes(),
    ));
    let command = PaymentRequest::ProviderEvent(ProviderEvent {
        event_id: event.id,
        provider_ref: event.provider_ref,
        kind: event.kind,
    });
    let ctx = auth::context(&state, &headers);
    let reply: Result<CommandReply<serde_json::Value>, _> = state
        .bus
        .call(
            &order_id,
            command_id,
            Principal::system("stripe-webhook"),
            &command,
            &ctx,
        )
        .await;
    match reply {
        Ok(_) => Ok(Json(serde_json::json!({"received": true, "applied": true}))),
        Err(e) if e.code == "payment.not_found" => Ok(Json(
            serde_json::json!({"received": true, "applied": false}),
        )),
        Err(e) => Err(e.into()),
    }
}
