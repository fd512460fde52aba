//! Retry schedules: the delay before each attempt of a delivery.
//! Validated once on the way in so the delivery path can index it without
//! further checks.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::{format_duration, parse_duration, DurationError};

/// Bounds the work one delivery can cause and the size of stored endpoints.
pub const MAX_ATTEMPTS: usize = 50;

/// Longest single delay. Beyond a month a retry outlives the default event
/// retention, and the bound keeps due-time arithmetic (and `Retry-After`,
/// capped at ten slots) far from overflow.
pub const MAX_DELAY: Duration = Duration::from_secs(30 * 86_400);

/// Delays before each attempt, counted from the end of the previous one;
/// entry 0 is the delay before the first attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("retry schedule must list at least one delay")]
    Empty,
    #[error("retry schedule may list at most {MAX_ATTEMPTS} delays, not {0}")]
    TooLong(usize),
    #[error("retry schedule entry {index} is not valid: {source}")]
    Invalid {
        index: usize,
        #[source]
        source: DurationError,
    },
    #[error("retry schedule entry {index} is longer than the maximum of 30d")]
    TooLate { index: usize },
}

impl RetrySchedule {
    /// Parses a non-empty list of at most 50 duration strings, each at most
    /// 30 days.
    pub fn parse(list: &[String]) -> Result<Self, ScheduleError> {
        if list.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if list.len() > MAX_ATTEMPTS {
            return Err(ScheduleError::TooLong(list.len()));
        }
        let delays = list
            .iter()
            .enumerate()
            .map(|(index, s)| {
                let delay =
                    parse_duration(s).map_err(|source| ScheduleError::Invalid { index, source })?;
                if delay > MAX_DELAY {
                    return Err(ScheduleError::TooLate { index });
                }
                Ok(delay)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RetrySchedule { delays })
    }

    pub fn attempts(&self) -> u32 {
        // parse caps the length at MAX_ATTEMPTS, so this never saturates.
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX)
    }

    /// The delay before a 1-based attempt; `None` for 0 or past the last
    /// attempt, meaning there is no such attempt.
    pub fn delay_before(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.delays.get(index).copied()
    }

    /// Like `delay_before`, plus up to 10 % random jitter so that deliveries
    /// failing together do not all retry in the same instant.
    pub fn jittered_delay_before(&self, attempt: u32, rng: &mut impl Rng) -> Option<Duration> {
        let delay = self.delay_before(attempt)?;
        let jitter = (delay / 10).mul_f64(rng.gen::<f64>());
        Some(delay.saturating_add(jitter))
    }

    pub fn as_strings(&self) -> Vec<String> {
        self.delays.iter().map(|d| format_duration(*d)).collect()
    }
}

impl Default for RetrySchedule {
    /// The README's default: `["0s", "1m", "5m", "30m", "2h"]`.
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        RetrySchedule {
            delays: vec![
                Duration::ZERO,
                minutes(1),
                minutes(5),
                minutes(30),
                minutes(120),
            ],
        }
    }
}

impl Serialize for RetrySchedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_strings().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RetrySchedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<String>::deserialize(deserializer)?;
        RetrySchedule::parse(&list).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_matches_spec() {
        let s = RetrySchedule::default();
        assert_eq!(s.as_strings(), strings(&["0s", "1m", "5m", "30m", "2h"]));
        assert_eq!(s.attempts(), 5);
        assert_eq!(RetrySchedule::parse(&s.as_strings()), Ok(s));
    }

    #[test]
    fn parse_validates() {
        assert_eq!(RetrySchedule::parse(&[]), Err(ScheduleError::Empty));
        let long = vec!["1s".to_string(); MAX_ATTEMPTS + 1];
        assert_eq!(
            RetrySchedule::parse(&long),
            Err(ScheduleError::TooLong(MAX_ATTEMPTS + 1))
        );
        assert!(RetrySchedule::parse(&vec!["1s".to_string(); MAX_ATTEMPTS]).is_ok());
        let err = RetrySchedule::parse(&strings(&["0s", "10"])).unwrap_err();
        assert!(matches!(err, ScheduleError::Invalid { index: 1, .. }));
        assert!(err
            .to_string()
            .starts_with("retry schedule entry 1 is not valid: invalid duration \"10\""));
        assert!(RetrySchedule::parse(&strings(&["30d"])).is_ok());
        assert_eq!(
            RetrySchedule::parse(&strings(&["0s", "31d"])),
            Err(ScheduleError::TooLate { index: 1 })
        );
    }

    #[test]
    fn delay_before_is_one_based() {
        let s = RetrySchedule::parse(&strings(&["0s", "1s", "2s"])).unwrap();
        assert_eq!(s.delay_before(0), None);
        assert_eq!(s.delay_before(1), Some(Duration::ZERO));
        assert_eq!(s.delay_before(3), Some(Duration::from_secs(2)));
        assert_eq!(s.delay_before(4), None);
        assert_eq!(s.delay_before(u32::MAX), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let s = RetrySchedule::parse(&strings(&["0s", "100s"])).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::from_secs(100);
        let mut saw_jitter = false;
        for _ in 0..10_000 {
            assert_eq!(s.jittered_delay_before(1, &mut rng), Some(Duration::ZERO));
            let d = s.jittered_delay_before(2, &mut rng).unwrap();
            assert!(d >= base && d <= base + base / 10, "{d:?}");
            saw_jitter |= d > base;
        }
        assert!(saw_jitter);
        assert_eq!(s.jittered_delay_before(3, &mut rng), None);
        assert_eq!(s.jittered_delay_before(0, &mut rng), None);
    }

    #[test]
    fn serde_as_list_of_strings() {
        let s = RetrySchedule::parse(&strings(&["0s", "60s", "1500ms"])).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"["0s","1m","1500ms"]"#);
        assert_eq!(serde_json::from_str::<RetrySchedule>(&json).unwrap(), s);
        assert!(serde_json::from_str::<RetrySchedule>("[]").is_err());
        let err = serde_json::from_str::<RetrySchedule>(r#"["soon"]"#).unwrap_err();
        assert!(
            err.to_string().contains("invalid duration \"soon\""),
            "{err}"
        );
    }
}
