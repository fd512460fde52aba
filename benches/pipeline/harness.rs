//! The bench's use of the shared daemon harness (tests/common/daemon.rs):
//! starting it with a short log, publishing through the admin API, and
//! filling a stopped daemon's store through the library.

use std::path::Path;

use serde_json::Value;

use hookd::config::Durability;
use hookd::domain::Event;
use hookd::ids::EventId;
use hookd::service::publish;
use hookd::store::StoreGuard;

use crate::bodies::{pad_object, publish_body};
use crate::daemon::Daemon;
use crate::figures::{err, expect};
use crate::receiver::Receiver;
use crate::{BenchResult, BATCH_EVENTS};

/// The daemon logs every request: keep only a tail for error messages.
const LOG_LINES: usize = 50;

pub fn start() -> BenchResult<Daemon> {
    start_with(&[])
}

/// Starts with the tests' base configuration overridden by `env`.
pub fn start_with(env: &[(&str, &str)]) -> BenchResult<Daemon> {
    Daemon::launch(env, true, LOG_LINES)
}

/// A daemon with one endpoint for `event_type` on the receiver's `/hook`,
/// with `fields` added to its body; the endpoint as created.
pub async fn start_subscribed(
    receiver: &Receiver,
    event_type: &str,
    fields: Value,
) -> BenchResult<(Daemon, Value)> {
    let daemon = start()?;
    let mut body = serde_json::json!({"url": receiver.url("/hook"), "events": [event_type]});
    if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
        body.extend(fields.clone());
    }
    let endpoint = daemon.try_create_endpoint(&body).await?;
    Ok((daemon, endpoint))
}

/// `PATCH /webhooks/{id}` setting `active`.
pub async fn set_active(daemon: &Daemon, id: &str, active: bool) -> BenchResult<()> {
    let body = serde_json::json!({"active": active});
    let (status, answer) = daemon
        .try_api("PATCH", &format!("/webhooks/{id}"), Some(&body))
        .await?;
    expect(status, 200, "set active", &answer)
}

pub async fn publish_one(daemon: &Daemon, event_type: &str) -> BenchResult<Value> {
    let body: Value = serde_json::from_slice(&publish_body(event_type, None)).map_err(err)?;
    let (status, answer) = daemon.try_api("POST", "/events", Some(&body)).await?;
    expect(status, 202, "publish", &answer)?;
    Ok(answer)
}

/// Publishes `count` events through `/events/batch`, `BATCH_EVENTS` per
/// request, two requests at a time.
pub async fn publish_batches(daemon: &Daemon, event_type: &str, count: usize) -> BenchResult<()> {
    let item: Value = serde_json::from_slice(&publish_body(event_type, None)).map_err(err)?;
    let batches: Vec<usize> = (0..count)
        .step_by(BATCH_EVENTS)
        .map(|start| (count - start).min(BATCH_EVENTS))
        .collect();
    for pair in batches.chunks(2) {
        let bodies: Vec<Value> = pair
            .iter()
            .map(|n| Value::Array(vec![item.clone(); *n]))
            .collect();
        let calls = bodies
            .iter()
            .map(|body| daemon.try_api("POST", "/events/batch", Some(body)));
        for result in futures_util::future::join_all(calls).await {
            let (status, answer) = result?;
            expect(status, 202, "publish batch", &answer)?;
        }
    }
    Ok(())
}

/// Writes `count` events of `event_type` straight into the store at `db`
/// (the daemon stopped), 1000 per call, each owed to `deliveries`
/// subscribed endpoints.
pub async fn prefill(
    db: &Path,
    event_type: &str,
    count: usize,
    deliveries: u32,
) -> BenchResult<()> {
    let guard = StoreGuard::open_at(db, 128 * 1024 * 1024, Durability::Flush).map_err(err)?;
    let store = guard.store();
    let data = pad_object(None);
    let mut left = count;
    while left > 0 {
        let n = left.min(1000);
        let now = hookd::clock::now_ms();
        let batch = (0..n)
            .map(|_| Event {
                id: EventId::generate(now),
                event_type: event_type.into(),
                data_json: data.clone(),
                source: None,
                test: false,
                account_id: None,
            })
            .collect();
        let outcome = publish::publish(&store, batch, None, 0, now)
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
