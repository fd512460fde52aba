//! Bulk inserts of records read out of another backend (`hookd migrate`),
//! keeping their IDs. Each call writes one batch as one statement over
//! arrays (`unnest`), so a batch is one transaction: all of it or none.
//! They insert, never update: the target must be empty, which
//! [`PgStore::tables_with_records`] checks first.

use super::deliveries::attempts;
use super::prepared::Prepared;
use super::rows::{insert_deliveries, insert_events};
use super::{json, key, ms, PgError, PgStore};
use crate::clock;
use crate::domain::replay::ReplayJob;
use crate::domain::{Account, AccountId, Attempt, Delivery, DeliveryStatus, Endpoint, Event};
use crate::ids::{DeliveryId, EndpointId};
use crate::store::postgres::schema::DAY_MS;
use crate::store::{EndpointHealth, ExportedIdempotency, ExportedPartner};

/// The tables an import refuses to write into once they hold a row.
const RECORD_TABLES: &[&str] = &[
    "events",
    "deliveries",
    "attempts",
    "endpoints",
    "accounts",
    "partners",
    "replays",
    "idempotency",
];

impl PgStore {
    /// The tables that hold at least one row: an import goes only into a
    /// database where this is empty.
    pub async fn tables_with_records(&self) -> Result<Vec<&'static str>, PgError> {
        let client = self.client().await?;
        let mut holding = Vec::new();
        for table in RECORD_TABLES {
            let row = client
                .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
                .await?;
            if row.get::<_, bool>(0) {
                holding.push(*table);
            }
        }
        Ok(holding)
    }

    pub async fn import_accounts(&self, accounts: &[Account]) -> Result<(), PgError> {
        let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
        let records = accounts.iter().map(json).collect::<Result<Vec<_>, _>>()?;
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO accounts (id, record)
                 SELECT i, r::jsonb FROM unnest($1::text[], $2::text[]) AS u(i, r)",
                &[&ids, &records],
            )
            .await?;
        Ok(())
    }

    pub async fn import_endpoints(&self, endpoints: &[Endpoint]) -> Result<(), PgError> {
        let ids: Vec<Vec<u8>> = endpoints.iter().map(|e| key(e.id)).collect();
        let accounts: Vec<Option<&str>> = endpoints
            .iter()
            .map(|e| e.account_id.as_ref().map(AccountId::as_str))
            .collect();
        let records = endpoints.iter().map(json).collect::<Result<Vec<_>, _>>()?;
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO endpoints (id, account_id, record)
                 SELECT i, a, r::jsonb FROM unnest($1::bytea[], $2::text[], $3::text[]) AS u(i, a, r)",
                &[&ids, &accounts, &records],
            )
            .await?;
        self.reload_subscribers().await
    }

    pub async fn import_partners(&self, partners: &[ExportedPartner]) -> Result<(), PgError> {
        let ids: Vec<Vec<u8>> = partners.iter().map(|p| key(p.partner.id)).collect();
        let endpoints: Vec<Vec<u8>> = partners
            .iter()
            .map(|p| key(p.partner.endpoint_id))
            .collect();
        let hashes: Vec<&[u8]> = partners.iter().map(|p| p.secret_hash.as_slice()).collect();
        let records = partners
            .iter()
            .map(|p| json(&p.partner))
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO partners (id, endpoint_id, secret_hash, record)
                 SELECT i, e, h, r::jsonb
                   FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::text[]) AS u(i, e, h, r)",
                &[&ids, &endpoints, &hashes, &records],
            )
            .await?;
        Ok(())
    }

    /// Events into the daily partitions their IDs' times fall in (created
    /// first where missing).
    pub async fn import_events(&self, events: &[Event]) -> Result<(), PgError> {
        let mut days: Vec<u64> = events.iter().map(|e| e.created_at_ms() / DAY_MS).collect();
        days.sort_unstable();
        days.dedup();
        self.ensure_days(&days).await?;
        let events: Vec<&Event> = events.iter().collect();
        insert_events(&self.client().await?, &events).await
    }

    /// Deliveries with their event's type, as they stand, with no lease: a
    /// pending one without a due time (never expected) is due now.
    pub async fn import_deliveries(
        &self,
        deliveries: &[(Delivery, String)],
    ) -> Result<(), PgError> {
        let now = clock::now_ms();
        let rows: Vec<(Delivery, &str)> = deliveries
            .iter()
            .map(|(delivery, event_type)| {
                let mut delivery = delivery.clone();
                if delivery.status == DeliveryStatus::Pending {
                    delivery.next_attempt_ms = delivery.next_attempt_ms.or(Some(now));
                }
                (delivery, event_type.as_str())
            })
            .collect();
        insert_deliveries(&self.client().await?, &rows).await
    }

    pub async fn import_attempts(&self, records: &[(DeliveryId, Attempt)]) -> Result<(), PgError> {
        let ids: Vec<Vec<u8>> = records.iter().map(|(id, _)| key(*id)).collect();
        let numbers: Vec<i32> = records.iter().map(|(_, a)| attempts(a.attempt)).collect();
        let attempts = records
            .iter()
            .map(|(_, a)| json(a))
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO attempts (delivery_id, n, record)
                 SELECT i, n, r::jsonb FROM unnest($1::bytea[], $2::integer[], $3::text[]) AS u(i, n, r)",
                &[&ids, &numbers, &attempts],
            )
            .await?;
        Ok(())
    }

    /// Jobs as they stand; a running one has no runner, so the first node
    /// to look takes it up from its cursor.
    pub async fn import_replays(&self, jobs: &[ReplayJob]) -> Result<(), PgError> {
        let ids: Vec<Vec<u8>> = jobs.iter().map(|j| key(j.id)).collect();
        let statuses: Vec<&str> = jobs.iter().map(|j| j.status.as_str()).collect();
        let records = jobs.iter().map(json).collect::<Result<Vec<_>, _>>()?;
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO replays (id, status, job)
                 SELECT i, s, j::jsonb FROM unnest($1::bytea[], $2::text[], $3::text[]) AS u(i, s, j)",
                &[&ids, &statuses, &records],
            )
            .await?;
        Ok(())
    }

    pub async fn import_idempotency(&self, records: &[ExportedIdempotency]) -> Result<(), PgError> {
        let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
        let stored: Vec<i64> = records.iter().map(|r| ms(r.stored_at_ms)).collect();
        let answers = records
            .iter()
            .map(|r| json(&r.events))
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO idempotency (key, stored_ms, answer)
                 SELECT k, s, a::jsonb FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(k, s, a)",
                &[&keys, &stored, &answers],
            )
            .await?;
        Ok(())
    }

    pub async fn import_health(
        &self,
        records: &[(EndpointId, EndpointHealth)],
    ) -> Result<(), PgError> {
        let ids: Vec<Vec<u8>> = records.iter().map(|(id, _)| key(*id)).collect();
        let failures: Vec<i32> = records
            .iter()
            .map(|(_, h)| attempts(h.consecutive_failures))
            .collect();
        let since: Vec<Option<i64>> = records
            .iter()
            .map(|(_, h)| h.failing_since_ms.map(ms))
            .collect();
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO health (endpoint_id, consecutive_failures, failing_since_ms)
                 SELECT i, c, s FROM unnest($1::bytea[], $2::integer[], $3::bigint[]) AS u(i, c, s)",
                &[&ids, &failures, &since],
            )
            .await?;
        Ok(())
    }
}
