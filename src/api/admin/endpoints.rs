//! `/api/v1/webhooks`: endpoint create, read, update, delete and secret.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::accounts::{existing, unknown_account};
use super::endpoint_input::{apply, generate_secret, new_endpoint, validate_secret, EndpointInput};
use super::pagination::{self, Page};
use crate::api::body::optional_json;
use crate::api::scope::{parse_account_id, Scope};
use crate::api::AppState;
use crate::clock::{format_rfc3339, now_ms};
use crate::delivery::target_guard::resolves_to_blocked;
use crate::domain::duration::format_duration;
use crate::domain::duration::parse_duration;
use crate::domain::{DisabledReason, Endpoint, PayloadFormat, SignatureStyle};
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::ids::EndpointId;
use crate::service::endpoints;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/webhooks", web::post().to(create))
        .route("/webhooks", web::get().to(list))
        .route("/webhooks/{id}", web::get().to(get))
        .route("/webhooks/{id}", web::patch().to(update))
        .route("/webhooks/{id}", web::delete().to(delete))
        .route("/webhooks/{id}/secret", web::get().to(secret))
        .route(
            "/webhooks/{id}/secret/rotate",
            web::post().to(rotate_secret),
        );
}

/// The public view of an endpoint; the secret is never part of it.
#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    #[schema(example = "ep_01HQ3Z9V6Y8W1K2M3N4P5Q6R7S")]
    id: String,
    url: String,
    events: Vec<String>,
    active: bool,
    description: Option<String>,
    signature_header: String,
    signature_style: SignatureStyle,
    payload_format: PayloadFormat,
    /// Delays between attempts; null follows `delivery.retry_schedule`.
    retry_schedule: Option<Vec<String>>,
    /// Per-attempt timeout, e.g. `10s`; null follows `delivery.timeout`.
    timeout: Option<String>,
    max_in_flight: Option<u32>,
    rate_limit_per_s: Option<u32>,
    debug_mode: bool,
    #[schema(value_type = Object)]
    metadata: Value,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// Why the endpoint is disabled; only on a disabled endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<DisabledReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    disabled_at: Option<String>,
    /// The partner owning this endpoint, if a partner registered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_id: Option<String>,
    /// The account whose events this endpoint receives; null: the operator's.
    account_id: Option<String>,
    /// Receives every account's events (an operator's endpoint only).
    all_accounts: bool,
}

impl EndpointView {
    pub fn of(endpoint: &Endpoint) -> EndpointView {
        let disabled = endpoint.disabled_reason.zip(endpoint.disabled_at_ms);
        EndpointView {
            id: endpoint.id.to_string(),
            url: endpoint.url.clone(),
            events: endpoint.events.clone(),
            active: endpoint.active,
            description: endpoint.description.clone(),
            signature_header: endpoint.signature_header.clone(),
            signature_style: endpoint.signature_style,
            payload_format: endpoint.payload_format,
            retry_schedule: endpoint.retry_schedule.as_ref().map(|s| s.as_strings()),
            timeout: endpoint.timeout.map(format_duration),
            max_in_flight: endpoint.max_in_flight,
            rate_limit_per_s: endpoint.rate_limit_per_s,
            debug_mode: endpoint.debug_mode,
            metadata: serde_json::from_str(&endpoint.metadata_json).unwrap_or(json!({})),
            created_at: format_rfc3339(endpoint.created_at_ms),
            updated_at: format_rfc3339(endpoint.updated_at_ms),
            disabled_reason: disabled.map(|(reason, _)| reason),
            disabled_at: disabled.map(|(_, at)| format_rfc3339(at)),
            partner_id: endpoint.partner_id.map(|p| p.to_string()),
            account_id: endpoint.account_id.as_ref().map(|a| a.to_string()),
            all_accounts: endpoint.all_accounts,
        }
    }
}

/// A created endpoint: its view plus the signing secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    endpoint: EndpointView,
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct SecretView {
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    secret: String,
    /// Until when the previous secret still signs beside the new one.
    #[schema(format = DateTime)]
    previous_secret_expires_at: Option<String>,
}

pub fn parse_id(raw: &str) -> Result<EndpointId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("endpoint"))
}

/// An endpoint this route may change: a partner's endpoint is changed only
/// through the partner routes, which keep its partner record and secret
/// index in step.
async fn load_own(state: &AppState, raw_id: &str, scope: &Scope) -> Result<Endpoint, ApiError> {
    let endpoint = load(state, raw_id, scope).await?;
    match endpoint.partner_id {
        Some(partner) => Err(ApiError::Conflict(format!(
            "this endpoint belongs to partner {partner}; change it through /api/v1/partners/{partner}"
        ))),
        None => Ok(endpoint),
    }
}

