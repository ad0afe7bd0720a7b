//! Tax per country and region at checkout, end to end over HTTP: each order is taxed by the
//! shop's rule for its shipping address and records that rule, so a later change of the rules
//! (a restart with other configuration) never changes a placed order.

mod common;

use std::time::Duration;

use agora::Roles;
use common::{shop, spawn_app_with, system_get, TestApp};
use serde_json::{json, Value};

/// The shop of the worked example: 19 % VAT in Germany, prices including it; 7.25 % in
/// California, added to prices, shipping exempt; Spain 21 % added, but the Canary Islands 7 %
/// included in prices; 20 % added everywhere else.
const RULES: &str = "DE:1900:incl,US-CA:725:excl:shipping=exempt,ES:2100,ES-CN:700:incl,*:2000";

/// Two tees at 20.00 and a mug at 12.50: 52.50, under the free-shipping threshold (100.00), so
/// shipping is 4.99.
const CART: &[(&str, i64)] = &[("TAX-TEE", 2), ("TAX-MUG", 1)];

async fn stock(app: &TestApp) {
    shop::product(
        &app.http,
        &app.base,
        &[("TAX-TEE", 2000), ("TAX-MUG", 1250)],
        50,
    )
    .await;
    shop::until_for_sale(&app.pool, &["TAX-TEE", "TAX-MUG"]).await;
}

/// Checks the cart out to `country` (and `region`) and returns the order as the shopper reads
/// it over HTTP (`GET /store/orders/{id}`).
async fn order_to(app: &TestApp, key: &str, country: &str, region: Option<&str>) -> Value {
    let cart = shop::cart(&app.http, &app.base, CART).await;
    let mut body = shop::checkout_body("pm_card_visa");
    body["shipping_address"]["country"] = json!(country);
    if let Some(region) = region {
        body["shipping_address"]["region"] = json!(region);
    }
    let r = shop::checkout(&app.http, &app.base, &cart, key, &body).await;
    let status = r.status();
    let placed: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{placed}");
    let id = placed["order_id"].as_str().expect("order id");
    shopper_view(app, id, &cart.1).await
}

async fn shopper_view(app: &TestApp, id: &str, cart_token: &str) -> Value {
    let r = app
        .http
        .get(format!("{}/store/orders/{id}", app.base))
        .header("X-Cart-Token", cart_token)
        .send()
        .await
        .expect("order");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

fn minor(v: &Value) -> i64 {
    v["amount_minor"].as_i64().expect("amount")
}

/// (subtotal, shipping, tax, total) in cents.
fn totals(order: &Value) -> (i64, i64, i64, i64) {
    (
        minor(&order["subtotal"]),
        minor(&order["shipping"]),
        minor(&order["tax"]),
        minor(&order["total"]),
    )
}

/// The worked example, rounded half up per line (`AGORA_TAX_ROUNDING=line`), shipping counting
/// as a line. Tees 40.00, mug 12.50, shipping 4.99.
///
/// Germany, 19 % included (tax = amount × 19/119):
///   tees 4000 × 1900 / 11900 = 638.66 → 639; mug 199.58 → 200; shipping 79.67 → 80.
///   Tax 9.19 inside the prices; the shopper pays 52.50 + 4.99 = 57.49.
/// California (`US-CA`), 7.25 % added, shipping exempt:
///   tees 4000 × 0.0725 = 290; mug 90.625 → 91 (half up); shipping 0.
///   Tax 3.81; the shopper pays 57.49 + 3.81 = 61.30.
/// The Canary Islands (`ES-CN`), 7 % included (tax = amount × 7/107):
///   tees 261.68 → 262; mug 81.78 → 82; shipping 32.64 → 33. Tax 3.77; total 57.49.
/// Mainland Spain, 21 % added: tees 840, mug 262.5 → 263, shipping 104.79 → 105.
///   Tax 12.08; total 69.57.
/// The United Kingdom has no rule: the fallback's 20 % added: 800 + 250 + 99.8 → 100.
///   Tax 11.50; total 68.99.
#[tokio::test]
async fn orders_to_countries_and_regions_are_taxed_by_their_own_rules() {
    let app = spawn_app_with(Roles::all(), |c| {
        c.tax_rules = Some(RULES.into());
        c.tax_rounding = "line".into();
    })
    .await;
    stock(&app).await;

    let germany = order_to(&app, "tax-de", "DE", None).await;
    assert_eq!(totals(&germany), (5250, 499, 919, 5749));
    assert_eq!(
        germany["tax_rule"],
        json!({"rate": {"country": "DE", "region": null, "rate_bp": 1900,
                        "shipping_rate_bp": 1900, "prices_include_tax": true},
               "rounding": "per_line"})
    );

    // The region given the ISO 3166-2 way (`US-CA`) or bare (`CN`) both match.
    let california = order_to(&app, "tax-us-ca", "US", Some("US-CA")).await;
    assert_eq!(totals(&california), (5250, 499, 381, 6130));
    assert_eq!(california["tax_rule"]["rate"]["region"], "CA");
    assert_eq!(california["tax_rule"]["rate"]["shipping_rate_bp"], 0);

    let canaries = order_to(&app, "tax-es-cn", "ES", Some("CN")).await;
    assert_eq!(totals(&canaries), (5250, 499, 377, 5749));
    assert_eq!(canaries["tax_rule"]["rate"]["prices_include_tax"], true);

    // A region without a rule of its own (Catalonia) takes its country's.
    let spain = order_to(&app, "tax-es", "ES", Some("CT")).await;
    assert_eq!(totals(&spain), (5250, 499, 1208, 6957));
    assert_eq!(spain["tax_rule"]["rate"]["region"], Value::Null);

    let elsewhere = order_to(&app, "tax-gb", "GB", None).await;
    assert_eq!(totals(&elsewhere), (5250, 499, 1150, 6899));
    assert_eq!(elsewhere["tax_rule"]["rate"]["country"], Value::Null);
    app.stop().await;
}

/// Rules without a fallback refuse an address they do not cover, before anything is written.
#[tokio::test]
async fn an_address_no_rule_covers_cannot_check_out() {
    let app = spawn_app_with(Roles::all(), |c| c.tax_rules = Some("DE:1900:incl".into())).await;
    stock(&app).await;
    let cart = shop::cart(&app.http, &app.base, CART).await;
    let r = shop::checkout(
        &app.http,
        &app.base,
        &cart,
        "tax-nowhere",
        &shop::checkout_body("pm_card_visa"),
    )
    .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "tax.no_rate", "{body}");
    app.stop().await;
}

