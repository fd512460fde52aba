//! Black-box tests of failing endpoints: a short outage never switches an
//! endpoint off, events published while it is off are held and sent when it
//! comes back, and retention still bounds how long held work is kept.

mod common;

use std::time::Duration;

use common::{delivery, only_delivery_of, wait_for, wait_status, Daemon, Receiver, Reply};
use serde_json::{json, Value};

/// A loopback URL on which nothing listens: every attempt is refused.
fn refusing_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/hook")
}

async fn endpoint_state(daemon: &Daemon, path: &str) -> Value {
    let (status, body) = daemon.api("GET", path, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[actix_web::test]
async fn a_burst_of_refused_attempts_does_not_disable_an_endpoint() {
    let daemon = Daemon::start(&[
        ("HOOKD__DELIVERY__DISABLE_AFTER_FAILURES", "3"),
        ("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,50ms"),
    ]);
    let endpoint = daemon
        .create_endpoint(&refusing_url(), &["*"], json!({}))
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    let mut ids = Vec::new();
    for n in 0..10 {
        let event = daemon.publish("order.created", json!({"n": n})).await;
        ids.push(only_delivery_of(&daemon, &event).await);
    }
    // 20 refused attempts, far beyond the count, in far less than the
    // default `disable_min_failing` of an hour.
    for id in &ids {
        wait_status(&daemon, id, "failed").await;
    }
    let state = endpoint_state(&daemon, &path).await;
    assert_eq!(state["active"], true, "{state}");
    let next = daemon.publish("order.created", json!({})).await;
    let next_id = only_delivery_of(&daemon, &next).await;
    assert_ne!(delivery(&daemon, &next_id).await["status"], "held");
}

#[actix_web::test]
async fn events_published_while_disabled_are_held_and_sent_on_enable() {
    let daemon = Daemon::start(&[
        ("HOOKD__DELIVERY__DISABLE_AFTER_FAILURES", "3"),
        ("HOOKD__DELIVERY__DISABLE_MIN_FAILING", "300ms"),
        ("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,1h"),
    ]);
    let receiver = Receiver::start();
    receiver.set_default(Reply::status(503));
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());

    // Failing keeps going until both the count and the time are reached.
    let mut before = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let disabled = loop {
        let state = endpoint_state(&daemon, &path).await;
        if state["active"] == false {
            break state;
        }
        assert!(std::time::Instant::now() < deadline, "never disabled");
        before.push(daemon.publish("order.created", json!({})).await);
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(disabled["disabled_reason"], "failures");
    assert!(before.len() >= 3, "disabled after {} events", before.len());

    let mut during = Vec::new();
    for n in 0..5 {
        let event = daemon.publish("order.created", json!({"n": n})).await;
        assert_eq!(event["deliveries"], 1, "{event}");
        let id = only_delivery_of(&daemon, &event).await;
        assert_eq!(delivery(&daemon, &id).await["status"], "held");
        during.push(id);
    }

    receiver.set_default(Reply::status(200));
    let (status, enabled) = daemon
        .api("PATCH", &path, Some(&json!({"active": true})))
        .await;
    assert_eq!(status, 200, "{enabled}");
    for id in &during {
        wait_status(&daemon, id, "succeeded").await;
    }
    for event in &before {
        let id = only_delivery_of(&daemon, event).await;
        wait_status(&daemon, &id, "succeeded").await;
    }
}

#[actix_web::test]
async fn retention_cancels_held_deliveries_of_expired_events() {
    if common::skipped_on_postgres(
        "PostgreSQL drops whole days of the log with their held deliveries (tests/postgres_log.rs)",
    ) {
        return;
    }
    let daemon = Daemon::start(&[
        ("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,1h"),
        ("HOOKD__STORAGE__EVENT_RETENTION", "2s"),
        ("HOOKD__STORAGE__RETENTION_INTERVAL", "200ms"),
    ]);
    let receiver = Receiver::start();
    receiver.set_default(Reply::status(500));
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    let owed = daemon.publish("order.created", json!({})).await;
    let owed_id = only_delivery_of(&daemon, &owed).await;
    wait_for("the first attempt", Duration::from_secs(10), || async {
        (receiver.count() >= 1).then_some(())
    })
    .await;
    daemon
        .api("PATCH", &path, Some(&json!({"active": false})))
        .await;
    wait_status(&daemon, &owed_id, "held").await;
    let missed = daemon.publish("order.created", json!({})).await;
    let missed_id = only_delivery_of(&daemon, &missed).await;
    assert_eq!(delivery(&daemon, &missed_id).await["status"], "held");

    for event in [&owed, &missed] {
        let url = format!("/events/{}", event["id"].as_str().unwrap());
        wait_for(
            "the expired event to go",
            Duration::from_secs(20),
            || async {
                let (status, _) = daemon.api("GET", &url, None).await;
                (status == 404).then_some(())
            },
        )
        .await;
    }
    let (status, _) = daemon
        .api("GET", &format!("/deliveries/{owed_id}"), None)
        .await;
    assert_eq!(status, 404);
}
