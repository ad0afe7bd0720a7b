//! `StripeConnectPayouts` against the fake Stripe: the request it sends and how it reads
//! Stripe's answers.

use std::time::Duration;

use agora_gateway::{
    GatewayError, PayoutGateway, StripeConfig, StripeConnectPayouts, Transfer, TransferRequest,
};
use agora_kernel::{Currency, Money};
use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::fake_stripe::{assert_posted, ok, stripe_error, FakeStripe, Reply, SECRET};

fn transfer(id: &str) -> Value {
    json!({
        "id": id,
        "object": "transfer",
        "amount": 4200,
        "currency": "eur",
        "destination": "acct_1Hx9ZtAbCdEf",
        "transfer_group": "payout-1",
        "metadata": {"agora_payout_id": "payout-1", "agora_vendor_id": "vendor-1"},
        "reversed": false
    })
}

fn request(destination: &str, amount_minor: i64) -> TransferRequest {
    TransferRequest {
        idempotency_key: "payout-1/transfer".to_string(),
        payout_id: "payout-1".to_string(),
        vendor_id: "vendor-1".to_string(),
        destination: destination.to_string(),
        amount: Money::new(amount_minor, Currency::EUR),
    }
}

fn rejected_code<T: std::fmt::Debug>(result: Result<T, GatewayError>) -> String {
    match result {
        Err(GatewayError::Rejected { code, .. }) => code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_transfer_posts_the_payout_to_the_connected_account_with_the_key() {
    let stripe = FakeStripe::start(|_| ok(transfer("tr_1"))).await;
    let payouts = stripe.payouts();
    assert_eq!(payouts.name(), "stripe");
    assert_eq!(
        payouts.transfer(&request("acct_1Hx9ZtAbCdEf", 4200)).await,
        Ok(Transfer { id: "tr_1".into() })
    );
    let r = stripe.only_request();
    assert_posted(&r, "/v1/transfers", "payout-1/transfer");
    for (field, value) in [
        ("amount", "4200"),
        ("currency", "eur"),
        ("destination", "acct_1Hx9ZtAbCdEf"),
        ("transfer_group", "payout-1"),
        ("metadata[agora_payout_id]", "payout-1"),
        ("metadata[agora_vendor_id]", "vendor-1"),
    ] {
        assert_eq!(r.field(field), Some(value), "{field}");
    }
    assert_eq!(r.form.len(), 6, "{:?}", r.form);
    // Transfers are made by the platform, not on behalf of the connected account.
    assert_eq!(r.header("stripe-account"), None);
}

#[tokio::test]
async fn stripes_refusals_are_rejections_with_its_code() {
    let stripe = FakeStripe::start(|r| match r.field("destination") {
        Some("acct_broke") => stripe_error(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "invalid_request_error",
                "code": "balance_insufficient",
                "message": "You have insufficient available funds in your Stripe account."
            }),
        ),
        Some("acct_gone") => stripe_error(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "invalid_request_error",
                "code": "account_invalid",
                "message": "The provided key does not have access to account 'acct_gone'.",
                "param": "destination"
            }),
        ),
        Some("acct_reused") => stripe_error(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "idempotency_error",
                "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."
            }),
        ),
        _ => stripe_error(
            StatusCode::UNAUTHORIZED,
            json!({"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****cret"}),
        ),
    })
    .await;
    let payouts = stripe.payouts();
    assert_eq!(
        payouts.transfer(&request("acct_broke", 4200)).await,
        Err(GatewayError::Rejected {
            code: "balance_insufficient".into(),
            message: "You have insufficient available funds in your Stripe account.".into()
        })
    );
    for (destination, code) in [
        ("acct_gone", "account_invalid"),
        ("acct_reused", "idempotency_key_reused"),
        ("acct_other", "invalid_request_error"),
    ] {
        assert_eq!(
            rejected_code(payouts.transfer(&request(destination, 4200)).await),
            code,
            "{destination}"
        );
    }
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_with_an_unknown_outcome() {
    let stripe = FakeStripe::start(|_| Reply::Hang).await;
    let payouts = stripe.payouts_with_timeout(Duration::from_millis(200));
    assert_eq!(
        payouts.transfer(&request("acct_1Hx9ZtAbCdEf", 4200)).await,
        Err(GatewayError::Timeout)
    );
    // The request did reach Stripe: that is why the outcome is unknown.
    assert_eq!(stripe.requests().len(), 1);
}

#[tokio::test]
async fn a_success_we_cannot_read_is_an_unknown_outcome() {
    let stripe = FakeStripe::start(|_| ok(json!({"object": "transfer"}))).await;
    assert_eq!(
        stripe
            .payouts()
            .transfer(&request("acct_1Hx9ZtAbCdEf", 4200))
            .await,
        Err(GatewayError::Timeout)
    );
}

#[tokio::test]
async fn server_errors_rate_limits_and_concurrent_uses_of_the_key_are_unavailable() {
    for status in [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::CONFLICT,
    ] {
        let stripe = FakeStripe::start(move |_| {
            let error = if status == StatusCode::CONFLICT {
                json!({
                    "type": "idempotency_error",
                    "message": "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): payout-1/transfer. Please try again later."
                })
            } else {
                json!({"type": "api_error", "message": "An unknown error occurred"})
            };
            stripe_error(status, error)
        })
        .await;
        let result = stripe
            .payouts()
            .transfer(&request("acct_1Hx9ZtAbCdEf", 4200))
            .await;
        assert!(
            matches!(result, Err(GatewayError::Unavailable(_))),
            "{status}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable() {
    // A port that nothing listens on any more.
    let port = agora_testkit::free_port().expect("port");
    let payouts = StripeConnectPayouts::new(StripeConfig {
        secret_key: SECRET.to_string(),
        api_base: format!("http://127.0.0.1:{port}"),
        timeout: Duration::from_secs(5),
    })
    .expect("client");
    assert!(matches!(
        payouts.transfer(&request("acct_1Hx9ZtAbCdEf", 4200)).await,
        Err(GatewayError::Unavailable(_))
    ));
}

#[tokio::test]
async fn invalid_destinations_and_amounts_never_reach_stripe() {
    let stripe = FakeStripe::start(|_| ok(transfer("tr_1"))).await;
    let payouts = stripe.payouts();
    for destination in ["", "acct_", "ba_1Hx9Zt", "acct_1&amount=1"] {
        assert_eq!(
            rejected_code(payouts.transfer(&request(destination, 4200)).await),
            "invalid_destination",
            "{destination:?}"
        );
    }
    assert_eq!(
        rejected_code(payouts.transfer(&request("acct_1Hx9ZtAbCdEf", 0)).await),
        "amount_too_small"
    );
    assert!(stripe.requests().is_empty());
}

#[tokio::test]
async fn the_secret_key_is_never_printed() {
    let printed = format!(
        "{:?}",
        StripeConnectPayouts::new(StripeConfig::new(SECRET)).expect("client")
    );
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(!printed.contains("sk_test"), "{printed}");
}
