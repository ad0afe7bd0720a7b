//! A vendor's payout survives the process being killed between the provider's transfer and its
//! record on the vendor, and a retried request: after the restart the payout is recorded paid
//! with the one transfer the provider made.

mod common;

use std::time::Duration;

use agora_testkit::{eventually, free_port, TestDb, TestNats};
use common::child::{died, ready, spawn_agora, Agora};
use common::people::PASSWORD;
use common::{shop, ADMIN};
use serde_json::{json, Value};

fn spawn(nats: &TestNats, db: &TestDb, port: u16, crash_after: Option<&str>) -> Agora {
    // Sales are available at once (no return window), so they can be paid out.
    spawn_agora(
        nats,
        db,
        port,
        crash_after,
        &[("AGORA_RETURN_WINDOW_DAYS", "0")],
    )
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: &str,
    key: &str,
    body: Value,
) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("a response");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_killed_after_the_transfer_and_retried_pays_the_vendor_once() {
    let nats = TestNats::start().expect("nats");
    let db = TestDb::create().await.expect("db");
    let http = reqwest::Client::new();
    let port = free_port().expect("port");
    let pool = sqlx::PgPool::connect(&db.url()).await.expect("pool");

    let agora = spawn(&nats, &db, port, None);
    ready(&http, &agora.base).await;
    let base = agora.base.clone();
    // A vendor, approved, and a sale of its product.
    let email = "vera@example.com";
    let r = http
        .post(format!("{base}/store/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let login: Value = http
        .post(format!("{base}/store/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let access = login["access_token"].as_str().expect("access").to_string();
    let (status, vendor) = post(
        &http,
        format!("{base}/store/vendors"),
        &access,
        "apply",
        json!({"name": "Vera", "legal_name": "Vera Ltd", "contact_email": "v@vera.example",
               "country": "DE", "payout_account": "acct_vera"}),
    )
    .await;
    assert_eq!(status, 201, "{vendor}");
    let vendor = vendor["id"].as_str().expect("vendor id").to_string();
    let (status, reply) = post(
        &http,
        format!("{base}/admin/vendors/{vendor}/approve"),
        ADMIN,
        "approve",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, product) = post(&http, format!("{base}/admin/products"), ADMIN, "product",
        json!({"title": "Vera vase", "vendor_id": vendor,
               "variants": [{"sku": "VERA-VASE", "title": "Blue", "price": {"amount_minor": 5000, "currency": "EUR"}}]})).await;
    assert_eq!(status, 201, "{product}");
    let product = product["id"].as_str().expect("product id").to_string();
    let (status, _) = post(
        &http,
        format!("{base}/admin/products/{product}/publish"),
        ADMIN,
        "publish",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &http,
        format!("{base}/admin/inventory/VERA-VASE/receive"),
        ADMIN,
        "stock",
        json!({"quantity": 5}),
    )
    .await;
    assert_eq!(status, 200);
    shop::until_for_sale(&pool, &["VERA-VASE"]).await;
    let cart = shop::cart(&http, &base, &[("VERA-VASE", 1)]).await;
    shop::checkout_ok(&http, &base, &cart, "vase", "pm_card_visa").await;
    eventually(Duration::from_secs(60), || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM vendor_ledger WHERE vendor_id = $1 AND kind = 'sale'",
        )
        .bind(&vendor)
        .fetch_one(&pool)
        .await
        .ok()?;
        (n == 1).then_some(())
    })
    .await
    .expect("the sale in the ledger");
    drop(agora);

    // Killed after the provider transferred, before the vendor recorded it; the shop's retry of
    // the request is the same payout.
    let mut agora = spawn(&nats, &db, port, Some("payout_transfer"));
    ready(&http, &agora.base).await;
    let url = format!("{base}/admin/vendors/{vendor}/payouts");
    let amount = json!({"amount": {"amount_minor": 4000, "currency": "EUR"}});
    let (status, first) = post(&http, url.clone(), ADMIN, "payout-kill", amount.clone()).await;
    assert_eq!(status, 201, "{first}");
    let payout = first["payouts"][0]["id"]
        .as_str()
        .expect("payout id")
        .to_string();
    assert!(
        died(&mut agora, Duration::from_secs(60)),
        "the fault after the transfer did not fire"
    );
    drop(agora);
    let payouts = agora_gateway::TestPayouts::new(pool.clone())
        .await
        .expect("payouts");
    assert_eq!(payouts.transfers_for(&payout).await.expect("count"), 1);

    // Restarted without faults: the retried request is the same payout, and the runner records
    // the transfer the provider already made instead of making another.
    let agora = spawn(&nats, &db, port, None);
    ready(&http, &agora.base).await;
    let (status, again) = post(&http, url, ADMIN, "payout-kill", amount).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["payouts"][0]["id"].as_str(), Some(payout.as_str()));
    let balance = eventually(Duration::from_secs(60), || async {
        let b: Value = http
            .get(format!("{base}/admin/vendors/{vendor}/balance"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (b["payouts"][0]["status"] == "paid").then_some(b)
    })
    .await
    .expect("the payout recorded paid");
    assert_eq!(
        balance["payouts"].as_array().map(Vec::len),
        Some(1),
        "{balance}"
    );
    assert_eq!(balance["paid_out_minor"], 4000, "{balance}");
    let transfers = payouts.transfers(&payout).await.expect("transfers");
    assert_eq!(transfers.len(), 1);
    assert_eq!(
        balance["payouts"][0]["transfer_id"].as_str(),
        Some(transfers[0].id.as_str())
    );
    assert_eq!(payouts.transfers_for(&payout).await.expect("count"), 1);
    drop(agora);
    pool.close().await;
}
