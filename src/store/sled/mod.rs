//! The embedded backend: the only module that knows sled (and, through
//! `codec`, bincode).
//!
//! Trees:
//! - `meta`: the schema version, checked at open (an older one is migrated,
//!   `migrate.rs`).
//! - `endpoints`: endpoint ID → endpoint.
//! - `log`: event ID → the event with the endpoints it owes a delivery to
//!   (`log.rs`). IDs sort by time, so a date range is a key range.
//! - `deliveries`: delivery ID → delivery, written the first time something
//!   happens to it; `attempts`: (delivery, n) → attempt.
//! - `endpoint_deliveries`: (endpoint, delivery) → () for recorded
//!   deliveries; `event_deliveries`: (event, delivery) → () for deliveries
//!   an event does not owe from its publish (replays).
//! - `delivery_search`: (status, delivery) → (endpoint, event type), the
//!   deliveries search index (see `search.rs`).
//! - `wheel`: (due ms, delivery) → () — what is owed, and when.
//! - `claimed`: delivery → () — taken off the wheel and being attempted; put
//!   back on the wheel at the next open, so a crash never loses an attempt.
//! - `idempotency`: publish key → the first answer.
//! - `health`: endpoint → consecutive failures, for automatic disabling.
//! - `replays`: replay ID → replay job, with the cursor it has reached.
//! - `partners`: partner ID → partner; `partner_secrets`: SHA-256 of a
//!   partner's shared secret → partner ID, so a bearer is found in one get.
//! - `accounts`: account ID (text) → account.

mod accounts;
mod codec;
mod committer;
mod deliveries;
mod endpoints;
mod events;
mod export;
mod fanout;
mod health;
mod keys;
mod log;
mod migrate;
mod open_count;
mod owed;
mod partners;
mod recovery;
mod replays;
mod retention;
mod search;
#[cfg(test)]
pub(crate) mod testing;
mod wheel;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Notify;

pub use committer::Committer;
pub use deliveries::{Claim, DeliveryPage};
pub use events::{AppendOutcome, AppendedEvent, EventQuery, NewEvent};
pub use export::{ExportPage, ExportedEvent, ExportedIdempotency, ExportedPartner};
pub use health::EndpointHealth;
pub use log::LoggedEvent;
pub use replays::ReplayBatch;
pub use retention::PurgeOutcome;
pub use search::{DeliverySearch, FoundDelivery, SearchPage};
pub use wheel::WheelEntry;

use crate::config::{Durability, StorageSettings};
use crate::ids::{self, EventId};
pub(crate) use crate::store::{StoreError, Subscriber};

/// 2: endpoints and events carry an account. 3: the `log` replaces
/// `events`, and a delivery is written when it first changes (`log.rs`).
const SCHEMA_VERSION: u32 = 3;
const VERSION_KEY: &str = "schema_version";

/// One open sled database with its trees. Replaced as a whole after a
/// write failure (see `recovery.rs`): sled then refuses every read and write
/// until the database is opened again.
struct Trees {
    db: sled::Db,
    meta: sled::Tree,
    endpoints: sled::Tree,
    log: sled::Tree,
    deliveries: sled::Tree,
    attempts: sled::Tree,
    endpoint_deliveries: sled::Tree,
    event_deliveries: sled::Tree,
    delivery_search: sled::Tree,
    wheel: sled::Tree,
    claimed: sled::Tree,
    idempotency: sled::Tree,
    health: sled::Tree,
    replays: sled::Tree,
    partners: sled::Tree,
    partner_secrets: sled::Tree,
    accounts: sled::Tree,
    committer: Committer,
}

impl Trees {
    fn open(location: &Location) -> Result<Trees, StoreError> {
        let db = sled::Config::new()
            .path(&location.path)
            .cache_capacity(location.cache_capacity)
            .open()?;
        let tree = |name: &str| db.open_tree(name);
        Ok(Trees {
            meta: tree("meta")?,
            endpoints: tree("endpoints")?,
            log: tree("log")?,
            deliveries: tree("deliveries")?,
            attempts: tree("attempts")?,
            endpoint_deliveries: tree("endpoint_deliveries")?,
            event_deliveries: tree("event_deliveries")?,
            delivery_search: tree("delivery_search")?,
            wheel: tree("wheel")?,
            claimed: tree("claimed")?,
            idempotency: tree("idempotency")?,
            health: tree("health")?,
            replays: tree("replays")?,
            partners: tree("partners")?,
            partner_secrets: tree("partner_secrets")?,
            accounts: tree("accounts")?,
            committer: Committer::start(db.clone())?,
            db,
        })
    }
}

