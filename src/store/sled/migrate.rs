//! Moves a data directory written by the previous schema to the current
//! one at open, in one pass, so an upgrade keeps every record.
//!
//! Version 2 → 3: the `events` tree becomes the `log`, each event with the
//! endpoints it owes. An event of an older directory owes nothing from its
//! publish: all its deliveries have their records and index entries already,
//! so the dispatch cursor starts at its last event.
//!
//! Version 1 → 2: endpoints, events and replay jobs gained an account (and
//! endpoints `all_accounts`). Stored values are positional, so each record
//! is read with its old layout and written back with the new one. Every
//! partner also gets its account, and its endpoint belongs to it, as a
//! partner registered today would.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::log::LoggedEvent;
use super::{codec, SledStore, StoreError};

/// The tree schemas 1 and 2 kept events in.
const LEGACY_EVENTS: &str = "events";
use crate::domain::replay::{ReplayJob, ReplayRequest, ReplaySelection, ReplayStatus};
use crate::domain::schedule::RetrySchedule;
use crate::domain::{
    Account, DisabledReason, Endpoint, Event, Partner, PayloadFormat, SignatureStyle,
};
use crate::ids::{EndpointId, EventId, PartnerId, ReplayId};

/// An endpoint as schema 1 stored it.
#[derive(Serialize, Deserialize)]
struct EndpointV1 {
    id: EndpointId,
    url: String,
    events: Vec<String>,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_expires_ms: Option<u64>,
    active: bool,
    disabled_reason: Option<DisabledReason>,
    disabled_at_ms: Option<u64>,
    description: Option<String>,
    signature_header: String,
    signature_style: SignatureStyle,
    payload_format: PayloadFormat,
    retry_schedule: Option<RetrySchedule>,
    timeout: Option<Duration>,
    max_in_flight: Option<u32>,
    rate_limit_per_s: Option<u32>,
    debug_mode: bool,
    metadata_json: String,
    partner_id: Option<PartnerId>,
    created_at_ms: u64,
    updated_at_ms: u64,
}

/// An event as schema 1 stored it.
#[derive(Serialize, Deserialize)]
struct EventV1 {
    id: EventId,
    event_type: String,
    data_json: String,
    source: Option<String>,
    test: bool,
}

/// A replay job as schema 1 stored it.
#[derive(Serialize, Deserialize)]
struct ReplayJobV1 {
    id: ReplayId,
    selection: ReplaySelection,
    types: Option<Vec<String>>,
    endpoint_ids: Option<Vec<EndpointId>>,
    only_failed: bool,
    status: ReplayStatus,
    cursor: Option<EventId>,
    events_matched: u64,
    deliveries_scheduled: u64,
    skipped_disabled: u64,
    created_at_ms: u64,
    finished_at_ms: Option<u64>,
    error: Option<String>,
}

impl SledStore {
    /// Rewrites every schema 1 record in the schema 2 layout. Endpoints and
    /// replay jobs (few) are rewritten each in one transaction with a flag
    /// saying so, because an old layout may misread a new record: a run a
    /// crash interrupted skips what it already did. Events only gained a
    /// last field, which the old layout ignores, so rewriting one twice
    /// changes nothing.
    pub(super) fn migrate_v1_to_v2(&self) -> Result<(), StoreError> {
        let mut partners = Vec::new();
        for entry in self.trees()?.partners.iter() {
            partners.push(codec::decode::<Partner>(&entry?.1)?);
        }
        for partner in &partners {
            let account = Account {
                id: partner.account_id(),
                name: partner.name.clone(),
                metadata_json: "{}".into(),
                created_at_ms: partner.created_at_ms,
                updated_at_ms: partner.created_at_ms,
            };
            self.trees()?
                .accounts
                .insert(account.id.as_str().as_bytes(), codec::encode(&account)?)?;
        }
        self.rewrite_once(
            &self.trees()?.endpoints,
            "v2_endpoints",
            |old: EndpointV1| endpoint_v2(old, &partners),
        )?;
        self.rewrite_once(&self.trees()?.replays, "v2_replays", replay_v2)?;
        let events = self.trees()?.db.open_tree(LEGACY_EVENTS)?;
        for entry in events.iter() {
            let (key, value) = entry?;
            let old: EventV1 = codec::decode(&value)?;
            let event = Event {
                id: old.id,
                event_type: old.event_type,
                data_json: old.data_json,
                source: old.source,
                test: old.test,
                account_id: None,
            };
            events.insert(key, codec::encode(&event)?)?;
        }
        Ok(())
    }

