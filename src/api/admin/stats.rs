//! `GET /api/v1/stats?window=1h&endpoint_id=&account_id=`: per endpoint, what its
//! attempts did over a recent window, from the in-memory figures in
//! `stats.rs` (they start empty after a restart).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::pagination;
use crate::api::scope::parse_account_id;
use crate::api::AppState;
use crate::clock::{format_rfc3339, now_ms};
use crate::domain::duration::parse_duration;
use crate::error::{ApiError, ErrorBody};
use crate::ids::EndpointId;
use crate::stats::{attempt_stats, EndpointWindow, MAX_WINDOW_MINUTES};

const DEFAULT_WINDOW_MINUTES: u64 = 60;

pub fn routes(config: &mut web::ServiceConfig) {
    config.route("/stats", web::get().to(stats));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub window_seconds: u64,
    pub endpoints: Vec<EndpointStats>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointStats {
    pub endpoint_id: String,
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    /// Successes over attempts; `null` without attempts.
    pub success_rate: Option<f64>,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    #[schema(format = DateTime)]
    pub last_success_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_failure_at: Option<String>,
    pub per_minute: Vec<MinuteStats>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MinuteStats {
    /// The minute's start.
    #[schema(format = DateTime)]
    pub at: String,
    pub attempts: u64,
    pub failures: u64,
}

impl EndpointStats {
    fn new(id: EndpointId, w: EndpointWindow) -> EndpointStats {
        EndpointStats {
            endpoint_id: id.to_string(),
            attempts: w.attempts,
            successes: w.successes,
            failures: w.failures,
            success_rate: (w.attempts > 0).then(|| w.successes as f64 / w.attempts as f64),
            p50_ms: w.p50_ms,
            p99_ms: w.p99_ms,
            last_success_at: w.last_success_ms.map(format_rfc3339),
            last_failure_at: w.last_failure_ms.map(format_rfc3339),
            per_minute: w
                .per_minute
                .into_iter()
                .map(|(at, attempts, failures)| MinuteStats {
                    at: format_rfc3339(at),
                    attempts,
                    failures,
                })
                .collect(),
        }
    }
}

/// Per endpoint, what its attempts did over a recent window.
#[utoipa::path(operation_id = "get_stats", get, path = "/api/v1/stats", tag = "admin",
    params(
        ("window" = Option<String>, Query, description = "A duration from 1m to 24h, e.g. `15m`; `1h` by default"),
        ("endpoint_id" = Option<String>, Query, description = "Only this endpoint"),
    ),
    responses(
        (status = 200, description = "Figures per endpoint", body = Stats),
        (status = 404, description = "No endpoint with that id", body = ErrorBody),
    ))]
pub async fn stats(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut minutes = DEFAULT_WINDOW_MINUTES;
    let mut only = None;
    let mut account = None;
    for (name, value) in url::form_urlencoded::parse(request.query_string().as_bytes()) {
        match name.as_ref() {
            "window" => minutes = window_minutes(&value)?,
            "endpoint_id" => only = Some(pagination::endpoint_id(&value)?),
            "account_id" => account = Some(parse_account_id(&value)?),
            other => {
                return Err(ApiError::invalid(
                    "invalid_query",
                    format!("unknown query parameter {other}"),
                ))
            }
        }
    }
    let ids: Vec<EndpointId> = match (only, account) {
        (Some(id), _) if state.store.get_endpoint(id).await?.is_none() => {
            return Err(ApiError::not_found("endpoint"))
        }
        (Some(id), _) => vec![id],
        (None, Some(account)) => state
            .store
            .list_account_endpoints(&account, None, usize::MAX)
            .await?
            .iter()
            .map(|e| e.id)
            .collect(),
        (None, None) => {
            let all: Vec<EndpointId> = state
                .store
                .list_endpoints(None, usize::MAX)
                .await?
                .iter()
                .map(|e| e.id)
                .collect();
            // Figures of deleted endpoints are dropped here, not kept 24 h.
            attempt_stats().retain(&all);
            all
        }
    };
    let now = now_ms();
    let endpoints = ids
        .into_iter()
        .map(|id| EndpointStats::new(id, attempt_stats().window(id, minutes, now)))
        .collect();
    Ok(HttpResponse::Ok().json(Stats {
        window_seconds: minutes * 60,
        endpoints,
    }))
}

/// `1m` to `24h`, in whole minutes: the figures are kept per minute.
fn window_minutes(raw: &str) -> Result<u64, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "invalid_window",
            "window must be a whole number of minutes from 1m to 24h, such as 15m or 1h",
        )
    };
    let window = parse_duration(raw).map_err(|_| invalid())?;
    let secs = window.as_secs();
    let whole = window.subsec_nanos() == 0 && secs % 60 == 0;
    match secs / 60 {
        minutes @ 1..=MAX_WINDOW_MINUTES if whole => Ok(minutes),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_minutes_up_to_a_day() {
        assert_eq!(window_minutes("1h").ok(), Some(60));
        assert_eq!(window_minutes("1m").ok(), Some(1));
        assert_eq!(window_minutes("24h").ok(), Some(1440));
        for bad in ["0s", "30s", "90s", "25h", "1", "soon", "1m500ms"] {
            assert!(window_minutes(bad).is_err(), "{bad}");
        }
    }
}
