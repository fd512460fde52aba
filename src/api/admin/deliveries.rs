//! Deliveries: inspect one with its attempts, list an endpoint's, resend one,
//! and send an endpoint a test event.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::endpoints::load;
use super::pagination::{self, Page};
use crate::api::scope::Scope;
use crate::api::AppState;
use crate::clock::{format_rfc3339, now_ms};
use crate::domain::event_type::EventType;
use crate::domain::{Attempt, Delivery, DeliveryStatus, Endpoint, Event};
use crate::error::{ApiError, ErrorBody};
use crate::ids::{DeliveryId, EndpointId};
use crate::service::publish;

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

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(example = "dlv_01HQ3Z9V6Y8W1K2M3N4P5Q6R7S")]
    id: String,
    event_id: String,
    endpoint_id: String,
    status: DeliveryStatus,
    /// Attempts made so far.
    attempts: u32,
    /// When the next attempt is due, while pending.
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl DeliveryView {
    pub fn of(delivery: &Delivery) -> DeliveryView {
        DeliveryView {
            id: delivery.id.to_string(),
            event_id: delivery.event_id.to_string(),
            endpoint_id: delivery.endpoint_id.to_string(),
            status: delivery.status,
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_ms.map(format_rfc3339),
            updated_at: format_rfc3339(delivery.updated_at_ms),
        }
    }
}

/// One delivery with every attempt made.
#[derive(Serialize, ToSchema)]
pub struct DeliveryDetail {
    id: String,
    event_id: String,
    endpoint_id: String,
    status: DeliveryStatus,
    attempts: Vec<AttemptView>,
    attempt_count: u32,
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first attempt.
    attempt: u32,
    #[schema(format = DateTime)]
    at: String,
    /// The receiver's HTTP status; null when no answer came.
    status_code: Option<u16>,
    duration_ms: u64,
    error: Option<String>,
    /// Only for an endpoint in debug mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_body: Option<String>,
}

impl AttemptView {
    fn of(attempt: &Attempt) -> AttemptView {
        AttemptView {
            attempt: attempt.attempt,
            at: format_rfc3339(attempt.at_ms),
            status_code: attempt.status_code,
            duration_ms: attempt.duration_ms,
            error: attempt.error.clone(),
            request_body: attempt.request_body.clone(),
            response_body: attempt.response_body.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RetryAccepted {
    id: String,
    status: DeliveryStatus,
}

#[derive(Serialize, ToSchema)]
pub struct TestSent {
    delivery_id: String,
    event_id: String,
}

fn parse_delivery_id(raw: &str) -> Result<DeliveryId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("delivery"))
}

/// Whether a delivery is in scope: a portal's are those to its endpoints.
pub(crate) async fn delivery_in_scope(
    state: &AppState,
    delivery: &Delivery,
    scope: &Scope,
) -> Result<bool, ApiError> {
    if scope.account().is_none() {
        return Ok(true);
    }
    let endpoint = state.store.get_endpoint(delivery.endpoint_id).await?;
    Ok(endpoint.is_some_and(|e| scope.sees(e.account_id.as_ref())))
}

/// The delivery in a path, if it exists and is in `scope`.
async fn load_delivery(
    state: &AppState,
    raw_id: &str,
    scope: &Scope,
) -> Result<Delivery, ApiError> {
    let delivery = state
        .store
        .get_delivery(parse_delivery_id(raw_id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    match delivery_in_scope(state, &delivery, scope).await? {
        true => Ok(delivery),
        false => Err(ApiError::not_found("delivery")),
    }
}

#[utoipa::path(operation_id = "get_delivery", get, path = "/api/v1/deliveries/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "The delivery and its attempts", body = DeliveryDetail)))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let delivery = load_delivery(&state, &id, &scope).await?;
    let id = delivery.id;
    let attempts = state.store.attempts_of(id).await?;
    Ok(HttpResponse::Ok().json(DeliveryDetail {
        id: delivery.id.to_string(),
        event_id: delivery.event_id.to_string(),
        endpoint_id: delivery.endpoint_id.to_string(),
        status: delivery.status,
        attempts: attempts.iter().map(AttemptView::of).collect(),
        attempt_count: delivery.attempts,
        next_attempt_at: delivery.next_attempt_ms.map(format_rfc3339),
        updated_at: format_rfc3339(delivery.updated_at_ms),
    }))
}

/// Sends the delivery again now, whatever its state.
#[utoipa::path(operation_id = "retry_delivery", post, path = "/api/v1/deliveries/{id}/retry", tag = "admin",
    params(("id" = String, Path)),
    responses(
        (status = 202, description = "Scheduled for an attempt now", body = RetryAccepted),
        (status = 409, description = "Held (endpoint disabled) or cancelled", body = ErrorBody),
    ))]
pub(crate) async fn retry(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = load_delivery(&state, &id, &scope).await?.id;
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
        _ => Ok(HttpResponse::Accepted().json(RetryAccepted {
            id: id.to_string(),
            status: DeliveryStatus::Pending,
        })),
    }
}

/// `?status=&limit=&cursor=`
#[derive(Deserialize, IntoParams)]
pub(crate) struct DeliveryQuery {
    /// Only deliveries in this state.
    #[param(value_type = Option<DeliveryStatus>)]
    status: Option<String>,
    /// How many items to return.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(operation_id = "list_endpoint_deliveries", get, path = "/api/v1/webhooks/{id}/deliveries", tag = "admin",
    params(("id" = String, Path), DeliveryQuery),
    responses((status = 200, description = "One page of deliveries", body = Page<DeliveryView>)))]
pub(crate) async fn list_for_endpoint(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = load(&state, &id, &scope).await?;
    endpoint_deliveries(&state, endpoint.id, &query).await
}

/// One page of an endpoint's deliveries, newest first; partners see theirs
/// through the same code.
pub(crate) async fn endpoint_deliveries(
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
        .deliveries_of_endpoint(endpoint, status, before, limit)
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        data: page.deliveries.iter().map(DeliveryView::of).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestInput {
    /// The event type to send, e.g. `payment.succeeded`.
    #[schema(
        example = "payment.succeeded",
        pattern = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$",
        max_length = 128
    )]
    event: String,
    /// The event's data, a JSON object; `{}` when absent.
    #[schema(value_type = Option<Object>)]
    data: Option<Value>,
}

/// Sends the endpoint a synthetic event marked `"test": true`.
#[utoipa::path(operation_id = "test_endpoint", post, path = "/api/v1/webhooks/{id}/test", tag = "admin",
    params(("id" = String, Path)), request_body = TestInput,
    responses((status = 202, description = "The test delivery is queued", body = TestSent)))]
pub(crate) async fn send_test(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
    input: web::Json<TestInput>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = load(&state, &id, &scope).await?;
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
    let event_id = publish::publish_one(&state.store, event, Some(&endpoint), now)
        .await?
        .id;
    let delivery = state
        .store
        .deliveries_of_event(event_id)
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::Internal)?;
    Ok(HttpResponse::Accepted().json(TestSent {
        delivery_id: delivery.id.to_string(),
        event_id: event_id.to_string(),
    }))
}
