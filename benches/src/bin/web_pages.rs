//! `bench-web-pages`: latency of the storefront's server-rendered pages against a running
//! `agora all` with the demo catalog (loopback only).
//!
//! Each of `--concurrency` clients (own connection, own cookies) opens the home page, a search,
//! a product page and its cart page in turn, as fast as the server answers, for
//! `--duration-secs` after a warm-up. Every client first puts one item in its cart through the
//! product page's form (CSRF token included), so the cart page prices a real line. It prints
//! p50/p90/p99/max per page twice: at the client on loopback (which includes waiting for the CPU
//! the clients share with the server) and the server's own time from each answer's
//! `Server-Timing: app;dur=` header (router to response head). Product pages cycle over
//! `--products` products of the catalog and searches over the given terms plus a word of each
//! of those products' titles. It also prints the read cache's hits and misses over the run
//! (from `/metrics`) and the first load of the product page: HTML, CSS, script and picture, in
//! bytes as sent (the pages are not compressed).

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use reqwest::Url;
use serde_json::Value;
use tokio::time::Instant;

const PAGES: [&str; 4] = ["home", "search", "product", "cart"];
const MAX_TRACKABLE_US: u64 = 60_000_000;

#[derive(Parser, Debug)]
#[command(
    name = "bench-web-pages",
    about = "Storefront page latency against a running `agora all` (loopback only)"
)]
struct Args {
    /// Base URL of the Agora edge.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured duration, after the warm-up.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Warm-up before measuring.
    #[arg(long, default_value_t = 3)]
    warmup_secs: u64,
    /// Search terms the clients cycle over (typos included, as people type).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "blender,blendr,jacket,lamp,chair,mug"
    )]
    queries: Vec<String>,
    /// Distinct in-stock products whose pages the clients open (and whose titles they search).
    #[arg(long, default_value_t = 100)]
    products: usize,
    /// Change the cart's quantity (1, 2, 1...) through the cart page's form before every cart
    /// page, untimed: each timed cart page then shows a cart just changed, priced afresh.
    #[arg(long)]
    change_cart: bool,
}

/// The value of `name="csrf" value="..."` in a page.
fn csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

/// The server's own time in µs from `Server-Timing: app;dur=<ms>`.
fn server_us(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get("server-timing")?.to_str().ok()?;
    let ms: f64 = value
        .split("dur=")
        .nth(1)?
        .split([';', ','])
        .next()?
        .parse()
        .ok()?;
    Some((ms * 1000.0).round() as u64)
}

/// GET with the client's cookies; the status, the body and the cookies the reply sets.
async fn fetch_with(
    client: &reqwest::Client,
    url: &str,
    cookies: &str,
) -> anyhow::Result<(u16, Vec<u8>, Vec<String>)> {
    let (status, body, set, _) = fetch_timed(client, url, cookies).await?;
    Ok((status, body, set))
}

/// [`fetch_with`], plus the server's own time when the answer tells it.
async fn fetch_timed(
    client: &reqwest::Client,
    url: &str,
    cookies: &str,
) -> anyhow::Result<(u16, Vec<u8>, Vec<String>, Option<u64>)> {
    let mut request = client.get(url);
    if !cookies.is_empty() {
        request = request.header("cookie", cookies);
    }
    let r = request.send().await?;
    let status = r.status().as_u16();
    let set = set_cookies(r.headers());
    let server = server_us(r.headers());
    Ok((status, r.bytes().await?.to_vec(), set, server))
}

async fn fetch(client: &reqwest::Client, url: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let (status, body, _) = fetch_with(client, url, "").await?;
    Ok((status, body))
}

/// `name=value` of every Set-Cookie header.
fn set_cookies(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect()
}

struct Client {
    http: reqwest::Client,
    /// The `Cookie` header: this client's CSRF and cart cookies.
    cookies: String,
    base: String,
    /// The product whose variant is in the cart.
    product: String,
    /// The products whose pages this client opens, in turn.
    products: Vec<String>,
    queries: Vec<String>,
    /// The SKU in the cart and the CSRF token of this client's forms.
    sku: String,
    csrf: String,
    change_cart: bool,
}

/// Per page: what the client waited, and what the server says it took.
struct Times {
    client: Vec<Histogram<u64>>,
    server: Vec<Histogram<u64>>,
}

