//! The append-only event log, and publishing: an event, one delivery per
//! matching endpoint (held if it is disabled), their wheel entries and the
//! idempotency record, written with plain inserts in a crash-safe order (not
//! one transaction).
//! Events become readable in ID order, so a reader tailing the log with
//! "after the last ID I saw" never misses one.

use serde::{Deserialize, Serialize};

use super::fanout;
use super::{codec, keys, Store, StoreError};
use crate::domain::filter::EventFilter;
use crate::domain::routing::receives;
use crate::domain::schedule::RetrySchedule;
use crate::domain::{AccountId, Endpoint, Event};
use crate::ids::EventId;
use crate::metrics::{metrics, Source};

/// An event to append, already validated. Its ID is replaced by the one the
/// log gives it when it is appended, so the log's order is its ID order.
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
    /// Only events of this account.
    pub account: Option<AccountId>,
    pub limit: usize,
}

impl Store {
    /// Appends events and their deliveries and waits until they are durable.
    /// Each event gets its ID here, in batch order (see [`Store::append_to_log`]).
    /// A repeat of `idempotency_key` younger than `window_ms` returns the
    /// first answer and stores nothing.
    pub async fn append_events(
        &self,
        batch: Vec<NewEvent>,
        idempotency_key: Option<&str>,
        window_ms: u64,
        default_schedule: &RetrySchedule,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError> {
        let sources: Vec<Source> = batch.iter().map(|new| Source::of(&new.event)).collect();
        let outcome =
            self.write_appends(batch, idempotency_key, window_ms, default_schedule, now_ms)?;
        if !outcome.duplicate {
            self.commit().await?;
            self.wheel_changed.notify_one();
            for source in sources {
                metrics().published(source);
            }
        }
        Ok(outcome)
    }

    /// The publishing writes. Plain inserts in a crash-safe order instead
    /// of one cross-tree transaction, whose hand-offs between sled's threads
    /// cost more than everything else a publish does: the events, then their
    /// deliveries with their indexes, then their wheel entries, and the
    /// idempotency record last. A crash part-way leaves an unanswered write
    /// that the client retries (at least once), never an answered one lost.
    fn write_appends(
        &self,
        batch: Vec<NewEvent>,
        idempotency_key: Option<&str>,
        window_ms: u64,
        default_schedule: &RetrySchedule,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError> {
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
                return Ok(AppendOutcome {
                    events: seen.events,
                    duplicate: true,
                });
            }
        }
        // The events before their wheel entries: the dispatcher may claim an
        // entry the moment it exists, and must find its event.
        let batch = self.append_to_log(batch, now_ms)?;
        let subscribers = self.subscribers();
        let mut rng = rand::thread_rng();
        let mut appended = Vec::with_capacity(batch.len());
        for NewEvent { event, only_to } in &batch {
            let targets: Vec<&Endpoint> = match only_to {
                Some(endpoint) => vec![endpoint],
                None => subscribers
                    .iter()
                    .filter(|s| s.filter.matches(&event.event_type))
                    .filter(|s| receives(&s.endpoint, event))
                    .map(|s| &s.endpoint)
                    .collect(),
            };
            for endpoint in &targets {
                let delivery =
                    fanout::fresh_delivery(event.id, endpoint, default_schedule, now_ms, &mut rng);
                fanout::insert_plain(
                    self,
                    &delivery,
                    &event.event_type,
                    &codec::encode(&delivery)?,
                )?;
            }
            appended.push(AppendedEvent {
                id: event.id,
                event_type: event.event_type.clone(),
                deliveries: targets.len() as u32,
            });
        }
        if let Some(key) = idempotency_key {
            let record = IdempotencyRecord {
                stored_at_ms: now_ms,
                events: appended.clone(),
            };
            self.trees()?
                .idempotency
                .insert(key, codec::encode(&record)?)?;
        }
        Ok(AppendOutcome {
            events: appended,
            duplicate: false,
        })
    }

    /// Gives each event its ID and inserts it, under one lock: IDs are minted
    /// in the order events enter the log, so the log never gains an event
    /// behind one a reader may already have seen. The tail moves past each
    /// event once it is inserted; readers stop there (see `query_events`).
    fn append_to_log(
        &self,
        mut batch: Vec<NewEvent>,
        now_ms: u64,
    ) -> Result<Vec<NewEvent>, StoreError> {
        let mut tail = self
            .log_tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for new in &mut batch {
            new.event.id = EventId::generate(now_ms);
            self.trees()?
                .events
                .insert(new.event.id.to_bytes(), codec::encode(&new.event)?)?;
            *tail = Some(new.event.id);
        }
        Ok(batch)
    }

    /// The last event whose insert has finished: every event up to it is
    /// readable, in ID order.
    fn visible_tail(&self) -> Option<EventId> {
        *self
            .log_tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

    /// One page of the log in ID order. Walks the key range lazily, so a
    /// narrow type filter over a wide range costs a scan but never memory.
    /// Stops at the tail read first: every event up to it has been inserted,
    /// so a page never skips one that is still being written.
    pub fn query_events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let Some(tail) = self.visible_tail() else {
            return Ok(Vec::new());
        };
        let mut start = EventId::lowest_at(query.from_ms.unwrap_or(0)).to_bytes();
        if let Some(after) = query.after {
            start = start.max(keys::after(after));
        }
        let end = EventId::lowest_at(query.to_ms.unwrap_or(u64::MAX >> 16))
            .to_bytes()
            .min(keys::after(tail));
        let mut page = Vec::new();
        for entry in self.trees()?.events.range(start..end) {
            let (_, value) = entry?;
            let event: Event = codec::decode(&value)?;
            if query
                .types
                .as_ref()
                .is_some_and(|filter| !filter.matches(&event.event_type))
            {
                continue;
            }
            if query
                .account
                .as_ref()
                .is_some_and(|account| event.account_id.as_ref() != Some(account))
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
