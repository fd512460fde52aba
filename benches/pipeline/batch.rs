//! `batch`: `/events/batch` with `BATCH_EVENTS` events per request from a few
//! closed-loop clients, beside the one-write ceiling (ceiling.rs) taking the
//! same batches: one insert per event, one shared flush per request.

use serde_json::{json, Value};

use crate::bodies::batch_body;
use crate::figures::{mib, ratio};
use crate::load::{measured, LoadReport};
use crate::receiver::Receiver;
use crate::{ceiling, harness, BenchResult, Sizes, BATCH_CLIENTS, BATCH_EVENTS, PAYLOAD_BYTES};

pub async fn run(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let (daemon, _) = harness::start_subscribed(receiver, "bench.batch", json!({})).await?;
    let body = batch_body("bench.batch", BATCH_EVENTS);
    let requests = sizes.batch_events.div_ceil(BATCH_EVENTS);
    let url = format!("{}/api/v1/events/batch", daemon.admin);
    let run = measured(
        &url,
        &body,
        (BATCH_CLIENTS, requests),
        BATCH_CLIENTS,
        "batch",
    )
    .await?;
    let rss = daemon.memory();
    // Its deliveries lag the publishes; stopped, they leave the disk and the
    // cores to the ceiling.
    drop(daemon);

    let ceiling = ceiling::start()?;
    let ceiling_url = format!("{}/api/v1/events/batch", ceiling.server.url);
    let top = measured(
        &ceiling_url,
        &body,
        (BATCH_CLIENTS, requests),
        BATCH_CLIENTS,
        "batch ceiling",
    )
    .await?;

    let rate = events_per_s(&run);
    let mut line = run.summary(BATCH_EVENTS, "request");
    let rest = json!({
        "events": requests * BATCH_EVENTS,
        "events_per_request": BATCH_EVENTS,
        "clients": BATCH_CLIENTS,
        "payload_bytes": PAYLOAD_BYTES,
        "rss_mib": mib(rss.rss),
        "ceiling": top.summary(BATCH_EVENTS, "request"),
        "ceiling_ratio": ratio(rate, events_per_s(&top)),
        "baseline": Value::Null,
        "ratio": Value::Null,
    });
    if let (Some(line), Value::Object(rest)) = (line.as_object_mut(), rest) {
        line.extend(rest);
    }
    Ok(line)
}

/// Every request carries `BATCH_EVENTS` events.
fn events_per_s(report: &LoadReport) -> f64 {
    report.rate() * BATCH_EVENTS as f64
}
