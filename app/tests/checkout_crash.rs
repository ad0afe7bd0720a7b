//! The checkout saga survives the process being killed at every step: each checkout ends
//! confirmed (or, when its payment is declined, cancelled with compensation), with no double
//! capture, no reservation left behind, and a promotion code's uses and budget equal to what
//! the confirmed orders took.

mod common;

use std::time::Duration;

use agora_nats::Bus;
use agora_testkit::{eventually, free_port, TestDb, TestNats};
use common::child::{died, ready, spawn_agora as spawn_child};
use common::shop::{self, cart, checkout, gateway_ops, settled};
use common::system_get;
use serde_json::{json, Value};

/// What the code takes off each order, in cents.
const OFF: i64 = 300;

/// An active code promotion (`CRASH3`, €3 off the order, `uses` uses and a budget for them).
async fn code_promotion(http: &reqwest::Client, base: &str, uses: i64) -> String {
    let budget = json!({"amount_minor": uses * OFF, "currency": "EUR"});
    shop::code_promotion(
        http,
        base,
        "CRASH3",
        OFF,
        json!({"total_uses": uses, "budget": budget}),
    )
    .await
}

fn with_code(card: &str) -> Value {
    shop::checkout_body_with_code(card, "CRASH3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_killed_at_any_step_resumes_and_never_repeats_an_effect() {
    let nats = TestNats::start().expect("nats");
    let db = TestDb::create().await.expect("db");
    let http = reqwest::Client::new();
    let port = free_port().expect("port");
    let pool = sqlx::PgPool::connect(&db.url()).await.expect("pool");
    let bus = Bus::new(async_nats::connect(nats.url()).await.expect("nats client"));

    let steps = [
        ("reserve_stock", "pm_card_visa", "confirmed"),
        ("authorize", "pm_card_visa", "confirmed"),
        ("authorize", "pm_card_timeoutAfterCharge", "confirmed"),
        ("confirm_order", "pm_card_visa", "confirmed"),
        ("capture", "pm_card_visa", "confirmed"),
        ("finish", "pm_card_visa", "confirmed"),
        ("compensate", "pm_card_chargeDeclined", "cancelled"),
    ];
    let mut orders = Vec::new();
    let mut last = None;
    let mut promotion = String::new();
    for (round, (step, card, expected)) in steps.iter().enumerate() {
        drop(last.take());
        let mut agora = spawn_child(&nats, &db, port, Some(step), &[]);
        ready(&http, &agora.base).await;
        if round == 0 {
            shop::product(&http, &agora.base, &[("CRASH-1", 2000)], 100).await;
            shop::until_for_sale(&pool, &["CRASH-1"]).await;
            promotion = code_promotion(&http, &agora.base, 100).await;
        }
        let c = cart(&http, &agora.base, &[("CRASH-1", 2)]).await;
        let key = format!("crash-{round}");
        // The process may die before or after it answers; either way the shopper retries
        // with the same key once it is back.
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            checkout(&http, &agora.base, &c, &key, &with_code(card)),
        )
        .await;
        assert!(
            died(&mut agora, Duration::from_secs(60)),
            "the fault after {step} did not fire"
        );
        drop(agora);

        let agora = spawn_child(&nats, &db, port, None, &[]);
        ready(&http, &agora.base).await;
        let r = checkout(&http, &agora.base, &c, &key, &with_code(card)).await;
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert!(status == 200 || status == 201, "{status}: {body}");
        let order_id = body["order_id"].as_str().expect("order id").to_string();
        let order = settled(&bus, &order_id, Duration::from_secs(90)).await;
        assert_eq!(
            order["status"], *expected,
            "after a crash in {step}: {order}"
        );
        let captures = gateway_ops(&pool, &order_id, "capture").await;
        assert_eq!(captures, i64::from(*expected == "confirmed"), "{step}");
        assert!(
            gateway_ops(&pool, &order_id, "authorize").await <= 1,
            "{step}"
        );
        let stock = system_get::<agora_inventory::StockItem>(&bus, "CRASH-1")
            .await
            .expect("stock");
        assert_eq!(
            stock["reserved"], 0,
            "a reservation was stranded after {step}: {stock}"
        );
        assert_eq!(
            order["discount"]["amount_minor"], OFF,
            "the code's discount is on the order after {step}: {order}"
        );
        orders.push((order_id, *expected));
        last = Some(agora);
    }
    // Every confirmed order took its two units, and only those.
    let sold = 2 * orders.iter().filter(|(_, s)| *s == "confirmed").count() as i64;
    let stock = system_get::<agora_inventory::StockItem>(&bus, "CRASH-1")
        .await
        .expect("stock");
    assert_eq!(stock["on_hand"].as_i64(), Some(100 - sold), "{stock}");
    // The code was used once per confirmed order, no use is left held by a cancelled or
    // crashed checkout, and the budget spent is exactly those orders' discounts.
    let confirmed = orders.iter().filter(|(_, s)| *s == "confirmed").count() as i64;
    let view = system_get::<agora_promotion::Promotion>(&bus, &promotion)
        .await
        .expect("promotion");
    assert_eq!(view["uses"].as_i64(), Some(confirmed), "{view}");
    assert_eq!(view["open_redemptions"], 0, "{view}");
    assert_eq!(
        view["spent"]["amount_minor"].as_i64(),
        Some(confirmed * OFF),
        "{view}"
    );
    drop(last);
    pool.close().await;
}