    /// Copies every event of the schema 2 `events` tree into the `log`. A
    /// run a crash interrupted starts over: the log is cleared first, and
    /// the old tree is dropped only once the new version is recorded.
    pub(super) fn migrate_v2_to_v3(&self) -> Result<usize, StoreError> {
        let trees = self.trees()?;
        let events = trees.db.open_tree(LEGACY_EVENTS)?;
        trees.log.clear()?;
        let mut copied = 0;
        let mut last = None;
        for entry in events.iter() {
            let (key, value) = entry?;
            let event: Event = codec::decode(&value)?;
            last = Some(event.id);
            let logged = LoggedEvent {
                event,
                owed: Vec::new(),
            };
            trees.log.insert(key, codec::encode(&logged)?)?;
            copied += 1;
        }
        if let Some(last) = last {
            self.set_saved_dispatch_cursor(last)?;
        }
        Ok(copied)
    }

    /// Drops what schema 2 kept and schema 3 does not.
    pub(super) fn drop_legacy_trees(&self) -> Result<(), StoreError> {
        self.trees()?.db.drop_tree(LEGACY_EVENTS)?;
        Ok(())
    }

    /// Rewrites every record of `tree` from layout `Old` with `convert`, with
    /// the `done` flag in `meta`, in one transaction; nothing if the flag is set.
    fn rewrite_once<Old: serde::de::DeserializeOwned, New: Serialize>(
        &self,
        tree: &sled::Tree,
        done: &str,
        convert: impl Fn(Old) -> New,
    ) -> Result<(), StoreError> {
        if self.trees()?.meta.get(done)?.is_some() {
            return Ok(());
        }
        let mut rewritten = Vec::new();
        for entry in tree.iter() {
            let (key, value) = entry?;
            rewritten.push((key, codec::encode(&convert(codec::decode(&value)?))?));
        }
        (tree, &self.trees()?.meta).transaction(|(tree, meta)| {
            for (key, value) in &rewritten {
                tree.insert(key, value.as_slice())?;
            }
            meta.insert(done, &[1u8])?;
            Ok::<(), ConflictableTransactionError<StoreError>>(())
        })?;
        Ok(())
    }
}

fn endpoint_v2(old: EndpointV1, partners: &[Partner]) -> Endpoint {
    let mut endpoint = Endpoint::new(old.url, old.events, old.secret, old.created_at_ms);
    endpoint.id = old.id;
    endpoint.previous_secret = old.previous_secret;
    endpoint.previous_secret_expires_ms = old.previous_secret_expires_ms;
    endpoint.active = old.active;
    endpoint.disabled_reason = old.disabled_reason;
    endpoint.disabled_at_ms = old.disabled_at_ms;
    endpoint.description = old.description;
    endpoint.signature_header = old.signature_header;
    endpoint.signature_style = old.signature_style;
    endpoint.payload_format = old.payload_format;
    endpoint.retry_schedule = old.retry_schedule;
    endpoint.timeout = old.timeout;
    endpoint.max_in_flight = old.max_in_flight;
    endpoint.rate_limit_per_s = old.rate_limit_per_s;
    endpoint.debug_mode = old.debug_mode;
    endpoint.metadata_json = old.metadata_json;
    endpoint.partner_id = old.partner_id;
    endpoint.account_id = partners
        .iter()
        .find(|p| Some(p.id) == old.partner_id)
        .map(Partner::account_id);
    endpoint.updated_at_ms = old.updated_at_ms;
    endpoint
}

