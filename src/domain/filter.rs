//! Endpoint event filters: which event types an endpoint receives.
//! Kept apart from storage so the matching rule, notably that `*` never
//! includes the operational `hookd.` types, is defined in one place.
//!
//! A category is strictly deeper than its prefix: `disclosure_request.*`
//! matches `disclosure_request.created` but not `disclosure_request`, as
//! Stripe and Svix users expect; list `disclosure_request` too to get both.
//! `hookd.*` is an ordinary category and so receives every operational type.

use std::borrow::Cow;
use std::fmt;

use super::event_type::{check_grammar, is_reserved};

/// One entry of an endpoint's `events` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// A single type, e.g. `user.created`.
    Exact(String),
    /// Every type under a prefix; holds the prefix without the trailing `.*`.
    Category(String),
    /// `*`: every type except the operational `hookd.` ones.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("events must list at least one event type, category or *")]
    Empty,
    #[error(
        "events entry {0:?} is not valid: expected an event type such as \
         user.created, a category such as user.* or *"
    )]
    Invalid(String),
}

impl Pattern {
    /// Parses `*`, a category `seg(.seg)*.*`, or an exact type. Unlike
    /// publishing, `hookd.` names are allowed here: that is how an endpoint
    /// subscribes to operational events.
    pub fn parse(s: &str) -> Result<Pattern, FilterError> {
        let invalid = || FilterError::Invalid(s.to_owned());
        if s == "*" {
            return Ok(Pattern::All);
        }
        if let Some(prefix) = s.strip_suffix(".*") {
            check_grammar(prefix).map_err(|_| invalid())?;
            return Ok(Pattern::Category(prefix.to_owned()));
        }
        check_grammar(s).map_err(|_| invalid())?;
        Ok(Pattern::Exact(s.to_owned()))
    }

    /// The pattern as written. Only a category needs building, since it
    /// stores its prefix without the `.*`.
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Pattern::Exact(t) => Cow::Borrowed(t),
            Pattern::Category(prefix) => Cow::Owned(format!("{prefix}.*")),
            Pattern::All => Cow::Borrowed("*"),
        }
    }

    /// A category `a.b.*` matches types starting with `a.b.` but not `a.b`
    /// itself.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Pattern::Exact(t) => t == event_type,
            Pattern::Category(prefix) => event_type
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
            Pattern::All => !is_reserved(event_type),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// An endpoint's whole `events` list; an event is delivered if any entry
/// matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter(Vec<Pattern>);

impl EventFilter {
    /// Parses a non-empty list, naming the first bad entry.
    pub fn parse(list: &[String]) -> Result<Self, FilterError> {
        if list.is_empty() {
            return Err(FilterError::Empty);
        }
        list.iter()
            .map(|s| Pattern::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map(EventFilter)
    }

    /// `*` matches every type except `hookd.` ones; `a.b.*` matches types
    /// starting with `a.b.` (not `a.b` itself); `hookd.*` matches every
    /// operational type; an exact entry matches only that type.
    pub fn matches(&self, event_type: &str) -> bool {
        self.0.iter().any(|p| p.matches(event_type))
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(list: &[&str]) -> EventFilter {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        EventFilter::parse(&list).unwrap()
    }

    #[test]
    fn parses_each_form() {
        assert_eq!(Pattern::parse("*"), Ok(Pattern::All));
        assert_eq!(
            Pattern::parse("disclosure_request.*"),
            Ok(Pattern::Category("disclosure_request".into()))
        );
        assert_eq!(Pattern::parse("a.b.*"), Ok(Pattern::Category("a.b".into())));
        assert_eq!(
            Pattern::parse("user.created"),
            Ok(Pattern::Exact("user.created".into()))
        );
        assert_eq!(
            Pattern::parse("hookd.*"),
            Ok(Pattern::Category("hookd".into()))
        );
        assert_eq!(
            Pattern::parse("hookd.delivery.failed"),
            Ok(Pattern::Exact("hookd.delivery.failed".into()))
        );
    }

    #[test]
    fn rejects_bad_entries_by_name() {
        for s in ["", ".*", "a.*.b", "a*", "**", "A.b", "a..b", "a.b.", "*.a"] {
            assert_eq!(Pattern::parse(s), Err(FilterError::Invalid(s.into())));
        }
        let err = Pattern::parse("Bad!").unwrap_err().to_string();
        assert!(err.contains("\"Bad!\""), "{err}");
    }

    #[test]
    fn empty_list_is_refused() {
        assert_eq!(EventFilter::parse(&[]).unwrap_err(), FilterError::Empty);
        let bad = vec!["user.created".to_string(), "x..y".to_string()];
        assert_eq!(
            EventFilter::parse(&bad).unwrap_err(),
            FilterError::Invalid("x..y".into())
        );
    }

    #[test]
    fn star_skips_operational_types() {
        let f = filter(&["*"]);
        assert!(f.matches("user.created"));
        assert!(f.matches("hookdx.y"));
        assert!(!f.matches("hookd.endpoint.disabled"));
    }

    #[test]
    fn category_matches_below_its_prefix_only() {
        let f = filter(&["a.b.*"]);
        assert!(f.matches("a.b.c"));
        assert!(f.matches("a.b.c.d"));
        assert!(!f.matches("a.b"));
        assert!(!f.matches("a.bc"));
        assert!(!f.matches("a.bc.d"));
    }

    #[test]
    fn star_and_hookd_star_are_disjoint() {
        let star = filter(&["*"]);
        let ops = filter(&["hookd.*"]);
        for t in ["hookd.endpoint.disabled", "hookd.delivery.failed"] {
            assert!(!star.matches(t) && ops.matches(t), "{t}");
        }
        for t in ["user.created", "hookdx.y"] {
            assert!(star.matches(t) && !ops.matches(t), "{t}");
        }
        assert!(filter(&["*", "hookd.*"]).matches("hookd.partner.registered"));
    }

    #[test]
    fn operational_types_by_category_or_name() {
        let f = filter(&["hookd.*"]);
        assert!(f.matches("hookd.delivery.failed"));
        assert!(f.matches("hookd.partner.registered"));
        assert!(!f.matches("user.created"));

        let f = filter(&["*", "hookd.endpoint.disabled"]);
        assert!(f.matches("hookd.endpoint.disabled"));
        assert!(!f.matches("hookd.delivery.failed"));
    }

    #[test]
    fn exact_matches_exactly() {
        let f = filter(&["user.created", "order.paid"]);
        assert!(f.matches("order.paid"));
        assert!(!f.matches("user.created.v2"));
        assert!(!f.matches("user"));
        assert_eq!(f.patterns().len(), 2);
    }

    #[test]
    fn display_round_trips() {
        for s in ["*", "a.b.*", "user.created", "hookd.*"] {
            let p = Pattern::parse(s).unwrap();
            assert_eq!(p.to_string(), s);
            assert_eq!(p.as_str(), s);
        }
    }
}
