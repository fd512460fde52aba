//! The PostgreSQL store's log and background work against a real server:
//! the `after=` watermark with publishes committing out of ID order,
//! retention by partition, replay leases and wake-ups.

mod common;
mod pg_support;

use std::time::Duration;

use hookd::clock::now_ms;
use hookd::domain::replay::{ReplayJob, ReplayRequest, ReplaySelection, ReplayStatus};
use hookd::domain::DeliveryStatus;
use hookd::ids::EventId;
use hookd::store::postgres::PgStore;
use hookd::store::EventQuery;
use pg_support::{endpoint, eventually, new_event, TestDb};

fn tail_after(after: EventId) -> EventQuery {
    EventQuery {
        from_ms: None,
        to_ms: None,
        types: None,
        after: Some(after),
        account: None,
        limit: 100,
    }
}

#[tokio::test]
async fn the_tail_waits_for_a_publish_that_commits_after_a_later_one() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let now = now_ms();
    let first = store
        .begin_publish(vec![new_event(&store, "order.created", now)], None, 0, now)
        .await
        .unwrap();
    let early = first.events()[0].id;
    let second = store
        .append_events(vec![new_event(&store, "order.created", now)], None, 0, now)
        .await
        .unwrap();
    let late = second.events[0].id;
    assert!(early < late, "IDs are minted in order");

    // `late` is committed and visible, but `early` may still commit: the
    // tail serves neither yet.
    let origin = EventId::from_u128(0);
    // Past `late`'s millisecond, so only the open publish can hold it back.
    let past = eventually(Duration::from_secs(1), || async {
        now_ms() > late.created_ms() + 1
    });
    assert!(past.await);
    let page = store.query_events(&tail_after(origin)).await.unwrap();
    assert!(page.is_empty(), "served past an open publish: {page:?}");
    // The first page of a reader, without `after`, stops there too.
    let mut first_page = tail_after(origin);
    first_page.after = None;
    let page = store.query_events(&first_page).await.unwrap();
    assert!(
        page.is_empty(),
        "a first page served past an open publish: {page:?}"
    );

    first.commit().await.unwrap();
    let served = eventually(Duration::from_secs(5), || async {
        let page = store.query_events(&tail_after(origin)).await.unwrap();
        page.iter().map(|e| e.id).collect::<Vec<_>>() == [early, late]
    })
    .await;
    assert!(
        served,
        "both events are served, in ID order, once both committed"
    );
    let rest = store.query_events(&tail_after(early)).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), [late]);
}

#[tokio::test]
async fn an_abandoned_publish_leaves_nothing_and_stops_holding_the_tail() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let now = now_ms();
    let abandoned = store
        .begin_publish(vec![new_event(&store, "order.created", now)], None, 0, now)
        .await
        .unwrap();
    let gone = abandoned.events()[0].id;
    drop(abandoned);
    let kept = store
        .append_events(vec![new_event(&store, "order.created", now)], None, 0, now)
        .await
        .unwrap()
        .events[0]
        .id;
    let served = eventually(Duration::from_secs(5), || async {
        let page = store
            .query_events(&tail_after(EventId::from_u128(0)))
            .await
            .unwrap();
        page.iter().map(|e| e.id).collect::<Vec<_>>() == [kept]
    })
    .await;
    assert!(served);
    assert!(store.get_event(gone).await.unwrap().is_none());
}

/// Puts an event of `day_ms` straight into the log with one delivery of
/// `status`: IDs this process mints are never that old.
async fn old_event(db: &TestDb, day_ms: u64, endpoint: [u8; 16], status: &str) -> EventId {
    let store = db.store().await;
    store.ensure_partitions(day_ms).await.unwrap();
    let mut event = new_event(&store, "order.created", day_ms).event;
    event.id = EventId::from_u128(ulid_at(day_ms));
    let delivery = event.id.fanout_delivery(0).unwrap();
    let raw = db.raw().await;
    let record = serde_json::to_string(&event).unwrap();
    raw.execute(
        "INSERT INTO events (created_ms, id, event_type, record) VALUES ($1, $2, 'order.created', $3::text::jsonb)",
        &[&(day_ms as i64), &event.id.to_bytes().to_vec(), &record],
    )
    .await
    .unwrap();
    raw.execute(
        "INSERT INTO deliveries (id, event_id, endpoint_id, event_type, status, attempts, updated_ms)
         VALUES ($1, $2, $3, 'order.created', $4, 1, $5)",
        &[
            &delivery.to_bytes().to_vec(),
            &event.id.to_bytes().to_vec(),
            &endpoint.to_vec(),
            &status,
            &(day_ms as i64),
        ],
    )
    .await
    .unwrap();
    raw.execute(
        "INSERT INTO attempts (delivery_id, n, record) VALUES ($1, 1, '{}')",
        &[&delivery.to_bytes().to_vec()],
    )
    .await
    .unwrap();
    event.id
}

