//! `bench-search`: a search backend (`agora_search::PgSearch`, or `agora_search::MeiliSearch`
//! with `--backend meilisearch` and `MEILI_URL`) on a generated catalog: how fast it indexes,
//! and how long storefront-like queries take.
//!
//! On Meilisearch the catalog goes into a fresh index `bench_<database>` (deleted at the end)
//! through `SearchIndex::upsert` of the whole catalog, which enqueues a task per 1,000 documents
//! at once and then waits for all of them; the queries go through `SearchIndex::search`.
//!
//! It creates its own database (dropped at the end), fills the search table with products from
//! `agora::catalog_seed` through `SearchIndex::upsert` in batches of 500, runs `ANALYZE`, then
//! sends a deterministic mix of queries through `SearchIndex::search` and times each one.
//! Everything runs over loopback without TLS.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora::catalog_seed::{self, Rng};
use agora_benches::{hits_and_misses, ms, quantile_fields, quantiles};
use agora_catalog::{CategoryCommand, ProductCommand};
use agora_search::{MeiliSearch, PgSearch, ProductDoc, SearchIndex, SearchQuery, Sort};
use agora_testkit::TestDb;
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Parser;
use hdrhistogram::Histogram;
use reqwest::Url;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, PgPool};

/// Documents per `upsert` call.
const BATCH: usize = 500;
/// Results per page, as the storefront asks.
const PER_PAGE: u32 = 20;
/// Highest latency the histograms track, in microseconds (60 s).
const MAX_TRACKABLE_US: u64 = 60_000_000;
/// Generated products are created over the year before this instant (2025-01-01T00:00:00Z).
const CREATED_BEFORE: i64 = 1_735_689_600;
const YEAR_SECS: u64 = 365 * 86_400;
/// Queries with no match shown per kind.
const EXAMPLES: usize = 5;

#[derive(Parser, Debug)]
#[command(
    name = "bench-search",
    about = "Indexing rate and query latency of the Postgres search backend on a generated catalog"
)]
struct Args {
    /// Products to generate and index (the catalog generator's first N for --seed).
    #[arg(long, default_value_t = 10_000)]
    products: u64,
    /// Measured queries.
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// Seed of the catalog generator and of the query mix.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Queries in flight at once (each from its own task and connection).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Queries sent before the measured ones and not measured (another draw of the same mix).
    #[arg(long, default_value_t = 100)]
    warmup_queries: usize,
    /// Keep the database (its URL is printed) instead of dropping it, to look at plans.
    #[arg(long)]
    keep_db: bool,
    /// Which backend to index and query.
    #[arg(long, value_enum, default_value_t = Backend::Postgres)]
    backend: Backend,
    /// Meilisearch URL, for `--backend meilisearch`.
    #[arg(long, env = "MEILI_URL")]
    meili_url: Option<String>,
    /// Meilisearch API key.
    #[arg(long, env = "MEILI_KEY", hide_env_values = true)]
    meili_key: Option<String>,
    /// Send the queries through a running edge instead (`GET <url>/store/search`, loopback
    /// only), against the catalog `agora all --seed-products <products>` seeded (seed 42). Nothing
    /// is indexed; the edge's own backend answers (Meilisearch when it runs with `MEILI_URL`).
    #[arg(long)]
    url: Option<String>,
    /// With `--url`: send the measured queries this many times in all (the read cache of the
    /// edge answers repeats; the first pass shows the backend's own latency).
    #[arg(long, default_value_t = 1)]
    passes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    Postgres,
    Meilisearch,
}

/// The kinds of query in the mix, sent in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// One word of a product title.
    Word,
    /// A title word of six letters or more with one letter dropped.
    Typo,
    /// Two neighbouring words of a title.
    TwoWords,
    /// No words, one category (root or leaf); newest first.
    Category,
    /// No words, a price range and in stock only; newest first.
    PriceInStock,
    /// One title word, cheapest or dearest first.
    PriceSort,
}

