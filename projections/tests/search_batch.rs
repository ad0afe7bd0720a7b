//! The search projection applied set-based, a whole batch at once, leaves exactly what applying
//! the same events one at a time leaves (documents, sources, SKU owners, outbox), including
//! redelivered events and a gap filled from the store; and a stock change that does not flip a
//! product's `in_stock` neither rewrites its document nor tells Meilisearch.

use std::collections::BTreeMap;

use agora_catalog::{ProductEvent, ProductVariant};
use agora_inventory::StockEvent;
use agora_kernel::{Currency, Money, RecordedEvent, Sku};
use agora_projections::search::SearchProjection;
use agora_projections::Projection;
use agora_runtime::EventStore;
use agora_search::{MeiliSearch, PgSearch, Search, SearchIndex};
use agora_testkit::TestDb;
use chrono::{TimeZone, Utc};
use sqlx::PgPool;

/// Builds the events of one scenario, numbering each stream's events as they come.
#[derive(Default)]
struct Feed {
    events: Vec<RecordedEvent>,
    sequences: BTreeMap<(String, String), u64>,
}

impl Feed {
    fn push(&mut self, aggregate_type: &str, id: &str, payload: serde_json::Value) {
        let sequence = self
            .sequences
            .entry((aggregate_type.into(), id.into()))
            .and_modify(|s| *s += 1)
            .or_insert(1);
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::milliseconds(self.events.len() as i64 * 1_234);
        self.events.push(RecordedEvent {
            aggregate_type: aggregate_type.into(),
            aggregate_id: id.into(),
            sequence: *sequence,
            event_type: "test".into(),
            event_version: "1".into(),
            payload,
            metadata: serde_json::json!({ "recorded_at": at }),
        });
    }

    fn product(&mut self, id: &str, event: ProductEvent) {
        self.push(
            "product",
            id,
            serde_json::to_value(event).expect("events serialize"),
        );
    }

    fn stock(&mut self, sku: &str, event: StockEvent) {
        self.push(
            "stock",
            sku,
            serde_json::to_value(event).expect("events serialize"),
        );
    }
}

fn created(title: &str, category: Option<&str>, skus: &[(&str, i64)]) -> ProductEvent {
    ProductEvent::ProductCreated {
        vendor_id: "vendor-1".into(),
        title: title.into(),
        description: format!("All about {title}"),
        image_urls: vec![format!("https://img.test/{title}.png")],
        category_id: category.map(Into::into),
        attributes: BTreeMap::new(),
        variants: skus
            .iter()
            .map(|(sku, price)| ProductVariant {
                sku: Sku::parse(sku).expect("a valid SKU"),
                title: sku.to_string(),
                price: Money {
                    amount_minor: *price,
                    currency: Currency::EUR,
                },
                attributes: BTreeMap::new(),
                shipping: Default::default(),
            })
            .collect(),
    }
}

fn received(quantity: i64, on_hand_after: i64) -> StockEvent {
    StockEvent::StockReceived {
        quantity,
        reason: None,
        on_hand_after,
        received_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

/// The first batch: products with and without stock, a draft, one in a nested category.
fn first_batch(feed: &mut Feed) {
    feed.product(
        "p1",
        created("kettle", Some("kitchen"), &[("A1", 2500), ("A2", 3100)]),
    );
    feed.product("p2", created("teapot", Some("home"), &[("B1", 1900)]));
    feed.stock("A1", received(5, 5));
    feed.product("p1", ProductEvent::ProductPublished {});
    feed.product("p3", created("draft", None, &[("C1", 900)]));
    feed.stock("C1", received(3, 3));
    feed.product("p2", ProductEvent::ProductPublished {});
    feed.product("p4", created("mug", Some("unknown-cat"), &[("D1", 700)]));
    feed.product("p4", ProductEvent::ProductPublished {});
}

/// The second batch: a reservation that leaves p1 in stock, stock arriving for p4 (its flag
/// flips) and for p2 (which also changes its price), a new variant on the draft.
fn second_batch(feed: &mut Feed) {
    feed.stock(
        "A1",
        StockEvent::StockReserved {
            reservation_id: "r1".into(),
            quantity: 1,
            expires_at: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
            order_ref: "o1".into(),
        },
    );
    feed.stock("D1", received(4, 4));
    feed.stock("B1", received(1, 1));
    feed.product(
        "p2",
        ProductEvent::PriceChanged {
            sku: Sku::parse("B1").expect("a valid SKU"),
            price: Money {
                amount_minor: 2100,
                currency: Currency::EUR,
            },
        },
    );
}

struct Db {
    _db: TestDb,
    pool: PgPool,
    projection: SearchProjection,
    store: EventStore,
}

async fn db(feed: &Feed) -> anyhow::Result<Db> {
    let db = TestDb::create().await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&db.url())
        .await?;
    agora_runtime::MIGRATOR.run(&pool).await?;
    for (id, parent) in [("home", None), ("kitchen", Some("home"))] {
        sqlx::query(
            "INSERT INTO categories (category_id, name, parent_id, version, created_at, updated_at)
             VALUES ($1, $1, $2, 1, now(), now())",
        )
        .bind(id)
        .bind(parent)
        .execute(&pool)
        .await?;
    }
    // Every event is in the store, so a gap in a batch can be filled from it.
    for e in &feed.events {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.aggregate_type)
        .bind(&e.aggregate_id)
        .bind(e.sequence as i64)
        .bind(&e.event_type)
        .bind(&e.event_version)
        .bind(sqlx::types::Json(&e.payload))
        .bind(sqlx::types::Json(&e.metadata))
        .execute(&pool)
        .await?;
    }
    let pg = PgSearch::new(pool.clone());
    pg.ensure().await?;
    // Never contacted: the projection only writes the outbox when Meilisearch is configured.
    let meili = MeiliSearch::new("http://127.0.0.1:9", None, "products")?;
    Ok(Db {
        projection: SearchProjection {
            search: Search::new(pg, Some(meili)),
        },
        store: EventStore::new(pool.clone()),
        pool,
        _db: db,
    })
}

