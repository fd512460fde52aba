//! The HTTP surface, split by audience: the public listener (partners,
//! inbound webhooks, health) and the on-box admin listener (`/api/v1`).
//! Two `HttpServer`s, because one server serves one `App`.

mod access_log;
mod admin;
mod auth;
pub use auth::admin_tokens as auth_tokens;
mod body;
mod body_deadline;
mod console;
mod inbound;
mod openapi;
mod partners;
mod portal;
pub mod portal_token;
mod public;
mod rate_limit;
pub(crate) mod scope;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{from_fn, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Settings;
use crate::error::ApiError;
use crate::shutdown::ShutdownSource;
use crate::store::Store;

/// What every handler may use. Handlers reach storage only through `Store`.
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub admin_tokens: Vec<String>,
    /// Signs and checks portal tokens (`portal_token.rs`).
    pub portal_key: Vec<u8>,
    /// Caps open partner registrations per client address.
    pub registration_limiter: rate_limit::RateLimiter,
    /// Gives the background tasks a request starts (replays) the stop signal.
    pub shutdown: ShutdownSource,
}

pub struct Listeners {
    pub public: Server,
    pub admin: Server,
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
}

/// Binds both listeners; they serve once their futures are polled. With
/// `tls`, the public one speaks HTTPS only.
pub fn bind(state: AppState, tls: Option<rustls::ServerConfig>) -> std::io::Result<Listeners> {
    let state = web::Data::new(state);
    let grace = state.settings.server.shutdown_grace.as_secs();

    // actix caps connections per worker: split the cap between workers.
    let max_connections = public_connection_cap(&state.settings, open_files_limit());
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(max_connections);
    let public_state = state.clone();
    let public = HttpServer::new(move || {
        App::new()
            .app_data(public_state.clone())
            .wrap(json_method_not_allowed())
            .wrap(from_fn(body_deadline::limit_body_time))
            .wrap(from_fn(access_log::log_request))
            .configure(body::configure_extractors)
            .configure(public::routes)
            .default_service(web::to(not_found))
    })
    .workers(workers)
    .max_connections(max_connections / workers)
    .shutdown_timeout(grace);
    let public_bind = state.settings.server.public_bind;
    let public = match tls {
        Some(config) => public.bind_rustls_0_23(public_bind, config)?,
        None => public.bind(public_bind)?,
    };
    let public_addr = first_addr(&public.addrs())?;

    let admin_state = state.clone();
    let max_payload_bytes = state.settings.events.max_payload_bytes;
    let admin = HttpServer::new(move || {
        App::new()
            .app_data(admin_state.clone())
            .wrap(json_method_not_allowed())
            .wrap(from_fn(body_deadline::limit_body_time))
            .wrap(from_fn(access_log::log_request))
            .configure(body::configure_extractors)
            .configure(|c| admin::routes(c, max_payload_bytes))
            .configure(console::routes)
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(grace)
    .bind(state.settings.server.admin_bind)?;
    let admin_addr = first_addr(&admin.addrs())?;

    Ok(Listeners {
        public: public.disable_signals().run(),
        admin: admin.disable_signals().run(),
        public_addr,
        admin_addr,
    })
}

/// The public listener's connection cap: the configured one, lowered when
/// the process's open-files limit could not also hold every outbound attempt
/// and a margin for storage and the admin listener.
fn public_connection_cap(settings: &Settings, open_files: Option<u64>) -> usize {
    const RESERVED_FILES: u64 = 128;
    let configured = settings.server.public_max_connections;
    let Some(limit) = open_files else {
        return configured;
    };
    let spare = limit
        .saturating_sub(u64::from(settings.delivery.max_in_flight_total))
        .saturating_sub(RESERVED_FILES)
        .max(1);
    let cap = configured.min(usize::try_from(spare).unwrap_or(usize::MAX));
    if cap < configured {
        tracing::warn!(
            configured,
            cap,
            open_files_limit = limit,
            "server.public_max_connections lowered to fit the open-files limit"
        );
    }
    cap
}

/// The soft open-files limit, from `/proc/self/limits` (Linux); none where
/// that cannot be read, and then the configured cap stands.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn first_addr(addrs: &[SocketAddr]) -> std::io::Result<SocketAddr> {
    addrs
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("listener bound no address"))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".into()))
}

/// actix answers a known path asked with another method by an empty 405;
/// this gives it the JSON error body every other refusal has, keeping `Allow`.
fn json_method_not_allowed<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().handler(StatusCode::METHOD_NOT_ALLOWED, |response| {
        let allow = response.headers().get(header::ALLOW).cloned();
        let (request, _) = response.into_parts();
        let mut answer = ApiError::MethodNotAllowed.error_response();
        if let Some(allow) = allow {
            answer.headers_mut().insert(header::ALLOW, allow);
        }
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(request, answer).map_into_right_body(),
        ))
    })
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub(crate) status: &'static str,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tags = ["public", "admin"],
    responses((status = 200, description = "The daemon is up", body = Health)))]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_cap_leaves_room_for_deliveries_and_storage() {
        let mut settings = Settings::default();
        settings.server.public_max_connections = 10_000;
        settings.delivery.max_in_flight_total = 512;
        assert_eq!(public_connection_cap(&settings, Some(1024)), 384);
        assert_eq!(public_connection_cap(&settings, Some(65_536)), 10_000);
        assert_eq!(public_connection_cap(&settings, None), 10_000);
        assert_eq!(public_connection_cap(&settings, Some(100)), 1);
    }
}
