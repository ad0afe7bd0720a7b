//! JSON on the wire. Decoding failures become `request.malformed` errors, never panics.

use agora_kernel::{ErrorBody, ErrorKind};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub fn encode<T: Serialize>(value: &T) -> Bytes {
    // Serializing our own types to JSON cannot fail: no maps with non-string keys, no
    // custom serializers that error.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ErrorBody> {
    serde_json::from_slice(bytes).map_err(|e| {
        ErrorBody::new(
            ErrorKind::Invalid,
            "request.malformed",
            format!("malformed message: {e}"),
        )
    })
}
