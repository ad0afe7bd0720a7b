//! `agora`: one binary, one subcommand per role.

use std::time::Duration;

use agora::{Config, Roles};
use anyhow::Context;
use clap::{Parser, Subcommand};

/// jemalloc instead of the system allocator: glibc's malloc and free were a quarter of the
/// process's CPU under the shopper-journey load (many small, short-lived allocations across
/// threads: JSON values, messages, futures). `main` turns on its background thread, which
/// gives freed memory back to the system (after jemalloc's decay, 10 s) even while the process
/// is idle.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Agora, an event-sourced commerce platform.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,
    /// Log format: `pretty` or `json`.
    #[arg(
        long,
        env = "AGORA_LOG_FORMAT",
        default_value = "pretty",
        global = true
    )]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every role in one process (development, tests, small shops).
    All {
        /// Seed this many demo carts after start-up.
        #[arg(long, default_value_t = 0)]
        seed_carts: usize,
        /// Seed the demo catalog with this many products after start-up.
        #[arg(long, default_value_t = 0)]
        seed_products: u64,
        /// Create the demo back-office login (staff@agora.test, an admin) and the demo's two
        /// marketplace vendors with their logins after start-up.
        #[arg(long, default_value_t = false)]
        seed_staff: bool,
    },
    /// The HTTP edge only.
    Edge,
    /// Domain services (and a standby feed relay): `agora service cart`.
    Service {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Projections: `agora project carts`, or `agora project rebuild carts`.
    Project {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Feed events consumers parked after their last retry: `agora feed parked`,
    /// `agora feed replay <id>`.
    Feed {
        #[command(subcommand)]
        command: FeedCommand,
    },
    /// The auditor's proofs: `agora audit checkpoint`, `agora audit verify`,
    /// `agora audit export --out DIR`.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Reconcile the payment provider's statement (captures, refunds, fees) with our payments
    /// now, store the run for the back office and list every mismatch. Exits 1 if any.
    Reconcile {
        /// Only payments first recorded from this instant on (RFC 3339); default: all.
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Create demo data through a running platform.
    Seed {
        /// Demo guest carts to create (their ids and tokens are printed).
        #[arg(long, default_value_t = 0)]
        carts: usize,
        /// Demo products to create (with categories and stock).
        #[arg(long, default_value_t = 0)]
        products: u64,
        /// Seed value: the same value gives the same demo data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum FeedCommand {
    /// List parked events, oldest first (id, consumer, event, deliveries, parked at, error).
    Parked {
        /// Most events to list.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Replay a parked event through its consumer's handler (an instance of that consumer
    /// must be running); on success it is no longer parked.
    Replay { id: i64 },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Sign a checkpoint of every stream's head now (with AGORA_AUDIT_KEY_FILE, created if
    /// missing), store it and publish it to AGORA_AUDIT_PUBLISH_DIR when set.
    Checkpoint,
    /// Re-check every stream's hash chain and compare each with the latest checkpoint; name
    /// every stream whose history changed. Exits 1 when anything does not check out.
    Verify {
        /// The auditor's public key (64 hex characters, or a file holding them); default: the
        /// one of AGORA_AUDIT_KEY_FILE, else the one the checkpoint names.
        #[arg(long)]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a signed, self-verifying export (events.jsonl, manifest.json, manifest.sig) of a
    /// time range and/or a set of streams; check it with `agora-audit-verify export DIR`.
    Export {
        /// A new (or empty) directory to write into.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Events recorded at or after (RFC 3339).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Events recorded before (RFC 3339).
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        /// A stream as `type/id`; repeat for more. Default: every stream.
        #[arg(long = "stream")]
        streams: Vec<String>,
    },
}

fn audit_key(config: &agora::Config) -> anyhow::Result<agora_audit::AuditKey> {
    let path = config
        .audit_key_file
        .as_ref()
        .context("set AGORA_AUDIT_KEY_FILE (or --audit-key-file) to the signing key's file")?;
    Ok(agora_audit::AuditKey::load_or_create(path)?)
}

async fn audit(config: &agora::Config, command: AuditCommand) -> anyhow::Result<bool> {
    let pool = agora::connect_db(config).await?;
    agora::migrate(&pool).await?;
    match command {
        AuditCommand::Checkpoint => {
            let key = audit_key(config)?;
            let c = agora::audit::take_checkpoint(&pool, &key, config.audit_publish_dir.as_deref())
                .await?;
            println!(
                "checkpoint {}: {} streams, {} events, Merkle root {}, signed by key {}",
                c.id,
                c.checkpoint.streams,
                c.checkpoint.events,
                c.checkpoint.merkle_root,
                c.checkpoint.key_id
            );
            if let Some(file) = &c.published_to {
                println!("published to {file}");
            }
            Ok(true)
        }
        AuditCommand::Verify { public_key, json } => {
            let key = match (&public_key, &config.audit_key_file) {
                (Some(arg), _) => Some(agora_audit::PublicKey::from_arg(arg)?),
                (None, Some(path)) if path.exists() => {
                    Some(agora_audit::AuditKey::from_file(path)?.public_key())
                }
                _ => None,
            };
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "verifying {wide_bar} {pos}/{len} events ({per_sec}, eta {eta})",
            ) {
                bar.set_style(style);
            }
            if json {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let report = agora::audit::verify_store(&pool, key.as_ref(), &bar).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(report.clean());
            }
            match (report.checkpoint, report.checkpoint_ok) {
                (Some(id), Some(true)) => {
                    println!("checkpoint {id}: signature and anchored heads check out")
                }
                (Some(id), _) => println!(
                    "checkpoint {id}: DOES NOT CHECK OUT: {}",
                    report.checkpoint_problem.as_deref().unwrap_or("unknown")
                ),
                (None, _) => println!("no checkpoint yet: only the hash chains are checked"),
            }
            for finding in &report.findings {
                println!("{}", agora::audit::describe(finding));
            }
            println!(
                "{} streams, {} events checked in {:.1} s ({:.0} events/s): {}",
                report.streams,
                report.events,
                report.seconds,
                report.events as f64 / report.seconds.max(1e-9),
                if report.clean() {
                    "clean".to_string()
                } else {
                    format!("{} streams changed", report.findings.len())
                }
            );
            Ok(report.clean())
        }
        AuditCommand::Export {
            out,
            from,
            to,
            streams,
        } => {
            let key = audit_key(config)?;
            let streams = streams
                .iter()
                .map(|s| {
                    s.split_once('/')
                        .map(|(t, i)| (t.to_string(), i.to_string()))
                        .with_context(|| format!("a stream is type/id, not {s:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let selection = agora::audit::ExportSelection { from, to, streams };
            let manifest = agora::audit::export(&pool, &key, &out, &selection).await?;
            println!(
                "exported {} events of {} streams to {}; verify with: agora-audit-verify export {} --public-key {}",
                manifest.events,
                manifest.streams.len(),
                out.display(),
                out.display(),
                key.public_key().to_hex()
            );
            Ok(true)
        }
    }
}

fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn init_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Some(handle)
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "seeding products {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc's background thread did not start; freed memory goes back to the system only as the process allocates");
    }
    let config = cli.config;
    match cli.command {
        Command::Feed { command } => {
            let pool = agora::connect_db(&config).await?;
            agora::migrate(&pool).await?;
            match command {
                FeedCommand::Parked { limit } => {
                    let (total, items) =
                        agora_runtime::parked::list_parked(&pool, limit.clamp(1, 10_000), 0)
                            .await?;
                    for p in &items {
                        println!(
                            "{}\t{}\t{}/{}/{} {}\t{} deliveries\t{}\t{}",
                            p.id,
                            p.consumer,
                            p.aggregate_type,
                            p.aggregate_id,
                            p.sequence,
                            p.event_type,
                            p.deliveries,
                            p.parked_at.to_rfc3339(),
                            p.error
                        );
                    }
                    println!("{total} parked");
                }
                FeedCommand::Replay { id } => {
                    let client = agora::connect_nats(&config, "agora-feed-replay").await?;
                    agora_runtime::parked::replay_parked(&pool, &client, id)
                        .await
                        .with_context(|| format!("replay parked event {id}"))?;
                    println!("replayed {id}");
                }
            }
        }
        Command::Audit { command } => {
            if !audit(&config, command).await? {
                std::process::exit(1);
            }
        }
        Command::Reconcile { since } => {
            let pool = agora::connect_db(&config).await?;
            agora::migrate(&pool).await?;
            let statement = agora::provider_statement(&config, &pool).await?;
            let fees = agora::provider_fees(&config)?;
            let run = agora::reconcile::run(
                &pool,
                statement.as_ref(),
                &config.payment_gateway,
                fees,
                since,
            )
            .await?;
            for m in &run.mismatches {
                println!(
                    "{}\t{}\t{}\t{}",
                    m.kind,
                    m.payment_id.as_deref().unwrap_or("-"),
                    m.provider_ref,
                    m.detail
                );
            }
            println!(
                "run {}: {} payments against {} provider records ({}): {} mismatches",
                run.id,
                run.payments,
                run.records,
                run.fee_rule
                    .as_deref()
                    .map(|f| format!("fees checked at {f}"))
                    .unwrap_or_else(|| "fees not checked".into()),
                run.mismatches.len()
            );
            if !run.mismatches.is_empty() {
                std::process::exit(1);
            }
        }
        Command::Migrate => {
            let pool = agora::connect_db(&config).await?;
            agora::migrate(&pool).await?;
            println!("migrations applied");
        }
        Command::All {
            seed_carts,
            seed_products,
            seed_staff,
        } => {
            let platform = agora::start(&config, &Roles::all(), init_metrics()).await?;
            if seed_staff {
                let bus = agora_nats::Bus::new(agora::connect_nats(&config, "agora-seed").await?);
                agora::seed::seed_staff(&bus).await?;
                println!(
                    "Demo back-office login: {} / {}",
                    agora::seed::DEMO_STAFF_EMAIL,
                    agora::seed::DEMO_STAFF_PASSWORD
                );
                agora::seed::seed_vendors(&bus).await?;
                for (_, name, email) in agora::catalog_seed::MARKETPLACE {
                    println!(
                        "Demo vendor login ({name}): {email} / {}",
                        agora::seed::DEMO_VENDOR_PASSWORD
                    );
                }
            }
            if seed_products > 0 {
                let bus = agora_nats::Bus::new(agora::connect_nats(&config, "agora-seed").await?);
                let started = std::time::Instant::now();
                let report =
                    agora::seed::seed_catalog(&bus, seed_products, 42, 32, progress_bar()).await?;
                let seeded = started.elapsed();
                let seed_done = std::time::Instant::now();
                agora::seed::seed_promotions(&bus).await?;
                agora::seed::seed_shipping(&bus).await?;
                let reviews = agora::seed::seed_reviews(&bus, seed_products, 42).await?;
                println!("Seeded {reviews} approved product reviews.");
                println!(
                    "Seeded {} categories and {} products ({} SKUs) in {:.1} s.",
                    report.categories,
                    report.products,
                    report.skus,
                    seeded.as_secs_f64()
                );
                let searchable = agora::seed::until_searchable(
                    &platform.pool,
                    config.meili_url.is_some(),
                    seed_done,
                    std::time::Duration::from_secs(3_600),
                )
                .await?;
                let last = searchable.meilisearch.unwrap_or(searchable.postgres);
                println!(
                    "Searchable {:.1} s after the catalog's seed in Postgres{}: {:.0} products/s end to end.",
                    searchable.postgres.as_secs_f64(),
                    searchable
                        .meilisearch
                        .map(|m| format!(", {:.1} s in Meilisearch", m.as_secs_f64()))
                        .unwrap_or_default(),
                    report.products as f64 / (seeded + last).as_secs_f64().max(1e-9)
                );
            }
            if let Some(addr) = platform.http_addr {
                println!("Agora is up: http://{addr}  (OpenAPI: http://{addr}/openapi.json)");
                println!("Storefront: http://{addr}/   Back office: http://{addr}/backoffice");
                if seed_products > 0 {
                    println!(
                        "Promotion code: {} (10 % off orders from €50)",
                        agora::seed::DEMO_CODE
                    );
                }
            }
            if seed_carts > 0 {
                let bus = agora_nats::Bus::new(agora::connect_nats(&config, "agora-seed").await?);
                let catalog = (seed_products > 0).then_some((42, seed_products));
                let carts = agora::seed::seed_carts(&bus, seed_carts, 42, catalog).await?;
                if let (Some(c), Some(addr)) = (carts.first(), platform.http_addr) {
                    println!(
                        "Seeded {} demo carts. Try: curl -H 'X-Cart-Token: {}' http://{addr}/store/carts/{}",
                        carts.len(),
                        c.token,
                        c.cart_id
                    );
                }
            }
            platform.run_until(shutdown_signal()).await?;
        }
        Command::Edge => {
            let roles = Roles {
                edge: true,
                ..Roles::default()
            };
            let platform = agora::start(&config, &roles, init_metrics()).await?;
            platform.run_until(shutdown_signal()).await?;
        }
        Command::Service { names } => {
            let roles = Roles::services(names);
            agora::start(&config, &roles, init_metrics())
                .await?
                .run_until(shutdown_signal())
                .await?;
        }
        Command::Project { names } => {
            if names.first().map(String::as_str) == Some("rebuild") {
                for name in &names[1..] {
                    let n = agora::rebuild(&config, name)
                        .await
                        .with_context(|| format!("rebuild {name}"))?;
                    println!("rebuilt {name} from {n} events");
                }
                return Ok(());
            }
            let roles = Roles {
                projections: names,
                ..Roles::default()
            };
            agora::start(&config, &roles, init_metrics())
                .await?
                .run_until(shutdown_signal())
                .await?;
        }
        Command::Seed {
            carts,
            products,
            seed,
        } => {
            let bus = agora_nats::Bus::new(agora::connect_nats(&config, "agora-seed").await?);
            if products > 0 {
                let report =
                    agora::seed::seed_catalog(&bus, products, seed, 32, progress_bar()).await?;
                println!(
                    "seeded {} categories and {} products ({} SKUs)",
                    report.categories, report.products, report.skus
                );
            }
            let catalog = (products > 0).then_some((seed, products));
            let seeded = agora::seed::seed_carts(&bus, carts, seed, catalog).await?;
            for c in seeded {
                println!("{} {}", c.cart_id, c.token);
            }
        }
    }
    Ok(())
}
