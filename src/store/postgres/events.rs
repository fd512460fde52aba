//! Publishing and reading the log. A publish is one transaction: the
//! idempotency key first (so a repeat does no work), then the events, every
//! delivery they owe, the key's answer and the wake-up; one commit. Reading
//! with `after=` stops at the watermark the module comment describes.

use deadpool_postgres::Object;

use std::collections::HashSet;

use super::prepared::Prepared;
use super::rows::{insert_deliveries, insert_events};
use super::{from_json, id_of, json, key, ms, ms_of, PgError, PgStore};
use crate::domain::{Delivery, DeliveryStatus, Event};
use crate::ids::{EndpointId, EventId, MAX_FANOUT};
use crate::store::postgres::schema::DAY_MS;
use crate::store::{AppendOutcome, AppendedEvent, EventQuery, NewEvent};

/// What a publish transaction marks itself with, for the watermark.
const PUBLISH_MARK: &str = "hookd_publish";

/// Rows read per round trip while a type filter thins a page.
const QUERY_BATCH: i64 = 500;

/// A publish written but not committed yet: [`PublishInProgress::commit`]
/// makes it visible; dropping it abandons it (its connection is closed, so
/// the server rolls it back).
pub struct PublishInProgress {
    client: Option<Object>,
    outcome: Option<AppendOutcome>,
}

impl PublishInProgress {
    /// The event IDs this publish minted (or answered, for a repeat).
    pub fn events(&self) -> &[AppendedEvent] {
        self.outcome.as_ref().map_or(&[], |o| &o.events)
    }

    pub async fn commit(mut self) -> Result<AppendOutcome, PgError> {
        if let Some(client) = self.client.take() {
            if let Err(error) = client.batch_execute("COMMIT").await {
                drop(Object::take(client));
                return Err(error.into());
            }
        }
        self.outcome
            .take()
            .ok_or_else(|| PgError::Codec("a publish was committed twice".into()))
    }
}

impl Drop for PublishInProgress {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

impl PgStore {
    /// Appends events with their deliveries in one transaction and commits
    /// it. A repeat of `idempotency_key` younger than `window_ms` returns the
    /// first answer and stores nothing.
    pub async fn append_events(
        &self,
        batch: Vec<NewEvent>,
        idempotency_key: Option<&str>,
        window_ms: u64,
        now_ms: u64,
    ) -> Result<AppendOutcome, PgError> {
        self.begin_publish(batch, idempotency_key, window_ms, now_ms)
            .await?
            .commit()
            .await
    }

