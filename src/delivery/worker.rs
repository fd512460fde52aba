//! One attempt from start to finish: send it, classify the answer, apply the
//! retry policy, record it, and switch the endpoint off on 410 Gone.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::config::Settings;
use crate::delivery::attempt::{prepare, send, AttemptReport};
use crate::delivery::client::build_client;
use crate::delivery::limits::Job;
use crate::delivery::outcome::{classify, AttemptResult};
use crate::delivery::retry::next_step;
use crate::domain::{Attempt, DisabledReason, Endpoint};
use crate::store::Store;

/// What every attempt on this thread shares.
pub struct AttemptContext {
    store: Store,
    settings: Arc<Settings>,
    client: awc::Client,
}

impl AttemptContext {
    pub fn new(store: Store, settings: Arc<Settings>) -> AttemptContext {
        let client = build_client(&settings.delivery);
        AttemptContext {
            store,
            settings,
            client,
        }
    }
}

pub async fn run_attempt(context: &AttemptContext, job: Job, endpoint: Endpoint) {
    let Job { delivery, event } = job;
    let number = delivery.attempts + 1;
    let timeout = endpoint
        .timeout
        .unwrap_or(context.settings.delivery.timeout);
    let started_ms = now_ms();
    let prepared = prepare(
        &delivery,
        &event,
        &endpoint,
        number,
        timeout,
        (started_ms / 1000) as i64,
    );
    let (report, request_body) = match prepared {
        Ok(prepared) => {
            let request_body = endpoint
                .debug_mode
                .then(|| String::from_utf8_lossy(&prepared.body).into_owned());
            (send(&context.client, prepared).await, request_body)
        }
        Err(reason) => (
            AttemptReport {
                result: AttemptResult::Connect(reason),
                duration: Duration::ZERO,
                response_body: None,
            },
            None,
        ),
    };

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
    };
    tracing::info!(
        delivery = %delivery.id,
        endpoint = %endpoint.id,
        attempt = number,
        status = status_code,
        error = error.as_deref(),
        duration_ms = report.duration.as_millis() as u64,
        outcome = ?step.outcome,
        "attempt"
    );
    let attempt = Attempt {
        attempt: number,
        at_ms: started_ms,
        status_code,
        duration_ms: report.duration.as_millis() as u64,
        error,
        request_body,
        response_body: report.response_body.filter(|_| endpoint.debug_mode),
    };
    // Off the dispatcher's thread: sled may block here (a page evicted from
    // its cache can wait for the log to become stable), and every attempt
    // and the dispatcher itself share this one thread.
    let store = context.store.clone();
    let (id, outcome) = (delivery.id, step.outcome);
    let recorded =
        tokio::task::spawn_blocking(move || store.record_attempt(id, &attempt, outcome)).await;
    let failure = match recorded {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(join) => Some(join.to_string()),
    };
    if let Some(error) = failure {
        // The claim stays in place, so the attempt is made again after a restart.
        tracing::error!(%error, delivery = %delivery.id, "could not record an attempt");
        return;
    }
    if step.disable_endpoint {
        disable_gone(context, &endpoint, finished_ms).await;
    }
}

async fn disable_gone(context: &AttemptContext, endpoint: &Endpoint, now: u64) {
    let current = context.store.get_endpoint(endpoint.id);
    let Ok(Some(mut current)) = current else {
        return;
    };
    if !current.active {
        return;
    }
    match context
        .store
        .disable_endpoint(&mut current, DisabledReason::Gone, now)
        .await
    {
        Ok(()) => tracing::warn!(endpoint = %endpoint.id, "endpoint answered 410 Gone; disabled"),
        Err(error) => {
            tracing::error!(%error, endpoint = %endpoint.id, "could not disable endpoint")
        }
    }
}
