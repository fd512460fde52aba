//! The records every backend keeps: accounts, endpoints, events,
//! deliveries and their attempts, endpoint health, partners, replay jobs,
//! and retention. Each call goes to the open backend; the embedded one
//! runs the calls that scan (searches, log pages, retention, replay steps)
//! on the blocking pool.

use super::{
    AppendOutcome, DeliveryPage, DeliverySearch, EndpointHealth, EventQuery, EventReads, NewEvent,
    PurgeOutcome, ReplayBatch, SearchPage, Store, StoreError,
};
use crate::domain::replay::ReplayJob;
use crate::domain::{
    Account, AccountId, Attempt, Delivery, DeliveryStatus, Endpoint, Event, Partner,
};
use crate::ids::{DeliveryId, EndpointId, EventId, PartnerId, ReplayId};

/// Accounts.
impl Store {
    /// Stores a new account durably; false if its ID is taken.
    pub async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        match self {
            Store::Sled(s) => s.create_account(account).await,
            Store::Postgres(p) => Ok(p.create_account(account).await?),
        }
    }

    pub async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        match self {
            Store::Sled(s) => s.get_account(id),
            Store::Postgres(p) => Ok(p.get_account(id).await?),
        }
    }

    /// Accounts in ID order, after `after`.
    pub async fn list_accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StoreError> {
        match self {
            Store::Sled(s) => s.list_accounts(after, limit),
            Store::Postgres(p) => Ok(p.list_accounts(after, limit).await?),
        }
    }

    pub async fn save_account(&self, account: &Account) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.save_account(account).await,
            Store::Postgres(p) => Ok(p.save_account(account).await?),
        }
    }

    /// False when there was no such account.
    pub async fn delete_account(&self, id: &AccountId) -> Result<bool, StoreError> {
        match self {
            Store::Sled(s) => s.delete_account(id).await,
            Store::Postgres(p) => Ok(p.delete_account(id).await?),
        }
    }
}

/// Endpoints and what happens to their deliveries as a whole.
impl Store {
    pub async fn get_endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>, StoreError> {
        match self {
            Store::Sled(s) => s.get_endpoint(id),
            Store::Postgres(p) => Ok(p.get_endpoint(id).await?),
        }
    }

    /// Endpoints in creation order, after `after`.
    pub async fn list_endpoints(
        &self,
        after: Option<EndpointId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>, StoreError> {
        match self {
            Store::Sled(s) => s.list_endpoints(after, limit),
            Store::Postgres(p) => Ok(p.list_endpoints(None, after, limit).await?),
        }
    }

    /// Up to `limit` endpoints of `account` in creation order, after `after`.
    pub async fn list_account_endpoints(
        &self,
        account: &AccountId,
        after: Option<EndpointId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>, StoreError> {
        match self {
            Store::Sled(s) => s.list_account_endpoints(account, after, limit),
            Store::Postgres(p) => Ok(p.list_endpoints(Some(account), after, limit).await?),
        }
    }

    /// Inserts or replaces an endpoint, durably.
    pub async fn save_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.save_endpoint(endpoint).await,
            Store::Postgres(p) => {
                p.save_endpoint(endpoint).await?;
                Ok(p.reload_subscribers().await?)
            }
        }
    }

    /// Removes an endpoint (not flushed); false if there was none. Its
    /// deliveries stay as they are.
    pub async fn remove_endpoint(&self, id: EndpointId) -> Result<bool, StoreError> {
        match self {
            Store::Sled(s) => s.remove_endpoint(id),
            Store::Postgres(p) => Ok(p.remove_endpoint(id).await?),
        }
    }

    /// Rewrites each open (pending or held) recorded delivery of `endpoint`
    /// that `change` gives a new state (not flushed); returns how many
    /// changed. Every backend offers `change` the open ones only.
    pub async fn update_deliveries_of(
        &self,
        endpoint: EndpointId,
        change: impl Fn(&Delivery) -> Option<Delivery>,
    ) -> Result<usize, StoreError> {
        match self {
            Store::Sled(s) => s.update_deliveries_of(endpoint, change),
            Store::Postgres(p) => Ok(p.update_deliveries_of(endpoint, change).await?),
        }
    }

