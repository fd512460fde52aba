//! Turns actix's extractor failures (bad JSON, wrong content type, oversized
//! body, bad query or path) into the JSON errors of docs/api.md instead of plain text.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::web;

use crate::error::ApiError;

/// Bodies of admin objects (endpoints, replays) are small; events set their own limit.
const OBJECT_BODY_LIMIT: usize = 64 * 1024;

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
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::invalid("invalid_body", e.to_string())
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::Malformed(format!("the body is not valid JSON: {e}"))
        }
        other => ApiError::Malformed(format!("the body could not be read: {other}")),
    }
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
        Ok(Err(e)) => Err(ApiError::Malformed(format!(
            "the body could not be read: {e}"
        ))),
        Err(_) => Err(ApiError::TooLarge(limit)),
    }
}
