//! The Meilisearch backend (Meilisearch v1.x through `meilisearch-sdk` 0.33).
//!
//! Index settings ([`settings`]):
//! - primary key `id`; searchable `title`, `skus`, `description` (in that order of importance,
//!   which the `attribute` ranking rule uses to rank title matches above description matches);
//! - filterable `category_path`, `price_min`, `price_bucket`, `rating_tenths`, `in_stock`,
//!   `vendor_id`;
//! - sortable `price_min`, `rating_tenths`, `created_at_ts` (`created_at` as unix seconds, since
//!   Meilisearch sorts numbers, not dates) and `id` (the last tie-breaker, as in Postgres);
//! - ranking rules `sort, words, typo, attribute, proximity, exactness`, i.e. Meilisearch's
//!   default rules with two changes: `sort` first, so an explicit sort (price, rating, newest) is
//!   strict, as a shopper expects, while relevance search (which sends no sort) is unaffected;
//!   and `attribute` before `proximity`, so that every query word in the title beats the same
//!   words closer together in a description ("gooseneck kettle" finds the Gooseneck Pour-Over
//!   Kettle before a dripper whose description says "gooseneck kettle"), which is also how the
//!   Postgres backend ranks (title tier first);
//! - typo tolerance on, one typo from five letters, two from nine (Meilisearch's defaults,
//!   written down so that a changed default does not silently change behaviour);
//! - pagination `maxTotalHits` 10 000 and faceting `maxValuesPerFacet` 1 000.
//!
//! A search is one search request: the page (page-based pagination, so `totalHits` is exact)
//! with the distributions of two facets, `category_path` and `price_bucket`. Meilisearch counts
//! facet values, not ranges, so every document carries `price_bucket`, the index of its
//! `price_min` in [`crate::PRICE_BUCKET_BOUNDS`] (precomputed when the document is written):
//! six values, far below `maxValuesPerFacet`, so their counts are exact. (Earlier versions sent
//! a multi-search of seven queries, one per bucket; that cost the edge about 10 ms per search.)
//!
//! Every HTTP call is bounded by `request_timeout` (the SDK's client has no timeout of its own).
//! The [`SearchIndex`] writes wait for their task for up to `task_timeout` and turn a failed task
//! into an error, because `wait_for_task` returns a failed task as `Ok`. The projection does not
//! use them: it enqueues with [`MeiliSearch::enqueue_upsert`] and friends, keeps several tasks in
//! flight and confirms each with [`MeiliSearch::task_state`], because waiting for each task
//! before sending the next one gives Meilisearch one document per batch.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use meilisearch_sdk::client::{Client, SwapIndexes};
use meilisearch_sdk::documents::DocumentsQuery;
use meilisearch_sdk::errors::{ErrorCode, MeilisearchError};
use meilisearch_sdk::indexes::IndexesQuery;
use meilisearch_sdk::search::Selectors;
use meilisearch_sdk::settings::{
    FacetingSettings, MinWordSizeForTypos, PaginationSetting, Settings, TypoToleranceSettings,
};
use meilisearch_sdk::task_info::TaskInfo;
use meilisearch_sdk::tasks::Task;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::error::BackendError;
use crate::{
    Facets, PriceBucket, ProductDoc, SearchError, SearchIndex, SearchQuery, SearchResult, Sort,
    MAX_RESULT_WINDOW,
};

/// How often a write polls its task.
const POLL: Duration = Duration::from_millis(50);
/// Documents per `add_or_replace` request (payloads stay far below Meilisearch's 100 MB limit).
const CHUNK: usize = 1_000;
/// The facet whose distribution answers [`Facets::categories`].
const CATEGORY_FACET: &str = "category_path";
/// The facet whose distribution answers [`Facets::price_ranges`].
const PRICE_BUCKET_FACET: &str = "price_bucket";

