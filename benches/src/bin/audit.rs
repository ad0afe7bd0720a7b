//! `bench-audit`: the auditor's two heavy reads over a large event store, in a database of
//! its own (created and dropped here; Postgres from `AGORA_TEST_DATABASE_URL` or the local
//! default, as the tests use).
//!
//! Setup: writes `--events` events as a shop writes them: each request (one correlation id)
//! touches a cart, a checkout, an order, a payment and a hot SKU's stock stream (1,000 SKUs,
//! so their streams grow long), about 30 events, every stream properly hash-chained and every
//! event caused by the one before it. Then it signs a checkpoint and measures:
//! - `agora audit verify` (the same function): events per second over the whole store;
//! - the causal chain of `--chains` random requests (`GET /audit/correlations/{id}`'s
//!   query and tree): latency percentiles.

use std::collections::HashMap;
use std::time::Instant;

use agora_kernel::{RecordedEvent, GENESIS_HASH};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "bench-audit",
    about = "audit verify and causal chains over many events"
)]
struct Args {
    /// Events to write.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Causal chains to query.
    #[arg(long, default_value_t = 2_000)]
    chains: usize,
}

/// One stream's chain so far.
#[derive(Default)]
struct Chain {
    sequence: u64,
    head: String,
}

struct Writer {
    chains: HashMap<(String, String), Chain>,
    batch: Vec<RecordedEvent>,
}

impl Writer {
    fn push(
        &mut self,
        aggregate_type: &str,
        aggregate_id: &str,
        event_type: &str,
        correlation: &str,
        cause: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let chain = self
            .chains
            .entry((aggregate_type.to_string(), aggregate_id.to_string()))
            .or_insert_with(|| Chain {
                sequence: 0,
                head: GENESIS_HASH.to_string(),
            });
        chain.sequence += 1;
        let mut e = RecordedEvent {
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
            sequence: chain.sequence,
            event_type: event_type.into(),
            event_version: "1".into(),
            payload: json!({event_type: {"order_id": correlation, "amount_minor": 4200, "sku": "BENCH-SKU"}}),
            metadata: json!({
                "command_id": uuid::Uuid::new_v4(), "correlation_id": correlation,
                "causation_id": cause, "actor": {"kind": "system", "id": "bench"},
                "recorded_at": at, "prev_hash": chain.head, "hash": "",
            }),
        };
        let hash = e.compute_hash(&chain.head);
        e.metadata["hash"] = json!(hash);
        chain.head = hash;
        let id = e.msg_id();
        self.batch.push(e);
        id
    }

    async fn flush(&mut self, pool: &sqlx::PgPool) -> anyhow::Result<()> {
        let batch = std::mem::take(&mut self.batch);
        let types: Vec<&str> = batch.iter().map(|e| e.aggregate_type.as_str()).collect();
        let ids: Vec<&str> = batch.iter().map(|e| e.aggregate_id.as_str()).collect();
        let seqs: Vec<i64> = batch.iter().map(|e| e.sequence as i64).collect();
        let event_types: Vec<&str> = batch.iter().map(|e| e.event_type.as_str()).collect();
        let payloads: Vec<String> = batch.iter().map(|e| e.payload.to_string()).collect();
        let metadata: Vec<String> = batch.iter().map(|e| e.metadata.to_string()).collect();
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT t, i, s, et, '1', p::json, m::json
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[]) AS x(t, i, s, et, p, m)",
        )
        .bind(&types)
        .bind(&ids)
        .bind(&seqs)
        .bind(&event_types)
        .bind(&payloads)
        .bind(&metadata)
        .execute(pool)
        .await?;
        Ok(())
    }
}

const STEPS: &[(&str, &str)] = &[
    ("cart", "CartLocked"),
    ("checkout", "CheckoutStarted"),
    ("order", "OrderPlaced"),
    ("stock", "StockReserved"),
    ("checkout", "StepsRecorded"),
    ("payment", "PaymentRequested"),
    ("payment", "PaymentAuthorized"),
    ("checkout", "StepsRecorded"),
    ("stock", "ReservationCommitted"),
    ("order", "OrderConfirmed"),
    ("payment", "PaymentCaptured"),
    ("checkout", "CheckoutCompleted"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = agora_testkit::TestDb::create().await?;
    let pool = sqlx::PgPool::connect(&db.url()).await?;
    agora::migrate(&pool).await?;
    let started = Instant::now();
    let mut writer = Writer {
        chains: HashMap::new(),
        batch: Vec::with_capacity(10_000),
    };
    let mut correlations = Vec::new();
    let mut written = 0u64;
    let mut request = 0u64;
    let base = chrono::Utc::now() - chrono::Duration::days(30);
    while written < args.events {
        request += 1;
        let correlation = uuid::Uuid::new_v4().to_string();
        let order = format!("order-{request}");
        let sku = format!("SKU-{}", request % 1_000);
        let at = base + chrono::Duration::milliseconds(request as i64 * 50);
        let mut cause = correlation.clone();
        // The shopper's cart first (a few items added earlier in the same request's life).
        for _ in 0..6 {
            cause = writer.push("cart", &order, "ItemAdded", &correlation, &cause, at);
        }
        for (t, event_type) in STEPS.iter().cycle().take(24) {
            let id = if *t == "stock" {
                sku.as_str()
            } else {
                order.as_str()
            };
            cause = writer.push(t, id, event_type, &correlation, &cause, at);
        }
        written += 30;
        if correlations.len() < 100_000 {
            correlations.push(correlation);
        }
        if writer.batch.len() >= 10_000 {
            writer.flush(&pool).await?;
        }
    }
    writer.flush(&pool).await?;
    sqlx::query("TRUNCATE event_outbox").execute(&pool).await?;
    sqlx::query("ANALYZE events").execute(&pool).await?;
    let streams = writer.chains.len();
    println!(
        "wrote {written} events in {streams} streams ({request} requests) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    let key = agora_audit::AuditKey::load_or_create(&dir.path().join("audit.key"))?;
    let t = Instant::now();
    let checkpoint = agora::audit::take_checkpoint(&pool, &key, None).await?;
    println!(
        "checkpoint of {} streams signed in {:.2} s",
        checkpoint.checkpoint.streams,
        t.elapsed().as_secs_f64()
    );

    let bar = indicatif::ProgressBar::hidden();
    let report = agora::audit::verify_store(&pool, Some(&key.public_key()), &bar).await?;
    anyhow::ensure!(
        report.clean(),
        "the store does not verify: {:?}",
        report.findings.len()
    );
    println!(
        "audit verify: {} events in {} streams in {:.1} s: {:.0} events/s",
        report.events,
        report.streams,
        report.seconds,
        report.events as f64 / report.seconds
    );

    let mut latency = Histogram::<u64>::new(3)?;
    let mut sizes = 0usize;
    for i in 0..args.chains {
        let correlation = &correlations[(i * 7_919) % correlations.len()];
        let t = Instant::now();
        let chain = agora_edge::audit::causal_chain(&pool, correlation).await?;
        latency.record(t.elapsed().as_micros() as u64)?;
        sizes += chain.events.len();
    }
    println!(
        "causal chain ({} queries, {:.0} events each): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.chains,
        sizes as f64 / args.chains as f64,
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0
    );
    pool.close().await;
    drop(db);
    Ok(())
}
