//! `bench-journey`: simulated shoppers against a running `agora all` (loopback only).
//!
//! Each shopper loops over one journey: search → view a product → open a cart and add three
//! items → check out (with an `Idempotency-Key`) → pay (follow the order's events until it is confirmed or
//! cancelled). It reports complete journeys per second, per-step latency percentiles and the
//! error rate, then checks correctness on the database: oversold units, orders per
//! idempotency key, captures per order and reservations left behind by settled orders.
//!
//! Marketplace carts: `--vendors ID[,ID]` buys only products of those vendors (listed through
//! the back office, so it needs `--admin-token`): with one vendor every cart holds one vendor's
//! lines, with two each cart mixes both (the first item from the first vendor, the others
//! alternating), so one checkout makes two sub-orders and ledger entries for two vendors.
//!
//! Setup: the catalog comes from `agora seed` (or any published products); with
//! `--admin-token` the benchmark first receives `--restock` units of every SKU it will buy, so
//! journeys measure checkout rather than running out of stock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::time::Instant;

const STEPS: [&str; 6] = ["search", "view", "cart", "add_item", "checkout", "pay"];

#[derive(Parser, Debug)]
#[command(
    name = "bench-journey",
    about = "Shopper journeys against a running `agora all`"
)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Back-office token, to restock the SKUs the journeys buy.
    #[arg(long, env = "AGORA_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// The platform's database, for the correctness counters at the end.
    #[arg(long, env = "AGORA_DATABASE_URL")]
    database_url: Option<String>,
    /// Concurrent shoppers.
    #[arg(long, default_value_t = 32)]
    shoppers: usize,
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    #[arg(long, default_value_t = 5)]
    warmup_secs: u64,
    /// Products the journeys buy from (the first ones the storefront lists).
    #[arg(long, default_value_t = 50)]
    products: usize,
    /// Units received per SKU before the run (needs --admin-token); 0 leaves stock alone.
    #[arg(long, default_value_t = 1_000_000)]
    restock: i64,
    /// Payment method token for every checkout.
    #[arg(long, default_value = "pm_card_visa")]
    payment_method: String,
    /// Check out with this promotion code: created before the run (10 % off the order, no
    /// limits; needs --admin-token) unless it exists already.
    #[arg(long)]
    code: Option<String>,
    /// Buy only products of these vendors (comma-separated vendor ids; needs --admin-token):
    /// one vendor, or two mixed in every cart.
    #[arg(long, value_delimiter = ',')]
    vendors: Vec<String>,
}

struct Product {
    id: String,
    word: String,
    skus: Vec<String>,
    /// Which of `--vendors` sells it (0 without the option).
    vendor: usize,
}

struct Shared {
    http: reqwest::Client,
    base: String,
    products: Vec<Product>,
    /// How many vendors the carts mix (0 or 1: no mixing).
    vendors: usize,
    payment_method: String,
    code: Option<String>,
    measure_from: Instant,
    deadline: Instant,
}

#[derive(Default)]
struct Stats {
    steps: BTreeMap<&'static str, Histogram<u64>>,
    journeys: u64,
    confirmed: u64,
    cancelled: u64,
    errors: BTreeMap<String, u64>,
    /// (idempotency key, order id)
    orders: Vec<(String, String)>,
}

impl Stats {
    fn record(&mut self, step: &'static str, started: Instant, measured: bool) {
        if measured {
            let us = started.elapsed().as_micros() as u64;
            let h = self.steps.entry(step).or_insert_with(|| {
                Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram")
            });
            let _ = h.record(us.max(1));
        }
    }
}

fn pick(seed: &mut u64, n: usize) -> usize {
    // SplitMix64: deterministic per shopper, no shared RNG.
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % n as u64) as usize
}

async fn send(req: reqwest::RequestBuilder) -> Result<Value, String> {
    let r = req.send().await.map_err(|e| {
        if e.is_timeout() {
            "timeout".to_string()
        } else {
            "transport".to_string()
        }
    })?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!(
            "{}:{}",
            status.as_u16(),
            body["code"].as_str().unwrap_or("?")
        ))
    }
}

