//! What a node keeps in memory beside the shared database, and the task
//! that keeps it up: wake-ups other nodes send (`LISTEN`), every endpoint
//! with its filter (publishing plans fan-out from it without a query, and
//! other nodes' endpoint changes arrive within a second), the log's next
//! partitions, and the database's size for the metrics.
//!
//! [`PgGuard`] owns that task and stops it when dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::prepared::Prepared;
use super::{from_json, PgError, PgStore};
use crate::config::StorageSettings;
use crate::domain::filter::EventFilter;
use crate::domain::{DeliveryStatus, Endpoint};
use crate::metrics::metrics;
use crate::store::Subscriber;

/// How often endpoints are reloaded and a lost wake-up connection retried.
const TICK: Duration = Duration::from_secs(1);

/// Ticks between checks of the log's next partitions.
const SLOW_TICKS: u32 = 30;

/// Owns the open backend for as long as the process uses it: the pool and
/// the upkeep task, stopped when the guard is dropped.
pub struct PgGuard {
    store: PgStore,
    upkeep: JoinHandle<()>,
}

impl PgGuard {
    /// Connects, migrates and starts the upkeep task.
    pub async fn open(settings: &StorageSettings) -> Result<PgGuard, PgError> {
        let store = PgStore::connect(settings).await?;
        let upkeep = tokio::spawn(upkeep(store.clone()));
        Ok(PgGuard { store, upkeep })
    }

    pub fn store(&self) -> PgStore {
        self.store.clone()
    }
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        self.upkeep.abort();
    }
}

async fn upkeep(store: PgStore) {
    let mut woken: Option<mpsc::Receiver<()>> = None;
    let mut ticks = 0u32;
    let mut tick = tokio::time::interval(TICK);
    loop {
        if woken.is_none() {
            match store.listen().await {
                Ok(receiver) => {
                    woken = Some(receiver);
                    // Whatever was sent while no one listened.
                    store.work.notify_one();
                }
                Err(error) => tracing::warn!(%error, "cannot listen for wake-ups; retrying"),
            }
        }
        tokio::select! {
            message = async { woken.as_mut()?.recv().await }, if woken.is_some() => match message {
                Some(()) => store.work.notify_one(),
                None => woken = None,
            },
            _ = tick.tick() => {
                ticks = ticks.wrapping_add(1);
                if let Err(error) = store.reload_subscribers().await {
                    tracing::warn!(%error, "cannot reload endpoints");
                }
                if ticks % SLOW_TICKS == 1 {
                    store.slow_upkeep().await;
                }

            }
        }
    }
}

impl PgStore {
    /// Reads every endpoint again.
    pub async fn reload_subscribers(&self) -> Result<(), PgError> {
        let _reloading = self.reloading.lock().await;
        let client = self.client().await?;
        let rows = client
            .query_cached("SELECT record::text FROM endpoints ORDER BY id", &[])
            .await?;
        let mut all = Vec::with_capacity(rows.len());
        for row in rows {
            let endpoint: Endpoint = from_json(row.get(0))?;
            // A filter that no longer parses (a rule tightened since) matches nothing.
            if let Ok(filter) = EventFilter::parse(&endpoint.events) {
                all.push(Subscriber { endpoint, filter });
            }
        }
        let mut guard = self
            .subscribers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Arc::new(all);
        Ok(())
    }

    async fn slow_upkeep(&self) {
        if let Err(error) = self.ensure_partitions(crate::clock::now_ms()).await {
            tracing::warn!(%error, "cannot create the log's next partitions");
        }
    }

    /// Counts pending and held deliveries for the gauges (every node's
    /// deliveries move them, so they are counted, not followed) and reads
    /// the database's size.
    pub async fn refresh_metrics(&self) -> Result<(), PgError> {
        self.size
            .store(self.database_size().await?, Ordering::Relaxed);
        self.count_open_deliveries().await
    }

    async fn count_open_deliveries(&self) -> Result<(), PgError> {
        let client = self.client().await?;
        let rows = client
            .query_cached(
                "SELECT status, count(*) FROM deliveries
                  WHERE status IN ('pending', 'held') GROUP BY status",
                &[],
            )
            .await?;
        let mut counts = [(DeliveryStatus::Pending, 0), (DeliveryStatus::Held, 0)];
        for row in rows {
            let status: &str = row.get(0);
            if let Some(entry) = counts.iter_mut().find(|(s, _)| s.as_str() == status) {
                entry.1 = row.get(1);
            }
        }
        for (status, count) in counts {
            metrics().set_open_deliveries(status, count);
        }
        Ok(())
    }

    async fn database_size(&self) -> Result<u64, PgError> {
        let client = self.client().await?;
        let row = client
            .query_one_cached("SELECT pg_database_size(current_database())", &[])
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Every endpoint, active or disabled, as of the last reload.
    pub fn subscribers(&self) -> Arc<Vec<Subscriber>> {
        let guard = self
            .subscribers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(&guard)
    }

    /// Signalled when work may have become due.
    pub fn wheel_changed(&self) -> Arc<Notify> {
        Arc::clone(&self.work)
    }

    /// (active, disabled) endpoints, as of the last reload.
    pub fn endpoint_counts(&self) -> (usize, usize) {
        let all = self.subscribers();
        let active = all.iter().filter(|s| s.endpoint.active).count();
        (active, all.len() - active)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
    }

    /// One round trip; returns whether the database answered.
    pub async fn check_storage(&self) -> bool {
        let answered = match self.client().await {
            Ok(client) => client.batch_execute("SELECT 1").await.is_ok(),
            Err(_) => false,
        };
        let was = self.writable.swap(answered, Ordering::AcqRel);
        if answered && !was {
            tracing::info!("the database answers again");
            self.work.notify_one();
        } else if !answered && was {
            tracing::error!(url = %self.url, "the database does not answer; publishes get 503 until it does");
        }
        answered
    }

    /// This process's name in leases.
    pub(super) fn node(&self) -> &str {
        &self.node
    }

    /// How often the claims of running attempts must be renewed: well
    /// within their lease.
    pub fn renew_claims_every_ms(&self) -> u64 {
        (self.lease_ms / 3).max(1)
    }
}
