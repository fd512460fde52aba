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
use crate::delivery::wheel_claims::CLAIM_BATCH;
use crate::delivery::worker::{run_attempt, AttemptContext};
use crate::domain::{Delivery, DeliveryStatus, Endpoint};
use crate::ids::{DeliveryId, EndpointId, EventId};
use crate::service::endpoints;
use crate::shutdown::Shutdown;
use crate::store::{Claim, Store, StoreError};

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
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Ended>();
        let wheel_changed = self.store.wheel_changed();
        let mut held = Held::new();
        let mut reader = LogReader::new(&self.store);
        let sweep_every = self.store.claim_sweep_ms(STRANDED_CLAIM_SWEEP_MS);
        let mut next_sweep = now_ms() + sweep_every;

        while !self.shutdown.is_requested() {
            while let Ok(ended) = done_rx.try_recv() {
                ended.apply(&mut limits, &mut held, &mut reader);
            }
            let now = now_ms();
            if now >= next_sweep {
                self.sweep_stranded_claims(&held, now).await;
                next_sweep = now + sweep_every;
            }
            // One snapshot of the active endpoints serves the whole pass.
            let subscribers = self.store.subscribers();
            let active: Active = subscribers
                .iter()
                .filter(|s| s.endpoint.active)
                .map(|s| (s.endpoint.id, &s.endpoint))
                .collect();
            let mut wheel_failed = false;
            let claimed = match self.claim_due(&mut limits, &mut held, &active, now).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(%error, "dispatcher could not read the wheel; retrying within a second");
                    wheel_failed = true;
                    0
                }
            };
            let read = match self.read_log(&mut reader, &mut limits, &active, now).await {
                Ok(read) => read,
                Err(error) => {
                    tracing::error!(%error, "dispatcher could not read the log; retrying within a second");
                    wheel_failed = true;
                    0
                }
            };
            let rate_wakeup = self
                .start_ready(
                    &mut limits,
                    &mut held,
                    &mut reader,
                    &active,
                    &context,
                    &done_tx,
                    now,
                )
                .await;
            reader.publish_cursor(&self.store, now);
            if claimed >= CLAIM_BATCH || read >= READ_PER_PASS {
                tokio::task::yield_now().await;
                continue;
            }
            let next_due = match self.store.next_due_after(now).await {
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
                Some(ended) = done_rx.recv() => ended.apply(&mut limits, &mut held, &mut reader),
                _ = tokio::time::sleep(sleep) => {}
                _ = self.shutdown.requested() => {}
            }
        }

        let deadline = tokio::time::Instant::now() + self.settings.server.shutdown_grace;
        while limits.unfinished() > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(ended)) => ended.apply(&mut limits, &mut held, &mut reader),
                _ => break,
            }
        }
        reader.save_now(&self.store).await;
        tracing::info!(unfinished = limits.unfinished(), "dispatcher stopped");
    }

    /// Reads new events off the log into the lanes, after moving the owed
    /// jobs of lanes that stopped keeping up to the wheel.
    async fn read_log(
        &self,
        reader: &mut LogReader,
        limits: &mut Limits,
        active: &Active<'_>,
        now: u64,
    ) -> Result<usize, StoreError> {
        reader.spill(&self.store, limits, now).await?;
        let schedule = &self.settings.delivery.retry_schedule;
        reader
            .read(&self.store, schedule, limits, active, now)
            .await
    }

    /// Returns the claims no attempt holds to the wheel (see the module doc).
    async fn sweep_stranded_claims(&self, held: &Held, now: u64) {
        match self.store.requeue_stranded_claims(held, now).await {
            Ok(0) => {}
            Ok(requeued) => {
                tracing::warn!(requeued, "stranded claims are due again")
            }
            Err(error) => tracing::error!(%error, "could not sweep stranded claims"),
        }
    }

    /// Starts every waiting job its endpoint's limits allow; returns when the
    /// earliest rate-limited one may start.
    #[allow(clippy::too_many_arguments)]
    async fn start_ready(
        &self,
        limits: &mut Limits,
        held: &mut Held,
        reader: &mut LogReader,
        active: &Active<'_>,
        context: &Rc<AttemptContext>,
        done: &mpsc::UnboundedSender<Ended>,
        now: u64,
    ) -> Option<u64> {
        let mut earliest = None;
        for endpoint_id in limits.endpoints_waiting() {
            let Some(endpoint) = active.get(&endpoint_id).copied() else {
                let status = match inactive_status(&self.store, endpoint_id).await {
                    // Waits for the next pass, which knows the endpoint.
                    Ok(None) => continue,
                    Ok(Some(status)) => status,
                    // A storage error says nothing about the endpoint: its
                    // jobs wait for a pass that can read it.
                    Err(error) => {
                        tracing::warn!(endpoint = %endpoint_id, %error, "endpoint unreadable; its waiting deliveries stay queued");
                        continue;
                    }
                };
                for job in limits.drain_waiting(endpoint_id) {
                    self.settle_inactive(job, status, held, reader, now).await;
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
                            let sent = || {
                                let _ = done.send(Ended::Sent(endpoint_id));
                            };
                            let recorded = run_attempt(&context, job, endpoint, sent).await;
                            let _ = done.send(Ended::Done(Done {
                                claim,
                                delivery,
                                event,
                                recorded,
                            }));
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

    /// Ends this node's claim on a delivery of an inactive endpoint without
    /// an attempt, as `status` (held or cancelled), then follows the
    /// endpoint's state if it changed meanwhile.
    pub(super) async fn release_as(
        &self,
        delivery: DeliveryId,
        endpoint: EndpointId,
        status: DeliveryStatus,
        now: u64,
    ) -> Result<(), StoreError> {
        self.store.release_claim(delivery, status).await?;
        endpoints::recorded_as(&self.store, endpoint, status, now).await
    }

    /// Ends a waiting job whose endpoint is no longer active: its delivery
    /// becomes `status` (held or cancelled).
    async fn settle_inactive(
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
                let endpoint = job.delivery.endpoint_id;
                self.release_as(job.delivery.id, endpoint, status, now)
                    .await
            }
            Claim::Owed => {
                let off_the_wheel = |delivery: &mut Delivery| {
                    delivery.status = status;
                    delivery.next_attempt_ms = None;
                };
                reader.settle(&self.store, job, off_the_wheel, now).await
            }
        };
        if let Err(error) = settled {
            tracing::error!(%error, "could not settle a delivery of an inactive endpoint");
        }
    }
}

/// What becomes of deliveries whose endpoint is not among the active ones
/// of a pass: held if it is disabled, cancelled if it was deleted. `None`
/// when it is active after all: the pass's list of endpoints is older than
/// the endpoint (another node created or enabled it a moment ago).
pub(crate) async fn inactive_status(
    store: &Store,
    endpoint: EndpointId,
) -> Result<Option<DeliveryStatus>, StoreError> {
    let active = store.get_endpoint(endpoint).await?.map(|e| e.active);
    Ok(match DeliveryStatus::open_for(active) {
        DeliveryStatus::Pending => None,
        status => Some(status),
    })
}

/// The active endpoints of one pass, by ID.
pub(crate) type Active<'a> = HashMap<EndpointId, &'a Endpoint>;

/// The claims the dispatcher holds, as (delivery, claim token): a delivery
/// retried at once can be claimed anew while its previous attempt is still
/// winding down, and the two claims must not be confused.
pub(super) type Held = HashSet<(DeliveryId, u64)>;

/// What an attempt reports back, twice: once its request has ended (its
/// endpoint's next attempt may start), then once it is done.
enum Ended {
    Sent(EndpointId),
    Done(Done),
}

/// An attempt that is done: recorded, or (`recorded` false) left for the
/// sweep (a wheel claim) or for the log reader to read again (owed).
struct Done {
    claim: Claim,
    delivery: DeliveryId,
    event: EventId,
    recorded: bool,
}

impl Ended {
    fn apply(self, limits: &mut Limits, held: &mut Held, reader: &mut LogReader) {
        match self {
            Ended::Sent(endpoint) => limits.sent(endpoint),
            Ended::Done(done) => done.apply(limits, held, reader),
        }
    }
}

impl Done {
    fn apply(self, limits: &mut Limits, held: &mut Held, reader: &mut LogReader) {
        limits.recorded();
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
    use crate::domain::Attempt;
    use crate::service::outcome::{self, AttemptOutcome};
    use crate::shutdown::Stopper;
    use crate::store::testing::{endpoint, publish_to_wheel, temp_store, Record};
    use crate::store::{Claimed, WheelEntry};

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
    async fn claim(
        dispatcher: &Dispatcher,
        held: &mut Held,
        now: u64,
    ) -> Result<usize, StoreError> {
        let subscribers = dispatcher.store.subscribers();
        let active: Active = subscribers
            .iter()
            .map(|s| (s.endpoint.id, &s.endpoint))
            .collect();
        let mut limits = Limits::new(100, 16);
        dispatcher.claim_due(&mut limits, held, &active, now).await
    }

    /// The deliveries on the wheel due by `now`.
    async fn due(store: &Store, now: u64) -> Vec<WheelEntry> {
        store.due_entries(now, None, usize::MAX).await.unwrap()
    }

    #[actix_web::test]
    async fn a_claim_stranded_by_a_store_error_returns_to_the_wheel() {
        let (_dir, guard) = temp_store();
        let store = Store::Sled(Arc::new(guard.store()));
        endpoint(store.embedded()).await;
        let now = now_ms();
        let (_, deliveries) = publish_to_wheel(store.embedded(), now).await;
        let delivery = deliveries[0].id;
        let token = deliveries[0].next_attempt_ms.unwrap();
        let dispatcher = dispatcher(store.clone());
        let mut held = Held::new();

        // The delivery cannot be read once claimed: the pass fails after the claim.
        let original = store
            .embedded()
            .overwrite_record(Record::Delivery(delivery), None);
        assert!(claim(&dispatcher, &mut held, now).await.is_err());
        assert!(held.is_empty());
        assert!(due(&store, now).await.is_empty(), "claimed, off the wheel");

        // Healed, the sweep puts it back without a restart. A held claim
        // stays; holding an earlier claim of the same delivery does not count.
        store
            .embedded()
            .overwrite_record(Record::Delivery(delivery), original.as_deref());
        let later = token + 1;
        let held_now = Held::from([(delivery, token)]);
        assert_eq!(
            store
                .requeue_stranded_claims(&held_now, later)
                .await
                .unwrap(),
            0
        );
        dispatcher
            .sweep_stranded_claims(&Held::from([(delivery, token - 1)]), later)
            .await;
        let due_then: Vec<_> = due(&store, later)
            .await
            .iter()
            .map(|e| e.delivery)
            .collect();
        assert_eq!(due_then, [delivery]);
        assert_eq!(claim(&dispatcher, &mut held, later).await.unwrap(), 1);
        assert!(held.contains(&(delivery, later)));
    }

    #[actix_web::test]
    async fn a_claim_whose_attempt_was_half_recorded_is_not_queued_twice() {
        let (_dir, guard) = temp_store();
        let store = Store::Sled(Arc::new(guard.store()));
        endpoint(store.embedded()).await;
        let now = now_ms();
        let (_, deliveries) = publish_to_wheel(store.embedded(), now).await;
        let delivery = &deliveries[0];
        let entry = due(&store, now).await[0];
        assert!(matches!(
            store.claim(&entry).await.unwrap(),
            Claimed::Taken(Some(_))
        ));
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
        outcome::record(
            &store,
            delivery,
            Claim::Wheel(0),
            "test.happened",
            &attempt,
            AttemptOutcome::RetryAt(retry_at),
        )
        .await
        .unwrap();
        assert_eq!(
            store
                .requeue_stranded_claims(&Held::new(), now)
                .await
                .unwrap(),
            0
        );
        let due_then: Vec<_> = due(&store, retry_at)
            .await
            .iter()
            .map(|e| e.due_ms)
            .collect();
        assert_eq!(due_then, [retry_at]);
        assert_eq!(
            store
                .requeue_stranded_claims(&Held::new(), now)
                .await
                .unwrap(),
            0,
            "claim gone"
        );
    }

    #[actix_web::test]
    async fn a_delivery_whose_event_cannot_be_read_fails_with_the_reason() {
        let (_dir, guard) = temp_store();
        let store = Store::Sled(Arc::new(guard.store()));
        endpoint(store.embedded()).await;
        let now = now_ms();
        let (event, deliveries) = publish_to_wheel(store.embedded(), now).await;
        let delivery = deliveries[0].id;
        store
            .embedded()
            .overwrite_record(Record::Event(event), None);
        let mut held = Held::new();

        assert_eq!(
            claim(&dispatcher(store.clone()), &mut held, now)
                .await
                .unwrap(),
            1
        );
        assert!(held.is_empty(), "nothing to attempt");
        let failed = store.get_delivery(delivery).await.unwrap().unwrap();
        assert_eq!(failed.status, DeliveryStatus::Failed);
        let attempts = store.attempts_of(delivery).await.unwrap();
        let error = attempts[0].error.as_deref().unwrap();
        assert!(error.contains("stored event cannot be read"), "{error}");
        assert_eq!(
            store
                .requeue_stranded_claims(&Held::new(), now)
                .await
                .unwrap(),
            0
        );
        assert!(due(&store, now + 3_600_000).await.is_empty());
    }
}
