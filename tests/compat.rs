//! Compatibility with the platform guides hookd implements: each guide's own
//! receiver code, kept verbatim in `tests/compat/`, is run on a real delivery
//! from the running daemon to a local receiver. Python snippets skip with a
//! message where python3 is absent, the Node.js one where node is.
//!
//! The guides themselves are not part of this repository. Where they are
//! present (`../shared/seeds/` next to the checkout, or `HOOKD_GUIDES_DIR`),
//! a test checks that every snippet is still its guide's text.

mod common;

use std::path::PathBuf;

use common::guide_code::{available, python_verifies, run, snippet, snippet_path};
use common::partner::{register, CATALOG, FAST, OPEN};
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

/// The partner guide's receiver block, run as it is: `fastapi` stands in as
/// a module whose decorator keeps the function, the request is the
/// delivery's headers (looked up case-insensitively, as Starlette does) and
/// body. `time` is supplied because the block calls `time.time()` without
/// importing it (the README tells partners to add the import).
const PY_PARTNER_RECEIVER: &str = r#"
import asyncio, json, sys, time, types

class HTTPException(Exception):
    def __init__(self, status_code, detail=None):
        self.status_code = status_code

class FastAPI:
    def post(self, path):
        return lambda handler: handler

fastapi = types.ModuleType("fastapi")
fastapi.FastAPI, fastapi.Request, fastapi.HTTPException = FastAPI, object, HTTPException
sys.modules["fastapi"] = fastapi
ns = {"time": time}
exec(open(sys.argv[1], encoding="utf-8").read(), ns)

class Headers(dict):
    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)

class Request:
    def __init__(self, headers, body):
        self.headers, self.body = headers, body
    async def json(self):
        return json.loads(self.body)

headers = Headers((k.lower(), v) for k, v in json.loads(sys.argv[2]).items())
try:
    answer = asyncio.run(ns["receive_webhook"](Request(headers, sys.stdin.buffer.read())))
except HTTPException as refused:
    print(json.dumps({"refused": refused.status_code}))
    sys.exit(1)
print(json.dumps(answer))
"#;

/// Runs the partner guide's `receive_webhook` on one received request:
/// whether it answered, and what it printed.
fn partner_receiver(request: &common::receiver::Received, secret: &str) -> common::guide_code::Run {
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
        .collect();
    let headers = Value::Object(headers).to_string();
    let path = snippet_path("partner_receiver.py");
    run(
        "python3",
        &["-c", PY_PARTNER_RECEIVER, path.to_str().unwrap(), &headers],
        &[("PARTNER_SHARED_SECRET", secret)],
        &request.body,
    )
}

/// The partner guide's examples, with its `150.0` and accented names.
fn partner_events() -> [(&'static str, Value, &'static str); 3] {
    [
        (
            "payment.success",
            json!({"transaction_id": "txn_abc123def456", "amount": 150.0, "currency": "USD",
                "user_name": "Juan Pérez", "metadata": {"tour_name": "Amazonía Premium",
                "num_people": 4}, "provider": "stripe"}),
            "Pago exitoso: txn_abc123def456",
        ),
        (
            "booking.confirmed",
            json!({"booking_id": "res_uuid_here", "tour_name": "Galápagos Explorer",
                "total_participants": 2, "status": "confirmed"}),
            "Reserva confirmada: res_uuid_here",
        ),
        (
            "payment.failed",
            json!({"transaction_id": "txn_failed_123", "reason": "insufficient_funds",
                "amount": 100.0}),
            "Pago fallido: txn_failed_123",
        ),
    ]
}

