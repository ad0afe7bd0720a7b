//! Shipping zones and options end to end over HTTP: staff configure zones and rates, a cart
//! lists the options that ship it to an address with their prices, checkout charges the
//! chosen one and the order records it; an address no zone covers is a clear 422.

mod common;

use std::time::Duration;

use agora::Roles;
use common::{shop, spawn_app, TestApp, ADMIN};
use serde_json::{json, Value};

fn eur(minor: i64) -> Value {
    json!({"amount_minor": minor, "currency": "EUR"})
}

async fn put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .put(format!("{}{path}", app.base))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .expect("put");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Germany (standard by weight, express flat, free standard from €100), Berlin's postcodes
/// (a pickup point too), and the rest of the world.
async fn configure(app: &TestApp) {
    for (zone, body) in [
        (
            "de",
            json!({"name": "Germany", "areas": [{"country": "DE"}]}),
        ),
        (
            "berlin",
            json!({"name": "Berlin", "areas": [{"country": "DE", "postcode_prefix": "10"}]}),
        ),
        (
            "world",
            json!({"name": "Rest of the world", "areas": [{"country": "*"}]}),
        ),
    ] {
        let (status, reply) = put(app, &format!("/admin/shipping/zones/{zone}"), body).await;
        assert_eq!(status, 200, "{reply}");
    }
    let weight = json!({"type": "weight", "bands": [
        {"up_to": 1000, "price": eur(490)}, {"up_to": 5000, "price": eur(790)}]});
    for (zone, option, body) in [
        (
            "de",
            "standard",
            json!({"name": "DHL Parcel", "kind": "standard", "rate": weight,
                   "free_from": eur(10_000), "min_days": 2, "max_days": 3}),
        ),
        (
            "de",
            "express",
            json!({"name": "DHL Express", "kind": "express",
                   "rate": {"type": "flat", "price": eur(1490)}, "min_days": 1, "max_days": 1}),
        ),
        (
            "berlin",
            "pickup",
            json!({"name": "Packstation", "kind": "pickup",
                   "rate": {"type": "flat", "price": eur(199)}, "min_days": 1, "max_days": 2}),
        ),
        (
            "berlin",
            "courier",
            json!({"name": "Same-day courier", "kind": "express",
                   "rate": {"type": "subtotal", "bands": [{"up_to": 4999, "price": eur(990)},
                                                          {"up_to": null, "price": eur(590)}]},
                   "min_days": 0, "max_days": 0}),
        ),
        (
            "world",
            "international",
            json!({"name": "International", "kind": "standard",
                   "rate": {"type": "flat", "price": eur(2500)}, "min_days": 5, "max_days": 10}),
        ),
    ] {
        let (status, reply) = put(
            app,
            &format!("/admin/shipping/zones/{zone}/options/{option}"),
            body,
        )
        .await;
        assert_eq!(status, 200, "{reply}");
    }
}

