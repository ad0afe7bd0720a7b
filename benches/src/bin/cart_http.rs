//! `bench-cart-http`: HTTP load generator for add-to-cart against a running `agora all`.
//!
//! Each of `--concurrency` clients creates its own cart (`POST /store/carts`), then adds
//! items to it (`POST /store/carts/{id}/items` with `X-Cart-Token`) as fast as the server
//! answers, cycling over `SKU-0..SKU-<skus>`; it moves to a fresh cart every
//! `--adds-per-cart` adds so no line reaches the 99-per-SKU cap. Latency of successful adds
//! is recorded after the warm-up; the run stops by itself at warm-up + duration.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agora_benches::{ms, quantiles};
use anyhow::{bail, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use tokio::time::{sleep_until, timeout_at, Instant};

/// Highest latency the histogram tracks, in microseconds (60 s).
const MAX_TRACKABLE_US: u64 = 60_000_000;
/// Per-SKU quantity cap of a cart line.
const MAX_QUANTITY_PER_LINE: u64 = 99;
/// Line cap of a cart.
const MAX_LINES: u32 = 100;
/// Pause after a transport error or a failed cart creation, so a dead server is not spun on.
const BACKOFF: Duration = Duration::from_millis(50);

#[derive(Parser, Debug)]
#[command(
    name = "bench-cart-http",
    about = "Add-to-cart HTTP load generator against a running `agora all` (loopback only)"
)]
struct Args {
    /// Base URL of the Agora edge.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent clients, each on its own carts and its own connection.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured duration, after the warm-up.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Warm-up before measuring; requests started during it are not counted.
    #[arg(long, default_value_t = 3)]
    warmup_secs: u64,
    /// Distinct SKUs each client cycles over (SKU-0 .. SKU-<skus-1>), at most 100.
    #[arg(long, default_value_t = 20)]
    skus: u32,
    /// A client switches to a fresh cart after this many adds (capped so no line exceeds 99).
    #[arg(long, default_value_t = 500)]
    adds_per_cart: u64,
    /// Timeout of one HTTP request.
    #[arg(long, default_value_t = 10)]
    request_timeout_secs: u64,
    /// Allow a URL whose host is not loopback (by default only 127.0.0.0/8, ::1 and localhost).
    #[arg(long)]
    allow_non_loopback: bool,
}

/// The part of the create-cart reply the benchmark needs.
#[derive(Deserialize)]
struct CreatedCart {
    cart_id: String,
    cart_token: String,
}

/// A cart a client adds to.
struct Cart {
    items_url: String,
    token: String,
}

/// Shared, read-only run settings.
struct Plan {
    client: reqwest::Client,
    base: String,
    skus: u32,
    adds_per_cart: u64,
    measure_from: Instant,
    deadline: Instant,
}

/// What one client saw during the measured window.
struct Stats {
    histogram: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    carts_created: u64,
}

impl Stats {
    fn new() -> anyhow::Result<Self> {
        Ok(Stats {
            histogram: Histogram::<u64>::new_with_bounds(1, MAX_TRACKABLE_US, 3)
                .context("create histogram")?,
            ok: 0,
            errors: BTreeMap::new(),
            carts_created: 0,
        })
    }

    fn error(&mut self, key: String) {
        *self.errors.entry(key).or_default() += 1;
    }

    fn merge(&mut self, other: Stats) -> anyhow::Result<()> {
        self.histogram
            .add(&other.histogram)
            .context("merge histograms")?;
        self.ok += other.ok;
        self.carts_created += other.carts_created;
        for (key, n) in other.errors {
            *self.errors.entry(key).or_default() += n;
        }
        Ok(())
    }
}

/// A stable label for a transport failure.
fn transport_error_key(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else if e.is_body() || e.is_decode() {
        "body".into()
    } else {
        "transport".into()
    }
}

/// Why creating a cart failed.
enum CreateError {
    Status(StatusCode, String),
    Transport(reqwest::Error),
    BadReply(String),
}

