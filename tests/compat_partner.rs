//! The partner protocol's receiver code, verbatim from its guide (kept in
//! `tests/compat/`), on real partner deliveries: the Python receiver with its
//! handlers, and the Node.js verifier, which holds only for ASCII payloads
//! whose numbers print alike in JavaScript and Python. Skipped with a message
//! where python3 or node is absent.

mod common;

use common::guide_code::{available, run, snippet, snippet_path};
use common::partner::{register, CATALOG, FAST, OPEN};
use common::{wait_count, Daemon, Receiver};
use serde_json::{json, Value};

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
