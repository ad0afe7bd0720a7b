//! Vendors over HTTP: a customer applies to sell, staff approve, the storefront shows the
//! vendor's public page, the vendor's admin adds a colleague, the vendor is suspended and
//! reactivated, commission rules never reach back; another vendor's users, customers and
//! auditors get what the access rules say.

mod common;

use agora::Roles;
use common::people::{self, call, As};
use common::spawn_app;
use reqwest::Method;
use serde_json::{json, Value};

fn body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn application(name: &str) -> Value {
    json!({"name": name, "legal_name": format!("{name} GmbH"), "contact_email": "sales@terra.example",
           "country": "DE", "payout_account": "acct_1Nv0FGQ9RKHgCVdK"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_vendor_applies_is_approved_sells_under_its_name_and_is_suspended() {
    let app = spawn_app(Roles::all()).await;
    let ada = people::sign_up(&app, "ada").await;
    let eve = people::sign_up(&app, "eve").await;
    let staff = people::with_role(&app, "sam", "staff").await;
    let auditor = people::with_role(&app, "audrey", "auditor").await;

    // Ada applies; the same request again is the same application.
    let (status, reply) = common::people::call_with_key(
        &app,
        As::Bearer(&ada.access),
        Method::POST,
        "/store/vendors",
        Some(application("Terra")),
        "apply-terra",
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let vendor = body(&reply);
    assert_eq!(vendor["status"], "applied");
    let id = vendor["id"].as_str().expect("vendor id").to_string();
    let (status, again) = common::people::call_with_key(
        &app,
        As::Bearer(&ada.access),
        Method::POST,
        "/store/vendors",
        Some(application("Terra")),
        "apply-terra",
    )
    .await;
    assert_eq!(
        (status.as_u16(), body(&again)["id"].as_str()),
        (201, Some(id.as_str()))
    );
    // Without an account there is no application; a bad one is a clear error.
    let (status, _) = call(
        &app,
        As::Nobody,
        Method::POST,
        "/store/vendors",
        Some(application("X")),
    )
    .await;
    assert_eq!(status, 401);
    let mut bad = application("Bad");
    bad["country"] = json!("Germany");
    let (status, reply) = call(
        &app,
        As::Bearer(&eve.access),
        Method::POST,
        "/store/vendors",
        Some(bad),
    )
    .await;
    assert_eq!(
        (status.as_u16(), people::code(&reply).as_str()),
        (422, "vendor.invalid_country")
    );

    // Not on the storefront before it is approved; staff approve it.
    let public = format!("/store/vendors/{id}");
    let (status, _) = call(&app, As::Nobody, Method::GET, &public, None).await;
    assert_eq!(status, 404);
    let (status, reply) = call(
        &app,
        As::Bearer(&eve.access),
        Method::POST,
        &format!("/admin/vendors/{id}/approve"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 403, "{reply}");
    let (status, reply) = call(
        &app,
        As::Bearer(&staff.access),
        Method::POST,
        &format!("/admin/vendors/{id}/approve"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body(&reply)["status"].as_str()),
        (200, Some("active")),
        "{reply}"
    );
    let (status, reply) = call(&app, As::Nobody, Method::GET, &public, None).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        body(&reply),
        json!({"id": id, "name": "Terra", "country": "DE", "active": true})
    );

    // The approval binds Ada's account to the vendor; signed in again, her token acts for it.
    // She reads her vendor and adds Eve.
    people::bound(&app, &ada.id, &id).await;
    let ada_vendor = people::login(&app, &ada.email, people::PASSWORD).await["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    let admin_view = format!("/admin/vendors/{id}");
    let (status, reply) = call(
        &app,
        As::Bearer(&ada_vendor),
        Method::GET,
        &admin_view,
        None,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(body(&reply)["users"][0]["role"], "admin", "{reply}");
    let (status, reply) = call(
        &app,
        As::Bearer(&ada_vendor),
        Method::POST,
        &format!("/admin/vendors/{id}/users"),
        Some(json!({"account": eve.id, "role": "member"})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        body(&reply)["users"].as_array().map(Vec::len),
        Some(2),
        "{reply}"
    );
    // The last admin stays.
    let (status, reply) = call(
        &app,
        As::Bearer(&ada_vendor),
        Method::DELETE,
        &format!("/admin/vendors/{id}/users/{}", ada.id),
        None,
    )
    .await;
    assert_eq!(
        (status.as_u16(), people::code(&reply).as_str()),
        (409, "vendor.last_admin")
    );
    // Another vendor's user finds nothing; an auditor reads and changes nothing.
    let (bolt, _) = people::vendor_user(&app, "bolt").await;
    let (status, _) = call(
        &app,
        As::Bearer(&bolt.access),
        Method::GET,
        &admin_view,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, As::Bearer(&bolt.access), Method::PUT, &format!("/admin/vendors/{id}/details"),
        Some(json!({"name": "Mine", "legal_name": "Mine", "contact_email": "a@b.c", "payout_account": "acct_x"}))).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        As::Bearer(&auditor.access),
        Method::GET,
        &admin_view,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &app,
        As::Bearer(&auditor.access),
        Method::POST,
        &format!("/admin/vendors/{id}/suspend"),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(status, 403);

    // Commission rules start now or later, never before.
    let rule = |rule_id: &str, from: chrono::DateTime<chrono::Utc>| json!({"rule_id": rule_id, "percent_bp": 1200, "effective_from": from});
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let (status, reply) = call(
        &app,
        As::Bearer(&staff.access),
        Method::POST,
        &format!("/admin/vendors/{id}/commission-rules"),
        Some(rule("std", later)),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let earlier = chrono::Utc::now() - chrono::Duration::days(1);
    let (status, reply) = call(
        &app,
        As::Bearer(&staff.access),
        Method::POST,
        &format!("/admin/vendors/{id}/commission-rules"),
        Some(rule("old", earlier)),
    )
    .await;
    assert_eq!(
        (status.as_u16(), people::code(&reply).as_str()),
        (422, "vendor.retroactive_rule")
    );
    let (status, _) = call(
        &app,
        As::Bearer(&ada_vendor),
        Method::POST,
        &format!("/admin/vendors/{id}/commission-rules"),
        Some(rule("mine", later)),
    )
    .await;
    assert_eq!(status, 403, "a vendor does not set its own commission");

    // Suspended: off the storefront; reactivated: back.
    let (status, reply) = call(
        &app,
        As::Bearer(&staff.access),
        Method::POST,
        &format!("/admin/vendors/{id}/suspend"),
        Some(json!({"reason": "late shipments"})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body(&reply)["status"].as_str()),
        (200, Some("suspended")),
        "{reply}"
    );
    let (status, _) = call(&app, As::Nobody, Method::GET, &public, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        As::Bearer(&staff.access),
        Method::POST,
        &format!("/admin/vendors/{id}/reactivate"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&app, As::Nobody, Method::GET, &public, None).await;
    assert_eq!(status, 200);
    app.stop().await;
}
