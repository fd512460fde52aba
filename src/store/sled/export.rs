//! Reading every record out of the embedded database, one kind at a time in
//! key order and in pages, for `hookd migrate` to copy into another
//! backend. Each page says where the next one starts, so a walk holds only
//! one page in memory however large the database is.

use std::collections::HashMap;

use super::events::{AppendedEvent, IdempotencyRecord};
use super::health::EndpointHealth;
use super::log::LoggedEvent;
use super::{codec, SledStore, StoreError};
use crate::domain::replay::ReplayJob;
use crate::domain::{Account, Attempt, Delivery, Endpoint, Event, Partner};
use crate::ids::{DeliveryId, EndpointId, EventId, PartnerId};

/// One page of a walk: its records, and the key to resume after (`None`
/// once the walk has reached the end).
pub struct ExportPage<T> {
    pub records: Vec<T>,
    pub resume: Option<Vec<u8>>,
}

/// An event with every delivery it has: its own records, the deliveries it
/// still owes without one (as readers see them: pending and due since it
/// was published, held or cancelled as their endpoint now is), and those
/// replays added.
pub struct ExportedEvent {
    pub event: Event,
    pub deliveries: Vec<Delivery>,
}

/// A partner with the SHA-256 of its endpoint's shared secret, the key its
/// bearer is found by.
pub struct ExportedPartner {
    pub partner: Partner,
    pub secret_hash: Vec<u8>,
}

/// A publish's idempotency key with the answer it was given.
pub struct ExportedIdempotency {
    pub key: String,
    pub stored_at_ms: u64,
    pub events: Vec<AppendedEvent>,
}

/// A stored key with its value.
type Entry = (sled::IVec, sled::IVec);

/// Up to `limit` raw entries of `tree` after the key `after`.
fn raw_page(
    tree: &sled::Tree,
    after: Option<&[u8]>,
    limit: usize,
) -> Result<(Vec<Entry>, Option<Vec<u8>>), StoreError> {
    let range = match after {
        Some(after) => {
            tree.range::<&[u8], _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
        }
        None => tree.iter(),
    };
    let mut entries = Vec::with_capacity(limit.min(1024));
    for entry in range.take(limit) {
        entries.push(entry?);
    }
    let resume = match entries.len() == limit {
        true => entries.last().map(|(key, _)| key.to_vec()),
        false => None,
    };
    Ok((entries, resume))
}

/// A key that must be an ID's 16 bytes.
fn id_key(key: &[u8]) -> Result<[u8; 16], StoreError> {
    <[u8; 16]>::try_from(key.get(..16).unwrap_or_default())
        .map_err(|_| StoreError::Codec(format!("a key of {} bytes", key.len())))
}

