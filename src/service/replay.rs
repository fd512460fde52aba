//! Which (event, endpoint) pairs a replay sends again: the events of the
//! job's selection that match its type and account filters, to the
//! endpoints that would receive them now (`domain/routing.rs`), optionally
//! only where the latest delivery failed. Disabled endpoints are counted as
//! skipped. Storage walks the batch and writes the result with the advanced
//! cursor at once; `replay.rs` drives the steps.

use std::collections::HashMap;

use rand::Rng;

use crate::domain::filter::EventFilter;
use crate::domain::replay::{ReplayJob, ReplayStatus};
use crate::domain::routing::receives;
use crate::domain::schedule::RetrySchedule;
use crate::domain::{Delivery, DeliveryStatus, Endpoint};
use crate::ids::{DeliveryId, EndpointId, EventId, ReplayId};
use crate::store::{ReplayBatch, Store, StoreError, Subscriber};

/// Processes up to `batch_size` events after the job's cursor, durably,
/// and returns the job as it now stands (`Done` once the selection is
/// exhausted).
pub async fn step(
    store: &Store,
    id: ReplayId,
    batch_size: usize,
    default_schedule: &RetrySchedule,
    now_ms: u64,
) -> Result<Option<ReplayJob>, StoreError> {
    let subscribers = store.subscribers();
    let schedule = default_schedule.clone();
    store
        .replay_step(id, batch_size, move |job, batch| {
            select(&subscribers, job, batch, &schedule, now_ms)
        })
        .await
}

/// The job after `batch`, and the deliveries the batch schedules.
pub(crate) fn select(
    subscribers: &[Subscriber],
    job: &ReplayJob,
    batch: &ReplayBatch,
    default_schedule: &RetrySchedule,
    now_ms: u64,
) -> Result<(ReplayJob, Vec<Delivery>), StoreError> {
    let request = &job.request;
    let types = request
        .types
        .as_ref()
        .map(|list| EventFilter::parse(list))
        .transpose()
        .map_err(|e| StoreError::Codec(e.to_string()))?;
    let account = request.account_id.as_ref();
    let targets: Vec<_> = subscribers
        .iter()
        .filter(|s| {
            request
                .endpoint_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&s.endpoint.id))
        })
        .filter(|s| account.is_none_or(|a| s.endpoint.account_id.as_ref() == Some(a)))
        .collect();

    let mut rng = rand::thread_rng();
    let mut updated = job.clone();
    let mut scheduled = Vec::new();
    for event in &batch.events {
        if types
            .as_ref()
            .is_some_and(|f| !f.matches(&event.event_type))
        {
            continue;
        }
        if account.is_some_and(|a| event.account_id.as_ref() != Some(a)) {
            continue;
        }
        updated.events_matched += 1;
        let latest = match request.only_failed {
            true => Some(latest_statuses(
                batch
                    .deliveries
                    .get(&event.id)
                    .map_or(&[][..], Vec::as_slice),
            )),
            false => None,
        };
        for target in &targets {
            let endpoint = &target.endpoint;
            if !target.filter.matches(&event.event_type) || !receives(endpoint, event) {
                continue;
            }
            let failed = |l: &HashMap<EndpointId, DeliveryStatus>| {
                l.get(&endpoint.id) == Some(&DeliveryStatus::Failed)
            };
            if latest.as_ref().is_some_and(|l| !failed(l)) {
                continue;
            }
            if !endpoint.active {
                updated.skipped_disabled += 1;
                continue;
            }
            scheduled.push(fresh_delivery(
                event.id,
                endpoint,
                default_schedule,
                now_ms,
                &mut rng,
            ));
        }
    }
    updated.deliveries_scheduled += scheduled.len() as u64;
    updated.cursor = batch.last.or(job.cursor);
    if batch.exhausted {
        updated.status = ReplayStatus::Done;
        updated.finished_at_ms = Some(now_ms);
    }
    Ok((updated, scheduled))
}

/// The status of the latest of an event's `deliveries` to each endpoint.
/// Delivery IDs grow with creation time, so the one with the highest ID per
/// endpoint is the latest.
fn latest_statuses(deliveries: &[Delivery]) -> HashMap<EndpointId, DeliveryStatus> {
    let mut by_age: Vec<&Delivery> = deliveries.iter().collect();
    by_age.sort_by_key(|d| d.id);
    by_age
        .into_iter()
        .map(|d| (d.endpoint_id, d.status))
        .collect()
}

/// A new delivery of `event` to an active `endpoint`: pending, due at the
/// first slot of the endpoint's schedule (with jitter).
fn fresh_delivery(
    event: EventId,
    endpoint: &Endpoint,
    default_schedule: &RetrySchedule,
    now_ms: u64,
    rng: &mut impl Rng,
) -> Delivery {
    let delay = endpoint
        .schedule(default_schedule)
        .jittered_delay_before(1, rng)
        .unwrap_or_default();
    Delivery {
        id: DeliveryId::generate(now_ms),
        event_id: event,
        endpoint_id: endpoint.id,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_ms: Some(now_ms + delay.as_millis() as u64),
        updated_at_ms: now_ms,
    }
}
