//! Portal tokens: what a portal link carries. A token names one account and
//! an expiry and is signed with HMAC-SHA256 under a server key, so hookd
//! checks it without storing it:
//! `<account id>.<expiry, ms since the epoch>.<base64url MAC>`. Account IDs
//! never contain `.`, so the three parts always split back apart.
//!
//! The key lives in `<data_dir>/portal.key` (32 random bytes, created at
//! first start, mode 0600): deleting it revokes every link ever given out.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::auth::write_private;
use crate::delivery::signing::{constant_time_eq, hmac_sha256};
use crate::domain::AccountId;

const KEY_FILE: &str = "portal.key";
/// Binds the MAC to this use and layout, so no other signature made with
/// the key could pass for a token.
const CONTEXT: &str = "hookd-portal-v1";

/// The server key, read from the data directory or created there.
pub fn load_or_create_key(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = data_dir.join(KEY_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if let Ok(key) = URL_SAFE_NO_PAD.decode(existing.trim()) {
            if key.len() >= 32 {
                return Ok(key);
            }
        }
    }
    let key: [u8; 32] = rand::random();
    write_private(&path, &URL_SAFE_NO_PAD.encode(key))?;
    tracing::info!(path = %path.display(), "generated the portal link key");
    Ok(key.to_vec())
}

fn mac(key: &[u8], account: &str, expires_ms: u64) -> [u8; 32] {
    hmac_sha256(key, format!("{CONTEXT}.{account}.{expires_ms}").as_bytes())
}

/// A token granting `account`'s scope until `expires_ms`.
pub fn issue(key: &[u8], account: &AccountId, expires_ms: u64) -> String {
    let signature = URL_SAFE_NO_PAD.encode(mac(key, account.as_str(), expires_ms));
    format!("{account}.{expires_ms}.{signature}")
}

/// The account a token grants, if it was signed with `key` and has not
/// expired at `now_ms`. Every failure looks the same to the caller.
pub fn verify(key: &[u8], token: &str, now_ms: u64) -> Option<AccountId> {
    let mut parts = token.split('.');
    let (account, expires, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let expires_ms: u64 = expires.parse().ok()?;
    let given = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let signed = constant_time_eq(&mac(key, account, expires_ms), &given);
    if !signed || now_ms >= expires_ms {
        return None;
    }
    AccountId::parse(account).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn acme() -> AccountId {
        AccountId::parse("acme").unwrap()
    }

    #[test]
    fn a_token_grants_its_account_until_it_expires() {
        let token = issue(KEY, &acme(), 2_000);
        assert_eq!(verify(KEY, &token, 1_999), Some(acme()));
        assert_eq!(verify(KEY, &token, 2_000), None);
    }

    #[test]
    fn any_change_or_another_key_is_refused() {
        let token = issue(KEY, &acme(), 2_000);
        let other_account = token.replacen("acme", "acmf", 1);
        let later = token.replacen("2000", "9000", 1);
        assert_eq!(verify(KEY, &other_account, 1), None);
        assert_eq!(verify(KEY, &later, 1), None);
        assert_eq!(verify(b"another key, also 32 bytes long!", &token, 1), None);
        for junk in ["", "acme", "acme.1", "acme.x.y", &format!("{token}.x")] {
            assert_eq!(verify(KEY, junk, 1), None, "{junk}");
        }
    }
}