impl CreateError {
    fn key(&self) -> String {
        match self {
            CreateError::Status(s, _) => s.as_u16().to_string(),
            CreateError::Transport(e) => transport_error_key(e),
            CreateError::BadReply(_) => "bad_reply".into(),
        }
    }
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::Status(s, body) => write!(f, "HTTP {s}: {body}"),
            CreateError::Transport(e) => {
                // reqwest's own message hides the cause ("connection refused", ...).
                write!(f, "{e}")?;
                let mut source = std::error::Error::source(e);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            CreateError::BadReply(why) => write!(f, "unexpected reply: {why}"),
        }
    }
}

async fn create_cart(client: &reqwest::Client, base: &str) -> Result<Cart, CreateError> {
    let response = client
        .post(format!("{base}/store/carts"))
        .json(&json!({}))
        .send()
        .await
        .map_err(CreateError::Transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(CreateError::Transport)?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let text: String = text.chars().take(300).collect();
        return Err(CreateError::Status(status, text));
    }
    let created: CreatedCart = serde_json::from_slice(&body).map_err(|e| {
        CreateError::BadReply(format!("no cart_id/cart_token in {status} reply: {e}"))
    })?;
    Ok(Cart {
        items_url: format!("{base}/store/carts/{}/items", created.cart_id),
        token: created.cart_token,
    })
}

/// One client: creates carts and adds items until the deadline.
async fn client_loop(index: usize, plan: Arc<Plan>) -> anyhow::Result<Stats> {
    let mut stats = Stats::new()?;
    let mut cart: Option<Cart> = None;
    let mut adds_in_cart = 0u64;
    // Start each client at a different SKU so they do not all hit the same product in step.
    let mut sku = (index as u32) % plan.skus;
    loop {
        if Instant::now() >= plan.deadline {
            break;
        }
        let current = match &cart {
            Some(c) if adds_in_cart < plan.adds_per_cart => c,
            _ => {
                let started = Instant::now();
                match timeout_at(plan.deadline, create_cart(&plan.client, &plan.base)).await {
                    Err(_) => break,
                    Ok(Ok(new_cart)) => {
                        cart = Some(new_cart);
                        adds_in_cart = 0;
                        if started >= plan.measure_from {
                            stats.carts_created += 1;
                        }
                    }
                    Ok(Err(e)) => {
                        if started >= plan.measure_from {
                            stats.error(format!("create_cart:{}", e.key()));
                        }
                        sleep_until((Instant::now() + BACKOFF).min(plan.deadline)).await;
                    }
                }
                continue;
            }
        };

        let body = json!({"sku": format!("SKU-{sku}"), "quantity": 1});
        sku = (sku + 1) % plan.skus;
        // Count every attempt: a failed or timed-out add may still have been applied.
        adds_in_cart += 1;
        let started = Instant::now();
        let measured = started >= plan.measure_from;
        let request = async {
            let response = plan
                .client
                .post(&current.items_url)
                .header("X-Cart-Token", &current.token)
                .json(&body)
                .send()
                .await?;
            let status = response.status();
            // Read the whole body so the connection goes back to the pool.
            response.bytes().await?;
            Ok::<_, reqwest::Error>(status)
        };
        match timeout_at(plan.deadline, request).await {
            // In flight at the deadline: neither counted nor recorded.
            Err(_) => break,
            Ok(Ok(status)) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                if status == StatusCode::OK {
                    if measured {
                        stats.ok += 1;
                        stats.histogram.saturating_record(micros.max(1));
                    }
                } else {
                    if measured {
                        stats.error(status.as_u16().to_string());
                    }
                    // A client error means this cart is unusable (gone, full, token refused):
                    // move on to a fresh one. 429 and 5xx keep the cart.
                    if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
                        cart = None;
                    }
                }
            }
            Ok(Err(e)) => {
                if measured {
                    stats.error(transport_error_key(&e));
                }
                sleep_until((Instant::now() + BACKOFF).min(plan.deadline)).await;
            }
        }
    }
    Ok(stats)
}

