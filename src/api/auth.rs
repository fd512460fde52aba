//! Admin authentication: a bearer token from `admin.tokens`, or the one
//! generated into `<data_dir>/admin.token` on first start.

use std::fs;
use std::io::Write;
use std::path::Path;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use base64::Engine;

use super::scope::Scope;
use super::AppState;
use crate::delivery::signing::constant_time_eq;
use crate::error::ApiError;

/// The configured tokens, or the generated one (created if missing).
pub fn admin_tokens(configured: &[String], data_dir: &Path) -> std::io::Result<Vec<String>> {
    if !configured.is_empty() {
        return Ok(configured.to_vec());
    }
    let path = data_dir.join("admin.token");
    if let Ok(existing) = fs::read_to_string(&path) {
        let token = existing.trim().to_string();
        if !token.is_empty() {
            return Ok(vec![token]);
        }
    }
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    write_private(&path, &token)?;
    tracing::info!(path = %path.display(), "generated an admin token (admin.tokens is empty)");
    Ok(vec![token])
}

/// Writes a file only its owner may read (mode 0600 on Unix).
pub(super) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// The `Authorization: Bearer` value, if the header has that form. The
/// scheme is matched case-insensitively, as RFC 7235 requires.
pub fn bearer(request: &actix_web::HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Whether the request's bearer token is one of `tokens`, compared in
/// constant time.
pub fn bearer_is_one_of(request: &actix_web::HttpRequest, tokens: &[String]) -> bool {
    bearer(request).is_some_and(|given| {
        tokens
            .iter()
            .any(|token| constant_time_eq(token.as_bytes(), given.as_bytes()))
    })
}

/// Middleware for `/api/v1`: refuses any request without a known token.
pub async fn require_admin(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let known = request
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| bearer_is_one_of(request.request(), &state.admin_tokens));
    if !known {
        return Err(ApiError::Unauthorized.into());
    }
    Scope::Operator.attach(&request);
    next.call(request).await
}
