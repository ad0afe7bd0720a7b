//! `TestGateway` as a `ProviderStatement`, against a private Postgres database per test.

use agora_gateway::{
    reconcile, AuthorizationOutcome, AuthorizeRequest, FeeRule, OurPayment, OurRefund,
    PaymentGateway, ProviderRecord, ProviderStatement, RecordKind, TestGateway,
};
use agora_kernel::{Currency, Money};
use agora_payment::RefundStatus;
use agora_testkit::TestDb;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// A gateway on a fresh database; the `TestDb` must outlive it.
struct Harness {
    gateway: TestGateway,
    pool: PgPool,
    _db: TestDb,
}

async fn database() -> anyhow::Result<(TestDb, PgPool)> {
    let db = TestDb::create().await?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&db.url())
        .await?;
    Ok((db, pool))
}

async fn harness() -> anyhow::Result<Harness> {
    let (db, pool) = database().await?;
    let gateway = TestGateway::new(pool.clone()).await?;
    Ok(Harness {
        gateway,
        pool,
        _db: db,
    })
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

/// Authorizes `amount_minor` with a Visa card and returns the intent id.
async fn authorized(h: &Harness, order_id: &str, amount_minor: i64) -> anyhow::Result<String> {
    let request = AuthorizeRequest {
        idempotency_key: format!("{order_id}/authorize"),
        order_id: order_id.to_string(),
        amount: eur(amount_minor),
        payment_method: "pm_card_visa".to_string(),
    };
    match h.gateway.authorize(&request).await? {
        AuthorizationOutcome::Authorized { provider_ref } => Ok(provider_ref),
        other => anyhow::bail!("expected an authorization, got {other:?}"),
    }
}

/// An hour either side of now: everything a test just did.
fn around_now() -> (DateTime<Utc>, DateTime<Utc>) {
    let now = Utc::now();
    (now - TimeDelta::hours(1), now + TimeDelta::hours(1))
}

/// The part of a record a test can predict (its id and time are the provider's).
fn summary(r: &ProviderRecord) -> (RecordKind, &str, Option<&str>, Money, Money) {
    (
        r.kind,
        r.provider_ref.as_str(),
        r.our_refund_id.as_deref(),
        r.amount,
        r.fee,
    )
}

#[tokio::test]
async fn the_statement_lists_the_captures_and_refunds_performed_with_their_fees(
) -> anyhow::Result<()> {
    // Given a payment captured in full and partly refunded, one captured in part, and one
    // voided
    let h = harness().await?;
    let pi_1 = authorized(&h, "order-1", 2500).await?;
    h.gateway
        .capture("order-1/capture", &pi_1, eur(2500))
        .await?;
    let re_1 = h
        .gateway
        .refund("order-1/refund/rf-1", &pi_1, eur(500), "rf-1", "order-1")
        .await?;
    let pi_2 = authorized(&h, "order-2", 1000).await?;
    h.gateway
        .capture("order-2/capture", &pi_2, eur(800))
        .await?;
    let pi_3 = authorized(&h, "order-3", 700).await?;
    h.gateway.void("order-3/void", &pi_3).await?;

    // When the statement of the hour around now is read
    let (from, to) = around_now();
    let records = h.gateway.records(from, to).await?;

    // Then it lists the captures (fee 2.9% + 30) and the refund (fee 0), oldest first, and no
    // authorization or void
    assert_eq!(
        records.iter().map(summary).collect::<Vec<_>>(),
        vec![
            (
                RecordKind::Capture,
                pi_1.as_str(),
                None,
                eur(2500),
                eur(103)
            ),
            (
                RecordKind::Refund,
                pi_1.as_str(),
                Some("rf-1"),
                eur(500),
                eur(0)
            ),
            (RecordKind::Capture, pi_2.as_str(), None, eur(800), eur(53)),
        ]
    );
    assert_eq!(records[1].refund_ref.as_deref(), Some(re_1.as_str()));
    assert_eq!(records[0].refund_ref, None);
    assert!(records.iter().all(|r| r.id.starts_with("txn_test_")));
    assert!(records.iter().all(|r| from <= r.at && r.at < to));
    assert_eq!(TestGateway::FEES, "2.9%+30".parse::<FeeRule>()?);

    // And reconciled with what we recorded, under the test provider's fee rule, nothing differs
    let ours = [
        OurPayment {
            payment_id: "order-1".into(),
            provider_ref: pi_1.clone(),
            captured: eur(2500),
            refunds: vec![OurRefund {
                refund_id: "rf-1".into(),
                provider_refund_id: None,
                amount: eur(500),
                status: RefundStatus::Succeeded,
            }],
        },
        OurPayment {
            payment_id: "order-2".into(),
            provider_ref: pi_2,
            captured: eur(800),
            refunds: vec![],
        },
        OurPayment {
            payment_id: "order-3".into(),
            provider_ref: pi_3,
            captured: eur(0),
            refunds: vec![],
        },
    ];
    assert_eq!(reconcile(&ours, &records, Some(&TestGateway::FEES)), vec![]);
    Ok(())
}

#[tokio::test]
async fn a_replayed_capture_or_refund_appears_once() -> anyhow::Result<()> {
    // Given a capture and a refund each retried with their key
    let h = harness().await?;
    let pi = authorized(&h, "order-1", 2500).await?;
    for _ in 0..2 {
        h.gateway.capture("order-1/capture", &pi, eur(2500)).await?;
        h.gateway
            .refund("order-1/refund/rf-1", &pi, eur(500), "rf-1", "order-1")
            .await?;
    }
    // When the statement is read
    let (from, to) = around_now();
    let records = h.gateway.records(from, to).await?;
    // Then each effect is listed once
    assert_eq!(
        records.iter().map(|r| r.kind).collect::<Vec<_>>(),
        vec![RecordKind::Capture, RecordKind::Refund]
    );
    Ok(())
}

#[tokio::test]
async fn records_outside_the_time_range_are_excluded() -> anyhow::Result<()> {
    // Given a payment captured two days ago (its log moved back in time) and one captured now
    let h = harness().await?;
    let old = authorized(&h, "order-old", 1000).await?;
    h.gateway
        .capture("order-old/capture", &old, eur(1000))
        .await?;
    let new = authorized(&h, "order-new", 2000).await?;
    h.gateway
        .capture("order-new/capture", &new, eur(2000))
        .await?;
    let two_days_ago = Utc::now() - TimeDelta::days(2);
    sqlx::query("UPDATE test_gateway_operations SET at = $2 WHERE intent_id = $1")
        .bind(&old)
        .bind(two_days_ago)
        .execute(&h.pool)
        .await?;

    // When the statement of the last hour is read
    let (from, to) = around_now();
    let recent = h.gateway.records(from, to).await?;
    // Then only the recent capture is in it
    assert_eq!(
        recent
            .iter()
            .map(|r| r.provider_ref.as_str())
            .collect::<Vec<_>>(),
        vec![new.as_str()]
    );

    // And the statement of three days ago to yesterday holds only the old one
    let older = h
        .gateway
        .records(
            Utc::now() - TimeDelta::days(3),
            Utc::now() - TimeDelta::days(1),
        )
        .await?;
    assert_eq!(
        older
            .iter()
            .map(|r| r.provider_ref.as_str())
            .collect::<Vec<_>>(),
        vec![old.as_str()]
    );

    // And the range includes its start and excludes its end
    let at = older.first().map(|r| r.at).expect("the old capture");
    assert_eq!(
        h.gateway
            .records(at, at + TimeDelta::seconds(1))
            .await?
            .len(),
        1
    );
    assert_eq!(
        h.gateway
            .records(at - TimeDelta::seconds(1), at)
            .await?
            .len(),
        0
    );
    // And an empty range is empty
    assert_eq!(h.gateway.records(to, from).await?.len(), 0);
    Ok(())
}

/// The tables as the test gateway created them before it kept a statement.
const SCHEMA_BEFORE_STATEMENTS: &str = r#"
CREATE TABLE test_gateway_intents (
    id              text PRIMARY KEY,
    order_id        text NOT NULL,
    amount_minor    bigint NOT NULL,
    currency        text NOT NULL,
    payment_method  text NOT NULL,
    status          text NOT NULL,
    client_secret   text,
    last_error_code text,
    amount_captured bigint NOT NULL DEFAULT 0,
    amount_refunded bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE test_gateway_operations (
    seq          bigserial PRIMARY KEY,
    intent_id    text NOT NULL REFERENCES test_gateway_intents (id),
    operation    text NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
    amount_minor bigint NOT NULL,
    currency     text NOT NULL,
    reference    text,
    at           timestamptz NOT NULL DEFAULT now()
);
INSERT INTO test_gateway_intents (id, order_id, amount_minor, currency, payment_method, status,
                                  amount_captured, amount_refunded)
VALUES ('pi_test_old', 'order-old', 2500, 'EUR', 'pm_card_visa', 'succeeded', 2500, 500);
INSERT INTO test_gateway_operations (intent_id, operation, amount_minor, currency, reference)
VALUES ('pi_test_old', 'authorize', 2500, 'EUR', NULL),
       ('pi_test_old', 'capture', 2500, 'EUR', NULL),
       ('pi_test_old', 'refund', 500, 'EUR', 're_test_old');
"#;

#[tokio::test]
async fn a_database_from_before_statements_is_upgraded_and_its_log_read() -> anyhow::Result<()> {
    // Given a database whose test-gateway tables predate the statement, with a payment in it
    let (db, pool) = database().await?;
    sqlx::raw_sql(SCHEMA_BEFORE_STATEMENTS)
        .execute(&pool)
        .await?;

    // When the gateway starts on it (twice, as two processes would) and a new refund is made
    let gateway = TestGateway::new(pool.clone()).await?;
    TestGateway::new(pool.clone()).await?;
    let h = Harness {
        gateway,
        pool,
        _db: db,
    };
    h.gateway
        .refund(
            "order-old/refund/rf-2",
            "pi_test_old",
            eur(300),
            "rf-2",
            "order-old",
        )
        .await?;

    // Then the old capture is read with the fee the provider charges, the old refund without our
    // id (it was not kept), and the new refund with it
    let (from, to) = around_now();
    let records = h.gateway.records(from, to).await?;
    assert_eq!(
        records.iter().map(summary).collect::<Vec<_>>(),
        vec![
            (
                RecordKind::Capture,
                "pi_test_old",
                None,
                eur(2500),
                eur(103)
            ),
            (RecordKind::Refund, "pi_test_old", None, eur(500), eur(0)),
            (
                RecordKind::Refund,
                "pi_test_old",
                Some("rf-2"),
                eur(300),
                eur(0)
            ),
        ]
    );
    assert_eq!(records[1].refund_ref.as_deref(), Some("re_test_old"));
    Ok(())
}
