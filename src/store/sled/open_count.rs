//! The pending and held gauges, kept exact without a scan at start-up or
//! per scrape.
//!
//! They are counted once from the search index (`search.rs`) on a thread of
//! their own after the store opens, while deliveries keep moving: counting a
//! million open deliveries takes seconds, which start-up must not wait for.
//! Every write that adds or removes an open entry goes through
//! [`SledStore::counted`], which sees how far the count has got: an entry at or
//! before that position was (or will never be) seen by the count, so its
//! change goes to the gauge; one after it is left to the count. The count
//! reads in batches under the same lock, so no entry is counted twice or
//! missed.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::{keys, SledStore, StoreError};
use crate::domain::DeliveryStatus;
use crate::ids::DeliveryId;
use crate::metrics::metrics;

/// Entries counted per lock hold: short enough that a write waits at most
/// a few milliseconds.
const BATCH: usize = 1024;

/// Events whose owed deliveries are counted per lock hold.
const OWED_EVENTS_PER_HOLD: usize = 64;

/// How far the start-up count has got.
pub(super) enum Progress {
    /// Every open entry up to this key (inclusive) has been counted.
    Counting([u8; 17]),
    Done,
}

impl Progress {
    /// Whether the count has passed `key`: a change there is the gauge's.
    fn has_seen(&self, key: &[u8; 17]) -> bool {
        match self {
            Progress::Counting(position) => key <= position,
            Progress::Done => true,
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::Counting([0; 17])
    }
}

/// An index entry a write adds or removes.
pub(super) enum Change {
    Added([u8; 17]),
    Removed([u8; 17]),
}

impl SledStore {
    /// Runs `write`, which returns the entries it changed, so that the
    /// gauges agree with the start-up count (see the module comment).
    pub(super) fn counted<T>(
        &self,
        write: impl FnOnce() -> Result<(T, Vec<Change>), StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = Some(self.progress());
        if guard
            .as_deref()
            .is_some_and(|p| matches!(p, Progress::Done))
        {
            // Finished counts never restart: no need to hold the lock.
            guard = None;
        }
        let (value, changes) = write()?;
        for change in changes {
            let (key, by) = match change {
                Change::Added(key) => (key, 1),
                Change::Removed(key) => (key, -1),
            };
            let seen = guard.as_deref().is_none_or(|p| p.has_seen(&key));
            if let (true, Some(status)) = (seen, keys::counted_status(&key)) {
                metrics().open_deliveries(status, by);
            }
        }
        Ok(value)
    }

    /// Counts the open entries into the gauges in the background; the
    /// store's guard stops and joins it on close (`stop_counting`).
    pub(super) fn start_counting(&self) -> Result<(), StoreError> {
        let store = self.clone();
        let spawned = std::thread::Builder::new()
            .name("hookd-count".into())
            .spawn(move || {
                if let Err(error) = store.count_open() {
                    tracing::error!(%error, "could not count the open deliveries");
                }
            });
        match spawned {
            Ok(thread) => *self.count_thread() = Some(thread),
            Err(_) => self.count_open()?,
        }
        Ok(())
    }

    /// Ends the background count early and waits for its thread, so that
    /// nothing holds the database once the store is closed.
    pub(super) fn stop_counting(&self) {
        self.open_progress.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.count_thread().take() {
            let _ = thread.join();
        }
    }

