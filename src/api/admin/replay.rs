//! `/api/v1/replay`: lists jobs; validates a replay request (docs/api.md,
//! Replay), stores it as a job and hands it to the background runner; and
//! reports a job's progress. Every check happens before the job is stored,
//! so a bad request schedules nothing.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::accounts::{existing, unknown_account};
use super::endpoints::ListQuery;
use super::pagination;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayInput {
    from: Option<String>,
    to: Option<String>,
    types: Option<Vec<String>>,
    endpoint_ids: Option<Vec<String>>,
    #[serde(default)]
    only_failed: bool,
    event_ids: Option<Vec<String>>,
    account_id: Option<String>,
}

pub fn replay_view(job: &ReplayJob) -> Value {
    let mut view = json!({
        "id": job.id.to_string(),
        "status": job.status.as_str(),
        "events_matched": job.events_matched,
        "deliveries_scheduled": job.deliveries_scheduled,
        "skipped": job.skipped_disabled,
        "progress": job.progress(),
        "created_at": format_rfc3339(job.created_at_ms),
        "finished_at": job.finished_at_ms.map(format_rfc3339),
    });
    if let (ReplayStatus::Failed, Some(error)) = (job.status, &job.error) {
        view["error"] = json!(error);
    }
    view
}

async fn create(
    state: web::Data<AppState>,
    scope: Scope,
    input: web::Json<ReplayInput>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let request = validate(&state, &scope, input.into_inner(), now)?;
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
    Ok(HttpResponse::Accepted().json(replay_view(&current)))
}

/// Jobs newest first, so the console shows the latest progress on top. A
/// portal sees its own account's jobs only; the cursor still walks every
/// job, so such a page may come back short.
async fn list(
    state: web::Data<AppState>,
    scope: Scope,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let before = pagination::cursor::<ReplayId>(query.cursor.as_deref())?;
    let page = state.store.list_replays(before, limit)?;
    let next_cursor = pagination::next_cursor(&page, limit, |job| job.id);
    let visible: Vec<Value> = page
        .iter()
        .filter(|job| scope.sees(job.request.account_id.as_ref()))
        .map(replay_view)
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": visible,
        "next_cursor": next_cursor,
    })))
}

async fn get(
    state: web::Data<AppState>,
    scope: Scope,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ReplayId = id.parse().map_err(|_| ApiError::not_found("replay"))?;
    let job = state
        .store
        .get_replay(id)?
        .filter(|job| scope.sees(job.request.account_id.as_ref()))
        .ok_or_else(|| ApiError::not_found("replay"))?;
    Ok(HttpResponse::Ok().json(replay_view(&job)))
}

/// Checks a replay request within `scope`. A portal's replay is always
/// limited to its account, and IDs outside it are answered as unknown ones
/// (a `404` there, since it cannot know what exists beyond its account).
fn validate(
    state: &AppState,
    scope: &Scope,
    input: ReplayInput,
    now: u64,
) -> Result<ReplayRequest, ApiError> {
    let asked = match input.account_id {
        Some(raw) => Some(existing(state, &raw, unknown_account())?.id),
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
        (Some(ids), None, None) => ReplaySelection::Events(event_ids(state, scope, ids, &unknown)?),
        (None, Some(from), Some(to)) => range(state, &from, &to, account.clone(), now)?,
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
    let endpoint_ids = input
        .endpoint_ids
        .map(|ids| endpoint_ids(state, scope, ids, &unknown))
        .transpose()?;
    Ok(ReplayRequest {
        selection,
        types,
        endpoint_ids,
        only_failed: input.only_failed,
        account_id: account,
    })
}

fn range(
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
    // them as well would send them twice.
    let to_ms = to_ms.min(now);
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
    if state.store.query_events(&probe)?.is_empty() {
        return Err(ApiError::invalid(
            "empty_selection",
            "the log holds no events in that range",
        ));
    }
    Ok(ReplaySelection::Range { from_ms, to_ms })
}

/// What an unknown (or out of scope) ID is answered with.
type Unknown<'a> = &'a dyn Fn(&'static str, String) -> ApiError;

fn event_ids(
    state: &AppState,
    scope: &Scope,
    raw: Vec<String>,
    unknown: Unknown,
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
        |id: EventId| {
            let event = state.store.get_event(id)?;
            Ok(event.is_some_and(|e| scope.sees(e.account_id.as_ref())))
        },
    )
}

fn endpoint_ids(
    state: &AppState,
    scope: &Scope,
    raw: Vec<String>,
    unknown: Unknown,
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
        |id: EndpointId| {
            let endpoint = state.store.get_endpoint(id)?;
            Ok(endpoint.is_some_and(|e| scope.sees(e.account_id.as_ref())))
        },
    )
}

/// Parses IDs and checks each exists; every unknown one is named in a 422.
/// Sorted and deduplicated, as the job walks them in order.
fn known<K: IdKind>(
    raw: Vec<String>,
    code: &'static str,
    what: &str,
    unknown_error: Unknown,
    exists: impl Fn(Id<K>) -> Result<bool, ApiError>,
) -> Result<Vec<Id<K>>, ApiError> {
    let mut ids = Vec::with_capacity(raw.len());
    let mut unknown = Vec::new();
    for text in raw {
        match text.parse::<Id<K>>() {
            Ok(id) if exists(id)? => ids.push(id),
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
