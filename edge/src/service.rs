//! Requests to the domain services over NATS: one way to send a command, one way to read a view.
//!
//! Every request names a typed command of a service's contract ([`agora_kernel::Contract`]);
//! the bus derives the endpoint from it. A command replies [`CommandReply`], a read the view. Every
//! failure, from the transport or the domain, arrives as an `ErrorBody` and becomes an
//! [`ApiError`] through one `From` impl, so all routes report errors alike.

use agora_kernel::{Command, CommandId, Contract, Principal};
use agora_nats::CommandReply;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{auth, ApiError, AppState};

/// The request header whose value makes a command idempotent across retries.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Namespace of command ids derived from an `Idempotency-Key` (a fixed, random UUID).
const COMMAND_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c2e_8f1a_3d47_4b9e_a1f0_52c9_7e3b_d814);

/// The command id of a request made by `principal`: derived from the `Idempotency-Key` header
/// when given, otherwise a fresh one. A key is scoped to its caller: the same key from two
/// principals names two different commands, and no key, not even a UUID, is taken verbatim, so
/// a client can neither guess the platform's own command ids nor collide with another caller's.
pub fn command_id(headers: &HeaderMap, principal: &Principal) -> Result<CommandId, ApiError> {
    match idempotency_key(headers)? {
        None => Ok(CommandId::new_random()),
        Some(key) => Ok(CommandId::from_uuid(Uuid::new_v5(
            &COMMAND_ID_NAMESPACE,
            format!("{}\n{key}", principal.idempotency_scope()).as_bytes(),
        ))),
    }
}

/// The `Idempotency-Key` header, if any: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "request.invalid_idempotency_key",
                "Idempotency-Key must be 1-255 visible ASCII characters",
            )
        })
}

/// Sends `command` to aggregate `id` of its contract's service, on behalf of `principal`, with
/// the command id of this request, and returns the aggregate's view after it.
pub async fn command<C: Command, V: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    principal: Principal,
    command: C,
) -> Result<CommandReply<V>, ApiError> {
    let command_id = command_id(headers, &principal)?;
    command_as(state, headers, id, command_id, principal, command).await
}

/// Like [`command`], with a command id chosen by the route (a step of a larger operation that
/// must apply once however often the request is retried).
pub async fn command_as<C: Command, V: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    command_id: CommandId,
    principal: Principal,
    command: C,
) -> Result<CommandReply<V>, ApiError> {
    let ctx = auth::context(state, headers);
    Ok(state
        .bus
        .call(&id, command_id, principal, &command, &ctx)
        .await?)
}

/// Reads the current view of aggregate `id` of service `K`, as `principal` may see it.
pub async fn get<K: Contract, V: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    principal: Principal,
) -> Result<V, ApiError> {
    let ctx = auth::context(state, headers);
    Ok(state.bus.read_as::<K, V>(&id, principal, &ctx).await?)
}
