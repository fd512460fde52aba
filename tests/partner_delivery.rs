//! Black-box tests of deliveries to a partner: what a receiver written from
//! the partner guide checks (re-serialized canonical JSON, raw body, flat
//! payload),
//! including the guide's own Python `verify_signature` when python3 exists.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::partner::{hmac_hex, register, CATALOG, FAST, OPEN};
use common::{wait_count, Daemon, Receiver};
use hookd::delivery::payload::canonical_json;
use serde_json::{json, Value};

fn delivery_data() -> Value {
    json!({
        "transaction_id": "txn_abc123def456",
        "amount": 150.0,
        "currency": "USD",
        "user_name": "Juan Pérez",
        "user_email": "cliente@example.com",
        "metadata": {"tour_name": "Amazonía Premium", "num_people": 4, "emoji": "😀"},
        "provider": "stripe"
    })
}

#[actix_web::test]
async fn a_partner_delivery_verifies_like_the_partner_guide_says() {
    let daemon = Daemon::start(&[CATALOG, OPEN, FAST]);
    let receiver = Receiver::start();
    let partner = register(
        &daemon,
        "Grupo Montaña",
        &receiver.url,
        &["payment.success"],
    )
    .await;
    let secret = partner["shared_secret"].as_str().unwrap();
    daemon.publish("payment.success", delivery_data()).await;
    wait_count(&receiver, 1).await;

    let received = &receiver.received()[0];
    assert_eq!(received.header("X-Webhook-Event"), Some("payment.success"));
    assert_eq!(received.header("Content-Type"), Some("application/json"));
    let signature = received.header("X-Webhook-Signature").unwrap();
    // A raw-body check passes…
    assert_eq!(signature, hmac_hex(secret, &received.body));
    // …and so does the partner guide's: re-serialize what was parsed, then sign.
    let body = received.json();
    assert_eq!(
        signature,
        hmac_hex(secret, canonical_json(&body).as_bytes())
    );
    assert_eq!(body["event"], "payment.success");
    assert!(body["timestamp"].is_u64(), "{body}");
    assert_eq!(body["amount"], 150.0);
    assert_eq!(body["user_name"], "Juan Pérez");
    assert_eq!(body["metadata"]["emoji"], "😀");
    assert!(body.get("test").is_none() && body.get("data").is_none());
}

/// The partner guide's `verify_signature`, verbatim, fed the parsed body.
const SEED_VERIFY: &str = r#"
import hmac, hashlib, json, os, sys
SHARED_SECRET = os.environ["PARTNER_SHARED_SECRET"]

def verify_signature(payload: dict, signature: str) -> bool:
    payload_str = json.dumps(payload, sort_keys=True, separators=(',', ':'))
    expected_signature = hmac.new(
        SHARED_SECRET.encode('utf-8'),
        payload_str.encode('utf-8'),
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(signature, expected_signature)

body = json.loads(sys.stdin.buffer.read())
sys.exit(0 if verify_signature(body, sys.argv[1]) else 1)
"#;

#[actix_web::test]
async fn the_partner_guides_own_python_receiver_accepts_the_delivery() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED: python3 is not installed; the partner guide's verify_signature cannot run"
        );
        return;
    }
    let daemon = Daemon::start(&[CATALOG, OPEN, FAST]);
    let receiver = Receiver::start();
    let partner = register(&daemon, "Grupo Python", &receiver.url, &["payment.success"]).await;
    let secret = partner["shared_secret"].as_str().unwrap();
    daemon.publish("payment.success", delivery_data()).await;
    wait_count(&receiver, 1).await;
    let received = &receiver.received()[0];
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(SEED_VERIFY)
        .arg(received.header("X-Webhook-Signature").unwrap())
        .env("PARTNER_SHARED_SECRET", secret)
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(&received.body)
        .unwrap();
    let status = python.wait().unwrap();
    assert!(
        status.success(),
        "the partner guide's verify_signature refused: {}",
        String::from_utf8_lossy(&received.body)
    );
}
