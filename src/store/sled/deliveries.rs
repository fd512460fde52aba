//! Deliveries and their attempts: reading them (an owed delivery without a
//! record as `log.rs` describes it), recording an attempt's outcome, and
//! sending one again by hand.

use super::log::{EndpointStates, LoggedEvent};
use super::owed::Found;
use super::{codec, keys, SledStore, StoreError};
use crate::domain::{Attempt, Delivery, DeliveryStatus};
use crate::ids::{DeliveryId, EndpointId, EventId};

/// What an attempt holds its delivery by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Claim {
    /// Taken off the wheel; the token is the entry's due time (see
    /// `SledStore::claim`).
    Wheel(u64),
    /// Read from the log, owed and without a record yet.
    Owed,
}

pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    /// Set when more may follow.
    pub next: Option<DeliveryId>,
}

impl SledStore {
    /// A delivery by its record, or as owed when it has none yet.
    pub fn get_delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        if let Some(delivery) = self.stored_delivery(id)? {
            return Ok(Some(delivery));
        }
        let Some(owed) = self.owed_by_log(id)? else {
            return Ok(None);
        };
        // The dispatcher may have written the record since the first read;
        // then the record, not the log's view, is current.
        Ok(Some(self.stored_delivery(id)?.unwrap_or(owed)))
    }

    /// A delivery's own record, if it has one.
    pub(super) fn stored_delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        codec::read(&self.trees()?.deliveries, &id.to_bytes())
    }

    /// Rewrites a delivery that had status `before`, then its search entry.
    pub(super) fn put_delivery(
        &self,
        before: DeliveryStatus,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        self.trees()?
            .deliveries
            .insert(delivery.id.to_bytes(), codec::encode(delivery)?)?;
        self.delivery_status_changed(delivery.id, before, delivery.status)
    }

    pub fn attempts_of(&self, id: DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        self.trees()?
            .attempts
            .scan_prefix(id.to_bytes())
            .map(|entry| codec::decode(&entry?.1))
            .collect()
    }

    /// Every delivery of an event: those its publish owed, in fan-out
    /// order, then those replays added.
    pub fn deliveries_of_event(&self, event: EventId) -> Result<Vec<Delivery>, StoreError> {
        let logged = self.get_logged(event)?;
        self.deliveries_of_logged(event, logged.as_ref(), &self.endpoint_states())
    }

    /// As [`SledStore::deliveries_of_event`], for an event already read
    /// (`None`: gone from the log, leaving only what replays added).
    pub(super) fn deliveries_of_logged(
        &self,
        event: EventId,
        logged: Option<&LoggedEvent>,
        states: &EndpointStates,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut found = Vec::new();
        if let Some(logged) = logged {
            for (id, endpoint) in logged.owed_ids() {
                match self.stored_delivery(id)? {
                    Some(delivery) => found.push(delivery),
                    None => found.push(states.owed_delivery(id, event, endpoint)),
                }
            }
        }
        for entry in self.trees()?.event_deliveries.scan_prefix(event.to_bytes()) {
            let (key, _) = entry?;
            if let Some(delivery) = keys::pair_second(&key)
                .map(|id| self.stored_delivery(id))
                .transpose()?
                .flatten()
            {
                found.push(delivery);
            }
        }
        Ok(found)
    }

    /// An endpoint's deliveries, newest first, optionally of one status:
    /// its recorded ones merged with those still owed to it.
    pub fn deliveries_of_endpoint(
        &self,
        endpoint: EndpointId,
        status: Option<DeliveryStatus>,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError> {
        let high = before.unwrap_or(DeliveryId::from_u128(u128::MAX));
        let mut deliveries = Vec::new();
        let mut next = None;
        for found in self.endpoint_walk(endpoint, DeliveryId::from_u128(0), high)? {
            let delivery = match found? {
                Found::Recorded(id) => self.stored_delivery(id)?,
                Found::Owed(owed) => Some(owed.delivery),
            };
            let Some(delivery) = delivery else { continue };
            if status.is_some_and(|wanted| wanted != delivery.status) {
                continue;
            }
            if deliveries.len() == limit {
                next = deliveries.last().map(|d: &Delivery| d.id);
                break;
            }
            deliveries.push(delivery);
        }
        Ok(DeliveryPage { deliveries, next })
    }

    /// Records a finished attempt of `job` (the delivery as it was claimed)
    /// and rewrites the delivery as `next` makes it from the stored one,
    /// releasing the claim. An owed delivery gets its first record here
    /// (`record_owed`), unflushed: the dispatch cursor covers it.
    pub fn record_attempt(
        &self,
        job: &Delivery,
        claim: Claim,
        event_type: &str,
        attempt: &Attempt,
        next: impl Fn(Delivery) -> Delivery,
    ) -> Result<Option<Delivery>, StoreError> {
        // Plain writes in a crash-safe order rather than a transaction (see
        // `claim`): the attempt, the record, then the next wheel entry, then
        // the claim, so a crash before the end means the attempt is made
        // again after the restart, never that it is lost. The claim is
        // removed only if it is still ours: a retry due at once may already
        // have been claimed anew.
        let id = job.id;
        self.trees()?
            .attempts
            .insert(keys::attempt(id, attempt.attempt), codec::encode(attempt)?)?;
        if claim == Claim::Owed {
            let mut owed = job.clone();
            owed.status = DeliveryStatus::Pending;
            let first = next(owed);
            if self.record_owed(&first, event_type)? {
                return Ok(Some(first));
            }
            // Recorded meanwhile: the outcome applies to that record.
        }
        let delivery = loop {
            let Some(current) = self.trees()?.deliveries.get(id.to_bytes())? else {
                self.release_wheel_claim(id, claim)?;
                return Ok(None);
            };
            let stored: Delivery = codec::decode(&current)?;
            let before = stored.status;
            let delivery = next(stored);
            // Compare-and-swap, so a hold or cancel written meanwhile is
            // re-read and given to `next` rather than overwritten.
            let swapped = self.trees()?.deliveries.compare_and_swap(
                id.to_bytes(),
                Some(current),
                Some(codec::encode(&delivery)?),
            )?;
            if swapped.is_ok() {
                break (before, delivery);
            }
        };
        let (before, delivery) = delivery;
        self.delivery_status_changed(id, before, delivery.status)?;
        if let Some(due) = delivery.next_attempt_ms {
            self.trees()?
                .wheel
                .insert(keys::wheel(due, id), &delivery.endpoint_id.to_bytes())?;
        }
        self.release_wheel_claim(id, claim)?;
        Ok(Some(delivery))
    }

    /// Removes a wheel claim if it is still this one (Err from the swap only
    /// means it is not: nothing to remove).
    fn release_wheel_claim(&self, id: DeliveryId, claim: Claim) -> Result<(), StoreError> {
        if let Claim::Wheel(token) = claim {
            let _ = self.trees()?.claimed.compare_and_swap(
                id.to_bytes(),
                Some(&token.to_be_bytes()[..]),
                None as Option<&[u8]>,
            )?;
        }
        Ok(())
    }

    /// Ends a claim without an attempt: the delivery's endpoint turned out to
    /// be disabled (`Held`) or deleted (`Cancelled`).
    pub fn release_claim(&self, id: DeliveryId, status: DeliveryStatus) -> Result<(), StoreError> {
        if let Some(mut delivery) = self.stored_delivery(id)? {
            if delivery.status == DeliveryStatus::Pending {
                delivery.status = status;
                delivery.next_attempt_ms = None;
                self.put_delivery(DeliveryStatus::Pending, &delivery)?;
            }
        }
        self.trees()?.claimed.remove(id.to_bytes())?;
        Ok(())
    }

    /// Puts a delivery back on the wheel due now, for one more attempt.
    /// Returns the delivery as it was, or `None` if unknown.
    pub async fn retry_now(
        &self,
        id: DeliveryId,
        now_ms: u64,
    ) -> Result<Option<Delivery>, StoreError> {
        let Some(mut delivery) = self.get_delivery(id)? else {
            return Ok(None);
        };
        let before = delivery.clone();
        // Owed and never attempted yet: the dispatcher attempts it now anyway.
        if self.stored_delivery(id)?.is_none() {
            return Ok(Some(before));
        }
        if matches!(
            delivery.status,
            DeliveryStatus::Held | DeliveryStatus::Cancelled
        ) {
            return Ok(Some(before));
        }
        if self.trees()?.claimed.contains_key(id.to_bytes())? {
            return Ok(Some(before));
        }
        if let Some(due) = delivery.next_attempt_ms {
            self.trees()?.wheel.remove(keys::wheel(due, id))?;
        }
        delivery.status = DeliveryStatus::Pending;
        delivery.next_attempt_ms = Some(now_ms);
        delivery.updated_at_ms = now_ms;
        self.put_delivery(before.status, &delivery)?;
        self.trees()?
            .wheel
            .insert(keys::wheel(now_ms, id), &delivery.endpoint_id.to_bytes())?;
        self.commit().await?;
        self.wheel_changed.notify_one();
        Ok(Some(before))
    }
}
