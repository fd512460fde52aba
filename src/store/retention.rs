//! Retention (SPEC §9): removing old events with their finished deliveries,
//! attempts and index entries, a small batch per transaction, and expiring
//! old idempotency records. An event that still has a pending delivery is
//! kept whole, so nothing being retried is lost; a held delivery (its
//! endpoint is disabled) does not keep it: it is cancelled and removed with
//! its event, so a switched-off endpoint cannot pin the log forever.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::events::IdempotencyRecord;
use super::{codec, keys, Store, StoreError};
use crate::domain::{Delivery, DeliveryStatus};
use crate::ids::{DeliveryId, EventId};

/// What one purge batch did, and where the next one starts.
#[derive(Debug, Default, Clone, Copy)]
pub struct PurgeOutcome {
    pub removed: usize,
    pub kept: usize,
    /// The last event looked at, when more may follow.
    pub next: Option<EventId>,
}

impl Store {
    /// Removes up to `limit` events created before `before_ms`, starting after
    /// `after`, each with its finished deliveries. Blocking.
    pub fn purge_events(
        &self,
        after: Option<EventId>,
        before_ms: u64,
        limit: usize,
    ) -> Result<PurgeOutcome, StoreError> {
        let start = after.map_or([0; 16], keys::after);
        let end = EventId::lowest_at(before_ms).to_bytes();
        let mut candidates: Vec<(EventId, Vec<DeliveryId>)> = Vec::new();
        for entry in self.trees()?.events.range(start..end).take(limit) {
            let (key, _) = entry?;
            let Ok(bytes) = <[u8; 16]>::try_from(key.as_ref()) else {
                continue;
            };
            let event = EventId::from_bytes(bytes);
            let mut owned = Vec::new();
            for entry in self.trees()?.event_deliveries.scan_prefix(event.to_bytes()) {
                if let Some(id) = keys::pair_second(&entry?.0) {
                    owned.push(id);
                }
            }
            candidates.push((event, owned));
        }
        let next = (candidates.len() == limit)
            .then(|| candidates.last().map(|(id, _)| *id))
            .flatten();

        let trees = (
            &self.trees()?.events,
            &self.trees()?.deliveries,
            &self.trees()?.attempts,
            &self.trees()?.endpoint_deliveries,
            &self.trees()?.event_deliveries,
            &self.trees()?.claimed,
        );
        let (removed, kept) = trees.transaction(
            |(events, deliveries, attempts, by_endpoint, by_event, claimed)| {
                let (mut removed, mut kept) = (0, 0);
                'event: for (event, owned) in &candidates {
                    // Read inside the transaction, so a delivery that became
                    // pending meanwhile (a manual retry) keeps its event.
                    let mut finished: Vec<Delivery> = Vec::with_capacity(owned.len());
                    for id in owned {
                        let Some(bytes) = deliveries.get(id.to_bytes())? else {
                            continue;
                        };
                        let delivery: Delivery =
                            codec::decode(&bytes).map_err(ConflictableTransactionError::Abort)?;
                        if delivery.status == DeliveryStatus::Pending
                            || claimed.get(id.to_bytes())?.is_some()
                        {
                            kept += 1;
                            continue 'event;
                        }
                        finished.push(delivery);
                    }
                    for delivery in &finished {
                        let id = delivery.id;
                        deliveries.remove(&id.to_bytes()[..])?;
                        for number in 1..=delivery.attempts {
                            attempts.remove(&keys::attempt(id, number)[..])?;
                        }
                        by_endpoint.remove(&keys::pair(delivery.endpoint_id, id)[..])?;
                    }
                    for id in owned {
                        by_event.remove(&keys::pair(*event, *id)[..])?;
                    }
                    events.remove(&event.to_bytes()[..])?;
                    removed += 1;
                }
                Ok((removed, kept))
            },
        )?;
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
