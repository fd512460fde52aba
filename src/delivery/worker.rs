//! One attempt from start to finish: send it, classify the answer, apply the
//! retry policy, record it, keep the endpoint's health, and tell operators
//! (operational events) when a delivery fails for good or an endpoint is
//! switched off.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::clock::{format_rfc3339, now_ms};
use crate::config::Settings;
use crate::delivery::attempt::{prepare, send, AttemptReport};
use crate::delivery::client::build_client;
use crate::delivery::health::should_disable;
use crate::delivery::limits::Job;
use crate::delivery::outcome::{classify, AttemptResult};
use crate::delivery::recorder::{AttemptRecord, Recorder};
use crate::delivery::retry::next_step;
use crate::delivery::target_guard::literal_target_blocked;
use crate::domain::{Attempt, Delivery, DisabledReason, Endpoint, Event};
use crate::metrics::metrics;
use crate::operational;
use crate::service::endpoints;
use crate::service::outcome::AttemptOutcome;
use crate::stats::attempt_stats;
use crate::store::Store;

/// What every attempt on this thread shares.
pub struct AttemptContext {
    store: Store,
    settings: Arc<Settings>,
    client: awc::Client,
    recorder: Rc<Recorder>,
}

impl AttemptContext {
    pub fn new(store: Store, settings: Arc<Settings>, recorder: Rc<Recorder>) -> AttemptContext {
        let client = build_client(&settings.delivery);
        AttemptContext {
            store,
            settings,
            client,
            recorder,
        }
    }
}

/// Runs one attempt; true once its outcome is recorded. `sent` is called as
/// soon as the request has ended, before the outcome is recorded.
pub async fn run_attempt(
    context: &AttemptContext,
    job: Job,
    endpoint: Endpoint,
    sent: impl FnOnce(),
) -> bool {
    let Job {
        delivery,
        event,
        claim,
        ..
    } = job;
    let number = delivery.attempts + 1;
    let _in_flight = metrics().attempt_in_flight();
    let started_ms = now_ms();
    let (report, request_body) = perform(context, &delivery, &event, &endpoint, started_ms).await;
    sent();

    let verdict = classify(&report.result);
    let finished_ms = now_ms();
    let schedule = endpoint.schedule(&context.settings.delivery.retry_schedule);
    let step = next_step(
        verdict,
        number,
        schedule,
        finished_ms,
        &mut rand::thread_rng(),
    );
    let (status_code, error) = match &report.result {
        AttemptResult::Response { status, .. } => (Some(*status), None),
        AttemptResult::Timeout => (None, Some("timeout".to_string())),
        AttemptResult::Connect(reason) => (None, Some(reason.clone())),
        AttemptResult::BlockedTarget => (None, Some("blocked_target".to_string())),
        AttemptResult::Unsendable(reason) => (None, Some(format!("cannot be sent: {reason}"))),
    };
    // A line per attempt that did not succeed; successes only at `debug`,
    // so a busy daemon's log holds what an operator acts on.
    macro_rules! attempt_line {
        ($level:expr) => {
            tracing::event!(
                $level,
                delivery = %delivery.id,
                endpoint = %endpoint.id,
                attempt = number,
                status = status_code,
                error = error.as_deref(),
                duration_ms = report.duration.as_millis() as u64,
                outcome = ?step.outcome,
                "attempt"
            )
        };
    }
    match step.outcome {
        AttemptOutcome::Succeeded => attempt_line!(tracing::Level::DEBUG),
        _ => attempt_line!(tracing::Level::INFO),
    }
    let attempt = Attempt {
        attempt: number,
        at_ms: started_ms,
        status_code,
        duration_ms: report.duration.as_millis() as u64,
        error: error.clone(),
        request_body,
        response_body: report.response_body.filter(|_| endpoint.debug_mode),
    };
    // Off the dispatcher's thread: sled may block here (a page evicted from
    // its cache can wait for the log to become stable), and every attempt
    // and the dispatcher itself share this one thread.
    let (endpoint_id, outcome) = (endpoint.id, step.outcome);
    let succeeded = outcome == AttemptOutcome::Succeeded;
    // Counted before the record, whose status change the metrics also
    // count, so a scrape never sees a delivery completed by no attempt.
    let latency =
        succeeded.then(|| Duration::from_millis(finished_ms.saturating_sub(event.id.created_ms())));
    metrics().attempt_ended(succeeded, report.duration, latency);
    attempt_stats().record(endpoint_id, finished_ms, succeeded, report.duration);
    let delivery_id = delivery.id;
    let recorded = context
        .recorder
        .record(AttemptRecord {
            delivery,
            claim,
            event_type: event.event_type.clone(),
            attempt,
            outcome,
            endpoint: endpoint_id,
            finished_ms,
        })
        .await;
    let health = match recorded {
        Ok(health) => health,
        Err(error) => {
            // A wheel claim stays in place for the dispatcher's sweep of
            // stranded claims; an owed delivery is read off the log again.
            tracing::error!(%error, delivery = %delivery_id, "could not record an attempt");
            return false;
        }
    };
    if step.outcome == AttemptOutcome::Failed && !event.event_type.starts_with("hookd.") {
        // A failed operational event emits nothing further: no storms.
        let data = json!({
            "delivery_id": delivery_id.to_string(),
            "event_id": event.id.to_string(),
            "event_type": event.event_type,
            "endpoint_id": endpoint.id.to_string(),
            "attempts": number,
            "last_status_code": status_code,
            "last_error": error,
        });
        operational::emit(&context.store, operational::DELIVERY_FAILED, data).await;
    }
    let reason = if step.disable_endpoint {
        Some(DisabledReason::Gone)
    } else if !succeeded && should_disable(&health, &context.settings.delivery, finished_ms) {
        Some(DisabledReason::Failures)
    } else {
        None
    };
    if let Some(reason) = reason {
        disable(context, &endpoint, reason, finished_ms).await;
    }
    true
}

