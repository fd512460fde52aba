//! The delivery feed: what the dispatcher draws work from and reports back
//! to. Due entries are claimed before an attempt and the claim ends with
//! the attempt's record; deliveries a new event owes are read from the log
//! and get their record the first time something happens to them (up to
//! the dispatch cursor, every owed delivery has one).

use std::collections::{HashMap, HashSet};

use super::{Claim, EndpointHealth, LoggedEvent, Store, StoreError, WheelEntry};
use crate::domain::{Attempt, Delivery, DeliveryStatus};
use crate::ids::{DeliveryId, EndpointId, EventId};

/// What claiming a due entry got.
#[derive(Debug)]
pub enum Claimed {
    /// Nothing: the entry is gone (cancelled, held or claimed meanwhile).
    Missed,
    /// The claim; with the delivery, unless it no longer exists.
    Taken(Option<Delivery>),
}

impl Store {
    /// Returns every claim a stopped process left to the wheel, due at
    /// `now_ms`. Called once at start-up.
    pub async fn requeue_claimed(&self, now_ms: u64) -> Result<usize, StoreError> {
        match self {
            Store::Sled(s) => s.requeue_claimed(now_ms),
            Store::Postgres(_) => Ok(0),
        }
    }

    /// Up to `limit` entries due at or before `now_ms`, earliest first,
    /// after `after` (the last entry of the previous page).
    pub async fn due_entries(
        &self,
        now_ms: u64,
        after: Option<&WheelEntry>,
        limit: usize,
    ) -> Result<Vec<WheelEntry>, StoreError> {
        match self {
            Store::Sled(s) => s.due_page(now_ms, after, limit),
            Store::Postgres(p) => Ok(p.due_page(now_ms, after, limit).await?),
        }
    }

    /// When the earliest entry due strictly after `now_ms` is due, if any.
    pub async fn next_due_after(&self, now_ms: u64) -> Result<Option<u64>, StoreError> {
        match self {
            Store::Sled(s) => s.next_due_after(now_ms),
            Store::Postgres(p) => Ok(p.next_due_after(now_ms).await?),
        }
    }

    /// Claims one due entry for an attempt, with its delivery as it stands
    /// once claimed.
    pub async fn claim(&self, entry: &WheelEntry) -> Result<Claimed, StoreError> {
        match self {
            Store::Sled(s) => {
                if !s.claim(entry.due_ms, entry.delivery)? {
                    return Ok(Claimed::Missed);
                }
                Ok(Claimed::Taken(s.get_delivery(entry.delivery)?))
            }
            Store::Postgres(p) => Ok(match p.claim(entry, crate::clock::now_ms()).await? {
                Some(delivery) => Claimed::Taken(Some(delivery)),
                None => Claimed::Missed,
            }),
        }
    }

