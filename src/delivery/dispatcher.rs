//! The dispatcher: takes due deliveries off the wheel and starts their
//! attempts within the limits, then sleeps until new work is published (a
//! `Notify`), an attempt ends, or the next entry falls due.
//!
//! It runs on one actix arbiter because `awc::Client` is not `Send`; attempts
//! are local tasks on the same thread, so one hanging receiver only ever holds
//! its own endpoint's slots.
//!
//! New events come from the log (`log_reader.rs`): their first attempts
//! start from memory. The wheel holds the rest (retries, resumed, resent,
//! replayed and scheduled deliveries).
//!
//! It also knows every wheel claim it holds (waiting for a slot or being
//! attempted), so a periodic sweep returns any other claim to the wheel: one
//! whose attempt a store error kept from starting or from being recorded.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::clock::now_ms;
use crate::config::Settings;
use crate::delivery::limits::{Job, Limits};
use crate::delivery::log_reader::{LogReader, READ_PER_PASS};
use crate::delivery::recorder::Recorder;
use crate::delivery::worker::{run_attempt, AttemptContext};
use crate::domain::{Attempt, Delivery, DeliveryStatus, Endpoint};
use crate::ids::{DeliveryId, EndpointId, EventId};
use crate::shutdown::Shutdown;
use crate::store::{AttemptOutcome, Claim, Store, StoreError};

/// How many wheel entries one pass may claim before yielding to other work.
const CLAIM_BATCH: usize = 1024;

/// How often claims no attempt holds are returned to the wheel.
const STRANDED_CLAIM_SWEEP_MS: u64 = 10_000;

/// How soon the wheel is read again after a storage error.
const RETRY_AFTER_ERROR_MS: u64 = 1_000;

/// When the dispatcher wakes next: the earliest of the due times it knows
/// of, or within [`RETRY_AFTER_ERROR_MS`] when reading the wheel failed
/// (an hour's sleep could otherwise strand everything due meanwhile).
fn next_wake(now: u64, wake_ats: &[Option<u64>], wheel_failed: bool) -> u64 {
    let retry = wheel_failed.then_some(now + RETRY_AFTER_ERROR_MS);
    wake_ats
        .iter()
        .copied()
        .chain([retry])
        .flatten()
        .min()
        .unwrap_or(now + 3_600_000)
}

pub struct Dispatcher {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub shutdown: Shutdown,
    pub recorder: Rc<Recorder>,
}

impl Dispatcher {
    /// Runs until shutdown is signalled, then lets in-flight attempts finish
    /// within `server.shutdown_grace`. Claimed deliveries that never started
    /// stay claimed and go back on the wheel at the next start.
    pub async fn run(mut self) {
        let context = Rc::new(AttemptContext::new(
            self.store.clone(),
            self.settings.clone(),
            Rc::clone(&self.recorder),
        ));
        let delivery = &self.settings.delivery;
        let mut limits = Limits::new(delivery.max_in_flight_total, delivery.max_in_flight);
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        let wheel_changed = self.store.wheel_changed();
        let mut held = Held::new();
        let mut reader = LogReader::new(&self.store);
        let mut next_sweep = now_ms() + STRANDED_CLAIM_SWEEP_MS;

        while !self.shutdown.is_requested() {
            while let Ok(finished) = done_rx.try_recv() {
                finished.apply(&mut limits, &mut held, &mut reader);
            }
            let now = now_ms();
            if now >= next_sweep {
                self.sweep_stranded_claims(&held, now);
                next_sweep = now + STRANDED_CLAIM_SWEEP_MS;
            }
            // One snapshot of the active endpoints serves the whole pass.
            let subscribers = self.store.subscribers();
            let active: Active = subscribers
                .iter()
                .filter(|s| s.endpoint.active)
                .map(|s| (s.endpoint.id, &s.endpoint))
                .collect();
            let mut wheel_failed = false;
            let claimed = match self.claim_due(&mut limits, &mut held, &active, now) {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(%error, "dispatcher could not read the wheel; retrying within a second");
                    wheel_failed = true;
                    0
                }
            };
            let read = match self.read_log(&mut reader, &mut limits, &active, now) {
                Ok(read) => read,
                Err(error) => {
                    tracing::error!(%error, "dispatcher could not read the log; retrying within a second");
                    wheel_failed = true;
                    0
                }
            };
            let rate_wakeup = self.start_ready(
                &mut limits,
                &mut held,
                &mut reader,
                &active,
                &context,
                &done_tx,
                now,
            );
            reader.publish_cursor(&self.store, now);
            if claimed >= CLAIM_BATCH || read >= READ_PER_PASS {
                tokio::task::yield_now().await;
                continue;
            }
            let next_due = match self.store.next_due_after(now) {
                Ok(due) => due,
                Err(error) => {
                    tracing::error!(%error, "dispatcher could not read the wheel; retrying within a second");
                    wheel_failed = true;
                    None
                }
            };
            let wake_at = next_wake(
                now,
                &[next_due, rate_wakeup, Some(next_sweep)],
                wheel_failed,
            );
            let sleep = Duration::from_millis(wake_at.saturating_sub(now_ms()));
            tokio::select! {
                _ = wheel_changed.notified() => {}
                Some(finished) = done_rx.recv() => finished.apply(&mut limits, &mut held, &mut reader),
                _ = tokio::time::sleep(sleep) => {}
                _ = self.shutdown.requested() => {}
            }
        }

