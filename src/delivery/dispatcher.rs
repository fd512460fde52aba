//! The dispatcher: takes due deliveries off the wheel and starts their
//! attempts within the limits, then sleeps until new work is published (a
//! `Notify`), an attempt ends, or the next entry falls due.
//!
//! It runs on one actix arbiter because `awc::Client` is not `Send`; attempts
//! are local tasks on the same thread, so one hanging receiver only ever holds
//! its own endpoint's slots.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::clock::now_ms;
use crate::config::Settings;
use crate::delivery::limits::{Job, Limits};
use crate::delivery::worker::{run_attempt, AttemptContext};
use crate::domain::{DeliveryStatus, Endpoint};
use crate::ids::EndpointId;
use crate::store::{Store, StoreError};

/// How many wheel entries one pass may claim before yielding to other work.
const CLAIM_BATCH: usize = 1024;

pub struct Dispatcher {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub shutdown: watch::Receiver<bool>,
}

impl Dispatcher {
    /// Runs until shutdown is signalled, then lets in-flight attempts finish
    /// within `server.shutdown_grace`. Claimed deliveries that never started
    /// stay claimed and go back on the wheel at the next start.
    pub async fn run(mut self) {
        let context = Rc::new(AttemptContext::new(
            self.store.clone(),
            self.settings.clone(),
        ));
        let delivery = &self.settings.delivery;
        let mut limits = Limits::new(delivery.max_in_flight_total, delivery.max_in_flight);
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<EndpointId>();
        let wheel_changed = self.store.wheel_changed();

        while !*self.shutdown.borrow() {
            while let Ok(endpoint) = done_rx.try_recv() {
                limits.finished(endpoint);
            }
            let now = now_ms();
            // One snapshot of the active endpoints serves the whole pass.
            let subscribers = self.store.subscribers();
            let active: Active = subscribers
                .iter()
                .filter(|s| s.endpoint.active)
                .map(|s| (s.endpoint.id, &s.endpoint))
                .collect();
            let claimed = match self.claim_due(&mut limits, &active, now) {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(%error, "dispatcher could not read the wheel");
                    0
                }
            };
            let rate_wakeup = self.start_ready(&mut limits, &active, &context, &done_tx, now);
            if claimed >= CLAIM_BATCH {
                tokio::task::yield_now().await;
                continue;
            }
            let next_due = self.store.next_due_after(now).ok().flatten();
            let wake_at = [next_due, rate_wakeup].into_iter().flatten().min();
            let sleep = wake_at.map_or(Duration::from_secs(3600), |at| {
                Duration::from_millis(at.saturating_sub(now_ms()))
            });
            tokio::select! {
                _ = wheel_changed.notified() => {}
                Some(endpoint) = done_rx.recv() => limits.finished(endpoint),
                _ = tokio::time::sleep(sleep) => {}
                _ = self.shutdown.changed() => {}
            }
        }

        let deadline = tokio::time::Instant::now() + self.settings.server.shutdown_grace;
        while limits.in_flight() > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(endpoint)) => limits.finished(endpoint),
                _ => break,
            }
        }
        tracing::info!(unfinished = limits.in_flight(), "dispatcher stopped");
    }

    /// Claims due entries for endpoints with room, passing over saturated
    /// ones; returns how many were claimed.
    fn claim_due(
        &self,
        limits: &mut Limits,
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
                let status = self.inactive_status(entry.endpoint)?;
                self.store.release_claim(entry.delivery, status)?;
                continue;
            };
            let delivery = self.store.get_delivery(entry.delivery)?;
            let Some(delivery) = delivery.filter(|d| d.status == DeliveryStatus::Pending) else {
                self.store
                    .release_claim(entry.delivery, DeliveryStatus::Cancelled)?;
                continue;
            };
            let Some(event) = self.store.get_event(delivery.event_id)? else {
                tracing::error!(delivery = %delivery.id, "event of a pending delivery is missing");
                self.store
                    .release_claim(entry.delivery, DeliveryStatus::Cancelled)?;
                continue;
            };
            limits.enqueue(
                endpoint.id,
                Job {
                    delivery,
                    event,
                    claim: entry.due_ms,
                },
            );
            if !limits.has_room(endpoint) {
                with_room = with_room.saturating_sub(1);
            }
        }
        Ok(claimed)
    }

    /// Starts every waiting job its endpoint's limits allow; returns when the
    /// earliest rate-limited one may start.
    fn start_ready(
        &self,
        limits: &mut Limits,
        active: &Active,
        context: &Rc<AttemptContext>,
        done: &mpsc::UnboundedSender<EndpointId>,
        now: u64,
    ) -> Option<u64> {
        let mut earliest = None;
        for endpoint_id in limits.endpoints_waiting() {
            let Some(endpoint) = active.get(&endpoint_id).copied() else {
                let status = self
                    .inactive_status(endpoint_id)
                    .unwrap_or(DeliveryStatus::Cancelled);
                for job in limits.drain_waiting(endpoint_id) {
                    if let Err(error) = self.store.release_claim(job.delivery.id, status) {
                        tracing::error!(%error, "could not release a claim");
                    }
                }
                continue;
            };
            loop {
                match limits.start_next(endpoint, now) {
                    Ok(job) => {
                        let context = Rc::clone(context);
                        let endpoint = endpoint.clone();
                        let done = done.clone();
                        actix_web::rt::spawn(async move {
                            run_attempt(&context, job, endpoint).await;
                            let _ = done.send(endpoint_id);
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

    /// What becomes of deliveries whose endpoint is not among the active
    /// ones: held if it is disabled, cancelled if it was deleted.
    fn inactive_status(&self, endpoint: EndpointId) -> Result<DeliveryStatus, StoreError> {
        Ok(match self.store.get_endpoint(endpoint)? {
            Some(_) => DeliveryStatus::Held,
            None => DeliveryStatus::Cancelled,
        })
    }
}

/// The active endpoints of one pass, by ID.
type Active<'a> = HashMap<EndpointId, &'a Endpoint>;