    /// Everything a publish writes, short of its commit.
    pub async fn begin_publish(
        &self,
        batch: Vec<NewEvent>,
        idempotency_key: Option<&str>,
        window_ms: u64,
        now_ms: u64,
    ) -> Result<PublishInProgress, PgError> {
        let client = self.client().await?;
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL application_name = '{PUBLISH_MARK}'"
            ))
            .await?;
        match self
            .write_publish(&client, batch, idempotency_key, window_ms, now_ms)
            .await
        {
            Ok(outcome) if outcome.duplicate => {
                if client.batch_execute("ROLLBACK").await.is_err() {
                    drop(Object::take(client));
                }
                Ok(PublishInProgress {
                    client: None,
                    outcome: Some(outcome),
                })
            }
            Ok(outcome) => Ok(PublishInProgress {
                client: Some(client),
                outcome: Some(outcome),
            }),
            Err(error) => {
                drop(Object::take(client));
                Err(error)
            }
        }
    }

    async fn write_publish(
        &self,
        client: &Object,
        batch: Vec<NewEvent>,
        idempotency_key: Option<&str>,
        window_ms: u64,
        now_ms: u64,
    ) -> Result<AppendOutcome, PgError> {
        // The transaction gets its ID before the clock is read, and IDs are
        // minted only after: the watermark's rule rests on this order.
        let row = client
            .query_one_cached(
                "SELECT pg_current_xact_id()::text,
                        floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                &[],
            )
            .await?;
        let db_ms = ms_of(row.get(1));
        if let Some(idempotency_key) = idempotency_key {
            let fresh_after = ms(now_ms.saturating_sub(window_ms));
            let claimed = client
                .query_opt_cached(
                    "INSERT INTO idempotency (key, stored_ms, answer) VALUES ($1, $2, 'null')
                     ON CONFLICT (key) DO UPDATE SET stored_ms = EXCLUDED.stored_ms
                     WHERE idempotency.stored_ms <= $3
                     RETURNING 1",
                    &[&idempotency_key, &ms(now_ms), &fresh_after],
                )
                .await?;
            if claimed.is_none() {
                let row = client
                    .query_one_cached(
                        "SELECT answer::text FROM idempotency WHERE key = $1",
                        &[&idempotency_key],
                    )
                    .await?;
                return Ok(AppendOutcome {
                    events: from_json(row.get(0))?,
                    duplicate: true,
                });
            }
        }
        // A delivery to a disabled endpoint starts held, as the endpoint's
        // resumption expects; read here, not from this node's list of
        // endpoints, which may be a moment behind another node's change.
        let targets: Vec<Vec<u8>> = batch
            .iter()
            .flat_map(|new| new.owed.iter().map(|id| key(*id)))
            .collect();
        let disabled: Vec<Vec<u8>> = client
            .query_cached(
                "SELECT id FROM endpoints
                  WHERE id = ANY($1) AND NOT (record->>'active')::boolean",
                &[&targets],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let disabled: HashSet<EndpointId> = disabled
            .iter()
            .map(|bytes| id_of(bytes))
            .collect::<Result<_, _>>()?;
        let mint_ms = now_ms.max(db_ms);
        let mut events = Vec::with_capacity(batch.len());
        let mut owed = Vec::new();
        for NewEvent {
            mut event,
            owed: targets,
        } in batch
        {
            if targets.len() > MAX_FANOUT {
                return Err(PgError::FanoutTooWide(targets.len()));
            }
            event.id = EventId::generate_block(mint_ms);
            owed.extend(targets.iter().enumerate().filter_map(|(index, endpoint)| {
                Some((event.id.fanout_delivery(index)?, *endpoint, events.len()))
            }));
            events.push((event, targets.len() as u32));
        }
        let mut days: Vec<u64> = events
            .iter()
            .map(|(e, _)| e.created_at_ms() / DAY_MS)
            .collect();
        days.dedup();
        self.ensure_days(&days).await?;
        let logged: Vec<&Event> = events.iter().map(|(event, _)| event).collect();
        insert_events(client, &logged).await?;
        // Due at once, or held when the endpoint is disabled.
        let deliveries: Vec<(Delivery, &str)> = owed
            .iter()
            .map(|&(id, endpoint, index)| {
                let event = logged[index];
                let published = event.id.created_ms();
                let active = !disabled.contains(&endpoint);
                let delivery = Delivery {
                    id,
                    event_id: event.id,
                    endpoint_id: endpoint,
                    status: match active {
                        true => DeliveryStatus::Pending,
                        false => DeliveryStatus::Held,
                    },
                    attempts: 0,
                    next_attempt_ms: active.then_some(published),
                    updated_at_ms: published,
                };
                (delivery, event.event_type.as_str())
            })
            .collect();
        insert_deliveries(client, &deliveries).await?;
        let appended: Vec<AppendedEvent> = events
            .iter()
            .map(|(event, deliveries)| AppendedEvent {
                id: event.id,
                event_type: event.event_type.clone(),
                deliveries: *deliveries,
            })
            .collect();
        if let Some(idempotency_key) = idempotency_key {
            client
                .execute_cached(
                    "UPDATE idempotency SET answer = $2::text::jsonb WHERE key = $1",
                    &[&idempotency_key, &json(&appended)?],
                )
                .await?;
        }
        if !owed.is_empty() {
            client.batch_execute(super::claims::NOTIFY_WORK).await?;
        }
        Ok(AppendOutcome {
            events: appended,
            duplicate: false,
        })
    }

    pub async fn get_event(&self, id: EventId) -> Result<Option<Event>, PgError> {
        let client = self.client().await?;
        let row = client
            .query_opt_cached(
                "SELECT record::text FROM events WHERE created_ms = $1 AND id = $2",
                &[&ms(id.created_ms()), &key(id)],
            )
            .await?;
        row.map(|row| from_json(row.get(0))).transpose()
    }

    /// The events of `ids` that exist, in one statement. Each record is
    /// decoded on its own: one that cannot be is its error's reason and
    /// spoils only its own entry.
    pub async fn get_events(
        &self,
        ids: &[EventId],
    ) -> Result<Vec<(EventId, Result<Event, String>)>, PgError> {
        let client = self.client().await?;
        let created: Vec<i64> = ids.iter().map(|id| ms(id.created_ms())).collect();
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| key(*id)).collect();
        // Every ID names one row, so matching each column against its list
        // finds exactly the rows asked for; the `created_ms` list lets the
        // server skip the days that hold none of them.
        let rows = client
            .query_cached(
                "SELECT id, record::text FROM events
                 WHERE created_ms = ANY($1) AND id = ANY($2)",
                &[&created, &keys],
            )
            .await?;
        rows.into_iter()
            .map(|row| {
                let id: EventId = id_of(row.get(0))?;
                let event = from_json(row.get(1)).map_err(|error| match error {
                    PgError::Codec(reason) => reason,
                    other => other.to_string(),
                });
                Ok((id, event))
            })
            .collect()
    }

    /// One page of the log in ID order. With `after`, only events before the
    /// watermark (see the module comment), so a tailing reader never skips
    /// one that commits late.
    pub async fn query_events(&self, query: &EventQuery) -> Result<Vec<Event>, PgError> {
        let client = self.client().await?;
        // Every page stops at the watermark, the first one too: a reader
        // that starts without `after=` and goes on with it must not skip an
        // event that commits late either.
        let to_ms = query
            .to_ms
            .map_or(i64::MAX, ms)
            .min(watermark(&client).await?);
        let mut cursor = query.after.map_or((i64::MIN, Vec::new()), |after| {
            (ms(after.created_ms()), key(after))
        });
        let from_ms = query.from_ms.map_or(i64::MIN, ms);
        let account = query.account.as_ref().map(|a| a.as_str().to_string());
        let batch = if query.types.is_some() {
            QUERY_BATCH
        } else {
            i64::try_from(query.limit).unwrap_or(QUERY_BATCH)
        };
        let mut page = Vec::new();
        while page.len() < query.limit {
            let rows = client
                .query_cached(
                    "SELECT created_ms, id, record::text FROM events
                     WHERE created_ms >= $1 AND created_ms < $2
                       AND (created_ms, id) > ($3, $4)
                       AND ($5::text IS NULL OR account_id = $5)
                     ORDER BY created_ms, id LIMIT $6",
                    &[&from_ms, &to_ms, &cursor.0, &cursor.1, &account, &batch],
                )
                .await?;
            let exhausted = (rows.len() as i64) < batch;
            for row in rows {
                cursor = (row.get(0), row.get::<_, Vec<u8>>(1));
                let event: Event = from_json(row.get(2))?;
                if query
                    .types
                    .as_ref()
                    .is_some_and(|filter| !filter.matches(&event.event_type))
                {
                    continue;
                }
                page.push(event);
                if page.len() >= query.limit {
                    break;
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(page)
    }
}

/// The log's watermark in ms: every event created before it is visible to
/// any statement that starts after this one returns.
async fn watermark(client: &Object) -> Result<i64, PgError> {
    let row = client
        .query_one_cached(
            "SELECT LEAST(
                floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint,
                (SELECT floor(extract(epoch FROM min(xact_start)) * 1000)::bigint
                   FROM pg_stat_activity
                  WHERE application_name = $1 AND backend_xid IS NOT NULL
                    AND datname = current_database() AND pid <> pg_backend_pid()))",
            &[&PUBLISH_MARK],
        )
        .await?;
    Ok(row.get(0))
}
