//! Races across aggregates that the platform must settle one way: a SKU claimed by two
//! products, one checkout key sent with two bodies, a guest cart merged into a cart that is
//! checking out.

mod common;

use std::time::Duration;

use agora::Roles;
use common::shop::{self, checkout, checkout_body, settled};
use common::{spawn_app, spawn_app_with, system_command, system_get, TestApp, ADMIN};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

/// Creates a product with the given `(sku, price)` variants as the admin; returns the response.
async fn create_product(
    app: &TestApp,
    vendor: &str,
    variants: &[(&str, i64)],
) -> reqwest::Response {
    let variants: Vec<Value> = variants
        .iter()
        .map(|(sku, price)| json!({"sku": sku, "title": sku, "price": {"amount_minor": price, "currency": "EUR"}}))
        .collect();
    app.http
        .post(format!("{}/admin/products", app.base))
        .bearer_auth(ADMIN)
        .json(
            &json!({"title": format!("{vendor}'s tee"), "vendor_id": vendor, "variants": variants}),
        )
        .send()
        .await
        .expect("create product")
}

async fn status_and_code(r: reqwest::Response) -> (u16, String, Value) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let code = body["code"].as_str().unwrap_or_default().to_string();
    (status, code, body)
}

fn product_id(created: &Value) -> String {
    created["id"]
        .as_str()
        .or(created["product"]["id"].as_str())
        .expect("product id")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sku_belongs_to_one_product_so_another_vendor_cannot_reprice_it() {
    let mut app = spawn_app(Roles::all()).await;
    // A second catalog instance: the claim must hold across instances, not inside one actor.
    app.also_start(Roles::services(vec!["catalog".into()]))
        .await;

    // Two products racing for one SKU, many times: exactly one gets it.
    for round in 0..20 {
        let sku = format!("RACE-{round}");
        let (acme, mallory) = ([(sku.as_str(), 1500)], [(sku.as_str(), 1)]);
        let (a, b) = tokio::join!(
            create_product(&app, "acme", &acme),
            create_product(&app, "mallory", &mallory),
        );
        let (a, b) = (status_and_code(a).await, status_and_code(b).await);
        let mut outcomes = [(a.0, a.1.clone()), (b.0, b.1.clone())];
        outcomes.sort();
        assert_eq!(
            outcomes,
            [(201, String::new()), (409, "catalog.sku_taken".into())],
            "round {round}: {} / {}",
            a.2,
            b.2
        );
    }
    let owners: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT product_id) FROM sku_claims WHERE sku LIKE 'RACE-%'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("claims");
    assert_eq!(
        owners, 20,
        "one claim per SKU, each by the product that won"
    );

    // The vendor's product, for sale.
    let acme = create_product(&app, "acme", &[("TEE-OWN", 1500)]).await;
    let (status, _, created) = status_and_code(acme).await;
    assert_eq!(status, 201, "{created}");
    let acme_id = product_id(&created);
    let r = app
        .http
        .post(format!("{}/admin/products/{acme_id}/publish", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("publish");
    assert!(r.status().is_success(), "{}", r.status());
    let r = app
        .http
        .post(format!("{}/admin/inventory/TEE-OWN/receive", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"quantity": 5}))
        .send()
        .await
        .expect("receive");
    assert!(r.status().is_success());

    // Another vendor cannot create a one-cent product carrying it...
    let (status, code, body) =
        status_and_code(create_product(&app, "mallory", &[("TEE-OWN", 1)]).await).await;
    assert_eq!(
        (status, code.as_str()),
        (409, "catalog.sku_taken"),
        "{body}"
    );
    // ...nor add it as a variant to a product of its own.
    let (status, _, mallory) =
        status_and_code(create_product(&app, "mallory", &[("CHEAP-1", 1)]).await).await;
    assert_eq!(status, 201, "{mallory}");
    let mallory_id = product_id(&mallory);
    let r = app
        .http
        .post(format!("{}/admin/products/{mallory_id}/variants", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"sku": "TEE-OWN", "title": "cheap", "price": {"amount_minor": 1, "currency": "EUR"}}))
        .send()
        .await
        .expect("add variant");
    let (status, code, body) = status_and_code(r).await;
    assert_eq!(
        (status, code.as_str()),
        (409, "catalog.sku_taken"),
        "{body}"
    );
    let r = app
        .http
        .post(format!("{}/admin/products/{mallory_id}/publish", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("publish");
    assert!(r.status().is_success(), "{}", r.status());
    // A refused variant left no claim behind, and the owner keeps its SKU.
    let owner: Option<String> =
        sqlx::query_scalar("SELECT product_id FROM sku_claims WHERE sku = 'TEE-OWN'")
            .fetch_optional(&app.pool)
            .await
            .expect("claim");
    assert_eq!(owner.as_deref(), Some(acme_id.as_str()));

    // A command the product refuses gives back the SKUs it claimed: they stay free.
    let bus = app.bus().await;
    let free = agora_catalog::ProductCommand::Create {
        title: "free tee".into(),
        description: String::new(),
        image_urls: vec![],
        category_id: None,
        attributes: Default::default(),
        vendor_id: "mallory".into(),
        variants: vec![agora_catalog::VariantInput {
            sku: agora_kernel::Sku::parse("FREE-1").expect("sku"),
            title: "free".into(),
            price: agora_kernel::Money::new(0, agora_kernel::Currency::EUR),
            attributes: Default::default(),
            shipping: Default::default(),
        }],
    };
    let refused = system_command(&bus, &uuid::Uuid::new_v4().to_string(), &free)
        .await
        .expect_err("a zero price is refused");
    assert_eq!(refused.code, "catalog.invalid_price");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sku_claims WHERE sku = 'FREE-1'")
        .fetch_one(&app.pool)
        .await
        .expect("claims");
    assert_eq!(left, 0, "a refused create keeps no claim");
    let (status, _, body) =
        status_and_code(create_product(&app, "acme", &[("FREE-1", 100)]).await).await;
    assert_eq!(status, 201, "{body}");

    // The owner still adds SKUs of its own.
    let r = app
        .http
        .post(format!("{}/admin/products/{acme_id}/variants", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"sku": "TEE-OWN-L", "title": "L", "price": {"amount_minor": 1600, "currency": "EUR"}}))
        .send()
        .await
        .expect("add variant");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());

    // Checkout prices the SKU from its one owner.
    shop::until_for_sale(&app.pool, &["TEE-OWN", "CHEAP-1"]).await;
    let c = shop::cart(&app.http, &app.base, &[("TEE-OWN", 1)]).await;
    let r = checkout(
        &app.http,
        &app.base,
        &c,
        "own-1",
        &checkout_body("pm_card_visa"),
    )
    .await;
    let (status, _, placed) = status_and_code(r).await;
    assert_eq!(status, 201, "{placed}");
    let line = &placed["order"]["lines"][0];
    assert_eq!(line["unit_price"]["amount_minor"], 1500, "{placed}");
    assert_eq!(line["product_id"], acme_id.as_str(), "{placed}");
    app.stop().await;
}

