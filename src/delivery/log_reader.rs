//! The dispatcher's reader of the event log: it turns the deliveries each new
//! event owes (`store/sled/log.rs`) into jobs in memory, so a first attempt needs
//! no write before it starts and one record after it.
//!
//! An owed delivery whose endpoint is disabled or deleted is settled at once
//! (held or cancelled); one whose endpoint's schedule starts later, or whose
//! endpoint has stopped keeping up (`Limits::stale`), goes to the wheel. The
//! rest wait in their endpoint's lane; the reader pauses while too many do.
//!
//! The reader also keeps the dispatch cursor: the last event whose owed
//! deliveries all have records. It moves in memory as attempts are recorded
//! and is saved after a flush (`Store::save_dispatch_cursor`), so a crash
//! resumes reading at or before the true cursor; an attempt whose record was
//! lost is then made again, and one whose record survived is skipped.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use crate::delivery::dispatcher::{inactive_status, Active};
use crate::delivery::limits::{Job, Limits};
use crate::domain::schedule::RetrySchedule;
use crate::domain::{Delivery, DeliveryStatus};
use crate::ids::{DeliveryId, EventId};
use crate::service::endpoints;
use crate::store::{Claim, LoggedEvent, Store, StoreError};

/// Events read per store call.
const READ_BATCH: usize = 256;

/// Events read per dispatcher pass, so claims and starts are not held up.
pub const READ_PER_PASS: usize = 2_048;

/// How often the cursor is saved.
const SAVE_EVERY_MS: u64 = 250;

/// How soon events are read again after an attempt's record failed.
const REREAD_AFTER_MS: u64 = 1_000;

pub struct LogReader {
    /// The last event read.
    read_through: Option<EventId>,
    /// Owed deliveries in memory (waiting or in flight) per event.
    outstanding: BTreeMap<EventId, u32>,
    /// The same deliveries, so a re-read does not queue them twice.
    in_memory: HashSet<DeliveryId>,
    /// Events with an attempt whose record failed: read again from the
    /// first of them at `reread_at`.
    unrecorded: BTreeSet<EventId>,
    reread_at: Option<u64>,
    saved: Option<EventId>,
    next_save_ms: u64,
}

impl LogReader {
    pub fn new(store: &Store) -> LogReader {
        let cursor = store.dispatch_cursor();
        LogReader {
            read_through: cursor,
            outstanding: BTreeMap::new(),
            in_memory: HashSet::new(),
            unrecorded: BTreeSet::new(),
            reread_at: None,
            saved: cursor,
            next_save_ms: 0,
        }
    }

    /// Every event at or before this one has records for all it owes.
    pub fn cursor(&self) -> Option<EventId> {
        let first_open = [
            self.outstanding.keys().next(),
            self.unrecorded.iter().next(),
        ]
        .into_iter()
        .flatten()
        .min();
        match first_open {
            Some(event) => Some(EventId::from_u128(event.as_u128().saturating_sub(1))),
            None => self.read_through,
        }
    }

