//! The payments read model: one row per payment, from its view. The Stripe webhook finds a
//! payment by the provider's reference here when the event names no order (a dispute names the
//! intent only), and the back office lists disputed payments from it.

use agora_kernel::{Decider, RecordedEvent};
use agora_payment::{DisputeStatus, Payment};
use sqlx::PgConnection;

use crate::state::fold_stream;
use crate::Projection;

pub struct Payments;

impl Projection for Payments {
    const NAME: &'static str = "payments";
    const AGGREGATE_TYPE: &'static str = "payment";
    const ID_COLUMN: &'static str = "payment_id";

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        // A payment's stream is short (a dozen events), so it is folded from the store.
        let Some(f) = fold_stream::<Payment>(conn, events).await? else {
            return Ok(());
        };
        let id = &events[0].aggregate_id;
        let view = f.state.view(id, f.version);
        if view.order_id.is_empty() {
            return Ok(());
        }
        let status = serde_json::to_value(view.status)?;
        let open = view
            .disputes
            .iter()
            .filter(|d| d.status == DisputeStatus::Open)
            .count();
        sqlx::query(&format!(
            "INSERT INTO {table} (payment_id, order_id, status, provider_ref, currency,
               amount_minor, captured_minor, refunded_minor, charged_back_minor, open_disputes,
               disputes, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (payment_id) DO UPDATE SET status = EXCLUDED.status,
               provider_ref = EXCLUDED.provider_ref, captured_minor = EXCLUDED.captured_minor,
               refunded_minor = EXCLUDED.refunded_minor,
               charged_back_minor = EXCLUDED.charged_back_minor,
               open_disputes = EXCLUDED.open_disputes, disputes = EXCLUDED.disputes,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(id)
        .bind(&view.order_id)
        .bind(status.as_str().unwrap_or_default())
        .bind(&view.provider_ref)
        .bind(view.amount.currency.as_str())
        .bind(view.amount.amount_minor)
        .bind(view.captured.amount_minor)
        .bind(view.refunded.amount_minor)
        .bind(view.charged_back.amount_minor)
        .bind(i32::try_from(open)?)
        .bind(i32::try_from(view.disputes.len())?)
        .bind(f.version as i64)
        .bind(f.created_at)
        .bind(f.updated_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