impl Times {
    fn new() -> Self {
        let hists = || {
            (0..PAGES.len())
                .map(|_| Histogram::new_with_max(MAX_TRACKABLE_US, 3).expect("histogram"))
                .collect()
        };
        Times {
            client: hists(),
            server: hists(),
        }
    }

    fn add(&mut self, other: &Times) -> anyhow::Result<()> {
        for (t, h) in self.client.iter_mut().zip(&other.client) {
            t.add(h)?;
        }
        for (t, h) in self.server.iter_mut().zip(&other.server) {
            t.add(h)?;
        }
        Ok(())
    }
}

impl Client {
    /// Puts one unit of the product's first available SKU into this client's cart.
    async fn fill_cart(&mut self, sku: &str) -> anyhow::Result<()> {
        let (_, page, mut jar) = fetch_with(
            &self.http,
            &format!("{}/products/{}", self.base, self.product),
            "",
        )
        .await?;
        let token =
            csrf(&String::from_utf8_lossy(&page)).context("no CSRF token on the product page")?;
        self.csrf = token.clone();
        self.sku = sku.to_string();
        let r = self
            .http
            .post(format!("{}/cart/add", self.base))
            .header("cookie", jar.join("; "))
            .form(&[
                ("csrf", token.as_str()),
                ("sku", sku),
                ("quantity", "1"),
                ("product_id", &self.product),
            ])
            .send()
            .await?;
        if !(r.status().is_success() || r.status().is_redirection()) {
            bail!("add to cart: {}", r.status());
        }
        jar.extend(set_cookies(r.headers()));
        self.cookies = jar.join("; ");
        Ok(())
    }

    /// Sets the quantity of the cart's line through the cart page's form.
    async fn change_quantity(&self, quantity: &str) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!("{}/cart/update", self.base))
            .header("cookie", &self.cookies)
            .form(&[
                ("csrf", self.csrf.as_str()),
                ("sku", self.sku.as_str()),
                ("quantity", quantity),
            ])
            .send()
            .await?;
        if !r.status().is_redirection() {
            bail!("cart update: {}", r.status());
        }
        let back = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default();
        if back.contains("error=") {
            bail!("cart update refused: {back}");
        }
        Ok(())
    }

    async fn run(self, warm_until: Instant, stop_at: Instant) -> anyhow::Result<Times> {
        let mut times = Times::new();
        let mut i = 0usize;
        while Instant::now() < stop_at {
            let which = i % PAGES.len();
            let round = i / PAGES.len();
            let url = match which {
                0 => format!("{}/", self.base),
                1 => format!(
                    "{}/search?q={}",
                    self.base,
                    self.queries[round % self.queries.len()]
                ),
                2 => format!(
                    "{}/products/{}",
                    self.base,
                    self.products[round % self.products.len()]
                ),
                _ => {
                    if self.change_cart {
                        self.change_quantity(if round.is_multiple_of(2) { "2" } else { "1" })
                            .await?;
                    }
                    format!("{}/cart", self.base)
                }
            };
            let started = Instant::now();
            let (status, _, _, server) = fetch_timed(&self.http, &url, &self.cookies).await?;
            if status != 200 {
                bail!("{url}: {status}");
            }
            if started >= warm_until {
                let us = started.elapsed().as_micros() as u64;
                times.client[which].record(us.clamp(1, MAX_TRACKABLE_US))?;
                let server = server.context("no Server-Timing header")?;
                times.server[which].record(server.clamp(1, MAX_TRACKABLE_US))?;
            }
            i += 1;
        }
        Ok(times)
    }
}

const READ_CACHE: &str = "agora_read_cache_requests_total";
const MEMO: &str = "agora_pricing_memo_requests_total";

