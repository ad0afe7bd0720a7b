//! `bench-reservations`: reservations per second on ONE hot SKU through
//! `AggregateHost<StockItem>` directly: no NATS, no HTTP, but the real event store on Postgres
//! (fsync on), so every reply waits for a durable commit.
//!
//! Every command on a SKU goes through that SKU's single actor, and every batch of commands is
//! one transaction, so the rate on one hot SKU is bounded by durable commits per second times
//! commands per commit. `--max-batch 1` turns group commit off (one commit per reservation);
//! `--compare` runs with 1 and then 256, each in its own fresh database.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_benches::{ms, quantiles};
use agora_inventory::{StockCommand, StockItem, MAX_QUANTITY};
use agora_kernel::{CommandId, Principal};
use agora_nats::{CommandEnvelope, RequestContext};
use agora_runtime::{AggregateHost, EventStore, HostConfig, MIGRATOR};
use agora_testkit::TestDb;
use anyhow::{bail, Context};
use chrono::Utc;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, PgPool};

/// The hot SKU (the stream id).
const SKU: &str = "BENCH-HOT-0001";
/// Budget of each command; a reply later than this counts as `service.timeout`.
const COMMAND_BUDGET: Duration = Duration::from_secs(60);
/// Highest latency the histogram tracks, in microseconds (60 s).
const MAX_TRACKABLE_US: u64 = 60_000_000;
/// Group commit batch limit of the second `--compare` run (the host's default).
const COMPARE_BATCH: usize = 256;

