//! The HTTP client every Meilisearch call goes through.
//!
//! meilisearch-sdk 0.33's own reqwest client sends every request body as a stream, read
//! through a fresh buffer of `8 * 1024 * 1024` bytes (8 MiB, where its comment says 8 KiB), and
//! without a `Content-Length`. Each search therefore allocated and faulted in 8 MiB and made
//! Meilisearch read a chunked body: measured on this 2-core machine, the edge's search through
//! it took p50 10 ms where Meilisearch's own log showed 4 ms (see benches/README.md). This client
//! sends the serialized body as it is, with its length; everything else (URLs, query strings,
//! the parsing of answers and errors) is the SDK's.

use meilisearch_sdk::errors::Error;
use meilisearch_sdk::request::{parse_response, HttpClient, Method};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A reqwest client with the key and user agent of every Meilisearch request.
#[derive(Clone, Debug)]
pub struct MeiliHttp {
    client: reqwest::Client,
}

impl MeiliHttp {
    pub fn new(api_key: Option<&str>) -> Result<MeiliHttp, Error> {
        use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, USER_AGENT};
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("agora-search/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(key) = api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|e| Error::Other(Box::new(e)))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .build()?;
        Ok(MeiliHttp { client })
    }

    /// Sends one request with `body` (its whole bytes) and parses the answer as the SDK does.
    async fn send<Query: Serialize, Body, Output: DeserializeOwned>(
        &self,
        url: &str,
        method: &Method<Query, Body>,
        body: Option<(Vec<u8>, &str)>,
        expected_status_code: u16,
    ) -> Result<Output, Error> {
        let query = yaup::to_string(method.query())?;
        let url = format!("{url}{query}");
        let verb = match method {
            Method::Get { .. } => reqwest::Method::GET,
            Method::Delete { .. } => reqwest::Method::DELETE,
            Method::Post { .. } => reqwest::Method::POST,
            Method::Put { .. } => reqwest::Method::PUT,
            Method::Patch { .. } => reqwest::Method::PATCH,
        };
        let mut request = self.client.request(verb, &url);
        if let Some((bytes, content_type)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let mut text = response.text().await?;
        if text.is_empty() {
            text = "null".to_string();
        }
        parse_response(status, expected_status_code, &text, url)
    }
}

#[meilisearch_sdk::macro_helper::async_trait]
impl HttpClient for MeiliHttp {
    async fn request<Query, Body, Output>(
        &self,
        url: &str,
        method: Method<Query, Body>,
        expected_status_code: u16,
    ) -> Result<Output, Error>
    where
        Query: Serialize + Send + Sync,
        Body: Serialize + Send + Sync,
        Output: DeserializeOwned + 'static + Send,
    {
        let body = match method.body() {
            Some(body) => Some((serde_json::to_vec(body)?, "application/json")),
            None => None,
        };
        self.send(url, &method, body, expected_status_code).await
    }

    async fn stream_request<
        Query: Serialize + Send + Sync,
        Body: futures::io::AsyncRead + Send + Sync + 'static,
        Output: DeserializeOwned + 'static,
    >(
        &self,
        url: &str,
        method: Method<Query, Body>,
        content_type: &str,
        expected_status_code: u16,
    ) -> Result<Output, Error> {
        use futures::io::AsyncReadExt;
        let (shell, body) = match method {
            Method::Get { query } => (Method::Get { query }, None),
            Method::Delete { query } => (Method::Delete { query }, None),
            Method::Post { query, body } => (Method::Post { query, body: () }, Some(body)),
            Method::Put { query, body } => (Method::Put { query, body: () }, Some(body)),
            Method::Patch { query, body } => (Method::Patch { query, body: () }, Some(body)),
        };
        let body = match body {
            Some(body) => {
                let mut bytes = Vec::new();
                Box::pin(body)
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| Error::Other(Box::new(e)))?;
                Some((bytes, content_type))
            }
            None => None,
        };
        self.send(url, &shell, body, expected_status_code).await
    }

    fn is_tokio(&self) -> bool {
        true
    }
}