const KINDS: [Kind; 6] = [
    Kind::Word,
    Kind::Typo,
    Kind::TwoWords,
    Kind::Category,
    Kind::PriceInStock,
    Kind::PriceSort,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Word => "word",
            Kind::Typo => "typo",
            Kind::TwoWords => "two_words",
            Kind::Category => "category",
            Kind::PriceInStock => "price_in_stock",
            Kind::PriceSort => "price_sort",
        }
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, MAX_TRACKABLE_US, 3).context("create histogram")
}

/// Leaf category id → root category id, from the generator's category tree.
fn parents() -> HashMap<String, String> {
    catalog_seed::categories()
        .into_iter()
        .filter_map(|(id, command)| match command {
            CategoryCommand::Create {
                parent_id: Some(parent),
                ..
            } => Some((id, parent)),
            _ => None,
        })
        .collect()
}

/// The search document of the `index`-th generated product.
fn document(
    seed: u64,
    index: u64,
    parents: &HashMap<String, String>,
) -> anyhow::Result<ProductDoc> {
    let product = catalog_seed::product(seed, index);
    let in_stock = product.stock.iter().any(|(_, quantity)| *quantity > 0);
    let ProductCommand::Create {
        title,
        description,
        image_urls,
        category_id,
        vendor_id,
        variants,
        ..
    } = product.create
    else {
        bail!("product {index}: the generator did not produce a create command");
    };
    let prices: Vec<i64> = variants.iter().map(|v| v.price.amount_minor).collect();
    let category_path = match &category_id {
        Some(leaf) => match parents.get(leaf) {
            Some(root) => vec![root.clone(), leaf.clone()],
            None => vec![leaf.clone()],
        },
        None => vec![],
    };
    // Spread over the year before CREATED_BEFORE, the same for a given seed and index.
    let age =
        Rng::new(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC4EA_7ED0).below(YEAR_SECS);
    let created_at =
        DateTime::<Utc>::from_timestamp(CREATED_BEFORE - i64::try_from(age).unwrap_or(0), 0)
            .context("created_at out of range")?;
    Ok(ProductDoc {
        id: product.id,
        title,
        description,
        vendor_id,
        category_id,
        category_path,
        price_min: prices.iter().copied().min().unwrap_or(0),
        price_max: prices.iter().copied().max().unwrap_or(0),
        currency: variants
            .first()
            .map(|v| v.price.currency.to_string())
            .unwrap_or_else(|| "EUR".into()),
        rating_tenths: None,
        in_stock,
        skus: variants.iter().map(|v| v.sku.to_string()).collect(),
        image_url: image_urls.first().cloned(),
        created_at,
    })
}

/// The words of a random indexed product's title (never empty).
fn title_words(rng: &mut Rng, seed: u64, products: u64) -> Vec<String> {
    let index = rng.below(products);
    let words: Vec<String> = match catalog_seed::product(seed, index).create {
        ProductCommand::Create { title, .. } => {
            title.split_whitespace().map(str::to_string).collect()
        }
        _ => vec![],
    };
    if words.is_empty() {
        vec!["Kettle".to_string()]
    } else {
        words
    }
}

/// A title word of six letters or more (the noun preferred) with one letter dropped, never the
/// first: as in Meilisearch, a typo on the first letter counts as two, which a word under nine
/// letters may not carry.
fn typo(rng: &mut Rng, seed: u64, products: u64) -> Option<String> {
    // Titles are "<adjective> <material> <noun...>"; a few draws always find a long word.
    for _ in 0..100 {
        let words = title_words(rng, seed, products);
        let long = |w: &&String| w.chars().count() >= 6 && w.chars().all(char::is_alphabetic);
        let nouns: Vec<&String> = words.iter().skip(2).filter(long).collect();
        let candidates = if nouns.is_empty() {
            words.iter().filter(long).collect()
        } else {
            nouns
        };
        if candidates.is_empty() {
            continue;
        }
        let word: Vec<char> = rng.pick(&candidates).chars().collect();
        let drop = 1 + rng.below(word.len() as u64 - 1) as usize;
        return Some(
            word.iter()
                .enumerate()
                .filter(|(i, _)| *i != drop)
                .map(|(_, c)| c)
                .collect(),
        );
    }
    None
}