/// Sends the attempt unless its target is forbidden; returns what happened
/// and, in debug mode, the body sent.
async fn perform(
    context: &AttemptContext,
    delivery: &Delivery,
    event: &Event,
    endpoint: &Endpoint,
    now: u64,
) -> (AttemptReport, Option<String>) {
    let refused = |result| AttemptReport {
        result,
        duration: Duration::ZERO,
        response_body: None,
    };
    // awc never resolves an IP-literal host, so the guarded resolver cannot see it.
    if !context.settings.delivery.allow_private_targets
        && literal_target_blocked(&endpoint.url).is_some()
    {
        return (refused(AttemptResult::BlockedTarget), None);
    }
    let timeout = endpoint
        .timeout
        .unwrap_or(context.settings.delivery.timeout);
    match prepare(
        delivery,
        event,
        endpoint,
        delivery.attempts + 1,
        timeout,
        now,
    ) {
        Ok(prepared) => {
            let request_body = endpoint
                .debug_mode
                .then(|| String::from_utf8_lossy(&prepared.body).into_owned());
            (send(&context.client, prepared).await, request_body)
        }
        Err(reason) => (refused(AttemptResult::Unsendable(reason)), None),
    }
}

async fn disable(context: &AttemptContext, endpoint: &Endpoint, reason: DisabledReason, now: u64) {
    let store = &context.store;
    let mut current = match store.get_endpoint(endpoint.id).await {
        Ok(Some(current)) => current,
        Ok(None) => return,
        Err(error) => {
            tracing::error!(%error, endpoint = %endpoint.id, "could not read the endpoint to disable it");
            return;
        }
    };
    if !current.active {
        return;
    }
    if let Err(error) = endpoints::disable(store, &mut current, reason, now).await {
        tracing::error!(%error, endpoint = %endpoint.id, "could not disable endpoint");
        return;
    }
    tracing::warn!(endpoint = %endpoint.id, ?reason, "endpoint disabled");
    let data = json!({
        "endpoint_id": current.id.to_string(),
        "url": current.url,
        "reason": reason,
        "disabled_at": format_rfc3339(now),
    });
    operational::emit(store, operational::ENDPOINT_DISABLED, data).await;
}
