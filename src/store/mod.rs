//! Storage: the only module that knows sled (and, through `codec`, bincode).
//!
//! Trees:
//! - `meta`: the schema version, checked at open.
//! - `endpoints`: endpoint ID → endpoint.
//! - `events`: event ID → event. IDs sort by time, so a date range is a key range.
//! - `deliveries`: delivery ID → delivery; `attempts`: (delivery, n) → attempt.
//! - `endpoint_deliveries`, `event_deliveries`: (owner, delivery) → () indexes.
//! - `wheel`: (due ms, delivery) → () — what is owed, and when.
//! - `claimed`: delivery → () — taken off the wheel and being attempted; put
//!   back on the wheel at the next open, so a crash never loses an attempt.
//! - `idempotency`: publish key → the first answer.
//! - `health`: endpoint → consecutive failures, for automatic disabling.
//! - `replays`: replay ID → replay job, with the cursor it has reached.
//! - `partners`: partner ID → partner; `partner_secrets`: SHA-256 of a
//!   partner's shared secret → partner ID, so a bearer is found in one get.

mod codec;
mod committer;
mod deliveries;
mod endpoints;
mod events;
mod fanout;
mod health;
mod keys;
mod partners;
mod recovery;
mod replays;
mod retention;
mod wheel;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

use sled::transaction::TransactionError;
use tokio::sync::Notify;

pub use committer::Committer;
pub use deliveries::{AttemptOutcome, DeliveryPage};
pub use events::{AppendOutcome, AppendedEvent, EventQuery, NewEvent};
pub use health::EndpointHealth;
pub use retention::PurgeOutcome;
pub use wheel::WheelEntry;

use crate::config::{Durability, StorageSettings};
use crate::domain::filter::EventFilter;
use crate::domain::Endpoint;

const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored record could not be read: {0}")]
    Codec(String),
    #[error("storage cannot accept writes: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Schema(String),
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(error: TransactionError<StoreError>) -> Self {
        match error {
            TransactionError::Abort(inner) => inner,
            TransactionError::Storage(inner) => StoreError::Sled(inner),
        }
    }
}

/// An endpoint with its filter parsed once, for fan-out.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub endpoint: Endpoint,
    pub filter: EventFilter,
}

/// One open sled database with its trees. Replaced as a whole after a
/// write failure (see `recovery`): sled then refuses every read and write
/// until the database is opened again.
struct Trees {
    db: sled::Db,
    meta: sled::Tree,
    endpoints: sled::Tree,
    events: sled::Tree,
    deliveries: sled::Tree,
    attempts: sled::Tree,
    endpoint_deliveries: sled::Tree,
    event_deliveries: sled::Tree,
    wheel: sled::Tree,
    claimed: sled::Tree,
    idempotency: sled::Tree,
    health: sled::Tree,
    replays: sled::Tree,
    partners: sled::Tree,
    partner_secrets: sled::Tree,
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
            events: tree("events")?,
            deliveries: tree("deliveries")?,
            attempts: tree("attempts")?,
            endpoint_deliveries: tree("endpoint_deliveries")?,
            event_deliveries: tree("event_deliveries")?,
            wheel: tree("wheel")?,
            claimed: tree("claimed")?,
            idempotency: tree("idempotency")?,
            health: tree("health")?,
            replays: tree("replays")?,
            partners: tree("partners")?,
            partner_secrets: tree("partner_secrets")?,
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
pub struct Store {
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
    idempotency_lock: Arc<std::sync::Mutex<()>>,
    /// Every endpoint, rebuilt on every endpoint write so publishing never scans.
    subscribers: Arc<RwLock<Arc<Vec<Subscriber>>>>,
}

impl Store {
    pub fn open(settings: &StorageSettings) -> Result<Store, StoreError> {
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
    ) -> Result<Store, StoreError> {
        let location = Location {
            path: path.to_path_buf(),
            cache_capacity,
        };
        let trees = Trees::open(&location)?;
        let store = Store {
            trees: Arc::new(RwLock::new(Some(Arc::new(trees)))),
            location: Arc::new(location),
            writable: Arc::new(AtomicBool::new(true)),
            durability,
            subscribers: Arc::default(),
            wheel_changed: Arc::new(Notify::new()),
            idempotency_lock: Arc::default(),
        };
        store.check_schema()?;
        store.reload_subscribers()?;
        Ok(store)
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
        match trees.meta.get("schema_version")? {
            None => {
                trees
                    .meta
                    .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
                trees.db.flush()?;
                Ok(())
            }
            Some(bytes) if bytes.as_ref() == SCHEMA_VERSION.to_be_bytes() => Ok(()),
            Some(bytes) => Err(StoreError::Schema(format!(
                "the data directory holds schema version {:?}; this build reads version {SCHEMA_VERSION}",
                bytes.as_ref()
            ))),
        }
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
        work: impl FnOnce(Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(store))
            .await
            .map_err(|e| StoreError::Unavailable(format!("blocking store work stopped: {e}")))?
    }

    /// What the dispatcher waits on besides its timer.
    pub fn wheel_changed(&self) -> Arc<Notify> {
        Arc::clone(&self.wheel_changed)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.trees()
            .ok()
            .and_then(|trees| trees.db.size_on_disk().ok())
            .unwrap_or(0)
    }
}
