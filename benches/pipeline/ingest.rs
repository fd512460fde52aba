//! `ingest`: single-event publishes from 64 closed-loop clients, beside two
//! baselines in the same run: an actix handler that stores nothing, and the
//! one-write ceiling (ceiling.rs). On PostgreSQL with several nodes the
//! clients spread over the nodes; the baselines stay single-process.

use serde_json::{json, Value};

use crate::backend::{Backend, Cluster};
use crate::bodies::publish_body;
use crate::figures::{mib, ms, ratio, round};
use crate::load::{measured, measured_on};
use crate::receiver::Receiver;
use crate::{baseline, ceiling, BenchResult, Sizes, CLIENTS, PAYLOAD_BYTES};

pub async fn run(sizes: &Sizes, receiver: &Receiver, backend: Backend) -> BenchResult<Value> {
    let cluster = Cluster::start(backend).await?;
    cluster
        .subscribe(receiver, "bench.ingest", json!({}))
        .await?;
    let body = publish_body("bench.ingest", None);
    let runs = (500, sizes.ingest_events);
    let urls = cluster.admin_urls("/events");
    // The same load for a type nobody subscribes to, first, while nothing is
    // being delivered: the storage path alone, no deliveries competing with
    // it for the two cores.
    let unrouted = publish_body("bench.unrouted", None);
    let alone = measured_on(&urls, &unrouted, runs, CLIENTS, "ingest without deliveries").await?;
    let run = measured_on(&urls, &body, runs, CLIENTS, "ingest").await?;
    let rss = cluster.rss();

    let base = baseline::start()?;
    let base_url = format!("{}/api/v1/events", base.url);
    let baseline = measured(&base_url, &body, runs, CLIENTS, "ingest baseline").await?;
    drop(base);
    // Any deliveries still going would compete with the ceiling's flushes.
    drop(cluster);

    let ceiling = ceiling::start()?;
    let ceiling_url = format!("{}/api/v1/events", ceiling.server.url);
    let top = measured(&ceiling_url, &body, runs, CLIENTS, "ingest ceiling").await?;

    let rate = run.rate();
    Ok(json!({
        "events": sizes.ingest_events,
        "clients": CLIENTS,
        "payload_bytes": PAYLOAD_BYTES,
        "events_per_s": round(rate),
        "ack_p50_ms": ms(run.percentile(0.50)),
        "ack_p99_ms": ms(run.percentile(0.99)),
        "rss_mib": mib(rss),
        "no_delivery_events_per_s": round(alone.rate()),
        "no_delivery_ack_p99_ms": ms(alone.percentile(0.99)),
        "no_delivery_ceiling_ratio": ratio(alone.rate(), top.rate()),
        "baseline": baseline.summary(1, "ack"),
        "ratio": ratio(rate, baseline.rate()),
        "ceiling": top.summary(1, "ack"),
        "ceiling_ratio": ratio(rate, top.rate()),
    }))
}
