//! The search projection's road to Meilisearch: the outbox and its sender, against a stand-in
//! Meilisearch (an axum server in this test) whose every task takes a fixed time to finish, and
//! which can refuse tasks or be down for a while.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora_projections::search::{ship_to_meili, Shipping};
use agora_search::{MeiliSearch, PgSearch, ProductDoc, Search, SearchIndex};
use agora_testkit::TestDb;

mod common;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// A write the stand-in accepted, applied when its task finishes.
enum Write {
    Replace(Vec<Value>),
    Update(Vec<Value>),
    Delete(Vec<String>),
    Nothing,
}

struct Task {
    kind: &'static str,
    enqueued: Instant,
    write: Option<Write>,
    failed: bool,
}

#[derive(Default)]
struct Meili {
    latency: Duration,
    /// The next this many document tasks fail.
    fail_next: usize,
    /// Requests are refused (503) until then.
    down_until: Option<Instant>,
    tasks: Vec<Task>,
    docs: BTreeMap<String, Value>,
    /// Document tasks enqueued, and how many documents each carried.
    batch_sizes: Vec<usize>,
    /// The body of the last partial update.
    last_update: Option<Vec<Value>>,
}

type Shared = Arc<Mutex<Meili>>;

fn down(m: &Meili) -> bool {
    m.down_until.is_some_and(|t| Instant::now() < t)
}

fn enqueue(m: &mut Meili, kind: &'static str, write: Write) -> (StatusCode, Json<Value>) {
    if down(m) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"message": "down", "code": "unavailable", "type": "system", "link": ""})),
        );
    }
    let failed = if !matches!(write, Write::Nothing) && m.fail_next > 0 {
        m.fail_next -= 1;
        true
    } else {
        false
    };
    if let Write::Replace(d) | Write::Update(d) = &write {
        m.batch_sizes.push(d.len());
    }
    if let Write::Update(d) = &write {
        m.last_update = Some(d.clone());
    }
    m.tasks.push(Task {
        kind,
        enqueued: Instant::now(),
        write: Some(write),
        failed,
    });
    let uid = m.tasks.len() - 1;
    (
        StatusCode::ACCEPTED,
        Json(
            json!({"taskUid": uid, "indexUid": "products", "status": "enqueued", "type": kind, "enqueuedAt": "2026-01-01T00:00:00Z"}),
        ),
    )
}

async fn task(State(s): State<Shared>, Path(uid): Path<usize>) -> (StatusCode, Json<Value>) {
    let mut m = s.lock().expect("stand-in");
    if down(&m) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"message": "down", "code": "unavailable", "type": "system", "link": ""})),
        );
    }
    let latency = m.latency;
    let Some(t) = m.tasks.get_mut(uid) else {
        return (
            StatusCode::NOT_FOUND,
            Json(
                json!({"message": "no task", "code": "task_not_found", "type": "invalid_request", "link": ""}),
            ),
        );
    };
    let at = "2026-01-01T00:00:00Z";
    let mut body = json!({"uid": uid, "indexUid": "products", "type": t.kind, "details": null,
        "canceledBy": null, "error": null, "duration": "PT0.5S",
        "enqueuedAt": at, "startedAt": at, "finishedAt": at});
    if t.enqueued.elapsed() < latency {
        body["status"] = json!("processing");
        return (StatusCode::OK, Json(body));
    }
    if t.failed {
        body["status"] = json!("failed");
        body["error"] =
            json!({"message": "scripted", "code": "internal", "type": "internal", "link": ""});
        return (StatusCode::OK, Json(body));
    }
    body["status"] = json!("succeeded");
    if let Some(write) = t.write.take() {
        match write {
            Write::Replace(docs) => {
                for d in docs {
                    m.docs
                        .insert(d["id"].as_str().unwrap_or_default().to_string(), d);
                }
            }
            Write::Update(docs) => {
                for d in docs {
                    let id = d["id"].as_str().unwrap_or_default().to_string();
                    let stored = m.docs.entry(id).or_insert_with(|| json!({}));
                    for (k, v) in d.as_object().into_iter().flatten() {
                        stored[k] = v.clone();
                    }
                }
            }
            Write::Delete(ids) => {
                for id in ids {
                    m.docs.remove(&id);
                }
            }
            Write::Nothing => {}
        }
    }
    (StatusCode::OK, Json(body))
}

