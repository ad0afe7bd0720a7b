//! The search projection: keeps the search index (Meilisearch, or Postgres full text) in step
//! with products and their stock.
//!
//! It consumes product *and* stock events through one consumer, so a product's document and its
//! in-stock flag are computed from one ordered history: no race between two projections. What
//! it folds lives in `search_sources`; only published products have a document.
//!
//! The projection writes only Postgres: the Postgres index (in its own transaction, with its
//! checkpoint) and, when Meilisearch is configured, one row per changed product in the outbox
//! `search_meili_backlog`. So the Postgres index, the fallback, never waits for Meilisearch.
//! [`ship_to_meili`] drains the outbox: a batch of rows becomes one task per kind of write
//! (whole documents, in-stock patches, deletions), up to [`Shipping::in_flight`] tasks are in
//! flight, each is confirmed asynchronously, and a row leaves the outbox only after Meilisearch
//! reported its task succeeded (a failed or lost task leaves it there, to be sent again).

use std::collections::HashMap;

use agora_catalog::{Product, ProductStatus};
use agora_inventory::StockItem;
use agora_kernel::{Decider, RecordedEvent};
use agora_nats::subjects;
use agora_review::{Review, ReviewStatus};
use agora_search::{ProductDoc, Search, SearchIndex};
use agora_vendor::{Vendor, VendorStatus};
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgConnection, PgPool};

use agora_runtime::EventStore;

use crate::Projection;

pub struct SearchProjection {
    pub search: Search,
}

impl Projection for SearchProjection {
    const NAME: &'static str = "search";
    const AGGREGATE_TYPE: &'static str = "product";
    const ID_COLUMN: &'static str = "aggregate_id";

    fn subjects(&self) -> Vec<String> {
        vec![
            subjects::events_of("product"),
            subjects::events_of("stock"),
            subjects::events_of("vendor"),
            subjects::events_of("review"),
        ]
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

    /// One stream's new events (the runner checked the version and filled any gap): the same
    /// set-based path as a batch, with one stream in it.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        _table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        if !is_source(&first.aggregate_type) {
            return Ok(());
        }
        let key = (first.aggregate_type.clone(), first.aggregate_id.clone());
        let mut stored = stored_sources(conn, std::slice::from_ref(&key), false).await?;
        let stream = Stream {
            stored: stored.remove(&key),
            key,
            events: events.to_vec(),
        };
        self.project_streams(conn, vec![stream]).await
    }

    /// The whole batch set-based: a few set queries to read, one multi-row write per table.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        store: &EventStore,
        _table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        // The batch's events per stream, streams in order of first appearance.
        let mut order: Vec<Key> = Vec::new();
        let mut by_stream: HashMap<Key, Vec<&RecordedEvent>> = HashMap::new();
        for e in events.iter().filter(|e| is_source(&e.aggregate_type)) {
            let key = (e.aggregate_type.clone(), e.aggregate_id.clone());
            by_stream
                .entry(key.clone())
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push(e);
        }
        if order.is_empty() {
            return Ok(());
        }
        // Locks every stream's source row (in key order, so two instances cannot deadlock),
        // as `version` does for one.
        let mut stored = stored_sources(conn, &order, true).await?;
        let mut streams = Vec::with_capacity(order.len());
        for key in order {
            let stored = stored.remove(&key);
            let mut at = stored.as_ref().map_or(0, |s| s.version);
            let mut batch = by_stream.remove(&key).unwrap_or_default();
            batch.sort_by_key(|e| e.sequence);
            let mut new = Vec::new();
            for e in batch {
                if e.sequence <= at {
                    continue; // applied already (a redelivery, or a duplicate in the batch)
                }
                if e.sequence > at + 1 {
                    metrics::counter!("agora_projection_gaps_total", "projection" => Self::NAME)
                        .increment(1);
                    new.extend(store.range(&key.0, &key.1, at, e.sequence).await?);
                }
                new.push(e.clone());
                at = e.sequence;
            }
            if !new.is_empty() {
                streams.push(Stream {
                    key,
                    stored,
                    events: new,
                });
            }
        }
        self.project_streams(conn, streams).await
    }
}

/// A product or stock stream: `(aggregate_type, aggregate_id)`.
type Key = (String, String);

fn is_source(aggregate_type: &str) -> bool {
    matches!(aggregate_type, "product" | "stock" | "vendor" | "review")
}

/// Each of `products`' average approved rating in tenths of a star (4.5 stars is 45), from
/// the reviews folded in `search_sources`. Products without an approved review are left out.
async fn ratings_of(
    conn: &mut PgConnection,
    products: &[&str],
) -> anyhow::Result<HashMap<String, i32>> {
    if products.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i32)> = sqlx::query_as(
        "SELECT state->'subject'->>'product_id', round(avg((state->'content'->>'rating')::int) * 10)::int
         FROM search_sources
         WHERE aggregate_type = 'review' AND state->>'status' = 'approved'
           AND state->'subject'->>'product_id' = ANY($1)
         GROUP BY 1",
    )
    .bind(products)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The average of `ratings` (stars) in tenths of a star, rounded half away from zero as
/// Postgres's `round` does; `None` without any.
fn rating_tenths(ratings: &[u8]) -> Option<i32> {
    if ratings.is_empty() {
        return None;
    }
    let sum: i64 = ratings.iter().map(|r| i64::from(*r)).sum();
    let n = ratings.len() as i64;
    // round(sum * 10 / n), half up (all positive).
    i32::try_from((sum * 20 + n) / (2 * n)).ok()
}

