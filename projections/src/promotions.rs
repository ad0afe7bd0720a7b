//! The promotions read model: one row per promotion with its status, kind, counters and the
//! folded aggregate. The back office lists promotions from it, the checkout finds the active
//! automatic ones in it (and then reads each one's authoritative state from its stream), and
//! the redemptions report joins it with the orders read model.

use agora_kernel::RecordedEvent;
use agora_promotion::{Promotion, PromotionKind, PromotionStatus, RedemptionState};
use sqlx::PgConnection;

use crate::state::fold_row;
use crate::{companion_table, Projection};

/// The folded promotions, private to this projection.
const STATES: &str = "promotion_states";
/// One row per confirmed or open redemption: what the redemptions report joins orders on.
const REDEMPTIONS: &str = "promotion_redemptions";

pub struct Promotions;

fn status_name(status: PromotionStatus) -> &'static str {
    match status {
        PromotionStatus::Draft => "draft",
        PromotionStatus::Active => "active",
        PromotionStatus::Paused => "paused",
        PromotionStatus::Ended => "ended",
    }
}

fn kind_name(kind: PromotionKind) -> &'static str {
    match kind {
        PromotionKind::Automatic => "automatic",
        PromotionKind::Code => "code",
        PromotionKind::UniqueCodes => "unique_codes",
    }
}

impl Projection for Promotions {
    const NAME: &'static str = "promotions";
    const AGGREGATE_TYPE: &'static str = "promotion";
    const ID_COLUMN: &'static str = "promotion_id";
    const COMPANION_TABLES: &'static [&'static str] = &[STATES, REDEMPTIONS];

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let states = companion_table(Self::NAME, table, STATES);
        let Some(f) = fold_row::<Promotion>(conn, &states, Self::ID_COLUMN, events).await? else {
            return Ok(());
        };
        let promotion = f.state;
        let (Some(status), Some(kind), Some(terms)) =
            (promotion.status, promotion.kind, promotion.terms.as_ref())
        else {
            // Nothing created yet (cannot happen for a stream that exists).
            return Ok(());
        };
        let code = match kind {
            PromotionKind::Code => promotion.codes.iter().next().map(|c| c.to_string()),
            _ => None,
        };
        let confirmed: Vec<_> = promotion
            .redemptions
            .values()
            .filter(|r| r.state == RedemptionState::Confirmed)
            .collect();
        let confirmed_minor: i64 = confirmed.iter().map(|r| r.amount.amount_minor).sum();
        sqlx::query(&format!(
            "INSERT INTO {table} (promotion_id, name, status, kind, currency, code, priority, uses, confirmed_uses,
               spent_minor, confirmed_minor, total_uses, budget_minor, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (promotion_id) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status,
               kind = EXCLUDED.kind, currency = EXCLUDED.currency, code = EXCLUDED.code,
               priority = EXCLUDED.priority, uses = EXCLUDED.uses, confirmed_uses = EXCLUDED.confirmed_uses,
               spent_minor = EXCLUDED.spent_minor, confirmed_minor = EXCLUDED.confirmed_minor,
               total_uses = EXCLUDED.total_uses, budget_minor = EXCLUDED.budget_minor,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(&events[0].aggregate_id)
        .bind(&terms.name)
        .bind(status_name(status))
        .bind(kind_name(kind))
        .bind(terms.currency.to_string())
        .bind(code)
        .bind(i32::try_from(terms.stacking.priority).unwrap_or(i32::MAX))
        .bind(i64::try_from(promotion.uses).unwrap_or(i64::MAX))
        .bind(confirmed.len() as i64)
        .bind(promotion.spent_minor)
        .bind(confirmed_minor)
        .bind(terms.limits.total_uses.map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .bind(terms.limits.budget.map(|b| b.amount_minor))
        .bind(f.version as i64)
        .bind(f.created_at)
        .bind(f.updated_at)
        .execute(&mut *conn)
        .await?;
        // The redemptions as rows: replaced as a whole, like the folded state they come from.
        let redemptions = companion_table(Self::NAME, table, REDEMPTIONS);
        sqlx::query(&format!(
            "DELETE FROM {redemptions} WHERE promotion_id = $1"
        ))
        .bind(&events[0].aggregate_id)
        .execute(&mut *conn)
        .await?;
        let (mut orders, mut states, mut amounts) = (vec![], vec![], vec![]);
        for (order, r) in &promotion.redemptions {
            orders.push(order.to_string());
            states.push(match r.state {
                RedemptionState::Confirmed => "confirmed",
                RedemptionState::Reserved => "open",
            });
            amounts.push(r.amount.amount_minor);
        }
        sqlx::query(&format!(
            "INSERT INTO {redemptions} (promotion_id, order_id, state, amount_minor)
             SELECT $1, o, s, a FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(o, s, a)"
        ))
        .bind(&events[0].aggregate_id)
        .bind(&orders)
        .bind(&states)
        .bind(&amounts)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
