//! The one source of time, so that the wheel, the API and retention agree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// RFC 3339 UTC with second precision, as the API shows times: `2024-01-15T10:30:00Z`.
pub fn format_rfc3339(ms: u64) -> String {
    // humantime's Display fails past year 9999, and `to_string` would turn
    // that failure into a panic; no real clock gets there, so clamp.
    let secs = (ms / 1000).min(LAST_SECOND_OF_9999);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

const LAST_SECOND_OF_9999: u64 = 253_402_300_799;

/// Parses an RFC 3339 UTC time (`Z`, or no zone at all) into Unix milliseconds.
/// Numeric offsets are refused rather than misread: the API speaks UTC.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let time = humantime::parse_rfc3339_weak(text).ok()?;
    time.duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc() {
        let ms = parse_rfc3339("2024-01-15T10:30:00Z").unwrap();
        assert_eq!(format_rfc3339(ms), "2024-01-15T10:30:00Z");
        assert!(parse_rfc3339("yesterday").is_none());
        assert_eq!(format_rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }
}
