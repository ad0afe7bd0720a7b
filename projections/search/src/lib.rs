//! Product search: the read model the storefront queries for "find me a kettle under 50 EUR".
//!
//! One contract ([`SearchIndex`]) with two backends:
//! - [`PgSearch`] (the default): a table with a generated `tsvector` and a vocabulary of its
//!   words for typo tolerance, so search works with nothing but the Postgres the platform
//!   already runs;
//! - [`MeiliSearch`]: a Meilisearch v1.x index, better relevance at scale.
//!
//! [`Search`] holds the Postgres backend and, when configured, the Meilisearch one: writes go to
//! both, reads go to Meilisearch and fall back to Postgres when it cannot answer.
//!
//! Invariants (the conformance suite in `tests/conformance.rs` checks them on both backends):
//! - a query is validated ([`SearchQuery::validate`]) before any backend sees it, so both reject
//!   the same inputs with `search.invalid_query`;
//! - filters are exact; `total` and the facet counts describe the whole filtered set, not the page;
//! - with no words and [`Sort::Relevance`] the order is newest first, then id, so paging is stable;
//!   every sort ends with the same tie-breakers (`created_at` descending, then `id`);
//! - a query word of five letters or more matches a word with one typo (nine or more: two; a
//!   typo is an inserted, deleted, replaced or swapped letter), as Meilisearch's defaults do;
//!   an exact match in the title (or a SKU) ranks before a match found only in the description;
//! - user input never becomes SQL text or Meilisearch filter syntax: Postgres gets bound
//!   parameters, and the only user string put in a Meilisearch filter (a category id) is
//!   restricted to `[A-Za-z0-9_.:-]` by validation and quoted anyway;
//! - every [`SearchIndex`] write to Meilisearch waits for its task (30 s by default) and a failed
//!   task is an error, so a write that returned `Ok` is searchable; the projection's pipelined
//!   writes ([`MeiliSearch::enqueue_upsert`]) confirm their tasks with
//!   [`MeiliSearch::task_state`] before they count as done.
//!
//! Relevance, the same rules on both backends (details in `meili.rs` and `pg.rs`): every query
//! word must match (typos as above); a product whose title (or a SKU) holds every word ranks
//! before one that needs its description; then fewer typos; Postgres then prefers the shorter
//! title and Meilisearch closer words and exact matches; ties go to the newest, then the id.
//! The relevance set in `tests/conformance.rs` (65 queries that name one product) checks that
//! both backends put that product first.
//!
//! Money is integer minor units of the document's currency (see `agora_kernel::Money`); prices
//! of different currencies are not converted: a catalog is expected to hold one currency.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod error;
mod fallback;
mod meili;
mod meili_http;
mod pg;
mod text;

pub use error::{BackendError, InvalidDocument, InvalidQuery, SearchError};
pub use fallback::{Search, SearchRebuild};
pub use meili::{InvalidMeiliConfig, MeiliRebuild, MeiliSearch, TaskId, TaskState};
pub use pg::{InvalidTableName, PgRebuild, PgSearch, DEFAULT_TABLE};

/// The largest page a caller may ask for.
pub const MAX_PER_PAGE: u32 = 100;
/// How deep paging may go (`page * per_page`); Meilisearch's `maxTotalHits` is set to the same.
pub const MAX_RESULT_WINDOW: u32 = 10_000;
/// The longest accepted query text, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The longest accepted category id, in characters.
pub const MAX_CATEGORY_CHARS: usize = 100;
/// Lower bounds (minor units, inclusive) of the fixed price buckets; each bucket ends where the
/// next begins and the last is open. Buckets count documents by `price_min`.
pub const PRICE_BUCKET_BOUNDS: [i64; 6] = [0, 1_000, 2_500, 5_000, 10_000, 25_000];

