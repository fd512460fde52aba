//! Retention: the log loses whole daily partitions, each with its events'
//! deliveries and attempts, in one transaction per partition. A partition
//! with a pending delivery is kept whole (nothing being retried is lost);
//! held deliveries go with their events, so a switched-off endpoint cannot
//! pin the log. Idempotency records expire by age.

use super::prepared::Prepared;
use super::schema::{partition_name, DAY_MS};
use super::{key, ms, PgError, PgStore};
use crate::ids::EventId;

/// What one retention pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub partitions_dropped: usize,
    pub events_removed: u64,
    /// Partitions old enough but holding a pending delivery.
    pub partitions_kept: usize,
    pub deliveries_removed: u64,
}

/// How long a partition drop waits for its locks before giving up until the
/// next pass: the lock it queues for would stall every publish behind it.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '2s'";

impl PgStore {
    /// Drops every partition whose whole day ends by `before_ms`, except
    /// those with a pending delivery.
    pub async fn drop_partitions_before(
        &self,
        before_ms: u64,
    ) -> Result<RetentionOutcome, PgError> {
        let mut outcome = RetentionOutcome::default();
        for day in self.partition_days().await? {
            if (day + 1) * DAY_MS > before_ms {
                break;
            }
            match self.drop_partition(day).await? {
                Some((events, deliveries)) => {
                    outcome.partitions_dropped += 1;
                    outcome.events_removed += events;
                    outcome.deliveries_removed += deliveries;
                }
                None => outcome.partitions_kept += 1,
            }
        }
        Ok(outcome)
    }

    /// Drops one day's partition with its deliveries and their attempts;
    /// `None` (nothing changed) if one of them is pending. The drop comes
    /// first: its lock waits for any transaction still reading those events
    /// (a replay adding deliveries), so the deletes that follow see them.
    async fn drop_partition(&self, day: u64) -> Result<Option<(u64, u64)>, PgError> {
        let low = key(EventId::lowest_at(day * DAY_MS));
        let high = key(EventId::lowest_at((day + 1) * DAY_MS));
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(LOCK_TIMEOUT).await?;
        let events: i64 = tx
            .query_one(
                &format!("SELECT count(*) FROM {}", partition_name(day)),
                &[],
            )
            .await?
            .get(0);
        tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", partition_name(day)))
            .await?;
        let row = tx
            .query_one_cached(
                "WITH gone AS (
                     DELETE FROM deliveries WHERE event_id >= $1 AND event_id < $2
                     RETURNING id, status),
                 attempts_gone AS (
                     DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM gone))
                 SELECT count(*), count(*) FILTER (WHERE status = 'pending') FROM gone",
                &[&low, &high],
            )
            .await?;
        let (removed, pending): (i64, i64) = (row.get(0), row.get(1));
        if pending > 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        self.forget_partition(day);
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(Some((count(events), count(removed))))
    }

    /// Removes idempotency records stored before `before_ms`.
    pub async fn expire_idempotency(&self, before_ms: u64) -> Result<u64, PgError> {
        let client = self.client().await?;
        client
            .execute_cached(
                "DELETE FROM idempotency WHERE stored_ms < $1",
                &[&ms(before_ms)],
            )
            .await
    }
}
