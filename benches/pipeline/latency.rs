//! `latency`: a steady 1,000 publishes per second, each timed from its
//! publish to its arrival at the receiver. The same paced publishes to the
//! one-write ceiling (ceiling.rs) are the baseline: their acknowledgement
//! times are what one insert and a shared flush cost on this disk at this
//! rate, and hookd acknowledges after the same flush.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bodies::publish_body;
use crate::daemon::ADMIN_TOKEN;
use crate::figures::{epoch, ms, pick, round};
use crate::load::{client, load, post};
use crate::receiver::Receiver;
use crate::{ceiling, harness, BenchResult, Sizes};

/// Publishes in flight at most: the publisher itself must not become the
/// bottleneck it measures.
const MAX_IN_FLIGHT: usize = 256;

pub async fn run(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let total = (sizes.latency_secs * 1000) as usize;
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

    let paced = publish_paced(&url, total).await;
    if paced.errors > 0 {
        return Err(format!("latency: {} publishes failed", paced.errors));
    }
    receiver
        .wait_for(
            paced.acks.len(),
            Duration::from_secs(30),
            "latency: receiver",
        )
        .await?;
    receiver.track_sequence(false);
    let mut latencies: Vec<Duration> = receiver
        .arrivals()
        .iter()
        .filter_map(|(seq, at)| {
            paced
                .sent
                .get(*seq)
                .copied()
                .flatten()
                .map(|s| at.saturating_sub(s))
        })
        .collect();
    latencies.sort();
    // Stopped first, so its background flushes do not share the disk with
    // the ceiling's run.
    drop(daemon);

    let ceiling = ceiling::start()?;
    let top = publish_paced(&format!("{}/api/v1/events", ceiling.server.url), total).await;
    if top.errors > 0 {
        return Err(format!("latency ceiling: {} publishes failed", top.errors));
    }
    Ok(json!({
        "events": latencies.len(),
        "target_rate_per_s": 1000,
        "achieved_rate_per_s": paced.rate,
        "skipped": paced.skipped,
        "p50_ms": ms(pick(&latencies, 0.50)),
        "p99_ms": ms(pick(&latencies, 0.99)),
        "max_ms": ms(latencies.last().copied().unwrap_or_default()),
        "ack_p50_ms": ms(pick(&paced.acks, 0.50)),
        "ack_p99_ms": ms(pick(&paced.acks, 0.99)),
        "baseline": {
            "what": "one-write ceiling at the same rate: acknowledgement",
            "achieved_rate_per_s": top.rate,
            "ack_p50_ms": ms(pick(&top.acks, 0.50)),
            "ack_p99_ms": ms(pick(&top.acks, 0.99)),
            "ack_max_ms": ms(top.acks.last().copied().unwrap_or_default()),
        },
        "ratio": Value::Null,
    }))
}

/// What a paced run of publishes saw.
struct Paced {
    /// When each publish was sent, by sequence number (`None`: skipped).
    sent: Vec<Option<Duration>>,
    /// Acknowledgement times, sorted.
    acks: Vec<Duration>,
    skipped: usize,
    errors: usize,
    rate: f64,
}

/// Posts `total` numbered publishes to `url`, one a millisecond, each
/// without waiting for the ones before it.
async fn publish_paced(url: &str, total: usize) -> Paced {
    let client = Rc::new(client(MAX_IN_FLIGHT));
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
        if *in_flight.borrow() >= MAX_IN_FLIGHT {
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
        let url = url.to_string();
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
    // The last publishes are still on their way: wait for them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while *in_flight.borrow() > 0 && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let mut acks = acks.borrow().clone();
    acks.sort();
    // A publish still unanswered at the deadline counts as failed.
    let errors = *errors.borrow() + *in_flight.borrow();
    let sent = sent.borrow().clone();
    Paced {
        sent,
        acks,
        skipped,
        errors,
        rate: round((total - skipped) as f64 / offered.as_secs_f64()),
    }
}