/// A placed order keeps the tax it was placed with when the platform restarts with other
/// rules; new orders pay the new rate.
///
/// Before: the flat 19 % (`AGORA_TAX_RATE_BP`, rounded once per order, today's rule): 52.50 +
/// 4.99 = 57.49, × 19 % = 10.9231 → 10.92; total 68.41. After: `*:2500`, 25 % added: 57.49 ×
/// 25 % = 14.3725 → 14.37; total 71.86.
#[tokio::test]
async fn a_placed_order_keeps_its_tax_after_a_restart_with_other_rules() {
    let mut app = spawn_app_with(Roles::all(), |_| {}).await;
    stock(&app).await;
    let cart = shop::cart(&app.http, &app.base, CART).await;
    let id = shop::checkout_ok(&app.http, &app.base, &cart, "tax-before", "pm_card_visa").await;
    let before = shop::settled(&app.bus().await, &id, Duration::from_secs(30)).await;
    assert_eq!(before["status"], "confirmed", "{before}");
    assert_eq!(totals(&before), (5250, 499, 1092, 6841));
    assert_eq!(before["tax_rule"]["rate"]["rate_bp"], 1900);
    assert_eq!(before["tax_rule"]["rounding"], "per_order");

    // Restart: the same database and NATS, another tax configuration.
    app.platform
        .take()
        .expect("running")
        .stop()
        .await
        .expect("stop");
    app.config.tax_rules = Some("*:2500".into());
    let platform = agora::start(&app.config, &Roles::all(), None)
        .await
        .expect("restart");
    app.base = format!("http://{}", platform.http_addr.expect("http"));
    app.platform = Some(platform);

    let after = shopper_view(&app, &id, &cart.1).await;
    assert_eq!(totals(&after), (5250, 499, 1092, 6841));
    assert_eq!(after["tax_rule"], before["tax_rule"]);
    let bus = app.bus().await;
    let from_service = system_get::<agora_order::Order>(&bus, &id)
        .await
        .expect("order");
    assert_eq!(minor(&from_service["tax"]), 1092);

    let cart = shop::cart(&app.http, &app.base, CART).await;
    let new_id = shop::checkout_ok(&app.http, &app.base, &cart, "tax-after", "pm_card_visa").await;
    let new = shop::settled(&bus, &new_id, Duration::from_secs(30)).await;
    assert_eq!(totals(&new), (5250, 499, 1437, 7186));
    assert_eq!(new["tax_rule"]["rate"]["rate_bp"], 2500);
    app.stop().await;
}

/// A tax configuration that does not parse stops the start-up, naming the setting.
#[tokio::test]
async fn a_bad_tax_rule_stops_the_start_with_a_clear_message() {
    let nats = agora_testkit::TestNats::start().expect("nats");
    let db = agora_testkit::TestDb::create().await.expect("db");
    for (rules, rounding, names) in [
        (Some("DE:19%"), "order", "AGORA_TAX_RULES"),
        (Some("DE:1900,DE:700"), "order", "AGORA_TAX_RULES"),
        (Some("DE:10001"), "order", "AGORA_TAX_RULES"),
        (None, "half_even", "AGORA_TAX_ROUNDING"),
    ] {
        let mut config = common::config(&nats, &db);
        config.tax_rules = rules.map(str::to_string);
        config.tax_rounding = rounding.into();
        let error = match agora::start(&config, &Roles::all(), None).await {
            Ok(_) => panic!("{rules:?} {rounding} started"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains(names), "{error}");
    }
}
