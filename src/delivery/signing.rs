//! The signatures receivers check (README, "What a receiver sees"): the
//! per-endpoint signature header in its three styles, the Standard Webhooks
//! `webhook-signature` header, and verification of what partners send in.
//!
//! Every comparison of a secret-derived value runs in constant time, so a
//! caller probing signatures learns nothing from response timing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::SignatureStyle;

type HmacSha256 = Hmac<Sha256>;

const STANDARD_WEBHOOKS_PREFIX: &str = "whsec_";

/// A MAC keyed with `key`. HMAC hashes keys longer than a block and pads
/// shorter ones with zeros (RFC 2104); doing that here lets us use the
/// fixed-size constructor, which cannot fail, instead of unwrapping the
/// slice constructor's never-taken error.
fn keyed(key: &[u8]) -> HmacSha256 {
    let mut block = Key::<HmacSha256>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as KeyInit>::new(&block)
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    keyed(key)
        .chain_update(message)
        .finalize()
        .into_bytes()
        .into()
}

/// The value of an endpoint's signature header (`X-Webhook-Signature` unless
/// renamed): HMAC-SHA256 keyed with the secret string's UTF-8 bytes, over the
/// body exactly as sent. For `CanonicalJson` the caller passes the canonical
/// bytes as the body, so receivers can hash the raw body or re-serialize it.
pub fn style_signature(style: SignatureStyle, secret: &str, body: &[u8]) -> String {
    let hex = hex::encode(hmac_sha256(secret.as_bytes(), body));
    match style {
        // Seeds 000 and 003 compare against f"sha256={expected}".
        SignatureStyle::Sha256Prefixed => format!("sha256={hex}"),
        // The `hex` (raw body) and `canonical-json` styles compare bare hex.
        SignatureStyle::Hex | SignatureStyle::CanonicalJson => hex,
    }
}