async fn start_meili(meili: Meili) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(meili));
    let app = Router::new()
        .route(
            "/indexes",
            post(|State(s): State<Shared>| async move {
                enqueue(
                    &mut s.lock().expect("stand-in"),
                    "indexCreation",
                    Write::Nothing,
                )
            }),
        )
        .route(
            "/indexes/{uid}/settings",
            patch(|State(s): State<Shared>| async move {
                enqueue(
                    &mut s.lock().expect("stand-in"),
                    "settingsUpdate",
                    Write::Nothing,
                )
            }),
        )
        .route(
            "/indexes/{uid}/documents",
            post(
                |State(s): State<Shared>, Json(docs): Json<Vec<Value>>| async move {
                    enqueue(
                        &mut s.lock().expect("stand-in"),
                        "documentAdditionOrUpdate",
                        Write::Replace(docs),
                    )
                },
            )
            .put(
                |State(s): State<Shared>, Json(docs): Json<Vec<Value>>| async move {
                    enqueue(
                        &mut s.lock().expect("stand-in"),
                        "documentAdditionOrUpdate",
                        Write::Update(docs),
                    )
                },
            ),
        )
        .route(
            "/indexes/{uid}/documents/delete-batch",
            post(
                |State(s): State<Shared>, Json(ids): Json<Vec<String>>| async move {
                    enqueue(
                        &mut s.lock().expect("stand-in"),
                        "documentDeletion",
                        Write::Delete(ids),
                    )
                },
            ),
        )
        .route("/tasks/{uid}", get(task))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, shared)
}

fn doc(i: usize) -> ProductDoc {
    ProductDoc {
        id: format!("p{i:05}"),
        title: format!("Kettle {i}"),
        description: "Boils water".into(),
        vendor_id: "v1".into(),
        category_id: None,
        category_path: vec![],
        price_min: 1_000 + i as i64,
        price_max: 1_000 + i as i64,
        currency: "EUR".into(),
        rating_tenths: None,
        in_stock: true,
        skus: vec![format!("SKU-{i}")],
        image_url: None,
        created_at: chrono::DateTime::from_timestamp(1_700_000_000 + i as i64, 0).expect("time"),
    }
}

struct Fixture {
    _db: TestDb,
    pool: sqlx::PgPool,
    search: Search,
}

/// A migrated database whose Postgres index holds `n` products, each waiting in the outbox.
async fn fixture(url: &str, n: usize) -> Fixture {
    let db = TestDb::create().await.expect("db");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&db.url())
        .await
        .expect("connect");
    agora::migrate(&pool).await.expect("migrate");
    let pg = PgSearch::new(pool.clone());
    pg.ensure().await.expect("pg index");
    let docs: Vec<ProductDoc> = (0..n).map(doc).collect();
    pg.upsert(&docs).await.expect("pg upsert");
    let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    sqlx::query("INSERT INTO search_meili_backlog (product_id) SELECT unnest($1::text[])")
        .bind(&ids)
        .execute(&pool)
        .await
        .expect("outbox");
    let meili = MeiliSearch::new(url, Some("key"), "products").expect("client");
    Fixture {
        _db: db,
        pool,
        search: Search::new(pg, Some(meili)),
    }
}

