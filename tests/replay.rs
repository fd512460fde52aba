//! Black-box tests of replay: the real daemon, a real receiver,
//! and only the HTTP API. Retention is in `retention.rs`.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{wait_count, wait_for, Daemon, Receiver, Reply};
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(30);

/// The event IDs (from the envelope) of what a receiver got, in order.
fn event_ids_received(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect()
}

async fn replay(daemon: &Daemon, body: Value) -> Value {
    let (status, answer) = daemon.api("POST", "/replay", Some(&body)).await;
    assert_eq!(status, 202, "replay: {answer}");
    assert!(answer["id"].as_str().unwrap().starts_with("rpl_"));
    answer
}

async fn wait_done(daemon: &Daemon, id: &str) -> Value {
    wait_for(&format!("replay {id} done"), LONG, || async {
        let (status, job) = daemon.api("GET", &format!("/replay/{id}"), None).await;
        assert_eq!(status, 200, "{job}");
        assert_ne!(job["status"], "failed", "{job}");
        (job["status"] == "done").then_some(job)
    })
    .await
}

async fn publish_ids(daemon: &Daemon, event_type: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let event = daemon.publish(event_type, json!({ "n": i })).await;
        ids.push(event["id"].as_str().unwrap().to_string());
    }
    ids
}

async fn created_at(daemon: &Daemon, event: &str) -> String {
    let (_, body) = daemon.api("GET", &format!("/events/{event}"), None).await;
    body["created_at"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn a_sub_range_is_redelivered_exactly() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    // created_at has second precision: the pauses put each group of events
    // in its own seconds (they separate creation times; no outcome is awaited).
    publish_ids(&daemon, "user.created", 2).await;
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    let inside = publish_ids(&daemon, "user.created", 3).await;
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    let after = publish_ids(&daemon, "user.created", 2).await;
    wait_count(&receiver, 7).await;
    let originals: HashSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("X-Webhook-Delivery").unwrap().to_string())
        .collect();

    let from = created_at(&daemon, &inside[0]).await;
    let to = created_at(&daemon, &after[0]).await;
    let job = replay(&daemon, json!({"from": from, "to": to})).await;
    let job = wait_done(&daemon, job["id"].as_str().unwrap()).await;
    assert_eq!(job["events_matched"], 3, "{job}");
    assert_eq!(job["deliveries_scheduled"], 3, "{job}");
    assert_eq!(job["skipped"], 0);
    assert!(job["finished_at"].is_string());

    wait_count(&receiver, 10).await;
    let replayed: Vec<_> = receiver.received().split_off(7);
    let replayed_events: HashSet<String> = replayed
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(replayed_events, inside.iter().cloned().collect());
    for r in &replayed {
        assert!(!originals.contains(r.header("X-Webhook-Delivery").unwrap()));
        assert_eq!(r.header("X-Webhook-Attempt"), Some("1"));
    }
    // The originals keep their history next to the fresh delivery.
    let (_, event) = daemon
        .api("GET", &format!("/events/{}", inside[0]), None)
        .await;
    assert_eq!(event["deliveries"].as_array().unwrap().len(), 2, "{event}");
}

#[actix_web::test]
async fn type_and_endpoint_filters_narrow_a_replay() {
    let daemon = Daemon::start(&[]);
    let orders = Receiver::start();
    let all = Receiver::start();
    daemon
        .create_endpoint(&orders.url, &["order.*"], json!({}))
        .await;
    let everything = daemon.create_endpoint(&all.url, &["*"], json!({})).await;
    let created = daemon.publish("order.created", json!({})).await;
    daemon.publish("user.created", json!({})).await;
    let paid = daemon.publish("order.paid", json!({})).await;
    wait_count(&orders, 2).await;
    wait_count(&all, 3).await;

    let range = json!({"from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"});
    let mut body = range.clone();
    body["types"] = json!(["order.*"]);
    body["endpoint_ids"] = json!([everything["id"]]);
    let job = replay(&daemon, body).await;
    let job = wait_done(&daemon, job["id"].as_str().unwrap()).await;
    assert_eq!(job["events_matched"], 2, "{job}");
    assert_eq!(job["deliveries_scheduled"], 2, "{job}");
    wait_count(&all, 5).await;
    let got: HashSet<String> = event_ids_received(&all).split_off(3).into_iter().collect();
    let want: HashSet<String> = [&created, &paid]
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);

    // An exact type, every current subscriber: only the "*" endpoint has it.
    let mut body = range;
    body["types"] = json!(["user.created"]);
    let job = replay(&daemon, body).await;
    let job = wait_done(&daemon, job["id"].as_str().unwrap()).await;
    assert_eq!(job["deliveries_scheduled"], 1, "{job}");
    wait_count(&all, 6).await;
    assert_eq!(all.received()[5].json()["type"], "user.created");
    assert_eq!(orders.count(), 2);
}

