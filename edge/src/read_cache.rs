//! A cache of the storefront's public catalog reads (search, products, categories, reviews).
//!
//! Every shopper asks the same few questions of the catalog: the home page's newest and
//! best-rated products, the category tree, a popular product, a popular search. Their answers
//! depend only on the request's path and query (these routes take no credentials) and on the
//! catalog's read models, which change only when a projection commits. So the edge keeps the
//! bytes of each `200` answer and serves them again until a read model it was built from
//! changes.
//!
//! Freshness comes from Postgres, not from a timer: every projection transaction announces its
//! read model's name on [`READ_MODELS_CHANGED`] when it commits, and [`ReadCache::follow`]
//! listens. Each entry carries the cache's *generation* from before its query ran; hearing a
//! name in [`SOURCES`] moves the generation on, and an entry of an older generation is never
//! served. A query that straddles a commit therefore lands under the old generation and is
//! dead on arrival. While the listening connection is down (notifications may be missed), the
//! cache serves nothing and stores nothing; when it is back, the generation moves on. A
//! time-to-live bounds what a missed notification could ever cost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agora_projections::READ_MODELS_CHANGED;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

/// The read models the cached routes read: a commit to any of them empties the cache.
pub const SOURCES: [&str; 7] = [
    "products",
    "categories",
    "stock_levels",
    "vendors",
    "reviews",
    "search",
    agora_projections::search::MEILI_CHANGED,
];

/// The largest answer kept (a page of 100 products is far below).
const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// How the cache is sized.
#[derive(Clone, Copy, Debug)]
pub struct ReadCacheConfig {
    /// Bytes of answers kept at most; 0 turns the cache off.
    pub max_bytes: u64,
    /// The longest an answer is served, even if no change was heard.
    pub ttl: Duration,
}

impl Default for ReadCacheConfig {
    fn default() -> Self {
        ReadCacheConfig {
            max_bytes: 64 * 1024 * 1024,
            ttl: Duration::from_secs(30),
        }
    }
}

struct Entry {
    generation: u64,
    content_type: HeaderValue,
    body: Bytes,
}

/// Answers of the public catalog routes, valid until a read model they read changes.
pub struct ReadCache {
    entries: Option<moka::sync::Cache<String, Arc<Entry>>>,
    generation: AtomicU64,
    /// Whether changes are being heard; nothing is served or stored otherwise.
    live: AtomicBool,
}

impl ReadCache {
    pub fn new(config: ReadCacheConfig) -> Self {
        let entries = (config.max_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(config.max_bytes)
                .weigher(|key: &String, entry: &Arc<Entry>| {
                    u32::try_from(key.len() + entry.body.len() + 64).unwrap_or(u32::MAX)
                })
                .time_to_live(config.ttl)
                .build()
        });
        ReadCache {
            entries,
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
        }
    }

    /// A cache that never holds anything (tests and processes without a listener).
    pub fn off() -> Self {
        Self::new(ReadCacheConfig {
            max_bytes: 0,
            ttl: Duration::ZERO,
        })
    }

    /// Whether changes are being heard, so answers are kept and served.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// Entries hold nothing from before now.
    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }

    fn get(&self, key: &str) -> Option<Arc<Entry>> {
        if !self.live.load(Ordering::SeqCst) {
            return None;
        }
        let entry = self.entries.as_ref()?.get(key)?;
        (entry.generation == self.generation.load(Ordering::SeqCst)).then_some(entry)
    }

    /// Listens for read-model changes on `pool`'s server until `shutdown` (see [`follow`]).
    /// Without it the cache never serves (it is not live).
    pub async fn follow(
        self: Arc<Self>,
        pool: PgPool,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        follow(pool, shutdown, vec![self]).await
    }
}

impl Follower for ReadCache {
    fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    fn heard(&self, payload: &str) {
        if SOURCES.contains(&payload) {
            self.invalidate();
            metrics::counter!("agora_read_cache_invalidations_total").increment(1);
        }
    }

    fn listening(&self, live: bool) {
        // Whatever was kept before a (re)connection may have missed a change.
        self.invalidate();
        self.live.store(live, Ordering::SeqCst);
    }
}

/// A cache kept fresh by the names announced on [`READ_MODELS_CHANGED`].
pub trait Follower: Send + Sync {
    /// Whether it keeps anything at all (a cache sized 0 needs no listener).
    fn enabled(&self) -> bool;
    /// A commit announced `payload`: a read model's name, or `name:id,id,...` (see
    /// [`agora_projections::notify_streams_sql`]).
    fn heard(&self, payload: &str);
    /// The listener is connected (`true`: serve again, after dropping all that was kept) or
    /// lost (`false`: changes may go unheard, so serve and keep nothing).
    fn listening(&self, live: bool);
}

/// Listens for read-model changes on `pool`'s server until `shutdown`, passing each to every
/// follower, and reconnects with backoff when the connection is lost.
pub async fn follow(
    pool: PgPool,
    shutdown: impl std::future::Future<Output = ()> + Send,
    followers: Vec<Arc<dyn Follower>>,
) -> anyhow::Result<()> {
    let followers: Vec<Arc<dyn Follower>> = followers.into_iter().filter(|f| f.enabled()).collect();
    if followers.is_empty() {
        shutdown.await;
        return Ok(());
    }
    let set_live = |live: bool| followers.iter().for_each(|f| f.listening(live));
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(100);
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(READ_MODELS_CHANGED).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            l = listening => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "read cache: cannot listen for changes; serving uncached");
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        set_live(true);
        backoff = Duration::from_millis(100);
        loop {
            let heard = tokio::select! {
                _ = &mut shutdown => {
                    set_live(false);
                    return Ok(());
                }
                n = listener.try_recv() => n,
            };
            match heard {
                Ok(Some(n)) => followers.iter().for_each(|f| f.heard(n.payload())),
                Ok(None) | Err(_) => {
                    // The connection dropped: changes may go unheard until it is back.
                    set_live(false);
                    tracing::warn!("read cache: lost the change listener; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Middleware for the public catalog routes: serves a `GET` from the cache, or runs it and
/// keeps a `200` answer for the next caller.
pub async fn cached(State(cache): State<Arc<ReadCache>>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET || cache.entries.is_none() {
        return next.run(request).await;
    }
    let key = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_default();
    if let Some(hit) = cache.get(&key) {
        metrics::counter!("agora_read_cache_requests_total", "outcome" => "hit").increment(1);
        return (
            [(header::CONTENT_TYPE, hit.content_type.clone())],
            hit.body.clone(),
        )
            .into_response();
    }
    metrics::counter!("agora_read_cache_requests_total", "outcome" => "miss").increment(1);
    // Read before the query runs: a change committed meanwhile makes this entry stale at once.
    let generation = cache.generation.load(Ordering::SeqCst);
    let live = cache.live.load(Ordering::SeqCst);
    let response = next.run(request).await;
    if !live || response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let small = axum::body::HttpBody::size_hint(&body)
        .exact()
        .is_some_and(|n| n <= MAX_ENTRY_BYTES as u64);
    let Some(content_type) = parts.headers.get(header::CONTENT_TYPE).cloned() else {
        return Response::from_parts(parts, body);
    };
    if !small {
        return Response::from_parts(parts, body);
    }
    // A body of known, small size held in memory: collecting it cannot fail in practice.
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return crate::ApiError::internal(e).into_response(),
    };
    if let Some(entries) = &cache.entries {
        entries.insert(
            key,
            Arc::new(Entry {
                generation,
                content_type,
                body: body.clone(),
            }),
        );
    }
    Response::from_parts(parts, Body::from(body))
}
