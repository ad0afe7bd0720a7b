//! `bench-cart-pricing`: what cart pricing costs on add-to-cart, with `--promotions` active
//! automatic promotions, against a running `agora all` (loopback only).
//!
//! Setup: takes the SKUs of the first products of the catalog and, with `--admin-token`,
//! creates and activates `--promotions` automatic promotions (each 1 % off one SKU,
//! combinable, every priority different, so every one is evaluated and many apply). Then each
//! of `--concurrency` clients adds an item to its cart (`POST /store/carts/{id}/items`) and
//! prices it (`GET /store/carts/{id}/pricing`), in a loop, for `--duration-secs` after a
//! warm-up; it starts a new cart every `--adds-per-cart` adds. Reported: latency of the add
//! alone, of the pricing alone, and of the two together, p50/p99/max.
//!
//! With `--shipping-zones N` (and `--admin-token`) it first configures N shipping zones of
//! `--options-per-zone` options each (zone i covers German postcodes starting with the three
//! digits of i; options rate by weight bands, by subtotal bands or flat), and every pricing
//! asks for a German destination with a random postcode, so each quote finds the most specific
//! zone among N and prices its options. Run once with `--shipping-zones 0 --destination` on a
//! fresh database for the same request without zones.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::time::Instant;

#[derive(Parser, Debug)]
#[command(name = "bench-cart-pricing")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin bearer token, to create the promotions (`AGORA_ADMIN_TOKEN` of the server).
    #[arg(long, env = "AGORA_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Active automatic promotions to create before the run (0: none).
    #[arg(long, default_value_t = 0)]
    promotions: usize,
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    #[arg(long, default_value_t = 3)]
    warmup_secs: u64,
    /// Lines per cart before a client starts a new one.
    #[arg(long, default_value_t = 10)]
    adds_per_cart: usize,
    /// Shipping zones to configure before the run (0: none).
    #[arg(long, default_value_t = 0)]
    shipping_zones: usize,
    #[arg(long, default_value_t = 5)]
    options_per_zone: usize,
    /// Price for a German destination with a random postcode (implied by `--shipping-zones`).
    #[arg(long)]
    destination: bool,
}

struct Plan {
    http: reqwest::Client,
    base: String,
    skus: Vec<String>,
    adds_per_cart: usize,
    destination: bool,
    measure_from: Instant,
    deadline: Instant,
}

struct Stats {
    add: Histogram<u64>,
    pricing: Histogram<u64>,
    both: Histogram<u64>,
    errors: u64,
    promotions_applied: u64,
}

impl Stats {
    fn new() -> anyhow::Result<Stats> {
        let h = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3);
        Ok(Stats {
            add: h()?,
            pricing: h()?,
            both: h()?,
            errors: 0,
            promotions_applied: 0,
        })
    }
}

async fn skus(args: &Args, http: &reqwest::Client) -> anyhow::Result<Vec<String>> {
    let page: Value = http
        .get(format!("{}/store/products", args.url))
        .query(&[("limit", "50")])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let skus: Vec<String> = page["items"]
        .as_array()
        .context("no products listed")?
        .iter()
        .filter_map(|p| p["variants"][0]["sku"].as_str().map(str::to_string))
        .collect();
    if skus.is_empty() {
        bail!("no published products: start `scripts/demo` or `agora all --seed-products 1000`");
    }
    Ok(skus)
}

