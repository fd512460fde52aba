//! The append-only event log, and publishing: an event, one delivery per
//! matching endpoint (held if it is disabled), their wheel entries and the
//! idempotency record, written with plain inserts in a crash-safe order.

use serde::{Deserialize, Serialize};

use super::fanout;
use super::{codec, Store, StoreError};
use crate::domain::filter::EventFilter;
use crate::domain::schedule::RetrySchedule;
use crate::domain::{Delivery, Endpoint, Event};
use crate::ids::EventId;

/// An event to append, already validated.
pub struct NewEvent {
    pub event: Event,
    /// Deliver to this endpoint only (test sends) instead of every subscriber.
    pub only_to: Option<Endpoint>,
}

/// What the publisher is told about one stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppendedEvent {
    pub id: EventId,
    pub event_type: String,
    pub deliveries: u32,
}

pub struct AppendOutcome {
    pub events: Vec<AppendedEvent>,
    /// True when the idempotency key was seen before: nothing new was stored.
    pub duplicate: bool,
}

#[derive(Serialize, Deserialize)]
pub(super) struct IdempotencyRecord {
    pub(super) stored_at_ms: u64,
    events: Vec<AppendedEvent>,
}

/// A page request over the log.
pub struct EventQuery {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub types: Option<EventFilter>,
    pub after: Option<EventId>,
    pub limit: usize,
}

impl Store {
    /// Appends events and their deliveries atomically and waits until they are
    /// durable. A repeat of `idempotency_key` younger than `window_ms` returns
    /// the first answer and stores nothing.
    pub async fn append_events(
        &self,
        batch: Vec<NewEvent>,
        idempotency_key: Option<&str>,
        window_ms: u64,
        default_schedule: &RetrySchedule,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError> {
        let subscribers = self.subscribers();
        let mut rng = rand::thread_rng();
        let mut appended = Vec::with_capacity(batch.len());
        let mut writes: Vec<EventWrites> = Vec::with_capacity(batch.len());
        for NewEvent { event, only_to } in batch {
            let targets: Vec<&Endpoint> = match &only_to {
                Some(endpoint) => vec![endpoint],
                None => subscribers
                    .iter()
                    .filter(|s| s.filter.matches(&event.event_type))
                    .map(|s| &s.endpoint)
                    .collect(),
            };
            let mut fanout = Vec::new();
            for endpoint in targets {
                let delivery =
                    fanout::fresh_delivery(event.id, endpoint, default_schedule, now_ms, &mut rng);
                fanout.push((codec::encode(&delivery)?, delivery));
            }
            appended.push(AppendedEvent {
                id: event.id,
                event_type: event.event_type.clone(),
                deliveries: fanout.len() as u32,
            });
            writes.push(EventWrites {
                key: event.id.to_bytes(),
                value: codec::encode(&event)?,
                fanout,
            });
        }
        let record = codec::encode(&IdempotencyRecord {
            stored_at_ms: now_ms,
            events: appended.clone(),
        })?;

        let earlier = self.write_appends(&writes, idempotency_key, &record, window_ms, now_ms)?;
        if let Some(events) = earlier {
            return Ok(AppendOutcome {
                events,
                duplicate: true,
            });
        }
        self.commit().await?;
        self.wheel_changed.notify_one();
        Ok(AppendOutcome {
            events: appended,
            duplicate: false,
        })
    }

    /// The publishing writes. Plain inserts in a crash-safe order instead
    /// of one cross-tree transaction, whose hand-offs between sled's threads
    /// cost more than everything else a publish does: each event, then its
    /// deliveries with their indexes, then their wheel entries, and the
    /// idempotency record last. A crash part-way leaves an
    /// unanswered write that the client retries (at least once), never an
    /// answered one lost. Returns the earlier answer when the key was seen
    /// within `window_ms`.
    fn write_appends(
        &self,
        writes: &[EventWrites],
        idempotency_key: Option<&str>,
        record: &[u8],
        window_ms: u64,
        now_ms: u64,
    ) -> Result<Option<Vec<AppendedEvent>>, StoreError> {
        // Requests carrying a key take a lock, so a concurrent repeat cannot
        // slip between the check and the record.
        let _keyed = idempotency_key.map(|_| {
            self.idempotency_lock
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        });
        if let Some(key) = idempotency_key {
            let seen: Option<IdempotencyRecord> =
                codec::read(&self.trees()?.idempotency, key.as_bytes())?;
            if let Some(seen) = seen.filter(|s| now_ms.saturating_sub(s.stored_at_ms) < window_ms) {
                return Ok(Some(seen.events));
            }
        }
        for write in writes {
            // The event before its wheel entries: the dispatcher may claim an
            // entry the moment it exists, and must find its event.
            self.trees()?
                .events
                .insert(write.key, write.value.as_slice())?;
            for (bytes, delivery) in &write.fanout {
                fanout::insert_plain(self, delivery, bytes)?;
            }
        }
        if let Some(key) = idempotency_key {
            self.trees()?.idempotency.insert(key, record)?;
        }
        Ok(None)
    }

    /// Appends a single event without an idempotency key (test sends,
    /// operational events), to `only_to` or to every subscriber.
    pub async fn append_event(
        &self,
        event: Event,
        only_to: Option<Endpoint>,
        default_schedule: &RetrySchedule,
        now_ms: u64,
    ) -> Result<AppendedEvent, StoreError> {
        let outcome = self
            .append_events(
                vec![NewEvent { event, only_to }],
                None,
                0,
                default_schedule,
                now_ms,
            )
            .await?;
        outcome
            .events
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Unavailable("an appended event went missing".into()))
    }

    pub fn get_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        codec::read(&self.trees()?.events, &id.to_bytes())
    }

    /// One page of the log in time order. Walks the key range lazily, so a
    /// narrow type filter over a wide range costs a scan but never memory.
    pub fn query_events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let mut start = EventId::lowest_at(query.from_ms.unwrap_or(0)).to_bytes();
        if let Some(after) = query.after {
            start = start.max(after.to_bytes());
        }
        let end = EventId::lowest_at(query.to_ms.unwrap_or(u64::MAX >> 16)).to_bytes();
        let mut page = Vec::new();
        for entry in self.trees()?.events.range(start..end) {
            let (key, value) = entry?;
            if query
                .after
                .is_some_and(|after| key.as_ref() == after.to_bytes())
            {
                continue;
            }
            let event: Event = codec::decode(&value)?;
            if query
                .types
                .as_ref()
                .is_some_and(|filter| !filter.matches(&event.event_type))
            {
                continue;
            }
            page.push(event);
            if page.len() >= query.limit {
                break;
            }
        }
        Ok(page)
    }
}

struct EventWrites {
    key: [u8; 16],
    value: Vec<u8>,
    fanout: Vec<(Vec<u8>, Delivery)>,
}
