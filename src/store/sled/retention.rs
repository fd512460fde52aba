//! Retention: removing old events with their removable deliveries,
//! attempts and index entries, a small batch per transaction, and expiring
//! old idempotency records. An event that still has a pending delivery is
//! kept whole, so nothing being retried is lost; a held delivery (its
//! endpoint is disabled) does not keep it: it is cancelled and removed with
//! its event, so a switched-off endpoint cannot pin the log. A batch and
//! a replay step never run at once (`SledStore::exclusive_log_maintenance`), so
//! a replay cannot add a delivery to an event between the batch reading the
//! event's deliveries and removing it.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::events::IdempotencyRecord;
use super::log::LoggedEvent;
use super::open_count::Change;
use super::{codec, keys, SledStore, StoreError};
use crate::domain::{Delivery, DeliveryStatus};
use crate::ids::{DeliveryId, EventId};

/// An event retention may remove, with every delivery it has: those its
/// publish owed and those replays added.
struct Candidate {
    event: EventId,
    owed: Vec<DeliveryId>,
    indexed: Vec<DeliveryId>,
}

/// What one purge batch did, and where the next one starts.
#[derive(Debug, Default, Clone, Copy)]
pub struct PurgeOutcome {
    pub removed: usize,
    pub kept: usize,
    /// The last event looked at, when more may follow.
    pub next: Option<EventId>,
}

