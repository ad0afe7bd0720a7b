use agora_kernel::{Decider, ErrorBody, ErrorKind};
use agora_nats::{codec, subjects, CommandEnvelope, Handler, QueryEnvelope, RequestContext};
use bytes::Bytes;

use crate::AggregateHost;

/// The endpoint that reads an aggregate's current view.
pub const GET_ENDPOINT: &str = "get";

/// Serves an aggregate's commands over NATS: endpoint `agora.<service>.<command>` takes a
/// [`CommandEnvelope`] whose `command` holds that command's fields; `agora.<service>.get`
/// takes a [`QueryEnvelope`].
pub struct AggregateService<A: Decider + cqrs_es::Aggregate> {
    pub host: AggregateHost<A>,
}

impl<A: Decider + cqrs_es::Aggregate> Handler for AggregateService<A> {
    async fn handle(
        &self,
        endpoint: &'static str,
        ctx: RequestContext,
        payload: Bytes,
    ) -> Result<Bytes, ErrorBody> {
        if endpoint == GET_ENDPOINT {
            let query: QueryEnvelope = codec::decode(&payload)?;
            check_id(&query.aggregate_id)?;
            let view = self
                .host
                .read(&query.aggregate_id, query.principal, &ctx)
                .await?;
            return Ok(codec::encode(&view));
        }
        let raw: CommandEnvelope<serde_json::Value> = codec::decode(&payload)?;
        check_id(&raw.aggregate_id)?;
        // The endpoint names the command; its body holds the fields.
        let command: <A as Decider>::Command =
            serde_json::from_value(serde_json::json!({ endpoint: raw.command })).map_err(|e| {
                ErrorBody::new(
                    ErrorKind::Invalid,
                    "request.invalid_command",
                    format!("invalid {endpoint} command: {e}"),
                )
            })?;
        let envelope = CommandEnvelope {
            aggregate_id: raw.aggregate_id,
            command_id: raw.command_id,
            principal: raw.principal,
            command,
        };
        let reply = self.host.execute(envelope, ctx).await?;
        Ok(codec::encode(&reply))
    }
}

fn check_id(id: &str) -> Result<(), ErrorBody> {
    if subjects::is_token(id) {
        Ok(())
    } else {
        Err(ErrorBody::new(
            ErrorKind::Invalid,
            "request.invalid_id",
            "malformed aggregate id",
        ))
    }
}
