//! End-to-end pipeline benchmark: the release `hookd` binary on a
//! temp data dir, driven over real HTTP with keep-alive connections, delivering
//! to an in-process receiver that answers 200 at once.
//!
//! Prints one JSON line per scenario on stdout; progress goes to stderr.
//! Each throughput scenario runs its baseline in the same process run, so the
//! `ratio` field compares like with like on whatever machine this runs on.
//!
//! ```text
//! cargo bench --bench pipeline              # full sizes (several minutes)
//! cargo bench --bench pipeline -- --quick   # CI smoke run, under a minute
//! cargo bench --bench pipeline -- --only ingest,deliver
//! ```
//!
//! Nothing here asserts a timing: figures are printed, and judged in
//! BENCHMARKS.md. Every wait is bounded, so a stuck daemon ends the run with
//! an error instead of hanging CI.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

use hookd::config::Durability;
use hookd::domain::schedule::RetrySchedule;
use hookd::domain::Event;
use hookd::ids::EventId;
use hookd::store::{NewEvent, StoreGuard};

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
/// Concurrent publishers of `ingest`, and the delivery concurrency of `deliver`.
const CLIENTS: usize = 64;
/// Load-generator threads; each runs its own actix runtime and awc client
/// because `awc::Client` is `!Send`.
const LOAD_THREADS: usize = 2;
/// The `data` object of every event serialises to exactly this many bytes.
const PAYLOAD_BYTES: usize = 1024;

struct Sizes {
    ingest_events: usize,
    deliver_wheel: usize,
    latency_secs: u64,
    fanout_endpoints: usize,
    recovery_pending: usize,
    footprint_events: usize,
    replay_events: usize,
}

const FULL: Sizes = Sizes {
    ingest_events: 50_000,
    deliver_wheel: 100_000,
    latency_secs: 20,
    fanout_endpoints: 1_000,
    recovery_pending: 1_000_000,
    footprint_events: 1_000_000,
    replay_events: 1_000_000,
};

const QUICK: Sizes = Sizes {
    ingest_events: 2_000,
    deliver_wheel: 1_000,
    latency_secs: 2,
    fanout_endpoints: 100,
    recovery_pending: 20_000,
    footprint_events: 20_000,
    replay_events: 20_000,
};

const SCENARIOS: [&str; 7] = [
    "ingest",
    "deliver",
    "latency",
    "fanout",
    "recovery",
    "footprint",
    "replay",
];

type BenchResult<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_else(|| SCENARIOS.iter().map(|s| s.to_string()).collect());
    let sizes = if quick { QUICK } else { FULL };
    epoch();

    let failed = actix_web::rt::System::new().block_on(async move {
        let receiver = Receiver::start();
        let mut failed = false;
        for name in SCENARIOS.iter().filter(|s| only.iter().any(|o| o == *s)) {
            eprintln!("pipeline: {name}…");
            receiver.reset();
            let result = match *name {
                "ingest" => ingest(&sizes, &receiver).await,
                "deliver" => deliver(&sizes, &receiver).await,
                "latency" => latency(&sizes, &receiver).await,
                "fanout" => fanout(&sizes, &receiver).await,
                "recovery" => recovery(&sizes, &receiver).await,
                "footprint" => footprint(&sizes, &receiver).await,
                _ => replay(&sizes, &receiver).await,
            };
            match result {
                Ok(mut line) => {
                    line["scenario"] = json!(name);
                    line["quick"] = json!(quick);
                    println!("{}", sorted_scenario_first(&line));
                }
                Err(error) => {
                    eprintln!("pipeline: {name} failed: {error}");
                    failed = true;
                }
            }
        }
        failed
    });
    if failed {
        std::process::exit(1);
    }
}

