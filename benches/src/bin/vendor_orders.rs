//! `bench-vendor-orders`: a vendor's back-office order list (`GET /admin/vendors/{id}/orders`)
//! over a large `vendor_orders` read model, against a running `agora all` (loopback only).
//!
//! Setup: inserts `--orders` rows for the vendor and as many for other vendors straight into
//! the read model (synthetic rows, ids prefixed `bench-vo-`; an order list reads only this
//! table, so rows written by the projection or here cost the same), then asks for pages:
//! the newest page, deeper pages and a status filter, `--requests` times at `--concurrency`,
//! and reports latency percentiles. The synthetic rows are deleted at the end.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "bench-vendor-orders",
    about = "A vendor's order list over many orders"
)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A back-office token that may read the vendor (the admin token, or a vendor user's).
    #[arg(long, env = "AGORA_ADMIN_TOKEN")]
    token: String,
    #[arg(long, env = "AGORA_DATABASE_URL")]
    database_url: String,
    /// The vendor whose list is read (it must exist).
    #[arg(long)]
    vendor: String,
    /// Orders of the vendor (as many again belong to other vendors).
    #[arg(long, default_value_t = 100_000)]
    orders: i64,
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let host = reqwest::Url::parse(&args.url)?
        .host_str()
        .unwrap_or_default()
        .to_string();
    if !["127.0.0.1", "localhost", "[::1]", "::1"].contains(&host.as_str()) {
        bail!("bench-vendor-orders targets loopback only, not {host}");
    }
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    let started = Instant::now();
    // The vendor's orders, one a minute back in time, a tenth of them still to ship; and as
    // many of other vendors, so the index has neighbours.
    for (vendor, tag) in [(args.vendor.as_str(), "own"), ("bench-vo-other", "other")] {
        sqlx::query(
            "INSERT INTO vendor_orders (vendor_id, order_id, status, currency, subtotal_minor, units,
                line_count, ship_city, ship_country, placed_at, updated_at)
             SELECT $1, 'bench-vo-' || $2 || '-' || i,
                    CASE WHEN i % 10 = 0 THEN 'confirmed' ELSE 'delivered' END, 'EUR',
                    1000 + i % 9000, 1 + i % 3, 1, 'Berlin', 'DE',
                    now() - i * interval '1 minute', now() - i * interval '1 minute'
             FROM generate_series(1, $3::bigint) AS i
             ON CONFLICT DO NOTHING",
        )
        .bind(vendor)
        .bind(tag)
        .bind(args.orders)
        .execute(&pool)
        .await
        .context("insert the synthetic orders")?;
    }
    sqlx::query("ANALYZE vendor_orders").execute(&pool).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM vendor_orders")
        .fetch_one(&pool)
        .await?;
    println!(
        "vendor_orders: {total} rows ({} of the vendor), written in {:.1} s",
        args.orders,
        started.elapsed().as_secs_f64()
    );

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = format!("{}/admin/vendors/{}/orders", args.url, args.vendor);
    // The pages a vendor opens: the newest, the next ones, a deep one, the orders to ship.
    let queries: Vec<String> = vec![
        "limit=50".into(),
        "limit=50&offset=50".into(),
        "limit=50&offset=500".into(),
        "limit=50&status=confirmed".into(),
        "limit=50&offset=100&status=confirmed".into(),
    ];
    let first = http
        .get(format!("{base}?limit=1"))
        .bearer_auth(&args.token)
        .send()
        .await?;
    if !first.status().is_success() {
        bail!(
            "the vendor's list answered {}: {}",
            first.status(),
            first.text().await.unwrap_or_default()
        );
    }
    let shared = Arc::new((http, base, args.token.clone(), queries));
    let per = args.requests.div_ceil(args.concurrency.max(1));
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|w| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let (http, base, token, queries) = &*shared;
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let mut errors = 0u64;
                for i in 0..per {
                    let q = &queries[(w + i) % queries.len()];
                    let t = Instant::now();
                    match http
                        .get(format!("{base}?{q}"))
                        .bearer_auth(token)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            let _ = h.record(t.elapsed().as_micros() as u64);
                        }
                        _ => errors += 1,
                    }
                }
                (h, errors)
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    let run = Instant::now();
    for t in tasks {
        let (h, e) = t.await?;
        all.add(&h)?;
        errors += e;
    }
    let secs = run.elapsed().as_secs_f64();
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "GET /admin/vendors/{{id}}/orders over {} of the vendor's orders: {} requests at concurrency {} in {:.1} s ({:.0}/s), {} errors",
        args.orders,
        all.len(),
        args.concurrency,
        secs,
        all.len() as f64 / secs,
        errors
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        all.max() as f64 / 1000.0
    );
    sqlx::query("DELETE FROM vendor_orders WHERE order_id LIKE 'bench-vo-%'")
        .execute(&pool)
        .await?;
    Ok(())
}
