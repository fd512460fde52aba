//! The API's error type and the one place it becomes an HTTP response:
//! `{"error": "<snake_case_code>", "message": "<sentence>"}` (docs/api.md, Errors).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Malformed(String),
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("the signature does not match the body")]
    InvalidSignature,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not answer that method")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("the body is larger than the {0} bytes allowed")]
    TooLarge(usize),
    #[error("the request body did not arrive within the time allowed")]
    BodyTimeout,
    #[error("the body must be sent as Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("too many requests; try again in a minute")]
    TooManyRequests,
    #[error("storage cannot accept writes right now")]
    Unavailable,
    #[error("an internal error occurred")]
    Internal,
}

impl ApiError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::NotFound(format!("no {what} with that id"))
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidSignature => "invalid_signature",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::BodyTimeout => "request_timeout",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Invalid { code, .. } => code,
            ApiError::TooManyRequests => "rate_limited",
            ApiError::Unavailable => "storage_unavailable",
            ApiError::Internal => "internal_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::InvalidSignature => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if matches!(self, ApiError::BodyTimeout) {
            // The rest of the body may still trickle in: the connection
            // cannot serve another request.
            response.force_close();
        }
        if matches!(self, ApiError::TooManyRequests) {
            response.insert_header(("Retry-After", "60"));
        }
        response.json(ErrorBody {
            error: self.code().to_string(),
            message: self.to_string(),
        })
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code, e.g. `invalid_url` or `not_found`.
    #[schema(example = "not_found")]
    pub error: String,
    /// A sentence for people; its wording may change.
    pub message: String,
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if let StoreError::FanoutTooWide(_) = error {
            return ApiError::invalid("too_many_endpoints", error.to_string());
        }
        tracing::error!(%error, "storage failure");
        match error {
            StoreError::Sled(_) | StoreError::Unavailable(_) => ApiError::Unavailable,
            StoreError::Codec(_) | StoreError::Schema(_) | StoreError::FanoutTooWide(_) => {
                ApiError::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn renders_the_spec_shape() {
        let response = ApiError::invalid("invalid_event_type", "bad type").error_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = to_bytes(response.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "invalid_event_type");
        assert_eq!(json["message"], "bad type");
    }
}
