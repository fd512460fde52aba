//! The replay runner: drives a persisted replay job batch by batch in the
//! background. Each batch is one blocking store step (its deliveries and the
//! advanced cursor in one transaction) followed by a flush, so the job can
//! be resumed after a restart from wherever it durably got to. A stop leaves
//! the job running in storage, to be resumed at the next start.

use std::sync::Arc;

use crate::clock::now_ms;
use crate::config::Settings;
use crate::domain::replay::{ReplayJob, ReplayStatus};
use crate::ids::ReplayId;
use crate::metrics::metrics;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};

/// Events per step: small enough that a step's transaction and memory stay
/// small whatever the size of the range.
pub const BATCH_SIZE: usize = 500;

/// Runs the first batch now (so the caller can report counts so far) and the
/// rest in the background. Returns the job as it stands after that batch.
pub async fn start(
    store: Store,
    settings: Arc<Settings>,
    id: ReplayId,
    shutdown: Shutdown,
) -> Option<ReplayJob> {
    let job = step_or_fail(&store, &settings, id).await;
    if job
        .as_ref()
        .is_some_and(|j| j.status == ReplayStatus::Running)
    {
        actix_web::rt::spawn(run(store, settings, id, shutdown));
    }
    job
}

/// Resumes every job a stop interrupted. Called once at start-up.
pub fn resume_all(
    store: &Store,
    settings: &Arc<Settings>,
    shutdown: &Shutdown,
) -> Result<usize, StoreError> {
    let running = store.running_replays()?;
    for job in &running {
        tracing::info!(replay = %job.id, cursor = ?job.cursor, "resuming replay");
        let task = run(store.clone(), settings.clone(), job.id, shutdown.clone());
        actix_web::rt::spawn(task);
    }
    Ok(running.len())
}

/// Steps until the job is no longer running, or a stop is requested.
async fn run(store: Store, settings: Arc<Settings>, id: ReplayId, shutdown: Shutdown) {
    let _running = metrics().replay_running();
    loop {
        if shutdown.is_requested() {
            tracing::info!(replay = %id, "replay paused by the stop; it resumes at the next start");
            return;
        }
        match step_or_fail(&store, &settings, id).await {
            Some(job) if job.status == ReplayStatus::Running => {
                tokio::task::yield_now().await;
            }
            Some(job) => {
                tracing::info!(
                    replay = %id,
                    status = job.status.as_str(),
                    events_matched = job.events_matched,
                    deliveries_scheduled = job.deliveries_scheduled,
                    skipped_disabled = job.skipped_disabled,
                    "replay finished"
                );
                return;
            }
            None => return,
        }
    }
}

/// One durable step; a storage error ends the job as `failed` rather than
/// leaving it running forever.
async fn step_or_fail(store: &Store, settings: &Arc<Settings>, id: ReplayId) -> Option<ReplayJob> {
    match step(store, settings, id).await {
        Ok(job) => job,
        Err(error) => {
            tracing::error!(replay = %id, %error, "replay failed");
            if let Err(error) = store.fail_replay(id, error.to_string(), now_ms()).await {
                tracing::error!(replay = %id, %error, "could not mark the replay failed");
            }
            store.get_replay(id).ok().flatten()
        }
    }
}

async fn step(
    store: &Store,
    settings: &Arc<Settings>,
    id: ReplayId,
) -> Result<Option<ReplayJob>, StoreError> {
    let settings = settings.clone();
    let job = store
        .blocking(move |store| {
            store.replay_step(id, BATCH_SIZE, &settings.delivery.retry_schedule, now_ms())
        })
        .await?;
    store.commit().await?;
    // Only once durable: an attempt must never go out for a delivery a crash
    // could still erase (the replay would then send that pair again).
    store.wheel_changed().notify_one();
    Ok(job)
}
