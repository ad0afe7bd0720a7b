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

async fn create_promotion(app: &TestApp, terms: Value, codes: Value) -> String {
    shop::promotion(&app.http, &app.base, terms, codes).await
}

async fn pricing(app: &TestApp, cart: &(String, String), query: &str) -> (u16, Value) {
    shop::pricing(&app.http, &app.base, cart, query).await
}

fn minor(v: &Value) -> i64 {
    v["amount_minor"]
        .as_i64()
        .unwrap_or_else(|| panic!("money: {v}"))
}

#[tokio::test]
async fn the_cart_shows_what_each_promotion_takes_off_and_why_its_code_does_not_apply() {
    let app = spawn_app(Roles::all()).await;
    shop::product(
        &app.http,
        &app.base,
        &[("PRICE-A", 2000), ("PRICE-B", 1000)],
        20,
    )
    .await;
    shop::until_for_sale(&app.pool, &["PRICE-A", "PRICE-B"]).await;
    // 10 % off PRICE-A by itself, and €5 off orders of €50 or more with the code BIG5; the
    // two combine, the automatic one first.
    create_promotion(
        &app,
        json!({"name": "Tees 10 % off", "currency": "EUR",
               "action": {"percent_off_items": {"percent_bp": 1000}},
               "applies_to": {"skus": ["PRICE-A"]},
               "stacking": {"combinable": true, "priority": 10}}),
        json!("automatic"),
    )
    .await;
    create_promotion(
        &app,
        json!({"name": "Big basket", "currency": "EUR",
               "action": {"amount_off_order": {"amount": {"amount_minor": 500, "currency": "EUR"}}},
               "eligibility": {"minimum_subtotal": {"amount_minor": 5000, "currency": "EUR"}},
               "stacking": {"combinable": true, "priority": 20}}),
        json!({"code": {"code": "BIG5"}}),
    )
    .await;
    let cart = shop::cart(&app.http, &app.base, &[("PRICE-A", 1), ("PRICE-B", 1)]).await;
    // An active promotion's terms are fixed: no cart is priced by terms changed under it.
    let active = create_promotion(
        &app,
        json!({"name": "Big baskets ship free", "currency": "EUR", "action": "free_shipping",
               "eligibility": {"minimum_subtotal": {"amount_minor": 9_999_900, "currency": "EUR"}}}),
        json!("automatic"),
    )
    .await;
    let r = app
        .http
        .put(format!("{}/admin/promotions/{active}", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"terms": {"name": "Changed", "currency": "EUR", "action": "free_shipping"}}))
        .send()
        .await
        .expect("revise");
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.expect("json")["code"],
        "promotion.not_editable"
    );

    // The automatic promotion shows on its line as soon as the read model lists it active.
    let priced = eventually(Duration::from_secs(30), || async {
        let (status, body) = pricing(&app, &cart, "").await;
        (status == 200 && body["promotions"].as_array()?.len() == 1).then_some(body)
    })
    .await
    .expect("the automatic promotion applies");
    assert_eq!(minor(&priced["subtotal"]), 3000, "{priced}");
    assert_eq!(minor(&priced["discount"]), 200, "{priced}");
    assert_eq!(minor(&priced["lines"][0]["discount"]), 200, "{priced}");
    assert_eq!(minor(&priced["lines"][1]["discount"]), 0, "{priced}");
    assert_eq!(priced["promotions"][0]["name"], "Tees 10 % off");
    assert_eq!(priced["tax_estimated"], true);
    assert!(priced["code"].is_null() && priced["code_rejection"].is_null());

    // The code kept on the cart does not apply yet, and the pricing says why.
    let r = app
        .http
        .put(format!("{}/store/carts/{}/code", app.base, cart.0))
        .header("X-Cart-Token", &cart.1)
        .json(&json!({"code": " big5 "}))
        .send()
        .await
        .expect("apply code");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "BIG5");
    let (_, priced) = pricing(&app, &cart, "").await;
    assert_eq!(priced["code"], "BIG5");
    assert_eq!(
        priced["code_rejection"]["error"], "promotion.minimum_not_reached",
        "{priced}"
    );
    assert_eq!(minor(&priced["discount"]), 200);
    // A checkout now is refused with that same reason, and nothing is placed.
    let r = shop::checkout(
        &app.http,
        &app.base,
        &cart,
        "too-early",
        &shop::checkout_body("pm_card_visa"),
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["code"], "promotion.minimum_not_reached",
        "{status} {body}"
    );

    // With three more of PRICE-B the basket reaches €50: both apply, the lines' discounts
    // add up to the order's.
    let r = app.add(&cart.0, &cart.1, "PRICE-B", 3, None).await;
    assert_eq!(r.status(), 200);
    let (_, priced) = pricing(&app, &cart, "?country=GB").await;
    assert!(priced["code_rejection"].is_null(), "{priced}");
    assert_eq!(
        priced["promotions"].as_array().map(Vec::len),
        Some(2),
        "{priced}"
    );
    assert_eq!(minor(&priced["subtotal"]), 6000);
    assert_eq!(minor(&priced["discount"]), 700, "{priced}");
    let lines: i64 = priced["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| minor(&l["discount"]))
        .sum();
    assert_eq!(lines, 700);
    assert_eq!(priced["tax_estimated"], false);
    // Another code is priced without touching the cart's; a malformed one is just unknown.
    let (_, other) = pricing(&app, &cart, "?code=NOPE1").await;
    assert_eq!(
        other["code_rejection"]["error"], "promotion.unknown_code",
        "{other}"
    );
    let (_, other) = pricing(&app, &cart, "?code=%21%21").await;
    assert_eq!(
        other["code_rejection"]["error"], "promotion.unknown_code",
        "{other}"
    );

    // Only the cart's owner prices it.
    let (status, _) = pricing(&app, &(cart.0.clone(), "not-the-token".into()), "").await;
    assert_eq!(status, 404);
    let r = app
        .http
        .get(format!("{}/store/carts/{}/pricing", app.base, cart.0))
        .send()
        .await
        .expect("pricing");
    assert_eq!(r.status(), 401);
    let (status, body) = pricing(&app, &cart, "?country=gb").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("request.invalid_country"))
    );

    // The checkout redeems the cart's code without it in the body, at the price shown.
    let order_id = shop::checkout_ok(&app.http, &app.base, &cart, "priced", "pm_card_visa").await;
    let order = shop::settled(&app.bus().await, &order_id, Duration::from_secs(60)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(minor(&order["discount"]), 700, "{order}");
    assert_eq!(
        minor(&order["total"]),
        minor(&priced["total"]),
        "{order}\n{priced}"
    );

    // An empty cart has no price.
    let empty = shop::cart(&app.http, &app.base, &[]).await;
    let (status, body) = pricing(&app, &empty, "").await;
    assert_eq!((status, body["code"].as_str()), (422, Some("cart.empty")));
}

