//! The marketplace in a real browser, as people use it: a shopper sees who sells a product
//! and opens that vendor's storefront page; a shopper buys from two
//! vendors in one order; one vendor signs in, sees its dashboard with the order to ship, opens
//! the order (its own line only), packs and hands over its parcel, and reads its money page
//! (balance and ledger); the other vendor's page is out of its reach; staff open the vendors
//! list, suspend the vendor with a reason and reactivate it. A binary of its own (`cargo test
//! -p agora --test web_marketplace`).
//!
//! Skipped (with a message) when `chromium` or `chromedriver` is not installed; screenshots at
//! desktop width and at 375 px go to `<target>/web-screenshots/`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use agora::Roles;
use browser::browser;
use common::people::{self, call, As, Person};
use common::{shop, spawn_app, TestApp, ADMIN};
use reqwest::Method;
use serde_json::{json, Value};

/// A published, stocked product of the signed-in vendor.
async fn product(
    app: &TestApp,
    who: &Person,
    vendor: &str,
    sku: &str,
    title: &str,
    price: i64,
) -> String {
    people::vendor_product(app, who, vendor, sku, title, price, 20).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_ships_its_own_line_and_reads_its_money_and_staff_suspend_it() {
    let app = spawn_app(Roles::all()).await;
    let (acme_user, acme) = people::vendor_user(&app, "acme").await;
    let (bolt_user, bolt) = people::vendor_user(&app, "bolt").await;
    let staff = people::with_role(&app, "vera", "staff").await;
    let (status, reply) = call(
        &app,
        As::Bearer(ADMIN),
        Method::POST,
        &format!("/admin/vendors/{acme}/commission-rules"),
        Some(json!({"rule_id": "acme-10", "percent_bp": 1000,
                    "effective_from": chrono::Utc::now() + chrono::Duration::milliseconds(300)})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let mug = product(&app, &acme_user, &acme, "WM-MUG", "Stoneware mug", 1800).await;
    product(&app, &bolt_user, &bolt, "WM-LAMP", "Desk lamp", 4900).await;
    shop::until_for_sale(&app.pool, &["WM-MUG", "WM-LAMP"]).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let cart = shop::cart(&app.http, &app.base, &[("WM-MUG", 2), ("WM-LAMP", 1)]).await;
    let order_id = shop::checkout_ok(&app.http, &app.base, &cart, "web-mp", "pm_card_visa").await;
    common::until_sql(
        &app.pool,
        &format!("SELECT count(*) = 2 FROM vendor_orders WHERE order_id = '{order_id}' AND status = 'confirmed'"),
        Duration::from_secs(60),
    )
    .await;
    let Some(b) = browser(&app.base).await else {
        return;
    };

    // A shopper sees who sells the mug and follows the link to the vendor's page.
    b.goto(&format!("/products/{mug}")).await;
    assert_eq!(b.text("p.sold-by a").await, "acme");
    b.shot("store-product-sold-by").await;
    b.click("p.sold-by a").await;
    b.until("the vendor's page", Duration::from_secs(10), async |b| {
        b.text("h1").await == "acme"
    })
    .await;
    assert_eq!(b.count("ul.grid li.card").await, 1);
    assert_eq!(b.text("ul.grid li.card h3 a").await, "Stoneware mug");
    b.shot("store-vendor").await;
    b.accessible("store-vendor").await;

    // A signed-in shopper reviews the mug; it waits for the shop's check.
    let carla = people::sign_up(&app, "carla").await;
    b.sign_in(&carla.email, people::PASSWORD).await;
    b.goto(&format!("/products/{mug}")).await;
    b.fill("#review-title", "Holds a lot of tea").await;
    b.fill("#review-body", "Heavy, warm glaze.").await;
    b.fill("#review-name", "Carla").await;
    b.shot("store-review-form").await;
    b.click("#review-form button[type=submit]").await;
    b.until("the review sent", Duration::from_secs(10), async |b| {
        b.text(".notice")
            .await
            .contains("once the shop has checked it")
    })
    .await;
    assert_eq!(b.text("#reviews .empty").await, "No reviews yet.");
    b.sign_out().await;

    // Acme's user signs in and lands on its dashboard, with the order to ship.
    b.sign_in(&acme_user.email, people::PASSWORD).await;
    b.goto("/backoffice").await;
    b.find(&format!(
        "#to-ship tr[data-order='{order_id}'], table.vendor-orders tr[data-order='{order_id}']"
    ))
    .await;
    assert_eq!(b.text("#to-ship-count").await, "1");
    assert_eq!(b.text("#vendor-status").await, "active");
    b.shot("vendor-dashboard").await;
    b.accessible("vendor-dashboard").await;

    // Its orders page lists the order; the order page shows its own line only, and no refund.
    b.goto(&format!("/backoffice/vendors/{acme}/orders")).await;
    b.click(&format!("tr[data-order='{order_id}'] a")).await;
    b.find("#pack-form").await;
    assert_eq!(b.count("tr[data-sku]").await, 1);
    b.find("tr[data-sku='WM-MUG']").await;
    assert_eq!(b.count("#refund").await, 0);
    assert!(!b.text("main").await.contains("ada@example.com"));
    b.shot("vendor-order").await;
    b.accessible("vendor-order").await;
    b.click("#pack-form button[type=submit]").await;
    b.until(
        "the parcel page opens",
        Duration::from_secs(10),
        async |b| b.path().await.starts_with("/backoffice/shipments/"),
    )
    .await;
    b.fill("#carrier", "DHL").await;
    b.fill("#tracking", "JD0146000099").await;
    b.click("#hand-over button[type=submit]").await;
    b.until("handed over", Duration::from_secs(10), async |b| {
        b.count("#tracking-number").await == 1
    })
    .await;
    assert_eq!(b.text("#shipment-status").await, "shipped");

    // Its money: the sale and the commission, each with its event.
    b.goto(&format!("/backoffice/vendors/{acme}")).await;
    b.until(
        "the ledger shows the sale",
        Duration::from_secs(30),
        async |b| {
            b.goto(&format!("/backoffice/vendors/{acme}")).await;
            b.count("#ledger tr[data-kind='sale']").await == 1
        },
    )
    .await;
    assert_eq!(b.count("#ledger tr[data-kind='commission']").await, 1);
    // 2 × €18.00 with 19 % tax: €42.84 sold, €4.28 commission, €38.56 pending.
    assert_eq!(b.text("#pending").await, "€38.56");
    b.shot("vendor-money").await;
    b.accessible("vendor-money").await;
    // Its sales by day: the order's day, with the mug's sale and its commission.
    b.click("nav a[href$='/reports']").await;
    b.find("#sales-days tbody tr").await;
    assert_eq!(b.count("#sales-days tbody tr").await, 1);
    assert_eq!(b.text("#net-total").await, "€38.56");
    b.shot("vendor-reports").await;
    b.accessible("vendor-reports").await;
    // The other vendor's page does not exist for it.
    b.goto(&format!("/backoffice/vendors/{bolt}")).await;
    assert!(
        b.text("h1").await.to_lowercase().contains("not found"),
        "{}",
        b.text("h1").await
    );
    b.sign_out().await;

    // Staff review vendors: suspend Acme with a reason, then reactivate it.
    b.sign_in(&staff.email, people::PASSWORD).await;
    b.goto("/backoffice/vendors").await;
    b.find(&format!("#vendors tr[data-vendor='{acme}']")).await;
    b.shot("backoffice-vendors").await;
    b.accessible("backoffice-vendors").await;
    b.click(&format!("#vendors tr[data-vendor='{acme}'] a"))
        .await;
    b.fill("#suspend-reason", "missing paperwork").await;
    b.click("#suspend").await;
    b.until("suspended", Duration::from_secs(10), async |b| {
        b.text("#vendor-status").await == "suspended"
    })
    .await;
    b.shot("backoffice-vendor-suspended").await;
    b.accessible("backoffice-vendor-suspended").await;
    b.click("#reactivate").await;
    b.until("active again", Duration::from_secs(10), async |b| {
        b.text("#vendor-status").await == "active"
    })
    .await;

    // Staff approve the mug's review in the moderation queue.
    b.goto("/backoffice/reviews").await;
    b.find("#reviews tr[data-status='pending']").await;
    b.shot("backoffice-reviews").await;
    b.accessible("backoffice-reviews").await;
    b.click("#reviews tr[data-status='pending'] button.approve")
        .await;
    b.find(".notice").await;
    b.sign_out().await;

    // Acme answers it from its own reviews page.
    b.sign_in(&acme_user.email, people::PASSWORD).await;
    b.goto("/backoffice/reviews?status=approved").await;
    b.find("#reviews tr[data-status='approved']").await;
    b.fill(
        "#reviews tr[data-status='approved'] input[name=text]",
        "Thank you, Carla!",
    )
    .await;
    b.click("#reviews tr[data-status='approved'] form[action$='/respond'] button")
        .await;
    b.find(".notice").await;
    // The page it lands on already shows the answer.
    assert!(b
        .text("#reviews tr[data-status='approved'] .response")
        .await
        .contains("Thank you, Carla!"));
    b.shot("vendor-reviews").await;
    b.sign_out().await;

    // Anyone now reads the review, its stars and the seller's answer on the product page.
    b.goto(&format!("/products/{mug}")).await;
    b.until("the published review", Duration::from_secs(10), async |b| {
        b.count("#reviews li.review").await == 1
    })
    .await;
    assert!(b
        .text("#reviews li.review")
        .await
        .contains("Holds a lot of tea"));
    assert!(b
        .text("#reviews .response")
        .await
        .contains("The seller answers: Thank you, Carla!"));
    assert!(b.text("p.rating").await.contains("5.0 out of 5"));
    b.shot("store-product-reviews").await;
    b.accessible("store-product-reviews").await;

    // The shopper's bank disputes the order's payment: staff see the dispute on the order.
    let (_, payment) = call(
        &app,
        As::Bearer(ADMIN),
        Method::GET,
        &format!("/admin/orders/{order_id}/payment"),
        None,
    )
    .await;
    let payment: Value = serde_json::from_str(&payment).expect("payment");
    let event = json!({
        "id": "evt_web_dispute", "object": "event", "type": "charge.dispute.created",
        "created": chrono::Utc::now().timestamp(),
        "data": {"object": {"id": "dp_web_1", "object": "dispute", "amount": 500, "currency": "eur",
            "payment_intent": payment["provider_ref"], "reason": "product_not_received",
            "status": "needs_response", "metadata": {}}}
    })
    .to_string();
    let r = shop::stripe_webhook(&app.http, &app.base, event).await;
    assert_eq!(r.status(), 200);
    b.sign_in(&staff.email, people::PASSWORD).await;
    b.goto(&format!("/backoffice/orders/{order_id}")).await;
    b.until(
        "the dispute on the order",
        Duration::from_secs(10),
        async |b| {
            if b.count("#disputes tr[data-dispute='dp_web_1']").await == 1 {
                return true;
            }
            b.goto(&format!("/backoffice/orders/{order_id}")).await;
            false
        },
    )
    .await;
    assert!(b
        .text("#disputes tr[data-dispute='dp_web_1']")
        .await
        .contains("product_not_received"));
    b.shot("backoffice-order-dispute").await;
    b.accessible("backoffice-order-dispute").await;
}
