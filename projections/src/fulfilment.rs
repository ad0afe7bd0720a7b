//! The shipments and returns read models: one row per stream, from the aggregate's view, for
//! the back office's lists (the fulfilment pages, the returns to review and receive), the
//! carrier webhook's lookup by tracking number, and the returns runner's sweep.

use agora_fulfilment::Shipment;
use agora_kernel::{Decider, RecordedEvent};
use agora_returns::Return;
use sqlx::PgConnection;

use crate::state::fold_stream;
use crate::Projection;

pub struct Shipments;

impl Projection for Shipments {
    const NAME: &'static str = "shipments";
    const AGGREGATE_TYPE: &'static str = "shipment";
    const ID_COLUMN: &'static str = "shipment_id";

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let Some(f) = fold_stream::<Shipment>(conn, events).await? else {
            return Ok(());
        };
        let id = &events[0].aggregate_id;
        let view = f.state.view(id, f.version);
        if view.order_id.is_empty() {
            return Ok(());
        }
        let lines: Vec<serde_json::Value> = view
            .lines
            .iter()
            .map(|l| serde_json::json!({"sku": l.sku, "title": l.title, "quantity": l.quantity}))
            .collect();
        let units: i64 = view.lines.iter().map(|l| l.quantity).sum();
        sqlx::query(&format!(
            "INSERT INTO {table} (shipment_id, order_id, status, carrier, tracking_number, lines,
               units, country, version, created_at, updated_at, vendor_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (shipment_id) DO UPDATE SET status = EXCLUDED.status,
               carrier = EXCLUDED.carrier, tracking_number = EXCLUDED.tracking_number,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(id)
        .bind(&view.order_id)
        .bind(view.status.as_str())
        .bind(&view.carrier)
        .bind(&view.tracking_number)
        .bind(serde_json::Value::Array(lines))
        .bind(units)
        .bind(&view.address.country)
        .bind(f.version as i64)
        .bind(f.created_at)
        .bind(f.updated_at)
        .bind(&view.vendor_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

pub struct Returns;

impl Projection for Returns {
    const NAME: &'static str = "returns";
    const AGGREGATE_TYPE: &'static str = "return";
    const ID_COLUMN: &'static str = "return_id";

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let Some(f) = fold_stream::<Return>(conn, events).await? else {
            return Ok(());
        };
        let id = &events[0].aggregate_id;
        let view = f.state.view(id, f.version);
        if view.order_id.is_empty() {
            return Ok(());
        }
        let units: i64 = view.lines.iter().map(|l| l.quantity).sum();
        sqlx::query(&format!(
            "INSERT INTO {table} (return_id, order_id, status, customer_id, units, refunded_minor,
               currency, version, created_at, updated_at, vendor_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (return_id) DO UPDATE SET status = EXCLUDED.status,
               refunded_minor = EXCLUDED.refunded_minor, currency = EXCLUDED.currency,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(id)
        .bind(&view.order_id)
        .bind(view.status.as_str())
        .bind(view.customer_id.map(|c| c.to_string()))
        .bind(units)
        .bind(view.refunded_total.map(|m| m.amount_minor))
        .bind(view.refunded_total.map(|m| m.currency.to_string()))
        .bind(f.version as i64)
        .bind(f.created_at)
        .bind(f.updated_at)
        .bind(one_vendor(
            view.lines.iter().map(|l| l.vendor_id.as_deref()),
        ))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// The one vendor all of `vendors` name, if they name one and the same.
fn one_vendor<'a>(mut vendors: impl Iterator<Item = Option<&'a str>>) -> Option<&'a str> {
    let first = vendors.next()??;
    vendors.all(|v| v == Some(first)).then_some(first)
}
