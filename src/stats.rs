//! Per-endpoint attempt statistics for `GET /api/v1/stats`: counts, last
//! success and failure, and attempt-duration percentiles over a rolling
//! window of up to 24 hours.
//!
//! Kept in memory only, in one bucket per endpoint per minute with activity,
//! so they start empty after a restart; the durable record of every attempt
//! stays in storage. Durations go into logarithmic buckets (10 % wide above
//! 10 ms, exact below), so a percentile is the upper edge of its bucket:
//! never under the true value, and at most 10 % over it.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use crate::ids::EndpointId;

/// The longest window kept and served.
pub const MAX_WINDOW_MINUTES: u64 = 24 * 60;
const MINUTE_MS: u64 = 60_000;

/// Upper edges of the duration buckets, in ms: 0–9 exactly, then 10 % apart.
static BUCKET_EDGES: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut edges: Vec<u64> = (0..10).collect();
    let mut edge = 10.0f64;
    while edge < u32::MAX as f64 {
        edges.push(edge.ceil() as u64);
        edge *= 1.1;
    }
    edges.push(u64::MAX);
    edges
});

fn bucket_of(ms: u64) -> u16 {
    BUCKET_EDGES.partition_point(|edge| *edge < ms) as u16
}

/// The process's attempt statistics.
pub fn attempt_stats() -> &'static AttemptStats {
    static STATS: LazyLock<AttemptStats> = LazyLock::new(AttemptStats::default);
    &STATS
}

#[derive(Default)]
pub struct AttemptStats {
    endpoints: Mutex<HashMap<EndpointId, EndpointHistory>>,
}

#[derive(Default)]
struct EndpointHistory {
    /// Minutes with activity, oldest first.
    minutes: VecDeque<Minute>,
    last_success_ms: Option<u64>,
    last_failure_ms: Option<u64>,
}

struct Minute {
    /// Minutes since the Unix epoch.
    index: u64,
    attempts: u64,
    failures: u64,
    /// (bucket, count), sorted by bucket: sparse, since one endpoint's
    /// durations cluster in a few buckets.
    durations: Vec<(u16, u64)>,
}

/// One endpoint's figures over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointWindow {
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub last_success_ms: Option<u64>,
    pub last_failure_ms: Option<u64>,
    /// (minute start in ms, attempts, failures) for every minute of the
    /// window, oldest first, the current minute last.
    pub per_minute: Vec<(u64, u64, u64)>,
}

