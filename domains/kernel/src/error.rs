use serde::{Deserialize, Serialize};

/// How an error should be treated by a caller; the edge maps each kind to one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input is malformed or violates a rule (400 / 422).
    Invalid,
    /// Authentication is missing or wrong (401).
    Unauthenticated,
    /// The principal may not act on this object (403).
    Forbidden,
    /// The object does not exist (404).
    NotFound,
    /// The object's state forbids the action, or a concurrent change won (409).
    Conflict,
    /// A dependency is down or a deadline passed; retrying may help (503).
    Unavailable,
    /// A bug; details are in the logs, never in the reply (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status the edge answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 422,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// The inverse of [`ErrorKind::http_status`], used when an error crosses NATS as a status code.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            400 | 413 | 415 | 422 => ErrorKind::Invalid,
            401 => ErrorKind::Unauthenticated,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            503 | 504 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}

/// A domain error: a stable machine-readable code plus a kind. Codes are part of the public API
/// (`cart.quantity_out_of_range`); never rename one.
pub trait DomainError: std::error::Error {
    fn code(&self) -> &'static str;
    fn kind(&self) -> ErrorKind;
    fn to_body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_string(),
            message: self.to_string(),
            kind: self.kind(),
        }
    }
}

/// The wire form of an error, on NATS and over HTTP: `{"code","message"}` (plus the kind).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub kind: ErrorKind,
}

impl ErrorBody {
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.into(),
            message: message.into(),
            kind,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "internal", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, "unavailable", message)
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}
