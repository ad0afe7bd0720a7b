//! Catalog and search over a seeded catalog: typo-tolerant search whose filters, facets, sorts
//! and paging agree with SQL over the read models, and products that disappear when archived.

mod common;

use std::time::Duration;

use agora::Roles;
use common::{spawn_app, TestApp, ADMIN};
use serde_json::{json, Value};

/// How many products to seed: 10,000 by default (the figure); lower it locally with
/// AGORA_TEST_PRODUCTS for a quick run.
fn product_count() -> u64 {
    std::env::var("AGORA_TEST_PRODUCTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

async fn seed(app: &TestApp, n: u64) {
    let bus = app.bus().await;
    agora::seed::seed_catalog(&bus, n, 42, 64, indicatif::ProgressBar::hidden())
        .await
        .expect("seed");
    // Everything is projected once the search sources have every product and stock stream at
    // its last sequence.
    common::until_sql(
        &app.pool,
        "SELECT NOT EXISTS (
            SELECT 1 FROM (SELECT aggregate_type, aggregate_id, max(sequence) AS s FROM events
                           WHERE aggregate_type IN ('product', 'stock') GROUP BY 1, 2) e
            LEFT JOIN search_sources s USING (aggregate_type, aggregate_id)
            WHERE s.version IS DISTINCT FROM e.s)
         AND NOT EXISTS (
            SELECT 1 FROM (SELECT aggregate_id, max(sequence) AS s FROM events WHERE aggregate_type = 'stock' GROUP BY 1) e
            LEFT JOIN stock_levels l ON l.sku = e.aggregate_id WHERE l.version IS DISTINCT FROM e.s)
         AND NOT EXISTS (
            SELECT 1 FROM (SELECT aggregate_id, max(sequence) AS s FROM events WHERE aggregate_type = 'product' GROUP BY 1) e
            LEFT JOIN products p ON p.product_id = e.aggregate_id WHERE p.version IS DISTINCT FROM e.s)",
        Duration::from_secs(600),
    )
    .await;
}

async fn search(app: &TestApp, query: &str) -> Value {
    let r = app
        .http
        .get(format!("{}/store/search?{query}", app.base))
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), 200, "{query}");
    r.json().await.expect("json")
}

async fn sql_count(app: &TestApp, sql: &str) -> u64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&app.pool)
        .await
        .expect(sql) as u64
}

/// Published products in a category's subtree, from the read models.
const IN_KITCHEN: &str = "p.status = 'published' AND p.category_id IN (
    WITH RECURSIVE sub AS (SELECT category_id FROM categories WHERE category_id = 'kitchen'
        UNION ALL SELECT c.category_id FROM categories c JOIN sub ON c.parent_id = sub.category_id)
    SELECT category_id FROM sub)";