async fn create_promotions(
    args: &Args,
    http: &reqwest::Client,
    skus: &[String],
) -> anyhow::Result<()> {
    let Some(token) = &args.admin_token else {
        if args.promotions > 0 {
            bail!("--promotions needs --admin-token");
        }
        return Ok(());
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    for i in 0..args.promotions {
        let sku = &skus[i % skus.len()];
        let created: Value = http
            .post(format!("{}/admin/promotions", args.url))
            .bearer_auth(token)
            .header("Idempotency-Key", format!("bench-pricing-{run}-{i}"))
            .json(&json!({
                "terms": {
                    "name": format!("Bench {i}: 1 % off {sku}"),
                    "currency": "EUR",
                    "action": {"percent_off_items": {"percent_bp": 100}},
                    "applies_to": {"skus": [sku]},
                    "stacking": {"combinable": true, "priority": 1000 + i},
                },
                "codes": "automatic",
            }))
            .send()
            .await?
            .error_for_status()
            .context("create a promotion")?
            .json()
            .await?;
        let id = created["promotion_id"].as_str().context("promotion id")?;
        http.post(format!("{}/admin/promotions/{id}/activate", args.url))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()
            .context("activate a promotion")?;
    }
    Ok(())
}

/// Configures `--shipping-zones` zones of `--options-per-zone` options.
async fn create_shipping(args: &Args, http: &reqwest::Client) -> anyhow::Result<()> {
    if args.shipping_zones == 0 {
        return Ok(());
    }
    let Some(token) = &args.admin_token else {
        bail!("--shipping-zones needs --admin-token");
    };
    let eur = |minor: i64| json!({"amount_minor": minor, "currency": "EUR"});
    for z in 0..args.shipping_zones {
        let r = http
            .put(format!("{}/admin/shipping/zones/z{z}", args.url))
            .bearer_auth(token)
            .json(&json!({"name": format!("Zone {z}"),
                          "areas": [{"country": "DE", "postcode_prefix": format!("{:03}", z % 1000)}]}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("zone {z}: {}", r.text().await?);
        }
        for o in 0..args.options_per_zone {
            let rate = match o % 3 {
                0 => json!({"type": "weight", "bands": [{"up_to": 1000, "price": eur(490)},
                    {"up_to": 5000, "price": eur(690)}, {"up_to": null, "price": eur(990)}]}),
                1 => json!({"type": "subtotal", "bands": [{"up_to": 4999, "price": eur(590)},
                    {"up_to": null, "price": eur(0)}]}),
                _ => json!({"type": "flat", "price": eur(990 + o as i64)}),
            };
            let r = http
                .put(format!(
                    "{}/admin/shipping/zones/z{z}/options/o{o}",
                    args.url
                ))
                .bearer_auth(token)
                .json(
                    &json!({"name": format!("Option {o}"), "kind": "standard", "rate": rate,
                              "free_from": eur(20_000), "min_days": 1, "max_days": 3}),
                )
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("option {o} of zone {z}: {}", r.text().await?);
            }
        }
    }
    Ok(())
}

async fn client(index: usize, plan: Arc<Plan>) -> anyhow::Result<Stats> {
    let mut stats = Stats::new()?;
    let mut cart: Option<(String, String)> = None;
    let mut adds = 0usize;
    let mut next = index;
    while Instant::now() < plan.deadline {
        if cart.is_none() || adds >= plan.adds_per_cart {
            let created: Value = plan
                .http
                .post(format!("{}/store/carts", plan.base))
                .json(&json!({}))
                .send()
                .await?
                .json()
                .await?;
            cart = Some((
                created["cart_id"].as_str().context("cart id")?.to_string(),
                created["cart_token"].as_str().context("token")?.to_string(),
            ));
            adds = 0;
        }
        let Some((id, token)) = &cart else { continue };
        let sku = &plan.skus[next % plan.skus.len()];
        next += 1;
        adds += 1;
        let started = Instant::now();
        let added = plan
            .http
            .post(format!("{}/store/carts/{id}/items", plan.base))
            .header("X-Cart-Token", token)
            .json(&json!({"sku": sku, "quantity": 1}))
            .send()
            .await?;
        let added_at = Instant::now();
        let add_ok = added.status().is_success();
        let _ = added.bytes().await;
        let query = if plan.destination {
            format!("?country=DE&postcode={:05}", (next * 7919) % 100_000)
        } else {
            String::new()
        };
        let priced = plan
            .http
            .get(format!("{}/store/carts/{id}/pricing{query}", plan.base))
            .header("X-Cart-Token", token)
            .send()
            .await?;
        let price_ok = priced.status().is_success();
        let body: Value = priced.json().await.unwrap_or(Value::Null);
        let done = Instant::now();
        if started < plan.measure_from {
            continue;
        }
        if !add_ok || !price_ok {
            stats.errors += 1;
            continue;
        }
        stats.promotions_applied += body["promotions"].as_array().map_or(0, |p| p.len() as u64);
        let us = |d: Duration| (d.as_micros() as u64).max(1);
        stats.add.record(us(added_at - started))?;
        stats.pricing.record(us(done - added_at))?;
        stats.both.record(us(done - started))?;
    }
    Ok(stats)
}

fn line(name: &str, h: &Histogram<u64>) {
    let ms = |v: u64| v as f64 / 1000.0;
    println!(
        "{name:<14} n={:<7} p50={:.2} ms  p99={:.2} ms  max={:.2} ms",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let host = reqwest::Url::parse(&args.url)?
        .host_str()
        .unwrap_or_default()
        .to_string();
    if !["127.0.0.1", "localhost", "[::1]"].contains(&host.as_str()) {
        bail!("loopback only: {host}");
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let skus = skus(&args, &http).await?;
    create_promotions(&args, &http, &skus).await?;
    let setup = Instant::now();
    create_shipping(&args, &http).await?;
    if args.shipping_zones > 0 {
        println!(
            "configured {} zones × {} options in {:.1} s",
            args.shipping_zones,
            args.options_per_zone,
            setup.elapsed().as_secs_f64()
        );
    }
    if args.promotions > 0 {
        // The read model lists them active within moments.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let now = Instant::now();
    let plan = Arc::new(Plan {
        http,
        base: args.url.clone(),
        skus,
        adds_per_cart: args.adds_per_cart,
        destination: args.destination || args.shipping_zones > 0,
        measure_from: now + Duration::from_secs(args.warmup_secs),
        deadline: now + Duration::from_secs(args.warmup_secs + args.duration_secs),
    });
    let clients: Vec<_> = (0..args.concurrency)
        .map(|i| tokio::spawn(client(i, plan.clone())))
        .collect();
    let mut total = Stats::new()?;
    for c in clients {
        let s = c.await??;
        total.add.add(&s.add)?;
        total.pricing.add(&s.pricing)?;
        total.both.add(&s.both)?;
        total.errors += s.errors;
        total.promotions_applied += s.promotions_applied;
    }
    println!(
        "cart pricing: {} clients, {} s, {} promotions created; errors {}; promotions applied per pricing {:.1}",
        args.concurrency,
        args.duration_secs,
        args.promotions,
        total.errors,
        total.promotions_applied as f64 / total.both.len().max(1) as f64
    );
    line("add", &total.add);
    line("pricing", &total.pricing);
    line("add + pricing", &total.both);
    Ok(())
}