/// The endpoint in a path, if it exists and is in `scope`.
pub async fn load(state: &AppState, raw_id: &str, scope: &Scope) -> Result<Endpoint, ApiError> {
    state
        .store
        .get_endpoint(parse_id(raw_id)?)
        .await?
        .filter(|endpoint| scope.sees(endpoint.account_id.as_ref()))
        .ok_or_else(|| ApiError::not_found("endpoint"))
}

/// Gives a new endpoint its account: the portal's own, or for the
/// operator the one named, which must exist.
async fn assign_account(
    state: &AppState,
    input: &mut EndpointInput,
    scope: &Scope,
) -> Result<(), ApiError> {
    let named = input.account_id.clone().flatten();
    match scope.account() {
        Some(own) => {
            if named.as_deref().is_some_and(|named| named != own.as_str()) {
                return Err(ApiError::invalid(
                    "invalid_account_id",
                    "a portal creates endpoints of its own account only",
                ));
            }
            input.account_id = Some(Some(own.to_string()));
        }
        None => {
            if let Some(raw) = named {
                existing(state, &raw, unknown_account()).await?;
            }
        }
    }
    Ok(())
}

/// Refuses a URL whose host name resolves to a forbidden address (docs/api.md, Endpoints).
/// IP literals were already checked when the URL was parsed.
async fn check_resolution(state: &AppState, url: &str) -> Result<(), ApiError> {
    if state.settings.delivery.allow_private_targets {
        return Ok(());
    }
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(());
    };
    match resolves_to_blocked(&parsed).await {
        Some(reason) => Err(ApiError::invalid(
            "invalid_url",
            format!(
                "url resolves to a {reason} address, which delivery.allow_private_targets forbids"
            ),
        )),
        None => Ok(()),
    }
}

/// Creates an endpoint; the answer is the only one that shows its secret.
#[utoipa::path(operation_id = "create_endpoint", post, path = "/api/v1/webhooks", tag = "admin", request_body = EndpointInput,
    responses((status = 201, description = "Created", body = CreatedEndpoint)))]
pub(crate) async fn create(
    state: web::Data<AppState>,
    scope: Scope,
    input: web::Json<EndpointInput>,
) -> Result<HttpResponse, ApiError> {
    let mut input = input.into_inner();
    assign_account(&state, &mut input, &scope).await?;
    let inactive = input.active == Some(false);
    let mut endpoint = new_endpoint(input, &state.settings, now_ms())?;
    check_resolution(&state, &endpoint.url).await?;
    if inactive {
        endpoint.active = false;
        endpoint.disabled_reason = Some(DisabledReason::Manual);
        endpoint.disabled_at_ms = Some(endpoint.created_at_ms);
    }
    state.store.save_endpoint(&endpoint).await?;
    tracing::info!(endpoint = %endpoint.id, url = %endpoint.url, "endpoint created");
    Ok(HttpResponse::Created().json(CreatedEndpoint {
        endpoint: EndpointView::of(&endpoint),
        secret: endpoint.secret,
    }))
}

/// `?limit=&cursor=&account_id=`: a page of endpoints, optionally of one account.
#[derive(Deserialize, IntoParams)]
pub(crate) struct EndpointListQuery {
    /// How many items to return.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only this account's endpoints (a portal always sees its own only).
    account_id: Option<String>,
}

/// Endpoints, oldest first.
#[utoipa::path(operation_id = "list_endpoints", get, path = "/api/v1/webhooks", tag = "admin", params(EndpointListQuery),
    responses((status = 200, description = "One page of endpoints", body = Page<EndpointView>)))]
pub(crate) async fn list(
    state: web::Data<AppState>,
    scope: Scope,
    query: web::Query<EndpointListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after = pagination::cursor::<EndpointId>(query.cursor.as_deref())?;
    let asked = query
        .account_id
        .as_deref()
        .map(parse_account_id)
        .transpose()?;
    let page = match scope.narrow(asked)? {
        Some(account) => {
            state
                .store
                .list_account_endpoints(&account, after, limit)
                .await?
        }
        None => state.store.list_endpoints(after, limit).await?,
    };
    let next_cursor = pagination::next_cursor(&page, limit, |e| e.id);
    Ok(HttpResponse::Ok().json(Page {
        data: page.iter().map(EndpointView::of).collect(),
        next_cursor,
    }))
}

