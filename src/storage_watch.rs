//! The storage watch: a background task that checks every second that
//! storage takes writes, and reopens it after a failed write (a full disk)
//! as soon as the disk takes writes again (`store/sled/recovery.rs`), so that
//! publishing, reading and delivering resume without a restart. `/readyz`
//! reports its verdict.

use std::time::Duration;

use crate::clock::now_ms;
use crate::shutdown::Shutdown;
use crate::store::Store;

const INTERVAL: Duration = Duration::from_secs(1);
/// While the disk stays full, reopening is retried ever less often, up to
/// this: each failed try logs, and a few seconds' delay is soon enough.
const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(5);

pub async fn run(store: Store, mut shutdown: Shutdown) {
    let mut interval = INTERVAL;
    while !shutdown.is_requested() {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.requested() => break,
        }
        let writable = store.check_storage(now_ms()).await.unwrap_or(false);
        interval = if writable {
            INTERVAL
        } else {
            (interval * 2).min(MAX_RETRY_INTERVAL)
        };
    }
}
