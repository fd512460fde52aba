//! Black-box tests of what must be refused without changing anything: bodies
//! a route cannot use, reserved header names, and the small start-up and
//! authentication details people trip on.

mod common;

use std::process::Command;

use common::partner::{hmac_hex, register, CATALOG, INBOUND, OPEN};
use common::{assert_error_shape, raw, Daemon, ADMIN_TOKEN};
use serde_json::{json, Value};

#[actix_web::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let daemon = Daemon::start(&[]);
    let client = awc::Client::default();
    let url = format!("{}/api/v1/webhooks", daemon.admin);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = client
            .get(&url)
            .insert_header(("Authorization", format!("{scheme} {ADMIN_TOKEN}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "scheme {scheme}");
    }
    for refused in [
        format!("Basic {ADMIN_TOKEN}"),
        format!("Bearer{ADMIN_TOKEN}"),
        "Bearer ".to_string(),
    ] {
        let response = client
            .get(&url)
            .insert_header(("Authorization", refused.as_str()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{refused}");
    }
}

/// Mounts a read-only tmpfs on `dir`; false where mounting is not permitted.
fn mount_read_only(dir: &std::path::Path) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn an_unwritable_data_dir_is_named_in_the_start_up_error() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("readonly");
    std::fs::create_dir(&data_dir).unwrap();
    if !mount_read_only(&data_dir) {
        println!("SKIPPED: mounting a read-only tmpfs is not permitted here");
        return;
    }
    let config = temp.path().join("hookd.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\npublic_bind = \"127.0.0.1:0\"\nadmin_bind = \"127.0.0.1:0\"\n\
             [storage]\ndata_dir = \"{}\"\n",
            data_dir.display()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(&data_dir).status();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&data_dir.display().to_string()),
        "the error names no path: {stderr}"
    );
}

#[actix_web::test]
async fn a_refused_rotation_body_rotates_nothing() {
    let daemon = Daemon::start(&[]);
    let endpoint = daemon
        .create_endpoint("http://127.0.0.1:9/hook", &["a.b"], json!({}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let path = format!("/webhooks/{id}/secret/rotate");
    let original = endpoint["secret"].as_str().unwrap().to_string();

    let huge = vec![b' '; 50 * 1024 * 1024];
    let cases: Vec<(Option<&str>, &[u8], u16)> = vec![
        (Some("application/json"), b"{not json", 400),
        (Some("application/json"), b"{\"secret\": \"\xff\xfe\"}", 400),
        (Some("text/plain"), b"{\"grace\": \"0s\"}", 415),
        (None, b"{\"grace\": \"0s\"}", 415),
        (Some("application/json"), b"[]", 422),
        (Some("application/json"), b"{\"secret\": 5}", 422),
        (Some("application/json"), b"{\"grace\": \"soon\"}", 422),
        (Some("application/json"), b"{\"secret\": \"short\"}", 422),
        (Some("application/json"), b"{\"unknown\": 1}", 422),
        (Some("application/json"), &huge, 413),
    ];
    for (content_type, body, expected) in cases {
        let (status, json) = raw(&daemon, "POST", &path, content_type, body).await;
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        assert_eq!(status, expected, "{content_type:?} {shown}: {json}");
        assert_error_shape(&json);
    }
    let (_, secret) = daemon
        .api("GET", &format!("/webhooks/{id}/secret"), None)
        .await;
    assert_eq!(
        secret["secret"],
        original.as_str(),
        "a refused body rotated"
    );
    let (_, current) = daemon.api("GET", &format!("/webhooks/{id}"), None).await;
    assert!(current["previous_secret_expires_at"].is_null(), "{current}");

    // Still accepted: no body at all, and a JSON body.
    let (status, json) = raw(&daemon, "POST", &path, None, b"").await;
    assert_eq!(status, 200, "{json}");
    let (status, json) = raw(
        &daemon,
        "POST",
        &path,
        Some("application/json"),
        b"{\"grace\": \"0s\"}",
    )
    .await;
    assert_eq!(status, 200, "{json}");
}

#[actix_web::test]
async fn a_signature_header_may_not_name_a_reserved_header() {
    let daemon = Daemon::start(&[]);
    for name in [
        "Host",
        "Content-Type",
        "content-length",
        "User-Agent",
        "Transfer-Encoding",
        "X-Webhook-Delivery",
        "x-webhook-event",
        "X-Webhook-Attempt",
        "webhook-id",
        "Webhook-Signature",
        "webhook-timestamp",
        "webhook-anything",
        "Proxy-Authorization",
    ] {
        let body =
            json!({"url": "http://127.0.0.1:9/", "events": ["a.b"], "signature_header": name});
        let (status, json) = daemon.api("POST", "/webhooks", Some(&body)).await;
        assert_eq!(status, 422, "{name}: {json}");
        assert_eq!(json["error"], "invalid_signature_header", "{json}");
    }
    let (_, list) = daemon.api("GET", "/webhooks", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");

    let endpoint = daemon
        .create_endpoint(
            "http://127.0.0.1:9/",
            &["a.b"],
            json!({"signature_header": "X-Acme-Signature"}),
        )
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    let (status, _) = daemon
        .api("PATCH", &path, Some(&json!({"signature_header": "Host"})))
        .await;
    assert_eq!(status, 422);
    let (_, current) = daemon.api("GET", &path, None).await;
    assert_eq!(current["signature_header"], "X-Acme-Signature");
}

#[actix_web::test]
async fn inbound_partner_events_must_be_declared_as_json() {
    let daemon = Daemon::start(&[OPEN, CATALOG, INBOUND]);
    let partner = register(
        &daemon,
        "Sender",
        "https://partner.example/hook",
        &["payment.success"],
    )
    .await;
    let secret = partner["shared_secret"].as_str().unwrap();
    let body = r#"{"event":"tour.purchased","tour_id":"t1"}"#;
    let signature = hmac_hex(secret, body.as_bytes());
    let client = awc::Client::default();
    let send = |content_type: Option<&'static str>| {
        let mut request = client
            .post(format!("{}/webhooks/partners", daemon.public))
            .insert_header(("X-Webhook-Signature", signature.as_str()))
            .insert_header(("X-Webhook-Event", "tour.purchased"));
        if let Some(content_type) = content_type {
            request = request.insert_header(("Content-Type", content_type));
        }
        request.send_body(body)
    };
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut response = send(content_type).await.unwrap();
        assert_eq!(response.status().as_u16(), 415, "{content_type:?}");
        let json: Value = serde_json::from_slice(&response.body().await.unwrap()).unwrap();
        assert_eq!(json["error"], "unsupported_media_type");
    }
    let (status, page) = daemon.api("GET", "/events?type=tour.purchased", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 0, "{page}");

    let response = send(Some("application/json; charset=utf-8")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[actix_web::test]
async fn every_special_address_spelling_is_refused_and_public_ipv6_accepted() {
    let daemon = Daemon::start(&[("HOOKD__DELIVERY__ALLOW_PRIVATE_TARGETS", "false")]);
    for url in [
        "https://[::127.0.0.1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[64:ff9b::7f00:1]/",
        "https://[64:ff9b:1::808:808]/",
        "https://[2002:7f00:1::]/",
        "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "https://[2001:db8::1]/",
        "https://[fd00::1]/",
        "https://198.18.0.1/",
        "https://192.0.0.1/",
        "https://192.0.2.1/",
        "https://240.0.0.1/",
        "https://localhost./",
        "https://api.localhost./",
    ] {
        let body = json!({"url": url, "events": ["a.b"]});
        let (status, json) = daemon.api("POST", "/webhooks", Some(&body)).await;
        assert_eq!(status, 422, "{url}: {json}");
        assert_eq!(json["error"], "invalid_url", "{json}");
    }
    for url in [
        "https://[2606:4700::1111]/hook",
        "https://[64:ff9b::808:808]/",
    ] {
        daemon.create_endpoint(url, &["a.b"], json!({})).await;
    }
}