/// Whether a marketplace vendor's products are in the storefront's search: only while it is
/// active (approved and neither suspended nor closed). A product whose vendor has no stream
/// (the shop's own vendor ids, from before the marketplace) is always listed.
fn listed(id: &str, vendor: &Vendor) -> bool {
    Decider::view(vendor, id, 0).status == VendorStatus::Active
}

/// Whether each of `vendor_ids` is listed ([`listed`]), from the vendors folded in this batch,
/// else from `search_sources`.
async fn listing_of(
    conn: &mut PgConnection,
    folded: &[(String, Source<Vendor>)],
    vendor_ids: impl Iterator<Item = String>,
) -> anyhow::Result<HashMap<String, bool>> {
    let mut out: HashMap<String, bool> = folded
        .iter()
        .map(|(id, v)| (id.clone(), listed(id, &v.state)))
        .collect();
    let mut missing: Vec<String> = vendor_ids.filter(|v| !out.contains_key(v)).collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
            "SELECT aggregate_id, state FROM search_sources WHERE aggregate_type = 'vendor' AND aggregate_id = ANY($1)",
        )
        .bind(&missing)
        .fetch_all(conn)
        .await?;
        for (id, state) in rows {
            let vendor: Vendor = serde_json::from_value(state)?;
            let is_listed = listed(&id, &vendor);
            out.insert(id, is_listed);
        }
    }
    Ok(out)
}

/// A stream's row in `search_sources`.
struct Stored {
    state: serde_json::Value,
    version: u64,
    created_at: DateTime<Utc>,
}

/// A stream with the events to fold into its stored state: consecutive, the first right after
/// the stored version.
struct Stream {
    key: Key,
    stored: Option<Stored>,
    events: Vec<RecordedEvent>,
}

/// The `search_sources` rows of `keys` (missing ones are left out), locked with `lock`.
async fn stored_sources(
    conn: &mut PgConnection,
    keys: &[Key],
    lock: bool,
) -> anyhow::Result<HashMap<Key, Stored>> {
    let (types, ids): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(t, id)| (t.as_str(), id.as_str())).unzip();
    let sql = format!(
        "SELECT s.aggregate_type, s.aggregate_id, s.state, s.version, s.created_at
         FROM search_sources s JOIN unnest($1::text[], $2::text[]) AS k(t, id)
           ON s.aggregate_type = k.t AND s.aggregate_id = k.id
         ORDER BY s.aggregate_type, s.aggregate_id{}",
        if lock { " FOR UPDATE OF s" } else { "" }
    );
    let rows: Vec<(String, String, serde_json::Value, i64, DateTime<Utc>)> = sqlx::query_as(&sql)
        .bind(&types)
        .bind(&ids)
        .fetch_all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(t, id, state, version, created_at)| {
            (
                (t, id),
                Stored {
                    state,
                    version: version as u64,
                    created_at,
                },
            )
        })
        .collect())
}

/// A stream folded in memory, to be written back to `search_sources`.
struct Source<A> {
    state: A,
    version: u64,
    created_at: DateTime<Utc>,
}

fn fold_stream<A: Decider + serde::de::DeserializeOwned>(
    stream: &Stream,
) -> anyhow::Result<Source<A>> {
    let (mut state, created_at) = match &stream.stored {
        Some(s) => (serde_json::from_value(s.state.clone())?, s.created_at),
        None => (
            A::default(),
            // Microseconds, as Postgres keeps it.
            stream.events[0]
                .recorded_at()
                .unwrap_or_else(Utc::now)
                .trunc_subsecs(6),
        ),
    };
    let mut version = stream.stored.as_ref().map_or(0, |s| s.version);
    for e in &stream.events {
        state.evolve(&<A::Event as serde::Deserialize>::deserialize(&e.payload)?);
        version = e.sequence;
    }
    Ok(Source {
        state,
        version,
        created_at,
    })
}

impl SearchProjection {
    /// Folds `streams` into their sources and brings the index in line, set-based:
    ///
    /// - a product with events gets its whole document rewritten (or deleted when it is not
    ///   published), from its folded state and the stock of its SKUs;
    /// - a product only some of whose SKUs' stock moved gets its `in_stock` flag set, and only
    ///   when the flag flips is its row rewritten and Meilisearch told;
    /// - the sources, SKU owners and outbox rows are each written with one statement.
    ///
    /// The documents are those that applying the events one at a time gives: each is computed
    /// from the folded states after the last event, as the last one-at-a-time step would.
    async fn project_streams(
        &self,
        conn: &mut PgConnection,
        streams: Vec<Stream>,
    ) -> anyhow::Result<()> {
        if streams.is_empty() {
            return Ok(());
        }
        let mut products: Vec<(String, Source<Product>)> = Vec::new();
        let mut stock: HashMap<String, Source<StockItem>> = HashMap::new();
        let mut vendors: Vec<(String, Source<Vendor>)> = Vec::new();
        let mut reviews: Vec<(String, Source<Review>)> = Vec::new();
        let mut moved_skus: Vec<String> = Vec::new();
        for stream in &streams {
            match stream.key.0.as_str() {
                "product" => products.push((stream.key.1.clone(), fold_stream(stream)?)),
                "vendor" => vendors.push((stream.key.1.clone(), fold_stream(stream)?)),
                "review" => reviews.push((stream.key.1.clone(), fold_stream(stream)?)),
                _ => {
                    moved_skus.push(stream.key.1.clone());
                    stock.insert(stream.key.1.clone(), fold_stream(stream)?);
                }
            }
        }
        write_sources(conn, &products, &stock, &vendors, &reviews).await?;

        // Who owns a SKU: a product of this batch claims its SKUs, as one step at a time would.
        let mut owners: HashMap<String, String> = HashMap::new();
        for (id, p) in &products {
            for sku in p.state.variants.keys() {
                owners.insert(sku.to_string(), id.clone());
            }
        }
        if !owners.is_empty() {
            let (skus, ids): (Vec<&str>, Vec<&str>) = owners
                .iter()
                .map(|(s, id)| (s.as_str(), id.as_str()))
                .unzip();
            sqlx::query(
                "INSERT INTO search_sku_products (sku, product_id) SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (sku) DO UPDATE SET product_id = EXCLUDED.product_id",
            )
            .bind(&skus)
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
        }
        let unowned: Vec<&String> = moved_skus
            .iter()
            .filter(|s| !owners.contains_key(*s))
            .collect();
        if !unowned.is_empty() {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT sku, product_id FROM search_sku_products WHERE sku = ANY($1)",
            )
            .bind(&unowned)
            .fetch_all(&mut *conn)
            .await?;
            owners.extend(rows);
        }

