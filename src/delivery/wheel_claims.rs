//! Taking due deliveries off the wheel: the dispatcher's claims.
//!
//! A pass reads due entries a page at a time and picks, within each
//! endpoint's room, those it can attempt. It claims them together
//! ([`Store::claim_all`]), then reads their events together
//! ([`Store::get_events`]), each event once however many of the page's
//! deliveries carry it. On a shared database each call is a round trip,
//! and made once per delivery they held every delivery of the wheel to
//! the pace of two round trips.
//!
//! Entries of inactive endpoints are settled one by one (held or
//! cancelled, see `dispatcher.rs`): they are rare, and each may change its
//! endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use crate::delivery::dispatcher::{inactive_status, Active, Dispatcher, Held};
use crate::delivery::limits::{Job, Limits};
use crate::domain::{Attempt, Delivery, DeliveryStatus, Endpoint, Event};
use crate::ids::{EndpointId, EventId};
use crate::service::outcome::{self, AttemptOutcome};
use crate::store::{Claim, Claimed, Store, StoreError, WheelEntry};

/// How many wheel entries one pass may claim before yielding to other work.
pub(super) const CLAIM_BATCH: usize = 1024;

/// Due entries read by the first store call of a pass; each further page
/// is twice as large, up to [`CLAIM_PAGE_MAX`]. A pass usually finds room
/// for a few entries only (an attempt just finished), so reading a large
/// page first would decode many entries for nothing on every wake-up.
const CLAIM_PAGE_FIRST: usize = 8;
const CLAIM_PAGE_MAX: usize = 512;

/// What claiming one due entry found.
enum Taken {
    /// Another node claimed it first, or it is no longer due.
    Missed,
    /// Claimed, with nothing to attempt: the delivery is gone or no longer
    /// pending, or its event is missing.
    Nothing,
    Ready(Delivery, Arc<Event>),
    /// Claimed, and its event cannot be decoded.
    Unreadable(Delivery, String),
}

/// The events of a page's claims, each read once: found, or the reason it
/// cannot be decoded.
type PageEvents = HashMap<EventId, Result<Arc<Event>, String>>;

/// The delivery a claim got, if it is still to be attempted.
fn pending(claimed: &Claimed) -> Option<&Delivery> {
    match claimed {
        Claimed::Taken(Some(delivery)) if delivery.status == DeliveryStatus::Pending => {
            Some(delivery)
        }
        _ => None,
    }
}

/// The events the page's pending claims carry.
async fn read_events(store: &Store, claims: &[Claimed]) -> Result<PageEvents, StoreError> {
    let mut wanted: Vec<EventId> = claims
        .iter()
        .filter_map(pending)
        .map(|d| d.event_id)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    Ok(store
        .get_events(&wanted)
        .await?
        .into_iter()
        .map(|(id, read)| (id, read.map(Arc::new)))
        .collect())
}

/// What a claim got, with its delivery's event from `events`.
fn taken(claimed: Claimed, events: &PageEvents) -> Taken {
    let delivery = match claimed {
        Claimed::Missed => return Taken::Missed,
        Claimed::Taken(Some(delivery)) if delivery.status == DeliveryStatus::Pending => delivery,
        // Gone, or no longer pending.
        Claimed::Taken(_) => return Taken::Nothing,
    };
    match events.get(&delivery.event_id) {
        Some(Ok(event)) => Taken::Ready(delivery, Arc::clone(event)),
        Some(Err(reason)) => Taken::Unreadable(delivery, reason.clone()),
        None => {
            tracing::error!(delivery = %delivery.id, "event of a pending delivery is missing");
            Taken::Nothing
        }
    }
}

/// The room a pass has left as it picks a page's entries: overall, and per
/// endpoint (the limits' room less what this page picked already).
struct Room<'a> {
    limits: &'a Limits,
    total: usize,
    picked: HashMap<EndpointId, usize>,
    /// Active endpoints with room left.
    with_room: usize,
    any_active: bool,
}

impl<'a> Room<'a> {
    fn new(limits: &'a Limits, active: &Active<'_>, batch_left: usize) -> Room<'a> {
        Room {
            limits,
            total: limits.total_room().min(batch_left),
            picked: HashMap::new(),
            with_room: active.values().filter(|e| limits.has_room(e)).count(),
            any_active: !active.is_empty(),
        }
    }

    /// Nothing more can be picked. Once every active endpoint is saturated,
    /// the rest of the due range can only hold entries we would pass over:
    /// stop there instead of walking a large backlog again on every
    /// wake-up. Entries of inactive endpoints left behind are settled by
    /// the next pass that has room.
    fn exhausted(&self) -> bool {
        self.total == 0 || (self.with_room == 0 && self.any_active)
    }

    /// Counts one entry for `endpoint` if it has room.
    fn pick(&mut self, endpoint: &Endpoint) -> bool {
        let picked = self.picked.entry(endpoint.id).or_default();
        let left = self.limits.room(endpoint).saturating_sub(*picked);
        if left == 0 || self.total == 0 {
            return false;
        }
        *picked += 1;
        self.total -= 1;
        if left == 1 {
            self.with_room -= 1;
        }
        true
    }
}

