//! Endpoints: stored records plus the in-memory list of subscribers that
//! publishing fans out to (disabled ones included: their deliveries are held).

use std::sync::Arc;

use super::owed::OwedWalk;
use super::{codec, keys, Store, StoreError, Subscriber};
use crate::domain::filter::EventFilter;
use crate::domain::{AccountId, DeliveryStatus, DisabledReason, Endpoint};
use crate::ids::{DeliveryId, EndpointId};

impl Store {
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

    /// Removes an endpoint and cancels what it was still owed.
    pub async fn delete_endpoint(&self, id: EndpointId) -> Result<bool, StoreError> {
        if self.trees()?.endpoints.remove(id.to_bytes())?.is_none() {
            return Ok(false);
        }
        self.reload_subscribers()?;
        self.set_open_deliveries(id, DeliveryStatus::Cancelled, 0)?;
        self.commit().await?;
        Ok(true)
    }

    /// Switches an endpoint off: its open deliveries are held, not dropped.
    pub async fn disable_endpoint(
        &self,
        endpoint: &mut Endpoint,
        reason: DisabledReason,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        endpoint.active = false;
        endpoint.disabled_reason = Some(reason);
        endpoint.disabled_at_ms = Some(now_ms);
        endpoint.updated_at_ms = now_ms;
        self.save_endpoint(endpoint).await?;
        self.set_open_deliveries(endpoint.id, DeliveryStatus::Held, now_ms)?;
        self.commit().await
    }

    /// Switches an endpoint back on; its held deliveries become due now.
    pub async fn enable_endpoint(
        &self,
        endpoint: &mut Endpoint,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        endpoint.active = true;
        endpoint.disabled_reason = None;
        endpoint.disabled_at_ms = None;
        endpoint.updated_at_ms = now_ms;
        self.reset_health(endpoint.id)?;
        self.save_endpoint(endpoint).await?;
        self.set_open_deliveries(endpoint.id, DeliveryStatus::Pending, now_ms)?;
        self.commit().await?;
        self.wheel_changed.notify_one();
        Ok(())
    }

    /// Moves every open (pending or held) delivery of an endpoint to `status`:
    /// `Held` takes them off the wheel, `Pending` puts them back due at
    /// `due_ms`, `Cancelled` ends them.
    pub fn set_open_deliveries(
        &self,
        endpoint: EndpointId,
        status: DeliveryStatus,
        due_ms: u64,
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
            let Some(mut delivery) = self.get_delivery(id)? else {
                continue;
            };
            let open = matches!(
                delivery.status,
                DeliveryStatus::Pending | DeliveryStatus::Held
            );
            if !open || delivery.status == status {
                continue;
            }
            if let Some(due) = delivery.next_attempt_ms.take() {
                self.trees()?.wheel.remove(keys::wheel(due, id))?;
            }
            let resumed = status == DeliveryStatus::Pending;
            if resumed {
                delivery.next_attempt_ms = Some(due_ms);
            }
            let before = delivery.status;
            delivery.status = status;
            self.put_delivery(before, &delivery)?;
            // The record first: the dispatcher may claim the entry at once
            // and must find the delivery pending.
            if resumed {
                self.trees()?
                    .wheel
                    .insert(keys::wheel(due_ms, id), &endpoint.to_bytes())?;
            }
            changed += 1;
        }
        if status != DeliveryStatus::Pending {
            changed += self.settle_owed_of(endpoint, status)?;
        }
        Ok(changed)
    }

    /// Gives every delivery still owed to `endpoint` without a record the
    /// record `status` (held or cancelled), as if it had been on the wheel:
    /// so resuming the endpoint sends it again at once even if an attempt
    /// of it is hanging (that attempt, if it succeeds, still counts).
    fn settle_owed_of(
        &self,
        endpoint: EndpointId,
        status: DeliveryStatus,
    ) -> Result<usize, StoreError> {
        let mut settled = 0;
        let everything = (DeliveryId::from_u128(0), DeliveryId::from_u128(u128::MAX));
        for owed in OwedWalk::new(self, everything.0, everything.1)? {
            let owed = owed?;
            if owed.endpoint != endpoint {
                continue;
            }
            let mut delivery = owed.delivery;
            delivery.status = status;
            delivery.next_attempt_ms = None;
            if self.record_owed(&delivery, &owed.event_type)? {
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