/// One product as search sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDoc {
    /// The product id; `[A-Za-z0-9_-]`, at most 511 bytes (Meilisearch's rule for document ids,
    /// enforced for both backends so they accept the same documents).
    pub id: String,
    pub title: String,
    pub description: String,
    pub vendor_id: String,
    /// The leaf category, if the product is categorised.
    pub category_id: Option<String>,
    /// Category ids from the root to the leaf; a category filter matches any level.
    pub category_path: Vec<String>,
    /// The cheapest variant, in minor units: what price filters, buckets and sorts use.
    pub price_min: i64,
    /// The dearest variant, in minor units.
    pub price_max: i64,
    /// ISO-4217 code of both prices.
    pub currency: String,
    /// Average rating in tenths of a star (0..=50); `None` when nobody has rated it yet.
    pub rating_tenths: Option<i32>,
    pub in_stock: bool,
    /// SKU codes of the variants; searchable like the title.
    pub skus: Vec<String>,
    pub image_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl ProductDoc {
    /// Checks what both backends need of a document (see [`InvalidDocument`]).
    pub fn validate(&self) -> Result<(), SearchError> {
        let invalid = |reason| {
            Err(SearchError::InvalidDocument {
                id: self.id.clone(),
                reason,
            })
        };
        if self.id.is_empty()
            || self.id.len() > 511
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return invalid(InvalidDocument::BadId);
        }
        if self.price_min < 0 || self.price_max < 0 {
            return invalid(InvalidDocument::NegativePrice);
        }
        if self.price_min > self.price_max {
            return invalid(InvalidDocument::PriceRangeInverted);
        }
        if matches!(self.rating_tenths, Some(r) if !(0..=50).contains(&r)) {
            return invalid(InvalidDocument::RatingOutOfRange);
        }
        if self
            .category_path
            .iter()
            .any(|c| !(1..=64).contains(&c.chars().count()) || c.chars().any(char::is_control))
        {
            return invalid(InvalidDocument::BadCategoryPath);
        }
        Ok(())
    }
}

/// The order of the hits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first; with no query words, newest first.
    #[default]
    Relevance,
    /// Cheapest `price_min` first.
    PriceAsc,
    /// Dearest `price_min` first.
    PriceDesc,
    /// Best rated first; unrated products last.
    RatingDesc,
    /// Newest `created_at` first.
    Newest,
}

/// What a shopper asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Words to look for in title, SKUs and description; blank means "everything".
    pub q: Option<String>,
    /// A category id; matches products with that id anywhere on their `category_path`.
    pub category: Option<String>,
    /// Inclusive lower bound on `price_min`, minor units.
    pub price_min: Option<i64>,
    /// Inclusive upper bound on `price_min`, minor units.
    pub price_max: Option<i64>,
    /// Only products rated at least this many tenths of a star (unrated ones are excluded).
    pub rating_min_tenths: Option<i32>,
    pub in_stock: Option<bool>,
    pub sort: Sort,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            q: None,
            category: None,
            price_min: None,
            price_max: None,
            rating_min_tenths: None,
            in_stock: None,
            sort: Sort::Relevance,
            page: 1,
            per_page: 20,
        }
    }
}

impl SearchQuery {
    /// Rejects what no backend should see; every backend calls this first.
    pub fn validate(&self) -> Result<(), SearchError> {
        let fail = |reason| Err(SearchError::Invalid(reason));
        if self.per_page == 0 || self.per_page > MAX_PER_PAGE {
            return fail(InvalidQuery::PerPageOutOfRange);
        }
        if self.page == 0 {
            return fail(InvalidQuery::PageZero);
        }
        if u64::from(self.page) * u64::from(self.per_page) > u64::from(MAX_RESULT_WINDOW) {
            return fail(InvalidQuery::PageTooDeep);
        }
        if self.price_min.is_some_and(|p| p < 0) || self.price_max.is_some_and(|p| p < 0) {
            return fail(InvalidQuery::NegativePrice);
        }
        if let (Some(min), Some(max)) = (self.price_min, self.price_max) {
            if min > max {
                return fail(InvalidQuery::PriceRangeInverted);
            }
        }
        if self
            .rating_min_tenths
            .is_some_and(|r| !(0..=50).contains(&r))
        {
            return fail(InvalidQuery::RatingOutOfRange);
        }
        if self
            .q
            .as_ref()
            .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
        {
            return fail(InvalidQuery::QueryTooLong);
        }
        if let Some(category) = &self.category {
            let ok = !category.is_empty()
                && category.chars().count() <= MAX_CATEGORY_CHARS
                && category
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
            if !ok {
                return fail(InvalidQuery::BadCategory);
            }
        }
        Ok(())
    }

    /// The query text with surrounding blanks removed, or `None` when there is nothing to match.
    pub fn text(&self) -> Option<&str> {
        self.q.as_deref().map(str::trim).filter(|q| !q.is_empty())
    }

    /// Number of hits to skip before this page.
    pub(crate) fn offset(&self) -> u32 {
        (self.page.saturating_sub(1)).saturating_mul(self.per_page)
    }
}

/// The index in [`PRICE_BUCKET_BOUNDS`] of the bucket holding `price` (a negative price, which
/// validation refuses, counts as the first).
pub fn price_bucket(price: i64) -> usize {
    PRICE_BUCKET_BOUNDS
        .iter()
        .rposition(|&min| price >= min)
        .unwrap_or(0)
}