        // Products whose stock moved but that have no event here: their stored state.
        let direct: std::collections::HashSet<&str> =
            products.iter().map(|(id, _)| id.as_str()).collect();
        // The products of a vendor that moved (suspended, reactivated, closed...) get their
        // whole document again: in the index exactly while their vendor is listed.
        // So do the products whose reviews moved: their rating may have changed.
        let rated: Vec<&str> = reviews
            .iter()
            .filter_map(|(_, r)| r.state.product_id())
            .collect();
        let relisted: Vec<(String, Source<Product>)> = if vendors.is_empty() && rated.is_empty() {
            vec![]
        } else {
            let ids: Vec<&str> = vendors.iter().map(|(id, _)| id.as_str()).collect();
            let rows: Vec<(String, serde_json::Value, i64, DateTime<Utc>)> = sqlx::query_as(
                "SELECT aggregate_id, state, version, created_at FROM search_sources
                 WHERE aggregate_type = 'product'
                   AND (state->>'vendor_id' = ANY($1) OR aggregate_id = ANY($2))",
            )
            .bind(&ids)
            .bind(&rated)
            .fetch_all(&mut *conn)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, state, version, created_at) in rows {
                if direct.contains(id.as_str()) {
                    continue;
                }
                let state: Product = serde_json::from_value(state)?;
                out.push((
                    id,
                    Source {
                        state,
                        version: version as u64,
                        created_at,
                    },
                ));
            }
            out
        };
        let whole: Vec<&(String, Source<Product>)> =
            products.iter().chain(relisted.iter()).collect();
        let mut flagged: Vec<String> = moved_skus
            .iter()
            .filter_map(|sku| owners.get(sku))
            .filter(|id| !direct.contains(id.as_str()))
            .cloned()
            .collect();
        flagged.sort();
        flagged.dedup();
        let flagged: Vec<(String, Product)> = if flagged.is_empty() {
            vec![]
        } else {
            let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
                "SELECT aggregate_id, state FROM search_sources WHERE aggregate_type = 'product' AND aggregate_id = ANY($1)",
            )
            .bind(&flagged)
            .fetch_all(&mut *conn)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, state) in rows {
                let product: Product = serde_json::from_value(state)?;
                if product.status == ProductStatus::Published {
                    out.push((id, product));
                }
            }
            out
        };

        // Whether each SKU involved has stock: folded here, else stored.
        let mut available: HashMap<String, bool> = stock
            .iter()
            .map(|(sku, s)| (sku.clone(), s.state.available() > 0))
            .collect();
        let wanted: Vec<String> = whole
            .iter()
            .map(|(_, p)| &p.state)
            .chain(flagged.iter().map(|(_, p)| p))
            .flat_map(|p| p.variants.keys().map(|s| s.to_string()))
            .filter(|sku| !available.contains_key(sku))
            .collect();
        if !wanted.is_empty() {
            let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
                "SELECT aggregate_id, state FROM search_sources WHERE aggregate_type = 'stock' AND aggregate_id = ANY($1)",
            )
            .bind(&wanted)
            .fetch_all(&mut *conn)
            .await?;
            for (sku, state) in rows {
                let item: StockItem = serde_json::from_value(state)?;
                available.insert(sku, item.available() > 0);
            }
        }
        let in_stock = |p: &Product| {
            p.variants
                .keys()
                .any(|sku| available.get(sku.as_str()).copied().unwrap_or(false))
        };

        // Whole documents of the products with events, and of the moved vendors' products.
        let listing = listing_of(
            conn,
            &vendors,
            whole.iter().map(|(_, p)| p.state.vendor_id.clone()),
        )
        .await?;
        let is_listed = |p: &Product| {
            p.status == ProductStatus::Published
                && listing.get(&p.vendor_id).copied().unwrap_or(true)
        };
        let categories: Vec<String> = whole
            .iter()
            .filter(|(_, p)| is_listed(&p.state))
            .filter_map(|(id, p)| p.state.view(id, 0).category_id)
            .collect();
        let paths = category_paths_of(conn, &categories).await?;
        let shown: Vec<&str> = whole
            .iter()
            .filter(|(_, p)| is_listed(&p.state))
            .map(|(id, _)| id.as_str())
            .collect();
        let ratings = ratings_of(conn, &shown).await?;
        let mut docs = Vec::new();
        let mut gone = Vec::new();
        for (id, p) in whole.iter().copied() {
            if !is_listed(&p.state) {
                gone.push(id.clone());
                continue;
            }
            let path = match &p.state.view(id, 0).category_id {
                Some(c) => paths.get(c).cloned().unwrap_or_else(|| vec![c.clone()]),
                None => vec![],
            };
            docs.push(doc_of(
                id,
                &p.state,
                in_stock(&p.state),
                p.created_at,
                path,
                ratings.get(id).copied(),
            ));
        }
        if !docs.is_empty() {
            self.search.pg().upsert_in(conn, &docs).await?;
        }
        if !gone.is_empty() {
            self.search.pg().delete_in(conn, &gone).await?;
        }
        // Only the flag of the others, and only where it flips.
        let flags: Vec<(String, bool)> = flagged
            .iter()
            .map(|(id, p)| (id.clone(), in_stock(p)))
            .collect();
        let flipped = self.search.pg().set_in_stock_in(conn, &flags).await?;
        if self.search.meili().is_some() {
            let rows: Vec<(&str, bool)> = whole
                .iter()
                .map(|(id, _)| (id.as_str(), true))
                .chain(flipped.iter().map(|id| (id.as_str(), false)))
                .collect();
            outbox(conn, &rows).await?;
        }
        Ok(())
    }
}

