//! `StripeGateway` against a local server (port 0) that plays Stripe's API: it records every
//! request and answers from a script.

use std::time::Duration;

use agora_gateway::{
    AuthorizationOutcome, AuthorizeRequest, GatewayError, PaymentGateway, StripeConfig,
    StripeGateway,
};
use agora_kernel::{Currency, Money};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fake_stripe::{
    assert_posted, assert_signed, ok, stripe_error, FakeStripe, Reply, SECRET,
};

fn intent(id: &str, status: &str) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": 2500,
        "capture_method": "manual",
        "client_secret": format!("{id}_secret_abc"),
        "currency": "eur",
        "last_payment_error": null,
        "metadata": {"agora_order_id": "order-1"},
        "status": status
    })
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

fn request(payment_method: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        idempotency_key: "pay-1/authorize".to_string(),
        order_id: "order-1".to_string(),
        amount: eur(2500),
        payment_method: payment_method.to_string(),
    }
}

#[tokio::test]
async fn authorize_creates_a_confirmed_manual_capture_intent() {
    let stripe = FakeStripe::start(|_| ok(intent("pi_1", "requires_capture"))).await;
    let gateway = stripe.gateway();
    assert_eq!(gateway.name(), "stripe");
    let outcome = gateway.authorize(&request("pm_card_visa")).await;
    assert_eq!(
        outcome,
        Ok(AuthorizationOutcome::Authorized {
            provider_ref: "pi_1".into()
        })
    );
    let r = stripe.only_request();
    assert_posted(&r, "/v1/payment_intents", "pay-1/authorize");
    for (field, value) in [
        ("amount", "2500"),
        ("currency", "eur"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
        ("capture_method", "manual"),
        ("payment_method_types[]", "card"),
        ("metadata[agora_order_id]", "order-1"),
    ] {
        assert_eq!(r.field(field), Some(value), "{field}");
    }
}

#[tokio::test]
async fn an_intent_requiring_action_hands_back_the_client_secret() {
    let stripe = FakeStripe::start(|_| ok(intent("pi_2", "requires_action"))).await;
    assert_eq!(
        stripe
            .gateway()
            .authorize(&request("pm_card_authenticationRequired"))
            .await,
        Ok(AuthorizationOutcome::RequiresAction {
            provider_ref: "pi_2".into(),
            client_secret: Some("pi_2_secret_abc".into())
        })
    );
}

#[tokio::test]
async fn a_card_error_is_a_decline_with_stripes_decline_code() {
    let stripe = FakeStripe::start(|_| {
        stripe_error(
            StatusCode::PAYMENT_REQUIRED,
            json!({
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
                "payment_intent": intent("pi_3", "requires_payment_method"),
                "request_log_url": "https://dashboard.stripe.com/test/logs/req_1"
            }),
        )
    })
    .await;
    assert_eq!(
        stripe
            .gateway()
            .authorize(&request("pm_card_chargeDeclinedInsufficientFunds"))
            .await,
        Ok(AuthorizationOutcome::Declined {
            provider_ref: Some("pi_3".into()),
            code: "insufficient_funds".into()
        })
    );
}

#[tokio::test]
async fn a_card_error_without_decline_code_or_intent_still_declines() {
    let stripe = FakeStripe::start(|_| {
        stripe_error(
            StatusCode::PAYMENT_REQUIRED,
            json!({"type": "card_error", "code": "expired_card", "message": "Your card has expired."}),
        )
    })
    .await;
    assert_eq!(
        stripe
            .gateway()
            .authorize(&request("pm_card_chargeDeclinedExpiredCard"))
            .await,
        Ok(AuthorizationOutcome::Declined {
            provider_ref: None,
            code: "expired_card".into()
        })
    );
}

#[tokio::test]
async fn an_intent_back_to_requires_payment_method_is_a_decline() {
    let stripe = FakeStripe::start(|_| {
        let mut pi = intent("pi_4", "requires_payment_method");
        pi["last_payment_error"] = json!({"type": "card_error", "code": "card_declined", "decline_code": "generic_decline"});
        ok(pi)
    })
    .await;
    assert_eq!(
        stripe
            .gateway()
            .authorize(&request("pm_card_chargeDeclined"))
            .await,
        Ok(AuthorizationOutcome::Declined {
            provider_ref: Some("pi_4".into()),
            code: "generic_decline".into()
        })
    );
}

#[tokio::test]
async fn a_card_number_never_leaves_our_process() {
    let stripe = FakeStripe::start(|_| ok(intent("pi_1", "requires_capture"))).await;
    let result = stripe
        .gateway()
        .authorize(&request("4242424242424242"))
        .await;
    assert!(matches!(
        result,
        Err(GatewayError::Rejected { ref code, .. }) if code == "invalid_payment_method"
    ));
    assert!(stripe.requests().is_empty());
}

#[tokio::test]
async fn confirm_reads_the_intent_and_maps_its_status() {
    // The intent id names the status the fake answers with.
    let stripe = FakeStripe::start(|r| {
        let status = r.path.trim_start_matches("/v1/payment_intents/pi_");
        ok(intent(&format!("pi_{status}"), status))
    })
    .await;
    let gateway = stripe.gateway();
    let authorized = |id: &str| {
        Ok(AuthorizationOutcome::Authorized {
            provider_ref: id.to_string(),
        })
    };
    assert_eq!(
        gateway
            .confirm("pay-1/confirm", "pi_requires_capture")
            .await,
        authorized("pi_requires_capture")
    );
    assert_eq!(
        gateway.confirm("pay-1/confirm", "pi_succeeded").await,
        authorized("pi_succeeded")
    );
    assert_eq!(
        gateway.confirm("pay-1/confirm", "pi_requires_action").await,
        Ok(AuthorizationOutcome::RequiresAction {
            provider_ref: "pi_requires_action".into(),
            client_secret: Some("pi_requires_action_secret_abc".into())
        })
    );
    assert_eq!(
        gateway
            .confirm("pay-1/confirm", "pi_requires_payment_method")
            .await,
        Ok(AuthorizationOutcome::Declined {
            provider_ref: Some("pi_requires_payment_method".into()),
            code: "payment_failed".into()
        })
    );
    assert!(matches!(
        gateway.confirm("pay-1/confirm", "pi_canceled").await,
        Err(GatewayError::Rejected { ref code, .. }) if code == "payment_intent_unexpected_state"
    ));
    for r in stripe.requests() {
        assert_eq!(r.method, Method::GET);
        assert_signed(&r);
    }
}

#[tokio::test]
async fn an_id_that_is_not_stripes_is_refused_before_any_request() {
    let stripe = FakeStripe::start(|_| ok(intent("pi_1", "requires_capture"))).await;
    let gateway = stripe.gateway();
    assert!(matches!(
        gateway.capture("k", "pi_1/../../v1/refunds", eur(1)).await,
        Err(GatewayError::Rejected { ref code, .. }) if code == "resource_missing"
    ));
    assert!(gateway.void("k", "").await.is_err());
    assert!(stripe.requests().is_empty());
}

#[tokio::test]
async fn capture_posts_the_amount_with_the_key() {
    let stripe = FakeStripe::start(|_| ok(intent("pi_1", "succeeded"))).await;
    stripe
        .gateway()
        .capture("pay-1/capture", "pi_1", eur(2000))
        .await
        .expect("captured");
    let r = stripe.only_request();
    assert_posted(&r, "/v1/payment_intents/pi_1/capture", "pay-1/capture");
    assert_eq!(r.field("amount_to_capture"), Some("2000"));
}

#[tokio::test]
async fn a_refused_capture_is_rejected_with_stripes_code() {
    let stripe = FakeStripe::start(|_| {
        stripe_error(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": "This PaymentIntent could not be captured because it has a status of succeeded.",
                "payment_intent": intent("pi_1", "succeeded")
            }),
        )
    })
    .await;
    assert_eq!(
        stripe
            .gateway()
            .capture("pay-1/capture-2", "pi_1", eur(2500))
            .await,
        Err(GatewayError::Rejected {
            code: "payment_intent_unexpected_state".into(),
            message:
                "This PaymentIntent could not be captured because it has a status of succeeded."
                    .into()
        })
    );
}

