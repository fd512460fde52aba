//! `footprint`: disk per delivered 1 KiB event, once retention has run.
//!
//! What is measured is the size of every file under the sled directory
//! (`<data_dir>/db`) after a SIGTERM stop, so sled has flushed and the
//! figure does not depend on when its background sync last ran. The run:
//!
//! 1. publish half of the events ("old") through `/events/batch` and wait
//!    until the receiver has all their deliveries;
//! 2. leave a gap of `GAP` on the wall clock, then publish the other half
//!    ("new") and wait for their deliveries;
//! 3. stop (the disk figure "before retention"), and start again with
//!    `storage.event_retention` chosen so that its cutoff falls inside the
//!    gap: the sweep src/retention.rs runs at start-up removes every old
//!    event with its finished delivery and attempt, and keeps the new ones;
//! 4. once the daemon has logged that sweep, stop and measure again.
//!
//! `bytes_per_retained_event` divides by the events still in the log: what
//! an event costs while it is kept, with its delivered delivery and its
//! attempt. `bytes_per_published_event` divides by all events published: it
//! also carries whatever sled has not yet given back of the removed half
//! (sled returns deleted space slowly).
//!
//! The baseline (`disk_floor.rs`) is a bare sled tree put through the same
//! two steps with the same events: `ratio_to_sled_tree` is how far hookd's
//! figure is from what sled alone takes to keep them.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::daemon::{field, Daemon};
use crate::figures::{dir_bytes, mib, ratio, round, secs};
use crate::receiver::Receiver;
use crate::{disk_floor, harness, BenchResult, Sizes, CLIENTS, PAYLOAD_BYTES};

/// Between the two halves on the clock; the sweep's cutoff is set 1 s after
/// the old half, so the restart may take up to `GAP` less 1 s before the
/// cutoff would reach the new half.
const GAP: Duration = Duration::from_secs(6);

pub async fn run(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let fields = json!({"max_in_flight": CLIENTS});
    let (mut daemon, _) = harness::start_subscribed(receiver, "bench.footprint", fields).await?;
    let old = sizes.footprint_events / 2;
    let new = sizes.footprint_events - old;
    let started = Instant::now();
    publish_and_deliver(&daemon, receiver, old, old).await?;
    let cutoff_ms = hookd::clock::now_ms() + 1_000;
    // Not a wait for a condition: the two halves must lie apart in time.
    actix_web::rt::time::sleep(GAP).await;
    publish_and_deliver(&daemon, receiver, new, old + new).await?;
    let delivered = started.elapsed();
    let memory = daemon.memory();
    daemon.try_stop()?;
    let before = dir_bytes(&daemon.db_path());

    let retention = format!("{}ms", hookd::clock::now_ms().saturating_sub(cutoff_ms));
    daemon.spawn(&[("HOOKD__STORAGE__EVENT_RETENTION", retention.as_str())])?;
    let removed = swept(&daemon, Duration::from_secs(60 + old as u64 / 2_000)).await?;
    if removed != old {
        return Err(format!(
            "footprint: the sweep removed {removed} events, expected the {old} old ones"
        ));
    }
    let live = dir_bytes(&daemon.db_path());
    daemon.try_stop()?;
    let after = dir_bytes(&daemon.db_path());
    let published = (old + new) as f64;
    let per_retained = after as f64 / new as f64;
    let floor = disk_floor::measure(old + new).await?;
    Ok(json!({
        "events_published": old + new,
        "events_retained": new,
        "payload_bytes": PAYLOAD_BYTES,
        "bytes_per_retained_event": round(per_retained),
        "bytes_per_published_event": round(after as f64 / published),
        "bytes_per_event_before_retention": round(before as f64 / published),
        "bytes_per_retained_event_live": round(live as f64 / new as f64),
        "db_mib": mib(after),
        "db_mib_before_retention": mib(before),
        "steady_rss_mib": mib(memory.rss),
        "peak_rss_mib": mib(memory.hwm),
        "delivered_s": secs(delivered),
        "baseline": {"payload_bytes": PAYLOAD_BYTES, "sled_tree": floor.figures()},
        "ratio": ratio(per_retained, PAYLOAD_BYTES as f64),
        "ratio_to_sled_tree": ratio(per_retained, floor.bytes_per_retained_event),
    }))
}

/// Publishes `count` events and waits until the receiver has seen `total`.
async fn publish_and_deliver(
    daemon: &Daemon,
    receiver: &Receiver,
    count: usize,
    total: usize,
) -> BenchResult<()> {
    harness::publish_batches(daemon, "bench.footprint", count).await?;
    let budget = Duration::from_secs(120 + count as u64 / 500);
    receiver
        .wait_for(total, budget, "footprint: receiver")
        .await
}

/// Waits for the daemon's log line of a retention sweep; the events it removed.
async fn swept(daemon: &Daemon, timeout: Duration) -> BenchResult<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = daemon.log_text();
        if let Some(line) = log.lines().find(|l| l.contains("retention sweep")) {
            return field(line, "events_removed=")
                .parse()
                .map_err(|_| format!("footprint: unreadable sweep line: {line}"));
        }
        if Instant::now() > deadline {
            return Err(format!("footprint: no retention sweep logged; log:\n{log}"));
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}