/// Writes folded sources back, one statement for all of them. A stream's `created_at` stays
/// what its first write recorded.
async fn write_sources(
    conn: &mut PgConnection,
    products: &[(String, Source<Product>)],
    stock: &HashMap<String, Source<StockItem>>,
    vendors: &[(String, Source<Vendor>)],
    reviews: &[(String, Source<Review>)],
) -> anyhow::Result<()> {
    let n = products.len() + stock.len() + vendors.len() + reviews.len();
    let (mut types, mut ids, mut states, mut versions, mut created) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (id, s) in products {
        types.push("product");
        ids.push(id.as_str());
        states.push(serde_json::to_value(&s.state)?);
        versions.push(s.version as i64);
        created.push(s.created_at);
    }
    for (id, s) in stock {
        types.push("stock");
        ids.push(id.as_str());
        states.push(serde_json::to_value(&s.state)?);
        versions.push(s.version as i64);
        created.push(s.created_at);
    }
    for (id, s) in vendors {
        types.push("vendor");
        ids.push(id.as_str());
        states.push(serde_json::to_value(&s.state)?);
        versions.push(s.version as i64);
        created.push(s.created_at);
    }
    for (id, s) in reviews {
        types.push("review");
        ids.push(id.as_str());
        states.push(serde_json::to_value(&s.state)?);
        versions.push(s.version as i64);
        created.push(s.created_at);
    }
    sqlx::query(
        "INSERT INTO search_sources (aggregate_type, aggregate_id, state, version, created_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::bigint[], $5::timestamptz[])
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET state = EXCLUDED.state, version = EXCLUDED.version",
    )
    .bind(&types)
    .bind(&ids)
    .bind(&states)
    .bind(&versions)
    .bind(&created)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records in the outbox that Meilisearch must hear about these products: the whole document
/// (`true`), or only the in-stock flag. A row already waiting keeps `whole` if it had it, and
/// gets a new `rev`, so a task confirmed for the older content does not remove it.
async fn outbox(conn: &mut PgConnection, rows: &[(&str, bool)]) -> anyhow::Result<()> {
    // One row per product (an upsert may not touch a row twice), whole if any asks for it.
    let mut merged: Vec<(&str, bool)> = Vec::with_capacity(rows.len());
    let mut at: HashMap<&str, usize> = HashMap::new();
    for &(id, whole) in rows {
        match at.get(id) {
            Some(&i) => merged[i].1 |= whole,
            None => {
                at.insert(id, merged.len());
                merged.push((id, whole));
            }
        }
    }
    if merged.is_empty() {
        return Ok(());
    }
    let (ids, wholes): (Vec<&str>, Vec<bool>) = merged.into_iter().unzip();
    sqlx::query(
        "INSERT INTO search_meili_backlog (product_id, whole) SELECT * FROM unnest($1::text[], $2::boolean[])
         ON CONFLICT (product_id) DO UPDATE
         SET whole = search_meili_backlog.whole OR EXCLUDED.whole, rev = nextval('search_meili_backlog_rev')",
    )
    .bind(&ids)
    .bind(&wholes)
    .execute(conn)
    .await?;
    Ok(())
}

/// The path from the root of the category tree down to each of `categories` (read model), in
/// one query; a category the read model does not know yet is its own path.
async fn category_paths_of(
    conn: &mut PgConnection,
    categories: &[String],
) -> anyhow::Result<HashMap<String, Vec<String>>> {
    let mut wanted: Vec<&String> = categories.iter().collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "WITH RECURSIVE up AS (
             SELECT category_id AS start, category_id, parent_id, 0 AS depth FROM categories WHERE category_id = ANY($1)
             UNION ALL
             SELECT up.start, c.category_id, c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.category_id = up.parent_id
             WHERE up.depth < 32)
         SELECT start, category_id FROM up ORDER BY start, depth DESC",
    )
    .bind(&wanted)
    .fetch_all(conn)
    .await?;
    let mut paths: HashMap<String, Vec<String>> = HashMap::new();
    for (start, id) in rows {
        paths.entry(start).or_default().push(id);
    }
    Ok(paths)
}

/// How [`ship_to_meili`] writes to Meilisearch.
#[derive(Clone, Copy, Debug)]
pub struct Shipping {
    /// Outbox rows per round; each round is at most one task per kind of write.
    pub batch: usize,
    /// Tasks enqueued and not yet confirmed, at most. Meilisearch batches tasks that wait in
    /// its queue together, so a few in flight keep it busy without flooding its queue.
    pub in_flight: usize,
    /// How often an idle sender looks at the outbox, and a busy one at its tasks.
    pub poll: std::time::Duration,
}

