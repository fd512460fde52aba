//! Turns actix's extractor failures (bad JSON, wrong content type, oversized
//! body, bad query or path) into the JSON errors of docs/api.md instead of plain text.

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{web, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;

use super::body_deadline::is_body_timeout;
use crate::error::ApiError;

/// Bodies of admin objects (endpoints, replays) are small; events set their own limit.
pub const OBJECT_BODY_LIMIT: usize = 64 * 1024;

pub fn configure_extractors(config: &mut web::ServiceConfig) {
    config
        .app_data(json_config(OBJECT_BODY_LIMIT))
        .app_data(web::QueryConfig::default().error_handler(|error, _| query_error(error).into()))
        .app_data(web::PathConfig::default().error_handler(|error, _| path_error(error).into()));
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |error, _| json_error(error, limit).into())
}

fn json_error(error: JsonPayloadError, limit: usize) -> ApiError {
    match error {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::TooLarge(limit)
        }
        JsonPayloadError::Deserialize(e) => deserialize_error(e),
        JsonPayloadError::Payload(e) if is_body_timeout(&e) => ApiError::BodyTimeout,
        other => ApiError::Malformed(format!("the body could not be read: {other}")),
    }
}

/// Well-formed JSON of the wrong shape is a 422; anything else a 400.
fn deserialize_error(error: serde_json::Error) -> ApiError {
    if error.is_data() {
        ApiError::invalid("invalid_body", error.to_string())
    } else {
        ApiError::Malformed(format!("the body is not valid JSON: {error}"))
    }
}

/// Refuses a body not declared as JSON (`application/json` or `+json`),
/// as actix's own JSON extractor does.
pub fn require_json(request: &HttpRequest) -> Result<(), ApiError> {
    let is_json = request.mime_type().ok().flatten().is_some_and(|mime| {
        mime.subtype() == actix_web::mime::JSON || mime.suffix() == Some(actix_web::mime::JSON)
    });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// An optional JSON body: none (or only whitespace) gives `None`; anything
/// else must be declared as JSON, fit in `OBJECT_BODY_LIMIT` and parse into
/// `T`, or the request is refused with the same errors as `web::Json`.
pub async fn optional_json<T: DeserializeOwned>(
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<Option<T>, ApiError> {
    let raw = read_limited(payload, OBJECT_BODY_LIMIT).await?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    require_json(request)?;
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(deserialize_error)
}

fn query_error(error: QueryPayloadError) -> ApiError {
    ApiError::invalid("invalid_query", error.to_string())
}

fn path_error(error: PathError) -> ApiError {
    ApiError::NotFound(format!("no such resource: {error}"))
}

/// Reads a raw body up to `limit` bytes, for routes that must see the exact
/// bytes (signed inbound webhooks) and still answer JSON errors.
pub async fn read_limited(payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) if e.as_error::<PayloadError>().is_some_and(is_body_timeout) => {
            Err(ApiError::BodyTimeout)
        }
        Ok(Err(e)) => Err(ApiError::Malformed(format!(
            "the body could not be read: {e}"
        ))),
        Err(_) => Err(ApiError::TooLarge(limit)),
    }
}
