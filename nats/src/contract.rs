//! The serving side of a [`Contract`]: decoding a request into the contract's typed command,
//! the one check of an aggregate id, and the service's `$SRV.INFO` description.

use agora_kernel::{Command, Contract, ErrorBody, ErrorKind};

use crate::{codec, subjects, CommandEnvelope, QueryEnvelope, ServiceSpec};

/// Checks an aggregate id from the wire: one subject token (letters, digits, `_`, `-`; at most
/// 128 bytes), so it can name a stream and a feed subject.
pub fn check_id(id: &str) -> Result<(), ErrorBody> {
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

/// Decodes a command sent to `endpoint` of service `K`: the envelope, its id, and a command
/// whose name is the endpoint's (a body for another endpoint is refused, not rerouted).
pub fn decode_command<K: Contract>(
    endpoint: &str,
    payload: &[u8],
) -> Result<CommandEnvelope<K::Command>, ErrorBody> {
    let envelope: CommandEnvelope<K::Command> = codec::decode(payload).map_err(|e| {
        ErrorBody::new(
            ErrorKind::Invalid,
            "request.invalid_command",
            format!("invalid {endpoint} command: {}", e.message),
        )
    })?;
    check_id(&envelope.aggregate_id)?;
    if envelope.command.name() != endpoint {
        return Err(ErrorBody::new(
            ErrorKind::Invalid,
            "request.invalid_command",
            format!(
                "a {} command was sent to endpoint {endpoint}",
                envelope.command.name()
            ),
        ));
    }
    Ok(envelope)
}

/// Decodes a read (`get`) of one aggregate.
pub fn decode_query(payload: &[u8]) -> Result<QueryEnvelope, ErrorBody> {
    let query: QueryEnvelope = codec::decode(payload)?;
    check_id(&query.aggregate_id)?;
    Ok(query)
}

impl ServiceSpec {
    /// What service `K` announces: its name, description and every endpoint of its contract.
    pub fn of<K: Contract>() -> ServiceSpec {
        ServiceSpec {
            name: K::SERVICE,
            version: "1.0.0",
            description: K::DESCRIPTION,
            endpoints: K::endpoints(),
        }
    }
}