async fn publish(app: &TestApp, id: &str) {
    let r = app
        .http
        .post(format!("{}/admin/products/{id}/publish", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("publish");
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sku_two_products_carried_before_claims_existed_belongs_to_the_first_and_is_priced_from_it(
) {
    let app = spawn_app(Roles::all()).await;
    // Product ids are random: the owner is one whose id sorts in the lower half, so that a later
    // product whose id sorts after it is found in a few tries (with any owner, 64 tries missed
    // about once in 65 runs).
    let mut first = None;
    for k in 0..40 {
        let sku = format!("LEGACY-{k}");
        let (status, _, created) =
            status_and_code(create_product(&app, "acme", &[(&sku, 1500)]).await).await;
        assert_eq!(status, 201, "{created}");
        let id = product_id(&created);
        if id.as_str() < "8" {
            first = Some((sku, id));
            break;
        }
    }
    let (sku, owner) = first.expect("an owner whose id sorts in the lower half");
    publish(&app, &owner).await;
    let r = app
        .http
        .post(format!("{}/admin/inventory/{sku}/receive", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"quantity": 5}))
        .send()
        .await
        .expect("receive");
    assert!(r.status().is_success());
    // A later one-cent product that carries the same SKU, as data from before claims could:
    // written straight into its stream, since the catalog no longer lets it happen. It is one
    // whose id sorts after the owner's, the product a lookup that keeps the last match takes.
    let mut cheap = None;
    for i in 0..64 {
        let sku = format!("CHEAP-{i}");
        let (status, _, created) =
            status_and_code(create_product(&app, "mallory", &[(&sku, 1)]).await).await;
        assert_eq!(status, 201, "{created}");
        let id = product_id(&created);
        if id > owner {
            cheap = Some(id);
            break;
        }
    }
    let cheap = cheap.expect("a product id that sorts after the owner's");
    let variant = json!({"VariantAdded": {"variant": {"sku": sku, "title": "cheap",
        "price": {"amount_minor": 1, "currency": "EUR"}, "attributes": {}}}});
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT aggregate_type, aggregate_id, sequence + 1, 'VariantAdded', event_version, $2::json, metadata
         FROM events WHERE aggregate_type = 'product' AND aggregate_id = $1 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(&cheap)
    .bind(variant.to_string())
    .execute(&app.pool)
    .await
    .expect("legacy variant");
    publish(&app, &cheap).await;
    // The migration's backfill gives the SKU to the product created first.
    sqlx::query("DELETE FROM sku_claims")
        .execute(&app.pool)
        .await
        .expect("forget claims");
    sqlx::raw_sql(include_str!("../../migrations/0009_sku_claims.sql"))
        .execute(&app.pool)
        .await
        .expect("backfill");
    let claimed: Option<String> =
        sqlx::query_scalar("SELECT product_id FROM sku_claims WHERE sku = $1")
            .bind(&sku)
            .fetch_optional(&app.pool)
            .await
            .expect("claim");
    assert_eq!(claimed.as_deref(), Some(owner.as_str()));
    common::until_sql(
        &app.pool,
        &format!(
            "SELECT count(*) = 2 FROM products WHERE status = 'published' AND '{sku}' = ANY(skus)"
        ),
        Duration::from_secs(30),
    )
    .await;

    // Checkout prices the SKU from its owner, not from the one-cent product.
    let c = shop::cart(&app.http, &app.base, &[(sku.as_str(), 1)]).await;
    let r = checkout(
        &app.http,
        &app.base,
        &c,
        "legacy-1",
        &checkout_body("pm_card_visa"),
    )
    .await;
    let (status, _, placed) = status_and_code(r).await;
    assert_eq!(status, 201, "{placed}");
    let line = &placed["order"]["lines"][0];
    assert_eq!(line["unit_price"]["amount_minor"], 1500, "{placed}");
    assert_eq!(line["product_id"], owner.as_str(), "{placed}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_checkout_key_with_two_bodies_at_once_places_one_order_for_the_plan_it_charges() {
    let app = spawn_app(Roles::all()).await;
    shop::product(&app.http, &app.base, &[("KEY-1", 1000)], 100).await;
    shop::until_for_sale(&app.pool, &["KEY-1"]).await;
    let bus = app.bus().await;
    for round in 0..20 {
        let c = shop::cart(&app.http, &app.base, &[("KEY-1", 1)]).await;
        let key = format!("twice-{round}");
        let mut ada = checkout_body("pm_card_visa");
        ada["shipping_address"]["name"] = json!("Ada Lovelace");
        let mut bob = checkout_body("pm_card_mastercard");
        bob["shipping_address"]["name"] = json!("Bob Babbage");
        bob["shipping_address"]["line1"] = json!("1 Difference Lane");
        let (a, b) = tokio::join!(
            checkout(&app.http, &app.base, &c, &key, &ada),
            checkout(&app.http, &app.base, &c, &key, &bob),
        );
        let (a, b) = (status_and_code(a).await, status_and_code(b).await);
        let (winner, winning_body) = match (a.0, b.0) {
            (201, 409) => {
                assert_eq!(b.1, "checkout.idempotency_key_reused", "{}", b.2);
                (a.2, &ada)
            }
            (409, 201) => {
                assert_eq!(a.1, "checkout.idempotency_key_reused", "{}", a.2);
                (b.2, &bob)
            }
            other => panic!("round {round}: {other:?}: {} / {}", a.2, b.2),
        };
        let order_id = winner["order_id"].as_str().expect("order id").to_string();
        // The order carries the winner's address, and the saga charges the winner's plan.
        let started: Value = sqlx::query_scalar(
            "SELECT payload FROM events WHERE aggregate_type = 'checkout' AND aggregate_id = $1
             AND event_type = 'CheckoutStarted'",
        )
        .bind(&order_id)
        .fetch_one(&app.pool)
        .await
        .expect("checkout started");
        let plan = &started["CheckoutStarted"]["plan"];
        let order = system_get::<agora_order::Order>(&bus, &order_id)
            .await
            .expect("order");
        assert_eq!(
            order["shipping_address"]["name"], winning_body["shipping_address"]["name"],
            "{order}"
        );
        assert_eq!(
            order["shipping_address"], plan["shipping_address"],
            "{order} / {plan}"
        );
        assert_eq!(plan["payment_method"], winning_body["payment_method"]);
        let order = settled(&bus, &order_id, Duration::from_secs(60)).await;
        assert_eq!(order["status"], "confirmed", "{order}");
    }
    app.stop().await;
}

async fn sign_up(app: &TestApp) -> (String, String) {
    let email = format!("merge-{}@example.com", uuid::Uuid::new_v4().simple());
    let r = app
        .http
        .post(format!("{}/store/auth/register", app.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let pair: Value = app
        .http
        .post(format!("{}/store/auth/login", app.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    (
        pair["account_id"].as_str().expect("account id").into(),
        pair["access_token"].as_str().expect("access").into(),
    )
}

async fn get_cart(app: &TestApp, id: &str, auth: (&str, &str)) -> Value {
    let req = app.http.get(format!("{}/store/carts/{id}", app.base));
    let req = match auth {
        ("token", t) => req.header("X-Cart-Token", t),
        (_, bearer) => req.bearer_auth(bearer),
    };
    let r = req.send().await.expect("get cart");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

fn lines(cart: &Value) -> Vec<(String, i64)> {
    cart["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().expect("sku").to_string(),
                l["quantity"].as_i64().expect("quantity"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guest_cart_merged_into_a_cart_that_is_checking_out_stays_as_it_was() {
    let app = spawn_app_with(Roles::all(), |c| {
        c.edge_security.auth_rate_burst = 1000;
        c.edge_security.auth_rate_per_minute = 1000;
    })
    .await;
    let (_, access) = sign_up(&app).await;
    // The customer's cart, locked by a checkout in progress.
    let created: Value = app
        .http
        .post(format!("{}/store/carts", app.base))
        .bearer_auth(&access)
        .json(&json!({}))
        .send()
        .await
        .expect("create cart")
        .json()
        .await
        .expect("json");
    let target = created["cart_id"].as_str().expect("id").to_string();
    let r = app
        .http
        .post(format!("{}/store/carts/{target}/items", app.base))
        .bearer_auth(&access)
        .json(&json!({"sku": "MINE-1", "quantity": 1}))
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), 200);
    let bus = app.bus().await;
    system_command(
        &bus,
        &target,
        &agora_cart::CartCommand::BeginCheckout {
            order_id: "order-in-progress".into(),
            now: chrono::Utc::now(),
        },
    )
    .await
    .expect("lock");

    let guest = shop::cart(&app.http, &app.base, &[("GUEST-A", 2), ("GUEST-B", 1)]).await;
    let merge = |into: &str| {
        app.http
            .post(format!("{}/store/customers/me/cart/merge", app.base))
            .bearer_auth(&access)
            .header("X-Cart-Token", &guest.1)
            .json(&json!({"cart_id": guest.0, "into_cart_id": into}))
            .send()
    };
    let (status, code, body) = status_and_code(merge(&target).await.expect("merge")).await;
    assert_eq!(
        (status, code.as_str()),
        (409, "cart.checkout_in_progress"),
        "{body}"
    );
    // Neither cart changed: the guest cart is open with its lines, the target holds its own.
    let source = get_cart(&app, &guest.0, ("token", &guest.1)).await;
    assert_eq!(source["status"], "open", "{source}");
    assert_eq!(source["merged_into"], Value::Null, "{source}");
    assert_eq!(
        lines(&source),
        [("GUEST-A".to_string(), 2), ("GUEST-B".to_string(), 1)]
    );
    let locked = get_cart(&app, &target, ("bearer", &access)).await;
    assert_eq!(lines(&locked), [("MINE-1".to_string(), 1)]);

    // Once the checkout gives the cart back, the same merge goes through, and a retry of it
    // applies nothing twice.
    system_command(
        &bus,
        &target,
        &agora_cart::CartCommand::AbortCheckout {
            order_id: "order-in-progress".into(),
        },
    )
    .await
    .expect("unlock");
    for attempt in 0..2 {
        let (status, _, merged) = status_and_code(merge(&target).await.expect("merge")).await;
        assert_eq!(status, 200, "attempt {attempt}: {merged}");
        let now = get_cart(&app, &target, ("bearer", &access)).await;
        assert_eq!(
            lines(&now),
            [
                ("GUEST-A".to_string(), 2),
                ("GUEST-B".to_string(), 1),
                ("MINE-1".to_string(), 1)
            ],
            "attempt {attempt}"
        );
        let source = get_cart(&app, &guest.0, ("token", &guest.1)).await;
        assert_eq!(source["status"], "merged", "{source}");
        assert_eq!(source["merged_into"], target.as_str(), "{source}");
    }
    app.stop().await;
}
