//! Black-box tests of deliveries to a partner: what a receiver written from
//! the partner protocol checks (re-serialized canonical JSON, raw body, flat
//! payload). The guide's own receiver code runs in `compat_partner.rs`.

mod common;

use common::partner::{hmac_hex, register, CATALOG, FAST, OPEN};
use common::{wait_count, Daemon, Receiver};
use hookd::delivery::canonical_json::canonical_json;
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
async fn a_partner_delivery_verifies_like_the_partner_protocol() {
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