/// `scenario` first, so a reader scanning the lines sees which one it is.
fn sorted_scenario_first(line: &Value) -> String {
    let mut out = serde_json::Map::new();
    out.insert("scenario".into(), line["scenario"].clone());
    if let Some(fields) = line.as_object() {
        for (k, v) in fields {
            if k != "scenario" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out).to_string()
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

async fn ingest(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let daemon = Daemon::start()?;
    daemon
        .create_endpoint(json!({"url": receiver.url("/hook"), "events": ["bench.ingest"]}))
        .await?;
    let body = publish_body("bench.ingest", None);
    let url = format!("{}/api/v1/events", daemon.admin);
    let warm = load(&url, Some(ADMIN_TOKEN), &body, 500, CLIENTS).await;
    warm.check("ingest warm-up")?;
    let run = load(&url, Some(ADMIN_TOKEN), &body, sizes.ingest_events, CLIENTS).await;
    run.check("ingest")?;
    let rss = daemon.memory();
    // The same load for a type nobody subscribes to: the storage path alone,
    // without deliveries competing for the two cores.
    let unrouted = publish_body("bench.unrouted", None);
    let alone = load(
        &url,
        Some(ADMIN_TOKEN),
        &unrouted,
        sizes.ingest_events,
        CLIENTS,
    )
    .await;
    alone.check("ingest without deliveries")?;

    let base = BaselineServer::start(202)?;
    let base_url = format!("{}/api/v1/events", base.url);
    load(&base_url, Some(ADMIN_TOKEN), &body, 500, CLIENTS)
        .await
        .check("ingest baseline warm-up")?;
    let baseline = load(
        &base_url,
        Some(ADMIN_TOKEN),
        &body,
        sizes.ingest_events,
        CLIENTS,
    )
    .await;
    baseline.check("ingest baseline")?;

    let rate = run.rate();
    Ok(json!({
        "events": sizes.ingest_events,
        "clients": CLIENTS,
        "payload_bytes": PAYLOAD_BYTES,
        "events_per_s": round(rate),
        "ack_p50_ms": ms(run.percentile(0.50)),
        "ack_p99_ms": ms(run.percentile(0.99)),
        "rss_mib": mib(rss.rss),
        "no_delivery_events_per_s": round(alone.rate()),
        "no_delivery_ack_p99_ms": ms(alone.percentile(0.99)),
        "baseline": {"events_per_s": round(baseline.rate()),
                     "ack_p50_ms": ms(baseline.percentile(0.50)),
                     "ack_p99_ms": ms(baseline.percentile(0.99))},
        "ratio": ratio(rate, baseline.rate()),
    }))
}

async fn deliver(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let daemon = Daemon::start()?;
    // A first slot of one hour keeps everything on the wheel while it fills;
    // disabling then re-enabling makes the whole backlog due at once.
    let endpoint = daemon
        .create_endpoint(json!({
            "url": receiver.url("/hook"),
            "events": ["bench.deliver"],
            "max_in_flight": CLIENTS,
            "retry_schedule": ["1h"],
        }))
        .await?;
    let id = endpoint["id"].as_str().unwrap_or_default().to_string();
    daemon
        .publish_batches("bench.deliver", sizes.deliver_wheel)
        .await?;
    let (status, answer) = daemon
        .api(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"active": false})),
        )
        .await?;
    expect(status, 200, "disable", &answer)?;
    receiver.reset();

    let started = Instant::now();
    let (status, answer) = daemon
        .api(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"active": true})),
        )
        .await?;
    expect(status, 200, "enable", &answer)?;
    let enabled = started.elapsed();
    let budget = Duration::from_secs(60 + sizes.deliver_wheel as u64 / 500);
    receiver
        .wait_for(sizes.deliver_wheel, budget, "deliver: receiver")
        .await?;
    let elapsed = started.elapsed();
    let rss = daemon.memory();
    let rate = sizes.deliver_wheel as f64 / elapsed.as_secs_f64();
    let drained_rate =
        sizes.deliver_wheel as f64 / elapsed.saturating_sub(enabled).as_secs_f64().max(1e-9);

    // Same bytes on the wire as a delivery: the envelope and its headers.
    let body = delivery_body();
    let headers = delivery_headers();
    receiver.reset();
    let base_url = receiver.url("/hook");
    load_with(&base_url, &headers, &body, 500, CLIENTS)
        .await
        .check("deliver baseline warm-up")?;
    let baseline = load_with(&base_url, &headers, &body, sizes.deliver_wheel, CLIENTS).await;
    baseline.check("deliver baseline")?;

    Ok(json!({
        "deliveries": sizes.deliver_wheel,
        "max_in_flight": CLIENTS,
        "deliveries_per_s": round(rate),
        "enable_ms": ms(enabled),
        "after_enable_per_s": round(drained_rate),
        "total_s": secs(elapsed),
        "rss_mib": mib(rss.rss),
        "baseline": {"posts_per_s": round(baseline.rate())},
        "ratio": ratio(rate, baseline.rate()),
    }))
}

