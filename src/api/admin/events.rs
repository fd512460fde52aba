//! `/api/v1/events`: publish one or a batch, read the log.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::accounts::{existing, unknown_account};
use super::deliveries::delivery_in_scope;
use super::pagination;
use crate::api::body::json_config;
use crate::api::scope::{parse_account_id, Scope};
use crate::api::AppState;
use crate::clock::{format_rfc3339, now_ms};
use crate::domain::event_type::EventType;
use crate::domain::filter::EventFilter;
use crate::domain::{AccountId, Event};
use crate::error::ApiError;
use crate::ids::EventId;
use crate::metrics::metrics;
use crate::store::{AppendedEvent, EventQuery, NewEvent};

/// Largest batch accepted by `/events/batch`.
const MAX_BATCH: usize = 1000;

/// `max_payload_bytes` bounds a single publish body; a batch may carry up to
/// that much per item, within a fixed ceiling so one request stays bounded.
pub fn routes(config: &mut web::ServiceConfig, max_payload_bytes: usize) {
    let batch_limit = max_payload_bytes
        .saturating_mul(MAX_BATCH)
        .min(BATCH_BODY_CEILING);
    config
        .service(
            web::resource("/events")
                .app_data(json_config(max_payload_bytes))
                .route(web::post().to(publish))
                .route(web::get().to(list)),
        )
        .service(
            web::resource("/events/batch")
                .app_data(json_config(batch_limit))
                .route(web::post().to(publish_batch)),
        )
        .route("/events/{id}", web::get().to(get));
}

/// The log without publishing, for the portal.
pub fn read_routes(config: &mut web::ServiceConfig) {
    config
        .route("/events", web::get().to(list))
        .route("/events/{id}", web::get().to(get));
}

const BATCH_BODY_CEILING: usize = 32 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishInput {
    #[serde(rename = "type")]
    event_type: String,
    data: Value,
    idempotency_key: Option<String>,
    account_id: Option<String>,
}

/// The account a publish names, which must exist (`422` otherwise).
fn named_account(state: &AppState, raw: Option<&str>) -> Result<Option<AccountId>, ApiError> {
    raw.map(|raw| existing(state, raw, unknown_account()).map(|account| account.id))
        .transpose()
}

/// A single publish may name its account in the body or in `X-Account-Id`;
/// naming two different ones is refused.
fn publish_account<'a>(
    request: &'a HttpRequest,
    body: Option<&'a str>,
) -> Result<Option<&'a str>, ApiError> {
    let header = request
        .headers()
        .get("X-Account-Id")
        .map(|v| v.to_str())
        .transpose()
        .map_err(|_| {
            ApiError::invalid("invalid_account_id", "X-Account-Id must be an account ID")
        })?;
    match (header, body) {
        (Some(header), Some(body)) if header != body => Err(ApiError::invalid(
            "invalid_account_id",
            "X-Account-Id and the body's account_id name different accounts",
        )),
        (header, body) => Ok(header.or(body)),
    }
}

/// Validates one publish body into an event stamped `now`.
fn validate(
    state: &AppState,
    input: PublishInput,
    max_bytes: usize,
    now: u64,
) -> Result<Event, ApiError> {
    let event_type = EventType::parse(&input.event_type)
        .map_err(|e| ApiError::invalid("invalid_event_type", e.to_string()))?;
    if !input.data.is_object() {
        return Err(ApiError::invalid(
            "invalid_data",
            "data must be a JSON object",
        ));
    }
    let mut event = Event::new(&event_type, &input.data, now);
    if event.data_json.len() > max_bytes {
        return Err(ApiError::TooLarge(max_bytes));
    }
    event.account_id = named_account(state, input.account_id.as_deref())?;
    Ok(event)
}

fn idempotency_key(
    request: &HttpRequest,
    body_key: Option<String>,
) -> Result<Option<String>, ApiError> {
    let header = request
        .headers()
        .get("Idempotency-Key")
        .map(|v| v.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| {
            ApiError::invalid(
                "invalid_idempotency_key",
                "Idempotency-Key must be visible ASCII",
            )
        })?;
    let key = header.or(body_key);
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 255) {
        return Err(ApiError::invalid(
            "invalid_idempotency_key",
            "an idempotency key must be 1 to 255 characters",
        ));
    }
    Ok(key)
}

fn answer(event: &AppendedEvent) -> Value {
    json!({
        "id": event.id.to_string(),
        "type": event.event_type,
        "created_at": format_rfc3339(event.id.created_ms()),
        "deliveries": event.deliveries,
    })
}

async fn store_events(
    state: &AppState,
    events: Vec<Event>,
    key: Option<String>,
    now: u64,
) -> Result<Vec<AppendedEvent>, ApiError> {
    let settings = &state.settings;
    let outcome = state
        .store
        .append_events(
            events
                .into_iter()
                .map(|event| NewEvent {
                    event,
                    only_to: None,
                })
                .collect(),
            key.as_deref(),
            settings.events.idempotency_window.as_millis() as u64,
            &settings.delivery.retry_schedule,
            now,
        )
        .await?;
    Ok(outcome.events)
}

async fn publish(
    state: web::Data<AppState>,
    request: HttpRequest,
    input: web::Json<PublishInput>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let mut input = input.into_inner();
    let key = idempotency_key(&request, input.idempotency_key.take())?;
    input.account_id = publish_account(&request, input.account_id.as_deref())?.map(str::to_string);
    let now = now_ms();
    let event = validate(&state, input, state.settings.events.max_payload_bytes, now)?;
    let stored = store_events(&state, vec![event], key, now).await?;
    let first = stored.first().ok_or(ApiError::Internal)?;
    let accepted = HttpResponse::Accepted().json(answer(first));
    metrics().publish_took(started.elapsed());
    Ok(accepted)
}

