//! The pages of issue 15 in a real browser, as people use them: staff keep categories, stock,
//! prices and orders; an admin grants a role; a customer keeps a profile, notification
//! preferences and a password; a shopper browses a category. A second binary beside `web.rs`
//! so that each can run alone (`cargo test -p agora --test web_office`).
//!
//! Skipped (with a message) when `chromium` or `chromedriver` is not installed; screenshots at
//! desktop width and at 375 px go to `<target>/web-screenshots/`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use agora::Roles;
use browser::{browser, until_searchable};
use common::{people, shop, spawn_app, TestApp};
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "a brand new and rather long passphrase";

/// Waits until the storefront's search holds `total` products of `category`.
async fn until_category_holds(app: &TestApp, category: &str, total: u64) {
    agora_testkit::eventually(Duration::from_secs(30), || async {
        let r: Value = app
            .http
            .get(format!("{}/store/search", app.base))
            .query(&[("category", category)])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (r["total"].as_u64()? == total).then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("{category} never held {total} products"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_customers_and_shoppers_use_the_new_pages() {
    let app = spawn_app(Roles::all()).await;
    let product = shop::product(
        &app.http,
        &app.base,
        &[("WOF-TEE-S", 2500), ("WOF-TEE-M", 2600)],
        20,
    )
    .await;
    shop::until_for_sale(&app.pool, &["WOF-TEE-S", "WOF-TEE-M"]).await;
    until_searchable(&app, "organic").await;
    // An order to cancel, paid and settled before staff see it.
    let cart = shop::cart(&app.http, &app.base, &[("WOF-TEE-S", 1)]).await;
    let order = shop::checkout_ok(
        &app.http,
        &app.base,
        &cart,
        &uuid::Uuid::new_v4().to_string(),
        "pm_card_visa",
    )
    .await;
    shop::settled(&app.bus().await, &order, Duration::from_secs(30)).await;
    let staff = people::with_role(&app, "keeper", "staff").await;
    let admin = people::with_role(&app, "boss", "admin").await;
    let carol = people::sign_up(&app, "carol").await;
    let dave = people::sign_up(&app, "dave").await;
    let Some(b) = browser(&app.base).await else {
        return;
    };

    // Staff create a category and rename it.
    b.submit_sign_in(&staff.email, people::PASSWORD).await;
    b.find(".stats").await;
    b.goto("/backoffice/categories").await;
    b.fill("#cat-name", "Web tees").await;
    b.fill("#cat-id", "web-tees").await;
    b.click("#new-category button[type=submit]").await;
    b.find(".notice").await;
    b.until(
        "the new category is listed",
        Duration::from_secs(30),
        async |b| {
            b.goto("/backoffice/categories?q=web").await;
            b.count("tr[data-category='web-tees']").await == 1
        },
    )
    .await;
    b.fill("#rename-web-tees", "Tees and tops").await;
    b.click("tr[data-category='web-tees'] button[type=submit]")
        .await;
    b.find(".notice").await;
    b.until(
        "the new name is listed",
        Duration::from_secs(30),
        async |b| {
            b.goto("/backoffice/categories?q=web").await;
            b.text("tr[data-category='web-tees']")
                .await
                .contains("Tees and tops")
        },
    )
    .await;
    b.shot("backoffice-categories").await;
    b.accessible("backoffice-categories").await;

    // ... file the tee under it and change a variant's price, which the storefront then shows.
    b.goto(&format!("/backoffice/products/{product}")).await;
    b.find("#category_id")
        .await
        .select_by_value("web-tees")
        .await
        .expect("choose the category");
    b.click("#product-form button[type=submit]").await;
    b.find(".notice").await;
    b.fill("#price-WOF-TEE-S", "19.50").await;
    b.click("tr[data-sku='WOF-TEE-S'] .price-form button").await;
    b.find(".notice").await;
    assert!(
        b.text("tr[data-sku='WOF-TEE-S']").await.contains("€19.50"),
        "the new price is on the product page: {}",
        b.text("tr[data-sku='WOF-TEE-S']").await
    );
    b.shot("backoffice-product-price").await;
    b.accessible("backoffice-product-price").await;
    b.until(
        "the storefront shows the new price",
        Duration::from_secs(30),
        async |b| {
            b.goto(&format!("/products/{product}")).await;
            b.text(".product").await.contains("€19.50")
        },
    )
    .await;

    // ... adjust stock with a reason and see the movement.
    b.goto("/backoffice/inventory?sku=WOF-TEE").await;
    b.click("a[href='/backoffice/inventory/WOF-TEE-M']").await;
    assert_eq!(b.text("#on-hand").await, "20");
    b.fill("#delta", "-3").await;
    b.find("#adjust-reason")
        .await
        .select_by_value("damaged")
        .await
        .expect("choose a reason");
    b.fill("#adjust-note", "dropped in the warehouse").await;
    b.click("#adjust button[type=submit]").await;
    b.find(".notice").await;
    assert_eq!(b.text("#on-hand").await, "17", "the service's own count");
    b.until(
        "the adjustment shows among the movements",
        Duration::from_secs(30),
        async |b| {
            b.goto("/backoffice/inventory/WOF-TEE-M").await;
            b.count("#movements").await == 1
                && b.text("#movements")
                    .await
                    .contains("dropped in the warehouse")
        },
    )
    .await;
    let movements = b.text("#movements").await;
    assert!(
        movements.contains("damaged") && movements.contains("-3"),
        "{movements}"
    );

    // ... set a threshold and see the SKU in the low-stock list.
    assert_eq!(b.count("#low-badge").await, 0);
    b.fill("#threshold-value", "18").await;
    b.click("#threshold-form button[type=submit]").await;
    b.find(".notice").await;
    assert_eq!(b.text("#threshold").await, "18");
    assert_eq!(b.count("#low-badge").await, 1, "17 available is low at 18");
    b.shot("backoffice-stock").await;
    b.accessible("backoffice-stock").await;
    b.until(
        "the SKU is listed as low on stock",
        Duration::from_secs(30),
        async |b| {
            b.goto("/backoffice/inventory?low_stock=1").await;
            b.count("tr[data-sku='WOF-TEE-M']").await == 1
        },
    )
    .await;
    assert_eq!(
        b.count("tr[data-sku='WOF-TEE-S']").await,
        0,
        "19 available is not low at the default threshold"
    );
    b.shot("backoffice-inventory-low").await;
    b.accessible("backoffice-inventory-low").await;

    // ... cancel an order.
    b.goto(&format!("/backoffice/orders/{order}")).await;
    assert_eq!(b.text("#order-status").await, "confirmed");
    b.fill("#cancel-note", "the customer called").await;
    b.click("#cancel button[type=submit]").await;
    b.find(".notice").await;
    assert_eq!(b.text("#order-status").await, "cancelled");
    b.shot("backoffice-order-cancelled").await;

    // ... create a code promotion, which starts as a draft, and activate it.
    b.goto("/backoffice/promotions").await;
    b.fill("#p-name", "Winter ten").await;
    b.fill("#p-code", "WINTER10").await;
    b.fill("#p-value", "10.00").await;
    b.fill("#p-uses", "50").await;
    b.click("#new-promotion button[type=submit]").await;
    b.find(".notice").await;
    b.until(
        "the promotion is listed as a draft",
        Duration::from_secs(30),
        async |b| {
            b.goto("/backoffice/promotions?status=draft").await;
            b.text("#promotions").await.contains("WINTER10")
        },
    )
    .await;
    b.click("#promotions button[aria-label='Activate Winter ten']")
        .await;
    b.find(".notice").await;
    b.until(
        "the promotion is active",
        Duration::from_secs(30),
        async |b| {
            b.goto("/backoffice/promotions?status=active").await;
            b.count("#promotions span[data-status=active]").await == 1
        },
    )
    .await;
    assert!(b.text("#promotions").await.contains("0 / 50"));
    b.shot("backoffice-promotions").await;
    b.accessible("backoffice-promotions").await;
    // ... a batch of 25 unique codes for buy two, get one free on one SKU, combinable; its page
    // lists every code, which staff download to hand out.
    b.fill("#p-name", "Three for two").await;
    b.find("#p-how option[value=unique]")
        .await
        .click()
        .await
        .expect("unique");
    b.fill("#p-prefix", "tft").await;
    b.fill("#p-count", "25").await;
    b.find("#p-kind option[value=buy_x_get_y]")
        .await
        .click()
        .await
        .expect("kind");
    b.fill("#p-value", "").await;
    b.fill("#p-buy", "2").await;
    b.fill("#p-get", "1").await;
    b.fill("#p-skus", "wof-tee-s").await;
    b.click("#p-combinable").await;
    b.fill("#p-priority", "5").await;
    b.click("#new-promotion button[type=submit]").await;
    b.find(".notice").await;
    b.until("the batch is listed", Duration::from_secs(30), async |b| {
        b.goto("/backoffice/promotions?status=draft").await;
        b.text("#promotions").await.contains("Three for two")
    })
    .await;
    b.click("#promotions a[href^='/backoffice/promotions/']")
        .await;
    b.find("#unique-codes").await;
    assert_eq!(b.count("#unique-codes tbody tr").await, 25);
    assert!(b.text("#unique-codes").await.contains("TFT-"));
    let terms = b.text("#promotion-terms").await;
    assert!(terms.contains("Buy 2, get 1 at 100.00 % off"), "{terms}");
    assert!(terms.contains("SKUs WOF-TEE-S"), "{terms}");
    assert!(terms.contains("Combines, priority 5"), "{terms}");
    b.shot("backoffice-promotion-codes").await;
    b.accessible("backoffice-promotion-codes").await;
    let csv_path = b
        .find("#codes-csv")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a link");
    let csv: String = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.text()).then(done, e => done(String(e)));",
            vec![json!(csv_path)],
        )
        .await
        .expect("fetch the CSV")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(csv.lines().count(), 26, "{csv}");
    assert!(csv.starts_with("code,redeemed_by_order\nTFT-"), "{csv}");
    // A draft's terms can still change: the form comes filled in with them.
    b.click("#edit-terms summary").await;
    b.fill("#revise-promotion #p-priority", "7").await;
    b.click("#revise-promotion button[type=submit]").await;
    b.find(".notice").await;
    let terms = b.text("#promotion-terms").await;
    assert!(terms.contains("Combines, priority 7"), "{terms}");
    assert!(terms.contains("Buy 2, get 1 at 100.00 % off"), "{terms}");
    assert!(terms.contains("SKUs WOF-TEE-S"), "{terms}");
    // Staff activate it from its own page.
    b.click("#promotion-actions button").await;
    b.find(".notice").await;
    b.until("the batch is active", Duration::from_secs(30), async |b| {
        b.count("span.badge[data-status=active]").await == 1 || {
            b.client.refresh().await.expect("reload");
            false
        }
    })
    .await;
    b.goto("/backoffice/promotions").await;

    // A form that does not describe a discount is refused in place.
    b.fill("#p-name", "Broken").await;
    b.fill("#p-value", "ten").await;
    b.click("#new-promotion button[type=submit]").await;
    assert!(
        b.text(".error").await.contains("amount like 5.00"),
        "{}",
        b.text(".error").await
    );

    // Staff read accounts but grant no role.
    b.goto(&format!("/backoffice/accounts/{}", carol.id)).await;
    b.find("#roles-note").await;
    assert_eq!(b.count("#grant").await, 0, "no grant form for staff");
    b.sign_out().await;

    // An admin finds the customer and grants a role; the customer then opens the back office.
    b.submit_sign_in(&admin.email, people::PASSWORD).await;
    b.find(".stats").await;
    b.goto("/backoffice/accounts?q=carol").await;
    assert_eq!(b.count("#accounts tr[data-account]").await, 1);
    b.shot("backoffice-accounts").await;
    b.accessible("backoffice-accounts").await;
    b.click(&format!("a[href='/backoffice/accounts/{}']", carol.id))
        .await;
    assert_eq!(b.text("h1").await, carol.email);
    assert_eq!(b.count("#roles li[data-role='staff']").await, 0);
    b.find("#grant-role")
        .await
        .select_by_value("staff")
        .await
        .expect("choose a role");
    b.click("#grant button[type=submit]").await;
    b.find(".notice").await;
    assert_eq!(b.count("#roles li[data-role='staff']").await, 1);
    // ... and puts the customer in the VIP group, which promotions may be for.
    b.fill("#groups-field", "VIP, wholesale").await;
    b.click("#set-groups button[type=submit]").await;
    b.find(".notice").await;
    assert_eq!(b.text("#groups").await, "vip, wholesale");
    b.shot("backoffice-account").await;
    b.accessible("backoffice-account").await;
    b.sign_out().await;
    b.submit_sign_in(&carol.email, people::PASSWORD).await;
    b.find(".stats").await;
    assert_eq!(b.path().await, "/backoffice");
    b.sign_out().await;

    // A customer edits the profile and the notification preferences.
    b.submit_sign_in(&dave.email, people::PASSWORD).await;
    b.find("#account-email").await;
    b.click("a[href='/account/profile']").await;
    b.fill("#display_name", "Dave Doe").await;
    b.fill("#phone", "+447700900123").await;
    b.click("#marketing_opt_in").await;
    b.click("#profile-form button[type=submit]").await;
    b.find(".notice").await;
    assert_eq!(
        b.find("#display_name")
            .await
            .prop("value")
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("Dave Doe")
    );
    assert!(b
        .find("#marketing_opt_in")
        .await
        .is_selected()
        .await
        .expect("checked"));
    b.shot("account-profile").await;
    b.accessible("account-profile").await;
    b.goto("/account").await;
    assert!(b.text("main").await.contains("Dave Doe"));

    b.goto("/account/notifications").await;
    b.click("#ou-sms").await;
    b.click("#preferences-form button[type=submit]").await;
    b.find(".error").await;
    assert_eq!(b.count(".notice").await, 0, "text messages need a number");
    b.fill("#n-phone", "+447700900123").await;
    b.click("#sms-opt-in").await;
    b.click("#preferences-form button[type=submit]").await;
    b.find(".notice").await;
    assert!(b.find("#ou-sms").await.is_selected().await.expect("sms"));
    assert!(b
        .find("#sms-opt-in")
        .await
        .is_selected()
        .await
        .expect("opt-in"));
    b.shot("account-notifications").await;
    b.accessible("account-notifications").await;

    // ... changes the password (a wrong current one is said in place), then signs in with it.
    b.goto("/account/password").await;
    b.fill("#current_password", "not my password at all").await;
    b.fill("#new_password", NEW_PASSWORD).await;
    b.fill("#confirm_password", NEW_PASSWORD).await;
    b.click("#password-form button[type=submit]").await;
    assert!(b.text(".error").await.contains("current password"));
    b.fill("#current_password", people::PASSWORD).await;
    b.fill("#new_password", NEW_PASSWORD).await;
    b.fill("#confirm_password", NEW_PASSWORD).await;
    b.click("#password-form button[type=submit]").await;
    b.find(".notice").await;
    b.shot("account-password").await;
    b.accessible("account-password").await;
    b.sign_out().await;
    b.submit_sign_in(&dave.email, people::PASSWORD).await;
    b.find(".error").await;
    assert_eq!(
        b.path().await,
        "/account/signin",
        "the old password is gone"
    );
    b.submit_sign_in(&dave.email, NEW_PASSWORD).await;
    assert_eq!(b.text("#account-email").await, dave.email);
    b.sign_out().await;

    // A shopper opens the category from the home page and filters it.
    until_category_holds(&app, "web-tees", 1).await;
    b.goto("/").await;
    b.click("a[href='/categories/web-tees']").await;
    assert_eq!(b.text("h1").await, "Tees and tops");
    assert_eq!(b.text("#result-count").await, "1 product");
    assert_eq!(b.count(&format!("a[href='/products/{product}']")).await, 1);
    b.shot("category").await;
    b.accessible("category").await;
    b.fill("#f-max", "10").await;
    b.click("#filters button[type=submit]").await;
    b.until(
        "the price filter applies",
        Duration::from_secs(10),
        async |b| b.path().await.contains("price_max=10"),
    )
    .await;
    assert!(b.path().await.starts_with("/categories/web-tees?"));
    assert_eq!(b.text("#result-count").await, "0 products");
    b.find(".empty").await;
    b.fill("#f-max", "").await;
    b.fill("#f-q", "organic").await;
    b.click("input[name=in_stock]").await;
    b.click("#filters button[type=submit]").await;
    b.until(
        "the text and stock filters apply",
        Duration::from_secs(10),
        async |b| {
            let path = b.path().await;
            path.contains("q=organic") && path.contains("in_stock=1")
        },
    )
    .await;
    assert_eq!(b.count(&format!("a[href='/products/{product}']")).await, 1);
    b.shot("category-filtered").await;
    // The product page leads back to its category.
    b.click(&format!("a[href='/products/{product}']")).await;
    b.click("nav.crumbs a[href='/categories/web-tees']").await;
    assert_eq!(b.text("h1").await, "Tees and tops");

    let _ = b.client.clone().close().await;
}
