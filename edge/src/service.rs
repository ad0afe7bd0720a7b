//! Requests to the domain services over NATS: one way to send a command, one way to read a view.
//!
//! A service `s` hosts one aggregate type; endpoint `agora.<s>.<command>` takes a
//! [`CommandEnvelope`] whose `command` holds only that command's fields and replies
//! [`CommandReply`], and `agora.<s>.get` takes a [`QueryEnvelope`] and replies the view. Every
//! failure, from the transport or the domain, arrives as an `ErrorBody` and becomes an
//! [`ApiError`] through one `From` impl, so all routes report errors alike.

use agora_kernel::{CommandId, Principal};
use agora_nats::{subjects, CommandEnvelope, CommandReply, QueryEnvelope};
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
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

/// Sends command `endpoint` with fields `body` to aggregate `id` of `service`, on behalf of
/// `principal`, and returns the aggregate's view after it.
pub async fn command<C: Serialize, V: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    service: &str,
    endpoint: &str,
    id: String,
    principal: Principal,
    body: C,
) -> Result<CommandReply<V>, ApiError> {
    let envelope = CommandEnvelope {
        aggregate_id: id,
        command_id: command_id(headers, &principal)?,
        principal,
        command: body,
    };
    let ctx = auth::context(state, headers);
    Ok(state
        .bus
        .request(subjects::endpoint(service, endpoint), &envelope, &ctx)
        .await?)
}

/// Like [`command`], with a command id chosen by the route (a step of a larger operation that
/// must apply once however often the request is retried).
#[allow(clippy::too_many_arguments)]
pub async fn command_as<C: Serialize, V: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    service: &str,
    endpoint: &str,
    id: String,
    command_id: CommandId,
    principal: Principal,
    body: C,
) -> Result<CommandReply<V>, ApiError> {
    let envelope = CommandEnvelope {
        aggregate_id: id,
        command_id,
        principal,
        command: body,
    };
    let ctx = auth::context(state, headers);
    Ok(state
        .bus
        .request(subjects::endpoint(service, endpoint), &envelope, &ctx)
        .await?)
}

/// Reads the current view of aggregate `id` of `service`, as `principal` may see it.
pub async fn get<V: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    service: &str,
    id: String,
    principal: Principal,
) -> Result<V, ApiError> {
    let query = QueryEnvelope {
        aggregate_id: id,
        principal,
    };
    let ctx = auth::context(state, headers);
    Ok(state
        .bus
        .request(
            subjects::endpoint(service, agora_runtime::GET_ENDPOINT),
            &query,
            &ctx,
        )
        .await?)
}

/// The fields of a domain command, which is what travels in [`CommandEnvelope::command`]: a
/// command enum serializes as `{"<name>": {fields}}`, and the endpoint already names it.
///
/// Building the typed domain command first, instead of hand-written JSON, makes a change of a
/// command's fields a compile error here rather than a rejected request in production.
pub fn fields<C: Serialize>(command: &C) -> Result<serde_json::Value, ApiError> {
    match serde_json::to_value(command).map_err(ApiError::internal)? {
        serde_json::Value::Object(map) if map.len() == 1 => map
            .into_iter()
            .next()
            .map(|(_, fields)| fields)
            .ok_or_else(|| ApiError::internal("a command serialized to an empty object")),
        other => Err(ApiError::internal(format!(
            "a command serialized to {other}, not {{name: fields}}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_catalog::ProductCommand;
    use axum::http::HeaderValue;

    #[test]
    fn a_command_travels_as_its_fields_only() {
        let publish = fields(&ProductCommand::Publish {}).expect("fields");
        assert_eq!(publish, serde_json::json!({}));
        let update = fields(&ProductCommand::Update {
            title: Some("Tee".into()),
            description: None,
            image_urls: None,
            category_id: Some(None),
            attributes: None,
        })
        .expect("fields");
        assert_eq!(update["title"], "Tee");
        // `null` clears the category; it must survive the trip, unlike an absent field.
        assert_eq!(update.get("category_id"), Some(&serde_json::Value::Null));
    }

    fn vendor(id: &str) -> Principal {
        Principal::Staff {
            id: id.into(),
            role: "vendor".into(),
        }
    }

    #[test]
    fn an_idempotency_key_always_gives_the_same_command_id() {
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY_HEADER, HeaderValue::from_static("retry-me"));
        let first = command_id(&headers, &vendor("a")).expect("valid key");
        let second = command_id(&headers, &vendor("a")).expect("valid key");
        assert_eq!(first, second);
        assert_ne!(
            command_id(&HeaderMap::new(), &vendor("a")).expect("fresh"),
            first
        );
    }

    #[test]
    fn the_same_key_from_two_callers_is_two_commands() {
        let mut headers = HeaderMap::new();
        headers.insert(
            IDEMPOTENCY_KEY_HEADER,
            HeaderValue::from_static("readme-key"),
        );
        assert_ne!(
            command_id(&headers, &vendor("a")).expect("valid key"),
            command_id(&headers, &vendor("b")).expect("valid key")
        );
    }

    #[test]
    fn a_uuid_key_is_not_taken_verbatim() {
        let key = "6f0c1c9e-5b7a-5d3e-9a51-2b8f0e7c4d21";
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY_HEADER, HeaderValue::from_static(key));
        let id = command_id(&headers, &vendor("a")).expect("valid key");
        assert_ne!(id.to_string(), key);
    }
}
