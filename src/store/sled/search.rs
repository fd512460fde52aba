//! The deliveries search index, `delivery_search`: (status, delivery) →
//! (endpoint, event type). It lets `GET /api/v1/deliveries` answer by status,
//! event type and time without reading every delivery, and gives the open
//! (pending, held) counts the metrics report.
//!
//! Written in the same crash-safe order as the delivery itself: a new
//! delivery's entry before its wheel entry; on a status change, the new
//! entry after the record and before the old entry is removed. A crash can
//! therefore leave a stale extra entry, never a missing one: searches check
//! each hit against the record, and retention removes every entry of a
//! delivery it removes.

use std::collections::HashSet;

use sled::IVec;

use super::open_count::Change;
use super::owed::{Found, NewestFirst, OwedWalk, Walk};
use super::{codec, keys, SledStore, StoreError};
use crate::domain::filter::EventFilter;
use crate::domain::{Delivery, DeliveryStatus};
use crate::ids::{DeliveryId, EndpointId};
use crate::metrics::metrics;

/// Index entries one search may examine: a page of rare matches in a large
/// store stops here and hands back a cursor, so no request walks the store.
pub const SCAN_BUDGET: usize = 10_000;

const BUILT_FLAG: &str = "delivery_search_built";

pub struct DeliverySearch {
    pub status: Option<DeliveryStatus>,
    pub endpoint: Option<EndpointId>,
    /// Only deliveries to these endpoints (an account's).
    pub endpoints_in: Option<HashSet<EndpointId>>,
    pub types: Option<EventFilter>,
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    /// Only deliveries older than this one (the previous page's cursor).
    pub before: Option<DeliveryId>,
    pub limit: usize,
}

impl DeliverySearch {
    /// Every delivery, newest first, `limit` to a page: narrowed from here.
    pub fn everything(limit: usize) -> DeliverySearch {
        DeliverySearch {
            status: None,
            endpoint: None,
            endpoints_in: None,
            types: None,
            from_ms: None,
            to_ms: None,
            before: None,
            limit,
        }
    }
}

pub struct FoundDelivery {
    pub delivery: Delivery,
    pub event_type: String,
}

pub struct SearchPage {
    pub found: Vec<FoundDelivery>,
    /// Where the next page starts, when more may follow.
    pub next: Option<DeliveryId>,
}

/// One index entry (or an owed delivery, as its entry would be).
struct Entry {
    status: DeliveryStatus,
    id: DeliveryId,
    endpoint: EndpointId,
    event_type: String,
}

/// The entry's value: the endpoint's 16 bytes, then the event type.
pub(super) fn entry_value(endpoint: EndpointId, event_type: &str) -> Vec<u8> {
    let mut value = endpoint.to_bytes().to_vec();
    value.extend_from_slice(event_type.as_bytes());
    value
}

fn parse_entry(key: &[u8], value: &[u8]) -> Option<Entry> {
    let (status, id) = keys::parse_by_status(key)?;
    let endpoint: [u8; 16] = value.get(..16)?.try_into().ok()?;
    Some(Entry {
        status,
        id,
        endpoint: EndpointId::from_bytes(endpoint),
        event_type: String::from_utf8_lossy(value.get(16..)?).into_owned(),
    })
}

impl SledStore {
    /// Moves a delivery's entry after its record changed status.
    pub(super) fn delivery_status_changed(
        &self,
        id: DeliveryId,
        from: DeliveryStatus,
        to: DeliveryStatus,
    ) -> Result<(), StoreError> {
        if from == to {
            return Ok(());
        }
        let (old, new) = (keys::by_status(from, id), keys::by_status(to, id));
        self.counted(|| {
            let mut changes = Vec::with_capacity(2);
            let value = match self.trees()?.delivery_search.get(old)? {
                Some(value) => {
                    changes.push(Change::Removed(old));
                    Some(value)
                }
                None => self.rebuilt_value(id)?,
            };
            if let Some(value) = value {
                self.trees()?.delivery_search.insert(new, value)?;
                changes.push(Change::Added(new));
            }
            self.trees()?.delivery_search.remove(old)?;
            Ok(((), changes))
        })?;
        metrics().delivery_reached(to);
        Ok(())
    }

