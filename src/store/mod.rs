//! Storage: the one interface the rest of hookd persists and reads through,
//! over the backend the configuration picks. It persists and reads; what
//! to write is decided above it (`service/`).
//!
//! The embedded backend is `sled/` (sled, with bincode behind its codec);
//! `postgres/` keeps the same records in a database several nodes share.
//! Every operation is async; the embedded backend runs its scans on the
//! blocking pool.
//!
//! Besides the records, the interface carries the delivery feed the
//! dispatcher draws on (`feed.rs`): due entries and their claims, and the
//! deliveries each new event owes until they get a record.

mod feed;
mod operations;
pub mod postgres;
mod sled;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use ::sled::transaction::TransactionError;
use tokio::sync::Notify;

pub use self::feed::Claimed;
use self::postgres::{PgGuard, PgStore};
use self::sled::SledGuard;
pub use self::sled::SledStore;
pub use self::sled::{
    AppendOutcome, AppendedEvent, Claim, DeliveryPage, DeliverySearch, EndpointHealth, EventQuery,
    ExportPage, ExportedEvent, ExportedIdempotency, ExportedPartner, FoundDelivery, LoggedEvent,
    NewEvent, PurgeOutcome, ReplayBatch, SearchPage, WheelEntry,
};
use crate::config::{Durability, StorageBackend, StorageSettings};
use crate::domain::filter::EventFilter;
use crate::domain::{Endpoint, Event};
use crate::ids::EventId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] ::sled::Error),
    #[error("stored record could not be read: {0}")]
    Codec(String),
    #[error("storage cannot accept writes: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Schema(String),
    /// An event matched more endpoints than its ID can name deliveries for.
    #[error("an event may go to at most {max} endpoints; this one matched {0}", max = crate::ids::MAX_FANOUT)]
    FanoutTooWide(usize),
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

/// Events read together by ID ([`Store::get_events`]): each one found, or
/// the reason its record cannot be decoded. IDs not found are absent.
pub type EventReads = HashMap<EventId, Result<Event, String>>;

/// A handle on the open storage; clones share it.
#[derive(Clone)]
pub enum Store {
    Sled(Arc<SledStore>),
    Postgres(Arc<PgStore>),
}

/// Owns the open storage for as long as the process uses it and closes it
/// when dropped (a last flush, background threads joined). Everything else
/// works on clones of [`StoreGuard::store`].
pub enum StoreGuard {
    Sled(Box<SledGuard>),
    Postgres(Box<PgGuard>),
}

impl StoreGuard {
    /// Opens the backend `settings` name.
    pub async fn open(settings: &StorageSettings) -> Result<StoreGuard, StoreError> {
        match settings.backend {
            StorageBackend::Sled => Ok(StoreGuard::Sled(Box::new(SledGuard::open(settings)?))),
            StorageBackend::Postgres => Ok(StoreGuard::Postgres(Box::new(
                PgGuard::open(settings).await?,
            ))),
        }
    }

    /// Opens an embedded database at `path` (tools and benchmarks).
    pub fn open_at(
        path: &Path,
        cache_capacity: u64,
        durability: Durability,
    ) -> Result<StoreGuard, StoreError> {
        Ok(StoreGuard::Sled(Box::new(SledGuard::open_at(
            path,
            cache_capacity,
            durability,
        )?)))
    }

    pub fn store(&self) -> Store {
        match self {
            StoreGuard::Sled(guard) => Store::Sled(Arc::new(guard.store())),
            StoreGuard::Postgres(guard) => Store::Postgres(Arc::new(guard.store())),
        }
    }

    /// Closes the storage now, returning the last flush's error.
    pub fn close(self) -> Result<(), StoreError> {
        match self {
            StoreGuard::Sled(guard) => guard.close(),
            // Every write was committed when it returned.
            StoreGuard::Postgres(_) => Ok(()),
        }
    }
}

/// What lives in memory beside the records, and the storage's own state.
impl Store {
    /// Waits until everything written so far is durable.
    pub async fn commit(&self) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.commit().await,
            Store::Postgres(_) => Ok(()),
        }
    }

    /// Every endpoint, active or disabled, as of the last endpoint write.
    pub fn subscribers(&self) -> Arc<Vec<Subscriber>> {
        match self {
            Store::Sled(s) => s.subscribers(),
            Store::Postgres(p) => p.subscribers(),
        }
    }

    /// Signalled whenever something becomes due earlier than the dispatcher
    /// may expect (new events, resumed or resent deliveries).
    pub fn wheel_changed(&self) -> Arc<Notify> {
        match self {
            Store::Sled(s) => s.wheel_changed(),
            Store::Postgres(p) => p.wheel_changed(),
        }
    }

    /// Reads the endpoints again now, where they may have changed on
    /// another node since [`Store::subscribers`] last saw them.
    pub async fn refresh_endpoints(&self) -> Result<(), StoreError> {
        match self {
            // Reloaded on every endpoint write: never behind.
            Store::Sled(_) => Ok(()),
            Store::Postgres(p) => Ok(p.reload_subscribers().await?),
        }
    }

    /// Reads the figures a backend shared by several nodes cannot follow
    /// from this node's own writes (open deliveries, size) before a scrape.
    pub async fn refresh_metrics(&self) -> Result<(), StoreError> {
        match self {
            // Followed as deliveries move.
            Store::Sled(_) => Ok(()),
            Store::Postgres(p) => Ok(p.refresh_metrics().await?),
        }
    }

    /// (active, disabled) endpoints, as of the last endpoint write.
    pub fn endpoint_counts(&self) -> (usize, usize) {
        match self {
            Store::Sled(s) => s.endpoint_counts(),
            Store::Postgres(p) => p.endpoint_counts(),
        }
    }

    /// Bytes the storage takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        match self {
            Store::Sled(s) => s.size_on_disk(),
            Store::Postgres(p) => p.size_on_disk(),
        }
    }

    /// Whether storage takes writes, as of the last [`Store::check_storage`].
    pub fn is_writable(&self) -> bool {
        match self {
            Store::Sled(s) => s.is_writable(),
            Store::Postgres(p) => p.is_writable(),
        }
    }

    /// Checks that storage takes writes again after a failure, reopening
    /// it if it must; returns whether it is writable.
    pub async fn check_storage(&self, now_ms: u64) -> Result<bool, StoreError> {
        match self {
            Store::Sled(s) => s.blocking(move |s| Ok(s.check_storage(now_ms))).await,
            Store::Postgres(p) => Ok(p.check_storage().await),
        }
    }

    /// The embedded backend, to read every record out of it (`hookd
    /// migrate`); `None` on any other.
    pub fn embedded_backend(&self) -> Option<&SledStore> {
        match self {
            Store::Sled(s) => Some(s),
            Store::Postgres(_) => None,
        }
    }

    /// The embedded backend, for tests that damage its records.
    #[cfg(test)]
    pub(crate) fn embedded(&self) -> &SledStore {
        match self {
            Store::Sled(s) => s,
            Store::Postgres(_) => panic!("this test needs the embedded backend"),
        }
    }
}

#[cfg(test)]
pub(crate) use self::sled::testing;