impl SledStore {
    /// Removes up to `limit` events created before `before_ms`, starting after
    /// `after`, each with its removable and held deliveries. Blocking. Excludes replay
    /// steps, so the deliveries read here are all the event has when the
    /// transaction removes it.
    pub fn purge_events(
        &self,
        after: Option<EventId>,
        before_ms: u64,
        limit: usize,
    ) -> Result<PurgeOutcome, StoreError> {
        let _exclusive = self.exclusive_log_maintenance();
        let start = after.map_or([0; 16], keys::after);
        let end = EventId::lowest_at(before_ms).to_bytes();
        let mut candidates: Vec<Candidate> = Vec::new();
        for entry in self.trees()?.log.range(start..end).take(limit) {
            let logged: LoggedEvent = codec::decode(&entry?.1)?;
            let event = logged.event.id;
            let mut indexed = Vec::new();
            for entry in self.trees()?.event_deliveries.scan_prefix(event.to_bytes()) {
                if let Some(id) = keys::pair_second(&entry?.0) {
                    indexed.push(id);
                }
            }
            candidates.push(Candidate {
                event,
                owed: logged.owed_ids().map(|(id, _)| id).collect(),
                indexed,
            });
        }
        let next = (candidates.len() == limit)
            .then(|| candidates.last().map(|c| c.event))
            .flatten();

        let open = self.trees()?;
        let trees = (
            &open.log,
            &open.deliveries,
            &open.attempts,
            &open.endpoint_deliveries,
            &open.event_deliveries,
            &open.delivery_search,
            &open.claimed,
        );
        // Removing a held delivery changes the held gauge: counted.
        let (removed, kept) = self.counted(|| {
            let (removed, kept, held) = trees.transaction(
                |(log, deliveries, attempts, by_endpoint, by_event, search, claimed)| {
                    let (mut removed, mut kept, mut held) = (0, 0, Vec::new());
                    'event: for candidate in &candidates {
                        // Read inside the transaction, so a delivery that became
                        // pending meanwhile (a manual retry) keeps its event.
                        let all = candidate.owed.iter().chain(&candidate.indexed);
                        let mut removable: Vec<Delivery> = Vec::with_capacity(all.clone().count());
                        for id in all {
                            let Some(bytes) = deliveries.get(id.to_bytes())? else {
                                // An owed delivery without a record is still pending.
                                if candidate.owed.contains(id) {
                                    kept += 1;
                                    continue 'event;
                                }
                                continue;
                            };
                            let delivery: Delivery = codec::decode(&bytes)
                                .map_err(ConflictableTransactionError::Abort)?;
                            let pending = delivery.status == DeliveryStatus::Pending;
                            if pending || claimed.get(id.to_bytes())?.is_some() {
                                kept += 1;
                                continue 'event;
                            }
                            removable.push(delivery);
                        }
                        for delivery in &removable {
                            let id = delivery.id;
                            if delivery.status == DeliveryStatus::Held {
                                held.push(Change::Removed(keys::by_status(
                                    DeliveryStatus::Held,
                                    id,
                                )));
                            }
                            deliveries.remove(&id.to_bytes()[..])?;
                            for number in 1..=delivery.attempts {
                                attempts.remove(&keys::attempt(id, number)[..])?;
                            }
                            by_endpoint.remove(&keys::pair(delivery.endpoint_id, id)[..])?;
                            // Every status: a crash can leave a stale entry behind.
                            for status in DeliveryStatus::ALL {
                                search.remove(&keys::by_status(status, id)[..])?;
                            }
                        }
                        for id in &candidate.indexed {
                            by_event.remove(&keys::pair(candidate.event, *id)[..])?;
                        }
                        log.remove(&candidate.event.to_bytes()[..])?;
                        removed += 1;
                    }
                    Ok((removed, kept, held))
                },
            )?;
            Ok(((removed, kept), held))
        })?;
        Ok(PurgeOutcome {
            removed,
            kept,
            next,
        })
    }

    /// Forgets idempotency keys stored before `before_ms`; returns how many.
    /// The keys are client strings in no time order, so this is a scan, but
    /// the tree only ever holds one window's worth of keys. Blocking.
    pub fn expire_idempotency(&self, before_ms: u64) -> Result<usize, StoreError> {
        let mut expired = 0;
        for entry in self.trees()?.idempotency.iter() {
            let (key, value) = entry?;
            let stale = match codec::decode::<IdempotencyRecord>(&value) {
                Ok(record) => record.stored_at_ms < before_ms,
                // Unreadable records can never answer a repeat: drop them.
                Err(_) => true,
            };
            if stale {
                // Only if unchanged, so a key re-stored meanwhile survives.
                if self
                    .trees()?
                    .idempotency
                    .compare_and_swap(&key, Some(&value), None as Option<&[u8]>)?
                    .is_ok()
                {
                    expired += 1;
                }
            }
        }
        Ok(expired)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::domain::replay::{ReplayJob, ReplayRequest, ReplaySelection, ReplayStatus};
    use crate::domain::schedule::RetrySchedule;
    use crate::service::replay;
    use crate::store::testing::{endpoint, publish, temp_store};
    use crate::store::ReplayBatch;

    #[actix_web::test]
    async fn retention_and_a_replay_on_the_same_range_lose_nothing() {
        const EVENTS: usize = 400;
        let (_dir, guard) = temp_store();
        let store = guard.store();
        let now = crate::clock::now_ms();
        let mut events = Vec::with_capacity(EVENTS);
        for _ in 0..EVENTS {
            // No endpoint yet: nothing owed, so retention may remove any of them.
            events.push(publish(&store, now).await.0);
        }
        endpoint(&store).await;
        let job = ReplayJob::new(
            ReplayRequest {
                selection: ReplaySelection::Range {
                    from_ms: 0,
                    to_ms: now + 3_600_000,
                },
                types: None,
                endpoint_ids: None,
                only_failed: false,
                account_id: None,
            },
            now,
        );
        store.create_replay(&job).await.unwrap();

        // Small batches on both sides, so their steps interleave many times.
        let replaying = {
            let store = store.clone();
            std::thread::spawn(move || loop {
                let subscribers = store.subscribers();
                let select = |job: &ReplayJob, batch: &ReplayBatch| {
                    replay::select(&subscribers, job, batch, &RetrySchedule::default(), now)
                };
                let stepped = store.replay_step(job.id, 7, select).unwrap().unwrap();
                if stepped.status != ReplayStatus::Running {
                    return stepped;
                }
            })
        };
        let purging = {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut after = None;
                loop {
                    let outcome = store.purge_events(after, now + 3_600_000, 5).unwrap();
                    match outcome.next {
                        Some(next) => after = Some(next),
                        None => return,
                    }
                }
            })
        };
        let removable = replaying.join().unwrap();
        purging.join().unwrap();

        // Every event is either gone with nothing scheduled for it, or kept
        // with the one delivery the replay gave it; no delivery lost its event.
        let mut kept = HashSet::new();
        for event in &events {
            let deliveries = store.deliveries_of_event(*event).unwrap();
            match store.get_event(*event).unwrap() {
                Some(_) => {
                    assert_eq!(deliveries.len(), 1, "kept event without its delivery");
                    kept.insert(*event);
                }
                None => assert!(deliveries.is_empty(), "a delivery lost its event"),
            }
        }
        assert_eq!(removable.deliveries_scheduled, kept.len() as u64);
    }
}
