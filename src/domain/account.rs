//! An account: one customer of the platform. Its endpoints receive only its
//! own events (see `routing.rs`), and its portal sees only its own items.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest account ID accepted.
const MAX_ID_LEN: usize = 64;
/// Longest display name (account or partner), in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// An account ID: generated (`acct_<ULID>`) or the platform's own, 1–64 of
/// `[A-Za-z0-9_-]` so it is safe in a path, a header and a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(raw: &str) -> Result<AccountId, String> {
        let valid = (1..=MAX_ID_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        match valid {
            true => Ok(AccountId(raw.to_string())),
            false => Err(format!(
                "an account ID is 1 to {MAX_ID_LEN} of letters, digits, '_' and '-'"
            )),
        }
    }

    /// An ID built from a value already of the grammar (a partner ID).
    pub(crate) fn from_trusted(id: String) -> AccountId {
        AccountId(id)
    }

    /// A fresh `acct_` ID from the process-wide ID generator.
    pub fn generate(now_ms: u64) -> AccountId {
        AccountId(crate::ids::generate_prefixed("acct_", now_ms))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AccountId {
    type Err = String;

    fn from_str(raw: &str) -> Result<AccountId, String> {
        AccountId::parse(raw)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// Free-form JSON object, kept as text because the codec cannot carry `serde_json::Value`.
    pub metadata_json: String,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// Checks a display name given as `field`: trimmed, 1 to 200 characters,
/// no control characters. The error is a sentence for the API.
pub fn validate_display_name(field: &str, raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(format!("{field} must be 1 to {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_grammar() {
        for good in ["a", "cus_123", "ACME-eu_01", &"x".repeat(64)] {
            assert!(AccountId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a/b", "é", "a.b", &"x".repeat(65)] {
            assert!(AccountId::parse(bad).is_err(), "{bad}");
        }
        let generated = AccountId::generate(1_700_000_000_000);
        assert!(generated.as_str().starts_with("acct_"));
        assert!(AccountId::parse(generated.as_str()).is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_display_name("name", "  Acme ").unwrap(), "Acme");
        assert!(validate_display_name("name", "   ").is_err());
        assert!(validate_display_name("name", "a\nb").is_err());
        assert!(validate_display_name("name", &"n".repeat(201)).is_err());
    }
}
