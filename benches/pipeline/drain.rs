//! `drain`: a backlog already on the delivery wheel, all made due at once,
//! delivered to one endpoint with 64 in flight. Beside it, plain awc posting
//! the same bodies and headers to the same receiver.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::figures::{mib, ms, ratio, round, secs};
use crate::receiver::Receiver;
use crate::{baseline, harness, BenchResult, Sizes, CLIENTS};

pub async fn run(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    // A first slot of one hour keeps everything on the wheel while it fills;
    // disabling then re-enabling makes the whole backlog due at once.
    let fields = json!({"max_in_flight": CLIENTS, "retry_schedule": ["1h"]});
    let (daemon, endpoint) = harness::start_subscribed(receiver, "bench.drain", fields).await?;
    let id = endpoint["id"].as_str().unwrap_or_default().to_string();
    harness::publish_batches(&daemon, "bench.drain", sizes.drain_wheel).await?;
    harness::set_active(&daemon, &id, false).await?;
    receiver.reset();

    let started = Instant::now();
    harness::set_active(&daemon, &id, true).await?;
    let enabled = started.elapsed();
    let budget = Duration::from_secs(60 + sizes.drain_wheel as u64 / 500);
    receiver
        .wait_for(sizes.drain_wheel, budget, "drain: receiver")
        .await?;
    let elapsed = started.elapsed();
    let rss = daemon.memory();
    let rate = sizes.drain_wheel as f64 / elapsed.as_secs_f64();
    let drained_rate =
        sizes.drain_wheel as f64 / elapsed.saturating_sub(enabled).as_secs_f64().max(1e-9);

    let posts = baseline::plain_posts(receiver, sizes.drain_wheel, "drain baseline").await?;

    Ok(json!({
        "deliveries": sizes.drain_wheel,
        "max_in_flight": CLIENTS,
        "deliveries_per_s": round(rate),
        "enable_ms": ms(enabled),
        "after_enable_per_s": round(drained_rate),
        "total_s": secs(elapsed),
        "rss_mib": mib(rss.rss),
        "baseline": {"posts_per_s": round(posts)},
        "ratio": ratio(rate, posts),
    }))
}
