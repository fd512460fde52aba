//! Test harness: the real `hookd` binary on ephemeral ports with a temp data
//! dir, driven over real HTTP, delivering to a real local receiver.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod daemon;
pub mod guide_code;
pub mod partner;
pub mod pg_database;
pub mod receiver;

use std::time::{Duration, Instant};

use serde_json::Value;

pub use daemon::{copy_dir, Daemon, ADMIN_TOKEN};
pub use receiver::{Receiver, Reply};

/// True (after saying so) when the daemons of this run use PostgreSQL
/// (`HOOKD_TEST_BACKEND=postgres`) and the calling test is about what only
/// the embedded backend does; `why` says what covers it there instead.
pub fn skipped_on_postgres(why: &str) -> bool {
    let postgres = std::env::var("HOOKD_TEST_BACKEND").as_deref() == Ok("postgres");
    if postgres {
        println!("SKIPPED on PostgreSQL: {why}");
    }
    postgres
}

/// Polls `check` until it returns `Some`, or panics with `what` at the deadline.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `receiver` has exactly `n` requests (more is a failure).
pub async fn wait_count(receiver: &Receiver, n: usize) {
    wait_for(
        &format!("{n} requests"),
        Duration::from_secs(30),
        || async { (receiver.count() >= n).then_some(()) },
    )
    .await;
    assert_eq!(receiver.count(), n, "more requests than expected");
}

/// A delivery as `GET /deliveries/{id}` shows it.
pub async fn delivery(daemon: &Daemon, id: &str) -> Value {
    let (status, body) = daemon.api("GET", &format!("/deliveries/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The deliveries `GET /events/{id}` lists for a published event.
pub async fn deliveries_of(daemon: &Daemon, event: &Value) -> Vec<Value> {
    let (status, body) = daemon
        .api(
            "GET",
            &format!("/events/{}", event["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["deliveries"].as_array().cloned().unwrap_or_default()
}

pub async fn only_delivery_of(daemon: &Daemon, event: &Value) -> String {
    deliveries_of(daemon, event).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn wait_status(daemon: &Daemon, id: &str, status: &str) -> Value {
    wait_for(
        &format!("delivery {id} to be {status}"),
        Duration::from_secs(20),
        || async {
            let body = delivery(daemon, id).await;
            (body["status"] == status).then_some(body)
        },
    )
    .await
}

/// An admin API call with a raw body and an explicit content type.
pub async fn raw(
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

/// Every error is `{"error": <code>, "message": <sentence>}` (docs/api.md, Errors).
pub fn assert_error_shape(body: &Value) {
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// How many events the log holds (up to 1000).
pub async fn event_count(daemon: &Daemon) -> usize {
    let (status, body) = daemon.api("GET", "/events?limit=1000", None).await;
    assert_eq!(status, 200);
    body["data"].as_array().unwrap().len()
}
