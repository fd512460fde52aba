//! Black-box tests of the partner registration and self-service:
//! the registration modes, isolation between partners, and the admin
//! controls. Deliveries and inbound events have their own files.

mod common;

use common::partner::{hmac_hex, register, CATALOG, FAST, OPEN};
use common::{wait_count, Daemon, Receiver};
use serde_json::{json, Value};

const REGISTRATION_TOKEN: &str = "reg-token-0123456789abcdef";
/// The partner guide's registration body, verbatim.
fn guide_registration() -> Value {
    json!({
        "partner_name": "Tu Grupo - Nombre",
        "webhook_url": "https://tu-dominio.com/webhooks/events",
        "events": [
            "payment.success",
            "payment.failed",
            "booking.confirmed",
            "booking.cancelled"
        ]
    })
}

async fn me(
    daemon: &Daemon,
    method: &str,
    path: &str,
    body: Option<&Value>,
    secret: &str,
) -> (u16, Value) {
    let url = format!("{}/partners/me{path}", daemon.public);
    daemon.request(method, &url, body, Some(secret)).await
}

#[actix_web::test]
async fn token_mode_accepts_the_guide_registration_with_a_token() {
    let tokens = ("HOOKD__PARTNERS__REGISTRATION_TOKENS", REGISTRATION_TOKEN);
    let daemon = Daemon::start(&[CATALOG, tokens]);
    let url = format!("{}/partners/register", daemon.public);
    let body = guide_registration();

    let (status, json) = daemon.request("POST", &url, Some(&body), None).await;
    assert_eq!(status, 401, "{json}");
    let (status, _) = daemon
        .request("POST", &url, Some(&body), Some("wrong"))
        .await;
    assert_eq!(status, 401);

    let (status, json) = daemon
        .request("POST", &url, Some(&body), Some(REGISTRATION_TOKEN))
        .await;
    assert_eq!(status, 201, "{json}");
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "events_subscribed",
            "partner_id",
            "shared_secret",
            "status",
            "webhook_url"
        ]
    );
    assert!(json["partner_id"].as_str().unwrap().starts_with("partner_"));
    assert_eq!(
        json["webhook_url"],
        "https://tu-dominio.com/webhooks/events"
    );
    assert!(json["shared_secret"]
        .as_str()
        .unwrap()
        .starts_with("sk_live_"));
    assert_eq!(json["status"], "active");
    assert_eq!(
        json["events_subscribed"],
        json!(["payment.success", "payment.failed", "booking.confirmed"])
    );
    let secret = json["shared_secret"].as_str().unwrap().to_string();
    let partner_id = json["partner_id"].as_str().unwrap().to_string();

    // Nothing the catalog offers → 400; a bad name or URL → 422.
    let none = json!({"partner_name": "x", "webhook_url": "https://a.example/h", "events": ["booking.cancelled"]});
    let (status, json) = daemon
        .request("POST", &url, Some(&none), Some(REGISTRATION_TOKEN))
        .await;
    assert_eq!(status, 400, "{json}");
    let unnamed = json!({"partner_name": "", "webhook_url": "https://a.example/h", "events": ["payment.success"]});
    let (status, json) = daemon
        .request("POST", &url, Some(&unnamed), Some(REGISTRATION_TOKEN))
        .await;
    assert_eq!(status, 422, "{json}");
    assert_eq!(json["error"], "invalid_partner_name");
    let bad_url = json!({"partner_name": "x", "webhook_url": "ftp://a.example/h", "events": ["payment.success"]});
    let (status, json) = daemon
        .request("POST", &url, Some(&bad_url), Some(REGISTRATION_TOKEN))
        .await;
    assert_eq!(status, 422, "{json}");

    // The partner is an endpoint with the partner guide's defaults; its secret stays out of lists.
    let (status, list) = daemon.api("GET", "/partners", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["partner_id"], partner_id.as_str());
    let (_, endpoints) = daemon.api("GET", "/webhooks", None).await;
    let endpoint = &endpoints["data"][0];
    assert_eq!(endpoint["partner_id"], partner_id.as_str());
    assert_eq!(endpoint["signature_style"], "canonical-json");
    assert_eq!(endpoint["payload_format"], "flat");
    assert_eq!(endpoint["signature_header"], "X-Webhook-Signature");
    assert_eq!(endpoint["timeout"], "5s");
    assert_eq!(endpoint["retry_schedule"], json!(["0s", "1s", "2s"]));
    for text in [list.to_string(), endpoints.to_string(), daemon.log_text()] {
        assert!(!text.contains(&secret), "secret leaked: {text}");
    }
    // Its endpoint changes only through the partner routes.
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    let patch = json!({"active": false});
    for (method, path, body) in [
        ("PATCH", path.clone(), Some(&patch)),
        ("DELETE", path.clone(), None),
        ("POST", format!("{path}/secret/rotate"), None),
    ] {
        let (status, answer) = daemon.api(method, &path, body).await;
        assert_eq!(status, 409, "{method} {path}: {answer}");
    }

    // The operator hears about it.
    let (_, events) = daemon
        .api("GET", "/events?type=hookd.partner.registered", None)
        .await;
    let notice = &events["data"][0]["data"];
    assert_eq!(notice["partner_id"], partner_id.as_str());
    assert_eq!(notice["partner_name"], "Tu Grupo - Nombre");
    assert_eq!(notice["events_subscribed"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn closed_mode_refuses_and_open_mode_is_rate_limited() {
    let closed = Daemon::start(&[CATALOG, ("HOOKD__PARTNERS__REGISTRATION", "closed")]);
    let url = format!("{}/partners/register", closed.public);
    let (status, json) = closed
        .request("POST", &url, Some(&guide_registration()), None)
        .await;
    assert_eq!(status, 403, "{json}");
    assert_eq!(json["error"], "forbidden");
    drop(closed);

    let open = Daemon::start(&[CATALOG, OPEN]);
    let url = format!("{}/partners/register", open.public);
    for n in 0..10 {
        let (status, json) = open
            .request("POST", &url, Some(&guide_registration()), None)
            .await;
        assert_eq!(status, 201, "registration {n}: {json}");
    }
    let (status, json) = open
        .request("POST", &url, Some(&guide_registration()), None)
        .await;
    assert_eq!(status, 429, "{json}");
    assert_eq!(json["error"], "rate_limited");
}

#[actix_web::test]
async fn partners_only_ever_see_their_own_data() {
    let daemon = Daemon::start(&[CATALOG, OPEN, FAST]);
    let receiver = Receiver::start();
    let a = register(
        &daemon,
        "A",
        &format!("{}/a", receiver.url),
        &["payment.success"],
    )
    .await;
    let b = register(
        &daemon,
        "B",
        &format!("{}/b", receiver.url),
        &["payment.success"],
    )
    .await;
    let (a_id, b_id) = (
        a["partner_id"].as_str().unwrap(),
        b["partner_id"].as_str().unwrap(),
    );
    let a_secret = a["shared_secret"].as_str().unwrap().to_string();
    let b_secret = b["shared_secret"].as_str().unwrap().to_string();

    let (status, view) = me(&daemon, "GET", "", None, &a_secret).await;
    assert_eq!(status, 200);
    assert_eq!(view["partner_id"], a_id);
    assert!(view.get("shared_secret").is_none());
    let (status, json) = me(&daemon, "GET", "", None, "sk_live_unknown").await;
    assert_eq!(status, 401, "{json}");
    let (status, _) = daemon
        .request("GET", &format!("{}/partners/me", daemon.public), None, None)
        .await;
    assert_eq!(status, 401);
    // The admin API does not answer on the public listener, even to a partner.
    let (status, _) = daemon
        .request(
            "GET",
            &format!("{}/api/v1/partners", daemon.public),
            None,
            Some(&a_secret),
        )
        .await;
    assert_eq!(status, 404);

    // A changes its URL and events; B is untouched.
    let patch = json!({"webhook_url": format!("{}/a2", receiver.url), "events": ["payment.success", "payment.failed", "user.deleted"]});
    let (status, view) = me(&daemon, "PATCH", "", Some(&patch), &a_secret).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["events_subscribed"],
        json!(["payment.success", "payment.failed"])
    );
    let (status, json) = me(
        &daemon,
        "PATCH",
        "",
        Some(&json!({"events": ["user.deleted"]})),
        &a_secret,
    )
    .await;
    assert_eq!(status, 400, "{json}");
    let (_, view_b) = me(&daemon, "GET", "", None, &b_secret).await;
    assert_eq!(view_b["webhook_url"], format!("{}/b", receiver.url));
    assert_eq!(view_b["events_subscribed"], json!(["payment.success"]));

    // Each lists only the deliveries to its own endpoint.
    daemon.publish("payment.success", json!({"n": 1})).await;
    wait_count(&receiver, 2).await;
    for (secret, view) in [(&a_secret, &view), (&b_secret, &view_b)] {
        let (status, page) = me(&daemon, "GET", "/deliveries", None, secret).await;
        assert_eq!(status, 200, "{page}");
        let data = page["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{page}");
        assert_eq!(data[0]["endpoint_id"], view["endpoint_id"]);
    }

    // A test send reaches A's endpoint only.
    let (status, json) = me(
        &daemon,
        "POST",
        "/test",
        Some(&json!({"event": "payment.success"})),
        &a_secret,
    )
    .await;
    assert_eq!(status, 202, "{json}");
    wait_count(&receiver, 3).await;
    let test = receiver.received().pop().unwrap();
    assert_eq!(test.path, "/hook/a2");
    assert_eq!(test.json()["test"], true);
    assert_eq!(
        test.header("X-Webhook-Signature").unwrap(),
        hmac_hex(&a_secret, &test.body)
    );

    // Rotation: the new secret works, the old one no longer does, B unaffected.
    let (status, rotated) = me(&daemon, "POST", "/rotate-secret", None, &a_secret).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["shared_secret"].as_str().unwrap().to_string();
    assert!(new_secret.starts_with("sk_live_") && new_secret != a_secret);
    assert_eq!(me(&daemon, "GET", "", None, &a_secret).await.0, 401);
    assert_eq!(
        me(&daemon, "GET", "", None, &new_secret).await.1["partner_id"],
        a_id
    );
    assert_eq!(
        me(&daemon, "GET", "", None, &b_secret).await.1["partner_id"],
        b_id
    );

    // Suspend A: 403 for A, its endpoint off; resume; then remove B.
    let (status, json) = daemon
        .api(
            "PATCH",
            &format!("/partners/{a_id}"),
            Some(&json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "suspended");
    let (status, json) = me(&daemon, "GET", "", None, &new_secret).await;
    assert_eq!(status, 403, "{json}");
    let (_, endpoint) = daemon
        .api(
            "GET",
            &format!("/webhooks/{}", view["endpoint_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(endpoint["active"], false);
    assert_eq!(endpoint["disabled_reason"], "manual");
    assert_eq!(me(&daemon, "GET", "", None, &b_secret).await.0, 200);
    let (status, _) = daemon
        .api(
            "PATCH",
            &format!("/partners/{a_id}"),
            Some(&json!({"status": "active"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(me(&daemon, "GET", "", None, &new_secret).await.0, 200);
    let (status, _) = daemon
        .api(
            "PATCH",
            &format!("/partners/{a_id}"),
            Some(&json!({"status": "gone"})),
        )
        .await;
    assert_eq!(status, 422);

    let (status, _) = daemon
        .api("DELETE", &format!("/partners/{b_id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        daemon
            .api("GET", &format!("/partners/{b_id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(me(&daemon, "GET", "", None, &b_secret).await.0, 401);
    let (_, endpoint) = daemon
        .api(
            "GET",
            &format!("/webhooks/{}", view_b["endpoint_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(endpoint["error"], "not_found");
    let (_, list) = daemon.api("GET", "/partners?limit=1", None).await;
    assert_eq!(list["data"][0]["partner_id"], a_id);
    assert!(!list.to_string().contains("sk_live_"));
}