/// How many matching products have a `price_min` in `[min, max)` (`max: None` is unbounded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBucket {
    pub min: i64,
    pub max: Option<i64>,
    pub count: u64,
}

impl PriceBucket {
    /// The six fixed buckets, all with count 0, in ascending order.
    pub fn empty_buckets() -> Vec<PriceBucket> {
        PRICE_BUCKET_BOUNDS
            .iter()
            .enumerate()
            .map(|(i, &min)| PriceBucket {
                min,
                max: PRICE_BUCKET_BOUNDS.get(i + 1).copied(),
                count: 0,
            })
            .collect()
    }

    pub fn contains(&self, price: i64) -> bool {
        price >= self.min && self.max.is_none_or(|max| price < max)
    }
}

/// Counts over the whole filtered set, for the storefront's filter sidebar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facets {
    /// Every category id on the matching products' paths, with how many products carry it.
    pub categories: BTreeMap<String, u64>,
    /// Always the six buckets of [`PRICE_BUCKET_BOUNDS`], in order.
    pub price_ranges: Vec<PriceBucket>,
}

/// One page of hits plus the totals of the whole match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    pub hits: Vec<ProductDoc>,
    /// Exact number of matches (for Meilisearch: exact up to `MAX_RESULT_WINDOW`).
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub facets: Facets,
}

/// A search backend. Generic-friendly (no `dyn`): the futures are `Send` so callers can spawn them.
///
/// Writes are idempotent (an upsert replaces the whole document, a delete of a missing id is not
/// an error), so a projection that gets an error simply retries the batch.
pub trait SearchIndex: Send + Sync {
    /// A fresh, empty target filled by [`SearchIndex::upsert_into`] during a rebuild.
    type Rebuild: Send + Sync;

    /// Creates the table or index and applies its settings; safe to call on every start.
    fn ensure(&self) -> impl Future<Output = Result<(), SearchError>> + Send;

    /// Inserts or replaces whole documents.
    fn upsert(&self, docs: &[ProductDoc]) -> impl Future<Output = Result<(), SearchError>> + Send;

    /// Removes documents; unknown ids are ignored.
    fn delete(&self, ids: &[String]) -> impl Future<Output = Result<(), SearchError>> + Send;

    /// Sets `in_stock` of existing products (product id, in stock); unknown ids are ignored.
    fn set_in_stock(
        &self,
        stock: &[(String, bool)],
    ) -> impl Future<Output = Result<(), SearchError>> + Send;

    /// Validates the query, then answers one page plus totals and facets.
    fn search(
        &self,
        query: &SearchQuery,
    ) -> impl Future<Output = Result<SearchResult, SearchError>> + Send;

    /// Creates a fresh, empty target beside the live one (dropping a stale target of an
    /// earlier, unfinished rebuild).
    fn begin_rebuild(&self) -> impl Future<Output = Result<Self::Rebuild, SearchError>> + Send;

    /// Inserts or replaces documents in the rebuild target.
    fn upsert_into(
        &self,
        target: &Self::Rebuild,
        docs: &[ProductDoc],
    ) -> impl Future<Output = Result<(), SearchError>> + Send;

    /// Atomically replaces the live data with the target's and drops the old data. Writes made
    /// to the live index during the rebuild are lost, so the caller replays from a checkpoint
    /// taken before it began.
    fn finish_rebuild(
        &self,
        target: Self::Rebuild,
    ) -> impl Future<Output = Result<(), SearchError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> SearchQuery {
        SearchQuery::default()
    }

    fn rejected(q: SearchQuery) -> InvalidQuery {
        match q.validate() {
            Err(SearchError::Invalid(reason)) => reason,
            other => panic!("expected an invalid query, got {other:?}"),
        }
    }

    #[test]
    fn the_default_query_is_valid() {
        assert!(query().validate().is_ok());
    }

    #[test]
    fn page_sizes_outside_one_to_a_hundred_are_rejected() {
        for per_page in [0, MAX_PER_PAGE + 1] {
            let q = SearchQuery {
                per_page,
                ..query()
            };
            assert_eq!(rejected(q), InvalidQuery::PerPageOutOfRange);
        }
        let q = SearchQuery {
            per_page: MAX_PER_PAGE,
            ..query()
        };
        assert!(q.validate().is_ok());
    }

