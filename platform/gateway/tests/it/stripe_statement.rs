//! `StripeGateway` as a `ProviderStatement`: balance transactions read from a local server that
//! plays Stripe's API.

use agora_gateway::{GatewayError, ProviderRecord, ProviderStatement, RecordKind};
use agora_kernel::{Currency, Money};
use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use crate::fake_stripe::{assert_signed, ok, stripe_error, FakeStripe, Recorded};

/// 2025-06-15T15:06:40Z, a whole second.
const T0: i64 = 1_750_000_000;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(T0 + seconds, 0).expect("in range")
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

fn usd(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::USD)
}

fn txn(id: &str, kind: &str, amount: i64, fee: i64, created: i64, source: Value) -> Value {
    json!({
        "id": id,
        "object": "balance_transaction",
        "amount": amount,
        "currency": "eur",
        "fee": fee,
        "net": amount - fee,
        "created": T0 + created,
        "available_on": T0 + created + 86_400,
        "status": "pending",
        "type": kind,
        "source": source
    })
}

fn charge(id: &str, payment_intent: Option<&str>, amount: i64, currency: &str) -> Value {
    json!({
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "currency": currency,
        "payment_intent": payment_intent,
        "metadata": {"agora_order_id": "order-1"}
    })
}

fn stripe_refund(id: &str, payment_intent: &str, amount: i64, ours: Option<&str>) -> Value {
    let metadata = match ours {
        Some(ours) => json!({"agora_refund_id": ours, "agora_order_id": "order-1"}),
        None => json!({}),
    };
    json!({
        "id": id,
        "object": "refund",
        "amount": amount,
        "currency": "eur",
        "charge": "ch_1",
        "payment_intent": payment_intent,
        "status": "succeeded",
        "metadata": metadata
    })
}

fn list(data: Vec<Value>, has_more: bool) -> Value {
    json!({
        "object": "list",
        "url": "/v1/balance_transactions",
        "has_more": has_more,
        "data": data
    })
}

/// Two pages: captures, refunds, a reversed refund, a converted payment, and transactions
/// that are no capture or refund.
fn two_pages(r: &Recorded) -> crate::fake_stripe::Reply {
    match r.field("starting_after") {
        None => ok(list(
            vec![
                txn(
                    "txn_1",
                    "charge",
                    2500,
                    103,
                    10,
                    charge("ch_1", Some("pi_1"), 2500, "eur"),
                ),
                txn("txn_fee", "stripe_fee", -150, 0, 11, Value::Null),
                txn(
                    "txn_2",
                    "refund",
                    -500,
                    0,
                    20,
                    stripe_refund("re_1", "pi_1", 500, Some("rf-1")),
                ),
            ],
            true,
        )),
        Some("txn_2") => ok(list(
            vec![
                txn(
                    "txn_3",
                    "refund_failure",
                    500,
                    0,
                    30,
                    stripe_refund("re_1", "pi_1", 500, Some("rf-1")),
                ),
                // A USD payment settled in EUR: the amount is the charge's, the fee Stripe's.
                txn(
                    "txn_4",
                    "payment",
                    2300,
                    95,
                    5,
                    charge("py_2", Some("pi_2"), 2500, "usd"),
                ),
                txn(
                    "txn_5",
                    "payment_refund",
                    -700,
                    0,
                    40,
                    stripe_refund("pyr_3", "pi_3", 700, None),
                ),
                txn(
                    "txn_6",
                    "charge",
                    900,
                    56,
                    50,
                    charge("ch_legacy", None, 900, "eur"),
                ),
                txn("txn_payout", "payout", -5000, 0, 60, Value::Null),
            ],
            false,
        )),
        Some(other) => stripe_error(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "invalid_request_error",
                "message": format!("unexpected cursor {other}")
            }),
        ),
    }
}

fn record(
    id: &str,
    kind: RecordKind,
    provider_ref: &str,
    refund: Option<(&str, Option<&str>)>,
    amount: Money,
    fee: Money,
    seconds: i64,
) -> ProviderRecord {
    ProviderRecord {
        id: id.to_string(),
        kind,
        provider_ref: provider_ref.to_string(),
        refund_ref: refund.map(|(re, _)| re.to_string()),
        our_refund_id: refund.and_then(|(_, ours)| ours).map(str::to_string),
        amount,
        fee,
        at: at(seconds),
    }
}

