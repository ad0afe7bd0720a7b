//! Parsing of path and query parameters shared by the routes: ids, paging and search text.
//!
//! A malformed path id is a `400 request.invalid_id` and a malformed query a
//! `400 request.invalid_query`, decided here before any IO.

use agora_kernel::Sku;
use agora_nats::subjects;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::ApiError;

/// Largest page of a list.
pub const MAX_LIMIT: i64 = 100;
/// Page size when the client names none.
pub const DEFAULT_LIMIT: i64 = 50;
/// Longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// What [`sku`] accepts, as the OpenAPI document states it.
pub const SKU_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// What [`category_id`] accepts.
pub const CATEGORY_ID_PATTERN: &str = "^[a-z0-9-]{1,64}$";
/// One NATS subject token (an audited stream's type or id).
pub const SUBJECT_TOKEN_PATTERN: &str = "^[A-Za-z0-9_-]{1,128}$";

fn invalid_id(message: &str) -> ApiError {
    ApiError::bad_request("request.invalid_id", message)
}

pub fn invalid_query(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("request.invalid_query", message)
}

/// A UUID path id in its canonical form (lower-case, hyphenated), so one object never has two
/// spellings; `what` names the id in the error.
pub fn uuid_id(raw: &str, what: &str) -> Result<String, ApiError> {
    // Only the hyphenated form (any case), which is what `format: uuid` means; the braced,
    // URN and bare-hex spellings `Uuid::parse_str` also reads are not in the contract.
    Some(raw)
        .filter(|r| r.len() == 36)
        .and_then(|r| Uuid::parse_str(r).ok())
        .map(|u| u.hyphenated().to_string())
        .ok_or_else(|| invalid_id(&format!("a {what} id is a UUID")))
}

/// A product id: a UUID.
pub fn product_id(raw: &str) -> Result<String, ApiError> {
    uuid_id(raw, "product")
}

/// A category id: a slug of 1 to 64 characters of `a-z 0-9 -`.
pub fn category_id(raw: &str) -> Result<String, ApiError> {
    if agora_catalog::is_category_id(raw) {
        Ok(raw.to_string())
    } else {
        Err(invalid_id(
            "a category id is 1 to 64 characters of a-z, 0-9 or '-'",
        ))
    }
}

/// A SKU: 1 to 64 characters of `A-Z a-z 0-9 _ -`. It names a stock stream, so it must also be
/// one subject token; checking both keeps a SKU the kernel accepts but NATS cannot route out.
pub fn sku(raw: &str) -> Result<Sku, ApiError> {
    Sku::parse(raw)
        .ok()
        .filter(|s| subjects::is_token(s.as_str()))
        .ok_or_else(|| invalid_id("a SKU is 1 to 64 characters of letters, digits, '_' or '-'"))
}

/// A `status` filter of a list: a status name (`packing`, `requested`, `partially_shipped`),
/// 1 to 32 of `a-z` and `_`; absent, no filter.
pub fn status_name(raw: &Option<String>) -> Result<Option<&str>, ApiError> {
    match raw.as_deref() {
        None => Ok(None),
        Some(s)
            if !s.is_empty()
                && s.len() <= 32
                && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
        {
            Ok(Some(s))
        }
        Some(_) => Err(invalid_query(
            "status is a status name such as `confirmed` or `requested`",
        )),
    }
}

/// `LIMIT` and `OFFSET` of a page: limit 1–100 (default 50), offset at least 0 (default 0).
pub fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid_query(format!("limit must be 1-{MAX_LIMIT}")));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(invalid_query("offset must be 0 or more"));
    }
    Ok((limit, offset))
}

