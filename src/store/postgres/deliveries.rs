//! Deliveries and their attempts: reading them and sending one again by
//! hand. Recording attempts and changing an endpoint's deliveries as a
//! whole are in `feed.rs`.

use tokio_postgres::Row;

use super::claims::NOTIFY_WORK;
use super::prepared::Prepared;
use super::{from_json, id_of, key, ms, ms_of, PgError, PgStore};
use crate::domain::{Attempt, Delivery, DeliveryStatus};
use crate::ids::{DeliveryId, EndpointId, EventId};
use crate::store::{DeliveryPage, DeliverySearch, FoundDelivery, SearchPage};

/// The columns [`delivery_of`] reads, in its order.
pub(super) const DELIVERY_COLUMNS: &str =
    "id, event_id, endpoint_id, status, attempts, next_attempt_ms, updated_ms, event_type";

/// Rows one search may examine before it hands back a cursor, so a page of
/// rare matches never walks the whole table.
const SCAN_BUDGET: usize = 10_000;

pub(super) fn delivery_of(row: &Row) -> Result<Delivery, PgError> {
    let status: &str = row.get(3);
    Ok(Delivery {
        id: id_of(row.get(0))?,
        event_id: id_of(row.get(1))?,
        endpoint_id: id_of(row.get(2))?,
        status: DeliveryStatus::parse(status)
            .ok_or_else(|| PgError::Codec(format!("unknown delivery status {status:?}")))?,
        attempts: u32::try_from(row.get::<_, i32>(4)).unwrap_or(0),
        next_attempt_ms: row.get::<_, Option<i64>>(5).map(ms_of),
        updated_at_ms: ms_of(row.get(6)),
    })
}

pub(super) fn attempts(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl PgStore {
    pub async fn get_delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, PgError> {
        let client = self.client().await?;
        let row = client
            .query_opt_cached(
                &format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"),
                &[&key(id)],
            )
            .await?;
        row.as_ref().map(delivery_of).transpose()
    }

    /// Every delivery of an event, in ID order: its publish's fan-out first
    /// (their IDs are the event's block), then those replays added.
    pub async fn deliveries_of_event(&self, event: EventId) -> Result<Vec<Delivery>, PgError> {
        let client = self.client().await?;
        let rows = client
            .query_cached(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE event_id = $1 ORDER BY id"
                ),
                &[&key(event)],
            )
            .await?;
        rows.iter().map(delivery_of).collect()
    }

    /// An endpoint's deliveries, newest first, optionally of one status,
    /// older than `before`.
    pub async fn deliveries_of_endpoint(
        &self,
        endpoint: EndpointId,
        status: Option<DeliveryStatus>,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<DeliveryPage, PgError> {
        let client = self.client().await?;
        let before = before.map_or_else(|| vec![0xff; 17], key);
        let rows = client
            .query_cached(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries
                      WHERE endpoint_id = $1 AND id < $2 AND ($3::text IS NULL OR status = $3)
                      ORDER BY id DESC LIMIT $4"
                ),
                &[
                    &key(endpoint),
                    &before,
                    &status.map(DeliveryStatus::as_str),
                    &(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)),
                ],
            )
            .await?;
        let mut deliveries: Vec<Delivery> =
            rows.iter().map(delivery_of).collect::<Result<_, _>>()?;
        let next = match deliveries.len() > limit {
            true => {
                deliveries.truncate(limit);
                deliveries.last().map(|d| d.id)
            }
            false => None,
        };
        Ok(DeliveryPage { deliveries, next })
    }

    /// One page of deliveries, newest first, narrowed by everything the
    /// search names; the type filter is applied here, within a scan budget.
    pub async fn search_deliveries(&self, query: &DeliverySearch) -> Result<SearchPage, PgError> {
        let client = self.client().await?;
        let low = key(DeliveryId::lowest_at(query.from_ms.unwrap_or(0)));
        let mut high = query
            .to_ms
            .map_or_else(|| vec![0xff; 17], |to| key(DeliveryId::lowest_at(to)));
        if let Some(before) = query.before {
            high = high.min(key(before));
        }
        let endpoints_in: Option<Vec<Vec<u8>>> = query
            .endpoints_in
            .as_ref()
            .map(|set| set.iter().map(|id| key(*id)).collect());
        let status = query.status.map(DeliveryStatus::as_str);
        let endpoint = query.endpoint.map(key);
        let batch = match query.types {
            Some(_) => 500,
            None => i64::try_from(query.limit).unwrap_or(500).saturating_add(1),
        };
        let mut found = Vec::new();
        let mut scanned = 0;
        loop {
            let rows = client
                .query_cached(
                    &format!(
                        "SELECT {DELIVERY_COLUMNS} FROM deliveries
                          WHERE id >= $1 AND id < $2
                            AND ($3::text IS NULL OR status = $3)
                            AND ($4::bytea IS NULL OR endpoint_id = $4)
                            AND ($5::bytea[] IS NULL OR endpoint_id = ANY($5))
                          ORDER BY id DESC LIMIT $6"
                    ),
                    &[&low, &high, &status, &endpoint, &endpoints_in, &batch],
                )
                .await?;
            let exhausted = (rows.len() as i64) < batch;
            for row in &rows {
                let delivery = delivery_of(row)?;
                high = key(delivery.id);
                scanned += 1;
                let event_type: String = row.get(7);
                if query
                    .types
                    .as_ref()
                    .is_some_and(|f| !f.matches(&event_type))
                {
                    continue;
                }
                if found.len() == query.limit {
                    let next = found.last().map(|f: &FoundDelivery| f.delivery.id);
                    return Ok(SearchPage { found, next });
                }
                found.push(FoundDelivery {
                    delivery,
                    event_type,
                });
            }
            if exhausted {
                return Ok(SearchPage { found, next: None });
            }
            if scanned >= SCAN_BUDGET {
                let next = Some(id_of(&high)?);
                return Ok(SearchPage { found, next });
            }
        }
    }

    pub async fn attempts_of(&self, id: DeliveryId) -> Result<Vec<Attempt>, PgError> {
        let client = self.client().await?;
        let rows = client
            .query_cached(
                "SELECT record::text FROM attempts WHERE delivery_id = $1 ORDER BY n",
                &[&key(id)],
            )
            .await?;
        rows.iter().map(|row| from_json(row.get(0))).collect()
    }

    /// Makes a delivery due at `now_ms` for one more attempt, unless it is
    /// held, cancelled or leased by a node right now. Returns the delivery
    /// as it was, or `None` if unknown.
    pub async fn retry_now(
        &self,
        id: DeliveryId,
        now_ms: u64,
    ) -> Result<Option<Delivery>, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt_cached(
                &format!(
                    "SELECT {DELIVERY_COLUMNS}, claimed_until FROM deliveries WHERE id = $1 FOR UPDATE"
                ),
                &[&key(id)],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let before = delivery_of(&row)?;
        let leased = row
            .get::<_, Option<i64>>(8)
            .is_some_and(|until| until > ms(now_ms));
        let closed = matches!(
            before.status,
            DeliveryStatus::Held | DeliveryStatus::Cancelled
        );
        if leased || closed {
            return Ok(Some(before));
        }
        tx.execute_cached(
            "UPDATE deliveries
                SET status = 'pending', next_attempt_ms = $2, updated_ms = $2,
                    claimed_by = NULL, claimed_until = NULL
              WHERE id = $1",
            &[&key(id), &ms(now_ms)],
        )
        .await?;
        tx.batch_execute(NOTIFY_WORK).await?;
        tx.commit().await?;
        Ok(Some(before))
    }
}
