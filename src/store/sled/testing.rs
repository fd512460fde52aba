//! Fixtures for unit tests that need a real store: a temporary database, an
//! endpoint, a published event, and a way to damage a stored record (the
//! failures a store-level test injects).

use tempfile::TempDir;

use super::{SledGuard, SledStore};
use crate::config::Durability;
use crate::domain::event_type::EventType;
use crate::domain::{Delivery, Endpoint, Event};
use crate::ids::EventId;
use crate::store::NewEvent;

/// A store in a fresh directory; keep both for the life of the test.
pub fn temp_store() -> (TempDir, SledGuard) {
    let dir = tempfile::tempdir().expect("temp dir");
    let guard = SledGuard::open_at(&dir.path().join("db"), 16 * 1024 * 1024, Durability::Flush)
        .expect("open store");
    (dir, guard)
}

/// Saves an active endpoint subscribed to every event.
pub async fn endpoint(store: &SledStore) -> Endpoint {
    let endpoint = Endpoint::new(
        "http://127.0.0.1:9/hook".into(),
        vec!["*".into()],
        "test_secret_0123456789".into(),
        crate::clock::now_ms(),
    );
    store.save_endpoint(&endpoint).await.expect("save endpoint");
    endpoint
}

/// Publishes one event at `now_ms`; returns its ID and its deliveries.
pub async fn publish(store: &SledStore, now_ms: u64) -> (EventId, Vec<Delivery>) {
    let event_type = EventType::parse("test.happened").expect("event type");
    let event = Event::new(&event_type, &serde_json::json!({}), now_ms);
    let owed = crate::service::publish::plan(&store.subscribers(), &event, None);
    let outcome = store
        .append_events(vec![NewEvent { event, owed }], None, 0, now_ms)
        .await
        .expect("append");
    let id = outcome.events[0].id;
    (id, store.deliveries_of_event(id).expect("deliveries"))
}

/// Publishes one event and puts its deliveries on the wheel due at
/// `now_ms`, as the dispatcher's log reader does for an endpoint that is not
/// keeping up. (Not at the event's own time: IDs other tests of this
/// process minted may have moved new IDs' time past `now_ms`.)
pub async fn publish_to_wheel(store: &SledStore, now_ms: u64) -> (EventId, Vec<Delivery>) {
    let (id, deliveries) = publish(store, now_ms).await;
    for delivery in &deliveries {
        let mut due_now = delivery.clone();
        due_now.next_attempt_ms = Some(now_ms);
        assert!(store
            .record_owed(&due_now, "test.happened")
            .expect("record"));
    }
    (id, store.deliveries_of_event(id).expect("deliveries"))
}

/// Which stored record to damage.
pub enum Record {
    Event(EventId),
    Delivery(crate::ids::DeliveryId),
}

impl SledStore {
    /// Replaces a record's bytes (garbage when `bytes` is `None`) and returns
    /// what was there, so a test can make a read fail and then heal it.
    pub fn overwrite_record(&self, record: Record, bytes: Option<&[u8]>) -> Option<Vec<u8>> {
        let trees = self.trees().ok()?;
        let (tree, key) = match record {
            Record::Event(id) => (&trees.log, id.to_bytes()),
            Record::Delivery(id) => (&trees.deliveries, id.to_bytes()),
        };
        let garbage: &[u8] = &[0xff, 0xff, 0xff];
        tree.insert(key, bytes.unwrap_or(garbage))
            .expect("overwrite")
            .map(|old| old.to_vec())
    }
}