/// Asks for a refund of `order_id` as an admin and checks the answer: its status, and for a
/// refusal its stable code.
async fn refund(app: &TestApp, order_id: &str, key: &str, body: Value, then: (u16, Option<&str>)) {
    let r = app
        .http
        .post(format!("{}/admin/orders/{order_id}/refund", app.base))
        .bearer_auth(ADMIN)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("refund");
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("json");
    let code = (status >= 400).then(|| body["code"].as_str().unwrap_or_default());
    assert_eq!((status, code), then, "{body}");
}

#[tokio::test]
async fn a_refund_of_discounted_units_gives_back_what_they_cost_never_more() {
    let app = spawn_app(Roles::all()).await;
    shop::product(
        &app.http,
        &app.base,
        &[("LINE-A", 3000), ("LINE-B", 1000)],
        10,
    )
    .await;
    shop::until_for_sale(&app.pool, &["LINE-A", "LINE-B"]).await;
    code_promotion(&app, "LINE5", 10).await;
    let cart = shop::cart(&app.http, &app.base, &[("LINE-A", 3), ("LINE-B", 1)]).await;
    let r = shop::checkout(
        &app.http,
        &app.base,
        &cart,
        "line-refund",
        &shop::checkout_body_with_code("pm_card_visa", "LINE5"),
    )
    .await;
    assert_eq!(r.status(), 201);
    let order_id = r.json::<Value>().await.expect("json")["order_id"]
        .as_str()
        .expect("id")
        .to_string();
    let bus = app.bus().await;
    let order = shop::settled(&bus, &order_id, Duration::from_secs(60)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    let line = order["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["sku"] == "LINE-A")
        .expect("line A")
        .clone();
    // The €5 off is shared over the lines, so line A cost less than 3 × €30 (plus its tax).
    assert!(minor(&line["discount"]) > 0, "{line}");
    let paid = minor(&line["paid"]);
    let one_unit = (paid + 2) / 3;
    // More than one unit cost is refused before any money moves.
    let a_unit = |n: i64| json!({"sku": "LINE-A", "quantity": n});
    refund(
        &app,
        &order_id,
        "too-much",
        json!({"line": a_unit(1), "amount_minor": one_unit + 1}),
        (409, Some("payment.refund_exceeds_line")),
    )
    .await;
    // One unit without an amount gives back exactly its share; then the two others the rest.
    for (key, units) in [("one-unit", 1), ("two-units", 2)] {
        refund(
            &app,
            &order_id,
            key,
            json!({"line": a_unit(units)}),
            (202, None),
        )
        .await;
    }
    // A retried request (same key, same body) refunds nothing more, whatever was refunded
    // since its first answer.
    let again = json!({"line": a_unit(1)});
    refund(&app, &order_id, "one-unit", again, (202, None)).await;
    let refunded = eventually(Duration::from_secs(30), || async {
        let o = common::system_get::<agora_order::Order>(&bus, &order_id)
            .await
            .ok()?;
        (minor(&o["refunded"]) == paid).then_some(o)
    })
    .await
    .expect("the order records both line refunds");
    let a = refunded["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["sku"] == "LINE-A")
        .expect("line A")
        .clone();
    assert_eq!(a["refunded_units"], 3, "{a}");
    assert_eq!(shop::gateway_ops(&app.pool, &order_id, "refund").await, 2);
    // No unit is left, a line the order does not have is no line to refund, and a refund
    // names an amount or a line.
    let no_line = (422, Some("payment.invalid_refund_line"));
    refund(
        &app,
        &order_id,
        "fourth",
        json!({"line": a_unit(1)}),
        no_line,
    )
    .await;
    let other = json!({"line": {"sku": "NOT-IN-IT", "quantity": 1}});
    refund(&app, &order_id, "other", other, no_line).await;
    let nothing = (422, Some("request.invalid_refund"));
    refund(&app, &order_id, "nothing", json!({}), nothing).await;
}

#[tokio::test]
async fn a_promotion_for_a_customer_group_applies_once_an_admin_puts_the_customer_in_it() {
    let app = spawn_app(Roles::all()).await;
    shop::product(&app.http, &app.base, &[("VIP-TEE", 4000)], 10).await;
    shop::until_for_sale(&app.pool, &["VIP-TEE"]).await;
    create_promotion(
        &app,
        json!({"name": "VIP 20 % off", "currency": "EUR",
               "action": {"percent_off_order": {"percent_bp": 2000}},
               "eligibility": {"customer_groups": ["vip"]}}),
        json!({"code": {"code": "VIP20"}}),
    )
    .await;
    let ada = common::people::sign_up(&app, "ada").await;
    let created: Value = app
        .http
        .post(format!("{}/store/carts", app.base))
        .bearer_auth(&ada.access)
        .json(&json!({}))
        .send()
        .await
        .expect("cart")
        .json()
        .await
        .expect("json");
    let cart = created["cart_id"].as_str().expect("cart id").to_string();
    let r = app
        .http
        .post(format!("{}/store/carts/{cart}/items", app.base))
        .bearer_auth(&ada.access)
        .json(&json!({"sku": "VIP-TEE", "quantity": 1}))
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), 200);
    let priced = || async {
        app.http
            .get(format!(
                "{}/store/carts/{cart}/pricing?code=VIP20",
                app.base
            ))
            .bearer_auth(&ada.access)
            .send()
            .await
            .expect("pricing")
            .json::<Value>()
            .await
            .expect("json")
    };
    let before = priced().await;
    assert_eq!(
        before["code_rejection"]["error"], "promotion.customer_not_eligible",
        "{before}"
    );
    // Staff may not put customers in groups; an admin may, and a malformed group is refused.
    let groups = |who: &str, body: Value| {
        let who = who.to_string();
        let url = format!("{}/admin/accounts/{}/groups", app.base, ada.id);
        let http = app.http.clone();
        async move {
            let r = http
                .put(url)
                .bearer_auth(who)
                .json(&body)
                .send()
                .await
                .expect("groups");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("json"))
        }
    };
    let staff = common::people::with_role(&app, "sam", "staff").await;
    let (status, _) = groups(&staff.access, json!({"groups": ["vip"]})).await;
    assert_eq!(status, 403);
    let (status, body) = groups(ADMIN, json!({"groups": ["V I P"]})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("identity.invalid_group"))
    );
    let (status, body) = groups(ADMIN, json!({"groups": ["vip"]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["groups"], json!(["vip"]));
    let after = priced().await;
    assert!(after["code_rejection"].is_null(), "{after}");
    assert_eq!(minor(&after["discount"]), 800, "{after}");
}
