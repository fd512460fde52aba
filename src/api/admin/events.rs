//! `/api/v1/events`: publish one or a batch, read the log.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::accounts::{existing, unknown_account};
use super::deliveries::delivery_in_scope;
use super::pagination::{self, Page};
use crate::api::body::json_config;
use crate::api::scope::{parse_account_id, Scope};
use crate::api::AppState;
use crate::clock::{format_rfc3339, now_ms};
use crate::domain::event_type::EventType;
use crate::domain::filter::EventFilter;
use crate::domain::{AccountId, DeliveryStatus, Event};
use crate::error::ApiError;
use crate::ids::EventId;
use crate::metrics::metrics;
use crate::service::publish;
use crate::store::{AppendedEvent, EventQuery};

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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishInput {
    /// Dot-separated lowercase segments, e.g. `payment.succeeded`.
    #[serde(rename = "type")]
    #[schema(
        example = "payment.succeeded",
        pattern = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$",
        max_length = 128
    )]
    event_type: String,
    /// The event's payload, a JSON object.
    #[schema(value_type = Object)]
    data: Value,
    /// Same as the `Idempotency-Key` header (which wins); not allowed in a batch.
    #[schema(min_length = 1, max_length = 255)]
    idempotency_key: Option<String>,
    /// The account whose endpoints receive it (same as `X-Account-Id`); it must exist.
    account_id: Option<String>,
}

/// The account a publish names, which must exist (`422` otherwise).
async fn named_account(state: &AppState, raw: Option<&str>) -> Result<Option<AccountId>, ApiError> {
    match raw {
        Some(raw) => Ok(Some(existing(state, raw, unknown_account()).await?.id)),
        None => Ok(None),
    }
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

/// A published event, as acknowledged.
#[derive(Serialize, ToSchema)]
pub struct PublishedEvent {
    #[schema(example = "evt_01HQ3Z9V6Y8W1K2M3N4P5Q6R7S")]
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// How many deliveries it fanned out to.
    deliveries: u32,
}

#[derive(Serialize, ToSchema)]
pub struct PublishedBatch {
    data: Vec<PublishedEvent>,
}

/// An event of the log.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(value_type = Object)]
    data: Value,
    /// Where it came from when not the API, e.g. `partner:<id>` or `hookd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    /// Present (true) only on test events.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    test: bool,
    /// The account it was published for; absent: the operator's.
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
}

/// An event with the deliveries it fanned out to.
#[derive(Serialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    event: EventView,
    deliveries: Vec<EventDelivery>,
}

#[derive(Serialize, ToSchema)]
pub struct EventDelivery {
    id: String,
    endpoint_id: String,
    status: DeliveryStatus,
    attempts: u32,
}

/// Validates one publish body into an event stamped `now`.
async fn validate(
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
    event.account_id = named_account(state, input.account_id.as_deref()).await?;
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

fn answer(event: &AppendedEvent) -> PublishedEvent {
    PublishedEvent {
        id: event.id.to_string(),
        event_type: event.event_type.clone(),
        created_at: format_rfc3339(event.id.created_ms()),
        deliveries: event.deliveries,
    }
}

async fn store_events(
    state: &AppState,
    events: Vec<Event>,
    key: Option<String>,
    now: u64,
) -> Result<Vec<AppendedEvent>, ApiError> {
    let settings = &state.settings;
    let outcome = publish::publish(
        &state.store,
        events,
        key.as_deref(),
        settings.events.idempotency_window.as_millis() as u64,
        now,
    )
    .await?;
    Ok(outcome.events)
}

/// Publishes one event to every active endpoint subscribed to its type.
#[utoipa::path(operation_id = "publish_event", post, path = "/api/v1/events", tag = "admin", request_body = PublishInput,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "A repeat within `events.idempotency_window` stores nothing and gets the first answer")),
    responses((status = 202, description = "Stored durably and fanned out", body = PublishedEvent)))]