/// Where the database lives, to open it again.
struct Location {
    path: PathBuf,
    cache_capacity: u64,
}

#[derive(Clone)]
pub struct SledStore {
    /// The open database; `None` only while it is being reopened.
    trees: Arc<RwLock<Option<Arc<Trees>>>>,
    location: Arc<Location>,
    /// False from a failed write until the database has been reopened and
    /// has taken a write again: what `/readyz` reports.
    writable: Arc<AtomicBool>,
    durability: Durability,
    /// Signalled whenever something becomes due earlier than the dispatcher
    /// may expect (new deliveries, resumed or resent ones).
    wheel_changed: Arc<Notify>,
    /// Serialises publishes that carry an idempotency key (see `write_appends`).
    idempotency_lock: Arc<Mutex<()>>,
    /// The last event inserted into the log; taken to mint event IDs in log
    /// order (see `append_to_log`).
    log_tail: Arc<Mutex<Option<EventId>>>,
    /// Every delivery owed by an event up to here has its record (`log.rs`).
    dispatch_cursor: Arc<Mutex<Option<EventId>>>,
    /// Taken by a retention batch and a replay step, each of which reads
    /// events and their deliveries and then writes on what it read: so a
    /// replay never schedules a delivery for an event retention is removing,
    /// and retention never removes an event a replay just gave a delivery.
    log_maintenance: Arc<Mutex<()>>,
    /// Every endpoint, active or disabled, rebuilt on every endpoint write so
    /// publishing never scans.
    subscribers: Arc<RwLock<Arc<Vec<Subscriber>>>>,
    /// Disabled endpoints, counted with the subscribers, for the metrics.
    disabled_endpoints: Arc<AtomicUsize>,
    /// How far the background count of open deliveries has got.
    open_progress: Arc<open_count::OpenProgress>,
}

/// Owns the open store for as long as the process uses it, and closes it when
/// dropped: a last flush, then the committer thread is stopped and joined, so
/// the database is released before the process exits (or before another
/// process opens the same directory). Everything else works on clones of
/// [`SledGuard::store`].
pub struct SledGuard {
    store: SledStore,
    closed: bool,
}

impl SledGuard {
    pub fn open(settings: &StorageSettings) -> Result<SledGuard, StoreError> {
        Self::open_at(
            &settings.data_dir.join("db"),
            settings.cache_capacity,
            settings.durability,
        )
    }

    pub fn open_at(
        path: &Path,
        cache_capacity: u64,
        durability: Durability,
    ) -> Result<SledGuard, StoreError> {
        Ok(SledGuard {
            store: SledStore::open_at(path, cache_capacity, durability)?,
            closed: false,
        })
    }

    pub fn store(&self) -> SledStore {
        self.store.clone()
    }

    /// Closes the store now, returning the last flush's error.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shut()
    }

    fn shut(&mut self) -> Result<(), StoreError> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        self.store.stop_counting();
        let flushed = self.store.flush_now();
        if let Ok(trees) = self.store.trees() {
            trees.committer.stop();
        }
        flushed
    }
}

impl Drop for SledGuard {
    fn drop(&mut self) {
        if let Err(error) = self.shut() {
            tracing::error!(%error, "last flush before closing the store failed");
        }
    }
}

impl SledStore {
    fn open_at(
        path: &Path,
        cache_capacity: u64,
        durability: Durability,
    ) -> Result<SledStore, StoreError> {
        let location = Location {
            path: path.to_path_buf(),
            cache_capacity,
        };
        let trees = Trees::open(&location)?;
        let store = SledStore {
            trees: Arc::new(RwLock::new(Some(Arc::new(trees)))),
            location: Arc::new(location),
            writable: Arc::new(AtomicBool::new(true)),
            durability,
            subscribers: Arc::default(),
            disabled_endpoints: Arc::default(),
            open_progress: Arc::default(),
            wheel_changed: Arc::new(Notify::new()),
            idempotency_lock: Arc::default(),
            log_tail: Arc::default(),
            dispatch_cursor: Arc::default(),
            log_maintenance: Arc::default(),
        };
        store.check_schema()?;
        store.load_dispatch_cursor()?;
        store.reload_subscribers()?;
        store.seed_ids()?;
        store.prepare_search_index()?;
        Ok(store)
    }

