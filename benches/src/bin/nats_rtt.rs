//! `bench-nats-rtt`: the round-trip cost of one request-reply through Agora's own NATS layer
//! (`agora_nats::Bus` → `serve_endpoints` → handler → reply), with no storage behind it.
//!
//! The requester and the echo service use two separate NATS connections, so every sample is
//! a real client → server → client → server → client trip over loopback, with Agora's headers,
//! deadline check and JSON codec on both sides.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_benches::{ms, quantiles};
use agora_kernel::ErrorBody;
use agora_nats::{serve_endpoints, subjects, Bus, Handler, RequestContext, ServiceSpec};
use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

const SERVICE: &str = "benchecho";
const ENDPOINT: &str = "echo";
/// Budget of each request (its deadline header).
const REQUEST_BUDGET: Duration = Duration::from_secs(5);
/// How long to wait for the echo service to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Highest latency the histogram tracks, in microseconds (60 s).
const MAX_TRACKABLE_US: u64 = 60_000_000;

#[derive(Parser, Debug)]
#[command(
    name = "bench-nats-rtt",
    about = "Round trip of one Agora NATS request-reply (Bus -> serve_endpoints -> echo), no storage"
)]
struct Args {
    /// NATS server to use (a current nats-server; the benchmark starts its own echo service).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Total requests to send, warm-up included.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Requests in flight at once (each from its own task, all over one connection).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// The first this many requests are warm-up and are not measured.
    #[arg(long, default_value_t = 1_000)]
    warmup_requests: u64,
}

/// Replies with the request payload unchanged.
struct EchoHandler;

impl Handler for EchoHandler {
    async fn handle(
        &self,
        _endpoint: &'static str,
        _ctx: RequestContext,
        payload: Bytes,
    ) -> Result<Bytes, ErrorBody> {
        Ok(payload)
    }
}

/// What one phase (warm-up or measurement) produced.
struct Phase {
    histogram: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    elapsed: Duration,
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, MAX_TRACKABLE_US, 3).context("create histogram")
}

/// Sends requests `first..first + count` with `concurrency` tasks and times each round trip.
async fn run_phase(bus: &Bus, first: u64, count: u64, concurrency: usize) -> anyhow::Result<Phase> {
    let subject = subjects::endpoint(SERVICE, ENDPOINT);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let bus = bus.clone();
        let next = next.clone();
        let subject = subject.clone();
        let mut histogram = new_histogram()?;
        tasks.spawn(async move {
            let mut ok = 0u64;
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                let offset = next.fetch_add(1, Ordering::Relaxed);
                if offset >= count {
                    break;
                }
                let n = first + offset;
                let body = json!({"command": "noop", "n": n});
                let ctx = RequestContext::new(REQUEST_BUDGET);
                let sent = Instant::now();
                let reply = bus
                    .request::<Value, Value>(subject.clone(), &body, &ctx)
                    .await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                match reply {
                    Ok(echo) if echo == body => {
                        ok += 1;
                        histogram.saturating_record(micros.max(1));
                    }
                    Ok(_) => *errors.entry("echo.mismatch".into()).or_default() += 1,
                    Err(e) => *errors.entry(e.code).or_default() += 1,
                }
            }
            (histogram, ok, errors)
        });
    }
    let mut phase = Phase {
        histogram: new_histogram()?,
        ok: 0,
        errors: BTreeMap::new(),
        elapsed: Duration::ZERO,
    };
    while let Some(joined) = tasks.join_next().await {
        let (histogram, ok, errors) = joined.context("request task panicked")?;
        phase
            .histogram
            .add(&histogram)
            .context("merge histograms")?;
        phase.ok += ok;
        for (code, n) in errors {
            *phase.errors.entry(code).or_default() += n;
        }
    }
    phase.elapsed = started.elapsed();
    Ok(phase)
}

