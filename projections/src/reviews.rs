//! The reviews read model: one row per review, from its view. The storefront lists a
//! product's approved reviews from it, the back office its moderation queue, and each vendor
//! the reviews of its products.

use agora_kernel::{Decider, RecordedEvent};
use agora_review::Review;
use sqlx::PgConnection;

use crate::state::fold_stream;
use crate::Projection;

pub struct Reviews;

impl Projection for Reviews {
    const NAME: &'static str = "reviews";
    const AGGREGATE_TYPE: &'static str = "review";
    const ID_COLUMN: &'static str = "review_id";

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        // A review's stream is short: folded from the store.
        let Some(f) = fold_stream::<Review>(conn, events).await? else {
            return Ok(());
        };
        let id = &events[0].aggregate_id;
        let view = f.state.view(id, f.version);
        let (Some(author), Some(submitted_at)) = (view.author_id, view.submitted_at) else {
            return Ok(());
        };
        let response_by = view
            .response
            .as_ref()
            .map(|r| serde_json::to_value(r.by))
            .transpose()?;
        sqlx::query(&format!(
            "INSERT INTO {table} (review_id, product_id, vendor_id, customer_id, author_name,
               rating, title, body, verified_purchase, status, rejection_reason, response,
               response_by, response_at, version, submitted_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
             ON CONFLICT (review_id) DO UPDATE SET author_name = EXCLUDED.author_name,
               rating = EXCLUDED.rating, title = EXCLUDED.title, body = EXCLUDED.body,
               verified_purchase = EXCLUDED.verified_purchase, status = EXCLUDED.status,
               rejection_reason = EXCLUDED.rejection_reason, response = EXCLUDED.response,
               response_by = EXCLUDED.response_by, response_at = EXCLUDED.response_at,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(id)
        .bind(&view.product_id)
        .bind(&view.vendor_id)
        .bind(author.to_string())
        .bind(&view.author_name)
        .bind(i16::from(view.rating))
        .bind(&view.title)
        .bind(&view.body)
        .bind(view.verified_purchase)
        .bind(view.status.as_str())
        .bind(&view.rejection_reason)
        .bind(view.response.as_ref().map(|r| r.text.clone()))
        .bind(response_by.as_ref().and_then(|v| v.as_str()))
        .bind(view.response.as_ref().map(|r| r.at))
        .bind(f.version as i64)
        .bind(submitted_at)
        .bind(view.updated_at.unwrap_or(submitted_at))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
