//! The back-office cart read model: one row per cart with its lines, counts and status.

use agora_cart::{Cart, CartEvent, CartOwner};
use agora_kernel::{Decider, RecordedEvent};
use sqlx::{PgConnection, Row};

use crate::Projection;

pub struct Carts;

impl Projection for Carts {
    const NAME: &'static str = "carts";
    const AGGREGATE_TYPE: &'static str = "cart";

    async fn version(
        conn: &mut PgConnection,
        table: &str,
        aggregate_id: &str,
    ) -> Result<u64, sqlx::Error> {
        let v: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT version FROM {table} WHERE cart_id = $1 FOR UPDATE"
        ))
        .bind(aggregate_id)
        .fetch_optional(conn)
        .await?;
        Ok(v.unwrap_or(0) as u64)
    }

    async fn apply(
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let row = sqlx::query(&format!(
            "SELECT state, created_at FROM {table} WHERE cart_id = $1"
        ))
        .bind(&first.aggregate_id)
        .fetch_optional(&mut *conn)
        .await?;
        let (mut cart, mut created_at) = match row {
            Some(row) => (
                serde_json::from_value::<Cart>(row.get("state"))?,
                Some(row.get::<chrono::DateTime<chrono::Utc>, _>("created_at")),
            ),
            None => (Cart::default(), None),
        };
        let mut version = 0;
        let mut updated_at = chrono::Utc::now();
        for e in events {
            let event: CartEvent = serde_json::from_value(e.payload.clone())?;
            cart.evolve(&event);
            version = e.sequence;
            if let Some(at) = e.recorded_at() {
                updated_at = at;
                created_at.get_or_insert(at);
            }
        }
        let view = cart.view(&first.aggregate_id, version);
        let (owner_kind, customer_id) = match &cart.owner {
            Some(CartOwner::Customer { customer_id }) => ("customer", Some(customer_id.as_uuid())),
            _ => ("guest", None),
        };
        sqlx::query(&format!(
            "INSERT INTO {table} (cart_id, owner_kind, customer_id, status, line_count, item_count, lines, state, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (cart_id) DO UPDATE SET owner_kind = EXCLUDED.owner_kind, customer_id = EXCLUDED.customer_id,
               status = EXCLUDED.status, line_count = EXCLUDED.line_count, item_count = EXCLUDED.item_count,
               lines = EXCLUDED.lines, state = EXCLUDED.state, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(&first.aggregate_id)
        .bind(owner_kind)
        .bind(customer_id)
        .bind(serde_json::to_value(view.status)?.as_str().unwrap_or("open").to_string())
        .bind(view.lines.len() as i32)
        .bind(view.item_count)
        .bind(serde_json::to_value(&view.lines)?)
        .bind(serde_json::to_value(&cart)?)
        .bind(version as i64)
        .bind(created_at.unwrap_or(updated_at))
        .bind(updated_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}