/// Search over one Meilisearch index.
#[derive(Clone, Debug)]
pub struct MeiliSearch {
    /// One Meilisearch server; cheap to clone (the HTTP client is shared).
    client: Client<crate::meili_http::MeiliHttp>,
    /// The live index; a rebuild fills `<uid>_rebuild_<millis>` and swaps it in.
    index_uid: String,
    /// Bound on every single HTTP request: a search that hangs is worse than one that falls
    /// back to Postgres.
    request_timeout: Duration,
    /// How long a write waits for Meilisearch to process its task.
    task_timeout: Duration,
}

/// Why a [`MeiliSearch`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InvalidMeiliConfig {
    #[error("index uid must be 1 to 200 characters of A-Z a-z 0-9 - _")]
    IndexUid,
    #[error("cannot build the Meilisearch client (is the API key a valid header value?)")]
    Client(#[source] meilisearch_sdk::errors::Error),
}

/// The index a rebuild fills; only [`MeiliSearch::begin_rebuild`] makes one.
#[derive(Debug)]
pub struct MeiliRebuild {
    uid: String,
}

/// A document as stored in Meilisearch: the product plus `created_at_ts` for sorting.
#[derive(Debug, Serialize, Deserialize)]
struct MeiliDoc {
    id: String,
    title: String,
    description: String,
    vendor_id: String,
    #[serde(default)]
    category_id: Option<String>,
    category_path: Vec<String>,
    price_min: i64,
    price_max: i64,
    currency: String,
    // Absent rather than null, so that "unrated" sorts last in both directions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rating_tenths: Option<i32>,
    in_stock: bool,
    skus: Vec<String>,
    #[serde(default)]
    image_url: Option<String>,
    created_at: DateTime<Utc>,
    created_at_ts: i64,
    /// Index of the price bucket holding `price_min` (see [`crate::price_bucket`]).
    #[serde(default)]
    price_bucket: usize,
}

impl From<&ProductDoc> for MeiliDoc {
    fn from(d: &ProductDoc) -> MeiliDoc {
        MeiliDoc {
            id: d.id.clone(),
            title: d.title.clone(),
            description: d.description.clone(),
            vendor_id: d.vendor_id.clone(),
            category_id: d.category_id.clone(),
            category_path: d.category_path.clone(),
            price_min: d.price_min,
            price_max: d.price_max,
            currency: d.currency.clone(),
            rating_tenths: d.rating_tenths,
            in_stock: d.in_stock,
            skus: d.skus.clone(),
            image_url: d.image_url.clone(),
            created_at: d.created_at,
            created_at_ts: d.created_at.timestamp(),
            price_bucket: crate::price_bucket(d.price_min),
        }
    }
}

impl From<MeiliDoc> for ProductDoc {
    fn from(d: MeiliDoc) -> ProductDoc {
        ProductDoc {
            id: d.id,
            title: d.title,
            description: d.description,
            vendor_id: d.vendor_id,
            category_id: d.category_id,
            category_path: d.category_path,
            price_min: d.price_min,
            price_max: d.price_max,
            currency: d.currency,
            rating_tenths: d.rating_tenths,
            in_stock: d.in_stock,
            skus: d.skus,
            image_url: d.image_url,
            created_at: d.created_at,
        }
    }
}

/// The partial document `set_in_stock` sends.
#[derive(Serialize)]
struct StockPatch<'a> {
    id: &'a str,
    in_stock: bool,
}

/// A write enqueued in Meilisearch, not yet confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskId(pub u32);

impl AsRef<u32> for TaskId {
    fn as_ref(&self) -> &u32 {
        &self.0
    }
}

