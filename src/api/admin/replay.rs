//! `/api/v1/replay`: lists jobs; validates a replay request (docs/api.md,
//! Replay), stores it as a job and hands it to the background runner; and
//! reports a job's progress. Every check happens before the job is stored,
//! so a bad request schedules nothing.

use std::future::Future;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::{existing, unknown_account};
use super::pagination::{self, Page, PageQuery};
use crate::api::scope::Scope;
use crate::api::AppState;
use crate::clock::{format_rfc3339, now_ms, parse_rfc3339};
use crate::domain::filter::EventFilter;
use crate::domain::replay::{ReplayJob, ReplayRequest, ReplaySelection, ReplayStatus};
use crate::domain::AccountId;
use crate::error::ApiError;
use crate::ids::{EndpointId, EventId, Id, IdKind, ReplayId};
use crate::replay;
use crate::store::EventQuery;

/// Most hand-picked events in one request; larger sets are a range.
const MAX_EVENT_IDS: usize = 10_000;
/// How many offending IDs an error message names.
const NAMED_IN_ERRORS: usize = 10;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/replay", web::post().to(create))
        .route("/replay", web::get().to(list))
        .route("/replay/{id}", web::get().to(get));
}

/// Either `from` and `to`, or `event_ids`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplayInput {
    /// Start of the range (inclusive), RFC 3339 UTC.
    #[schema(format = DateTime)]
    from: Option<String>,
    /// End of the range (exclusive), RFC 3339 UTC.
    #[schema(format = DateTime)]
    to: Option<String>,
    /// Only events of these types or categories.
    types: Option<Vec<String>>,
    /// Only to these endpoints, instead of every current subscriber.
    endpoint_ids: Option<Vec<String>>,
    /// Only pairs whose latest delivery failed.
    #[serde(default)]
    only_failed: bool,
    /// Hand-picked events, at most 10000.
    event_ids: Option<Vec<String>>,
    /// Only this account's events, to its endpoints; a portal's replay is always its own.
    account_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayView {
    #[schema(example = "rpl_01HQ3Z9V6Y8W1K2M3N4P5Q6R7S")]
    id: String,
    status: ReplayStatus,
    events_matched: u64,
    deliveries_scheduled: u64,
    /// Pairs left out because their endpoint is disabled.
    skipped: u64,
    /// How far the job has got, from 0 to 1.
    progress: f64,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    finished_at: Option<String>,
    /// Why the job failed; only on a failed job.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl ReplayView {
    pub fn of(job: &ReplayJob) -> ReplayView {
        ReplayView {
            id: job.id.to_string(),
            status: job.status,
            events_matched: job.events_matched,
            deliveries_scheduled: job.deliveries_scheduled,
            skipped: job.skipped_disabled,
            progress: job.progress(),
            created_at: format_rfc3339(job.created_at_ms),
            finished_at: job.finished_at_ms.map(format_rfc3339),
            error: job
                .error
                .clone()
                .filter(|_| job.status == ReplayStatus::Failed),
        }
    }
}

/// Sends events of the log again, as a background job.
#[utoipa::path(operation_id = "create_replay", post, path = "/api/v1/replay", tag = "admin", request_body = ReplayInput,
    responses((status = 202, description = "The job is stored and running", body = ReplayView)))]
pub(crate) async fn create(
    state: web::Data<AppState>,
    scope: Scope,
    input: web::Json<ReplayInput>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let request = validate(&state, &scope, input.into_inner(), now).await?;
    let job = ReplayJob::new(request, now);
    state.store.create_replay(&job).await?;
    tracing::info!(replay = %job.id, "replay accepted");
    let current = replay::start(
        state.store.clone(),
        state.settings.clone(),
        job.id,
        state.shutdown.handle(),
    )
    .await
    .unwrap_or(job);
    Ok(HttpResponse::Accepted().json(ReplayView::of(&current)))
}

