//! Black-box tests of the foundation: listeners, auth, endpoints, errors,
//! configuration and persistence across restarts. Publishing and reading
//! the log are in `events.rs`.

mod common;

use std::time::Duration;

use common::{assert_error_shape, raw, wait_for, Daemon, ADMIN_TOKEN};
use serde_json::{json, Value};

#[actix_web::test]
async fn admin_routes_need_a_token_and_stay_off_the_public_listener() {
    let daemon = Daemon::start(&[]);
    let url = format!("{}/api/v1/webhooks", daemon.admin);
    let (status, body) = daemon.request("GET", &url, None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized");
    let (status, _) = daemon
        .request("GET", &url, None, Some("wrong-token-but-long"))
        .await;
    assert_eq!(status, 401);
    let (status, _) = daemon.request("GET", &url, None, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);

    let public = format!("{}/api/v1/webhooks", daemon.public);
    let (status, body) = daemon
        .request("GET", &public, None, Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 404);
    assert_error_shape(&body);
    for base in [&daemon.public, &daemon.admin] {
        let (status, body) = daemon
            .request("GET", &format!("{base}/healthz"), None, None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "ok");
    }
}

#[actix_web::test]
async fn a_token_is_generated_when_none_is_configured() {
    let daemon = Daemon::start_with(&[], false);
    let path = daemon.data_dir.path().join("data").join("admin.token");
    let token = std::fs::read_to_string(&path).expect("admin.token written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        !daemon.log_text().contains(token.trim()),
        "token leaked to the log"
    );
    let url = format!("{}/api/v1/webhooks", daemon.admin);
    let (status, _) = daemon.request("GET", &url, None, Some(token.trim())).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn endpoints_round_trip_without_leaking_secrets() {
    let daemon = Daemon::start(&[]);
    let created = daemon
        .create_endpoint(
            "https://example.com/hooks",
            &["user.*", "payment.success"],
            json!({
                "description": "billing",
                "signature_header": "X-Bayit-Signature",
                "signature_style": "hex",
                "payload_format": "flat",
                "retry_schedule": ["0s", "10s"],
                "timeout": "5s",
                "max_in_flight": 4,
                "rate_limit_per_s": 10,
                "debug_mode": true,
                "metadata": {"team": "billing"}
            }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ep_"));
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["signature_style"], "hex");
    assert_eq!(created["retry_schedule"], json!(["0s", "10s"]));

    let (status, fetched) = daemon.api("GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(fetched.get("secret").is_none());
    assert_eq!(fetched["metadata"]["team"], "billing");
    assert_eq!(fetched["timeout"], "5s");
    assert_eq!(fetched["payload_format"], "flat");

    let (_, list) = daemon.api("GET", "/webhooks", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret));

    let (status, body) = daemon
        .api("GET", &format!("/webhooks/{id}/secret"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["secret"], secret);

    let patch = json!({"description": "renamed", "timeout": null, "active": false});
    let (status, patched) = daemon
        .api("PATCH", &format!("/webhooks/{id}"), Some(&patch))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["description"], "renamed");
    assert_eq!(patched["timeout"], Value::Null);
    assert_eq!(patched["active"], false);
    assert_eq!(patched["disabled_reason"], "manual");

    let (status, _) = daemon.api("DELETE", &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, body) = daemon.api("GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, 404);
    assert_error_shape(&body);
}

#[actix_web::test]
async fn endpoint_lists_are_paginated() {
    let daemon = Daemon::start(&[]);
    for n in 0..5 {
        daemon
            .create_endpoint(&format!("https://example.com/{n}"), &["*"], json!({}))
            .await;
    }
    let (_, first) = daemon.api("GET", "/webhooks?limit=2", None).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = daemon
        .api("GET", &format!("/webhooks?limit=2&cursor={cursor}"), None)
        .await;
    assert_eq!(second["data"][0]["url"], "https://example.com/2");
}

#[actix_web::test]
async fn bad_endpoint_input_is_refused_and_stores_nothing() {
    let daemon = Daemon::start(&[("HOOKD__DELIVERY__ALLOW_HTTP", "false")]);
    let cases = [
        (json!({"events": ["*"]}), 422),
        (json!({"url": "http://example.com/", "events": ["*"]}), 422),
        (json!({"url": "ftp://example.com/", "events": ["*"]}), 422),
        (json!({"url": "https://example.com/", "events": []}), 422),
        (
            json!({"url": "https://example.com/", "events": ["User.Created"]}),
            422,
        ),
        (
            json!({"url": "https://example.com/", "events": ["*"], "colour": "red"}),
            422,
        ),
        (
            json!({"url": "https://example.com/", "events": ["*"], "signature_style": "md5"}),
            422,
        ),
        (
            json!({"url": "https://example.com/", "events": ["*"], "retry_schedule": ["soon"]}),
            422,
        ),
        (
            json!({"url": "https://example.com/", "events": ["*"], "max_in_flight": 0}),
            422,
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = daemon.api("POST", "/webhooks", Some(&body)).await;
        assert_eq!(status, expected, "{body} → {answer}");
        assert_error_shape(&answer);
    }
    let (status, body) = raw(
        &daemon,
        "POST",
        "/webhooks",
        Some("application/json"),
        b"{not json",
    )
    .await;
    assert_eq!(status, 400);
    assert_error_shape(&body);
    let (status, body) = raw(&daemon, "POST", "/webhooks", Some("text/plain"), b"{}").await;
    assert_eq!(status, 415);
    assert_error_shape(&body);
    let (_, list) = daemon.api("GET", "/webhooks", None).await;
    assert_eq!(list["data"], json!([]));
}

#[actix_web::test]
async fn everything_survives_a_restart() {
    let mut daemon = Daemon::start(&[]);
    let endpoint = daemon
        .create_endpoint("https://example.com/", &["*"], json!({}))
        .await;
    let event = daemon.publish("user.created", json!({"name": "Zoë"})).await;
    daemon.restart(&[]);
    let (status, fetched) = daemon
        .api(
            "GET",
            &format!("/webhooks/{}", endpoint["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["url"], "https://example.com/");
    let (status, stored) = daemon
        .api(
            "GET",
            &format!("/events/{}", event["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(stored["data"]["name"], "Zoë");
    assert_eq!(stored["deliveries"].as_array().unwrap().len(), 1);
}

#[test]
fn check_config_masks_secrets_and_names_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookd.toml");
    std::fs::write(
        &config,
        "[admin]\ntokens = [\"a-very-secret-admin-token\"]\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["check-config", "--config"])
        .arg(&config)
        .env("HOOKD__SERVER__ADMIN_BIND", "127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("127.0.0.1:9999"), "{printed}");
    assert!(!printed.contains("a-very-secret-admin-token"));

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["check-config", "--config"])
        .arg(&config)
        .env("HOOKD__DELIVERY__TIMEOUT", "soon")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("timeout"), "{message}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[actix_web::test]
async fn requests_are_logged_except_successful_publishes() {
    let daemon = Daemon::start(&[]);
    daemon.publish("log.quiet", json!({})).await;
    let bad = json!({"type": "Not A Type", "data": {}});
    let (status, _) = daemon.api("POST", "/events", Some(&bad)).await;
    assert!((400..500).contains(&status), "{status}");
    daemon.api("GET", "/webhooks", None).await;
    // One thread writes the lines in order: once the last request's line
    // is there, the earlier requests' lines are too.
    let listed = "\"GET /api/v1/webhooks HTTP/1.1\" 200";
    wait_for("the list's log line", Duration::from_secs(10), || async {
        daemon.log_text().contains(listed).then_some(())
    })
    .await;
    let log = daemon.log_text();
    assert!(
        log.contains(&format!("\"POST /api/v1/events HTTP/1.1\" {status}")),
        "{log}"
    );
    assert!(
        !log.contains("\"POST /api/v1/events HTTP/1.1\" 202"),
        "{log}"
    );
}
