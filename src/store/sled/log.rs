//! The event log, and the one durable write a publish makes.
//!
//! Tree `log`: event ID → [`LoggedEvent`], the event with the endpoints its
//! fan-out owes it to, in order. Those deliveries are named by the event's
//! ID and their position (`EventId::fanout_delivery`), and nothing else is
//! written for them when the event is published: no delivery record, index
//! or wheel entry. The dispatcher reads the log (`delivery/log_reader.rs`)
//! and attempts them at once; a delivery gets a record of its own the first
//! time something happens to it (an attempt is recorded, or it is held,
//! cancelled or scheduled for later). Until then it is *owed*, and readers
//! see it as the record it would have (`EndpointStates::owed_delivery`).
//!
//! The dispatch cursor says how far that has got: every delivery owed by an
//! event at or before it has its record. The dispatcher moves it in memory
//! as records are written and saves it only after a flush has made them
//! durable, so after a crash reading resumes from a saved cursor at or
//! before the true one, and an attempt whose record was lost is made again
//! (at least once, never zero times).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{codec, keys, SledStore, StoreError};
use crate::domain::{Delivery, DeliveryStatus, Event};
use crate::ids::{DeliveryId, EndpointId, EventId, MAX_FANOUT};

const CURSOR_KEY: &str = "dispatch_cursor";

/// An event as the log holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedEvent {
    pub event: Event,
    /// The endpoints owed a delivery of it, in fan-out order.
    pub owed: Vec<EndpointId>,
}

impl LoggedEvent {
    /// The owed deliveries: (ID, endpoint), in fan-out order.
    pub fn owed_ids(&self) -> impl DoubleEndedIterator<Item = (DeliveryId, EndpointId)> + '_ {
        let event = self.event.id;
        self.owed
            .iter()
            .enumerate()
            .filter_map(move |(index, endpoint)| Some((event.fanout_delivery(index)?, *endpoint)))
    }
}

/// The state of every endpoint, which an owed delivery's status follows.
pub(super) struct EndpointStates(HashMap<EndpointId, bool>);

impl EndpointStates {
    /// An owed delivery as readers see it before it has a record: pending,
    /// due when its event was published; held or cancelled at once if its
    /// endpoint has been disabled or deleted since (the dispatcher writes
    /// that when it reaches it).
    pub fn owed_delivery(&self, id: DeliveryId, event: EventId, endpoint: EndpointId) -> Delivery {
        let published = event.created_ms();
        let status = DeliveryStatus::open_for(self.0.get(&endpoint).copied());
        Delivery {
            id,
            event_id: event,
            endpoint_id: endpoint,
            status,
            attempts: 0,
            next_attempt_ms: (status == DeliveryStatus::Pending).then_some(published),
            updated_at_ms: published,
        }
    }
}

impl SledStore {
    /// Gives each event its ID and inserts it with what it owes, under one
    /// lock: IDs are minted in the order events enter the log, so the log
    /// never gains an event behind one a reader may already have seen. The
    /// tail moves past each event once it is inserted; readers stop there.
    pub(super) fn append_to_log(
        &self,
        batch: Vec<LoggedEvent>,
        now_ms: u64,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        if let Some(wide) = batch.iter().find(|logged| logged.owed.len() > MAX_FANOUT) {
            return Err(StoreError::FanoutTooWide(wide.owed.len()));
        }
        let log = self.trees()?.log.clone();
        let mut tail = self
            .log_tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut appended = Vec::with_capacity(batch.len());
        for mut logged in batch {
            logged.event.id = EventId::generate_block(now_ms);
            log.insert(logged.event.id.to_bytes(), codec::encode(&logged)?)?;
            *tail = Some(logged.event.id);
            appended.push(logged);
        }
        Ok(appended)
    }

    /// The last event whose insert has finished: every event up to it is
    /// readable, in ID order.
    pub(super) fn visible_tail(&self) -> Option<EventId> {
        *self
            .log_tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get_logged(&self, id: EventId) -> Result<Option<LoggedEvent>, StoreError> {
        codec::read(&self.trees()?.log, &id.to_bytes())
    }

    pub fn get_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        Ok(self.get_logged(id)?.map(|logged| logged.event))
    }

