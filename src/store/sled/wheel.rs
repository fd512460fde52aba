//! The timer wheel: (due ms, delivery) keys in time order, and the claim that
//! takes a due delivery off it for an attempt.
//!
//! A claimed delivery sits in the `claimed` tree until its attempt is
//! recorded. If the process dies first, [`SledStore::requeue_claimed`] puts it
//! back on the wheel at the next start; if its attempt could not be started
//! or recorded (a store error), the dispatcher's sweep puts it back with
//! [`SledStore::requeue_stranded_claims`]: at least once, never zero times.

use super::{keys, SledStore, StoreError};
use crate::domain::DeliveryStatus;
use crate::ids::{DeliveryId, EndpointId};

#[derive(Debug, Clone, Copy)]
pub struct WheelEntry {
    pub due_ms: u64,
    pub delivery: DeliveryId,
    pub endpoint: EndpointId,
}

impl SledStore {
    /// Up to `limit` wheel entries due at or before `now_ms`, earliest
    /// first, after `after`, each with the endpoint it is owed to (the
    /// wheel's value), so the dispatcher can pass over a saturated
    /// endpoint's backlog without reading its deliveries.
    pub fn due_page(
        &self,
        now_ms: u64,
        after: Option<&WheelEntry>,
        limit: usize,
    ) -> Result<Vec<WheelEntry>, StoreError> {
        let start = after.map_or_else(Vec::new, |e| {
            let mut key = keys::wheel(e.due_ms, e.delivery).to_vec();
            key.push(0);
            key
        });
        let end = keys::wheel(now_ms.saturating_add(1), DeliveryId::from_u128(0));
        let mut page = Vec::new();
        for entry in self.trees()?.wheel.range(start..end.to_vec()) {
            if page.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            let Some((due_ms, delivery)) = keys::parse_wheel(&key) else {
                continue;
            };
            let Ok(endpoint) = <[u8; 16]>::try_from(value.as_ref()) else {
                continue;
            };
            page.push(WheelEntry {
                due_ms,
                delivery,
                endpoint: EndpointId::from_bytes(endpoint),
            });
        }
        Ok(page)
    }

    /// When the earliest entry due strictly after `now_ms` is due, if any.
    pub fn next_due_after(&self, now_ms: u64) -> Result<Option<u64>, StoreError> {
        let start = keys::wheel(now_ms.saturating_add(1), DeliveryId::from_u128(0));
        match self.trees()?.wheel.range(start..).next() {
            Some(entry) => Ok(keys::parse_wheel(&entry?.0).map(|(due, _)| due)),
            None => Ok(None),
        }
    }

    /// Moves one entry from the wheel to `claimed`. False when it was already
    /// gone (cancelled, held or claimed meanwhile).
    pub fn claim(&self, due_ms: u64, id: DeliveryId) -> Result<bool, StoreError> {
        // Plain writes in a crash-safe order rather than a transaction (a
        // sled transaction costs several thread hand-offs): the claim is
        // recorded before the wheel entry goes, so a crash in between leaves
        // both and the delivery is attempted (at least) once more, never lost.
        // The claim's value is its token (the entry's due time): recording
        // the attempt removes the claim only if it is still this one.
        self.trees()?
            .claimed
            .insert(id.to_bytes(), &due_ms.to_be_bytes())?;
        if self
            .trees()?
            .wheel
            .remove(keys::wheel(due_ms, id))?
            .is_none()
        {
            self.trees()?.claimed.remove(id.to_bytes())?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Returns every claimed delivery to the wheel, due at `now_ms`. Run once
    /// at start-up, before the dispatcher, for attempts a crash interrupted.
    pub fn requeue_claimed(&self, now_ms: u64) -> Result<usize, StoreError> {
        let requeued = self.requeue_stranded_claims(|_, _| false, now_ms)?;
        self.flush_now()?;
        Ok(requeued)
    }

    /// Returns to the wheel, due at `now_ms`, every claimed delivery whose
    /// claim (delivery, token) is not `held` (waiting for or in its attempt):
    /// an attempt that could not be started or recorded left it behind. A
    /// delivery that is no longer pending only loses its claim; one already
    /// back on the wheel (its attempt was recorded up to the claim's removal)
    /// is not put there twice.
    pub fn requeue_stranded_claims(
        &self,
        held: impl Fn(DeliveryId, u64) -> bool,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let mut requeued = 0;
        for entry in self.trees()?.claimed.iter() {
            let (key, claim) = entry?;
            let Ok(bytes) = <[u8; 16]>::try_from(key.as_ref()) else {
                continue;
            };
            let id = DeliveryId::from_bytes(bytes);
            let token = <[u8; 8]>::try_from(claim.as_ref()).map(u64::from_be_bytes);
            if token.is_ok_and(|token| held(id, token)) {
                continue;
            }
            let pending = match self.get_delivery(id) {
                Ok(delivery) => delivery.filter(|d| d.status == DeliveryStatus::Pending),
                // Requeueing it would only fail the same way on every claim.
                Err(StoreError::Codec(reason)) => {
                    tracing::error!(delivery = %id, %reason, "a claimed delivery cannot be read; dropping its claim");
                    None
                }
                Err(error) => return Err(error),
            };
            if let Some(mut delivery) = pending {
                let on_wheel = match delivery.next_attempt_ms {
                    Some(due) => self.trees()?.wheel.contains_key(keys::wheel(due, id))?,
                    None => false,
                };
                if !on_wheel {
                    delivery.next_attempt_ms = Some(now_ms);
                    self.put_delivery(DeliveryStatus::Pending, &delivery)?;
                    self.trees()?
                        .wheel
                        .insert(keys::wheel(now_ms, id), &delivery.endpoint_id.to_bytes())?;
                    requeued += 1;
                }
            }
            // Only if unchanged: a claim taken anew meanwhile is live work.
            let _ =
                self.trees()?
                    .claimed
                    .compare_and_swap(key, Some(claim), None as Option<&[u8]>)?;
        }
        if requeued > 0 {
            self.wheel_changed.notify_one();
        }
        Ok(requeued)
    }
}