    /// An entry's value from the delivery and its event, for a delivery
    /// whose entry is missing.
    fn rebuilt_value(&self, id: DeliveryId) -> Result<Option<IVec>, StoreError> {
        let Some(delivery) = self.stored_delivery(id)? else {
            return Ok(None);
        };
        let event_type = self
            .get_event(delivery.event_id)?
            .map(|e| e.event_type)
            .unwrap_or_default();
        Ok(Some(entry_value(delivery.endpoint_id, &event_type).into()))
    }

    /// At open: builds the index once for a store written before it
    /// existed (one pass over its deliveries), then starts counting the open
    /// deliveries for the gauges in the background (`open_count.rs`).
    pub(super) fn prepare_search_index(&self) -> Result<(), StoreError> {
        if self.trees()?.meta.get(BUILT_FLAG)?.is_none() {
            let mut built = 0u64;
            for item in self.trees()?.deliveries.iter() {
                let delivery: Delivery = codec::decode(&item?.1)?;
                let event_type = self
                    .get_event(delivery.event_id)?
                    .map(|e| e.event_type)
                    .unwrap_or_default();
                self.trees()?.delivery_search.insert(
                    keys::by_status(delivery.status, delivery.id),
                    entry_value(delivery.endpoint_id, &event_type),
                )?;
                built += 1;
            }
            self.trees()?.meta.insert(BUILT_FLAG, &[1u8])?;
            self.trees()?.db.flush()?;
            if built > 0 {
                tracing::info!(deliveries = built, "built the deliveries search index");
            }
        }
        self.start_counting()
    }

    /// One page of deliveries, newest first. Walks the index of the wanted
    /// status (or of every status, merged), or the endpoint's own index when
    /// only an endpoint is given; filters on what the entries carry and reads
    /// only the deliveries it returns.
    pub fn search_deliveries(&self, query: &DeliverySearch) -> Result<SearchPage, StoreError> {
        let low = DeliveryId::lowest_at(query.from_ms.unwrap_or(0));
        let mut high = DeliveryId::lowest_at(query.to_ms.unwrap_or(u64::MAX >> 16));
        if let Some(before) = query.before {
            high = high.min(before);
        }
        if low >= high {
            return Ok(SearchPage {
                found: Vec::new(),
                next: None,
            });
        }
        match (query.status, query.endpoint) {
            (None, Some(endpoint)) => self.search_endpoint(query, endpoint, low, high),
            (status, _) => self.search_statuses(query, status, low, high),
        }
    }

    fn search_statuses(
        &self,
        query: &DeliverySearch,
        status: Option<DeliveryStatus>,
        low: DeliveryId,
        high: DeliveryId,
    ) -> Result<SearchPage, StoreError> {
        let statuses = match status {
            Some(status) => vec![status],
            None => DeliveryStatus::ALL.to_vec(),
        };
        let trees = self.trees()?;
        let mut walks: Vec<Walk<'_, Entry>> = Vec::with_capacity(statuses.len() + 1);
        for status in &statuses {
            let range = keys::by_status(*status, low)..keys::by_status(*status, high);
            let index = trees
                .delivery_search
                .range(range)
                .rev()
                .filter_map(|item| match item {
                    Ok((key, value)) => parse_entry(&key, &value).map(Ok),
                    Err(error) => Some(Err(StoreError::from(error))),
                });
            walks.push(Box::new(index));
        }
        let owed = OwedWalk::new(self, low, high)?.map(|owed| {
            owed.map(|o| Entry {
                status: o.delivery.status,
                id: o.delivery.id,
                endpoint: o.endpoint,
                event_type: o.event_type,
            })
        });
        walks.push(Box::new(owed));
        let mut page = Paging::new(query.limit);
        for entry in NewestFirst::new(walks, |e: &Entry| e.id) {
            let entry = entry?;
            let wanted = statuses.contains(&entry.status)
                && query.endpoint.is_none_or(|e| e == entry.endpoint)
                && query
                    .endpoints_in
                    .as_ref()
                    .is_none_or(|set| set.contains(&entry.endpoint))
                && query
                    .types
                    .as_ref()
                    .is_none_or(|f| f.matches(&entry.event_type));
            let found = match wanted {
                true => self
                    .get_delivery(entry.id)?
                    .filter(|d| d.status == entry.status),
                false => None,
            };
            if page.offer(entry.id, found, entry.event_type) {
                break;
            }
        }
        Ok(page.finish())
    }

