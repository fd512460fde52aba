//! A replay job: what to send again, and how far it has got.
//! The job is persisted so that a restart resumes it after its cursor
//! instead of starting over (which would send pairs twice).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::AccountId;
use crate::ids::{EndpointId, EventId, ReplayId};

/// Which events a replay walks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReplaySelection {
    /// A key range of the log: `from_ms` inclusive, `to_ms` exclusive.
    Range { from_ms: u64, to_ms: u64 },
    /// Hand-picked events, sorted and without repeats so a cursor can walk them.
    Events(Vec<EventId>),
}

/// A validated replay request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRequest {
    pub selection: ReplaySelection,
    /// Type filter entries (exact types or categories); `None` keeps every type.
    pub types: Option<Vec<String>>,
    /// Only these endpoints instead of every current subscriber.
    pub endpoint_ids: Option<Vec<EndpointId>>,
    /// Only pairs whose latest delivery failed.
    pub only_failed: bool,
    /// Only this account's events, to this account's endpoints.
    pub account_id: Option<AccountId>,
}

/// The hand-picked events a step takes next: at most `size` of the sorted
/// `ids` after `cursor`, and whether they are the last of them.
pub fn next_picked(ids: &[EventId], cursor: Option<EventId>, size: usize) -> (&[EventId], bool) {
    let first = cursor.map_or(0, |cursor| ids.partition_point(|id| *id <= cursor));
    let rest = ids.get(first..).unwrap_or_default();
    let chosen = &rest[..rest.len().min(size)];
    (chosen, chosen.len() == rest.len())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplayStatus {
    Running,
    Done,
    Failed,
}

impl ReplayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayStatus::Running => "running",
            ReplayStatus::Done => "done",
            ReplayStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayJob {
    pub id: ReplayId,
    pub request: ReplayRequest,
    pub status: ReplayStatus,
    /// The last event processed; the next batch starts after it.
    pub cursor: Option<EventId>,
    pub events_matched: u64,
    pub deliveries_scheduled: u64,
    /// Pairs left out because their endpoint is disabled.
    pub skipped_disabled: u64,
    pub created_at_ms: u64,
    pub finished_at_ms: Option<u64>,
    /// Why the job failed, when it did.
    pub error: Option<String>,
}

impl ReplayJob {
    pub fn new(request: ReplayRequest, now_ms: u64) -> ReplayJob {
        ReplayJob {
            id: ReplayId::generate(now_ms),
            request,
            status: ReplayStatus::Running,
            cursor: None,
            events_matched: 0,
            deliveries_scheduled: 0,
            skipped_disabled: 0,
            created_at_ms: now_ms,
            finished_at_ms: None,
            error: None,
        }
    }

    /// How far the walk has got, from 0.0 to 1.0: the cursor's place in the
    /// time range, or among the hand-picked events. 1.0 once done.
    pub fn progress(&self) -> f64 {
        if self.status == ReplayStatus::Done {
            return 1.0;
        }
        let Some(cursor) = self.cursor else {
            return 0.0;
        };
        let fraction = match &self.request.selection {
            ReplaySelection::Range { from_ms, to_ms } => {
                let walked = cursor.created_ms().saturating_sub(*from_ms);
                walked as f64 / to_ms.saturating_sub(*from_ms).max(1) as f64
            }
            ReplaySelection::Events(ids) => {
                let walked = ids.partition_point(|id| *id <= cursor);
                walked as f64 / ids.len().max(1) as f64
            }
        };
        fraction.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_events_are_taken_after_the_cursor_in_steps() {
        let ids: Vec<EventId> = (1..=5).map(|n| EventId::from_u128(n << 16)).collect();
        assert_eq!(next_picked(&ids, None, 2), (&ids[..2], false));
        assert_eq!(next_picked(&ids, Some(ids[1]), 2), (&ids[2..4], false));
        assert_eq!(next_picked(&ids, Some(ids[3]), 2), (&ids[4..], true));
        assert_eq!(next_picked(&ids, Some(ids[4]), 2), (&ids[5..], true));
        // A cursor between picked IDs still moves on after it.
        let between = EventId::from_u128((2 << 16) + 1);
        assert_eq!(next_picked(&ids, Some(between), 9), (&ids[2..], true));
    }

    fn job(selection: ReplaySelection) -> ReplayJob {
        let request = ReplayRequest {
            selection,
            types: None,
            endpoint_ids: None,
            only_failed: false,
            account_id: None,
        };
        ReplayJob::new(request, 5_000)
    }

    #[test]
    fn progress_follows_the_cursor() {
        let mut ranged = job(ReplaySelection::Range {
            from_ms: 1_000,
            to_ms: 3_000,
        });
        assert_eq!(ranged.progress(), 0.0);
        ranged.cursor = Some(EventId::lowest_at(1_500));
        assert_eq!(ranged.progress(), 0.25);
        ranged.status = ReplayStatus::Done;
        assert_eq!(ranged.progress(), 1.0);

        let ids: Vec<EventId> = (1..=4).map(|ms| EventId::lowest_at(ms * 10)).collect();
        let mut picked = job(ReplaySelection::Events(ids.clone()));
        picked.cursor = Some(ids[2]);
        assert_eq!(picked.progress(), 0.75);
    }
}
