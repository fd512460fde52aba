//! Replay jobs in storage, and one step of a job: a small batch of events
//! walked from the job's cursor, turned into fresh deliveries that are
//! written together with the advanced cursor in one transaction. A restart
//! therefore resumes exactly after the last committed batch, and no
//! (event, endpoint) pair is ever scheduled twice by one job.

use std::collections::HashMap;

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::fanout::{fresh_delivery, search_entry, DeliveryTrees};
use super::log::LoggedEvent;
use super::{codec, keys, Store, StoreError};
use crate::domain::filter::EventFilter;
use crate::domain::replay::{ReplayJob, ReplaySelection, ReplayStatus};
use crate::domain::routing::receives;
use crate::domain::schedule::RetrySchedule;
use crate::domain::{Delivery, DeliveryStatus, Endpoint, Event};
use crate::ids::{EndpointId, EventId, ReplayId};

/// The events of one step and where the walk stands after them.
struct Batch {
    events: Vec<Event>,
    /// The last key visited (an event that vanished still advances the walk).
    last: Option<EventId>,
    exhausted: bool,
}

impl Store {
    /// Stores a new job durably.
    pub async fn create_replay(&self, job: &ReplayJob) -> Result<(), StoreError> {
        self.trees()?
            .replays
            .insert(job.id.to_bytes(), codec::encode(job)?)?;
        self.commit().await
    }

    pub fn get_replay(&self, id: ReplayId) -> Result<Option<ReplayJob>, StoreError> {
        codec::read(&self.trees()?.replays, &id.to_bytes())
    }

    /// One page of jobs, newest first, before `before` when given.
    pub fn list_replays(
        &self,
        before: Option<ReplayId>,
        limit: usize,
    ) -> Result<Vec<ReplayJob>, StoreError> {
        let end = before.map_or([0xff; 16], ReplayId::to_bytes);
        let mut jobs = Vec::with_capacity(limit);
        for entry in self.trees()?.replays.range(..end).rev().take(limit) {
            jobs.push(codec::decode(&entry?.1)?);
        }
        Ok(jobs)
    }

    /// Jobs still running, for resumption at start-up. Jobs are few (one per
    /// operator request), so a scan is fine.
    pub fn running_replays(&self) -> Result<Vec<ReplayJob>, StoreError> {
        let mut running = Vec::new();
        for entry in self.trees()?.replays.iter() {
            let job: ReplayJob = codec::decode(&entry?.1)?;
            if job.status == ReplayStatus::Running {
                running.push(job);
            }
        }
        Ok(running)
    }

    /// Ends a job as failed, keeping its counts.
    pub async fn fail_replay(
        &self,
        id: ReplayId,
        error: String,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        if let Some(mut job) = self.get_replay(id)? {
            job.status = ReplayStatus::Failed;
            job.error = Some(error);
            job.finished_at_ms = Some(now_ms);
            self.trees()?
                .replays
                .insert(id.to_bytes(), codec::encode(&job)?)?;
        }
        self.commit().await
    }

    /// Processes up to `batch_size` events after the job's cursor and returns
    /// the job as it now stands (`Done` once the selection is exhausted).
    /// Blocking: call it through [`Store::blocking`], then [`Store::commit`].
    pub fn replay_step(
        &self,
        id: ReplayId,
        batch_size: usize,
        default_schedule: &RetrySchedule,
        now_ms: u64,
    ) -> Result<Option<ReplayJob>, StoreError> {
        // Retention waits, so no event of the batch goes between reading it
        // and writing its deliveries.
        let _exclusive = self.exclusive_log_maintenance();
        let Some(job) = self.get_replay(id)? else {
            return Ok(None);
        };
        if job.status != ReplayStatus::Running {
            return Ok(Some(job));
        }
        let request = &job.request;
        let types = request
            .types
            .as_ref()
            .map(|list| EventFilter::parse(list))
            .transpose()
            .map_err(|e| StoreError::Codec(e.to_string()))?;
        let mut targets = self.replay_targets(request.endpoint_ids.as_deref())?;
        if let Some(account) = &request.account_id {
            targets.retain(|(endpoint, _)| endpoint.account_id.as_ref() == Some(account));
        }
        let batch = self.next_batch(&job, batch_size)?;

        let mut rng = rand::thread_rng();
        let mut updated = job.clone();
        let mut fanout: Vec<(Vec<u8>, Delivery, &str)> = Vec::new();
        let account = request.account_id.as_ref();
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
                true => Some(self.latest_statuses(event.id)?),
                false => None,
            };
            for (endpoint, filter) in &targets {
                if !filter.matches(&event.event_type) || !receives(endpoint, event) {
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
                let delivery =
                    fresh_delivery(event.id, endpoint, default_schedule, now_ms, &mut rng);
                fanout.push((codec::encode(&delivery)?, delivery, &event.event_type));
            }
        }
        updated.deliveries_scheduled += fanout.len() as u64;
        updated.cursor = batch.last.or(job.cursor);
        if batch.exhausted {
            updated.status = ReplayStatus::Done;
            updated.finished_at_ms = Some(now_ms);
        }
        let encoded = codec::encode(&updated)?;

