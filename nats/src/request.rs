use std::time::Duration;

use agora_kernel::{Command, CommandId, Contract, ErrorBody, ErrorKind, Principal};
use async_nats::{Client, Message};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{
    codec, headers, subjects, CommandEnvelope, CommandReply, QueryEnvelope, RequestContext,
};

/// The one way Agora sends a request: typed body in, typed reply or [`ErrorBody`] out.
///
/// Transport failures map to stable codes: no instance listening → `service.unavailable`
/// (503), deadline passed → `service.timeout` (503). A timed-out request may still have run;
/// commands are therefore idempotent by their command id, and a caller may retry with it.
#[derive(Clone, Debug)]
pub struct Bus {
    client: Client,
}

impl Bus {
    pub fn new(client: Client) -> Self {
        Bus { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        subject: String,
        body: &Req,
        ctx: &RequestContext,
    ) -> Result<Resp, ErrorBody> {
        let timeout = ctx.remaining();
        if timeout.is_zero() {
            return Err(timeout_error());
        }
        let request = async_nats::Request::new()
            .payload(codec::encode(body))
            .headers(ctx.to_headers())
            .timeout(Some(timeout));
        let started = std::time::Instant::now();
        let result = self.client.send_request(subject.clone(), request).await;
        metrics::histogram!("agora_nats_request_seconds", "subject" => subject.clone())
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(message) => decode_reply(&message),
            Err(e) => {
                use async_nats::RequestErrorKind as K;
                match e.kind() {
                    K::NoResponders => Err(ErrorBody::new(
                        ErrorKind::Unavailable,
                        "service.unavailable",
                        format!("no instance serves {subject}"),
                    )),
                    K::TimedOut => Err(timeout_error()),
                    _ => Err(ErrorBody::unavailable(format!("request failed: {e}"))),
                }
            }
        }
    }

    /// Sends `command` to aggregate `id` of its contract's service on behalf of `principal`,
    /// and returns the aggregate's view after it. The endpoint is the command's name.
    pub async fn send<C: Command>(
        &self,
        id: &str,
        command_id: CommandId,
        principal: Principal,
        command: &C,
        ctx: &RequestContext,
    ) -> Result<CommandReply<<C::Contract as Contract>::View>, ErrorBody> {
        self.call(id, command_id, principal, command, ctx).await
    }

    /// Like [`Bus::send`], for a request whose reply is not the contract's view (the identity
    /// service's token pairs, a view read into a narrower type).
    pub async fn call<C: Command, R: DeserializeOwned>(
        &self,
        id: &str,
        command_id: CommandId,
        principal: Principal,
        command: &C,
        ctx: &RequestContext,
    ) -> Result<R, ErrorBody> {
        let envelope = CommandEnvelope {
            aggregate_id: id.to_string(),
            command_id,
            principal,
            command,
        };
        self.request(
            subjects::endpoint(<C::Contract as Contract>::SERVICE, command.name()),
            &envelope,
            ctx,
        )
        .await
    }

    /// Reads the current view of aggregate `id` of service `K`, as `principal` may see it.
    pub async fn read<K: Contract>(
        &self,
        id: &str,
        principal: Principal,
        ctx: &RequestContext,
    ) -> Result<K::View, ErrorBody> {
        self.read_as::<K, K::View>(id, principal, ctx).await
    }

    /// Like [`Bus::read`], into a type of the caller's choosing (a subset of the view).
    pub async fn read_as<K: Contract, R: DeserializeOwned>(
        &self,
        id: &str,
        principal: Principal,
        ctx: &RequestContext,
    ) -> Result<R, ErrorBody> {
        let query = QueryEnvelope {
            aggregate_id: id.to_string(),
            principal,
        };
        self.request(
            subjects::endpoint(K::SERVICE, agora_kernel::GET),
            &query,
            ctx,
        )
        .await
    }

    /// A request with a plain budget, for callers outside any request context.
    pub async fn request_within<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        subject: String,
        body: &Req,
        budget: Duration,
    ) -> Result<Resp, ErrorBody> {
        self.request(subject, body, &RequestContext::new(budget))
            .await
    }
}

fn timeout_error() -> ErrorBody {
    ErrorBody::new(
        ErrorKind::Unavailable,
        "service.timeout",
        "the service did not answer in time",
    )
}

/// Turns a reply into the typed value or the error it carries in its headers.
pub fn decode_reply<Resp: DeserializeOwned>(message: &Message) -> Result<Resp, ErrorBody> {
    if let Some(h) = &message.headers {
        if let Some(status) = h.get(headers::SERVICE_ERROR_CODE) {
            let status: u16 = status.as_str().parse().unwrap_or(500);
            let code = h
                .get(headers::ERROR_CODE)
                .map(|v| v.as_str().to_string())
                .unwrap_or_else(|| "internal".into());
            let message = h
                .get(headers::SERVICE_ERROR)
                .map(|v| v.as_str().to_string())
                .unwrap_or_default();
            return Err(ErrorBody::new(
                ErrorKind::from_http_status(status),
                code,
                message,
            ));
        }
    }
    codec::decode(&message.payload)
        .map_err(|e| ErrorBody::internal(format!("bad reply: {}", e.message)))
}
