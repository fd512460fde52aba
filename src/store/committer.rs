//! Group commit: the only caller of `Db::flush`.
//!
//! sled's `flush_async` deadlocks when many tasks call it at once (sled issues 1308, 1241, 1357),
//! so writers never flush themselves. They hand a oneshot to this single
//! thread, which drains every waiter queued so far, runs one flush, and
//! answers them all: concurrent publishers share one fsync.

use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub struct Committer {
    queue: mpsc::Sender<Waiter>,
}

impl Committer {
    pub fn start(db: sled::Db) -> Result<Committer, StoreError> {
        let (queue, waiters) = mpsc::channel::<Waiter>();
        thread::Builder::new()
            .name("hookd-committer".into())
            .spawn(move || run(db, waiters))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Committer { queue })
    }

    /// Resolves once a flush that started after this call has finished,
    /// i.e. once everything written before the call is on disk.
    pub async fn commit(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send(tx)
            .map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Unavailable(message)),
            Err(_) => Err(StoreError::Unavailable("the committer has stopped".into())),
        }
    }
}

fn run(db: sled::Db, waiters: mpsc::Receiver<Waiter>) {
    while let Ok(first) = waiters.recv() {
        let mut batch = vec![first];
        batch.extend(waiters.try_iter());
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        if let Err(message) = &result {
            tracing::error!(error = %message, "flush failed");
        }
        for waiter in batch {
            let _ = waiter.send(result.clone());
        }
    }
}
