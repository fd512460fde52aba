//! `latency`: a steady 1,000 publishes per second, each timed from its
//! publish to its arrival at the receiver.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bodies::publish_body;
use crate::daemon::ADMIN_TOKEN;
use crate::figures::{epoch, ms, pick, round};
use crate::load::{client, load, post};
use crate::receiver::Receiver;
use crate::{harness, BenchResult, Sizes};

pub async fn run(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let (daemon, _) = harness::start_subscribed(receiver, "bench.latency", json!({})).await?;
    let url = format!("{}/api/v1/events", daemon.admin);
    let warm = load(
        &url,
        Some(ADMIN_TOKEN),
        &publish_body("bench.latency", None),
        200,
        8,
    )
    .await;
    warm.check("latency warm-up")?;
    receiver
        .wait_for(200, Duration::from_secs(30), "latency warm-up")
        .await?;
    receiver.reset();
    receiver.track_sequence(true);

    let total = (sizes.latency_secs * 1000) as usize;
    let client = Rc::new(client(256));
    let sent: Rc<RefCell<Vec<Option<Duration>>>> = Rc::new(RefCell::new(vec![None; total]));
    let acks: Rc<RefCell<Vec<Duration>>> = Rc::default();
    let errors = Rc::new(RefCell::new(0usize));
    let in_flight = Rc::new(RefCell::new(0usize));
    let mut skipped = 0usize;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for seq in 0..total {
        ticker.tick().await;
        // The publisher itself must not become the bottleneck it measures.
        if *in_flight.borrow() >= 256 {
            skipped += 1;
            continue;
        }
        let body = publish_body("bench.latency", Some(seq));
        let (client, sent, acks, errors, in_flight) = (
            client.clone(),
            sent.clone(),
            acks.clone(),
            errors.clone(),
            in_flight.clone(),
        );
        let url = url.clone();
        *in_flight.borrow_mut() += 1;
        actix_web::rt::spawn(async move {
            let at = epoch().elapsed();
            sent.borrow_mut()[seq] = Some(at);
            match post(&client, &url, Some(ADMIN_TOKEN), &[], body).await {
                Ok(202) => acks.borrow_mut().push(epoch().elapsed() - at),
                _ => *errors.borrow_mut() += 1,
            }
            *in_flight.borrow_mut() -= 1;
        });
    }
    let offered = started.elapsed();
    let expected = total - skipped - *errors.borrow();
    receiver
        .wait_for(expected, Duration::from_secs(30), "latency: receiver")
        .await?;
    receiver.track_sequence(false);
    let arrivals = receiver.arrivals();
    let sent = sent.borrow();
    let mut latencies: Vec<Duration> = arrivals
        .iter()
        .filter_map(|(seq, at)| {
            sent.get(*seq)
                .copied()
                .flatten()
                .map(|s| at.saturating_sub(s))
        })
        .collect();
    latencies.sort();
    let mut acks = acks.borrow().clone();
    acks.sort();
    if *errors.borrow() > 0 {
        return Err(format!("latency: {} publishes failed", errors.borrow()));
    }
    Ok(json!({
        "events": latencies.len(),
        "target_rate_per_s": 1000,
        "achieved_rate_per_s": round((total - skipped) as f64 / offered.as_secs_f64()),
        "skipped": skipped,
        "p50_ms": ms(pick(&latencies, 0.50)),
        "p99_ms": ms(pick(&latencies, 0.99)),
        "max_ms": ms(latencies.last().copied().unwrap_or_default()),
        "ack_p99_ms": ms(pick(&acks, 0.99)),
        "baseline": Value::Null,
        "ratio": Value::Null,
    }))
}
