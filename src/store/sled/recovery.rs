//! Taking writes again after a failed one (a full disk, an I/O error),
//! without a restart. sled remembers the first write that failed and from
//! then on refuses every read and write of that open database, so the only
//! way back is to close it and open it again once the disk takes writes.
//! What was acknowledged had been flushed before the answer, so reopening
//! loses nothing acknowledged; attempts claimed at the time are put back on
//! the wheel, as at start-up.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{SledStore, StoreError, Trees};

impl SledStore {
    /// Whether storage takes writes, as of the last [`SledStore::check_storage`].
    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
    }

    /// One check, meant to run every second or so. While storage is healthy
    /// it costs one flush (nothing to write when idle); once a write has
    /// failed, it closes the database and tries to open it again and write
    /// to it. Returns whether storage takes writes. Blocking.
    pub fn check_storage(&self, now_ms: u64) -> bool {
        if self.is_writable() {
            match self.trees().and_then(|trees| Ok(trees.db.flush()?)) {
                Ok(_) => return true,
                Err(error) => {
                    tracing::error!(%error, "storage refuses writes; it is reopened once the disk takes writes again");
                    self.writable.store(false, Ordering::Release);
                }
            }
        }
        match self.reopen(now_ms) {
            Ok(()) => {
                self.writable.store(true, Ordering::Release);
                self.wheel_changed.notify_one();
                tracing::info!("storage takes writes again");
                true
            }
            Err(error) => {
                tracing::debug!(%error, "storage still refuses writes");
                false
            }
        }
    }

    fn reopen(&self, now_ms: u64) -> Result<(), StoreError> {
        // The failed database is taken out first: sled locks its directory
        // until the last handle is gone, and handles held by work in
        // progress go as that work fails. Until the new one is in, callers
        // get `Unavailable`.
        let failed = self.slot().take();
        if let Some(failed) = failed {
            // Its committer thread holds a handle too: end it.
            failed.committer.stop();
        }
        let trees = Trees::open(&self.location)?;
        trees.meta.insert("write_check", &now_ms.to_be_bytes())?;
        trees.db.flush()?;
        *self.slot() = Some(Arc::new(trees));
        self.reload_subscribers()?;
        self.requeue_claimed(now_ms)?;
        Ok(())
    }

    fn slot(&self) -> std::sync::RwLockWriteGuard<'_, Option<Arc<Trees>>> {
        self.trees.write().unwrap_or_else(|p| p.into_inner())
    }
}