#[derive(Parser, Debug)]
#[command(
    name = "bench-reservations",
    about = "Reservations/s on one hot SKU through AggregateHost<StockItem> on Postgres (no NATS, no HTTP)"
)]
struct Args {
    /// Reservations to make (quantity 1 each, all on the same SKU).
    #[arg(long, default_value_t = 5_000)]
    reservations: u64,
    /// Reservations in flight at once: each task awaits its reply before sending the next.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Most commands per transaction (`HostConfig::max_batch`); 1 turns group commit off.
    #[arg(long, default_value_t = COMPARE_BATCH)]
    max_batch: usize,
    /// Run twice, each in a fresh database: max_batch 1, then 256 (--max-batch is ignored).
    #[arg(long)]
    compare: bool,
    /// Postgres connections of the event store.
    #[arg(long, default_value_t = 4)]
    db_connections: u32,
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, MAX_TRACKABLE_US, 3).context("create histogram")
}

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat`
/// (Linux; clock ticks assumed to be 100 per second). `None` elsewhere.
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

fn envelope(command: StockCommand) -> CommandEnvelope<StockCommand> {
    CommandEnvelope {
        aggregate_id: SKU.to_string(),
        command_id: CommandId::new_random(),
        principal: Principal::system("bench"),
        command,
    }
}

async fn connect(db: &TestDb, connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = db.url().parse().context("parse database URL")?;
    // TLS on loopback protects nothing and costs both sides CPU on every round trip.
    let options = options
        .ssl_mode(PgSslMode::Disable)
        .disable_statement_logging();
    PgPoolOptions::new()
        .max_connections(connections.max(1))
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .context("connect to the benchmark database")
}

/// What the reservation tasks measured.
struct Fired {
    histogram: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    elapsed: Duration,
    /// When each successful reservation's reply arrived, from the start, sorted.
    completions: Vec<Duration>,
}

async fn fire(
    host: &AggregateHost<StockItem>,
    count: u64,
    concurrency: usize,
) -> anyhow::Result<Fired> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let host = host.clone();
        let next = next.clone();
        let mut histogram = new_histogram()?;
        tasks.spawn(async move {
            let mut ok = 0u64;
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut completions = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let now = Utc::now();
                let command = StockCommand::Reserve {
                    reservation_id: format!("bench-r-{n:08}"),
                    quantity: 1,
                    expires_at: now + chrono::Duration::hours(1),
                    order_ref: format!("bench-order-{n:08}"),
                    now,
                };
                let sent = Instant::now();
                let reply = host
                    .execute(envelope(command), RequestContext::new(COMMAND_BUDGET))
                    .await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                match reply {
                    Ok(r) if !r.duplicate => {
                        ok += 1;
                        histogram.saturating_record(micros.max(1));
                        completions.push(started.elapsed());
                    }
                    Ok(_) => *errors.entry("duplicate".into()).or_default() += 1,
                    Err(e) => *errors.entry(e.code).or_default() += 1,
                }
            }
            (histogram, ok, errors, completions)
        });
    }
    let mut fired = Fired {
        histogram: new_histogram()?,
        ok: 0,
        errors: BTreeMap::new(),
        elapsed: Duration::ZERO,
        completions: Vec::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let (histogram, ok, errors, completions) = joined.context("reservation task panicked")?;
        fired
            .histogram
            .add(&histogram)
            .context("merge histograms")?;
        fired.ok += ok;
        for (code, n) in errors {
            *fired.errors.entry(code).or_default() += n;
        }
        fired.completions.extend(completions);
    }
    fired.elapsed = started.elapsed();
    fired.completions.sort();
    Ok(fired)
}

/// Reservations/s within each tenth of the successful reservations, in order: shows whether
/// the rate holds as the SKU's open reservations pile up.
fn rate_by_tenth(completions: &[Duration]) -> Vec<f64> {
    let n = completions.len();
    if n < 10 {
        return vec![];
    }
    let mut rates = Vec::with_capacity(10);
    let mut previous_end = Duration::ZERO;
    let mut previous_count = 0usize;
    for k in 1..=10 {
        let count = n * k / 10;
        let end = completions[count - 1];
        let secs = end.saturating_sub(previous_end).as_secs_f64();
        rates.push((count - previous_count) as f64 / secs.max(f64::EPSILON));
        previous_end = end;
        previous_count = count;
    }
    rates
}

/// One run in a fresh database with `max_batch`; prints its summary and returns its result.
async fn run_mode(args: &Args, max_batch: usize) -> anyhow::Result<Value> {
    let db = TestDb::create().await?;
    let pool = connect(&db, args.db_connections).await?;
    MIGRATOR.run(&pool).await.context("migrate")?;
    let (fsync, synchronous_commit): (String, String) =
        sqlx::query_as("SELECT current_setting('fsync'), current_setting('synchronous_commit')")
            .fetch_one(&pool)
            .await?;

    let host = AggregateHost::<StockItem>::start(
        EventStore::new(pool.clone()),
        HostConfig {
            max_batch,
            ..HostConfig::default()
        },
    )
    .await?;

    // Exactly enough stock for every reservation (one receipt per MAX_QUANTITY units).
    let mut to_receive = i64::try_from(args.reservations).context("--reservations too large")?;
    while to_receive > 0 {
        let quantity = to_receive.min(MAX_QUANTITY);
        host.execute(
            envelope(StockCommand::Receive {
                quantity,
                reason: Some("bench".into()),
                now: Utc::now(),
            }),
            RequestContext::new(COMMAND_BUDGET),
        )
        .await
        .map_err(|e| anyhow::anyhow!("receive stock: {} ({})", e.message, e.code))?;
        to_receive -= quantity;
    }

    let cpu_before = process_cpu_secs();
    let fired = fire(&host, args.reservations, args.concurrency).await?;
    let cpu_secs = process_cpu_secs()
        .zip(cpu_before)
        .map(|(after, before)| after - before);

    let (transactions_all, reserved_events, reserve_transactions): (i64, i64, i64) =
        sqlx::query_as(
            "SELECT count(DISTINCT xmin::text), \
                    count(*) FILTER (WHERE event_type = 'StockReserved'), \
                    count(DISTINCT xmin::text) FILTER (WHERE event_type = 'StockReserved') \
             FROM events WHERE aggregate_id = $1",
        )
        .bind(SKU)
        .fetch_one(&pool)
        .await?;

    drop(host);
    pool.close().await;
    drop(db);

    let h = &fired.histogram;
    let secs = fired.elapsed.as_secs_f64();
    let throughput = fired.ok as f64 / secs.max(f64::EPSILON);
    let error_total: u64 = fired.errors.values().sum();
    let average_batch = reserved_events as f64 / (reserve_transactions.max(1)) as f64;
    let by_tenth = rate_by_tenth(&fired.completions);
    let cpu_cores = cpu_secs.map(|c| c / secs.max(f64::EPSILON));

    println!(
        "bench-reservations: max_batch {max_batch}{}, one SKU ({SKU}), concurrency {}, fsync={fsync}, synchronous_commit={synchronous_commit}",
        if max_batch == 1 { " (group commit off)" } else { "" },
        args.concurrency
    );
    println!(
        "  measured:     {} reservations in {secs:.3} s",
        args.reservations
    );
    println!("  ok:           {}", fired.ok);
    println!("  errors:       {error_total} {:?}", fired.errors);
    println!("  throughput:   {throughput:.0} reservations/s");
    println!("  latency:      {}", quantiles(h));
    println!(
        "  transactions: {transactions_all} distinct xmin on the SKU's events ({reserve_transactions} holding its {reserved_events} StockReserved events: average batch {average_batch:.1})"
    );
    if !by_tenth.is_empty() {
        let rates: Vec<String> = by_tenth.iter().map(|r| format!("{r:.0}")).collect();
        println!("  by tenth:     {} reservations/s", rates.join(" "));
    }
    if let Some(cores) = cpu_cores {
        println!(
            "  bench CPU:    {:.2} s ({cores:.2} cores; host, actor and decider run in this process)",
            cpu_secs.unwrap_or(0.0)
        );
    }
    if u64::try_from(reserved_events).ok() != Some(fired.ok) {
        bail!(
            "{} reservations succeeded but the store holds {reserved_events} StockReserved events",
            fired.ok
        );
    }

    Ok(json!({
        "max_batch": max_batch,
        "reservations": args.reservations,
        "concurrency": args.concurrency,
        "fsync": fsync,
        "synchronous_commit": synchronous_commit,
        "ok": fired.ok,
        "errors": error_total,
        "errors_by_code": fired.errors,
        "elapsed_secs": secs,
        "reservations_per_sec": throughput,
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "max_ms": ms(h.max()),
        "mean_ms": h.mean() / 1000.0,
        "transactions": transactions_all,
        "reserve_transactions": reserve_transactions,
        "average_batch": average_batch,
        "reservations_per_sec_by_tenth": by_tenth,
        "bench_cpu_secs": cpu_secs,
    }))
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
    if args.reservations == 0 || args.concurrency == 0 || args.max_batch == 0 {
        bail!("--reservations, --concurrency and --max-batch must be at least 1");
    }
    let modes = if args.compare {
        vec![1, COMPARE_BATCH]
    } else {
        vec![args.max_batch]
    };
    let mut runs = Vec::with_capacity(modes.len());
    for (i, max_batch) in modes.into_iter().enumerate() {
        if i > 0 {
            println!();
        }
        runs.push(run_mode(&args, max_batch).await?);
    }
    let ok: u64 = runs
        .iter()
        .map(|r| r["ok"].as_u64().unwrap_or(0))
        .min()
        .unwrap_or(0);
    println!(
        "RESULT {}",
        json!({"bench": "reservations", "sku": SKU, "runs": runs})
    );
    if ok == 0 {
        bail!("no reservation succeeded");
    }
    Ok(())
}