fn print_table(title: &str, hists: &[Histogram<u64>]) {
    println!("{title}");
    println!(
        "{:<8} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "page", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (name, h) in PAGES.iter().zip(hists) {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<8} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            name,
            h.len(),
            ms(0.5),
            ms(0.9),
            ms(0.99),
            h.max() as f64 / 1000.0
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = Url::parse(&args.url).context("--url")?;
    if !agora_benches::is_loopback(&base) {
        bail!("--url must be a loopback address");
    }
    let base = args.url.trim_end_matches('/').to_string();
    // A product in stock from the demo catalog.
    let probe = reqwest::Client::new();
    let found: Value = probe
        .get(format!("{base}/store/search?in_stock=true&per_page=1"))
        .send()
        .await?
        .json()
        .await?;
    let hit = &found["hits"][0];
    let product = hit["id"]
        .as_str()
        .context("no product in stock: seed the demo catalog")?
        .to_string();
    let sku = hit["skus"][0]
        .as_str()
        .context("a product without SKUs")?
        .to_string();
    // The products whose pages are opened, and a word of each title to search for.
    let mut products = Vec::new();
    let mut queries = args.queries.clone();
    let mut page = 1;
    while products.len() < args.products.max(1) {
        let found: Value = probe
            .get(format!(
                "{base}/store/search?in_stock=true&sort=newest&per_page=100&page={page}"
            ))
            .send()
            .await?
            .json()
            .await?;
        let hits = found["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for h in hits.iter().take(args.products.max(1) - products.len()) {
            let (Some(id), Some(title)) = (h["id"].as_str(), h["title"].as_str()) else {
                continue;
            };
            products.push(id.to_string());
            if let Some(word) = title.split_whitespace().max_by_key(|w| w.len()) {
                queries.push(word.to_lowercase());
            }
        }
        page += 1;
    }

    // The product page's first load, as a browser makes it.
    let (_, html) = fetch(&probe, &format!("{base}/products/{product}")).await?;
    let html_text = String::from_utf8_lossy(&html).to_string();
    let mut weight = html.len();
    for asset in ["/assets/site.css", "/assets/live.js"] {
        weight += fetch(&probe, &format!("{base}{asset}")).await?.1.len();
    }
    if let Some(at) = html_text.find("src=\"/img/") {
        let src = html_text[at + 5..]
            .split('"')
            .next()
            .unwrap_or_default()
            .replace("&amp;", "&");
        weight += fetch(&probe, &format!("{base}{src}")).await?.1.len();
    }

    let mut clients = Vec::new();
    for _ in 0..args.concurrency {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let mut client = Client {
            http,
            cookies: String::new(),
            base: base.clone(),
            product: product.clone(),
            products: products.clone(),
            queries: queries.clone(),
            sku: String::new(),
            csrf: String::new(),
            change_cart: args.change_cart,
        };
        client.fill_cart(&sku).await?;
        clients.push(client);
    }
    let warm_until = Instant::now() + Duration::from_secs(args.warmup_secs);
    let stop_at = warm_until + Duration::from_secs(args.duration_secs);
    let runs: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, mut c)| {
            // Each client starts at another product and query, as different people would.
            let (products, queries) = (c.products.len().max(1), c.queries.len().max(1));
            c.products.rotate_left(n % products);
            c.queries.rotate_left(n % queries);
            tokio::spawn(c.run(warm_until, stop_at))
        })
        .collect();
    tokio::time::sleep_until(warm_until).await;
    let (hits_before, misses_before) =
        agora_benches::hits_and_misses(&probe, &base, READ_CACHE).await;
    let (memo_hits_before, memo_misses_before) =
        agora_benches::hits_and_misses(&probe, &base, MEMO).await;
    let mut total = Times::new();
    for run in runs {
        total.add(&run.await??)?;
    }
    let (hits_after, misses_after) =
        agora_benches::hits_and_misses(&probe, &base, READ_CACHE).await;
    let (memo_hits_after, memo_misses_after) =
        agora_benches::hits_and_misses(&probe, &base, MEMO).await;
    println!(
        "bench-web-pages: {} clients, {} s measured, {} products, {} search terms",
        args.concurrency,
        args.duration_secs,
        products.len(),
        queries.len()
    );
    print_table(
        "at the client (queueing for the shared CPU included):",
        &total.client,
    );
    print_table(
        "at the server (Server-Timing: router to response head):",
        &total.server,
    );
    let pages: u64 = total.client.iter().map(Histogram::len).sum();
    println!(
        "pages/s: {:.0}",
        pages as f64 / args.duration_secs.max(1) as f64
    );
    for (what, hits, misses) in [
        (
            "read cache",
            hits_after - hits_before,
            misses_after - misses_before,
        ),
        (
            "cart pricing memo",
            memo_hits_after - memo_hits_before,
            memo_misses_after - memo_misses_before,
        ),
    ] {
        if hits + misses > 0.0 {
            println!(
                "{what} while measuring: {hits:.0} hits, {misses:.0} misses ({:.1} % hits)",
                100.0 * hits / (hits + misses)
            );
        } else {
            println!("{what} while measuring: not used (off, or /metrics not served)");
        }
    }
    println!("product page first load: {weight} bytes (HTML, CSS, script, picture; uncompressed)");
    Ok(())
}
