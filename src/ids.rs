//! Prefixed, time-ordered identifiers (`evt_…`, `ep_…`, `dlv_…`, `partner_…`, `rpl_…`).
//!
//! Every ID is a ULID: 48 bits of creation time in milliseconds, then 80
//! random bits. Its 16 big-endian bytes sort by creation time, which is what
//! lets the event log answer a date range as a plain key range. The prefix
//! only exists on the wire; storage keeps the 128-bit value.
//!
//! IDs come from one process-wide monotonic generator: each is greater than
//! every one minted before it, even within one millisecond or when the wall
//! clock steps back, so listing order is creation order. At start the store
//! seeds it past the highest stored ID ([`seed_past`]), which carries the
//! order across restarts.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::{Generator, Ulid};

/// The one generator every kind of ID shares, so any two IDs minted by this
/// process compare in the order they were minted.
static GENERATOR: Mutex<Generator> = Mutex::new(Generator::new());

/// The next ULID from `generator`: stamped `now_ms`, or just past the
/// previous one when that is not older (same millisecond, or a clock that
/// stepped back).
fn mint_from(generator: &mut Generator, now_ms: u64) -> Ulid {
    let mut at_ms = now_ms;
    loop {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(at_ms);
        match generator.generate_from_datetime(at) {
            Ok(ulid) => return ulid,
            // The random part of the previous ID cannot grow any more (one
            // chance in 2^80): move on to the next millisecond.
            Err(ulid::MonotonicError::Overflow) => at_ms += 1,
        }
    }
}

/// Moves `generator` past `highest`. The generator has no setter: minting one
/// ID in the millisecond after `highest` leaves it there, and later IDs only
/// grow from it. A lower `highest` changes nothing that matters.
fn seed_from(generator: &mut Generator, highest: u128) {
    mint_from(generator, Ulid(highest).timestamp_ms().saturating_add(1));
}

fn mint(now_ms: u64) -> Ulid {
    let mut generator = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    mint_from(&mut generator, now_ms)
}

/// A fresh ID as text behind `prefix`, for kinds whose IDs are not always
/// generated (account IDs may be the platform's own).
pub fn generate_prefixed(prefix: &str, now_ms: u64) -> String {
    format!("{prefix}{}", mint(now_ms))
}

/// Makes every ID minted from now on greater than `highest` (a stored ID of
/// any kind), so the order survives a restart and a clock that stepped back.
pub fn seed_past(highest: u128) {
    let mut generator = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    seed_from(&mut generator, highest);
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
        Self::from_u128(mint(now_ms).0)
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
        let mut generator = Generator::new();
        let ids: Vec<Ulid> = (0..100)
            .map(|_| mint_from(&mut generator, 1_700_000_000_000))
            .collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn ids_grow_when_the_clock_steps_back() {
        let mut generator = Generator::new();
        let later = mint_from(&mut generator, 1_800_000_000_000);
        let earlier_clock = mint_from(&mut generator, 1_700_000_000_000);
        assert!(earlier_clock > later);
    }

    #[test]
    fn seeding_puts_new_ids_past_a_stored_one() {
        let mut generator = Generator::new();
        let stored = Ulid::from_parts(1_900_000_000_000, u128::MAX);
        seed_from(&mut generator, stored.0);
        assert!(mint_from(&mut generator, 1_000) > stored);
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
