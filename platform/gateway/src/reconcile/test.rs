//! The test gateway's statement: its own log of the captures and refunds it performed
//! (`test_gateway_operations`), one record per effect, with the id `txn_test_<log seq>`.

use agora_kernel::{Currency, Money};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::{ProviderRecord, ProviderStatement, RecordKind};
use crate::idempotency::db;
use crate::{GatewayError, TestGateway};

#[async_trait::async_trait]
impl ProviderStatement for TestGateway {
    #[tracing::instrument(name = "test_gateway.statement", skip_all, fields(%from, %to))]
    async fn records(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ProviderRecord>, GatewayError> {
        let rows = sqlx::query(
            "SELECT seq, intent_id, operation, amount_minor, currency, reference, fee_minor, \
                    agora_refund_id, at \
             FROM test_gateway_operations \
             WHERE operation IN ('capture', 'refund') AND at >= $1 AND at < $2 \
             ORDER BY at, seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(record).collect()
    }
}

fn record(row: &PgRow) -> Result<ProviderRecord, GatewayError> {
    let seq: i64 = row.try_get("seq").map_err(db)?;
    let operation: String = row.try_get("operation").map_err(db)?;
    let currency: String = row.try_get("currency").map_err(db)?;
    let currency = Currency::parse(&currency).map_err(|_| {
        GatewayError::Unavailable(format!("test provider database: currency {currency:?}"))
    })?;
    let amount = Money::new(row.try_get("amount_minor").map_err(db)?, currency);
    let kind = if operation == "capture" {
        RecordKind::Capture
    } else {
        RecordKind::Refund
    };
    // Logged before the column existed: the fee the provider has always charged.
    let fee_minor: Option<i64> = row.try_get("fee_minor").map_err(db)?;
    let fee = match (fee_minor, kind) {
        (Some(fee), _) => Money::new(fee, currency),
        (None, RecordKind::Capture) => TestGateway::FEES.expected(amount),
        (None, RecordKind::Refund) => Money::zero(currency),
    };
    Ok(ProviderRecord {
        id: format!("txn_test_{seq}"),
        kind,
        provider_ref: row.try_get("intent_id").map_err(db)?,
        refund_ref: row.try_get("reference").map_err(db)?,
        our_refund_id: row.try_get("agora_refund_id").map_err(db)?,
        amount,
        fee,
        at: row.try_get("at").map_err(db)?,
    })
}
