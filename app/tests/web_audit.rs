//! The auditor's console in a real browser, as an auditor uses it: searches the log for an
//! order's placement, opens the event, follows its request to everything the checkout caused
//! (a tree across cart, checkout, order, payment and stock), opens the order's stream (its
//! chain checked against the signed checkpoint), travels back to its first state and compares
//! two points; sees a stream rewritten behind the platform's back flagged; reads the signed
//! checkpoints and the payment reconciliation. A binary of its own (`cargo test -p agora
//! --test web_audit`).
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

async fn sign_in(b: &Browser, email: &str, password: &str) {
    b.goto("/account/signin").await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click("#signin").await;
    b.until("signed in", Duration::from_secs(10), async |b| {
        b.count("nav.top form[action='/account/signout']").await == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_follows_a_checkout_through_the_log_back_in_time_and_to_its_proofs() {
    let app = spawn_app(Roles::all()).await;
    let bus = app.bus().await;
    let auditor = people::with_role(&app, "aude", "auditor").await;
    shop::product(&app.http, &app.base, &[("WA-1", 1900), ("WA-2", 2400)], 10).await;
    shop::until_for_sale(&app.pool, &["WA-1", "WA-2"]).await;
    let cart = shop::cart(&app.http, &app.base, &[("WA-1", 1), ("WA-2", 2)]).await;
    let order_id =
        shop::checkout_ok(&app.http, &app.base, &cart, "web-audit", "pm_card_visa").await;
    let order = shop::settled(&bus, &order_id, Duration::from_secs(30)).await;
    assert_eq!(order["status"], "confirmed");
    // A checkpoint signed with the auditor's key, and a reconciliation run.
    let dir = tempfile::tempdir().expect("dir");
    let key = agora_audit::AuditKey::load_or_create(&dir.path().join("k")).expect("key");
    agora::audit::take_checkpoint(&app.pool, &key, None)
        .await
        .expect("checkpoint");
    let statement = agora::provider_statement(&app.config, &app.pool)
        .await
        .expect("statement");
    agora::reconcile::run(
        &app.pool,
        statement.as_ref(),
        "test",
        agora::provider_fees(&app.config).expect("fees"),
        None,
    )
    .await
    .expect("reconcile");
    // A second cart, rewritten behind the platform's back after the checkpoint.
    let (forged, token) = app.create_cart().await;
    assert_eq!(
        app.add(&forged, &token, "WA-1", 1, None).await.status(),
        200
    );
    agora::audit::take_checkpoint(&app.pool, &key, None)
        .await
        .expect("checkpoint");
    let mut tx = app.pool.begin().await.expect("tx");
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .expect("bypass");
    sqlx::query("UPDATE events SET payload = '{\"ItemAdded\": {\"sku\": \"WA-1\", \"quantity\": 9}}' WHERE aggregate_type = 'cart' AND aggregate_id = $1 AND sequence = 2")
        .bind(&forged)
        .execute(&mut *tx)
        .await
        .expect("tamper");
    tx.commit().await.expect("commit");

    let Some(b) = browser(&app.base).await else {
        return;
    };
    sign_in(&b, &auditor.email, people::PASSWORD).await;

    // The log, searched by event type.
    b.goto("/backoffice/audit").await;
    assert_eq!(b.text("h1").await, "Audit log");
    assert!(b.count("#events tbody tr").await > 10);
    b.fill("#et", "OrderPlaced").await;
    b.click("form.filters button[type=submit]").await;
    b.until("the search", Duration::from_secs(10), async |b| {
        b.count("#events tbody tr").await == 1
    })
    .await;
    b.shot("audit-log").await;
    b.accessible("the audit log").await;

    // The event, then everything its request caused.
    b.click("#events tbody tr td a").await;
    b.until("the event page", Duration::from_secs(10), async |b| {
        b.text("h1").await == "OrderPlaced"
    })
    .await;
    assert!(b.text("#event-facts").await.contains(&order_id));
    b.shot("audit-event").await;
    b.accessible("an event").await;
    b.click("#correlation").await;
    b.until("the causal chain", Duration::from_secs(10), async |b| {
        b.count("#tree li").await > 0
    })
    .await;
    let summary = b.text("#summary").await;
    for stream in ["cart", "checkout", "order", "payment", "stock"] {
        assert!(summary.contains(stream), "{stream} missing: {summary}");
    }
    assert!(b.text("#tree").await.contains("PaymentCaptured"));
    b.shot("audit-causal-chain").await;
    b.accessible("a causal chain").await;

    // The order's stream: intact and anchored; its state after the first event; a diff.
    b.goto(&format!("/backoffice/audit/streams/order/{order_id}"))
        .await;
    let verdict = b.text("#verdict").await;
    assert!(verdict.contains("Hash chain intact"), "{verdict}");
    assert!(verdict.contains("signed checkpoint"), "{verdict}");
    b.fill("#seq", "1").await;
    b.click("form.inline-form:nth-of-type(1) button").await;
    b.until("the state", Duration::from_secs(10), async |b| {
        b.count("#state").await == 1
    })
    .await;
    assert!(b.text("#state-title").await.contains("#1"));
    assert!(
        b.text("#state").await.contains("\"placed\""),
        "{}",
        b.text("#state").await
    );
    b.shot("audit-time-travel").await;
    b.fill("#from-seq", "1").await;
    let head = b.count("#stream-events tbody tr").await;
    b.fill("#to-seq", &head.to_string()).await;
    b.click("form.inline-form:nth-of-type(3) button").await;
    b.until("the diff", Duration::from_secs(10), async |b| {
        b.count("#diff tbody tr").await > 0
    })
    .await;
    assert!(b.text("#diff").await.contains("/status"));
    b.shot("audit-diff").await;
    b.accessible("a stream with time travel").await;

    // The rewritten cart is flagged.
    b.goto(&format!("/backoffice/audit/streams/cart/{forged}"))
        .await;
    assert!(b.text("#verdict").await.contains("Does not check out"));
    assert!(b
        .text("#problem")
        .await
        .contains("hash chain breaks at event #2"));
    b.shot("audit-tampered").await;

    // The signed checkpoints and the reconciliation.
    b.goto("/backoffice/audit/checkpoints").await;
    assert_eq!(b.count("#checkpoints tbody tr").await, 2);
    b.shot("audit-checkpoints").await;
    b.accessible("the checkpoints").await;
    b.goto("/backoffice/reconciliation").await;
    assert_eq!(b.text("#mismatch-count").await.trim(), "0");
    assert!(b.text("#run").await.contains("all agree"));
    b.shot("reconciliation").await;
    b.accessible("the reconciliation").await;

    let _ = b.client.clone().close().await;
}