    fn search_endpoint(
        &self,
        query: &DeliverySearch,
        endpoint: EndpointId,
        low: DeliveryId,
        high: DeliveryId,
    ) -> Result<SearchPage, StoreError> {
        let mut page = Paging::new(query.limit);
        if query
            .endpoints_in
            .as_ref()
            .is_some_and(|set| !set.contains(&endpoint))
        {
            return Ok(page.finish());
        }
        for found in self.endpoint_walk(endpoint, low, high)? {
            let (id, delivery, event_type) = match found? {
                Found::Owed(owed) => (owed.delivery.id, Some(owed.delivery), owed.event_type),
                Found::Recorded(id) => match self.stored_delivery(id)? {
                    Some(delivery) => {
                        let event_type = self.indexed_event_type(&delivery)?;
                        (id, Some(delivery), event_type)
                    }
                    None => (id, None, String::new()),
                },
            };
            let matches = query.types.as_ref().is_none_or(|f| f.matches(&event_type));
            if page.offer(id, delivery.filter(|_| matches), event_type) {
                break;
            }
        }
        Ok(page.finish())
    }

    /// The event type a recorded delivery's search entry carries.
    fn indexed_event_type(&self, delivery: &Delivery) -> Result<String, StoreError> {
        let value = self
            .trees()?
            .delivery_search
            .get(keys::by_status(delivery.status, delivery.id))?;
        Ok(value
            .as_deref()
            .and_then(|v| v.get(16..))
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .unwrap_or_default())
    }
}

/// A page being filled under the scan budget.
struct Paging {
    found: Vec<FoundDelivery>,
    limit: usize,
    examined: usize,
    last_examined: Option<DeliveryId>,
    next: Option<DeliveryId>,
}

impl Paging {
    fn new(limit: usize) -> Paging {
        Paging {
            found: Vec::new(),
            limit,
            examined: 0,
            last_examined: None,
            next: None,
        }
    }

    /// Takes one examined entry (`found` when it matched); true once the
    /// page is full or the budget is spent.
    fn offer(&mut self, id: DeliveryId, found: Option<Delivery>, event_type: String) -> bool {
        self.examined += 1;
        self.last_examined = Some(id);
        if let Some(delivery) = found {
            self.found.push(FoundDelivery {
                delivery,
                event_type,
            });
        }
        if self.found.len() == self.limit {
            self.next = Some(id);
            return true;
        }
        if self.examined >= SCAN_BUDGET {
            self.next = self.last_examined;
            return true;
        }
        false
    }

