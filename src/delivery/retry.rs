//! The retry policy: given how an attempt went, what happens to its delivery.
//!
//! Delays come from the endpoint's schedule, counted from the end of the
//! attempt, with up to 10 % jitter so a recovering receiver is not hit by
//! every retry at once. A `Retry-After` replaces the slot's delay (capped at
//! ten times the slot) and is not jittered: the receiver asked for that time.

use crate::delivery::outcome::{cap_retry_after, Verdict};
use crate::domain::schedule::RetrySchedule;
use crate::service::outcome::AttemptOutcome;

/// What to do after attempt number `attempt` (1-based) ended at `finished_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextStep {
    pub outcome: AttemptOutcome,
    /// The receiver answered 410 Gone: disable the endpoint.
    pub disable_endpoint: bool,
}

pub fn next_step(
    verdict: Verdict,
    attempt: u32,
    schedule: &RetrySchedule,
    finished_ms: u64,
    rng: &mut impl rand::Rng,
) -> NextStep {
    let outcome = match verdict {
        Verdict::Succeeded => AttemptOutcome::Succeeded,
        Verdict::Fail | Verdict::Gone => AttemptOutcome::Failed,
        Verdict::Retry { retry_after } => match schedule.delay_before(attempt + 1) {
            None => AttemptOutcome::Failed,
            Some(slot) => {
                let delay = match retry_after {
                    Some(asked) => cap_retry_after(asked, slot),
                    None => schedule
                        .jittered_delay_before(attempt + 1, rng)
                        .unwrap_or(slot),
                };
                AttemptOutcome::RetryAt(finished_ms + delay.as_millis() as u64)
            }
        },
    };
    NextStep {
        outcome,
        disable_endpoint: verdict == Verdict::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::time::Duration;

    fn schedule() -> RetrySchedule {
        RetrySchedule::default()
    }

    fn step(verdict: Verdict, attempt: u32) -> NextStep {
        next_step(
            verdict,
            attempt,
            &schedule(),
            1_000_000,
            &mut StdRng::seed_from_u64(7),
        )
    }

    #[test]
    fn success_and_final_failures_end_the_delivery() {
        assert_eq!(
            step(Verdict::Succeeded, 1).outcome,
            AttemptOutcome::Succeeded
        );
        assert_eq!(step(Verdict::Fail, 1).outcome, AttemptOutcome::Failed);
        let gone = step(Verdict::Gone, 1);
        assert_eq!(gone.outcome, AttemptOutcome::Failed);
        assert!(gone.disable_endpoint);
    }

    #[test]
    fn a_retry_waits_for_the_next_slot_with_jitter() {
        let AttemptOutcome::RetryAt(due) = step(Verdict::Retry { retry_after: None }, 1).outcome
        else {
            panic!("expected a retry");
        };
        // The second slot of the default schedule is 1m; jitter adds at most 10 %.
        assert!((1_060_000..=1_066_000).contains(&due), "{due}");
    }

    #[test]
    fn the_last_attempt_fails_even_on_429() {
        let verdict = Verdict::Retry {
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(step(verdict, 5).outcome, AttemptOutcome::Failed);
    }

    #[test]
    fn retry_after_replaces_the_slot_without_jitter_and_is_capped() {
        let short = Verdict::Retry {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(step(short, 1).outcome, AttemptOutcome::RetryAt(1_003_000));
        let long = Verdict::Retry {
            retry_after: Some(Duration::from_secs(86_400)),
        };
        // Capped at 10 × the 1m slot.
        assert_eq!(step(long, 1).outcome, AttemptOutcome::RetryAt(1_600_000));
    }
}
