//! Black-box tests of endpoint health and outbound safety: automatic
//! disabling, operational events, secret rotation, and the address policy.

mod common;

use std::net::ToSocketAddrs;
use std::time::Duration;

use base64::Engine;
use common::{only_delivery_of, wait_count, wait_for, Daemon, Receiver, Reply};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

fn hmac_raw(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The `standardwebhooks` verification rule: one of the space-separated
/// `v1,` signatures must match the one computed with `secret`.
fn verifies_with(secret: &str, received: &common::receiver::Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let signed = [
        format!(
            "{}.{}.",
            received.header("webhook-id").unwrap(),
            received.header("webhook-timestamp").unwrap()
        )
        .as_bytes(),
        &received.body,
    ]
    .concat();
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(hmac_raw(&key, &signed))
    );
    received
        .header("webhook-signature")
        .unwrap()
        .split(' ')
        .any(|candidate| candidate == expected)
}

fn types_received(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| r.header("X-Webhook-Event").unwrap_or("").to_string())
        .collect()
}

#[actix_web::test]
async fn consecutive_failures_disable_an_endpoint_and_hold_its_deliveries() {
    let daemon = Daemon::start(&[
        ("HOOKD__DELIVERY__DISABLE_AFTER_FAILURES", "5"),
        ("HOOKD__DELIVERY__DISABLE_MIN_FAILING", "0s"),
        ("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,1h"),
    ]);
    let failing = Receiver::start();
    failing.set_default(Reply::status(500));
    let operator = Receiver::start();
    let everything = Receiver::start();
    let endpoint = daemon
        .create_endpoint(&failing.url, &["order.*"], json!({}))
        .await;
    daemon
        .create_endpoint(&operator.url, &["hookd.*"], json!({}))
        .await;
    daemon
        .create_endpoint(&everything.url, &["*"], json!({}))
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());

    for n in 0..5 {
        daemon.publish("order.created", json!({"n": n})).await;
    }
    let disabled = wait_for(
        "the endpoint to be disabled",
        Duration::from_secs(15),
        || async {
            let (_, body) = daemon.api("GET", &path, None).await;
            (body["active"] == false).then_some(body)
        },
    )
    .await;
    assert_eq!(disabled["disabled_reason"], "failures");
    assert!(disabled["disabled_at"].as_str().unwrap().ends_with('Z'));
    // The endpoint is saved as disabled a moment before its deliveries are
    // moved to held.
    wait_for("five held deliveries", Duration::from_secs(10), || async {
        let (_, held) = daemon
            .api("GET", &format!("{path}/deliveries?status=held"), None)
            .await;
        (held["data"].as_array().map_or(0, Vec::len) == 5).then_some(())
    })
    .await;

    let notice = wait_for(
        "hookd.endpoint.disabled",
        Duration::from_secs(10),
        || async {
            operator
                .received()
                .into_iter()
                .find(|r| r.header("X-Webhook-Event") == Some("hookd.endpoint.disabled"))
        },
    )
    .await;
    let body = notice.json();
    assert_eq!(body["data"]["endpoint_id"], endpoint["id"]);
    assert_eq!(body["data"]["reason"], "failures");
    assert_eq!(body["data"]["url"], failing.url.as_str());
    assert_eq!(everything.count(), 5, "only the order events");
    assert!(types_received(&everything)
        .iter()
        .all(|t| !t.starts_with("hookd.")));

    failing.set_default(Reply::status(200));
    let (_, enabled) = daemon
        .api("PATCH", &path, Some(&json!({"active": true})))
        .await;
    assert_eq!(enabled["active"], true);
    assert!(enabled.get("disabled_reason").is_none());
    wait_for("the held deliveries", Duration::from_secs(10), || async {
        let (_, ok) = daemon
            .api("GET", &format!("{path}/deliveries?status=succeeded"), None)
            .await;
        (ok["data"].as_array().unwrap().len() == 5).then_some(())
    })
    .await;
    assert_eq!(failing.count(), 10);
}

#[actix_web::test]
async fn exhausted_retries_emit_delivery_failed_but_never_a_storm() {
    let daemon = Daemon::start(&[("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,100ms")]);
    let failing = Receiver::start();
    failing.set_default(Reply::status(500));
    let operator = Receiver::start();
    // The operator endpoint fails too: its own failures must not emit more events.
    operator.set_default(Reply::status(500));
    daemon
        .create_endpoint(&failing.url, &["order.*"], json!({}))
        .await;
    daemon
        .create_endpoint(&operator.url, &["hookd.delivery.failed"], json!({}))
        .await;
    let event = daemon.publish("order.created", json!({})).await;
    let notice = wait_for("hookd.delivery.failed", Duration::from_secs(10), || async {
        operator.received().into_iter().next()
    })
    .await;
    let data = notice.json()["data"].clone();
    assert_eq!(data["event_id"], event["id"]);
    assert_eq!(data["attempts"], 2);
    assert_eq!(data["last_status_code"], 500);
    assert!(data["delivery_id"].as_str().unwrap().starts_with("dlv_"));
    // Wait until the operator's own delivery has failed twice, then make sure
    // nothing more was emitted about it.
    wait_count(&operator, 2).await;
    let (_, log) = daemon.api("GET", "/events?type=hookd.*", None).await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1, "{log}");
}

