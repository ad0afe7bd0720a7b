//! Every projection the binary runs can be rebuilt from the event store: `agora project rebuild
//! <name>` for each name of `agora::PROJECTIONS` replays the history into a fresh table, swaps it
//! in, and ends with the rows the live projection had.

mod common;

use std::time::Duration;

use agora::Roles;
use common::{shop, spawn_app};

/// The table holding each projection's rows, and the key that orders them.
fn table(projection: &str) -> (&'static str, &'static str) {
    match projection {
        "carts" => ("carts", "cart_id"),
        "products" => ("products", "product_id"),
        "categories" => ("categories", "category_id"),
        "stock" => ("stock_levels", "sku"),
        "search" => ("search_products", "id"),
        "orders" => ("orders", "order_id"),
        "promotions" => ("promotions", "promotion_id"),
        "shipments" => ("shipments", "shipment_id"),
        "returns" => ("returns", "return_id"),
        "vendors" => ("vendors", "vendor_id"),
        "payments" => ("payments", "payment_id"),
        "reviews" => ("reviews", "review_id"),
        // The ledger's entries; `vendor_sales` itself only holds each order's version.
        "vendor_sales" => ("vendor_ledger", "entry_id"),
        // The sales per product and day: the companion the order events move forward.
        "analytics_orders" => ("analytics_sales_products", "day, currency, sku"),
        "analytics_carts" => ("analytics_carts", "cart_id"),
        "analytics_checkouts" => ("analytics_checkouts", "checkout_id"),
        other => panic!("a projection this test does not know: {other} (add its table here)"),
    }
}

async fn rows(pool: &sqlx::PgPool, projection: &str) -> Vec<String> {
    let (table, key) = table(projection);
    sqlx::query_scalar(&format!(
        "SELECT to_jsonb(t)::text FROM {table} t ORDER BY {key}"
    ))
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("read {table}: {e}"))
}

