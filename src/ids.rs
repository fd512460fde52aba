//! Prefixed, time-ordered identifiers (`evt_…`, `ep_…`, `dlv_…`, `partner_…`, `rpl_…`).
//!
//! Every ID is a ULID: 48 bits of creation time in milliseconds, then 80
//! random bits. Its 16 big-endian bytes sort by creation time, which is what
//! lets the event log answer a date range as a plain key range. The prefix
//! only exists on the wire; storage keeps the 128-bit value.
//!
//! IDs come from one process-wide monotonic counter: each is greater than
//! every one minted before it, even within one millisecond or when the wall
//! clock steps back, so listing order is creation order. At start the store
//! seeds it past the highest stored ID ([`seed_past`]), which carries the
//! order across restarts.
//!
//! An event's ID is minted as a block ([`EventId::generate_block`]): its low
//! [`DELIVERY_BITS`] bits are zero and the IDs up to the end of the block
//! are never minted, so the deliveries the event owes when it is published
//! are named by the event's ID with their position in those bits. A
//! delivery ID then leads back to its event without an index.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// The last ID minted (or seeded) in this process.
static LAST: Mutex<u128> = Mutex::new(0);

/// The low bits of an event ID that number the deliveries of its fan-out.
pub const DELIVERY_BITS: u32 = 16;

/// The most deliveries one event's fan-out can name.
pub const MAX_FANOUT: usize = (1 << DELIVERY_BITS) - 1;

const BLOCK_MASK: u128 = (1 << DELIVERY_BITS) - 1;

/// The next ID after `last`: stamped `now_ms` with fresh random bits, or
/// just past `last` when that would not be greater (same millisecond, or a
/// clock that stepped back).
fn next_after(last: u128, now_ms: u64) -> u128 {
    let fresh = Ulid::from_parts(now_ms, rand::random::<u128>()).0;
    if fresh > last {
        fresh
    } else {
        last.saturating_add(1)
    }
}

/// The first ID of the next free block: its low bits zero, the whole block
/// after `last`.
fn block_after(last: u128, now_ms: u64) -> u128 {
    next_after(last, now_ms).saturating_add(BLOCK_MASK) & !BLOCK_MASK
}

fn last() -> std::sync::MutexGuard<'static, u128> {
    LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn mint(now_ms: u64) -> u128 {
    let mut last = last();
    *last = next_after(*last, now_ms);
    *last
}

/// A fresh ID as text behind `prefix`, for kinds whose IDs are not always
/// generated (account IDs may be the platform's own).
pub fn generate_prefixed(prefix: &str, now_ms: u64) -> String {
    format!("{prefix}{}", Ulid(mint(now_ms)))
}

/// Makes every ID minted from now on greater than `highest` (a stored ID of
/// any kind), so the order survives a restart and a clock that stepped back.
pub fn seed_past(highest: u128) {
    let mut last = last();
    *last = (*last).max(highest);
}

/// What kind of object an ID names; only supplies the wire prefix.
pub trait IdKind {
    const PREFIX: &'static str;
}

macro_rules! id_kind {
    ($kind:ident, $alias:ident, $prefix:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $kind;
        impl IdKind for $kind {
            const PREFIX: &'static str = $prefix;
        }
        pub type $alias = Id<$kind>;
    };
}

id_kind!(EventKind, EventId, "evt_");
id_kind!(EndpointKind, EndpointId, "ep_");
id_kind!(DeliveryKind, DeliveryId, "dlv_");
id_kind!(PartnerKind, PartnerId, "partner_");
id_kind!(ReplayKind, ReplayId, "rpl_");

pub struct Id<K> {
    value: u128,
    kind: PhantomData<K>,
}

impl<K: IdKind> Id<K> {
    /// A fresh ID stamped with `now_ms`, greater than every ID minted
    /// before it (see [`mint`]).
    pub fn generate(now_ms: u64) -> Self {
        Self::from_u128(mint(now_ms))
    }

    /// The smallest ID that could have been created at `ms`: the lower bound
    /// of a time-range scan.
    pub fn lowest_at(ms: u64) -> Self {
        Self::from_u128(Ulid::from_parts(ms, 0).0)
    }
}

impl<K> Id<K> {
    pub fn from_u128(value: u128) -> Self {
        Id {
            value,
            kind: PhantomData,
        }
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self::from_u128(u128::from_be_bytes(bytes))
    }

    /// Big-endian bytes: the storage key form, sorting by creation time.
    pub fn to_bytes(self) -> [u8; 16] {
        self.value.to_be_bytes()
    }

    pub fn created_ms(self) -> u64 {
        Ulid(self.value).timestamp_ms()
    }

    pub fn as_u128(self) -> u128 {
        self.value
    }
}

