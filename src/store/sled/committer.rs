//! Group commit: the only caller of `Db::flush`.
//!
//! sled's `flush_async` deadlocks when many tasks call it at once (sled issues 1308, 1241, 1357),
//! so writers never flush themselves. They hand a oneshot to this single
//! thread, which drains every waiter queued so far, runs one flush, and
//! answers them all: concurrent publishers share one fsync. [`Committer::stop`]
//! answers what is queued, ends the thread and waits for it, so the database
//! is released by the time the store is closed.

use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

enum Message {
    Commit(Waiter),
    Stop,
}

#[derive(Clone)]
pub struct Committer {
    queue: mpsc::Sender<Message>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Committer {
    pub fn start(db: sled::Db) -> Result<Committer, StoreError> {
        let (queue, messages) = mpsc::channel::<Message>();
        let thread = thread::Builder::new()
            .name("hookd-committer".into())
            .spawn(move || run(db, messages))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Committer {
            queue,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Answers every commit queued so far, ends the thread and waits for it.
    /// Later commits fail with "the committer has stopped".
    pub fn stop(&self) {
        let _ = self.queue.send(Message::Stop);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the committer thread panicked");
            }
        }
    }

    /// Resolves once a flush that started after this call has finished,
    /// i.e. once everything written before the call is on disk.
    pub async fn commit(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send(Message::Commit(tx))
            .map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Unavailable(message)),
            Err(_) => Err(StoreError::Unavailable("the committer has stopped".into())),
        }
    }
}

fn run(db: sled::Db, messages: mpsc::Receiver<Message>) {
    let mut stopping = false;
    while !stopping {
        let mut batch = Vec::new();
        for message in messages.recv().into_iter().chain(messages.try_iter()) {
            match message {
                Message::Commit(waiter) => batch.push(waiter),
                Message::Stop => stopping = true,
            }
        }
        if batch.is_empty() {
            // Stopped, or every sender is gone.
            return;
        }
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        if let Err(message) = &result {
            tracing::error!(error = %message, "flush failed");
        }
        for waiter in batch {
            let _ = waiter.send(result.clone());
        }
    }
}