/// `count` queries of the mix, deterministic for `seed`.
fn queries(seed: u64, products: u64, count: usize) -> anyhow::Result<Vec<(Kind, SearchQuery)>> {
    let categories: Vec<String> = catalog_seed::categories()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut rng = Rng::new(seed ^ 0x5EA2_C4B3_4C4E_0001);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let kind = KINDS[i % KINDS.len()];
        let mut query = SearchQuery {
            per_page: PER_PAGE,
            ..SearchQuery::default()
        };
        match kind {
            Kind::Word | Kind::PriceSort => {
                let words = title_words(&mut rng, seed, products);
                query.q = Some(rng.pick(&words).clone());
                if kind == Kind::PriceSort {
                    query.sort = if rng.below(2) == 0 {
                        Sort::PriceAsc
                    } else {
                        Sort::PriceDesc
                    };
                }
            }
            Kind::Typo => {
                query.q =
                    Some(typo(&mut rng, seed, products).context("no title word of six letters")?);
            }
            Kind::TwoWords => {
                let words = title_words(&mut rng, seed, products);
                let start = rng.below(words.len().saturating_sub(1).max(1) as u64) as usize;
                query.q = Some(words[start..(start + 2).min(words.len())].join(" "));
            }
            Kind::Category => {
                query.category = Some(rng.pick(&categories).clone());
            }
            Kind::PriceInStock => {
                let min = i64::try_from(rng.below(15_000)).unwrap_or(0);
                let width = 1_000 + i64::try_from(rng.below(9_000)).unwrap_or(0);
                query.price_min = Some(min);
                query.price_max = Some(min + width);
                query.in_stock = Some(true);
            }
        }
        query.page = 1 + rng.below(5) as u32;
        out.push((kind, query));
    }
    Ok(out)
}

/// The measured queries and the warm-up's (another draw of the same mix).
type Mix = Arc<Vec<(Kind, SearchQuery)>>;
fn mixes(args: &Args) -> anyhow::Result<(Mix, Mix)> {
    let measured = queries(args.seed, args.products, args.queries)?;
    let warmup = queries(
        args.seed.wrapping_add(1),
        args.products,
        args.warmup_queries,
    )?;
    Ok((Arc::new(measured), Arc::new(warmup)))
}

/// A query in a line, for the report.
fn describe(query: &SearchQuery) -> String {
    let mut parts = Vec::new();
    if let Some(q) = &query.q {
        parts.push(format!("q={q:?}"));
    }
    if let Some(c) = &query.category {
        parts.push(format!("category={c}"));
    }
    if let (Some(min), Some(max)) = (query.price_min, query.price_max) {
        parts.push(format!("price={min}..={max}"));
    }
    if query.in_stock == Some(true) {
        parts.push("in_stock".into());
    }
    parts.push(format!("page={}", query.page));
    parts.join(" ")
}

/// What one phase of queries produced.
struct Phase {
    all: Histogram<u64>,
    by_kind: BTreeMap<Kind, Histogram<u64>>,
    /// Queries whose match was empty (`total == 0`), by kind.
    empty: BTreeMap<Kind, u64>,
    /// The text of the first few of those, by kind.
    empty_examples: BTreeMap<Kind, Vec<String>>,
    errors: BTreeMap<String, u64>,
    ok: u64,
    elapsed: Duration,
}