#[tokio::test]
async fn void_cancels_and_an_intent_canceled_already_is_fine() {
    let stripe = FakeStripe::start(|r| match r.path.as_str() {
        "/v1/payment_intents/pi_open/cancel" => ok(intent("pi_open", "canceled")),
        "/v1/payment_intents/pi_gone/cancel" => stripe_error(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": "You cannot cancel this PaymentIntent because it has a status of canceled.",
                "payment_intent": intent("pi_gone", "canceled")
            }),
        ),
        _ => stripe_error(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": "You cannot cancel this PaymentIntent because it has a status of succeeded.",
                "payment_intent": intent("pi_captured", "succeeded")
            }),
        ),
    })
    .await;
    let gateway = stripe.gateway();
    assert_eq!(gateway.void("pay-1/void", "pi_open").await, Ok(()));
    assert_eq!(gateway.void("pay-2/void", "pi_gone").await, Ok(()));
    assert!(matches!(
        gateway.void("pay-3/void", "pi_captured").await,
        Err(GatewayError::Rejected { ref code, .. }) if code == "payment_intent_unexpected_state"
    ));
    let requests = stripe.requests();
    assert_posted(
        &requests[0],
        "/v1/payment_intents/pi_open/cancel",
        "pay-1/void",
    );
}

#[tokio::test]
async fn refund_posts_our_ids_as_metadata_and_returns_stripes_refund_id() {
    let stripe = FakeStripe::start(|_| {
        ok(json!({
            "id": "re_1", "object": "refund", "amount": 700, "status": "pending",
            "payment_intent": "pi_1", "metadata": {"agora_refund_id": "rf-1"}
        }))
    })
    .await;
    let refund = stripe
        .gateway()
        .refund("pay-1/refund/rf-1", "pi_1", eur(700), "rf-1", "order-1")
        .await;
    assert_eq!(refund, Ok("re_1".to_string()));
    let r = stripe.only_request();
    assert_posted(&r, "/v1/refunds", "pay-1/refund/rf-1");
    for (field, value) in [
        ("payment_intent", "pi_1"),
        ("amount", "700"),
        ("metadata[agora_refund_id]", "rf-1"),
        ("metadata[agora_order_id]", "order-1"),
    ] {
        assert_eq!(r.field(field), Some(value), "{field}");
    }
}

