//! A shop over HTTP for checkout tests: products with stock, carts, checkouts, and waiting for
//! a checkout to settle. Works against any base URL (an in-process platform or a child
//! process).
#![allow(dead_code)]

use std::time::Duration;

use agora_nats::Bus;
use agora_testkit::eventually;
use serde_json::{json, Value};

use super::{system_get, ADMIN};

/// The webhook signing secret the test platforms are configured with.
pub const WEBHOOK_SECRET: &str = "whsec_test_agora";

/// Creates and publishes a product with one variant per `(sku, price in cents)`, and puts
/// `stock` units of each SKU on hand.
pub async fn product(
    http: &reqwest::Client,
    base: &str,
    variants: &[(&str, i64)],
    stock: i64,
) -> String {
    let variants: Vec<Value> = variants
        .iter()
        .map(|(sku, price)| json!({"sku": sku, "title": format!("Size {sku}"), "price": {"amount_minor": price, "currency": "EUR"}}))
        .collect();
    let r = http
        .post(format!("{base}/admin/products"))
        .bearer_auth(ADMIN)
        .json(&json!({"title": "Organic tee", "vendor_id": "acme", "variants": variants}))
        .send()
        .await
        .expect("create product");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let created: Value = r.json().await.expect("json");
    let id = created["id"]
        .as_str()
        .or(created["product"]["id"].as_str())
        .expect("product id")
        .to_string();
    let r = http
        .post(format!("{base}/admin/products/{id}/publish"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("publish");
    assert!(r.status().is_success(), "{}", r.status());
    for v in &variants {
        let sku = v["sku"].as_str().expect("sku");
        if stock > 0 {
            let r = http
                .post(format!("{base}/admin/inventory/{sku}/receive"))
                .bearer_auth(ADMIN)
                .json(&json!({"quantity": stock}))
                .send()
                .await
                .expect("receive");
            assert!(
                r.status().is_success(),
                "{}",
                r.text().await.unwrap_or_default()
            );
        }
    }
    id
}

/// Waits until the storefront's read model sells every SKU (checkout prices from it).
pub async fn until_for_sale(pool: &sqlx::PgPool, skus: &[&str]) {
    let skus: Vec<String> = skus.iter().map(|s| s.to_string()).collect();
    eventually(Duration::from_secs(30), || {
        let pool = pool.clone();
        let skus = skus.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(DISTINCT s) FROM products, unnest(skus) s WHERE status = 'published' AND s = ANY($1)",
            )
            .bind(&skus)
            .fetch_one(&pool)
            .await
            .ok()?;
            (n == skus.len() as i64).then_some(())
        }
    })
    .await
    .expect("products for sale");
}

/// A guest cart holding `lines`.
pub async fn cart(http: &reqwest::Client, base: &str, lines: &[(&str, i64)]) -> (String, String) {
    let created: Value = http
        .post(format!("{base}/store/carts"))
        .json(&json!({}))
        .send()
        .await
        .expect("create cart")
        .json()
        .await
        .expect("json");
    let id = created["cart_id"].as_str().expect("id").to_string();
    let token = created["cart_token"].as_str().expect("token").to_string();
    for (sku, quantity) in lines {
        let r = http
            .post(format!("{base}/store/carts/{id}/items"))
            .header("X-Cart-Token", &token)
            .json(&json!({"sku": sku, "quantity": quantity}))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 200);
    }
    (id, token)
}

pub fn checkout_body(payment_method: &str) -> Value {
    json!({
        "email": "ada@example.com",
        "shipping_address": {"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
                              "postal_code": "N1 9GU", "country": "GB"},
        "payment_method": payment_method,
    })
}

pub async fn checkout(
    http: &reqwest::Client,
    base: &str,
    cart: &(String, String),
    key: &str,
    body: &Value,
) -> reqwest::Response {
    http.post(format!("{base}/store/carts/{}/checkout", cart.0))
        .header("X-Cart-Token", &cart.1)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("checkout")
}

