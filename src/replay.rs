//! The replay runner: drives a persisted replay job batch by batch in the
//! background. Each batch is one durable store step (its deliveries and the
//! advanced cursor written at once), so the job can be resumed after a
//! restart from wherever it durably got to. A stop leaves the job running
//! in storage, to be resumed at the next start (or, with several nodes, by
//! another node once the stopped one's lease on it has run out).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::clock::now_ms;
use crate::config::Settings;
use crate::domain::replay::{ReplayJob, ReplayStatus};
use crate::ids::ReplayId;
use crate::metrics::metrics;
use crate::service::replay;
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

/// How often running jobs no runner holds are looked for: a job whose node
/// stopped (or died, with several nodes sharing a database) is taken over.
const ADOPT_EVERY: Duration = Duration::from_secs(10);

/// Resumes every running job no runner holds: at start-up the jobs a stop
/// interrupted, and then, every [`ADOPT_EVERY`], jobs another node left
/// behind. Runs until shutdown.
pub async fn adopt(store: Store, settings: Arc<Settings>, mut shutdown: Shutdown) {
    loop {
        match store.running_replays().await {
            Ok(jobs) => {
                for job in jobs.iter().filter(|job| !RunningHere::holds(job.id)) {
                    tracing::info!(replay = %job.id, cursor = ?job.cursor, "resuming replay");
                    let task = run(store.clone(), settings.clone(), job.id, shutdown.clone());
                    actix_web::rt::spawn(task);
                }
            }
            Err(error) => tracing::error!(%error, "could not look for replays to resume"),
        }
        tokio::select! {
            _ = tokio::time::sleep(ADOPT_EVERY) => {}
            _ = shutdown.requested() => return,
        }
    }
}

/// The jobs a runner of this process is driving, so one process never runs
/// a job twice; a runner's entry goes when the runner ends.
struct RunningHere(ReplayId);

fn running_here() -> std::sync::MutexGuard<'static, HashSet<ReplayId>> {
    static RUNNING: OnceLock<Mutex<HashSet<ReplayId>>> = OnceLock::new();
    RUNNING
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RunningHere {
    fn claim(id: ReplayId) -> Option<RunningHere> {
        running_here().insert(id).then_some(RunningHere(id))
    }

    fn holds(id: ReplayId) -> bool {
        running_here().contains(&id)
    }
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        running_here().remove(&self.0);
    }
}

/// Steps until the job is no longer running, or a stop is requested.
async fn run(store: Store, settings: Arc<Settings>, id: ReplayId, shutdown: Shutdown) {
    let Some(_here) = RunningHere::claim(id) else {
        return;
    };
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
            store.get_replay(id).await.ok().flatten()
        }
    }
}

async fn step(
    store: &Store,
    settings: &Arc<Settings>,
    id: ReplayId,
) -> Result<Option<ReplayJob>, StoreError> {
    let schedule = &settings.delivery.retry_schedule;
    let job = replay::step(store, id, BATCH_SIZE, schedule, now_ms()).await?;
    // Only once durable: an attempt must never go out for a delivery a crash
    // could still erase (the replay would then send that pair again).
    store.wheel_changed().notify_one();
    Ok(job)
}