impl AttemptStats {
    /// Counts one finished attempt.
    pub fn record(&self, endpoint: EndpointId, at_ms: u64, succeeded: bool, took: Duration) {
        let index = at_ms / MINUTE_MS;
        let mut endpoints = self.lock();
        let history = endpoints.entry(endpoint).or_default();
        while history
            .minutes
            .front()
            .is_some_and(|m| m.index + MAX_WINDOW_MINUTES <= index)
        {
            history.minutes.pop_front();
        }
        // Usually the newest minute; an attempt stamped just before a minute
        // boundary but recorded after it finds or makes its own.
        let position = history.minutes.iter().rposition(|m| m.index <= index);
        let at = match position {
            Some(at) if history.minutes[at].index == index => at,
            _ => {
                let at = position.map_or(0, |p| p + 1);
                let fresh = Minute {
                    index,
                    attempts: 0,
                    failures: 0,
                    durations: Vec::new(),
                };
                history.minutes.insert(at, fresh);
                at
            }
        };
        let Some(minute) = history.minutes.get_mut(at) else {
            return;
        };
        minute.attempts += 1;
        let bucket = bucket_of(took.as_millis() as u64);
        match minute.durations.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(at) => minute.durations[at].1 += 1,
            Err(at) => minute.durations.insert(at, (bucket, 1)),
        }
        let last = if succeeded {
            &mut history.last_success_ms
        } else {
            minute.failures += 1;
            &mut history.last_failure_ms
        };
        *last = (*last).max(Some(at_ms));
    }

    /// The figures of `endpoint` over the `minutes` ending with the one
    /// holding `now_ms`.
    pub fn window(&self, endpoint: EndpointId, minutes: u64, now_ms: u64) -> EndpointWindow {
        let current = now_ms / MINUTE_MS;
        let first = (current + 1).saturating_sub(minutes);
        let endpoints = self.lock();
        let history = endpoints.get(&endpoint);
        let kept: Vec<&Minute> = history
            .map(|h| h.minutes.iter().filter(|m| m.index >= first).collect())
            .unwrap_or_default();
        let mut per_minute: Vec<(u64, u64, u64)> = (first..=current)
            .map(|index| (index * MINUTE_MS, 0, 0))
            .collect();
        let mut durations = vec![0u64; BUCKET_EDGES.len()];
        let (mut attempts, mut failures) = (0, 0);
        for minute in &kept {
            if let Some(slot) = per_minute.get_mut((minute.index - first) as usize) {
                *slot = (slot.0, minute.attempts, minute.failures);
            }
            attempts += minute.attempts;
            failures += minute.failures;
            for (bucket, count) in &minute.durations {
                durations[*bucket as usize] += count;
            }
        }
        let since = first * MINUTE_MS;
        let in_window = |at: Option<u64>| at.filter(|at| *at >= since);
        EndpointWindow {
            attempts,
            successes: attempts - failures,
            failures,
            p50_ms: percentile(&durations, attempts, 50),
            p99_ms: percentile(&durations, attempts, 99),
            last_success_ms: in_window(history.and_then(|h| h.last_success_ms)),
            last_failure_ms: in_window(history.and_then(|h| h.last_failure_ms)),
            per_minute,
        }
    }

    /// Drops endpoints that are gone (deleted), keeping the ones listed.
    pub fn retain(&self, known: &[EndpointId]) {
        self.lock().retain(|id, _| known.contains(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, EndpointHistory>> {
        self.endpoints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The upper edge of the bucket holding the `pct`-th percentile (nearest rank).
fn percentile(counts: &[u64], total: u64, pct: u64) -> Option<u64> {
    if total == 0 {
        return None;
    }
    let rank = (total * pct).div_ceil(100).max(1);
    let mut seen = 0;
    for (bucket, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return BUCKET_EDGES.get(bucket).copied();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000 / MINUTE_MS * MINUTE_MS;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn counts_and_percentiles_over_the_window() {
        let stats = AttemptStats::default();
        let ep = EndpointId::generate(1);
        for i in 0..98 {
            stats.record(ep, T0 + i, true, ms(100));
        }
        stats.record(ep, T0 + 200, false, ms(3));
        stats.record(ep, T0 + 300, false, ms(5_000));
        let w = stats.window(ep, 60, T0 + 1_000);
        assert_eq!((w.attempts, w.successes, w.failures), (100, 98, 2));
        let p50 = w.p50_ms.unwrap();
        assert!((100..=110).contains(&p50), "{p50}");
        let p99 = w.p99_ms.unwrap();
        assert!((100..=110).contains(&p99), "{p99}");
        assert_eq!(w.last_success_ms, Some(T0 + 97));
        assert_eq!(w.last_failure_ms, Some(T0 + 300));
        assert_eq!(w.per_minute.len(), 60);
        assert_eq!(w.per_minute[59], (T0, 100, 2));
        assert_eq!(w.per_minute[0].0, T0 - 59 * MINUTE_MS);
    }

    #[test]
    fn older_minutes_leave_the_window() {
        let stats = AttemptStats::default();
        let ep = EndpointId::generate(1);
        stats.record(ep, T0, false, ms(7));
        stats.record(ep, T0 + 10 * MINUTE_MS, true, ms(7));
        let w = stats.window(ep, 5, T0 + 10 * MINUTE_MS);
        assert_eq!((w.attempts, w.failures), (1, 0));
        assert_eq!(w.last_failure_ms, None);
        assert_eq!(w.p50_ms, Some(7));
        let all = stats.window(ep, 60, T0 + 10 * MINUTE_MS);
        assert_eq!((all.attempts, all.failures), (2, 1));
    }

    #[test]
    fn an_idle_endpoint_has_zeros_and_no_percentiles() {
        let w = AttemptStats::default().window(EndpointId::generate(1), 1, T0);
        assert_eq!(w.attempts, 0);
        assert_eq!((w.p50_ms, w.p99_ms, w.last_success_ms), (None, None, None));
        assert_eq!(w.per_minute, vec![(T0, 0, 0)]);
    }

    #[test]
    fn buckets_are_at_most_ten_percent_wide() {
        for ms in [0, 9, 10, 11, 57, 1_234, 59_999, 3_600_000] {
            let edge = BUCKET_EDGES[bucket_of(ms) as usize];
            assert!(
                edge >= ms && edge as f64 <= (ms as f64 * 1.1).ceil() + 1.0,
                "{ms} → {edge}"
            );
        }
    }
}
