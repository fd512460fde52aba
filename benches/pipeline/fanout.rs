//! `fanout`: one event to many endpoints, beside one awc client posting to
//! all of them at once.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bodies::delivery_body;
use crate::figures::{ms, ratio, secs};
use crate::load::{client, post};
use crate::receiver::Receiver;
use crate::{harness, BenchResult, Sizes};

pub async fn run(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let daemon = harness::start_with(&[("HOOKD__DELIVERY__MAX_IN_FLIGHT_TOTAL", "1024")])?;
    let created = Instant::now();
    let bodies: Vec<Value> = (0..sizes.fanout_endpoints)
        .map(|i| json!({"url": receiver.url(&format!("/f/{i}")), "events": ["bench.fanout"]}))
        .collect();
    for chunk in bodies.chunks(8) {
        let calls = chunk.iter().map(|b| daemon.try_create_endpoint(b));
        for result in futures_util::future::join_all(calls).await {
            result?;
        }
    }
    let setup = created.elapsed();
    receiver.reset();

    let started = Instant::now();
    let answer = harness::publish_one(&daemon, "bench.fanout").await?;
    let acked = started.elapsed();
    if answer["deliveries"].as_u64() != Some(sizes.fanout_endpoints as u64) {
        return Err(format!("fanout: unexpected answer {answer}"));
    }
    receiver
        .wait_for(
            sizes.fanout_endpoints,
            Duration::from_secs(60),
            "fanout: receiver",
        )
        .await?;
    let delivered = started.elapsed();

    // Baseline: the same number of posts, all started at once, by one client.
    receiver.reset();
    let c = client(1024);
    let body = delivery_body();
    let base_started = Instant::now();
    let posts = (0..sizes.fanout_endpoints).map(|i| {
        let url = receiver.url(&format!("/f/{i}"));
        let c = &c;
        let body = body.clone();
        async move { post(c, &url, None, &[], body).await }
    });
    let ok = futures_util::future::join_all(posts)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(200)))
        .count();
    let base = base_started.elapsed();
    if ok != sizes.fanout_endpoints {
        return Err(format!(
            "fanout baseline: {ok} of {} posts",
            sizes.fanout_endpoints
        ));
    }

    Ok(json!({
        "endpoints": sizes.fanout_endpoints,
        "ack_ms": ms(acked),
        "all_delivered_ms": ms(delivered),
        "endpoint_setup_s": secs(setup),
        "baseline": {"all_posted_ms": ms(base)},
        "ratio": ratio(base.as_secs_f64(), delivered.as_secs_f64()),
    }))
}