#[actix_web::test]
async fn partner_python_receiver_verifies_and_handles_every_event() {
    if !available("python3", "partner Python receiver") {
        return;
    }
    let daemon = Daemon::start(&[CATALOG, OPEN, FAST]);
    let receiver = Receiver::start();
    let events = partner_events();
    let types: Vec<&str> = events.iter().map(|(t, _, _)| *t).collect();
    let partner = register(&daemon, "Grupo Montaña", &receiver.url, &types).await;
    let secret = partner["shared_secret"].as_str().unwrap();
    for (event_type, data, _) in &events {
        daemon.publish(event_type, data.clone()).await;
    }
    wait_count(&receiver, events.len()).await;
    let received = receiver.received();
    for (event_type, _, printed) in &events {
        let request = received
            .iter()
            .find(|r| r.header("X-Webhook-Event") == Some(event_type))
            .unwrap_or_else(|| panic!("no delivery of {event_type}"));
        let out = partner_receiver(request, secret);
        assert!(out.success, "{event_type}: {} {}", out.stdout, out.stderr);
        assert!(out.stdout.contains(printed), "{event_type}: {}", out.stdout);
        let answer: Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
        assert_eq!(answer["status"], "received");
        // Another secret: the guide's receiver answers 401.
        let out = partner_receiver(request, "sk_live_not_this_partner");
        assert!(!out.success);
        assert!(out.stdout.contains(r#"{"refused": 401}"#), "{}", out.stdout);
    }
}

/// The partner guide's Node.js `verifySignature`, verbatim, on the body as
/// `express.json()` parses it; then the README's advice, an HMAC of the raw
/// body. Prints both results.
fn node_verifiers(body: &[u8], signature: &str, secret: &str) -> (bool, bool) {
    let script = format!(
        "const crypto = require('crypto');\n\
         const SHARED_SECRET = process.env.PARTNER_SHARED_SECRET;\n\
         {}\n\
         const raw = require('fs').readFileSync(0);\n\
         const signature = process.env.SIGNATURE;\n\
         const rawOk = crypto.createHmac('sha256', SHARED_SECRET).update(raw).digest('hex') === signature;\n\
         console.log(JSON.stringify([verifySignature(JSON.parse(raw.toString('utf8')), signature), rawOk]));\n",
        snippet("partner_verify.js")
    );
    let out = run(
        "node",
        &["-e", &script],
        &[("PARTNER_SHARED_SECRET", secret), ("SIGNATURE", signature)],
        body,
    );
    assert!(out.success, "node: {}", out.stderr);
    serde_json::from_str(out.stdout.trim()).expect("two booleans")
}

#[actix_web::test]
async fn partner_node_verifier_holds_only_for_ascii_integer_payloads() {
    if !available("node", "partner Node.js verifier") {
        return;
    }
    let daemon = Daemon::start(&[CATALOG, OPEN, FAST]);
    let receiver = Receiver::start();
    let partner = register(&daemon, "Grupo Node", &receiver.url, &["payment.success"]).await;
    let secret = partner["shared_secret"].as_str().unwrap();
    // (data, whether the guide's Node verifier accepts it), as the README says.
    let cases = [
        (
            json!({"transaction_id": "txn_ascii", "amount": 150, "num_people": 4}),
            true,
        ),
        (
            json!({"transaction_id": "txn_float", "amount": 150.0}),
            false,
        ),
        (
            json!({"transaction_id": "txn_accent", "tour_name": "Montaña Blanca"}),
            false,
        ),
    ];
    for (data, _) in &cases {
        daemon.publish("payment.success", data.clone()).await;
    }
    wait_count(&receiver, cases.len()).await;
    let received = receiver.received();
    for (data, node_verifies) in &cases {
        let id = &data["transaction_id"];
        let request = received
            .iter()
            .find(|r| &r.json()["transaction_id"] == id)
            .unwrap_or_else(|| panic!("no delivery of {id}"));
        let signature = request.header("X-Webhook-Signature").unwrap();
        let (snippet_ok, raw_ok) = node_verifiers(&request.body, signature, secret);
        assert_eq!(snippet_ok, *node_verifies, "Node verifySignature on {id}");
        assert!(raw_ok, "a raw-body HMAC must verify {id}");
    }
}
