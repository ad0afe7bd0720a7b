use agora_kernel::{CommandId, Principal};
use serde::{Deserialize, Serialize};

/// A command on the wire: which aggregate, which command (idempotency), who, and what.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandEnvelope<C> {
    pub aggregate_id: String,
    pub command_id: CommandId,
    pub principal: Principal,
    pub command: C,
}

/// A read of one aggregate's current state, on the owner's authority.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryEnvelope {
    pub aggregate_id: String,
    pub principal: Principal,
}

/// The reply to a command: the aggregate's view after it, and whether this command id had
/// already been handled (then nothing new was written and the view is the first outcome's).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommandReply<V> {
    pub version: u64,
    pub duplicate: bool,
    pub view: V,
}
