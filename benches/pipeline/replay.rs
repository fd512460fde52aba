//! `replay`: replaying the whole log, with the daemon's RSS sampled while
//! the job runs.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::daemon::Daemon;
use crate::figures::{expect, mib, round, secs};
use crate::receiver::Receiver;
use crate::{harness, BenchResult, Sizes};

pub async fn run(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let mut daemon = harness::start()?;
    daemon.try_stop()?;
    harness::prefill(&daemon.db_path(), "bench.replay", sizes.replay_events, 0).await?;
    daemon.spawn(&[])?;
    // Subscribed now, with a first slot an hour out: the replay schedules
    // every delivery but none is sent, so only the job is measured.
    daemon
        .try_create_endpoint(&json!({
            "url": receiver.url("/hook"),
            "events": ["bench.replay"],
            "retry_schedule": ["1h"],
        }))
        .await?;
    // First a walk that schedules nothing (no pair has failed), so the RSS
    // seen is the job's own; then the real replay, which also writes a
    // million deliveries and grows sled's in-memory page table with them.
    let walk = run_replay(&daemon, sizes, true).await?;
    let full = run_replay(&daemon, sizes, false).await?;
    Ok(json!({
        "events": sizes.replay_events,
        "walk_only": walk,
        "scheduling": full,
        "baseline": Value::Null,
        "ratio": Value::Null,
    }))
}

/// One replay of the whole log; RSS sampled every 250 ms while it runs.
async fn run_replay(daemon: &Daemon, sizes: &Sizes, only_failed: bool) -> BenchResult<Value> {
    let before = daemon.memory();
    let started = Instant::now();
    let body = json!({
        "from": "2000-01-01T00:00:00Z",
        "to": "2100-01-01T00:00:00Z",
        "types": ["bench.replay"],
        "only_failed": only_failed,
    });
    let (status, job) = daemon.try_api("POST", "/replay", Some(&body)).await?;
    expect(status, 202, "replay", &job)?;
    let path = format!("/replay/{}", job["id"].as_str().unwrap_or_default());
    let mut peak_rss = before.rss;
    let budget = Duration::from_secs(60 + sizes.replay_events as u64 / 2_000);
    let job = loop {
        peak_rss = peak_rss.max(daemon.memory().rss);
        let (_, job) = daemon.try_api("GET", &path, None).await?;
        if job["status"] != "running" {
            break job;
        }
        if started.elapsed() > budget {
            return Err(format!("replay: still running after {budget:?}: {job}"));
        }
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    };
    let elapsed = started.elapsed();
    Ok(json!({
        "status": job["status"],
        "events_matched": job["events_matched"],
        "deliveries_scheduled": job["deliveries_scheduled"],
        "replay_s": secs(elapsed),
        "events_per_s": round(sizes.replay_events as f64 / elapsed.as_secs_f64()),
        "rss_before_mib": mib(before.rss),
        "rss_peak_sampled_mib": mib(peak_rss),
        "rss_after_mib": mib(daemon.memory().rss),
    }))
}