fn replay_v2(old: ReplayJobV1) -> ReplayJob {
    ReplayJob {
        id: old.id,
        request: ReplayRequest {
            selection: old.selection,
            types: old.types,
            endpoint_ids: old.endpoint_ids,
            only_failed: old.only_failed,
            account_id: None,
        },
        status: old.status,
        cursor: old.cursor,
        events_matched: old.events_matched,
        deliveries_scheduled: old.deliveries_scheduled,
        skipped_disabled: old.skipped_disabled,
        created_at_ms: old.created_at_ms,
        finished_at_ms: old.finished_at_ms,
        error: old.error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;
    use crate::store::SledGuard;

    /// Opens the store as a start would. Closing the previous guard stopped
    /// every thread of ours, but sled's own IO pool can hold the directory's
    /// lock for a moment after its last handle drops.
    fn open(path: &std::path::Path) -> SledGuard {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match SledGuard::open_at(path, 1 << 24, Durability::Flush) {
                Ok(guard) => return guard,
                Err(error) if std::time::Instant::now() > deadline => panic!("{error}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    #[test]
    fn a_schema_1_directory_opens_with_every_record_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let partner_id = PartnerId::generate(1);
        let endpoint_id = EndpointId::generate(1);
        let event_id = EventId::generate(1);
        {
            // A fresh store, made to look like one schema 1 wrote.
            let guard = SledGuard::open_at(&path, 1 << 24, Durability::Flush).unwrap();
            let store = guard.store();
            store
                .trees()
                .unwrap()
                .meta
                .insert("schema_version", &1u32.to_be_bytes())
                .unwrap();
            let partner = Partner {
                id: partner_id,
                name: "Andes".into(),
                endpoint_id,
                status: crate::domain::PartnerStatus::Active,
                created_at_ms: 1,
            };
            let endpoint = EndpointV1 {
                id: endpoint_id,
                url: "https://p.example/hook".into(),
                events: vec!["a.*".into()],
                secret: "s".repeat(20),
                previous_secret: None,
                previous_secret_expires_ms: None,
                active: true,
                disabled_reason: None,
                disabled_at_ms: None,
                description: Some("kept".into()),
                signature_header: "X-Sig".into(),
                signature_style: SignatureStyle::Hex,
                payload_format: PayloadFormat::Flat,
                retry_schedule: None,
                timeout: Some(Duration::from_secs(5)),
                max_in_flight: Some(3),
                rate_limit_per_s: None,
                debug_mode: true,
                metadata_json: "{}".into(),
                partner_id: Some(partner_id),
                created_at_ms: 1,
                updated_at_ms: 2,
            };
            let event = EventV1 {
                id: event_id,
                event_type: "a.b".into(),
                data_json: "{}".into(),
                source: Some("partner:x".into()),
                test: false,
            };
            let put = |tree: &sled::Tree, key: &[u8], value: Vec<u8>| {
                tree.insert(key, value).unwrap();
            };
            put(
                &store.trees().unwrap().partners,
                &partner_id.to_bytes(),
                codec::encode(&partner).unwrap(),
            );
            put(
                &store.trees().unwrap().endpoints,
                &endpoint_id.to_bytes(),
                codec::encode(&endpoint).unwrap(),
            );
            put(
                &store.trees().unwrap().db.open_tree(LEGACY_EVENTS).unwrap(),
                &event_id.to_bytes(),
                codec::encode(&event).unwrap(),
            );
            drop(store);
            guard.close().unwrap();
        }
        for _ in 0..2 {
            let guard = open(&path);
            let store = guard.store();
            let endpoint = store.get_endpoint(endpoint_id).unwrap().unwrap();
            assert_eq!(endpoint.description.as_deref(), Some("kept"));
            assert_eq!(endpoint.max_in_flight, Some(3));
            assert_eq!(endpoint.updated_at_ms, 2);
            let account = endpoint.account_id.clone().unwrap();
            assert_eq!(account.as_str(), partner_id.to_string());
            assert_eq!(store.get_account(&account).unwrap().unwrap().name, "Andes");
            let event = store.get_event(event_id).unwrap().unwrap();
            assert_eq!(
                (event.source.as_deref(), event.account_id),
                (Some("partner:x"), None)
            );
            guard.close().unwrap();
        }
    }
}
