//! Hand-built big-endian keys, so that sled's bytewise order is the order we
//! scan in: time for the event log and the wheel, owner-then-time for indexes.

use crate::domain::DeliveryStatus;
use crate::ids::{DeliveryId, Id};

/// Wheel key: due time in ms, then the delivery ID (unique per delivery).
pub fn wheel(due_ms: u64, delivery: DeliveryId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&due_ms.to_be_bytes());
    key[8..].copy_from_slice(&delivery.to_bytes());
    key
}

pub fn parse_wheel(key: &[u8]) -> Option<(u64, DeliveryId)> {
    let due = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let id: [u8; 16] = key.get(8..24)?.try_into().ok()?;
    Some((due, DeliveryId::from_bytes(id)))
}

/// Index key: the owner (endpoint or event), then the owned delivery.
pub fn pair<A, B>(owner: Id<A>, owned: Id<B>) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(&owner.to_bytes());
    key[16..].copy_from_slice(&owned.to_bytes());
    key
}

/// The second half of a [`pair`] key.
pub fn pair_second<B>(key: &[u8]) -> Option<Id<B>> {
    let bytes: [u8; 16] = key.get(16..32)?.try_into().ok()?;
    Some(Id::from_bytes(bytes))
}

/// The smallest key strictly after `id`: where a walk resumes past its cursor.
pub fn after<K>(id: Id<K>) -> [u8; 16] {
    u128::from_be_bytes(id.to_bytes())
        .saturating_add(1)
        .to_be_bytes()
}

/// Search index key: the delivery's status, then the delivery, so one
/// status's deliveries form a key range in time order.
pub fn by_status(status: DeliveryStatus, delivery: DeliveryId) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = status_byte(status);
    key[1..].copy_from_slice(&delivery.to_bytes());
    key
}

/// The key an owed delivery (one without a record yet, see `log.rs`)
/// stands under for the open counts: below every status, so the start-up
/// count reaches the owed deliveries first. Never stored.
pub fn owed(delivery: DeliveryId) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[1..].copy_from_slice(&delivery.to_bytes());
    key
}

/// The status a counted key stands for: an owed delivery is pending.
pub fn counted_status(key: &[u8]) -> Option<DeliveryStatus> {
    match key.first() {
        Some(0) => Some(DeliveryStatus::Pending),
        _ => parse_by_status(key).map(|(status, _)| status),
    }
}

pub fn parse_by_status(key: &[u8]) -> Option<(DeliveryStatus, DeliveryId)> {
    let status = STATUS_BYTES
        .iter()
        .find(|(_, byte)| key.first() == Some(byte))?
        .0;
    let id: [u8; 16] = key.get(1..17)?.try_into().ok()?;
    Some((status, DeliveryId::from_bytes(id)))
}

/// Stored bytes: never renumber.
const STATUS_BYTES: [(DeliveryStatus, u8); 5] = [
    (DeliveryStatus::Pending, 1),
    (DeliveryStatus::Succeeded, 2),
    (DeliveryStatus::Failed, 3),
    (DeliveryStatus::Held, 4),
    (DeliveryStatus::Cancelled, 5),
];

fn status_byte(status: DeliveryStatus) -> u8 {
    STATUS_BYTES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, byte)| *byte)
}

/// Attempt key: the delivery, then the 1-based attempt number.
pub fn attempt(delivery: DeliveryId, number: u32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(&delivery.to_bytes());
    key[16..].copy_from_slice(&number.to_be_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EndpointId, EventId};

    #[test]
    fn wheel_keys_sort_by_due_time_first() {
        let late_id = DeliveryId::lowest_at(1);
        let early_id = DeliveryId::lowest_at(999);
        assert!(wheel(10, early_id) < wheel(11, late_id));
        assert_eq!(parse_wheel(&wheel(42, late_id)), Some((42, late_id)));
        assert_eq!(parse_wheel(&[1, 2]), None);
    }

    #[test]
    fn pair_keys_group_by_owner_then_time() {
        let owner = EndpointId::generate(5);
        let first = EventId::lowest_at(1);
        let second = EventId::lowest_at(2);
        assert!(pair(owner, first) < pair(owner, second));
        assert_eq!(
            pair_second::<crate::ids::EventKind>(&pair(owner, second)),
            Some(second)
        );
    }

    #[test]
    fn status_keys_group_by_status_then_time() {
        let (older, newer) = (DeliveryId::lowest_at(1), DeliveryId::lowest_at(2));
        let failed = by_status(DeliveryStatus::Failed, newer);
        assert!(by_status(DeliveryStatus::Failed, older) < failed);
        assert!(by_status(DeliveryStatus::Succeeded, newer) < failed);
        assert_eq!(
            parse_by_status(&failed),
            Some((DeliveryStatus::Failed, newer))
        );
        assert_eq!(parse_by_status(&[9; 17]), None);
    }

    #[test]
    fn attempt_keys_sort_numerically() {
        let d = DeliveryId::generate(1);
        assert!(attempt(d, 2) < attempt(d, 10));
    }
}
