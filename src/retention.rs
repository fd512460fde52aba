//! The retention sweep: a background task that, every
//! `storage.retention_interval` and once at start-up, removes events older
//! than `storage.event_retention` with their finished deliveries, and
//! forgets idempotency keys older than `events.idempotency_window`. Without
//! it the log, and the disk, would grow forever.

use std::sync::Arc;

use crate::clock::now_ms;
use crate::config::Settings;
use crate::shutdown::Shutdown;
use crate::store::{PurgeOutcome, Store, StoreError};

/// Events per transaction: keeps each write short so publishing and
/// delivery never wait long behind the sweep.
pub const BATCH_SIZE: usize = 500;

pub async fn run(store: Store, settings: Arc<Settings>, mut shutdown: Shutdown) {
    while !shutdown.is_requested() {
        if let Err(error) = sweep(&store, &settings, &shutdown).await {
            tracing::error!(%error, "retention sweep failed; retrying at the next interval");
        }
        tokio::select! {
            _ = actix_web::rt::time::sleep(settings.storage.retention_interval) => {}
            _ = shutdown.requested() => {}
        }
    }
}

/// One full pass over the expired part of the log, batch by batch; a stop
/// ends it between batches.
pub async fn sweep(
    store: &Store,
    settings: &Settings,
    shutdown: &Shutdown,
) -> Result<(), StoreError> {
    let now = now_ms();
    let cutoff = now.saturating_sub(settings.storage.event_retention.as_millis() as u64);
    let (mut removed, mut kept) = (0, 0);
    let mut after = None;
    loop {
        let outcome: PurgeOutcome = store.purge_events(after, cutoff, BATCH_SIZE).await?;
        removed += outcome.removed;
        kept += outcome.kept;
        match outcome.next {
            Some(next) if !shutdown.is_requested() => after = Some(next),
            _ => break,
        }
        tokio::task::yield_now().await;
    }
    let window = settings.events.idempotency_window.as_millis() as u64;
    let expired = store.expire_idempotency(now.saturating_sub(window)).await?;
    if removed > 0 || expired > 0 {
        tracing::info!(
            events_removed = removed,
            events_kept_for_open_deliveries = kept,
            idempotency_keys_expired = expired,
            "retention sweep"
        );
    }
    Ok(())
}
