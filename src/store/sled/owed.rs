//! Finding the owed deliveries that have no record yet (`log.rs`), for the
//! lists and searches that otherwise walk indexes: they are the deliveries
//! owed by events after the dispatch cursor, so a walk over that end of the
//! log, newest first, finds them in the same order as the indexes.
//!
//! A delivery recorded while a list is being built may already lie behind
//! the index walk's position when the log walk reaches it, so the log walk
//! yields it with its record rather than skipping it, and the merge yields
//! an ID that both walks hold once.

use std::collections::VecDeque;

use super::log::{EndpointStates, LoggedEvent};
use super::{codec, keys, SledStore, StoreError};
use crate::domain::Delivery;
use crate::ids::{DeliveryId, EndpointId, EventId, DELIVERY_BITS};

/// An owed delivery, as readers see it.
pub(super) struct Owed {
    /// Its record when it has one, else as the log describes it.
    pub delivery: Delivery,
    pub endpoint: EndpointId,
    pub event_type: String,
    /// Whether `delivery` is its own record (see the module comment).
    pub recorded: bool,
}

/// The owed deliveries of the events after the dispatch cursor whose IDs
/// lie in `low..high`, newest first.
pub(super) struct OwedWalk<'a> {
    store: &'a SledStore,
    states: EndpointStates,
    events: std::iter::Rev<sled::Iter>,
    found: VecDeque<Owed>,
    low: DeliveryId,
    high: DeliveryId,
}

impl<'a> OwedWalk<'a> {
    pub fn new(
        store: &'a SledStore,
        low: DeliveryId,
        high: DeliveryId,
    ) -> Result<OwedWalk<'a>, StoreError> {
        // The events whose blocks can hold such IDs: from low's event to
        // high's, after the cursor and up to the tail.
        let block =
            |id: DeliveryId| EventId::from_u128(id.as_u128() >> DELIVERY_BITS << DELIVERY_BITS);
        let mut start = block(low).to_bytes();
        if let Some(cursor) = store.dispatch_cursor() {
            start = start.max(keys::after(cursor));
        }
        let mut end = keys::after(block(high));
        end = match store.visible_tail() {
            Some(tail) => end.min(keys::after(tail)),
            None => start,
        };
        let events = store.trees()?.log.range(start..end.max(start)).rev();
        Ok(OwedWalk {
            store,
            states: store.endpoint_states(),
            events,
            found: VecDeque::new(),
            low,
            high,
        })
    }

    /// The next event's owed deliveries, newest first.
    fn refill(&mut self) -> Result<bool, StoreError> {
        let Some(entry) = self.events.next() else {
            return Ok(false);
        };
        let logged: LoggedEvent = codec::decode(&entry?.1)?;
        let event = logged.event.id;
        for (id, endpoint) in logged.owed_ids().rev() {
            if id < self.low || id >= self.high {
                continue;
            }
            let (delivery, recorded) = match self.store.stored_delivery(id)? {
                Some(record) => (record, true),
                None => (self.states.owed_delivery(id, event, endpoint), false),
            };
            self.found.push_back(Owed {
                delivery,
                endpoint,
                event_type: logged.event.event_type.clone(),
                recorded,
            });
        }
        Ok(true)
    }
}

impl Iterator for OwedWalk<'_> {
    type Item = Result<Owed, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.found.is_empty() {
            match self.refill() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => return Some(Err(error)),
            }
        }
        self.found.pop_front().map(Ok)
    }
}

/// A walk that yields items newest first.
pub(super) type Walk<'a, T> = Box<dyn Iterator<Item = Result<T, StoreError>> + 'a>;

/// Merges walks that each go newest first (by delivery ID) into one that
/// does, yielding an ID that several walks hold once.
pub(super) struct NewestFirst<'a, T> {
    walks: Vec<Walk<'a, T>>,
    heads: Vec<Option<T>>,
    id: fn(&T) -> DeliveryId,
    started: bool,
}

impl<'a, T> NewestFirst<'a, T> {
    pub fn new(walks: Vec<Walk<'a, T>>, id: fn(&T) -> DeliveryId) -> NewestFirst<'a, T> {
        let heads = walks.iter().map(|_| None).collect();
        NewestFirst {
            walks,
            heads,
            id,
            started: false,
        }
    }
}

impl<T> Iterator for NewestFirst<'_, T> {
    type Item = Result<T, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for i in 0..self.walks.len() {
                match self.walks[i].next().transpose() {
                    Ok(head) => self.heads[i] = head,
                    Err(error) => return Some(Err(error)),
                }
            }
        }
        let id = self.id;
        let newest = (0..self.heads.len())
            .filter(|i| self.heads[*i].is_some())
            .max_by_key(|i| self.heads[*i].as_ref().map(id))?;
        let item = self.heads[newest].take()?;
        let item_id = id(&item);
        for walk in 0..self.walks.len() {
            if walk != newest && self.heads[walk].as_ref().map(id) != Some(item_id) {
                continue;
            }
            match self.walks[walk].next().transpose() {
                Ok(head) => self.heads[walk] = head,
                Err(error) => return Some(Err(error)),
            }
        }
        Some(Ok(item))
    }
}