    /// Gives each delivery still owed to `endpoint` without a record (read
    /// as pending) the record `change` returns for it (not flushed).
    pub async fn settle_owed_of(
        &self,
        endpoint: EndpointId,
        change: impl Fn(&Delivery) -> Option<Delivery>,
    ) -> Result<usize, StoreError> {
        match self {
            Store::Sled(s) => s.settle_owed_of(endpoint, change),
            Store::Postgres(_) => Ok(0),
        }
    }
}

/// The event log.
impl Store {
    /// Appends events with what they owe and waits until they are durable.
    /// A repeat of `idempotency_key` younger than `window_ms` returns the
    /// first answer and stores nothing.
    pub async fn append_events(
        &self,
        batch: Vec<NewEvent>,
        idempotency_key: Option<&str>,
        window_ms: u64,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError> {
        match self {
            Store::Sled(s) => {
                s.append_events(batch, idempotency_key, window_ms, now_ms)
                    .await
            }
            Store::Postgres(p) => {
                let outcome = p
                    .append_events(batch, idempotency_key, window_ms, now_ms)
                    .await?;
                p.wheel_changed().notify_one();
                Ok(outcome)
            }
        }
    }

    /// One page of the log in ID order; never skips an event still being
    /// written.
    pub async fn query_events(&self, query: EventQuery) -> Result<Vec<Event>, StoreError> {
        match self {
            Store::Sled(s) => s.blocking(move |s| s.query_events(&query)).await,
            Store::Postgres(p) => Ok(p.query_events(&query).await?),
        }
    }

    pub async fn get_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        match self {
            Store::Sled(s) => s.get_event(id),
            Store::Postgres(p) => Ok(p.get_event(id).await?),
        }
    }

    /// The events of `ids` that exist, read together (one round trip on a
    /// shared database). A record that cannot be decoded is its reason, and
    /// spoils only its own entry.
    pub async fn get_events(&self, ids: &[EventId]) -> Result<EventReads, StoreError> {
        if ids.is_empty() {
            return Ok(EventReads::new());
        }
        match self {
            Store::Sled(s) => {
                let mut read = EventReads::with_capacity(ids.len());
                for &id in ids {
                    let event = match s.get_event(id) {
                        Ok(Some(event)) => Ok(event),
                        Ok(None) => continue,
                        Err(StoreError::Codec(reason)) => Err(reason),
                        Err(error) => return Err(error),
                    };
                    read.insert(id, event);
                }
                Ok(read)
            }
            Store::Postgres(p) => Ok(p.get_events(ids).await?.into_iter().collect()),
        }
    }
}

/// Deliveries and their attempts.
impl Store {
    pub async fn get_delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        match self {
            Store::Sled(s) => s.get_delivery(id),
            Store::Postgres(p) => Ok(p.get_delivery(id).await?),
        }
    }

    pub async fn attempts_of(&self, id: DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        match self {
            Store::Sled(s) => s.attempts_of(id),
            Store::Postgres(p) => Ok(p.attempts_of(id).await?),
        }
    }

    /// Every delivery of an event, its publish's first, then replays'.
    pub async fn deliveries_of_event(&self, event: EventId) -> Result<Vec<Delivery>, StoreError> {
        match self {
            Store::Sled(s) => s.deliveries_of_event(event),
            Store::Postgres(p) => Ok(p.deliveries_of_event(event).await?),
        }
    }

    /// An endpoint's deliveries, newest first, optionally of one status.
    pub async fn deliveries_of_endpoint(
        &self,
        endpoint: EndpointId,
        status: Option<DeliveryStatus>,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError> {
        match self {
            Store::Sled(s) => s.deliveries_of_endpoint(endpoint, status, before, limit),
            Store::Postgres(p) => Ok(p
                .deliveries_of_endpoint(endpoint, status, before, limit)
                .await?),
        }
    }

    /// Deliveries by status, endpoint, event type and time.
    pub async fn search_deliveries(&self, query: DeliverySearch) -> Result<SearchPage, StoreError> {
        match self {
            Store::Sled(s) => s.blocking(move |s| s.search_deliveries(&query)).await,
            Store::Postgres(p) => Ok(p.search_deliveries(&query).await?),
        }
    }

    /// Puts a delivery back on the wheel due now, for one more attempt.
    /// Returns the delivery as it was, or `None` if unknown.
    pub async fn retry_now(
        &self,
        id: DeliveryId,
        now_ms: u64,
    ) -> Result<Option<Delivery>, StoreError> {
        match self {
            Store::Sled(s) => s.retry_now(id, now_ms).await,
            Store::Postgres(p) => Ok(p.retry_now(id, now_ms).await?),
        }
    }
}

