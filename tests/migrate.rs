//! Black-box tests of `hookd migrate --to postgres`: a node on sled does
//! real work, stops, its data directory is migrated into a fresh database,
//! and a node on PostgreSQL then serves the same records over the API and
//! carries on delivering. Each test skips with a message where no
//! PostgreSQL server answers.

mod common;
mod pg_support;

use std::collections::HashMap;
use std::time::Duration;

use hookd::config::Durability;
use hookd::domain::event_type::EventType;
use hookd::domain::{Endpoint, Event};
use hookd::store::{NewEvent, StoreGuard};
use serde_json::{json, Value};

use common::cli::{hookd, CliRun};
use common::partner::{register, CATALOG, OPEN};
use common::{wait_for, Daemon, Receiver, Reply};
use pg_support::TestDb;

const LONG: Duration = Duration::from_secs(60);

/// A failed attempt is retried after 15 s: long enough that the sled node
/// is stopped before its retry, short enough for the PostgreSQL node's.
const SCHEDULE: (&str, &str) = ("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,15s,15s");

fn on_postgres<'a>(db: &'a TestDb, extra: &[(&'a str, &'a str)]) -> Daemon {
    let mut env = vec![
        ("HOOKD__STORAGE__BACKEND", "postgres"),
        ("HOOKD__STORAGE__POSTGRES_URL", db.url()),
    ];
    env.extend_from_slice(extra);
    Daemon::start(&env)
}

async fn migrate(config: &std::path::Path, db: &TestDb) -> CliRun {
    let config = config.to_string_lossy().into_owned();
    hookd(
        &["migrate", "--to", "postgres", "--config", &config],
        &[("HOOKD__STORAGE__POSTGRES_URL", db.url())],
    )
    .await
}

/// Every event ID, read through `after=` two at a time.
async fn event_ids_by_after(daemon: &Daemon) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = "/events?limit=2".to_string();
    loop {
        let (status, page) = daemon.api("GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        let data = page["data"].as_array().unwrap();
        if data.is_empty() {
            return ids;
        }
        ids.extend(data.iter().map(|e| e["id"].as_str().unwrap().to_string()));
        path = format!("/events?limit=2&after={}", ids.last().unwrap());
    }
}

/// Each delivery of each event: (status, endpoint, attempts' status codes).
async fn deliveries(daemon: &Daemon, events: &[String]) -> HashMap<String, (Value, Value, Value)> {
    let mut all = HashMap::new();
    for event in events {
        let (status, detail) = daemon.api("GET", &format!("/events/{event}"), None).await;
        assert_eq!(status, 200, "{detail}");
        for delivery in detail["deliveries"].as_array().unwrap() {
            let id = delivery["id"].as_str().unwrap();
            let shown = common::delivery(daemon, id).await;
            let codes: Vec<Value> = shown["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["status_code"].clone())
                .collect();
            all.insert(
                id.to_string(),
                (
                    shown["status"].clone(),
                    shown["endpoint_id"].clone(),
                    Value::from(codes),
                ),
            );
        }
    }
    all
}

async fn endpoints(daemon: &Daemon) -> Vec<(Value, Value)> {
    let (status, list) = daemon.api("GET", "/webhooks?limit=100", None).await;
    assert_eq!(status, 200, "{list}");
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].clone(), e["active"].clone()))
        .collect()
}