#[tokio::test]
async fn a_refund_that_failed_at_once_is_rejected() {
    let stripe = FakeStripe::start(|_| {
        ok(json!({
            "id": "re_2", "object": "refund", "amount": 700, "status": "failed",
            "failure_reason": "expired_or_canceled_card", "payment_intent": "pi_1"
        }))
    })
    .await;
    assert!(matches!(
        stripe.gateway().refund("k", "pi_1", eur(700), "rf-1", "order-1").await,
        Err(GatewayError::Rejected { ref code, .. }) if code == "expired_or_canceled_card"
    ));
}

#[tokio::test]
async fn a_refund_above_the_captured_amount_is_rejected() {
    let stripe = FakeStripe::start(|_| {
        stripe_error(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "invalid_request_error",
                "code": "amount_too_large",
                "message": "Refund amount (€30.00) is greater than unrefunded amount on charge (€25.00)",
                "param": "amount"
            }),
        )
    })
    .await;
    assert!(matches!(
        stripe.gateway().refund("k", "pi_1", eur(3000), "rf-1", "order-1").await,
        Err(GatewayError::Rejected { ref code, .. }) if code == "amount_too_large"
    ));
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_with_an_unknown_outcome() {
    let stripe = FakeStripe::start(|_| Reply::Hang).await;
    let gateway = stripe.gateway_with_timeout(Duration::from_millis(200));
    assert_eq!(
        gateway.capture("pay-1/capture", "pi_1", eur(2500)).await,
        Err(GatewayError::Timeout)
    );
    assert_eq!(
        gateway.authorize(&request("pm_card_visa")).await,
        Err(GatewayError::Timeout)
    );
    // The request did reach Stripe: that is why the outcome is unknown.
    assert_eq!(stripe.requests().len(), 2);
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_unavailable() {
    for status in [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::CONFLICT,
    ] {
        let stripe = FakeStripe::start(move |_| {
            stripe_error(
                status,
                json!({"type": "api_error", "message": "An unknown error occurred"}),
            )
        })
        .await;
        let result = stripe.gateway().authorize(&request("pm_card_visa")).await;
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
    let gateway = StripeGateway::new(StripeConfig {
        secret_key: SECRET.to_string(),
        api_base: format!("http://127.0.0.1:{port}"),
        timeout: Duration::from_secs(5),
    })
    .expect("client");
    assert!(matches!(
        gateway.void("pay-1/void", "pi_1").await,
        Err(GatewayError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_reused_key_and_a_bad_secret_are_rejected() {
    let stripe = FakeStripe::start(|r| {
        if r.path.ends_with("/capture") {
            stripe_error(
                StatusCode::BAD_REQUEST,
                json!({
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."
                }),
            )
        } else {
            stripe_error(
                StatusCode::UNAUTHORIZED,
                json!({"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****cret"}),
            )
        }
    })
    .await;
    let gateway = stripe.gateway();
    assert!(matches!(
        gateway.capture("pay-1/capture", "pi_1", eur(1)).await,
        Err(GatewayError::Rejected { ref code, .. }) if code == "idempotency_key_reused"
    ));
    assert!(matches!(
        gateway.authorize(&request("pm_card_visa")).await,
        Err(GatewayError::Rejected { ref code, .. }) if code == "invalid_request_error"
    ));
}

#[tokio::test]
async fn the_secret_key_is_never_printed() {
    let config = StripeConfig::new(SECRET);
    assert_eq!(config.api_base, "https://api.stripe.com");
    let printed = format!(
        "{config:?} {:?}",
        StripeGateway::new(config.clone()).expect("client")
    );
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(!printed.contains("sk_test"), "{printed}");
}
