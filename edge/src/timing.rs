//! How long the server took to answer: `Server-Timing: app;dur=<ms>` on every response (the
//! W3C header browsers' developer tools show), and the `agora_http_request_duration_seconds`
//! summary per route and method. The time runs from the request reaching the router to the
//! response's head; a streamed body (server-sent events) is not included.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// `router` with every answer timed (apply it to the outermost router: the pages and the API
/// together).
pub fn timed(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::from_fn(server_timing))
}

async fn server_timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    metrics::histogram!("agora_http_request_duration_seconds", "route" => route, "method" => method)
        .record(elapsed.as_secs_f64());
    if let Ok(value) =
        HeaderValue::from_str(&format!("app;dur={:.3}", elapsed.as_secs_f64() * 1000.0))
    {
        response.headers_mut().insert("server-timing", value);
    }
    response
}
