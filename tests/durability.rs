//! Black-box tests of what a delivery survives: restarts in the middle of a
//! schedule, `kill -9`, SIGTERM with attempts in flight, an endpoint being
//! disabled, re-enabled or deleted, a resend by hand, and being read or
//! listed while its first attempt is recorded.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{
    delivery, only_delivery_of, wait_count, wait_for, wait_status, Daemon, Receiver, Reply,
};
use serde_json::{json, Value};

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
    // Published while disabled: held, and sent once enabled again.
    let fourth = daemon.publish("a.b", json!({})).await;
    assert_eq!(fourth["deliveries"], 1, "{fourth}");
    let fourth_id = only_delivery_of(&daemon, &fourth).await;
    assert_eq!(delivery(&daemon, &fourth_id).await["status"], "held");
    daemon
        .api("PATCH", &path, Some(&json!({"active": true})))
        .await;
    wait_status(&daemon, &fourth_id, "succeeded").await;
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
    wait_count(&receiver, 1).await;
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
async fn a_delivery_can_be_read_and_listed_while_its_first_attempt_is_recorded() {
    // Before its first attempt is recorded a delivery is read from its
    // event; after, from its own record. A read or a list at that moment
    // must find one or the other.
    let daemon = Daemon::start(&[("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,1h")]);
    let receiver = Receiver::start();
    receiver.set_default(Reply::status(500).delayed(Duration::from_millis(20)));
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let lists = [
        format!(
            "/webhooks/{}/deliveries?limit=5",
            endpoint["id"].as_str().unwrap()
        ),
        "/deliveries?limit=5".to_string(),
    ];
    for _ in 0..100 {
        let event = daemon.publish("a.b", json!({})).await;
        let id = only_delivery_of(&daemon, &event).await;
        // Read it back to back, without pausing, across the moment its
        // attempt is recorded.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            for list in &lists {
                let (status, body) = daemon.api("GET", list, None).await;
                assert_eq!(status, 200, "{body}");
                let listed = body["data"].as_array().unwrap();
                assert!(
                    listed.iter().any(|d| d["id"] == id.as_str()),
                    "{list}: {body}"
                );
            }
            let (status, body) = daemon.api("GET", &format!("/deliveries/{id}"), None).await;
            assert_eq!(status, 200, "{body}");
            if body["attempt_count"] == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "no attempt recorded: {body}");
        }
    }
}