/// Where an enqueued write stands.
#[derive(Debug)]
pub enum TaskState {
    /// Enqueued or processing.
    Pending,
    Succeeded,
    /// Meilisearch processed it and refused it; nothing of it was applied.
    Failed(SearchError),
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// The settings every index of ours gets (see the module doc for the reasons).
pub(crate) fn settings() -> Settings {
    Settings::new()
        .with_searchable_attributes(["title", "skus", "description"])
        .with_filterable_attributes([
            "category_path",
            "price_min",
            "price_bucket",
            "rating_tenths",
            "in_stock",
            "vendor_id",
        ])
        .with_sortable_attributes(["price_min", "rating_tenths", "created_at_ts", "id"])
        .with_ranking_rules([
            "sort",
            "words",
            "typo",
            "attribute",
            "proximity",
            "exactness",
        ])
        .with_typo_tolerance(TypoToleranceSettings {
            enabled: Some(true),
            disable_on_attributes: Some(vec![]),
            disable_on_words: Some(vec![]),
            min_word_size_for_typos: Some(MinWordSizeForTypos {
                one_typo: Some(5),
                two_typos: Some(9),
            }),
            disable_on_numbers: None,
        })
        .with_pagination(PaginationSetting {
            max_total_hits: MAX_RESULT_WINDOW as usize,
        })
        .with_faceting(FacetingSettings {
            max_values_per_facet: 1_000,
            sort_facet_values_by: None,
        })
}

/// A Meilisearch filter expression for the query's filters, plus an optional price bucket.
/// Numbers and booleans are formatted by Rust; the category id is restricted by
/// [`SearchQuery::validate`] to `[A-Za-z0-9_.:-]` and quoted anyway.
pub(crate) fn filter_expr(query: &SearchQuery, bucket: Option<&PriceBucket>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(category) = &query.category {
        parts.push(format!("{CATEGORY_FACET} = {}", quoted(category)));
    }
    if let Some(min) = query.price_min {
        parts.push(format!("price_min >= {min}"));
    }
    if let Some(max) = query.price_max {
        parts.push(format!("price_min <= {max}"));
    }
    if let Some(rating) = query.rating_min_tenths {
        parts.push(format!("rating_tenths >= {rating}"));
    }
    if let Some(in_stock) = query.in_stock {
        parts.push(format!("in_stock = {in_stock}"));
    }
    if let Some(bucket) = bucket {
        parts.push(format!("price_min >= {}", bucket.min));
        if let Some(max) = bucket.max {
            parts.push(format!("price_min < {max}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Sort expressions; every sort ends with the tie-breakers Postgres uses.
pub(crate) fn sort_expr(sort: Sort, has_text: bool) -> &'static [&'static str] {
    match sort {
        Sort::Relevance if has_text => &[],
        Sort::Relevance | Sort::Newest => &["created_at_ts:desc", "id:asc"],
        Sort::PriceAsc => &["price_min:asc", "created_at_ts:desc", "id:asc"],
        Sort::PriceDesc => &["price_min:desc", "created_at_ts:desc", "id:asc"],
        Sort::RatingDesc => &["rating_tenths:desc", "created_at_ts:desc", "id:asc"],
    }
}

fn task_failed(uid: u32, error: &MeilisearchError) -> SearchError {
    let code = serde_json::to_value(&error.error_code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", error.error_code));
    SearchError::Internal(BackendError::MeiliTask {
        uid,
        code,
        message: error.error_message.clone(),
    })
}

impl MeiliSearch {
    /// A client for the server at `url` (no trailing slash) and the live index `index_uid`.
    /// Nothing is sent until the first call.
    pub fn new(
        url: &str,
        api_key: Option<&str>,
        index_uid: &str,
    ) -> Result<MeiliSearch, InvalidMeiliConfig> {
        let ok = (1..=200).contains(&index_uid.len())
            && index_uid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(InvalidMeiliConfig::IndexUid);
        }
        let http =
            crate::meili_http::MeiliHttp::new(api_key).map_err(InvalidMeiliConfig::Client)?;
        let client = Client::new_with_client(url.trim_end_matches('/'), api_key, http);
        Ok(MeiliSearch {
            client,
            index_uid: index_uid.to_string(),
            request_timeout: Duration::from_secs(3),
            task_timeout: Duration::from_secs(30),
        })
    }

    /// Overrides the per-request bound (default 3 s) and the task wait (default 30 s).
    pub fn with_timeouts(mut self, request: Duration, task: Duration) -> MeiliSearch {
        self.request_timeout = request;
        self.task_timeout = task;
        self
    }

    pub fn index_uid(&self) -> &str {
        &self.index_uid
    }

    /// Deletes the live index and waits; a missing index is not an error.
    pub async fn delete_index(&self) -> Result<(), SearchError> {
        self.delete_index_uid(&self.index_uid).await
    }

    async fn call<T>(
        &self,
        request: impl Future<Output = Result<T, meilisearch_sdk::errors::Error>>,
    ) -> Result<T, SearchError> {
        match tokio::time::timeout(self.request_timeout, request).await {
            Ok(answer) => answer.map_err(SearchError::from),
            Err(_) => Err(SearchError::Unavailable(BackendError::MeiliTimeout(
                self.request_timeout,
            ))),
        }
    }

    /// Waits for a task; `Ok(Err(_))` is a task Meilisearch processed and failed.
    async fn wait_outcome(
        &self,
        task: &TaskInfo,
    ) -> Result<Result<(), MeilisearchError>, SearchError> {
        // The SDK counts its timeout in polling intervals, not wall time, so bound it again.
        let limit = self.task_timeout + self.request_timeout;
        let waited = tokio::time::timeout(
            limit,
            self.client
                .wait_for_task(task, Some(POLL), Some(self.task_timeout)),
        )
        .await;
        match waited {
            Err(_) => Err(SearchError::Unavailable(BackendError::MeiliTimeout(limit))),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(Task::Succeeded { .. })) => Ok(Ok(())),
            Ok(Ok(Task::Failed { content })) => Ok(Err(content.error)),
            // wait_for_task only returns finished tasks; treat anything else as not finished.
            Ok(Ok(_)) => Err(SearchError::Unavailable(BackendError::MeiliTimeout(
                self.task_timeout,
            ))),
        }
    }

    /// Waits for a task and turns a failed task into an error.
    async fn wait(&self, task: TaskInfo) -> Result<(), SearchError> {
        let uid = task.get_task_uid();
        self.wait_outcome(&task)
            .await?
            .map_err(|e| task_failed(uid, &e))
    }

    /// Creates `uid` with primary key `id` unless it exists, then applies [`settings`].
    async fn create_index(&self, uid: &str) -> Result<(), SearchError> {
        let task = self.call(self.client.create_index(uid, Some("id"))).await?;
        let task_uid = task.get_task_uid();
        match self.wait_outcome(&task).await? {
            Ok(()) => {}
            Err(e) if e.error_code == ErrorCode::IndexAlreadyExists => {}
            Err(e) => return Err(task_failed(task_uid, &e)),
        }
        let settings = settings();
        let index = self.client.index(uid);
        let task = self.call(index.set_settings(&settings)).await?;
        self.wait(task).await
    }

    async fn delete_index_uid(&self, uid: &str) -> Result<(), SearchError> {
        let task = self.call(self.client.delete_index(uid)).await?;
        let task_uid = task.get_task_uid();
        match self.wait_outcome(&task).await? {
            Ok(()) => Ok(()),
            Err(e) if e.error_code == ErrorCode::IndexNotFound => Ok(()),
            Err(e) => Err(task_failed(task_uid, &e)),
        }
    }

    async fn upsert_uid(&self, uid: &str, docs: &[ProductDoc]) -> Result<(), SearchError> {
        for doc in docs {
            doc.validate()?;
        }
        let index = self.client.index(uid);
        // Enqueue every chunk first, then wait: Meilisearch batches consecutive additions.
        let mut tasks = Vec::new();
        for chunk in docs.chunks(CHUNK) {
            let chunk: Vec<MeiliDoc> = chunk.iter().map(MeiliDoc::from).collect();
            tasks.push(self.call(index.add_or_replace(&chunk, Some("id"))).await?);
        }
        for task in tasks {
            self.wait(task).await?;
        }
        Ok(())
    }

    /// Enqueues whole documents as one task (they replace what is stored) without waiting.
    pub async fn enqueue_upsert(&self, docs: &[ProductDoc]) -> Result<TaskId, SearchError> {
        for doc in docs {
            doc.validate()?;
        }
        let docs: Vec<MeiliDoc> = docs.iter().map(MeiliDoc::from).collect();
        let index = self.client.index(&self.index_uid);
        let task = self.call(index.add_or_replace(&docs, Some("id"))).await?;
        Ok(TaskId(task.get_task_uid()))
    }

    /// Enqueues a partial update of `in_stock` as one task, sending only `id` and `in_stock`.
    /// Meilisearch creates a bare document for an unknown id, so callers send this only for
    /// products whose whole document Meilisearch already took.
    pub async fn enqueue_in_stock(&self, stock: &[(String, bool)]) -> Result<TaskId, SearchError> {
        let patches: Vec<StockPatch<'_>> = stock
            .iter()
            .map(|(id, in_stock)| StockPatch {
                id: id.as_str(),
                in_stock: *in_stock,
            })
            .collect();
        let index = self.client.index(&self.index_uid);
        let task = self.call(index.add_or_update(&patches, Some("id"))).await?;
        Ok(TaskId(task.get_task_uid()))
    }

    /// Enqueues the deletion of documents as one task; unknown ids are ignored.
    pub async fn enqueue_delete(&self, ids: &[String]) -> Result<TaskId, SearchError> {
        let index = self.client.index(&self.index_uid);
        let task = self.call(index.delete_documents(ids)).await?;
        Ok(TaskId(task.get_task_uid()))
    }

    /// Asks once where an enqueued task stands.
    pub async fn task_state(&self, task: TaskId) -> Result<TaskState, SearchError> {
        Ok(match self.call(self.client.get_task(task)).await? {
            Task::Succeeded { .. } => TaskState::Succeeded,
            Task::Failed { content } => TaskState::Failed(task_failed(task.0, &content.error)),
            Task::Enqueued { .. } | Task::Processing { .. } => TaskState::Pending,
        })
    }

    /// Deletes indexes left by rebuilds that never finished.
    async fn delete_stale_rebuilds(&self) -> Result<(), SearchError> {
        let prefix = format!("{}_rebuild_", self.index_uid);
        let mut offset = 0;
        let mut stale = Vec::new();
        loop {
            let mut query = IndexesQuery::new(&self.client);
            query.with_offset(offset).with_limit(100);
            let page = self.call(query.execute()).await?;
            let n = page.results.len();
            stale.extend(
                page.results
                    .into_iter()
                    .map(|index| index.uid)
                    .filter(|uid| uid.starts_with(&prefix)),
            );
            offset += n;
            if n == 0 || offset >= page.total as usize {
                break;
            }
        }
        for uid in stale {
            tracing::warn!(index = %uid, "deleting the index of an unfinished search rebuild");
            self.delete_index_uid(&uid).await?;
        }
        Ok(())
    }
}

impl SearchIndex for MeiliSearch {
    type Rebuild = MeiliRebuild;

    async fn ensure(&self) -> Result<(), SearchError> {
        self.create_index(&self.index_uid).await
    }

    async fn upsert(&self, docs: &[ProductDoc]) -> Result<(), SearchError> {
        self.upsert_uid(&self.index_uid, docs)
            .instrument(tracing::debug_span!(
                "search.upsert",
                backend = "meilisearch",
                docs = docs.len()
            ))
            .await
    }

    async fn delete(&self, ids: &[String]) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        let index = self.client.index(&self.index_uid);
        let task = self.call(index.delete_documents(ids)).await?;
        self.wait(task).await
    }

    /// A partial update would create a bare `{id, in_stock}` document for an unknown id, so the
    /// ids are looked up first and only existing documents are patched. This relies on writes to
    /// one index being serialised (one projection consumer): a delete racing in between the
    /// lookup and the patch would leave a bare document behind.
    async fn set_in_stock(&self, stock: &[(String, bool)]) -> Result<(), SearchError> {
        // The last entry for an id wins.
        let mut wanted: BTreeMap<&str, bool> = BTreeMap::new();
        for (id, in_stock) in stock {
            wanted.insert(id.as_str(), *in_stock);
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let index = self.client.index(&self.index_uid);
        let mut lookup = DocumentsQuery::new(&index);
        lookup
            .with_ids(wanted.keys().copied())
            .with_fields(["id"])
            .with_limit(wanted.len());
        let found = self.call(lookup.execute::<IdOnly>()).await?;
        let patches: Vec<StockPatch<'_>> = found
            .results
            .iter()
            .filter_map(|doc| {
                wanted.get(doc.id.as_str()).map(|&in_stock| StockPatch {
                    id: doc.id.as_str(),
                    in_stock,
                })
            })
            .collect();
        if patches.is_empty() {
            return Ok(());
        }
        let task = self.call(index.add_or_update(&patches, Some("id"))).await?;
        self.wait(task).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResult, SearchError> {
        query.validate()?;
        let span = tracing::debug_span!(
            "search.query",
            backend = "meilisearch",
            index = %self.index_uid,
            page = query.page,
            total = tracing::field::Empty,
        );
        async {
            let started = Instant::now();
            let index = self.client.index(&self.index_uid);
            let text = query.text();
            let filter = filter_expr(query, None);
            let sort = sort_expr(query.sort, text.is_some());
            let facets = [CATEGORY_FACET, PRICE_BUCKET_FACET];

            let mut page = index.search();
            page.with_page(query.page as usize)
                .with_hits_per_page(query.per_page as usize)
                .with_facets(Selectors::Some(&facets[..]));
            if !sort.is_empty() {
                page.with_sort(sort);
            }
            if let Some(q) = text {
                page.with_query(q);
            }
            if let Some(filter) = &filter {
                page.with_filter(filter);
            }
            let main = self.call(page.execute::<MeiliDoc>()).await?;
            let total = main
                .total_hits
                .ok_or(SearchError::Internal(BackendError::MeiliMissing(
                    "totalHits",
                )))? as u64;
            let distribution = |facet: &str| {
                main.facet_distribution
                    .as_ref()
                    .and_then(|d| d.get(facet))
                    .map(|values| {
                        values
                            .iter()
                            .map(|(k, &n)| (k.clone(), n as u64))
                            .collect::<BTreeMap<_, _>>()
                    })
                    .unwrap_or_default()
            };
            let categories = distribution(CATEGORY_FACET);
            let by_bucket = distribution(PRICE_BUCKET_FACET);
            let mut price_ranges = PriceBucket::empty_buckets();
            for (i, bucket) in price_ranges.iter_mut().enumerate() {
                bucket.count = by_bucket.get(&i.to_string()).copied().unwrap_or(0);
            }
            tracing::Span::current().record("total", total);
            metrics::histogram!("agora_search_query_seconds", "backend" => "meilisearch")
                .record(started.elapsed().as_secs_f64());
            Ok(SearchResult {
                hits: main
                    .hits
                    .into_iter()
                    .map(|hit| ProductDoc::from(hit.result))
                    .collect(),
                total,
                page: query.page,
                per_page: query.per_page,
                facets: Facets {
                    categories,
                    price_ranges,
                },
            })
        }
        .instrument(span)
        .await
    }

    async fn begin_rebuild(&self) -> Result<MeiliRebuild, SearchError> {
        self.delete_stale_rebuilds().await?;
        let uid = format!(
            "{}_rebuild_{}",
            self.index_uid,
            Utc::now().timestamp_millis()
        );
        self.create_index(&uid).await?;
        tracing::info!(index = %uid, "search rebuild index created");
        Ok(MeiliRebuild { uid })
    }

    async fn upsert_into(
        &self,
        target: &MeiliRebuild,
        docs: &[ProductDoc],
    ) -> Result<(), SearchError> {
        self.upsert_uid(&target.uid, docs).await
    }

    async fn finish_rebuild(&self, target: MeiliRebuild) -> Result<(), SearchError> {
        // A swap needs both indexes to exist.
        self.create_index(&self.index_uid).await?;
        let swap = SwapIndexes {
            indexes: (self.index_uid.clone(), target.uid.clone()),
            rename: None,
        };
        let task = self.call(self.client.swap_indexes([&swap])).await?;
        self.wait(task).await?;
        // After the swap the rebuild uid holds the old documents.
        self.delete_index_uid(&target.uid).await?;
        tracing::info!(index = %self.index_uid, "search rebuild swapped in");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine_with_and_and_buckets_are_half_open() {
        let query = SearchQuery {
            category: Some("kitchen".into()),
            price_min: Some(100),
            price_max: Some(9_000),
            rating_min_tenths: Some(40),
            in_stock: Some(true),
            ..SearchQuery::default()
        };
        let bucket = &PriceBucket::empty_buckets()[1];
        assert_eq!(
            filter_expr(&query, Some(bucket)).as_deref(),
            Some(
                "category_path = \"kitchen\" AND price_min >= 100 AND price_min <= 9000 AND \
                 rating_tenths >= 40 AND in_stock = true AND price_min >= 1000 AND price_min < 2500"
            )
        );
        assert_eq!(filter_expr(&SearchQuery::default(), None), None);
        let last = &PriceBucket::empty_buckets()[5];
        assert_eq!(
            filter_expr(&SearchQuery::default(), Some(last)).as_deref(),
            Some("price_min >= 25000")
        );
    }

    #[test]
    fn quotes_and_backslashes_cannot_end_a_quoted_filter_value() {
        assert_eq!(quoted(r#"a" OR x = "b\"#), r#""a\" OR x = \"b\\""#);
    }

    #[test]
    fn every_sort_ends_with_the_postgres_tie_breakers() {
        for sort in [
            Sort::Relevance,
            Sort::PriceAsc,
            Sort::PriceDesc,
            Sort::RatingDesc,
            Sort::Newest,
        ] {
            let s = sort_expr(sort, false);
            assert_eq!(&s[s.len() - 2..], ["created_at_ts:desc", "id:asc"]);
        }
        assert!(sort_expr(Sort::Relevance, true).is_empty());
    }

    #[test]
    fn the_settings_payload_has_what_the_contract_needs() {
        let json = serde_json::to_value(settings()).expect("settings serialize");
        assert_eq!(
            json["searchableAttributes"],
            serde_json::json!(["title", "skus", "description"])
        );
        assert_eq!(
            json["filterableAttributes"],
            serde_json::json!([
                "category_path",
                "price_min",
                "price_bucket",
                "rating_tenths",
                "in_stock",
                "vendor_id"
            ])
        );
        assert_eq!(
            json["sortableAttributes"],
            serde_json::json!(["price_min", "rating_tenths", "created_at_ts", "id"])
        );
        assert_eq!(json["rankingRules"][0], "sort");
        assert_eq!(json["typoTolerance"]["enabled"], true);
        assert_eq!(json["typoTolerance"]["minWordSizeForTypos"]["oneTypo"], 5);
        assert_eq!(json["pagination"]["maxTotalHits"], 10_000);
        assert_eq!(json["faceting"]["maxValuesPerFacet"], 1_000);
    }

    #[test]
    fn documents_carry_created_at_as_unix_seconds_and_omit_a_missing_rating() {
        let doc = ProductDoc {
            id: "p1".into(),
            title: "Kettle".into(),
            description: String::new(),
            vendor_id: "v".into(),
            category_id: None,
            category_path: vec![],
            price_min: 1,
            price_max: 1,
            currency: "EUR".into(),
            rating_tenths: None,
            in_stock: true,
            skus: vec![],
            image_url: None,
            created_at: DateTime::from_timestamp(1_700_000_000, 0).expect("valid time"),
        };
        let json = serde_json::to_value(MeiliDoc::from(&doc)).expect("doc serializes");
        assert_eq!(json["created_at_ts"], 1_700_000_000);
        assert!(json.get("rating_tenths").is_none());
        let back: MeiliDoc = serde_json::from_value(json).expect("doc deserializes");
        assert_eq!(ProductDoc::from(back), doc);
    }

    #[test]
    fn index_uids_meilisearch_would_refuse_are_rejected_up_front() {
        assert!(MeiliSearch::new("http://127.0.0.1:1", None, "products").is_ok());
        for bad in ["", "a b", "a/b"] {
            assert!(matches!(
                MeiliSearch::new("http://127.0.0.1:1", None, bad),
                Err(InvalidMeiliConfig::IndexUid)
            ));
        }
    }
}