impl Default for Shipping {
    fn default() -> Self {
        Shipping {
            batch: 5_000,
            in_flight: 4,
            poll: std::time::Duration::from_millis(50),
        }
    }
}

/// Serialises senders of all processes on one database ("agoramei"): two senders could
/// confirm tasks out of order for the same product.
const SENDER_LOCK: i64 = 0x6167_6f72_616d_6569;

/// One task in flight and the outbox rows (product id, rev) it carries.
struct InFlight {
    task: agora_search::TaskId,
    rows: Vec<(String, i64)>,
    kind: &'static str,
}

/// Ships the outbox to Meilisearch until `shutdown` (see the module doc). Only one sender per
/// database is active (an advisory lock); the others stand by.
pub async fn ship_to_meili(
    search: Search,
    pool: PgPool,
    shipping: Shipping,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let Some(meili) = search.meili().cloned() else {
        // Nothing to ship without Meilisearch; a role only ends at shutdown.
        shutdown.await;
        return Ok(());
    };
    let pause = |d| tokio::time::sleep(d);
    // The session that holds the sender lock lives as long as the sender.
    let mut lock = loop {
        match try_lock(&pool).await {
            Ok(Some(conn)) => break conn,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "taking the meilisearch sender lock failed"),
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = pause(std::time::Duration::from_secs(1)) => {}
        }
    };
    let mut ensured = false;
    let mut sweeper =
        agora_runtime::queue::Sweeper::new("search_meili_backlog", BACKLOG_VACUUM_EVERY);
    let mut in_flight: std::collections::VecDeque<InFlight> = Default::default();
    let mut busy: std::collections::HashSet<String> = Default::default();
    loop {
        let mut idle = true;
        let mut trouble = false;
        if !ensured {
            // The index may never have been created if Meilisearch was down at start.
            match meili.ensure().await {
                Ok(()) => ensured = true,
                Err(e) => {
                    tracing::info!(error = %e, "meilisearch unavailable; the outbox waits");
                    trouble = true;
                }
            }
        }
        if ensured && in_flight.len() < shipping.in_flight {
            match send_round(&search, &meili, &pool, &shipping, &busy).await {
                Ok(sent) => {
                    idle = sent.is_empty();
                    for f in sent {
                        busy.extend(f.rows.iter().map(|(id, _)| id.clone()));
                        in_flight.push_back(f);
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "shipping to meilisearch failed; will retry");
                    metrics::counter!("agora_search_meili_write_errors_total", "op" => "enqueue")
                        .increment(1);
                    trouble = true;
                }
            }
        }
        // Confirm in order; tasks behind a pending one are usually pending too.
        while let Some(f) = in_flight.front() {
            match meili.task_state(f.task).await {
                Ok(agora_search::TaskState::Pending) => break,
                Ok(agora_search::TaskState::Succeeded) => {
                    let f = in_flight.pop_front().expect("front exists");
                    match confirmed(&pool, &f.rows).await {
                        Ok(cleared) => sweeper.deleted(&pool, cleared as u64).await,
                        // The rows stay and are sent again: harmless, writes are idempotent.
                        Err(e) => tracing::warn!(error = %e, "clearing shipped outbox rows failed"),
                    }
                    for (id, _) in &f.rows {
                        busy.remove(id);
                    }
                    idle = false;
                }
                Ok(agora_search::TaskState::Failed(e)) => {
                    let f = in_flight.pop_front().expect("front exists");
                    metrics::counter!("agora_search_meili_write_errors_total", "op" => f.kind)
                        .increment(1);
                    tracing::warn!(error = %e, rows = f.rows.len(), op = f.kind, "a meilisearch task failed; its rows stay in the outbox");
                    for (id, _) in &f.rows {
                        busy.remove(id);
                    }
                    trouble = true;
                }
                Err(e) => {
                    // Meilisearch is unreachable: it may have lost the task (a restart without
                    // its queue) or not; sending again is safe either way.
                    tracing::info!(error = %e, "cannot confirm meilisearch tasks; resending");
                    in_flight.clear();
                    busy.clear();
                    trouble = true;
                    break;
                }
            }
        }
        let wait = if trouble {
            std::time::Duration::from_secs(1)
        } else if idle || in_flight.len() >= shipping.in_flight {
            shipping.poll
        } else {
            std::time::Duration::ZERO
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = pause(wait) => {}
        }
    }
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(SENDER_LOCK)
        .execute(&mut *lock)
        .await;
    Ok(())
}

