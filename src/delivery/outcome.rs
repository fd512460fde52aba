//! What one HTTP attempt means for its delivery (the table in the README, Retries). Kept pure, with no
//! I/O, so every branch of the rule table is tested without a server.

use std::time::{Duration, SystemTime};

/// What happened on the wire during one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered; `retry_after` is its parsed `Retry-After`.
    Response {
        status: u16,
        retry_after: Option<Duration>,
    },
    Timeout,
    /// Connection or TLS failure, with a description for the attempt record.
    Connect(String),
    /// The target resolved to a forbidden address at connect time.
    BlockedTarget,
    /// No request could be built (the stored event does not decode, or its
    /// body cannot be prepared): trying again would fail the same way.
    Unsendable(String),
}

/// What to do with the delivery after the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    /// Try again per the schedule; `retry_after` is the receiver's request,
    /// still to be capped with `cap_retry_after`.
    Retry {
        retry_after: Option<Duration>,
    },
    /// Give up on this delivery.
    Fail,
    /// `410 Gone`: give up and disable the endpoint.
    Gone,
}

pub fn classify(result: &AttemptResult) -> Verdict {
    let retry = Verdict::Retry { retry_after: None };
    match result {
        AttemptResult::Response {
            status,
            retry_after,
        } => match status {
            200..=299 => Verdict::Succeeded,
            // Redirects are never followed, so they count as a failed try.
            300..=399 => retry,
            408 | 429 => Verdict::Retry {
                retry_after: *retry_after,
            },
            410 => Verdict::Gone,
            400..=499 => Verdict::Fail,
            // 5xx, and codes outside HTTP's classes, may be transient.
            _ => retry,
        },
        AttemptResult::Timeout | AttemptResult::Connect(_) => retry,
        AttemptResult::BlockedTarget | AttemptResult::Unsendable(_) => Verdict::Fail,
    }
}

/// Reads a `Retry-After` value: delta-seconds or an IMF-fixdate such as
/// `Wed, 21 Oct 2015 07:28:00 GMT`. A date already past means "now". Anything
/// unreadable is `None`, so the plain schedule applies.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = parse_imf_fixdate(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Rewrites an IMF-fixdate as RFC 3339 so humantime checks the calendar
/// (day of month, leap years, clock ranges) instead of code here. The
/// obsolete RFC 850 and asctime forms are refused: senders must not emit them.
fn parse_imf_fixdate(value: &str) -> Option<SystemTime> {
    const WEEKDAYS: [&str; 7] = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !WEEKDAYS.contains(weekday) || !digits(day, 2) || !digits(year, 4) || time.len() != 8 {
        return None;
    }
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let rfc3339 = format!("{year}-{month:02}-{day}T{time}Z");
    humantime::parse_rfc3339(&rfc3339).ok()
}

/// `Retry-After` is capped at ten times the next slot of the schedule. A 0s
/// slot (an immediate retry) would make that cap zero and the header
/// meaningless, so it counts as 1s: a receiver may still ask for up to 10s.
pub fn cap_retry_after(retry_after: Duration, next_slot: Duration) -> Duration {
    let slot = if next_slot.is_zero() {
        Duration::from_secs(1)
    } else {
        next_slot
    };
    retry_after.min(slot.saturating_mul(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16) -> AttemptResult {
        AttemptResult::Response {
            status,
            retry_after: Some(Duration::from_secs(5)),
        }
    }

    const RETRY: Verdict = Verdict::Retry { retry_after: None };

    #[test]
    fn a_request_that_cannot_be_built_fails_at_once() {
        let result = AttemptResult::Unsendable("stored event data: EOF".into());
        assert_eq!(classify(&result), Verdict::Fail);
        assert_eq!(classify(&AttemptResult::Connect("refused".into())), RETRY);
    }

    #[test]
    fn success_is_2xx() {
        for status in [200, 201, 204, 299] {
            assert_eq!(classify(&response(status)), Verdict::Succeeded);
        }
    }

    #[test]
    fn redirects_retry_without_retry_after() {
        for status in [300, 301, 302, 307, 399] {
            assert_eq!(classify(&response(status)), RETRY);
        }
    }

    #[test]
    fn throttling_retries_with_retry_after() {
        let honoured = Verdict::Retry {
            retry_after: Some(Duration::from_secs(5)),
        };
        assert_eq!(classify(&response(408)), honoured);
        assert_eq!(classify(&response(429)), honoured);
        let bare = AttemptResult::Response {
            status: 429,
            retry_after: None,
        };
        assert_eq!(classify(&bare), RETRY);
    }

    #[test]
    fn gone_and_other_client_errors() {
        assert_eq!(classify(&response(410)), Verdict::Gone);
        for status in [400, 401, 403, 404, 409, 422, 499] {
            assert_eq!(classify(&response(status)), Verdict::Fail, "{status}");
        }
    }

    #[test]
    fn server_errors_and_odd_codes_retry() {
        for status in [500, 502, 503, 599, 100, 199, 600, 999] {
            assert_eq!(classify(&response(status)), RETRY, "{status}");
        }
    }

    #[test]
    fn transport_failures() {
        assert_eq!(classify(&AttemptResult::Timeout), RETRY);
        assert_eq!(
            classify(&AttemptResult::Connect("tls handshake".into())),
            RETRY
        );
        assert_eq!(classify(&AttemptResult::BlockedTarget), Verdict::Fail);
    }

    #[test]
    fn retry_after_delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        for bad in ["", "-1", "1.5", "soon", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_http_date() {
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        let at = humantime::parse_rfc3339("2015-10-21T07:28:00Z").unwrap();
        let before = at - Duration::from_secs(90);
        assert_eq!(
            parse_retry_after(date, before),
            Some(Duration::from_secs(90))
        );
        let after = at + Duration::from_secs(90);
        assert_eq!(parse_retry_after(date, after), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_bad_dates() {
        let now = SystemTime::now();
        for bad in [
            "Wed, 21 Oct 2015 07:28:00 UTC",
            "Wed, 21 Foo 2015 07:28:00 GMT",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 25:28:00 GMT",
            "Wed 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed, 1 Oct 2015 07:28:00 GMT",
            "Wed, 29 Feb 2015 07:28:00 GMT",
            "Xyz, 21 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 07:28 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn cap_uses_ten_times_the_next_slot() {
        let s = Duration::from_secs;
        assert_eq!(cap_retry_after(s(30), s(60)), s(30));
        assert_eq!(cap_retry_after(s(3_600), s(60)), s(600));
        assert_eq!(cap_retry_after(s(60), Duration::ZERO), s(10));
        assert_eq!(cap_retry_after(s(5), Duration::ZERO), s(5));
        let half = Duration::from_millis(500);
        assert_eq!(cap_retry_after(s(60), half), s(5));
        assert_eq!(cap_retry_after(s(u64::MAX), s(u64::MAX)), s(u64::MAX));
    }
}