/// What the queries are sent to: an index in this process, or a running edge over HTTP.
trait Searcher: Clone + Send + Sync + 'static {
    /// The query's exact total, or why it failed.
    fn total(&self, query: &SearchQuery) -> impl Future<Output = Result<u64, String>> + Send;
}

/// A backend in this process, through `SearchIndex::search`.
#[derive(Clone)]
struct InProcess<S>(S);

impl<S: SearchIndex + Clone + Send + Sync + 'static> Searcher for InProcess<S> {
    async fn total(&self, query: &SearchQuery) -> Result<u64, String> {
        self.0
            .search(query)
            .await
            .map(|r| r.total)
            .map_err(|e| e.to_string())
    }
}

/// A running edge: `GET /store/search` with the query's parameters.
#[derive(Clone)]
struct Edge {
    client: reqwest::Client,
    url: Url,
}

impl Edge {
    fn params(query: &SearchQuery) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(q) = &query.q {
            params.push(("q", q.clone()));
        }
        if let Some(c) = &query.category {
            params.push(("category", c.clone()));
        }
        if let Some(min) = query.price_min {
            params.push(("price_min", min.to_string()));
        }
        if let Some(max) = query.price_max {
            params.push(("price_max", max.to_string()));
        }
        if let Some(in_stock) = query.in_stock {
            params.push(("in_stock", in_stock.to_string()));
        }
        let sort = match query.sort {
            Sort::Relevance => None,
            Sort::PriceAsc => Some("price_asc"),
            Sort::PriceDesc => Some("price_desc"),
            Sort::RatingDesc => Some("rating"),
            Sort::Newest => Some("newest"),
        };
        if let Some(sort) = sort {
            params.push(("sort", sort.to_string()));
        }
        params.push(("page", query.page.to_string()));
        params.push(("per_page", query.per_page.to_string()));
        params
    }
}

impl Searcher for Edge {
    async fn total(&self, query: &SearchQuery) -> Result<u64, String> {
        let response = self
            .client
            .get(self.url.clone())
            .query(&Self::params(query))
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| format!("body: {e}"))?;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("json: {e}"))?;
        value["total"]
            .as_u64()
            .ok_or_else(|| "no total in the answer".to_string())
    }
}

/// Sends every query once with `concurrency` tasks and times each.
async fn run_queries<S: Searcher>(
    search: &S,
    queries: Arc<Vec<(Kind, SearchQuery)>>,
    concurrency: usize,
) -> anyhow::Result<Phase> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let search = search.clone();
        let queries = queries.clone();
        let next = next.clone();
        let mut all = new_histogram()?;
        let mut by_kind = BTreeMap::new();
        for kind in KINDS {
            by_kind.insert(kind, new_histogram()?);
        }
        tasks.spawn(async move {
            let mut empty: BTreeMap<Kind, u64> = BTreeMap::new();
            let mut empty_examples: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut ok = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((kind, query)) = queries.get(i) else {
                    break;
                };
                let sent = Instant::now();
                let result = search.total(query).await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                match result {
                    Ok(total) => {
                        ok += 1;
                        all.saturating_record(micros.max(1));
                        if let Some(h) = by_kind.get_mut(kind) {
                            h.saturating_record(micros.max(1));
                        }
                        if total == 0 {
                            *empty.entry(*kind).or_default() += 1;
                            let examples = empty_examples.entry(*kind).or_default();
                            if examples.len() < EXAMPLES {
                                examples.push(describe(query));
                            }
                        }
                    }
                    Err(e) => *errors.entry(format!("{}: {e}", kind.name())).or_default() += 1,
                }
            }
            (all, by_kind, empty, empty_examples, errors, ok)
        });
    }
    let mut phase = Phase {
        all: new_histogram()?,
        by_kind: BTreeMap::new(),
        empty: BTreeMap::new(),
        empty_examples: BTreeMap::new(),
        errors: BTreeMap::new(),
        ok: 0,
        elapsed: Duration::ZERO,
    };
    for kind in KINDS {
        phase.by_kind.insert(kind, new_histogram()?);
    }
    while let Some(joined) = tasks.join_next().await {
        let (all, by_kind, empty, empty_examples, errors, ok) =
            joined.context("query task panicked")?;
        phase.all.add(&all).context("merge histograms")?;
        for (kind, h) in by_kind {
            if let Some(total) = phase.by_kind.get_mut(&kind) {
                total.add(&h).context("merge histograms")?;
            }
        }
        for (kind, n) in empty {
            *phase.empty.entry(kind).or_default() += n;
        }
        for (kind, examples) in empty_examples {
            let kept = phase.empty_examples.entry(kind).or_default();
            kept.extend(examples);
            kept.truncate(EXAMPLES);
        }
        for (e, n) in errors {
            *phase.errors.entry(e).or_default() += n;
        }
        phase.ok += ok;
    }
    phase.elapsed = started.elapsed();
    Ok(phase)
}

