//! Routes of the admin listener: `/api/v1` behind a bearer token, plus the
//! unauthenticated probes and metrics scrape.

pub(crate) mod accounts;
pub(crate) mod deliveries;
pub(crate) mod delivery_search;
pub(crate) mod endpoint_input;
pub(crate) mod endpoints;
pub(crate) mod events;
mod metrics;
pub(crate) mod pagination;
mod partners;
pub(crate) mod replay;
mod stats;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};

use super::auth::require_admin;
use super::AppState;

pub fn routes(config: &mut web::ServiceConfig, max_payload_bytes: usize) {
    config
        .route("/healthz", web::get().to(super::healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics::scrape))
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(require_admin))
                .configure(accounts::routes)
                .configure(endpoints::routes)
                .configure(|c| events::routes(c, max_payload_bytes))
                .configure(deliveries::routes)
                .configure(delivery_search::routes)
                .configure(stats::routes)
                .configure(replay::routes)
                .configure(partners::routes),
        );
}

/// Ready while storage takes writes: after a failed write (a full disk) it
/// answers 503 until storage has been reopened and written to again.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.is_writable() {
        HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "unavailable",
            "message": "storage refuses writes (is the disk full?)",
        }))
    }
}
