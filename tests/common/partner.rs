//! Helpers shared by the partner tests: the catalog settings, a
//! registration in open mode, and the partner guide's HMAC.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::Daemon;

pub const CATALOG: (&str, &str) = (
    "HOOKD__PARTNERS__EVENTS",
    "payment.success,payment.failed,booking.confirmed",
);
pub const INBOUND: (&str, &str) = (
    "HOOKD__PARTNERS__INBOUND_EVENTS",
    "tour.purchased,tour.promoted",
);
pub const OPEN: (&str, &str) = ("HOOKD__PARTNERS__REGISTRATION", "open");
pub const FAST: (&str, &str) = ("HOOKD__PARTNERS__RETRY_SCHEDULE", "0s,100ms,100ms");

/// Bare hex HMAC-SHA256, as partners sign.
pub fn hmac_hex(key: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Registers a partner on a daemon in open mode; the 201 body.
pub async fn register(daemon: &Daemon, name: &str, url: &str, events: &[&str]) -> Value {
    let body = json!({"partner_name": name, "webhook_url": url, "events": events});
    let url = format!("{}/partners/register", daemon.public);
    let (status, json) = daemon.request("POST", &url, Some(&body), None).await;
    assert_eq!(status, 201, "register: {json}");
    json
}
