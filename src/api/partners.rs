//! `/partners/*` on the public listener: self-registration, and
//! self-service for a partner authenticated by its own shared secret. A
//! partner only ever reaches its own record: every `/partners/me` route
//! resolves the partner from the bearer, never from a path or body.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::admin::deliveries::{
    endpoint_deliveries, send_test_to, DeliveryQuery, DeliveryView, TestInput, TestSent,
};
use super::admin::endpoint_input::{apply, new_endpoint, EndpointInput};
use super::admin::pagination::Page;
use super::auth::{bearer, bearer_is_one_of};
use super::AppState;
use crate::clock::{format_rfc3339, now_ms};
use crate::config::{RegistrationMode, Settings};
use crate::domain::duration::format_duration;
use crate::domain::partner::{generate_shared_secret, subscribable, validate_name};
use crate::domain::{Account, Endpoint, Partner, PartnerStatus, PayloadFormat, SignatureStyle};
use crate::error::{ApiError, ErrorBody};
use crate::ids::PartnerId;
use crate::operational::{emit, PARTNER_REGISTERED};

/// The partner protocol promises partners a five-second timeout.
const PARTNER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/partners/register", web::post().to(register))
        .route("/partners/me", web::get().to(me))
        .route("/partners/me", web::patch().to(update_me))
        .route("/partners/me/rotate-secret", web::post().to(rotate_secret))
        .route("/partners/me/deliveries", web::get().to(my_deliveries))
        .route("/partners/me/test", web::post().to(test_me));
}

/// What a partner (or an operator) sees of a partner; never the secret.
#[derive(Serialize, ToSchema)]
pub struct PartnerView {
    #[schema(example = "partner_01HQ3Z9V6Y8W1K2M3N4P5Q6R7S")]
    partner_id: String,
    partner_name: String,
    webhook_url: String,
    status: PartnerStatus,
    events_subscribed: Vec<String>,
    endpoint_id: String,
    #[schema(format = DateTime)]
    created_at: String,
}

impl PartnerView {
    pub fn of(partner: &Partner, endpoint: &Endpoint) -> PartnerView {
        PartnerView {
            partner_id: partner.id.to_string(),
            partner_name: partner.name.clone(),
            webhook_url: endpoint.url.clone(),
            status: partner.status,
            events_subscribed: endpoint.events.clone(),
            endpoint_id: endpoint.id.to_string(),
            created_at: format_rfc3339(partner.created_at_ms),
        }
    }
}