pub(crate) async fn publish(
    state: web::Data<AppState>,
    request: HttpRequest,
    input: web::Json<PublishInput>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let mut input = input.into_inner();
    let key = idempotency_key(&request, input.idempotency_key.take())?;
    input.account_id = publish_account(&request, input.account_id.as_deref())?.map(str::to_string);
    let now = now_ms();
    let event = validate(&state, input, state.settings.events.max_payload_bytes, now).await?;
    let stored = store_events(&state, vec![event], key, now).await?;
    let first = stored.first().ok_or(ApiError::Internal)?;
    let accepted = HttpResponse::Accepted().json(answer(first));
    metrics().publish_took(started.elapsed());
    Ok(accepted)
}

/// Publishes 1 to 1000 events at once, all or none.
#[utoipa::path(operation_id = "publish_events", post, path = "/api/v1/events/batch", tag = "admin",
    request_body(content = Vec<PublishInput>, description = "Items carry no `idempotency_key`; use the header"),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "A repeat within `events.idempotency_window` stores nothing and gets the first answer")),
    responses((status = 202, description = "Stored durably and fanned out", body = PublishedBatch)))]
pub(crate) async fn publish_batch(
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
        events.push(
            validate(&state, input, max_bytes, now)
                .await
                .map_err(at_index)?,
        );
    }
    let stored = store_events(&state, events, key, now).await?;
    let accepted = HttpResponse::Accepted().json(PublishedBatch {
        data: stored.iter().map(answer).collect(),
    });
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

impl EventView {
    pub fn of(event: &Event) -> EventView {
        EventView {
            id: event.id.to_string(),
            event_type: event.event_type.clone(),
            created_at: format_rfc3339(event.created_at_ms()),
            data: serde_json::from_str(&event.data_json).unwrap_or(json!({})),
            source: event.source.clone(),
            test: event.test,
            account_id: event.account_id.as_ref().map(|a| a.to_string()),
        }
    }
}

/// The log, oldest first, optionally within a time range and of some types.
#[utoipa::path(operation_id = "list_events", get, path = "/api/v1/events", tag = "admin",
    params(
        ("from" = Option<String>, Query, format = DateTime, description = "Events created at or after this time"),
        ("to" = Option<String>, Query, format = DateTime, description = "Events created before this time"),
        ("type" = Option<Vec<String>>, Query, explode = true,
            description = "Event types or categories (`payment.*`); repeat for several"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "How many items to return"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
        ("after" = Option<String>, Query,
            description = "Only events strictly after this event ID (`evt_…`), to follow the log"),
        ("account_id" = Option<String>, Query, description = "Only this account's events"),
    ),
    responses((status = 200, description = "One page of events", body = Page<EventView>)))]
pub(crate) async fn list(
    state: web::Data<AppState>,
    scope: Scope,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut query = parse_query(request.query_string())?;
    query.account = scope.narrow(query.account.take())?;
    let limit = query.limit;
    let page = state.store.query_events(query).await?;
    let next_cursor = pagination::next_cursor(&page, limit, |e| e.id);
    Ok(HttpResponse::Ok().json(Page {
        data: page.iter().map(EventView::of).collect(),
        next_cursor,
    }))
}

#[utoipa::path(operation_id = "get_event", get, path = "/api/v1/events/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "The event and its deliveries", body = EventDetail)))]
/// An event in scope with its deliveries; a portal sees only the
/// deliveries to its own endpoints.
pub(crate) async fn get(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EventId = id.parse().map_err(|_| ApiError::not_found("event"))?;
    let event = state
        .store
        .get_event(id)
        .await?
        .filter(|event| scope.sees(event.account_id.as_ref()))
        .ok_or_else(|| ApiError::not_found("event"))?;
    let mut deliveries = state.store.deliveries_of_event(id).await?;
    if scope.account().is_some() {
        let mut visible = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            if delivery_in_scope(&state, &delivery, &scope).await? {
                visible.push(delivery);
            }
        }
        deliveries = visible;
    }
    Ok(HttpResponse::Ok().json(EventDetail {
        event: EventView::of(&event),
        deliveries: deliveries
            .iter()
            .map(|d| EventDelivery {
                id: d.id.to_string(),
                endpoint_id: d.endpoint_id.to_string(),
                status: d.status,
                attempts: d.attempts,
            })
            .collect(),
    }))
}
