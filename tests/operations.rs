//! Black-box tests of what an operator watches: the Prometheus scrape, the
//! deliveries search and the per-endpoint stats.

mod common;

use std::time::Duration;

use common::{
    assert_error_shape, only_delivery_of, wait_count, wait_for, wait_status, Daemon, Receiver,
    Reply,
};
use serde_json::{json, Value};

/// The scrape, without a token; panics unless it is OpenMetrics text.
async fn scrape(daemon: &Daemon) -> String {
    let client = awc::Client::default();
    let mut response = client
        .get(format!("{}/metrics", daemon.admin))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let body = response.body().await.expect("body");
    String::from_utf8(body.to_vec()).expect("utf-8")
}

/// The value of one sample, e.g. `hookd_endpoints{state="active"}`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[actix_web::test]
async fn metrics_move_with_publishing_and_delivery() {
    let daemon = Daemon::start(&[]);
    let receiver = Receiver::start();
    let before = scrape(&daemon).await;
    for (family, kind) in [
        ("hookd_events_published", "counter"),
        ("hookd_delivery_attempts", "counter"),
        ("hookd_deliveries_completed", "counter"),
        ("hookd_attempt_duration_seconds", "histogram"),
        ("hookd_delivery_latency_seconds", "histogram"),
        ("hookd_publish_duration_seconds", "histogram"),
        ("hookd_deliveries_pending", "gauge"),
        ("hookd_deliveries_held", "gauge"),
        ("hookd_attempts_in_flight", "gauge"),
        ("hookd_endpoints", "gauge"),
        ("hookd_replay_jobs_running", "gauge"),
        ("hookd_storage_size_bytes", "gauge"),
    ] {
        let line = format!("# TYPE {family} {kind}");
        assert!(before.lines().any(|l| l == line), "missing {line}");
    }
    for source in ["api", "partner", "operational", "test"] {
        let series = format!("hookd_events_published_total{{source=\"{source}\"}}");
        assert_eq!(sample(&before, &series), 0.0);
    }
    assert_eq!(sample(&before, "hookd_endpoints{state=\"active\"}"), 0.0);
    assert!(sample(&before, "hookd_storage_size_bytes") > 0.0);

    let good = daemon
        .create_endpoint(&receiver.url, &["order.*"], json!({}))
        .await;
    let event = daemon.publish("order.created", json!({"n": 1})).await;
    wait_count(&receiver, 1).await;
    wait_status(
        &daemon,
        &only_delivery_of(&daemon, &event).await,
        "succeeded",
    )
    .await;
    let (status, _) = daemon
        .api(
            "POST",
            &format!("/webhooks/{}/test", good["id"].as_str().unwrap()),
            Some(&json!({"event": "order.created"})),
        )
        .await;
    assert_eq!(status, 202);
    wait_count(&receiver, 2).await;

    // An attempt is counted as it ends, a moment before its record is
    // written; the gauges follow the record (on PostgreSQL a scrape counts
    // the open rows), so all three are awaited together.
    let after = wait_for(
        "the metrics of two successes",
        Duration::from_secs(10),
        || async {
            let text = scrape(&daemon).await;
            let done = sample(
                &text,
                "hookd_deliveries_completed_total{status=\"succeeded\"}",
            );
            let pending = sample(&text, "hookd_deliveries_pending");
            let in_flight = sample(&text, "hookd_attempts_in_flight");
            (done == 2.0 && pending == 0.0 && in_flight == 0.0).then_some(text)
        },
    )
    .await;
    assert_eq!(
        sample(&after, "hookd_events_published_total{source=\"api\"}"),
        1.0
    );
    assert_eq!(
        sample(&after, "hookd_events_published_total{source=\"test\"}"),
        1.0
    );
    assert_eq!(
        sample(&after, "hookd_delivery_attempts_total{result=\"success\"}"),
        2.0
    );
    assert_eq!(
        sample(&after, "hookd_delivery_attempts_total{result=\"failure\"}"),
        0.0
    );
    assert_eq!(sample(&after, "hookd_attempt_duration_seconds_count"), 2.0);
    assert_eq!(sample(&after, "hookd_delivery_latency_seconds_count"), 2.0);
    assert_eq!(sample(&after, "hookd_publish_duration_seconds_count"), 1.0);
    assert_eq!(sample(&after, "hookd_endpoints{state=\"active\"}"), 1.0);
    assert_eq!(sample(&after, "hookd_deliveries_pending"), 0.0);
    assert_eq!(sample(&after, "hookd_attempts_in_flight"), 0.0);

    // A failing endpoint with a long retry keeps its delivery pending, and
    // disabling the endpoint moves it to held.
    let failing = Receiver::start();
    failing.set_default(Reply::status(500));
    let bad = daemon
        .create_endpoint(
            &failing.url,
            &["invoice.*"],
            json!({"retry_schedule": ["0s", "1h"]}),
        )
        .await;
    daemon.publish("invoice.created", json!({})).await;
    wait_count(&failing, 1).await;
    let text = wait_for("a failed attempt", Duration::from_secs(10), || async {
        let text = scrape(&daemon).await;
        (sample(&text, "hookd_delivery_attempts_total{result=\"failure\"}") == 1.0).then_some(text)
    })
    .await;
    assert_eq!(sample(&text, "hookd_deliveries_pending"), 1.0);
    let (status, _) = daemon
        .api(
            "PATCH",
            &format!("/webhooks/{}", bad["id"].as_str().unwrap()),
            Some(&json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200);
    let text = scrape(&daemon).await;
    assert_eq!(sample(&text, "hookd_deliveries_pending"), 0.0);
    assert_eq!(sample(&text, "hookd_deliveries_held"), 1.0);
    assert_eq!(sample(&text, "hookd_endpoints{state=\"disabled\"}"), 1.0);

    // A delivery that fails for good is completed as failed and emits an
    // operational event.
    daemon
        .create_endpoint(
            &failing.url,
            &["refund.*"],
            json!({"retry_schedule": ["0s"]}),
        )
        .await;
    daemon.publish("refund.created", json!({})).await;
    let text = wait_for("a failed delivery", Duration::from_secs(10), || async {
        let text = scrape(&daemon).await;
        let failed = sample(&text, "hookd_deliveries_completed_total{status=\"failed\"}");
        let emitted = sample(
            &text,
            "hookd_events_published_total{source=\"operational\"}",
        );
        (failed == 1.0 && emitted == 1.0).then_some(text)
    })
    .await;
    assert_eq!(
        sample(&text, "hookd_events_published_total{source=\"api\"}"),
        3.0
    );

    // The open counts are rebuilt from storage at the next start.
    let mut daemon = daemon;
    daemon.restart(&[]);
    let text = wait_for(
        "the open deliveries counted",
        Duration::from_secs(10),
        || async {
            let text = scrape(&daemon).await;
            (sample(&text, "hookd_deliveries_held") == 1.0).then_some(text)
        },
    )
    .await;
    assert_eq!(sample(&text, "hookd_deliveries_pending"), 0.0);
}

/// GET `/deliveries` with `query`; panics unless 200.
async fn search(daemon: &Daemon, query: &str) -> Value {
    let (status, body) = daemon
        .api("GET", &format!("/deliveries?{query}"), None)
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn deliveries_are_searched_by_status_endpoint_type_and_time() {
    let daemon = Daemon::start(&[]);
    let ok = Receiver::start();
    let gone = Receiver::start();
    gone.set_default(Reply::status(500));
    let good = daemon.create_endpoint(&ok.url, &["*"], json!({})).await;
    let bad = daemon
        .create_endpoint(&gone.url, &["payment.*"], json!({"retry_schedule": ["0s"]}))
        .await;
    let (good_id, bad_id) = (good["id"].as_str().unwrap(), bad["id"].as_str().unwrap());
    for event_type in ["payment.succeeded", "user.created", "payment.refunded"] {
        daemon.publish(event_type, json!({})).await;
    }
    wait_count(&ok, 3).await;
    wait_count(&gone, 2).await;
    let failed = wait_for("two failed deliveries", Duration::from_secs(20), || async {
        let page = search(&daemon, "status=failed").await;
        (page["data"].as_array().unwrap().len() == 2).then_some(page)
    })
    .await;
    for item in failed["data"].as_array().unwrap() {
        assert_eq!(item["endpoint_id"], bad_id);
        assert_eq!(item["status"], "failed");
        assert_eq!(item["attempts"], 1);
        assert!(item["event_type"].as_str().unwrap().starts_with("payment."));
        for field in ["id", "event_id", "created_at", "updated_at"] {
            assert!(item[field].is_string(), "{field}: {item}");
        }
        assert!(item["next_attempt_at"].is_null());
    }
    // Newest first.
    assert_eq!(failed["data"][0]["event_type"], "payment.refunded");
    assert!(failed["next_cursor"].is_null());

    let all = search(&daemon, "").await;
    assert_eq!(ids(&all).len(), 5);
    let mut sorted = ids(&all);
    sorted.sort();
    sorted.reverse();
    assert_eq!(ids(&all), sorted, "newest first");

    let payments = search(
        &daemon,
        &format!("event_type=payment.*&endpoint_id={good_id}"),
    )
    .await;
    assert_eq!(ids(&payments).len(), 2);
    let users = search(&daemon, "event_type=user.created&status=succeeded").await;
    assert_eq!(ids(&users).len(), 1);
    assert_eq!(users["data"][0]["endpoint_id"], good_id);
    let none = search(&daemon, "from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z").await;
    assert!(ids(&none).is_empty());
    let recent = search(&daemon, "from=2000-01-01T00:00:00Z").await;
    assert_eq!(ids(&recent).len(), 5);

    // Paging walks every delivery exactly once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = search(&daemon, &format!("limit=2&cursor={cursor}")).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all));

    for (query, names) in [
        ("status=done", "status"),
        ("endpoint_id=nope", "endpoint_id"),
        ("event_type=Not%20A%20Type", "event_type"),
        ("from=yesterday", "from"),
        ("to=soon", "to"),
        ("limit=0", "limit"),
        ("cursor=xyz", "cursor"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = daemon
            .api("GET", &format!("/deliveries?{query}"), None)
            .await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_error_shape(&body);
        assert!(body["message"].as_str().unwrap().contains(names), "{body}");
    }

    // The index survives a restart.
    let mut daemon = daemon;
    daemon.restart(&[]);
    assert_eq!(ids(&search(&daemon, "status=failed").await).len(), 2);
}

#[actix_web::test]
async fn stats_show_each_endpoint_over_the_window() {
    let daemon = Daemon::start(&[]);
    let ok = Receiver::start();
    let failing = Receiver::start();
    failing.set_default(Reply::status(503));
    let good = daemon.create_endpoint(&ok.url, &["job.*"], json!({})).await;
    let bad = daemon
        .create_endpoint(&failing.url, &["job.*"], json!({"retry_schedule": ["0s"]}))
        .await;
    let idle = daemon
        .create_endpoint(&ok.url, &["never.*"], json!({}))
        .await;
    daemon.publish("job.done", json!({})).await;
    daemon.publish("job.done", json!({})).await;
    wait_count(&ok, 2).await;
    wait_count(&failing, 2).await;

    let stats = wait_for(
        "four attempts in the stats",
        Duration::from_secs(10),
        || async {
            let (status, body) = daemon.api("GET", "/stats?window=5m", None).await;
            assert_eq!(status, 200, "{body}");
            let attempts: u64 = body["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["attempts"].as_u64().unwrap())
                .sum();
            (attempts == 4).then_some(body)
        },
    )
    .await;
    assert_eq!(stats["window_seconds"], 300);
    let of = |id: &Value| {
        stats["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["endpoint_id"] == *id)
            .cloned()
            .unwrap_or_else(|| panic!("no stats for {id}"))
    };
    let g = of(&good["id"]);
    assert_eq!(
        (g["attempts"].as_u64(), g["successes"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(g["success_rate"], 1.0);
    assert!(g["p50_ms"].is_u64() && g["p99_ms"].is_u64(), "{g}");
    assert!(g["last_success_at"].is_string() && g["last_failure_at"].is_null());
    let per_minute = g["per_minute"].as_array().unwrap();
    assert_eq!(per_minute.len(), 5);
    let minute_total: u64 = per_minute
        .iter()
        .map(|m| m["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(minute_total, 2);
    assert!(per_minute[0]["at"].as_str().unwrap().ends_with(":00Z"));
    let b = of(&bad["id"]);
    assert_eq!(
        (b["failures"].as_u64(), b["success_rate"].as_f64()),
        (Some(2), Some(0.0))
    );
    assert!(b["last_failure_at"].is_string());
    let i = of(&idle["id"]);
    assert_eq!(i["attempts"], 0);
    assert!(i["success_rate"].is_null() && i["p50_ms"].is_null());

    let (status, one) = daemon
        .api(
            "GET",
            &format!("/stats?endpoint_id={}", bad["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["window_seconds"], 3600);
    assert_eq!(one["endpoints"].as_array().unwrap().len(), 1);
    assert_eq!(
        one["endpoints"][0]["per_minute"].as_array().unwrap().len(),
        60
    );

    for (query, name) in [
        ("window=30s", "window"),
        ("window=25h", "window"),
        ("window=week", "window"),
        ("endpoint_id=42", "endpoint_id"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = daemon.api("GET", &format!("/stats?{query}"), None).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(name), "{body}");
    }
}
