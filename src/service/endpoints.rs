//! Switching endpoints off and on, and removing them: what happens to the
//! deliveries they are owed. Disabling holds them (kept, not attempted),
//! enabling makes the held ones due at once, deleting cancels them. A
//! partner's suspension is its endpoint disabled by hand.

use crate::domain::{Delivery, DeliveryStatus, DisabledReason, Endpoint, Partner, PartnerStatus};
use crate::ids::{EndpointId, PartnerId};
use crate::store::{Store, StoreError};

/// `delivery` moved to `status` (due at `due_ms` when that is pending), or
/// `None` when it is finished (succeeded, failed, cancelled) or already there.
pub fn moved(delivery: &Delivery, status: DeliveryStatus, due_ms: u64) -> Option<Delivery> {
    let open = matches!(
        delivery.status,
        DeliveryStatus::Pending | DeliveryStatus::Held
    );
    if !open || delivery.status == status {
        return None;
    }
    let mut moved = delivery.clone();
    moved.status = status;
    moved.next_attempt_ms = (status == DeliveryStatus::Pending).then_some(due_ms);
    Some(moved)
}

/// Switches an endpoint off: its open deliveries are held, not dropped,
/// including those not attempted yet.
pub async fn disable(
    store: &Store,
    endpoint: &mut Endpoint,
    reason: DisabledReason,
    now_ms: u64,
) -> Result<(), StoreError> {
    endpoint.active = false;
    endpoint.disabled_reason = Some(reason);
    endpoint.disabled_at_ms = Some(now_ms);
    endpoint.updated_at_ms = now_ms;
    store.save_endpoint(endpoint).await?;
    follow_state(store, endpoint.id, Some(endpoint), now_ms).await
}

/// Switches an endpoint back on with a clean failure count; its held
/// deliveries become due now.
pub async fn enable(store: &Store, endpoint: &mut Endpoint, now_ms: u64) -> Result<(), StoreError> {
    endpoint.active = true;
    endpoint.disabled_reason = None;
    endpoint.disabled_at_ms = None;
    endpoint.updated_at_ms = now_ms;
    store.reset_health(endpoint.id).await?;
    store.save_endpoint(endpoint).await?;
    follow_state(store, endpoint.id, Some(endpoint), now_ms).await
}

/// Brings an endpoint's open deliveries in line with its state (`None`
/// once deleted): held while it is disabled, due at `now_ms` once it is
/// enabled, cancelled once it is gone.
async fn follow_state(
    store: &Store,
    id: EndpointId,
    endpoint: Option<&Endpoint>,
    now_ms: u64,
) -> Result<(), StoreError> {
    match DeliveryStatus::open_for(endpoint.map(|e| e.active)) {
        DeliveryStatus::Pending => {
            store
                .update_deliveries_of(id, |d| moved(d, DeliveryStatus::Pending, now_ms))
                .await?;
            store.commit().await?;
            store.wheel_changed().notify_one();
            Ok(())
        }
        status => {
            end_open_deliveries(store, id, status).await?;
            store.commit().await
        }
    }
}

/// Follows the record of one of `endpoint`'s deliveries, written as
/// `status` on the strength of an earlier read of the endpoint's state.
/// Disabling, enabling and deleting write the endpoint first and sweep its
/// deliveries after; a record written between that read and the sweep
/// would be missed by both and stay pending for a disabled endpoint, or
/// held for an enabled one. Reading the endpoint again after the record
/// closes the gap: either this read sees the change, and the sweep runs
/// again here (it is idempotent), or the change came later and its own
/// sweep finds the record.
pub async fn recorded_as(
    store: &Store,
    endpoint: EndpointId,
    status: DeliveryStatus,
    now_ms: u64,
) -> Result<(), StoreError> {
    let current = store.get_endpoint(endpoint).await?;
    let follows = DeliveryStatus::open_for(current.as_ref().map(|e| e.active));
    let open = matches!(status, DeliveryStatus::Pending | DeliveryStatus::Held);
    if !open || status == follows {
        return Ok(());
    }
    follow_state(store, endpoint, current.as_ref(), now_ms).await
}

