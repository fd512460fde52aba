//! Black-box tests of `storage.backend = "postgres"`: the real binary on a
//! database of its own, one node or several sharing it, delivering to a
//! real receiver. Each test skips with a message where no PostgreSQL server
//! answers.

mod common;
mod pg_support;

use std::collections::{HashMap, HashSet};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use common::{wait_for, Daemon, Receiver, ADMIN_TOKEN};
use pg_support::TestDb;

const LONG: Duration = Duration::from_secs(60);

/// A node on `db`, with short claim leases so a dead node's work returns
/// within the test.
fn node(db: &TestDb) -> Daemon {
    Daemon::start(&[
        ("HOOKD__STORAGE__BACKEND", "postgres"),
        ("HOOKD__STORAGE__POSTGRES_URL", db.url()),
        ("HOOKD__STORAGE__POSTGRES_CLAIM_LEASE", "3s"),
    ])
}

/// Waits until each node's own list of endpoints (reloaded every second,
/// what it plans a publish's fan-out from) holds the one active endpoint,
/// as its metrics report it.
async fn endpoint_known_to(nodes: &[&Daemon]) {
    let client = awc::Client::default();
    for node in nodes {
        wait_for("every node to know the endpoint", LONG, || async {
            let mut response = client
                .get(format!("{}/metrics", node.admin))
                .send()
                .await
                .ok()?;
            let text = String::from_utf8(response.body().await.ok()?.to_vec()).ok()?;
            text.lines()
                .any(|line| line == "hookd_endpoints{state=\"active\"} 1")
                .then_some(())
        })
        .await;
    }
}

/// Waits until the database holds exactly `n` deliveries, all succeeded:
/// each was recorded after its receiver answered, so no attempt of them is
/// still to come.
async fn all_succeeded(db: &TestDb, n: i64) {
    let client = db.raw().await;
    wait_for("every delivery succeeded", LONG, || async {
        let row = client
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM deliveries",
                &[],
            )
            .await
            .ok()?;
        (row.get::<_, i64>(0) == n && row.get::<_, i64>(1) == n).then_some(())
    })
    .await;
}

/// Every open delivery as the database holds it, for a failure message.
async fn deliveries_in_database(db: &TestDb) -> String {
    let client = db.raw().await;
    let counts = client
        .query_one(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries)",
            &[],
        )
        .await
        .expect("count the rows");
    let rows = client
        .query(
            "SELECT status, attempts, next_attempt_ms, claimed_by, claimed_until
               FROM deliveries WHERE status <> 'succeeded' ORDER BY id",
            &[],
        )
        .await
        .expect("read the deliveries");
    let now = hookd::clock::now_ms();
    let open: Vec<String> = rows
        .iter()
        .map(|row| {
            format!(
                "{} attempts={} due={:?} claimed_by={:?} claimed_until={:?}",
                row.get::<_, String>(0),
                row.get::<_, i32>(1),
                row.get::<_, Option<i64>>(2).map(|due| due - now as i64),
                row.get::<_, Option<String>>(3),
                row.get::<_, Option<i64>>(4).map(|until| until - now as i64),
            )
        })
        .collect();
    format!(
        "{} events, {} deliveries; those not succeeded (times relative to now, ms): {open:#?}",
        counts.get::<_, i64>(0),
        counts.get::<_, i64>(1)
    )
}

/// The event IDs the receiver got, with how often each.
fn received_events(receiver: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for request in receiver.received() {
        let id = request.json()["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *seen.entry(id).or_default() += 1;
    }
    seen
}

#[actix_web::test]
async fn one_node_publishes_delivers_and_reads_back() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let daemon = node(&db);
    let receiver = Receiver::start();
    daemon
        .create_endpoint(&receiver.url, &["order.*"], json!({}))
        .await;

    let event = daemon.publish("order.paid", json!({"n": 1})).await;
    wait_for("the delivery", LONG, || async {
        (receiver.count() == 1).then_some(())
    })
    .await;
    let request = &receiver.received()[0];
    assert_eq!(request.json()["id"], event["id"]);
    assert!(request.header("X-Webhook-Signature").is_some());

    let id = event["id"].as_str().unwrap();
    let detail = wait_for("the delivery's record", LONG, || async {
        let (_, detail) = daemon.api("GET", &format!("/events/{id}"), None).await;
        (detail["deliveries"][0]["status"] == "succeeded").then_some(detail)
    })
    .await;
    let delivery = detail["deliveries"][0]["id"].as_str().unwrap();
    let (status, recorded) = daemon
        .api("GET", &format!("/deliveries/{delivery}"), None)
        .await;
    assert_eq!(status, 200, "{recorded}");
    assert_eq!(recorded["attempts"][0]["status_code"], 200, "{recorded}");
    let (_, page) = daemon.api("GET", "/events?limit=10", None).await;
    assert_eq!(page["data"][0]["id"], event["id"], "{page}");
}

