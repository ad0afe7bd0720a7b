//! The pages' way to the services: the edge's own JSON routes, called in process.
//!
//! Each page action becomes the very request a JSON client would send (`Authorization: Bearer`
//! from the session cookie, `X-Cart-Token` from the cart cookie, `Idempotency-Key` from the
//! form) and runs through the edge router, whose handlers send the commands over NATS with
//! `service::command` / `service::get`. So the pages get the API's validation, role checks,
//! rate limits and error codes for free, and cannot drift from it: there is one path from a
//! person to a service, not two.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;

/// The largest JSON reply a page reads (a page of 100 products is far below).
const MAX_REPLY_BYTES: usize = 8 * 1024 * 1024;

/// The edge router, called in process.
#[derive(Clone)]
pub struct Api {
    edge: Router,
}

/// Who a call is made for: the session's access token and/or the guest cart's token.
#[derive(Clone, Debug, Default)]
pub struct Creds {
    pub bearer: Option<String>,
    pub cart_token: Option<String>,
    /// The browser's address, so the API's per-client rate limits count the person, not
    /// the server.
    pub peer: Option<SocketAddr>,
}

/// A refused call: the API's status and `{code, message}`.
#[derive(Clone, Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl ApiFailure {
    fn internal(message: impl Into<String>) -> Self {
        ApiFailure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "web.internal".into(),
            message: message.into(),
        }
    }

    /// The failure an error reply (`{code, message}`) with `status` describes.
    fn of_reply(status: StatusCode, json: &Value) -> Self {
        ApiFailure {
            status,
            code: json["code"].as_str().unwrap_or("http.error").to_string(),
            message: json["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| status.to_string()),
        }
    }
}

impl Api {
    pub fn new(edge: Router) -> Self {
        Api { edge }
    }

    /// Sends one request and returns the JSON reply (`null` for an empty one).
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        creds: &Creds,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, ApiFailure> {
        let (status, bytes) = self.send(method, uri, creds, idempotency_key, body).await?;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            Ok(json)
        } else {
            Err(ApiFailure::of_reply(status, &json))
        }
    }

    /// A reply that is not JSON (a CSV report): its bytes, or the API's error.
    pub async fn get_bytes(&self, uri: &str, creds: &Creds) -> Result<Bytes, ApiFailure> {
        let (status, bytes) = self.send(Method::GET, uri, creds, None, None).await?;
        if status.is_success() {
            return Ok(bytes);
        }
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(ApiFailure::of_reply(status, &json))
    }

    /// Sends one request to the edge in process: the reply's status and body.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        creds: &Creds,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Bytes), ApiFailure> {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = &creds.bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(token) = &creds.cart_token {
            request = request.header("x-cart-token", token);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let body = match body {
            Some(json) => {
                request =
                    request.header("content-type", HeaderValue::from_static("application/json"));
                Body::from(
                    serde_json::to_vec(json).map_err(|e| ApiFailure::internal(e.to_string()))?,
                )
            }
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|e| ApiFailure::internal(e.to_string()))?;
        if let Some(peer) = creds.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = self
            .edge
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| ApiFailure::internal(e.to_string()))?;
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| ApiFailure::internal(e.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        uri: &str,
        creds: &Creds,
    ) -> Result<T, ApiFailure> {
        let json = self.call(Method::GET, uri, creds, None, None).await?;
        serde_json::from_value(json).map_err(|e| ApiFailure::internal(format!("{uri}: {e}")))
    }

    pub async fn post(
        &self,
        uri: &str,
        creds: &Creds,
        idempotency_key: Option<&str>,
        body: &Value,
    ) -> Result<Value, ApiFailure> {
        self.call(Method::POST, uri, creds, idempotency_key, Some(body))
            .await
    }
}

/// Percent-encodes a query value or path segment.
pub fn enc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