async fn publish_batch(
    state: web::Data<AppState>,
    request: HttpRequest,
    input: web::Json<Vec<Value>>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let items = input.into_inner();
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "invalid_batch",
            format!("a batch holds 1 to {MAX_BATCH} events"),
        ));
    }
    let key = idempotency_key(&request, None)?;
    if request.headers().contains_key("X-Account-Id") {
        return Err(ApiError::invalid(
            "invalid_account_id",
            "a batch names each item's account in its account_id, not in X-Account-Id",
        ));
    }
    let now = now_ms();
    let max_bytes = state.settings.events.max_payload_bytes;
    let mut events = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let at_index = |error: ApiError| match error {
            ApiError::Invalid { code, message } => {
                ApiError::invalid(code, format!("item {index}: {message}"))
            }
            ApiError::TooLarge(_) => ApiError::invalid(
                "payload_too_large",
                format!("item {index}: data is larger than {max_bytes} bytes"),
            ),
            other => other,
        };
        let input: PublishInput = serde_json::from_value(item)
            .map_err(|e| at_index(ApiError::invalid("invalid_body", e.to_string())))?;
        if input.idempotency_key.is_some() {
            return Err(at_index(ApiError::invalid(
                "invalid_body",
                "use the Idempotency-Key header for a batch",
            )));
        }
        events.push(validate(&state, input, max_bytes, now).map_err(at_index)?);
    }
    let stored = store_events(&state, events, key, now).await?;
    let accepted = HttpResponse::Accepted().json(json!({
        "data": stored.iter().map(answer).collect::<Vec<_>>(),
    }));
    metrics().publish_took(started.elapsed());
    Ok(accepted)
}

/// `?from=&to=&type=&type=&limit=&after=` (`cursor=` is `after=` under the
/// name every list route pages with); `type` repeats, so the query is read
/// by hand rather than through `web::Query`.
fn parse_query(query_string: &str) -> Result<EventQuery, ApiError> {
    let mut from_ms = None;
    let mut to_ms = None;
    let mut types = Vec::new();
    let mut limit = None;
    let mut cursor = None;
    let mut after = None;
    let mut account = None;
    for (name, value) in url::form_urlencoded::parse(query_string.as_bytes()) {
        match name.as_ref() {
            "from" => from_ms = Some(pagination::time("from", &value)?),
            "to" => to_ms = Some(pagination::time("to", &value)?),
            "type" => types.push(value.into_owned()),
            "limit" => limit = Some(pagination::limit_number(&value)?),
            "cursor" => cursor = Some(value.into_owned()),
            "account_id" => account = Some(parse_account_id(&value)?),
            "after" => {
                after = Some(value.parse::<EventId>().map_err(|_| {
                    ApiError::invalid("invalid_after", "after must be an event ID (evt_…)")
                })?)
            }
            other => {
                return Err(ApiError::invalid(
                    "invalid_query",
                    format!("unknown query parameter {other}"),
                ))
            }
        }
    }
    pagination::check_range(from_ms, to_ms)?;
    let types = (!types.is_empty())
        .then(|| EventFilter::parse(&types))
        .transpose()
        .map_err(|e| ApiError::invalid("invalid_type", e.to_string()))?;
    let cursor = pagination::cursor(cursor.as_deref())?;
    if after.is_some() && cursor.is_some() {
        return Err(ApiError::invalid(
            "invalid_query",
            "after and cursor mean the same: give one",
        ));
    }
    Ok(EventQuery {
        from_ms,
        to_ms,
        types,
        after: after.or(cursor),
        account,
        limit: pagination::limit(limit)?,
    })
}

pub fn event_view(event: &Event) -> Value {
    let data: Value = serde_json::from_str(&event.data_json).unwrap_or(json!({}));
    let mut view = json!({
        "id": event.id.to_string(),
        "type": event.event_type,
        "created_at": format_rfc3339(event.created_at_ms()),
        "data": data,
    });
    if let Some(source) = &event.source {
        view["source"] = json!(source);
    }
    if event.test {
        view["test"] = json!(true);
    }
    if let Some(account) = &event.account_id {
        view["account_id"] = json!(account);
    }
    view
}

async fn list(
    state: web::Data<AppState>,
    scope: Scope,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut query = parse_query(request.query_string())?;
    query.account = scope.narrow(query.account.take())?;
    let limit = query.limit;
    let page = state
        .store
        .blocking(move |store| store.query_events(&query))
        .await?;
    let next_cursor = pagination::next_cursor(&page, limit, |e| e.id);
    Ok(HttpResponse::Ok().json(json!({
        "data": page.iter().map(event_view).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

/// An event in scope with its deliveries; a portal sees only the
/// deliveries to its own endpoints.
async fn get(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EventId = id.parse().map_err(|_| ApiError::not_found("event"))?;
    let event = state
        .store
        .get_event(id)?
        .filter(|event| scope.sees(event.account_id.as_ref()))
        .ok_or_else(|| ApiError::not_found("event"))?;
    let mut deliveries = state.store.deliveries_of_event(id)?;
    if scope.account().is_some() {
        let mut visible = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            if delivery_in_scope(&state, &delivery, &scope)? {
                visible.push(delivery);
            }
        }
        deliveries = visible;
    }
    let mut view = event_view(&event);
    view["deliveries"] = deliveries
        .iter()
        .map(|d| {
            json!({
                "id": d.id.to_string(),
                "endpoint_id": d.endpoint_id.to_string(),
                "status": d.status.as_str(),
                "attempts": d.attempts,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(view))
}
