//! The edge's read cache of public catalog answers: kept until a read model they read changes
//! (Postgres `NOTIFY` from the projection's commit), never served across a missed change, and
//! invisible to shoppers except in speed.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agora::Roles;
use agora_edge::read_cache::{cached, ReadCache, ReadCacheConfig};
use agora_testkit::{eventually, TestDb};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use common::{admin_send, shop, spawn_app};
use http_body_util::BodyExt;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;

/// A router whose handlers count their calls, behind the cache: `/store/n` answers the count,
/// `/store/slow` too after 300 ms, `/store/missing` a 404 with the count.
fn counting(cache: Arc<ReadCache>, calls: Arc<AtomicU64>) -> Router {
    let (fast, slow, missing) = (calls.clone(), calls.clone(), calls);
    Router::new()
        .route(
            "/store/n",
            get(move || async move { Json(json!({"n": fast.fetch_add(1, Ordering::SeqCst) + 1})) }),
        )
        .route(
            "/store/slow",
            get(move || async move {
                let n = slow.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
                Json(json!({"n": n}))
            }),
        )
        .route(
            "/store/missing",
            get(move || async move {
                let n = missing.fetch_add(1, Ordering::SeqCst) + 1;
                (StatusCode::NOT_FOUND, Json(json!({"n": n})))
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(cache, cached))
}

/// The count an answer carries.
async fn count(router: &Router, uri: &str) -> u64 {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("answer");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json: Value = serde_json::from_slice(&bytes).expect("json");
    json["n"].as_u64().expect("n")
}

async fn notify(pool: &PgPool, name: &str) {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(agora_projections::READ_MODELS_CHANGED)
        .bind(name)
        .execute(pool)
        .await
        .expect("notify");
}

async fn until_live(cache: &ReadCache) {
    eventually(Duration::from_secs(10), || async {
        cache.is_live().then_some(())
    })
    .await
    .expect("the cache listens for changes");
}

#[tokio::test]
async fn an_answer_is_kept_until_a_read_model_it_reads_changes_and_never_across_a_missed_change() {
    let db = TestDb::create().await.expect("db");
    let pool = PgPool::connect(&db.url()).await.expect("pool");
    let cache = Arc::new(ReadCache::new(ReadCacheConfig {
        max_bytes: 1 << 20,
        // Far beyond the test's waits: only a heard change may refresh an answer.
        ttl: Duration::from_secs(600),
    }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let follower = tokio::spawn(cache.clone().follow(pool.clone(), async move {
        let _ = stopped.await;
    }));
    let calls = Arc::new(AtomicU64::new(0));
    let router = counting(cache.clone(), calls.clone());
    until_live(&cache).await;

    // Given an answer asked for once, the same request is answered without the handler; another
    // query string is another answer.
    assert_eq!(count(&router, "/store/n").await, 1);
    assert_eq!(count(&router, "/store/n").await, 1);
    assert_eq!(count(&router, "/store/n?page=2").await, 2);
    // An error is never kept.
    assert_eq!(count(&router, "/store/missing").await, 3);
    assert_eq!(count(&router, "/store/missing").await, 4);

    // A read model the routes do not read changes: the answers stay.
    notify(&pool, "orders").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&router, "/store/n").await, 1);

    // One they read changes: the next request runs the handler again.
    notify(&pool, "products").await;
    let fresh = eventually(Duration::from_secs(10), || async {
        let n = count(&router, "/store/n").await;
        (n > 4).then_some(n)
    })
    .await
    .expect("a change reaches the answer");
    assert_eq!(fresh, 5);
    assert_eq!(count(&router, "/store/n").await, 5, "kept again");

    // A change committed while an answer is being made: that answer is never served again.
    let slow = {
        let router = router.clone();
        tokio::spawn(async move { count(&router, "/store/slow").await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    notify(&pool, "stock_levels").await;
    let first = slow.await.expect("slow answer");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = count(&router, "/store/slow").await;
    assert!(
        second > first,
        "an answer that straddled a change was served again"
    );

    // The listening connection dies and a change may go unheard meanwhile: no answer from before
    // is served after the cache listens again.
    let before = count(&router, "/store/n").await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&pool)
    .await
    .expect("terminate the listener");
    assert_eq!(killed, 1, "one listening connection");
    notify(&pool, "products").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    until_live(&cache).await;
    let after = count(&router, "/store/n").await;
    assert!(
        after > before,
        "an answer from before the lost connection was served"
    );
    assert_eq!(
        count(&router, "/store/n").await,
        after,
        "kept again once live"
    );

    let _ = stop.send(());
    follower.await.expect("join").expect("follow ends cleanly");
    assert!(calls.load(Ordering::SeqCst) >= 8);
}

/// The product's storefront answer, once it answers 200.
async fn store_product(http: &reqwest::Client, base: &str, id: &str) -> Value {
    let r = http
        .get(format!("{base}/store/products/{id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

#[tokio::test]
async fn shoppers_see_a_new_price_and_a_sold_out_variant_through_the_cache() {
    let app = spawn_app(Roles::all()).await;
    let (http, base) = (&app.http, app.base.as_str());
    let id = shop::product(http, base, &[("RC-TEE-S", 1000), ("RC-TEE-M", 1200)], 1).await;
    shop::until_for_sale(&app.pool, &["RC-TEE-S", "RC-TEE-M"]).await;
    let both = eventually(Duration::from_secs(30), || async {
        let p = store_product(http, base, &id).await;
        (p["available_skus"] == json!(["RC-TEE-M", "RC-TEE-S"])).then_some(p)
    })
    .await
    .expect("both variants available");
    assert_eq!(both["in_stock"], true);
    // Asked again: the same answer (kept in the cache).
    assert_eq!(store_product(http, base, &id).await, both);

    // Staff change a price: the storefront shows it once the catalog's read model has it.
    let (status, body) = admin_send(
        &app,
        Method::PUT,
        &format!("/admin/products/{id}/variants/RC-TEE-S/price"),
        &json!({"amount_minor": 1500, "currency": "EUR"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(10), || async {
        let p = store_product(http, base, &id).await;
        let price = p["variants"]
            .as_array()?
            .iter()
            .find(|v| v["sku"] == "RC-TEE-S")?["price"]["amount_minor"]
            .as_i64()?;
        (price == 1500).then_some(())
    })
    .await
    .expect("the new price is shown");

    // The last M is written off: the product page stops offering it.
    let (status, body) = admin_send(
        &app,
        Method::POST,
        "/admin/inventory/RC-TEE-M/adjust",
        &json!({"delta": -1, "reason": "damaged"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(10), || async {
        let p = store_product(http, base, &id).await;
        (p["available_skus"] == json!(["RC-TEE-S"]) && p["in_stock"] == true).then_some(())
    })
    .await
    .expect("M is sold out on the storefront");
    let page = http
        .get(format!("{base}/products/{id}"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(r#"value="RC-TEE-M" disabled"#),
        "the sold-out variant cannot be picked"
    );
    assert!(page.contains(r#"value="RC-TEE-S" checked"#));
}

/// The metrics this test binary records (one recorder for the process).
fn recorder() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("a recorder")
    })
}

/// Pricings served from the edge's memo so far.
fn memo_hits() -> u64 {
    recorder()
        .render()
        .lines()
        .find(|l| l.starts_with("agora_pricing_memo_requests_total{outcome=\"hit\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map_or(0, |n| n as u64)
}

async fn pricing(app: &common::TestApp, cart: &str, token: &str) -> (u16, Value) {
    let r = app
        .http
        .get(format!("{}/store/carts/{cart}/pricing", app.base))
        .header("X-Cart-Token", token)
        .send()
        .await
        .expect("pricing");
    (r.status().as_u16(), r.json().await.expect("json"))
}

fn subtotal(p: &Value) -> i64 {
    p["subtotal"]["amount_minor"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn a_cart_is_priced_once_between_changes_and_always_shows_the_shoppers_own() {
    recorder();
    let app = spawn_app(Roles::all()).await;
    let (http, base) = (&app.http, app.base.as_str());
    let product = shop::product(http, base, &[("PM-MUG-R", 1000), ("PM-MUG-B", 1200)], 50).await;
    shop::until_for_sale(&app.pool, &["PM-MUG-R", "PM-MUG-B"]).await;
    let (cart, token) = app.create_cart().await;

    // Every change the shopper makes shows in the very next pricing, kept or not.
    let mut expected = 0;
    for round in 1..=6i64 {
        let sku = if round % 2 == 0 {
            "PM-MUG-B"
        } else {
            "PM-MUG-R"
        };
        let r = app.add(&cart, &token, sku, 1, None).await;
        assert_eq!(r.status(), 200);
        expected += if sku == "PM-MUG-B" { 1200 } else { 1000 };
        for _ in 0..2 {
            let (status, p) = pricing(&app, &cart, &token).await;
            assert_eq!(status, 200, "{p}");
            assert_eq!(subtotal(&p), expected, "round {round}: {p}");
        }
    }
    let (_, priced) = pricing(&app, &cart, &token).await;
    let line = priced["lines"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["sku"] == "PM-MUG-B"))
        .cloned()
        .expect("a B line");
    assert_eq!(line["quantity"], 3);
    assert_eq!(priced["cart_status"], "open");
    assert!(line["title"]
        .as_str()
        .is_some_and(|t| t.starts_with(line["product_title"].as_str().expect("product title"))));

    // Asked again with nothing changed: answered from memory (once the edge hears changes).
    eventually(Duration::from_secs(10), || async {
        let before = memo_hits();
        let (status, again) = pricing(&app, &cart, &token).await;
        (status == 200 && again == priced && memo_hits() > before).then_some(())
    })
    .await
    .expect("a pricing asked for again is served from the memo");

    // Another shopper (another token) gets nothing of it, kept or not.
    let (status, body) = pricing(&app, &cart, &"0".repeat(43)).await;
    assert!(status == 401 || status == 404, "{status}: {body}");
    assert!(body.get("lines").is_none(), "{body}");

    // A change made elsewhere (another edge process: straight to the cart service) shows once
    // the carts read model announces the cart.
    let bus = app.bus().await;
    let ctx = agora_nats::RequestContext::new(Duration::from_secs(30));
    let owner = agora_kernel::Principal::Guest {
        token_sha256: agora_cart::token_sha256(&token),
    };
    let changed: Value = bus
        .call(
            &cart,
            agora_kernel::CommandId::new_random(),
            owner,
            &agora_cart::CartCommand::RemoveItem {
                sku: agora_kernel::Sku::parse("PM-MUG-R").expect("sku"),
            },
            &ctx,
        )
        .await
        .expect("removed");
    assert_eq!(
        changed["view"]["lines"].as_array().map(Vec::len),
        Some(1),
        "{changed}"
    );
    eventually(Duration::from_secs(10), || async {
        let (_, p) = pricing(&app, &cart, &token).await;
        (subtotal(&p) == 3 * 1200).then_some(())
    })
    .await
    .expect("the change made elsewhere shows");

    // Staff change a price: the kept pricing goes with the catalog's change.
    let (status, body) = admin_send(
        &app,
        Method::PUT,
        &format!("/admin/products/{product}/variants/PM-MUG-B/price"),
        &json!({"amount_minor": 1500, "currency": "EUR"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(10), || async {
        let (_, p) = pricing(&app, &cart, &token).await;
        (subtotal(&p) == 3 * 1500).then_some(())
    })
    .await
    .expect("the new price is priced");
    // And it stays so.
    for _ in 0..5 {
        assert_eq!(subtotal(&pricing(&app, &cart, &token).await.1), 3 * 1500);
    }
    app.stop().await;
}