/// Checks out and returns the order id (asserting 201 or 200).
pub async fn checkout_ok(
    http: &reqwest::Client,
    base: &str,
    cart: &(String, String),
    key: &str,
    payment_method: &str,
) -> String {
    let r = checkout(http, base, cart, key, &checkout_body(payment_method)).await;
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert!(status == 201 || status == 200, "{status}: {body}");
    body["order_id"].as_str().expect("order id").to_string()
}

/// Waits until the checkout saga of `order_id` has nothing left to do and returns the order.
pub async fn settled(bus: &Bus, order_id: &str, within: Duration) -> Value {
    eventually(within, || async {
        let checkout = system_get::<agora_checkout::Checkout>(bus, order_id)
            .await
            .ok()?;
        let phase = checkout["phase"].as_str()?.to_string();
        if !["completed", "failed", "reverted", "awaiting_payment"].contains(&phase.as_str()) {
            return None;
        }
        system_get::<agora_order::Order>(bus, order_id).await.ok()
    })
    .await
    .unwrap_or_else(|_| panic!("checkout {order_id} did not settle"))
}

/// How many times the test provider actually performed `operation` (`authorize`, `capture`,
/// `void`, `refund`) for an order: the provider's own ledger, not ours.
pub async fn gateway_ops(pool: &sqlx::PgPool, order_id: &str, operation: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM test_gateway_operations o JOIN test_gateway_intents i ON i.id = o.intent_id
         WHERE i.order_id = $1 AND o.operation = $2",
    )
    .bind(order_id)
    .bind(operation)
    .fetch_one(pool)
    .await
    // An error is not "no operations": tests assert counts of 0 too.
    .expect("the test provider's ledger")
}

/// Creates and activates, as an admin, a promotion whose code `code` takes `off` cents off an
/// order (named "`code` off"), with `limits` (`{"total_uses": .., "budget": ..}`, or `{}`),
/// and returns its id.
pub async fn code_promotion(
    http: &reqwest::Client,
    base: &str,
    code: &str,
    off: i64,
    limits: Value,
) -> String {
    promotion(
        http,
        base,
        json!({
            "name": format!("{code} off"),
            "currency": "EUR",
            "action": {"amount_off_order": {"amount": {"amount_minor": off, "currency": "EUR"}}},
            "limits": limits
        }),
        json!({"code": {"code": code}}),
    )
    .await
}

/// Creates and activates, as an admin, a promotion with `terms` and `codes` (`"automatic"`,
/// `{"code": {..}}`...), and returns its id.
pub async fn promotion(http: &reqwest::Client, base: &str, terms: Value, codes: Value) -> String {
    let r = http
        .post(format!("{base}/admin/promotions"))
        .bearer_auth(ADMIN)
        .json(&json!({"terms": terms, "codes": codes}))
        .send()
        .await
        .expect("create promotion");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    let id = body["promotion_id"].as_str().expect("id").to_string();
    let r = http
        .post(format!("{base}/admin/promotions/{id}/activate"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("activate");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    id
}

/// [`checkout_body`] with a promotion code.
pub fn checkout_body_with_code(payment_method: &str, code: &str) -> Value {
    let mut body = checkout_body(payment_method);
    body["code"] = json!(code);
    body
}

/// Posts `body` to the Stripe webhook, signed now with the tests' secret, as Stripe would.
pub async fn stripe_webhook(http: &reqwest::Client, base: &str, body: String) -> reqwest::Response {
    let signature = agora_gateway::webhook::sign_stripe_payload(
        body.as_bytes(),
        WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
    );
    http.post(format!("{base}/hooks/payments/stripe"))
        .header("Stripe-Signature", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("webhook")
}

/// The cart's pricing (`GET /store/carts/{id}/pricing{query}`, `query` with its `?`): the
/// status and the body.
pub async fn pricing(
    http: &reqwest::Client,
    base: &str,
    cart: &(String, String),
    query: &str,
) -> (u16, Value) {
    let r = http
        .get(format!("{base}/store/carts/{}/pricing{query}", cart.0))
        .header("X-Cart-Token", &cart.1)
        .send()
        .await
        .expect("pricing");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