/// Endpoint health, for switching off endpoints that keep failing.
impl Store {
    pub async fn endpoint_health(&self, id: EndpointId) -> Result<EndpointHealth, StoreError> {
        match self {
            Store::Sled(s) => s.endpoint_health(id),
            Store::Postgres(p) => Ok(p.endpoint_health(id).await?),
        }
    }

    pub async fn reset_health(&self, id: EndpointId) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.reset_health(id),
            Store::Postgres(p) => Ok(p.reset_health(id).await?),
        }
    }
}

/// Partners.
impl Store {
    /// Stores a new partner, its account, its endpoint and its secret index
    /// at once, durably.
    pub async fn create_partner(
        &self,
        partner: &Partner,
        account: &Account,
        endpoint: &Endpoint,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.create_partner(partner, account, endpoint).await,
            Store::Postgres(p) => {
                p.create_partner(partner, account, endpoint).await?;
                Ok(p.reload_subscribers().await?)
            }
        }
    }

    pub async fn get_partner(&self, id: PartnerId) -> Result<Option<Partner>, StoreError> {
        match self {
            Store::Sled(s) => s.get_partner(id),
            Store::Postgres(p) => Ok(p.get_partner(id).await?),
        }
    }

    pub async fn partner_with_endpoint(
        &self,
        id: PartnerId,
    ) -> Result<Option<(Partner, Endpoint)>, StoreError> {
        match self {
            Store::Sled(s) => s.partner_with_endpoint(id),
            Store::Postgres(p) => Ok(p.partner_with_endpoint(id).await?),
        }
    }

    pub async fn list_partners(
        &self,
        after: Option<PartnerId>,
        limit: usize,
    ) -> Result<Vec<Partner>, StoreError> {
        match self {
            Store::Sled(s) => s.list_partners(after, limit),
            Store::Postgres(p) => Ok(p.list_partners(after, limit).await?),
        }
    }

    /// The partner whose shared secret this is, compared in constant time.
    pub async fn partner_by_secret(
        &self,
        secret: &str,
    ) -> Result<Option<(Partner, Endpoint)>, StoreError> {
        match self {
            Store::Sled(s) => s.partner_by_secret(secret),
            Store::Postgres(p) => Ok(p.partner_by_secret(secret).await?),
        }
    }

    pub async fn active_partners(&self) -> Result<Vec<(Partner, Endpoint)>, StoreError> {
        match self {
            Store::Sled(s) => s.active_partners(),
            Store::Postgres(p) => Ok(p.active_partners().await?),
        }
    }

    /// Rewrites a partner's record (not flushed).
    pub async fn save_partner(&self, partner: &Partner) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.save_partner(partner),
            Store::Postgres(p) => {
                p.save_partner(partner).await?;
                Ok(())
            }
        }
    }

    /// Replaces a partner's shared secret: the old one stops working at once.
    pub async fn rotate_partner_secret(
        &self,
        partner: &Partner,
        endpoint: &mut Endpoint,
        new_secret: String,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => {
                s.rotate_partner_secret(partner, endpoint, new_secret, now_ms)
                    .await
            }
            Store::Postgres(p) => {
                endpoint.secret = new_secret;
                endpoint.updated_at_ms = now_ms;
                p.rotate_partner_secret(partner, endpoint).await?;
                Ok(p.reload_subscribers().await?)
            }
        }
    }

    /// Removes a partner with its secret index and its account (not
    /// flushed) and returns it; its endpoint stays.
    pub async fn remove_partner(&self, id: PartnerId) -> Result<Option<Partner>, StoreError> {
        match self {
            Store::Sled(s) => s.remove_partner(id),
            Store::Postgres(p) => Ok(p.remove_partner(id).await?),
        }
    }
}