#[actix_web::test]
async fn only_failed_resends_failed_pairs_and_disabled_endpoints_are_reported() {
    let daemon = Daemon::start(&[]);
    let good = Receiver::start();
    let bad = Receiver::start();
    bad.set_default(Reply::status(400));
    daemon.create_endpoint(&good.url, &["*"], json!({})).await;
    let failing = daemon.create_endpoint(&bad.url, &["*"], json!({})).await;
    let ids = publish_ids(&daemon, "invoice.sent", 3).await;
    wait_count(&good, 3).await;
    wait_count(&bad, 3).await;
    for id in &ids {
        wait_for("the failed delivery", LONG, || async {
            let (_, event) = daemon.api("GET", &format!("/events/{id}"), None).await;
            let statuses: Vec<&str> = event["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|d| d["status"].as_str())
                .collect();
            (statuses.contains(&"failed") && statuses.contains(&"succeeded")).then_some(())
        })
        .await;
    }
    // Created after the events, then disabled: it would match, so it counts as skipped.
    let off = Receiver::start();
    daemon
        .create_endpoint(&off.url, &["*"], json!({"active": false}))
        .await;

    bad.set_default(Reply::status(200));
    // The failures also logged hookd.delivery.failed events; keep to invoices.
    let range = json!({
        "from": "2020-01-01T00:00:00Z",
        "to": "2100-01-01T00:00:00Z",
        "types": ["invoice.*"],
    });
    let mut body = range.clone();
    body["only_failed"] = json!(true);
    let job = replay(&daemon, body).await;
    let job = wait_done(&daemon, job["id"].as_str().unwrap()).await;
    assert_eq!(job["events_matched"], 3, "{job}");
    assert_eq!(job["deliveries_scheduled"], 3, "{job}");
    assert_eq!(
        job["skipped"], 0,
        "the disabled endpoint never failed: {job}"
    );
    wait_count(&bad, 6).await;
    let resent: HashSet<String> = event_ids_received(&bad).split_off(3).into_iter().collect();
    assert_eq!(resent, ids.iter().cloned().collect());

    // Now those pairs' latest deliveries succeeded: nothing left to resend.
    wait_for("resent deliveries to succeed", LONG, || async {
        let (_, page) = daemon
            .api(
                "GET",
                &format!(
                    "/webhooks/{}/deliveries?status=succeeded",
                    failing["id"].as_str().unwrap()
                ),
                None,
            )
            .await;
        (page["data"].as_array().unwrap().len() == 3).then_some(())
    })
    .await;
    let mut body = range.clone();
    body["only_failed"] = json!(true);
    let job = replay(&daemon, body).await;
    let job = wait_done(&daemon, job["id"].as_str().unwrap()).await;
    assert_eq!(job["deliveries_scheduled"], 0, "{job}");

    // A plain replay reaches both active endpoints and reports the disabled one.
    let job = replay(&daemon, range).await;
    let job = wait_done(&daemon, job["id"].as_str().unwrap()).await;
    assert_eq!(job["deliveries_scheduled"], 6, "{job}");
    assert_eq!(job["skipped"], 3, "{job}");
    wait_count(&good, 6).await;
    wait_count(&bad, 9).await;
    assert_eq!(off.count(), 0);
}

#[actix_web::test]
async fn hand_picked_events_are_resent() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let ids = publish_ids(&daemon, "user.created", 5).await;
    // Created afterwards, so the replay's deliveries are the only ones.
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["user.*"], json!({}))
        .await;
    let picked = json!([ids[3], ids[1], ids[3]]);
    let job = replay(
        &daemon,
        json!({"event_ids": picked, "endpoint_ids": [endpoint["id"]]}),
    )
    .await;
    // Small enough to finish in the first batch: the 202 carries final counts.
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["events_matched"], 2, "{job}");
    assert_eq!(job["deliveries_scheduled"], 2, "{job}");
    wait_count(&receiver, 2).await;
    let got: HashSet<String> = event_ids_received(&receiver).into_iter().collect();
    assert_eq!(got, [ids[1].clone(), ids[3].clone()].into_iter().collect());
}