    #[test]
    fn page_zero_and_paging_past_ten_thousand_hits_are_rejected() {
        assert_eq!(
            rejected(SearchQuery { page: 0, ..query() }),
            InvalidQuery::PageZero
        );
        let deepest = SearchQuery {
            page: 100,
            per_page: 100,
            ..query()
        };
        assert!(deepest.validate().is_ok());
        let too_deep = SearchQuery {
            page: 101,
            ..deepest
        };
        assert_eq!(rejected(too_deep), InvalidQuery::PageTooDeep);
        let huge = SearchQuery {
            page: u32::MAX,
            per_page: 100,
            ..query()
        };
        assert_eq!(rejected(huge), InvalidQuery::PageTooDeep);
    }

    #[test]
    fn negative_and_inverted_price_ranges_are_rejected() {
        let q = SearchQuery {
            price_min: Some(-1),
            ..query()
        };
        assert_eq!(rejected(q), InvalidQuery::NegativePrice);
        let q = SearchQuery {
            price_min: Some(500),
            price_max: Some(499),
            ..query()
        };
        assert_eq!(rejected(q), InvalidQuery::PriceRangeInverted);
    }

    #[test]
    fn ratings_outside_zero_to_fifty_tenths_are_rejected() {
        for r in [-1, 51] {
            let q = SearchQuery {
                rating_min_tenths: Some(r),
                ..query()
            };
            assert_eq!(rejected(q), InvalidQuery::RatingOutOfRange);
        }
    }

    #[test]
    fn a_query_longer_than_two_hundred_characters_is_rejected() {
        let q = SearchQuery {
            q: Some("é".repeat(MAX_QUERY_CHARS)),
            ..query()
        };
        assert!(
            q.validate().is_ok(),
            "the limit counts characters, not bytes"
        );
        let q = SearchQuery {
            q: Some("a".repeat(MAX_QUERY_CHARS + 1)),
            ..query()
        };
        assert_eq!(rejected(q), InvalidQuery::QueryTooLong);
    }

    #[test]
    fn a_category_that_is_not_an_id_is_rejected() {
        for bad in ["", "kitchen\" OR in_stock = true", "a b", &"x".repeat(101)] {
            let q = SearchQuery {
                category: Some(bad.to_string()),
                ..query()
            };
            assert_eq!(rejected(q), InvalidQuery::BadCategory, "{bad:?}");
        }
    }

    #[test]
    fn invalid_queries_carry_the_stable_code() {
        use agora_kernel::{DomainError, ErrorKind};
        let err = SearchQuery { page: 0, ..query() }
            .validate()
            .expect_err("page 0 is invalid");
        let body = err.to_body();
        assert_eq!(body.code, "search.invalid_query");
        assert_eq!(body.kind, ErrorKind::Invalid);
    }

    #[test]
    fn price_buckets_cover_every_non_negative_price_exactly_once() {
        let buckets = PriceBucket::empty_buckets();
        assert_eq!(buckets.len(), 6);
        for price in [
            0,
            999,
            1_000,
            2_499,
            2_500,
            9_999,
            10_000,
            24_999,
            25_000,
            i64::MAX,
        ] {
            assert_eq!(
                buckets.iter().filter(|b| b.contains(price)).count(),
                1,
                "{price}"
            );
        }
        assert!(buckets.iter().all(|b| !b.contains(-1)));
        for price in [0, 999, 1_000, 2_500, 24_999, 25_000, i64::MAX] {
            assert!(buckets[price_bucket(price)].contains(price), "{price}");
        }
    }

    #[test]
    fn documents_with_ids_meilisearch_would_refuse_are_rejected() {
        let doc = ProductDoc {
            id: "p-1".into(),
            title: "t".into(),
            description: String::new(),
            vendor_id: "v".into(),
            category_id: None,
            category_path: vec![],
            price_min: 1,
            price_max: 2,
            currency: "EUR".into(),
            rating_tenths: Some(50),
            in_stock: true,
            skus: vec![],
            image_url: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        assert!(doc.validate().is_ok());
        for id in ["", "a b", "a/b", "é"] {
            let bad = ProductDoc {
                id: id.into(),
                ..doc.clone()
            };
            assert!(matches!(
                bad.validate(),
                Err(SearchError::InvalidDocument {
                    reason: InvalidDocument::BadId,
                    ..
                })
            ));
        }
        let bad = ProductDoc {
            rating_tenths: Some(51),
            ..doc.clone()
        };
        assert!(bad.validate().is_err());
        let bad = ProductDoc {
            price_min: 3,
            ..doc
        };
        assert!(bad.validate().is_err());
    }
}
