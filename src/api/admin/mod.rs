//! Routes of the admin listener: `/api/v1` behind a bearer token, plus the
//! unauthenticated probes, the metrics scrape and the API description.

pub(crate) mod accounts;
pub(crate) mod deliveries;
pub(crate) mod delivery_search;
pub(crate) mod endpoint_input;
pub(crate) mod endpoints;
pub(crate) mod events;
pub(crate) mod metrics;
pub(crate) mod pagination;
pub(crate) mod partners;
pub(crate) mod replay;
pub(crate) mod stats;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};

use super::auth::require_admin;
use super::{AppState, Health};

pub fn routes(config: &mut web::ServiceConfig, max_payload_bytes: usize) {
    config
        .route("/healthz", web::get().to(super::healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics::scrape))
        .route("/openapi.json", web::get().to(super::openapi::document))
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
#[utoipa::path(get, path = "/readyz", tag = "admin",
    responses(
        (status = 200, description = "Storage takes writes", body = Health),
        (status = 503, description = "Storage refuses writes (is the disk full?)", body = Object),
    ))]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.is_writable() {
        HttpResponse::Ok().json(Health { status: "ok" })
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "unavailable",
            "message": "storage refuses writes (is the disk full?)",
        }))
    }
}
