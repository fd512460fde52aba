//! `/api/v1/webhooks`: endpoint create, read, update, delete and secret.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::accounts::{existing, unknown_account};
use super::endpoint_input::{apply, generate_secret, new_endpoint, validate_secret, EndpointInput};
use super::pagination;
use crate::api::body::optional_json;
use crate::api::scope::{parse_account_id, Scope};
use crate::api::AppState;
use crate::clock::{format_rfc3339, now_ms};
use crate::delivery::target_guard::resolves_to_blocked;
use crate::domain::duration::format_duration;
use crate::domain::duration::parse_duration;
use crate::domain::{DisabledReason, Endpoint};
use crate::error::ApiError;
use crate::ids::EndpointId;

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
pub fn view(endpoint: &Endpoint) -> Value {
    let metadata: Value = serde_json::from_str(&endpoint.metadata_json).unwrap_or(json!({}));
    let mut view = json!({
        "id": endpoint.id.to_string(),
        "url": endpoint.url,
        "events": endpoint.events,
        "active": endpoint.active,
        "description": endpoint.description,
        "signature_header": endpoint.signature_header,
        "signature_style": endpoint.signature_style,
        "payload_format": endpoint.payload_format,
        "retry_schedule": endpoint.retry_schedule.as_ref().map(|s| s.as_strings()),
        "timeout": endpoint.timeout.map(format_duration),
        "max_in_flight": endpoint.max_in_flight,
        "rate_limit_per_s": endpoint.rate_limit_per_s,
        "debug_mode": endpoint.debug_mode,
        "metadata": metadata,
        "created_at": format_rfc3339(endpoint.created_at_ms),
        "updated_at": format_rfc3339(endpoint.updated_at_ms),
    });
    if let (Some(reason), Some(at)) = (endpoint.disabled_reason, endpoint.disabled_at_ms) {
        view["disabled_reason"] = json!(reason);
        view["disabled_at"] = json!(format_rfc3339(at));
    }
    if let Some(partner) = endpoint.partner_id {
        view["partner_id"] = json!(partner.to_string());
    }
    view["account_id"] = json!(endpoint.account_id);
    view["all_accounts"] = json!(endpoint.all_accounts);
    view
}

pub fn parse_id(raw: &str) -> Result<EndpointId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("endpoint"))
}

/// An endpoint this route may change: a partner's endpoint is changed only
/// through the partner routes, which keep its partner record and secret
/// index in step.
fn load_own(state: &AppState, raw_id: &str, scope: &Scope) -> Result<Endpoint, ApiError> {
    let endpoint = load(state, raw_id, scope)?;
    match endpoint.partner_id {
        Some(partner) => Err(ApiError::Conflict(format!(
            "this endpoint belongs to partner {partner}; change it through /api/v1/partners/{partner}"
        ))),
        None => Ok(endpoint),
    }
}

/// The endpoint in a path, if it exists and is in `scope`.
pub fn load(state: &AppState, raw_id: &str, scope: &Scope) -> Result<Endpoint, ApiError> {
    state
        .store
        .get_endpoint(parse_id(raw_id)?)?
        .filter(|endpoint| scope.sees(endpoint.account_id.as_ref()))
        .ok_or_else(|| ApiError::not_found("endpoint"))
}

/// Gives a new endpoint its account: the portal's own, or for the
/// operator the one named, which must exist.
fn assign_account(
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
                existing(state, &raw, unknown_account())?;
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

async fn create(
    state: web::Data<AppState>,
    scope: Scope,
    input: web::Json<EndpointInput>,
) -> Result<HttpResponse, ApiError> {
    let mut input = input.into_inner();
    assign_account(&state, &mut input, &scope)?;
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
    let mut body = view(&endpoint);
    body["secret"] = json!(endpoint.secret);
    Ok(HttpResponse::Created().json(body))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
struct EndpointListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    account_id: Option<String>,
}

async fn list(
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
        Some(account) => state.store.list_account_endpoints(&account, after, limit)?,
        None => state.store.list_endpoints(after, limit)?,
    };
    let next_cursor = pagination::next_cursor(&page, limit, |e| e.id);
    Ok(HttpResponse::Ok().json(json!({
        "data": page.iter().map(view).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

async fn get(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&load(&state, &id, &scope)?)))
}

async fn update(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
    input: web::Json<EndpointInput>,
) -> Result<HttpResponse, ApiError> {
    let mut endpoint = load_own(&state, &id, &scope)?;
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
            state.store.enable_endpoint(&mut endpoint, now).await?;
        }
        Some(false) if endpoint.active => {
            state
                .store
                .disable_endpoint(&mut endpoint, DisabledReason::Manual, now)
                .await?;
        }
        _ => state.store.save_endpoint(&endpoint).await?,
    }
    Ok(HttpResponse::Ok().json(view(&endpoint)))
}

async fn delete(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    load_own(&state, &id, &scope)?;
    if !state.store.delete_endpoint(parse_id(&id)?).await? {
        return Err(ApiError::not_found("endpoint"));
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn secret(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = load(&state, &id, &scope)?;
    Ok(HttpResponse::Ok().json(json!({ "secret": endpoint.secret })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateInput {
    secret: Option<String>,
    grace: Option<String>,
}

/// The old secret keeps signing beside the new one for the grace (default
/// 24h, `"0s"` for none), so receivers can switch without dropping a delivery.
async fn rotate_secret(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Read and checked before anything changes: a refused body rotates nothing.
    let input = optional_json::<RotateInput>(&request, payload).await?;
    let mut endpoint = load_own(&state, &id, &scope)?;
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
    Ok(HttpResponse::Ok().json(json!({
        "secret": endpoint.secret,
        "previous_secret_expires_at": endpoint.previous_secret_expires_ms.map(format_rfc3339),
    })))
}
