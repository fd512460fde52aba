//! How tests/fixtures/schema-2/ was made, kept so the next schema's
//! fixture is made the same way:
//! `cargo test --test upgrade -- --ignored make_fixture` replaces the
//! fixture with one written by the build at hand.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{copy_dir, delivery, wait_count, wait_for, Daemon, Receiver, Reply};
use crate::{fixture_dir, get, ids};

const ACCOUNT: &str = "acme";

/// Nothing listens on port 1 (no ephemeral port is ever that low), so an
/// attempt there fails at once, on any machine the fixture is used on.
const CLOSED: &str = "http://127.0.0.1:1/hook";

/// A delivery settles once it has its verdict, or (pending endpoint) its
/// first failed attempt with the next one a month away.
fn settled(delivery: &Value) -> bool {
    match delivery["status"].as_str() {
        Some("pending") => delivery["attempt_count"] == 1,
        Some(_) => true,
        None => false,
    }
}

async fn snapshot_deliveries(daemon: &Daemon, events: &[Value]) -> Vec<Value> {
    let mut all = Vec::new();
    for event in events {
        for id in ids(&event["deliveries"]) {
            let body = wait_for(
                "the delivery to settle",
                Duration::from_secs(30),
                || async {
                    let body = delivery(daemon, &id).await;
                    settled(&body).then_some(body)
                },
            )
            .await;
            all.push(body);
        }
    }
    all
}

async fn post(daemon: &Daemon, path: &str, body: Value) -> Value {
    let (status, answer) = daemon.api("POST", path, Some(&body)).await;
    assert!(status == 201 || status == 202, "POST {path}: {answer}");
    answer
}

#[actix_web::test]
#[ignore = "rewrites tests/fixtures/schema-2"]
async fn make_fixture() {
    let ok = Receiver::start();
    let bad = Receiver::start();
    bad.set_default(Reply::status(400));
    let mut daemon = Daemon::start(&[]);
    let account = post(
        &daemon,
        "/accounts",
        json!({"id": ACCOUNT, "name": "Acme Fixtures", "metadata": {"tier": "gold"}}),
    )
    .await;
    // Roles: `ok` answers 200 and sees every event; `bad` (the account's)
    // answers 400, a final verdict; `pending` cannot be reached and retries
    // only a month later; `held` is switched off.
    let ok_ep = daemon
        .create_endpoint(&ok.url, &["*"], json!({"all_accounts": true}))
        .await;
    let bad_ep = daemon
        .create_endpoint(
            &bad.url,
            &["order.*"],
            json!({"account_id": ACCOUNT, "retry_schedule": ["0s", "1s"]}),
        )
        .await;
    let pending_ep = daemon
        .create_endpoint(
            CLOSED,
            &["user.created"],
            json!({"retry_schedule": ["0s", "30d", "30d"]}),
        )
        .await;
    let held_ep = daemon
        .create_endpoint(CLOSED, &["order.created"], json!({}))
        .await;
    let held_path = format!("/webhooks/{}", held_ep["id"].as_str().unwrap());
    let (status, _) = daemon
        .api("PATCH", &held_path, Some(&json!({"active": false})))
        .await;
    assert_eq!(status, 200);

    let mut published = Vec::new();
    for n in 0..20 {
        let event_type = if n % 2 == 0 {
            "order.created"
        } else {
            "user.created"
        };
        let mut body = json!({"type": event_type, "data": {"n": n}});
        if n % 4 == 0 {
            body["account_id"] = json!(ACCOUNT);
        }
        published.push(post(&daemon, "/events", body).await);
    }
    wait_count(&ok, 20).await;
    wait_count(&bad, 5).await;
    let replay_ids = [&published[1]["id"], &published[2]["id"]];
    let job = post(
        &daemon,
        "/replay",
        json!({"event_ids": replay_ids, "endpoint_ids": [ok_ep["id"]]}),
    )
    .await;
    let job_path = format!("/replay/{}", job["id"].as_str().unwrap());
    let replay = wait_for("the replay", Duration::from_secs(30), || async {
        let job = get(&daemon, &job_path).await;
        (job["status"] == "done").then_some(job)
    })
    .await;
    wait_count(&ok, 22).await;

    let mut events = Vec::new();
    for id in ids(&get(&daemon, "/events?limit=1000").await["data"]) {
        events.push(get(&daemon, &format!("/events/{id}")).await);
    }
    let deliveries = snapshot_deliveries(&daemon, &events).await;
    let mut endpoints = serde_json::Map::new();
    for (role, endpoint) in [
        ("ok", ok_ep),
        ("bad", bad_ep),
        ("pending", pending_ep),
        ("held", held_ep),
    ] {
        let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
        let mut stored = get(&daemon, &path).await;
        // Lists and single reads leave the secret out; it must survive too.
        stored["secret"] = get(&daemon, &format!("{path}/secret")).await["secret"].clone();
        endpoints.insert(role.into(), stored);
    }
    let manifest = json!({
        "account": get(&daemon, &format!("/accounts/{}", account["id"].as_str().unwrap())).await,
        "endpoints": endpoints,
        "events": events,
        "deliveries": deliveries,
        "replay": replay,
    });
    assert!(daemon.stop().success(), "unclean stop");

    let target = fixture_dir();
    let data = target.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data).expect("remove the old fixture");
    }
    copy_dir(&daemon.storage_dir(), &data).expect("copy the data directory");
    let text = serde_json::to_string_pretty(&manifest).expect("manifest JSON");
    std::fs::write(target.join("manifest.json"), text + "\n").expect("write manifest");
}