impl Dispatcher {
    /// Claims due entries for endpoints with room, passing over saturated
    /// ones; returns how many were claimed. Each claim queued for an attempt
    /// joins `held`.
    pub(super) async fn claim_due(
        &self,
        limits: &mut Limits,
        held: &mut Held,
        active: &Active<'_>,
        now: u64,
    ) -> Result<usize, StoreError> {
        let mut claimed = 0;
        let mut after = None;
        let mut page_size = CLAIM_PAGE_FIRST;
        while claimed < CLAIM_BATCH {
            let mut room = Room::new(limits, active, CLAIM_BATCH - claimed);
            if room.exhausted() {
                break;
            }
            let page = self
                .store
                .due_entries(now, after.as_ref(), page_size)
                .await?;
            let last_page = page.len() < page_size;
            page_size = (page_size * 2).min(CLAIM_PAGE_MAX);
            after = page.last().copied();
            let mut picked = Vec::new();
            for entry in page {
                if room.exhausted() {
                    break;
                }
                match active.get(&entry.endpoint) {
                    Some(endpoint) => {
                        if room.pick(endpoint) {
                            picked.push(entry);
                        }
                    }
                    None => {
                        if self.claim_inactive(entry, now).await? {
                            claimed += 1;
                        }
                    }
                }
            }
            claimed += self.take_picked(picked, limits, held, now).await?;
            if last_page {
                break;
            }
        }
        Ok(claimed)
    }

    /// Claims the picked entries and queues their attempts, or settles
    /// those with nothing to attempt; returns how many were claimed.
    async fn take_picked(
        &self,
        picked: Vec<WheelEntry>,
        limits: &mut Limits,
        held: &mut Held,
        now: u64,
    ) -> Result<usize, StoreError> {
        let claims = self.store.claim_all(&picked).await?;
        // On an error nothing is queued: the stranded-claim sweep
        // (`dispatcher.rs`) returns the page's claims to the wheel.
        let events = read_events(&self.store, &claims).await?;
        let mut claimed = 0;
        for (entry, claim) in picked.into_iter().zip(claims) {
            let taken = taken(claim, &events);
            claimed += self.act_on(taken, entry, limits, held, now).await?;
        }
        Ok(claimed)
    }

    /// Queues the attempt of a claimed entry, or settles it when there is
    /// nothing to attempt; returns 1 if it was claimed, else 0.
    async fn act_on(
        &self,
        taken: Taken,
        entry: WheelEntry,
        limits: &mut Limits,
        held: &mut Held,
        now: u64,
    ) -> Result<usize, StoreError> {
        match taken {
            Taken::Missed => return Ok(0),
            Taken::Nothing => {
                self.store
                    .release_claim(entry.delivery, DeliveryStatus::Cancelled)
                    .await?
            }
            Taken::Unreadable(delivery, reason) => {
                self.fail_unreadable(&delivery, entry.due_ms, &reason, now)
                    .await?
            }
            Taken::Ready(delivery, event) => {
                held.insert((delivery.id, entry.due_ms));
                limits.enqueue(
                    entry.endpoint,
                    Job {
                        delivery,
                        event,
                        claim: Claim::Wheel(entry.due_ms),
                        queued_ms: now,
                    },
                );
            }
        }
        Ok(1)
    }

    /// Claims a due entry of an endpoint not active in this pass and
    /// settles it without an attempt. False when it was already gone, or
    /// when the endpoint is active after all (newer than the pass's list,
    /// which is refreshed for the next pass).
    async fn claim_inactive(&self, entry: WheelEntry, now: u64) -> Result<bool, StoreError> {
        let Some(status) = inactive_status(&self.store, entry.endpoint).await? else {
            self.store.refresh_endpoints().await?;
            return Ok(false);
        };
        if let Claimed::Missed = self.store.claim(&entry).await? {
            return Ok(false);
        }
        self.release_as(entry.delivery, entry.endpoint, status, now)
            .await?;
        Ok(true)
    }

    /// Ends a delivery whose event cannot be decoded: every attempt would
    /// fail the same way, so it fails now, with the reason on its record.
    async fn fail_unreadable(
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
        outcome::record(
            &self.store,
            delivery,
            claim,
            "",
            &attempt,
            AttemptOutcome::Failed,
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::limits::tests::endpoint;

    #[test]
    fn a_page_picks_within_each_endpoints_room_and_stops_once_all_are_full() {
        let (narrow, wide) = (endpoint(1), endpoint(3));
        let active: Active = [(narrow.id, &narrow), (wide.id, &wide)].into();
        let limits = Limits::new(10, 16);
        let mut room = Room::new(&limits, &active, CLAIM_BATCH);
        assert!(room.pick(&narrow));
        assert!(!room.pick(&narrow), "its one slot is picked");
        assert!(!room.exhausted(), "the other endpoint has room");
        assert!(room.pick(&wide) && room.pick(&wide) && room.pick(&wide));
        assert!(!room.pick(&wide));
        assert!(room.exhausted(), "every endpoint is full");
    }

    #[test]
    fn a_page_picks_no_more_than_the_pass_may_claim() {
        let wide = endpoint(16);
        let active: Active = [(wide.id, &wide)].into();
        let limits = Limits::new(2, 16);
        let mut room = Room::new(&limits, &active, 5);
        assert!(room.pick(&wide) && room.pick(&wide));
        assert!(room.exhausted(), "the total cap of 2 is reached");
        assert!(!room.pick(&wide));
        let mut room = Room::new(&limits, &active, 1);
        assert!(room.pick(&wide));
        assert!(!room.pick(&wide), "one claim left in this pass");
    }
}