    /// Counts the open entries into the gauges; run once.
    pub(super) fn count_open(&self) -> Result<(), StoreError> {
        self.count_owed()?;
        for status in [DeliveryStatus::Pending, DeliveryStatus::Held] {
            let end = keys::by_status(status, DeliveryId::from_u128(u128::MAX));
            let mut from = Bound::Included(keys::by_status(status, DeliveryId::from_u128(0)));
            loop {
                if self.open_progress.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let mut progress = self.progress();
                let mut last = None;
                let mut counted = 0;
                for entry in self
                    .trees()?
                    .delivery_search
                    .range((from, Bound::Included(end)))
                    .take(BATCH)
                {
                    let (key, _) = entry?;
                    last = <[u8; 17]>::try_from(key.as_ref()).ok();
                    counted += 1;
                }
                metrics().open_deliveries(status, counted);
                match last {
                    Some(key) if counted == BATCH as i64 => {
                        *progress = Progress::Counting(key);
                        from = Bound::Excluded(key);
                    }
                    _ => {
                        *progress = Progress::Counting(end);
                        break;
                    }
                }
            }
        }
        *self.progress() = Progress::Done;
        Ok(())
    }

    /// Counts the owed deliveries without a record (`log.rs`): those of the
    /// events after the dispatch cursor, a few events per lock hold. Their
    /// keys sort before every index entry, so the count reaches them first.
    fn count_owed(&self) -> Result<(), StoreError> {
        let mut after = self.dispatch_cursor();
        loop {
            if self.open_progress.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            // Read before taking the lock (events never change; a cold read
            // can take a while), checked against the records under it.
            let mut events = self.log_after(after, OWED_EVENTS_PER_HOLD)?;
            let mut progress = self.progress();
            if events.is_empty() {
                // Publishes append under this lock: read again to be sure.
                events = self.log_after(after, OWED_EVENTS_PER_HOLD)?;
            }
            let Some(last) = events.last().map(|logged| logged.event.id) else {
                // The end of the log: every later owed delivery is the gauge's.
                *progress = Progress::Counting(keys::owed(DeliveryId::from_u128(u128::MAX)));
                return Ok(());
            };
            let mut counted = 0;
            for logged in &events {
                for (id, _) in logged.owed_ids() {
                    if !self.is_recorded(id)? {
                        counted += 1;
                    }
                }
            }
            metrics().open_deliveries(DeliveryStatus::Pending, counted);
            *progress = Progress::Counting(keys::owed(DeliveryId::from_u128(last.block_end())));
            after = Some(last);
        }
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.open_progress
            .progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count_thread(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        self.open_progress
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Kept in the store: the position `counted` and `count_open` share, and
/// the count's thread with the flag that stops it.
#[derive(Default)]
pub(super) struct OpenProgress {
    progress: Mutex<Progress>,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;

    #[test]
    fn the_count_sees_every_open_entry_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open_at(&dir.path().join("db"), 1 << 20, Durability::Flush).unwrap();
        // Wait for the count started at open, then count again by hand into
        // a fresh progress: the gauges are process-wide, so compare deltas.
        while !matches!(*store.progress(), Progress::Done) {
            std::thread::yield_now();
        }
        for n in 0..(BATCH as u128 * 2 + 5) {
            let key = keys::by_status(DeliveryStatus::Held, DeliveryId::from_u128(n + 1));
            store
                .trees()
                .unwrap()
                .delivery_search
                .insert(key, &[0u8; 16][..])
                .unwrap();
        }
        *store.progress() = Progress::default();
        let before = metrics().deliveries_held_now();
        store.count_open().unwrap();
        assert_eq!(
            metrics().deliveries_held_now() - before,
            BATCH as i64 * 2 + 5
        );
        assert!(matches!(*store.progress(), Progress::Done));
    }

    #[test]
    fn a_change_goes_to_the_gauge_only_where_the_count_has_been() {
        let position = keys::by_status(DeliveryStatus::Pending, DeliveryId::from_u128(100));
        let behind = keys::by_status(DeliveryStatus::Pending, DeliveryId::from_u128(99));
        let ahead = keys::by_status(DeliveryStatus::Held, DeliveryId::from_u128(1));
        let counting = Progress::Counting(position);
        assert!(counting.has_seen(&behind) && counting.has_seen(&position));
        assert!(!counting.has_seen(&ahead));
        assert!(Progress::Done.has_seen(&ahead));
    }
}
