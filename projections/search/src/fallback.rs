//! Postgres always, Meilisearch when configured: the backend the rest of the platform uses.
//!
//! Writes go to Postgres first, then to Meilisearch; a Meilisearch failure is logged, counted
//! (`agora_search_meili_write_errors_total`) and returned, so the projection retries the batch
//! (writes are idempotent, so Postgres taking the same batch twice is harmless).
//!
//! Reads go to Meilisearch when it is configured. When it cannot answer, Postgres answers
//! instead and `agora_search_fallback_total{reason}` counts it: `reason="unavailable"` for
//! connection failures and timeouts, `reason="internal"` for answers Meilisearch refused
//! (a missing index, a bad key), because a shopper is better served by Postgres's answer than by
//! an error; those are logged at error level so the misconfiguration is seen.

use tracing::Instrument;

use crate::{
    MeiliRebuild, MeiliSearch, PgRebuild, PgSearch, ProductDoc, SearchError, SearchIndex,
    SearchQuery, SearchResult,
};

/// The search the platform uses; see the module doc.
#[derive(Clone, Debug)]
pub struct Search {
    /// Always written, always able to answer: the fallback.
    pg: PgSearch,
    /// Preferred for reads when configured; written after Postgres.
    meili: Option<MeiliSearch>,
}

/// The rebuild targets of both backends.
#[derive(Debug)]
pub struct SearchRebuild {
    pg: PgRebuild,
    meili: Option<MeiliRebuild>,
}

impl Search {
    pub fn new(pg: PgSearch, meili: Option<MeiliSearch>) -> Search {
        Search { pg, meili }
    }

    /// Postgres only.
    pub fn postgres(pg: PgSearch) -> Search {
        Search { pg, meili: None }
    }

    pub fn pg(&self) -> &PgSearch {
        &self.pg
    }

    pub fn meili(&self) -> Option<&MeiliSearch> {
        self.meili.as_ref()
    }
}

/// Counts and logs a failed Meilisearch write, then hands the result on.
fn noted(op: &'static str, result: Result<(), SearchError>) -> Result<(), SearchError> {
    if let Err(e) = &result {
        metrics::counter!("agora_search_meili_write_errors_total", "op" => op).increment(1);
        let source = std::error::Error::source(e).map(ToString::to_string);
        tracing::warn!(op, error = %e, source, "meilisearch write failed");
    }
    result
}

impl SearchIndex for Search {
    type Rebuild = SearchRebuild;

    async fn ensure(&self) -> Result<(), SearchError> {
        self.pg.ensure().await?;
        match &self.meili {
            Some(m) => noted("ensure", m.ensure().await),
            None => Ok(()),
        }
    }

    async fn upsert(&self, docs: &[ProductDoc]) -> Result<(), SearchError> {
        self.pg.upsert(docs).await?;
        match &self.meili {
            Some(m) => noted("upsert", m.upsert(docs).await),
            None => Ok(()),
        }
    }

    async fn delete(&self, ids: &[String]) -> Result<(), SearchError> {
        self.pg.delete(ids).await?;
        match &self.meili {
            Some(m) => noted("delete", m.delete(ids).await),
            None => Ok(()),
        }
    }

    async fn set_in_stock(&self, stock: &[(String, bool)]) -> Result<(), SearchError> {
        self.pg.set_in_stock(stock).await?;
        match &self.meili {
            Some(m) => noted("set_in_stock", m.set_in_stock(stock).await),
            None => Ok(()),
        }
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResult, SearchError> {
        // An invalid query is the caller's mistake, not a reason to ask the other backend.
        query.validate()?;
        let Some(meili) = &self.meili else {
            return self.pg.search(query).await;
        };
        match meili.search(query).await {
            Ok(result) => Ok(result),
            Err(e) => {
                let reason = if e.is_unavailable() {
                    "unavailable"
                } else {
                    "internal"
                };
                metrics::counter!("agora_search_fallback_total", "reason" => reason).increment(1);
                let source = std::error::Error::source(&e).map(ToString::to_string);
                if e.is_unavailable() {
                    tracing::warn!(error = %e, source, "meilisearch unavailable; answering from postgres");
                } else {
                    tracing::error!(error = %e, source, "meilisearch failed; answering from postgres");
                }
                self.pg
                    .search(query)
                    .instrument(tracing::debug_span!("search.fallback", reason))
                    .await
            }
        }
    }

    async fn begin_rebuild(&self) -> Result<SearchRebuild, SearchError> {
        let pg = self.pg.begin_rebuild().await?;
        let meili = match &self.meili {
            Some(m) => Some(m.begin_rebuild().await?),
            None => None,
        };
        Ok(SearchRebuild { pg, meili })
    }

    async fn upsert_into(
        &self,
        target: &SearchRebuild,
        docs: &[ProductDoc],
    ) -> Result<(), SearchError> {
        self.pg.upsert_into(&target.pg, docs).await?;
        if let (Some(m), Some(t)) = (&self.meili, &target.meili) {
            m.upsert_into(t, docs).await?;
        }
        Ok(())
    }

    async fn finish_rebuild(&self, target: SearchRebuild) -> Result<(), SearchError> {
        self.pg.finish_rebuild(target.pg).await?;
        if let (Some(m), Some(t)) = (&self.meili, target.meili) {
            m.finish_rebuild(t).await?;
        }
        Ok(())
    }
}