    /// Ends a claim without an attempt: the delivery becomes `status` if it
    /// is still pending (its endpoint was disabled or deleted).
    pub async fn release_claim(
        &self,
        id: DeliveryId,
        status: DeliveryStatus,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.release_claim(id, status),
            Store::Postgres(p) => Ok(p.release_claim(id, status).await?),
        }
    }

    /// How often the dispatcher reports the claims it holds through
    /// [`Store::requeue_stranded_claims`]: every `default_ms`, or more often
    /// where a backend's claims are leases that must be renewed.
    pub fn claim_sweep_ms(&self, default_ms: u64) -> u64 {
        match self {
            Store::Sled(_) => default_ms,
            Store::Postgres(p) => p.renew_claims_every_ms().min(default_ms),
        }
    }

    /// Claims due entries for attempts, in one round trip on a shared
    /// database; answers in the entries' order.
    pub async fn claim_all(&self, entries: &[WheelEntry]) -> Result<Vec<Claimed>, StoreError> {
        // A page whose entries were all passed over costs no round trip.
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Store::Sled(_) => {
                let mut claims = Vec::with_capacity(entries.len());
                for entry in entries {
                    claims.push(self.claim(entry).await?);
                }
                Ok(claims)
            }
            Store::Postgres(p) => {
                let mut got: HashMap<DeliveryId, Delivery> = p
                    .claim_all(entries, crate::clock::now_ms())
                    .await?
                    .into_iter()
                    .map(|delivery| (delivery.id, delivery))
                    .collect();
                Ok(entries
                    .iter()
                    .map(|entry| match got.remove(&entry.delivery) {
                        Some(delivery) => Claimed::Taken(Some(delivery)),
                        None => Claimed::Missed,
                    })
                    .collect())
            }
        }
    }

    /// Returns to the wheel every claim not in `held` (claims the
    /// dispatcher holds, as (delivery, claim token)): an attempt that could
    /// not be started or recorded left it behind.
    pub async fn requeue_stranded_claims(
        &self,
        held: &HashSet<(DeliveryId, u64)>,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        match self {
            Store::Sled(s) => {
                s.requeue_stranded_claims(|id, token| held.contains(&(id, token)), now_ms)
            }
            Store::Postgres(p) => {
                let held: Vec<DeliveryId> = held.iter().map(|(id, _)| *id).collect();
                Ok(p.renew_claims(&held, now_ms).await?)
            }
        }
    }

    /// Records a finished attempt of `job` (the delivery as it was claimed)
    /// and rewrites the delivery as `next` makes it from the stored one,
    /// ending the claim. With `clear_health`, the endpoint's failure
    /// counters are cleared by the same write where the backend can (one
    /// round trip fewer on a shared database). Not flushed: a lost record
    /// means the attempt is made again.
    pub async fn record_attempt(
        &self,
        job: &Delivery,
        claim: Claim,
        event_type: &str,
        attempt: &Attempt,
        next: impl Fn(Delivery) -> Delivery,
        clear_health: bool,
    ) -> Result<Option<Delivery>, StoreError> {
        match self {
            Store::Sled(s) => {
                let recorded = s.record_attempt(job, claim, event_type, attempt, next)?;
                if clear_health {
                    s.reset_health(job.endpoint_id)?;
                }
                Ok(recorded)
            }
            Store::Postgres(p) => Ok(p.record_attempt(job, attempt, next, clear_health).await?),
        }
    }

    /// Counts a failed attempt toward its endpoint's health and returns the
    /// counters after it.
    pub async fn count_failure(
        &self,
        id: EndpointId,
        now_ms: u64,
    ) -> Result<EndpointHealth, StoreError> {
        match self {
            Store::Sled(s) => s.count_failure(id, now_ms),
            Store::Postgres(p) => Ok(p.count_failure(id, now_ms).await?),
        }
    }

    /// Up to `limit` events after `after` in log order, with what they owe.
    pub async fn log_after(
        &self,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        match self {
            Store::Sled(s) => s.log_after(after, limit),
            Store::Postgres(_) => Ok(Vec::new()),
        }
    }

    /// Whether an owed delivery has its record.
    pub async fn is_recorded(&self, id: DeliveryId) -> Result<bool, StoreError> {
        match self {
            Store::Sled(s) => s.is_recorded(id),
            Store::Postgres(_) => Ok(true),
        }
    }

    /// Gives an owed delivery its first record; false if it had one.
    pub async fn record_owed(
        &self,
        delivery: &Delivery,
        event_type: &str,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Sled(s) => s.record_owed(delivery, event_type),
            Store::Postgres(_) => Ok(false),
        }
    }

    /// The dispatch cursor as last loaded or advanced.
    pub fn dispatch_cursor(&self) -> Option<EventId> {
        match self {
            Store::Sled(s) => s.dispatch_cursor(),
            Store::Postgres(_) => None,
        }
    }

    /// Moves the cursor in memory (reads of owed deliveries start there).
    pub fn advance_dispatch_cursor(&self, cursor: Option<EventId>) {
        match self {
            Store::Sled(s) => s.advance_dispatch_cursor(cursor),
            Store::Postgres(_) => {}
        }
    }

    /// Saves the cursor once a flush covers the records behind it.
    pub async fn save_dispatch_cursor(&self, cursor: EventId) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => s.save_dispatch_cursor(cursor).await,
            Store::Postgres(_) => Ok(()),
        }
    }
}
