//! Payload codecs: JSON (serde_json) and a compact binary one (postcard).

use super::frame::CodecId;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A payload did not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("payload does not decode: {0}")]
pub struct DecodeError(pub String);

/// Encodes `v` with `codec`.
pub fn encode<T: Serialize>(codec: CodecId, v: &T) -> Vec<u8> {
    match codec {
        CodecId::Json => serde_json::to_vec(v).expect("serialising plain data to JSON cannot fail"),
        CodecId::Binary => {
            postcard::to_stdvec(v).expect("serialising plain data to postcard cannot fail")
        }
    }
}

/// Decodes a `T` from `bytes` with `codec`.
pub fn decode<T: DeserializeOwned>(codec: CodecId, bytes: &[u8]) -> Result<T, DecodeError> {
    match codec {
        CodecId::Json => serde_json::from_slice(bytes).map_err(|e| DecodeError(e.to_string())),
        CodecId::Binary => postcard::from_bytes(bytes).map_err(|e| DecodeError(e.to_string())),
    }
}
