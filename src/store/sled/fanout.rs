//! Writing a delivery's first record with its indexes and wheel entry:
//! a replayed delivery (with the event index that links it to its event) and an owed one (named by its event, `log.rs`) the first time
//! something happens to it. One list of entries serves both, so they are
//! written alike: same indexes, same wheel value.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::open_count::Change;
use super::search::entry_value;
use super::{codec, keys, SledStore, StoreError};
use crate::domain::Delivery;
use crate::metrics::metrics;

/// Which tree one entry of a new delivery goes to.
enum Target {
    ByEndpoint,
    ByEvent,
    Search,
    Wheel,
}

/// The entries written beside a new delivery's record: its indexes (the
/// event index only for a delivery its event does not name), and, if it is
/// due, its wheel entry, whose value is the endpoint so the dispatcher can
/// apply per-endpoint limits without reading the delivery.
fn entries(delivery: &Delivery, event_type: &str) -> Vec<(Target, Vec<u8>, Vec<u8>)> {
    let endpoint = delivery.endpoint_id.to_bytes().to_vec();
    let mut entries = vec![
        (
            Target::ByEndpoint,
            keys::pair(delivery.endpoint_id, delivery.id).to_vec(),
            Vec::new(),
        ),
        (
            Target::Search,
            keys::by_status(delivery.status, delivery.id).to_vec(),
            entry_value(delivery.endpoint_id, event_type),
        ),
    ];
    if delivery.id.fanout_position().map(|(event, _)| event) != Some(delivery.event_id) {
        entries.push((
            Target::ByEvent,
            keys::pair(delivery.event_id, delivery.id).to_vec(),
            Vec::new(),
        ));
    }
    if let Some(due) = delivery.next_attempt_ms {
        entries.push((
            Target::Wheel,
            keys::wheel(due, delivery.id).to_vec(),
            endpoint,
        ));
    }
    entries
}

/// The trees a new delivery is written to, inside one transaction (replay,
/// whose cursor must move with the deliveries it schedules).
pub(super) struct DeliveryTrees<'a> {
    pub deliveries: &'a TransactionalTree,
    pub by_endpoint: &'a TransactionalTree,
    pub by_event: &'a TransactionalTree,
    pub search: &'a TransactionalTree,
    pub wheel: &'a TransactionalTree,
}

impl DeliveryTrees<'_> {
    /// The caller counts the deliveries for the metrics once the
    /// transaction has committed (it may run more than once).
    pub fn insert(
        &self,
        delivery: &Delivery,
        event_type: &str,
        bytes: &[u8],
    ) -> Result<(), ConflictableTransactionError<StoreError>> {
        self.deliveries.insert(&delivery.id.to_bytes()[..], bytes)?;
        for (target, key, value) in entries(delivery, event_type) {
            let tree = match target {
                Target::ByEndpoint => self.by_endpoint,
                Target::ByEvent => self.by_event,
                Target::Search => self.search,
                Target::Wheel => self.wheel,
            };
            tree.insert(key, value)?;
        }
        Ok(())
    }
}

impl SledStore {
    /// Writes the first record of an owed delivery, with its indexes and (if
    /// due) its wheel entry: after an attempt, or to settle one without an
    /// attempt (held, cancelled, or scheduled for later). Written with
    /// plain inserts, the delivery first, so a crash
    /// part-way never leaves a wheel entry without its delivery. Nothing is
    /// written if it has a record already (returns false). Not flushed: the
    /// dispatch cursor covers it until a flush has (`log.rs`).
    pub fn record_owed(&self, delivery: &Delivery, event_type: &str) -> Result<bool, StoreError> {
        let trees = self.trees()?;
        let bytes = codec::encode(delivery)?;
        // The record and its entries inside `counted`, so the start-up count
        // sees the delivery either owed or recorded, never both.
        let first = self.counted(|| {
            let first = trees
                .deliveries
                .compare_and_swap(
                    delivery.id.to_bytes(),
                    None as Option<&[u8]>,
                    Some(bytes.as_slice()),
                )?
                .is_ok();
            if !first {
                return Ok((false, Vec::new()));
            }
            for (target, key, value) in entries(delivery, event_type) {
                let tree = match target {
                    Target::ByEndpoint => &trees.endpoint_deliveries,
                    Target::ByEvent => &trees.event_deliveries,
                    Target::Search => &trees.delivery_search,
                    Target::Wheel => &trees.wheel,
                };
                tree.insert(key, value)?;
            }
            let changes = vec![
                Change::Removed(keys::owed(delivery.id)),
                search_entry(delivery),
            ];
            Ok((true, changes))
        })?;
        if !first {
            return Ok(false);
        }
        metrics().delivery_reached(delivery.status);
        Ok(true)
    }
}

/// The search entry a new delivery adds, for the open-delivery gauges.
pub(super) fn search_entry(delivery: &Delivery) -> Change {
    Change::Added(keys::by_status(delivery.status, delivery.id))
}