/// Refuses anything but loopback unless explicitly allowed.
fn check_target(url: &Url, allow_non_loopback: bool) -> anyhow::Result<()> {
    if !agora_benches::is_loopback(url) && !allow_non_loopback {
        bail!(
            "{url} is not a loopback address; this load generator targets a local `agora all` \
             (pass --allow-non-loopback to override)"
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.duration_secs == 0 {
        bail!("--duration-secs must be at least 1");
    }
    if args.skus == 0 || args.skus > MAX_LINES {
        bail!("--skus must be between 1 and {MAX_LINES} (a cart holds at most {MAX_LINES} lines)");
    }
    if args.adds_per_cart == 0 {
        bail!("--adds-per-cart must be at least 1");
    }
    let base = args.url.trim_end_matches('/').to_string();
    let parsed = Url::parse(&base).with_context(|| format!("--url {base} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--url must be http:// or https://, got {base}");
    }
    check_target(&parsed, args.allow_non_loopback)?;
    // Every line of a cart gets at most ceil(adds / skus) units; keep that within the cap.
    let adds_per_cart = args
        .adds_per_cart
        .min(MAX_QUANTITY_PER_LINE * u64::from(args.skus));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(args.request_timeout_secs.max(1)))
        .build()
        .context("build HTTP client")?;

    // Fail fast, with the server's answer, if carts cannot be created at all.
    if let Err(e) = create_cart(&client, &base).await {
        bail!(
            "could not create a cart with POST {base}/store/carts: {e}\n\
             Is `agora all` running and listening on {base}?"
        );
    }

    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup_secs);
    let deadline = measure_from + Duration::from_secs(args.duration_secs);
    let plan = Arc::new(Plan {
        client,
        base: base.clone(),
        skus: args.skus,
        adds_per_cart,
        measure_from,
        deadline,
    });
    println!(
        "bench-cart-http: {} clients against {base}, {} s warm-up + {} s measured, {} SKUs, \
         new cart every {adds_per_cart} adds",
        args.concurrency, args.warmup_secs, args.duration_secs, args.skus
    );

    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..args.concurrency {
        tasks.spawn(client_loop(index, plan.clone()));
    }
    let mut total = Stats::new()?;
    while let Some(joined) = tasks.join_next().await {
        let stats = joined.context("client task panicked")??;
        total.merge(stats)?;
    }

    let error_total: u64 = total.errors.values().sum();
    let requests = total.ok + error_total;
    let secs = args.duration_secs as f64;
    let throughput = total.ok as f64 / secs;
    let h = &total.histogram;
    let (p50, p90, p99, max) = (
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.90),
        h.value_at_quantile(0.99),
        h.max(),
    );
    println!("  requests:      {requests} (measured window)");
    println!("  ok (200):      {}", total.ok);
    println!("  errors:        {error_total} {:?}", total.errors);
    println!("  carts created: {}", total.carts_created);
    println!("  throughput:    {throughput:.1} adds/s");
    println!("  latency:       {}", quantiles(h));
    let result = json!({
        "bench": "cart_http",
        "url": base,
        "concurrency": args.concurrency,
        "warmup_secs": args.warmup_secs,
        "duration_secs": args.duration_secs,
        "skus": args.skus,
        "requests": requests,
        "ok": total.ok,
        "errors": error_total,
        "errors_by_status": total.errors,
        "carts_created": total.carts_created,
        "throughput_rps": throughput,
        "p50_ms": ms(p50),
        "p90_ms": ms(p90),
        "p99_ms": ms(p99),
        "max_ms": ms(max),
        "mean_ms": h.mean() / 1000.0,
    });
    println!("RESULT {result}");

    if total.ok == 0 {
        bail!(
            "no add-to-cart succeeded in the measured window (errors: {:?})",
            total.errors
        );
    }
    Ok(())
}
