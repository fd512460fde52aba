//! Durations as written in config and the API: always a number
//! with a unit, so that `"30"` can never be silently read as seconds or
//! milliseconds.

use std::time::Duration;

/// A duration string that could not be read; the message says what is
/// expected because it reaches API clients and operators verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: expected a number with a unit such as 500ms, 30s, 5m, 2h or 5d"
)]
pub struct DurationError {
    input: String,
}

/// Parses `500ms`, `30s`, `5m`, `2h`, `5d`, `0s` and humantime combinations
/// such as `1h30m`. A bare number is refused even though humantime takes
/// `"0"`, because its unit would be a guess. Surrounding spaces are ignored
/// because comma-separated lists from the environment often carry them.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        input: s.to_owned(),
    };
    let trimmed = s.trim();
    if !trimmed.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(err());
    }
    humantime::parse_duration(trimmed).map_err(|_| err())
}

/// The shortest exact single-unit form (`60s` → `1m`), so values read back
/// the way an operator would write them. Sub-millisecond values, which only
/// arise from arithmetic, fall back to `us` or `ns` to stay exact.
pub fn format_duration(d: Duration) -> String {
    const UNITS: [(u128, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if !nanos.is_multiple_of(1_000_000) {
        return if nanos.is_multiple_of(1_000) {
            format!("{}us", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let ms = nanos / 1_000_000;
    for (size, unit) in UNITS {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Serde adapter: `#[serde(with = "crate::domain::duration::serde_duration")]`.
pub mod serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(deserializer)?;
        super::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde adapter for `Option<Duration>`; pair it with `#[serde(default)]`
/// so that a missing field reads as `None`.
pub mod serde_duration_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        d: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => serializer.serialize_some(&super::format_duration(*d)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|s| super::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_forms() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("2h", Duration::from_secs(7_200)),
            ("5d", Duration::from_secs(432_000)),
            ("0s", Duration::ZERO),
            ("1h30m", Duration::from_secs(5_400)),
            (" 1m ", Duration::from_secs(60)),
            ("1.5s", Duration::from_millis(1_500)),
        ];
        for (s, d) in cases {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
    }

    #[test]
    fn rejects_unitless_negative_and_empty() {
        for s in ["", " ", "0", " 30 ", "30", "-5s", "-0s", "soon", "5x", "s"] {
            assert!(parse_duration(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn error_says_what_is_expected() {
        assert_eq!(
            parse_duration("soon").unwrap_err().to_string(),
            "invalid duration \"soon\": expected a number with a unit such as 500ms, 30s, 5m, 2h or 5d"
        );
    }

    #[test]
    fn formats_shortest_exact_unit() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(1_500), "1500ms"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(7_200), "2h"),
            (Duration::from_secs(5_400), "90m"),
            (Duration::from_secs(432_000), "5d"),
            (Duration::from_micros(1_500), "1500us"),
            (Duration::from_nanos(7), "7ns"),
        ];
        for (d, s) in cases {
            assert_eq!(format_duration(d), s);
            assert_eq!(parse_duration(s), Ok(d), "round trip of {s}");
        }
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Holder {
        #[serde(with = "crate::domain::duration::serde_duration")]
        timeout: Duration,
    }

    #[test]
    fn serde_round_trip() {
        let h = Holder {
            timeout: Duration::from_secs(30),
        };
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, r#"{"timeout":"30s"}"#);
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), h);
    }

    #[test]
    fn serde_rejects_with_clear_message() {
        let err = serde_json::from_str::<Holder>(r#"{"timeout":"soon"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected a number with a unit such as 500ms"),
            "{err}"
        );
        assert!(serde_json::from_str::<Holder>(r#"{"timeout":30}"#).is_err());
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct OptHolder {
        #[serde(default, with = "crate::domain::duration::serde_duration_opt")]
        timeout: Option<Duration>,
    }

    #[test]
    fn serde_opt_round_trip() {
        let some = OptHolder {
            timeout: Some(Duration::from_millis(500)),
        };
        let json = serde_json::to_string(&some).unwrap();
        assert_eq!(json, r#"{"timeout":"500ms"}"#);
        assert_eq!(serde_json::from_str::<OptHolder>(&json).unwrap(), some);

        let none = OptHolder { timeout: None };
        assert_eq!(serde_json::to_string(&none).unwrap(), r#"{"timeout":null}"#);
        assert_eq!(
            serde_json::from_str::<OptHolder>(r#"{"timeout":null}"#).unwrap(),
            none
        );
        assert_eq!(serde_json::from_str::<OptHolder>("{}").unwrap(), none);
        assert!(serde_json::from_str::<OptHolder>(r#"{"timeout":"30"}"#).is_err());
    }
}
