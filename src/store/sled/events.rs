//! Publishing: each event goes into the log with the endpoints it owes a
//! delivery to (`log.rs`), one insert per event, and the idempotency record
//! after them; then one shared flush. Events become readable in ID order, so
//! a reader tailing the log with "after the last ID I saw" never misses one.

use serde::{Deserialize, Serialize};

use super::log::LoggedEvent;
use super::open_count::Change;
use super::{codec, keys, SledStore, StoreError};
use crate::domain::filter::EventFilter;
use crate::domain::{AccountId, Event};
use crate::ids::{EndpointId, EventId};

/// An event to append, already validated, with the endpoints it owes a
/// delivery to (planned by `service/publish.rs`). Its ID is replaced by the
/// one the log gives it when it is appended, so the log's order is its ID
/// order.
pub struct NewEvent {
    pub event: Event,
    pub owed: Vec<EndpointId>,
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
    pub(super) events: Vec<AppendedEvent>,
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

impl SledStore {
    /// Appends events with what they owe and waits until they are durable.
    /// Each event gets its ID here, in batch order (see [`SledStore::append_to_log`]).
    /// A repeat of `idempotency_key` younger than `window_ms` returns the
    /// first answer and stores nothing.
    pub async fn append_events(
        &self,
        batch: Vec<NewEvent>,
        idempotency_key: Option<&str>,
        window_ms: u64,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError> {
        let outcome = self.write_appends(batch, idempotency_key, window_ms, now_ms)?;
        if !outcome.duplicate {
            self.commit().await?;
            self.wheel_changed.notify_one();
        }
        Ok(outcome)
    }

    /// The publishing writes: each event with the endpoints it owes, then the
    /// idempotency record.
    /// A crash part-way leaves an unanswered write that the client retries
    /// (at least once), never an answered one lost.
    fn write_appends(
        &self,
        batch: Vec<NewEvent>,
        idempotency_key: Option<&str>,
        window_ms: u64,
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
        let planned = batch
            .into_iter()
            .map(|NewEvent { event, owed }| LoggedEvent { event, owed })
            .collect();
        // The new owed deliveries count as pending from now on.
        let logged = self.counted(|| {
            let logged = self.append_to_log(planned, now_ms)?;
            let owed = logged
                .iter()
                .flat_map(|l| l.owed_ids().map(|(id, _)| Change::Added(keys::owed(id))))
                .collect();
            Ok((logged, owed))
        })?;
        let appended: Vec<AppendedEvent> = logged
            .iter()
            .map(|l| AppendedEvent {
                id: l.event.id,
                event_type: l.event.event_type.clone(),
                deliveries: l.owed.len() as u32,
            })
            .collect();
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
        for entry in self.trees()?.log.range(start..end) {
            let (_, value) = entry?;
            let LoggedEvent { event, .. } = codec::decode(&value)?;
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
