//! The upgrade promise, black-box: a data directory an earlier build wrote
//! (kept in tests/fixtures/schema-2/, with what it holds in manifest.json
//! beside it) opens with every record as it was, and deliveries go on from
//! it. `make_fixture` (ignored) is how the fixture was made.

mod common;

#[path = "upgrade/make_fixture.rs"]
mod make_fixture;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use common::{delivery, wait_for, wait_status, Daemon, Receiver};
use serde_json::{json, Value};

/// The fixture was made long before the test runs: its events must not be
/// swept as old, nor its failing endpoints switched off for failing too
/// long, just because the calendar moved on.
const ENV: [(&str, &str); 2] = [
    ("HOOKD__STORAGE__EVENT_RETENTION", "3650d"),
    ("HOOKD__DELIVERY__DISABLE_AFTER", "3650d"),
];

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-2")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_string())
        .collect()
}

fn assert_fields(what: &str, actual: &Value, expected: &Value, fields: &[&str]) {
    for field in fields {
        assert_eq!(actual[field], expected[field], "{what}: {field}");
    }
}

/// What an attempt recorded, without `duration_ms`, which is the same
/// number either way but says nothing about the store.
fn attempt_record(attempt: &Value) -> Value {
    json!([
        attempt["attempt"],
        attempt["at"],
        attempt["status_code"],
        attempt["error"]
    ])
}

