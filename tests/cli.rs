//! Black-box tests of the admin command line: the real binary's commands
//! against a running daemon, checked through the API and a real receiver.

mod common;

use common::partner::{register, CATALOG, OPEN};
use common::{wait_count, wait_status, Daemon, Receiver, ADMIN_TOKEN};
use serde_json::json;

#[actix_web::test]
async fn endpoints_from_creation_to_deletion() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let created = daemon
        .cli(&[
            "--json",
            "endpoints",
            "create",
            "--url",
            &receiver.url,
            "--events",
            "user.created,order.*",
            "--description",
            "crm",
        ])
        .await
        .json();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["events"], json!(["user.created", "order.*"]));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let (_, stored) = daemon.api("GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(stored["description"], "crm");

    // A table: a header, then the endpoint's row with its URL and events.
    let list = daemon.cli(&["endpoints", "list"]).await;
    let lines: Vec<&str> = list.ok().lines().collect();
    assert!(
        lines[0].contains("ID") && lines[0].contains("URL"),
        "{lines:?}"
    );
    let row = lines.iter().find(|l| l.contains(id)).expect("a row");
    assert!(row.contains(&receiver.url) && row.contains("user.created,order.*"));

    let shown = daemon.cli(&["endpoints", "show", id]).await;
    assert!(shown.ok().contains("crm") && !shown.stdout.contains("whsec_"));

    daemon
        .cli(&[
            "endpoints",
            "update",
            id,
            "--events",
            "user.*",
            "--description",
            "new",
        ])
        .await
        .ok();
    let (_, stored) = daemon.api("GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(
        (stored["events"].clone(), stored["description"].clone()),
        (json!(["user.*"]), json!("new"))
    );

    daemon.cli(&["endpoints", "disable", id]).await.ok();
    let (_, stored) = daemon.api("GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(
        (stored["active"].clone(), stored["disabled_reason"].clone()),
        (json!(false), json!("manual"))
    );
    daemon.cli(&["endpoints", "enable", id]).await.ok();
    let (_, stored) = daemon.api("GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(stored["active"], true);

    // A test send names its event, reaches this endpoint, and is marked.
    let sent = daemon
        .cli(&["endpoints", "test", id, "--event", "user.created"])
        .await;
    assert!(sent.ok().contains("dlv_"), "{sent:?}");
    wait_count(&receiver, 1).await;
    let body = receiver.received()[0].json();
    assert_eq!(
        (body["type"].clone(), body["test"].clone()),
        (json!("user.created"), json!(true))
    );

    let rotated = daemon
        .cli(&["--json", "endpoints", "rotate-secret", id, "--grace", "0s"])
        .await
        .json();
    let (_, secret) = daemon
        .api("GET", &format!("/webhooks/{id}/secret"), None)
        .await;
    assert_eq!(secret["secret"], rotated["secret"]);
    assert_ne!(rotated["secret"], created["secret"]);

    daemon.cli(&["endpoints", "delete", id]).await.ok();
    let (status, _) = daemon.api("GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn a_test_send_without_event_uses_the_first_exact_subscription() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["order.*", "invoice.paid"], json!({}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    daemon.cli(&["endpoints", "test", id]).await.ok();
    wait_count(&receiver, 1).await;
    assert_eq!(receiver.received()[0].json()["type"], "invoice.paid");
}

#[actix_web::test]
async fn events_published_listed_and_shown() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    daemon
        .create_endpoint(&receiver.url, &["user.*"], json!({}))
        .await;
    let publish = [
        "--json",
        "events",
        "publish",
        "--type",
        "user.created",
        "--data",
        r#"{"user_id": "usr_1"}"#,
        "--idempotency-key",
        "signup-1",
    ];
    let first = daemon.cli(&publish).await.json();
    assert_eq!(first["deliveries"], 1);
    // The same key: the first answer again, nothing new stored.
    let again = daemon.cli(&publish).await.json();
    assert_eq!(again["id"], first["id"]);
    let id = first["id"].as_str().unwrap();
    let human = daemon
        .cli(&["events", "publish", "--type", "order.paid"])
        .await;
    assert!(human.ok().starts_with("published evt_"), "{human:?}");
    assert!(human.stdout.contains("0 deliveries"), "{human:?}");

    let listed = daemon.cli(&["events", "list", "--type", "user.*"]).await;
    let rows: Vec<&str> = listed.ok().lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains(id) && rows[0].contains("user.created"));
    let page = daemon
        .cli(&["--json", "events", "list", "--limit", "1"])
        .await
        .json();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string(), "{page}");

    let shown = daemon.cli(&["--json", "events", "show", id]).await.json();
    assert_eq!(shown["data"], json!({"user_id": "usr_1"}));
    assert_eq!(shown["deliveries"].as_array().unwrap().len(), 1);
    let table = daemon.cli(&["events", "show", id]).await;
    assert!(table.ok().contains("deliveries:"), "{table:?}");
    assert!(table.stdout.contains("usr_1"));
}

