//! The PostgreSQL store against a real server: migrations and connecting,
//! publishing with fan-out and idempotency, claims shared by two nodes,
//! recording attempts, and holding and resuming an endpoint's deliveries.

mod common;
mod pg_support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use hookd::clock::now_ms;
use hookd::domain::{Attempt, Delivery, DeliveryStatus};
use hookd::service::endpoints::moved;
use hookd::service::outcome::{after_attempt, AttemptOutcome};
use hookd::store::postgres::{PgStore, SCHEMA_VERSION};
use hookd::store::{AppendOutcome, EndpointHealth};
use pg_support::{endpoint, new_event, TestDb};

/// The claim lease of the test stores (`pg_support`).
const LEASE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn migrations_apply_once_even_when_nodes_start_together() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let starts = (0..3).map(|_| PgStore::connect_url(db.url(), 2, Duration::from_secs(5), LEASE));
    for started in futures_util::future::join_all(starts).await {
        started.expect("every node starts");
    }
    let again = db.store().await;
    assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    let raw = db.raw().await;
    let applied: i64 = raw
        .query_one("SELECT count(*) FROM hookd_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, i64::from(SCHEMA_VERSION));
    let days = again.partition_days().await.unwrap();
    assert!(days.len() >= 3, "today and two days ahead: {days:?}");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    db.store().await;
    db.raw()
        .await
        .execute(
            "INSERT INTO hookd_schema (version, name) VALUES (999, 'from the future')",
            &[],
        )
        .await
        .unwrap();
    let refused = PgStore::connect_url(db.url(), 2, Duration::from_secs(5), LEASE).await;
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("999"), "{message}");
    assert!(message.contains("newer hookd"), "{message}");
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    let refused = PgStore::connect_url(
        "postgres://hookd:s3cret@127.0.0.1:1/hookd",
        2,
        Duration::from_secs(5),
        LEASE,
    )
    .await;
    let message = refused
        .err()
        .expect("nothing listens on port 1")
        .to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    assert!(message.contains("refused"), "names the cause: {message}");
}

#[tokio::test]
async fn a_publish_fans_out_and_a_repeated_key_returns_the_first_answer() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let now = now_ms();
    let created_only = endpoint(&store, &["order.created"], now).await;
    let both = endpoint(&store, &["order.created", "order.paid"], now).await;
    endpoint(&store, &["user.created"], now).await;

    let batch = vec![
        new_event(&store, "order.created", now),
        new_event(&store, "order.paid", now),
    ];
    let first = store
        .append_events(batch, Some("key-1"), 60_000, now)
        .await
        .unwrap();
    assert!(!first.duplicate);
    let counts: Vec<u32> = first.events.iter().map(|e| e.deliveries).collect();
    assert_eq!(counts, [2, 1]);

    let created = first.events[0].id;
    let event = store.get_event(created).await.unwrap().expect("stored");
    assert_eq!(event.event_type, "order.created");
    let deliveries = store.deliveries_of_event(created).await.unwrap();
    let to: HashSet<_> = deliveries.iter().map(|d| d.endpoint_id).collect();
    assert_eq!(to, HashSet::from([created_only.id, both.id]));
    for delivery in &deliveries {
        assert_eq!(delivery.status, DeliveryStatus::Pending);
        assert_eq!(delivery.next_attempt_ms, Some(created.created_ms()));
    }

    let repeat = vec![new_event(&store, "order.created", now)];
    let second = store
        .append_events(repeat, Some("key-1"), 60_000, now + 1)
        .await
        .unwrap();
    assert!(second.duplicate);
    assert_eq!(second.events, first.events);
    let raw = db.raw().await;
    let stored: i64 = raw
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 2, "a repeat stores nothing");

    // Past the window the key is fresh again.
    let later = vec![new_event(&store, "order.paid", now)];
    let third = store
        .append_events(later, Some("key-1"), 60_000, now + 60_001)
        .await
        .unwrap();
    assert!(!third.duplicate);
    assert_eq!(store.expire_idempotency(now + 60_002).await.unwrap(), 1);
}

