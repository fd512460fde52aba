//! What an attempt's outcome does to its delivery. The worker decides the
//! outcome (`delivery/retry.rs`); this applies it to the delivery as stored
//! when the attempt is recorded, which may have changed meanwhile.

use crate::domain::{Attempt, Delivery, DeliveryStatus};
use crate::store::{Claim, Store, StoreError};

/// What an attempt decided for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    /// Retry at this time.
    RetryAt(u64),
    Failed,
}

/// `delivery` after an attempt with this outcome. A delivery held or
/// cancelled while its attempt was in flight keeps that status unless the
/// attempt succeeded: the operator's decision stands over a retry or a
/// failure, but a delivery that did arrive is reported as such.
pub fn after_attempt(
    mut delivery: Delivery,
    attempt: &Attempt,
    outcome: AttemptOutcome,
) -> Delivery {
    delivery.attempts = delivery.attempts.max(attempt.attempt);
    delivery.updated_at_ms = attempt.at_ms;
    let still_open = delivery.status == DeliveryStatus::Pending;
    delivery.next_attempt_ms = None;
    match outcome {
        AttemptOutcome::Succeeded => delivery.status = DeliveryStatus::Succeeded,
        AttemptOutcome::Failed if still_open => delivery.status = DeliveryStatus::Failed,
        AttemptOutcome::RetryAt(due) if still_open => delivery.next_attempt_ms = Some(due),
        _ => {}
    }
    delivery
}

/// Records a finished attempt of `job` (the delivery as it was claimed) with
/// its outcome applied, releasing the claim. An attempt that succeeded also
/// ends its endpoint's run of failures. Returns the delivery as recorded,
/// or `None` if it no longer exists.
pub async fn record(
    store: &Store,
    job: &Delivery,
    claim: Claim,
    event_type: &str,
    attempt: &Attempt,
    outcome: AttemptOutcome,
) -> Result<Option<Delivery>, StoreError> {
    let succeeded = outcome == AttemptOutcome::Succeeded;
    store
        .record_attempt(
            job,
            claim,
            event_type,
            attempt,
            |stored| after_attempt(stored, attempt, outcome),
            succeeded,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DeliveryId, EndpointId, EventId};

    fn delivery(status: DeliveryStatus) -> Delivery {
        Delivery {
            id: DeliveryId::generate(1),
            event_id: EventId::generate(1),
            endpoint_id: EndpointId::generate(1),
            status,
            attempts: 1,
            next_attempt_ms: Some(5),
            updated_at_ms: 1,
        }
    }

    fn attempt(n: u32) -> Attempt {
        Attempt {
            attempt: n,
            at_ms: 10,
            status_code: Some(500),
            duration_ms: 1,
            error: None,
            request_body: None,
            response_body: None,
        }
    }

    #[test]
    fn a_pending_delivery_takes_the_outcome() {
        let retried = after_attempt(
            delivery(DeliveryStatus::Pending),
            &attempt(2),
            AttemptOutcome::RetryAt(99),
        );
        assert_eq!(retried.status, DeliveryStatus::Pending);
        assert_eq!(retried.next_attempt_ms, Some(99));
        assert_eq!((retried.attempts, retried.updated_at_ms), (2, 10));
        let failed = after_attempt(
            delivery(DeliveryStatus::Pending),
            &attempt(2),
            AttemptOutcome::Failed,
        );
        assert_eq!(
            (failed.status, failed.next_attempt_ms),
            (DeliveryStatus::Failed, None)
        );
    }

    #[test]
    fn a_hold_or_cancel_made_during_the_attempt_stands_unless_it_succeeded() {
        for status in [DeliveryStatus::Held, DeliveryStatus::Cancelled] {
            let retry = after_attempt(delivery(status), &attempt(2), AttemptOutcome::RetryAt(99));
            assert_eq!((retry.status, retry.next_attempt_ms), (status, None));
            let failed = after_attempt(delivery(status), &attempt(2), AttemptOutcome::Failed);
            assert_eq!(failed.status, status);
            let arrived = after_attempt(delivery(status), &attempt(2), AttemptOutcome::Succeeded);
            assert_eq!(arrived.status, DeliveryStatus::Succeeded);
        }
    }

    #[test]
    fn an_older_attempt_never_lowers_the_count() {
        let late = after_attempt(
            delivery(DeliveryStatus::Pending),
            &attempt(0),
            AttemptOutcome::Failed,
        );
        assert_eq!(late.attempts, 1);
    }
}
