//! Black-box tests of publishing: fan-out to matching endpoints,
//! batches, idempotency, bad input refused with nothing stored, and reading
//! the log back by range, type and cursor.

mod common;

use common::{assert_error_shape, event_count, raw, Daemon, ADMIN_TOKEN};
use serde_json::{json, Value};

#[actix_web::test]
async fn publishing_fans_out_to_matching_endpoints_held_for_disabled_ones() {
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
    let disabled = daemon
        .create_endpoint("http://127.0.0.1:9/e", &["*"], json!({"active": false}))
        .await;

    let answer = daemon.publish("user.created", json!({"id": 1})).await;
    assert!(answer["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(answer["type"], "user.created");
    assert_eq!(answer["deliveries"], 4);
    assert_eq!(
        daemon.publish("user.deleted", json!({})).await["deliveries"],
        3
    );
    assert_eq!(
        daemon.publish("payment.success", json!({})).await["deliveries"],
        2
    );

    let id = answer["id"].as_str().unwrap();
    let (status, event) = daemon.api("GET", &format!("/events/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(event["data"], json!({"id": 1}));
    let deliveries = event["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 4);
    assert!(deliveries.iter().any(|d| d["endpoint_id"] == all["id"]));
    let held = deliveries
        .iter()
        .find(|d| d["endpoint_id"] == disabled["id"])
        .unwrap();
    assert_eq!(held["status"], "held", "{held}");
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
