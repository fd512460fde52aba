//! Deliveries: inspect one with its attempts, list an endpoint's, resend one,
//! and send an endpoint a test event.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::endpoints::load;
use super::pagination;
use crate::api::scope::Scope;
use crate::api::AppState;
use crate::clock::{format_rfc3339, now_ms};
use crate::domain::event_type::EventType;
use crate::domain::{Attempt, Delivery, DeliveryStatus, Endpoint, Event};
use crate::error::ApiError;
use crate::ids::{DeliveryId, EndpointId};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/deliveries/{id}", web::get().to(get))
        .route("/deliveries/{id}/retry", web::post().to(retry))
        .route(
            "/webhooks/{id}/deliveries",
            web::get().to(list_for_endpoint),
        )
        .route("/webhooks/{id}/test", web::post().to(send_test));
}

pub fn delivery_view(delivery: &Delivery) -> Value {
    json!({
        "id": delivery.id.to_string(),
        "event_id": delivery.event_id.to_string(),
        "endpoint_id": delivery.endpoint_id.to_string(),
        "status": delivery.status.as_str(),
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_ms.map(format_rfc3339),
        "updated_at": format_rfc3339(delivery.updated_at_ms),
    })
}

fn attempt_view(attempt: &Attempt) -> Value {
    let mut view = json!({
        "attempt": attempt.attempt,
        "at": format_rfc3339(attempt.at_ms),
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
    });
    if let Some(body) = &attempt.request_body {
        view["request_body"] = json!(body);
    }
    if let Some(body) = &attempt.response_body {
        view["response_body"] = json!(body);
    }
    view
}

fn parse_delivery_id(raw: &str) -> Result<DeliveryId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("delivery"))
}

/// Whether a delivery is in scope: a portal's are those to its endpoints.
pub(crate) fn delivery_in_scope(
    state: &AppState,
    delivery: &Delivery,
    scope: &Scope,
) -> Result<bool, ApiError> {
    if scope.account().is_none() {
        return Ok(true);
    }
    let endpoint = state.store.get_endpoint(delivery.endpoint_id)?;
    Ok(endpoint.is_some_and(|e| scope.sees(e.account_id.as_ref())))
}

/// The delivery in a path, if it exists and is in `scope`.
fn load_delivery(state: &AppState, raw_id: &str, scope: &Scope) -> Result<Delivery, ApiError> {
    let delivery = state
        .store
        .get_delivery(parse_delivery_id(raw_id)?)?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    match delivery_in_scope(state, &delivery, scope)? {
        true => Ok(delivery),
        false => Err(ApiError::not_found("delivery")),
    }
}

async fn get(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let delivery = load_delivery(&state, &id, &scope)?;
    let id = delivery.id;
    let mut view = delivery_view(&delivery);
    view["attempts"] = state
        .store
        .attempts_of(id)?
        .iter()
        .map(attempt_view)
        .collect();
    view["attempt_count"] = json!(delivery.attempts);
    Ok(HttpResponse::Ok().json(view))
}

async fn retry(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = load_delivery(&state, &id, &scope)?.id;
    let before = state
        .store
        .retry_now(id, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    match before.status {
        DeliveryStatus::Held => Err(ApiError::Conflict(
            "the delivery is held because its endpoint is disabled; re-enable the endpoint".into(),
        )),
        DeliveryStatus::Cancelled => Err(ApiError::Conflict(
            "the delivery was cancelled with its endpoint".into(),
        )),
        _ => Ok(HttpResponse::Accepted().json(json!({"id": id.to_string(), "status": "pending"}))),
    }
}

#[derive(Deserialize)]
pub(crate) struct DeliveryQuery {
    status: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_for_endpoint(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = load(&state, &id, &scope)?;
    endpoint_deliveries(&state, endpoint.id, &query)
}

/// One page of an endpoint's deliveries, newest first; partners see theirs
/// through the same code.
pub(crate) fn endpoint_deliveries(
    state: &AppState,
    endpoint: EndpointId,
    query: &DeliveryQuery,
) -> Result<HttpResponse, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            DeliveryStatus::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_status",
                    "status must be pending, succeeded, failed, held or cancelled",
                )
            })
        })
        .transpose()?;
    let limit = pagination::limit(query.limit)?;
    let before = pagination::cursor::<DeliveryId>(query.cursor.as_deref())?;
    let page = state
        .store
        .deliveries_of_endpoint(endpoint, status, before, limit)?;
    Ok(HttpResponse::Ok().json(json!({
        "data": page.deliveries.iter().map(delivery_view).collect::<Vec<_>>(),
        "next_cursor": page.next.map(|id| id.to_string()),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestInput {
    event: String,
    data: Option<Value>,
}

async fn send_test(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
    input: web::Json<TestInput>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = load(&state, &id, &scope)?;
    send_test_to(&state, endpoint, input.into_inner()).await
}

/// A synthetic `"test": true` event delivered to `endpoint` only, through
/// the normal pipeline; partners test their own endpoint through this too.
pub(crate) async fn send_test_to(
    state: &AppState,
    endpoint: Endpoint,
    input: TestInput,
) -> Result<HttpResponse, ApiError> {
    let event_type = EventType::parse(&input.event)
        .map_err(|e| ApiError::invalid("invalid_event_type", e.to_string()))?;
    let data = input.data.unwrap_or_else(|| json!({}));
    if !data.is_object() {
        return Err(ApiError::invalid(
            "invalid_data",
            "data must be a JSON object",
        ));
    }
    let now = now_ms();
    let mut event = Event::new(&event_type, &data, now);
    event.test = true;
    // In the account's log, so its portal sees the test it sent.
    event.account_id = endpoint.account_id.clone();
    let event_id = state
        .store
        .append_event(
            event,
            Some(endpoint),
            &state.settings.delivery.retry_schedule,
            now,
        )
        .await?
        .id;
    let delivery = state
        .store
        .deliveries_of_event(event_id)?
        .into_iter()
        .next()
        .ok_or(ApiError::Internal)?;
    Ok(HttpResponse::Accepted().json(json!({
        "delivery_id": delivery.id.to_string(),
        "event_id": event_id.to_string(),
    })))
}
