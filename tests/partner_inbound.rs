//! Black-box tests of inbound partner events: signed exactly as
//! the partner guide's `send_webhook_to_partner` signs, refused when they should be,
//! deduplicated, and fanned out onward with their `source`.

mod common;

use common::partner::{hmac_hex, register, CATALOG, INBOUND, OPEN};
use common::{wait_count, Daemon, Receiver};
use serde_json::{json, Value};

const ENV: [(&str, &str); 4] = [
    OPEN,
    CATALOG,
    INBOUND,
    ("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,100ms"),
];

/// What `requests.post(url, json=payload)` sends for the partner guide's
/// `tour_payload` (Python's `json.dumps` defaults: spaces, ASCII escapes).
const SEED_BODY: &str = r#"{"event": "tour.purchased", "timestamp": 1704186000, "tour_id": "tour_xyz789", "tour_name": "Monta\u00f1a Blanca", "buyer_email": "turista@example.com", "buyer_name": "Mar\u00eda Gonz\u00e1lez", "purchase_date": "2024-01-02T10:30:00Z", "price": 250.0}"#;
/// What the partner guide signs: `json.dumps(payload, sort_keys=True, separators=(',', ':'))`.
const SEED_SIGNED: &str = r#"{"buyer_email":"turista@example.com","buyer_name":"Mar\u00eda Gonz\u00e1lez","event":"tour.purchased","price":250.0,"purchase_date":"2024-01-02T10:30:00Z","timestamp":1704186000,"tour_id":"tour_xyz789","tour_name":"Monta\u00f1a Blanca"}"#;

/// An ASCII-only promotion, as a JSON client spaces it, and its canonical form.
const PROMO_BODY: &str = r#"{"event": "tour.promoted", "tour_id": "tour_1", "price": 99.5, "combo": {"nights": 2, "hotel": "Andes"}}"#;
const PROMO_SIGNED: &str = r#"{"combo":{"hotel":"Andes","nights":2},"event":"tour.promoted","price":99.5,"tour_id":"tour_1"}"#;

/// A partner that only sends: its ID and shared secret.
async fn register_sender(daemon: &Daemon, name: &str) -> (String, String) {
    let json = register(
        daemon,
        name,
        "https://partner.example/hook",
        &["payment.success"],
    )
    .await;
    (
        json["partner_id"].as_str().unwrap().to_string(),
        json["shared_secret"].as_str().unwrap().to_string(),
    )
}

async fn send(daemon: &Daemon, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let client = awc::Client::default();
    let mut request = client
        .post(format!("{}{path}", daemon.public))
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("User-Agent", "TuGrupoWebhooks/1.0"));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = request.send_body(body.to_string()).await.expect("request");
    let status = response.status().as_u16();
    let bytes = response.body().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn stored_of_type(daemon: &Daemon, event_type: &str) -> Vec<Value> {
    let (status, page) = daemon
        .api("GET", &format!("/events?type={event_type}"), None)
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn the_guides_sender_is_found_by_its_signature_and_deduplicated() {
    let daemon = Daemon::start(&ENV);
    let (_, _) = register_sender(&daemon, "Someone else").await;
    let (partner, secret) = register_sender(&daemon, "Grupo Montaña").await;
    let signature = hmac_hex(&secret, SEED_SIGNED.as_bytes());
    let headers = [
        ("X-Webhook-Signature", signature.as_str()),
        ("X-Webhook-Event", "tour.purchased"),
    ];

    let (status, first) = send(&daemon, "/webhooks/partners", &headers, SEED_BODY).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "received");
    assert!(first["timestamp"].is_u64());
    assert!(first["event_id"].as_str().unwrap().starts_with("evt_"));

    // The sender's own retry: same answer, nothing new stored.
    let (status, again) = send(&daemon, "/webhooks/partners", &headers, SEED_BODY).await;
    assert_eq!(status, 200);
    assert_eq!(again, first);
    let stored = stored_of_type(&daemon, "tour.purchased").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["source"], format!("partner:{partner}"));
    assert_eq!(stored[0]["data"]["tour_name"], "Montaña Blanca");
    assert_eq!(stored[0]["data"]["price"], 250.0);
}

