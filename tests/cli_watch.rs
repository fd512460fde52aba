//! Black-box tests of the admin commands built on the log's `after=` reader
//! and on the deliveries search: `events tail` and `deliveries list`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{wait_status, Daemon, Receiver, ADMIN_TOKEN};
use serde_json::{json, Value};

/// `hookd events tail` as a child process; its stdout and stderr lines
/// arrive on channels. Dropping it kills the process.
struct Tail {
    child: std::process::Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Tail {
    /// `hookd --url … --token … <before> events tail <after>`.
    fn start(daemon: &Daemon, before: &[&str], after: &[&str]) -> Tail {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(["--url", &daemon.admin, "--token", ADMIN_TOKEN])
            .args(before)
            .args(["events", "tail"])
            .args(after)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hookd events tail");
        let lines = |stream: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().expect("stdout")));
        let stderr = lines(Box::new(child.stderr.take().expect("stderr")));
        Tail {
            child,
            stdout,
            stderr,
        }
    }

    /// The next line on `stream` within the deadline.
    fn next(stream: &mpsc::Receiver<String>, what: &str) -> String {
        stream
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no {what} from events tail within 20 s"))
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn tail_prints_each_new_event_once_in_order() {
    let daemon = Daemon::start(&[]);
    daemon.publish("order.paid", json!({"before": true})).await;
    let tail = Tail::start(&daemon, &["--json"], &[]);
    // It says where it starts before its first request: what comes next is new.
    let said = Tail::next(&tail.stderr, "start line");
    assert!(said.starts_with("following events from"), "{said}");
    let mut published = Vec::new();
    for n in 0..3 {
        let event = daemon.publish("order.paid", json!({"n": n})).await;
        published.push(event["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        let line = Tail::next(&tail.stdout, "event line");
        let event: Value = serde_json::from_str(&line).expect("one JSON event per line");
        seen.push(event["id"].as_str().unwrap().to_string());
    }
    assert_eq!(seen, published);
    // Later ones follow, after the last seen, and nothing repeats.
    let later = daemon.publish("order.paid", json!({"n": 3})).await;
    let line = Tail::next(&tail.stdout, "a later event");
    assert!(line.contains(later["id"].as_str().unwrap()), "{line}");
    assert!(tail.stdout.try_recv().is_err(), "nothing else printed");
}

#[actix_web::test]
async fn tail_filters_by_type_and_prints_a_line_per_event() {
    let daemon = Daemon::start(&[]);
    let tail = Tail::start(&daemon, &[], &["--type", "order.*"]);
    Tail::next(&tail.stderr, "start line");
    daemon
        .publish("user.created", json!({"user_id": "usr_2"}))
        .await;
    let order = daemon.publish("order.paid", json!({"total": 7})).await;
    let line = Tail::next(&tail.stdout, "event line");
    assert!(line.contains(order["id"].as_str().unwrap()), "{line}");
    assert!(
        line.contains("order.paid") && line.contains(r#"{"total":7}"#),
        "{line}"
    );
    assert!(!line.contains("usr_2") && !line.contains("user.created"));
}

#[actix_web::test]
async fn deliveries_searched_by_status_endpoint_and_type() {
    let daemon = Daemon::start(&[]);
    let ok = Receiver::start();
    let refusing = Receiver::start();
    refusing.set_default(common::Reply::status(400));
    let good = daemon.create_endpoint(&ok.url, &["*"], json!({})).await;
    let bad = daemon
        .create_endpoint(&refusing.url, &["*"], json!({"retry_schedule": ["0s"]}))
        .await;
    let paid = daemon.publish("payment.paid", json!({})).await;
    let created = daemon.publish("user.created", json!({})).await;
    for event in [&paid, &created] {
        for delivery in common::deliveries_of(&daemon, event).await {
            let done = if delivery["endpoint_id"] == bad["id"] {
                "failed"
            } else {
                "succeeded"
            };
            wait_status(&daemon, delivery["id"].as_str().unwrap(), done).await;
        }
    }

    let failed = daemon
        .cli(&["--json", "deliveries", "list", "--status", "failed"])
        .await
        .json();
    let items = failed["data"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{failed}");
    assert!(items
        .iter()
        .all(|d| d["endpoint_id"] == bad["id"] && d["status"] == "failed"));
    // Newest first.
    assert_eq!(items[0]["event_id"], created["id"]);

    let good_id = good["id"].as_str().unwrap();
    let table = daemon
        .cli(&[
            "deliveries",
            "list",
            "--endpoint",
            good_id,
            "--type",
            "payment.*",
        ])
        .await;
    let lines: Vec<&str> = table.ok().lines().collect();
    assert!(
        lines[0].contains("STATUS") && lines[0].contains("ENDPOINT"),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains(paid["id"].as_str().unwrap()) && lines[1].contains("succeeded"));

    let bad_filter = daemon
        .cli(&["deliveries", "list", "--status", "lost"])
        .await;
    assert_eq!(bad_filter.code, 1, "{bad_filter:?}");
    assert!(bad_filter.stderr.contains("status"), "{bad_filter:?}");
}
