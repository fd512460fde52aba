//! Event type names: the one grammar shared by publishing, filters
//! and operational events, so that a type accepted in one place can never be
//! rejected in another.

use std::fmt;

/// Longest accepted type, in characters.
pub const MAX_LEN: usize = 128;

/// Operational types live under this prefix; publishers may not use it so
/// that nobody can forge `hookd.delivery.failed` and the like.
pub const RESERVED_PREFIX: &str = "hookd.";

/// A validated event type such as `user.subscription.changed`.
///
/// Deserializing does not re-validate: values are only stored after `parse`,
/// and a rule tightened later must not make stored events unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EventType(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    #[error("type must be 1 to 128 characters")]
    Length,
    #[error(
        "type must be segments of lowercase letters, digits and underscores \
         joined by single dots, such as user.created"
    )]
    Syntax,
    #[error("type must not start with hookd., which is reserved for operational events")]
    Reserved,
    #[error("type must start with hookd. to be an operational event")]
    NotOperational,
}

impl EventType {
    /// Parses a type sent by a publisher: the reserved `hookd.` namespace is
    /// refused.
    pub fn parse(s: &str) -> Result<EventType, EventTypeError> {
        check_grammar(s)?;
        if is_reserved(s) {
            return Err(EventTypeError::Reserved);
        }
        Ok(EventType(s.to_owned()))
    }

    /// Parses a type that hookd itself emits; only `hookd.` types pass, so
    /// an operational event cannot be mistaken for a published one.
    pub fn parse_operational(s: &str) -> Result<EventType, EventTypeError> {
        check_grammar(s)?;
        if !s.starts_with(RESERVED_PREFIX) {
            return Err(EventTypeError::NotOperational);
        }
        Ok(EventType(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for types under `hookd.`, which only hookd itself emits.
    pub fn is_operational(&self) -> bool {
        self.0.starts_with(RESERVED_PREFIX)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True for `hookd` and anything under `hookd.`.
pub(crate) fn is_reserved(s: &str) -> bool {
    s == "hookd" || s.starts_with(RESERVED_PREFIX)
}

/// Length and segment grammar, without any namespace rule; filters reuse it.
pub(crate) fn check_grammar(s: &str) -> Result<(), EventTypeError> {
    let len = s.chars().count();
    if len == 0 || len > MAX_LEN {
        return Err(EventTypeError::Length);
    }
    let segment_ok = |seg: &str| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if s.split('.').all(segment_ok) {
        Ok(())
    } else {
        Err(EventTypeError::Syntax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_published_types() {
        for s in [
            "user",
            "user.created",
            "user.subscription.changed",
            "a_1.b2",
        ] {
            assert_eq!(EventType::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn length_bounds() {
        assert_eq!(EventType::parse(""), Err(EventTypeError::Length));
        let max = "a".repeat(MAX_LEN);
        assert!(EventType::parse(&max).is_ok());
        let over = "a".repeat(MAX_LEN + 1);
        assert_eq!(EventType::parse(&over), Err(EventTypeError::Length));
    }

    #[test]
    fn rejects_bad_syntax() {
        for s in [".a", "a.", "a..b", "A.b", "a-b", "a b", "a.*", "*", "é"] {
            assert_eq!(EventType::parse(s), Err(EventTypeError::Syntax), "{s}");
        }
    }

    #[test]
    fn reserved_prefix_is_refused_for_publishers() {
        assert_eq!(EventType::parse("hookd"), Err(EventTypeError::Reserved));
        assert_eq!(
            EventType::parse("hookd.endpoint.disabled"),
            Err(EventTypeError::Reserved)
        );
        // Only the whole segment is reserved.
        assert!(EventType::parse("hookdx.created").is_ok());
    }

    #[test]
    fn operational_types_need_the_prefix() {
        let t = EventType::parse_operational("hookd.delivery.failed").unwrap();
        assert_eq!(t.to_string(), "hookd.delivery.failed");
        assert_eq!(
            EventType::parse_operational("user.created"),
            Err(EventTypeError::NotOperational)
        );
        assert_eq!(
            EventType::parse_operational("hookd"),
            Err(EventTypeError::NotOperational)
        );
        assert_eq!(
            EventType::parse_operational("hookd..x"),
            Err(EventTypeError::Syntax)
        );
    }

    #[test]
    fn operational_flag() {
        assert!(EventType::parse_operational("hookd.endpoint.disabled")
            .unwrap()
            .is_operational());
        assert!(!EventType::parse("user.created").unwrap().is_operational());
    }

    #[test]
    fn serde_is_a_plain_string() {
        let t = EventType::parse("user.created").unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#""user.created""#);
        assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), t);
    }

    #[test]
    fn messages_start_with_type() {
        for e in [
            EventTypeError::Length,
            EventTypeError::Syntax,
            EventTypeError::Reserved,
            EventTypeError::NotOperational,
        ] {
            assert!(e.to_string().starts_with("type "), "{e}");
        }
    }
}
