//! The web pages in a real browser: Debian's Chromium driven through chromedriver, against a
//! whole platform, as a shopper and as staff would use them.
//!
//! Skipped (with a message) when `chromium` or `chromedriver` is not installed; `.ci/run` and
//! `scripts/test` install them, so CI runs these. Screenshots of every main page, at desktop
//! width and at 375 px, go to `<target>/web-screenshots/`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use agora::Roles;
use browser::{browser, until_searchable, Browser};
use common::{people, shop, spawn_app};
use serde_json::json;

/// Puts a guest cart with one unit of each SKU together through the product page.
async fn add_to_cart(b: &Browser, product_id: &str, skus: &[&str]) {
    for sku in skus {
        b.goto(&format!("/products/{product_id}")).await;
        b.click(&format!("input[name=sku][value='{sku}']")).await;
        b.click("form[action='/cart/add'] button[type=submit]")
            .await;
        b.find("#cart-lines").await;
    }
}

async fn fill_address(b: &Browser, email: &str) {
    b.fill("#email", email).await;
    b.fill("#name", "Ada Lovelace").await;
    b.fill("#line1", "12 Analytical Row").await;
    b.fill("#city", "London").await;
    b.fill("#postal_code", "N1 9GU").await;
}

fn order_id_of(path: &str) -> String {
    path.trim_start_matches("/orders/")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoppers_buy_through_the_storefront_and_staff_run_the_shop_from_the_back_office() {
    let app = spawn_app(Roles::all()).await;
    let product = shop::product(
        &app.http,
        &app.base,
        &[("WEB-TEE-S", 2500), ("WEB-TEE-M", 2600)],
        20,
    )
    .await;
    shop::until_for_sale(&app.pool, &["WEB-TEE-S", "WEB-TEE-M"]).await;
    until_searchable(&app, "organic").await;
    // A code for €5 off the order, as staff would set it up in the back office's API.
    shop::code_promotion(&app.http, &app.base, "WEB5", 500, json!({"total_uses": 10})).await;
    let Some(b) = browser(&app.base).await else {
        return;
    };

    // A shopper searches with a typo, filters, opens the product and adds two variants.
    b.goto("/").await;
    b.find("h1").await;
    b.shot("home").await;
    b.accessible("home").await;
    b.fill("#site-q", "orgnic tee").await;
    b.click("form.search button[type=submit]").await;
    b.find("#result-count").await;
    assert!(
        b.count(&format!("a[href='/products/{product}']")).await >= 1,
        "the typo still finds the tee"
    );
    b.click("input[name=in_stock]").await;
    b.click("aside.filters button[type=submit]").await;
    b.until(
        "the in-stock filter applies",
        Duration::from_secs(10),
        async |b| b.path().await.contains("in_stock=1"),
    )
    .await;
    assert!(b.count(&format!("a[href='/products/{product}']")).await >= 1);
    b.shot("search").await;
    b.accessible("search").await;
    b.click(&format!("a[href='/products/{product}']")).await;
    b.find("input[name=sku][value='WEB-TEE-S']").await;
    b.shot("product").await;
    b.accessible("product").await;
    add_to_cart(&b, &product, &["WEB-TEE-S", "WEB-TEE-M"]).await;
    assert_eq!(
        b.count("#cart-lines tr[data-sku]").await,
        2,
        "two variants in the cart"
    );
    assert!(b.text("#cart-total").await.contains('€'));
    b.shot("cart").await;
    b.accessible("cart").await;

    // ... registers during checkout, pays with the test Visa, and watches the order confirm.
    b.click("#to-checkout").await;
    b.find("#checkout").await;
    b.shot("checkout").await;
    b.accessible("checkout").await;
    let email = format!("ada-{}@example.com", uuid::Uuid::new_v4().simple());
    fill_address(&b, &email).await;
    b.fill("#password", people::PASSWORD).await;
    b.click("input[name=payment_method][value=pm_card_visa]")
        .await;
    b.click("#pay").await;
    b.until("the order page opens", Duration::from_secs(30), async |b| {
        b.path().await.starts_with("/orders/")
    })
    .await;
    let first_order = order_id_of(&b.path().await);
    // A marker the page keeps only if it is never reloaded.
    b.client
        .execute("window.agoraMarker = 42; return null;", vec![])
        .await
        .expect("script");
    b.until(
        "the order turns confirmed",
        Duration::from_secs(30),
        async |b| {
            b.find("#order-status")
                .await
                .attr("data-status")
                .await
                .ok()
                .flatten()
                .is_some_and(|s| s == "confirmed" || s == "shipped")
        },
    )
    .await;
    let marker = b
        .client
        .execute("return window.agoraMarker || null;", vec![])
        .await
        .expect("script");
    assert_eq!(marker, json!(42), "the order page was not reloaded");
    b.shot("order").await;
    b.accessible("order").await;
    assert!(
        b.count("a[href='/account']").await == 1,
        "signed in after registering at checkout"
    );

    // The account page lists the order and keeps an address book.
    b.goto("/account").await;
    assert_eq!(b.text("#account-email").await, email);
    assert!(b.count(&format!("a[href='/orders/{first_order}']")).await == 1);
    b.click("details summary").await;
    b.fill("#a-name", "Ada Lovelace").await;
    b.fill("#a-line1", "12 Analytical Row").await;
    b.fill("#a-city", "London").await;
    b.fill("#a-postal", "N1 9GU").await;
    b.click("#address-form button[type=submit]").await;
    b.until("the address is saved", Duration::from_secs(10), async |b| {
        b.count("#addresses li").await == 1
    })
    .await;
    b.shot("account").await;

    // A customer cannot open the back office.
    b.goto("/backoffice").await;
    assert_eq!(b.text("h1").await, "Not allowed");
    b.shot("backoffice-forbidden").await;

    // Signing out revokes the session: the old refresh token no longer renews.
    let session = b.cookie("agora_session").await.expect("a session cookie");
    let refresh = session
        .split_once('~')
        .expect("access~refresh")
        .1
        .to_string();
    b.click("nav.top form[action='/account/signout'] button")
        .await;
    b.find("a[href='/account/signin']").await;
    let renewed = app
        .http
        .post(format!("{}/store/auth/refresh", app.base))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .expect("refresh");
    assert_eq!(
        renewed.status(),
        401,
        "a signed-out session cannot be renewed"
    );

    // A declined card shows the error in place and leaves the cart as it was.
    add_to_cart(&b, &product, &["WEB-TEE-S", "WEB-TEE-M"]).await;
    b.click("#to-checkout").await;
    fill_address(&b, "grace@example.com").await;
    b.click("input[name=payment_method][value=pm_card_chargeDeclined]")
        .await;
    b.click("#pay").await;
    b.until("the decline is shown", Duration::from_secs(30), async |b| {
        b.count(".error").await == 1
    })
    .await;
    assert!(
        b.text(".error").await.contains("declined"),
        "{}",
        b.text(".error").await
    );
    assert_eq!(b.path().await, "/checkout");
    b.shot("checkout-declined").await;
    b.goto("/cart").await;
    assert_eq!(
        b.count("#cart-lines tr[data-sku]").await,
        2,
        "the cart is intact"
    );

    // A code that does not exist is refused in place, and nothing is ordered.
    b.click("#to-checkout").await;
    fill_address(&b, "grace@example.com").await;
    b.fill("#code", "NO-SUCH-CODE").await;
    b.click("#pay").await;
    b.until("the code is refused", Duration::from_secs(30), async |b| {
        b.count(".error").await == 1
    })
    .await;
    assert!(
        b.text(".error").await.contains("code is not valid"),
        "{}",
        b.text(".error").await
    );
    assert_eq!(b.path().await, "/checkout");
    b.shot("checkout-code-refused").await;

    // At the cart, a code that does not exist says why it does not apply; the real one
    // shows what it takes off, and the checkout form is filled in with it.
    b.goto("/cart").await;
    b.fill("#cart-code", "NOPE-10").await;
    b.click("#apply-code").await;
    b.until(
        "the cart says why the code does not apply",
        Duration::from_secs(10),
        async |b| b.count("#code-status.error").await == 1,
    )
    .await;
    assert!(
        b.text("#code-status").await.contains("not valid"),
        "{}",
        b.text("#code-status").await
    );
    b.shot("cart-code-refused").await;
    b.click("#remove-code").await;
    b.find("#cart-code").await;
    b.fill("#cart-code", "web5").await;
    b.click("#apply-code").await;
    b.until("the code applies", Duration::from_secs(10), async |b| {
        b.count(".totals .discount").await == 1
    })
    .await;
    assert!(b.text(".totals .discount").await.contains("€5.00"));
    assert!(b.text("#code-status").await.contains("WEB5"));
    assert!(b.text("#cart-savings").await.contains("€5.00"));
    b.shot("cart-code").await;
    b.accessible("cart-code").await;

    // A second shopper pays with the 3-D Secure card and a valid code, and confirms.
    b.click("#to-checkout").await;
    fill_address(&b, "grace@example.com").await;
    assert_eq!(
        b.find("#code")
            .await
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("WEB5"),
        "the checkout takes the cart's code"
    );
    assert!(b.text(".totals .discount").await.contains("€5.00"));
    b.click("input[name=payment_method][value=pm_card_authenticationRequired]")
        .await;
    b.click("#pay").await;
    b.until(
        "the 3-D Secure step opens",
        Duration::from_secs(30),
        async |b| b.path().await.ends_with("/authenticate"),
    )
    .await;
    b.shot("three-d-secure").await;
    let second_order = order_id_of(&b.path().await);
    // The order page, opened before the payment is confirmed, must follow it live: it shows
    // the pending step, and turns confirmed while the shopper confirms in another tab.
    b.goto(&format!("/orders/{second_order}")).await;
    b.until(
        "the order page asks to confirm the payment",
        Duration::from_secs(10),
        async |b| {
            b.find("#payment-action")
                .await
                .attr("hidden")
                .await
                .ok()
                .flatten()
                .is_none()
        },
    )
    .await;
    assert_ne!(
        b.find("#order-status")
            .await
            .attr("data-status")
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("confirmed")
    );
    b.client
        .execute("window.agoraMarker = 43; return null;", vec![])
        .await
        .expect("script");
    let order_tab = b.client.window().await.expect("this tab");
    let confirm_tab = b.client.new_window(true).await.expect("a new tab").handle;
    b.client
        .switch_to_window(confirm_tab)
        .await
        .expect("switch");
    b.goto(&format!("/orders/{second_order}/authenticate"))
        .await;
    b.click("#confirm-payment").await;
    b.find("#order-status").await;
    b.client.close_window().await.expect("close the tab");
    b.client
        .switch_to_window(order_tab)
        .await
        .expect("switch back");
    b.until(
        "the 3-D Secure order confirms live",
        Duration::from_secs(30),
        async |b| {
            b.find("#order-status")
                .await
                .attr("data-status")
                .await
                .ok()
                .flatten()
                .is_some_and(|s| s == "confirmed")
        },
    )
    .await;
    let marker = b
        .client
        .execute("return window.agoraMarker || null;", vec![])
        .await
        .expect("script");
    assert_eq!(marker, json!(43), "the order page updated without a reload");
    // The code's discount is on the order, named with its code.
    assert!(
        b.text(".totals .discount").await.contains("WEB5"),
        "{}",
        b.text(".totals").await
    );
    assert!(b.text(".totals .discount").await.contains("€5.00"));
    b.shot("order-discount").await;
    assert_ne!(first_order, second_order);

    // A form posted without its CSRF token is refused.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client
        .get(format!("{}/", app.base))
        .send()
        .await
        .expect("home");
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("agora_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("a CSRF cookie")
        .to_string();
    let token = csrf_cookie.trim_start_matches("agora_csrf=").to_string();
    let without = client
        .post(format!("{}/cart/add", app.base))
        .header("cookie", &csrf_cookie)
        .form(&[("sku", "WEB-TEE-S"), ("quantity", "1")])
        .send()
        .await
        .expect("post");
    assert_eq!(without.status(), 403, "no CSRF field");
    let wrong = client
        .post(format!("{}/cart/add", app.base))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("sku", "WEB-TEE-S"),
            ("quantity", "1"),
            ("csrf", "0".repeat(64).as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), 403, "a CSRF field that is not the cookie's");
    let with = client
        .post(format!("{}/cart/add", app.base))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("sku", "WEB-TEE-S"),
            ("quantity", "1"),
            ("csrf", token.as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(
        with.status(),
        303,
        "the same form with its token goes through"
    );

    // Staff sign in, receive stock, publish a product the storefront then finds, ship an
    // order and refund part of it.
    let staff = people::with_role(&app, "clerk", "staff").await;
    b.goto("/account/signin").await;
    b.fill("#email", &staff.email).await;
    b.fill("#password", people::PASSWORD).await;
    b.click("#signin").await;
    b.find(".stats").await;
    assert_eq!(b.path().await, "/backoffice");
    // Today's confirmed orders come from the daily sales report (a projection).
    b.until(
        "today's orders show on the dashboard",
        Duration::from_secs(30),
        async |b| {
            b.goto("/backoffice").await;
            b.text("#orders-today").await != "0"
        },
    )
    .await;
    b.shot("backoffice-dashboard").await;
    b.accessible("backoffice-dashboard").await;

    // A new product through the product form: a draft with its first variant.
    b.goto("/backoffice/products/new").await;
    b.fill("#title", "Linen scarf").await;
    b.fill("#description", "Light and warm.").await;
    b.fill("#sku", "WEB-SCARF").await;
    b.fill("#variant_title", "One size").await;
    b.fill("#price", "19.00").await;
    b.click("#product-form button[type=submit]").await;
    b.find(".notice").await;
    let scarf = b
        .path()
        .await
        .trim_start_matches("/backoffice/products/")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(b.text("#product-status").await, "draft");
    b.shot("backoffice-product-form").await;
    b.accessible("backoffice-product-form").await;

    b.goto("/backoffice/inventory").await;
    b.fill("#rsku", "WEB-SCARF").await;
    b.fill("#rqty", "7").await;
    b.fill("#rreason", "delivery").await;
    b.click("#receive button[type=submit]").await;
    b.find(".notice").await;
    b.shot("backoffice-inventory").await;

    // The products list reads a projection: wait for the draft to show up there.
    b.until("the draft is listed", Duration::from_secs(30), async |b| {
        b.goto("/backoffice/products?q=Linen").await;
        b.count(&format!("tr[data-product='{scarf}']")).await == 1
    })
    .await;
    b.shot("backoffice-products").await;
    b.click(&format!(
        "form[action='/backoffice/products/{scarf}/publish'] button"
    ))
    .await;
    b.find(".notice").await;
    b.until(
        "the storefront finds the published scarf",
        Duration::from_secs(30),
        async |b| {
            b.goto("/search?q=linen+scarf").await;
            b.count(&format!("a[href='/products/{scarf}']")).await >= 1
        },
    )
    .await;

    b.goto(&format!("/backoffice/orders/{first_order}")).await;
    b.shot("backoffice-order").await;
    b.fill("#carrier", "DHL").await;
    b.fill("#tracking", "JD0146000038").await;
    b.click("#ship button[type=submit]").await;
    b.find(".notice").await;
    assert_eq!(b.text("#order-status").await, "shipped");
    b.fill("#amount", "5.00").await;
    b.fill("#reason", "late delivery").await;
    b.click("#refund button[type=submit]").await;
    b.find(".notice").await;
    b.until(
        "the partial refund shows",
        Duration::from_secs(30),
        async |b| {
            b.goto(&format!("/backoffice/orders/{first_order}")).await;
            b.text("#refunded").await.contains("5.00")
        },
    )
    .await;

    // Notifications are the sales team's; the audit log is for admins and auditors only,
    // exactly as the API decides: staff get the 403 page.
    b.goto("/backoffice/notifications").await;
    assert_eq!(b.text("h1").await, "Notifications");
    b.goto(&format!(
        "/backoffice/audit?aggregate_type=order&aggregate_id={first_order}"
    ))
    .await;
    assert_eq!(b.text("h1").await, "Not allowed");

    let _ = b.client.clone().close().await;
}