        let trees = (
            &self.trees()?.replays,
            &self.trees()?.deliveries,
            &self.trees()?.endpoint_deliveries,
            &self.trees()?.event_deliveries,
            &self.trees()?.delivery_search,
            &self.trees()?.wheel,
        );
        let transaction = || {
            trees.transaction(
                |(replays, deliveries, by_endpoint, by_event, search, wheel)| {
                    // Guards against two runners on one job: only the one that
                    // still sees the cursor it started from may write.
                    let Some(bytes) = replays.get(id.to_bytes())? else {
                        return Ok(false);
                    };
                    let stored: ReplayJob =
                        codec::decode(&bytes).map_err(ConflictableTransactionError::Abort)?;
                    if stored.cursor != job.cursor || stored.status != ReplayStatus::Running {
                        return Ok(false);
                    }
                    let trees = DeliveryTrees {
                        deliveries,
                        by_endpoint,
                        by_event,
                        search,
                        wheel,
                    };
                    for (bytes, delivery, event_type) in &fanout {
                        trees.insert(delivery, event_type, bytes)?;
                    }
                    replays.insert(&id.to_bytes()[..], encoded.as_slice())?;
                    Ok(true)
                },
            )
        };
        let advanced = self.counted(|| {
            let advanced = transaction()?;
            let added = match advanced {
                true => fanout.iter().map(|(_, d, _)| search_entry(d)).collect(),
                false => Vec::new(),
            };
            Ok((advanced, added))
        })?;
        match advanced {
            true => Ok(Some(updated)),
            false => self.get_replay(id),
        }
    }

    /// Every endpoint a replay may target (disabled ones too, so they can be
    /// counted as skipped), with its filter parsed once per step.
    fn replay_targets(
        &self,
        only: Option<&[EndpointId]>,
    ) -> Result<Vec<(Endpoint, EventFilter)>, StoreError> {
        let mut targets = Vec::new();
        for entry in self.trees()?.endpoints.iter() {
            let endpoint: Endpoint = codec::decode(&entry?.1)?;
            if only.is_some_and(|ids| !ids.contains(&endpoint.id)) {
                continue;
            }
            if let Ok(filter) = EventFilter::parse(&endpoint.events) {
                targets.push((endpoint, filter));
            }
        }
        Ok(targets)
    }

    /// The status of the latest delivery of `event` to each endpoint. The
    /// index is ordered by delivery ID, i.e. by creation time, so the last one
    /// seen per endpoint is the latest.
    fn latest_statuses(
        &self,
        event: EventId,
    ) -> Result<HashMap<EndpointId, DeliveryStatus>, StoreError> {
        let mut latest = HashMap::new();
        for delivery in self.deliveries_of_event(event)? {
            latest.insert(delivery.endpoint_id, delivery.status);
        }
        Ok(latest)
    }

    fn next_batch(&self, job: &ReplayJob, size: usize) -> Result<Batch, StoreError> {
        match &job.request.selection {
            ReplaySelection::Range { from_ms, to_ms } => {
                let start = match job.cursor {
                    Some(cursor) => keys::after(cursor),
                    None => EventId::lowest_at(*from_ms).to_bytes(),
                };
                let end = EventId::lowest_at(*to_ms).to_bytes();
                let mut events = Vec::with_capacity(size);
                let mut range = self.trees()?.log.range(start..end);
                for entry in range.by_ref().take(size) {
                    events.push(codec::decode::<LoggedEvent>(&entry?.1)?.event);
                }
                let exhausted = events.len() < size || range.next().is_none();
                Ok(Batch {
                    last: events.last().map(|e| e.id),
                    events,
                    exhausted,
                })
            }
            ReplaySelection::Events(ids) => {
                let first = job
                    .cursor
                    .map_or(0, |cursor| ids.partition_point(|id| *id <= cursor));
                let chosen = ids.get(first..).unwrap_or_default();
                let chosen = &chosen[..chosen.len().min(size)];
                let mut events = Vec::with_capacity(chosen.len());
                for id in chosen {
                    // Removed by retention since the request was accepted: skip it.
                    if let Some(event) = self.get_event(*id)? {
                        events.push(event);
                    }
                }
                Ok(Batch {
                    events,
                    last: chosen.last().copied(),
                    exhausted: first + chosen.len() >= ids.len(),
                })
            }
        }
    }
}