/// Prints a phase's throughput and latency, overall and per kind, and returns them as JSON.
fn report(phase: &Phase, queries: usize) -> serde_json::Value {
    let h = &phase.all;
    let secs = phase.elapsed.as_secs_f64();
    let qps = phase.ok as f64 / secs.max(f64::EPSILON);
    let error_total: u64 = phase.errors.values().sum();
    println!("  measured:    {queries} queries in {secs:.3} s");
    println!("  ok:          {}", phase.ok);
    println!("  errors:      {error_total} {:?}", phase.errors);
    println!("  throughput:  {qps:.0} queries/s");
    println!("  latency:     {}", quantiles(h));
    let mut by_kind = serde_json::Map::new();
    for (kind, kh) in &phase.by_kind {
        let empty = phase.empty.get(kind).copied().unwrap_or(0);
        let examples = phase.empty_examples.get(kind).cloned().unwrap_or_default();
        println!(
            "    {:<15} n {:>5}  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  no match {empty}",
            kind.name(),
            kh.len(),
            ms(kh.value_at_quantile(0.50)),
            ms(kh.value_at_quantile(0.99)),
            ms(kh.max()),
        );
        let mut fields = quantile_fields(kh);
        fields.insert("n".into(), kh.len().into());
        fields.insert("no_match".into(), empty.into());
        fields.insert("no_match_examples".into(), examples.clone().into());
        by_kind.insert(kind.name().into(), fields.into());
        if !examples.is_empty() {
            println!("      no match e.g.: {}", examples.join("; "));
        }
    }
    let mut fields = quantile_fields(h);
    fields.insert("queries".into(), queries.into());
    fields.insert("ok".into(), phase.ok.into());
    fields.insert("errors".into(), error_total.into());
    fields.insert("elapsed_secs".into(), secs.into());
    fields.insert("queries_per_sec".into(), qps.into());
    fields.insert("by_kind".into(), by_kind.into());
    fields.into()
}

/// The edge's read-cache counter.
const READ_CACHE: &str = "agora_read_cache_requests_total";