#[tokio::test]
async fn events_read_together_spoil_only_the_record_that_cannot_be_decoded() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let now = now_ms();
    let batch = vec![
        new_event(&store, "order.created", now),
        new_event(&store, "order.paid", now),
    ];
    let published = store.append_events(batch, None, 0, now).await.unwrap();
    let (good, bad) = (published.events[0].id, published.events[1].id);
    db.raw()
        .await
        .execute(
            "UPDATE events SET record = '{\"not\": \"an event\"}' WHERE id = $1",
            &[&bad.to_bytes().to_vec()],
        )
        .await
        .unwrap();
    let never_stored = new_event(&store, "order.created", now).event.id;

    let read: HashMap<_, _> = store
        .get_events(&[good, bad, never_stored])
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(read.len(), 2, "an ID with no event is left out");
    let event = read[&good].as_ref().expect("a sound record reads");
    assert_eq!(event.event_type, "order.created");
    assert!(read[&bad].is_err(), "a spoilt record is its reason");
}

/// Claims every due delivery it can at `at`, a page at a time, each page in
/// one statement as the dispatcher does.
async fn claim_all(store: PgStore, at: u64) -> Vec<Delivery> {
    let mut mine = Vec::new();
    loop {
        let page = store.due_page(at, None, 7).await.unwrap();
        if page.is_empty() {
            return mine;
        }
        mine.extend(store.claim_all(&page, at).await.unwrap());
    }
}

#[tokio::test]
async fn two_nodes_never_claim_the_same_delivery() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Each store is a node of its own.
    let (a, b) = (db.store().await, db.store().await);
    let now = now_ms();
    endpoint(&a, &["order.created"], now).await;
    let batch = (0..60)
        .map(|_| new_event(&a, "order.created", now))
        .collect();
    let published = a.append_events(batch, None, 0, now).await.unwrap();
    let at = due_after(&published);

    let (mine_a, mine_b) = tokio::join!(
        tokio::spawn(claim_all(a.clone(), at)),
        tokio::spawn(claim_all(b.clone(), at))
    );
    let ids = |claimed: Vec<Delivery>| claimed.into_iter().map(|d| d.id).collect::<HashSet<_>>();
    let (mine_a, mine_b) = (ids(mine_a.unwrap()), ids(mine_b.unwrap()));
    assert!(
        mine_a.is_disjoint(&mine_b),
        "a delivery was handed to both nodes"
    );
    assert_eq!(mine_a.len() + mine_b.len(), 60);
}

#[tokio::test]
async fn an_expired_lease_is_claimable_by_another_node() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    let now = now_ms();
    endpoint(&a, &["order.created"], now).await;
    let published = a.append_events(vec![new_event(&a, "order.created", now)], None, 0, now);
    let at = due_after(&published.await.unwrap());
    let taken = claim_all(a.clone(), at).await;
    assert_eq!(taken.len(), 1);
    let lease = LEASE.as_millis() as u64;
    assert!(claim_all(b.clone(), at + lease / 2).await.is_empty());
    let retaken = claim_all(b.clone(), at + lease).await;
    assert_eq!(
        retaken.iter().map(|d| d.id).collect::<Vec<_>>(),
        [taken[0].id]
    );
}

/// A time by which every delivery of a publish is due: events are stamped
/// no earlier than the database's clock, which may run past the test's `now`.
fn due_after(published: &AppendOutcome) -> u64 {
    published
        .events
        .iter()
        .map(|e| e.id.created_ms())
        .max()
        .unwrap_or(0)
        + 10
}

fn attempt(n: u32, at_ms: u64, status_code: u16) -> Attempt {
    Attempt {
        attempt: n,
        at_ms,
        status_code: Some(status_code),
        duration_ms: 12,
        error: None,
        request_body: None,
        response_body: None,
    }
}

/// Records `attempt` of the claimed `job` with `outcome` applied, as the
/// recorder does: a success also clears the endpoint's failure counters.
async fn record(
    store: &PgStore,
    job: &Delivery,
    attempt: &Attempt,
    outcome: AttemptOutcome,
) -> Delivery {
    let succeeded = outcome == AttemptOutcome::Succeeded;
    store
        .record_attempt(
            job,
            attempt,
            |d| after_attempt(d, attempt, outcome),
            succeeded,
        )
        .await
        .unwrap()
        .expect("the delivery exists")
}