async fn try_lock(
    pool: &PgPool,
) -> anyhow::Result<Option<sqlx::pool::PoolConnection<sqlx::Postgres>>> {
    let mut conn = pool.acquire().await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(SENDER_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    Ok(got.then_some(conn))
}

/// Reads the next outbox rows that are not in flight and enqueues them: whole documents (read
/// from the Postgres index, which is at least as new as the row), deletions of products the
/// index no longer holds, and in-stock patches. Returns the tasks enqueued.
async fn send_round(
    search: &Search,
    meili: &agora_search::MeiliSearch,
    pool: &PgPool,
    shipping: &Shipping,
    busy: &std::collections::HashSet<String>,
) -> anyhow::Result<Vec<InFlight>> {
    let rows: Vec<(String, bool, i64)> = sqlx::query_as(
        "SELECT product_id, whole, rev FROM search_meili_backlog ORDER BY rev LIMIT $1",
    )
    .bind((shipping.batch + busy.len()) as i64)
    .fetch_all(pool)
    .await?;
    let rows: Vec<(String, bool, i64)> = rows
        .into_iter()
        .filter(|(id, _, _)| !busy.contains(id))
        .take(shipping.batch)
        .collect();
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<String> = rows.iter().map(|(id, _, _)| id.clone()).collect();
    let docs: HashMap<String, ProductDoc> = search
        .pg()
        .get(&ids)
        .await?
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect();
    let (mut upserts, mut upsert_rows) = (Vec::new(), Vec::new());
    let (mut deletes, mut delete_rows) = (Vec::new(), Vec::new());
    let (mut patches, mut patch_rows) = (Vec::new(), Vec::new());
    let mut nothing = Vec::new();
    for (id, whole, rev) in rows {
        match (docs.get(&id), whole) {
            (Some(doc), true) => {
                upserts.push(doc.clone());
                upsert_rows.push((id, rev));
            }
            (None, true) => {
                deletes.push(id.clone());
                delete_rows.push((id, rev));
            }
            (Some(doc), false) => {
                patches.push((id.clone(), doc.in_stock));
                patch_rows.push((id, rev));
            }
            // Only the flag of a product search does not hold: nothing to tell.
            (None, false) => nothing.push((id, rev)),
        }
    }
    confirmed(pool, &nothing).await?;
    let mut sent = Vec::new();
    if !upserts.is_empty() {
        let task = meili.enqueue_upsert(&upserts).await?;
        sent.push(InFlight {
            task,
            rows: upsert_rows,
            kind: "upsert",
        });
    }
    if !deletes.is_empty() {
        let task = meili.enqueue_delete(&deletes).await?;
        sent.push(InFlight {
            task,
            rows: delete_rows,
            kind: "delete",
        });
    }
    if !patches.is_empty() {
        let task = meili.enqueue_in_stock(&patches).await?;
        sent.push(InFlight {
            task,
            rows: patch_rows,
            kind: "set_in_stock",
        });
    }
    Ok(sent)
}

/// Announced on [`crate::READ_MODELS_CHANGED`] when Meilisearch has taken outbox rows.
pub const MEILI_CHANGED: &str = "search_meili";

/// Outbox rows cleared (or replaced by a newer revision) between two vacuums of the outbox
/// (see [`agora_runtime::queue`]).
const BACKLOG_VACUUM_EVERY: u64 = 10_000;

/// Removes outbox rows whose content Meilisearch took: only those not changed since (`rev`).
/// Returns how many it removed.
async fn confirmed(pool: &PgPool, rows: &[(String, i64)]) -> anyhow::Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let (ids, revs): (Vec<String>, Vec<i64>) = rows.iter().cloned().unzip();
    let now = Utc::now();
    let waited: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "DELETE FROM search_meili_backlog b USING unnest($1::text[], $2::bigint[]) AS s(id, rev)
         WHERE b.product_id = s.id AND b.rev = s.rev RETURNING b.since",
    )
    .bind(&ids)
    .bind(&revs)
    .fetch_all(pool)
    .await?;
    if !waited.is_empty() {
        // Meilisearch now answers with these documents: cached searches are out of date.
        let notify = crate::notify_sql(MEILI_CHANGED);
        sqlx::Executor::execute(pool, sqlx::raw_sql(&notify)).await?;
    }
    for since in &waited {
        let lag = (now - *since).num_microseconds().unwrap_or(0) as f64 / 1e6;
        metrics::histogram!("agora_search_meili_lag_seconds").record(lag);
    }
    Ok(waited.len())
}

/// The document of a published product, from what it is made of.
fn doc_of(
    id: &str,
    product: &Product,
    in_stock: bool,
    created_at: DateTime<Utc>,
    category_path: Vec<String>,
    rating_tenths: Option<i32>,
) -> ProductDoc {
    let view = product.view(id, 0);
    let prices: Vec<i64> = view.variants.iter().map(|v| v.price.amount_minor).collect();
    ProductDoc {
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
        rating_tenths,
        in_stock,
        skus: view.variants.iter().map(|v| v.sku.to_string()).collect(),
        image_url: view.image_urls.first().cloned(),
        created_at,
    }
}

/// A stream folded from the event store.
struct Folded<A> {
    state: A,
    version: u64,
    /// When its first event was recorded (what the live projection stores as `created_at`).
    created_at: DateTime<Utc>,
}

/// Product and stock streams as the event store has them: what a rebuild derives every field
/// from, so its result never depends on how far behind the live projection is.
#[derive(Default)]
struct Truth {
    products: HashMap<String, Folded<Product>>,
    stock: HashMap<String, Folded<StockItem>>,
    vendors: HashMap<String, Folded<Vendor>>,
    reviews: HashMap<String, Folded<Review>>,
}

impl Truth {
    /// Folds every stream of `aggregate_type` from the store, streaming the rows.
    async fn fold_all<A: Decider>(
        pool: &PgPool,
        aggregate_type: &str,
    ) -> anyhow::Result<HashMap<String, Folded<A>>> {
        use futures::TryStreamExt;
        let mut out: HashMap<String, Folded<A>> = HashMap::new();
        let mut rows = sqlx::query(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
             FROM events WHERE aggregate_type = $1 ORDER BY aggregate_id, sequence",
        )
        .bind(aggregate_type)
        .fetch(pool);
        while let Some(row) = rows.try_next().await? {
            let e = agora_runtime::row_to_event(&row);
            fold_into(&mut out, &e)?;
        }
        Ok(out)
    }

