//! The category tree read model.

use agora_catalog::Category;
use agora_kernel::{Decider, RecordedEvent};
use sqlx::PgConnection;

use crate::state::fold_stream;
use crate::Projection;

pub struct Categories;

impl Projection for Categories {
    const NAME: &'static str = "categories";
    const AGGREGATE_TYPE: &'static str = "category";
    const ID_COLUMN: &'static str = "category_id";

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let Some(f) = fold_stream::<Category>(conn, events).await? else {
            return Ok(());
        };
        let view = f.state.view(&events[0].aggregate_id, f.version);
        sqlx::query(&format!(
            "INSERT INTO {table} (category_id, name, parent_id, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (category_id) DO UPDATE SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id,
                version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(&view.id)
        .bind(&view.name)
        .bind(&view.parent_id)
        .bind(f.version as i64)
        .bind(f.created_at)
        .bind(f.updated_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}
