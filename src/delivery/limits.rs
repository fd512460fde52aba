//! Isolation between endpoints: per-endpoint in-flight caps and rate limits,
//! and the process-wide cap. One slow endpoint fills only its own lane.
//!
//! A request stops counting as in flight when its answer arrives, before
//! its attempt is recorded: the next attempt to that endpoint need not wait
//! for the record. The attempts waiting for their record are capped as well
//! ([`RECORDING_CAP`]), so records that fall behind hold attempts back
//! instead of piling up in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::domain::{Delivery, Endpoint, Event};
use crate::ids::EndpointId;
use crate::store::Claim;

/// Owed deliveries read from the log that may wait in memory at once:
/// the log reader pauses beyond this.
const OWED_WINDOW: usize = 4096;

/// Attempts whose request has ended that may wait for their record at
/// once: enough to cover the recorder's turnaround, few enough that their
/// memory (each holds its event) stays small (BENCHMARKS.md, "Deliver:
/// what recording costs").
const RECORDING_CAP: usize = 64;

/// An endpoint whose oldest waiting job has waited this long has stopped
/// keeping up: its owed jobs go to the wheel instead of memory.
const STALE_AFTER_MS: u64 = 2_000;

/// A delivery waiting for its endpoint's next free start.
pub struct Job {
    pub delivery: Delivery,
    /// Shared by every delivery of one event's fan-out.
    pub event: Arc<Event>,
    /// What holds the delivery, handed back when recording.
    pub claim: Claim,
    /// When it joined its lane.
    pub queued_ms: u64,
}

#[derive(Default)]
struct Lane {
    in_flight: u32,
    waiting: VecDeque<Job>,
    /// Earliest time the next attempt may start under `rate_limit_per_s`.
    next_start_ms: u64,
}

pub struct Limits {
    total_cap: usize,
    default_endpoint_cap: u32,
    in_flight: usize,
    /// Attempts whose request has ended and whose record is being written.
    recording: usize,
    waiting: usize,
    /// Of `waiting`, the owed deliveries read from the log.
    waiting_owed: usize,
    lanes: HashMap<EndpointId, Lane>,
}

impl Limits {
    pub fn new(total_cap: u32, default_endpoint_cap: u32) -> Limits {
        Limits {
            total_cap: total_cap as usize,
            default_endpoint_cap,
            in_flight: 0,
            recording: 0,
            waiting: 0,
            waiting_owed: 0,
            lanes: HashMap::new(),
        }
    }

    fn endpoint_cap(&self, endpoint: &Endpoint) -> u32 {
        endpoint.max_in_flight.unwrap_or(self.default_endpoint_cap)
    }

    /// No more work may be claimed off the wheel at all.
    pub fn full(&self) -> bool {
        self.total_room() == 0
    }

    /// Whether the log reader may put more owed deliveries in memory.
    pub fn owed_room(&self) -> bool {
        self.waiting_owed < OWED_WINDOW
    }

    /// Whether `endpoint`'s oldest waiting job has waited too long.
    pub fn stale(&self, endpoint: EndpointId, now_ms: u64) -> bool {
        self.lanes
            .get(&endpoint)
            .and_then(|lane| lane.waiting.front())
            .is_some_and(|job| job.queued_ms + STALE_AFTER_MS < now_ms)
    }

    /// Takes the owed jobs out of every stale lane, for the wheel.
    pub fn spill_stale(&mut self, now_ms: u64) -> Vec<Job> {
        let stale: Vec<EndpointId> = self
            .lanes
            .keys()
            .filter(|id| self.stale(**id, now_ms))
            .copied()
            .collect();
        let mut spilled = Vec::new();
        for endpoint in stale {
            for job in self.drain_waiting(endpoint) {
                match job.claim {
                    Claim::Owed => spilled.push(job),
                    Claim::Wheel(_) => self.enqueue(endpoint, job),
                }
            }
        }
        spilled
    }

    /// Whether one more delivery for `endpoint` may be claimed now.
    pub fn has_room(&self, endpoint: &Endpoint) -> bool {
        self.room(endpoint) > 0
    }

    /// How many more deliveries for `endpoint` may be claimed now.
    pub fn room(&self, endpoint: &Endpoint) -> usize {
        let taken = self
            .lanes
            .get(&endpoint.id)
            .map_or(0, |lane| lane.in_flight + lane.waiting.len() as u32);
        let endpoint_room = self.endpoint_cap(endpoint).saturating_sub(taken) as usize;
        endpoint_room.min(self.total_room())
    }

    /// How many more deliveries may be claimed now, whatever their endpoint.
    pub fn total_room(&self) -> usize {
        self.total_cap
            .saturating_sub(self.in_flight + self.waiting - self.waiting_owed)
    }

    pub fn enqueue(&mut self, endpoint: EndpointId, job: Job) {
        if job.claim == Claim::Owed {
            self.waiting_owed += 1;
        }
        self.lanes
            .entry(endpoint)
            .or_default()
            .waiting
            .push_back(job);
        self.waiting += 1;
    }