#[actix_web::test]
async fn a_failed_delivery_shown_and_retried() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    receiver.push(common::Reply::status(400));
    daemon
        .create_endpoint(
            &receiver.url,
            &["order.paid"],
            json!({"retry_schedule": ["0s"]}),
        )
        .await;
    let event = daemon.publish("order.paid", json!({})).await;
    let delivery = common::only_delivery_of(&daemon, &event).await;
    wait_status(&daemon, &delivery, "failed").await;

    let shown = daemon.cli(&["deliveries", "show", &delivery]).await;
    assert!(shown.ok().contains("failed"), "{shown:?}");
    assert!(shown.stdout.contains("attempts:") && shown.stdout.contains("400"));
    let retried = daemon.cli(&["deliveries", "retry", &delivery]).await;
    assert!(retried.ok().contains(&delivery));
    wait_status(&daemon, &delivery, "succeeded").await;
    wait_count(&receiver, 2).await;
}

/// A replay of every event the test published, answered in JSON.
const ALL_TIME: [&str; 7] = [
    "--json",
    "replay",
    "start",
    "--from",
    "2020-01-01T00:00:00Z",
    "--to",
    "2099-01-01T00:00:00Z",
];

#[actix_web::test]
async fn a_replay_started_and_waited_for() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["order.*"], json!({}))
        .await;
    let first = daemon.publish("order.paid", json!({"n": 1})).await;
    daemon.publish("order.paid", json!({"n": 2})).await;
    wait_count(&receiver, 2).await;

    let job = daemon
        .cli(&[
            "--json",
            "replay",
            "start",
            "--event-id",
            first["id"].as_str().unwrap(),
            "--endpoint",
            endpoint["id"].as_str().unwrap(),
        ])
        .await
        .json();
    let id = job["id"].as_str().unwrap();
    // Piped, the wait prints plain lines, then the finished job.
    let waited = daemon.cli(&["replay", "status", id, "--wait"]).await;
    let out = waited.ok();
    assert!(out.lines().any(|l| l.starts_with("done 100%")), "{out}");
    assert!(out.contains("deliveries_scheduled=1"), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "no terminal codes when piped: {out:?}"
    );
    wait_count(&receiver, 3).await;
    let last = receiver.received()[2].json();
    assert_eq!(last["id"], first["id"]);

    let range = daemon
        .cli(&[&ALL_TIME[..], &["--type", "order.*"]].concat())
        .await
        .json();
    let done = daemon
        .cli(&[
            "--json",
            "replay",
            "status",
            range["id"].as_str().unwrap(),
            "--wait",
        ])
        .await
        .json();
    assert_eq!(
        (done["status"].clone(), done["events_matched"].clone()),
        (json!("done"), json!(2))
    );
    assert_eq!(done["progress"], 1.0);
}

#[actix_web::test]
async fn partners_listed_suspended_and_activated() {
    let daemon = Daemon::start(&[CATALOG, OPEN]);
    let partner = register(
        &daemon,
        "Grupo CLI",
        "http://127.0.0.1:9/hook",
        &["payment.success"],
    )
    .await;
    let id = partner["partner_id"].as_str().unwrap();
    let listed = daemon.cli(&["partners", "list"]).await;
    let row = listed
        .ok()
        .lines()
        .find(|l| l.contains(id))
        .map(str::to_string);
    assert!(
        row.is_some_and(|r| r.contains("Grupo CLI") && r.contains("active")),
        "{listed:?}"
    );

    daemon.cli(&["partners", "suspend", id]).await.ok();
    let (_, stored) = daemon.api("GET", &format!("/partners/{id}"), None).await;
    assert_eq!(stored["status"], "suspended");
    let shown = daemon.cli(&["partners", "show", id]).await;
    assert!(shown.ok().contains("suspended"));
    daemon.cli(&["partners", "activate", id]).await.ok();
    let (_, stored) = daemon.api("GET", &format!("/partners/{id}"), None).await;
    assert_eq!(stored["status"], "active");
}

#[actix_web::test]
async fn on_a_terminal_the_wait_draws_a_progress_bar() {
    // util-linux `script` gives the command a pseudo-terminal.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: no `script` to run the command on a terminal");
        return;
    }
    let daemon = Daemon::start(&[]);
    daemon.publish("order.paid", json!({})).await;
    let job = daemon.cli(&ALL_TIME).await.json();
    let command = format!(
        "{} --url {} --token {ADMIN_TOKEN} replay status {} --wait",
        env!("CARGO_BIN_EXE_hookd"),
        daemon.admin,
        job["id"].as_str().unwrap()
    );
    let run = hookd_on_terminal(&command).await;
    // The bar (drawn, then cleared with an erase-line code), then the job.
    assert!(run.contains('█') && run.contains("\u{1b}[2K"), "{run:?}");
    assert!(run.contains("status") && run.contains("done"), "{run:?}");
}

async fn hookd_on_terminal(command: &str) -> String {
    let mut script = std::process::Command::new("script");
    script.args(["-qec", command, "/dev/null"]);
    let out = actix_web::rt::task::spawn_blocking(move || script.output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