#[actix_web::test]
async fn inbound_events_are_refused_when_they_should_be() {
    let daemon = Daemon::start(&ENV);
    let (partner, secret) = register_sender(&daemon, "P").await;
    let good = hmac_hex(&secret, PROMO_SIGNED.as_bytes());
    let event = ("X-Webhook-Event", "tour.promoted");

    // Missing headers → 400.
    let (status, json) = send(&daemon, "/webhooks/partners", &[event], PROMO_BODY).await;
    assert_eq!(status, 400, "{json}");
    let (status, _) = send(
        &daemon,
        "/webhooks/partners",
        &[("X-Webhook-Signature", &good)],
        PROMO_BODY,
    )
    .await;
    assert_eq!(status, 400);
    // Not a JSON object → 400.
    let list = "[1, 2]";
    let signed_list = hmac_hex(&secret, list.as_bytes());
    let (status, _) = send(
        &daemon,
        "/webhooks/partners",
        &[("X-Webhook-Signature", &signed_list), event],
        list,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        &daemon,
        "/webhooks/partners",
        &[("X-Webhook-Signature", &good), event],
        "{not json",
    )
    .await;
    assert_eq!(status, 400);
    // Bad signature, or a good one under another partner's name → 401.
    let bad = hmac_hex("sk_live_wrong", PROMO_SIGNED.as_bytes());
    let (status, json) = send(
        &daemon,
        "/webhooks/partners",
        &[("X-Webhook-Signature", &bad), event],
        PROMO_BODY,
    )
    .await;
    assert_eq!(status, 401, "{json}");
    assert_eq!(json["error"], "invalid_signature");
    let (other, _) = register_sender(&daemon, "Other").await;
    let (status, _) = send(
        &daemon,
        &format!("/webhooks/partners/{other}"),
        &[("X-Webhook-Signature", &good), event],
        PROMO_BODY,
    )
    .await;
    assert_eq!(status, 401);
    // A type partners may not send → 422, even when correctly signed.
    let (status, json) = send(
        &daemon,
        "/webhooks/partners",
        &[
            ("X-Webhook-Signature", &good),
            ("X-Webhook-Event", "payment.success"),
        ],
        PROMO_BODY,
    )
    .await;
    assert_eq!(status, 422, "{json}");
    let (status, _) = send(
        &daemon,
        "/webhooks/partners",
        &[
            ("X-Webhook-Signature", &good),
            ("X-Webhook-Event", "hookd.partner.registered"),
        ],
        PROMO_BODY,
    )
    .await;
    assert_eq!(status, 422);
    assert!(stored_of_type(&daemon, "tour.promoted").await.is_empty());

    // Named by path or header, signed over the raw body: accepted.
    let raw_signed = hmac_hex(&secret, PROMO_BODY.as_bytes());
    let (status, json) = send(
        &daemon,
        &format!("/webhooks/partners/{partner}"),
        &[("X-Webhook-Signature", &raw_signed), event],
        PROMO_BODY,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let other_body = r#"{"event": "tour.promoted", "tour_id": "tour_2"}"#;
    let other_signed = hmac_hex(&secret, other_body.as_bytes());
    let (status, json) = send(
        &daemon,
        "/webhooks/partners",
        &[
            ("X-Partner-Id", &partner),
            ("X-Webhook-Signature", &other_signed),
            event,
        ],
        other_body,
    )
    .await;
    assert_eq!(status, 200, "{json}");

    // A suspended partner is refused.
    daemon
        .api(
            "PATCH",
            &format!("/partners/{partner}"),
            Some(&json!({"status": "suspended"})),
        )
        .await;
    let third = r#"{"tour_id": "tour_3"}"#;
    let (status, _) = send(
        &daemon,
        &format!("/webhooks/partners/{partner}"),
        &[
            ("X-Webhook-Signature", &hmac_hex(&secret, third.as_bytes())),
            event,
        ],
        third,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(stored_of_type(&daemon, "tour.promoted").await.len(), 2);
}

#[actix_web::test]
async fn an_inbound_event_is_delivered_onward_with_its_source() {
    let daemon = Daemon::start(&ENV);
    let receiver = Receiver::start();
    daemon
        .create_endpoint(&receiver.url, &["tour.*"], json!({}))
        .await;
    let (partner, secret) = register_sender(&daemon, "P").await;
    let signature = hmac_hex(&secret, PROMO_SIGNED.as_bytes());
    let headers = [
        ("X-Webhook-Signature", signature.as_str()),
        ("X-Webhook-Event", "tour.promoted"),
    ];
    let (status, answer) = send(&daemon, "/webhooks/partners", &headers, PROMO_BODY).await;
    assert_eq!(status, 200, "{answer}");
    wait_count(&receiver, 1).await;
    let received = &receiver.received()[0];
    assert_eq!(received.header("X-Webhook-Event"), Some("tour.promoted"));
    let body = received.json();
    assert_eq!(body["id"], answer["event_id"]);
    assert_eq!(body["type"], "tour.promoted");
    assert_eq!(body["source"], format!("partner:{partner}"));
    // It carries the partner's account, yet goes to the platform's endpoints.
    assert_eq!(body["account_id"], partner);
    assert_eq!(body["data"]["combo"]["hotel"], "Andes");
}