/// Retries one request until the echo service answers, for at most [`READY_TIMEOUT`].
async fn wait_until_ready(
    bus: &Bus,
    server: &tokio::task::JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let subject = subjects::endpoint(SERVICE, ENDPOINT);
    let give_up = Instant::now() + READY_TIMEOUT;
    let probe = json!({"command": "noop", "n": -1});
    loop {
        if server.is_finished() {
            bail!("the echo service stopped before answering (see the error above, if any)");
        }
        let ctx = RequestContext::new(Duration::from_millis(500));
        let last_error = match bus
            .request::<Value, Value>(subject.clone(), &probe, &ctx)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= give_up {
            bail!(
                "the echo service did not answer on {subject} within {} s: {last_error}",
                READY_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    if args.requests <= args.warmup_requests {
        bail!(
            "--requests ({}) must be larger than --warmup-requests ({}); nothing would be measured",
            args.requests,
            args.warmup_requests
        );
    }

    // Two connections: the service's replies and the requester's requests each cross the
    // server, as they do between Agora's edge and its services.
    let service_client = async_nats::connect(&args.nats_url)
        .await
        .with_context(|| format!("connect the echo service to NATS at {}", args.nats_url))?;
    let request_client = async_nats::connect(&args.nats_url)
        .await
        .with_context(|| format!("connect the requester to NATS at {}", args.nats_url))?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let spec = ServiceSpec {
        name: SERVICE,
        version: "1.0.0",
        description: "Agora benchmark echo service: replies with the request payload",
        endpoints: vec![ENDPOINT],
    };
    let serving = serve_endpoints(
        service_client.clone(),
        spec,
        Arc::new(EchoHandler),
        async move {
            let _ = stop_rx.await;
        },
    )
    .await?;
    let server = tokio::spawn(serving);

    let bus = Bus::new(request_client.clone());
    wait_until_ready(&bus, &server).await?;

    let warmup = run_phase(&bus, 0, args.warmup_requests, args.concurrency).await?;
    let measured_count = args.requests - args.warmup_requests;
    let phase = run_phase(&bus, args.warmup_requests, measured_count, args.concurrency).await?;

    // Stop the echo service and let it deregister.
    let _ = stop_tx.send(());
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("warning: echo service ended with an error: {e:#}"),
        Ok(Err(e)) => eprintln!("warning: echo service task failed: {e}"),
        Err(_) => eprintln!("warning: echo service did not stop within 5 s"),
    }
    let _ = request_client.flush().await;
    let _ = service_client.flush().await;

    let h = &phase.histogram;
    let error_total: u64 = phase.errors.values().sum();
    let secs = phase.elapsed.as_secs_f64();
    let throughput = if secs > 0.0 {
        phase.ok as f64 / secs
    } else {
        0.0
    };
    let (p50, p90, p99, max) = (
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.90),
        h.value_at_quantile(0.99),
        h.max(),
    );

    println!(
        "bench-nats-rtt: {} -> agora.{SERVICE}.{ENDPOINT}, concurrency {}",
        args.nats_url, args.concurrency
    );
    println!(
        "  warm-up:     {} requests ({} ok) in {:.3} s, not measured",
        args.warmup_requests,
        warmup.ok,
        warmup.elapsed.as_secs_f64()
    );
    println!("  measured:    {measured_count} requests in {secs:.3} s");
    println!("  ok:          {}", phase.ok);
    println!("  errors:      {error_total} {:?}", phase.errors);
    println!("  throughput:  {throughput:.0} req/s");
    println!("  round trip:  {}", quantiles(h));
    let result = json!({
        "bench": "nats_rtt",
        "nats_url": args.nats_url,
        "concurrency": args.concurrency,
        "warmup_requests": args.warmup_requests,
        "requests": measured_count,
        "ok": phase.ok,
        "errors": error_total,
        "errors_by_code": phase.errors,
        "elapsed_secs": secs,
        "throughput_rps": throughput,
        "p50_ms": ms(p50),
        "p90_ms": ms(p90),
        "p99_ms": ms(p99),
        "max_ms": ms(max),
        "mean_ms": h.mean() / 1000.0,
    });
    println!("RESULT {result}");

    if phase.ok == 0 {
        bail!("no request succeeded");
    }
    Ok(())
}