#[actix_web::test]
async fn a_held_endpoint_gets_its_deliveries_when_enabled_again() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let daemon = node(&db);
    let receiver = Receiver::start();
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());

    let (status, _) = daemon
        .api("PATCH", &path, Some(&json!({"active": false})))
        .await;
    assert_eq!(status, 200);
    daemon.publish("order.paid", json!({})).await;
    daemon.publish("order.paid", json!({})).await;
    let (_, held) = daemon.api("GET", "/deliveries?status=held", None).await;
    assert_eq!(held["data"].as_array().map(Vec::len), Some(2), "{held}");
    assert_eq!(receiver.count(), 0);

    let (status, _) = daemon
        .api("PATCH", &path, Some(&json!({"active": true})))
        .await;
    assert_eq!(status, 200);
    wait_for("the held deliveries", LONG, || async {
        (receiver.count() == 2).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn an_idempotency_key_is_accepted_once_across_nodes() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (node(&db), node(&db));
    let receiver = Receiver::start();
    a.create_endpoint(&receiver.url, &["*"], json!({})).await;
    endpoint_known_to(&[&a, &b]).await;

    let client = awc::Client::default();
    let mut answers = Vec::new();
    for node in [&a, &b] {
        let mut response = client
            .post(format!("{}/api/v1/events", node.admin))
            .insert_header(("Authorization", format!("Bearer {ADMIN_TOKEN}")))
            .insert_header(("Idempotency-Key", "same-key"))
            .send_json(&json!({"type": "order.paid", "data": {}}))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        answers.push(response.json::<Value>().await.unwrap());
    }
    assert_eq!(answers[0]["id"], answers[1]["id"], "{answers:?}");
    wait_for("the one delivery", LONG, || async {
        (receiver.count() == 1).then_some(())
    })
    .await;
    // Nothing further can come once the only delivery there is succeeded.
    all_succeeded(&db, 1).await;
    assert_eq!(receiver.count(), 1, "delivered once");
}

#[actix_web::test]
async fn three_nodes_share_the_work_and_a_killed_one_loses_nothing() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut nodes = [node(&db), node(&db), node(&db)];
    let receiver = Receiver::start();
    nodes[0]
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    endpoint_known_to(&nodes.iter().collect::<Vec<_>>()).await;

    let mut acknowledged = HashSet::new();
    for round in 0..60 {
        if round == 30 {
            // Mid-run: whatever node 2 had claimed returns after its lease.
            nodes[2].kill9();
        }
        let alive = if round < 30 { 3 } else { 2 };
        let target = &nodes[round % alive];
        let (status, event) = target
            .api(
                "POST",
                "/events",
                Some(&json!({"type": "order.paid", "data": {"n": round}})),
            )
            .await;
        assert_eq!(status, 202, "{event}");
        assert_eq!(
            event["deliveries"],
            1,
            "node {} planned {event}",
            round % alive
        );
        acknowledged.insert(event["id"].as_str().unwrap().to_string());
    }

    let deadline = std::time::Instant::now() + LONG;
    let seen = loop {
        let seen = received_events(&receiver);
        if acknowledged.iter().all(|id| seen.contains_key(id)) {
            break seen;
        }
        if std::time::Instant::now() > deadline {
            let missing: Vec<&String> = acknowledged
                .iter()
                .filter(|id| !seen.contains_key(*id))
                .collect();
            panic!(
                "{} acknowledged events not delivered within {LONG:?}; their deliveries: {}",
                missing.len(),
                deliveries_in_database(&db).await
            );
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    };
    // At least once: a repeat only for what the killed node had in flight.
    let repeats: usize = seen.values().map(|n| n - 1).sum();
    assert!(repeats <= 30, "{repeats} repeats");
}

#[actix_web::test]
async fn a_replay_runs_once_not_once_per_node() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let nodes = [node(&db), node(&db), node(&db)];
    let receiver = Receiver::start();
    nodes[0]
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    endpoint_known_to(&nodes.iter().collect::<Vec<_>>()).await;
    for n in 0..20 {
        nodes[0].publish("order.paid", json!({"n": n})).await;
    }
    wait_for("the originals", LONG, || async {
        (receiver.count() == 20).then_some(())
    })
    .await;

    let now = hookd::clock::now_ms();
    let body = json!({
        "from": hookd::clock::format_rfc3339(now - 3_600_000),
        "to": hookd::clock::format_rfc3339(now + 60_000),
    });
    let (status, job) = nodes[1].api("POST", "/replay", Some(&body)).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let job: Value = wait_for("the replay", LONG, || async {
        let (_, job) = nodes[2].api("GET", &format!("/replay/{id}"), None).await;
        (job["status"] == "done").then_some(job)
    })
    .await;
    assert_eq!(job["deliveries_scheduled"], 20, "{job}");
    wait_for("the replayed deliveries", LONG, || async {
        (receiver.count() == 40).then_some(())
    })
    .await;
    all_succeeded(&db, 40).await;
    assert_eq!(receiver.count(), 40, "each event replayed once");
    assert!(received_events(&receiver).values().all(|n| *n == 2));
}