#[actix_web::test]
async fn a_rotated_secret_signs_beside_the_old_one_until_the_grace_ends() {
    let mut daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let old = endpoint["secret"].as_str().unwrap().to_string();
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    let (status, rotated) = daemon
        .api(
            "POST",
            &format!("{path}/secret/rotate"),
            Some(&json!({"grace": "1h"})),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);

    let last = |n: usize| {
        let receiver = receiver.clone();
        async move {
            wait_for("a delivery", Duration::from_secs(10), || async {
                (receiver.count() >= n).then(|| receiver.received()[n - 1].clone())
            })
            .await
        }
    };
    daemon.publish("a.b", json!({})).await;
    let first = last(1).await;
    assert!(verifies_with(&new, &first) && verifies_with(&old, &first));
    let header = first.header("X-Webhook-Signature").unwrap();
    let expected = hex::encode(hmac_raw(new.as_bytes(), &first.body));
    assert_eq!(header, format!("sha256={expected}"));

    daemon.restart(&[]);
    daemon.publish("a.b", json!({})).await;
    let after_restart = last(2).await;
    assert!(verifies_with(&new, &after_restart) && verifies_with(&old, &after_restart));

    let (_, rotated) = daemon
        .api(
            "POST",
            &format!("{path}/secret/rotate"),
            Some(&json!({"grace": "1s"})),
        )
        .await;
    let newest = rotated["secret"].as_str().unwrap().to_string();
    // Once the grace is over, only the newest secret signs: poll by publishing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut sent = 2;
    loop {
        daemon.publish("a.b", json!({})).await;
        sent += 1;
        let received = last(sent).await;
        assert!(verifies_with(&newest, &received));
        if !verifies_with(&new, &received) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the grace never ended"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = daemon
        .api(
            "POST",
            &format!("{path}/secret/rotate"),
            Some(&json!({"secret": "short"})),
        )
        .await;
    assert_eq!(status, 422);
}

#[actix_web::test]
async fn private_targets_are_refused_at_creation() {
    let daemon = Daemon::start(&[("HOOKD__DELIVERY__ALLOW_PRIVATE_TARGETS", "false")]);
    for url in [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.0.1/",
        "http://[fc00::1]/",
        "http://169.254.169.254/",
        "http://[fe80::1]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://255.255.255.255/",
        "http://localhost/",
    ] {
        let body = json!({"url": url, "events": ["*"]});
        let (status, answer) = daemon.api("POST", "/webhooks", Some(&body)).await;
        assert_eq!(status, 422, "{url} → {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("address"),
            "{answer}"
        );
    }
    // A name (not `localhost` itself) that this machine resolves to loopback.
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let host = host.trim();
    let loopback = (host, 80)
        .to_socket_addrs()
        .map(|mut addrs| addrs.all(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    if host.is_empty() || !loopback {
        eprintln!(
            "skipping the resolved-name case: this machine's hostname does not resolve to loopback"
        );
    } else {
        let body = json!({"url": format!("http://{host}/"), "events": ["*"]});
        let (status, answer) = daemon.api("POST", "/webhooks", Some(&body)).await;
        assert_eq!(status, 422, "{host} → {answer}");
    }
    let (_, list) = daemon.api("GET", "/webhooks", None).await;
    assert_eq!(list["data"], json!([]));
}

#[actix_web::test]
async fn a_name_resolving_to_loopback_is_blocked_at_send_time() {
    let mut daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    daemon
        .create_endpoint(&by_name, &["by.name"], json!({}))
        .await;
    daemon
        .create_endpoint(&receiver.url, &["by.literal"], json!({}))
        .await;
    daemon.restart(&[("HOOKD__DELIVERY__ALLOW_PRIVATE_TARGETS", "false")]);
    for event_type in ["by.name", "by.literal"] {
        let event = daemon.publish(event_type, json!({})).await;
        let id = only_delivery_of(&daemon, &event).await;
        let body: Value = wait_for("the blocked delivery", Duration::from_secs(10), || async {
            let (_, body) = daemon.api("GET", &format!("/deliveries/{id}"), None).await;
            (body["status"] == "failed").then_some(body)
        })
        .await;
        let attempts = body["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "blocked is final");
        assert_eq!(attempts[0]["error"], "blocked_target", "{body}");
    }
    assert_eq!(receiver.count(), 0);
}

#[actix_web::test]
async fn failure_counts_survive_a_restart() {
    let env = [
        ("HOOKD__DELIVERY__DISABLE_AFTER_FAILURES", "4"),
        ("HOOKD__DELIVERY__DISABLE_MIN_FAILING", "0s"),
        ("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s"),
    ];
    let mut daemon = Daemon::start(&env);
    let failing = Receiver::start();
    failing.set_default(Reply::status(500));
    let endpoint = daemon
        .create_endpoint(&failing.url, &["*"], json!({}))
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    for _ in 0..2 {
        daemon.publish("order.created", json!({})).await;
    }
    wait_count(&failing, 2).await;
    daemon.restart(&env);
    let (_, still_on) = daemon.api("GET", &path, None).await;
    assert_eq!(still_on["active"], true);
    for _ in 0..2 {
        daemon.publish("order.created", json!({})).await;
    }
    let disabled = wait_for(
        "the fourth failure to disable it",
        Duration::from_secs(10),
        || async {
            let (_, body) = daemon.api("GET", &path, None).await;
            (body["active"] == false).then_some(body)
        },
    )
    .await;
    assert_eq!(disabled["disabled_reason"], "failures");
    assert_eq!(failing.count(), 4);
}