        let deadline = tokio::time::Instant::now() + self.settings.server.shutdown_grace;
        while limits.in_flight() > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(finished)) => finished.apply(&mut limits, &mut held, &mut reader),
                _ => break,
            }
        }
        reader.save_now(&self.store).await;
        tracing::info!(unfinished = limits.in_flight(), "dispatcher stopped");
    }

    /// Reads new events off the log into the lanes, after moving the owed
    /// jobs of lanes that stopped keeping up to the wheel.
    fn read_log(
        &self,
        reader: &mut LogReader,
        limits: &mut Limits,
        active: &Active,
        now: u64,
    ) -> Result<usize, StoreError> {
        reader.spill(&self.store, limits, now)?;
        let schedule = &self.settings.delivery.retry_schedule;
        reader.read(&self.store, schedule, limits, active, now)
    }

    /// Returns the claims no attempt holds to the wheel (see the module doc).
    fn sweep_stranded_claims(&self, held: &Held, now: u64) {
        let is_held = |id, token| held.contains(&(id, token));
        match self.store.requeue_stranded_claims(is_held, now) {
            Ok(0) => {}
            Ok(requeued) => {
                tracing::warn!(requeued, "stranded claims are due again")
            }
            Err(error) => tracing::error!(%error, "could not sweep stranded claims"),
        }
    }

    /// Claims due entries for endpoints with room, passing over saturated
    /// ones; returns how many were claimed. Each claim queued for an attempt
    /// joins `held`.
    fn claim_due(
        &self,
        limits: &mut Limits,
        held: &mut Held,
        active: &Active,
        now: u64,
    ) -> Result<usize, StoreError> {
        let mut claimed = 0;
        // Once every active endpoint is saturated, the rest of the due range
        // can only hold entries we would pass over: stop there instead of
        // walking a large backlog again on every wake-up. Entries of inactive
        // endpoints left behind are settled by the next pass that has room.
        let mut with_room = active.values().filter(|e| limits.has_room(e)).count();
        for entry in self.store.due_entries(now) {
            if limits.full() || claimed >= CLAIM_BATCH || (with_room == 0 && !active.is_empty()) {
                break;
            }
            let entry = entry?;
            let endpoint = active.get(&entry.endpoint).copied();
            if endpoint.is_some_and(|e| !limits.has_room(e)) {
                continue;
            }
            if !self.store.claim(entry.due_ms, entry.delivery)? {
                continue;
            }
            claimed += 1;
            let Some(endpoint) = endpoint else {
                let status = inactive_status(&self.store, entry.endpoint)?;
                self.store.release_claim(entry.delivery, status)?;
                continue;
            };
            let delivery = self.store.get_delivery(entry.delivery)?;
            let Some(delivery) = delivery.filter(|d| d.status == DeliveryStatus::Pending) else {
                self.store
                    .release_claim(entry.delivery, DeliveryStatus::Cancelled)?;
                continue;
            };
            let event = match self.store.get_event(delivery.event_id) {
                Ok(Some(event)) => event,
                Ok(None) => {
                    tracing::error!(delivery = %delivery.id, "event of a pending delivery is missing");
                    self.store
                        .release_claim(entry.delivery, DeliveryStatus::Cancelled)?;
                    continue;
                }
                Err(StoreError::Codec(reason)) => {
                    self.fail_unreadable(&delivery, entry.due_ms, &reason, now)?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            held.insert((delivery.id, entry.due_ms));
            limits.enqueue(
                endpoint.id,
                Job {
                    delivery,
                    event: std::sync::Arc::new(event),
                    claim: Claim::Wheel(entry.due_ms),
                    queued_ms: now,
                },
            );
            if !limits.has_room(endpoint) {
                with_room = with_room.saturating_sub(1);
            }
        }
        Ok(claimed)
    }

    /// Ends a delivery whose event cannot be decoded: every attempt would
    /// fail the same way, so it fails now, with the reason on its record.
    fn fail_unreadable(
        &self,
        delivery: &Delivery,
        claim: u64,
        reason: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        let error = format!("cannot be sent: the stored event cannot be read: {reason}");
        tracing::error!(delivery = %delivery.id, %error, "delivery failed");
        let attempt = Attempt {
            attempt: delivery.attempts + 1,
            at_ms: now,
            status_code: None,
            duration_ms: 0,
            error: Some(error),
            request_body: None,
            response_body: None,
        };
        let claim = Claim::Wheel(claim);
        self.store
            .record_attempt(delivery, claim, "", &attempt, AttemptOutcome::Failed)?;
        Ok(())
    }

    /// Starts every waiting job its endpoint's limits allow; returns when the
    /// earliest rate-limited one may start.
    #[allow(clippy::too_many_arguments)]
    fn start_ready(
        &self,
        limits: &mut Limits,
        held: &mut Held,
        reader: &mut LogReader,
        active: &Active,
        context: &Rc<AttemptContext>,
        done: &mpsc::UnboundedSender<Finished>,
        now: u64,
    ) -> Option<u64> {
        let mut earliest = None;
        for endpoint_id in limits.endpoints_waiting() {
            let Some(endpoint) = active.get(&endpoint_id).copied() else {
                let status =
                    inactive_status(&self.store, endpoint_id).unwrap_or(DeliveryStatus::Cancelled);
                for job in limits.drain_waiting(endpoint_id) {
                    self.settle_inactive(job, status, held, reader, now);
                }
                continue;
            };
            loop {
                match limits.start_next(endpoint, now) {
                    Ok(job) => {
                        let context = Rc::clone(context);
                        let endpoint = endpoint.clone();
                        let done = done.clone();
                        let (claim, delivery, event) = (job.claim, job.delivery.id, job.event.id);
                        actix_web::rt::spawn(async move {
                            let recorded = run_attempt(&context, job, endpoint).await;
                            let _ = done.send(Finished {
                                endpoint: endpoint_id,
                                claim,
                                delivery,
                                event,
                                recorded,
                            });
                        });
                    }
                    Err(wait) => {
                        earliest = [earliest, wait].into_iter().flatten().min();
                        break;
                    }
                }
            }
        }
        earliest
    }

    /// Ends a waiting job whose endpoint is no longer active: its delivery
    /// becomes `status` (held or cancelled).
    fn settle_inactive(
        &self,
        job: Job,
        status: DeliveryStatus,
        held: &mut Held,
        reader: &mut LogReader,
        now: u64,
    ) {
        let settled = match job.claim {
            Claim::Wheel(token) => {
                held.remove(&(job.delivery.id, token));
                self.store.release_claim(job.delivery.id, status)
            }
            Claim::Owed => {
                let off_the_wheel = |delivery: &mut Delivery| {
                    delivery.status = status;
                    delivery.next_attempt_ms = None;
                };
                reader.settle(&self.store, job, off_the_wheel, now)
            }
        };
        if let Err(error) = settled {
            tracing::error!(%error, "could not settle a delivery of an inactive endpoint");
        }
    }
}

/// What becomes of deliveries whose endpoint is not among the active ones:
/// held if it is disabled, cancelled if it was deleted.
pub(crate) fn inactive_status(
    store: &Store,
    endpoint: EndpointId,
) -> Result<DeliveryStatus, StoreError> {
    Ok(match store.get_endpoint(endpoint)? {
        Some(_) => DeliveryStatus::Held,
        None => DeliveryStatus::Cancelled,
    })
}

/// The active endpoints of one pass, by ID.
pub(crate) type Active<'a> = HashMap<EndpointId, &'a Endpoint>;

/// The claims the dispatcher holds, as (delivery, claim token): a delivery
/// retried at once can be claimed anew while its previous attempt is still
/// winding down, and the two claims must not be confused.
type Held = HashSet<(DeliveryId, u64)>;

/// An attempt that has ended: recorded, or (`recorded` false) left for the
/// sweep (a wheel claim) or for the log reader to read again (owed).
struct Finished {
    endpoint: EndpointId,
    claim: Claim,
    delivery: DeliveryId,
    event: EventId,
    recorded: bool,
}

impl Finished {
    fn apply(self, limits: &mut Limits, held: &mut Held, reader: &mut LogReader) {
        limits.finished(self.endpoint);
        match self.claim {
            Claim::Wheel(token) => {
                held.remove(&(self.delivery, token));
            }
            Claim::Owed => reader.finished(self.event, self.delivery, self.recorded, now_ms()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutdown::Stopper;
    use crate::store::testing::{endpoint, publish_to_wheel, temp_store, Record};

    #[test]
    fn a_wheel_read_error_is_retried_within_a_second() {
        assert_eq!(next_wake(1_000, &[None, None], true), 2_000);
        assert_eq!(next_wake(1_000, &[Some(1_200), None], true), 1_200);
        assert_eq!(next_wake(1_000, &[Some(9_000), Some(5_000)], false), 5_000);
        assert_eq!(next_wake(1_000, &[None], false), 3_601_000);
    }

    fn dispatcher(store: Store) -> Dispatcher {
        Dispatcher {
            recorder: Rc::new(Recorder::start(store.clone()).unwrap()),
            store,
            settings: Arc::new(Settings::default()),
            shutdown: Stopper::default().handle(),
        }
    }

    /// One pass of claiming, as `run` does it.
    fn claim(dispatcher: &Dispatcher, held: &mut Held, now: u64) -> Result<usize, StoreError> {
        let subscribers = dispatcher.store.subscribers();
        let active: Active = subscribers
            .iter()
            .map(|s| (s.endpoint.id, &s.endpoint))
            .collect();
        let mut limits = Limits::new(100, 16);
        dispatcher.claim_due(&mut limits, held, &active, now)
    }

    #[actix_web::test]
    async fn a_claim_stranded_by_a_store_error_returns_to_the_wheel() {
        let (_dir, guard) = temp_store();
        let store = guard.store();
        endpoint(&store).await;
        let now = now_ms();
        let (_, deliveries) = publish_to_wheel(&store, now).await;
        let delivery = deliveries[0].id;
        let token = deliveries[0].next_attempt_ms.unwrap();
        let dispatcher = dispatcher(store.clone());
        let mut held = Held::new();

        // The delivery cannot be read once claimed: the pass fails after the claim.
        let original = store.overwrite_record(Record::Delivery(delivery), None);
        assert!(claim(&dispatcher, &mut held, now).is_err());
        assert!(held.is_empty());
        assert_eq!(store.due_entries(now).count(), 0, "claimed, off the wheel");

        // Healed, the sweep puts it back without a restart. A held claim
        // stays; holding an earlier claim of the same delivery does not count.
        store.overwrite_record(Record::Delivery(delivery), original.as_deref());
        let later = token + 1;
        let held_now = |id, t| id == delivery && t == token;
        assert_eq!(store.requeue_stranded_claims(held_now, later).unwrap(), 0);
        dispatcher.sweep_stranded_claims(&Held::from([(delivery, token - 1)]), later);
        let due: Vec<_> = store
            .due_entries(later)
            .map(|e| e.unwrap().delivery)
            .collect();
        assert_eq!(due, [delivery]);
        assert_eq!(claim(&dispatcher, &mut held, later).unwrap(), 1);
        assert!(held.contains(&(delivery, later)));
    }

    #[actix_web::test]
    async fn a_claim_whose_attempt_was_half_recorded_is_not_queued_twice() {
        let (_dir, guard) = temp_store();
        let store = guard.store();
        endpoint(&store).await;
        let now = now_ms();
        let (_, deliveries) = publish_to_wheel(&store, now).await;
        let delivery = &deliveries[0];
        assert!(store.claim(now, delivery.id).unwrap());
        // Recorded with a retry, but the claim stayed (a stale claim token
        // stands in for the write that failed).
        let attempt = Attempt {
            attempt: 1,
            at_ms: now,
            status_code: Some(503),
            duration_ms: 1,
            error: None,
            request_body: None,
            response_body: None,
        };
        let retry_at = now + 60_000;
        store
            .record_attempt(
                delivery,
                Claim::Wheel(0),
                "test.happened",
                &attempt,
                AttemptOutcome::RetryAt(retry_at),
            )
            .unwrap();
        assert_eq!(store.requeue_stranded_claims(|_, _| false, now).unwrap(), 0);
        let due: Vec<_> = store
            .due_entries(retry_at)
            .map(|e| e.unwrap().due_ms)
            .collect();
        assert_eq!(due, [retry_at]);
        assert_eq!(
            store.requeue_stranded_claims(|_, _| false, now).unwrap(),
            0,
            "claim gone"
        );
    }

    #[actix_web::test]
    async fn a_delivery_whose_event_cannot_be_read_fails_with_the_reason() {
        let (_dir, guard) = temp_store();
        let store = guard.store();
        endpoint(&store).await;
        let now = now_ms();
        let (event, deliveries) = publish_to_wheel(&store, now).await;
        let delivery = deliveries[0].id;
        store.overwrite_record(Record::Event(event), None);
        let mut held = Held::new();

        assert_eq!(
            claim(&dispatcher(store.clone()), &mut held, now).unwrap(),
            1
        );
        assert!(held.is_empty(), "nothing to attempt");
        let failed = store.get_delivery(delivery).unwrap().unwrap();
        assert_eq!(failed.status, DeliveryStatus::Failed);
        let attempts = store.attempts_of(delivery).unwrap();
        let error = attempts[0].error.as_deref().unwrap();
        assert!(error.contains("stored event cannot be read"), "{error}");
        assert_eq!(store.requeue_stranded_claims(|_, _| false, now).unwrap(), 0);
        assert_eq!(store.due_entries(now + 3_600_000).count(), 0);
    }
}