#[test]
fn an_unreachable_database_stops_the_start_naming_it_without_the_password() {
    let failed = Daemon::launch(
        &[
            ("HOOKD__STORAGE__BACKEND", "postgres"),
            (
                "HOOKD__STORAGE__POSTGRES_URL",
                "postgres://hookd:s3cret@127.0.0.1:1/hookd",
            ),
        ],
        true,
        usize::MAX,
    );
    let Err(message) = failed else {
        panic!("the daemon started without its database");
    };
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

/// A TCP relay between hookd and the database server that the test can cut
/// (every connection closed, new ones refused) and restore: the database
/// goes away for hookd while it runs, without stopping the server.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(server: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accepting, tracked) = (open.clone(), sockets.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if !accepting.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(server) else {
                    continue;
                };
                let mut tracked = tracked.lock().unwrap();
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
                tracked.extend([client, upstream]);
            }
        });
        Relay {
            port,
            open,
            sockets,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for socket in self.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn a_lost_database_turns_publishes_into_503_and_recovers_without_a_restart() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let url = url::Url::parse(db.url()).unwrap();
    let server = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(server.parse().unwrap());
    let mut relayed = url.clone();
    relayed.set_host(Some("127.0.0.1")).unwrap();
    relayed.set_port(Some(relay.port)).unwrap();
    let daemon = Daemon::start(&[
        ("HOOKD__STORAGE__BACKEND", "postgres"),
        ("HOOKD__STORAGE__POSTGRES_URL", relayed.as_str()),
        ("HOOKD__STORAGE__POSTGRES_STATEMENT_TIMEOUT", "2s"),
    ]);
    let receiver = Receiver::start();
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let before = daemon.publish("order.paid", json!({"n": 1})).await;
    wait_for("the first delivery", LONG, || async {
        (receiver.count() == 1).then_some(())
    })
    .await;

    relay.cut();
    let body = json!({"type": "order.paid", "data": {"n": 2}});
    wait_for("publishes to be refused with 503", LONG, || async {
        let (status, answer) = daemon.api("POST", "/events", Some(&body)).await;
        assert_ne!(status, 202, "acknowledged without its database: {answer}");
        (status == 503).then_some(())
    })
    .await;

    relay.restore();
    let after = wait_for("publishes to be acknowledged again", LONG, || async {
        let (status, answer) = daemon.api("POST", "/events", Some(&body)).await;
        (status == 202).then_some(answer)
    })
    .await;
    wait_for("the delivery after the outage", LONG, || async {
        let seen = received_events(&receiver);
        seen.contains_key(after["id"].as_str().unwrap())
            .then_some(())
    })
    .await;
    let id = before["id"].as_str().unwrap();
    let (status, _) = daemon.api("GET", &format!("/events/{id}"), None).await;
    assert_eq!(
        status, 200,
        "the event acknowledged before the outage is kept"
    );
}

#[actix_web::test]
async fn a_replay_whose_node_died_is_finished_by_another() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut nodes = [node(&db), node(&db)];
    let receiver = Receiver::start();
    nodes[0]
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    for round in 0..2 {
        let batch: Vec<Value> = (0..1000)
            .map(|n| json!({"type": "order.paid", "data": {"n": round * 1000 + n}}))
            .collect();
        let (status, answer) = nodes[0]
            .api("POST", "/events/batch", Some(&json!(batch)))
            .await;
        assert_eq!(status, 202, "{answer}");
    }
    wait_for("the originals", LONG, || async {
        (receiver.count() >= 2000).then_some(())
    })
    .await;

    let now = hookd::clock::now_ms();
    let body = json!({
        "from": hookd::clock::format_rfc3339(now - 3_600_000),
        "to": hookd::clock::format_rfc3339(now + 60_000),
    });
    let (status, job) = nodes[0].api("POST", "/replay", Some(&body)).await;
    assert_eq!(status, 202, "{job}");
    // Killed after its first batch: node 1 takes the job over once the
    // lease has run out, from the last batch node 0 saved.
    nodes[0].kill9();
    let id = job["id"].as_str().unwrap().to_string();
    let job: Value = wait_for("the replay to finish on node 1", LONG, || async {
        let (_, job) = nodes[1].api("GET", &format!("/replay/{id}"), None).await;
        (job["status"] == "done").then_some(job)
    })
    .await;
    assert_eq!(job["events_matched"], 2000, "{job}");
    assert_eq!(job["deliveries_scheduled"], 2000, "{job}");
    let seen = wait_for("every event replayed", LONG, || async {
        let seen = received_events(&receiver);
        (seen.len() == 2000 && seen.values().all(|n| *n >= 2)).then_some(seen)
    })
    .await;
    // A repeat only for what node 0 had in flight when it died.
    let repeats: usize = seen.values().map(|n| n - 2).sum();
    assert!(repeats <= 100, "{repeats} repeats");
}
