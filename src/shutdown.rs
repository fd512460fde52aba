//! Stopping the background tasks (dispatcher, retention sweep, replay jobs)
//! and knowing when they have all stopped, so the store is closed only once
//! nothing can write to it any more.
//!
//! Every task holds a [`Shutdown`]: a watch on the stop signal and a sender
//! it never uses. When the last task drops its handle, the channel closes and
//! [`Stopper::stop`] returns. Request handlers that start tasks (a replay)
//! hold a [`ShutdownSource`], which does not keep the process from stopping.

use tokio::sync::{mpsc, watch};

/// What a background task holds: whether it should stop, and (by merely
/// existing) that it is still running.
#[derive(Clone)]
pub struct Shutdown {
    signal: watch::Receiver<bool>,
    /// `None` for a task started after the stop began: it stops at once.
    _running: Option<mpsc::Sender<()>>,
}

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        *self.signal.borrow() || self._running.is_none()
    }

    /// Resolves once a stop is requested (at once if it already was).
    pub async fn requested(&mut self) {
        if self._running.is_none() {
            return;
        }
        // An error means the stopper is gone, which also means: stop.
        let _ = self.signal.wait_for(|stop| *stop).await;
    }
}

/// Hands out [`Shutdown`]s to tasks started later, without itself keeping
/// the process from stopping.
#[derive(Clone)]
pub struct ShutdownSource {
    signal: watch::Receiver<bool>,
    running: mpsc::WeakSender<()>,
}

impl ShutdownSource {
    pub fn handle(&self) -> Shutdown {
        Shutdown {
            signal: self.signal.clone(),
            _running: self.running.upgrade(),
        }
    }
}

/// Held by the process: hands out [`Shutdown`]s, then stops them all.
pub struct Stopper {
    signal: watch::Sender<bool>,
    running: mpsc::Sender<()>,
    stopped: mpsc::Receiver<()>,
}

impl Default for Stopper {
    fn default() -> Self {
        let (signal, _) = watch::channel(false);
        let (running, stopped) = mpsc::channel(1);
        Stopper {
            signal,
            running,
            stopped,
        }
    }
}

impl Stopper {
    pub fn handle(&self) -> Shutdown {
        Shutdown {
            signal: self.signal.subscribe(),
            _running: Some(self.running.clone()),
        }
    }

    pub fn source(&self) -> ShutdownSource {
        ShutdownSource {
            signal: self.signal.subscribe(),
            running: self.running.downgrade(),
        }
    }

    /// Asks every task to stop and waits until each has dropped its handle.
    pub async fn stop(self) {
        let Stopper {
            signal,
            running,
            mut stopped,
        } = self;
        signal.send_replace(true);
        drop(running);
        // Nothing is ever sent: `None` means every handle is gone.
        let _ = stopped.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_waits_for_every_task_to_let_go() {
        let stopper = Stopper::default();
        let mut task = stopper.handle();
        assert!(!task.is_requested());
        let (finished_tx, mut finished_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            task.requested().await;
            finished_tx.send(()).unwrap();
            drop(task);
        });
        let source = stopper.source();
        stopper.stop().await;
        assert!(finished_rx.try_recv().is_ok());
        assert!(source.handle().is_requested());
    }
}
