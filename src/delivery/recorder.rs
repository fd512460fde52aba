//! Records finished attempts on a thread of its own, in batches: every
//! attempt that finished while the previous batch was being written goes
//! into the next one. Nothing here waits for a flush (the dispatch cursor
//! and the wheel claims make a lost record an attempt made again, see
//! `store/log.rs`), and the attempts' tasks wait only for their own record,
//! without a hand-off to the blocking pool each.
//!
//! Dropping the [`Recorder`] (with the dispatcher's attempt context) ends
//! the thread once it has recorded what was queued, and waits for it, so
//! no thread of hookd's holds the store after the dispatcher has stopped.

use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use tokio::sync::oneshot;

use crate::domain::{Attempt, Delivery};
use crate::ids::EndpointId;
use crate::store::{AttemptOutcome, Claim, EndpointHealth, Store, StoreError};

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
    queue: Option<mpsc::Sender<(AttemptRecord, Answer)>>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    pub fn start(store: Store) -> Result<Recorder, StoreError> {
        let (queue, finished) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("hookd-recorder".into())
            .spawn(move || run(store, finished))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the recorder: {e}")))?;
        Ok(Recorder {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Records the attempt and its endpoint's health; returns the health.
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

fn run(store: Store, finished: mpsc::Receiver<(AttemptRecord, Answer)>) {
    while let Ok(first) = finished.recv() {
        for (attempt, answer) in std::iter::once(first).chain(finished.try_iter()) {
            let _ = answer.send(record(&store, attempt));
        }
    }
}

fn record(store: &Store, finished: AttemptRecord) -> Result<EndpointHealth, StoreError> {
    let succeeded = finished.outcome == AttemptOutcome::Succeeded;
    store.record_attempt(
        &finished.delivery,
        finished.claim,
        &finished.event_type,
        &finished.attempt,
        finished.outcome,
    )?;
    store.record_health(finished.endpoint, succeeded, finished.finished_ms)
}