const IN_STOCK: &str =
    "EXISTS (SELECT 1 FROM stock_levels l WHERE l.sku = ANY(p.skus) AND l.available > 0)";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_over_a_seeded_catalog_agrees_with_sql_and_tolerates_typos() {
    let app = spawn_app(Roles::all()).await;
    seed(&app, product_count()).await;
    let published = sql_count(
        &app,
        "SELECT count(*) FROM products WHERE status = 'published'",
    )
    .await;
    assert!(published > 0);

    // Everything published, nothing else.
    let all = search(&app, "per_page=1").await;
    assert_eq!(all["total"].as_u64(), Some(published));

    // A typo still finds the right products, exact matches first.
    let exact = search(&app, "q=blender&per_page=100").await;
    let typo = search(&app, "q=blendr&per_page=5").await;
    assert!(exact["total"].as_u64().unwrap_or(0) > 0);
    let first = typo["hits"][0]["title"].as_str().unwrap_or_default();
    assert!(first.contains("Blender"), "first hit for 'blendr': {first}");
    let blenders = sql_count(
        &app,
        "SELECT count(*) FROM products WHERE status = 'published' AND title ILIKE '%blender%'",
    )
    .await;
    assert_eq!(exact["total"].as_u64(), Some(blenders));

    // Filters agree with SQL over the read models.
    let kitchen = search(&app, "category=kitchen&per_page=1").await;
    assert_eq!(
        kitchen["total"].as_u64(),
        Some(
            sql_count(
                &app,
                &format!("SELECT count(*) FROM products p WHERE {IN_KITCHEN}")
            )
            .await
        )
    );
    let ranged = search(
        &app,
        "category=kitchen&price_min=2000&price_max=6000&in_stock=true&per_page=1",
    )
    .await;
    let expected = sql_count(
        &app,
        &format!("SELECT count(*) FROM products p WHERE {IN_KITCHEN} AND p.price_min BETWEEN 2000 AND 6000 AND {IN_STOCK}"),
    )
    .await;
    assert_eq!(ranged["total"].as_u64(), Some(expected));
    let out_of_stock = search(&app, "in_stock=false&per_page=1").await;
    assert_eq!(
        out_of_stock["total"].as_u64(),
        Some(
            sql_count(
                &app,
                &format!(
                    "SELECT count(*) FROM products p WHERE status = 'published' AND NOT {IN_STOCK}"
                )
            )
            .await
        )
    );

    // Facets: category counts and price ranges agree with SQL.
    let facets = &all["facets"];
    let leaf_count = sql_count(
        &app,
        "SELECT count(*) FROM products WHERE status = 'published' AND category_id = 'cookware'",
    )
    .await;
    assert_eq!(facets["categories"]["cookware"].as_u64(), Some(leaf_count));
    assert_eq!(
        facets["categories"]["kitchen"].as_u64(),
        kitchen["total"].as_u64()
    );
    let cheap = sql_count(
        &app,
        "SELECT count(*) FROM products WHERE status = 'published' AND price_min < 1000",
    )
    .await;
    assert_eq!(facets["price_ranges"][0]["count"].as_u64(), Some(cheap));
    let bucket_sum: u64 = facets["price_ranges"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            b["count"]
                .as_u64()
                .unwrap_or_else(|| panic!("bucket count: {b}"))
        })
        .sum();
    assert_eq!(bucket_sum, published);

    // Sorting and paging.
    let page1 = search(&app, "category=audio&sort=price_asc&per_page=10&page=1").await;
    let page2 = search(&app, "category=audio&sort=price_asc&per_page=10&page=2").await;
    let prices: Vec<i64> = page1["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .chain(page2["hits"].as_array().expect("hits"))
        .map(|h| {
            h["price_min"]
                .as_i64()
                .unwrap_or_else(|| panic!("price_min: {h}"))
        })
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    let ids: std::collections::HashSet<&str> = page1["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .chain(page2["hits"].as_array().expect("hits"))
        .filter_map(|h| h["id"].as_str())
        .collect();
    assert_eq!(ids.len(), prices.len(), "pages do not overlap");
    assert_eq!(page1["total"], page2["total"]);

    // A hard cap on page size; bad queries are rejected with a code.
    let r = app
        .http
        .get(format!("{}/store/search?per_page=1000", app.base))
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), 422);
    let r = app
        .http
        .get(format!("{}/store/search?sort=cheapest", app.base))
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), 400);

    // An archived or unpublished product disappears from search.
    let victim = typo["hits"][0]["id"].as_str().expect("id").to_string();
    let other = exact["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .filter_map(|h| h["id"].as_str())
        .find(|id| *id != victim)
        .expect("another")
        .to_string();
    let archive = app
        .http
        .post(format!("{}/admin/products/{victim}/archive", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("archive");
    assert_eq!(archive.status(), 200);
    let unpublish = app
        .http
        .post(format!("{}/admin/products/{other}/unpublish", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("unpublish");
    assert_eq!(unpublish.status(), 200);
    agora_testkit::eventually(Duration::from_secs(30), || async {
        let r = search(&app, "q=blender&per_page=100").await;
        let ids: Vec<String> = r["hits"]
            .as_array()?
            .iter()
            .filter_map(|h| h["id"].as_str().map(str::to_string))
            .collect();
        (!ids.contains(&victim)
            && !ids.contains(&other)
            && r["total"].as_u64() == Some(blenders - 2))
        .then_some(())
    })
    .await
    .expect("archived and unpublished products left the index");
    let r = app
        .http
        .get(format!("{}/store/products/{victim}", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_search_index_rebuilt_under_traffic_ends_equal_to_the_live_one() {
    let app = spawn_app(Roles::all()).await;
    seed(&app, 150).await;
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT product_id FROM products ORDER BY product_id")
            .fetch_all(&app.pool)
            .await
            .expect("ids");
    let skus: Vec<String> = sqlx::query_scalar("SELECT sku FROM stock_levels ORDER BY sku")
        .fetch_all(&app.pool)
        .await
        .expect("skus");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        let app = &app;
        async move {
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && n < 3_000 {
                let id = &ids[n % ids.len()];
                let sku = &skus[n % skus.len()];
                let url = match n % 4 {
                    0 => format!("{}/admin/products/{id}", app.base),
                    1 => format!("{}/admin/inventory/{sku}/adjust", app.base),
                    2 => format!("{}/admin/products/{id}/unpublish", app.base),
                    _ => format!("{}/admin/products/{id}/publish", app.base),
                };
                let r = match n % 4 {
                    0 => {
                        app.http
                            .patch(url)
                            .bearer_auth(ADMIN)
                            .json(&json!({"title": format!("Renamed product {n}")}))
                            .send()
                            .await
                    }
                    // Stock moves both ways, so in-stock flags flip during the rebuild.
                    1 => {
                        let body = if n % 8 == 5 {
                            json!({"delta": -1, "reason": "lost"})
                        } else {
                            json!({"delta": 1, "reason": "found"})
                        };
                        app.http
                            .post(url)
                            .bearer_auth(ADMIN)
                            .json(&body)
                            .send()
                            .await
                    }
                    _ => app.http.post(url).bearer_auth(ADMIN).send().await,
                }
                .expect("traffic");
                assert!(
                    r.status().is_success() || r.status() == 409,
                    "{}",
                    r.status()
                );
                n += 1;
            }
            n
        }
    };
    let rebuild = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..2 {
            agora::rebuild(&app.config, "search")
                .await
                .expect("rebuild");
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (sent, ()) = tokio::join!(traffic, rebuild);
    assert!(sent > 0);
    common::until_sql(
        &app.pool,
        "SELECT NOT EXISTS (
            SELECT 1 FROM (SELECT aggregate_type, aggregate_id, max(sequence) AS s FROM events
                           WHERE aggregate_type IN ('product', 'stock') GROUP BY 1, 2) e
            LEFT JOIN search_sources s USING (aggregate_type, aggregate_id)
            WHERE s.version IS DISTINCT FROM e.s)",
        Duration::from_secs(60),
    )
    .await;
    let snapshot = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT string_agg(concat_ws('|', id, title, in_stock, price_min, array_to_string(category_path, '/')), E'\\n' ORDER BY id) FROM search_products",
        )
        .fetch_one(&app.pool)
        .await
        .expect("snapshot")
    };
    let live = snapshot().await;
    agora::rebuild(&app.config, "search")
        .await
        .expect("rebuild");
    let rebuilt = snapshot().await;
    assert!(!live.is_empty());
    assert_eq!(live, rebuilt);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_meilisearch_down_search_answers_from_postgres_and_queues_what_it_missed() {
    // Nothing listens on port 1: Meilisearch is configured but down.
    let app = common::spawn_app_with(Roles::all(), |c| {
        c.meili_url = Some("http://127.0.0.1:1".into())
    })
    .await;
    seed(&app, 60).await;
    let published = sql_count(
        &app,
        "SELECT count(*) FROM products WHERE status = 'published'",
    )
    .await;
    let all = search(&app, "per_page=1").await;
    assert_eq!(
        all["total"].as_u64(),
        Some(published),
        "Postgres answered, and is current"
    );
    let queued = sql_count(&app, "SELECT count(*) FROM search_meili_backlog").await;
    assert!(
        queued >= published,
        "every missed Meilisearch write is queued for re-sync ({queued} < {published})"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_during_heavy_projection_lag_takes_in_stock_from_the_event_store() {
    // The search projection does not run at all: as far behind as a projection can be.
    let mut roles = Roles::all();
    roles.projections.retain(|p| p != "search");
    let mut app = spawn_app(roles).await;
    let bus = app.bus().await;
    agora::seed::seed_catalog(&bus, 120, 42, 16, indicatif::ProgressBar::hidden())
        .await
        .expect("seed");
    // The demo's reviews too: a product's rating is the average of its approved reviews.
    let reviews = agora::seed::seed_reviews(&bus, 120, 42)
        .await
        .expect("seed reviews");
    assert!(reviews > 20, "{reviews} reviews");
    common::until_sql(
        &app.pool,
        "SELECT NOT EXISTS (
            SELECT 1 FROM (SELECT aggregate_id, max(sequence) AS s FROM events WHERE aggregate_type = 'review' GROUP BY 1) e
            LEFT JOIN reviews r ON r.review_id = e.aggregate_id WHERE r.version IS DISTINCT FROM e.s)
         AND NOT EXISTS (
            SELECT 1 FROM (SELECT aggregate_id, max(sequence) AS s FROM events WHERE aggregate_type = 'stock' GROUP BY 1) e
            LEFT JOIN stock_levels l ON l.sku = e.aggregate_id WHERE l.version IS DISTINCT FROM e.s)
         AND NOT EXISTS (
            SELECT 1 FROM (SELECT aggregate_id, max(sequence) AS s FROM events WHERE aggregate_type = 'product' GROUP BY 1) e
            LEFT JOIN products p ON p.product_id = e.aggregate_id WHERE p.version IS DISTINCT FROM e.s)",
        Duration::from_secs(120),
    )
    .await;
    agora::rebuild(&app.config, "search")
        .await
        .expect("rebuild");
    let expected_in_stock =
        format!("SELECT count(*) FROM products p WHERE p.status = 'published' AND {IN_STOCK}");
    let want = sql_count(&app, &expected_in_stock).await;
    assert!(want > 0);
    let published = sql_count(
        &app,
        "SELECT count(*) FROM products WHERE status = 'published'",
    )
    .await;
    let indexed = sql_count(&app, "SELECT count(*) FROM search_products").await;
    let flagged = sql_count(&app, "SELECT count(*) FROM search_products WHERE in_stock").await;
    assert_eq!(
        (indexed, flagged),
        (published, want),
        "in_stock equals the stock read model"
    );
    let ratings = |pool: sqlx::PgPool| async move {
        let indexed: Vec<(String, i32)> = sqlx::query_as(
            "SELECT id, rating_tenths FROM search_products WHERE rating_tenths IS NOT NULL ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .expect("indexed ratings");
        let reviewed: Vec<(String, i32)> = sqlx::query_as(
            "SELECT product_id, round(avg(rating) * 10)::int FROM reviews WHERE status = 'approved'
             GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .expect("reviewed");
        (indexed, reviewed)
    };
    let (indexed, reviewed) = ratings(app.pool.clone()).await;
    assert!(!reviewed.is_empty());
    assert_eq!(
        indexed, reviewed,
        "ratings are the approved reviews' averages"
    );

    // The projection, starting late, skips what the rebuild applied and keeps it so.
    app.also_start(Roles {
        projections: vec!["search".into()],
        ..Roles::default()
    })
    .await;
    common::until_sql(
        &app.pool,
        "SELECT NOT EXISTS (
            SELECT 1 FROM (SELECT aggregate_type, aggregate_id, max(sequence) AS s FROM events
                           WHERE aggregate_type IN ('product', 'stock', 'review') GROUP BY 1, 2) e
            LEFT JOIN search_sources s USING (aggregate_type, aggregate_id)
            WHERE s.version IS DISTINCT FROM e.s)",
        Duration::from_secs(60),
    )
    .await;
    let flagged = sql_count(&app, "SELECT count(*) FROM search_products WHERE in_stock").await;
    assert_eq!(flagged, sql_count(&app, &expected_in_stock).await);
    let (indexed, reviewed) = ratings(app.pool.clone()).await;
    assert_eq!(indexed, reviewed, "and stay so");
    app.stop().await;
}
