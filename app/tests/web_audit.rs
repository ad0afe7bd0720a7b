//! The auditor's console in a real browser, as an auditor uses it: searches the log for an
//! order's placement, opens the event, follows its request to everything the checkout caused
//! (a tree across cart, checkout, order, payment and stock), opens the order's stream (its
//! chain checked against the signed checkpoint), travels back to its first state and compares
//! two points; sees a stream rewritten behind the platform's back flagged; reads the signed
//! checkpoints (signs one more) and the payment reconciliation, which found the provider's
//! capture 1.00 short; downloads the order's stream as a signed export that verifies.
//! A binary of its own (`cargo test -p agora --test web_audit`).
//!
//! Skipped (with a message) when `chromium` or `chromedriver` is not installed; screenshots at
//! desktop width and at 375 px go to `<target>/web-screenshots/`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use agora::Roles;
use browser::browser;
use common::{people, shop, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_follows_a_checkout_through_the_log_back_in_time_and_to_its_proofs() {
    // This platform holds the auditor's key, so the console can sign and export on demand.
    let keys = tempfile::tempdir().expect("dir");
    let key_file = keys.path().join("audit.key");
    let k = key_file.clone();
    let app = common::spawn_app_with(Roles::all(), move |c| c.audit_key_file = Some(k)).await;
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
    let key = agora_audit::AuditKey::load_or_create(&key_file).expect("key");
    agora::audit::take_checkpoint(&app.pool, &key, None)
        .await
        .expect("checkpoint");
    // The provider's books say it captured 1.00 less than we did.
    sqlx::query(
        "UPDATE test_gateway_operations SET amount_minor = amount_minor - 100, fee_minor = NULL
         WHERE operation = 'capture' AND intent_id = (SELECT id FROM test_gateway_intents WHERE order_id = $1)",
    )
    .bind(&order_id)
    .execute(&app.pool)
    .await
    .expect("tamper with the provider's books");
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
    b.sign_in(&auditor.email, people::PASSWORD).await;

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
    // The order's stream, downloaded as a signed export (with the page's session), verifies.
    let session = b.cookie("agora_session").await.expect("session cookie");
    let r = app
        .http
        .get(format!(
            "{}/backoffice/audit/streams/order/{order_id}/export.tar",
            app.base
        ))
        .header("cookie", format!("agora_session={session}"))
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    let out = keys.path().join("download");
    tar::Archive::new(&r.bytes().await.expect("bytes")[..])
        .unpack(&out)
        .expect("untar");
    agora_audit::verify_export(&out.join("export"), &key.public_key()).expect("verifies");

    b.goto("/backoffice/audit/checkpoints").await;
    assert_eq!(b.count("#checkpoints tbody tr").await, 2);
    b.click("#sign-now button").await;
    b.until("a third checkpoint", Duration::from_secs(10), async |b| {
        b.count("#checkpoints tbody tr").await == 3
    })
    .await;
    assert_eq!(b.count(".notice").await, 1);
    b.shot("audit-checkpoints").await;
    b.accessible("the checkpoints").await;
    b.goto("/backoffice/reconciliation").await;
    assert_eq!(b.text("#mismatch-count").await.trim(), "1");
    let row = b.text("#mismatches tbody tr").await;
    assert!(row.contains("capture amount differs"), "{row}");
    assert!(row.contains(&order_id), "{row}");
    b.shot("reconciliation").await;
    b.accessible("the reconciliation").await;

    let _ = b.client.clone().close().await;
}

/// Analytics added after the shop has history: the shop runs without the analytics
/// projections, sells, refunds and leaves a cart; then the projections are filled by replaying
/// the whole history, and staff read the figures (a chart, the funnel, the best seller, refunds
/// by reason) and download them as CSV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_added_after_the_data_exists_are_right_from_the_first_day() {
    let mut roles = Roles::all();
    roles.projections.retain(|p| !p.starts_with("analytics_"));
    let app = spawn_app(roles).await;
    let bus = app.bus().await;
    let staff = people::with_role(&app, "stan", "staff").await;
    shop::product(&app.http, &app.base, &[("AN-1", 2000), ("AN-2", 500)], 50).await;
    shop::until_for_sale(&app.pool, &["AN-1", "AN-2"]).await;
    let mut orders = Vec::new();
    for (i, lines) in [
        vec![("AN-1", 2)],
        vec![("AN-1", 1), ("AN-2", 1)],
        vec![("AN-2", 3)],
    ]
    .iter()
    .enumerate()
    {
        let cart = shop::cart(&app.http, &app.base, lines).await;
        let order = shop::checkout_ok(
            &app.http,
            &app.base,
            &cart,
            &format!("an-{i}"),
            "pm_card_visa",
        )
        .await;
        assert_eq!(
            shop::settled(&bus, &order, Duration::from_secs(30)).await["status"],
            "confirmed"
        );
        orders.push(order);
    }
    // A cart left with an item, and one left empty: the funnel's first two stages.
    shop::cart(&app.http, &app.base, &[("AN-1", 1)]).await;
    app.create_cart().await;
    let r = app
        .http
        .post(format!("{}/admin/orders/{}/refund", app.base, orders[0]))
        .bearer_auth(common::ADMIN)
        .header("Idempotency-Key", "an-refund")
        .json(&serde_json::json!({"amount_minor": 1000}))
        .send()
        .await
        .expect("refund");
    assert_eq!(r.status(), 202);
    common::until_sql(
        &app.pool,
        &format!("SELECT count(*) = 1 FROM events WHERE aggregate_type = 'order' AND aggregate_id = '{}' AND event_type = 'OrderRefunded'", orders[0]),
        Duration::from_secs(20),
    )
    .await;

    // The new metrics, filled from the history that already exists.
    for name in ["analytics_orders", "analytics_carts", "analytics_checkouts"] {
        agora::rebuild(&app.config, name).await.expect("rebuild");
    }
    let today = chrono::Utc::now().date_naive();
    let r = app
        .http
        .get(format!(
            "{}/admin/analytics/sales.csv?from={today}&to={today}&by=product",
            app.base
        ))
        .bearer_auth(common::ADMIN)
        .send()
        .await
        .expect("csv");
    assert_eq!(r.status(), 200);
    let csv = r.text().await.expect("text");
    assert!(csv.lines().count() >= 3, "{csv}");
    assert!(csv.contains("AN-1") && csv.contains("AN-2"), "{csv}");

    let Some(b) = browser(&app.base).await else {
        return;
    };
    b.sign_in(&staff.email, people::PASSWORD).await;
    b.goto("/backoffice/analytics").await;
    assert_eq!(b.text("h1").await, "Analytics");
    assert_eq!(b.text("#customers").await, "1");
    assert!(
        b.text("#repeat").await.starts_with('1'),
        "{}",
        b.text("#repeat").await
    );
    assert_eq!(b.text("#f-paid strong").await, "3");
    assert_eq!(b.text("#f-checkouts strong").await, "3");
    let carts: i64 = b.text("#f-carts strong").await.parse().expect("carts");
    assert!(carts >= 5, "{carts}");
    assert_eq!(b.count("#sales-chart rect").await, 30);
    assert!(b.text("#top-products").await.contains("AN-1"));
    assert!(b.text("#refund-reasons").await.contains("unspecified"));
    b.shot("analytics").await;
    b.accessible("analytics").await;
    // The page's CSV link, with the person's session.
    let session = b.cookie("agora_session").await.expect("session cookie");
    let r = app
        .http
        .get(format!(
            "{}/backoffice/analytics/refunds.csv?from={today}&to={today}",
            app.base
        ))
        .header("cookie", format!("agora_session={session}"))
        .send()
        .await
        .expect("csv");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("text").contains("unspecified"));
    let _ = b.client.clone().close().await;
}
