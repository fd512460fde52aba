//! Publishing: an event's fan-out is planned here, once, from the endpoints
//! as they stand, and stored with the event in one append. Nothing after
//! the append decides again which endpoints an event goes to.

use crate::domain::routing::receives;
use crate::domain::{Endpoint, Event};
use crate::ids::EndpointId;
use crate::metrics::{metrics, Source};
use crate::store::{AppendOutcome, AppendedEvent, NewEvent, Store, StoreError, Subscriber};

/// The endpoints `event` owes a delivery to: `only_to` when given (a test
/// send), otherwise every endpoint whose type filter matches and that may
/// receive the event's account (`domain/routing.rs`). Disabled endpoints
/// are included: their deliveries wait as held until they are enabled.
pub fn plan(
    subscribers: &[Subscriber],
    event: &Event,
    only_to: Option<&Endpoint>,
) -> Vec<EndpointId> {
    match only_to {
        Some(endpoint) => vec![endpoint.id],
        None => subscribers
            .iter()
            .filter(|s| s.filter.matches(&event.event_type))
            .filter(|s| receives(&s.endpoint, event))
            .map(|s| s.endpoint.id)
            .collect(),
    }
}

/// Publishes a batch to every subscriber and waits until it is durable. A
/// repeat of `idempotency_key` younger than `window_ms` gets the first
/// answer and stores nothing.
pub async fn publish(
    store: &Store,
    events: Vec<Event>,
    idempotency_key: Option<&str>,
    window_ms: u64,
    now_ms: u64,
) -> Result<AppendOutcome, StoreError> {
    let subscribers = store.subscribers();
    let batch = events
        .into_iter()
        .map(|event| NewEvent {
            owed: plan(&subscribers, &event, None),
            event,
        })
        .collect();
    append(store, batch, idempotency_key, window_ms, now_ms).await
}

/// Publishes one event without an idempotency key (test sends, operational
/// events), to `only_to` or to every subscriber.
pub async fn publish_one(
    store: &Store,
    event: Event,
    only_to: Option<&Endpoint>,
    now_ms: u64,
) -> Result<AppendedEvent, StoreError> {
    let owed = plan(&store.subscribers(), &event, only_to);
    let outcome = append(store, vec![NewEvent { event, owed }], None, 0, now_ms).await?;
    outcome
        .events
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Unavailable("an appended event went missing".into()))
}

/// Appends planned events and counts them as published once durable.
async fn append(
    store: &Store,
    batch: Vec<NewEvent>,
    idempotency_key: Option<&str>,
    window_ms: u64,
    now_ms: u64,
) -> Result<AppendOutcome, StoreError> {
    let sources: Vec<Source> = batch.iter().map(|new| Source::of(&new.event)).collect();
    let outcome = store
        .append_events(batch, idempotency_key, window_ms, now_ms)
        .await?;
    if !outcome.duplicate {
        for source in sources {
            metrics().published(source);
        }
    }
    Ok(outcome)
}