/// A product whose one variant weighs `grams`.
async fn heavy_product(app: &TestApp, sku: &str, price: i64, grams: u32) {
    let id = shop::product(&app.http, &app.base, &[(sku, price)], 50).await;
    let (status, reply) = put(
        app,
        &format!("/admin/products/{id}/variants/{sku}/shipping"),
        json!({"weight_grams": grams, "dimensions_mm": {"length": 300, "width": 200, "height": 50}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["variants"][0]["weight_grams"], grams, "{reply}");
}

async fn pricing(app: &TestApp, cart: &(String, String), query: &str) -> (u16, Value) {
    shop::pricing(&app.http, &app.base, cart, &format!("?{query}")).await
}

fn options(pricing: &Value) -> Vec<(String, i64)> {
    pricing["shipping_options"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| {
            (
                o["option_id"].as_str().expect("id").to_string(),
                o["price"]["amount_minor"].as_i64().expect("price"),
            )
        })
        .collect()
}

fn body_to(country: &str, postcode: &str, option: Option<&str>) -> Value {
    let mut body = shop::checkout_body("pm_card_visa");
    body["shipping_address"]["country"] = json!(country);
    body["shipping_address"]["postal_code"] = json!(postcode);
    if let Some(option) = option {
        body["shipping_option"] = json!(option);
    }
    body
}

#[tokio::test]
async fn a_cart_lists_the_options_of_the_most_specific_zone_and_checkout_charges_the_chosen_one() {
    let app = spawn_app(Roles::all()).await;
    configure(&app).await;
    heavy_product(&app, "SHIP-KETTLE", 3000, 1200).await;
    shop::until_for_sale(&app.pool, &["SHIP-KETTLE"]).await;
    // 2 × 1.2 kg = 2.4 kg, €60.00.
    let cart = shop::cart(&app.http, &app.base, &[("SHIP-KETTLE", 2)]).await;

    // Before the address is known, shipping waits for it.
    let (status, priced) = pricing(&app, &cart, "").await;
    assert_eq!(status, 200, "{priced}");
    assert_eq!(priced["shipping_pending"], true, "{priced}");
    assert_eq!(priced["shipping"]["amount_minor"], 0);

    // Munich: the country zone, the weight band of 1–5 kg.
    let (status, priced) = pricing(&app, &cart, "country=DE&postcode=80331").await;
    assert_eq!(status, 200, "{priced}");
    assert_eq!(
        options(&priced),
        [("standard".to_string(), 790), ("express".to_string(), 1490)]
    );
    assert_eq!(priced["shipping_option"]["option_id"], "standard");
    assert_eq!(priced["shipping"]["amount_minor"], 790);
    assert_eq!(priced["shipping_option"]["min_days"], 2);

    // Berlin: the postcode zone wins over the country; a subtotal band prices the courier.
    let (_, priced) = pricing(&app, &cart, "country=DE&postcode=10115").await;
    assert_eq!(
        options(&priced),
        [("pickup".to_string(), 199), ("courier".to_string(), 590)]
    );
    let (_, priced) = pricing(
        &app,
        &cart,
        "country=DE&postcode=10115&shipping_option=courier",
    )
    .await;
    assert_eq!(priced["shipping"]["amount_minor"], 590, "{priced}");

    // Anywhere else: the rest of the world.
    let (_, priced) = pricing(&app, &cart, "country=JP").await;
    assert_eq!(options(&priced), [("international".to_string(), 2500)]);

    // Checkout with express to Munich: the order charges and records it.
    let r = shop::checkout(
        &app.http,
        &app.base,
        &cart,
        "ship-1",
        &body_to("DE", "80331", Some("express")),
    )
    .await;
    assert_eq!(r.status(), 201);
    let placed: Value = r.json().await.expect("json");
    let order = &placed["order"];
    assert_eq!(order["shipping"]["amount_minor"], 1490, "{order}");
    assert_eq!(order["shipping_option"]["option_id"], "express");
    assert_eq!(order["shipping_option"]["zone_id"], "de");
    assert_eq!(order["shipping_option"]["name"], "DHL Express");
    let order_id = placed["order_id"].as_str().expect("id");
    let settled = shop::settled(&app.bus().await, order_id, Duration::from_secs(30)).await;
    assert_eq!(settled["status"], "confirmed", "{settled}");
    assert_eq!(settled["shipping_option"]["kind"], "express");
}

#[tokio::test]
async fn free_from_a_threshold_and_no_zone_or_an_unoffered_option_is_a_clear_refusal() {
    let app = spawn_app(Roles::all()).await;
    // Only Germany.
    let (status, _) = put(
        &app,
        "/admin/shipping/zones/de",
        json!({"name": "Germany", "areas": [{"country": "DE"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, reply) = put(
        &app,
        "/admin/shipping/zones/de/options/standard",
        json!({"name": "Standard", "kind": "standard", "rate": {"type": "flat", "price": eur(490)},
               "free_from": eur(5000), "min_days": 2, "max_days": 4}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["zones"][0]["options"][0]["id"], "standard");
    shop::product(&app.http, &app.base, &[("SHIP-MUG", 2500)], 20).await;
    shop::until_for_sale(&app.pool, &["SHIP-MUG"]).await;

    let one = shop::cart(&app.http, &app.base, &[("SHIP-MUG", 1)]).await;
    let (_, priced) = pricing(&app, &one, "country=DE").await;
    assert_eq!(options(&priced), [("standard".to_string(), 490)]);
    let two = shop::cart(&app.http, &app.base, &[("SHIP-MUG", 2)]).await;
    let (_, priced) = pricing(&app, &two, "country=DE").await;
    assert_eq!(options(&priced), [("standard".to_string(), 0)]);
    assert_eq!(priced["shipping_option"]["free"], true);

    // France: no zone. The pricing and the checkout say so; nothing is placed or held.
    let (status, refused) = pricing(&app, &one, "country=FR").await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "shipping.no_zone");
    let r = shop::checkout(
        &app.http,
        &app.base,
        &one,
        "nowhere",
        &body_to("FR", "75001", None),
    )
    .await;
    assert_eq!(r.status(), 422);
    let refused: Value = r.json().await.expect("json");
    assert_eq!(refused["code"], "shipping.no_zone", "{refused}");
    assert!(refused["message"]
        .as_str()
        .unwrap_or_default()
        .contains("FR"));
    let r = shop::checkout(
        &app.http,
        &app.base,
        &one,
        "drone",
        &body_to("DE", "80331", Some("drone")),
    )
    .await;
    assert_eq!(r.status(), 422);
    let refused: Value = r.json().await.expect("json");
    assert_eq!(refused["code"], "shipping.option_unavailable", "{refused}");
    let orders: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'order'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(orders, 0);
    // The cart is not locked by the refusals: the right address checks out.
    let r = shop::checkout(
        &app.http,
        &app.base,
        &one,
        "fine",
        &body_to("DE", "80331", None),
    )
    .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn settings_are_validated_and_only_the_back_office_changes_them() {
    let app = spawn_app(Roles::all()).await;
    let (status, _) = put(
        &app,
        "/admin/shipping/zones/de",
        json!({"name": "Germany", "areas": [{"country": "DE"}]}),
    )
    .await;
    assert_eq!(status, 200);
    for (path, body, code) in [
        (
            "/admin/shipping/zones/germany",
            json!({"name": "Germany again", "areas": [{"country": "de"}]}),
            "shipping.area_taken",
        ),
        (
            "/admin/shipping/zones/x",
            json!({"name": "X", "areas": [{"country": "Germany"}]}),
            "shipping.invalid_area",
        ),
        (
            "/admin/shipping/zones/de/options/bad",
            json!({"name": "Bad", "kind": "standard",
                   "rate": {"type": "weight", "bands": [{"up_to": 500, "price": eur(1)},
                                                        {"up_to": 100, "price": eur(2)}]},
                   "min_days": 1, "max_days": 2}),
            "shipping.invalid_rate",
        ),
        (
            "/admin/shipping/zones/nope/options/standard",
            json!({"name": "S", "kind": "standard", "rate": {"type": "flat", "price": eur(1)},
                   "min_days": 1, "max_days": 2}),
            "shipping.zone_not_found",
        ),
    ] {
        let (status, reply) = put(&app, path, body).await;
        assert!((400..500).contains(&status), "{path}: {status} {reply}");
        assert_eq!(reply["code"], code, "{path}: {reply}");
    }
    // A shopper cannot read or change them.
    let r = app
        .http
        .put(format!("{}/admin/shipping/zones/free", app.base))
        .json(&json!({"name": "Free", "areas": [{"country": "*"}]}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 401);
    let settings: Value = app
        .http
        .get(format!("{}/admin/shipping", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        settings["zones"].as_array().map(Vec::len),
        Some(1),
        "{settings}"
    );
}
