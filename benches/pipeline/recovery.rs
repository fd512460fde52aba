//! `recovery`: a restart with a backlog of due deliveries, written through
//! the library while the daemon was down: time to the first delivery and
//! peak RSS.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::figures::{dir_bytes, epoch, mib, ms, secs};
use crate::receiver::Receiver;
use crate::{harness, BenchResult, Sizes, CLIENTS};

pub async fn run(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let fields = json!({"max_in_flight": CLIENTS});
    let (mut daemon, _) = harness::start_subscribed(receiver, "bench.recovery", fields).await?;
    daemon.try_stop()?;

    // Filled through the library, with the daemon down, so every delivery is
    // already due when it starts: exactly the state after a long outage.
    let prefill_started = Instant::now();
    harness::prefill(
        &daemon.db_path(),
        "bench.recovery",
        sizes.recovery_pending,
        1,
    )
    .await?;
    let prefill_time = prefill_started.elapsed();
    let disk = dir_bytes(&daemon.db_path());
    receiver.reset();

    let started = epoch().elapsed();
    daemon.spawn(&[])?;
    let ready = daemon.ready_after;
    receiver
        .wait_for(1, Duration::from_secs(120), "recovery: first delivery")
        .await?;
    let first = receiver
        .first_arrival()
        .map(|at| at.saturating_sub(started))
        .unwrap_or_default();
    // Peak RSS is taken after a few seconds of draining, so it covers the
    // start-up and the dispatcher working through the backlog.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    let memory = daemon.memory();
    let drained = receiver.count();
    Ok(json!({
        "pending": sizes.recovery_pending,
        "ready_ms": ms(ready),
        "first_delivery_ms": ms(first),
        "delivered_in_first_3s": drained,
        "peak_rss_mib": mib(memory.hwm),
        "rss_mib": mib(memory.rss),
        "db_mib": mib(disk),
        "prefill_s": secs(prefill_time),
        "baseline": Value::Null,
        "ratio": Value::Null,
    }))
}
