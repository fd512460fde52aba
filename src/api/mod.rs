//! The HTTP surface, split by audience: the public listener (partners,
//! inbound webhooks, health) and the on-box admin listener (`/api/v1`).
//! Two `HttpServer`s, because one server serves one `App`.

mod admin;
mod auth;
pub use auth::admin_tokens as auth_tokens;
mod body;
mod console;
mod inbound;
mod openapi;
mod partners;
mod portal;
pub mod portal_token;
mod public;
mod rate_limit;
pub(crate) mod scope;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
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

/// Binds both listeners; they serve once their futures are polled.
pub fn bind(state: AppState) -> std::io::Result<Listeners> {
    let state = web::Data::new(state);
    let grace = state.settings.server.shutdown_grace.as_secs();

    let public_state = state.clone();
    let public = HttpServer::new(move || {
        App::new()
            .app_data(public_state.clone())
            .wrap(json_method_not_allowed())
            .wrap(actix_web::middleware::Logger::new("%a \"%r\" %s %Dms").log_target("hookd::http"))
            .configure(body::configure_extractors)
            .configure(public::routes)
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(grace)
    .bind(state.settings.server.public_bind)?;
    let public_addr = first_addr(&public.addrs())?;

    let admin_state = state.clone();
    let max_payload_bytes = state.settings.events.max_payload_bytes;
    let admin = HttpServer::new(move || {
        App::new()
            .app_data(admin_state.clone())
            .wrap(json_method_not_allowed())
            .wrap(actix_web::middleware::Logger::new("%a \"%r\" %s %Dms").log_target("hookd::http"))
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
    status: &'static str,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tags = ["public", "admin"],
    responses((status = 200, description = "The daemon is up", body = Health)))]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness, on the admin listener: the daemon serves requests.
#[utoipa::path(get, path = "/readyz", tag = "admin",
    responses((status = 200, description = "The daemon is ready", body = Health)))]
async fn readyz() -> HttpResponse {
    healthz().await
}
