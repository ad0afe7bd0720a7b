//! Payment reconciliation end to end: real checkouts and refunds through the test provider,
//! then the provider's own records tampered with, one kind of mismatch per order; the run
//! reports each seeded mismatch once and nothing else, and staff read it from the API.

mod common;

use std::time::Duration;

use agora::Roles;
use agora_testkit::eventually;
use common::{shop, spawn_app, TestApp, ADMIN};
use serde_json::{json, Value};

async fn intent(app: &TestApp, order_id: &str) -> String {
    sqlx::query_scalar("SELECT id FROM test_gateway_intents WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&app.pool)
        .await
        .expect("intent")
}

async fn provider_sql(app: &TestApp, sql: &str, intent: &str) {
    let n = sqlx::query(sql)
        .bind(intent)
        .execute(&app.pool)
        .await
        .expect("tamper")
        .rows_affected();
    assert!(n >= 1, "{sql} changed nothing");
}

async fn reconcile(app: &TestApp) -> agora::reconcile::Run {
    let statement = agora::provider_statement(&app.config, &app.pool)
        .await
        .expect("statement");
    let fees = agora::provider_fees(&app.config).expect("fees");
    agora::reconcile::run(&app.pool, statement.as_ref(), "test", fees, None)
        .await
        .expect("run")
}

async fn refund(app: &TestApp, order_id: &str, amount: i64) {
    let r = app
        .http
        .post(format!("{}/admin/orders/{order_id}/refund", app.base))
        .bearer_auth(ADMIN)
        .header("Idempotency-Key", format!("refund-{order_id}"))
        .json(&json!({"amount_minor": amount}))
        .send()
        .await
        .expect("refund");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let pool = app.pool.clone();
    let order_id = order_id.to_string();
    eventually(Duration::from_secs(20), || {
        let pool = pool.clone();
        let order_id = order_id.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM test_gateway_operations o JOIN test_gateway_intents i ON i.id = o.intent_id
                 WHERE i.order_id = $1 AND o.operation = 'refund'",
            )
            .bind(&order_id)
            .fetch_one(&pool)
            .await
            .ok()?;
            let refunded: i64 = sqlx::query_scalar(
                "SELECT refunded_minor FROM payments WHERE payment_id = $1",
            )
            .bind(&order_id)
            .fetch_optional(&pool)
            .await
            .ok()??;
            (n == 1 && refunded > 0).then_some(())
        }
    })
    .await
    .expect("the refund is recorded on both sides");
}