    /// Whether any SKU of `product` has stock available.
    fn in_stock(&self, product: &Product) -> bool {
        product.variants.keys().any(|sku| {
            self.stock
                .get(sku.as_str())
                .is_some_and(|s| s.state.available() > 0)
        })
    }

    fn doc(
        &self,
        id: &str,
        paths: &HashMap<String, Vec<String>>,
        ratings: &HashMap<String, Vec<u8>>,
    ) -> Option<ProductDoc> {
        let p = self.products.get(id)?;
        if p.state.status != ProductStatus::Published {
            return None;
        }
        let vendor = &p.state.vendor_id;
        if let Some(v) = self.vendors.get(vendor) {
            if !listed(vendor, &v.state) {
                return None;
            }
        }
        let path = match &p.state.view(id, 0).category_id {
            Some(c) => paths.get(c).cloned().unwrap_or_else(|| vec![c.clone()]),
            None => vec![],
        };
        Some(doc_of(
            id,
            &p.state,
            self.in_stock(&p.state),
            p.created_at,
            path,
            rating_tenths(ratings.get(id).map_or(&[][..], Vec::as_slice)),
        ))
    }

    /// The approved ratings of each product, from the folded reviews.
    fn ratings(&self) -> HashMap<String, Vec<u8>> {
        let mut out: HashMap<String, Vec<u8>> = HashMap::new();
        for f in self.reviews.values() {
            let review = &f.state;
            if review.status() != ReviewStatus::Approved {
                continue;
            }
            if let Some(product) = review.product_id() {
                out.entry(product.to_string())
                    .or_default()
                    .push(Decider::view(review, "", 0).rating);
            }
        }
        out
    }
}

fn fold_into<A: Decider>(
    out: &mut HashMap<String, Folded<A>>,
    e: &RecordedEvent,
) -> anyhow::Result<()> {
    let folded = out.entry(e.aggregate_id.clone()).or_insert_with(|| Folded {
        state: A::default(),
        version: 0,
        // Microseconds, as Postgres keeps it: the live projection's value comes back from
        // `search_sources` truncated, and a rebuild must write the very same instant.
        created_at: e.recorded_at().unwrap_or_else(Utc::now).trunc_subsecs(6),
    });
    if e.sequence > folded.version {
        folded
            .state
            .evolve(&<A::Event as serde::Deserialize>::deserialize(&e.payload)?);
        folded.version = e.sequence;
    }
    Ok(())
}

/// Every category's path from the root, from the categories read model, read once.
async fn category_paths(pool: &PgPool) -> anyhow::Result<HashMap<String, Vec<String>>> {
    let parents: HashMap<String, Option<String>> = sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT category_id, parent_id FROM categories",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let mut paths = HashMap::new();
    for id in parents.keys() {
        let mut path = vec![id.clone()];
        let mut at = id;
        // Bounded like the live projection's recursive query, so a cycle cannot hang us.
        while let Some(Some(parent)) = parents.get(at) {
            if path.len() > 32 {
                break;
            }
            path.push(parent.clone());
            at = parent;
        }
        path.reverse();
        paths.insert(id.clone(), path);
    }
    Ok(paths)
}