/// One of an endpoint's deliveries, as [`SledStore::endpoint_walk`] finds it.
pub(super) enum Found {
    /// In the endpoint's index: read its record.
    Recorded(DeliveryId),
    Owed(Owed),
}

impl Found {
    fn id(&self) -> DeliveryId {
        match self {
            Found::Recorded(id) => *id,
            Found::Owed(owed) => owed.delivery.id,
        }
    }
}

impl SledStore {
    /// An endpoint's deliveries with IDs in `low..high`, newest first: its
    /// index of recorded ones merged with those still owed to it.
    pub(super) fn endpoint_walk(
        &self,
        endpoint: EndpointId,
        low: DeliveryId,
        high: DeliveryId,
    ) -> Result<NewestFirst<'_, Found>, StoreError> {
        let range = keys::pair(endpoint, low)..keys::pair(endpoint, high);
        let recorded = self
            .trees()?
            .endpoint_deliveries
            .range(range)
            .rev()
            .filter_map(|entry| match entry {
                Ok((key, _)) => keys::pair_second(&key).map(|id| Ok(Found::Recorded(id))),
                Err(error) => Some(Err(StoreError::from(error))),
            });
        let owed = OwedWalk::new(self, low, high)?
            .filter(move |owed| owed.as_ref().map_or(true, |o| o.endpoint == endpoint))
            .map(|owed| owed.map(Found::Owed));
        Ok(NewestFirst::new(
            vec![Box::new(recorded), Box::new(owed)],
            Found::id,
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{Attempt, DeliveryStatus};
    use crate::ids::DeliveryId;
    use crate::service::outcome::{after_attempt, AttemptOutcome};
    use crate::store::testing::{endpoint, publish, temp_store};
    use crate::store::{Claim, DeliverySearch};

    fn by_status(status: DeliveryStatus) -> DeliverySearch {
        DeliverySearch {
            status: Some(status),
            ..DeliverySearch::everything(10)
        }
    }

    #[actix_web::test]
    async fn a_delivery_is_listed_before_and_after_its_first_record() {
        let (_dir, guard) = temp_store();
        let store = guard.store();
        let target = endpoint(&store).await;
        let now = crate::clock::now_ms();
        let (event, deliveries) = publish(&store, now).await;
        let owed = &deliveries[0];
        assert_eq!(owed.id.fanout_position(), Some((event, 0)));
        assert_eq!(owed.status, DeliveryStatus::Pending);
        assert!(!store.is_recorded(owed.id).unwrap());

        // Not recorded yet, and found by every read all the same.
        assert_eq!(store.get_delivery(owed.id).unwrap().as_ref(), Some(owed));
        let pending = store
            .search_deliveries(&by_status(DeliveryStatus::Pending))
            .unwrap();
        let found: Vec<DeliveryId> = pending.found.iter().map(|f| f.delivery.id).collect();
        assert_eq!(found, [owed.id]);
        assert_eq!(pending.found[0].event_type, "test.happened");
        let listed = store
            .deliveries_of_endpoint(target.id, None, None, 10)
            .unwrap();
        assert_eq!(listed.deliveries, std::slice::from_ref(owed));

        let attempt = Attempt {
            attempt: 1,
            at_ms: now,
            status_code: Some(200),
            duration_ms: 1,
            error: None,
            request_body: None,
            response_body: None,
        };
        store
            .record_attempt(owed, Claim::Owed, "test.happened", &attempt, |stored| {
                after_attempt(stored, &attempt, AttemptOutcome::Succeeded)
            })
            .unwrap();

        // Recorded: listed once, by its record, under its new status.
        assert!(store.is_recorded(owed.id).unwrap());
        assert!(store
            .search_deliveries(&by_status(DeliveryStatus::Pending))
            .unwrap()
            .found
            .is_empty());
        let succeeded = store
            .search_deliveries(&by_status(DeliveryStatus::Succeeded))
            .unwrap();
        assert_eq!(succeeded.found.len(), 1);
        let listed = store
            .deliveries_of_endpoint(target.id, None, None, 10)
            .unwrap();
        assert_eq!(listed.deliveries.len(), 1);
        assert_eq!(listed.deliveries[0].status, DeliveryStatus::Succeeded);
        assert_eq!(store.attempts_of(owed.id).unwrap(), [attempt]);
        assert_eq!(store.deliveries_of_event(event).unwrap().len(), 1);
    }
}