async fn latency(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let daemon = Daemon::start()?;
    daemon
        .create_endpoint(json!({"url": receiver.url("/hook"), "events": ["bench.latency"]}))
        .await?;
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

async fn fanout(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let daemon = Daemon::start_with(&[("HOOKD__DELIVERY__MAX_IN_FLIGHT_TOTAL", "1024")])?;
    let created = Instant::now();
    let bodies: Vec<Value> = (0..sizes.fanout_endpoints)
        .map(|i| json!({"url": receiver.url(&format!("/f/{i}")), "events": ["bench.fanout"]}))
        .collect();
    for chunk in bodies.chunks(8) {
        let calls = chunk.iter().map(|b| daemon.create_endpoint(b.clone()));
        for result in futures_util::future::join_all(calls).await {
            result?;
        }
    }
    let setup = created.elapsed();
    receiver.reset();

    let started = Instant::now();
    let answer = daemon.publish_one("bench.fanout").await?;
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

async fn recovery(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let mut daemon = Daemon::start()?;
    daemon
        .create_endpoint(json!({
            "url": receiver.url("/hook"),
            "events": ["bench.recovery"],
            "max_in_flight": CLIENTS,
        }))
        .await?;
    daemon.stop()?;

    // Filled through the library, with the daemon down, so every delivery is
    // already due when it starts: exactly the state after a long outage.
    let prefill_started = Instant::now();
    prefill(
        &daemon.data_dir.join("db"),
        "bench.recovery",
        sizes.recovery_pending,
        1,
    )
    .await?;
    let prefill_time = prefill_started.elapsed();
    let disk = dir_bytes(&daemon.data_dir.join("db"));
    receiver.reset();

    let started = epoch().elapsed();
    daemon.spawn(&[])?;
    let ready = daemon.ready_after.unwrap_or_default();
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

async fn footprint(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let mut daemon = Daemon::start()?;
    daemon
        .create_endpoint(json!({
            "url": receiver.url("/hook"),
            "events": ["bench.footprint"],
            "max_in_flight": CLIENTS,
        }))
        .await?;
    let started = Instant::now();
    daemon
        .publish_batches("bench.footprint", sizes.footprint_events)
        .await?;
    let published = started.elapsed();
    let budget = Duration::from_secs(120 + sizes.footprint_events as u64 / 500);
    receiver
        .wait_for(sizes.footprint_events, budget, "footprint: receiver")
        .await?;
    let delivered = started.elapsed();
    // Attempts are recorded just after the receiver answers; let them land.
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let memory = daemon.memory();
    let live = dir_bytes(&daemon.data_dir.join("db"));
    daemon.stop()?;
    let stopped = dir_bytes(&daemon.data_dir.join("db"));
    let n = sizes.footprint_events as f64;
    Ok(json!({
        "events": sizes.footprint_events,
        "payload_bytes": PAYLOAD_BYTES,
        "bytes_per_event": round(stopped as f64 / n),
        "bytes_per_event_live": round(live as f64 / n),
        "db_mib": mib(stopped),
        "steady_rss_mib": mib(memory.rss),
        "peak_rss_mib": mib(memory.hwm),
        "publish_s": secs(published),
        "delivered_s": secs(delivered),
        "baseline": {"payload_bytes": PAYLOAD_BYTES},
        "ratio": ratio(stopped as f64 / n, PAYLOAD_BYTES as f64),
    }))
}

/// Replay of the whole log: the job walks the events tree as a key
/// range in batches, so the daemon's memory should not grow with the log.
/// RSS is sampled while the job runs; compare the quick and full peaks.
async fn replay(sizes: &Sizes, receiver: &Receiver) -> BenchResult<Value> {
    let mut daemon = Daemon::start()?;
    daemon.stop()?;
    prefill(
        &daemon.data_dir.join("db"),
        "bench.replay",
        sizes.replay_events,
        0,
    )
    .await?;
    daemon.spawn(&[])?;
    // Subscribed now, with a first slot an hour out: the replay schedules
    // every delivery but none is sent, so only the job is measured.
    daemon
        .create_endpoint(json!({
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
    let (status, job) = daemon.api("POST", "/replay", Some(body)).await?;
    expect(status, 202, "replay", &job)?;
    let path = format!("/replay/{}", job["id"].as_str().unwrap_or_default());
    let mut peak_rss = before.rss;
    let budget = Duration::from_secs(60 + sizes.replay_events as u64 / 2_000);
    let job = loop {
        peak_rss = peak_rss.max(daemon.memory().rss);
        let (_, job) = daemon.api("GET", &path, None).await?;
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

/// Writes `count` events of `event_type` straight into the store, 1000 per
/// transaction, each owed to `deliveries` subscribed endpoints.
async fn prefill(db: &Path, event_type: &str, count: usize, deliveries: u32) -> BenchResult<()> {
    let guard = StoreGuard::open_at(db, 128 * 1024 * 1024, Durability::Flush).map_err(err)?;
    let store = guard.store();
    let schedule = RetrySchedule::default();
    let data = pad_object(None);
    let mut left = count;
    while left > 0 {
        let n = left.min(1000);
        let now = hookd::clock::now_ms();
        let batch = (0..n)
            .map(|_| NewEvent {
                event: Event {
                    id: EventId::generate(now),
                    event_type: event_type.into(),
                    data_json: data.clone(),
                    source: None,
                    test: false,
                    account_id: None,
                },
                only_to: None,
            })
            .collect();
        let outcome = store
            .append_events(batch, None, 0, &schedule, now)
            .await
            .map_err(err)?;
        if outcome.events.first().map(|e| e.deliveries) != Some(deliveries) {
            return Err(format!(
                "prefill: expected {deliveries} subscribed endpoint(s)"
            ));
        }
        left -= n;
    }
    // Closing flushes and stops the committer thread, the last holder of
    // the database, so the daemon's open finds it released.
    drop(store);
    guard.close().map_err(err)
}

// ---------------------------------------------------------------------------
// The daemon under test
// ---------------------------------------------------------------------------

struct Daemon {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    config: PathBuf,
    admin: String,
    ready_after: Option<Duration>,
    log: Arc<Mutex<VecDeque<String>>>,
    client: awc::Client,
}

struct Memory {
    rss: u64,
    hwm: u64,
}

fn hookd_binary() -> PathBuf {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_hookd"));
    if built.exists() {
        return built;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/hookd")
}

impl Daemon {
    fn start() -> BenchResult<Daemon> {
        Self::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> BenchResult<Daemon> {
        let dir = tempfile::Builder::new()
            .prefix("hookd-bench-")
            .tempdir()
            .map_err(err)?;
        let data_dir = dir.path().join("data");
        let config = dir.path().join("hookd.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[server]
public_bind = "127.0.0.1:0"
admin_bind = "127.0.0.1:0"
shutdown_grace = "5s"

[admin]
tokens = ["{ADMIN_TOKEN}"]

[storage]
data_dir = "{}"

[delivery]
allow_http = true
allow_private_targets = true
"#,
                data_dir.display()
            ),
        )
        .map_err(err)?;
        let mut daemon = Daemon {
            child: None,
            _dir: dir,
            data_dir,
            config,
            admin: String::new(),
            ready_after: None,
            log: Arc::default(),
            client: client(64),
        };
        daemon.spawn(env)?;
        Ok(daemon)
    }

    fn spawn(&mut self, env: &[(&str, &str)]) -> BenchResult<()> {
        let started = Instant::now();
        let mut command = Command::new(hookd_binary());
        command
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| format!("spawn hookd: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        // The daemon logs every request; this thread keeps the pipe drained
        // (a full pipe would stall it) and only the tail for error messages.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = tx.send((line.clone(), started.elapsed()));
                }
                let mut log = log.lock().unwrap();
                if log.len() >= 50 {
                    log.pop_front();
                }
                log.push_back(line);
            }
        });
        self.child = Some(child);
        let (line, after) = rx.recv_timeout(Duration::from_secs(120)).map_err(|_| {
            format!(
                "hookd did not start; log tail:\n{}",
                Vec::from(self.log.lock().unwrap().clone()).join("\n")
            )
        })?;
        self.admin = format!("http://{}", field(&line, "admin="));
        self.ready_after = Some(after);
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Current and peak resident set of the daemon, from /proc.
    fn memory(&self) -> Memory {
        let status = self
            .pid()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        Memory {
            rss: kib("VmRSS:"),
            hwm: kib("VmHWM:"),
        }
    }

    /// SIGTERM and wait for the clean exit, which flushes the store.
    fn stop(&mut self) -> BenchResult<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if child.try_wait().map_err(err)?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("hookd did not stop on SIGTERM".into())
    }

    async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> BenchResult<(u16, Value)> {
        let method = awc::http::Method::from_bytes(method.as_bytes()).map_err(err)?;
        let request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.admin))
            .insert_header(("Authorization", format!("Bearer {ADMIN_TOKEN}")));
        let mut response = match body {
            Some(body) => request.send_json(&body).await,
            None => request.send().await,
        }
        .map_err(err)?;
        let bytes = response.body().limit(1 << 20).await.map_err(err)?;
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((response.status().as_u16(), json))
    }

    async fn create_endpoint(&self, body: Value) -> BenchResult<Value> {
        let (status, answer) = self.api("POST", "/webhooks", Some(body)).await?;
        expect(status, 201, "create endpoint", &answer)?;
        Ok(answer)
    }

    async fn publish_one(&self, event_type: &str) -> BenchResult<Value> {
        let body: Value = serde_json::from_slice(&publish_body(event_type, None)).map_err(err)?;
        let (status, answer) = self.api("POST", "/events", Some(body)).await?;
        expect(status, 202, "publish", &answer)?;
        Ok(answer)
    }

    /// Publishes `count` events through `/events/batch`, 1000 per request,
    /// two requests at a time.
    async fn publish_batches(&self, event_type: &str, count: usize) -> BenchResult<()> {
        let item: Value = serde_json::from_slice(&publish_body(event_type, None)).map_err(err)?;
        let batches: Vec<usize> = (0..count)
            .step_by(1000)
            .map(|start| (count - start).min(1000))
            .collect();
        for pair in batches.chunks(2) {
            let calls = pair.iter().map(|n| {
                let body = Value::Array(vec![item.clone(); *n]);
                self.api("POST", "/events/batch", Some(body))
            });
            for result in futures_util::future::join_all(calls).await {
                let (status, answer) = result?;
                expect(status, 202, "publish batch", &answer)?;
            }
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line.find(name).map_or(line.len(), |i| i + name.len());
    line[start..].split_whitespace().next().unwrap_or("")
}

// ---------------------------------------------------------------------------
// The receiver and the baseline server
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Receiver {
    base: String,
    state: Arc<ReceiverState>,
}

#[derive(Default)]
struct ReceiverState {
    count: AtomicUsize,
    track: AtomicBool,
    first: Mutex<Option<Duration>>,
    /// (sequence number from the event data, arrival since the bench epoch).
    arrivals: Mutex<Vec<(usize, Duration)>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let state = Arc::new(ReceiverState::default());
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(shared.clone()))
                .default_service(web::to(receive))
        })
        .workers(2)
        .backlog(4096)
        .max_connection_rate(4096)
        .disable_signals()
        .listen(listener)
        .expect("receiver listen")
        .run();
        actix_web::rt::spawn(server);
        Receiver {
            base: format!("http://{addr}"),
            state,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn reset(&self) {
        self.state.count.store(0, Ordering::SeqCst);
        *self.state.first.lock().unwrap() = None;
        self.state.arrivals.lock().unwrap().clear();
    }

    fn count(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    fn track_sequence(&self, on: bool) {
        self.state.track.store(on, Ordering::SeqCst);
    }

    fn arrivals(&self) -> Vec<(usize, Duration)> {
        self.state.arrivals.lock().unwrap().clone()
    }

    fn first_arrival(&self) -> Option<Duration> {
        *self.state.first.lock().unwrap()
    }

    async fn wait_for(&self, n: usize, timeout: Duration, what: &str) -> BenchResult<()> {
        let deadline = Instant::now() + timeout;
        while self.count() < n {
            if Instant::now() > deadline {
                return Err(format!("{what}: {} of {n} after {timeout:?}", self.count()));
            }
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}

async fn receive(state: web::Data<ReceiverState>, body: web::Bytes) -> HttpResponse {
    let at = epoch().elapsed();
    if state.track.load(Ordering::Relaxed) {
        let seq = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["data"]["seq"].as_u64());
        if let Some(seq) = seq {
            state.arrivals.lock().unwrap().push((seq as usize, at));
        }
    }
    if state.count.fetch_add(1, Ordering::SeqCst) == 0 {
        state.first.lock().unwrap().get_or_insert(at);
    }
    HttpResponse::Ok().finish()
}

/// An actix-web server that parses a publish body and answers without storing.
struct BaselineServer {
    url: String,
    handle: actix_web::dev::ServerHandle,
}

impl BaselineServer {
    fn start(status: u16) -> BenchResult<BaselineServer> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(err)?;
        let addr = listener.local_addr().map_err(err)?;
        let server = HttpServer::new(move || {
            App::new().route(
                "/api/v1/events",
                web::post().to(move |body: web::Json<Value>| async move {
                    let kind = body["type"].clone();
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).expect("status"),
                    )
                    .json(json!({"id": "evt_baseline", "type": kind, "deliveries": 1}))
                }),
            )
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .map_err(err)?
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(BaselineServer {
            url: format!("http://{addr}"),
            handle,
        })
    }
}

impl Drop for BaselineServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::spawn(async move { handle.stop(false).await });
    }
}

// ---------------------------------------------------------------------------
// Load generation
// ---------------------------------------------------------------------------

struct LoadReport {
    elapsed: Duration,
    latencies: Vec<Duration>,
    wrong: Vec<String>,
}

impl LoadReport {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&self, p: f64) -> Duration {
        pick(&self.latencies, p)
    }

    fn check(&self, what: &str) -> BenchResult<()> {
        match self.wrong.first() {
            None => Ok(()),
            Some(first) => Err(format!(
                "{what}: {} failed, first: {first}",
                self.wrong.len()
            )),
        }
    }
}

/// A closed loop: `concurrency` clients each post, wait for the answer, and
/// post again, until `total` requests are answered.
async fn load(
    url: &str,
    token: Option<&str>,
    body: &[u8],
    total: usize,
    concurrency: usize,
) -> LoadReport {
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if let Some(token) = token {
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    load_with(url, &headers, body, total, concurrency).await
}

async fn load_with(
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    total: usize,
    concurrency: usize,
) -> LoadReport {
    let url = url.to_string();
    let headers = headers.to_vec();
    let body = web::Bytes::copy_from_slice(body);
    actix_web::rt::task::spawn_blocking(move || closed_loop(url, headers, body, total, concurrency))
        .await
        .unwrap_or_else(|e| LoadReport {
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
            wrong: vec![format!("load generator panicked: {e}")],
        })
}

fn closed_loop(
    url: String,
    headers: Vec<(String, String)>,
    body: web::Bytes,
    total: usize,
    concurrency: usize,
) -> LoadReport {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(600);
    let started = Instant::now();
    let threads: Vec<_> = (0..LOAD_THREADS)
        .map(|t| {
            let per_thread =
                concurrency / LOAD_THREADS + usize::from(t < concurrency % LOAD_THREADS);
            let (url, headers, body, next) =
                (url.clone(), headers.clone(), body.clone(), next.clone());
            std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let client = Rc::new(client(per_thread.max(1)));
                    let tasks = (0..per_thread).map(|_| {
                        let (client, url, headers, body, next) = (
                            client.clone(),
                            url.clone(),
                            headers.clone(),
                            body.clone(),
                            next.clone(),
                        );
                        actix_web::rt::spawn(async move {
                            let mut latencies = Vec::new();
                            let mut wrong = Vec::new();
                            while next.fetch_add(1, Ordering::Relaxed) < total
                                && Instant::now() < deadline
                            {
                                let sent = Instant::now();
                                match post(&client, &url, None, &headers, body.clone()).await {
                                    Ok(status) if (200..300).contains(&status) => {
                                        latencies.push(sent.elapsed())
                                    }
                                    Ok(status) => wrong.push(format!("status {status}")),
                                    Err(e) => wrong.push(e),
                                }
                            }
                            (latencies, wrong)
                        })
                    });
                    let mut all = (Vec::new(), Vec::new());
                    for result in futures_util::future::join_all(tasks).await {
                        let (latencies, wrong) = result.unwrap_or_default();
                        all.0.extend(latencies);
                        all.1.extend(wrong);
                    }
                    all
                })
            })
        })
        .collect();
    let mut report = LoadReport {
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        wrong: Vec::new(),
    };
    for thread in threads {
        let (latencies, wrong) = thread.join().unwrap_or_default();
        report.latencies.extend(latencies);
        report.wrong.extend(wrong);
    }
    report.elapsed = started.elapsed();
    report.latencies.sort();
    report
}

