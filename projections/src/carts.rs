//! The back-office cart read model: one row per cart with its lines, counts and status; no copy
//! of the aggregate (whose guest-token hash stays in the event store).

use agora_cart::{Cart, CartOwner};
use agora_kernel::{Decider, RecordedEvent};
use sqlx::PgConnection;

use crate::state::fold_stream;

use crate::Projection;

pub struct Carts;

impl Projection for Carts {
    const NAME: &'static str = "carts";
    const AGGREGATE_TYPE: &'static str = "cart";
    const ID_COLUMN: &'static str = "cart_id";
    /// The edge keeps each cart's pricing until it hears that cart change.
    const ANNOUNCES_STREAMS: bool = true;

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let Some(f) = fold_stream::<Cart>(conn, events).await? else {
            return Ok(());
        };
        let (cart, version, created_at, updated_at) =
            (f.state, f.version, f.created_at, f.updated_at);
        let first = &events[0];
        let view = cart.view(&first.aggregate_id, version);
        let (owner_kind, customer_id) = match &cart.owner {
            Some(CartOwner::Customer { customer_id }) => ("customer", Some(customer_id.as_uuid())),
            _ => ("guest", None),
        };
        sqlx::query(&format!(
            "INSERT INTO {table} (cart_id, owner_kind, customer_id, status, line_count, item_count, lines, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (cart_id) DO UPDATE SET owner_kind = EXCLUDED.owner_kind, customer_id = EXCLUDED.customer_id,
               status = EXCLUDED.status, line_count = EXCLUDED.line_count, item_count = EXCLUDED.item_count,
               lines = EXCLUDED.lines, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(&first.aggregate_id)
        .bind(owner_kind)
        .bind(customer_id)
        .bind(serde_json::to_value(view.status)?.as_str().unwrap_or("open").to_string())
        .bind(view.lines.len() as i32)
        .bind(view.item_count)
        .bind(serde_json::to_value(&view.lines)?)
        .bind(version as i64)
        .bind(created_at)
        .bind(updated_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}