fn attempt_records(delivery: &Value) -> Vec<Value> {
    delivery["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(attempt_record)
        .collect()
}

async fn get(daemon: &Daemon, path: &str) -> Value {
    let (status, body) = daemon.api("GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Every event ID of the log, read by following `after=` pages of `limit`.
async fn walk_log(daemon: &Daemon, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let after = seen
            .last()
            .map(|id| format!("&after={id}"))
            .unwrap_or_default();
        let page = get(daemon, &format!("/events?limit={limit}{after}")).await;
        let page_ids = ids(&page["data"]);
        if page_ids.is_empty() {
            return seen;
        }
        seen.extend(page_ids);
    }
}

async fn check_records(daemon: &Daemon, manifest: &Value) {
    let account = &manifest["account"];
    let path = format!("/accounts/{}", account["id"].as_str().unwrap());
    let stored = get(daemon, &path).await;
    assert_fields(
        "account",
        &stored,
        account,
        &["id", "name", "metadata", "created_at"],
    );

    let endpoints = manifest["endpoints"].as_object().unwrap();
    let listed: HashSet<String> = ids(&get(daemon, "/webhooks?limit=1000").await["data"])
        .into_iter()
        .collect();
    for (role, endpoint) in endpoints {
        let id = endpoint["id"].as_str().unwrap();
        assert!(listed.contains(id), "endpoint {role} not listed");
        let mut stored = get(daemon, &format!("/webhooks/{id}")).await;
        stored["secret"] = get(daemon, &format!("/webhooks/{id}/secret")).await["secret"].clone();
        let fields = [
            "url",
            "events",
            "secret",
            "active",
            "disabled_reason",
            "disabled_at",
            "account_id",
            "all_accounts",
            "retry_schedule",
            "created_at",
        ];
        assert_fields(&format!("endpoint {role}"), &stored, endpoint, &fields);
    }

    let replay = &manifest["replay"];
    let id = replay["id"].as_str().unwrap();
    let stored = get(daemon, &format!("/replay/{id}")).await;
    let fields = [
        "status",
        "events_matched",
        "deliveries_scheduled",
        "created_at",
        "finished_at",
    ];
    assert_fields("replay job", &stored, replay, &fields);
    assert!(ids(&get(daemon, "/replay").await["data"]).contains(&id.to_string()));
}

async fn check_events(daemon: &Daemon, manifest: &Value) {
    let expected = ids(&manifest["events"]);
    assert_eq!(
        ids(&get(daemon, "/events?limit=1000").await["data"]),
        expected
    );
    assert_eq!(walk_log(daemon, 7).await, expected, "paging with after=");
    let middle = &expected[9];
    let after = get(daemon, &format!("/events?after={middle}&limit=1000")).await;
    assert_eq!(ids(&after["data"]), expected[10..], "after={middle}");
    for event in manifest["events"].as_array().unwrap() {
        let id = event["id"].as_str().unwrap();
        let stored = get(daemon, &format!("/events/{id}")).await;
        let fields = ["type", "created_at", "data", "account_id"];
        assert_fields(&format!("event {id}"), &stored, event, &fields);
        let mut now: Vec<String> = ids(&stored["deliveries"]);
        let mut then: Vec<String> = ids(&event["deliveries"]);
        now.sort();
        then.sort();
        assert_eq!(now, then, "the deliveries of {id}");
    }
}

/// Each delivery as the fixture recorded it. A pending one is the
/// exception once its second attempt fell due while the fixture sat in the
/// repository (its schedule waits 30 days): the daemon may then have made
/// that attempt (to a closed port, so it fails) since it started.
async fn check_deliveries(daemon: &Daemon, manifest: &Value) {
    let now = std::time::SystemTime::now();
    for expected in manifest["deliveries"].as_array().unwrap() {
        let id = expected["id"].as_str().unwrap();
        let stored = delivery(daemon, id).await;
        let what = format!("delivery {id}");
        assert_fields(
            &what,
            &stored,
            expected,
            &["event_id", "endpoint_id", "status"],
        );
        let (now_records, then_records) = (attempt_records(&stored), attempt_records(expected));
        let due = expected["next_attempt_at"]
            .as_str()
            .and_then(|at| humantime::parse_rfc3339(at).ok())
            .is_some_and(|at| at <= now);
        if due {
            let at_most_one_more = then_records.len()..=then_records.len() + 1;
            assert!(
                at_most_one_more.contains(&now_records.len()),
                "{what}: {stored}"
            );
            assert_eq!(now_records[..then_records.len()], then_records, "{what}");
        } else {
            assert_eq!(now_records, then_records, "{what}");
            assert_fields(
                &what,
                &stored,
                expected,
                &["attempt_count", "next_attempt_at"],
            );
        }
    }
}

async fn patch(daemon: &Daemon, endpoint: &Value, body: Value) {
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    let (status, answer) = daemon.api("PATCH", &path, Some(&body)).await;
    assert_eq!(status, 200, "PATCH {path}: {answer}");
}

/// The IDs of the fixture's deliveries to `role` whose status was `status`.
fn deliveries_of(manifest: &Value, role: &str, status: &str) -> Vec<String> {
    let endpoint = &manifest["endpoints"][role]["id"];
    let found: Vec<Value> = manifest["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["endpoint_id"] == *endpoint && d["status"] == status)
        .cloned()
        .collect();
    assert!(
        !found.is_empty(),
        "the fixture has {status} deliveries to {role}"
    );
    ids(&Value::Array(found))
}

/// Waits until `receiver` got every delivery of `ids`, and each of them
/// is `succeeded`.
async fn wait_delivered(daemon: &Daemon, receiver: &Receiver, ids: &[String]) {
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    wait_for(
        "the deliveries to arrive",
        Duration::from_secs(30),
        || async {
            let got: HashSet<String> = receiver
                .received()
                .iter()
                .filter_map(|r| r.header("X-Webhook-Delivery").map(str::to_string))
                .collect();
            wanted.iter().all(|id| got.contains(*id)).then_some(())
        },
    )
    .await;
    for id in ids {
        wait_status(daemon, id, "succeeded").await;
    }
}

#[actix_web::test]
async fn a_schema_2_data_directory_opens_with_every_record_and_delivers_on() {
    if common::skipped_on_postgres(
        "the fixture is an embedded data directory; moving one into PostgreSQL is `hookd migrate`",
    ) {
        return;
    }
    let manifest = manifest();
    let daemon = Daemon::start_on_copy(&fixture_dir().join("data"), &ENV);
    check_records(&daemon, &manifest).await;
    check_events(&daemon, &manifest).await;
    check_deliveries(&daemon, &manifest).await;

    // The fixture's receivers are gone and their ports may be anyone's
    // now: every endpoint gets a live receiver before anything is sent.
    let receiver = Receiver::start();
    for endpoint in manifest["endpoints"].as_object().unwrap().values() {
        patch(&daemon, endpoint, json!({"url": receiver.url})).await;
    }
    let pending = deliveries_of(&manifest, "pending", "pending");
    for id in &pending {
        let path = format!("/deliveries/{id}/retry");
        let (status, answer) = daemon.api("POST", &path, None).await;
        assert_eq!(status, 202, "{path}: {answer}");
    }
    wait_delivered(&daemon, &receiver, &pending).await;

    let held = deliveries_of(&manifest, "held", "held");
    patch(
        &daemon,
        &manifest["endpoints"]["held"],
        json!({"active": true}),
    )
    .await;
    wait_delivered(&daemon, &receiver, &held).await;

    let account = &manifest["account"]["id"];
    let published = [
        json!({"type": "user.created", "data": {"after": "upgrade"}}),
        json!({"type": "order.created", "data": {"after": "upgrade"}}),
        json!({"type": "order.created", "data": {}, "account_id": account}),
    ];
    for body in &published {
        let (status, event) = daemon.api("POST", "/events", Some(body)).await;
        assert_eq!(status, 202, "{event}");
        // Each reaches the operator's catch-all endpoint and one other.
        assert_eq!(event["deliveries"], 2, "{event}");
        let id = event["id"].as_str().unwrap();
        let listed = ids(&get(&daemon, &format!("/events/{id}")).await["deliveries"]);
        wait_delivered(&daemon, &receiver, &listed).await;
    }
    // The new events come after the old ones, in the same log.
    let log = walk_log(&daemon, 1000).await;
    let old = ids(&manifest["events"]);
    assert_eq!(log.len(), old.len() + published.len());
    assert_eq!(log[..old.len()], old);
}
