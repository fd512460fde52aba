//! Endpoints, accounts, partners and the endpoints' failure counters: plain
//! records, each stored whole as jsonb beside the columns it is found by.

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;

use super::prepared::Prepared;
use super::{from_json, json, key, ms, ms_of, PgError, PgStore};
use crate::delivery::signing::constant_time_eq;
use crate::domain::{Account, AccountId, Endpoint, Partner, PartnerStatus};
use crate::ids::{EndpointId, PartnerId};
use crate::store::EndpointHealth;

/// What a partner's bearer secret is indexed by.
fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl PgStore {
    /// The record (first column) of the row `sql` selects by `id`, if any.
    async fn one_record<T: DeserializeOwned>(
        &self,
        sql: &str,
        id: &(dyn ToSql + Sync),
    ) -> Result<Option<T>, PgError> {
        let row = self.client().await?.query_opt_cached(sql, &[id]).await?;
        row.map(|row| from_json(row.get(0))).transpose()
    }

    /// The partner found by `condition` on `partners p`, with its endpoint.
    async fn partner_and_endpoint(
        &self,
        condition: &str,
        param: &(dyn ToSql + Sync),
    ) -> Result<Option<(Partner, Endpoint)>, PgError> {
        let sql = format!(
            "SELECT p.record::text, e.record::text
               FROM partners p JOIN endpoints e ON e.id = p.endpoint_id
              WHERE {condition}"
        );
        let row = self
            .client()
            .await?
            .query_opt_cached(&sql, &[param])
            .await?;
        row.map(|row| Ok((from_json(row.get(0))?, from_json(row.get(1))?)))
            .transpose()
    }

    /// The records (first column) of the rows `sql` selects.
    async fn all_records<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>, PgError> {
        let rows = self.client().await?.query_cached(sql, params).await?;
        rows.iter().map(|row| from_json(row.get(0))).collect()
    }

    pub async fn get_endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>, PgError> {
        self.one_record("SELECT record::text FROM endpoints WHERE id = $1", &key(id))
            .await
    }

    /// Endpoints in ID order after `after`; only `account`'s when given.
    pub async fn list_endpoints(
        &self,
        account: Option<&AccountId>,
        after: Option<EndpointId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>, PgError> {
        self.all_records(
            "SELECT record::text FROM endpoints
              WHERE id > $1 AND ($2::text IS NULL OR account_id = $2)
              ORDER BY id LIMIT $3",
            &[
                &after.map(key).unwrap_or_default(),
                &account.map(AccountId::as_str),
                &limit_of(limit),
            ],
        )
        .await
    }

    /// Creates or replaces an endpoint.
    pub async fn save_endpoint(&self, endpoint: &Endpoint) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO endpoints (id, account_id, record) VALUES ($1, $2, $3::text::jsonb)
                 ON CONFLICT (id) DO UPDATE
                 SET account_id = EXCLUDED.account_id, record = EXCLUDED.record",
                &[
                    &key(endpoint.id),
                    &endpoint.account_id.as_ref().map(AccountId::as_str),
                    &json(endpoint)?,
                ],
            )
            .await?;
        Ok(())
    }

    /// Removes an endpoint with its failure counter; false if there was
    /// none. Its deliveries stay as they are.
    pub async fn remove_endpoint(&self, id: EndpointId) -> Result<bool, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let removed = tx
            .execute_cached("DELETE FROM endpoints WHERE id = $1", &[&key(id)])
            .await?;
        tx.execute_cached("DELETE FROM health WHERE endpoint_id = $1", &[&key(id)])
            .await?;
        tx.commit().await?;
        self.reload_subscribers().await?;
        Ok(removed == 1)
    }

    /// Stores a new account; false (nothing written) if the ID is taken.
    pub async fn create_account(&self, account: &Account) -> Result<bool, PgError> {
        let client = self.client().await?;
        let created = client
            .execute_cached(
                "INSERT INTO accounts (id, record) VALUES ($1, $2::text::jsonb)
                 ON CONFLICT (id) DO NOTHING",
                &[&account.id.as_str(), &json(account)?],
            )
            .await?;
        Ok(created == 1)
    }

    pub async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, PgError> {
        self.one_record(
            "SELECT record::text FROM accounts WHERE id = $1",
            &id.as_str(),
        )
        .await
    }

    /// Accounts in ID order after `after`.
    pub async fn list_accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, PgError> {
        self.all_records(
            "SELECT record::text FROM accounts WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after.map_or("", AccountId::as_str), &limit_of(limit)],
        )
        .await
    }

    pub async fn save_account(&self, account: &Account) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO accounts (id, record) VALUES ($1, $2::text::jsonb)
                 ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                &[&account.id.as_str(), &json(account)?],
            )
            .await?;
        Ok(())
    }

    pub async fn delete_account(&self, id: &AccountId) -> Result<bool, PgError> {
        let client = self.client().await?;
        let removed = client
            .execute_cached("DELETE FROM accounts WHERE id = $1", &[&id.as_str()])
            .await?;
        Ok(removed == 1)
    }

    /// A partner with its account and endpoint, in one transaction.
    pub async fn create_partner(
        &self,
        partner: &Partner,
        account: &Account,
        endpoint: &Endpoint,
    ) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute_cached(
            "INSERT INTO accounts (id, record) VALUES ($1, $2::text::jsonb)
             ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
            &[&account.id.as_str(), &json(account)?],
        )
        .await?;
        tx.execute_cached(
            "INSERT INTO endpoints (id, account_id, record) VALUES ($1, $2, $3::text::jsonb)",
            &[
                &key(endpoint.id),
                &endpoint.account_id.as_ref().map(AccountId::as_str),
                &json(endpoint)?,
            ],
        )
        .await?;
        tx.execute_cached(
            "INSERT INTO partners (id, endpoint_id, secret_hash, record)
             VALUES ($1, $2, $3, $4::text::jsonb)",
            &[
                &key(partner.id),
                &key(endpoint.id),
                &secret_hash(&endpoint.secret),
                &json(partner)?,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_partner(&self, id: PartnerId) -> Result<Option<Partner>, PgError> {
        self.one_record("SELECT record::text FROM partners WHERE id = $1", &key(id))
            .await
    }

    pub async fn list_partners(
        &self,
        after: Option<PartnerId>,
        limit: usize,
    ) -> Result<Vec<Partner>, PgError> {
        self.all_records(
            "SELECT record::text FROM partners WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after.map(key).unwrap_or_default(), &limit_of(limit)],
        )
        .await
    }

    /// The partner whose endpoint's secret is `secret`, with that endpoint.
    /// Found by the secret's hash, then compared in constant time.
    pub async fn partner_by_secret(
        &self,
        secret: &str,
    ) -> Result<Option<(Partner, Endpoint)>, PgError> {
        let found = self
            .partner_and_endpoint("p.secret_hash = $1", &secret_hash(secret))
            .await?;
        Ok(found.filter(|(_, endpoint)| {
            constant_time_eq(endpoint.secret.as_bytes(), secret.as_bytes())
        }))
    }

    /// Stores a partner's new status (the record as given). Switching its
    /// endpoint off or on is the caller's business.
    pub async fn save_partner(&self, partner: &Partner) -> Result<bool, PgError> {
        let client = self.client().await?;
        let changed = client
            .execute_cached(
                "UPDATE partners SET record = $2::text::jsonb WHERE id = $1",
                &[&key(partner.id), &json(partner)?],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Stores the partner's endpoint with its new secret and moves the
    /// secret index with it, in one transaction.
    pub async fn rotate_partner_secret(
        &self,
        partner: &Partner,
        endpoint: &Endpoint,
    ) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute_cached(
            "UPDATE endpoints SET record = $2::text::jsonb WHERE id = $1",
            &[&key(endpoint.id), &json(endpoint)?],
        )
        .await?;
        tx.execute_cached(
            "UPDATE partners SET secret_hash = $2 WHERE id = $1",
            &[&key(partner.id), &secret_hash(&endpoint.secret)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a partner with its account and returns it; its endpoint
    /// stays for the caller to remove.
    pub async fn remove_partner(&self, id: PartnerId) -> Result<Option<Partner>, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt_cached(
                "DELETE FROM partners WHERE id = $1 RETURNING record::text",
                &[&key(id)],
            )
            .await?
        else {
            return Ok(None);
        };
        let partner: Partner = from_json(row.get(0))?;
        tx.execute_cached(
            "DELETE FROM accounts WHERE id = $1",
            &[&partner.account_id().as_str()],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(partner))
    }

    /// A partner with its endpoint.
    pub async fn partner_with_endpoint(
        &self,
        id: PartnerId,
    ) -> Result<Option<(Partner, Endpoint)>, PgError> {
        self.partner_and_endpoint("p.id = $1", &key(id)).await
    }

    /// Every partner whose status is active, with its endpoint.
    pub async fn active_partners(&self) -> Result<Vec<(Partner, Endpoint)>, PgError> {
        let client = self.client().await?;
        let rows = client
            .query_cached(
                "SELECT p.record::text, e.record::text
                   FROM partners p JOIN endpoints e ON e.id = p.endpoint_id
                  ORDER BY p.id",
                &[],
            )
            .await?;
        let mut active = Vec::new();
        for row in rows {
            let partner: Partner = from_json(row.get(0))?;
            if partner.status == PartnerStatus::Active {
                active.push((partner, from_json(row.get(1))?));
            }
        }
        Ok(active)
    }

    pub async fn endpoint_health(&self, id: EndpointId) -> Result<EndpointHealth, PgError> {
        let client = self.client().await?;
        let row = client
            .query_opt_cached(
                "SELECT consecutive_failures, failing_since_ms FROM health WHERE endpoint_id = $1",
                &[&key(id)],
            )
            .await?;
        Ok(row.map_or_else(EndpointHealth::default, |row| health_of(&row)))
    }

    /// Counts one failed attempt in one statement (so nodes counting at once
    /// add up) and returns the counters after it.
    pub async fn count_failure(
        &self,
        id: EndpointId,
        now_ms: u64,
    ) -> Result<EndpointHealth, PgError> {
        let client = self.client().await?;
        let row = client
            .query_one_cached(
                "INSERT INTO health (endpoint_id, consecutive_failures, failing_since_ms)
                 VALUES ($1, 1, $2)
                 ON CONFLICT (endpoint_id) DO UPDATE
                 SET consecutive_failures = health.consecutive_failures + 1,
                     failing_since_ms = coalesce(health.failing_since_ms, EXCLUDED.failing_since_ms)
                 RETURNING consecutive_failures, failing_since_ms",
                &[&key(id), &ms(now_ms)],
            )
            .await?;
        Ok(health_of(&row))
    }

    /// Forgets the counters, e.g. when an operator re-enables an endpoint.
    pub async fn reset_health(&self, id: EndpointId) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute_cached("DELETE FROM health WHERE endpoint_id = $1", &[&key(id)])
            .await?;
        Ok(())
    }
}

fn health_of(row: &tokio_postgres::Row) -> EndpointHealth {
    EndpointHealth {
        consecutive_failures: u32::try_from(row.get::<_, i32>(0)).unwrap_or(0),
        failing_since_ms: row.get::<_, Option<i64>>(1).map(ms_of),
    }
}
