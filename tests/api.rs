//! Black-box tests of the foundation: listeners, auth, endpoints, publishing,
//! reading the log, errors, configuration and persistence across restarts.

mod common;

use common::{Daemon, ADMIN_TOKEN};
use serde_json::{json, Value};

async fn raw(
    daemon: &Daemon,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let client = awc::Client::default();
    let url = format!("{}/api/v1{}", daemon.admin, path);
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client
        .request(method, url)
        .insert_header(("Authorization", format!("Bearer {ADMIN_TOKEN}")));
    if let Some(content_type) = content_type {
        request = request.insert_header(("Content-Type", content_type));
    }
    let mut response = request.send_body(body.to_vec()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.body().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn assert_error_shape(body: &Value) {
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn event_count(daemon: &Daemon) -> usize {
    let (status, body) = daemon.api("GET", "/events?limit=1000", None).await;
    assert_eq!(status, 200);
    body["data"].as_array().unwrap().len()
}

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
async fn publishing_fans_out_to_matching_active_endpoints() {
    let daemon = Daemon::start(&[]);
    // Unreachable targets: this test only counts the deliveries created.
    let all = daemon
        .create_endpoint("http://127.0.0.1:9/a", &["*"], json!({}))
        .await;
    daemon
        .create_endpoint("http://127.0.0.1:9/b", &["user.*"], json!({}))
        .await;
    daemon
        .create_endpoint("http://127.0.0.1:9/c", &["user.created"], json!({}))
        .await;
    daemon
        .create_endpoint("http://127.0.0.1:9/d", &["hookd.*"], json!({}))
        .await;
    daemon
        .create_endpoint("http://127.0.0.1:9/e", &["*"], json!({"active": false}))
        .await;

    let answer = daemon.publish("user.created", json!({"id": 1})).await;
    assert!(answer["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(answer["type"], "user.created");
    assert_eq!(answer["deliveries"], 3);
    assert_eq!(
        daemon.publish("user.deleted", json!({})).await["deliveries"],
        2
    );
    assert_eq!(
        daemon.publish("payment.success", json!({})).await["deliveries"],
        1
    );

    let id = answer["id"].as_str().unwrap();
    let (status, event) = daemon.api("GET", &format!("/events/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(event["data"], json!({"id": 1}));
    let deliveries = event["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().any(|d| d["endpoint_id"] == all["id"]));
    assert!(deliveries
        .iter()
        .all(|d| d["id"].as_str().unwrap().starts_with("dlv_")));
}

#[actix_web::test]
async fn the_log_reads_back_by_range_type_and_cursor() {
    let daemon = Daemon::start(&[]);
    let first = daemon.publish("user.created", json!({"n": 1})).await;
    daemon.publish("payment.success", json!({"n": 2})).await;
    daemon.publish("user.deleted", json!({"n": 3})).await;

    let (_, users) = daemon.api("GET", "/events?type=user.*", None).await;
    let types: Vec<&str> = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["user.created", "user.deleted"]);

    let (_, both) = daemon
        .api(
            "GET",
            "/events?type=payment.success&type=user.deleted",
            None,
        )
        .await;
    assert_eq!(both["data"].as_array().unwrap().len(), 2);

    let (_, page) = daemon.api("GET", "/events?limit=2", None).await;
    assert_eq!(page["data"][0]["id"], first["id"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = daemon
        .api("GET", &format!("/events?limit=2&cursor={cursor}"), None)
        .await;
    assert_eq!(rest["data"][0]["data"]["n"], 3);
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);

    let (_, future) = daemon
        .api("GET", "/events?from=2999-01-01T00:00:00Z", None)
        .await;
    assert_eq!(future["data"], json!([]));
    let (_, past) = daemon
        .api("GET", "/events?to=2000-01-01T00:00:00Z", None)
        .await;
    assert_eq!(past["data"], json!([]));
    let (_, all) = daemon
        .api(
            "GET",
            "/events?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    let (status, _) = daemon
        .api(
            "GET",
            "/events?from=2999-01-01T00:00:00Z&to=2000-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(status, 422);
}

#[actix_web::test]
async fn an_idempotency_key_returns_the_first_answer_and_stores_nothing() {
    let daemon = Daemon::start(&[]);
    let client = awc::Client::default();
    let url = format!("{}/api/v1/events", daemon.admin);
    let mut answers = Vec::new();
    for _ in 0..2 {
        let mut response = client
            .post(&url)
            .insert_header(("Authorization", format!("Bearer {ADMIN_TOKEN}")))
            .insert_header(("Idempotency-Key", "order-42"))
            .send_json(&json!({"type": "order.paid", "data": {"total": 5}}))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        answers.push(response.json::<Value>().await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    let body = json!({"type": "order.paid", "data": {}, "idempotency_key": "order-42"});
    let (_, third) = daemon.api("POST", "/events", Some(&body)).await;
    assert_eq!(third, answers[0]);
    assert_eq!(event_count(&daemon).await, 1);
}

#[actix_web::test]
async fn bad_events_are_refused_and_store_nothing() {
    let daemon = Daemon::start(&[("HOOKD__EVENTS__MAX_PAYLOAD_BYTES", "1024")]);
    let cases = [
        (json!({"type": "User.Created", "data": {}}), 422),
        (json!({"type": "hookd.endpoint.disabled", "data": {}}), 422),
        (json!({"type": "a..b", "data": {}}), 422),
        (json!({"type": "x".repeat(129), "data": {}}), 422),
        (json!({"type": "user.created", "data": [1, 2]}), 422),
        (json!({"type": "user.created"}), 422),
        (json!({"data": {}}), 422),
        (
            json!({"type": "user.created", "data": {"blob": "x".repeat(2000)}}),
            413,
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = daemon.api("POST", "/events", Some(&body)).await;
        assert_eq!(status, expected, "{body} → {answer}");
        assert_error_shape(&answer);
    }
    let (status, body) = raw(
        &daemon,
        "POST",
        "/events",
        Some("application/json"),
        b"{\"type\": \"a.b\", \"data\": {",
    )
    .await;
    assert_eq!(status, 400);
    assert_error_shape(&body);
    let (status, body) = raw(&daemon, "POST", "/events", Some("text/plain"), b"{}").await;
    assert_eq!(status, 415);
    assert_error_shape(&body);

    let batch = json!([
        {"type": "user.created", "data": {}},
        {"type": "BAD", "data": {}},
    ]);
    let (status, answer) = daemon.api("POST", "/events/batch", Some(&batch)).await;
    assert_eq!(status, 422);
    assert!(
        answer["message"].as_str().unwrap().contains("item 1"),
        "{answer}"
    );
    assert_eq!(event_count(&daemon).await, 0);
    let (status, _) = daemon.api("GET", "/events/evt_nonsense", None).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn a_batch_is_stored_whole_and_answered_in_order() {
    let daemon = Daemon::start(&[]);
    daemon
        .create_endpoint("http://127.0.0.1:9/", &["b.*"], json!({}))
        .await;
    let batch: Vec<Value> = (0..50)
        .map(|n| json!({"type": if n % 2 == 0 { "a.x" } else { "b.x" }, "data": {"n": n}}))
        .collect();
    let (status, answer) = daemon
        .api("POST", "/events/batch", Some(&json!(batch)))
        .await;
    assert_eq!(status, 202, "{answer}");
    let data = answer["data"].as_array().unwrap();
    assert_eq!(data.len(), 50);
    assert_eq!(data[0]["deliveries"], 0);
    assert_eq!(data[1]["deliveries"], 1);
    assert_eq!(event_count(&daemon).await, 50);
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
