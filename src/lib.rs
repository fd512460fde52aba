//! # hookd
//!
//! A webhook delivery daemon: one binary, an embedded durable log.
//!
//! # Layout
//!
//! The path of one event, and the file that owns each step:
//!
//! - `api/admin/events.rs` validates a publish (`domain/`) and calls
//!   `service/publish.rs`, which plans its fan-out once and hands the event
//!   with the endpoints it owes to `store/sled/events.rs` and `store/sled/log.rs`: one
//!   insert, the event's ID (`ids.rs`) naming its deliveries;
//!   `store/sled/committer.rs` flushes once for all waiting writers; then the 202.
//! - `store/mod.rs` is the storage interface every part above calls (the
//!   records in `store/operations.rs`, the dispatcher's feed in
//!   `store/feed.rs`); `store/sled/` is the embedded backend behind it.
//! - `service/` holds the rules storage only applies: the fan-out plan, what
//!   an attempt's outcome does to its delivery (`outcome.rs`), holding,
//!   resuming and cancelling an endpoint's deliveries (`endpoints.rs`) and
//!   which pairs a replay selects (`replay.rs`).
//! - `delivery/dispatcher.rs` wakes, reads new events off the log
//!   (`delivery/log_reader.rs`) and claims due wheel entries
//!   (`delivery/wheel_claims.rs`, `store/sled/wheel.rs`) within
//!   `delivery/limits.rs`, and starts
//!   `delivery/worker.rs`, which sends through `delivery/attempt.rs` (body
//!   from `payload.rs`, signed by `signing.rs`), classifies the answer
//!   (`outcome.rs`) and decides the next try (`retry.rs`), recorded on the
//!   `delivery/recorder.rs` thread through `service/outcome.rs` by
//!   `store/sled/deliveries.rs` (a delivery's first record by `store/sled/fanout.rs`). `delivery/health.rs`
//!   decides when a failing endpoint is switched off (counters in
//!   `store/sled/health.rs`), `operational.rs` emits the `hookd.*` events, and
//!   `delivery/target_guard.rs` keeps attempts off the addresses
//!   `domain/special_addresses.rs` lists.
//! - `api/admin/replay.rs` validates a replay and hands it to `replay.rs`,
//!   which walks the log in batches through `store/sled/replays.rs`, each batch's
//!   pairs chosen by `service/replay.rs`; deliveries are written by
//!   `store/sled/fanout.rs`, as a delivery's first record is.
//! - `retention.rs` removes expired events through `store/sled/retention.rs`.
//! - `storage_watch.rs` notices a failed write (a full disk) and has
//!   `store/sled/recovery.rs` reopen storage once the disk takes writes again.
//! - Partners: `api/partners.rs` registers one as an endpoint plus
//!   a `domain/partner.rs` record (`store/sled/partners.rs`) and serves its
//!   self-service; `api/inbound.rs` verifies events partners send in and
//!   appends them like any publish; `api/admin/partners.rs` is the operator's side.
//!   `api/tls.rs` serves the public listener over HTTPS, reloaded on SIGHUP;
//!   `api/body_deadline.rs` cuts off request bodies that arrive too slowly.
//!
//! - Operations: `metrics.rs` holds every Prometheus family (served by
//!   `api/admin/metrics.rs`), `stats.rs` the in-memory per-endpoint figures
//!   (`api/admin/stats.rs`); `api/admin/delivery_search.rs` searches
//!   deliveries through the index kept by `store/sled/search.rs` (and, for those
//!   not recorded yet, `store/sled/owed.rs`).
//!
//! `cli/` is the command line: `serve`, `check-config`, and the operator's
//! admin commands, which call the admin API through `cli/client.rs`.
//! `config.rs` holds the settings, `error.rs` turns API errors into JSON,
//! `startup.rs` wires it all together, and `shutdown.rs` stops the
//! background tasks before the store is closed.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod ids;
pub mod metrics;
pub mod operational;
pub mod replay;
pub mod retention;
pub mod service;
pub mod shutdown;
pub mod startup;
pub mod stats;
pub mod storage_watch;
pub mod store;

pub use startup::run;
