//! Routes of the public listener. Nothing under `/api/` answers here; an
//! account's portal is the console's pages at `/portal/`, calling its API
//! under `/portal/api/v1` behind a portal token.

use actix_web::web;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(super::healthz))
        .configure(super::partners::routes)
        .configure(super::inbound::routes)
        .configure(super::portal::routes)
        .configure(super::console::portal_routes);
}