    fn finish(self) -> SearchPage {
        SearchPage {
            found: self.found,
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;
    use crate::domain::filter::EventFilter;
    use crate::ids::EventId;

    fn delivery(status: DeliveryStatus, at_ms: u64) -> Delivery {
        Delivery {
            id: DeliveryId::generate(at_ms),
            event_id: EventId::generate(at_ms),
            endpoint_id: EndpointId::generate(1),
            status,
            attempts: 1,
            next_attempt_ms: None,
            updated_at_ms: at_ms,
        }
    }

    fn query(status: Option<DeliveryStatus>, types: Option<&str>) -> DeliverySearch {
        DeliverySearch {
            status,
            types: types.map(|t| EventFilter::parse(&[t.to_string()]).unwrap()),
            ..DeliverySearch::everything(10)
        }
    }

    #[test]
    fn a_store_without_the_index_gets_it_built_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open_at(&dir.path().join("db"), 1 << 20, Durability::Flush).unwrap();
        let (failed, done) = (
            delivery(DeliveryStatus::Failed, 1_000),
            delivery(DeliveryStatus::Succeeded, 2_000),
        );
        for d in [&failed, &done] {
            store
                .trees()
                .unwrap()
                .deliveries
                .insert(d.id.to_bytes(), codec::encode(d).unwrap())
                .unwrap();
        }
        // As an older hookd left it: deliveries, no index; then the next open.
        store.trees().unwrap().meta.remove(BUILT_FLAG).unwrap();
        store.prepare_search_index().unwrap();
        let page = store
            .search_deliveries(&query(Some(DeliveryStatus::Failed), None))
            .unwrap();
        assert_eq!(page.found.len(), 1);
        assert_eq!(page.found[0].delivery.id, failed.id);
        // The event is gone from this store, so its type is unknown.
        assert_eq!(page.found[0].event_type, "");
        let all = store.search_deliveries(&query(None, None)).unwrap();
        let ids: Vec<DeliveryId> = all.found.iter().map(|f| f.delivery.id).collect();
        assert_eq!(ids, vec![done.id, failed.id]);
    }

    #[test]
    fn a_status_change_moves_the_entry_and_a_stale_one_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open_at(&dir.path().join("db"), 1 << 20, Durability::Flush).unwrap();
        let mut d = delivery(DeliveryStatus::Pending, 1_000);
        store.record_owed(&d, "payment.x").unwrap();
        d.status = DeliveryStatus::Failed;
        store.put_delivery(DeliveryStatus::Pending, &d).unwrap();
        let failed = store
            .search_deliveries(&query(Some(DeliveryStatus::Failed), Some("payment.*")))
            .unwrap();
        assert_eq!(failed.found.len(), 1);
        assert_eq!(failed.found[0].event_type, "payment.x");
        let pending = query(Some(DeliveryStatus::Pending), None);
        assert!(store.search_deliveries(&pending).unwrap().found.is_empty());
        // A crash between writing the new entry and removing the old one.
        store
            .trees()
            .unwrap()
            .delivery_search
            .insert(
                keys::by_status(DeliveryStatus::Pending, d.id),
                entry_value(d.endpoint_id, "payment.x"),
            )
            .unwrap();
        assert!(store.search_deliveries(&pending).unwrap().found.is_empty());
        assert_eq!(
            store
                .search_deliveries(&query(None, None))
                .unwrap()
                .found
                .len(),
            1
        );
        let other = store
            .search_deliveries(&query(None, Some("user.*")))
            .unwrap();
        assert!(other.found.is_empty());
    }

    #[test]
    fn rare_matches_come_back_in_short_pages_that_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open_at(&dir.path().join("db"), 1 << 20, Durability::Flush).unwrap();
        let wanted = delivery(DeliveryStatus::Failed, 1_000);
        store
            .trees()
            .unwrap()
            .deliveries
            .insert(wanted.id.to_bytes(), codec::encode(&wanted).unwrap())
            .unwrap();
        store
            .trees()
            .unwrap()
            .delivery_search
            .insert(
                keys::by_status(DeliveryStatus::Failed, wanted.id),
                entry_value(wanted.endpoint_id, "rare.type"),
            )
            .unwrap();
        // Newer entries that do not match, more than one request may examine.
        for n in 0..SCAN_BUDGET as u64 + 10 {
            let id = DeliveryId::generate(2_000 + n);
            let key = keys::by_status(DeliveryStatus::Failed, id);
            store
                .trees()
                .unwrap()
                .delivery_search
                .insert(key, entry_value(wanted.endpoint_id, "common.type"))
                .unwrap();
        }
        let mut search = query(None, Some("rare.type"));
        let first = store.search_deliveries(&search).unwrap();
        assert!(first.found.is_empty());
        search.before = Some(first.next.expect("a cursor to go on from"));
        let second = store.search_deliveries(&search).unwrap();
        assert_eq!(second.found.len(), 1);
        assert_eq!(second.found[0].delivery.id, wanted.id);
        assert_eq!(second.next, None);
    }
}