impl Db {
    async fn batch(&self, events: &[RecordedEvent]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        self.projection
            .apply_batch(&mut tx, &self.store, "search", events)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// As the runner's per-event fallback does: version, then `apply`, one transaction each.
    async fn one_by_one(&self, events: &[RecordedEvent]) -> anyhow::Result<()> {
        for e in events {
            let mut tx = self.pool.begin().await?;
            let version = self.projection.version(&mut tx, "search", e).await?;
            if e.sequence == version + 1 {
                self.projection
                    .apply(&mut tx, "search", std::slice::from_ref(e))
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn dump(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(sql).fetch_all(&self.pool).await?)
    }

    /// Everything the projection writes, as text.
    async fn state(&self) -> anyhow::Result<Vec<Vec<String>>> {
        Ok(vec![
            self.dump("SELECT concat_ws('|', id, title, description, vendor_id, category_id, array_to_string(category_path, '/'), price_min, price_max, currency, rating_tenths, in_stock, array_to_string(skus, ','), image_url, created_at) FROM search_products ORDER BY id").await?,
            self.dump("SELECT concat_ws('|', aggregate_type, aggregate_id, version, state::text, created_at) FROM search_sources ORDER BY 1").await?,
            self.dump("SELECT sku || '>' || product_id FROM search_sku_products ORDER BY 1").await?,
            self.dump("SELECT product_id || ':' || whole FROM search_meili_backlog ORDER BY 1").await?,
        ])
    }
}

#[tokio::test]
async fn a_batch_applied_at_once_leaves_what_one_event_at_a_time_leaves() -> anyhow::Result<()> {
    let mut feed = Feed::default();
    first_batch(&mut feed);
    let first = feed.events.len();
    second_batch(&mut feed);
    let (batch_one, batch_two) = feed.events.split_at(first);

    let at_once = db(&feed).await?;
    let one_by_one = db(&feed).await?;

    // The first batch with a redelivered event, and without p2's publication (a gap the
    // store fills when p2's next event, in the second batch, arrives).
    let mut redelivered: Vec<RecordedEvent> = batch_one
        .iter()
        .filter(|e| !(e.aggregate_id == "p2" && e.sequence == 2))
        .cloned()
        .collect();
    redelivered.push(batch_one[0].clone());
    at_once.batch(&redelivered).await?;
    one_by_one.one_by_one(batch_one).await?;
    let p2_docs: Vec<String> = at_once
        .dump("SELECT id FROM search_products WHERE id = 'p2'")
        .await?;
    assert!(p2_docs.is_empty(), "p2's publication is not applied yet");

    at_once.batch(batch_two).await?;
    one_by_one.one_by_one(batch_two).await?;
    let state = at_once.state().await?;
    assert_eq!(state, one_by_one.state().await?);

    let docs = &state[0];
    assert_eq!(docs.len(), 3, "p1, p2, p4 published, p3 a draft: {docs:?}");
    // concat_ws leaves out NULLs (no product is rated).
    for (doc, has) in docs.iter().zip([
        "|kitchen|home/kitchen|2500|3100|EUR|t|A1,A2|",
        "|home|home|2100|2100|EUR|t|B1|",
        "|unknown-cat|unknown-cat|700|700|EUR|t|D1|",
    ]) {
        assert!(doc.contains(has), "{doc} has {has}");
    }
    Ok(())
}

#[tokio::test]
async fn a_stock_change_that_does_not_flip_in_stock_rewrites_nothing() -> anyhow::Result<()> {
    let mut feed = Feed::default();
    first_batch(&mut feed);
    let first = feed.events.len();
    second_batch(&mut feed);
    let d = db(&feed).await?;
    d.batch(&feed.events[..first]).await?;
    sqlx::query("DELETE FROM search_meili_backlog")
        .execute(&d.pool)
        .await?;
    let row_version = "SELECT xmin::text FROM search_products WHERE id = 'p1'";
    let before = d.dump(row_version).await?;

    // Only A1's reservation: p1 keeps 4 units available.
    d.batch(&feed.events[first..first + 1]).await?;
    assert_eq!(
        d.dump(row_version).await?,
        before,
        "p1's row was not rewritten"
    );
    assert!(d
        .dump("SELECT product_id FROM search_meili_backlog")
        .await?
        .is_empty());

    // D1's first stock flips p4: only its flag goes to Meilisearch.
    d.batch(&feed.events[first + 1..first + 2]).await?;
    assert_eq!(
        d.dump("SELECT product_id || ':' || whole FROM search_meili_backlog")
            .await?,
        vec!["p4:false".to_string()]
    );
    Ok(())
}
