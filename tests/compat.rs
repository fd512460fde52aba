//! Compatibility with the platform guides hookd implements: each guide's own
//! receiver code, kept verbatim in `tests/compat/`, is run on a real delivery
//! from the running daemon to a local receiver (the partner protocol's in
//! `compat_partner.rs`). Python snippets skip with a message where python3
//! is absent.
//!
//! The guides themselves are not part of this repository. Where they are
//! present (`../shared/seeds/` next to the checkout, or `HOOKD_GUIDES_DIR`),
//! a test checks that every snippet is still its guide's text.

mod common;

use std::path::PathBuf;

use common::guide_code::{available, python_verifies, run, snippet, snippet_path};
use common::{only_delivery_of, wait_count, Daemon, Receiver};
use serde_json::{json, Value};

/// Each snippet, and a phrase found only in the guide it comes from.
const SNIPPETS: [(&str, &str); 8] = [
    ("streaming_platform_verify.py", "Bayit+"),
    ("waste_management_verify.py", "Gestión de Residuos"),
    ("fashion_catalog_verify.py", "fashion catalog"),
    ("fashion_catalog_inventory.py", "fashion catalog"),
    ("fashion_catalog_behavior.py", "fashion catalog"),
    ("fashion_catalog_personalization.py", "fashion catalog"),
    ("partner_receiver.py", "Grupos Partner"),
    ("partner_verify.js", "Grupos Partner"),
];

#[test]
fn every_snippet_is_still_its_guides_text() {
    let dir = std::env::var_os("HOOKD_GUIDES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds"));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "SKIPPED: no platform guides at {} (set HOOKD_GUIDES_DIR); snippets not compared",
            dir.display()
        );
        return;
    };
    let guides: Vec<String> = entries
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .collect();
    for (name, marker) in SNIPPETS {
        let guide = guides
            .iter()
            .find(|text| text.contains(marker))
            .unwrap_or_else(|| panic!("no guide mentions {marker:?} in {}", dir.display()));
        assert!(
            guide.contains(&snippet(name)),
            "{name} no longer matches its guide's text"
        );
    }
}

/// The one request `receiver` got, once it got it.
async fn only_request(receiver: &Receiver) -> common::receiver::Received {
    wait_count(receiver, 1).await;
    receiver.received().remove(0)
}

/// A daemon delivering `events` to a fresh receiver through an endpoint
/// created with `extra` fields; the endpoint as created (with its secret).
async fn endpoint_with(events: &[&str], extra: Value) -> (Daemon, Receiver, Value) {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let endpoint = daemon.create_endpoint(&receiver.url, events, extra).await;
    (daemon, receiver, endpoint)
}

#[actix_web::test]
async fn streaming_platform_verifier_with_its_renamed_header() {
    if !available("python3", "streaming platform verifier") {
        return;
    }
    let (daemon, receiver, endpoint) = endpoint_with(
        &["user.*"],
        json!({"signature_header": "X-Bayit-Signature"}),
    )
    .await;
    let secret = endpoint["secret"].as_str().unwrap();
    let data = json!({"user_id": "usr_xyz789", "old_plan": "basic", "new_plan": "premium",
        "effective_at": "2024-01-15T10:30:00Z"});
    let event = daemon
        .publish("user.subscription.changed", data.clone())
        .await;
    let received = only_request(&receiver).await;

    let signature = received
        .header("X-Bayit-Signature")
        .expect("renamed header");
    assert!(received.header("X-Webhook-Signature").is_none());
    let verify = |sig: &str, key: &str| {
        python_verifies(
            "streaming_platform_verify.py",
            "verify_signature",
            &received.body,
            sig,
            key,
        )
    };
    assert!(verify(signature, secret), "the guide's verifier refused");
    assert!(!verify(signature, "whsec_another_secret_entirely"));
    let body = received.json();
    assert_eq!(body["id"], event["id"]);
    assert_eq!(body["type"], "user.subscription.changed");
    assert_eq!(body["created_at"], event["created_at"]);
    assert_eq!(body["data"], data);

    // "Test events carry a `test: true` flag in the payload", and verify too.
    let path = format!("/webhooks/{}/test", endpoint["id"].as_str().unwrap());
    let (status, answer) = daemon
        .api("POST", &path, Some(&json!({"event": "user.created"})))
        .await;
    assert_eq!(status, 202, "{answer}");
    wait_count(&receiver, 2).await;
    let test_send = receiver.received().remove(1);
    assert_eq!(test_send.json()["test"], true);
    let signature = test_send.header("X-Bayit-Signature").unwrap();
    assert!(python_verifies(
        "streaming_platform_verify.py",
        "verify_signature",
        &test_send.body,
        signature,
        secret
    ));
}

