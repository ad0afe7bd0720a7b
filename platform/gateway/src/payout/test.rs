//! `TestPayouts`: a payout provider that behaves like Stripe Connect's test mode, kept in
//! Postgres.
//!
//! It plays an external system, so its state lives in its own tables (created if missing) and
//! survives our process being killed, like a real provider's would:
//!
//! - `test_payout_transfers`: one row per transfer (`tr_test_<uuid>`), with the payout, the
//!   vendor, the destination account and the amount.
//! - `test_payout_requests`: one row per idempotency key, with a fingerprint of the parameters
//!   and the stored response. The row is inserted *before* the transfer, in the same
//!   transaction, so a concurrent call with the same key waits on it and then replays the
//!   stored response instead of transferring again; a process killed in between loses both.
//! - `test_payout_operations`: an append-only log of the transfers actually made, for tests to
//!   count ([`TestPayouts::transfers_for`]): more than one row for a payout means the vendor
//!   was paid twice.
//! - `test_payout_lost_answers`: how many answers to a key were lost on purpose
//!   (`acct_test_timeout_after_transfer`), so the loss stops after a few calls whichever
//!   process asks.
//!
//! # Destinations
//! | destination | behaviour |
//! |---|---|
//! | any other `acct_…` id, e.g. `acct_test_ok` | transferred |
//! | `acct_test_closed` | `Rejected { code: "account_closed" }`; nothing transferred; the key replays the refusal |
//! | `acct_test_unavailable` | always `Unavailable`; nothing stored or transferred |
//! | `acct_test_timeout_after_transfer` | transferred, but the first two answers to its key are lost (`Timeout`); the third call with the key learns the transfer |
//!
//! Anything that is not `acct_` followed by letters, digits or `_` is
//! `Rejected { code: "invalid_destination" }`, and a zero or negative amount
//! `Rejected { code: "amount_too_small" }`; neither is stored.

use agora_kernel::{Currency, Money};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{checked_destination, PayoutGateway, Transfer, TransferRequest};
use crate::idempotency::{self, db, positive, Keys};
use crate::GatewayError;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS test_payout_transfers (
    id           text PRIMARY KEY,
    payout_id    text NOT NULL,
    vendor_id    text NOT NULL,
    destination  text NOT NULL,
    amount_minor bigint NOT NULL,
    currency     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS test_payout_requests (
    idempotency_key text PRIMARY KEY,
    operation       text NOT NULL,
    fingerprint     text NOT NULL,
    -- NULL only inside the transaction that performs the operation.
    response        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS test_payout_operations (
    seq          bigserial PRIMARY KEY,
    transfer_id  text NOT NULL REFERENCES test_payout_transfers (id),
    operation    text NOT NULL CHECK (operation IN ('transfer')),
    payout_id    text NOT NULL,
    amount_minor bigint NOT NULL,
    currency     text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS test_payout_operations_payout_id ON test_payout_operations (payout_id, seq);

CREATE TABLE IF NOT EXISTS test_payout_lost_answers (
    idempotency_key text PRIMARY KEY,
    lost            integer NOT NULL
);
"#;

/// Serialises schema creation between processes starting at once.
const SCHEMA_LOCK: i64 = 0x7465_7374_706f; // "testpo"

const KEYS: Keys = Keys::new("test_payout_requests", "test_payout_lost_answers");

/// How many answers to a key of `acct_test_timeout_after_transfer` are lost: more than one, so
/// that a caller must keep retrying with the same key rather than give up after one retry.
const LOST_TRANSFER_ANSWERS: i32 = 2;

/// Stripe Connect's test mode for transfers, played by Postgres. Cheap to clone (a pool
/// handle).
#[derive(Clone, Debug)]
pub struct TestPayouts {
    pool: PgPool,
}

/// A transfer the test provider made, as its log tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerformedTransfer {
    /// `tr_test_<uuid>`.
    pub id: String,
    pub vendor_id: String,
    pub destination: String,
    pub amount: Money,
}

/// What a destination account does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Destination {
    Pays,
    Closed,
    TimeoutAfterTransfer,
}

impl Destination {
    /// The behaviour of a destination, or the answer to give at once without touching the
    /// database (an invalid destination, or the simulated outage).
    fn parse(destination: &str) -> Result<Destination, GatewayError> {
        checked_destination(destination)?;
        Ok(match destination {
            "acct_test_closed" => Destination::Closed,
            "acct_test_timeout_after_transfer" => Destination::TimeoutAfterTransfer,
            "acct_test_unavailable" => {
                return Err(GatewayError::Unavailable(
                    "simulated outage (acct_test_unavailable)".into(),
                ))
            }
            _ => Destination::Pays,
        })
    }
}

/// The response stored with an idempotency key, replayed verbatim on a retry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Stored {
    Transfer { id: String },
    Rejected { code: String, message: String },
}

