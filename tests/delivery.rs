//! Black-box tests of the delivery engine: signed POSTs to a real receiver,
//! outcome classification, retries on the wheel, isolation, and survival
//! across restarts and `kill -9`.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use common::{wait_for, Daemon, Receiver, Reply};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const FAST: [(&str, &str); 1] = [("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,100ms,100ms")];

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The Standard Webhooks check a receiver library performs.
fn standard_webhooks_valid(secret: &str, received: &common::receiver::Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let id = received.header("webhook-id").unwrap();
    let timestamp = received.header("webhook-timestamp").unwrap();
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&received.body);
    let expected = format!("v1,{}", hmac_b64(&key, &signed));
    received
        .header("webhook-signature")
        .unwrap()
        .split(' ')
        .any(|s| s == expected)
}

async fn delivery(daemon: &Daemon, id: &str) -> Value {
    let (status, body) = daemon.api("GET", &format!("/deliveries/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn only_delivery_of(daemon: &Daemon, event: &Value) -> String {
    let (_, body) = daemon
        .api(
            "GET",
            &format!("/events/{}", event["id"].as_str().unwrap()),
            None,
        )
        .await;
    body["deliveries"][0]["id"].as_str().unwrap().to_string()
}

async fn wait_status(daemon: &Daemon, id: &str, status: &str) -> Value {
    wait_for(
        &format!("delivery {id} to be {status}"),
        Duration::from_secs(20),
        || async {
            let body = delivery(daemon, id).await;
            (body["status"] == status).then_some(body)
        },
    )
    .await
}

#[actix_web::test]
async fn every_signature_style_verifies_on_the_receiving_side() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let mut secrets = Vec::new();
    for (style, format) in [
        ("sha256-prefixed", "envelope"),
        ("hex", "envelope"),
        ("canonical-json", "flat"),
    ] {
        let url = format!("{}/{style}", receiver.url);
        let endpoint = daemon
            .create_endpoint(
                &url,
                &["payment.*"],
                json!({"signature_style": style, "payload_format": format}),
            )
            .await;
        secrets.push((style, endpoint["secret"].as_str().unwrap().to_string()));
    }
    let data = json!({"amount": 150.0, "user_name": "Juan Pérez", "emoji": "😀", "nested": {"b": 1, "a": 2}});
    let event = daemon.publish("payment.success", data).await;
    wait_for("three deliveries", Duration::from_secs(10), || async {
        (receiver.count() == 3).then_some(())
    })
    .await;

    for received in receiver.received() {
        let (style, secret) = secrets
            .iter()
            .find(|(style, _)| received.path.ends_with(style))
            .unwrap();
        assert_eq!(received.header("Content-Type"), Some("application/json"));
        assert_eq!(received.header("X-Webhook-Event"), Some("payment.success"));
        assert_eq!(received.header("X-Webhook-Attempt"), Some("1"));
        assert!(received.header("User-Agent").unwrap().starts_with("hookd/"));
        let delivery_id = received.header("X-Webhook-Delivery").unwrap();
        assert!(delivery_id.starts_with("dlv_"));
        assert_eq!(received.header("webhook-id"), Some(delivery_id));
        assert!(standard_webhooks_valid(secret, &received), "{style}");
        let signature = received.header("X-Webhook-Signature").unwrap();
        let raw = hmac_hex(secret.as_bytes(), &received.body);
        match *style {
            "sha256-prefixed" => {
                assert_eq!(signature, format!("sha256={raw}"));
                let body = received.json();
                assert_eq!(body["id"], event["id"]);
                assert_eq!(body["type"], "payment.success");
                assert_eq!(body["data"]["amount"], 150.0);
            }
            "hex" => assert_eq!(signature, raw),
            _ => {
                // Seed 004: the receiver re-serializes with sort_keys and
                // compact separators; the bytes sent are exactly that form.
                assert_eq!(signature, raw);
                let text = String::from_utf8(received.body.clone()).unwrap();
                assert!(text.contains(r#""amount":150.0"#), "{text}");
                assert!(text.contains(r#"Juan P\u00e9rez"#), "{text}");
                assert!(text.contains(r#"\ud83d\ude00"#), "{text}");
                assert!(text.contains(r#""nested":{"a":2,"b":1}"#), "{text}");
                let body = received.json();
                assert_eq!(body["event"], "payment.success");
                assert!(body["timestamp"].is_u64());
            }
        }
    }
}

#[actix_web::test]
async fn a_failing_receiver_is_retried_under_one_delivery_id() {
    let daemon = Daemon::start(&FAST);
    let receiver = Receiver::start();
    receiver.push(Reply::status(500));
    receiver.push(Reply::status(500));
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let event = daemon.publish("order.paid", json!({})).await;
    let id = only_delivery_of(&daemon, &event).await;
    let body = wait_status(&daemon, &id, "succeeded").await;
    let attempts = body["attempts"].as_array().unwrap();
    let codes: Vec<u64> = attempts
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(received
        .iter()
        .all(|r| r.header("X-Webhook-Delivery") == Some(id.as_str())));
    let numbers: Vec<&str> = received
        .iter()
        .map(|r| r.header("X-Webhook-Attempt").unwrap())
        .collect();
    assert_eq!(numbers, ["1", "2", "3"]);
}

#[actix_web::test]
async fn final_answers_stop_retrying() {
    let daemon = Daemon::start(&FAST);
    let not_found = Receiver::start();
    not_found.set_default(Reply::status(404));
    let gone = Receiver::start();
    gone.set_default(Reply::status(410));
    daemon
        .create_endpoint(&not_found.url, &["a.*"], json!({}))
        .await;
    let gone_endpoint = daemon.create_endpoint(&gone.url, &["b.*"], json!({})).await;

    let event = daemon.publish("a.x", json!({})).await;
    let id = only_delivery_of(&daemon, &event).await;
    let body = wait_status(&daemon, &id, "failed").await;
    assert_eq!(body["attempts"].as_array().unwrap().len(), 1);

    let event = daemon.publish("b.x", json!({})).await;
    let id = only_delivery_of(&daemon, &event).await;
    wait_status(&daemon, &id, "failed").await;
    let endpoint_id = gone_endpoint["id"].as_str().unwrap();
    let endpoint = wait_for("endpoint disabled", Duration::from_secs(10), || async {
        let (_, body) = daemon
            .api("GET", &format!("/webhooks/{endpoint_id}"), None)
            .await;
        (body["active"] == false).then_some(body)
    })
    .await;
    assert_eq!(endpoint["disabled_reason"], "gone");
    assert_eq!(gone.count(), 1);
    assert_eq!(not_found.count(), 1);
}

#[actix_web::test]
async fn redirects_are_never_followed() {
    let daemon = Daemon::start(&[("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,100ms")]);
    let receiver = Receiver::start();
    let elsewhere = format!("{}/elsewhere", receiver.url);
    receiver.set_default(Reply::status(302).header("Location", &elsewhere));
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let event = daemon.publish("a.b", json!({})).await;
    let id = only_delivery_of(&daemon, &event).await;
    let body = wait_status(&daemon, &id, "failed").await;
    assert_eq!(
        body["attempts"].as_array().unwrap().len(),
        2,
        "3xx is retried"
    );
    assert!(receiver
        .received()
        .iter()
        .all(|r| !r.path.ends_with("elsewhere")));
}

#[actix_web::test]
async fn a_slow_receiver_times_out_and_is_retried() {
    let daemon = Daemon::start(&FAST);
    let receiver = Receiver::start();
    receiver.push(Reply::status(200).delayed(Duration::from_secs(3)));
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({"timeout": "300ms"}))
        .await;
    let event = daemon.publish("a.b", json!({})).await;
    let id = only_delivery_of(&daemon, &event).await;
    let body = wait_status(&daemon, &id, "succeeded").await;
    let attempts = body["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["error"], "timeout");
    assert_eq!(attempts[1]["status_code"], 200);
}

#[actix_web::test]
async fn retry_after_is_honoured() {
    let daemon = Daemon::start(&[("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,30s")]);
    let receiver = Receiver::start();
    receiver.push(Reply::status(429).header("Retry-After", "1"));
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let event = daemon.publish("a.b", json!({})).await;
    let id = only_delivery_of(&daemon, &event).await;
    // The 30s slot would outlast the wait below; Retry-After: 1 brings it forward.
    wait_status(&daemon, &id, "succeeded").await;
    let received = receiver.received();
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_millis(900), "{gap:?}");
}

#[actix_web::test]
async fn a_hanging_endpoint_does_not_delay_a_healthy_one() {
    let daemon = Daemon::start(&[]);
    let hanging = Receiver::start();
    hanging.set_default(Reply::status(200).delayed(Duration::from_secs(30)));
    let healthy = Receiver::start();
    daemon
        .create_endpoint(&hanging.url, &["slow.*"], json!({"max_in_flight": 2}))
        .await;
    daemon
        .create_endpoint(&healthy.url, &["fast.*"], json!({}))
        .await;
    for n in 0..20 {
        daemon.publish("slow.event", json!({"n": n})).await;
    }
    wait_for(
        "the hanging endpoint to hold its slots",
        Duration::from_secs(10),
        || async { (hanging.count() == 2).then_some(()) },
    )
    .await;
    for n in 0..5 {
        daemon.publish("fast.event", json!({"n": n})).await;
    }
    wait_for(
        "the healthy endpoint's deliveries",
        Duration::from_secs(5),
        || async { (healthy.count() == 5).then_some(()) },
    )
    .await;
    assert_eq!(hanging.count(), 2, "max_in_flight exceeded");
}

#[actix_web::test]
async fn a_restart_in_the_middle_of_a_schedule_continues_it() {
    let schedule = [("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,2s,2s")];
    let mut daemon = Daemon::start(&schedule);
    let receiver = Receiver::start();
    receiver.set_default(Reply::status(500));
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let event = daemon.publish("a.b", json!({})).await;
    let id = only_delivery_of(&daemon, &event).await;
    wait_for("the first attempt", Duration::from_secs(10), || async {
        let body = delivery(&daemon, &id).await;
        (body["attempt_count"] == 1).then_some(())
    })
    .await;
    daemon.restart(&schedule);
    receiver.set_default(Reply::status(200));
    let body = wait_status(&daemon, &id, "succeeded").await;
    assert_eq!(body["attempt_count"], 2);
}

#[actix_web::test]
async fn every_acknowledged_event_arrives_after_kill_9() {
    // Thirty attempts a second apart: no delivery can run out of attempts
    // before the kill, however slowly the machine publishes.
    let slots = format!("0s{}", ",1s".repeat(29));
    // Thousands of 503s in a row would otherwise switch the endpoint off.
    let schedule = [
        ("HOOKD__DELIVERY__RETRY_SCHEDULE", slots.as_str()),
        ("HOOKD__DELIVERY__DISABLE_AFTER_FAILURES", "1000000"),
    ];
    let mut daemon = Daemon::start(&schedule);
    let receiver = Receiver::start();
    receiver.set_default(Reply::status(503));
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let mut acknowledged = HashSet::new();
    for chunk in 0..30 {
        let batch: Vec<Value> = (0..10)
            .map(|n| json!({"type": "crash.test", "data": {"n": chunk * 10 + n}}))
            .collect();
        let (status, answer) = daemon
            .api("POST", "/events/batch", Some(&json!(batch)))
            .await;
        assert_eq!(status, 202);
        for item in answer["data"].as_array().unwrap() {
            acknowledged.insert(item["id"].as_str().unwrap().to_string());
        }
    }
    daemon.kill9();
    receiver.set_default(Reply::status(200));
    daemon.restart(&schedule);
    wait_for(
        "every acknowledged event",
        Duration::from_secs(60),
        || async {
            let delivered: HashSet<String> = receiver
                .received()
                .iter()
                .filter(|r| r.header("X-Webhook-Attempt").is_some())
                .map(|r| r.json())
                .filter(|_| true)
                .filter_map(|body| body["id"].as_str().map(str::to_string))
                .collect();
            acknowledged.is_subset(&delivered).then_some(())
        },
    )
    .await;
}

#[actix_web::test]
async fn disabling_holds_deliveries_and_enabling_resumes_them() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    daemon
        .api("PATCH", &path, Some(&json!({"active": false})))
        .await;
    // Published while disabled: no delivery. Published before: held.
    let (_, enabled) = daemon
        .api("PATCH", &path, Some(&json!({"active": true})))
        .await;
    assert_eq!(enabled["active"], true);
    receiver.set_default(Reply::status(200).delayed(Duration::from_secs(60)));
    let first = daemon.publish("a.b", json!({})).await;
    let second = daemon.publish("a.b", json!({})).await;
    wait_for(
        "the first attempt to start",
        Duration::from_secs(10),
        || async { (receiver.count() >= 1).then_some(()) },
    )
    .await;
    daemon
        .api("PATCH", &path, Some(&json!({"active": false})))
        .await;
    let first_id = only_delivery_of(&daemon, &first).await;
    let second_id = only_delivery_of(&daemon, &second).await;
    let (_, held) = daemon
        .api("GET", &format!("{path}/deliveries?status=held"), None)
        .await;
    assert!(!held["data"].as_array().unwrap().is_empty(), "{held}");
    receiver.set_default(Reply::status(200));
    daemon
        .api("PATCH", &path, Some(&json!({"active": true})))
        .await;
    wait_status(&daemon, &first_id, "succeeded").await;
    wait_status(&daemon, &second_id, "succeeded").await;

    let third = daemon.publish("a.b", json!({})).await;
    let third_id = only_delivery_of(&daemon, &third).await;
    wait_status(&daemon, &third_id, "succeeded").await;
    daemon
        .api("PATCH", &path, Some(&json!({"active": false})))
        .await;
    let fourth_answer = daemon.publish("a.b", json!({})).await;
    assert_eq!(
        fourth_answer["deliveries"], 0,
        "a disabled endpoint gets nothing new"
    );
}

#[actix_web::test]
async fn deleting_an_endpoint_cancels_what_it_was_owed() {
    let daemon = Daemon::start(&[("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,1h")]);
    let receiver = Receiver::start();
    receiver.set_default(Reply::status(500));
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let event = daemon.publish("a.b", json!({})).await;
    let id = only_delivery_of(&daemon, &event).await;
    wait_for("the first attempt", Duration::from_secs(10), || async {
        (delivery(&daemon, &id).await["attempt_count"] == 1).then_some(())
    })
    .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    let (status, _) = daemon.api("DELETE", &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(delivery(&daemon, &id).await["status"], "cancelled");
}

#[actix_web::test]
async fn deliveries_can_be_listed_resent_and_tested() {
    let daemon = Daemon::start(&[("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s")]);
    let receiver = Receiver::start();
    receiver.push(Reply::status(500));
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["*"], json!({"debug_mode": true}))
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    let event = daemon.publish("a.b", json!({"k": "v"})).await;
    let id = only_delivery_of(&daemon, &event).await;
    let failed = wait_status(&daemon, &id, "failed").await;
    let attempt = &failed["attempts"][0];
    assert_eq!(attempt["status_code"], 500);
    assert!(attempt["request_body"]
        .as_str()
        .unwrap()
        .contains("\"k\":\"v\""));
    assert_eq!(attempt["response_body"], "ok");
    assert!(attempt["duration_ms"].is_u64());
    assert!(attempt["at"].as_str().unwrap().ends_with('Z'));

    let (_, listed) = daemon
        .api("GET", &format!("{path}/deliveries?status=failed"), None)
        .await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let (_, none) = daemon
        .api("GET", &format!("{path}/deliveries?status=succeeded"), None)
        .await;
    assert_eq!(none["data"], json!([]));

    let (status, _) = daemon
        .api("POST", &format!("/deliveries/{id}/retry"), None)
        .await;
    assert_eq!(status, 202);
    let resent = wait_status(&daemon, &id, "succeeded").await;
    assert_eq!(resent["attempts"].as_array().unwrap().len(), 2);

    let (status, test) = daemon
        .api(
            "POST",
            &format!("{path}/test"),
            Some(&json!({"event": "catalog.product.created"})),
        )
        .await;
    assert_eq!(status, 202, "{test}");
    let test_id = test["delivery_id"].as_str().unwrap();
    wait_status(&daemon, test_id, "succeeded").await;
    let body = receiver.received().last().unwrap().json();
    assert_eq!(body["test"], true);
    assert_eq!(body["type"], "catalog.product.created");

    let (_, page) = daemon
        .api("GET", &format!("{path}/deliveries?limit=1"), None)
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
}

#[actix_web::test]
async fn sigterm_lets_in_flight_attempts_finish() {
    let mut daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    receiver.push(Reply::status(200).delayed(Duration::from_millis(800)));
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let event = daemon.publish("a.b", json!({})).await;
    let id = only_delivery_of(&daemon, &event).await;
    wait_for("the attempt to start", Duration::from_secs(10), || async {
        (receiver.count() == 1).then_some(())
    })
    .await;
    let status = daemon.stop();
    assert!(status.success(), "{status:?}");
    daemon.restart(&[]);
    let body = delivery(&daemon, &id).await;
    assert_eq!(body["status"], "succeeded");
    assert_eq!(
        receiver.count(),
        1,
        "the finished attempt must not be repeated"
    );
}

#[actix_web::test]
async fn rate_limit_spaces_attempts_to_an_endpoint() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({"rate_limit_per_s": 10}))
        .await;
    let batch: Vec<Value> = (0..6)
        .map(|n| json!({"type": "a.b", "data": {"n": n}}))
        .collect();
    let (status, _) = daemon
        .api("POST", "/events/batch", Some(&json!(batch)))
        .await;
    assert_eq!(status, 202);
    wait_for("six deliveries", Duration::from_secs(10), || async {
        (receiver.count() == 6).then_some(())
    })
    .await;
    let received = receiver.received();
    // Ten a second: six attempts cannot fit in less than half a second.
    let span = received[5].at - received[0].at;
    assert!(span >= Duration::from_millis(450), "{span:?}");
}
