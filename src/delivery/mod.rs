//! Delivery: from a due wheel entry to a signed POST and its recorded outcome.
//!
//! - `dispatcher`: the loop that claims due deliveries and starts attempts.
//! - `wheel_claims`: the dispatcher's claims of due deliveries.
//! - `limits`: per-endpoint and global concurrency, rate limits.
//! - `worker`: one attempt end to end, and what it means for the delivery.
//! - `attempt`: building, signing and sending one HTTP request.
//! - `outcome`: classifying an HTTP result (README, Retries).
//! - `retry`: when the next attempt is due, if any.
//! - `payload`, `canonical_json`, `signing`: body formats and signatures.
//! - `client`: the awc client's safety settings.

pub mod attempt;
pub mod canonical_json;
pub mod client;
pub mod dispatcher;
pub mod health;
pub mod limits;
pub mod log_reader;
pub mod outcome;
pub mod payload;
pub mod recorder;
pub mod retry;
pub mod signing;
pub mod target_guard;
pub mod wheel_claims;
pub mod worker;
