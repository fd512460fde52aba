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
use actix_web::web;

use super::auth::require_admin;

pub fn routes(config: &mut web::ServiceConfig, max_payload_bytes: usize) {
    config
        .route("/healthz", web::get().to(super::healthz))
        .route("/readyz", web::get().to(super::readyz))
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
