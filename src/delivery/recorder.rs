//! Records finished attempts on a thread of its own. Nothing here waits for a flush (the dispatch cursor
//! and the wheel claims make a lost record an attempt made again, see
//! `store/sled/log.rs`), and the attempts' tasks wait only for their own record,
//! without a hand-off to the blocking pool each.
//!
//! Dropping the [`Recorder`] (with the dispatcher's attempt context) ends
//! the thread once it has recorded what was queued, and waits for it, so
//! no thread of hookd's holds the store after the dispatcher has stopped.

use std::thread::{self, JoinHandle};

use tokio::sync::{mpsc, oneshot};

use crate::domain::{Attempt, Delivery};
use crate::ids::EndpointId;
use crate::service::outcome::{self, AttemptOutcome};
use crate::store::{Claim, EndpointHealth, Store, StoreError};

/// One finished attempt to record.
pub struct AttemptRecord {
    pub delivery: Delivery,
    pub claim: Claim,
    pub event_type: String,
    pub attempt: Attempt,
    pub outcome: AttemptOutcome,
    pub endpoint: EndpointId,
    pub finished_ms: u64,
}

type Answer = oneshot::Sender<Result<EndpointHealth, StoreError>>;

pub struct Recorder {
    queue: Option<mpsc::UnboundedSender<(AttemptRecord, Answer)>>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    pub fn start(store: Store) -> Result<Recorder, StoreError> {
        let unavailable =
            |e: std::io::Error| StoreError::Unavailable(format!("cannot start the recorder: {e}"));
        let (queue, finished) = mpsc::unbounded_channel();
        // A runtime of its own: recording never waits behind the dispatcher's
        // attempts, nor they behind a record.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(unavailable)?;
        let thread = thread::Builder::new()
            .name("hookd-recorder".into())
            .spawn(move || runtime.block_on(run(store, finished)))
            .map_err(unavailable)?;
        Ok(Recorder {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Records the attempt and counts it toward its endpoint's health;
    /// returns the health.
    pub async fn record(&self, finished: AttemptRecord) -> Result<EndpointHealth, StoreError> {
        let (answer, answered) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the recorder has stopped".into());
        self.queue
            .as_ref()
            .ok_or_else(stopped)?
            .send((finished, answer))
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the recorder thread panicked");
            }
        }
    }
}

/// Each record is a task of its own, so records that wait on the network
/// (a shared database) overlap; the embedded backend's never wait, so they
/// still run one after another. Returns once the queue is closed and every
/// record has ended.
async fn run(store: Store, mut finished: mpsc::UnboundedReceiver<(AttemptRecord, Answer)>) {
    let mut recording = tokio::task::JoinSet::new();
    while let Some((attempt, answer)) = finished.recv().await {
        let store = store.clone();
        recording.spawn(async move {
            let _ = answer.send(record(&store, attempt).await);
        });
        // Ended tasks are reaped as we go, so the set stays small.
        while recording.try_join_next().is_some() {}
    }
    while recording.join_next().await.is_some() {}
}

async fn record(store: &Store, finished: AttemptRecord) -> Result<EndpointHealth, StoreError> {
    let succeeded = finished.outcome == AttemptOutcome::Succeeded;
    outcome::record(
        store,
        &finished.delivery,
        finished.claim,
        &finished.event_type,
        &finished.attempt,
        finished.outcome,
    )
    .await?;
    if succeeded {
        // Its record cleared the counters.
        return Ok(EndpointHealth::default());
    }
    store
        .count_failure(finished.endpoint, finished.finished_ms)
        .await
}
