use std::future::Future;
use std::sync::Arc;

use agora_kernel::ErrorBody;
use async_nats::service::{error::Error as ServiceError, Request, ServiceExt};
use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use futures::StreamExt;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::{headers, subjects, RequestContext};

/// What a service announces to `$SRV.INFO`.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    /// Service name, also its subject token (`cart`).
    pub name: &'static str,
    /// Semantic version of the service's API.
    pub version: &'static str,
    pub description: &'static str,
    /// Endpoint names; each becomes `agora.<name>.<endpoint>`.
    pub endpoints: Vec<&'static str>,
}

/// Handles one request of one endpoint. Returning `Err` sends an error reply with headers.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        endpoint: &'static str,
        ctx: RequestContext,
        payload: Bytes,
    ) -> impl Future<Output = Result<Bytes, ErrorBody>> + Send;
}

/// Registers `spec` with the NATS micro-services API (so `$SRV.PING/INFO/STATS` find this
/// instance) and subscribes every endpoint in the shared queue group, then returns the loop that
/// serves them until `shutdown` resolves (spawn it). When this returns the subscriptions have
/// reached the server, so a request sent afterwards from any connection finds an instance:
/// whoever starts a service can wait for it to be ready instead of racing its first request.
/// Each request runs in its own task so one slow command never holds up others.
pub async fn serve_endpoints<H: Handler>(
    client: Client,
    spec: ServiceSpec,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<impl Future<Output = anyhow::Result<()>> + Send + 'static> {
    let service = client
        .service_builder()
        .description(spec.description)
        .queue_group(subjects::QUEUE_GROUP)
        .start(spec.name, spec.version)
        .await
        .map_err(|e| anyhow::anyhow!("start service {}: {e}", spec.name))?;
    let group = service.group(subjects::service_group(spec.name));
    let mut endpoints = futures::stream::SelectAll::new();
    for &name in &spec.endpoints {
        let endpoint = group
            .endpoint(name)
            .await
            .map_err(|e| anyhow::anyhow!("add endpoint {name}: {e}"))?;
        endpoints.push(endpoint.map(move |request| (name, request)));
    }
    client
        .flush()
        .await
        .map_err(|e| anyhow::anyhow!("flush the subscriptions of {}: {e}", spec.name))?;
    Ok(async move {
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                next = endpoints.next() => {
                    let Some((name, request)) = next else { break };
                    let handler = handler.clone();
                    let span = tracing::info_span!("endpoint", service = spec.name, endpoint = name);
                    tasks.spawn(async move { respond(handler, name, request).await }.instrument(span));
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        // Finish what was accepted before stopping.
        while tasks.join_next().await.is_some() {}
        let _ = service.stop().await;
        Ok(())
    })
}

async fn respond<H: Handler>(handler: Arc<H>, name: &'static str, request: Request) {
    let ctx = RequestContext::from_headers(request.message.headers.as_ref());
    if ctx.expired() {
        // The caller has given up; starting now could only do work nobody waits for.
        metrics::counter!("agora_requests_expired_total", "endpoint" => name).increment(1);
        return;
    }
    let result = handler
        .handle(name, ctx, request.message.payload.clone())
        .await;
    let sent = match result {
        Ok(body) => request.respond(Ok(body)).await,
        Err(error) => {
            let mut h = HeaderMap::new();
            h.insert(headers::ERROR_CODE, error.code.as_str());
            let status = error.kind.http_status() as usize;
            let service_error = ServiceError {
                status: error.message.replace(['\r', '\n'], " "),
                code: status,
            };
            request.respond_with_headers(Err(service_error), h).await
        }
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not send reply");
    }
}