/// A block-aligned ID stamped `ms`.
fn ulid_at(ms: u64) -> u128 {
    (u128::from(ms) << 80) | (u128::from(rand::random::<u32>()) << 16)
}

#[tokio::test]
async fn retention_drops_old_partitions_unless_a_delivery_is_pending() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let now = now_ms();
    let target = endpoint(&store, &["order.created"], now).await;
    let day = 86_400_000;
    let finished = old_event(&db, now - 10 * day, target.id.to_bytes(), "succeeded").await;
    let pending = old_event(&db, now - 5 * day, target.id.to_bytes(), "pending").await;
    let days_before = store.partition_days().await.unwrap();
    let cut = now - day;
    let old = days_before.iter().filter(|d| (*d + 1) * day <= cut).count();

    let outcome = store.drop_partitions_before(cut).await.unwrap();
    assert_eq!(
        outcome.partitions_kept, 1,
        "the day with a pending delivery"
    );
    assert_eq!(outcome.partitions_dropped, old - 1);
    assert_eq!(outcome.deliveries_removed, 1);
    let days_after = store.partition_days().await.unwrap();
    assert_eq!(days_after.len(), days_before.len() - (old - 1));
    assert!(days_after.contains(&((now - 5 * day) / day)));
    assert!(store.get_event(finished).await.unwrap().is_none());
    assert!(store
        .deliveries_of_event(finished)
        .await
        .unwrap()
        .is_empty());
    let remaining: i64 = db
        .raw()
        .await
        .query_one("SELECT count(*) FROM attempts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(remaining, 1, "the dropped delivery's attempt went with it");
    assert!(store.get_event(pending).await.unwrap().is_some());
    let kept = store.deliveries_of_event(pending).await.unwrap();
    assert_eq!(kept[0].status, DeliveryStatus::Pending);
}

#[tokio::test]
async fn one_node_runs_a_replay_until_its_lease_runs_out() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Two nodes (each store is a node of its own, with 1 s leases).
    let (a, b) = (db.store().await, db.store().await);
    let now = now_ms();
    for _ in 0..3 {
        a.append_events(vec![new_event(&a, "order.created", now)], None, 0, now)
            .await
            .unwrap();
    }
    let request = ReplayRequest {
        selection: ReplaySelection::Range {
            from_ms: 0,
            to_ms: now + 60_000,
        },
        types: None,
        endpoint_ids: None,
        only_failed: false,
        account_id: None,
    };
    let job = ReplayJob::new(request, now);
    a.create_replay(&job).await.unwrap();

    // One event per step; the selection only moves the cursor.
    let step = |store: PgStore| async move {
        store
            .replay_step(job.id, 1, |job, batch| {
                let mut next = job.clone();
                next.cursor = batch.last.or(job.cursor);
                next.events_matched += batch.events.len() as u64;
                if batch.exhausted {
                    next.status = ReplayStatus::Done;
                }
                Ok((next, Vec::new()))
            })
            .await
            .unwrap()
    };
    let first = step(a.clone()).await.expect("node A takes the job");
    assert_eq!(first.events_matched, 1);
    assert!(step(b.clone()).await.is_none(), "node A holds the job");

    assert!(
        eventually(Duration::from_secs(5), || {
            let b = b.clone();
            async move { step(b).await.is_some() }
        })
        .await,
        "node B takes the job over once A's lease has run out"
    );
    let saved = a.get_replay(job.id).await.unwrap().unwrap();
    assert_eq!(saved.events_matched, 2, "resumed from A's last batch");
    assert!(step(a.clone()).await.is_none(), "node B holds it now");
}

#[tokio::test]
async fn a_publish_wakes_listeners_once_committed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let now = now_ms();
    endpoint(&store, &["order.created"], now).await;
    let mut wake_ups = store.listen().await.unwrap();
    store
        .append_events(vec![new_event(&store, "order.created", now)], None, 0, now)
        .await
        .unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(5), wake_ups.recv()).await;
    assert_eq!(woken.ok().flatten(), Some(()));
}
