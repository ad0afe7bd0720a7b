//! `TestGateway` against a private Postgres database per test.

use agora_gateway::TestGateway;
use agora_gateway::{AuthorizationOutcome, AuthorizeRequest, GatewayError, PaymentGateway};
use agora_kernel::{Currency, Money};
use agora_testkit::TestDb;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// A gateway on a fresh database; the `TestDb` must outlive it.
struct Harness {
    gateway: TestGateway,
    pool: PgPool,
    _db: TestDb,
}

async fn harness() -> anyhow::Result<Harness> {
    let db = TestDb::create().await?;
    let pool = PgPoolOptions::new()
        .max_connections(24)
        .connect(&db.url())
        .await?;
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

fn request(key: &str, order_id: &str, amount_minor: i64, payment_method: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        idempotency_key: key.to_string(),
        order_id: order_id.to_string(),
        amount: eur(amount_minor),
        payment_method: payment_method.to_string(),
    }
}

fn rejected_code<T: std::fmt::Debug>(result: Result<T, GatewayError>) -> String {
    match result {
        Err(GatewayError::Rejected { code, .. }) => code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Authorizes `amount_minor` with a Visa card and returns the intent id.
async fn authorized(h: &Harness, order_id: &str, amount_minor: i64) -> anyhow::Result<String> {
    let key = format!("{order_id}/authorize");
    match h
        .gateway
        .authorize(&request(&key, order_id, amount_minor, "pm_card_visa"))
        .await?
    {
        AuthorizationOutcome::Authorized { provider_ref } => Ok(provider_ref),
        other => anyhow::bail!("expected an authorization, got {other:?}"),
    }
}

fn ops(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(op, a)| (op.to_string(), *a)).collect()
}

#[tokio::test]
async fn a_visa_card_is_authorized_and_captured() -> anyhow::Result<()> {
    let h = harness().await?;
    assert_eq!(h.gateway.name(), "test");
    let pi = authorized(&h, "order-1", 2500).await?;
    assert!(pi.starts_with("pi_test_"), "{pi}");
    assert_eq!(pi.len(), "pi_test_".len() + 32);
    assert_eq!(
        h.gateway.intent_status(&pi).await?.as_deref(),
        Some("requires_capture")
    );

    h.gateway.capture("order-1/capture", &pi, eur(2500)).await?;
    assert_eq!(
        h.gateway.intent_status(&pi).await?.as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        h.gateway.operations(&pi).await?,
        ops(&[("authorize", 2500), ("capture", 2500)])
    );
    assert_eq!(h.gateway.captures_for_order("order-1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_mastercard_is_authorized() -> anyhow::Result<()> {
    let h = harness().await?;
    let outcome = h
        .gateway
        .authorize(&request("k", "order-1", 900, "pm_card_mastercard"))
        .await?;
    assert!(matches!(outcome, AuthorizationOutcome::Authorized { .. }));
    assert_eq!(h.gateway.count("authorize").await?, 1);
    Ok(())
}

#[tokio::test]
async fn declined_cards_carry_the_decline_code_and_hold_nothing() -> anyhow::Result<()> {
    let h = harness().await?;
    for (pm, expected) in [
        ("pm_card_chargeDeclined", "card_declined"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
    ] {
        let outcome = h
            .gateway
            .authorize(&request(pm, "order-1", 2500, pm))
            .await?;
        let AuthorizationOutcome::Declined { provider_ref, code } = outcome else {
            panic!("expected a decline for {pm}, got {outcome:?}");
        };
        assert_eq!(code, expected);
        let pi = provider_ref.expect("the declined intent is named");
        assert_eq!(
            h.gateway.intent_status(&pi).await?.as_deref(),
            Some("requires_payment_method")
        );
        assert_eq!(
            rejected_code(h.gateway.capture(&format!("{pm}/c"), &pi, eur(2500)).await),
            "payment_intent_unexpected_state"
        );
        // Confirming a declined intent reads the decline again.
        assert_eq!(
            h.gateway.confirm(&format!("{pm}/confirm"), &pi).await?,
            AuthorizationOutcome::Declined {
                provider_ref: Some(pi.clone()),
                code: expected.to_string()
            }
        );
    }
    assert_eq!(h.gateway.count("authorize").await?, 0);
    assert_eq!(h.gateway.count("capture").await?, 0);
    Ok(())
}

#[tokio::test]
async fn authentication_required_is_authorized_once_confirmed() -> anyhow::Result<()> {
    let h = harness().await?;
    let outcome = h
        .gateway
        .authorize(&request(
            "pay-1/authorize",
            "order-1",
            2500,
            "pm_card_authenticationRequired",
        ))
        .await?;
    let AuthorizationOutcome::RequiresAction {
        provider_ref: pi,
        client_secret: Some(secret),
    } = outcome
    else {
        panic!("expected an action with a client secret, got {outcome:?}");
    };
    assert!(secret.starts_with(&format!("{pi}_secret_")), "{secret}");
    assert!(secret.len() > pi.len() + "_secret_".len());
    assert_eq!(h.gateway.count("authorize").await?, 0);
    assert_eq!(
        rejected_code(h.gateway.capture("early", &pi, eur(2500)).await),
        "payment_intent_unexpected_state"
    );

    let authorized = AuthorizationOutcome::Authorized {
        provider_ref: pi.clone(),
    };
    assert_eq!(h.gateway.confirm("pay-1/confirm", &pi).await?, authorized);
    assert_eq!(h.gateway.confirm("pay-1/confirm", &pi).await?, authorized);
    assert_eq!(
        h.gateway.confirm("pay-1/confirm-again", &pi).await?,
        authorized
    );
    assert_eq!(
        h.gateway.operations(&pi).await?,
        ops(&[("authorize", 2500)])
    );

    h.gateway.capture("pay-1/capture", &pi, eur(2500)).await?;
    // Captured counts as authorized on a re-read.
    assert_eq!(h.gateway.confirm("pay-1/confirm", &pi).await?, authorized);
    Ok(())
}

#[tokio::test]
async fn the_ambiguous_timeout_authorizes_and_a_retry_with_the_same_key_learns_it(
) -> anyhow::Result<()> {
    let h = harness().await?;
    let req = request(
        "pay-1/authorize",
        "order-1",
        2500,
        "pm_card_timeoutAfterCharge",
    );
    assert_eq!(h.gateway.authorize(&req).await, Err(GatewayError::Timeout));
    // The provider did authorize: the hold exists although we were never told.
    assert_eq!(h.gateway.count("authorize").await?, 1);

    let retried = h.gateway.authorize(&req).await?;
    let AuthorizationOutcome::Authorized { provider_ref: pi } = retried.clone() else {
        panic!("expected the stored authorization, got {retried:?}");
    };
    assert_eq!(h.gateway.authorize(&req).await?, retried);
    assert_eq!(
        h.gateway.operations(&pi).await?,
        ops(&[("authorize", 2500)])
    );
    assert_eq!(h.gateway.count("authorize").await?, 1);

    // A new key is a new authorization, which times out in its turn.
    let other = request(
        "pay-2/authorize",
        "order-2",
        100,
        "pm_card_timeoutAfterCharge",
    );
    assert_eq!(
        h.gateway.authorize(&other).await,
        Err(GatewayError::Timeout)
    );
    assert_eq!(h.gateway.count("authorize").await?, 2);
    Ok(())
}

#[tokio::test]
async fn an_unavailable_provider_performs_nothing() -> anyhow::Result<()> {
    let h = harness().await?;
    let req = request("pay-1/authorize", "order-1", 2500, "pm_card_unavailable");
    for _ in 0..2 {
        assert!(matches!(
            h.gateway.authorize(&req).await,
            Err(GatewayError::Unavailable(_))
        ));
    }
    assert_eq!(h.gateway.count("authorize").await?, 0);
    let requests: i64 = sqlx::query_scalar("SELECT count(*) FROM test_gateway_requests")
        .fetch_one(&h.pool)
        .await?;
    assert_eq!(requests, 0);
    Ok(())
}

#[tokio::test]
async fn card_numbers_are_refused_and_never_stored() -> anyhow::Result<()> {
    let h = harness().await?;
    for pm in ["4242424242424242", "4242 4242 4242 4242", "pm_card_unknown"] {
        assert_eq!(
            rejected_code(
                h.gateway
                    .authorize(&request("k", "order-1", 2500, pm))
                    .await
            ),
            "invalid_payment_method"
        );
    }
    let stored: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM test_gateway_requests) \
              + (SELECT count(*) FROM test_gateway_intents)",
    )
    .fetch_one(&h.pool)
    .await?;
    assert_eq!(stored, 0);
    Ok(())
}

#[tokio::test]
async fn the_same_key_replays_the_first_outcome_and_refuses_other_parameters() -> anyhow::Result<()>
{
    let h = harness().await?;
    let req = request("pay-1/authorize", "order-1", 2500, "pm_card_visa");
    let first = h.gateway.authorize(&req).await?;
    assert_eq!(h.gateway.authorize(&req).await?, first);
    assert_eq!(h.gateway.count("authorize").await?, 1);

    let mut other_amount = req.clone();
    other_amount.amount = eur(2600);
    assert_eq!(
        rejected_code(h.gateway.authorize(&other_amount).await),
        "idempotency_key_reused"
    );
    let AuthorizationOutcome::Authorized { provider_ref: pi } = first else {
        panic!("expected an authorization");
    };
    // A key is bound to its operation too.
    assert_eq!(
        rejected_code(h.gateway.capture("pay-1/authorize", &pi, eur(2500)).await),
        "idempotency_key_reused"
    );
    assert_eq!(h.gateway.count("authorize").await?, 1);
    assert_eq!(h.gateway.count("capture").await?, 0);
    Ok(())
}

#[tokio::test]
async fn answers_survive_a_restart_of_our_process() -> anyhow::Result<()> {
    let h = harness().await?;
    let req = request("pay-1/authorize", "order-1", 2500, "pm_card_visa");
    let first = h.gateway.authorize(&req).await?;
    // A new gateway on a new pool: what our process would build after being killed.
    let pool = PgPoolOptions::new().connect(&h._db.url()).await?;
    let again = TestGateway::new(pool).await?;
    assert_eq!(again.authorize(&req).await?, first);
    assert_eq!(again.count("authorize").await?, 1);
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_captures_with_one_key_capture_once() -> anyhow::Result<()> {
    let h = harness().await?;
    let pi = authorized(&h, "order-1", 2500).await?;
    let captures = (0..20).map(|_| h.gateway.capture("order-1/capture", &pi, eur(2500)));
    let results = futures::future::join_all(captures).await;
    for result in results {
        assert_eq!(result, Ok(()));
    }
    assert_eq!(h.gateway.count("capture").await?, 1);
    assert_eq!(h.gateway.captures_for_order("order-1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_captures_with_different_keys_capture_once() -> anyhow::Result<()> {
    let h = harness().await?;
    let pi = authorized(&h, "order-1", 2500).await?;
    let keys: Vec<String> = (0..20).map(|i| format!("attempt-{i}")).collect();
    let captures = keys
        .iter()
        .map(|key| h.gateway.capture(key, &pi, eur(2500)));
    let results = futures::future::join_all(captures).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert_eq!(h.gateway.captures_for_order("order-1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_second_capture_with_another_key_is_rejected() -> anyhow::Result<()> {
    let h = harness().await?;
    let pi = authorized(&h, "order-1", 2500).await?;
    h.gateway.capture("order-1/capture", &pi, eur(2500)).await?;
    assert_eq!(
        rejected_code(h.gateway.capture("order-1/capture-2", &pi, eur(2500)).await),
        "payment_intent_unexpected_state"
    );
    // The first key still replays its success.
    assert_eq!(
        h.gateway.capture("order-1/capture", &pi, eur(2500)).await,
        Ok(())
    );
    assert_eq!(h.gateway.captures_for_order("order-1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_capture_is_bounded_by_the_authorized_amount() -> anyhow::Result<()> {
    let h = harness().await?;
    let pi = authorized(&h, "order-1", 2500).await?;
    assert_eq!(
        rejected_code(h.gateway.capture("too-much", &pi, eur(2501)).await),
        "amount_too_large"
    );
    assert_eq!(
        rejected_code(
            h.gateway
                .capture("dollars", &pi, Money::new(100, Currency::USD))
                .await
        ),
        "currency_mismatch"
    );
    assert_eq!(
        rejected_code(h.gateway.capture("nothing", &pi, eur(0)).await),
        "amount_too_small"
    );
    assert_eq!(
        rejected_code(
            h.gateway
                .capture("nowhere", "pi_test_missing", eur(1))
                .await
        ),
        "resource_missing"
    );
    // A partial capture is allowed.
    h.gateway.capture("partial", &pi, eur(2000)).await?;
    assert_eq!(
        h.gateway.operations(&pi).await?,
        ops(&[("authorize", 2500), ("capture", 2000)])
    );
    Ok(())
}

#[tokio::test]
async fn a_void_releases_an_authorization_once() -> anyhow::Result<()> {
    let h = harness().await?;
    let pi = authorized(&h, "order-1", 2500).await?;
    h.gateway.void("order-1/void", &pi).await?;
    assert_eq!(
        h.gateway.intent_status(&pi).await?.as_deref(),
        Some("canceled")
    );
    // Voiding again, with the same key or another, succeeds without another effect.
    h.gateway.void("order-1/void", &pi).await?;
    h.gateway.void("order-1/void-2", &pi).await?;
    assert_eq!(
        h.gateway.operations(&pi).await?,
        ops(&[("authorize", 2500), ("void", 2500)])
    );
    assert_eq!(
        rejected_code(h.gateway.capture("order-1/capture", &pi, eur(2500)).await),
        "payment_intent_unexpected_state"
    );
    assert_eq!(
        rejected_code(h.gateway.confirm("order-1/confirm", &pi).await),
        "payment_intent_unexpected_state"
    );
    Ok(())
}

#[tokio::test]
async fn an_intent_awaiting_authentication_can_be_voided() -> anyhow::Result<()> {
    let h = harness().await?;
    let outcome = h
        .gateway
        .authorize(&request(
            "k",
            "order-1",
            2500,
            "pm_card_authenticationRequired",
        ))
        .await?;
    let AuthorizationOutcome::RequiresAction {
        provider_ref: pi, ..
    } = outcome
    else {
        panic!("expected an action, got {outcome:?}");
    };
    h.gateway.void("order-1/void", &pi).await?;
    assert_eq!(
        h.gateway.intent_status(&pi).await?.as_deref(),
        Some("canceled")
    );
    Ok(())
}

#[tokio::test]
async fn a_captured_payment_cannot_be_voided() -> anyhow::Result<()> {
    let h = harness().await?;
    let pi = authorized(&h, "order-1", 2500).await?;
    h.gateway.capture("order-1/capture", &pi, eur(2500)).await?;
    assert_eq!(
        rejected_code(h.gateway.void("order-1/void", &pi).await),
        "payment_intent_unexpected_state"
    );
    assert_eq!(h.gateway.count("void").await?, 0);
    Ok(())
}

#[tokio::test]
async fn refunds_never_exceed_what_was_captured() -> anyhow::Result<()> {
    let h = harness().await?;
    let pi = authorized(&h, "order-1", 2500).await?;
    assert_eq!(
        rejected_code(
            h.gateway
                .refund("early", &pi, eur(100), "rf-0", "order-1")
                .await
        ),
        "payment_intent_unexpected_state"
    );
    h.gateway.capture("order-1/capture", &pi, eur(2000)).await?;

    let first = h
        .gateway
        .refund("order-1/refund/rf-1", &pi, eur(1500), "rf-1", "order-1")
        .await?;
    assert!(first.starts_with("re_test_"), "{first}");
    // A replay returns the same refund and refunds nothing more.
    assert_eq!(
        h.gateway
            .refund("order-1/refund/rf-1", &pi, eur(1500), "rf-1", "order-1")
            .await?,
        first
    );
    assert_eq!(
        rejected_code(
            h.gateway
                .refund("order-1/refund/rf-2", &pi, eur(501), "rf-2", "order-1")
                .await
        ),
        "amount_too_large"
    );
    let second = h
        .gateway
        .refund("order-1/refund/rf-3", &pi, eur(500), "rf-3", "order-1")
        .await?;
    assert_ne!(first, second);
    assert_eq!(
        rejected_code(
            h.gateway
                .refund("order-1/refund/rf-4", &pi, eur(1), "rf-4", "order-1")
                .await
        ),
        "amount_too_large"
    );
    assert_eq!(
        h.gateway.operations(&pi).await?,
        ops(&[
            ("authorize", 2500),
            ("capture", 2000),
            ("refund", 1500),
            ("refund", 500)
        ])
    );
    assert_eq!(h.gateway.count("refund").await?, 2);
    Ok(())
}

#[tokio::test]
async fn concurrent_refunds_with_different_keys_stay_within_the_capture() -> anyhow::Result<()> {
    let h = harness().await?;
    let pi = authorized(&h, "order-1", 1000).await?;
    h.gateway.capture("order-1/capture", &pi, eur(1000)).await?;
    let keys: Vec<String> = (0..10).map(|i| format!("rf-{i}")).collect();
    let refunds = keys
        .iter()
        .map(|id| h.gateway.refund(id, &pi, eur(300), id, "order-1"));
    let results = futures::future::join_all(refunds).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    assert_eq!(h.gateway.count("refund").await?, 3);
    Ok(())
}

/// Authorizes `amount_minor` with `payment_method` and returns the intent id.
async fn authorized_with(
    h: &Harness,
    order_id: &str,
    amount_minor: i64,
    payment_method: &str,
) -> anyhow::Result<String> {
    let key = format!("{order_id}/authorize");
    match h
        .gateway
        .authorize(&request(&key, order_id, amount_minor, payment_method))
        .await?
    {
        AuthorizationOutcome::Authorized { provider_ref } => Ok(provider_ref),
        other => anyhow::bail!("expected an authorization, got {other:?}"),
    }
}

#[tokio::test]
async fn a_lost_capture_answer_captured_once_and_a_retry_with_its_key_learns_it(
) -> anyhow::Result<()> {
    let h = harness().await?;
    let pi = authorized_with(&h, "order-lc", 900, "pm_card_captureAnswerLost").await?;
    // Every answer of the first two seconds is lost, however many calls ask...
    for _ in 0..5 {
        assert!(matches!(
            h.gateway.capture("order-lc/capture", &pi, eur(900)).await,
            Err(GatewayError::Timeout)
        ));
    }
    // ...then a retry with the key learns the capture.
    agora_testkit::eventually(std::time::Duration::from_secs(10), || async {
        h.gateway
            .capture("order-lc/capture", &pi, eur(900))
            .await
            .ok()
    })
    .await?;
    assert_eq!(
        h.gateway.operations(&pi).await?,
        ops(&[("authorize", 900), ("capture", 900)])
    );
    // Captured: a void is refused.
    assert_eq!(
        rejected_code(h.gateway.void("order-lc/void", &pi).await),
        "payment_intent_unexpected_state"
    );
    Ok(())
}

#[tokio::test]
async fn refunds_can_lose_their_answers_or_be_refused() -> anyhow::Result<()> {
    let h = harness().await?;
    // Lost answers: the refund is made once, the key's third answer tells it.
    let pi = authorized_with(&h, "order-rl", 700, "pm_card_refundAnswerLost").await?;
    h.gateway.capture("order-rl/capture", &pi, eur(700)).await?;
    for _ in 0..2 {
        assert!(matches!(
            h.gateway
                .refund("order-rl/refund/a", &pi, eur(700), "a", "order-rl")
                .await,
            Err(GatewayError::Timeout)
        ));
    }
    let refund = h
        .gateway
        .refund("order-rl/refund/a", &pi, eur(700), "a", "order-rl")
        .await?;
    assert!(refund.starts_with("re_test_"), "{refund}");
    assert_eq!(
        h.gateway.operations(&pi).await?,
        ops(&[("authorize", 700), ("capture", 700), ("refund", 700)])
    );

    // Always refused.
    let pi = authorized_with(&h, "order-rd", 700, "pm_card_refundDeclined").await?;
    h.gateway.capture("order-rd/capture", &pi, eur(700)).await?;
    for key in ["order-rd/refund/a", "order-rd/refund/b"] {
        assert_eq!(
            rejected_code(h.gateway.refund(key, &pi, eur(700), "a", "order-rd").await),
            "refund_declined"
        );
    }

    // Refused once, then a refund under another key succeeds.
    let pi = authorized_with(&h, "order-r1", 700, "pm_card_refundDeclinedOnce").await?;
    h.gateway.capture("order-r1/capture", &pi, eur(700)).await?;
    assert_eq!(
        rejected_code(
            h.gateway
                .refund("order-r1/refund/a", &pi, eur(700), "a", "order-r1")
                .await
        ),
        "refund_declined"
    );
    // The same key replays the refusal.
    assert_eq!(
        rejected_code(
            h.gateway
                .refund("order-r1/refund/a", &pi, eur(700), "a", "order-r1")
                .await
        ),
        "refund_declined"
    );
    h.gateway
        .refund("order-r1/refund/b", &pi, eur(700), "b", "order-r1")
        .await?;
    assert_eq!(
        h.gateway.operations(&pi).await?,
        ops(&[("authorize", 700), ("capture", 700), ("refund", 700)])
    );
    Ok(())
}
