//! `deliver`: publish and deliver, end to end. Events are published through
//! `/events/batch` to one endpoint whose receiver answers 200 at once
//! (max_in_flight 64); the clock runs from the first publish to the last
//! delivery received. Beside it, plain awc posting the same bodies and
//! headers to the same receiver with the same concurrency.
//!
//! On PostgreSQL the receiver counts distinct event IDs and reports the
//! duplicates; with several nodes there is at least one publisher per node,
//! publisher `i` on node `i % N`, and every node delivers.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::backend::{Backend, Cluster};
use crate::bodies::batch_body;
use crate::daemon::ADMIN_TOKEN;
use crate::figures::{mib, ratio, round, secs};
use crate::load::load_on;
use crate::receiver::Receiver;
use crate::{baseline, BenchResult, Sizes, BATCH_EVENTS, CLIENTS};

/// Concurrent `/events/batch` publishers: enough to keep the daemon's
/// ingest busy without taking the cores its deliveries need.
const PUBLISHERS: usize = 2;

pub async fn run(sizes: &Sizes, receiver: &Receiver, backend: Backend) -> BenchResult<Value> {
    let fields = json!({"max_in_flight": CLIENTS});
    let cluster = Cluster::start(backend).await?;
    cluster.subscribe(receiver, "bench.deliver", fields).await?;
    let requests = sizes.deliver_events.div_ceil(BATCH_EVENTS);
    let events = requests * BATCH_EVENTS;
    let body = batch_body("bench.deliver", BATCH_EVENTS);
    let urls = cluster.admin_urls("/events/batch");
    let publishers = PUBLISHERS.max(urls.len());
    let distinct = backend != Backend::Sled;
    receiver.reset();
    receiver.track_ids(distinct);

    let started = Instant::now();
    // The load generator runs on threads of its own, so the receiver keeps
    // counting deliveries while the publishes are still going on.
    load_on(&urls, Some(ADMIN_TOKEN), &body, requests, publishers)
        .await
        .check("deliver: publish")?;
    let published = started.elapsed();
    let budget = Duration::from_secs(60 + events as u64 / 500);
    let waited = receiver.wait_for(events, budget, "deliver: receiver").await;
    receiver.track_ids(false);
    waited?;
    let elapsed = started.elapsed();
    let rss = cluster.rss();
    let duplicates = receiver.count().saturating_sub(receiver.distinct());
    let rate = events as f64 / elapsed.as_secs_f64();

    let posts = baseline::plain_posts(receiver, events, "deliver baseline").await?;

    let mut line = json!({
        "deliveries": events,
        "published_via": format!(
            "/events/batch, {BATCH_EVENTS} per request, {publishers} clients"
        ),
        "max_in_flight": CLIENTS,
        "deliveries_per_s": round(rate),
        "all_published_s": secs(published),
        "total_s": secs(elapsed),
        "rss_mib": mib(rss),
        "baseline": {"posts_per_s": round(posts)},
        "ratio": ratio(rate, posts),
    });
    if distinct {
        line["duplicates"] = json!(duplicates);
    }
    Ok(line)
}