/// Replay jobs.
impl Store {
    /// Stores a new job durably.
    pub async fn create_replay(&self, job: &ReplayJob) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.create_replay(job).await,
            Store::Postgres(p) => Ok(p.create_replay(job).await?),
        }
    }

    pub async fn get_replay(&self, id: ReplayId) -> Result<Option<ReplayJob>, StoreError> {
        match self {
            Store::Sled(s) => s.get_replay(id),
            Store::Postgres(p) => Ok(p.get_replay(id).await?),
        }
    }

    /// One page of jobs, newest first, before `before` when given.
    pub async fn list_replays(
        &self,
        before: Option<ReplayId>,
        limit: usize,
    ) -> Result<Vec<ReplayJob>, StoreError> {
        match self {
            Store::Sled(s) => s.list_replays(before, limit),
            Store::Postgres(p) => Ok(p.list_replays(before, limit).await?),
        }
    }

    /// Jobs still running, for resumption at start-up.
    pub async fn running_replays(&self) -> Result<Vec<ReplayJob>, StoreError> {
        match self {
            Store::Sled(s) => s.running_replays(),
            Store::Postgres(p) => Ok(p.running_replays().await?),
        }
    }

    /// Ends a job as failed, keeping its counts.
    pub async fn fail_replay(
        &self,
        id: ReplayId,
        error: String,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.fail_replay(id, error, now_ms).await,
            Store::Postgres(p) => Ok(p.fail_replay(id, error, now_ms).await?),
        }
    }

    /// One step of a running job: reads the batch after its cursor (with
    /// each event's deliveries when the job re-sends failed ones only), asks
    /// `select` for the job after it and the deliveries it schedules, and
    /// writes both at once, durably. Returns the job as it now stands.
    pub async fn replay_step(
        &self,
        id: ReplayId,
        batch_size: usize,
        select: impl FnOnce(&ReplayJob, &ReplayBatch) -> Result<(ReplayJob, Vec<Delivery>), StoreError>
            + Send
            + 'static,
    ) -> Result<Option<ReplayJob>, StoreError> {
        match self {
            Store::Sled(s) => {
                let job = s
                    .blocking(move |s| s.replay_step(id, batch_size, select))
                    .await?;
                s.commit().await?;
                Ok(job)
            }
            Store::Postgres(p) => p.replay_step(id, batch_size, select).await,
        }
    }
}

/// Retention.
impl Store {
    /// Removes up to `limit` events created before `before_ms`, starting
    /// after `after`, each with its finished and held deliveries; events
    /// with deliveries still to attempt stay.
    pub async fn purge_events(
        &self,
        after: Option<EventId>,
        before_ms: u64,
        limit: usize,
    ) -> Result<PurgeOutcome, StoreError> {
        match self {
            Store::Sled(s) => {
                s.blocking(move |s| s.purge_events(after, before_ms, limit))
                    .await
            }
            Store::Postgres(p) => {
                // Whole days at once: the log is partitioned by day.
                let outcome = p.drop_partitions_before(before_ms).await?;
                Ok(PurgeOutcome {
                    removed: usize::try_from(outcome.events_removed).unwrap_or(usize::MAX),
                    kept: outcome.partitions_kept,
                    next: None,
                })
            }
        }
    }

    /// Forgets idempotency keys stored before `before_ms`.
    pub async fn expire_idempotency(&self, before_ms: u64) -> Result<usize, StoreError> {
        match self {
            Store::Sled(s) => s.blocking(move |s| s.expire_idempotency(before_ms)).await,
            Store::Postgres(p) => {
                Ok(usize::try_from(p.expire_idempotency(before_ms).await?).unwrap_or(usize::MAX))
            }
        }
    }
}