#[tokio::test]
async fn the_statement_reads_every_page_of_balance_transactions() {
    // Given Stripe's balance transactions over two pages
    let stripe = FakeStripe::start(two_pages).await;

    // When the statement of a range is read
    let records = stripe
        .gateway()
        .records(at(0), at(3600))
        .await
        .expect("the statement");

    // Then captures and refunds of both pages are listed, oldest first, and nothing else
    use RecordKind::{Capture, Refund};
    assert_eq!(
        records,
        vec![
            record("txn_4", Capture, "pi_2", None, usd(2500), eur(95), 5),
            record("txn_1", Capture, "pi_1", None, eur(2500), eur(103), 10),
            record(
                "txn_2",
                Refund,
                "pi_1",
                Some(("re_1", Some("rf-1"))),
                eur(500),
                eur(0),
                20
            ),
            record(
                "txn_3",
                Refund,
                "pi_1",
                Some(("re_1", Some("rf-1"))),
                eur(-500),
                eur(0),
                30
            ),
            record(
                "txn_5",
                Refund,
                "pi_3",
                Some(("pyr_3", None)),
                eur(700),
                eur(0),
                40
            ),
            record("txn_6", Capture, "ch_legacy", None, eur(900), eur(56), 50),
        ]
    );

    // And the second page was asked after the last transaction of the first, with the same
    // filters, expanded sources and the largest page
    let requests = stripe.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    for (r, cursor) in requests.iter().zip([None, Some("txn_2")]) {
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.path, "/v1/balance_transactions");
        assert_signed(r);
        assert_eq!(r.header("idempotency-key"), None);
        assert_eq!(r.field("created[gte]"), Some(&*T0.to_string()));
        assert_eq!(r.field("created[lt]"), Some(&*(T0 + 3600).to_string()));
        assert_eq!(r.field("limit"), Some("100"));
        assert_eq!(r.field("expand[]"), Some("data.source"));
        assert_eq!(r.field("starting_after"), cursor);
    }
}

#[tokio::test]
async fn a_range_in_fractions_of_seconds_asks_for_the_same_whole_seconds() {
    // Given a range that starts and ends inside a second
    let stripe = FakeStripe::start(|_| ok(list(vec![], false))).await;
    let half = TimeDelta::milliseconds(500);

    // When its statement is read
    let records = stripe
        .gateway()
        .records(at(0) + half, at(60) + half)
        .await
        .expect("the statement");

    // Then Stripe is asked for the seconds whose transactions fall inside it
    assert_eq!(records, vec![]);
    let r = stripe.only_request();
    assert_eq!(r.field("created[gte]"), Some(&*(T0 + 1).to_string()));
    assert_eq!(r.field("created[lt]"), Some(&*(T0 + 61).to_string()));
}

#[tokio::test]
async fn an_empty_range_asks_nothing() {
    let stripe = FakeStripe::start(|_| ok(list(vec![], false))).await;
    let records = stripe.gateway().records(at(60), at(60)).await;
    assert_eq!(records, Ok(vec![]));
    assert_eq!(stripe.requests().len(), 0);
}

#[tokio::test]
async fn a_transaction_whose_source_is_not_expanded_is_refused_not_skipped() {
    // Given a charge transaction whose source is only an id
    let stripe = FakeStripe::start(|_| {
        ok(list(
            vec![txn("txn_1", "charge", 2500, 103, 10, json!("ch_1"))],
            false,
        ))
    })
    .await;
    // When the statement is read
    let result = stripe.gateway().records(at(0), at(60)).await;
    // Then it fails: a skipped record would hide a mismatch
    assert_eq!(
        result.map_err(|e| e.code().to_string()),
        Err("malformed_statement".to_string())
    );
}

#[tokio::test]
async fn more_pages_announced_after_an_empty_one_is_refused() {
    let stripe = FakeStripe::start(|_| ok(list(vec![], true))).await;
    let result = stripe.gateway().records(at(0), at(60)).await;
    assert_eq!(
        result.map_err(|e| e.code().to_string()),
        Err("malformed_statement".to_string())
    );
    assert_eq!(stripe.requests().len(), 1);
}

#[tokio::test]
async fn stripe_failing_or_refusing_the_list_is_unavailable_or_rejected() {
    let down = FakeStripe::start(|_| {
        stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"type": "api_error"}),
        )
    })
    .await;
    assert!(matches!(
        down.gateway().records(at(0), at(60)).await,
        Err(GatewayError::Unavailable(_))
    ));

    let refused = FakeStripe::start(|_| {
        stripe_error(
            StatusCode::FORBIDDEN,
            json!({"type": "invalid_request_error", "code": "secret_key_required",
                   "message": "this key may not read balance transactions"}),
        )
    })
    .await;
    assert_eq!(
        refused
            .gateway()
            .records(at(0), at(60))
            .await
            .map_err(|e| e.code().to_string()),
        Err("secret_key_required".to_string())
    );
}
