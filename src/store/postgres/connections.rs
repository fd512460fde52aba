//! The thread PostgreSQL connections are opened and driven on.
//!
//! tokio-postgres drives each connection with a task spawned on the runtime
//! that opened it, and the connection's socket belongs to that runtime. The
//! pool opens connections wherever one is first needed, an HTTP worker
//! included; such a connection dies with its worker, and the workers stop
//! first at a graceful stop, while the dispatcher is still recording its
//! last attempts. So every connection is taken from the pool on this
//! thread, whose runtime lives exactly as long as the store.

use std::future::Future;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub struct ConnectionThread {
    runtime: Handle,
    /// Dropped with the last clone of the store: the thread then ends, and
    /// its runtime with the connections' tasks.
    _stop: oneshot::Sender<()>,
}

impl ConnectionThread {
    pub fn start() -> std::io::Result<Arc<ConnectionThread>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("hookd-postgres".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Arc::new(ConnectionThread {
            runtime: handle,
            _stop: stop,
        }))
    }

    /// Runs `work` on the thread; `None` if it could not finish there (the
    /// store is being dropped).
    pub async fn run<F>(&self, work: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(work).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn what_runs_there_outlives_the_runtime_that_asked_for_it() {
        let thread = ConnectionThread::start().unwrap();
        let (ticks, mut ticked) = tokio::sync::mpsc::unbounded_channel();
        let caller = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let on_thread = Arc::clone(&thread);
        caller.block_on(async move {
            // As a connection is opened: its task spawned where the work runs.
            let opened = on_thread.run(async move {
                tokio::spawn(async move {
                    while ticks.send(()).is_ok() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                });
            });
            assert!(opened.await.is_some());
        });
        drop(caller);
        while ticked.try_recv().is_ok() {}
        // Had the task lived on the caller's runtime, it would be gone and
        // the channel closed.
        assert!(ticked.blocking_recv().is_some());
    }
}