#[actix_web::test]
async fn a_sled_node_moves_to_postgres_and_carries_on() {
    if common::skipped_on_postgres(
        "its source is a node on the embedded backend; the first test pass runs it",
    ) {
        return;
    }
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut sled_node = Daemon::start(&[SCHEDULE, CATALOG, OPEN]);
    let good = Receiver::start();
    let failing = Receiver::start();
    failing.set_default(Reply::status(500));

    let account = json!({"id": "cus_42", "name": "Customer 42"});
    let (status, body) = sled_node.api("POST", "/accounts", Some(&account)).await;
    assert_eq!(status, 201, "{body}");
    sled_node
        .create_endpoint(&good.url, &["order.*"], json!({}))
        .await;
    let off = sled_node
        .create_endpoint(&good.url, &["order.*"], json!({}))
        .await;
    let off_id = off["id"].as_str().unwrap();
    let (status, body) = sled_node
        .api(
            "PATCH",
            &format!("/webhooks/{off_id}"),
            Some(&json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    sled_node
        .create_endpoint(&failing.url, &["fail.*"], json!({}))
        .await;
    let partner = register(&sled_node, "Acme", &good.url, &["payment.success"]).await;
    let secret = partner["shared_secret"].as_str().unwrap().to_string();

    let keyed = json!({"type": "order.paid", "data": {"n": 0}, "idempotency_key": "order-0"});
    let (status, first) = sled_node.api("POST", "/events", Some(&keyed)).await;
    assert_eq!(status, 202, "{first}");
    for n in 1..3 {
        sled_node.publish("order.paid", json!({ "n": n })).await;
    }
    for n in 0..2 {
        sled_node.publish("fail.now", json!({ "n": n })).await;
    }
    // Three delivered, two failed once (pending, retried in 15 s), three held.
    wait_for("the first attempts", LONG, || async {
        (good.count() == 3 && failing.count() == 2).then_some(())
    })
    .await;
    let replay = json!({"event_ids": [first["id"]]});
    let (status, job) = sled_node.api("POST", "/replay", Some(&replay)).await;
    assert_eq!(status, 202, "{job}");
    let job_id = job["id"].as_str().unwrap().to_string();
    let job = wait_for("the replay", LONG, || async {
        let (_, job) = sled_node
            .api("GET", &format!("/replay/{job_id}"), None)
            .await;
        (job["status"] == "done" && good.count() == 4).then_some(job)
    })
    .await;

    // Five published, and hookd's own notice of the partner's registration.
    let event_ids = event_ids_by_after(&sled_node).await;
    assert_eq!(event_ids.len(), 6);
    let before = wait_for("every attempt recorded", LONG, || async {
        let all = deliveries(&sled_node, &event_ids).await;
        let settled = all.values().all(|(status, _, codes)| {
            status == "held" || codes.as_array().is_some_and(|c| !c.is_empty())
        });
        (settled && all.len() == 9).then_some(all)
    })
    .await;
    let endpoints_before = endpoints(&sled_node).await;

    let refused = migrate(sled_node.config_path(), &db).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("in use"), "{refused:?}");

    assert!(sled_node.stop().success());
    let run = migrate(sled_node.config_path(), &db).await;
    assert_eq!(run.code, 0, "{run:?}");
    for line in [
        "accounts: 2 copied",
        "endpoints: 4 copied",
        "partners: 1 copied",
        "events: 6 copied",
        "deliveries: 9 copied",
        "attempts: 6 copied",
        "replay jobs: 1 copied",
        "idempotency keys: 1 copied",
    ] {
        assert!(run.stdout.contains(line), "{line}: {run:?}");
    }
    // Again, by --postgres-url with a password (the server trusts the user
    // anyway): refused, and the password is never printed.
    let with_password = db.url().replacen("postgres@", "postgres:pw-not-shown@", 1);
    let again = hookd(
        &[
            "migrate",
            "--to",
            "postgres",
            "--config",
            &sled_node.config_path().to_string_lossy(),
            "--postgres-url",
            &with_password,
        ],
        &[],
    )
    .await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("already holds records"), "{again:?}");
    assert!(!again.stderr.contains("pw-not-shown"), "{again:?}");

    failing.set_default(Reply::status(200));
    let pg_node = on_postgres(&db, &[SCHEDULE, CATALOG, OPEN]);
    assert_eq!(endpoints(&pg_node).await, endpoints_before);
    assert_eq!(event_ids_by_after(&pg_node).await, event_ids);
    let after = deliveries(&pg_node, &event_ids).await;
    assert_eq!(after.len(), before.len());
    for (id, (status, endpoint, codes)) in &before {
        let (now_status, now_endpoint, now_codes) = &after[id];
        assert_eq!(endpoint, now_endpoint, "{id}");
        if status == "pending" {
            // The PostgreSQL node may have retried it already.
            assert!(now_codes
                .as_array()
                .unwrap()
                .starts_with(codes.as_array().unwrap()));
        } else {
            assert_eq!((status, codes), (now_status, now_codes), "{id}");
        }
    }
    let (status, moved_job) = pg_node.api("GET", &format!("/replay/{job_id}"), None).await;
    assert_eq!(status, 200, "{moved_job}");
    assert_eq!(moved_job, job);
    let (status, _) = pg_node.api("GET", "/accounts/cus_42", None).await;
    assert_eq!(status, 200);
    let me = format!("{}/partners/me", pg_node.public);
    let (status, me) = pg_node
        .request("GET", &me, None, Some(secret.as_str()))
        .await;
    assert_eq!(status, 200, "{me}");
    let (_, repeat) = pg_node.api("POST", "/events", Some(&keyed)).await;
    assert_eq!(repeat["id"], first["id"], "{repeat}");

    // The failed deliveries were pending: the PostgreSQL node retries them.
    wait_for("the retries on PostgreSQL", LONG, || async {
        (failing.count() == 4).then_some(())
    })
    .await;
    let retried = wait_for("the retries recorded", LONG, || async {
        let all = deliveries(&pg_node, &event_ids).await;
        let done = all
            .values()
            .filter(|(status, _, codes)| status == "succeeded" && codes == &json!([500, 200]))
            .count();
        (done == 2).then_some(all)
    })
    .await;
    assert_eq!(retried.len(), 9);
}