    /// Reads new events while the owed window has room; returns how many.
    pub async fn read(
        &mut self,
        store: &Store,
        default_schedule: &RetrySchedule,
        limits: &mut Limits,
        active: &Active<'_>,
        now: u64,
    ) -> Result<usize, StoreError> {
        if self.reread_at.is_some_and(|at| at <= now) {
            self.reread_at = None;
            self.read_through = self.cursor();
            self.unrecorded.clear();
        }
        let mut read = 0;
        while limits.owed_room() && read < READ_PER_PASS {
            let batch = store.log_after(self.read_through, READ_BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for logged in batch {
                self.take(store, default_schedule, limits, active, logged, now)
                    .await?;
                read += 1;
            }
        }
        Ok(read)
    }

    /// Queues or settles every delivery `logged` owes that has no record.
    async fn take(
        &mut self,
        store: &Store,
        default_schedule: &RetrySchedule,
        limits: &mut Limits,
        active: &Active<'_>,
        logged: LoggedEvent,
        now: u64,
    ) -> Result<(), StoreError> {
        let owed: Vec<_> = logged.owed_ids().collect();
        let event = Arc::new(logged.event);
        let mut rng = rand::thread_rng();
        for (id, endpoint_id) in owed {
            if self.in_memory.contains(&id) || store.is_recorded(id).await? {
                continue;
            }
            let mut delivery = Delivery {
                id,
                event_id: event.id,
                endpoint_id,
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_ms: Some(now),
                updated_at_ms: now,
            };
            let Some(endpoint) = active.get(&endpoint_id) else {
                // Held or cancelled; or, when the endpoint turns out to be
                // active after all, due now on the wheel.
                if let Some(status) = inactive_status(store, endpoint_id).await? {
                    delivery.status = status;
                    delivery.next_attempt_ms = None;
                }
                record(store, &delivery, &event.event_type, now).await?;
                continue;
            };
            let delay = endpoint
                .schedule(default_schedule)
                .jittered_delay_before(1, &mut rng)
                .unwrap_or_default();
            if !delay.is_zero() || limits.stale(endpoint_id, now) {
                let due = match delay.is_zero() {
                    true => now,
                    false => event.id.created_ms() + delay.as_millis() as u64,
                };
                delivery.next_attempt_ms = Some(due);
                record(store, &delivery, &event.event_type, now).await?;
                continue;
            }
            limits.enqueue(
                endpoint_id,
                Job {
                    delivery,
                    event: Arc::clone(&event),
                    claim: Claim::Owed,
                    queued_ms: now,
                },
            );
            self.in_memory.insert(id);
            *self.outstanding.entry(event.id).or_default() += 1;
        }
        self.read_through = Some(event.id);
        Ok(())
    }

    /// Puts the owed jobs of lanes that stopped keeping up on the wheel. A
    /// job whose record fails is read off the log again later.
    pub async fn spill(
        &mut self,
        store: &Store,
        limits: &mut Limits,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut failed = None;
        for job in limits.spill_stale(now) {
            let due_now = |delivery: &mut Delivery| delivery.next_attempt_ms = Some(now);
            if let Err(error) = self.settle(store, job, due_now, now).await {
                failed.get_or_insert(error);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Ends an owed job without an attempt: its delivery, changed by
    /// `change` (held, cancelled, or put on the wheel), gets its record.
    pub async fn settle(
        &mut self,
        store: &Store,
        job: Job,
        change: impl FnOnce(&mut Delivery),
        now: u64,
    ) -> Result<(), StoreError> {
        let mut delivery = job.delivery;
        change(&mut delivery);
        let recorded = record(store, &delivery, &job.event.event_type, now).await;
        self.finished(job.event.id, delivery.id, recorded.is_ok(), now);
        recorded.map(|_| ())
    }

    /// An owed job left memory: its attempt was recorded (or it was
    /// settled), or its record failed and it must be read again.
    pub fn finished(&mut self, event: EventId, delivery: DeliveryId, recorded: bool, now: u64) {
        self.in_memory.remove(&delivery);
        if let Some(count) = self.outstanding.get_mut(&event) {
            *count -= 1;
            if *count == 0 {
                self.outstanding.remove(&event);
            }
        }
        if !recorded {
            self.unrecorded.insert(event);
            self.reread_at.get_or_insert(now + REREAD_AFTER_MS);
        }
    }

    /// Moves the store's cursor in memory, and every `SAVE_EVERY_MS` saves
    /// it in the background once a flush has covered the records behind it.
    pub fn publish_cursor(&mut self, store: &Store, now: u64) {
        let cursor = self.cursor();
        store.advance_dispatch_cursor(cursor);
        if now < self.next_save_ms || cursor == self.saved {
            return;
        }
        self.next_save_ms = now + SAVE_EVERY_MS;
        self.saved = cursor;
        if let Some(cursor) = cursor {
            let store = store.clone();
            actix_web::rt::spawn(async move {
                if let Err(error) = store.save_dispatch_cursor(cursor).await {
                    tracing::warn!(%error, "could not save the dispatch cursor; it is saved again later");
                }
            });
        }
    }

    /// Saves the cursor now and waits, for shutdown.
    pub async fn save_now(&self, store: &Store) {
        if let Some(cursor) = self.cursor() {
            if let Err(error) = store.save_dispatch_cursor(cursor).await {
                tracing::error!(%error, "could not save the dispatch cursor");
            }
        }
    }
}

/// Gives an owed delivery its first record, settled by its endpoint's state
/// as last read, then follows that state if it changed meanwhile
/// ([`endpoints::recorded_as`]). False if the delivery already had a record.
async fn record(
    store: &Store,
    delivery: &Delivery,
    event_type: &str,
    now: u64,
) -> Result<bool, StoreError> {
    if !store.record_owed(delivery, event_type).await? {
        return Ok(false);
    }
    endpoints::recorded_as(store, delivery.endpoint_id, delivery.status, now).await?;
    Ok(true)
}