    /// Up to `limit` events after `after` (from the start when `None`), up
    /// to the visible tail, in log order: what the dispatcher reads next.
    pub fn log_after(
        &self,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let Some(tail) = self.visible_tail() else {
            return Ok(Vec::new());
        };
        let start = after.map_or([0; 16], keys::after);
        let mut read = Vec::new();
        for entry in self
            .trees()?
            .log
            .range(start..keys::after(tail))
            .take(limit)
        {
            read.push(codec::decode(&entry?.1)?);
        }
        Ok(read)
    }

    /// Whether a delivery has a record of its own (an owed one has not yet).
    pub fn is_recorded(&self, id: DeliveryId) -> Result<bool, StoreError> {
        Ok(self.trees()?.deliveries.contains_key(id.to_bytes())?)
    }

    /// Whether each endpoint is active, as of the last endpoint write.
    pub(super) fn endpoint_states(&self) -> EndpointStates {
        let subscribers = self.subscribers();
        EndpointStates(
            subscribers
                .iter()
                .map(|s| (s.endpoint.id, s.endpoint.active))
                .collect(),
        )
    }

    /// The owed delivery `id` names, as its event's log entry and its
    /// endpoint's state describe it, if its event owes it; whether it has a
    /// record meanwhile is the caller's to check.
    pub(super) fn owed_by_log(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        let Some((event, position)) = id.fanout_position() else {
            return Ok(None);
        };
        let Some(logged) = self.get_logged(event)? else {
            return Ok(None);
        };
        Ok(logged
            .owed
            .get(position)
            .map(|endpoint| self.endpoint_states().owed_delivery(id, event, *endpoint)))
    }

    /// Every delivery owed by an event at or before this one has a record.
    pub fn dispatch_cursor(&self) -> Option<EventId> {
        *self
            .dispatch_cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the cursor in memory, once the records up to `cursor` are written.
    pub fn advance_dispatch_cursor(&self, cursor: Option<EventId>) {
        let mut current = self
            .dispatch_cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cursor > *current {
            *current = cursor;
        }
    }

    /// Saves `cursor` once everything written before this call is durable
    /// (see the module comment); the cursor itself becomes durable with the
    /// next flush.
    pub async fn save_dispatch_cursor(&self, cursor: EventId) -> Result<(), StoreError> {
        self.commit().await?;
        self.trees()?.meta.insert(CURSOR_KEY, &cursor.to_bytes())?;
        Ok(())
    }

    /// The saved cursor, read at open.
    pub(super) fn load_dispatch_cursor(&self) -> Result<(), StoreError> {
        let saved = self
            .trees()?
            .meta
            .get(CURSOR_KEY)?
            .and_then(|bytes| <[u8; 16]>::try_from(bytes.as_ref()).ok())
            .map(EventId::from_bytes);
        *self
            .dispatch_cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = saved;
        Ok(())
    }

    /// Saves the cursor at once, without waiting for a flush: for a store
    /// whose every delivery has its record (a migrated one).
    pub(super) fn set_saved_dispatch_cursor(&self, cursor: EventId) -> Result<(), StoreError> {
        self.trees()?.meta.insert(CURSOR_KEY, &cursor.to_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event_type::EventType;
    use crate::store::testing::temp_store;

    #[test]
    fn an_event_owed_to_more_endpoints_than_its_id_can_name_is_refused() {
        let (_dir, guard) = temp_store();
        let store = guard.store();
        let event_type = EventType::parse("a.b").unwrap();
        let event = Event::new(&event_type, &serde_json::json!({}), 1_000);
        let owed = vec![EndpointId::generate(1_000); MAX_FANOUT + 1];
        let refused = store.append_to_log(vec![LoggedEvent { event, owed }], 1_000);
        assert!(matches!(refused, Err(StoreError::FanoutTooWide(n)) if n == MAX_FANOUT + 1));
        assert!(store.log_after(None, 10).unwrap().is_empty());
    }
}
