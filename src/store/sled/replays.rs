//! Replay jobs in storage, and one step of a job: a small batch of events
//! walked from the job's cursor, and the deliveries `service/replay.rs`
//! selects from it, written together with the advanced cursor in one
//! transaction. A restart
//! therefore resumes exactly after the last committed batch, and no
//! (event, endpoint) pair is ever scheduled twice by one job.

use std::collections::HashMap;

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::fanout::{search_entry, DeliveryTrees};
use super::log::LoggedEvent;
use super::{codec, keys, SledStore, StoreError};
use crate::domain::replay::{next_picked, ReplayJob, ReplaySelection, ReplayStatus};
use crate::domain::{Delivery, Event};
use crate::ids::{EventId, ReplayId};

/// The events of one step and where the walk stands after them.
pub struct ReplayBatch {
    pub events: Vec<Event>,
    /// Each event's deliveries, when the job re-sends failed ones only.
    pub deliveries: HashMap<EventId, Vec<Delivery>>,
    /// The last key visited (an event that vanished still advances the walk).
    pub last: Option<EventId>,
    pub exhausted: bool,
}

impl SledStore {
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

    /// One step of a running job: reads the batch after its cursor, asks
    /// `select` for the job after it and the deliveries it schedules, and
    /// writes both in one transaction. Returns the job as it now stands (as
    /// stored, if it was not running or another runner moved it meanwhile).
    pub fn replay_step(
        &self,
        id: ReplayId,
        batch_size: usize,
        select: impl FnOnce(&ReplayJob, &ReplayBatch) -> Result<(ReplayJob, Vec<Delivery>), StoreError>,
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
        let mut batch = self.next_batch(&job, batch_size)?;
        if job.request.only_failed {
            for event in &batch.events {
                batch
                    .deliveries
                    .insert(event.id, self.deliveries_of_event(event.id)?);
            }
        }
        let (updated, scheduled) = select(&job, &batch)?;
        let event_types: HashMap<EventId, &str> = batch
            .events
            .iter()
            .map(|e| (e.id, e.event_type.as_str()))
            .collect();
        let mut fanout = Vec::with_capacity(scheduled.len());
        for delivery in &scheduled {
            let event_type = event_types.get(&delivery.event_id).copied().unwrap_or("");
            fanout.push((codec::encode(delivery)?, delivery, event_type));
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

    fn next_batch(&self, job: &ReplayJob, size: usize) -> Result<ReplayBatch, StoreError> {
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
                Ok(ReplayBatch {
                    deliveries: HashMap::new(),
                    last: events.last().map(|e| e.id),
                    events,
                    exhausted,
                })
            }
            ReplaySelection::Events(ids) => {
                let (chosen, exhausted) = next_picked(ids, job.cursor, size);
                let mut events = Vec::with_capacity(chosen.len());
                for id in chosen {
                    // Removed by retention since the request was accepted: skip it.
                    if let Some(event) = self.get_event(*id)? {
                        events.push(event);
                    }
                }
                Ok(ReplayBatch {
                    events,
                    deliveries: HashMap::new(),
                    last: chosen.last().copied(),
                    exhausted,
                })
            }
        }
    }
}