/// A process killed after it held a code's only use for a checkout, before the checkout's
/// commit point, with a shopper who never retries: once the hold time has passed, the
/// promotion service gives the use back and the next shopper takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_held_by_a_checkout_that_never_started_goes_back_after_the_hold() {
    let nats = TestNats::start().expect("nats");
    let db = TestDb::create().await.expect("db");
    let http = reqwest::Client::new();
    let port = free_port().expect("port");
    let bus = Bus::new(async_nats::connect(nats.url()).await.expect("nats client"));
    let pool = sqlx::PgPool::connect(&db.url()).await.expect("pool");
    let hold = [("AGORA_PROMOTION_HOLD_SECS", "2")];

    let mut agora = spawn_child(&nats, &db, port, Some("reserve_promotions"), &hold);
    ready(&http, &agora.base).await;
    shop::product(&http, &agora.base, &[("HOLD-1", 2000)], 10).await;
    shop::until_for_sale(&pool, &["HOLD-1"]).await;
    let promotion = code_promotion(&http, &agora.base, 1).await;
    let abandoned = cart(&http, &agora.base, &[("HOLD-1", 1)]).await;
    // The process dies before it answers: the request fails, and the shopper walks away.
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        http.post(format!(
            "{}/store/carts/{}/checkout",
            agora.base, abandoned.0
        ))
        .header("X-Cart-Token", &abandoned.1)
        .header("Idempotency-Key", "hold-1")
        .json(&with_code("pm_card_visa"))
        .send(),
    )
    .await;
    assert!(
        died(&mut agora, Duration::from_secs(60)),
        "the fault after reserving the promotion did not fire"
    );
    drop(agora);

    let agora = spawn_child(&nats, &db, port, None, &hold);
    ready(&http, &agora.base).await;
    // The use was held when the process died...
    let view = system_get::<agora_promotion::Promotion>(&bus, &promotion)
        .await
        .expect("promotion");
    let released = view["open_redemptions"] == 0;
    assert!(
        view["uses"] == 1 || released,
        "the use was held before the crash: {view}"
    );
    // ... and goes back once the hold has passed, with nobody retrying.
    let view = eventually(Duration::from_secs(60), || async {
        let view = system_get::<agora_promotion::Promotion>(&bus, &promotion)
            .await
            .ok()?;
        (view["uses"] == 0 && view["open_redemptions"] == 0).then_some(view)
    })
    .await
    .expect("the abandoned use went back");
    assert_eq!(view["spent"]["amount_minor"], 0, "{view}");
    // The next shopper takes the only use.
    let next = cart(&http, &agora.base, &[("HOLD-1", 1)]).await;
    let r = checkout(
        &http,
        &agora.base,
        &next,
        "hold-2",
        &with_code("pm_card_visa"),
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert!(status == 200 || status == 201, "{status}: {body}");
    let order = settled(
        &bus,
        body["order_id"].as_str().expect("order id"),
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(order["discount"]["amount_minor"], OFF, "{order}");
    drop(agora);
    pool.close().await;
}
