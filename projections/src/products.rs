//! The product read model: back office lists and storefront pages (published rows only).

use agora_catalog::{Product, ProductStatus};
use agora_kernel::{Decider, RecordedEvent};
use sqlx::PgConnection;

use crate::state::fold_row;
use crate::{companion_table, Projection};

/// The folded products, private to this projection.
const STATES: &str = "product_states";

pub struct Products;

pub fn status_name(status: ProductStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "draft".into())
}

impl Projection for Products {
    const NAME: &'static str = "products";
    const AGGREGATE_TYPE: &'static str = "product";
    const ID_COLUMN: &'static str = "product_id";
    const COMPANION_TABLES: &'static [&'static str] = &[STATES];

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let states = companion_table(Self::NAME, table, STATES);
        let Some(f) = fold_row::<Product>(conn, &states, Self::ID_COLUMN, events).await? else {
            return Ok(());
        };
        let view = f.state.view(&events[0].aggregate_id, f.version);
        let prices: Vec<i64> = view.variants.iter().map(|v| v.price.amount_minor).collect();
        let currency = view.variants.first().map(|v| v.price.currency.to_string());
        let skus: Vec<String> = view.variants.iter().map(|v| v.sku.to_string()).collect();
        sqlx::query(&format!(
            "INSERT INTO {table} (product_id, vendor_id, title, description, status, category_id, image_urls, attributes,
                variants, skus, price_min, price_max, currency, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (product_id) DO UPDATE SET vendor_id = EXCLUDED.vendor_id, title = EXCLUDED.title,
                description = EXCLUDED.description, status = EXCLUDED.status, category_id = EXCLUDED.category_id,
                image_urls = EXCLUDED.image_urls, attributes = EXCLUDED.attributes, variants = EXCLUDED.variants,
                skus = EXCLUDED.skus, price_min = EXCLUDED.price_min, price_max = EXCLUDED.price_max,
                currency = EXCLUDED.currency, version = EXCLUDED.version,
                updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(&view.id)
        .bind(&view.vendor_id)
        .bind(&view.title)
        .bind(&view.description)
        .bind(status_name(view.status))
        .bind(&view.category_id)
        .bind(serde_json::to_value(&view.image_urls)?)
        .bind(serde_json::to_value(&view.attributes)?)
        .bind(serde_json::to_value(&view.variants)?)
        .bind(&skus)
        .bind(prices.iter().min().copied())
        .bind(prices.iter().max().copied())
        .bind(currency)
        .bind(f.version as i64)
        .bind(f.created_at)
        .bind(f.updated_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}
