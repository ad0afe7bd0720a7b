//! Checkout's unhappy paths after the authorization: a cancel racing the capture, refunds
//! whose answers are lost or refused, and reservations outliving their first expiry. Each ends
//! with the money back (or staff alerted), the stock returned exactly once and the saga done.

mod common;

use std::time::Duration;

use agora::Roles;
use common::shop::{self, cart, checkout_ok, gateway_ops};
use common::{spawn_app, system_command, system_get, TestApp};
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(90);

async fn shop_with(app: &TestApp, sku: &str, price: i64, stock: i64) {
    shop::product(&app.http, &app.base, &[(sku, price)], stock).await;
    shop::until_for_sale(&app.pool, &[sku]).await;
}

async fn stock(app: &TestApp, sku: &str) -> Value {
    system_get::<agora_inventory::StockItem>(&app.bus().await, sku)
        .await
        .expect("stock")
}

/// The shopper cancels their order with the cart's token.
async fn cancel(app: &TestApp, order_id: &str, cart_token: &str) {
    let r = app
        .http
        .post(format!("{}/store/orders/{order_id}/cancel", app.base))
        .header("X-Cart-Token", cart_token)
        .json(&json!({"note": "changed my mind"}))
        .send()
        .await
        .expect("cancel");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// Waits until the checkout is in one of `phases`, and returns its view.
async fn phase_in(app: &TestApp, order_id: &str, phases: &[&str]) -> Value {
    let bus = app.bus().await;
    agora_testkit::eventually(SETTLE, || async {
        let c = system_get::<agora_checkout::Checkout>(&bus, order_id)
            .await
            .ok()?;
        phases.contains(&c["phase"].as_str()?).then_some(c)
    })
    .await
    .unwrap_or_else(|_| panic!("checkout {order_id} never reached {phases:?}"))
}

/// Waits until the provider performed `operation` for the order.
async fn until_provider(app: &TestApp, order_id: &str, operation: &str) {
    agora_testkit::eventually(SETTLE, || async {
        (gateway_ops(&app.pool, order_id, operation).await >= 1).then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("the provider never performed {operation} for {order_id}"));
}

/// The money side of a settled, cancelled order: refunded in full, once, on the payment and
/// on the order.
async fn assert_refunded_in_full(app: &TestApp, order_id: &str) {
    let bus = app.bus().await;
    let payment = system_get::<agora_payment::Payment>(&bus, order_id)
        .await
        .expect("payment");
    let captured = payment["captured"]["amount_minor"]
        .as_i64()
        .expect("captured");
    assert!(captured > 0, "{payment}");
    assert_eq!(payment["refunded"]["amount_minor"], captured, "{payment}");
    assert_eq!(gateway_ops(&app.pool, order_id, "capture").await, 1);
    assert_eq!(gateway_ops(&app.pool, order_id, "refund").await, 1);
    // The order learns the refund from the feed.
    let order = agora_testkit::eventually(SETTLE, || async {
        let o = system_get::<agora_order::Order>(&bus, order_id)
            .await
            .ok()?;
        (o["refunded"]["amount_minor"] == captured).then_some(o)
    })
    .await
    .unwrap_or_else(|_| panic!("the refund of {order_id} never reached the order"));
    assert_eq!(order["status"], "cancelled", "{order}");
    assert_eq!(order["captured"]["amount_minor"], captured, "{order}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_the_capture_ends_refunded_restocked_once_and_finished() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, "RACE-1", 2000, 10).await;
    let c = cart(&app.http, &app.base, &[("RACE-1", 2)]).await;
    // The provider captures, but its first answers are lost: the saga has not recorded the
    // capture when the shopper cancels.
    let order_id = checkout_ok(
        &app.http,
        &app.base,
        &c,
        "race",
        "pm_card_captureAnswerLost",
    )
    .await;
    until_provider(&app, &order_id, "capture").await;
    cancel(&app, &order_id, &c.1).await;

    let checkout = phase_in(&app, &order_id, &["failed", "reverted", "refund_failed"]).await;
    assert_ne!(checkout["phase"], "refund_failed", "{checkout}");
    assert_refunded_in_full(&app, &order_id).await;
    // The two units came back once: nothing is held, nothing was received twice.
    let s = stock(&app, "RACE-1").await;
    assert_eq!(
        (s["on_hand"].as_i64(), s["reserved"].as_i64()),
        (Some(10), Some(0)),
        "{s}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_whose_answers_are_lost_is_driven_until_the_money_is_back() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, "LOST-1", 1500, 5).await;
    let c = cart(&app.http, &app.base, &[("LOST-1", 1)]).await;
    let order_id = checkout_ok(&app.http, &app.base, &c, "lost", "pm_card_refundAnswerLost").await;
    phase_in(&app, &order_id, &["completed"]).await;
    cancel(&app, &order_id, &c.1).await;

    let checkout = phase_in(&app, &order_id, &["reverted", "refund_failed"]).await;
    assert_eq!(checkout["phase"], "reverted", "{checkout}");
    // "Reverted" means the money is back, not that a refund was asked for.
    assert_refunded_in_full(&app, &order_id).await;
    let s = stock(&app, "LOST-1").await;
    assert_eq!(
        (s["on_hand"].as_i64(), s["reserved"].as_i64()),
        (Some(5), Some(0)),
        "{s}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_refund_is_tried_again_and_one_refused_every_time_is_left_to_staff() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, "REF-1", 1500, 5).await;
    let bus = app.bus().await;

    // Refused once: the next attempt (under a new refund id) returns the money.
    let c = cart(&app.http, &app.base, &[("REF-1", 1)]).await;
    let once = checkout_ok(
        &app.http,
        &app.base,
        &c,
        "once",
        "pm_card_refundDeclinedOnce",
    )
    .await;
    phase_in(&app, &once, &["completed"]).await;
    cancel(&app, &once, &c.1).await;
    let checkout = phase_in(&app, &once, &["reverted", "refund_failed"]).await;
    assert_eq!(checkout["phase"], "reverted", "{checkout}");
    assert_refunded_in_full(&app, &once).await;

    // Refused every time: after a few attempts staff see it failed; never "reverted".
    let c = cart(&app.http, &app.base, &[("REF-1", 1)]).await;
    let never = checkout_ok(&app.http, &app.base, &c, "never", "pm_card_refundDeclined").await;
    phase_in(&app, &never, &["completed"]).await;
    cancel(&app, &never, &c.1).await;
    let checkout = phase_in(&app, &never, &["reverted", "refund_failed"]).await;
    assert_eq!(checkout["phase"], "refund_failed", "{checkout}");
    assert_eq!(checkout["refund_failure"], "refund_refused", "{checkout}");
    let payment = system_get::<agora_payment::Payment>(&bus, &never)
        .await
        .expect("payment");
    assert_eq!(payment["refunded"]["amount_minor"], 0, "{payment}");
    let refunds = payment["refunds"].as_array().expect("refunds");
    assert_eq!(
        refunds.len(),
        agora_checkout::MAX_REFUND_ATTEMPTS,
        "{payment}"
    );
    assert!(refunds.iter().all(|r| r["status"] == "failed"), "{payment}");
    assert_eq!(gateway_ops(&app.pool, &never, "refund").await, 0);
    // The units came back all the same: both cancelled orders returned theirs.
    agora_testkit::eventually(SETTLE, || async {
        let s = stock(&app, "REF-1").await;
        (s["on_hand"] == 5 && s["reserved"] == 0).then_some(())
    })
    .await
    .expect("restocked");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_authorized_checkouts_units_outlive_their_first_expiry_and_a_cancel_returns_exactly_them(
) {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, "HOLD-1", 3000, 2).await;
    let bus = app.bus().await;
    let first = cart(&app.http, &app.base, &[("HOLD-1", 2)]).await;
    // The capture's first answers are lost, which keeps the saga between its authorization
    // and its capture for a while.
    let order_id = checkout_ok(
        &app.http,
        &app.base,
        &first,
        "hold",
        "pm_card_captureAnswerLost",
    )
    .await;
    until_provider(&app, &order_id, "capture").await;
    // The expiry job runs as if the reservation's first life (30 minutes) had passed.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    system_command(
        &bus,
        "HOLD-1",
        &agora_inventory::StockCommand::ExpireDue { now: later },
    )
    .await
    .expect("expire due");
    // Another shopper cannot take the units.
    let second = cart(&app.http, &app.base, &[("HOLD-1", 2)]).await;
    let other = checkout_ok(&app.http, &app.base, &second, "other", "pm_card_visa").await;
    let other_checkout = phase_in(&app, &other, &["completed", "failed"]).await;
    assert_eq!(other_checkout["phase"], "failed", "{other_checkout}");
    assert_eq!(
        other_checkout["failure_reason"], "out_of_stock",
        "{other_checkout}"
    );

    // The late capture commits the units it held: sold once, nothing oversold.
    phase_in(&app, &order_id, &["completed"]).await;
    let s = stock(&app, "HOLD-1").await;
    assert_eq!(
        (s["on_hand"].as_i64(), s["reserved"].as_i64()),
        (Some(0), Some(0)),
        "{s}"
    );
    assert_eq!(gateway_ops(&app.pool, &other, "capture").await, 0);

    // Cancelled afterwards: exactly the two committed units come back.
    cancel(&app, &order_id, &first.1).await;
    phase_in(&app, &order_id, &["reverted"]).await;
    assert_refunded_in_full(&app, &order_id).await;
    let s = stock(&app, "HOLD-1").await;
    assert_eq!(
        (s["on_hand"].as_i64(), s["reserved"].as_i64()),
        (Some(2), Some(0)),
        "{s}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_landing_in_the_finishing_step_is_refunded_on_the_order_and_restocked_once() {
    let app = spawn_app(Roles::all()).await;
    shop_with(&app, "FIN-1", 2500, 4).await;
    let c = cart(&app.http, &app.base, &[("FIN-1", 2)]).await;
    // Lost capture answers keep the saga capturing for a moment, after its stock was committed.
    let order_id = checkout_ok(&app.http, &app.base, &c, "fin", "pm_card_captureAnswerLost").await;
    until_provider(&app, &order_id, "capture").await;
    // Stall the finishing step at its last effect, closing the cart: an uncommitted row at the
    // cart stream's next position makes the close's insert wait on the primary key until it is
    // rolled back.
    let mut blocker = app.pool.begin().await.expect("begin");
    let next: i64 = sqlx::query_scalar(
        "SELECT COALESCE(max(sequence), 0) + 1 FROM events WHERE aggregate_type = 'cart' AND aggregate_id = $1",
    )
    .bind(&c.0)
    .fetch_one(&mut *blocker)
    .await
    .expect("next sequence");
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('cart', $1, $2, 'TestBlocker', '1', '{}', '{}')",
    )
    .bind(&c.0)
    .bind(next)
    .execute(&mut *blocker)
    .await
    .expect("block the cart stream");
    // The finishing step recorded the capture on the order, then stalled.
    let bus = app.bus().await;
    agora_testkit::eventually(SETTLE, || async {
        let order = system_get::<agora_order::Order>(&bus, &order_id)
            .await
            .ok()?;
        (order["captured"]["amount_minor"].as_i64()? > 0).then_some(())
    })
    .await
    .expect("capture recorded on the order");
    // The shopper cancels while the saga finishes.
    cancel(&app, &order_id, &c.1).await;
    blocker.rollback().await.expect("unblock");

    let checkout = phase_in(&app, &order_id, &["reverted", "refund_failed"]).await;
    assert_eq!(checkout["phase"], "reverted", "{checkout}");
    assert_refunded_in_full(&app, &order_id).await;
    let s = stock(&app, "FIN-1").await;
    assert_eq!(
        (s["on_hand"].as_i64(), s["reserved"].as_i64()),
        (Some(4), Some(0)),
        "{s}"
    );
    app.stop().await;
}