/// A registration's answer: the only time the shared secret is shown.
#[derive(Serialize, ToSchema)]
pub struct Registered {
    partner_id: String,
    webhook_url: String,
    shared_secret: String,
    status: PartnerStatus,
    events_subscribed: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedPartnerSecret {
    partner_id: String,
    shared_secret: String,
}

/// The requested events the catalog offers; none left is a 400.
fn catalog_events(requested: &[String], settings: &Settings) -> Result<Vec<String>, ApiError> {
    let kept = subscribable(requested, &settings.partners.events);
    if kept.is_empty() {
        return Err(ApiError::Malformed(format!(
            "none of the requested events is offered to partners; the catalog is [{}]",
            settings.partners.events.join(", ")
        )));
    }
    Ok(kept)
}

/// Who may register, per `partners.registration`.
fn admit_registration(state: &AppState, request: &HttpRequest) -> Result<(), ApiError> {
    match state.settings.partners.registration {
        RegistrationMode::Closed => {
            Err(ApiError::Forbidden("partner registration is closed".into()))
        }
        RegistrationMode::Token => {
            let known = bearer_is_one_of(request, &state.settings.partners.registration_tokens);
            known.then_some(()).ok_or(ApiError::Unauthorized)
        }
        RegistrationMode::Open => {
            // The socket's peer, not X-Forwarded-For, which any client can forge.
            let allowed = request
                .peer_addr()
                .is_none_or(|peer| state.registration_limiter.allow(peer.ip(), Instant::now()));
            allowed.then_some(()).ok_or(ApiError::TooManyRequests)
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterInput {
    partner_name: String,
    /// Where the partner receives its events.
    #[schema(example = "https://partner.example.com/webhooks")]
    webhook_url: String,
    /// Event types wanted; those outside `partners.events` are dropped.
    events: Vec<String>,
}

/// A partner registers itself and receives its shared secret. Depending on
/// `partners.registration` this is open (rate-limited per address), needs a
/// registration token, or is closed.
#[utoipa::path(operation_id = "register_partner", post, path = "/partners/register", tag = "public", request_body = RegisterInput,
    security((), ("registration_token" = [])),
    responses(
        (status = 201, description = "Registered", body = Registered),
        (status = 401, description = "A registration token is required", body = ErrorBody),
        (status = 403, description = "Registration is closed", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address", body = ErrorBody),
    ))]
pub(crate) async fn register(
    state: web::Data<AppState>,
    request: HttpRequest,
    input: web::Json<RegisterInput>,
) -> Result<HttpResponse, ApiError> {
    admit_registration(&state, &request)?;
    let input = input.into_inner();
    let settings = &state.settings;
    let name = validate_name(&input.partner_name)
        .map_err(|message| ApiError::invalid("invalid_partner_name", message))?;
    let events = catalog_events(&input.events, settings)?;
    let now = now_ms();
    let shared_secret = generate_shared_secret();
    let endpoint_input = EndpointInput {
        url: Some(input.webhook_url),
        events: Some(events),
        secret: Some(shared_secret.clone()),
        description: Some(Some(format!("partner: {name}"))),
        signature_style: Some(SignatureStyle::CanonicalJson),
        payload_format: Some(PayloadFormat::Flat),
        retry_schedule: Some(Some(settings.partners.retry_schedule.as_strings())),
        timeout: Some(Some(format_duration(PARTNER_TIMEOUT))),
        ..EndpointInput::default()
    };
    let mut endpoint = new_endpoint(endpoint_input, settings, now)?;
    let partner = Partner {
        id: PartnerId::generate(now),
        name,
        endpoint_id: endpoint.id,
        status: PartnerStatus::Active,
        created_at_ms: now,
    };
    endpoint.partner_id = Some(partner.id);
    let account = Account {
        id: partner.account_id(),
        name: partner.name.clone(),
        metadata_json: "{}".into(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    endpoint.account_id = Some(account.id.clone());
    state
        .store
        .create_partner(&partner, &account, &endpoint)
        .await?;
    tracing::info!(partner = %partner.id, endpoint = %endpoint.id, url = %endpoint.url, "partner registered");
    emit(
        &state.store,
        PARTNER_REGISTERED,
        json!({
            "partner_id": partner.id.to_string(),
            "partner_name": partner.name,
            "webhook_url": endpoint.url,
            "events_subscribed": endpoint.events,
        }),
    )
    .await;
    Ok(HttpResponse::Created().json(Registered {
        partner_id: partner.id.to_string(),
        webhook_url: endpoint.url,
        shared_secret,
        status: partner.status,
        events_subscribed: endpoint.events,
    }))
}

/// The partner whose shared secret is the bearer: unknown → 401,
/// suspended → 403.
async fn authenticate(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(Partner, Endpoint), ApiError> {
    let secret = bearer(request).ok_or(ApiError::Unauthorized)?;
    let (partner, endpoint) = state
        .store
        .partner_by_secret(secret)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if partner.status == PartnerStatus::Suspended {
        return Err(ApiError::Forbidden("this partner is suspended".into()));
    }
    Ok((partner, endpoint))
}

/// The partner's own record.
#[utoipa::path(operation_id = "get_own_partner", get, path = "/partners/me", tag = "public",
    responses(
        (status = 200, description = "The partner", body = PartnerView),
    ))]
pub(crate) async fn me(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (partner, endpoint) = authenticate(&state, &request).await?;
    Ok(HttpResponse::Ok().json(PartnerView::of(&partner, &endpoint)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartnerPatch {
    webhook_url: Option<String>,
    /// Replaces the subscription; types outside `partners.events` are dropped.
    events: Option<Vec<String>>,
}

/// Changes the partner's URL or subscription.
#[utoipa::path(operation_id = "update_own_partner", patch, path = "/partners/me", tag = "public",
    request_body = PartnerPatch,
    responses(
        (status = 200, description = "The partner", body = PartnerView),
    ))]
pub(crate) async fn update_me(
    state: web::Data<AppState>,
    request: HttpRequest,
    input: web::Json<PartnerPatch>,
) -> Result<HttpResponse, ApiError> {
    let (partner, mut endpoint) = authenticate(&state, &request).await?;
    let input = input.into_inner();
    let events = input
        .events
        .map(|requested| catalog_events(&requested, &state.settings))
        .transpose()?;
    let changes = EndpointInput {
        url: input.webhook_url,
        events,
        ..EndpointInput::default()
    };
    apply(changes, &mut endpoint, &state.settings)?;
    endpoint.updated_at_ms = now_ms();
    state.store.save_endpoint(&endpoint).await?;
    Ok(HttpResponse::Ok().json(PartnerView::of(&partner, &endpoint)))
}

/// Replaces the shared secret at once; the old one stops working.
#[utoipa::path(operation_id = "rotate_partner_secret", post, path = "/partners/me/rotate-secret", tag = "public",
    responses(
        (status = 200, description = "The new shared secret", body = RotatedPartnerSecret),
    ))]
pub(crate) async fn rotate_secret(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (partner, mut endpoint) = authenticate(&state, &request).await?;
    let shared_secret = generate_shared_secret();
    state
        .store
        .rotate_partner_secret(&partner, &mut endpoint, shared_secret.clone(), now_ms())
        .await?;
    tracing::info!(partner = %partner.id, "partner rotated its shared secret");
    Ok(HttpResponse::Ok().json(RotatedPartnerSecret {
        partner_id: partner.id.to_string(),
        shared_secret,
    }))
}

/// The partner's deliveries, newest first.
#[utoipa::path(operation_id = "list_own_deliveries", get, path = "/partners/me/deliveries", tag = "public", params(DeliveryQuery),
    responses(
        (status = 200, description = "One page of deliveries", body = Page<DeliveryView>),
    ))]
pub(crate) async fn my_deliveries(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (_, endpoint) = authenticate(&state, &request).await?;
    endpoint_deliveries(&state, endpoint.id, &query).await
}

/// Sends the partner's endpoint a synthetic event marked `"test": true`.
#[utoipa::path(operation_id = "test_own_endpoint", post, path = "/partners/me/test", tag = "public", request_body = TestInput,
    responses(
        (status = 202, description = "The test delivery is queued", body = TestSent),
    ))]
pub(crate) async fn test_me(
    state: web::Data<AppState>,
    request: HttpRequest,
    input: web::Json<TestInput>,
) -> Result<HttpResponse, ApiError> {
    let (_, endpoint) = authenticate(&state, &request).await?;
    send_test_to(&state, endpoint, input.into_inner()).await
}
