//! Leases on due deliveries, so several nodes share the work without
//! attempting one delivery twice at once. A node reads a page of due
//! deliveries no live lease holds, then claims them with one conditional
//! update that skips a row another node is claiming right now (`FOR UPDATE
//! SKIP LOCKED`) and stamps each with the node and a lease end. The attempt's
//! record releases the lease (`feed.rs`); the node renews the leases of
//! attempts still running, and a lease that runs out (a dead node) makes
//! the delivery claimable by any node again.

use super::deliveries::{delivery_of, DELIVERY_COLUMNS};
use super::prepared::Prepared;
use super::{id_of, key, ms, ms_of, PgError, PgStore};
use crate::domain::{Delivery, DeliveryStatus};
use crate::ids::DeliveryId;
use crate::metrics::metrics;
use crate::store::WheelEntry;

/// The channel wake-ups are sent on.
pub const WAKE_CHANNEL: &str = "hookd_work";

/// Run inside a transaction that made work due: delivered to listeners only
/// if it commits.
pub(super) const NOTIFY_WORK: &str = "NOTIFY hookd_work";

impl PgStore {
    /// Up to `limit` pending deliveries due by `now_ms` that no live lease
    /// holds, earliest first, after `after`.
    pub async fn due_page(
        &self,
        now_ms: u64,
        after: Option<&WheelEntry>,
        limit: usize,
    ) -> Result<Vec<WheelEntry>, PgError> {
        let client = self.client().await?;
        let (after_due, after_id) = match after {
            Some(entry) => (ms(entry.due_ms), key(entry.delivery)),
            None => (-1, Vec::new()),
        };
        let rows = client
            .query_cached(
                "SELECT next_attempt_ms, id, endpoint_id FROM deliveries
                  WHERE status = 'pending' AND next_attempt_ms <= $1
                    AND (claimed_until IS NULL OR claimed_until <= $1)
                    AND (next_attempt_ms, id) > ($2, $3)
                  ORDER BY next_attempt_ms, id
                  LIMIT $4",
                &[
                    &ms(now_ms),
                    &after_due,
                    &after_id,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(WheelEntry {
                    due_ms: ms_of(row.get(0)),
                    delivery: id_of(row.get(1))?,
                    endpoint: id_of(row.get(2))?,
                })
            })
            .collect()
    }

    /// Leases one due delivery to this node and returns it as leased (the
    /// attempt needs it, and reading it here saves a round trip); `None`
    /// when it is gone, no longer due, or another node holds or is taking it.
    pub async fn claim(
        &self,
        entry: &WheelEntry,
        now_ms: u64,
    ) -> Result<Option<Delivery>, PgError> {
        Ok(self
            .claim_all(std::slice::from_ref(entry), now_ms)
            .await?
            .pop())
    }

    /// Leases the due deliveries of `entries` to this node in one statement
    /// and returns those it got, as leased, in no particular order. One
    /// left out is gone, no longer due, or held or being taken by another
    /// node.
    pub async fn claim_all(
        &self,
        entries: &[WheelEntry],
        now_ms: u64,
    ) -> Result<Vec<Delivery>, PgError> {
        let ids: Vec<Vec<u8>> = entries.iter().map(|entry| key(entry.delivery)).collect();
        let client = self.client().await?;
        let claimed = client
            .query_cached(
                &format!(
                    "UPDATE deliveries SET claimed_by = $2, claimed_until = $4
                      WHERE id IN (
                          SELECT id FROM deliveries
                           WHERE id = ANY($1) AND status = 'pending' AND next_attempt_ms <= $3
                             AND (claimed_until IS NULL OR claimed_until <= $3)
                           FOR UPDATE SKIP LOCKED)
                      RETURNING {DELIVERY_COLUMNS}"
                ),
                &[
                    &ids,
                    &self.node(),
                    &ms(now_ms),
                    &ms(now_ms.saturating_add(self.lease_ms)),
                ],
            )
            .await?;
        claimed.iter().map(delivery_of).collect()
    }

    /// When the earliest pending delivery is due after `now_ms`, or a live
    /// lease of another node runs out (its work may then be taken over).
    pub async fn next_due_after(&self, now_ms: u64) -> Result<Option<u64>, PgError> {
        let client = self.client().await?;
        let row = client
            .query_one_cached(
                "SELECT least(
                     (SELECT min(next_attempt_ms) FROM deliveries
                       WHERE status = 'pending' AND next_attempt_ms > $1),
                     (SELECT min(claimed_until) FROM deliveries
                       WHERE status = 'pending' AND claimed_until > $1))",
                &[&ms(now_ms)],
            )
            .await?;
        Ok(row.get::<_, Option<i64>>(0).map(ms_of))
    }

    /// Ends this node's claim without an attempt: the delivery becomes
    /// `status` if it is still pending.
    pub async fn release_claim(
        &self,
        id: DeliveryId,
        status: DeliveryStatus,
    ) -> Result<(), PgError> {
        let client = self.client().await?;
        let settled = client
            .execute_cached(
                "UPDATE deliveries
                    SET status = $3, next_attempt_ms = NULL,
                        claimed_by = NULL, claimed_until = NULL
                  WHERE id = $1 AND claimed_by = $2 AND status = 'pending'",
                &[&key(id), &self.node(), &status.as_str()],
            )
            .await?;
        if settled == 1 {
            metrics().delivery_reached(status);
            return Ok(());
        }
        client
            .execute_cached(
                "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL
                  WHERE id = $1 AND claimed_by = $2",
                &[&key(id), &self.node()],
            )
            .await?;
        Ok(())
    }

    /// Renews this node's leases on `held` deliveries (attempts waiting or
    /// running) and lets its other claims go, so they are due again at
    /// once; returns how many were let go.
    pub async fn renew_claims(&self, held: &[DeliveryId], now_ms: u64) -> Result<usize, PgError> {
        let held: Vec<Vec<u8>> = held.iter().map(|id| key(*id)).collect();
        let client = self.client().await?;
        client
            .execute_cached(
                "UPDATE deliveries SET claimed_until = $3
                  WHERE claimed_by = $1 AND id = ANY($2)",
                &[
                    &self.node(),
                    &held,
                    &ms(now_ms.saturating_add(self.lease_ms)),
                ],
            )
            .await?;
        let released = client
            .execute_cached(
                "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL
                  WHERE claimed_by = $1 AND NOT (id = ANY($2))",
                &[&self.node(), &held],
            )
            .await?;
        if released > 0 {
            self.work.notify_one();
        }
        Ok(usize::try_from(released).unwrap_or(usize::MAX))
    }
}