#[utoipa::path(operation_id = "get_endpoint", get, path = "/api/v1/webhooks/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "The endpoint", body = EndpointView)))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(EndpointView::of(&load(&state, &id, &scope).await?)))
}

/// Changes the fields given; `null` puts an optional field back to its default.
#[utoipa::path(operation_id = "update_endpoint", patch, path = "/api/v1/webhooks/{id}", tag = "admin", params(("id" = String, Path)),
    request_body = EndpointInput,
    responses(
        (status = 200, description = "The updated endpoint", body = EndpointView),
        (status = 409, description = "The endpoint belongs to a partner", body = ErrorBody),
    ))]
pub(crate) async fn update(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
    input: web::Json<EndpointInput>,
) -> Result<HttpResponse, ApiError> {
    let mut endpoint = load_own(&state, &id, &scope).await?;
    let input = input.into_inner();
    let activation = input.active;
    let url_changed = input.url.is_some();
    apply(input, &mut endpoint, &state.settings)?;
    if url_changed {
        check_resolution(&state, &endpoint.url).await?;
    }
    let now = now_ms();
    endpoint.updated_at_ms = now;
    match activation {
        Some(true) if !endpoint.active => {
            endpoints::enable(&state.store, &mut endpoint, now).await?;
        }
        Some(false) if endpoint.active => {
            endpoints::disable(&state.store, &mut endpoint, DisabledReason::Manual, now).await?;
        }
        _ => state.store.save_endpoint(&endpoint).await?,
    }
    Ok(HttpResponse::Ok().json(EndpointView::of(&endpoint)))
}

/// Deletes the endpoint; its pending deliveries are cancelled.
#[utoipa::path(operation_id = "delete_endpoint", delete, path = "/api/v1/webhooks/{id}", tag = "admin", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The endpoint belongs to a partner", body = ErrorBody),
    ))]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    load_own(&state, &id, &scope).await?;
    if !endpoints::delete(&state.store, parse_id(&id)?).await? {
        return Err(ApiError::not_found("endpoint"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(operation_id = "get_endpoint_secret", get, path = "/api/v1/webhooks/{id}/secret", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, description = "The current signing secret", body = SecretView)))]
pub(crate) async fn secret(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = load(&state, &id, &scope).await?;
    Ok(HttpResponse::Ok().json(SecretView {
        secret: endpoint.secret,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateInput {
    /// The new secret (16 to 256 characters); generated when absent.
    #[schema(min_length = 16, max_length = 256)]
    secret: Option<String>,
    /// How long the old secret keeps signing, e.g. `1h`; `0s` for none.
    #[schema(default = "24h")]
    grace: Option<String>,
}

/// The old secret keeps signing beside the new one for the grace (default
/// 24h, `"0s"` for none), so receivers can switch without dropping a delivery.
#[utoipa::path(operation_id = "rotate_endpoint_secret", post, path = "/api/v1/webhooks/{id}/secret/rotate", tag = "admin",
    params(("id" = String, Path)),
    request_body(content = Option<RotateInput>, description = "Optional; without it a secret is generated"),
    responses(
        (status = 200, description = "The new secret", body = RotatedSecret),
        (status = 409, description = "The endpoint belongs to a partner", body = ErrorBody),
    ))]
pub(crate) async fn rotate_secret(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Read and checked before anything changes: a refused body rotates nothing.
    let input = optional_json::<RotateInput>(&request, payload).await?;
    let mut endpoint = load_own(&state, &id, &scope).await?;
    let input = input.unwrap_or(RotateInput {
        secret: None,
        grace: None,
    });
    let grace = parse_duration(input.grace.as_deref().unwrap_or("24h"))
        .map_err(|e| ApiError::invalid("invalid_grace", e.to_string()))?;
    let secret = match input.secret {
        Some(secret) => {
            validate_secret(&secret)?;
            secret
        }
        None => generate_secret(),
    };
    let now = now_ms();
    endpoint.rotate_secret(secret, grace.as_millis() as u64, now);
    state.store.save_endpoint(&endpoint).await?;
    tracing::info!(endpoint = %endpoint.id, "secret rotated");
    Ok(HttpResponse::Ok().json(RotatedSecret {
        previous_secret_expires_at: endpoint.previous_secret_expires_ms.map(format_rfc3339),
        secret: endpoint.secret,
    }))
}