    /// The next job of `endpoint` allowed to start at `now_ms`, counted as in
    /// flight; or `Err(Some(t))` when the rate limit lets it start at `t`,
    /// `Err(None)` when a cap holds it back (a finished attempt or record
    /// wakes the dispatcher to try again).
    pub fn start_next(&mut self, endpoint: &Endpoint, now_ms: u64) -> Result<Job, Option<u64>> {
        let endpoint_cap = self.endpoint_cap(endpoint);
        if self.in_flight >= self.total_cap || self.recording >= RECORDING_CAP {
            return Err(None);
        }
        let Some(lane) = self.lanes.get_mut(&endpoint.id) else {
            return Err(None);
        };
        if lane.waiting.is_empty() || lane.in_flight >= endpoint_cap {
            return Err(None);
        }
        if let Some(rate) = endpoint.rate_limit_per_s.filter(|r| *r > 0) {
            if now_ms < lane.next_start_ms {
                return Err(Some(lane.next_start_ms));
            }
            lane.next_start_ms = now_ms + (1000 / u64::from(rate)).max(1);
        }
        let job = lane.waiting.pop_front().ok_or(None)?;
        lane.in_flight += 1;
        self.waiting -= 1;
        if job.claim == Claim::Owed {
            self.waiting_owed -= 1;
        }
        self.in_flight += 1;
        Ok(job)
    }

    /// Removes and returns every waiting job of an endpoint (disabled or gone).
    pub fn drain_waiting(&mut self, endpoint: EndpointId) -> Vec<Job> {
        let Some(lane) = self.lanes.get_mut(&endpoint) else {
            return Vec::new();
        };
        let drained: Vec<Job> = lane.waiting.drain(..).collect();
        self.waiting -= drained.len();
        self.waiting_owed -= drained.iter().filter(|j| j.claim == Claim::Owed).count();
        drained
    }

    /// A request to `endpoint` has ended; its attempt is being recorded.
    pub fn sent(&mut self, endpoint: EndpointId) {
        self.recording += 1;
        if let Some(lane) = self.lanes.get_mut(&endpoint) {
            lane.in_flight = lane.in_flight.saturating_sub(1);
            self.in_flight = self.in_flight.saturating_sub(1);
            if lane.in_flight == 0 && lane.waiting.is_empty() && lane.next_start_ms == 0 {
                self.lanes.remove(&endpoint);
            }
        }
    }

    /// An attempt is done: its record has been written, or has failed.
    pub fn recorded(&mut self) {
        self.recording = self.recording.saturating_sub(1);
    }

    /// Endpoints that have jobs waiting to start.
    pub fn endpoints_waiting(&self) -> Vec<EndpointId> {
        self.lanes
            .iter()
            .filter(|(_, lane)| !lane.waiting.is_empty())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Attempts started and not yet recorded.
    pub fn unfinished(&self) -> usize {
        self.in_flight + self.recording
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::event_type::EventType;
    use crate::domain::DeliveryStatus;
    use crate::ids::{DeliveryId, EventId};

    /// An endpoint with a cap of its own; also used by the claims' tests
    /// (`wheel_claims.rs`).
    pub(in crate::delivery) fn endpoint(max_in_flight: u32) -> Endpoint {
        let mut endpoint = Endpoint::new("http://127.0.0.1:9/".into(), vec![], "s".into(), 1);
        endpoint.max_in_flight = Some(max_in_flight);
        endpoint
    }

    fn job(endpoint: &Endpoint) -> Job {
        let event_type = EventType::parse("a.b").unwrap();
        let event = Event::new(&event_type, &serde_json::json!({}), 1);
        Job {
            delivery: Delivery {
                id: DeliveryId::generate(1),
                event_id: EventId::generate(1),
                endpoint_id: endpoint.id,
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_ms: Some(1),
                updated_at_ms: 1,
            },
            event: Arc::new(event),
            claim: Claim::Wheel(1),
            queued_ms: 1,
        }
    }

    #[test]
    fn a_request_leaves_its_endpoints_cap_once_sent_and_counts_until_recorded() {
        let endpoint = endpoint(1);
        let mut limits = Limits::new(10, 16);
        limits.enqueue(endpoint.id, job(&endpoint));
        limits.enqueue(endpoint.id, job(&endpoint));
        assert!(limits.start_next(&endpoint, 1).is_ok());
        assert!(
            limits.start_next(&endpoint, 1).is_err(),
            "cap of 1 in flight"
        );
        limits.sent(endpoint.id);
        assert_eq!(limits.unfinished(), 1, "still being recorded");
        assert!(limits.start_next(&endpoint, 1).is_ok(), "the slot is free");
        limits.sent(endpoint.id);
        limits.recorded();
        limits.recorded();
        assert_eq!(limits.unfinished(), 0);
    }

    #[test]
    fn attempts_waiting_for_their_record_hold_back_new_ones_at_the_cap() {
        let endpoint = endpoint(16);
        let mut limits = Limits::new(512, 16);
        for _ in 0..=RECORDING_CAP {
            limits.enqueue(endpoint.id, job(&endpoint));
        }
        for _ in 0..RECORDING_CAP {
            assert!(limits.start_next(&endpoint, 1).is_ok());
            limits.sent(endpoint.id);
        }
        assert!(
            limits.start_next(&endpoint, 1).is_err(),
            "as many records pending as the cap allows"
        );
        limits.recorded();
        assert!(limits.start_next(&endpoint, 1).is_ok());
    }
}
