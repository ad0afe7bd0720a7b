//! Promotions and coupon codes at checkout, end to end over HTTP: a code's uses are never
//! oversold however many shoppers race for them, a failed checkout gives its use back, and a
//! retried checkout redeems once.

mod common;

use std::time::Duration;

use agora::Roles;
use agora_testkit::eventually;
use common::{shop, spawn_app, TestApp, ADMIN};
use futures::StreamExt;
use serde_json::{json, Value};

/// Shoppers racing for a code of 100 uses (each with a cart of their own).
const SHOPPERS: usize = 1000;
const USES: u64 = 100;
/// What the code takes off an order, in cents.
const OFF: i64 = 500;

/// Creates and activates a promotion whose code `code` takes `OFF` off an order, `uses` times
/// at most, with a budget of exactly `uses × OFF`.
async fn code_promotion(app: &TestApp, code: &str, uses: u64) -> String {
    let budget = json!({"amount_minor": OFF * uses as i64, "currency": "EUR"});
    shop::code_promotion(
        &app.http,
        &app.base,
        code,
        OFF,
        json!({"total_uses": uses, "budget": budget}),
    )
    .await
}

async fn promotion(app: &TestApp, id: &str) -> Value {
    let r = app
        .http
        .get(format!("{}/admin/promotions/{id}", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("get promotion");
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.expect("json")["promotion"].clone()
}

#[tokio::test]
async fn a_code_with_100_uses_is_redeemed_by_exactly_100_of_1000_concurrent_shoppers() {
    let app = spawn_app(Roles::all()).await;
    shop::product(
        &app.http,
        &app.base,
        &[("PROMO-TEE", 2000)],
        SHOPPERS as i64,
    )
    .await;
    shop::until_for_sale(&app.pool, &["PROMO-TEE"]).await;
    let id = code_promotion(&app, "RACE100", USES).await;
    let carts: Vec<_> = futures::stream::iter(0..SHOPPERS)
        .map(|_| shop::cart(&app.http, &app.base, &[("PROMO-TEE", 1)]))
        .buffer_unordered(16)
        .collect()
        .await;
    let started = std::time::Instant::now();
    let answers = futures::future::join_all(carts.iter().enumerate().map(|(i, cart)| {
        let (http, base) = (app.http.clone(), app.base.clone());
        async move {
            // What a client does when the platform is too busy to answer in time (503): ask
            // again with the same Idempotency-Key, which applies the checkout once.
            let mut attempt = 0;
            loop {
                let r = shop::checkout(
                    &http,
                    &base,
                    cart,
                    &format!("race-{i}"),
                    &shop::checkout_body_with_code("pm_card_visa", "RACE100"),
                )
                .await;
                let status = r.status().as_u16();
                let body = r.json::<Value>().await.expect("json");
                attempt += 1;
                if status != 503 || attempt == 20 {
                    // A retry of a checkout whose first answer was lost is a 200.
                    return (if status == 200 { 201 } else { status }, body);
                }
            }
        }
    }))
    .await;
    eprintln!("{SHOPPERS} concurrent checkouts in {:?}", started.elapsed());
    let placed: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    let refused: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s != 201).collect();
    assert_eq!(
        placed.len() as u64,
        USES,
        "refusals: {:?}",
        &refused[..3.min(refused.len())]
    );
    for (status, body) in &refused {
        assert_eq!(*status, 409, "{body}");
        assert!(
            ["promotion.used_up", "promotion.budget_exhausted"]
                .contains(&body["code"].as_str().unwrap_or_default()),
            "{body}"
        );
    }
    // Every placed order carries the discount: 20.00 − 5.00 + 4.99 shipping, 19 % tax.
    for body in &placed {
        let order = &body["order"];
        assert_eq!(order["discount"]["amount_minor"], OFF, "{order}");
        assert_eq!(order["promotions"][0]["code"], "RACE100");
        assert_eq!(order["lines"][0]["discount"]["amount_minor"], OFF);
        assert_eq!(order["tax"]["amount_minor"], 380);
        assert_eq!(order["total"]["amount_minor"], 2000 - OFF + 499 + 380);
    }
    // Once paid, the uses are final; the budget is spent exactly, never more.
    let bus = app.bus().await;
    for body in &placed {
        let order = shop::settled(
            &bus,
            body["order_id"].as_str().expect("id"),
            Duration::from_secs(120),
        )
        .await;
        assert_eq!(order["status"], "confirmed", "{order}");
    }
    let view = promotion(&app, &id).await;
    assert_eq!(view["uses"], USES, "{view}");
    assert_eq!(view["open_redemptions"], 0, "{view}");
    assert_eq!(view["spent"]["amount_minor"], OFF * USES as i64, "{view}");
    assert_eq!(view["uses_left"], 0, "{view}");
}

#[tokio::test]
async fn a_declined_payment_gives_the_use_back_and_a_later_shopper_takes_it() {
    let app = spawn_app(Roles::all()).await;
    shop::product(&app.http, &app.base, &[("PROMO-MUG", 2000)], 10).await;
    shop::until_for_sale(&app.pool, &["PROMO-MUG"]).await;
    let id = code_promotion(&app, "ONLYONCE", 1).await;
    let bus = app.bus().await;

    let first = shop::cart(&app.http, &app.base, &[("PROMO-MUG", 1)]).await;
    let r = shop::checkout(
        &app.http,
        &app.base,
        &first,
        "declined-1",
        &shop::checkout_body_with_code("pm_card_chargeDeclined", "ONLYONCE"),
    )
    .await;
    assert_eq!(r.status(), 201);
    let declined: Value = r.json().await.expect("json");
    let declined = declined["order_id"].as_str().expect("id").to_string();
    // While the first checkout holds the only use, nobody else gets it.
    let waiting = shop::cart(&app.http, &app.base, &[("PROMO-MUG", 1)]).await;
    let order = shop::settled(&bus, &declined, Duration::from_secs(60)).await;
    assert_eq!(order["status"], "cancelled", "{order}");
    let view = eventually(Duration::from_secs(30), || async {
        let view = promotion(&app, &id).await;
        (view["uses"] == 0).then_some(view)
    })
    .await
    .expect("the use comes back");
    assert_eq!(view["spent"]["amount_minor"], 0, "{view}");

    let r = shop::checkout(
        &app.http,
        &app.base,
        &waiting,
        "later-1",
        &shop::checkout_body_with_code("pm_card_visa", "ONLYONCE"),
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["order"]["discount"]["amount_minor"], OFF);
    let order = shop::settled(
        &bus,
        body["order_id"].as_str().expect("id"),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(order["status"], "confirmed", "{order}");
    let view = promotion(&app, &id).await;
    assert_eq!(view["uses"], 1, "{view}");
    assert_eq!(view["open_redemptions"], 0, "{view}");
}

#[tokio::test]
async fn a_checkout_retried_three_times_with_one_key_redeems_once() {
    let app = spawn_app(Roles::all()).await;
    shop::product(&app.http, &app.base, &[("PROMO-CAP", 2000)], 10).await;
    shop::until_for_sale(&app.pool, &["PROMO-CAP"]).await;
    let id = code_promotion(&app, "RETRY5", 10).await;
    let cart = shop::cart(&app.http, &app.base, &[("PROMO-CAP", 1)]).await;
    let mut orders = Vec::new();
    for attempt in 0..3 {
        let r = shop::checkout(
            &app.http,
            &app.base,
            &cart,
            "same-key",
            &shop::checkout_body_with_code("pm_card_visa", "RETRY5"),
        )
        .await;
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, if attempt == 0 { 201 } else { 200 }, "{body}");
        orders.push(body["order_id"].as_str().expect("id").to_string());
    }
    assert!(orders.iter().all(|o| o == &orders[0]), "{orders:?}");
    let order = shop::settled(&app.bus().await, &orders[0], Duration::from_secs(60)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(order["discount"]["amount_minor"], OFF);
    let view = promotion(&app, &id).await;
    assert_eq!(view["uses"], 1, "{view}");
    let reserved: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'promotion' AND aggregate_id = $1
           AND event_type = 'RedemptionReserved'",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(reserved, 1);
    // The redemptions report counts the paid order once, with its discount and revenue.
    let csv = common::until_csv(&app, &id).await;
    assert!(
        csv.contains(&format!(
            "{id},RETRY5 off,active,EUR,1,{OFF},{}",
            2000 - OFF + 499 + 380
        )),
        "{csv}"
    );
}