/// Removes an endpoint and cancels what it was still owed. False when there
/// was no such endpoint.
pub async fn delete(store: &Store, id: EndpointId) -> Result<bool, StoreError> {
    if !store.remove_endpoint(id).await? {
        return Ok(false);
    }
    follow_state(store, id, None, crate::clock::now_ms()).await?;
    Ok(true)
}

/// Holds or cancels every open delivery of an endpoint: recorded ones, and
/// those not attempted yet, which get a record of that status so that
/// resuming the endpoint sends them again at once even if an attempt of one
/// is hanging (that attempt, if it succeeds, still counts).
async fn end_open_deliveries(
    store: &Store,
    endpoint: EndpointId,
    status: DeliveryStatus,
) -> Result<usize, StoreError> {
    let change = |d: &Delivery| moved(d, status, 0);
    Ok(store.update_deliveries_of(endpoint, change).await?
        + store.settle_owed_of(endpoint, change).await?)
}

/// Suspends or resumes a partner. Suspension disables its endpoint by hand,
/// so deliveries are held rather than dropped; resuming releases them.
pub async fn set_partner_status(
    store: &Store,
    partner: &mut Partner,
    status: PartnerStatus,
    now_ms: u64,
) -> Result<(), StoreError> {
    partner.status = status;
    store.save_partner(partner).await?;
    if let Some(mut endpoint) = store.get_endpoint(partner.endpoint_id).await? {
        match status {
            PartnerStatus::Suspended if endpoint.active => {
                disable(store, &mut endpoint, DisabledReason::Manual, now_ms).await?
            }
            PartnerStatus::Active if !endpoint.active => {
                enable(store, &mut endpoint, now_ms).await?
            }
            _ => {}
        }
    }
    store.commit().await
}

/// Removes a partner with its account and its endpoint, whose open
/// deliveries are cancelled. False when there was no such partner.
pub async fn delete_partner(store: &Store, id: PartnerId) -> Result<bool, StoreError> {
    let Some(partner) = store.remove_partner(id).await? else {
        return Ok(false);
    };
    delete(store, partner.endpoint_id).await?;
    store.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DeliveryId, EventId};

    fn delivery(status: DeliveryStatus, next: Option<u64>) -> Delivery {
        Delivery {
            id: DeliveryId::generate(1),
            event_id: EventId::generate(1),
            endpoint_id: EndpointId::generate(1),
            status,
            attempts: 0,
            next_attempt_ms: next,
            updated_at_ms: 1,
        }
    }

    #[test]
    fn holding_takes_a_pending_delivery_off_its_schedule() {
        let held = moved(
            &delivery(DeliveryStatus::Pending, Some(9)),
            DeliveryStatus::Held,
            0,
        );
        let held = held.expect("pending is open");
        assert_eq!(
            (held.status, held.next_attempt_ms),
            (DeliveryStatus::Held, None)
        );
    }

    #[test]
    fn resuming_makes_a_held_delivery_due_then() {
        let resumed = moved(
            &delivery(DeliveryStatus::Held, None),
            DeliveryStatus::Pending,
            42,
        );
        let resumed = resumed.expect("held is open");
        assert_eq!(resumed.next_attempt_ms, Some(42));
        assert!(moved(
            &delivery(DeliveryStatus::Pending, Some(9)),
            DeliveryStatus::Pending,
            42
        )
        .is_none());
    }

    #[test]
    fn finished_deliveries_never_move() {
        for status in [
            DeliveryStatus::Succeeded,
            DeliveryStatus::Failed,
            DeliveryStatus::Cancelled,
        ] {
            for target in [
                DeliveryStatus::Held,
                DeliveryStatus::Pending,
                DeliveryStatus::Cancelled,
            ] {
                assert!(moved(&delivery(status, None), target, 1).is_none());
            }
        }
    }
}