/// A `LIKE`/`ILIKE` pattern matching `text` anywhere, with `text` taken literally: the
/// wildcards `%` and `_` and the escape character `\` itself are escaped (Postgres's default
/// escape is `\`; the queries also say `ESCAPE '\'` so that does not depend on settings).
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Search text as the client typed it, trimmed; `None` when blank.
pub fn search_text(q: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid_query(format!(
            "q is at most {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(Some(q.to_string()))
}

/// Whether the request declares a JSON body: `application/json` or `application/<x>+json`,
/// with any parameters (what axum's `Json` extractor accepts).
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// A body that may be absent (or blank); when present it must be `T`'s JSON object, sent as
/// JSON (`415 request.unsupported_media_type` otherwise, as the `Json` extractor answers).
pub fn optional_body<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !is_json_content_type(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            "expected Content-Type: application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request("request.malformed_json", e.to_string())
        } else {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "request.invalid_body",
                e.to_string(),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: ApiError) -> String {
        e.body.code
    }

    #[test]
    fn an_optional_body_must_be_sent_as_json() {
        #[derive(serde::Deserialize, Default)]
        struct Note {
            #[allow(dead_code)]
            note: Option<String>,
        }
        let json = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().expect("a header"));
            h
        };
        let body = Bytes::from_static(br#"{"note":"x"}"#);
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(optional_body::<Note>(&json(ok), &body).is_ok(), "{ok}");
        }
        for bad in [
            json("text/plain"),
            json("application/x-www-form-urlencoded"),
            HeaderMap::new(),
        ] {
            let e = optional_body::<Note>(&bad, &body).err().expect("refused");
            assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert_eq!(code(e), "request.unsupported_media_type");
        }
        // No body at all needs no content type.
        assert!(optional_body::<Note>(&HeaderMap::new(), &Bytes::new()).is_ok());
    }

    #[test]
    fn product_ids_are_uuids_in_canonical_form() {
        let id = "5F0C6A0E-8B1D-4C52-9E3A-0B6B8C8F9A11";
        assert_eq!(
            product_id(id).expect("a UUID"),
            "5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11"
        );
        for bad in [
            "",
            "42",
            "not-a-uuid",
            "5f0c6a0e-8b1d-4c52-9e3a",
            "5f0c6a0e8b1d4c529e3a0b6b8c8f9a11",
            "{5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11}",
            "urn:uuid:5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11",
        ] {
            let e = product_id(bad).expect_err(bad);
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert_eq!(code(e), "request.invalid_id");
        }
    }

    #[test]
    fn category_ids_are_lower_case_slugs() {
        assert_eq!(category_id("mens-shirts-2").expect("slug"), "mens-shirts-2");
        let too_long = "a".repeat(65);
        for bad in ["", "Mens", "mens_shirts", "a.b", "a b", too_long.as_str()] {
            assert_eq!(code(category_id(bad).expect_err(bad)), "request.invalid_id");
        }
        assert!(category_id(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn skus_are_subject_safe() {
        assert_eq!(sku("TSHIRT-red_M1").expect("sku").as_str(), "TSHIRT-red_M1");
        let too_long = "x".repeat(65);
        for bad in ["", "A.B", "a/b", "has space", "a*", "a>", too_long.as_str()] {
            assert_eq!(code(sku(bad).expect_err(bad)), "request.invalid_id");
        }
    }

    #[test]
    fn the_documented_patterns_say_what_the_parsers_accept() {
        let matches = |pattern: &str, s: &str| {
            // The patterns are one character class with a length: check them by hand rather
            // than pull in a regex engine.
            let class = &pattern[2..pattern.find(']').expect("a class")];
            let allowed = |c: char| {
                c.is_ascii_digit()
                    || (class.contains("a-z") && c.is_ascii_lowercase())
                    || (class.contains("A-Z") && c.is_ascii_uppercase())
                    || (class.contains('_') && c == '_')
                    || c == '-'
            };
            let max: usize = pattern
                [pattern.find(',').expect("a max") + 1..pattern.find('}').expect("}")]
                .parse()
                .expect("a number");
            !s.is_empty() && s.len() <= max && s.chars().all(allowed)
        };
        let long = "a".repeat(65);
        for s in [
            "TSHIRT-red_M1",
            "a",
            "A.B",
            "",
            "ä",
            "has space",
            long.as_str(),
            "mens-2",
            "Mens",
        ] {
            assert_eq!(matches(SKU_PATTERN, s), sku(s).is_ok(), "sku {s:?}");
            assert_eq!(
                matches(CATEGORY_ID_PATTERN, s),
                category_id(s).is_ok(),
                "category {s:?}"
            );
            assert_eq!(
                matches(SUBJECT_TOKEN_PATTERN, s),
                subjects::is_token(s),
                "token {s:?}"
            );
        }
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(None, None).expect("defaults"), (50, 0));
        assert_eq!(page(Some(100), Some(7)).expect("in range"), (100, 7));
        for (limit, offset) in [(Some(0), None), (Some(101), None), (None, Some(-1))] {
            assert_eq!(
                code(page(limit, offset).expect_err("out of range")),
                "request.invalid_query"
            );
        }
    }

    #[test]
    fn search_text_is_matched_literally() {
        assert_eq!(contains_pattern("tee"), "%tee%");
        assert_eq!(contains_pattern("100%"), "%100\\%%");
        assert_eq!(contains_pattern("a_b"), "%a\\_b%");
        assert_eq!(contains_pattern("c:\\x"), "%c:\\\\x%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn blank_search_text_is_no_filter() {
        assert_eq!(search_text(None).expect("none"), None);
        assert_eq!(search_text(Some("  ")).expect("blank"), None);
        assert_eq!(
            search_text(Some(" Tee ")).expect("text"),
            Some("Tee".to_string())
        );
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        assert_eq!(
            code(search_text(Some(&long)).expect_err("too long")),
            "request.invalid_query"
        );
    }
}
