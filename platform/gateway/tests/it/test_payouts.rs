//! `TestPayouts` against a private Postgres database per test.

use agora_gateway::{
    AuthorizeRequest, GatewayError, PaymentGateway, PayoutGateway, PerformedTransfer, TestGateway,
    TestPayouts, Transfer, TransferRequest,
};
use agora_kernel::{Currency, Money};
use agora_testkit::TestDb;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// A provider on a fresh database; the `TestDb` must outlive it.
struct Harness {
    payouts: TestPayouts,
    pool: PgPool,
    db: TestDb,
}

async fn harness() -> anyhow::Result<Harness> {
    let db = TestDb::create().await?;
    let pool = PgPoolOptions::new()
        .max_connections(24)
        .connect(&db.url())
        .await?;
    let payouts = TestPayouts::new(pool.clone()).await?;
    Ok(Harness { payouts, pool, db })
}

impl Harness {
    /// Another provider on the same database, as another process (or our process after being
    /// killed) would build it.
    async fn another_process(&self) -> anyhow::Result<TestPayouts> {
        let pool = PgPoolOptions::new().connect(&self.db.url()).await?;
        TestPayouts::new(pool).await
    }

    /// Keys, transfers and log rows, over all payouts.
    async fn stored_rows(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM test_payout_requests) \
                  + (SELECT count(*) FROM test_payout_transfers) \
                  + (SELECT count(*) FROM test_payout_operations)",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

/// The transfer of payout `payout_id` (keyed `<payout id>/transfer`) to vendor-1's `destination`.
fn request(payout_id: &str, destination: &str, amount_minor: i64) -> TransferRequest {
    TransferRequest {
        idempotency_key: format!("{payout_id}/transfer"),
        payout_id: payout_id.to_string(),
        vendor_id: "vendor-1".to_string(),
        destination: destination.to_string(),
        amount: eur(amount_minor),
    }
}

fn rejected_code<T: std::fmt::Debug>(result: Result<T, GatewayError>) -> String {
    match result {
        Err(GatewayError::Rejected { code, .. }) => code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_transfer_is_made_once_and_the_same_key_replays_it() -> anyhow::Result<()> {
    let h = harness().await?;
    assert_eq!(h.payouts.name(), "test");
    let req = request("payout-1", "acct_test_ok", 4200);
    let first = h.payouts.transfer(&req).await?;
    assert!(first.id.starts_with("tr_test_"), "{}", first.id);
    assert_eq!(first.id.len(), "tr_test_".len() + 32);

    assert_eq!(h.payouts.transfer(&req).await?, first);
    assert_eq!(h.payouts.transfers_for("payout-1").await?, 1);
    assert_eq!(
        h.payouts.transfers("payout-1").await?,
        vec![PerformedTransfer {
            id: first.id,
            vendor_id: "vendor-1".into(),
            destination: "acct_test_ok".into(),
            amount: eur(4200),
        }]
    );
    Ok(())
}

#[tokio::test]
async fn each_payout_is_its_own_transfer_to_any_connected_account() -> anyhow::Result<()> {
    let h = harness().await?;
    let a = h
        .payouts
        .transfer(&request("payout-1", "acct_1Hx9ZtAbCdEf", 100))
        .await?;
    let b = h
        .payouts
        .transfer(&request("payout-2", "acct_test_ok", 200))
        .await?;
    assert_ne!(a, b);
    assert_eq!(h.payouts.transfers_for("payout-1").await?, 1);
    assert_eq!(h.payouts.transfers_for("payout-2").await?, 1);
    assert_eq!(h.payouts.transfers_for("payout-3").await?, 0);
    assert_eq!(h.payouts.count().await?, 2);
    Ok(())
}

#[tokio::test]
async fn the_same_key_with_other_parameters_is_rejected_and_transfers_nothing() -> anyhow::Result<()>
{
    let h = harness().await?;
    let req = request("payout-1", "acct_test_ok", 4200);
    let first = h.payouts.transfer(&req).await?;

    let mut other_amount = req.clone();
    other_amount.amount = eur(4300);
    let mut other_currency = req.clone();
    other_currency.amount = Money::new(4200, Currency::USD);
    let mut other_destination = req.clone();
    other_destination.destination = "acct_test_other".into();
    let mut other_vendor = req.clone();
    other_vendor.vendor_id = "vendor-2".into();
    for other in [
        other_amount,
        other_currency,
        other_destination,
        other_vendor,
    ] {
        assert_eq!(
            rejected_code(h.payouts.transfer(&other).await),
            "idempotency_key_reused",
            "{other:?}"
        );
    }
    // The key still replays its transfer.
    assert_eq!(h.payouts.transfer(&req).await?, first);
    assert_eq!(h.payouts.count().await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_closed_account_is_refused_and_nothing_is_transferred() -> anyhow::Result<()> {
    let h = harness().await?;
    let req = request("payout-1", "acct_test_closed", 4200);
    for _ in 0..2 {
        assert_eq!(
            rejected_code(h.payouts.transfer(&req).await),
            "account_closed"
        );
    }
    assert_eq!(h.payouts.transfers_for("payout-1").await?, 0);
    let transfers: i64 = sqlx::query_scalar("SELECT count(*) FROM test_payout_transfers")
        .fetch_one(&h.pool)
        .await?;
    assert_eq!(transfers, 0);
    Ok(())
}

#[tokio::test]
async fn a_lost_answer_hides_a_transfer_that_a_retry_with_the_same_key_learns() -> anyhow::Result<()>
{
    let h = harness().await?;
    let req = request("payout-1", "acct_test_timeout_after_transfer", 4200);
    assert_eq!(h.payouts.transfer(&req).await, Err(GatewayError::Timeout));
    // The money left although we were never told.
    let made = h.payouts.transfers("payout-1").await?;
    assert_eq!(made.len(), 1);

    // The loss is counted in the provider, not in our process: another one sees it go on...
    let restarted = h.another_process().await?;
    assert_eq!(restarted.transfer(&req).await, Err(GatewayError::Timeout));
    // ...and then stop: the retry learns the transfer that was made.
    let learnt = h.payouts.transfer(&req).await?;
    assert_eq!(
        learnt,
        Transfer {
            id: made[0].id.clone()
        }
    );
    assert_eq!(restarted.transfer(&req).await?, learnt);
    assert_eq!(h.payouts.transfers_for("payout-1").await?, 1);

    // A new payout is a new transfer, whose answer is lost in its turn.
    assert_eq!(
        h.payouts
            .transfer(&request(
                "payout-2",
                "acct_test_timeout_after_transfer",
                100
            ))
            .await,
        Err(GatewayError::Timeout)
    );
    assert_eq!(h.payouts.count().await?, 2);
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_transfers_with_one_key_transfer_once() -> anyhow::Result<()> {
    let h = harness().await?;
    let req = request("payout-1", "acct_test_ok", 4200);
    let transfers = (0..20).map(|_| h.payouts.transfer(&req));
    let results = futures::future::join_all(transfers).await;
    let first = results[0].clone()?;
    for result in results {
        assert_eq!(result, Ok(first.clone()));
    }
    assert_eq!(h.payouts.transfers_for("payout-1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn concurrent_transfers_from_two_processes_with_one_key_transfer_once() -> anyhow::Result<()>
{
    let h = harness().await?;
    let other = h.another_process().await?;
    let req = request("payout-1", "acct_test_ok", 4200);
    let transfers = (0..10).flat_map(|_| [h.payouts.transfer(&req), other.transfer(&req)]);
    let results = futures::future::join_all(transfers).await;
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(h.payouts.transfers_for("payout-1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn answers_survive_a_restart_of_our_process() -> anyhow::Result<()> {
    let h = harness().await?;
    let req = request("payout-1", "acct_test_ok", 4200);
    let first = h.payouts.transfer(&req).await?;
    let restarted = h.another_process().await?;
    assert_eq!(restarted.transfer(&req).await?, first);
    assert_eq!(restarted.transfers_for("payout-1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn an_unavailable_provider_stores_and_transfers_nothing() -> anyhow::Result<()> {
    let h = harness().await?;
    let req = request("payout-1", "acct_test_unavailable", 4200);
    for _ in 0..2 {
        assert!(matches!(
            h.payouts.transfer(&req).await,
            Err(GatewayError::Unavailable(_))
        ));
    }
    assert_eq!(h.stored_rows().await?, 0);
    Ok(())
}

#[tokio::test]
async fn invalid_destinations_and_amounts_are_refused_before_anything_is_stored(
) -> anyhow::Result<()> {
    let h = harness().await?;
    for destination in ["", "acct_", "ba_1Hx9Zt", "cus_123", "NL91ABNA0417164300"] {
        assert_eq!(
            rejected_code(
                h.payouts
                    .transfer(&request("payout-1", destination, 4200))
                    .await
            ),
            "invalid_destination",
            "{destination:?}"
        );
    }
    for amount_minor in [0, -1] {
        assert_eq!(
            rejected_code(
                h.payouts
                    .transfer(&request("payout-1", "acct_test_ok", amount_minor))
                    .await
            ),
            "amount_too_small"
        );
    }
    assert_eq!(h.stored_rows().await?, 0);
    // The key was not spent: the payout can still be made with it.
    h.payouts
        .transfer(&request("payout-1", "acct_test_ok", 4200))
        .await?;
    assert_eq!(h.payouts.transfers_for("payout-1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn the_payment_provider_and_the_payout_provider_share_a_database() -> anyhow::Result<()> {
    let h = harness().await?;
    // Same key text in both: each provider has its own keys.
    let gateway = TestGateway::new(h.pool.clone()).await?;
    let mut req = request("payout-1", "acct_test_ok", 4200);
    req.idempotency_key = "shared-key".into();
    h.payouts.transfer(&req).await?;
    gateway
        .authorize(&AuthorizeRequest {
            idempotency_key: "shared-key".into(),
            order_id: "order-1".into(),
            amount: eur(4200),
            payment_method: "pm_card_visa".into(),
        })
        .await?;
    assert_eq!(h.payouts.count().await?, 1);
    assert_eq!(gateway.count("authorize").await?, 1);
    Ok(())
}