#[actix_web::test]
async fn bad_replays_are_refused_and_schedule_nothing() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let event = daemon.publish("user.created", json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let missing_ep = "ep_01HZZZZZZZZZZZZZZZZZZZZZZZ";
    let missing_evt = "evt_01HZZZZZZZZZZZZZZZZZZZZZZZ";
    let cases = [
        (
            json!({"from": "2024-01-02T00:00:00Z", "to": "2024-01-01T00:00:00Z"}),
            "invalid_range",
        ),
        (json!({}), "invalid_selection"),
        (json!({"types": ["user.*"]}), "invalid_selection"),
        (json!({"from": "2024-01-01T00:00:00Z"}), "invalid_selection"),
        (
            json!({"from": "yesterday", "to": "2100-01-01T00:00:00Z"}),
            "invalid_time",
        ),
        (json!({"event_ids": []}), "empty_selection"),
        (
            json!({"event_ids": [event_id, missing_evt]}),
            "unknown_event_ids",
        ),
        (
            json!({"event_ids": [event_id], "endpoint_ids": [missing_ep]}),
            "unknown_endpoint_ids",
        ),
        (
            json!({"event_ids": [event_id], "endpoint_ids": []}),
            "empty_selection",
        ),
        (
            json!({"event_ids": [event_id], "types": ["Bad!"]}),
            "invalid_types",
        ),
        (
            json!({"event_ids": [event_id], "from": "2024-01-01T00:00:00Z"}),
            "invalid_selection",
        ),
        (
            json!({"from": "2001-01-01T00:00:00Z", "to": "2001-02-01T00:00:00Z"}),
            "range_beyond_retention",
        ),
        (
            json!({"from": "2099-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}),
            "empty_selection",
        ),
    ];
    for (body, code) in cases {
        let (status, answer) = daemon.api("POST", "/replay", Some(&body)).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert_eq!(answer["error"], code, "{body} → {answer}");
        assert!(answer["message"].is_string());
    }
    let (_, answer) = daemon
        .api(
            "POST",
            "/replay",
            Some(&json!({"event_ids": [missing_evt]})),
        )
        .await;
    assert!(
        answer["message"].as_str().unwrap().contains(missing_evt),
        "{answer}"
    );
    let (_, answer) = daemon
        .api(
            "POST",
            "/replay",
            Some(&json!({"event_ids": [event_id], "endpoint_ids": [missing_ep]})),
        )
        .await;
    assert!(
        answer["message"].as_str().unwrap().contains(missing_ep),
        "{answer}"
    );
    let (status, _) = daemon
        .api("GET", "/replay/rpl_01HZZZZZZZZZZZZZZZZZZZZZZZ", None)
        .await;
    assert_eq!(status, 404);

    // Nothing was scheduled by any of them: the event still has no delivery.
    let (_, stored) = daemon
        .api("GET", &format!("/events/{event_id}"), None)
        .await;
    assert_eq!(stored["deliveries"], json!([]), "{stored}");
    assert_eq!(receiver.count(), 0);
}

#[actix_web::test]
async fn a_replay_interrupted_by_a_restart_resumes_without_repeats() {
    const EVENTS: usize = 3000;
    let mut daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    for chunk in 0..EVENTS / 1000 {
        let batch: Vec<Value> = (0..1000)
            .map(|i| json!({"type": "bulk.item", "data": {"n": chunk * 1000 + i}}))
            .collect();
        let (status, answer) = daemon
            .api("POST", "/events/batch", Some(&json!(batch)))
            .await;
        assert_eq!(status, 202, "{answer}");
    }
    daemon
        .create_endpoint(&receiver.url, &["bulk.*"], json!({}))
        .await;
    let job = replay(
        &daemon,
        json!({"from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}),
    )
    .await;
    let id = job["id"].as_str().unwrap().to_string();
    daemon.restart(&[]);
    let resumed = daemon.log_text().contains("resuming replay");
    let job = wait_done(&daemon, &id).await;
    assert_eq!(job["events_matched"], EVENTS, "{job}");
    assert_eq!(job["deliveries_scheduled"], EVENTS, "{job}");

    let per_event = wait_for("every event delivered", Duration::from_secs(60), || async {
        let mut per_event: HashMap<String, HashSet<String>> = HashMap::new();
        for r in receiver.received() {
            let delivery = r.header("X-Webhook-Delivery").unwrap().to_string();
            per_event
                .entry(r.json()["id"].as_str().unwrap().to_string())
                .or_default()
                .insert(delivery);
        }
        (per_event.len() == EVENTS).then_some(per_event)
    })
    .await;
    let repeated = per_event.values().filter(|d| d.len() != 1).count();
    assert_eq!(repeated, 0, "events replayed more than once");
    eprintln!("replay resumed after restart: {resumed}");
}
