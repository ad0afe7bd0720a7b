//! `bench-web-pages`: latency of the storefront's server-rendered pages against a running
//! `agora all` with the demo catalog (loopback only).
//!
//! Each of `--concurrency` clients (own connection, own cookies) opens the home page, a search,
//! a product page and its cart page in turn, as fast as the server answers, for
//! `--duration-secs` after a warm-up. Every client first puts one item in its cart through the
//! product page's form (CSRF token included), so the cart page prices a real line. It prints
//! p50/p90/p99/max per page (measured at the client on loopback: an upper bound of the server
//! time) and the first load of the product page: HTML, CSS, script and picture, in bytes as
//! sent (the pages are not compressed).

use std::net::IpAddr;
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
}

fn loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The value of `name="csrf" value="..."` in a page.
fn csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

/// GET with the client's cookies; the status, the body and the cookies the reply sets.
async fn fetch_with(
    client: &reqwest::Client,
    url: &str,
    cookies: &str,
) -> anyhow::Result<(u16, Vec<u8>, Vec<String>)> {
    let mut request = client.get(url);
    if !cookies.is_empty() {
        request = request.header("cookie", cookies);
    }
    let r = request.send().await?;
    let status = r.status().as_u16();
    let set = set_cookies(r.headers());
    Ok((status, r.bytes().await?.to_vec(), set))
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
    product: String,
    queries: Vec<String>,
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

    async fn run(
        self,
        warm_until: Instant,
        stop_at: Instant,
    ) -> anyhow::Result<Vec<Histogram<u64>>> {
        let mut hists: Vec<Histogram<u64>> = (0..PAGES.len())
            .map(|_| Histogram::new_with_max(MAX_TRACKABLE_US, 3).expect("histogram"))
            .collect();
        let mut i = 0usize;
        while Instant::now() < stop_at {
            let which = i % PAGES.len();
            let url = match which {
                0 => format!("{}/", self.base),
                1 => format!(
                    "{}/search?q={}",
                    self.base,
                    self.queries[(i / PAGES.len()) % self.queries.len()]
                ),
                2 => format!("{}/products/{}", self.base, self.product),
                _ => format!("{}/cart", self.base),
            };
            let started = Instant::now();
            let (status, _, _) = fetch_with(&self.http, &url, &self.cookies).await?;
            if status != 200 {
                bail!("{url}: {status}");
            }
            if started >= warm_until {
                let us = started.elapsed().as_micros() as u64;
                hists[which].record(us.clamp(1, MAX_TRACKABLE_US))?;
            }
            i += 1;
        }
        Ok(hists)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = Url::parse(&args.url).context("--url")?;
    if !loopback(&base) {
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
            queries: args.queries.clone(),
        };
        client.fill_cart(&sku).await?;
        clients.push(client);
    }
    let warm_until = Instant::now() + Duration::from_secs(args.warmup_secs);
    let stop_at = warm_until + Duration::from_secs(args.duration_secs);
    let runs: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(c.run(warm_until, stop_at)))
        .collect();
    let mut total: Vec<Histogram<u64>> = (0..PAGES.len())
        .map(|_| Histogram::new_with_max(MAX_TRACKABLE_US, 3).expect("histogram"))
        .collect();
    for run in runs {
        for (t, h) in total.iter_mut().zip(run.await??) {
            t.add(h)?;
        }
    }
    println!(
        "bench-web-pages: {} clients, {} s measured, product {product}",
        args.concurrency, args.duration_secs
    );
    println!(
        "{:<8} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "page", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (name, h) in PAGES.iter().zip(&total) {
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
    println!("product page first load: {weight} bytes (HTML, CSS, script, picture; uncompressed)");
    Ok(())
}
