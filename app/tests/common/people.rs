//! People for end-to-end tests: accounts signed up over HTTP, back-office roles granted by the
//! platform, and requests sent as one of them.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{system_command, TestApp};

pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in account.
pub struct Person {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

/// Registers an account named after `name` and signs it in.
pub async fn sign_up(app: &TestApp, name: &str) -> Person {
    let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
    let r = app
        .http
        .post(format!("{}/store/auth/register", app.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let pair = login(app, &email, PASSWORD).await;
    Person {
        id: pair["account_id"].as_str().expect("account id").into(),
        email,
        access: pair["access_token"].as_str().expect("access").into(),
        refresh: pair["refresh_token"].as_str().expect("refresh").into(),
    }
}

/// Signs in and returns the token pair.
pub async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    let r = app
        .http
        .post(format!("{}/store/auth/login", app.base))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200);
    // Tokens are never cached on the way.
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    r.json().await.expect("json")
}

/// An account holding back-office role `role`, signed in after the grant (the role is in its
/// access token).
pub async fn with_role(app: &TestApp, name: &str, role: &str) -> Person {
    let person = sign_up(app, name).await;
    system_command(
        &app.bus().await,
        &person.id,
        &agora_identity::AccountCommand::GrantRole {
            role: role.parse().expect("a role name"),
        },
    )
    .await
    .expect("grant role");
    let pair = login(app, &person.email, PASSWORD).await;
    Person {
        access: pair["access_token"].as_str().expect("access").into(),
        refresh: pair["refresh_token"].as_str().expect("refresh").into(),
        ..person
    }
}

/// Who sends a request.
#[derive(Clone, Copy, Debug)]
pub enum As<'a> {
    Nobody,
    Bearer(&'a str),
    Cart(&'a str),
}

/// Sends a request as `who` with a fresh `Idempotency-Key`; the status and the body's text.
pub async fn call(
    app: &TestApp,
    who: As<'_>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    call_with_key(
        app,
        who,
        method,
        path,
        body,
        &uuid::Uuid::new_v4().to_string(),
    )
    .await
}

/// Like [`call`], with the `Idempotency-Key` given.
pub async fn call_with_key(
    app: &TestApp,
    who: As<'_>,
    method: Method,
    path: &str,
    body: Option<Value>,
    key: &str,
) -> (StatusCode, String) {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.base))
        .header("Idempotency-Key", key);
    request = match who {
        As::Nobody => request,
        As::Bearer(token) => request.bearer_auth(token),
        As::Cart(token) => request.header("X-Cart-Token", token),
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    (status, response.text().await.expect("a body"))
}

/// The `code` of an error body, or "".
pub fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A vendor's admin user: an account that applies to sell as `name` (the platform files the
/// application), is approved by the bootstrap admin, is bound to the vendor by the marketplace
/// runner and signs in again, so its access token carries the vendor. Returns the person and
/// the vendor's id.
pub async fn vendor_user(app: &TestApp, name: &str) -> (Person, String) {
    let person = sign_up(app, name).await;
    let (status, reply) = call(
        app,
        As::Bearer(&person.access),
        Method::POST,
        "/store/vendors",
        Some(json!({"name": name, "legal_name": format!("{name} Ltd"),
                    "contact_email": format!("sales@{name}.example"), "country": "DE",
                    "payout_account": format!("acct_{name}")})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let vendor: Value = serde_json::from_str(&reply).expect("a vendor");
    let vendor_id = vendor["id"].as_str().expect("vendor id").to_string();
    let (status, reply) = call(
        app,
        As::Bearer(super::ADMIN),
        Method::POST,
        &format!("/admin/vendors/{vendor_id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    bound(app, &person.id, &vendor_id).await;
    let pair = login(app, &person.email, PASSWORD).await;
    (
        Person {
            access: pair["access_token"].as_str().expect("access").into(),
            refresh: pair["refresh_token"].as_str().expect("refresh").into(),
            ..person
        },
        vendor_id,
    )
}

/// Waits until the marketplace runner has bound account `account` to vendor `vendor`.
pub async fn bound(app: &TestApp, account: &str, vendor: &str) {
    let bus = app.bus().await;
    agora_testkit::eventually(std::time::Duration::from_secs(20), || {
        let bus = bus.clone();
        async move {
            let view = super::system_get::<agora_identity::Account>(&bus, account)
                .await
                .ok()?;
            (view["vendor"].as_str() == Some(vendor)).then_some(())
        }
    })
    .await
    .expect("the account bound to its vendor");
}

/// A product of `vendor` created, published and stocked (`stock` units) by its user `who`,
/// one variant `sku` at `price` minor units of EUR; its id.
pub async fn vendor_product(
    app: &TestApp,
    who: &Person,
    vendor: &str,
    sku: &str,
    title: &str,
    price: i64,
    stock: i64,
) -> String {
    let (status, reply) = call(
        app,
        As::Bearer(&who.access),
        Method::POST,
        "/admin/products",
        Some(json!({"title": title, "vendor_id": vendor,
                    "variants": [{"sku": sku, "title": "One", "price": {"amount_minor": price, "currency": "EUR"}}]})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let id = serde_json::from_str::<Value>(&reply).expect("json")["id"]
        .as_str()
        .expect("product id")
        .to_string();
    for (path, payload) in [
        (format!("/admin/products/{id}/publish"), None),
        (
            format!("/admin/inventory/{sku}/receive"),
            Some(json!({"quantity": stock})),
        ),
    ] {
        let (status, reply) =
            call(app, As::Bearer(&who.access), Method::POST, &path, payload).await;
        assert_eq!(status, 200, "{path}: {reply}");
    }
    id
}
