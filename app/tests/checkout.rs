//! Checkout end to end: cart → order → stock → payment → confirmation, or everything undone;
//! exactly once under retries, races and hostile webhooks.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agora::Roles;
use common::shop::{self, cart, checkout, checkout_body, checkout_ok, gateway_ops, settled};
use common::{spawn_app, system_get, TestApp, ADMIN};
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(60);

async fn shop_with(app: &TestApp, variants: &[(&str, i64)], stock: i64) {
    shop::product(&app.http, &app.base, variants, stock).await;
    let skus: Vec<&str> = variants.iter().map(|(s, _)| *s).collect();
    shop::until_for_sale(&app.pool, &skus).await;
}

async fn stock(app: &TestApp, sku: &str) -> Value {
    system_get::<agora_inventory::StockItem>(&app.bus().await, sku)
        .await
        .expect("stock")
}

async fn payment_events(app: &TestApp, order_id: &str, event_type: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'payment' AND aggregate_id = $1 AND event_type = $2",
    )
    .bind(order_id)
    .bind(event_type)
    .fetch_one(&app.pool)
    .await
    .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkout_prices_from_the_catalog_pays_confirms_and_closes_the_cart() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, &[("TEE-S", 1500), ("TEE-M", 1750)], 10).await;
    let bus = app.bus().await;
    let c = cart(&app.http, &app.base, &[("TEE-S", 2), ("TEE-M", 1)]).await;

    let r = checkout(
        &app.http,
        &app.base,
        &c,
        "k1",
        &checkout_body("pm_card_visa"),
    )
    .await;
    assert_eq!(r.status(), 201);
    let placed: Value = r.json().await.expect("json");
    let order_id = placed["order_id"].as_str().expect("id").to_string();
    assert_eq!(placed["status"], "placed");
    // 2 × 15.00 + 17.50 = 47.50, shipping 4.99, 19 % tax on 52.49 = 9.97 (half up): 62.46.
    let order = &placed["order"];
    assert_eq!(order["subtotal"]["amount_minor"], 4750);
    assert_eq!(order["shipping"]["amount_minor"], 499);
    assert_eq!(order["tax"]["amount_minor"], 997);
    assert_eq!(order["total"]["amount_minor"], 6246);

    let order = settled(&bus, &order_id, SETTLE).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(order["captured"]["amount_minor"], 6246);
    let timeline: Vec<&str> = order["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["event"].as_str().expect("event"))
        .collect();
    assert_eq!(
        timeline,
        [
            "placed",
            "stock_reserved",
            "payment_authorized",
            "confirmed",
            "payment_captured"
        ]
    );
    // Sold units left stock; nothing stays reserved.
    let s = stock(&app, "TEE-S").await;
    assert_eq!(
        (s["on_hand"].as_i64(), s["reserved"].as_i64()),
        (Some(8), Some(0)),
        "{s}"
    );
    // The provider captured once; the cart is closed.
    assert_eq!(gateway_ops(&app.pool, &order_id, "capture").await, 1);
    let cart_view: Value = app
        .http
        .get(format!("{}/store/carts/{}", app.base, c.0))
        .header("X-Cart-Token", &c.1)
        .send()
        .await
        .expect("cart")
        .json()
        .await
        .expect("json");
    assert_eq!(cart_view["status"], "checked_out");
    assert_eq!(cart_view["order_id"], order_id.as_str());

    // The shopper sees the order with the cart's token; another guest sees nothing.
    let mine = app
        .http
        .get(format!("{}/store/orders/{order_id}", app.base))
        .header("X-Cart-Token", &c.1)
        .send()
        .await
        .expect("get");
    assert_eq!(mine.status(), 200);
    let theirs = app
        .http
        .get(format!("{}/store/orders/{order_id}", app.base))
        .header("X-Cart-Token", "someone-else")
        .send()
        .await
        .expect("get");
    assert_eq!(theirs.status(), 404);
    // The read models follow.
    common::until_sql(
        &app.pool,
        &format!("SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = '{order_id}' AND status = 'confirmed')"),
        SETTLE,
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_checkouts_are_refused_and_change_nothing() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, &[("MUG-1", 900)], 5).await;
    let c = cart(&app.http, &app.base, &[("MUG-1", 1)]).await;
    // No key, a client-sent price, a bad address, an unknown SKU, an empty cart.
    let r = app
        .http
        .post(format!("{}/store/carts/{}/checkout", app.base, c.0))
        .header("X-Cart-Token", &c.1)
        .json(&checkout_body("pm_card_visa"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let mut priced = checkout_body("pm_card_visa");
    priced["total"] = json!({"amount_minor": 1, "currency": "EUR"});
    assert_eq!(
        checkout(&app.http, &app.base, &c, "p", &priced)
            .await
            .status(),
        422
    );
    let mut bad_address = checkout_body("pm_card_visa");
    bad_address["shipping_address"]["country"] = json!("Germany");
    let r = checkout(&app.http, &app.base, &c, "a", &bad_address).await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "order.invalid_address");
    let unknown = cart(&app.http, &app.base, &[("NOPE-1", 1)]).await;
    let r = checkout(
        &app.http,
        &app.base,
        &unknown,
        "u",
        &checkout_body("pm_card_visa"),
    )
    .await;
    assert_eq!(r.status(), 409);
    let empty = cart(&app.http, &app.base, &[]).await;
    let r = checkout(
        &app.http,
        &app.base,
        &empty,
        "e",
        &checkout_body("pm_card_visa"),
    )
    .await;
    assert_eq!(r.status(), 422);
    // Someone else's cart.
    let stranger = (c.0.clone(), "not-the-token".to_string());
    let r = checkout(
        &app.http,
        &app.base,
        &stranger,
        "s",
        &checkout_body("pm_card_visa"),
    )
    .await;
    assert_eq!(r.status(), 404);
    let written: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type IN ('order', 'checkout', 'payment')",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(written, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_retry_with_the_same_key_gets_the_same_order_and_one_capture() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, &[("CAP-1", 1200)], 100).await;
    let bus = app.bus().await;
    let mut orders = Vec::new();
    for i in 0..12 {
        let c = cart(&app.http, &app.base, &[("CAP-1", 1)]).await;
        let key = format!("retry-{i}");
        // Two concurrent attempts, then a third after both.
        let body = checkout_body("pm_card_visa");
        let (a, b) = tokio::join!(
            checkout(&app.http, &app.base, &c, &key, &body),
            checkout(&app.http, &app.base, &c, &key, &body),
        );
        let mut ids = vec![];
        for r in [a, b] {
            assert!(r.status() == 201 || r.status() == 200, "{}", r.status());
            let v: Value = r.json().await.expect("json");
            ids.push(v["order_id"].as_str().expect("id").to_string());
        }
        let third = checkout_ok(&app.http, &app.base, &c, &key, "pm_card_visa").await;
        ids.push(third);
        ids.dedup();
        assert_eq!(ids.len(), 1, "one order per key");
        // The same key with another body is refused.
        let r = checkout(
            &app.http,
            &app.base,
            &c,
            &key,
            &checkout_body("pm_card_mastercard"),
        )
        .await;
        assert_eq!(r.status(), 409);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["code"], "checkout.idempotency_key_reused");
        // A new key on the same cart while (or after) it is checked out makes no second order.
        let r = checkout(
            &app.http,
            &app.base,
            &c,
            &format!("other-{i}"),
            &checkout_body("pm_card_visa"),
        )
        .await;
        assert_eq!(r.status(), 409);
        orders.push(ids.remove(0));
    }
    for id in &orders {
        let order = settled(&bus, id, SETTLE).await;
        assert_eq!(order["status"], "confirmed");
        assert_eq!(gateway_ops(&app.pool, id, "capture").await, 1);
        assert_eq!(gateway_ops(&app.pool, id, "authorize").await, 1);
        assert_eq!(payment_events(&app, id, "PaymentCaptured").await, 1);
    }
    let placed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OrderPlaced'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(placed, orders.len() as i64);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_checkouts_for_a_hundred_units_sell_exactly_the_stock() {
    let app = spawn_app(Roles::all()).await;
    let skus = ["RUSH-A", "RUSH-B", "RUSH-C", "RUSH-D", "RUSH-E"];
    let variants: Vec<(&str, i64)> = skus.iter().map(|s| (*s, 2500)).collect();
    shop_with(&app, &variants, 20).await;
    let bus = app.bus().await;
    let shoppers: usize = std::env::var("AGORA_TEST_CHECKOUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);

    // Carts first: one or two SKUs each, some with two units, so failures leave partial
    // reservations to release.
    let carts = futures::future::join_all((0..shoppers).map(|i| {
        let http = app.http.clone();
        let base = app.base.clone();
        async move {
            let first = skus[i % 5];
            let lines: Vec<(&str, i64)> = match i % 4 {
                0 => vec![(first, 1), (skus[(i + 1) % 5], 1)],
                1 => vec![(first, 2)],
                _ => vec![(first, 1)],
            };
            (cart(&http, &base, &lines).await, lines)
        }
    }))
    .await;

    // A reader checks all along that no SKU is ever oversold.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        let bus = bus.clone();
        tokio::spawn(async move {
            let mut reads = 0u32;
            while !done.load(Ordering::SeqCst) {
                for sku in skus {
                    let s = system_get::<agora_inventory::StockItem>(&bus, sku)
                        .await
                        .expect("stock");
                    let field =
                        |name: &str| s[name].as_i64().unwrap_or_else(|| panic!("{name}: {s}"));
                    let (available, reserved, on_hand) =
                        (field("available"), field("reserved"), field("on_hand"));
                    assert!(available >= 0 && on_hand >= 0, "{s}");
                    assert_eq!(available, on_hand - reserved, "{s}");
                }
                reads += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            reads
        })
    };

    let started = std::time::Instant::now();
    let results = futures::future::join_all(carts.iter().enumerate().map(|(i, (c, _))| {
        let http = app.http.clone();
        let base = app.base.clone();
        async move {
            // Every tenth shopper's card is declined: authorization-stage failures too.
            let card = if i % 10 == 3 && i < shoppers / 2 {
                "pm_card_chargeDeclined"
            } else {
                "pm_card_visa"
            };
            // Under this load a request may time out (503); the API's contract is to retry
            // with the same key, which must give the same single order.
            let mut attempts = 0;
            loop {
                attempts += 1;
                let r = checkout(&http, &base, c, &format!("rush-{i}"), &checkout_body(card)).await;
                let status = r.status();
                let body: Value = r.json().await.expect("json");
                if status == 503 && attempts < 10 {
                    continue;
                }
                assert!(
                    status == 201 || (attempts > 1 && status == 200),
                    "{status}: {body}"
                );
                break body["order_id"].as_str().expect("id").to_string();
            }
        }
    }))
    .await;
    let mut units_sold = HashMap::new();
    let mut confirmed = 0;
    for (order_id, (_, lines)) in results.iter().zip(&carts) {
        let order = settled(&bus, order_id, Duration::from_secs(180)).await;
        match order["status"].as_str() {
            Some("confirmed") => {
                confirmed += 1;
                for (sku, q) in lines {
                    *units_sold.entry(*sku).or_insert(0) += q;
                }
                assert_eq!(gateway_ops(&app.pool, order_id, "capture").await, 1);
            }
            Some("cancelled") => {
                // Compensated: nothing captured, any authorization voided, nothing reserved.
                assert_eq!(gateway_ops(&app.pool, order_id, "capture").await, 0);
                let authorized = gateway_ops(&app.pool, order_id, "authorize").await;
                let voided = gateway_ops(&app.pool, order_id, "void").await;
                assert!(
                    authorized == 0 || voided == 1,
                    "{order_id}: {authorized} authorized, {voided} voided"
                );
                let reason = order["cancellation"]["reason"].as_str().expect("reason");
                assert!(
                    ["out_of_stock", "payment_declined"].contains(&reason),
                    "{order}"
                );
            }
            other => panic!("order {order_id} ended {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let reads = reader.await.expect("reader");
    assert!(reads > 0, "the reader never looked");
    println!("{shoppers} checkouts settled in {elapsed:?}: {confirmed} confirmed");

    // Exactly the stock was sold: 100 units, every SKU at zero, nothing left reserved.
    let total: i64 = units_sold.values().sum();
    assert_eq!(total, 100, "{units_sold:?}");
    for sku in skus {
        let s = stock(&app, sku).await;
        assert_eq!(s["on_hand"], 0, "{s}");
        assert_eq!(s["reserved"], 0, "{s}");
        assert_eq!(units_sold.get(sku), Some(&20));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declined_timed_out_and_authentication_required_payments_end_cleanly() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, &[("PAY-1", 3000)], 10).await;
    let bus = app.bus().await;

    // Declined: cancelled with the reason, stock back, the cart open again.
    let c = cart(&app.http, &app.base, &[("PAY-1", 2)]).await;
    let declined = checkout_ok(&app.http, &app.base, &c, "d", "pm_card_chargeDeclined").await;
    let order = settled(&bus, &declined, SETTLE).await;
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["cancellation"]["reason"], "payment_declined");
    let s = stock(&app, "PAY-1").await;
    assert_eq!(
        (s["on_hand"].as_i64(), s["reserved"].as_i64()),
        (Some(10), Some(0))
    );
    let cart_view = system_get::<agora_cart::Cart>(&bus, &c.0)
        .await
        .expect("cart");
    assert_eq!(cart_view["status"], "open");
    // ...so the shopper can try again with another card and a new key.
    let retried = checkout_ok(&app.http, &app.base, &c, "d2", "pm_card_visa").await;
    assert_eq!(settled(&bus, &retried, SETTLE).await["status"], "confirmed");

    // The provider charged but the answer was lost: the retry with the same key finds it.
    let c = cart(&app.http, &app.base, &[("PAY-1", 1)]).await;
    let ambiguous = checkout_ok(&app.http, &app.base, &c, "t", "pm_card_timeoutAfterCharge").await;
    let order = settled(&bus, &ambiguous, SETTLE).await;
    assert_eq!(order["status"], "confirmed");
    assert_eq!(gateway_ops(&app.pool, &ambiguous, "authorize").await, 1);
    assert_eq!(gateway_ops(&app.pool, &ambiguous, "capture").await, 1);

    // 3-D Secure: the order waits with its stock reserved until the shopper confirms.
    let c = cart(&app.http, &app.base, &[("PAY-1", 1)]).await;
    let pending = checkout_ok(
        &app.http,
        &app.base,
        &c,
        "3ds",
        "pm_card_authenticationRequired",
    )
    .await;
    let order = settled(&bus, &pending, SETTLE).await;
    assert_eq!(order["status"], "stock_reserved");
    assert_eq!(stock(&app, "PAY-1").await["reserved"], 1);
    let confirm = || async {
        app.http
            .post(format!(
                "{}/store/orders/{pending}/payment/confirm",
                app.base
            ))
            .header("X-Cart-Token", &c.1)
            .send()
            .await
            .expect("confirm")
    };
    let (a, b) = tokio::join!(confirm(), confirm());
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 200);
    common::until_sql(
        &app.pool,
        &format!("SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = '{pending}' AND status = 'confirmed' AND captured_minor > 0)"),
        SETTLE,
    )
    .await;
    assert_eq!(gateway_ops(&app.pool, &pending, "capture").await, 1);
    // Another guest cannot confirm it.
    let r = app
        .http
        .post(format!(
            "{}/store/orders/{pending}/payment/confirm",
            app.base
        ))
        .header("X-Cart-Token", "stranger")
        .send()
        .await
        .expect("confirm");
    assert_eq!(r.status(), 404);
    app.stop().await;
}

fn signed(payload: &Value, t: i64) -> (String, String) {
    let body = payload.to_string();
    let header =
        agora_gateway::webhook::sign_stripe_payload(body.as_bytes(), shop::WEBHOOK_SECRET, t);
    (body, header)
}

async fn webhook(app: &TestApp, body: String, signature: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/hooks/payments/stripe", app.base))
        .header("Stripe-Signature", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("webhook")
}

fn intent_event(id: &str, kind: &str, intent: &str, order_id: &str, amount: i64) -> Value {
    json!({
        "id": id, "object": "event", "type": kind, "created": chrono::Utc::now().timestamp(),
        "data": {"object": {"id": intent, "object": "payment_intent", "amount": amount,
            "amount_received": amount, "amount_capturable": amount, "status": "requires_capture",
            "metadata": {"agora_order_id": order_id}}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_late_out_of_order_and_forged_webhooks_never_double_an_effect() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, &[("HOOK-1", 2000)], 10).await;
    let bus = app.bus().await;

    // A 3-D Secure payment confirmed by the provider's webhook racing the shopper's client.
    let c = cart(&app.http, &app.base, &[("HOOK-1", 1)]).await;
    let order_id = checkout_ok(
        &app.http,
        &app.base,
        &c,
        "w",
        "pm_card_authenticationRequired",
    )
    .await;
    settled(&bus, &order_id, SETTLE).await;
    let payment = system_get::<agora_payment::Payment>(&bus, &order_id)
        .await
        .expect("payment");
    let intent = payment["provider_ref"].as_str().expect("ref").to_string();
    let amount = payment["amount"]["amount_minor"].as_i64().expect("amount");
    let now = chrono::Utc::now().timestamp();

    // Forged: wrong secret, tampered body, stale timestamp. All refused, none recorded.
    let event = intent_event(
        "evt_1",
        "payment_intent.amount_capturable_updated",
        &intent,
        &order_id,
        amount,
    );
    let (body, _) = signed(&event, now);
    let forged = agora_gateway::webhook::sign_stripe_payload(body.as_bytes(), "whsec_wrong", now);
    assert_eq!(webhook(&app, body.clone(), &forged).await.status(), 400);
    let (_, good_sig) = signed(&event, now);
    let tampered = body.replace(&order_id, "00000000-0000-4000-8000-000000000000");
    assert_eq!(webhook(&app, tampered, &good_sig).await.status(), 400);
    let (stale_body, stale_sig) = signed(&event, now - 3600);
    assert_eq!(webhook(&app, stale_body, &stale_sig).await.status(), 400);
    assert_eq!(webhook(&app, body.clone(), "").await.status(), 400);
    assert_eq!(
        payment_events(&app, &order_id, "ProviderEventReceived").await,
        0
    );

    // The shopper completes 3-D Secure at the provider; then the provider's webhook (three
    // times at once) races the shopper's client confirming to us.
    {
        use agora_gateway::PaymentGateway;
        let provider = agora_gateway::TestGateway::new(app.pool.clone())
            .await
            .expect("provider");
        provider
            .confirm("shopper-3ds", &intent)
            .await
            .expect("3-D Secure done");
    }
    let (body, sig) = signed(&event, now);
    let confirm = app
        .http
        .post(format!(
            "{}/store/orders/{order_id}/payment/confirm",
            app.base
        ))
        .header("X-Cart-Token", &c.1)
        .send();
    let (r1, r2, r3, r4) = tokio::join!(
        webhook(&app, body.clone(), &sig),
        webhook(&app, body.clone(), &sig),
        webhook(&app, body.clone(), &sig),
        confirm
    );
    for r in [r1, r2, r3] {
        assert_eq!(r.status(), 200);
    }
    assert_eq!(r4.expect("confirm").status(), 200);
    common::until_sql(
        &app.pool,
        &format!("SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = '{order_id}' AND status = 'confirmed' AND captured_minor > 0)"),
        SETTLE,
    )
    .await;

    // Late and out of order: "succeeded" after our capture, "authorized" again under a new
    // event id, a late "canceled". Nothing changes and nothing is captured twice.
    for (id, kind) in [
        ("evt_2", "payment_intent.succeeded"),
        ("evt_3", "payment_intent.amount_capturable_updated"),
        ("evt_4", "payment_intent.canceled"),
        ("evt_2", "payment_intent.succeeded"),
    ] {
        let (body, sig) = signed(&intent_event(id, kind, &intent, &order_id, amount), now);
        assert_eq!(webhook(&app, body, &sig).await.status(), 200);
    }
    let payment = system_get::<agora_payment::Payment>(&bus, &order_id)
        .await
        .expect("payment");
    assert_eq!(payment["status"], "captured", "{payment}");
    assert_eq!(
        payment_events(&app, &order_id, "ProviderEventReceived").await,
        4
    );
    assert_eq!(payment_events(&app, &order_id, "PaymentCaptured").await, 1);
    assert_eq!(payment_events(&app, &order_id, "PaymentVoided").await, 0);
    assert_eq!(gateway_ops(&app.pool, &order_id, "capture").await, 1);

    // An event for a payment we do not know is acknowledged (so the provider stops) and ignored.
    let (body, sig) = signed(
        &intent_event(
            "evt_9",
            "payment_intent.succeeded",
            "pi_x",
            "7d1f4a52-34b4-4c55-9a53-1f3b8c6f0b11",
            100,
        ),
        now,
    );
    assert_eq!(webhook(&app, body, &sig).await.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_are_shipped_refunded_and_cancelled_with_their_money_and_stock() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, &[("LIFE-1", 4000)], 10).await;
    let bus = app.bus().await;

    // The shopper cancels a paid order before it ships: refunded in full, units back.
    let c = cart(&app.http, &app.base, &[("LIFE-1", 2)]).await;
    let cancelled = checkout_ok(&app.http, &app.base, &c, "c", "pm_card_visa").await;
    assert_eq!(
        settled(&bus, &cancelled, SETTLE).await["status"],
        "confirmed"
    );
    assert_eq!(stock(&app, "LIFE-1").await["on_hand"], 8);
    let r = app
        .http
        .post(format!("{}/store/orders/{cancelled}/cancel", app.base))
        .header("X-Cart-Token", &c.1)
        .json(&json!({"note": "changed my mind"}))
        .send()
        .await
        .expect("cancel");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let order = agora_testkit::eventually(SETTLE, || async {
        let o = system_get::<agora_order::Order>(&bus, &cancelled)
            .await
            .ok()?;
        (o["refunded"]["amount_minor"] == o["total"]["amount_minor"]).then_some(o)
    })
    .await
    .expect("refunded");
    assert_eq!(order["status"], "cancelled");
    assert_eq!(gateway_ops(&app.pool, &cancelled, "refund").await, 1);
    agora_testkit::eventually(SETTLE, || async {
        (stock(&app, "LIFE-1").await["on_hand"] == 10).then_some(())
    })
    .await
    .expect("restocked");

    // Staff ship, deliver, and refund part of an order; refunds never exceed the capture.
    let c = cart(&app.http, &app.base, &[("LIFE-1", 1)]).await;
    let shipped = checkout_ok(&app.http, &app.base, &c, "s", "pm_card_visa").await;
    assert_eq!(settled(&bus, &shipped, SETTLE).await["status"], "confirmed");
    let admin = |path: String, body: Value, key: &str| {
        app.http
            .post(format!("{}/admin/orders/{shipped}/{path}", app.base))
            .bearer_auth(ADMIN)
            .header("Idempotency-Key", key.to_string())
            .json(&body)
            .send()
    };
    let r = admin(
        "ship".into(),
        json!({"carrier": "DHL", "tracking_number": "00340434"}),
        "ship-1",
    )
    .await
    .expect("ship");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let r = admin("deliver".into(), json!({}), "deliver-1")
        .await
        .expect("deliver");
    assert_eq!(r.status(), 200);
    // A shipped order can no longer be cancelled by the shopper.
    let r = app
        .http
        .post(format!("{}/store/orders/{shipped}/cancel", app.base))
        .header("X-Cart-Token", &c.1)
        .json(&json!({}))
        .send()
        .await
        .expect("cancel");
    assert_eq!(r.status(), 409);
    let total = system_get::<agora_order::Order>(&bus, &shipped)
        .await
        .expect("order")["total"]["amount_minor"]
        .as_i64()
        .expect("total");
    let r = admin("refund".into(), json!({"amount_minor": 1000}), "refund-1")
        .await
        .expect("refund");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    // The same key again is the same refund, not a second one.
    let r = admin("refund".into(), json!({"amount_minor": 1000}), "refund-1")
        .await
        .expect("refund");
    assert_eq!(r.status(), 202);
    let r = admin("refund".into(), json!({"amount_minor": total}), "refund-2")
        .await
        .expect("refund");
    assert_eq!(r.status(), 409);
    let order = agora_testkit::eventually(SETTLE, || async {
        let o = system_get::<agora_order::Order>(&bus, &shipped)
            .await
            .ok()?;
        (o["refunded"]["amount_minor"] == 1000).then_some(o)
    })
    .await
    .expect("refund recorded on the order");
    assert_eq!(order["status"], "delivered");
    assert_eq!(gateway_ops(&app.pool, &shipped, "refund").await, 1);

    // The back office lists orders by status.
    common::until_sql(
        &app.pool,
        &format!("SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = '{shipped}' AND status = 'delivered' AND refunded_minor = 1000)"),
        SETTLE,
    )
    .await;
    let list: Value = app
        .http
        .get(format!("{}/admin/orders?status=delivered", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["total"], 1, "{list}");
    app.stop().await;
}

/// Reads `GET /store/orders/{id}/events` until the stream ends; returns its events
/// (`(event, data)`).
async fn follow(app: &TestApp, order_id: &str, token: &str) -> (u16, Vec<(String, String)>) {
    let mut r = app
        .http
        .get(format!("{}/store/orders/{order_id}/events", app.base))
        .header("X-Cart-Token", token)
        .timeout(Duration::from_secs(150))
        .send()
        .await
        .expect("follow");
    let status = r.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    assert_eq!(
        r.headers()["content-type"].to_str().ok(),
        Some("text/event-stream")
    );
    let mut text = String::new();
    while let Some(chunk) = r.chunk().await.expect("chunk") {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events = text
        .split("\n\n")
        .filter_map(|block| {
            let event = block.lines().find_map(|l| l.strip_prefix("event:"))?;
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            Some((event.trim().to_string(), data))
        })
        .collect();
    (status, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shopper_follows_an_order_until_it_settles_and_a_stranger_cannot() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, &[("FOL-1", 1200)], 5).await;
    let c = cart(&app.http, &app.base, &[("FOL-1", 2)]).await;
    let order_id = checkout_ok(&app.http, &app.base, &c, "follow", "pm_card_visa").await;

    // The stream sends the order at once and on every change, and ends once it settled.
    let (status, events) = follow(&app, &order_id, &c.1).await;
    assert_eq!(status, 200);
    assert!(!events.is_empty());
    assert!(events.iter().all(|(e, _)| e == "order"), "{events:?}");
    let updates: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).expect("json"))
        .collect();
    let last = updates.last().expect("an update");
    assert_eq!(last["final"], true, "{last}");
    assert_eq!(last["order"]["status"], "confirmed", "{last}");
    assert_eq!(last["order"]["id"], order_id.as_str());
    assert!(
        updates[..updates.len() - 1]
            .iter()
            .all(|u| u["final"] == false),
        "{updates:?}"
    );
    let versions: Vec<u64> = updates
        .iter()
        .map(|u| u["order"]["version"].as_u64().expect("version"))
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");

    // A settled order: one final event, then the end of the stream.
    let (_, again) = follow(&app, &order_id, &c.1).await;
    assert_eq!(again.len(), 1, "{again:?}");

    // Another shopper's token learns nothing; no token is refused.
    let other = cart(&app.http, &app.base, &[("FOL-1", 1)]).await;
    assert_eq!(follow(&app, &order_id, &other.1).await.0, 404);
    let anonymous = app
        .http
        .get(format!("{}/store/orders/{order_id}/events", app.base))
        .send()
        .await
        .expect("follow");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(follow(&app, "not-an-order", &c.1).await.0, 400);
    app.stop().await;
}
