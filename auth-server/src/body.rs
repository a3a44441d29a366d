//! Reading request bodies ourselves, so each way a body can be wrong gets
//! the contract's answer: too large → 413, wrong media type → 415, not JSON
//! (or not a form) → 400, instead of Rocket's generic guard failures. JSON
//! is read by `shared::strict_json`, so a member named twice is a `400` too,
//! as it is in a token: never one of the two values picked silently.

use rocket::data::{Data, ToByteUnit};
use rocket::http::ContentType;

use crate::errors::ApiError;
use platform::settings::BODY_LIMIT;

pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads at most [`BODY_LIMIT`] bytes.
pub async fn read_limited(data: Data<'_>) -> Result<Vec<u8>, BodyError> {
    let capped = data
        .open(BODY_LIMIT.bytes())
        .into_bytes()
        .await
        .map_err(|_| BodyError::Unreadable)?;
    if !capped.is_complete() {
        return Err(BodyError::TooLarge);
    }
    Ok(capped.into_inner())
}

/// A JSON object body, for problem+json endpoints.
pub async fn json_object(
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    if !content_type.is_some_and(|ct| ct.is_json() || ct.sub().as_str().ends_with("+json")) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = read_limited(data).await.map_err(|e| match e {
        BodyError::TooLarge => ApiError::PayloadTooLarge,
        BodyError::Unreadable => ApiError::BadRequest("The request body could not be read."),
    })?;
    match shared::strict_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(
            "The request body must be a JSON object.",
        )),
        Err(shared::strict_json::Error::Duplicate) => Err(ApiError::BadRequest(
            "The request body names a member twice.",
        )),
        Err(shared::strict_json::Error::Invalid) => {
            Err(ApiError::BadRequest("The request body is not valid JSON."))
        }
    }
}
