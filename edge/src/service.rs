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

/// The command id of a request: the `Idempotency-Key` header when given (a UUID, or any
/// other string, mapped to a UUID deterministically), otherwise a fresh one.
pub fn command_id(headers: &HeaderMap) -> Result<CommandId, ApiError> {
    match headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => Ok(CommandId::new_random()),
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "request.invalid_idempotency_key",
                        "Idempotency-Key must be 1-255 visible ASCII characters",
                    )
                })?;
            Ok(CommandId::from_uuid(Uuid::parse_str(key).unwrap_or_else(
                |_| Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()),
            )))
        }
    }
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
        command_id: command_id(headers)?,
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

    #[test]
    fn an_idempotency_key_always_gives_the_same_command_id() {
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY_HEADER, HeaderValue::from_static("retry-me"));
        let first = command_id(&headers).expect("valid key");
        let second = command_id(&headers).expect("valid key");
        assert_eq!(first, second);
        assert_ne!(command_id(&HeaderMap::new()).expect("fresh"), first);
    }
}
