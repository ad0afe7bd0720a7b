//! Shipping in a real browser, as people use it: staff set up zones and options on the back
//! office's shipping page; a shopper sees the options for their address at checkout, changes
//! the address, picks express, pays, and the order shows the option. A binary of its own so it
//! runs alone (`cargo test -p agora --test web_shipping`).
//!
//! Skipped (with a message) when `chromium` or `chromedriver` is not installed; screenshots at
//! desktop width and at 375 px go to `<target>/web-screenshots/`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use agora::Roles;
use browser::{browser, Browser};
use common::{people, shop, spawn_app};

async fn add_zone(b: &Browser, id: &str, name: &str, areas: &str) {
    b.fill("#zone-id", id).await;
    b.fill("#zone-name", name).await;
    b.fill("#zone-areas", areas).await;
    b.click("#zone-form button[type=submit]").await;
    // The page after the redirect shows the zone (the old page's notice is no proof of it).
    b.find(&format!("section.zone[data-zone='{id}']")).await;
}

struct NewOption<'a> {
    zone: &'a str,
    id: &'a str,
    name: &'a str,
    kind: &'a str,
    rate: &'a str,
    price: &'a str,
    bands: &'a str,
    days: (&'a str, &'a str),
}

async fn add_option(b: &Browser, o: NewOption<'_>) {
    b.click(&format!("#option-zone option[value='{}']", o.zone))
        .await;
    b.fill("#option-id", o.id).await;
    b.fill("#option-name", o.name).await;
    b.click(&format!("#option-kind option[value='{}']", o.kind))
        .await;
    b.click(&format!("#option-rate option[value='{}']", o.rate))
        .await;
    b.fill("#option-price", o.price).await;
    b.fill("#option-bands", o.bands).await;
    b.fill("#option-min", o.days.0).await;
    b.fill("#option-max", o.days.1).await;
    b.click("#option-form button[type=submit]").await;
    b.find(&format!(
        "section.zone[data-zone='{}'] tr[data-option='{}']",
        o.zone, o.id
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_set_up_shipping_and_a_shopper_chooses_express_for_their_address() {
    let app = spawn_app(Roles::all()).await;
    let product = shop::product(&app.http, &app.base, &[("WSH-LAMP", 4500)], 20).await;
    shop::until_for_sale(&app.pool, &["WSH-LAMP"]).await;
    let staff = people::with_role(&app, "shipper", "staff").await;
    let Some(b) = browser(&app.base).await else {
        return;
    };

    // Staff set up Germany (standard by weight, express) and the United Kingdom.
    b.submit_sign_in(&staff.email, people::PASSWORD).await;
    b.find(".stats").await;
    b.goto("/backoffice/shipping").await;
    b.find("#zone-form").await;
    add_zone(&b, "de", "Germany", "DE").await;
    add_zone(&b, "uk", "United Kingdom", "GB").await;
    add_option(
        &b,
        NewOption {
            zone: "de",
            id: "standard",
            name: "DHL Parcel",
            kind: "standard",
            rate: "weight",
            price: "",
            bands: "1000 4.90\n* 6.90",
            days: ("1", "3"),
        },
    )
    .await;
    add_option(
        &b,
        NewOption {
            zone: "de",
            id: "express",
            name: "DHL Express",
            kind: "express",
            rate: "flat",
            price: "12.90",
            bands: "",
            days: ("1", "1"),
        },
    )
    .await;
    add_option(
        &b,
        NewOption {
            zone: "uk",
            id: "royal-mail",
            name: "Royal Mail",
            kind: "standard",
            rate: "flat",
            price: "9.90",
            bands: "",
            days: ("3", "5"),
        },
    )
    .await;
    // A band that does not parse is explained, and nothing changes.
    add_zone(&b, "fr", "France", "FR").await;
    b.click("#option-zone option[value='fr']").await;
    b.fill("#option-id", "broken").await;
    b.fill("#option-name", "Broken").await;
    b.click("#option-rate option[value='weight']").await;
    b.fill("#option-bands", "heavy 4.90").await;
    b.click("#option-form button[type=submit]").await;
    assert!(b.text(".error").await.contains("whole grams"));
    assert_eq!(b.count(".notice").await, 0, "the page after the refusal");
    assert_eq!(
        b.count("section.zone[data-zone='de'] tr[data-option]")
            .await,
        2
    );
    assert!(b
        .text("section.zone[data-zone='de'] tr[data-option='standard']")
        .await
        .contains("up to 1000 g"));
    b.shot("backoffice-shipping").await;
    b.accessible("backoffice-shipping").await;
    b.click("form[action='/backoffice/shipping/zones/fr/remove'] button")
        .await;
    b.until("France is removed", Duration::from_secs(10), async |b| {
        b.count("section.zone[data-zone='fr']").await == 0
    })
    .await;
    b.find(".notice").await;
    b.click("nav.top form[action='/account/signout'] button")
        .await;
    b.find("a[href='/account/signin']").await;

    // A shopper's cart waits for the address; checkout offers the UK's option first.
    b.goto(&format!("/products/{product}")).await;
    b.click("form[action='/cart/add'] button[type=submit]")
        .await;
    b.find("#cart-lines").await;
    assert_eq!(b.text("#cart-shipping").await, "Calculated at checkout");
    b.click("#to-checkout").await;
    b.find("#delivery").await;
    assert_eq!(b.count("#delivery [data-option]").await, 1);
    assert!(b.text("#delivery").await.contains("Royal Mail"));

    // They ship to Berlin instead: the German options, and they pick express.
    b.fill("#email", "ada@example.com").await;
    b.fill("#name", "Ada Lovelace").await;
    b.fill("#line1", "Unter den Linden 1").await;
    b.fill("#city", "Berlin").await;
    b.fill("#postal_code", "10117").await;
    b.click("#country option[value='DE']").await;
    b.click("#update-delivery").await;
    b.until(
        "the German options show",
        Duration::from_secs(10),
        async |b| b.count("#delivery [data-option='express']").await == 1,
    )
    .await;
    assert_eq!(
        b.find("#email")
            .await
            .prop("value")
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("ada@example.com")
    );
    assert!(b
        .text("#delivery [data-option='standard']")
        .await
        .contains("€4.90"));
    b.click("#delivery input[value='express']").await;
    b.click("#update-delivery").await;
    b.until(
        "the total counts express",
        Duration::from_secs(10),
        async |b| b.text("#cart-shipping").await.contains("12.90"),
    )
    .await;
    b.shot("checkout-delivery").await;
    b.accessible("checkout-delivery").await;

    // France has no zone now: the page says so in place.
    b.click("#country option[value='FR']").await;
    b.click("#update-delivery").await;
    b.until("the refusal shows", Duration::from_secs(10), async |b| {
        b.count("#delivery-error").await == 1
    })
    .await;
    assert!(b
        .text("#delivery-error")
        .await
        .contains("do not ship to FR"));

    b.click("#country option[value='DE']").await;
    b.click("#update-delivery").await;
    b.until(
        "the German options show again",
        Duration::from_secs(10),
        async |b| b.count("#delivery [data-option='express']").await == 1,
    )
    .await;
    b.click("#delivery input[value='express']").await;
    b.click("input[name=payment_method][value=pm_card_visa]")
        .await;
    b.click("#pay").await;
    b.until("the order page opens", Duration::from_secs(30), async |b| {
        b.path().await.starts_with("/orders/")
    })
    .await;
    assert!(b
        .text("#order-shipping-option")
        .await
        .contains("DHL Express"));
    b.shot("order-shipping-option").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_keeps_its_own_rates_and_a_shopper_picks_its_express_at_checkout() {
    let app = spawn_app(Roles::all()).await;
    let (acme_user, acme) = people::vendor_user(&app, "acme").await;
    let staff = people::with_role(&app, "stella", "staff").await;
    let mug = people::vendor_product(
        &app,
        &acme_user,
        &acme,
        "WSV-MUG",
        "Stoneware mug",
        1800,
        20,
    )
    .await;
    let lamp = shop::product(&app.http, &app.base, &[("WSV-LAMP", 4500)], 20).await;
    shop::until_for_sale(&app.pool, &["WSV-MUG", "WSV-LAMP"]).await;
    let Some(b) = browser(&app.base).await else {
        return;
    };

    // Acme's user sets Acme's own rates for the United Kingdom in its back office.
    b.sign_in(&acme_user.email, people::PASSWORD).await;
    b.goto("/backoffice/shipping").await;
    assert_eq!(b.text("h1").await, "Your shipping rates");
    assert!(b.text(".empty").await.contains("ship at the shop's rates"));
    add_zone(&b, "uk", "United Kingdom", "GB").await;
    for (id, name, price) in [
        ("acme-post", "Acme Post", "3.90"),
        ("acme-express", "Acme Express", "9.90"),
    ] {
        add_option(
            &b,
            NewOption {
                zone: "uk",
                id,
                name,
                kind: "standard",
                rate: "flat",
                price,
                bands: "",
                days: ("1", "3"),
            },
        )
        .await;
    }
    b.shot("backoffice-vendor-shipping").await;
    b.accessible("backoffice-vendor-shipping").await;
    b.sign_out().await;

    // Staff open Acme's rates from its page in the back office and add a cheaper option.
    b.sign_in(&staff.email, people::PASSWORD).await;
    b.goto(&format!("/backoffice/vendors/{acme}")).await;
    b.click("#vendor-shipping").await;
    b.until("Acme's rates open", Duration::from_secs(10), async |b| {
        b.text("h1").await == "Shipping rates of acme"
    })
    .await;
    assert_eq!(
        b.count("section.zone[data-zone='uk'] tr[data-option]")
            .await,
        2
    );
    add_option(
        &b,
        NewOption {
            zone: "uk",
            id: "acme-economy",
            name: "Acme Economy",
            kind: "standard",
            rate: "flat",
            price: "2.90",
            bands: "",
            days: ("3", "6"),
        },
    )
    .await;
    assert_eq!(b.text("h1").await, "Shipping rates of acme");
    b.shot("backoffice-staff-vendor-shipping").await;
    b.accessible("backoffice-staff-vendor-shipping").await;
    // The shop's own rates are untouched.
    b.goto("/backoffice/shipping").await;
    assert_eq!(b.count("section.zone").await, 0);
    b.sign_out().await;

    // A shopper buys the mug and the shop's lamp: the mug ships at Acme's rates, chosen apart.
    for product in [&mug, &lamp] {
        b.goto(&format!("/products/{product}")).await;
        b.click("form[action='/cart/add'] button[type=submit]")
            .await;
        b.find("#cart-lines").await;
    }
    b.click("#to-checkout").await;
    b.find("#delivery").await;
    assert!(b
        .text(&format!("#delivery [data-vendor='{acme}']"))
        .await
        .contains("Shipped by acme"));
    assert_eq!(
        b.count(&format!("#delivery [data-vendor='{acme}'] [data-option]"))
            .await,
        3
    );
    // The shop's one rate (4.99) and Acme's cheapest.
    assert!(b.text("#cart-shipping").await.contains("7.89"));
    b.fill("#email", "ada@example.com").await;
    b.fill("#name", "Ada Lovelace").await;
    b.fill("#line1", "12 Analytical Row").await;
    b.fill("#city", "London").await;
    b.fill("#postal_code", "N1 9GU").await;
    b.click(&format!(
        "#delivery [data-vendor='{acme}'] input[value='acme-express']"
    ))
    .await;
    b.click("#update-delivery").await;
    b.until(
        "the total counts Acme's express",
        Duration::from_secs(10),
        async |b| b.text("#cart-shipping").await.contains("14.89"),
    )
    .await;
    b.shot("checkout-vendor-delivery").await;
    b.accessible("checkout-vendor-delivery").await;
    b.click("input[name=payment_method][value=pm_card_visa]")
        .await;
    b.click("#pay").await;
    b.until("the order page opens", Duration::from_secs(30), async |b| {
        b.path().await.starts_with("/orders/")
    })
    .await;
    assert!(b.text(".vendor-shipping").await.contains("Acme Express"));
    b.shot("order-vendor-shipping").await;
}
