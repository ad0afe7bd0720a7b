//! The edge's security against the assembled platform over HTTP: object-level authorization
//! on every object route (carts, orders, payments, addresses, accounts), the back office closed
//! to customers, forged tokens, mass assignment, guest-cart merging, rate limits, CORS,
//! security headers, sessions, and sign-in with a local OpenID provider.

mod common;

#[path = "common/oidc.rs"]
mod oidc;

use std::time::Duration;

use agora::Roles;
use common::people::{call, code, login, sign_up, As, PASSWORD};
use common::{shop, spawn_app_with, system_command, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn app() -> TestApp {
    spawn_app_with(Roles::all(), |c| {
        // The matrix signs up several customers from one address.
        c.edge_security.auth_rate_burst = 1000;
        c.edge_security.auth_rate_per_minute = 1000;
    })
    .await
}

/// A path of the OpenAPI document with its parameters filled in.
fn concrete(path: &str) -> String {
    let id = "5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11";
    path.replace("{aggregate_type}", "cart")
        .replace("{aggregate_id}", id)
        .replace("{sku}", "SKU-1")
        .replace("{role}", "admin")
        .replace("{id}", id)
        .replace("{order_id}", id)
        .replace("{cart_id}", id)
}

#[tokio::test]
async fn no_customer_reaches_another_customers_objects_or_the_back_office() {
    let app = app().await;
    let bus = app.bus().await;
    let ada = sign_up(&app, "ada").await;
    let eve = sign_up(&app, "eve").await;

    // Ada's objects: a cart of her own, an order from it, a saved address.
    shop::product(&app.http, &app.base, &[("SEC-TEE", 2500)], 50).await;
    shop::until_for_sale(&app.pool, &["SEC-TEE"]).await;
    let (status, body) = call(
        &app,
        As::Bearer(&ada.access),
        Method::POST,
        "/store/carts",
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).expect("json");
    assert!(
        created["cart_token"].is_null(),
        "a customer's cart has no token"
    );
    assert_eq!(created["cart"]["customer_id"], ada.id.as_str());
    let cart = created["cart_id"].as_str().expect("cart id").to_string();
    let add = json!({"sku": "SEC-TEE", "quantity": 2});
    let (status, body) = call(
        &app,
        As::Bearer(&ada.access),
        Method::POST,
        &format!("/store/carts/{cart}/items"),
        Some(add.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &app,
        As::Bearer(&ada.access),
        Method::POST,
        &format!("/store/carts/{cart}/checkout"),
        Some(shop::checkout_body("pm_card_visa")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let order = serde_json::from_str::<Value>(&body).expect("json")["order_id"]
        .as_str()
        .expect("order id")
        .to_string();
    let settled = shop::settled(&bus, &order, Duration::from_secs(30)).await;
    assert_eq!(settled["status"], "confirmed", "{settled}");
    let address = json!({"address": {"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
                                     "postal_code": "N1 9GU", "country": "GB"}});
    let (status, body) = call(
        &app,
        As::Bearer(&ada.access),
        Method::POST,
        "/store/customers/me/addresses",
        Some(address.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let address_id = serde_json::from_str::<Value>(&body).expect("json")["id"]
        .as_str()
        .expect("address id")
        .to_string();
    // A guest cart of someone else, to try Ada's objects with a cart token too.
    let stranger_cart = shop::cart(&app.http, &app.base, &[("SEC-TEE", 1)]).await;

    // Every object route, as Eve, as a stranger's cart token, and as nobody.
    let objects: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/store/carts/{cart}"), None),
        (Method::GET, format!("/store/carts/{cart}/pricing"), None),
        (
            Method::PUT,
            format!("/store/carts/{cart}/code"),
            Some(json!({"code": "SECRET10"})),
        ),
        (Method::DELETE, format!("/store/carts/{cart}/code"), None),
        (
            Method::POST,
            format!("/store/carts/{cart}/items"),
            Some(add.clone()),
        ),
        (
            Method::PATCH,
            format!("/store/carts/{cart}/items/SEC-TEE"),
            Some(json!({"quantity": 1})),
        ),
        (
            Method::DELETE,
            format!("/store/carts/{cart}/items/SEC-TEE"),
            None,
        ),
        (Method::DELETE, format!("/store/carts/{cart}/items"), None),
        (
            Method::POST,
            format!("/store/carts/{cart}/checkout"),
            Some(shop::checkout_body("pm_card_visa")),
        ),
        (Method::GET, format!("/store/orders/{order}"), None),
        (Method::POST, format!("/store/orders/{order}/cancel"), None),
        (Method::GET, format!("/store/orders/{order}/payment"), None),
        (
            Method::POST,
            format!("/store/orders/{order}/payment/confirm"),
            None,
        ),
    ];
    for (method, path, body) in &objects {
        for who in [As::Bearer(&eve.access), As::Cart(&stranger_cart.1)] {
            let (status, reply) = call(&app, who, method.clone(), path, body.clone()).await;
            assert!(
                status == 404 || status == 403,
                "{method} {path}: {status} {reply}"
            );
            assert!(
                !reply.contains(&ada.id)
                    && !reply.contains("SEC-TEE")
                    && !reply.contains("Lovelace"),
                "{method} {path} leaks: {reply}"
            );
            let body: Value = serde_json::from_str(&reply).expect("an error body");
            assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{reply}");
        }
        let (status, reply) = call(&app, As::Nobody, method.clone(), path, body.clone()).await;
        assert_eq!(status, 401, "{method} {path}: {reply}");
    }
    // Ada's addresses through Eve's account: unknown there.
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/store/customers/me/addresses/{address_id}"),
            Some(address["address"].clone()),
        ),
        (
            Method::DELETE,
            format!("/store/customers/me/addresses/{address_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/store/customers/me/addresses/{address_id}/default"),
            None,
        ),
    ] {
        let (status, reply) = call(
            &app,
            As::Bearer(&eve.access),
            method.clone(),
            &path,
            body.clone(),
        )
        .await;
        assert_eq!(status, 404, "{method} {path}: {reply}");
        assert!(!reply.contains("Lovelace"), "{reply}");
        let (status, _) = call(&app, As::Nobody, method.clone(), &path, body).await;
        assert_eq!(status, 401, "{method} {path}");
    }
    // "me" is always the caller: Eve sees her account, her (empty) history and addresses.
    for path in [
        "/store/customers/me",
        "/store/customers/me/orders",
        "/store/customers/me/addresses",
    ] {
        let (status, reply) = call(&app, As::Bearer(&eve.access), Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {reply}");
        assert!(
            !reply.contains(&ada.id) && !reply.contains(&ada.email) && !reply.contains(&order),
            "{path} leaks: {reply}"
        );
        let (status, _) = call(&app, As::Nobody, Method::GET, path, None).await;
        assert_eq!(status, 401, "{path}");
    }
    // Ada sees her own.
    let (status, reply) = call(
        &app,
        As::Bearer(&ada.access),
        Method::GET,
        &format!("/store/orders/{order}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    common::until_sql(
        &app.pool,
        &format!(
            "SELECT count(*) = 1 FROM orders WHERE customer_id = '{}'",
            ada.id
        ),
        Duration::from_secs(20),
    )
    .await;
    let (_, reply) = call(
        &app,
        As::Bearer(&ada.access),
        Method::GET,
        "/store/customers/me/orders",
        None,
    )
    .await;
    assert!(reply.contains(&order), "{reply}");
    // Merging someone else's cart needs its token: Eve cannot take Ada's cart.
    let (status, reply) = call(
        &app,
        As::Bearer(&eve.access),
        Method::POST,
        "/store/customers/me/cart/merge",
        Some(json!({"cart_id": cart})),
    )
    .await;
    assert_eq!(status, 401, "no cart token: {reply}");

    // The back office: a customer gets 403 on every /admin and /audit operation, whatever the
    // body; nobody gets 401.
    let doc: Value = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !(path.starts_with("/admin") || path.starts_with("/audit")) {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let url = concrete(path);
            let (status, reply) = call(
                &app,
                As::Bearer(&ada.access),
                m.clone(),
                &url,
                Some(json!({})),
            )
            .await;
            assert_eq!(
                (status.as_u16(), code(&reply)),
                (403, "auth.forbidden".into()),
                "{method} {url}"
            );
            let (status, _) = call(&app, As::Nobody, m, &url, Some(json!({}))).await;
            assert_eq!(status, 401, "{method} {url}");
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} back-office operations");
    // Ada as staff (a new token after the grant) gets in; her old token still says customer.
    system_command(
        &bus,
        &ada.id,
        &agora_identity::AccountCommand::GrantRole {
            role: agora_identity::Role::Staff,
        },
    )
    .await
    .expect("grant staff");
    let (status, _) = call(
        &app,
        As::Bearer(&ada.access),
        Method::GET,
        "/admin/orders",
        None,
    )
    .await;
    assert_eq!(status, 403);
    let staff = login(&app, &ada.email, PASSWORD).await;
    let staff_token = staff["access_token"].as_str().expect("access");
    let (status, reply) = call(
        &app,
        As::Bearer(staff_token),
        Method::GET,
        "/admin/orders",
        None,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    // Staff read accounts but only admins grant roles.
    let (status, _) = call(
        &app,
        As::Bearer(staff_token),
        Method::GET,
        &format!("/admin/accounts/{}", eve.id),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, reply) = call(
        &app,
        As::Bearer(staff_token),
        Method::POST,
        &format!("/admin/accounts/{}/roles/admin", ada.id),
        None,
    )
    .await;
    assert_eq!(
        (status.as_u16(), code(&reply)),
        (403, "auth.forbidden".into())
    );
    let (status, reply) = call(
        &app,
        As::Bearer(common::ADMIN),
        Method::POST,
        &format!("/admin/accounts/{}/roles/vendor", eve.id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("vendor"), "{reply}");
    app.stop().await;
}

#[tokio::test]
async fn forged_and_expired_tokens_and_client_sent_privileges_are_refused() {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = app().await;
    let ada = sign_up(&app, "ada").await;
    let mut parts = ada.access.split('.');
    let (header, payload, signature) = (
        parts.next().expect("header"),
        parts.next().expect("claims"),
        parts.next().expect("signature"),
    );
    let mut claims: Value =
        serde_json::from_slice(&engine.decode(payload).expect("base64")).expect("claims");
    claims["roles"] = json!(["admin"]);
    let escalated = format!("{header}.{}.{signature}", engine.encode(claims.to_string()));
    let unsigned = format!(
        "{}.{}.",
        engine.encode(r#"{"alg":"none","typ":"JWT"}"#),
        engine.encode(claims.to_string())
    );
    let keys = agora::token_keys(&app.config).expect("keys");
    let mut old = keys.new_claims(
        &ada.id,
        vec!["customer".into()],
        "s",
        chrono::Utc::now().timestamp() - 3600,
    );
    old.exp = chrono::Utc::now().timestamp() - 60;
    let expired = keys.issue(&old);
    for (what, token, expected) in [
        ("tampered", escalated.as_str(), "auth.invalid_token"),
        ("alg none", unsigned.as_str(), "auth.invalid_token"),
        ("expired", expired.as_str(), "auth.token_expired"),
    ] {
        for path in [
            "/store/customers/me",
            "/admin/orders",
            "/audit/streams/cart/x",
        ] {
            let (status, reply) = call(&app, As::Bearer(token), Method::GET, path, None).await;
            assert_eq!(
                (status.as_u16(), code(&reply)),
                (401, expected.to_string()),
                "{what} on {path}"
            );
        }
    }

    // Mass assignment: prices, totals, statuses, owners and roles are refused, never applied.
    let cart = shop::cart(&app.http, &app.base, &[]).await;
    let mut checkout = shop::checkout_body("pm_card_visa");
    checkout["total_minor"] = json!(1);
    for (who, method, path, body) in [
        (
            As::Bearer(&ada.access),
            Method::POST,
            "/store/auth/register".to_string(),
            json!({"email": "x@example.com", "password": PASSWORD, "roles": ["admin"]}),
        ),
        (
            As::Bearer(&ada.access),
            Method::PATCH,
            "/store/customers/me".to_string(),
            json!({"roles": ["admin"]}),
        ),
        (
            As::Bearer(&ada.access),
            Method::PATCH,
            "/store/customers/me".to_string(),
            json!({"email_verified": true}),
        ),
        (
            As::Bearer(&ada.access),
            Method::POST,
            "/store/carts".to_string(),
            json!({"customer_id": uuid::Uuid::new_v4()}),
        ),
        (
            As::Cart(&cart.1),
            Method::POST,
            format!("/store/carts/{}/items", cart.0),
            json!({"sku": "A", "quantity": 1, "price": {"amount_minor": 1, "currency": "EUR"}}),
        ),
        (
            As::Cart(&cart.1),
            Method::POST,
            format!("/store/carts/{}/checkout", cart.0),
            checkout,
        ),
        (
            As::Bearer(common::ADMIN),
            Method::POST,
            "/admin/products".to_string(),
            json!({"title": "T", "vendor_id": "acme", "status": "published"}),
        ),
    ] {
        let (status, reply) = call(&app, who, method.clone(), &path, Some(body)).await;
        assert_eq!(
            (status.as_u16(), code(&reply)),
            (422, "request.invalid_body".into()),
            "{method} {path}: {reply}"
        );
    }
    let (_, me) = call(
        &app,
        As::Bearer(&ada.access),
        Method::GET,
        "/store/customers/me",
        None,
    )
    .await;
    let me: Value = serde_json::from_str(&me).expect("json");
    assert_eq!(me["roles"], json!(["customer"]));
    assert_eq!(me["email_verified"], false);

    // Sessions: a refresh token works once; using it again revokes the family; logout ends it.
    let (status, reply) = call(
        &app,
        As::Nobody,
        Method::POST,
        "/store/auth/refresh",
        Some(json!({"refresh_token": ada.refresh})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let rotated: Value = serde_json::from_str(&reply).expect("json");
    let (status, reply) = call(
        &app,
        As::Nobody,
        Method::POST,
        "/store/auth/refresh",
        Some(json!({"refresh_token": ada.refresh})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), code(&reply)),
        (401, "auth.refresh_token_reused".into())
    );
    let (status, _) = call(
        &app,
        As::Nobody,
        Method::POST,
        "/store/auth/refresh",
        Some(json!({"refresh_token": rotated["refresh_token"]})),
    )
    .await;
    assert_eq!(status, 401, "the whole family is revoked");
    let fresh = login(&app, &ada.email, PASSWORD).await;
    let (status, _) = call(
        &app,
        As::Nobody,
        Method::POST,
        "/store/auth/logout",
        Some(json!({"refresh_token": fresh["refresh_token"]})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &app,
        As::Nobody,
        Method::POST,
        "/store/auth/refresh",
        Some(json!({"refresh_token": fresh["refresh_token"]})),
    )
    .await;
    assert_eq!(status, 401, "logout revokes");
    app.stop().await;
}

#[tokio::test]
async fn a_guest_cart_merges_into_the_customers_cart_once() {
    let app = app().await;
    let ada = sign_up(&app, "ada").await;
    let guest = shop::cart(&app.http, &app.base, &[]).await;
    for (sku, quantity) in [("MERGE-A", 2), ("MERGE-B", 1)] {
        let r = app.add(&guest.0, &guest.1, sku, quantity, None).await;
        assert_eq!(r.status(), 200);
    }
    let merge = |into: Option<String>| {
        let mut body = json!({"cart_id": guest.0});
        if let Some(into) = into {
            body["into_cart_id"] = json!(into);
        }
        app.http
            .post(format!("{}/store/customers/me/cart/merge", app.base))
            .bearer_auth(&ada.access)
            .header("X-Cart-Token", &guest.1)
            .json(&body)
            .send()
    };
    let r = merge(None).await.expect("merge");
    assert_eq!(r.status(), 200);
    let merged: Value = r.json().await.expect("json");
    assert_eq!(merged["customer_id"], ada.id.as_str());
    assert_eq!(merged["item_count"], 3, "{merged}");
    let target = merged["id"].as_str().expect("id").to_string();
    // A retry changes nothing.
    let again: Value = merge(Some(target.clone()))
        .await
        .expect("merge")
        .json()
        .await
        .expect("json");
    assert_eq!(again["item_count"], 3, "{again}");
    // The guest cart is closed.
    let (status, reply) = call(
        &app,
        As::Cart(&guest.1),
        Method::POST,
        &format!("/store/carts/{}/items", guest.0),
        Some(json!({"sku": "MERGE-A", "quantity": 1})),
    )
    .await;
    assert_eq!((status.as_u16(), code(&reply)), (409, "cart.closed".into()));
    // Another guest cart cannot be merged into a cart that is not the customer's.
    let other = shop::cart(&app.http, &app.base, &[]).await;
    let eve = sign_up(&app, "eve").await;
    let (status, reply) = call(
        &app,
        As::Bearer(&eve.access),
        Method::POST,
        "/store/customers/me/cart/merge",
        Some(json!({"cart_id": other.0, "into_cart_id": target})),
    )
    .await;
    assert_eq!(status, 401, "needs the guest token: {reply}");
    let r = app
        .http
        .post(format!("{}/store/customers/me/cart/merge", app.base))
        .bearer_auth(&eve.access)
        .header("X-Cart-Token", &other.1)
        .json(&json!({"cart_id": other.0, "into_cart_id": target}))
        .send()
        .await
        .expect("merge");
    assert_eq!(r.status(), 404, "Ada's cart is not Eve's");
    app.stop().await;
}

#[tokio::test]
async fn the_edge_limits_sign_ins_and_speaks_only_to_the_storefront_origin() {
    let app = spawn_app_with(Roles::all(), |c| {
        c.edge_security.auth_rate_burst = 3;
        c.edge_security.auth_rate_per_minute = 3;
        c.edge_security.cors_origins = vec!["https://shop.example".into()];
    })
    .await;
    let wrong = json!({"email": "nobody@example.com", "password": "wrong password, long enough"});
    for _ in 0..3 {
        let (status, reply) = call(
            &app,
            As::Nobody,
            Method::POST,
            "/store/auth/login",
            Some(wrong.clone()),
        )
        .await;
        assert_eq!(
            (status.as_u16(), code(&reply)),
            (401, "auth.invalid_credentials".into())
        );
    }
    let r = app
        .http
        .post(format!("{}/store/auth/login", app.base))
        .json(&wrong)
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "request.rate_limited");

    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, format!("{}/store/carts", app.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("https://shop.example").await.expect("preflight");
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
    let other = preflight("https://evil.example").await.expect("preflight");
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    let r = app
        .http
        .get(format!("{}/store/products", app.base))
        .send()
        .await
        .expect("products");
    for name in [
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "strict-transport-security",
        "content-security-policy",
        "cache-control",
    ] {
        assert!(r.headers().contains_key(name), "{name}");
    }
    let docs = app
        .http
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .expect("docs");
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.expect("html").contains("api-reference"));
    app.stop().await;
}

#[tokio::test]
async fn a_shopper_signs_in_through_the_openid_provider_with_pkce() {
    let provider = oidc::Provider::start(oidc::User {
        sub: "provider-user-42".into(),
        email: format!("oidc-{}@example.com", uuid::Uuid::new_v4().simple()),
        email_verified: true,
    })
    .await;
    let issuer = provider.issuer();
    let app = spawn_app_with(Roles::all(), |c| {
        c.edge_security.oidc_provider = "testidp".into();
        c.edge_security.oidc_issuer = Some(issuer.clone());
        c.edge_security.oidc_client_id = Some(oidc::CLIENT_ID.into());
        c.edge_security.oidc_client_secret = Some(oidc::CLIENT_SECRET.into());
        c.edge_security.oidc_redirect_uri = Some(oidc::REDIRECT_URI.into());
    })
    .await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // start → the provider, with PKCE S256, state, nonce and a signed cookie.
    let start = browser
        .get(format!("{}/store/auth/oidc/start", app.base))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), 303);
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(
        location.starts_with(&format!("{issuer}/authorize?")),
        "{location}"
    );
    assert!(
        location.contains("code_challenge_method=S256"),
        "{location}"
    );
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().expect("name=value").to_string();

    // The provider signs the user in and sends the browser back with a code.
    let authorized = browser.get(&location).send().await.expect("authorize");
    assert_eq!(authorized.status(), 302);
    let back = reqwest::Url::parse(authorized.headers()["location"].to_str().expect("location"))
        .expect("url");
    assert!(back.as_str().starts_with(oidc::REDIRECT_URI));
    let query = back.query().expect("code and state").to_string();
    let callback = format!("{}/store/auth/oidc/callback?{query}", app.base);

    // Without the cookie, or with another state, the callback refuses.
    let r = browser.get(&callback).send().await.expect("callback");
    assert_eq!(r.status(), 401);
    let forged = callback.replace("state=", "state=x");
    let r = browser
        .get(&forged)
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "auth.oidc_state_mismatch");

    let r = browser
        .get(&callback)
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), 200);
    let pair: Value = r.json().await.expect("json");
    let access = pair["access_token"].as_str().expect("access token");
    let (status, me) = call(
        &app,
        As::Bearer(access),
        Method::GET,
        "/store/customers/me",
        None,
    )
    .await;
    assert_eq!(status, 200, "{me}");
    let me: Value = serde_json::from_str(&me).expect("json");
    assert_eq!(me["roles"], json!(["customer"]));
    assert!(me.to_string().contains("provider-user-42"), "{me}");

    // The code works once.
    let r = browser
        .get(&callback)
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "auth.oidc_code_rejected");

    // A second sign-in finds the same account.
    let start = browser
        .get(format!("{}/store/auth/oidc/start", app.base))
        .send()
        .await
        .expect("start");
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_string();
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let authorized = browser.get(&location).send().await.expect("authorize");
    let back = reqwest::Url::parse(authorized.headers()["location"].to_str().expect("location"))
        .expect("url");
    let r = browser
        .get(format!(
            "{}/store/auth/oidc/callback?{}",
            app.base,
            back.query().expect("query")
        ))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.expect("json");
    assert_eq!(again["account_id"], pair["account_id"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversized_request_id_never_reaches_the_event_store() {
    let app = app().await;
    let huge = "r".repeat(4_096);
    let r = app
        .http
        .post(format!("{}/store/carts", app.base))
        .header("x-request-id", &huge)
        .send()
        .await
        .expect("create a cart");
    assert_eq!(r.status(), StatusCode::CREATED);
    let echoed = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("an echoed id")
        .to_string();
    assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
    let cart: Value = r.json().await.expect("json");
    let id = cart["cart_id"].as_str().expect("a cart id").to_string();
    // The fresh id is the correlation and causation id of what the request caused.
    let (correlation, causation): (String, String) = sqlx::query_as(
        "SELECT metadata->>'correlation_id', metadata->>'causation_id' FROM events
         WHERE aggregate_type = 'cart' AND aggregate_id = $1 ORDER BY sequence LIMIT 1",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .expect("the cart's first event");
    assert_eq!(
        (correlation.as_str(), causation.as_str()),
        (echoed.as_str(), echoed.as_str())
    );
    app.stop().await;
}