/// One journey; returns the error key of the step that failed.
async fn journey(shared: &Shared, stats: &mut Stats, seed: &mut u64, n: u64) -> Result<(), String> {
    let measured = Instant::now() >= shared.measure_from;
    let (http, base) = (&shared.http, &shared.base);
    let product = &shared.products[pick(seed, shared.products.len())];

    let t = Instant::now();
    send(
        http.get(format!("{base}/store/search"))
            .query(&[("q", product.word.as_str()), ("per_page", "10")]),
    )
    .await
    .map_err(|e| format!("search {e}"))?;
    stats.record("search", t, measured);

    let t = Instant::now();
    send(http.get(format!("{base}/store/products/{}", product.id)))
        .await
        .map_err(|e| format!("view {e}"))?;
    stats.record("view", t, measured);

    let t = Instant::now();
    let cart = send(http.post(format!("{base}/store/carts")).json(&json!({})))
        .await
        .map_err(|e| format!("cart {e}"))?;
    stats.record("cart", t, measured);
    let cart_id = cart["cart_id"]
        .as_str()
        .ok_or("cart bad_reply")?
        .to_string();
    let token = cart["cart_token"]
        .as_str()
        .ok_or("cart bad_reply")?
        .to_string();
    // With two vendors, the items alternate between them (the first is the searched one's).
    let of_vendor = |v: usize, seed: &mut u64| -> &Product {
        let mine: Vec<&Product> = shared.products.iter().filter(|p| p.vendor == v).collect();
        mine[pick(seed, mine.len())]
    };
    for i in 0..3 {
        let p = if i == 0 {
            product
        } else if shared.vendors > 1 {
            of_vendor((product.vendor + i) % shared.vendors, seed)
        } else {
            &shared.products[pick(seed, shared.products.len())]
        };
        let sku = &p.skus[pick(seed, p.skus.len())];
        let t = Instant::now();
        send(
            http.post(format!("{base}/store/carts/{cart_id}/items"))
                .header("X-Cart-Token", &token)
                .json(&json!({"sku": sku, "quantity": 1})),
        )
        .await
        .map_err(|e| format!("add_item {e}"))?;
        stats.record("add_item", t, measured);
    }

    let key = format!("journey-{:016x}-{n}", *seed);
    let mut body = json!({
        "email": "shopper@example.com",
        "shipping_address": {"name": "Bench Shopper", "line1": "1 Load St", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "payment_method": shared.payment_method,
    });
    if let Some(code) = &shared.code {
        body["code"] = json!(code);
    }
    let t = Instant::now();
    let mut attempt = 0;
    let placed = loop {
        attempt += 1;
        let r = send(
            http.post(format!("{base}/store/carts/{cart_id}/checkout"))
                .header("X-Cart-Token", &token)
                .header("Idempotency-Key", &key)
                .json(&body),
        )
        .await;
        match r {
            // A timed-out checkout is retried with the same key: the API's contract.
            Err(e) if (e.starts_with("503") || e == "timeout") && attempt < 5 => {
                *stats
                    .errors
                    .entry(format!("checkout {e} (retried)"))
                    .or_default() += 1;
                continue;
            }
            other => break other.map_err(|e| format!("checkout {e}"))?,
        }
    };
    stats.record("checkout", t, measured);
    let order_id = placed["order_id"]
        .as_str()
        .ok_or("checkout bad_reply")?
        .to_string();
    stats.orders.push((key, order_id.clone()));

    // Wait for the order to settle the way an app does: following its events
    // (`GET /store/orders/{id}/events`), not polling it.
    let t = Instant::now();
    let status = follow_order(http, base, &order_id, &token)
        .await
        .map_err(|e| format!("pay {e}"))?;
    stats.record("pay", t, measured);
    if measured {
        stats.journeys += 1;
        if status == "confirmed" {
            stats.confirmed += 1;
        } else {
            stats.cancelled += 1;
        }
    }
    Ok(())
}

async fn shopper(index: usize, shared: Arc<Shared>) -> Stats {
    let mut stats = Stats::default();
    let mut seed = 0x5EED_0000_0000_0000u64 ^ (index as u64).wrapping_mul(0x9E37_79B9);
    let mut n = 0;
    while Instant::now() < shared.deadline {
        n += 1;
        if let Err(e) = journey(&shared, &mut stats, &mut seed, n).await {
            if Instant::now() >= shared.measure_from {
                *stats.errors.entry(e).or_default() += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stats
}

async fn setup(args: &Args, http: &reqwest::Client) -> anyhow::Result<Vec<Product>> {
    let mut pages = Vec::new();
    if args.vendors.is_empty() {
        let page: Value = http
            .get(format!("{}/store/products", args.url))
            .query(&[("limit", args.products.min(100).to_string())])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        pages.push((0, page));
    } else {
        let token = args
            .admin_token
            .as_deref()
            .context("--vendors needs --admin-token")?;
        let each = (args.products / args.vendors.len()).clamp(1, 100);
        for (i, vendor) in args.vendors.iter().enumerate() {
            let page: Value = http
                .get(format!("{}/admin/products", args.url))
                .bearer_auth(token)
                .query(&[
                    ("status", "published"),
                    ("vendor_id", vendor.as_str()),
                    ("limit", &each.to_string()),
                ])
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            pages.push((i, page));
        }
    }
    let mut products = Vec::new();
    for (vendor, page) in &pages {
        let vendor = *vendor;
        for item in page["items"].as_array().context("no products listed")? {
            let skus: Vec<String> = item["variants"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|v| v["sku"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let word = item["title"]
                .as_str()
                .unwrap_or("shirt")
                .split_whitespace()
                .next()
                .unwrap_or("shirt")
                .to_string();
            if !skus.is_empty() {
                products.push(Product {
                    id: item["id"].as_str().context("id")?.to_string(),
                    word,
                    skus,
                    vendor,
                });
            }
        }
    }
    for v in 0..args.vendors.len() {
        if !products.iter().any(|p| p.vendor == v) {
            bail!("vendor {} has no published products", args.vendors[v]);
        }
    }
    if products.is_empty() {
        bail!("no published products: run `agora seed --products 1000` first");
    }
    if let (Some(token), true) = (&args.admin_token, args.restock > 0) {
        for sku in products.iter().flat_map(|p| &p.skus) {
            http.post(format!("{}/admin/inventory/{sku}/receive", args.url))
                .bearer_auth(token)
                .header(
                    "Idempotency-Key",
                    format!("bench-restock-{sku}-{}", uuid::Uuid::new_v4()),
                )
                .json(&json!({"quantity": args.restock, "reason": "benchmark restock"}))
                .send()
                .await?
                .error_for_status()
                .with_context(|| format!("restock {sku}"))?;
        }
    }
    if let (Some(code), Some(token)) = (&args.code, &args.admin_token) {
        let created = http
            .post(format!("{}/admin/promotions", args.url))
            .bearer_auth(token)
            .header("Idempotency-Key", format!("bench-journey-code-{code}"))
            .json(&json!({
                "terms": {"name": format!("Bench {code}"), "currency": "EUR",
                          "action": {"percent_off_order": {"percent_bp": 1000}}},
                "codes": {"code": {"code": code}},
            }))
            .send()
            .await?;
        if created.status().is_success() {
            let created: Value = created.json().await?;
            let id = created["promotion_id"].as_str().context("promotion id")?;
            http.post(format!("{}/admin/promotions/{id}/activate", args.url))
                .bearer_auth(token)
                .send()
                .await?;
        } else if created.status() != reqwest::StatusCode::CONFLICT {
            bail!("creating the code promotion: {}", created.text().await?);
        }
    }
    Ok(products)
}

async fn correctness(database_url: &str, orders: &[(String, String)]) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(database_url).await?;
    let ids: Vec<String> = orders.iter().map(|(_, o)| o.clone()).collect();
    // Let the last checkouts settle before counting what they left behind.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let unsettled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE order_id = ANY($1) AND status NOT IN ('confirmed', 'cancelled')",
        )
        .bind(&ids)
        .fetch_one(&pool)
        .await?;
        if unsettled == 0 || Instant::now() > deadline {
            println!("unsettled orders after the run:  {unsettled}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let keys: std::collections::BTreeSet<&String> = orders.iter().map(|(k, _)| k).collect();
    let placed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'order' AND event_type = 'OrderPlaced' AND aggregate_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await?;
    let oversold: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(-total), 0)::bigint FROM (SELECT sum(on_hand_delta) AS total FROM stock_movements GROUP BY sku) s WHERE total < 0",
    )
    .fetch_one(&pool)
    .await?;
    let double_captures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT i.order_id FROM test_gateway_operations o JOIN test_gateway_intents i ON i.id = o.intent_id
          WHERE o.operation = 'capture' AND i.order_id = ANY($1) GROUP BY i.order_id HAVING count(*) > 1) d",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await
    .unwrap_or(-1);
    // A confirmed order's saga still captures and then commits its reservations: give the
    // sagas the same minute to finish before a reservation left behind counts as stranded.
    let deadline = Instant::now() + Duration::from_secs(60);
    let stranded: i64 = loop {
        let stranded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM stock_reservations r JOIN orders o ON o.order_id = r.order_ref
              WHERE o.order_id = ANY($1) AND o.status IN ('confirmed', 'cancelled')",
        )
        .bind(&ids)
        .fetch_one(&pool)
        .await?;
        if stranded == 0 || Instant::now() > deadline {
            break stranded;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "idempotency keys / orders placed: {} / {placed}",
        keys.len()
    );
    println!("oversold units:                   {oversold}");
    println!("orders captured more than once:   {double_captures}");
    println!("stranded reservations:            {stranded}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let host = reqwest::Url::parse(&args.url)?
        .host_str()
        .unwrap_or_default()
        .to_string();
    if !["127.0.0.1", "localhost", "[::1]", "::1"].contains(&host.as_str()) {
        bail!("bench-journey targets loopback only, not {host}");
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.shoppers * 2)
        .build()?;
    let products = setup(&args, &http).await?;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        http,
        base: args.url.clone(),
        products,
        vendors: args.vendors.len(),
        payment_method: args.payment_method.clone(),
        code: args.code.clone(),
        measure_from: start + Duration::from_secs(args.warmup_secs),
        deadline: start + Duration::from_secs(args.warmup_secs + args.duration_secs),
    });
    let tasks: Vec<_> = (0..args.shoppers)
        .map(|i| tokio::spawn(shopper(i, shared.clone())))
        .collect();
    let mut total = Stats::default();
    for t in tasks {
        let s = t.await?;
        for (step, h) in s.steps {
            total
                .steps
                .entry(step)
                .or_insert_with(|| {
                    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram")
                })
                .add(&h)?;
        }
        total.journeys += s.journeys;
        total.confirmed += s.confirmed;
        total.cancelled += s.cancelled;
        for (k, v) in s.errors {
            *total.errors.entry(k).or_default() += v;
        }
        total.orders.extend(s.orders);
    }
    let secs = args.duration_secs as f64;
    let failed: u64 = total
        .errors
        .iter()
        .filter(|(k, _)| !k.ends_with("(retried)"))
        .map(|(_, v)| v)
        .sum();
    println!(
        "shoppers {}, measured {}s after {}s warm-up",
        args.shoppers, args.duration_secs, args.warmup_secs
    );
    println!(
        "journeys: {} complete ({:.1}/s), {} confirmed, {} cancelled, {} failed ({:.2}% error rate)",
        total.journeys,
        total.journeys as f64 / secs,
        total.confirmed,
        total.cancelled,
        failed,
        100.0 * failed as f64 / (total.journeys + failed).max(1) as f64
    );
    println!(
        "{:<10} {:>8} {:>9} {:>9} {:>9}",
        "step", "count", "p50 ms", "p95 ms", "p99 ms"
    );
    for step in STEPS {
        if let Some(h) = total.steps.get(step) {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            println!(
                "{step:<10} {:>8} {:>9.1} {:>9.1} {:>9.1}",
                h.len(),
                ms(0.5),
                ms(0.95),
                ms(0.99)
            );
        }
    }
    for (k, v) in &total.errors {
        println!("error {k}: {v}");
    }
    if let Some(url) = &args.database_url {
        correctness(url, &total.orders).await?;
    }
    Ok(())
}

/// Follows an order's server-sent events until one is final; returns the order's status then.
async fn follow_order(
    http: &reqwest::Client,
    base: &str,
    order_id: &str,
    token: &str,
) -> Result<String, String> {
    let mut response = http
        .get(format!("{base}/store/orders/{order_id}/events"))
        .header("X-Cart-Token", token)
        .timeout(Duration::from_secs(150))
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timeout".to_string()
            } else {
                e.to_string()
            }
        })?;
    if !response.status().is_success() {
        return Err(response.status().as_u16().to_string());
    }
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let mut kind = "";
            let mut data = String::new();
            for line in event.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = k.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            match kind {
                "order" => {
                    let update: Value = serde_json::from_str(&data).map_err(|e| e.to_string())?;
                    if update["final"] == true {
                        return Ok(update["order"]["status"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string());
                    }
                }
                "end" => return Err(format!("stuck_{data}")),
                _ => {}
            }
        }
    }
    Err("stream_closed".into())
}