/// The Standard Webhooks signing key: the base64 after `whsec_`. Secrets
/// without that prefix, or whose tail is not valid base64, are used as their
/// UTF-8 bytes, so a user-supplied secret still yields a stable signature.
pub fn standard_webhooks_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(STANDARD_WEBHOOKS_PREFIX)
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The `webhook-signature` header value for one secret:
/// `v1,<base64 HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")>`. During a
/// rotation the caller joins one of these per secret with spaces.
pub fn standard_webhooks_signature(
    secret: &str,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> String {
    // Fed in pieces so the body, up to the payload limit, is not copied.
    let tag = keyed(&standard_webhooks_key(secret))
        .chain_update(msg_id.as_bytes())
        .chain_update(b".")
        .chain_update(timestamp_secs.to_string().as_bytes())
        .chain_update(b".")
        .chain_update(body)
        .finalize()
        .into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// Whether `signature_hex` is HMAC-SHA256(key, message) in hex (either case).
/// Malformed hex or a wrong length is simply a bad signature.
pub fn verify_hex(key: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let Ok(given) = hex::decode(signature_hex) else {
        return false;
    };
    // `verify_slice` compares in constant time and rejects other lengths.
    keyed(key)
        .chain_update(message)
        .verify_slice(&given)
        .is_ok()
}

/// Byte equality whose running time does not depend on where the inputs
/// differ (only on their lengths), for tokens and signatures.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::canonical_json::canonical_json;

    // Every expected value below was computed with CPython's hmac, hashlib
    // and base64 modules, following each platform guide's own verification code.

    #[test]
    fn rfc4231_vectors() {
        // Test case 2: short key.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: key longer than the block, hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // Exactly one block, and empty key and message.
        let k64: Vec<u8> = (0u8..64).collect();
        assert_eq!(
            hex::encode(hmac_sha256(&k64, b"exactly one block")),
            "6a0b99c9142782e19009e62b6ac5c4261cad2dddfa6f6a369a1414208408abd3"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"", b"")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"
        );
    }

    #[test]
    fn bayit_guide_prefixed_over_raw_body() {
        // hmac.compare_digest(f"sha256={expected}", signature)
        let body = br#"{"id":"evt_01HMABC","type":"user.subscription.changed","created_at":"2024-01-15T10:30:00Z","data":{"plan":"pro"}}"#;
        assert_eq!(
            style_signature(SignatureStyle::Sha256Prefixed, "whsec_seed000", body),
            "sha256=3778991404ab99fee52c6a0df623b5d42dc6d956aba1df64a0e981411d0c9035"
        );
    }

    #[test]
    fn fashion_catalog_guide_prefixed_over_raw_body() {
        let body = br#"{"event":"pickup.completed","data":{"kg":12.5}}"#;
        assert_eq!(
            style_signature(SignatureStyle::Sha256Prefixed, "my-webhook-secret", body),
            "sha256=f802c3a9775449c40b2fc1194d319cef301666b967a0c84807f666b49c5ae157"
        );
    }

    #[test]
    fn waste_platform_guide_bare_hex_utf8_key_and_body() {
        // secret.encode('utf-8'), payload.encode('utf-8'); compare bare hex.
        let body = r#"{"type":"collection.completed","data":{"zona":"Recolección Ñuñoa"}}"#;
        assert_eq!(body.len(), 70);
        let sig = style_signature(SignatureStyle::Hex, "sécret-ñ", body.as_bytes());
        assert_eq!(
            sig,
            "ce206d1e307e0cf237c91a4cb5ca019aa735524b7529da022ded62df2ce7d0d4"
        );
        assert!(verify_hex("sécret-ñ".as_bytes(), body.as_bytes(), &sig));
    }

    #[test]
    fn partner_guide_troubleshooting_example() {
        // payload = {"event": "test", "data": 123}; secret = "test_secret"
        let payload = serde_json::json!({"event": "test", "data": 123});
        let canonical = canonical_json(&payload);
        assert_eq!(canonical, r#"{"data":123,"event":"test"}"#);
        let sig = style_signature(
            SignatureStyle::CanonicalJson,
            "test_secret",
            canonical.as_bytes(),
        );
        assert_eq!(
            sig,
            "6d2c88f3cf5e2ab91f79fbde2f24d550ba260b1271f66ddf45bcd7de350ac9cc"
        );
        assert!(verify_hex(b"test_secret", canonical.as_bytes(), &sig));
    }

    #[test]
    fn partner_guide_payment_success() {
        let payload: serde_json::Value = serde_json::from_str(
            r#"{"event": "payment.success", "timestamp": 1704186000,
                "transaction_id": "txn_abc123def456", "amount": 150.0, "currency": "USD",
                "user_id": "user_uuid_here", "user_email": "cliente@example.com",
                "user_name": "Juan Pérez",
                "metadata": {"tour_id": "tour_uuid_here", "tour_name": "Amazonía Premium",
                  "destination": "Amazonía", "reservation_id": "res_uuid_here",
                  "start_date": "2024-02-15", "end_date": "2024-02-18", "num_people": 4},
                "provider": "stripe"}"#,
        )
        .unwrap();
        let secret = "sk_live_9a8b7c6d5e4f3g2h1i0j_DO_NOT_SHARE";
        let body = canonical_json(&payload);
        assert_eq!(
            style_signature(SignatureStyle::CanonicalJson, secret, body.as_bytes()),
            "70d0b64cd6898d01474cee9a48c44eed71a10bc1f75acbc43aef6cccb522f577"
        );
    }

    #[test]
    fn standard_webhooks_reference_vector() {
        assert_eq!(
            standard_webhooks_signature(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#,
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn standard_webhooks_key_fallbacks() {
        assert_eq!(
            standard_webhooks_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").len(),
            24
        );
        assert_eq!(standard_webhooks_key("plain-secret"), b"plain-secret");
        assert_eq!(
            standard_webhooks_key("whsec_not*base64!"),
            b"whsec_not*base64!"
        );
        assert_eq!(
            standard_webhooks_signature("plain-secret", "dlv_1", 1_700_000_000, b"{}"),
            "v1,BzU3qVKnNhxr6jcynv3XmmN3kFVhZb6cK+coA/i5Ibc="
        );
        assert_eq!(
            standard_webhooks_signature("whsec_not*base64!", "dlv_1", 1_700_000_000, b"{}"),
            "v1,yTHrJzgpseYgE+fB1Z7HL5V379S5GRuNIUK3KJqZWXY="
        );
        assert_eq!(
            standard_webhooks_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", -5, b"x"),
            "v1,Lu8eK9tXAv9sX9ULJnQIlcCa7mxbJO4J22vuxMCEfs4="
        );
    }

    #[test]
    fn styles_share_one_mac() {
        let body = b"{}";
        let hex = style_signature(SignatureStyle::Hex, "s", body);
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(
            style_signature(SignatureStyle::CanonicalJson, "s", body),
            hex
        );
        assert_eq!(
            style_signature(SignatureStyle::Sha256Prefixed, "s", body),
            format!("sha256={hex}")
        );
    }

    #[test]
    fn verify_hex_rejects_changes_and_garbage() {
        let good = "6d2c88f3cf5e2ab91f79fbde2f24d550ba260b1271f66ddf45bcd7de350ac9cc";
        let msg = br#"{"data":123,"event":"test"}"#;
        assert!(verify_hex(b"test_secret", msg, good));
        assert!(verify_hex(b"test_secret", msg, &good.to_uppercase()));
        // One character changed, at either end.
        let last = format!("{}d", &good[..63]);
        let first = format!("7{}", &good[1..]);
        assert!(!verify_hex(b"test_secret", msg, &last));
        assert!(!verify_hex(b"test_secret", msg, &first));
        // Wrong key or message.
        assert!(!verify_hex(b"test_secreT", msg, good));
        assert!(!verify_hex(b"test_secret", b"{}", good));
        // Malformed: empty, odd length, non-hex, truncated, too long, prefixed.
        for bad in [
            "",
            &good[..63],
            &good.replace('c', "g"),
            &good[..62],
            &format!("{good}00"),
            &format!("sha256={good}"),
        ] {
            assert!(!verify_hex(b"test_secret", msg, bad), "{bad}");
        }
    }

    #[test]
    fn constant_time_eq_basics() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokeN"));
        assert!(!constant_time_eq(b"token", b"token2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