#[actix_web::test]
async fn deliveries_owed_without_a_record_are_delivered_after_the_move() {
    if common::skipped_on_postgres(
        "its source is a node on the embedded backend; the first test pass runs it",
    ) {
        return;
    }
    let Some(db) = TestDb::create().await else {
        return;
    };
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // Events appended with no dispatcher running: what they owe has no
    // delivery record yet, as after a stop right after a publish.
    let guard = StoreGuard::open_at(&data_dir.join("db"), 16 << 20, Durability::Flush).unwrap();
    let store = guard.store();
    let now = hookd::clock::now_ms();
    let endpoint = Endpoint::new(
        receiver.url.clone(),
        vec!["*".into()],
        format!("whsec_{:032x}", rand::random::<u128>()),
        now,
    );
    store.save_endpoint(&endpoint).await.unwrap();
    let event_type = EventType::parse("order.paid").unwrap();
    let batch = (0..3)
        .map(|n| NewEvent {
            event: Event::new(&event_type, &json!({ "n": n }), now),
            owed: vec![endpoint.id],
        })
        .collect();
    let appended = store.append_events(batch, None, 0, now).await.unwrap();
    drop(store);
    guard.close().unwrap();
    let config = dir.path().join("hookd.toml");
    std::fs::write(
        &config,
        format!("[storage]\ndata_dir = \"{}\"\n", data_dir.display()),
    )
    .unwrap();

    let run = migrate(&config, &db).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("deliveries: 3 copied"), "{run:?}");

    let pg_node = on_postgres(&db, &[]);
    let got = wait_for("the owed deliveries", LONG, || async {
        (receiver.count() == 3).then(|| receiver.received())
    })
    .await;
    let mut delivered: Vec<String> = got
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    delivered.sort();
    let published: Vec<String> = appended.events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(delivered, published);
    for event in &published {
        wait_for("the delivery's record", LONG, || async {
            let (_, detail) = pg_node.api("GET", &format!("/events/{event}"), None).await;
            (detail["deliveries"][0]["status"] == "succeeded").then_some(())
        })
        .await;
    }
}
