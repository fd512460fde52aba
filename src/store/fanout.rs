//! Creating a fresh delivery and writing it with its indexes and wheel entry.
//! Shared by publishing and replay so that a replayed delivery is written
//! exactly as a published one: same records, same indexes, same wheel value.

use rand::Rng;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{keys, StoreError};
use crate::domain::schedule::RetrySchedule;
use crate::domain::{Delivery, DeliveryStatus, Endpoint};
use crate::ids::{DeliveryId, EventId};

/// A new pending delivery of `event` to `endpoint`, due at the first slot of
/// the endpoint's schedule (with jitter).
pub(super) fn fresh_delivery(
    event: EventId,
    endpoint: &Endpoint,
    default_schedule: &RetrySchedule,
    now_ms: u64,
    rng: &mut impl Rng,
) -> Delivery {
    let delay = endpoint
        .schedule(default_schedule)
        .jittered_delay_before(1, rng)
        .unwrap_or_default();
    Delivery {
        id: DeliveryId::generate(now_ms),
        event_id: event,
        endpoint_id: endpoint.id,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_ms: Some(now_ms + delay.as_millis() as u64),
        updated_at_ms: now_ms,
    }
}

/// The trees a new delivery is written to, inside one transaction.
pub(super) struct DeliveryTrees<'a> {
    pub deliveries: &'a TransactionalTree,
    pub by_endpoint: &'a TransactionalTree,
    pub by_event: &'a TransactionalTree,
    pub wheel: &'a TransactionalTree,
}

impl DeliveryTrees<'_> {
    /// Writes the delivery (already encoded as `bytes`), both indexes, and its
    /// wheel entry, whose value is the endpoint so the dispatcher can apply
    /// per-endpoint limits without reading the delivery.
    pub fn insert(
        &self,
        delivery: &Delivery,
        bytes: &[u8],
    ) -> Result<(), ConflictableTransactionError<StoreError>> {
        self.deliveries.insert(&delivery.id.to_bytes(), bytes)?;
        self.by_endpoint
            .insert(&keys::pair(delivery.endpoint_id, delivery.id), &[])?;
        self.by_event
            .insert(&keys::pair(delivery.event_id, delivery.id), &[])?;
        let due = delivery.next_attempt_ms.unwrap_or(delivery.updated_at_ms);
        self.wheel.insert(
            &keys::wheel(due, delivery.id)[..],
            &delivery.endpoint_id.to_bytes()[..],
        )?;
        Ok(())
    }
}
