//! Partners and the index that finds one from its shared secret. A partner's
//! delivery side is its endpoint (same tree, same fan-out); the secret itself
//! lives only on that endpoint, the index keeps just its SHA-256.

use sha2::{Digest, Sha256};
use sled::transaction::ConflictableTransactionResult;
use sled::Transactional;

use super::{codec, SledStore, StoreError};
use crate::delivery::signing::constant_time_eq;
use crate::domain::{Account, Endpoint, Partner, PartnerStatus};
use crate::ids::PartnerId;

fn secret_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl SledStore {
    /// Stores a new partner, its account, its endpoint and its secret index
    /// at once, durably.
    pub async fn create_partner(
        &self,
        partner: &Partner,
        account: &Account,
        endpoint: &Endpoint,
    ) -> Result<(), StoreError> {
        let partner_bytes = codec::encode(partner)?;
        let account_bytes = codec::encode(account)?;
        let endpoint_bytes = codec::encode(endpoint)?;
        let index_key = secret_key(&endpoint.secret);
        let account_key = account.id.as_str().as_bytes();
        let trees = (
            &self.trees()?.endpoints,
            &self.trees()?.partners,
            &self.trees()?.partner_secrets,
            &self.trees()?.accounts,
        );
        trees.transaction(
            |(endpoints, partners, secrets, accounts)| -> ConflictableTransactionResult<(), StoreError> {
                accounts.insert(account_key, account_bytes.as_slice())?;
                endpoints.insert(&endpoint.id.to_bytes()[..], endpoint_bytes.as_slice())?;
                partners.insert(&partner.id.to_bytes()[..], partner_bytes.as_slice())?;
                secrets.insert(&index_key[..], &partner.id.to_bytes()[..])?;
                Ok(())
            },
        )?;
        self.reload_subscribers()?;
        self.commit().await
    }

    pub fn get_partner(&self, id: PartnerId) -> Result<Option<Partner>, StoreError> {
        codec::read(&self.trees()?.partners, &id.to_bytes())
    }

    /// A partner with its endpoint; `None` when either is gone.
    pub fn partner_with_endpoint(
        &self,
        id: PartnerId,
    ) -> Result<Option<(Partner, Endpoint)>, StoreError> {
        let Some(partner) = self.get_partner(id)? else {
            return Ok(None);
        };
        Ok(self
            .get_endpoint(partner.endpoint_id)?
            .map(|endpoint| (partner, endpoint)))
    }

    /// Partners in registration order, starting after `after`.
    pub fn list_partners(
        &self,
        after: Option<PartnerId>,
        limit: usize,
    ) -> Result<Vec<Partner>, StoreError> {
        codec::page(
            &self.trees()?.partners,
            after.map(|id| id.to_bytes()),
            limit,
        )
    }

    /// The partner whose shared secret is `secret`. The hash finds the
    /// candidate; the stored secret is then compared in constant time, so
    /// the index alone never decides.
    pub fn partner_by_secret(
        &self,
        secret: &str,
    ) -> Result<Option<(Partner, Endpoint)>, StoreError> {
        let Some(id_bytes) = self.trees()?.partner_secrets.get(secret_key(secret))? else {
            return Ok(None);
        };
        let Ok(id_bytes) = <[u8; 16]>::try_from(id_bytes.as_ref()) else {
            return Ok(None);
        };
        let found = self.partner_with_endpoint(PartnerId::from_bytes(id_bytes))?;
        Ok(found.filter(|(_, endpoint)| {
            constant_time_eq(endpoint.secret.as_bytes(), secret.as_bytes())
        }))
    }

    /// Every active partner with its endpoint, for inbound events that name
    /// no partner and must be matched by their signature.
    pub fn active_partners(&self) -> Result<Vec<(Partner, Endpoint)>, StoreError> {
        let mut found = Vec::new();
        for entry in self.trees()?.partners.iter() {
            let partner: Partner = codec::decode(&entry?.1)?;
            if partner.status != PartnerStatus::Active {
                continue;
            }
            if let Some(endpoint) = self.get_endpoint(partner.endpoint_id)? {
                found.push((partner, endpoint));
            }
        }
        Ok(found)
    }

    /// Rewrites a partner's record (not flushed: the caller commits).
    pub fn save_partner(&self, partner: &Partner) -> Result<(), StoreError> {
        self.trees()?
            .partners
            .insert(partner.id.to_bytes(), codec::encode(partner)?)?;
        Ok(())
    }

    /// Replaces a partner's shared secret: the old one stops working at once.
    pub async fn rotate_partner_secret(
        &self,
        partner: &Partner,
        endpoint: &mut Endpoint,
        new_secret: String,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let old_key = secret_key(&endpoint.secret);
        let new_key = secret_key(&new_secret);
        endpoint.secret = new_secret;
        endpoint.updated_at_ms = now_ms;
        let endpoint_bytes = codec::encode(&*endpoint)?;
        (&self.trees()?.endpoints, &self.trees()?.partner_secrets).transaction(
            |(endpoints, secrets)| -> ConflictableTransactionResult<(), StoreError> {
                endpoints.insert(&endpoint.id.to_bytes()[..], endpoint_bytes.as_slice())?;
                secrets.remove(&old_key[..])?;
                secrets.insert(&new_key[..], &partner.id.to_bytes()[..])?;
                Ok(())
            },
        )?;
        self.reload_subscribers()?;
        self.commit().await
    }

    /// Removes a partner with its secret index and its account, and returns
    /// it; its endpoint stays for the caller to remove. Not flushed.
    pub fn remove_partner(&self, id: PartnerId) -> Result<Option<Partner>, StoreError> {
        let Some(partner) = self.get_partner(id)? else {
            return Ok(None);
        };
        if let Some(endpoint) = self.get_endpoint(partner.endpoint_id)? {
            self.trees()?
                .partner_secrets
                .remove(secret_key(&endpoint.secret))?;
            if let Some(account) = &endpoint.account_id {
                self.trees()?.accounts.remove(account.as_str().as_bytes())?;
            }
        }
        self.trees()?.partners.remove(id.to_bytes())?;
        Ok(Some(partner))
    }
}