impl SledStore {
    fn decoded_page<T: serde::de::DeserializeOwned>(
        tree: &sled::Tree,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage<T>, StoreError> {
        let (entries, resume) = raw_page(tree, after, limit)?;
        let records = entries
            .iter()
            .map(|(_, value)| codec::decode(value))
            .collect::<Result<_, _>>()?;
        Ok(ExportPage { records, resume })
    }

    pub fn export_accounts(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage<Account>, StoreError> {
        Self::decoded_page(&self.trees()?.accounts, after, limit)
    }

    pub fn export_endpoints(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage<Endpoint>, StoreError> {
        Self::decoded_page(&self.trees()?.endpoints, after, limit)
    }

    pub fn export_replays(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage<ReplayJob>, StoreError> {
        Self::decoded_page(&self.trees()?.replays, after, limit)
    }

    /// Partners with their secret's hash, taken from the secret index.
    pub fn export_partners(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage<ExportedPartner>, StoreError> {
        let page: ExportPage<Partner> = Self::decoded_page(&self.trees()?.partners, after, limit)?;
        let mut hashes: HashMap<PartnerId, Vec<u8>> = HashMap::new();
        for entry in self.trees()?.partner_secrets.iter() {
            let (hash, id) = entry?;
            hashes.insert(PartnerId::from_bytes(id_key(&id)?), hash.to_vec());
        }
        let mut records = Vec::with_capacity(page.records.len());
        for partner in page.records {
            let secret_hash = match hashes.remove(&partner.id) {
                Some(hash) => hash,
                None => {
                    return Err(StoreError::Codec(format!(
                        "partner {} has no entry in the secret index",
                        partner.id
                    )))
                }
            };
            records.push(ExportedPartner {
                partner,
                secret_hash,
            });
        }
        Ok(ExportPage {
            records,
            resume: page.resume,
        })
    }

    /// Events in log order, each with every delivery it has.
    pub fn export_events(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage<ExportedEvent>, StoreError> {
        let (entries, resume) = raw_page(&self.trees()?.log, after, limit)?;
        let states = self.endpoint_states();
        let mut records = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let logged: LoggedEvent = codec::decode(&value)?;
            let id = EventId::from_bytes(id_key(&key)?);
            let deliveries = self.deliveries_of_logged(id, Some(&logged), &states)?;
            records.push(ExportedEvent {
                event: logged.event,
                deliveries,
            });
        }
        Ok(ExportPage { records, resume })
    }

    /// Every attempt, with the delivery it belongs to.
    pub fn export_attempts(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage<(DeliveryId, Attempt)>, StoreError> {
        let (entries, resume) = raw_page(&self.trees()?.attempts, after, limit)?;
        let records = entries
            .iter()
            .map(|(key, value)| Ok((DeliveryId::from_bytes(id_key(key)?), codec::decode(value)?)))
            .collect::<Result<_, StoreError>>()?;
        Ok(ExportPage { records, resume })
    }

    /// Endpoints' failure counters.
    pub fn export_health(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage<(EndpointId, EndpointHealth)>, StoreError> {
        let (entries, resume) = raw_page(&self.trees()?.health, after, limit)?;
        let records = entries
            .iter()
            .map(|(key, value)| Ok((EndpointId::from_bytes(id_key(key)?), codec::decode(value)?)))
            .collect::<Result<_, StoreError>>()?;
        Ok(ExportPage { records, resume })
    }

    pub fn export_idempotency(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage<ExportedIdempotency>, StoreError> {
        let (entries, resume) = raw_page(&self.trees()?.idempotency, after, limit)?;
        let mut records = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let record: IdempotencyRecord = codec::decode(&value)?;
            records.push(ExportedIdempotency {
                key: String::from_utf8_lossy(&key).into_owned(),
                stored_at_ms: record.stored_at_ms,
                events: record.events,
            });
        }
        Ok(ExportPage { records, resume })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeliveryStatus;
    use crate::store::testing::{endpoint, publish, temp_store};

    #[actix_web::test]
    async fn an_event_comes_with_the_deliveries_it_owes_without_a_record() {
        let (_dir, guard) = temp_store();
        let store = guard.store();
        let target = endpoint(&store).await;
        let now = crate::clock::now_ms();
        let (id, _) = publish(&store, now).await;
        let page = store.export_events(None, 10).unwrap();
        assert!(page.resume.is_none());
        assert_eq!(page.records.len(), 1);
        let exported = &page.records[0];
        assert_eq!(exported.event.id, id);
        assert_eq!(exported.deliveries.len(), 1);
        let owed = &exported.deliveries[0];
        assert!(!store.is_recorded(owed.id).unwrap());
        assert_eq!(owed.endpoint_id, target.id);
        assert_eq!(owed.status, DeliveryStatus::Pending);
        assert_eq!(owed.next_attempt_ms, Some(id.created_ms()));
    }

    #[test]
    fn a_walk_resumes_after_each_page_and_ends() {
        let (_dir, guard) = temp_store();
        let store = guard.store();
        let health = store.trees().unwrap().health.clone();
        let ids: Vec<EndpointId> = (1..=5).map(|ms| EndpointId::generate(ms * 1000)).collect();
        for id in &ids {
            store.count_failure(*id, 7).unwrap();
        }
        assert_eq!(health.len(), 5);
        let mut seen = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = store.export_health(after.as_deref(), 2).unwrap();
            seen.extend(page.records.iter().map(|(id, h)| {
                assert_eq!(h.consecutive_failures, 1);
                *id
            }));
            match page.resume {
                Some(resume) => after = Some(resume),
                None => break,
            }
        }
        assert_eq!(seen, ids);
    }
}
