//! Stock levels, the movements ledger and live reservations.

use agora_inventory::{StockEvent, StockItem};
use agora_kernel::{Decider, RecordedEvent};
use sqlx::PgConnection;

use crate::state::fold_row;
use crate::{companion_table, Projection};

/// The folded stock of each SKU, private to this projection.
const STATES: &str = "stock_states";

pub struct Stock;

impl Projection for Stock {
    const NAME: &'static str = "stock_levels";
    const AGGREGATE_TYPE: &'static str = "stock";
    const ID_COLUMN: &'static str = "sku";
    const COMPANION_TABLES: &'static [&'static str] = &[STATES];

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let states = companion_table(Self::NAME, table, STATES);
        let Some(f) = fold_row::<StockItem>(conn, &states, Self::ID_COLUMN, events).await? else {
            return Ok(());
        };
        let sku = &events[0].aggregate_id;
        let view = f.state.view(sku, f.version);
        sqlx::query(&format!(
            "INSERT INTO {table} (sku, on_hand, reserved, available, low_stock_threshold, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (sku) DO UPDATE SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved,
                available = EXCLUDED.available, low_stock_threshold = EXCLUDED.low_stock_threshold,
                version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(sku)
        .bind(view.on_hand)
        .bind(view.reserved)
        .bind(view.available)
        .bind(view.low_stock_threshold)
        .bind(f.version as i64)
        .bind(f.created_at)
        .bind(f.updated_at)
        .execute(&mut *conn)
        .await?;
        // The ledger and the reservations live beside the levels; a rebuild of the levels table
        // leaves them as they are (they are keyed by stream position and idempotent).
        for e in events {
            let event: StockEvent = serde::Deserialize::deserialize(&e.payload)?;
            let (on_hand_delta, reserved_delta, reason, note, reservation) = match &event {
                StockEvent::StockReceived {
                    quantity, reason, ..
                } => (*quantity, 0, reason.clone(), None, None),
                StockEvent::StockAdjusted {
                    delta,
                    reason,
                    note,
                    ..
                } => (
                    *delta,
                    0,
                    serde_json::to_value(reason)?.as_str().map(str::to_string),
                    note.clone(),
                    None,
                ),
                StockEvent::StockReserved {
                    reservation_id,
                    quantity,
                    ..
                } => (0, *quantity, None, None, Some(reservation_id.clone())),
                StockEvent::ReservationReleased {
                    reservation_id,
                    quantity,
                } => (
                    0,
                    -quantity,
                    Some("released".into()),
                    None,
                    Some(reservation_id.clone()),
                ),
                StockEvent::ReservationExpired {
                    reservation_id,
                    quantity,
                } => (
                    0,
                    -quantity,
                    Some("expired".into()),
                    None,
                    Some(reservation_id.clone()),
                ),
                StockEvent::ReservationCommitted {
                    reservation_id,
                    quantity,
                    ..
                } => (
                    -quantity,
                    -quantity,
                    Some("sold".into()),
                    None,
                    Some(reservation_id.clone()),
                ),
                StockEvent::ReservationReturned {
                    reservation_id,
                    quantity,
                    ..
                } => (
                    *quantity,
                    0,
                    Some("returned".into()),
                    None,
                    Some(reservation_id.clone()),
                ),
                // Threshold changes, extensions and signals are not movements.
                _ => continue,
            };
            sqlx::query(
                "INSERT INTO stock_movements (sku, sequence, kind, on_hand_delta, reserved_delta, reason, note, reservation_id, at, actor)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            )
            .bind(sku)
            .bind(e.sequence as i64)
            .bind(&e.event_type)
            .bind(on_hand_delta)
            .bind(reserved_delta)
            .bind(reason)
            .bind(note)
            .bind(reservation)
            .bind(e.recorded_at().unwrap_or(f.updated_at))
            .bind(e.metadata.get("actor").cloned().unwrap_or(serde_json::Value::Null))
            .execute(&mut *conn)
            .await?;
        }
        // Live reservations mirror the folded state exactly.
        sqlx::query("DELETE FROM stock_reservations WHERE sku = $1")
            .bind(sku)
            .execute(&mut *conn)
            .await?;
        if !view.reservations.is_empty() {
            // One statement for all of them, however many a best-seller holds.
            let rs = &view.reservations;
            sqlx::query(
                "INSERT INTO stock_reservations (sku, reservation_id, quantity, expires_at, order_ref)
                 SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::timestamptz[], $5::text[])",
            )
            .bind(sku)
            .bind(rs.iter().map(|r| r.id.clone()).collect::<Vec<_>>())
            .bind(rs.iter().map(|r| r.quantity).collect::<Vec<_>>())
            .bind(rs.iter().map(|r| r.expires_at).collect::<Vec<_>>())
            .bind(rs.iter().map(|r| r.order_ref.clone()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