/// Runs the sender until the outbox is empty (or `limit` passes); returns how long it took.
async fn ship_all(f: &Fixture, shipping: Shipping, limit: Duration) -> Duration {
    let started = Instant::now();
    let stop = tokio_util::sync::CancellationToken::new();
    let sender = tokio::spawn(ship_to_meili(
        f.search.clone(),
        f.pool.clone(),
        shipping,
        stop.clone().cancelled_owned(),
    ));
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM search_meili_backlog")
            .fetch_one(&f.pool)
            .await
            .expect("count");
        if left == 0 || started.elapsed() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    stop.cancel();
    sender.await.expect("join").expect("sender");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexing_throughput_does_not_depend_on_how_long_each_task_takes() {
    let n = 4_000;
    let (url, meili) = start_meili(Meili {
        latency: Duration::from_millis(500),
        ..Meili::default()
    })
    .await;
    let f = fixture(&url, n).await;
    let shipping = Shipping {
        batch: 1_000,
        in_flight: 4,
        poll: Duration::from_millis(20),
    };
    let took = ship_all(&f, shipping, Duration::from_secs(60)).await;

    let m = meili.lock().expect("stand-in");
    assert_eq!(m.docs.len(), n, "every product reached Meilisearch");
    // One document per task, waiting for each, would take n × 0.5 s (over half an hour); in
    // batches with four tasks in flight it is a few task latencies: the ensure (two tasks, one
    // after the other), then four rounds of 1,000 documents that overlap.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(
        m.batch_sizes.iter().all(|&s| s <= 1_000),
        "{:?}",
        m.batch_sizes
    );
    assert_eq!(
        m.batch_sizes.iter().sum::<usize>(),
        n,
        "each document sent once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tasks_and_an_outage_lose_nothing_and_partial_updates_send_only_the_flag() {
    let n = 1_500;
    let (url, meili) = start_meili(Meili {
        latency: Duration::from_millis(50),
        fail_next: 2,
        down_until: Some(Instant::now() + Duration::from_millis(1_500)),
        ..Meili::default()
    })
    .await;
    let f = fixture(&url, n).await;
    let shipping = Shipping {
        batch: 500,
        in_flight: 2,
        poll: Duration::from_millis(20),
    };
    ship_all(&f, shipping, Duration::from_secs(60)).await;
    {
        let m = meili.lock().expect("stand-in");
        assert_eq!(m.docs.len(), n, "failed tasks were sent again");
        assert!(
            m.batch_sizes.iter().sum::<usize>() > n,
            "the failed batches went twice"
        );
    }

    // An in-stock change goes as a partial update of that one field.
    sqlx::query(&format!(
        "UPDATE {} SET in_stock = false WHERE id = 'p00007'",
        agora_search::DEFAULT_TABLE
    ))
    .execute(&f.pool)
    .await
    .expect("flag");
    sqlx::query("INSERT INTO search_meili_backlog (product_id, whole) VALUES ('p00007', false)")
        .execute(&f.pool)
        .await
        .expect("outbox");
    ship_all(&f, shipping, Duration::from_secs(30)).await;
    let m = meili.lock().expect("stand-in");
    assert_eq!(m.docs["p00007"]["in_stock"], json!(false));
    assert_eq!(
        m.docs["p00007"]["title"],
        json!("Kettle 7"),
        "the rest of the document stays"
    );
    assert_eq!(
        m.last_update,
        Some(vec![json!({"id": "p00007", "in_stock": false})])
    );
}

/// A real Meilisearch server for this test: `$AGORA_TEST_MEILI`, or the shared binary beside
/// the repository (`../shared/tools/meilisearch/meilisearch`); `None` when neither exists.
fn meili_binary() -> Option<std::path::PathBuf> {
    let candidates = [
        std::env::var("AGORA_TEST_MEILI").ok().map(Into::into),
        Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/tools/meilisearch/meilisearch"),
        ),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p: &std::path::PathBuf| p.is_file())
}

const KEY: &str = "a-master-key-of-at-least-16-bytes";

