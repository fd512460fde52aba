//! Black-box tests of the account portal: links, tokens, and isolation —
//! two accounts subscribed to the same types, and nothing of one reachable
//! or visible through the other's token.

mod common;

use std::time::Duration;

use common::{wait_count, wait_for, Daemon, Receiver};
use serde_json::{json, Value};

async fn create_account(daemon: &Daemon, id: &str) {
    let body = json!({"id": id, "name": id});
    let (status, json) = daemon.api("POST", "/accounts", Some(&body)).await;
    assert_eq!(status, 201, "{json}");
}

/// A portal link for `account`; returns its token.
async fn portal_token(daemon: &Daemon, account: &str, ttl: &str) -> String {
    let path = format!("/accounts/{account}/portal-link");
    let (status, link) = daemon.api("POST", &path, Some(&json!({"ttl": ttl}))).await;
    assert_eq!(status, 201, "{link}");
    assert!(link["expires_at"].is_string(), "{link}");
    let url = link["url"].as_str().unwrap();
    let (base, token) = url
        .split_once("/portal/#token=")
        .expect("token in the fragment");
    assert!(base.starts_with("http"), "{url}");
    token.to_string()
}

/// A portal API call: `portal(&daemon, token, "GET", "/webhooks", None)`.
async fn portal(
    daemon: &Daemon,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let url = format!("{}/portal/api/v1{}", daemon.public, path);
    daemon.request(method, &url, body, Some(token)).await
}

