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
//! cargo bench --bench pipeline -- --only ingest,deliver --backend postgres
//! cargo bench --bench pipeline -- --only ingest,deliver --backend postgres --nodes 3
//! ```
//!
//! `--backend sled|postgres` (default sled) picks the store. With postgres,
//! each scenario runs on a database of its own on the local server
//! (127.0.0.1:5432, user postgres, or `HOOKD_TEST_POSTGRES`), created for
//! the scenario and dropped after it; `ingest` and `deliver` run there, the
//! others print a line with `skipped`. `--nodes N` (default 1, postgres
//! only) starts N daemons on that database: the endpoint is made on node 0
//! and the load starts once every node routes to it; client `i` publishes to
//! node `i % N`; deliveries count by distinct event ID, with `duplicates`
//! reported, and `rss_mib` sums the nodes. Every line carries `backend` and
//! `nodes`.
//!
//! Nothing here asserts a timing: figures are printed, and judged in
//! BENCHMARKS.md. Every wait is bounded, so a stuck daemon ends the run with
//! an error instead of hanging CI.
//!
//! One file per scenario; the daemon harness is the one the integration
//! tests use (tests/common/daemon.rs).

// The tests' harness also serves them with panicking helpers the bench does
// not call.
#[allow(dead_code)]
#[path = "../../tests/common/daemon.rs"]
mod daemon;
#[path = "../../tests/common/pg_database.rs"]
mod pg_database;

mod backend;
mod baseline;
mod batch;
mod bodies;
mod ceiling;
mod deliver;
mod disk_floor;
mod drain;
mod fanout;
mod figures;
mod footprint;
mod harness;
mod ingest;
mod latency;
mod load;
mod receiver;
mod recovery;
mod replay;

use serde_json::{json, Value};

use backend::{labels, Backend};
use figures::epoch;
use receiver::Receiver;

/// Concurrent publishers of `ingest`, and the delivery concurrency of
/// `deliver` and `drain`.
pub const CLIENTS: usize = 64;
/// Concurrent publishers of `/events/batch` in `batch`.
pub const BATCH_CLIENTS: usize = 4;
/// Events per `/events/batch` request.
pub const BATCH_EVENTS: usize = 1000;
/// The `data` object of every event serialises to exactly this many bytes.
pub const PAYLOAD_BYTES: usize = 1024;

pub struct Sizes {
    pub ingest_events: usize,
    pub batch_events: usize,
    pub deliver_events: usize,
    pub drain_wheel: usize,
    pub latency_secs: u64,
    pub fanout_endpoints: usize,
    pub recovery_pending: usize,
    pub footprint_events: usize,
    pub replay_events: usize,
}

const FULL: Sizes = Sizes {
    ingest_events: 50_000,
    batch_events: 200_000,
    deliver_events: 20_000,
    drain_wheel: 100_000,
    latency_secs: 20,
    fanout_endpoints: 1_000,
    recovery_pending: 1_000_000,
    footprint_events: 1_000_000,
    replay_events: 1_000_000,
};

const QUICK: Sizes = Sizes {
    ingest_events: 2_000,
    batch_events: 5_000,
    deliver_events: 2_000,
    drain_wheel: 1_000,
    latency_secs: 2,
    fanout_endpoints: 100,
    recovery_pending: 20_000,
    footprint_events: 20_000,
    replay_events: 20_000,
};

/// The scenarios that run on PostgreSQL; the others print a skip line there.
const ON_POSTGRES: [&str; 2] = ["ingest", "deliver"];

const SCENARIOS: [&str; 9] = [
    "ingest",
    "batch",
    "deliver",
    "drain",
    "latency",
    "fanout",
    "recovery",
    "footprint",
    "replay",
];

pub type BenchResult<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_else(|| SCENARIOS.iter().map(|s| s.to_string()).collect());
    if let Some(unknown) = only.iter().find(|o| !SCENARIOS.contains(&o.as_str())) {
        eprintln!(
            "pipeline: unknown scenario {unknown:?}; known: {}",
            SCENARIOS.join(",")
        );
        std::process::exit(2);
    }
    let backend = match Backend::from_args(&args) {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("pipeline: {error}");
            std::process::exit(2);
        }
    };
    let sizes = if quick { QUICK } else { FULL };
    epoch();

    let failed = actix_web::rt::System::new().block_on(async move {
        let receiver = Receiver::start();
        let mut failed = false;
        for name in SCENARIOS.iter().filter(|s| only.iter().any(|o| o == *s)) {
            eprintln!("pipeline: {name}…");
            receiver.reset();
            let outcome = if backend == Backend::Sled || ON_POSTGRES.contains(name) {
                run(name, &sizes, &receiver, backend).await
            } else {
                Ok(json!({"skipped": format!("not run on {}", backend.name())}))
            };
            match outcome {
                Ok(mut line) => {
                    line["scenario"] = json!(name);
                    line["quick"] = json!(quick);
                    if let (Some(line), Some(labels)) =
                        (line.as_object_mut(), labels(backend).as_object())
                    {
                        line.extend(labels.clone());
                    }
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

async fn run(
    name: &str,
    sizes: &Sizes,
    receiver: &Receiver,
    backend: Backend,
) -> BenchResult<Value> {
    match name {
        "ingest" => ingest::run(sizes, receiver, backend).await,
        "batch" => batch::run(sizes, receiver).await,
        "deliver" => deliver::run(sizes, receiver, backend).await,
        "drain" => drain::run(sizes, receiver).await,
        "latency" => latency::run(sizes, receiver).await,
        "fanout" => fanout::run(sizes, receiver).await,
        "recovery" => recovery::run(sizes, receiver).await,
        "footprint" => footprint::run(sizes, receiver).await,
        _ => replay::run(sizes, receiver).await,
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