impl idempotency::Response for Stored {
    fn key_reused() -> Stored {
        Stored::Rejected {
            code: "idempotency_key_reused".into(),
            message: "the idempotency key was already used with other parameters".into(),
        }
    }
}

impl Stored {
    fn into_transfer(self) -> Result<Transfer, GatewayError> {
        match self {
            Stored::Transfer { id } => Ok(Transfer { id }),
            Stored::Rejected { code, message } => Err(GatewayError::Rejected { code, message }),
        }
    }
}

impl TestPayouts {
    /// Connects the provider to `pool`, creating its tables if they are missing.
    pub async fn new(pool: PgPool) -> anyhow::Result<TestPayouts> {
        idempotency::create_schema(&pool, SCHEMA_LOCK, SCHEMA, "test payouts").await?;
        Ok(TestPayouts { pool })
    }

    /// How many transfers were made for a payout: more than one means the vendor was paid
    /// twice.
    pub async fn transfers_for(&self, payout_id: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM test_payout_operations \
             WHERE operation = 'transfer' AND payout_id = $1",
        )
        .bind(payout_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The transfers made for a payout, in the order they were made.
    pub async fn transfers(&self, payout_id: &str) -> anyhow::Result<Vec<PerformedTransfer>> {
        let rows = sqlx::query(
            "SELECT t.id, t.vendor_id, t.destination, o.amount_minor, o.currency \
             FROM test_payout_operations o JOIN test_payout_transfers t ON t.id = o.transfer_id \
             WHERE o.operation = 'transfer' AND o.payout_id = $1 ORDER BY o.seq",
        )
        .bind(payout_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let currency: String = r.try_get("currency")?;
                Ok(PerformedTransfer {
                    id: r.try_get("id")?,
                    vendor_id: r.try_get("vendor_id")?,
                    destination: r.try_get("destination")?,
                    amount: Money::new(r.try_get("amount_minor")?, Currency::parse(&currency)?),
                })
            })
            .collect()
    }

    /// How many transfers were made, over all payouts.
    pub async fn count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM test_payout_operations WHERE operation = 'transfer'",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn perform_transfer(
        conn: &mut PgConnection,
        req: &TransferRequest,
        destination: Destination,
    ) -> Result<Stored, sqlx::Error> {
        if destination == Destination::Closed {
            return Ok(Stored::Rejected {
                code: "account_closed".into(),
                message: format!(
                    "the destination account {} is closed and cannot receive transfers",
                    req.destination
                ),
            });
        }
        let id = format!("tr_test_{}", Uuid::new_v4().simple());
        let currency = req.amount.currency.as_str();
        sqlx::query(
            "INSERT INTO test_payout_transfers \
             (id, payout_id, vendor_id, destination, amount_minor, currency) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(&req.payout_id)
        .bind(&req.vendor_id)
        .bind(&req.destination)
        .bind(req.amount.amount_minor)
        .bind(currency)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO test_payout_operations \
             (transfer_id, operation, payout_id, amount_minor, currency) \
             VALUES ($1, 'transfer', $2, $3, $4)",
        )
        .bind(&id)
        .bind(&req.payout_id)
        .bind(req.amount.amount_minor)
        .bind(currency)
        .execute(&mut *conn)
        .await?;
        Ok(Stored::Transfer { id })
    }
}

#[async_trait::async_trait]
impl PayoutGateway for TestPayouts {
    fn name(&self) -> &'static str {
        "test"
    }

    #[tracing::instrument(name = "test_payouts.transfer", skip_all,
        fields(key = %req.idempotency_key, payout_id = %req.payout_id,
            vendor_id = %req.vendor_id, destination = %req.destination,
            amount = req.amount.amount_minor))]
    async fn transfer(&self, req: &TransferRequest) -> Result<Transfer, GatewayError> {
        // Validated before anything is stored, like a provider's parameter validation.
        let destination = Destination::parse(&req.destination)?;
        positive(req.amount)?;
        // JSON, so that no value can imitate another split differently.
        let fingerprint = serde_json::json!([
            "transfer",
            req.payout_id,
            req.vendor_id,
            req.destination,
            req.amount.amount_minor,
            req.amount.currency.as_str(),
        ])
        .to_string();
        let key = &req.idempotency_key;
        let stored = match KEYS
            .begin::<Stored>(&self.pool, key, "transfer", &fingerprint)
            .await?
        {
            idempotency::Begun::Replay(stored) => stored,
            idempotency::Begun::Fresh(mut tx) => {
                let stored = Self::perform_transfer(&mut tx, req, destination)
                    .await
                    .map_err(db)?;
                KEYS.finish(tx, key, &stored).await?;
                stored
            }
        };
        if destination == Destination::TimeoutAfterTransfer
            && matches!(stored, Stored::Transfer { .. })
            && KEYS
                .lose_answer(&self.pool, key, LOST_TRANSFER_ANSWERS)
                .await?
        {
            // The ambiguous case: the money left, the answer was lost on the way.
            return Err(GatewayError::Timeout);
        }
        stored.into_transfer()
    }
}
