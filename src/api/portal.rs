//! `/portal/api/v1` on the public listener: the admin API's routes for
//! endpoints, events, deliveries and replay, limited to the one account a
//! portal token names (see `portal_token.rs`). The handlers are the admin
//! ones; the token becomes their [`Scope`].

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, Error};

use super::admin::{deliveries, delivery_search, endpoints, events, replay};
use super::auth::bearer;
use super::scope::Scope;
use super::{portal_token, AppState};
use crate::clock::now_ms;
use crate::error::ApiError;

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/portal/api/v1")
            .wrap(from_fn(require_portal_token))
            .configure(endpoints::routes)
            .configure(events::read_routes)
            .configure(deliveries::routes)
            .configure(delivery_search::routes)
            .configure(replay::routes),
    );
}

/// Admits a request whose bearer is an unexpired portal token of an account
/// that still exists; anything else is a `401`.
async fn require_portal_token(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or(ApiError::Internal)?;
    let account = bearer(request.request())
        .and_then(|token| portal_token::verify(&state.portal_key, token, now_ms()))
        .ok_or(ApiError::Unauthorized)?;
    if state
        .store
        .get_account(&account)
        .await
        .map_err(ApiError::from)?
        .is_none()
    {
        return Err(ApiError::Unauthorized.into());
    }
    Scope::Account(account).attach(&request);
    next.call(request).await
}