#[tokio::test]
async fn an_attempt_is_recorded_and_a_hold_while_in_flight_is_kept() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    let now = now_ms();
    let target = endpoint(&a, &["order.created"], now).await;
    let published = a.append_events(vec![new_event(&a, "order.created", now)], None, 0, now);
    let at = due_after(&published.await.unwrap());
    let claimed = claim_all(a.clone(), at).await.remove(0);
    let retry = AttemptOutcome::RetryAt(at + 60_000);
    let first = attempt(1, at, 500);
    let stored = record(&a, &claimed, &first, retry).await;
    assert_eq!(
        (stored.attempts, stored.next_attempt_ms),
        (1, Some(at + 60_000))
    );
    assert_eq!(a.attempts_of(claimed.id).await.unwrap(), [first]);
    assert!(claim_all(b.clone(), at + 1).await.is_empty(), "not due yet");

    // Due again: claimed, then the endpoint is disabled while it is in flight.
    let due = at + 60_000;
    let claimed = claim_all(a.clone(), due).await.remove(0);
    let held = b
        .update_deliveries_of(target.id, |d| moved(d, DeliveryStatus::Held, 0))
        .await
        .unwrap();
    assert_eq!(held, 1);
    let second = attempt(2, due, 500);
    let retry = AttemptOutcome::RetryAt(due + 60_000);
    let stored = record(&a, &claimed, &second, retry).await;
    assert_eq!((stored.status, stored.attempts), (DeliveryStatus::Held, 2));
    assert!(claim_all(a.clone(), due + 120_000).await.is_empty());

    // Resumed: due at the given time and claimable by any node.
    let resume_at = due + 1;
    b.update_deliveries_of(target.id, |d| moved(d, DeliveryStatus::Pending, resume_at))
        .await
        .unwrap();
    let resumed = claim_all(b.clone(), resume_at).await;
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].next_attempt_ms, Some(resume_at));
    let page = a
        .deliveries_of_endpoint(target.id, Some(DeliveryStatus::Pending), None, 10)
        .await
        .unwrap();
    assert_eq!(page.deliveries.len(), 1);
}

#[tokio::test]
async fn a_final_outcome_is_written_only_over_the_delivery_as_claimed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    let now = now_ms();
    let target = endpoint(&a, &["order.created"], now).await;
    let events = (0..3)
        .map(|_| new_event(&a, "order.created", now))
        .collect();
    let at = due_after(&a.append_events(events, None, 0, now).await.unwrap());
    let mut claimed = claim_all(a.clone(), at).await;
    assert_eq!(claimed.len(), 3);
    let (first, second, third) = (claimed.remove(0), claimed.remove(0), claimed.remove(0));
    let failures = |n| EndpointHealth {
        consecutive_failures: n,
        failing_since_ms: (n > 0).then_some(at),
    };

    // Unchanged since its claim: written as the attempt left it, and the
    // success ends the endpoint's run of failures.
    assert_eq!(b.count_failure(target.id, at).await.unwrap(), failures(1));
    let arrived = attempt(1, at, 200);
    let stored = record(&a, &first, &arrived, AttemptOutcome::Succeeded).await;
    assert_eq!(
        (stored.status, stored.attempts),
        (DeliveryStatus::Succeeded, 1)
    );
    assert_eq!(a.get_delivery(first.id).await.unwrap(), Some(stored));
    assert_eq!(a.attempts_of(first.id).await.unwrap(), [arrived]);
    assert_eq!(b.endpoint_health(target.id).await.unwrap(), failures(0));

    // Held while in flight: the failure is recorded, the hold stands, and
    // the counters are left to the caller.
    assert_eq!(b.count_failure(target.id, at).await.unwrap(), failures(1));
    let held = b
        .update_deliveries_of(target.id, |d| moved(d, DeliveryStatus::Held, 0))
        .await
        .unwrap();
    assert_eq!(held, 2);
    let refused = attempt(1, at, 500);
    let stored = record(&a, &second, &refused, AttemptOutcome::Failed).await;
    assert_eq!((stored.status, stored.attempts), (DeliveryStatus::Held, 1));
    assert_eq!(a.get_delivery(second.id).await.unwrap(), Some(stored));
    assert_eq!(a.attempts_of(second.id).await.unwrap(), [refused]);
    assert_eq!(b.endpoint_health(target.id).await.unwrap(), failures(1));

    // Held while in flight and yet it arrived: written from the stored row,
    // and the counters are cleared there too.
    let arrived = attempt(1, at, 200);
    let stored = record(&a, &third, &arrived, AttemptOutcome::Succeeded).await;
    assert_eq!(stored.status, DeliveryStatus::Succeeded);
    assert_eq!(a.get_delivery(third.id).await.unwrap(), Some(stored));
    assert_eq!(b.endpoint_health(target.id).await.unwrap(), failures(0));
}