/// Jobs newest first, so the console shows the latest progress on top. A
/// portal sees its own account's jobs only; the cursor still walks every
/// job, so such a page may come back short.
#[utoipa::path(operation_id = "list_replays", get, path = "/api/v1/replay", tag = "admin", params(PageQuery),
    responses((status = 200, description = "One page of replay jobs", body = Page<ReplayView>)))]
pub(crate) async fn list(
    state: web::Data<AppState>,
    scope: Scope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let before = pagination::cursor::<ReplayId>(query.cursor.as_deref())?;
    let page = state.store.list_replays(before, limit).await?;
    let next_cursor = pagination::next_cursor(&page, limit, |job| job.id);
    Ok(HttpResponse::Ok().json(Page {
        data: page
            .iter()
            .filter(|job| scope.sees(job.request.account_id.as_ref()))
            .map(ReplayView::of)
            .collect(),
        next_cursor,
    }))
}

#[utoipa::path(operation_id = "get_replay", get, path = "/api/v1/replay/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "The job's progress", body = ReplayView)))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ReplayId = id.parse().map_err(|_| ApiError::not_found("replay"))?;
    let job = state
        .store
        .get_replay(id)
        .await?
        .filter(|job| scope.sees(job.request.account_id.as_ref()))
        .ok_or_else(|| ApiError::not_found("replay"))?;
    Ok(HttpResponse::Ok().json(ReplayView::of(&job)))
}

/// Checks a replay request within `scope`. A portal's replay is always
/// limited to its account, and IDs outside it are answered as unknown ones
/// (a `404` there, since it cannot know what exists beyond its account).
async fn validate(
    state: &AppState,
    scope: &Scope,
    input: ReplayInput,
    now: u64,
) -> Result<ReplayRequest, ApiError> {
    let asked = match input.account_id {
        Some(raw) => Some(existing(state, &raw, unknown_account()).await?.id),
        None => None,
    };
    let account = scope.narrow(asked)?;
    let unknown = |code: &'static str, message: String| match scope.account() {
        Some(_) => ApiError::NotFound(message),
        None => ApiError::invalid(code, message),
    };
    let selection = match (input.event_ids, input.from, input.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::invalid(
                "invalid_selection",
                "give either from and to, or event_ids, not both",
            ))
        }
        (Some(ids), None, None) => {
            ReplaySelection::Events(event_ids(state, scope, ids, &unknown).await?)
        }
        (None, Some(from), Some(to)) => range(state, &from, &to, account.clone(), now).await?,
        (None, _, _) => {
            return Err(ApiError::invalid(
                "invalid_selection",
                "a replay needs from and to, or event_ids",
            ))
        }
    };
    let types = input
        .types
        .map(|list| {
            EventFilter::parse(&list)
                .map_err(|e| ApiError::invalid("invalid_types", format!("types: {e}")))?;
            Ok::<_, ApiError>(list)
        })
        .transpose()?;
    let endpoint_ids = match input.endpoint_ids {
        Some(ids) => Some(endpoint_ids(state, scope, ids, &unknown).await?),
        None => None,
    };
    Ok(ReplayRequest {
        selection,
        types,
        endpoint_ids,
        only_failed: input.only_failed,
        account_id: account,
    })
}