    /// Puts the ID generator past every stored ID, and the log's tail at the
    /// last stored event, so IDs minted from now on sort after all of them.
    fn seed_ids(&self) -> Result<(), StoreError> {
        let last_key = |tree: &sled::Tree| -> Result<Option<u128>, StoreError> {
            Ok(tree
                .last()?
                .and_then(|(key, _)| <[u8; 16]>::try_from(key.as_ref()).ok())
                .map(u128::from_be_bytes))
        };
        let open = self.trees()?;
        let last_event = last_key(&open.log)?;
        let trees = [
            &open.endpoints,
            &open.deliveries,
            &open.replays,
            &open.partners,
        ];
        // An event's block holds the IDs of the deliveries it owes.
        let mut highest = last_event.map(|id| EventId::from_u128(id).block_end());
        for tree in trees {
            highest = highest.max(last_key(tree)?);
        }
        if let Some(highest) = highest {
            ids::seed_past(highest);
        }
        *self
            .log_tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = last_event.map(EventId::from_u128);
        Ok(())
    }

    /// The open database, or `Unavailable` while it is being reopened.
    fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        let guard = self.trees.read().unwrap_or_else(|p| p.into_inner());
        guard
            .clone()
            .ok_or_else(|| StoreError::Unavailable("storage is being reopened".into()))
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let trees = self.trees()?;
        let stored = match trees.meta.get(VERSION_KEY)? {
            // A new directory.
            None => return self.record_schema_version(),
            Some(bytes) => <[u8; 4]>::try_from(bytes.as_ref()).map_or(0, u32::from_be_bytes),
        };
        if stored == SCHEMA_VERSION {
            return Ok(());
        }
        if !(1..SCHEMA_VERSION).contains(&stored) {
            return Err(StoreError::Schema(format!(
                "the data directory holds schema version {stored}; this build reads version {SCHEMA_VERSION}"
            )));
        }
        if stored == 1 {
            self.migrate_v1_to_v2()?;
        }
        let events = self.migrate_v2_to_v3()?;
        self.record_schema_version()?;
        self.drop_legacy_trees()?;
        tracing::info!(
            events,
            "moved the data directory to schema version {SCHEMA_VERSION}"
        );
        Ok(())
    }

    fn record_schema_version(&self) -> Result<(), StoreError> {
        let trees = self.trees()?;
        trees
            .meta
            .insert(VERSION_KEY, &SCHEMA_VERSION.to_be_bytes())?;
        trees.db.flush()?;
        Ok(())
    }

    /// Waits until everything written so far is durable (or returns at once
    /// under `storage.durability = "background"`).
    pub async fn commit(&self) -> Result<(), StoreError> {
        match self.durability {
            Durability::Flush => {
                let committer = self.trees()?.committer.clone();
                committer.commit().await
            }
            Durability::Background => Ok(()),
        }
    }

    /// Blocking flush, for shutdown.
    pub fn flush_now(&self) -> Result<(), StoreError> {
        self.trees()?.db.flush()?;
        Ok(())
    }

    /// Runs store work that may scan or wait on sled on the blocking pool,
    /// so no async worker (an HTTP worker, the dispatcher) stalls behind it.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(SledStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(store))
            .await
            .map_err(|e| StoreError::Unavailable(format!("blocking store work stopped: {e}")))?
    }

    /// Holds off the other of retention and replay (see `log_maintenance`).
    fn exclusive_log_maintenance(&self) -> std::sync::MutexGuard<'_, ()> {
        self.log_maintenance
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What the dispatcher waits on besides its timer.
    pub fn wheel_changed(&self) -> Arc<Notify> {
        Arc::clone(&self.wheel_changed)
    }

    /// (active, disabled) endpoints, as of the last endpoint write.
    pub fn endpoint_counts(&self) -> (usize, usize) {
        (
            self.subscribers()
                .iter()
                .filter(|s| s.endpoint.active)
                .count(),
            self.disabled_endpoints.load(Ordering::Relaxed),
        )
    }

    pub fn size_on_disk(&self) -> u64 {
        self.trees()
            .ok()
            .and_then(|trees| trees.db.size_on_disk().ok())
            .unwrap_or(0)
    }
}