fn client(connections: usize) -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .connector(awc::Connector::new().limit(connections))
        .finish()
}

async fn post(
    client: &awc::Client,
    url: &str,
    token: Option<&str>,
    headers: &[(String, String)],
    body: impl Into<web::Bytes>,
) -> Result<u16, String> {
    let mut request = client.post(url);
    if headers.is_empty() {
        request = request.insert_header(("Content-Type", "application/json"));
    }
    for (name, value) in headers {
        request = request.insert_header((name.as_str(), value.as_str()));
    }
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request
        .send_body(body.into())
        .await
        .map_err(|e| e.to_string())?;
    // Reading the body to the end returns the connection to the pool.
    response
        .body()
        .limit(1 << 20)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

// ---------------------------------------------------------------------------
// Bodies and figures
// ---------------------------------------------------------------------------

/// A `data` object whose compact JSON is exactly `PAYLOAD_BYTES` long.
fn pad_object(seq: Option<usize>) -> String {
    let head = match seq {
        Some(seq) => format!("{{\"seq\":{seq},\"pad\":\""),
        None => "{\"pad\":\"".to_string(),
    };
    let fill = PAYLOAD_BYTES - head.len() - 2;
    format!("{head}{}\"}}", "x".repeat(fill))
}

fn publish_body(event_type: &str, seq: Option<usize>) -> Vec<u8> {
    format!("{{\"type\":\"{event_type}\",\"data\":{}}}", pad_object(seq)).into_bytes()
}

fn delivery_body() -> Vec<u8> {
    format!(
        "{{\"id\":\"evt_01HQ3Z5Y8W0000000000000000\",\"type\":\"bench.deliver\",\
         \"created_at\":\"2024-01-15T10:30:00Z\",\"data\":{}}}",
        pad_object(None)
    )
    .into_bytes()
}

/// Header names and value sizes as hookd sends them (values are not signed
/// for real: the baseline measures transport, not HMAC).
fn delivery_headers() -> Vec<(String, String)> {
    let delivery = "dlv_01HQ3Z5Y8W0000000000000000".to_string();
    let signature = format!("v1,{}", "A".repeat(44));
    [
        ("Content-Type", "application/json".to_string()),
        ("User-Agent", "hookd/0.1.0".to_string()),
        ("X-Webhook-Event", "bench.deliver".to_string()),
        ("X-Webhook-Delivery", delivery.clone()),
        ("X-Webhook-Attempt", "1".to_string()),
        ("X-Webhook-Signature", format!("sha256={}", "0".repeat(64))),
        ("webhook-signature", signature),
        ("webhook-id", delivery),
        ("webhook-timestamp", "1705314600".to_string()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect()
}

fn epoch() -> &'static Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now)
}

fn pick(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn expect(status: u16, wanted: u16, what: &str, answer: &Value) -> BenchResult<()> {
    if status == wanted {
        Ok(())
    } else {
        Err(format!("{what}: status {status}: {answer}"))
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}

fn mib(bytes: u64) -> f64 {
    (bytes as f64 / (1024.0 * 1024.0) * 10.0).round() / 10.0
}

fn round(x: f64) -> f64 {
    x.round()
}

fn ratio(value: f64, baseline: f64) -> f64 {
    if baseline <= 0.0 {
        return 0.0;
    }
    (value / baseline * 1000.0).round() / 1000.0
}