/// `--url`: the query mix through a running edge, `--passes` times.
async fn run_edge(args: &Args, url: &str) -> anyhow::Result<()> {
    let base = Url::parse(url).context("--url")?;
    if !agora_benches::is_loopback(&base) {
        bail!("{base} is not a loopback address; this load generator targets a local `agora all`");
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let edge = Edge {
        client: client.clone(),
        url: base.join("/store/search").context("--url")?,
    };
    let all = edge
        .total(&SearchQuery {
            per_page: 1,
            ..SearchQuery::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("the edge's search: {e}"))?;
    println!(
        "bench-search: through the edge at {base} ({all} products searchable; the mix is drawn \
         for {} products, seed {}), concurrency {}",
        args.products, args.seed, args.concurrency
    );
    let (measured, warmup) = mixes(args)?;
    let warm = run_queries(&edge, warmup, args.concurrency).await?;
    println!(
        "  warm-up:     {} queries ({} ok) in {:.3} s, not measured",
        args.warmup_queries,
        warm.ok,
        warm.elapsed.as_secs_f64()
    );
    let mut passes = Vec::new();
    for pass in 1..=args.passes.max(1) {
        let (hits0, misses0) = hits_and_misses(&client, base.as_str(), READ_CACHE).await;
        let phase = run_queries(&edge, measured.clone(), args.concurrency).await?;
        let (hits1, misses1) = hits_and_misses(&client, base.as_str(), READ_CACHE).await;
        println!("pass {pass}:");
        let mut result = report(&phase, args.queries);
        let (hits, misses) = (hits1 - hits0, misses1 - misses0);
        println!("  read cache:  {hits:.0} hits, {misses:.0} misses");
        result["read_cache_hits"] = json!(hits);
        result["read_cache_misses"] = json!(misses);
        if phase.ok == 0 {
            bail!("no query succeeded");
        }
        passes.push(result);
    }
    let result = json!({
        "bench": "search",
        "backend": "edge",
        "url": base.as_str(),
        "searchable": all,
        "products": args.products,
        "seed": args.seed,
        "concurrency": args.concurrency,
        "warmup_queries": args.warmup_queries,
        "passes": passes,
    });
    println!("RESULT {result}");
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

async fn connect(db: &TestDb, connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = db.url().parse().context("parse database URL")?;
    // TLS on loopback protects nothing and costs both sides CPU on every round trip.
    let options = options
        .ssl_mode(PgSslMode::Disable)
        .disable_statement_logging();
    PgPoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .context("connect to the benchmark database")
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.products == 0 || args.queries == 0 || args.concurrency == 0 {
        bail!("--products, --queries and --concurrency must be at least 1");
    }
    if let Some(url) = &args.url {
        return run_edge(&args, url).await;
    }

    let generate_started = Instant::now();
    let parents = parents();
    let docs: Vec<ProductDoc> = (0..args.products)
        .map(|i| document(args.seed, i, &parents))
        .collect::<anyhow::Result<_>>()?;
    let generate_secs = generate_started.elapsed().as_secs_f64();
    let (measured, warmup) = mixes(&args)?;

    let db = TestDb::create().await?;
    let pool = connect(&db, u32::try_from(args.concurrency).unwrap_or(u32::MAX)).await?;
    let server_version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await?;
    let search = PgSearch::new(pool.clone());
    let mut meili_index = None;
    let (ensure_secs, index_secs, analyze_secs, table_bytes, warm, phase) = if args.backend
        == Backend::Meilisearch
    {
        let url = args
            .meili_url
            .as_deref()
            .context("--backend meilisearch needs MEILI_URL (or --meili-url)")?;
        let meili = MeiliSearch::new(
            url,
            args.meili_key.as_deref(),
            &format!("bench_{}", db.name),
        )
        .map_err(|e| anyhow::anyhow!("Meilisearch configuration: {e}"))?
        .with_timeouts(Duration::from_secs(10), Duration::from_secs(600));
        meili_index = Some(meili.clone());
        let ensure_started = Instant::now();
        meili.ensure().await.context("create the index")?;
        let ensure_secs = ensure_started.elapsed().as_secs_f64();
        let index_started = Instant::now();
        meili.upsert(&docs).await.context("index")?;
        let index_secs = index_started.elapsed().as_secs_f64();
        let all = meili
            .search(&SearchQuery {
                per_page: 1,
                ..SearchQuery::default()
            })
            .await?;
        if all.total != args.products {
            bail!(
                "the index holds {} documents after indexing {} products",
                all.total,
                args.products
            );
        }
        let warm = run_queries(&InProcess(meili.clone()), warmup, args.concurrency).await?;
        let phase = run_queries(&InProcess(meili.clone()), measured, args.concurrency).await?;
        (ensure_secs, index_secs, 0.0, 0, warm, phase)
    } else {
        let ensure_started = Instant::now();
        search.ensure().await.context("create the search table")?;
        let ensure_secs = ensure_started.elapsed().as_secs_f64();

        let index_started = Instant::now();
        for batch in docs.chunks(BATCH) {
            search.upsert(batch).await.context("upsert")?;
        }
        let index_secs = index_started.elapsed().as_secs_f64();

        // What autovacuum does soon after a bulk load: statistics and the visibility map.
        let analyze_started = Instant::now();
        sqlx::query(&format!("VACUUM (ANALYZE) {}", search.table()))
            .execute(&pool)
            .await?;
        let analyze_secs = analyze_started.elapsed().as_secs_f64();
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", search.table()))
            .fetch_one(&pool)
            .await?;
        let table_bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
            .bind(search.table())
            .fetch_one(&pool)
            .await?;
        if u64::try_from(rows).ok() != Some(args.products) {
            bail!(
                "the search table holds {rows} rows after indexing {} products",
                args.products
            );
        }

        let warm = run_queries(&InProcess(search.clone()), warmup, args.concurrency).await?;
        let phase = run_queries(&InProcess(search.clone()), measured, args.concurrency).await?;
        (
            ensure_secs,
            index_secs,
            analyze_secs,
            table_bytes,
            warm,
            phase,
        )
    };
    let products_per_sec = docs.len() as f64 / index_secs.max(f64::EPSILON);
    if let Some(meili) = &meili_index {
        if !args.keep_db {
            meili
                .delete_index()
                .await
                .context("delete the benchmark index")?;
        }
    }

    pool.close().await;
    if args.keep_db {
        println!("  kept:        {}", db.url());
        std::mem::forget(db);
    } else {
        drop(db);
    }

    let backend = match args.backend {
        Backend::Postgres => format!("PgSearch on PostgreSQL {server_version} (loopback, no TLS)"),
        Backend::Meilisearch => "MeiliSearch (loopback)".to_string(),
    };
    println!(
        "bench-search: {backend}, {} products (seed {}), concurrency {}",
        args.products, args.seed, args.concurrency
    );
    println!(
        "  generate:    {} docs in {generate_secs:.3} s (not measured)",
        docs.len()
    );
    println!("  ensure:      {ensure_secs:.3} s (tables, functions, indexes)");
    println!(
        "  indexing:    {} products in {index_secs:.3} s = {products_per_sec:.0} products/s ({})",
        docs.len(),
        match args.backend {
            Backend::Postgres => format!("upsert, batches of {BATCH}"),
            Backend::Meilisearch => "one upsert: tasks of 1,000 enqueued at once".to_string(),
        }
    );
    println!(
        "  vacuum:      {analyze_secs:.3} s (VACUUM ANALYZE); table + indexes {:.1} MiB",
        table_bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  warm-up:     {} queries ({} ok) in {:.3} s, not measured",
        args.warmup_queries,
        warm.ok,
        warm.elapsed.as_secs_f64()
    );
    let measured = report(&phase, args.queries);
    let mut result = json!({
        "bench": "search",
        "backend": match args.backend { Backend::Postgres => "postgres", Backend::Meilisearch => "meilisearch" },
        "server_version": server_version,
        "products": args.products,
        "seed": args.seed,
        "concurrency": args.concurrency,
        "ensure_secs": ensure_secs,
        "index_secs": index_secs,
        "index_products_per_sec": products_per_sec,
        "analyze_secs": analyze_secs,
        "table_bytes": table_bytes,
        "warmup_queries": args.warmup_queries,
    });
    if let (Some(result), serde_json::Value::Object(measured)) = (result.as_object_mut(), measured)
    {
        result.extend(measured);
    }
    println!("RESULT {result}");

    if phase.ok == 0 {
        bail!("no query succeeded");
    }
    Ok(())
}
