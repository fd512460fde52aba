//! Routes of the public listener. Nothing under `/api/` answers here; the
//! portal's API is under `/portal/api/v1`, behind a portal token.

use actix_web::web;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(super::healthz))
        .configure(super::partners::routes)
        .configure(super::inbound::routes)
        .configure(super::portal::routes);
}
