//! A replay job: what to send again, and how far it has got.
//! The job is persisted so that a restart resumes it after its cursor
//! instead of starting over (which would send pairs twice).

use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}
