//! The idempotency-key store of the Postgres-backed test providers ([`crate::TestGateway`],
//! [`crate::TestPayouts`]), so that both keep the port's promise the same way.
//!
//! Each provider has its own two tables, named by a [`Keys`]:
//! - a requests table: one row per key with the operation, a fingerprint of its parameters and
//!   the stored response. The row is inserted *before* the effect, in the transaction that
//!   performs it, so a concurrent call with the same key blocks on the insert until the first
//!   commits, then replays the stored response instead of performing the effect again; and a
//!   process killed in between rolls back the key with the effect.
//! - a lost-answers table: how many answers to a key were lost on purpose, so a simulated loss
//!   stops after a few calls whichever process asks.

use agora_kernel::Money;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::GatewayError;

/// A response a provider stores with a key and replays on a retry.
pub(crate) trait Response: Serialize + DeserializeOwned {
    /// The answer to a key that was used before with other parameters.
    fn key_reused() -> Self;
}

/// Either the response of an earlier call with the same key, or an open transaction that holds
/// the key's row and must perform the operation.
pub(crate) enum Begun<R> {
    Replay(R),
    Fresh(Transaction<'static, Postgres>),
}

/// One provider's requests and lost-answers tables. The names are constants of this crate,
/// never input, which is why they may be spliced into SQL.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keys {
    requests: &'static str,
    lost_answers: &'static str,
}

impl Keys {
    pub(crate) const fn new(requests: &'static str, lost_answers: &'static str) -> Keys {
        Keys {
            requests,
            lost_answers,
        }
    }

    /// Claims `key` for this call, or returns what an earlier call with it answered. A
    /// concurrent call with the same key blocks on the insert until the first commits.
    pub(crate) async fn begin<R: Response>(
        &self,
        pool: &PgPool,
        key: &str,
        operation: &str,
        fingerprint: &str,
    ) -> Result<Begun<R>, GatewayError> {
        let mut tx = pool.begin().await.map_err(db)?;
        sqlx::query(&format!(
            "INSERT INTO {} (idempotency_key, operation, fingerprint) \
             VALUES ($1, $2, $3) ON CONFLICT (idempotency_key) DO NOTHING",
            self.requests
        ))
        .bind(key)
        .bind(operation)
        .bind(fingerprint)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let row = sqlx::query(&format!(
            "SELECT fingerprint, response FROM {} WHERE idempotency_key = $1 FOR UPDATE",
            self.requests
        ))
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let stored_fingerprint: String = row.try_get("fingerprint").map_err(db)?;
        if stored_fingerprint != fingerprint {
            return Ok(Begun::Replay(R::key_reused()));
        }
        let response: Option<serde_json::Value> = row.try_get("response").map_err(db)?;
        match response {
            None => Ok(Begun::Fresh(tx)),
            Some(json) => serde_json::from_value(json)
                .map(Begun::Replay)
                .map_err(|e| GatewayError::Unavailable(format!("stored response: {e}"))),
        }
    }

    /// Stores the response with the key and commits the effect with it.
    pub(crate) async fn finish<R: Response>(
        &self,
        mut tx: Transaction<'static, Postgres>,
        key: &str,
        response: &R,
    ) -> Result<(), GatewayError> {
        let json = serde_json::to_value(response)
            .map_err(|e| GatewayError::Unavailable(format!("encode response: {e}")))?;
        sqlx::query(&format!(
            "UPDATE {} SET response = $2 WHERE idempotency_key = $1",
            self.requests
        ))
        .bind(key)
        .bind(json)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // A failed commit may still have committed: that is exactly an unknown outcome.
        tx.commit().await.map_err(|_| GatewayError::Timeout)
    }

    /// Counts one more answer to `key` as lost; whether it is among the first `limit`, that
    /// is, whether this answer is to be lost. The count lives in Postgres so that the loss
    /// stops after `limit` answers however many processes ask.
    pub(crate) async fn lose_answer(
        &self,
        pool: &PgPool,
        key: &str,
        limit: i32,
    ) -> Result<bool, GatewayError> {
        let lost: i32 = sqlx::query_scalar(&format!(
            "INSERT INTO {table} (idempotency_key, lost) VALUES ($1, 1) \
             ON CONFLICT (idempotency_key) DO UPDATE SET lost = {table}.lost + 1 \
             RETURNING lost",
            table = self.lost_answers
        ))
        .bind(key)
        .fetch_one(pool)
        .await
        .map_err(db)?;
        Ok(lost <= limit)
    }
}

/// Creates a provider's tables if they are missing. `lock` serialises the creation between
/// processes starting at once (`CREATE TABLE IF NOT EXISTS` alone races on Postgres' catalog).
pub(crate) async fn create_schema(
    pool: &PgPool,
    lock: i64,
    schema: &str,
    provider: &str,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut tx = pool
        .begin()
        .await
        .with_context(|| format!("begin {provider} schema"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("lock {provider} schema"))?;
    sqlx::raw_sql(schema)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("create {provider} tables"))?;
    tx.commit()
        .await
        .with_context(|| format!("commit {provider} schema"))
}

/// The provider's own database failing is, to the caller, the provider being unavailable.
pub(crate) fn db(e: sqlx::Error) -> GatewayError {
    GatewayError::Unavailable(format!("test provider database: {e}"))
}

/// Refuses a zero or negative amount before anything is stored.
pub(crate) fn positive(amount: Money) -> Result<(), GatewayError> {
    if amount.amount_minor <= 0 {
        return Err(GatewayError::rejected(
            "amount_too_small",
            "the amount must be positive",
        ));
    }
    Ok(())
}
