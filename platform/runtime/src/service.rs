use agora_kernel::{Contract, Decider, ErrorBody};
use agora_nats::{codec, decode_command, decode_query, CommandEnvelope, Handler, RequestContext};
use bytes::Bytes;

use crate::AggregateHost;

/// Serves an aggregate's contract over NATS: endpoint `agora.<service>.<command>` takes a
/// [`agora_nats::CommandEnvelope`] carrying that command; `agora.<service>.get` takes a
/// [`agora_nats::QueryEnvelope`].
pub struct AggregateService<A: Decider + cqrs_es::Aggregate> {
    pub host: AggregateHost<A>,
}

impl<A> Handler for AggregateService<A>
where
    A: Decider + cqrs_es::Aggregate + Contract<Command = <A as Decider>::Command>,
    <A as Decider>::Command: agora_kernel::Command<Contract = A>,
{
    async fn handle(
        &self,
        endpoint: &'static str,
        ctx: RequestContext,
        payload: Bytes,
    ) -> Result<Bytes, ErrorBody> {
        if endpoint == agora_kernel::GET {
            return read(&self.host, &payload, &ctx).await;
        }
        let envelope = decode_command::<A>(endpoint, &payload)?;
        self.execute(envelope, ctx).await
    }
}

impl<A: Decider + cqrs_es::Aggregate> AggregateService<A> {
    /// Runs a command a wrapping handler already decoded (it looked at the command first, to
    /// claim a SKU or a code), so the payload is decoded once.
    pub async fn execute(
        &self,
        envelope: CommandEnvelope<<A as Decider>::Command>,
        ctx: RequestContext,
    ) -> Result<Bytes, ErrorBody> {
        let reply = self.host.execute(envelope, ctx).await?;
        Ok(codec::encode(&reply))
    }
}

/// Answers a read (`get`) of one aggregate from its host: the view the caller may see.
pub async fn read<A: Decider + cqrs_es::Aggregate>(
    host: &AggregateHost<A>,
    payload: &[u8],
    ctx: &RequestContext,
) -> Result<Bytes, ErrorBody> {
    let query = decode_query(payload)?;
    let view = host.read(&query.aggregate_id, query.principal, ctx).await?;
    Ok(codec::encode(&view))
}
