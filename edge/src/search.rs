//! `/store/search`: full-text product search with filters, facets, sorting and paging.

use agora_search::{SearchIndex, SearchQuery, SearchResult, Sort, MAX_PER_PAGE};
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiErrorBody, Json, Query};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/store/search", get(search))
}

/// Query parameters of `/store/search`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words to find in titles, SKUs and descriptions; typos are tolerated.
    pub q: Option<String>,
    /// A category id; its subcategories match too.
    pub category: Option<String>,
    /// Lowest price, minor units (cents).
    #[param(minimum = 0)]
    pub price_min: Option<i64>,
    /// Highest price, minor units (cents); not below `price_min`.
    #[param(minimum = 0)]
    pub price_max: Option<i64>,
    /// Minimum rating in stars, `0`–`5`, one decimal at most (`4.5`).
    #[param(pattern = "^([0-4](\\.[0-9])?|5(\\.0)?)$")]
    pub rating_min: Option<String>,
    /// Only products that can be bought now.
    pub in_stock: Option<bool>,
    /// `relevance` (default), `price_asc`, `price_desc`, `rating`, `newest`.
    #[param(pattern = "^(relevance|price_asc|price_desc|rating|newest)$")]
    pub sort: Option<String>,
    /// 1-based page (default 1); `page * per_page` is at most 10 000.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Results per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// Parses a star rating with at most one decimal into tenths, without floating point.
fn rating_tenths(raw: &str) -> Result<i32, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "search.invalid_query",
            "rating_min is 0-5 with at most one decimal",
        )
    };
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, "0"));
    if whole.is_empty() || whole.len() > 1 || frac.len() != 1 {
        return Err(invalid());
    }
    let whole: i32 = whole.parse().map_err(|_| invalid())?;
    let frac: i32 = frac.parse().map_err(|_| invalid())?;
    let tenths = whole * 10 + frac;
    if (0..=50).contains(&tenths) {
        Ok(tenths)
    } else {
        Err(invalid())
    }
}

fn sort(raw: Option<&str>) -> Result<Sort, ApiError> {
    Ok(match raw.unwrap_or("relevance") {
        "relevance" => Sort::Relevance,
        "price_asc" => Sort::PriceAsc,
        "price_desc" => Sort::PriceDesc,
        "rating" => Sort::RatingDesc,
        "newest" => Sort::Newest,
        _ => {
            return Err(ApiError::bad_request(
                "search.invalid_query",
                "sort is one of relevance, price_asc, price_desc, rating, newest",
            ))
        }
    })
}

/// Search the published catalog.
#[utoipa::path(get, path = "/store/search", tag = "storefront", params(SearchParams),
    responses((status = 200, description = "hits, exact total, facets (category counts, price ranges)", body = Object),
              (status = 400, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResult>, ApiError> {
    let query = SearchQuery {
        q: params.q.filter(|q| !q.trim().is_empty()),
        category: params.category,
        price_min: params.price_min,
        price_max: params.price_max,
        rating_min_tenths: params
            .rating_min
            .as_deref()
            .map(rating_tenths)
            .transpose()?,
        in_stock: params.in_stock,
        sort: sort(params.sort.as_deref())?,
        page: params.page.unwrap_or(1),
        per_page: params.per_page.unwrap_or(20).min(MAX_PER_PAGE + 1),
    };
    query
        .validate()
        .map_err(|e| ApiError::from(agora_kernel::DomainError::to_body(&e)))?;
    let result = state
        .search
        .search(&query)
        .await
        .map_err(|e| ApiError::from(agora_kernel::DomainError::to_body(&e)))?;
    Ok(Json(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_parse_to_tenths_without_floats() {
        assert_eq!(rating_tenths("4.5").ok(), Some(45));
        assert_eq!(rating_tenths("3").ok(), Some(30));
        assert_eq!(rating_tenths("0.0").ok(), Some(0));
        for bad in ["5.5", "-1", "4.55", "", ".5", "x", "10"] {
            assert!(rating_tenths(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sorts_have_stable_names() {
        assert_eq!(sort(None).ok(), Some(Sort::Relevance));
        assert_eq!(sort(Some("price_desc")).ok(), Some(Sort::PriceDesc));
        assert!(sort(Some("cheapest")).is_err());
    }
}
