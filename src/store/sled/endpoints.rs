//! Endpoints: stored records plus the in-memory list of subscribers that
//! publishing fans out to (disabled ones included: their deliveries are held).

use std::sync::Arc;

use super::owed::OwedWalk;
use super::{codec, keys, SledStore, StoreError, Subscriber};
use crate::domain::filter::EventFilter;
use crate::domain::{AccountId, Delivery, DeliveryStatus, Endpoint};
use crate::ids::{DeliveryId, EndpointId};

impl SledStore {
    pub fn get_endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>, StoreError> {
        codec::read(&self.trees()?.endpoints, &id.to_bytes())
    }

    /// Endpoints in creation order, starting after `after`.
    pub fn list_endpoints(
        &self,
        after: Option<EndpointId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>, StoreError> {
        codec::page(
            &self.trees()?.endpoints,
            after.map(|id| id.to_bytes()),
            limit,
        )
    }

    /// Up to `limit` endpoints of `account` in creation order, after `after`.
    pub fn list_account_endpoints(
        &self,
        account: &AccountId,
        after: Option<EndpointId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>, StoreError> {
        let start = after.map(keys::after).unwrap_or_default();
        let mut page = Vec::new();
        for entry in self.trees()?.endpoints.range(start..) {
            if page.len() >= limit {
                break;
            }
            let endpoint: Endpoint = codec::decode(&entry?.1)?;
            if endpoint.account_id.as_ref() == Some(account) {
                page.push(endpoint);
            }
        }
        Ok(page)
    }

    /// Inserts or replaces an endpoint, durably.
    pub async fn save_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        self.trees()?
            .endpoints
            .insert(endpoint.id.to_bytes(), codec::encode(endpoint)?)?;
        self.reload_subscribers()?;
        self.commit().await
    }

    /// Removes an endpoint; false if there was none. Its deliveries stay as
    /// they are: `service/endpoints.rs` decides what becomes of them.
    pub fn remove_endpoint(&self, id: EndpointId) -> Result<bool, StoreError> {
        if self.trees()?.endpoints.remove(id.to_bytes())?.is_none() {
            return Ok(false);
        }
        self.reload_subscribers()?;
        Ok(true)
    }

    /// Rewrites each open (pending or held) recorded delivery of `endpoint`
    /// that `change` returns a new state for, keeping its wheel entry in
    /// step with its `next_attempt_ms`. Returns how many changed.
    pub fn update_deliveries_of(
        &self,
        endpoint: EndpointId,
        change: impl Fn(&Delivery) -> Option<Delivery>,
    ) -> Result<usize, StoreError> {
        let mut changed = 0;
        for entry in self
            .trees()?
            .endpoint_deliveries
            .scan_prefix(endpoint.to_bytes())
        {
            let (key, _) = entry?;
            let Some(id) = keys::pair_second(&key) else {
                continue;
            };
            let Some(delivery) = self.get_delivery(id)? else {
                continue;
            };
            let open = matches!(
                delivery.status,
                DeliveryStatus::Pending | DeliveryStatus::Held
            );
            if !open {
                continue;
            }
            let Some(updated) = change(&delivery) else {
                continue;
            };
            if let Some(due) = delivery.next_attempt_ms {
                self.trees()?.wheel.remove(keys::wheel(due, id))?;
            }
            self.put_delivery(delivery.status, &updated)?;
            // The record first: the dispatcher may claim the entry at once
            // and must find the delivery as it is now.
            if let Some(due) = updated.next_attempt_ms {
                self.trees()?
                    .wheel
                    .insert(keys::wheel(due, id), &endpoint.to_bytes())?;
            }
            changed += 1;
        }
        Ok(changed)
    }

    /// Gives each delivery still owed to `endpoint` without a record (read
    /// as pending) the record `change` returns for it, as if it had been on
    /// the wheel. Returns how many were recorded.
    pub fn settle_owed_of(
        &self,
        endpoint: EndpointId,
        change: impl Fn(&Delivery) -> Option<Delivery>,
    ) -> Result<usize, StoreError> {
        let mut settled = 0;
        let everything = (DeliveryId::from_u128(0), DeliveryId::from_u128(u128::MAX));
        for owed in OwedWalk::new(self, everything.0, everything.1)? {
            let owed = owed?;
            if owed.endpoint != endpoint || owed.recorded {
                continue;
            }
            let mut delivery = owed.delivery;
            delivery.status = DeliveryStatus::Pending;
            let Some(settled_as) = change(&delivery) else {
                continue;
            };
            if self.record_owed(&settled_as, &owed.event_type)? {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Every endpoint, active or disabled, as of the last endpoint write.
    pub fn subscribers(&self) -> Arc<Vec<Subscriber>> {
        match self.subscribers.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub(super) fn reload_subscribers(&self) -> Result<(), StoreError> {
        // Held across the scan so two concurrent endpoint writes cannot
        // install their snapshots in the wrong order.
        let mut guard = match self.subscribers.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut all = Vec::new();
        let mut disabled = 0;
        for entry in self.trees()?.endpoints.iter() {
            let endpoint: Endpoint = codec::decode(&entry?.1)?;
            if !endpoint.active {
                disabled += 1;
            }
            // A stored filter was validated on the way in; one that no longer
            // parses (a rule tightened since) simply matches nothing.
            if let Ok(filter) = EventFilter::parse(&endpoint.events) {
                all.push(Subscriber { endpoint, filter });
            }
        }
        *guard = Arc::new(all);
        self.disabled_endpoints
            .store(disabled, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