fn start_real_meili(
    binary: &std::path::Path,
    dir: &std::path::Path,
    port: u16,
) -> std::process::Child {
    std::process::Command::new(binary)
        .arg("--db-path")
        .arg(dir.join("db"))
        .args(["--http-addr", &format!("127.0.0.1:{port}")])
        .args([
            "--master-key",
            KEY,
            "--no-analytics",
            "--env",
            "development",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start meilisearch")
}

async fn healthy(url: &str) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(r) = client.get(format!("{url}/health")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("meilisearch at {url} did not come up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_real_meilisearch_killed_mid_seed_every_product_is_in_it_afterwards() {
    let Some(binary) = meili_binary() else {
        eprintln!("skipped: no Meilisearch binary (set AGORA_TEST_MEILI)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let port = agora_testkit::free_port().expect("port");
    let url = format!("http://127.0.0.1:{port}");
    let mut server = start_real_meili(&binary, dir.path(), port);
    healthy(&url).await;
    let app = common::spawn_app_with(agora::Roles::all(), |c| {
        c.meili_url = Some(url.clone());
        c.meili_key = Some(KEY.into());
    })
    .await;

    let bus = app.bus().await;
    let seeding = tokio::spawn(async move {
        agora::seed::seed_catalog(&bus, 400, 42, 16, indicatif::ProgressBar::hidden()).await
    });
    // Kill it once the seed is under way, and bring it back on the same data.
    common::until_sql(
        &app.pool,
        "SELECT count(*) >= 50 FROM search_products",
        Duration::from_secs(120),
    )
    .await;
    server.kill().expect("kill meilisearch");
    server.wait().expect("reap meilisearch");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut server = start_real_meili(&binary, dir.path(), port);
    healthy(&url).await;
    seeding.await.expect("join").expect("seed");

    common::until_sql(
        &app.pool,
        "SELECT NOT EXISTS (
            SELECT 1 FROM (SELECT aggregate_type, aggregate_id, max(sequence) AS s FROM events
                           WHERE aggregate_type IN ('product', 'stock') GROUP BY 1, 2) e
            LEFT JOIN search_sources s USING (aggregate_type, aggregate_id)
            WHERE s.version IS DISTINCT FROM e.s)
         AND NOT EXISTS (SELECT 1 FROM search_meili_backlog)",
        Duration::from_secs(120),
    )
    .await;
    let count = |sql: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql) as u64
        }
    };
    let published = count("SELECT count(*) FROM products WHERE status = 'published'").await;
    let in_stock = count(
        "SELECT count(*) FROM products p WHERE p.status = 'published'
         AND EXISTS (SELECT 1 FROM stock_levels l WHERE l.sku = ANY(p.skus) AND l.available > 0)",
    )
    .await;
    let meili = MeiliSearch::new(&url, Some(KEY), &app.config.meili_index).expect("client");
    let all = meili
        .search(&agora_search::SearchQuery {
            per_page: 1,
            ..Default::default()
        })
        .await
        .expect("meilisearch answers");
    assert_eq!(all.total, published, "every product is in Meilisearch");
    let stocked = meili
        .search(&agora_search::SearchQuery {
            per_page: 1,
            in_stock: Some(true),
            ..Default::default()
        })
        .await
        .expect("meilisearch answers");
    assert_eq!(
        stocked.total, in_stock,
        "in_stock agrees with the stock read model"
    );
    let bucketed: u64 = all.facets.price_ranges.iter().map(|b| b.count).sum();
    assert_eq!(
        bucketed, published,
        "price buckets count every product once"
    );

    // Through the edge, which searches Meilisearch.
    let body: Value = app
        .http
        .get(format!(
            "{}/store/search?per_page=1&in_stock=true",
            app.base
        ))
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    assert_eq!(body["total"].as_u64(), Some(in_stock));
    let _ = meili.delete_index().await;
    app.stop().await;
    let _ = server.kill();
    let _ = server.wait();
}
