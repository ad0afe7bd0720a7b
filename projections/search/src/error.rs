//! The one error type of the crate and how backend errors are classified.
//!
//! Codes are part of the public API; never rename one:
//! - `search.invalid_query` (Invalid): the query breaks a rule of [`crate::SearchQuery::validate`];
//! - `search.invalid_document` (Invalid): a document breaks a rule of [`crate::ProductDoc::validate`];
//! - `search.unavailable` (Unavailable): a backend could not be reached or did not answer in
//!   time; retrying may help, and [`crate::Search`] answers from Postgres instead;
//! - `search.internal` (Internal): anything else; details are in the logs, never in the message.

use std::time::Duration;

use agora_kernel::{DomainError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("invalid search query: {0}")]
    Invalid(#[from] InvalidQuery),
    #[error("invalid product document {id:?}: {reason}")]
    InvalidDocument { id: String, reason: InvalidDocument },
    #[error("search is temporarily unavailable")]
    Unavailable(#[source] BackendError),
    #[error("search failed")]
    Internal(#[source] BackendError),
}

/// Why a query was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidQuery {
    #[error("per_page must be between 1 and 100")]
    PerPageOutOfRange,
    #[error("page starts at 1")]
    PageZero,
    #[error("page * per_page must not exceed 10000")]
    PageTooDeep,
    #[error("prices must not be negative")]
    NegativePrice,
    #[error("price_min must not exceed price_max")]
    PriceRangeInverted,
    #[error("rating_min_tenths must be between 0 and 50")]
    RatingOutOfRange,
    #[error("q must not exceed 200 characters")]
    QueryTooLong,
    #[error("category must be a category id (1 to 100 of A-Z a-z 0-9 - _ . :)")]
    BadCategory,
}

/// Why a document was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDocument {
    #[error("id must be 1 to 511 bytes of A-Z a-z 0-9 - _")]
    BadId,
    #[error("prices must not be negative")]
    NegativePrice,
    #[error("price_min must not exceed price_max")]
    PriceRangeInverted,
    #[error("rating_tenths must be between 0 and 50")]
    RatingOutOfRange,
    #[error("category_path entries must be 1 to 64 characters without control characters")]
    BadCategoryPath,
}

/// What went wrong inside a backend; only ever logged, never shown to a user.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("postgres: {0}")]
    Postgres(#[source] sqlx::Error),
    #[error("meilisearch: {0}")]
    Meili(#[source] meilisearch_sdk::errors::Error),
    #[error("meilisearch task {uid} failed: {code}: {message}")]
    MeiliTask {
        uid: u32,
        code: String,
        message: String,
    },
    #[error("meilisearch did not answer within {0:?}")]
    MeiliTimeout(Duration),
    #[error("meilisearch answered without {0}")]
    MeiliMissing(&'static str),
}

impl DomainError for SearchError {
    fn code(&self) -> &'static str {
        match self {
            SearchError::Invalid(_) => "search.invalid_query",
            SearchError::InvalidDocument { .. } => "search.invalid_document",
            SearchError::Unavailable(_) => "search.unavailable",
            SearchError::Internal(_) => "search.internal",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            SearchError::Invalid(_) | SearchError::InvalidDocument { .. } => ErrorKind::Invalid,
            SearchError::Unavailable(_) => ErrorKind::Unavailable,
            SearchError::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl SearchError {
    /// The stable code (see the module doc), without importing [`DomainError`].
    pub fn code(&self) -> &'static str {
        DomainError::code(self)
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, SearchError::Unavailable(_))
    }
}

impl From<sqlx::Error> for SearchError {
    /// Connection trouble, exhausted resources and serialization conflicts are worth a retry;
    /// everything else is a bug or a broken schema.
    fn from(e: sqlx::Error) -> Self {
        let transient = match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|c| {
                // 08: connection exception, 53: insufficient resources, 57: operator
                // intervention (shutdown, cancel), 40001/40P01: serialization failure, deadlock.
                c.starts_with("08")
                    || c.starts_with("53")
                    || c.starts_with("57")
                    || c == "40001"
                    || c == "40P01"
            }),
            _ => false,
        };
        if transient {
            SearchError::Unavailable(BackendError::Postgres(e))
        } else {
            SearchError::Internal(BackendError::Postgres(e))
        }
    }
}

impl From<meilisearch_sdk::errors::Error> for SearchError {
    /// Transport failures, 5xx and 429 answers and task-wait timeouts mean "try again or ask
    /// Postgres"; an answer Meilisearch refused (bad key, missing index, bad filter) is a bug or
    /// a misconfiguration.
    fn from(e: meilisearch_sdk::errors::Error) -> Self {
        use meilisearch_sdk::errors::{Error, ErrorType};
        let transient = match &e {
            Error::HttpError(http) => !http.is_builder() && !http.is_decode(),
            Error::MeilisearchCommunication(c) => c.status_code >= 500 || c.status_code == 429,
            Error::Meilisearch(m) => m.error_type == ErrorType::Internal,
            Error::Timeout => true,
            _ => false,
        };
        if transient {
            SearchError::Unavailable(BackendError::Meili(e))
        } else {
            SearchError::Internal(BackendError::Meili(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_maps_to_its_stable_code_and_kind() {
        let cases = [
            (
                SearchError::Invalid(InvalidQuery::PageZero),
                "search.invalid_query",
                ErrorKind::Invalid,
            ),
            (
                SearchError::InvalidDocument {
                    id: "p".into(),
                    reason: InvalidDocument::BadId,
                },
                "search.invalid_document",
                ErrorKind::Invalid,
            ),
            (
                SearchError::Unavailable(BackendError::MeiliTimeout(Duration::from_secs(1))),
                "search.unavailable",
                ErrorKind::Unavailable,
            ),
            (
                SearchError::Internal(BackendError::MeiliMissing("totalHits")),
                "search.internal",
                ErrorKind::Internal,
            ),
        ];
        for (err, code, kind) in cases {
            let body = err.to_body();
            assert_eq!((body.code.as_str(), body.kind), (code, kind));
        }
    }

    #[test]
    fn backend_details_never_reach_the_message() {
        let err = SearchError::Internal(BackendError::MeiliTask {
            uid: 7,
            code: "invalid_api_key".into(),
            message: "secret detail".into(),
        });
        assert_eq!(err.to_body().message, "search failed");
    }

    #[test]
    fn a_pool_timeout_is_unavailable_and_a_bad_column_is_internal() {
        assert!(SearchError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!SearchError::from(sqlx::Error::ColumnNotFound("x".into())).is_unavailable());
    }

    #[test]
    fn a_task_wait_timeout_is_unavailable() {
        assert!(SearchError::from(meilisearch_sdk::errors::Error::Timeout).is_unavailable());
        assert!(
            !SearchError::from(meilisearch_sdk::errors::Error::InvalidRequest).is_unavailable()
        );
    }
}