#[tokio::test]
async fn every_projection_in_the_registry_rebuilds_to_what_it_had() {
    let app = spawn_app(Roles::all()).await;
    // Something in every read model: categories, a product with stock, a cart, a promotion, an
    // order that redeemed it.
    let r = app
        .http
        .post(format!("{}/admin/categories", app.base))
        .bearer_auth(common::ADMIN)
        .json(&serde_json::json!({"id": "rebuild-kettles", "name": "Kettles"}))
        .send()
        .await
        .expect("category");
    assert!(r.status().is_success(), "{}", r.status());
    shop::product(&app.http, &app.base, &[("RB-1", 1200), ("RB-2", 900)], 5).await;
    // A marketplace vendor, with a product of its own in the order (the vendors list and the
    // vendors' ledger).
    let (seller, vendor) = common::people::vendor_user(&app, "rebuilder").await;
    let (status, reply) = common::people::call(
        &app,
        common::people::As::Bearer(&seller.access),
        reqwest::Method::POST,
        "/admin/products",
        Some(serde_json::json!({"title": "Rebuilt vase", "vendor_id": vendor,
            "variants": [{"sku": "RB-V", "title": "One", "price": {"amount_minor": 2500, "currency": "EUR"}}]})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let product = serde_json::from_str::<serde_json::Value>(&reply).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    for (path, body) in [
        (format!("/admin/products/{product}/publish"), None),
        (
            "/admin/inventory/RB-V/receive".to_string(),
            Some(serde_json::json!({"quantity": 3})),
        ),
    ] {
        let (status, reply) = common::people::call(
            &app,
            common::people::As::Bearer(&seller.access),
            reqwest::Method::POST,
            &path,
            body,
        )
        .await;
        assert_eq!(status, 200, "{reply}");
    }
    shop::until_for_sale(&app.pool, &["RB-1", "RB-2", "RB-V"]).await;
    // An active code promotion, redeemed by the order.
    shop::code_promotion(&app.http, &app.base, "REBUILD1", 100, serde_json::json!({})).await;
    let cart = shop::cart(&app.http, &app.base, &[("RB-1", 2), ("RB-V", 1)]).await;
    let body = shop::checkout_body_with_code("pm_card_visa", "REBUILD1");
    let r = shop::checkout(&app.http, &app.base, &cart, "rebuild-1", &body).await;
    assert_eq!(r.status(), 201);
    let order = r.json::<serde_json::Value>().await.expect("json")["order_id"]
        .as_str()
        .expect("order id")
        .to_string();
    let settled = shop::settled(&app.bus().await, &order, Duration::from_secs(30)).await;
    assert_eq!(settled["status"], "confirmed");
    // A review of the vendor's vase, approved: the reviews read model and the vase's rating.
    let reviewer = common::people::sign_up(&app, "reviewer").await;
    let (status, reply) = common::people::call(
        &app,
        common::people::As::Bearer(&reviewer.access),
        reqwest::Method::POST,
        &format!("/store/products/{product}/reviews"),
        Some(serde_json::json!({"rating": 4, "title": "Solid vase", "display_name": "Rev"})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let review = serde_json::from_str::<serde_json::Value>(&reply).expect("json")["id"]
        .as_str()
        .expect("review id")
        .to_string();
    let (status, reply) = common::people::call(
        &app,
        common::people::As::Bearer(common::ADMIN),
        reqwest::Method::POST,
        &format!("/admin/reviews/{review}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    // A parcel delivered, and a return of one of its units.
    common::fulfil::ship_and_deliver(&app.http, &app.base, &order, "JD-REBUILD-1").await;
    let (status, ret) = common::fulfil::request_return(
        &app.http,
        &app.base,
        &order,
        &cart.1,
        "rebuild-return",
        &[("RB-1", 1, "size_or_fit")],
    )
    .await;
    assert_eq!(status, 201, "{ret}");
    // Every read model caught up with the store.
    common::until_sql(
        &app.pool,
        &format!(
            "SELECT (SELECT count(*) = 1 FROM orders WHERE order_id = '{order}' AND status = 'delivered'
                      AND version = (SELECT max(sequence) FROM events
                                     WHERE aggregate_type = 'order' AND aggregate_id = '{order}'))
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'stock' GROUP BY 1) e
                               LEFT JOIN stock_levels l ON l.sku = e.aggregate_id
                               WHERE l.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'cart' GROUP BY 1) e
                               LEFT JOIN carts c ON c.cart_id = e.aggregate_id
                               WHERE c.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_type, aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type IN ('product', 'stock', 'review') GROUP BY 1, 2) e
                               LEFT JOIN search_sources s USING (aggregate_type, aggregate_id)
                               WHERE s.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'promotion' GROUP BY 1) e
                               LEFT JOIN promotions p ON p.promotion_id = e.aggregate_id
                               WHERE p.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'shipment' GROUP BY 1) e
                               LEFT JOIN shipments p ON p.shipment_id = e.aggregate_id
                               WHERE p.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'return' GROUP BY 1) e
                               LEFT JOIN returns p ON p.return_id = e.aggregate_id
                               WHERE p.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'review' GROUP BY 1) e
                               LEFT JOIN reviews r ON r.review_id = e.aggregate_id
                               WHERE r.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'vendor' GROUP BY 1) e
                               LEFT JOIN vendors v ON v.vendor_id = e.aggregate_id
                               WHERE v.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'order' GROUP BY 1) e
                               LEFT JOIN vendor_sales v ON v.order_id = e.aggregate_id
                               WHERE v.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'order' GROUP BY 1) e
                               LEFT JOIN analytics_orders a ON a.order_id = e.aggregate_id
                               WHERE a.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'cart' GROUP BY 1) e
                               LEFT JOIN analytics_carts a ON a.cart_id = e.aggregate_id
                               WHERE a.version IS DISTINCT FROM e.s)
               AND NOT EXISTS (SELECT 1 FROM (SELECT aggregate_id, max(sequence) s FROM events
                                              WHERE aggregate_type = 'checkout' GROUP BY 1) e
                               LEFT JOIN analytics_checkouts a ON a.checkout_id = e.aggregate_id
                               WHERE a.version IS DISTINCT FROM e.s)"
        ),
        Duration::from_secs(60),
    )
    .await;

    for projection in agora::PROJECTIONS {
        let before = rows(&app.pool, projection).await;
        assert!(!before.is_empty(), "{projection} has rows to rebuild");
        agora::rebuild(&app.config, projection)
            .await
            .unwrap_or_else(|e| panic!("agora project rebuild {projection}: {e:#}"));
        let after = rows(&app.pool, projection).await;
        assert_eq!(after, before, "{projection} after its rebuild");
    }
    app.stop().await;
}
