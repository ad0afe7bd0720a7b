//! Product reviews end to end, over HTTP: a shopper who bought a vendor's chair reviews it
//! (verified), another who did not reviews it too; staff moderate; the public sees only what
//! was approved, with its average, and search rates the product; the vendor sees and answers
//! the reviews of its own products only; a rewrite goes back to moderation; a withdrawal takes
//! the review down.

mod common;

use std::time::Duration;

use agora::Roles;
use agora_testkit::eventually;
use common::people::{self, call, As, Person};
use common::{shop, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

async fn get(app: &TestApp, who: As<'_>, path: &str) -> (u16, Value) {
    let (status, reply) = call(app, who, Method::GET, path, None).await;
    (status.as_u16(), body(&reply))
}

async fn post(app: &TestApp, who: As<'_>, path: &str, payload: Option<Value>) -> (u16, Value) {
    let (status, reply) = call(app, who, Method::POST, path, payload).await;
    (status.as_u16(), body(&reply))
}

/// A published, stocked product of the signed-in vendor; its id.
async fn vendor_product(app: &TestApp, who: &Person, vendor: &str, sku: &str) -> String {
    people::vendor_product(app, who, vendor, sku, &format!("Chair {sku}"), 9900, 10).await
}

/// The product's public reviews once `count` are approved.
async fn public(app: &TestApp, product: &str, count: i64) -> Value {
    eventually(Duration::from_secs(30), || async {
        let (_, page) = get(
            app,
            As::Nobody,
            &format!("/store/products/{product}/reviews"),
        )
        .await;
        (page["count"] == count).then_some(page)
    })
    .await
    .unwrap_or_else(|_| panic!("{count} approved reviews of {product}"))
}

/// The product's rating in the search index once it is `tenths`.
async fn rated(app: &TestApp, q: &str, tenths: Value) {
    eventually(Duration::from_secs(30), || async {
        let (_, r) = get(app, As::Nobody, &format!("/store/search?q={q}")).await;
        (r["hits"][0]["rating_tenths"] == tenths).then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("{q} rated {tenths}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shoppers_review_staff_moderate_and_the_seller_answers_its_own() {
    let app = spawn_app(Roles::all()).await;
    let (oak, oak_id) = people::vendor_user(&app, "oak").await;
    let (elm, _) = people::vendor_user(&app, "elm").await;
    let staff = people::with_role(&app, "sam", "staff").await;
    let auditor = people::with_role(&app, "aud", "auditor").await;
    let ada = people::sign_up(&app, "ada").await;
    let eve = people::sign_up(&app, "eve").await;
    let chair = vendor_product(&app, &oak, &oak_id, "OAKCHAIR").await;
    shop::until_for_sale(&app.pool, &["OAKCHAIR"]).await;

    // Ada buys the chair.
    let (status, cart) = post(&app, As::Bearer(&ada.access), "/store/carts", None).await;
    assert_eq!(status, 201, "{cart}");
    let cart = cart["cart_id"].as_str().expect("cart").to_string();
    let (status, reply) = post(
        &app,
        As::Bearer(&ada.access),
        &format!("/store/carts/{cart}/items"),
        Some(json!({"sku": "OAKCHAIR", "quantity": 1})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = post(
        &app,
        As::Bearer(&ada.access),
        &format!("/store/carts/{cart}/checkout"),
        Some(shop::checkout_body("pm_card_visa")),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let order = reply["order_id"].as_str().expect("order").to_string();
    shop::settled(&app.bus().await, &order, Duration::from_secs(60)).await;
    common::until_sql(
        &app.pool,
        &format!(
            "SELECT count(*) = 1 FROM orders WHERE order_id = '{order}' AND status = 'confirmed'"
        ),
        Duration::from_secs(30),
    )
    .await;

    // Bad reviews change nothing; only customers write them, of products that exist.
    let path = format!("/store/products/{chair}/reviews");
    let review = |rating: i64, title: &str| json!({"rating": rating, "title": title, "body": "Sturdy.\nComfortable.", "display_name": "Ada L."});
    for (who, payload, want) in [
        (
            As::Bearer(&ada.access),
            review(6, "Great"),
            (422, "review.invalid_rating"),
        ),
        (
            As::Bearer(&ada.access),
            review(5, " "),
            (422, "review.invalid_title"),
        ),
        (
            As::Bearer(&staff.access),
            review(5, "Great"),
            (403, "auth.forbidden"),
        ),
        (
            As::Nobody,
            review(5, "Great"),
            (401, "auth.missing_credentials"),
        ),
    ] {
        let (status, reply) = post(&app, who, &path, Some(payload)).await;
        assert_eq!(
            (status, reply["code"].as_str().unwrap_or("")),
            want,
            "{reply}"
        );
    }
    let (status, reply) = post(
        &app,
        As::Bearer(&ada.access),
        "/store/products/00000000-0000-4000-8000-000000000000/reviews",
        Some(review(5, "Great")),
    )
    .await;
    assert_eq!(status, 404, "{reply}");

    // Ada (who bought it) and Eve (who did not) review the chair: pending, not public yet.
    let (status, ada_review) = post(
        &app,
        As::Bearer(&ada.access),
        &path,
        Some(review(5, "Great chair")),
    )
    .await;
    assert_eq!(status, 201, "{ada_review}");
    assert_eq!(ada_review["status"], "pending");
    assert_eq!(ada_review["verified_purchase"], true, "{ada_review}");
    let ada_id = ada_review["id"].as_str().expect("id").to_string();
    let (status, eve_review) = post(
        &app,
        As::Bearer(&eve.access),
        &path,
        Some(json!({"rating": 1, "title": "Buy my chairs instead", "display_name": "Eve"})),
    )
    .await;
    assert_eq!(status, 201, "{eve_review}");
    assert_eq!(eve_review["verified_purchase"], false, "{eve_review}");
    let eve_id = eve_review["id"].as_str().expect("id").to_string();
    assert_eq!(public(&app, &chair, 0).await["reviews"], json!([]));

    // The vendor sees its product's reviews (without the authors' ids); the other vendor
    // sees none of them and cannot read one.
    let listed = eventually(Duration::from_secs(30), || async {
        let (_, list) = get(
            &app,
            As::Bearer(&oak.access),
            "/admin/reviews?status=pending",
        )
        .await;
        (list["total"] == 2).then_some(list)
    })
    .await
    .expect("oak's pending reviews");
    assert_eq!(listed["reviews"][0]["product_id"], json!(chair), "{listed}");
    let (_, none) = get(&app, As::Bearer(&elm.access), "/admin/reviews").await;
    assert_eq!(none["total"], 0, "{none}");
    let (status, one) = get(
        &app,
        As::Bearer(&oak.access),
        &format!("/admin/reviews/{ada_id}"),
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["author_id"], Value::Null, "{one}");
    let (status, _) = get(
        &app,
        As::Bearer(&elm.access),
        &format!("/admin/reviews/{ada_id}"),
    )
    .await;
    assert_eq!(status, 404);
    // A customer has no back office, not even for their own review.
    let (status, _) = get(
        &app,
        As::Bearer(&ada.access),
        &format!("/admin/reviews/{ada_id}"),
    )
    .await;
    assert_eq!(status, 403);

    // Moderation is the shop's: the vendor and auditors may not; staff approve Ada's and
    // reject Eve's. The seller answers only a published review.
    let approve = format!("/admin/reviews/{ada_id}/approve");
    for (who, want) in [
        (&oak.access, (403, "review.forbidden")),
        (&auditor.access, (403, "auth.forbidden")),
    ] {
        let (status, reply) = post(&app, As::Bearer(who), &approve, None).await;
        assert_eq!(
            (status, reply["code"].as_str().unwrap_or("")),
            want,
            "{reply}"
        );
    }
    let respond = format!("/admin/reviews/{ada_id}/respond");
    let (status, reply) = post(
        &app,
        As::Bearer(&oak.access),
        &respond,
        Some(json!({"text": "Thank you!"})),
    )
    .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("review.invalid_transition")),
        "{reply}"
    );
    let (status, reply) = post(&app, As::Bearer(&staff.access), &approve, None).await;
    assert_eq!(
        (status, &reply["status"]),
        (200, &json!("approved")),
        "{reply}"
    );
    let (status, reply) = post(
        &app,
        As::Bearer(&staff.access),
        &format!("/admin/reviews/{eve_id}/reject"),
        Some(json!({"reason": "not about the product"})),
    )
    .await;
    assert_eq!(
        (status, &reply["status"]),
        (200, &json!("rejected")),
        "{reply}"
    );
    // Staff read why; the vendor never does.
    let rejected = eventually(Duration::from_secs(30), || async {
        let (_, list) = get(
            &app,
            As::Bearer(&oak.access),
            "/admin/reviews?status=rejected",
        )
        .await;
        (list["total"] == 1).then_some(list)
    })
    .await
    .expect("the rejected review in oak's list");
    assert_eq!(
        rejected["reviews"][0]["rejection_reason"],
        Value::Null,
        "{rejected}"
    );
    let (_, list) = get(
        &app,
        As::Bearer(&staff.access),
        &format!("/admin/reviews?product_id={chair}&status=rejected"),
    )
    .await;
    assert_eq!(
        list["reviews"][0]["rejection_reason"], "not about the product",
        "{list}"
    );

    // The seller answers; the other vendor cannot.
    let (status, reply) = post(
        &app,
        As::Bearer(&oak.access),
        &respond,
        Some(json!({"text": "Thank you!"})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["response"]["by"], "vendor", "{reply}");
    let (status, _) = post(
        &app,
        As::Bearer(&elm.access),
        &respond,
        Some(json!({"text": "Mine are better"})),
    )
    .await;
    assert_eq!(status, 404);

    // The public sees Ada's review with the answer, its average, and search rates the chair.
    let page = eventually(Duration::from_secs(30), || async {
        let page = public(&app, &chair, 1).await;
        (page["reviews"][0]["response"] == "Thank you!").then_some(page)
    })
    .await
    .expect("the answer in public");
    assert_eq!(page["average_tenths"], 50, "{page}");
    assert_eq!(page["reviews"][0]["verified_purchase"], true, "{page}");
    assert_eq!(page["reviews"][0]["author_name"], "Ada L.", "{page}");
    assert_eq!(page["reviews"][0]["response_by"], "vendor", "{page}");
    rated(&app, "OAKCHAIR", json!(50)).await;
    let (_, filtered) = get(&app, As::Nobody, "/store/search?q=OAKCHAIR&rating_min=4.5").await;
    assert_eq!(filtered["total"], 1, "{filtered}");

    // Ada rewrites it with three stars: back to moderation, off the page and unrated; approved
    // again, rated three.
    let (status, again) = post(
        &app,
        As::Bearer(&ada.access),
        &path,
        Some(review(3, "Good chair, wobbly")),
    )
    .await;
    assert_eq!(
        (status, &again["status"]),
        (201, &json!("pending")),
        "{again}"
    );
    assert_eq!(
        again["id"],
        json!(ada_id),
        "one review per shopper and product"
    );
    public(&app, &chair, 0).await;
    rated(&app, "OAKCHAIR", Value::Null).await;
    let (status, _) = post(&app, As::Bearer(&staff.access), &approve, None).await;
    assert_eq!(status, 200);
    assert_eq!(public(&app, &chair, 1).await["average_tenths"], 30);
    rated(&app, "OAKCHAIR", json!(30)).await;

    // Only the author withdraws it; then it is gone.
    let withdraw = format!("/store/reviews/{ada_id}/withdraw");
    let (status, _) = post(&app, As::Bearer(&eve.access), &withdraw, None).await;
    assert_eq!(status, 404);
    let (status, reply) = post(&app, As::Bearer(&ada.access), &withdraw, None).await;
    assert_eq!(
        (status, &reply["status"]),
        (200, &json!("withdrawn")),
        "{reply}"
    );
    public(&app, &chair, 0).await;
    rated(&app, "OAKCHAIR", Value::Null).await;
}