#[actix_web::test]
async fn waste_management_bare_hex_verifier_and_its_three_headers() {
    if !available("python3", "waste management verifier") {
        return;
    }
    let (daemon, receiver, endpoint) =
        endpoint_with(&["collection.completed"], json!({"signature_style": "hex"})).await;
    let secret = endpoint["secret"].as_str().unwrap();
    let data = json!({"collection_id": "12345", "status": "completed",
        "completed_at": "2024-01-15T10:30:00Z", "waste_type": "organic", "customer_id": "67890"});
    let event = daemon.publish("collection.completed", data.clone()).await;
    let received = only_request(&receiver).await;

    let signature = received.header("X-Webhook-Signature").unwrap();
    let verify = |sig: &str| {
        python_verifies(
            "waste_management_verify.py",
            "verify_webhook_signature",
            &received.body,
            sig,
            secret,
        )
    };
    assert!(verify(signature), "the guide's verifier refused");
    assert!(!verify(&format!("sha256={signature}")));
    assert_eq!(
        received.header("X-Webhook-Event"),
        Some("collection.completed")
    );
    let delivery_id = only_delivery_of(&daemon, &event).await;
    assert_eq!(
        received.header("X-Webhook-Delivery"),
        Some(delivery_id.as_str())
    );
    assert_eq!(received.json()["data"], data);
}

/// Loads every fashion catalog handler with the helpers they call recording
/// their arguments, runs the one named on the parsed body, prints the calls.
const PY_FASHION_HANDLERS: &str = r#"
import json, sys
calls = []
ns = {
    "update_external_inventory": lambda *args: calls.append(["update_external_inventory", *args]),
    "send_to_analytics_platform": lambda *args: calls.append(["send_to_analytics_platform", *args]),
    "update_customer_preferences": lambda *args: calls.append(["update_customer_preferences", *args]),
}
for path in sys.argv[2:]:
    exec(open(path, encoding="utf-8").read(), ns)
ns[sys.argv[1]](json.loads(sys.stdin.buffer.read()))
print(json.dumps(calls))
"#;

#[actix_web::test]
async fn fashion_catalog_handlers_on_a_nested_endpoint() {
    if !available("python3", "fashion catalog handlers") {
        return;
    }
    let (daemon, receiver, endpoint) = endpoint_with(
        &["catalog.*", "customer.*"],
        json!({"payload_format": "nested"}),
    )
    .await;
    let secret = endpoint["secret"].as_str().unwrap();
    let cases = [
        (
            "catalog.product.updated",
            json!({"product_id": "prod_12345", "sku": "DRESS-SUMMER-001", "quantity": 7,
                "price": 89.99}),
            "handle_product_updated",
            json!([["update_external_inventory", "DRESS-SUMMER-001", 7]]),
        ),
        (
            "customer.cart.added",
            json!({"customer_id": "cust_67890", "product_id": "prod_54321"}),
            "handle_customer_behavior",
            Value::Null, // filled in below: it carries the event's own time
        ),
        (
            "customer.product.viewed",
            json!({"customer_id": "cust_67890", "product_id": "prod_12345"}),
            "handle_product_viewed",
            json!([["update_customer_preferences", "cust_67890", "prod_12345"]]),
        ),
    ];
    let mut events = Vec::new();
    for (event_type, data, _, _) in &cases {
        events.push(daemon.publish(event_type, data.clone()).await);
    }
    wait_count(&receiver, cases.len()).await;
    let received = receiver.received();
    let handlers: Vec<String> = [
        "fashion_catalog_inventory.py",
        "fashion_catalog_behavior.py",
        "fashion_catalog_personalization.py",
    ]
    .iter()
    .map(|name| snippet_path(name).to_str().unwrap().to_string())
    .collect();

    for ((event_type, data, handler, calls), event) in cases.iter().zip(&events) {
        let request = received
            .iter()
            .find(|r| r.header("X-Webhook-Event") == Some(event_type))
            .unwrap_or_else(|| panic!("no delivery of {event_type}"));
        let signature = request.header("X-Webhook-Signature").unwrap();
        assert!(
            python_verifies(
                "fashion_catalog_verify.py",
                "verify_signature",
                &request.body,
                signature,
                secret
            ),
            "the guide's verifier refused {event_type}"
        );
        let body = request.json();
        assert_eq!(
            body,
            json!({"id": event["id"], "event": event_type, "timestamp": event["created_at"],
                "data": data})
        );
        let mut args = vec!["-c", PY_FASHION_HANDLERS, handler];
        args.extend(handlers.iter().map(String::as_str));
        let out = run("python3", &args, &[], &request.body);
        assert!(out.success, "{handler} raised: {}", out.stderr);
        let expected = match calls {
            Value::Null => json!([["send_to_analytics_platform", {"customer_id": "cust_67890",
                "action": event_type, "timestamp": event["created_at"]}]]),
            calls => calls.clone(),
        };
        let got: Value = serde_json::from_str(out.stdout.trim()).expect("calls as JSON");
        assert_eq!(got, expected, "{handler}");
    }
}
