//! Writing what the dispatcher and the service layer decided about
//! deliveries: an attempt's record with the delivery's next state, and a
//! change to every open delivery of an endpoint. Each reads the rows it
//! changes under a row lock, applies the caller's change, and writes the
//! result in the same transaction, so a concurrent change on another node
//! is read, not overwritten.
//!
//! An attempt's record first tries one statement instead: its delivery is
//! usually just as it was claimed, so the caller's change is applied to the
//! claimed copy and written only if the row still holds exactly that copy
//! (a compare-and-swap). Every statement is a round trip between threads
//! and processes, which on a small machine costs more than the work it
//! carries; the transaction runs only when the swap finds the row changed.

use super::claims::NOTIFY_WORK;
use super::deliveries::{attempts, delivery_of, DELIVERY_COLUMNS};
use super::prepared::Prepared;
use super::{json, key, ms, PgError, PgStore};
use crate::domain::{Attempt, Delivery, DeliveryStatus};
use crate::ids::EndpointId;
use crate::metrics::metrics;

/// Writes a delivery's state and ends the lease on it: this node's, or
/// any node's when `$7` is true.
const PUT_DELIVERY: &str = "UPDATE deliveries
    SET status = $2, attempts = $3, next_attempt_ms = $4, updated_ms = $5,
        claimed_by = CASE WHEN $7 OR claimed_by = $6 THEN NULL ELSE claimed_by END,
        claimed_until = CASE WHEN $7 OR claimed_by = $6 THEN NULL ELSE claimed_until END
  WHERE id = $1";

/// An attempt's record and its delivery's next state in one statement:
/// the delivery is written only if its row is still the claimed copy
/// (`$9`-`$12`), and this node's lease on it ends. With `$14`, the
/// endpoint's (`$13`) failure counters are cleared too. The attempt and
/// the counters are written even when the swap misses; both writes are
/// the same again in the transaction that follows a miss.
const RECORD_IF_UNCHANGED: &str = "WITH attempt AS (
        INSERT INTO attempts (delivery_id, n, record) VALUES ($1, $2, $3::text::jsonb)
        ON CONFLICT (delivery_id, n) DO UPDATE SET record = EXCLUDED.record),
    cleared AS (DELETE FROM health WHERE $14 AND endpoint_id = $13)
    UPDATE deliveries
       SET status = $4, attempts = $5, next_attempt_ms = $6, updated_ms = $7,
           claimed_by = CASE WHEN claimed_by = $8 THEN NULL ELSE claimed_by END,
           claimed_until = CASE WHEN claimed_by = $8 THEN NULL ELSE claimed_until END
     WHERE id = $1 AND status = $9 AND attempts = $10
       AND next_attempt_ms IS NOT DISTINCT FROM $11 AND updated_ms = $12";

/// Whose lease a write ends.
enum Lease<'a> {
    Of(&'a str),
    Any,
}

impl PgStore {
    /// Records a finished attempt and rewrites the delivery as `next` makes
    /// it from the stored one, ending this node's lease; with
    /// `clear_health`, its endpoint's failure counters are cleared in the
    /// same write. Returns the delivery as recorded, or `None` if it is gone.
    pub async fn record_attempt(
        &self,
        job: &Delivery,
        attempt: &Attempt,
        next: impl Fn(Delivery) -> Delivery,
        clear_health: bool,
    ) -> Result<Option<Delivery>, PgError> {
        let mut client = self.client().await?;
        let expected = next(job.clone());
        // A retry's wake-up (`NOTIFY`) needs the transaction.
        if expected.next_attempt_ms.is_none() {
            let swapped = client
                .execute_cached(
                    RECORD_IF_UNCHANGED,
                    &[
                        &key(job.id),
                        &attempts(attempt.attempt),
                        &json(attempt)?,
                        &expected.status.as_str(),
                        &attempts(expected.attempts),
                        &expected.next_attempt_ms.map(ms),
                        &ms(expected.updated_at_ms),
                        &self.node(),
                        &job.status.as_str(),
                        &attempts(job.attempts),
                        &job.next_attempt_ms.map(ms),
                        &ms(job.updated_at_ms),
                        &key(job.endpoint_id),
                        &clear_health,
                    ],
                )
                .await?;
            if swapped == 1 {
                if expected.status != job.status {
                    metrics().delivery_reached(expected.status);
                }
                return Ok(Some(expected));
            }
        }
        let tx = client.transaction().await?;
        tx.execute_cached(
            "INSERT INTO attempts (delivery_id, n, record) VALUES ($1, $2, $3::text::jsonb)
             ON CONFLICT (delivery_id, n) DO UPDATE SET record = EXCLUDED.record",
            &[&key(job.id), &attempts(attempt.attempt), &json(attempt)?],
        )
        .await?;
        if clear_health {
            tx.execute_cached(
                "DELETE FROM health WHERE endpoint_id = $1",
                &[&key(job.endpoint_id)],
            )
            .await?;
        }
        let row = tx
            .query_opt_cached(
                &format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1 FOR UPDATE"),
                &[&key(job.id)],
            )
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let stored = delivery_of(&row)?;
        let before = stored.status;
        let delivery = next(stored);
        put(&tx, &delivery, Lease::Of(self.node())).await?;
        if delivery.next_attempt_ms.is_some() {
            tx.batch_execute(NOTIFY_WORK).await?;
        }
        tx.commit().await?;
        if delivery.status != before {
            metrics().delivery_reached(delivery.status);
        }
        Ok(Some(delivery))
    }

    /// Rewrites each open (pending or held) delivery of `endpoint` that
    /// `change` gives a new state; leases on them end, so a resumed one is
    /// claimable at once. Returns how many changed.
    pub async fn update_deliveries_of(
        &self,
        endpoint: EndpointId,
        change: impl Fn(&Delivery) -> Option<Delivery>,
    ) -> Result<usize, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let rows = tx
            .query_cached(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries
                      WHERE endpoint_id = $1 AND status IN ('pending', 'held')
                      FOR UPDATE"
                ),
                &[&key(endpoint)],
            )
            .await?;
        let mut reached = Vec::new();
        for row in &rows {
            if let Some(delivery) = change(&delivery_of(row)?) {
                put(&tx, &delivery, Lease::Any).await?;
                reached.push(delivery.status);
            }
        }
        if reached.contains(&DeliveryStatus::Pending) {
            tx.batch_execute(NOTIFY_WORK).await?;
        }
        tx.commit().await?;
        for status in &reached {
            metrics().delivery_reached(*status);
        }
        Ok(reached.len())
    }
}

async fn put(
    tx: &deadpool_postgres::Transaction<'_>,
    delivery: &Delivery,
    lease: Lease<'_>,
) -> Result<(), PgError> {
    let (node, any) = match lease {
        Lease::Of(node) => (node, false),
        Lease::Any => ("", true),
    };
    tx.execute_cached(
        PUT_DELIVERY,
        &[
            &key(delivery.id),
            &delivery.status.as_str(),
            &attempts(delivery.attempts),
            &delivery.next_attempt_ms.map(ms),
            &ms(delivery.updated_at_ms),
            &node,
            &any,
        ],
    )
    .await?;
    Ok(())
}
