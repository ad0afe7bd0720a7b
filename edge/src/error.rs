use agora_kernel::ErrorBody;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Every error the API returns: a stable `code`, a human `message`, and an HTTP status.
///
/// | status | when | example codes |
/// |---|---|---|
/// | 400 | unparsable JSON, malformed id, a NUL character | `request.malformed_json`, `request.invalid_id`, `request.nul_character` |
/// | 401 | missing or wrong credentials | `auth.missing_credentials` |
/// | 403 | not allowed | `auth.forbidden` |
/// | 404 | no such object (or not yours) | `cart.not_found` |
/// | 409 | state forbids it, or lost a race | `cart.closed`, `aggregate.contention` |
/// | 413 | body too large | `request.too_large` |
/// | 415 | a body that is not JSON | `request.unsupported_media_type` |
/// | 422 | well-formed but invalid | `request.invalid_body`, `cart.quantity_out_of_range` |
/// | 429 | a client spent its rate limit | `request.rate_limited` |
/// | 503 | a service is down or slow; details only in logs | `service.unavailable`, `service.timeout` |
/// | 500 | a bug; details only in logs | `internal` |
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ApiErrorBody,
}

/// The JSON body of an error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// Stable, documented error code.
    #[schema(example = "cart.quantity_out_of_range")]
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ApiErrorBody {
                code: code.to_string(),
                message: message.into(),
            },
        }
    }

    pub fn not_found(code: &str, message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "auth.missing_credentials",
            message,
        )
    }

    pub fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "auth.forbidden", message)
    }

    /// A dependency (a service, the database, NATS, Meilisearch, the payment provider) is down
    /// or slow. Its code stays (`service.timeout`, `search.unavailable`...), but its message
    /// is the dependency's own text (`event store: error returned from database: ...`), which
    /// goes to the log only: the client gets a fixed sentence.
    pub fn unavailable(error: ErrorBody) -> Self {
        tracing::warn!(code = %error.code, detail = %error.message, "a dependency is unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            &error.code,
            "a service is unavailable or did not answer in time; retry later (with the same \
             Idempotency-Key, a retried command applies once)",
        )
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        // Internals go to the log, never to the client.
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl From<ErrorBody> for ApiError {
    fn from(e: ErrorBody) -> Self {
        let status =
            StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return ApiError::internal(e);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return ApiError::unavailable(e);
        }
        ApiError::new(status, &e.code, e.message)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request("request.malformed_json", e.body_text())
            }
            JsonRejection::JsonDataError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "request.invalid_body",
                e.body_text(),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "request.unsupported_media_type",
                "expected Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request.too_large",
                "request body too large",
            ),
            other => ApiError::bad_request("request.malformed_json", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("request.invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("request.invalid_query", r.body_text())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// JSON extractor whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path extractor whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Query extractor whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::ErrorKind;

    #[test]
    fn a_dependency_failure_keeps_its_code_but_not_its_words() {
        let body = ErrorBody::new(
            ErrorKind::Unavailable,
            "unavailable",
            "event store: error returned from database: unsupported Unicode escape sequence",
        );
        let error = ApiError::from(body);
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.body.code, "unavailable");
        assert!(
            !error.body.message.contains("database"),
            "{}",
            error.body.message
        );
        let internal = ApiError::from(ErrorBody::internal("bad reply: expected value at line 1"));
        assert_eq!(
            (internal.body.code.as_str(), internal.body.message.as_str()),
            ("internal", "internal error")
        );
    }

    #[test]
    fn a_domain_refusal_keeps_its_message() {
        let body = ErrorBody::new(ErrorKind::Conflict, "cart.closed", "the cart is closed");
        let error = ApiError::from(body);
        assert_eq!(error.status, StatusCode::CONFLICT);
        assert_eq!(error.body.message, "the cart is closed");
    }
}