async fn range(
    state: &AppState,
    from: &str,
    to: &str,
    account: Option<AccountId>,
    now: u64,
) -> Result<ReplaySelection, ApiError> {
    let time = |name: &str, text: &str| {
        parse_rfc3339(text).ok_or_else(|| {
            ApiError::invalid(
                "invalid_time",
                format!("{name} must be an RFC 3339 UTC time such as 2024-01-15T10:00:00Z"),
            )
        })
    };
    let from_ms = time("from", from)?;
    let to_ms = time("to", to)?;
    if from_ms > to_ms {
        return Err(ApiError::invalid(
            "invalid_range",
            "from must not be after to",
        ));
    }
    let retention = state.settings.storage.event_retention.as_millis() as u64;
    if to_ms <= now.saturating_sub(retention) {
        return Err(ApiError::invalid(
            "range_beyond_retention",
            "the whole range is older than storage.event_retention: those events are gone",
        ));
    }
    // Events published after now reach their subscribers anyway; replaying
    // them as well would send them twice. The range ends after the current
    // millisecond, not at its start, so an event published just before this
    // request is replayed (one published in the same millisecond just after
    // it may be sent twice, as at-least-once delivery allows).
    let to_ms = to_ms.min(now + 1);
    if from_ms >= to_ms {
        return Err(ApiError::invalid(
            "empty_selection",
            "the range holds no time up to now: to is exclusive and the future is not replayed",
        ));
    }
    // One seek, not a scan (unless limited to an account): is there any
    // event at all in the range?
    let probe = EventQuery {
        from_ms: Some(from_ms),
        to_ms: Some(to_ms),
        types: None,
        after: None,
        account,
        limit: 1,
    };
    if state.store.query_events(probe).await?.is_empty() {
        return Err(ApiError::invalid(
            "empty_selection",
            "the log holds no events in that range",
        ));
    }
    Ok(ReplaySelection::Range { from_ms, to_ms })
}

/// What an unknown (or out of scope) ID is answered with.
type Unknown<'a> = &'a dyn Fn(&'static str, String) -> ApiError;

async fn event_ids(
    state: &AppState,
    scope: &Scope,
    raw: Vec<String>,
    unknown: Unknown<'_>,
) -> Result<Vec<EventId>, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::invalid(
            "empty_selection",
            "event_ids must list at least one event",
        ));
    }
    if raw.len() > MAX_EVENT_IDS {
        return Err(ApiError::invalid(
            "invalid_event_ids",
            format!("event_ids may list at most {MAX_EVENT_IDS} events; use a range for more"),
        ));
    }
    known(
        raw,
        "unknown_event_ids",
        "events",
        unknown,
        |id: EventId| async move {
            let event = state.store.get_event(id).await?;
            Ok(event.is_some_and(|e| scope.sees(e.account_id.as_ref())))
        },
    )
    .await
}

async fn endpoint_ids(
    state: &AppState,
    scope: &Scope,
    raw: Vec<String>,
    unknown: Unknown<'_>,
) -> Result<Vec<EndpointId>, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::invalid(
            "empty_selection",
            "endpoint_ids, when given, must list at least one endpoint",
        ));
    }
    known(
        raw,
        "unknown_endpoint_ids",
        "endpoints",
        unknown,
        |id: EndpointId| async move {
            let endpoint = state.store.get_endpoint(id).await?;
            Ok(endpoint.is_some_and(|e| scope.sees(e.account_id.as_ref())))
        },
    )
    .await
}

/// Parses IDs and checks each exists; every unknown one is named in a 422.
/// Sorted and deduplicated, as the job walks them in order.
async fn known<K: IdKind, Exists: Future<Output = Result<bool, ApiError>>>(
    raw: Vec<String>,
    code: &'static str,
    what: &str,
    unknown_error: Unknown<'_>,
    exists: impl Fn(Id<K>) -> Exists,
) -> Result<Vec<Id<K>>, ApiError> {
    let mut ids = Vec::with_capacity(raw.len());
    let mut unknown = Vec::new();
    for text in raw {
        match text.parse::<Id<K>>() {
            Ok(id) if exists(id).await? => ids.push(id),
            _ => unknown.push(text),
        }
    }
    if !unknown.is_empty() {
        return Err(unknown_error(
            code,
            format!("no such {what}: {}", named(&unknown)),
        ));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The first few offending values, and how many more there were.
fn named(values: &[String]) -> String {
    let shown = values
        .iter()
        .take(NAMED_IN_ERRORS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match values.len().saturating_sub(NAMED_IN_ERRORS) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}