#[tokio::test]
async fn each_seeded_mismatch_is_reported_once_and_nothing_else() {
    let app = spawn_app(Roles::all()).await;
    let bus = app.bus().await;
    shop::product(&app.http, &app.base, &[("RC-1", 2500)], 100).await;
    shop::until_for_sale(&app.pool, &["RC-1"]).await;
    let mut orders = Vec::new();
    for i in 0..8 {
        let cart = shop::cart(&app.http, &app.base, &[("RC-1", 1)]).await;
        let order = shop::checkout_ok(
            &app.http,
            &app.base,
            &cart,
            &format!("rc-{i}"),
            "pm_card_visa",
        )
        .await;
        orders.push(order);
    }
    for order in &orders {
        let settled = shop::settled(&bus, order, Duration::from_secs(30)).await;
        assert_eq!(settled["status"], "confirmed", "{settled}");
    }
    let (a, b, c, d, e, f, g, clean) = (
        &orders[0], &orders[1], &orders[2], &orders[3], &orders[4], &orders[5], &orders[6],
        &orders[7],
    );
    refund(&app, c, 500).await;
    refund(&app, e, 700).await;
    refund(&app, clean, 300).await;
    until_payments_projected(&app, &orders).await;

    // Both sides agree at first.
    let first = reconcile(&app).await;
    assert!(first.mismatches.is_empty(), "{:?}", first.mismatches);
    assert_eq!(first.payments, 8);
    assert_eq!(first.records, 8 + 3);

    // The provider's books go wrong, one way per order.
    provider_sql(
        &app,
        "DELETE FROM test_gateway_operations WHERE intent_id = $1 AND operation = 'capture'",
        &intent(&app, a).await,
    )
    .await;
    provider_sql(&app, "UPDATE test_gateway_operations SET amount_minor = amount_minor - 100, fee_minor = NULL WHERE intent_id = $1 AND operation = 'capture'", &intent(&app, b).await).await;
    provider_sql(
        &app,
        "DELETE FROM test_gateway_operations WHERE intent_id = $1 AND operation = 'refund'",
        &intent(&app, c).await,
    )
    .await;
    provider_sql(&app, "INSERT INTO test_gateway_operations (intent_id, operation, amount_minor, currency, reference, fee_minor, agora_refund_id)
                       SELECT $1, 'refund', 400, currency, 're_unknown', 0, 'refund-nobody-asked-for' FROM test_gateway_intents WHERE id = $1", &intent(&app, d).await).await;
    provider_sql(&app, "UPDATE test_gateway_operations SET amount_minor = amount_minor - 50 WHERE intent_id = $1 AND operation = 'refund'", &intent(&app, e).await).await;
    provider_sql(&app, "UPDATE test_gateway_operations SET fee_minor = fee_minor + 7 WHERE intent_id = $1 AND operation = 'capture'", &intent(&app, f).await).await;
    provider_sql(&app, "UPDATE test_gateway_operations SET currency = 'USD' WHERE intent_id = $1 AND operation = 'capture'", &intent(&app, g).await).await;
    provider_sql(&app, "INSERT INTO test_gateway_intents (id, order_id, amount_minor, currency, payment_method, status, amount_captured)
                       VALUES ($1, 'not-our-order', 990, 'EUR', 'pm_card_visa', 'succeeded', 990)", "pi_test_stranger").await;
    provider_sql(&app, "INSERT INTO test_gateway_operations (intent_id, operation, amount_minor, currency, fee_minor)
                       VALUES ($1, 'capture', 990, 'EUR', 59)", "pi_test_stranger").await;

    let run = reconcile(&app).await;
    let mut found: Vec<(String, Option<String>)> = run
        .mismatches
        .iter()
        .map(|m| (m.kind.as_str().to_string(), m.payment_id.clone()))
        .collect();
    found.sort();
    let mut expected = vec![
        ("captured_here_not_there".to_string(), Some(a.clone())),
        ("capture_amount_differs".to_string(), Some(b.clone())),
        ("refund_missing_there".to_string(), Some(c.clone())),
        ("refund_missing_here".to_string(), Some(d.clone())),
        ("refund_amount_differs".to_string(), Some(e.clone())),
        ("fee_differs".to_string(), Some(f.clone())),
        ("currency_differs".to_string(), Some(g.clone())),
        ("captured_there_not_here".to_string(), None),
    ];
    expected.sort();
    assert_eq!(found, expected, "{:#?}", run.mismatches);

    // Staff read the latest run; a vendor or a customer may not.
    let r = app
        .http
        .get(format!("{}/admin/reconciliation", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["run"]["id"].as_i64(), Some(run.id));
    assert_eq!(body["run"]["mismatches"], 8);
    assert_eq!(body["mismatches"].as_array().map(Vec::len), Some(8));
    let stranger = body["mismatches"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["kind"] == "captured_there_not_here"))
        .cloned()
        .expect("the stranger's capture");
    assert_eq!(stranger["provider_ref"], "pi_test_stranger");
    assert_eq!(stranger["theirs_minor"], 990);
    app.stop().await;
}

async fn until_payments_projected(app: &TestApp, orders: &[String]) {
    let pool = app.pool.clone();
    let orders = orders.to_vec();
    eventually(Duration::from_secs(20), || {
        let pool = pool.clone();
        let orders = orders.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM payments WHERE payment_id = ANY($1) AND captured_minor > 0",
            )
            .bind(&orders)
            .fetch_one(&pool)
            .await
            .ok()?;
            (n == orders.len() as i64).then_some(())
        }
    })
    .await
    .expect("payments projected");
}
