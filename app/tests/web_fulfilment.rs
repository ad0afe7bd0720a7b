//! Fulfilment and returns in a real browser, as people use them: a customer buys two mugs;
//! staff find the order in the fulfilment queue, pack it into a parcel, print its packing slip
//! and hand it to the carrier; the carrier's webhook delivers it; the customer sees the parcel
//! delivered, asks to return one mug, and follows the return; staff approve and receive it,
//! and the customer sees the refund. A binary of its own (`cargo test -p agora --test
//! web_fulfilment`).
//!
//! Skipped (with a message) when `chromium` or `chromedriver` is not installed; screenshots at
//! desktop width and at 375 px go to `<target>/web-screenshots/`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use agora::Roles;
use browser::browser;
use common::fulfil::{generic_hook, scan};
use common::{people, shop, spawn_app, ADMIN};
use serde_json::Value;

async fn admin_get(app: &common::TestApp, path: &str) -> Value {
    app.http
        .get(format!("{}{path}", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_pack_and_ship_a_parcel_and_a_customer_returns_a_mug() {
    let app = spawn_app(Roles::all()).await;
    let product = shop::product(&app.http, &app.base, &[("WF-MUG", 1800)], 20).await;
    shop::until_for_sale(&app.pool, &["WF-MUG"]).await;
    let staff = people::with_role(&app, "packer", "staff").await;
    let customer = people::sign_up(&app, "mugfan").await;
    let Some(b) = browser(&app.base).await else {
        return;
    };

    // The customer buys two mugs.
    b.sign_in(&customer.email, people::PASSWORD).await;
    b.goto(&format!("/products/{product}")).await;
    b.click("form[action='/cart/add'] button[type=submit]")
        .await;
    b.find("#cart-lines").await;
    b.goto(&format!("/products/{product}")).await;
    b.click("form[action='/cart/add'] button[type=submit]")
        .await;
    b.find("#cart-lines").await;
    b.click("#to-checkout").await;
    b.find("#checkout").await;
    b.fill("#name", "Grace Hopper").await;
    b.fill("#line1", "Friedrichstraße 43").await;
    b.fill("#city", "Berlin").await;
    b.fill("#postal_code", "10117").await;
    b.click("#country option[value='DE']").await;
    b.click("input[name=payment_method][value=pm_card_visa]")
        .await;
    b.click("#pay").await;
    b.until("the order page opens", Duration::from_secs(30), async |b| {
        b.path().await.starts_with("/orders/")
    })
    .await;
    let order_id = b.path().await.trim_start_matches("/orders/").to_string();
    common::until_sql(
        &app.pool,
        &format!("SELECT count(*) = 1 FROM orders WHERE order_id = '{order_id}' AND status = 'confirmed' AND captured_minor = total_minor"),
        Duration::from_secs(30),
    )
    .await;
    let units = admin_get(&app, &format!("/admin/orders/{order_id}")).await["lines"][0]["quantity"]
        .as_i64();
    assert_eq!(units, Some(2));
    b.sign_out().await;

    // Staff find it in the queue, pack it and hand it over.
    b.sign_in(&staff.email, people::PASSWORD).await;
    b.goto("/backoffice/fulfilment").await;
    b.find(&format!("#queue tr[data-order='{order_id}']")).await;
    b.shot("backoffice-fulfilment-queue").await;
    b.accessible("backoffice-fulfilment-queue").await;
    b.click(&format!("#queue tr[data-order='{order_id}'] a"))
        .await;
    b.find("#pack-form").await;
    b.click("#pack-form button[type=submit]").await;
    b.until(
        "the parcel page opens",
        Duration::from_secs(10),
        async |b| b.path().await.starts_with("/backoffice/shipments/"),
    )
    .await;
    assert_eq!(b.text("#shipment-status").await, "packing");
    let shipment_path = b.path().await;
    let shipment_path = shipment_path.split('?').next().expect("path").to_string();
    b.goto(&format!("{shipment_path}/slip")).await;
    assert_eq!(b.text("h1").await, "Packing slip");
    assert!(b.text("main").await.contains("Grace Hopper"));
    assert!(b.text("main").await.contains("WF-MUG"));
    b.shot("packing-slip").await;
    b.accessible("packing-slip").await;
    b.goto(&shipment_path).await;
    b.fill("#carrier", "DHL").await;
    b.fill("#tracking", "JD014600003").await;
    b.fill("#tracking-url", "https://www.dhl.com/track?id=JD014600003")
        .await;
    b.click("#hand-over button[type=submit]").await;
    b.until("handed over", Duration::from_secs(10), async |b| {
        b.count("#tracking-number").await == 1
    })
    .await;
    assert_eq!(b.text("#shipment-status").await, "shipped");
    b.shot("backoffice-parcel").await;
    b.accessible("backoffice-parcel").await;
    b.sign_out().await;

    // The carrier delivers it.
    let delivered = scan(
        "dhl-evt-1",
        "JD014600003",
        "delivered",
        &chrono::Utc::now().to_rfc3339(),
    );
    agora_testkit::eventually(Duration::from_secs(30), || async {
        let (status, _) = generic_hook(&app.http, &app.base, &delivered).await;
        (status == 200).then_some(())
    })
    .await
    .expect("the carrier's webhook is taken");
    common::until_sql(
        &app.pool,
        &format!("SELECT count(*) = 1 FROM orders WHERE order_id = '{order_id}' AND status = 'delivered'"),
        Duration::from_secs(30),
    )
    .await;

    // The customer sees the parcel delivered and returns one mug.
    b.sign_in(&customer.email, people::PASSWORD).await;
    b.goto(&format!("/orders/{order_id}")).await;
    b.find("#parcels li[data-status='delivered']").await;
    assert!(b.text("#parcels").await.contains("Track JD014600003"));
    b.click("#return-form select[name='qty:WF-MUG'] option[value='1']")
        .await;
    b.click("#return-form select[name='why:WF-MUG'] option[value='damaged']")
        .await;
    b.fill("#return-note", "the handle came off").await;
    b.shot("order-return-form").await;
    b.accessible("order-return-form").await;
    b.click("#return-form button[type=submit]").await;
    b.until(
        "the return page opens",
        Duration::from_secs(10),
        async |b| b.path().await.contains("/returns/"),
    )
    .await;
    assert_eq!(b.text("#return-status").await, "requested");
    let return_id = b.path().await.rsplit('/').next().expect("id").to_string();
    b.shot("return-requested").await;
    b.accessible("return-requested").await;
    b.sign_out().await;

    // Staff approve and receive it; the refund follows.
    b.sign_in(&staff.email, people::PASSWORD).await;
    b.goto("/backoffice/returns?status=requested").await;
    b.click(&format!("#returns tr[data-return='{return_id}'] a"))
        .await;
    b.find("#approve").await;
    assert!(b
        .text("#return-lines")
        .await
        .contains("the handle came off"));
    b.click("#approve button").await;
    b.find("#receive").await;
    b.click("#disp-WF-MUG option[value='write_off']").await;
    b.click("#receive button[type=submit]").await;
    b.until("the return closes", Duration::from_secs(30), async |b| {
        b.goto(&format!("/backoffice/returns/{return_id}")).await;
        b.text("#return-status").await == "closed"
    })
    .await;
    assert!(b.count("#refunded-total").await == 1);
    b.shot("backoffice-return-closed").await;
    b.accessible("backoffice-return-closed").await;
    b.sign_out().await;

    // The customer sees the refund.
    b.sign_in(&customer.email, people::PASSWORD).await;
    b.goto(&format!("/orders/{order_id}/returns/{return_id}"))
        .await;
    assert_eq!(b.text("#return-status").await, "closed");
    assert!(b.text("#return-refunded").await.contains('€'));
    b.shot("return-closed").await;
}
