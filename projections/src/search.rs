//! The search projection: keeps the search index (Meilisearch, or Postgres full text) in step
//! with products and their stock.
//!
//! It consumes product *and* stock events through one consumer, so a product's document and its
//! in-stock flag are computed from one ordered history: no race between two projections. What
//! it folds lives in `search_sources`; only published products have a document.

use std::collections::HashMap;

use agora_catalog::{Product, ProductStatus};
use agora_inventory::StockItem;
use agora_kernel::{Decider, RecordedEvent};
use agora_nats::subjects;
use agora_search::{ProductDoc, Search, SearchIndex};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

use crate::Projection;

pub struct SearchProjection {
    pub search: Search,
}

impl Projection for SearchProjection {
    const NAME: &'static str = "search";
    const AGGREGATE_TYPE: &'static str = "product";
    const ID_COLUMN: &'static str = "aggregate_id";

    fn subjects(&self) -> Vec<String> {
        vec![subjects::events_of("product"), subjects::events_of("stock")]
    }

    async fn version(
        &self,
        conn: &mut PgConnection,
        _table: &str,
        event: &RecordedEvent,
    ) -> Result<u64, sqlx::Error> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM search_sources WHERE aggregate_type = $1 AND aggregate_id = $2 FOR UPDATE",
        )
        .bind(&event.aggregate_type)
        .bind(&event.aggregate_id)
        .fetch_optional(conn)
        .await?;
        Ok(v.unwrap_or(0) as u64)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        _table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        match first.aggregate_type.as_str() {
            "product" => {
                let product: Product = fold_source(conn, events).await?;
                let id = &first.aggregate_id;
                let skus: Vec<String> = product.variants.keys().map(|s| s.to_string()).collect();
                for sku in &skus {
                    sqlx::query(
                        "INSERT INTO search_sku_products (sku, product_id) VALUES ($1, $2)
                         ON CONFLICT (sku) DO UPDATE SET product_id = EXCLUDED.product_id",
                    )
                    .bind(sku)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                }
                let doc = document(conn, id, &product).await?;
                match &doc {
                    Some(doc) => self.search.pg().upsert(std::slice::from_ref(doc)).await?,
                    None => self.search.pg().delete(std::slice::from_ref(id)).await?,
                }
                if let Some(meili) = self.search.meili() {
                    let written = match &doc {
                        Some(doc) => meili.upsert(std::slice::from_ref(doc)).await,
                        None => meili.delete(std::slice::from_ref(id)).await,
                    };
                    if let Err(e) = written {
                        backlog(conn, id, &e).await?;
                    }
                }
            }
            "stock" => {
                let _stock: StockItem = fold_source(conn, events).await?;
                let owner: Option<String> =
                    sqlx::query_scalar("SELECT product_id FROM search_sku_products WHERE sku = $1")
                        .bind(&first.aggregate_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                if let Some(product_id) = owner {
                    if let Some(product) =
                        load_source::<Product>(conn, "product", &product_id).await?
                    {
                        if product.status == ProductStatus::Published {
                            let in_stock = in_stock(conn, &product).await?;
                            let flag = [(product_id.clone(), in_stock)];
                            self.search.pg().set_in_stock(&flag).await?;
                            if let Some(meili) = self.search.meili() {
                                if let Err(e) = meili.set_in_stock(&flag).await {
                                    backlog(conn, &product_id, &e).await?;
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Records that Meilisearch missed a write for `product_id`. Postgres search is current, so the
/// projection goes on instead of stalling every later event behind a Meilisearch outage.
async fn backlog(
    conn: &mut PgConnection,
    product_id: &str,
    error: &agora_search::SearchError,
) -> anyhow::Result<()> {
    metrics::counter!("agora_search_meili_backlog_total").increment(1);
    tracing::warn!(%product_id, %error, "meilisearch write failed; queued for re-sync");
    sqlx::query("INSERT INTO search_meili_backlog (product_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(product_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Re-sends the products Meilisearch missed, every few seconds, until `shutdown`: each gets its
/// current document (or a delete). Rows leave the backlog only once Meilisearch took the write.
pub async fn resync_meili(
    search: Search,
    pool: PgPool,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let Some(meili) = search.meili().cloned() else {
        // Nothing to re-sync without Meilisearch; a role only ends at shutdown.
        shutdown.await;
        return Ok(());
    };
    let mut ensured = false;
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
        let ids: Vec<String> = match sqlx::query_scalar(
            "SELECT product_id FROM search_meili_backlog ORDER BY since LIMIT 500",
        )
        .fetch_all(&pool)
        .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "reading the meilisearch backlog failed");
                continue;
            }
        };
        if ids.is_empty() {
            continue;
        }
        if !ensured {
            // The index may never have been created if Meilisearch was down at start.
            if meili.ensure().await.is_err() {
                continue;
            }
            ensured = true;
        }
        if let Err(e) = resync_batch(&meili, &pool, &ids).await {
            tracing::info!(error = %e, pending = ids.len(), "meilisearch still unavailable");
        }
    }
}

async fn resync_batch(
    meili: &agora_search::MeiliSearch,
    pool: &PgPool,
    ids: &[String],
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut docs = Vec::new();
    let mut gone = Vec::new();
    for id in ids {
        match load_source::<Product>(&mut conn, "product", id).await? {
            Some(product) => match document(&mut conn, id, &product).await? {
                Some(doc) => docs.push(doc),
                None => gone.push(id.clone()),
            },
            None => gone.push(id.clone()),
        }
    }
    if !docs.is_empty() {
        meili.upsert(&docs).await?;
    }
    if !gone.is_empty() {
        meili.delete(&gone).await?;
    }
    sqlx::query("DELETE FROM search_meili_backlog WHERE product_id = ANY($1)")
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Folds `events` (one stream, consecutive) into the stored state and saves it.
async fn fold_source<A: Decider + serde::Serialize + serde::de::DeserializeOwned>(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> anyhow::Result<A> {
    let first = &events[0];
    let row = sqlx::query(
        "SELECT state FROM search_sources WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(&first.aggregate_type)
    .bind(&first.aggregate_id)
    .fetch_optional(&mut *conn)
    .await?;
    let mut state: A = match row {
        Some(r) => serde_json::from_value(r.get("state"))?,
        None => A::default(),
    };
    let mut version = 0;
    for e in events {
        state.evolve(&serde_json::from_value::<A::Event>(e.payload.clone())?);
        version = e.sequence;
    }
    let created_at = first.recorded_at().unwrap_or_else(Utc::now);
    sqlx::query(
        "INSERT INTO search_sources (aggregate_type, aggregate_id, state, version, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET state = EXCLUDED.state, version = EXCLUDED.version",
    )
    .bind(&first.aggregate_type)
    .bind(&first.aggregate_id)
    .bind(serde_json::to_value(&state)?)
    .bind(version as i64)
    .bind(created_at)
    .execute(conn)
    .await?;
    Ok(state)
}

async fn load_source<A: serde::de::DeserializeOwned>(
    conn: &mut PgConnection,
    aggregate_type: &str,
    id: &str,
) -> anyhow::Result<Option<A>> {
    let state: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT state FROM search_sources WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(aggregate_type)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(match state {
        Some(s) => Some(serde_json::from_value(s)?),
        None => None,
    })
}

/// Whether any of the product's SKUs has stock available.
async fn in_stock(conn: &mut PgConnection, product: &Product) -> anyhow::Result<bool> {
    let skus: Vec<String> = product.variants.keys().map(|s| s.to_string()).collect();
    let rows: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT state FROM search_sources WHERE aggregate_type = 'stock' AND aggregate_id = ANY($1)")
            .bind(&skus)
            .fetch_all(conn)
            .await?;
    for state in rows {
        if serde_json::from_value::<StockItem>(state)?.available() > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The ids from the root of the category tree down to `category_id` (read model).
async fn category_path(conn: &mut PgConnection, category_id: &str) -> anyhow::Result<Vec<String>> {
    let path: Vec<String> = sqlx::query_scalar(
        "WITH RECURSIVE up AS (
             SELECT category_id, parent_id, 0 AS depth FROM categories WHERE category_id = $1
             UNION ALL
             SELECT c.category_id, c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.category_id = up.parent_id
             WHERE up.depth < 32)
         SELECT category_id FROM up ORDER BY depth DESC",
    )
    .bind(category_id)
    .fetch_all(conn)
    .await?;
    Ok(if path.is_empty() {
        vec![category_id.to_string()]
    } else {
        path
    })
}

/// The search document of a product, or `None` when it must not be found (not published).
async fn document(
    conn: &mut PgConnection,
    id: &str,
    product: &Product,
) -> anyhow::Result<Option<ProductDoc>> {
    if product.status != ProductStatus::Published {
        return Ok(None);
    }
    let created_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT created_at FROM search_sources WHERE aggregate_type = 'product' AND aggregate_id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_else(Utc::now);
    let view = product.view(id, 0);
    let prices: Vec<i64> = view.variants.iter().map(|v| v.price.amount_minor).collect();
    let category_path = match &view.category_id {
        Some(c) => category_path(conn, c).await?,
        None => vec![],
    };
    Ok(Some(ProductDoc {
        id: id.to_string(),
        title: view.title.clone(),
        description: view.description.clone(),
        vendor_id: view.vendor_id.clone(),
        category_id: view.category_id.clone(),
        category_path,
        price_min: prices.iter().copied().min().unwrap_or(0),
        price_max: prices.iter().copied().max().unwrap_or(0),
        currency: view
            .variants
            .first()
            .map(|v| v.price.currency.to_string())
            .unwrap_or_else(|| "EUR".into()),
        // Ratings arrive with reviews; until then no product is rated.
        rating_tenths: None,
        in_stock: in_stock(conn, product).await?,
        skus: view.variants.iter().map(|v| v.sku.to_string()).collect(),
        image_url: view.image_urls.first().cloned(),
        created_at,
    }))
}

/// Rebuilds the search index from the event store into a fresh index and swaps it in while the
/// live projection runs. Returns the number of documents written.
///
/// Products are folded from the store; stock and categories come from what the live projection
/// folded. The final catch-up and the swap run under an EXCLUSIVE lock on `search_sources`: the
/// live projection waits (it locks its source row first), so no index write is lost to the old
/// index.
pub async fn rebuild_search(search: &Search, pool: &PgPool) -> anyhow::Result<u64> {
    let store = agora_runtime::EventStore::new(pool.clone());
    // Stock as folded when the rebuild starts: a SKU that changes later marks its product for
    // the catch-up below, even when the product itself did not change.
    let stock_before: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT aggregate_id, version FROM search_sources WHERE aggregate_type = 'stock'",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let target = search.begin_rebuild().await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = 'product'",
    )
    .fetch_all(pool)
    .await?;
    let mut written = 0u64;
    let mut built: HashMap<String, u64> = HashMap::new();
    let mut conn = pool.acquire().await?;
    for chunk in ids.chunks(500) {
        let mut docs = Vec::with_capacity(chunk.len());
        for id in chunk {
            let events = store.range("product", id, 0, u64::MAX).await?;
            let (product, version, _) =
                agora_runtime::fold::<Product>(&events).map_err(|e| anyhow::anyhow!("{e}"))?;
            built.insert(id.clone(), version);
            if let Some(doc) = document(&mut conn, id, &product).await? {
                docs.push(doc);
            }
        }
        written += docs.len() as u64;
        search.upsert_into(&target, &docs).await?;
    }
    drop(conn);

    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE search_sources IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // Products the live projection changed since they were folded above (or new ones).
    let changed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, version FROM search_sources WHERE aggregate_type = 'product'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let stock_now: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, version FROM search_sources WHERE aggregate_type = 'stock'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let moved: Vec<String> = stock_now
        .into_iter()
        .filter(|(sku, v)| stock_before.get(sku) != Some(v))
        .map(|(sku, _)| sku)
        .collect();
    let restocked: std::collections::HashSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT product_id FROM search_sku_products WHERE sku = ANY($1)",
    )
    .bind(&moved)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut docs = Vec::new();
    let mut gone = Vec::new();
    for (id, version) in changed {
        if built.get(&id) == Some(&(version as u64)) && !restocked.contains(&id) {
            continue;
        }
        if let Some(product) = load_source::<Product>(&mut tx, "product", &id).await? {
            match document(&mut tx, &id, &product).await? {
                Some(doc) => docs.push(doc),
                None => gone.push(id),
            }
        }
    }
    if !docs.is_empty() {
        written += docs.len() as u64;
        search.upsert_into(&target, &docs).await?;
    }
    search.finish_rebuild(target).await?;
    if !gone.is_empty() {
        search.delete(&gone).await?;
    }
    tx.commit().await?;
    Ok(written)
}