fn listed(page: &Value, field: &str) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {page}"))
        .iter()
        .map(|item| item[field].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn one_accounts_token_reaches_nothing_of_another() {
    let daemon = Daemon::start(&[]);
    create_account(&daemon, "A").await;
    create_account(&daemon, "B").await;
    let (receiver_a, receiver_b) = (Receiver::start(), Receiver::start());
    let token_a = portal_token(&daemon, "A", "1h").await;
    let token_b = portal_token(&daemon, "B", "1h").await;

    // Each account adds its endpoint through its own portal.
    let body = json!({"url": receiver_a.url, "events": ["order.*"]});
    let (status, endpoint_a) = portal(&daemon, &token_a, "POST", "/webhooks", Some(&body)).await;
    assert_eq!(status, 201, "{endpoint_a}");
    assert_eq!(endpoint_a["account_id"], "A");
    let body = json!({"url": receiver_b.url, "events": ["order.*"]});
    let (_, endpoint_b) = portal(&daemon, &token_b, "POST", "/webhooks", Some(&body)).await;
    let foreign = json!({"url": receiver_b.url, "events": ["order.*"], "account_id": "A"});
    let (status, _) = portal(&daemon, &token_b, "POST", "/webhooks", Some(&foreign)).await;
    assert_eq!(status, 422);

    let publish = |account: &'static str| {
        let body = json!({"type": "order.paid", "data": {"for": account}, "account_id": account});
        let daemon = &daemon;
        async move {
            let (status, event) = daemon.api("POST", "/events", Some(&body)).await;
            assert_eq!(status, 202, "{event}");
            event
        }
    };
    let event_a = publish("A").await;
    let event_b = publish("B").await;
    wait_count(&receiver_a, 1).await;
    wait_count(&receiver_b, 1).await;
    assert_eq!(receiver_a.received()[0].json()["id"], event_a["id"]);

    let (_, detail) = portal(
        &daemon,
        &token_a,
        "GET",
        &format!("/events/{}", event_a["id"].as_str().unwrap()),
        None,
    )
    .await;
    let delivery_a = detail["deliveries"][0]["id"].as_str().unwrap().to_string();
    let body = json!({"event_ids": [event_a["id"]]});
    let (status, replay_a) = portal(&daemon, &token_a, "POST", "/replay", Some(&body)).await;
    assert_eq!(status, 202, "{replay_a}");
    wait_count(&receiver_a, 2).await;

    let ep_a = endpoint_a["id"].as_str().unwrap();
    let evt_a = event_a["id"].as_str().unwrap();
    let rpl_a = replay_a["id"].as_str().unwrap();
    let not_found: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/webhooks/{ep_a}"), None),
        (
            "PATCH",
            format!("/webhooks/{ep_a}"),
            Some(json!({"description": "mine"})),
        ),
        ("GET", format!("/webhooks/{ep_a}/secret"), None),
        (
            "POST",
            format!("/webhooks/{ep_a}/secret/rotate"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/webhooks/{ep_a}/test"),
            Some(json!({"event": "order.paid"})),
        ),
        ("GET", format!("/webhooks/{ep_a}/deliveries"), None),
        ("DELETE", format!("/webhooks/{ep_a}"), None),
        ("GET", format!("/events/{evt_a}"), None),
        ("GET", "/events?account_id=A".to_string(), None),
        ("GET", format!("/deliveries/{delivery_a}"), None),
        ("POST", format!("/deliveries/{delivery_a}/retry"), None),
        ("GET", format!("/deliveries?endpoint_id={ep_a}"), None),
        ("GET", format!("/replay/{rpl_a}"), None),
        (
            "POST",
            "/replay".to_string(),
            Some(json!({"event_ids": [evt_a]})),
        ),
        (
            "POST",
            "/replay".to_string(),
            Some(
                json!({"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "endpoint_ids": [ep_a]}),
            ),
        ),
    ];
    for (method, path, body) in &not_found {
        let (status, answer) = portal(&daemon, &token_b, method, path, body.as_ref()).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }

    // B's lists hold only B's items.
    let (_, endpoints) = portal(&daemon, &token_b, "GET", "/webhooks", None).await;
    assert_eq!(
        listed(&endpoints, "id"),
        vec![endpoint_b["id"].as_str().unwrap()]
    );
    let (_, events) = portal(&daemon, &token_b, "GET", "/events", None).await;
    assert_eq!(listed(&events, "id"), vec![event_b["id"].as_str().unwrap()]);
    let (_, after) = portal(
        &daemon,
        &token_b,
        "GET",
        &format!("/events?after={evt_a}"),
        None,
    )
    .await;
    assert!(!listed(&after, "id").contains(&evt_a.to_string()));
    let (_, deliveries) = portal(&daemon, &token_b, "GET", "/deliveries", None).await;
    let seen = listed(&deliveries, "endpoint_id");
    assert!(!seen.is_empty() && seen.iter().all(|e| e == endpoint_b["id"].as_str().unwrap()));

    // B's range replay reaches B's endpoint only.
    let body = json!({"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"});
    let (status, replay_b) = portal(&daemon, &token_b, "POST", "/replay", Some(&body)).await;
    assert_eq!(status, 202, "{replay_b}");
    let path = format!("/replay/{}", replay_b["id"].as_str().unwrap());
    let done = wait_for("B's replay", Duration::from_secs(20), || async {
        let (_, job) = portal(&daemon, &token_b, "GET", &path, None).await;
        (job["status"] == "done").then_some(job)
    })
    .await;
    assert_eq!(done["deliveries_scheduled"], 1, "{done}");
    wait_count(&receiver_b, 2).await;
    assert_eq!(receiver_a.count(), 2);
    let (_, replays) = portal(&daemon, &token_b, "GET", "/replay", None).await;
    assert_eq!(
        listed(&replays, "id"),
        vec![replay_b["id"].as_str().unwrap()]
    );

    // A still reaches its own: the 404s above were about scope.
    let (status, _) = portal(&daemon, &token_a, "GET", &format!("/webhooks/{ep_a}"), None).await;
    assert_eq!(status, 200);
    let (status, _) = portal(
        &daemon,
        &token_a,
        "POST",
        &format!("/deliveries/{delivery_a}/retry"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    wait_count(&receiver_a, 3).await;
}

#[actix_web::test]
async fn expired_tampered_foreign_and_orphaned_tokens_are_refused() {
    let daemon = Daemon::start(&[("HOOKD__SERVER__PUBLIC_URL", "https://hooks.example.com/")]);
    create_account(&daemon, "A").await;
    create_account(&daemon, "gone").await;
    let token = portal_token(&daemon, "A", "1h").await;
    let (_, link) = daemon
        .api("POST", "/accounts/A/portal-link", Some(&json!({})))
        .await;
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://hooks.example.com/portal/#token=A."),
        "{url}"
    );
    assert_eq!(
        portal(&daemon, &token, "GET", "/webhooks", None).await.0,
        200
    );

    let (account, rest) = token.split_once('.').unwrap();
    assert_eq!(account, "A");
    let renamed = format!("B.{rest}");
    let mut flipped = token.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [
        renamed.as_str(),
        flipped.as_str(),
        "",
        "garbage",
        common::ADMIN_TOKEN,
    ] {
        let (status, body) = portal(&daemon, bad, "GET", "/webhooks", None).await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert_eq!(body["error"], "unauthorized");
    }
    // A portal token is no admin token.
    let (status, _) = daemon
        .request(
            "GET",
            &format!("{}/api/v1/webhooks", daemon.admin),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(status, 401);

    let orphan = portal_token(&daemon, "gone", "1h").await;
    assert_eq!(daemon.api("DELETE", "/accounts/gone", None).await.0, 204);
    assert_eq!(
        portal(&daemon, &orphan, "GET", "/events", None).await.0,
        401
    );

    let short = portal_token(&daemon, "A", "1s").await;
    wait_for("the token to expire", Duration::from_secs(10), || async {
        let (status, _) = portal(&daemon, &short, "GET", "/events", None).await;
        (status == 401).then_some(())
    })
    .await;

    for (ttl, code) in [("0s", 422), ("8d", 422), ("soon", 422)] {
        let (status, body) = daemon
            .api(
                "POST",
                "/accounts/A/portal-link",
                Some(&json!({"ttl": ttl})),
            )
            .await;
        assert_eq!(status, code, "{ttl}: {body}");
        assert_eq!(body["error"], "invalid_ttl");
    }
    let (status, _) = daemon
        .api("POST", "/accounts/nobody/portal-link", Some(&json!({})))
        .await;
    assert_eq!(status, 404);
}