impl EventId {
    /// A fresh event ID that starts a block of IDs (see the module comment).
    pub fn generate_block(now_ms: u64) -> EventId {
        let mut last = last();
        let first = block_after(*last, now_ms);
        *last = first | BLOCK_MASK;
        EventId::from_u128(first)
    }

    /// The ID of the `index`-th delivery (from 0) of this event's fan-out,
    /// or `None` past [`MAX_FANOUT`].
    pub fn fanout_delivery(self, index: usize) -> Option<DeliveryId> {
        (index < MAX_FANOUT).then(|| DeliveryId::from_u128(self.value | (index as u128 + 1)))
    }

    /// The last ID of this event's block: seeding past it keeps its
    /// delivery IDs from being minted again.
    pub fn block_end(self) -> u128 {
        self.value | BLOCK_MASK
    }
}

impl DeliveryId {
    /// The event and fan-out position this ID names, if it has that form
    /// (see [`EventId::fanout_delivery`]). Other delivery IDs (replays) give
    /// an event that owes no such delivery, which the caller's lookup finds.
    pub fn fanout_position(self) -> Option<(EventId, usize)> {
        let position = (self.value & BLOCK_MASK) as usize;
        (position > 0).then(|| (EventId::from_u128(self.value & !BLOCK_MASK), position - 1))
    }
}

// Derives would put bounds on `K`; the marker carries no data, so implement by hand.
impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Id<K> {}
impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<K> Eq for Id<K> {}
impl<K> std::hash::Hash for Id<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}
impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<K: IdKind> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", K::PREFIX, Ulid(self.value))
    }
}

impl<K: IdKind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not a valid {expected}… identifier")]
pub struct IdParseError {
    expected: &'static str,
}

impl<K: IdKind> FromStr for Id<K> {
    type Err = IdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = IdParseError {
            expected: K::PREFIX,
        };
        let body = s.strip_prefix(K::PREFIX).ok_or(error)?;
        let ulid = Ulid::from_string(body).map_err(|_| IdParseError {
            expected: K::PREFIX,
        })?;
        Ok(Self::from_u128(ulid.0))
    }
}

/// Stored as the bare 128-bit value: compact, and the prefix is implied by the field.
impl<K> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de, K> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Id {
            value: u128::deserialize(deserializer)?,
            kind: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_prefixed_form() {
        let id = EventId::from_u128(Ulid::from_parts(1_700_000_000_000, 42).0);
        let text = id.to_string();
        assert!(text.starts_with("evt_"));
        assert_eq!(text.parse::<EventId>().unwrap(), id);
        assert_eq!(id.created_ms(), 1_700_000_000_000);
    }

    #[test]
    fn rejects_a_foreign_prefix() {
        let text = EndpointId::generate(1).to_string();
        assert!(text.parse::<EventId>().is_err());
        assert!("evt_not-a-ulid".parse::<EventId>().is_err());
    }

    #[test]
    fn ids_grow_within_a_millisecond() {
        let mut last = 0;
        for _ in 0..100 {
            let next = next_after(last, 1_700_000_000_000);
            assert!(next > last);
            last = next;
        }
    }

    #[test]
    fn ids_grow_when_the_clock_steps_back() {
        let later = next_after(0, 1_800_000_000_000);
        assert!(next_after(later, 1_700_000_000_000) > later);
    }

    #[test]
    fn an_event_block_names_its_deliveries_and_is_never_reused() {
        let now = 1_700_000_000_000;
        let last = Ulid::from_parts(now, 12_345).0;
        let first = block_after(last, now);
        assert!(first > last);
        assert_eq!(first & BLOCK_MASK, 0);
        let event = EventId::from_u128(first);
        let third = event.fanout_delivery(2).unwrap();
        assert_eq!(third.fanout_position(), Some((event, 2)));
        assert!(event.fanout_delivery(MAX_FANOUT).is_none());
        assert!(event.fanout_delivery(MAX_FANOUT - 1).unwrap().as_u128() <= event.block_end());
        assert!(block_after(event.block_end(), now) > event.block_end());
        assert_eq!(DeliveryId::from_u128(first).fanout_position(), None);
    }

    #[test]
    fn kinds_share_one_order() {
        let event = EventId::generate(crate::clock::now_ms());
        let delivery = DeliveryId::generate(crate::clock::now_ms());
        assert!(delivery.value > event.value);
    }

    #[test]
    fn byte_order_follows_creation_time() {
        let earlier = EventId::from_u128(Ulid::from_parts(1_000, u128::MAX).0).to_bytes();
        let later = EventId::lowest_at(1_001).to_bytes();
        assert!(earlier < later);
    }
}