/// Moves the live projection's sources (`search_sources`, `search_sku_products`) forward to
/// `truth` for the `ids` given (products and SKUs), never back: the live projection then skips
/// the events the rebuild already applied instead of writing older documents over it.
async fn advance_sources(
    conn: &mut PgConnection,
    truth: &Truth,
    products: &[&String],
    skus: &[&String],
    vendors: &[&String],
    reviews: &[&String],
) -> anyhow::Result<()> {
    async fn write<A: serde::Serialize>(
        conn: &mut PgConnection,
        aggregate_type: &str,
        rows: &[(&String, &Folded<A>)],
    ) -> anyhow::Result<()> {
        for chunk in rows.chunks(2_000) {
            let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
            let states = chunk
                .iter()
                .map(|(_, f)| serde_json::to_value(&f.state))
                .collect::<Result<Vec<_>, _>>()?;
            let versions: Vec<i64> = chunk.iter().map(|(_, f)| f.version as i64).collect();
            let created: Vec<DateTime<Utc>> = chunk.iter().map(|(_, f)| f.created_at).collect();
            sqlx::query(
                "INSERT INTO search_sources (aggregate_type, aggregate_id, state, version, created_at)
                 SELECT $1, id, state, version, created_at
                 FROM unnest($2::text[], $3::jsonb[], $4::bigint[], $5::timestamptz[]) AS u(id, state, version, created_at)
                 ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
                 SET state = EXCLUDED.state, version = EXCLUDED.version
                 WHERE search_sources.version < EXCLUDED.version",
            )
            .bind(aggregate_type)
            .bind(&ids)
            .bind(&states)
            .bind(&versions)
            .bind(&created)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
    let product_rows: Vec<_> = products
        .iter()
        .filter_map(|id| truth.products.get(*id).map(|f| (*id, f)))
        .collect();
    write(conn, "product", &product_rows).await?;
    let stock_rows: Vec<_> = skus
        .iter()
        .filter_map(|id| truth.stock.get(*id).map(|f| (*id, f)))
        .collect();
    write(conn, "stock", &stock_rows).await?;
    let vendor_rows: Vec<_> = vendors
        .iter()
        .filter_map(|id| truth.vendors.get(*id).map(|f| (*id, f)))
        .collect();
    write(conn, "vendor", &vendor_rows).await?;
    let review_rows: Vec<_> = reviews
        .iter()
        .filter_map(|id| truth.reviews.get(*id).map(|f| (*id, f)))
        .collect();
    write(conn, "review", &review_rows).await?;
    let mut owned: Vec<(String, String)> = Vec::new();
    for (id, f) in &product_rows {
        for sku in f.state.variants.keys() {
            owned.push((sku.to_string(), id.to_string()));
        }
    }
    for chunk in owned.chunks(5_000) {
        let (skus, ids): (Vec<String>, Vec<String>) = chunk.iter().cloned().unzip();
        sqlx::query(
            "INSERT INTO search_sku_products (sku, product_id) SELECT * FROM unnest($1::text[], $2::text[])
             ON CONFLICT (sku) DO UPDATE SET product_id = EXCLUDED.product_id",
        )
        .bind(&skus)
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Rebuilds the search index from the event store into a fresh index and swaps it in while the
/// live projection runs. Returns the number of documents written.
///
/// Every field, stock included, is folded from the event store (categories come from their read
/// model), so the result does not depend on how far behind the live projection is: afterwards
/// `in_stock` is what the stock streams say. Under the lock, the rebuild also moves the live
/// projection's sources forward to what it folded, so the live projection, catching up, skips
/// those events instead of writing older documents over the rebuilt ones. The final catch-up (streams that
/// moved since the fold) and the swap run under an EXCLUSIVE lock on `search_sources`: the live
/// projection waits (it locks its source row first), so no index write is lost to the old index.
pub async fn rebuild_search(search: &Search, pool: &PgPool) -> anyhow::Result<u64> {
    let target = search.begin_rebuild().await?;
    let mut truth = Truth {
        products: Truth::fold_all::<Product>(pool, "product").await?,
        stock: Truth::fold_all::<StockItem>(pool, "stock").await?,
        vendors: Truth::fold_all::<Vendor>(pool, "vendor").await?,
        reviews: Truth::fold_all::<Review>(pool, "review").await?,
    };
    let paths = category_paths(pool).await?;
    let ratings = truth.ratings();
    let mut ids: Vec<&String> = truth.products.keys().collect();
    ids.sort();
    let mut written = 0u64;
    // Large calls: Meilisearch gets several 1,000-document tasks enqueued at once to batch.
    for chunk in ids.chunks(5_000) {
        let docs: Vec<ProductDoc> = chunk
            .iter()
            .filter_map(|id| truth.doc(id, &paths, &ratings))
            .collect();
        written += docs.len() as u64;
        search.upsert_into(&target, &docs).await?;
    }

    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE search_sources IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // Streams that moved since the fold: events committed by now are all visible.
    let heads: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, max(sequence) FROM events
         WHERE aggregate_type IN ('product', 'stock', 'vendor', 'review') GROUP BY 1, 2",
    )
    .fetch_all(&mut *tx)
    .await?;
    let store = agora_runtime::EventStore::new(pool.clone());
    let mut moved_products = std::collections::BTreeSet::new();
    let mut moved_skus = Vec::new();
    let mut moved_vendors = std::collections::HashSet::new();
    for (aggregate_type, id, head) in heads {
        let folded = match aggregate_type.as_str() {
            "product" => truth.products.get(&id).map(|f| f.version),
            "vendor" => truth.vendors.get(&id).map(|f| f.version),
            "review" => truth.reviews.get(&id).map(|f| f.version),
            _ => truth.stock.get(&id).map(|f| f.version),
        }
        .unwrap_or(0);
        if head as u64 <= folded {
            continue;
        }
        for e in store.range(&aggregate_type, &id, folded, u64::MAX).await? {
            match aggregate_type.as_str() {
                "product" => fold_into(&mut truth.products, &e)?,
                "vendor" => fold_into(&mut truth.vendors, &e)?,
                "review" => fold_into(&mut truth.reviews, &e)?,
                _ => fold_into(&mut truth.stock, &e)?,
            }
        }
        match aggregate_type.as_str() {
            "product" => {
                moved_products.insert(id);
            }
            // A review that moved moves its product's rating.
            "review" => {
                if let Some(product) = truth.reviews.get(&id).and_then(|f| f.state.product_id()) {
                    moved_products.insert(product.to_string());
                }
            }
            "vendor" => {
                moved_vendors.insert(id);
            }
            _ => moved_skus.push(id),
        }
    }
    // A vendor that moved moves the listing of all its products.
    for (id, p) in &truth.products {
        if moved_vendors.contains(&p.state.vendor_id) {
            moved_products.insert(id.clone());
        }
    }
    let owners: HashMap<String, String> = truth
        .products
        .iter()
        .flat_map(|(id, f)| {
            f.state
                .variants
                .keys()
                .map(move |sku| (sku.to_string(), id.clone()))
        })
        .collect();
    for sku in &moved_skus {
        if let Some(owner) = owners.get(sku) {
            moved_products.insert(owner.clone());
        }
    }
    // Under the lock, so the bulk writes cannot deadlock with the live projection's row locks.
    let products: Vec<&String> = truth.products.keys().collect();
    let skus: Vec<&String> = truth.stock.keys().collect();
    let vendors: Vec<&String> = truth.vendors.keys().collect();
    let reviews: Vec<&String> = truth.reviews.keys().collect();
    advance_sources(&mut tx, &truth, &products, &skus, &vendors, &reviews).await?;
    let ratings = truth.ratings();
    let mut docs = Vec::new();
    let mut gone = Vec::new();
    for id in &moved_products {
        match truth.doc(id, &paths, &ratings) {
            Some(doc) => docs.push(doc),
            None => gone.push(id.clone()),
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
