//! Black-box tests of the log as an ordered stream: IDs grow in publish
//! order (across restarts too), and a reader that keeps asking for the events
//! `after` the last one it saw gets every acknowledged event exactly once,
//! in order, while many clients publish.

mod common;

use std::cell::Cell;
use std::collections::HashSet;

use common::{assert_error_shape, Daemon};
use futures_util::future::join_all;
use serde_json::{json, Value};

/// The IDs of one page of `GET /events` with `query`.
async fn page_ids(daemon: &Daemon, query: &str) -> Vec<String> {
    let (status, page) = daemon.api("GET", &format!("/events?{query}"), None).await;
    assert_eq!(status, 200, "{page}");
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

#[actix_web::test]
async fn the_log_lists_in_publish_order_and_tails_with_after() {
    let mut daemon = Daemon::start(&[]);
    let mut published = Vec::new();
    for n in 0..5 {
        let kind = if n % 2 == 0 { "a.even" } else { "b.odd" };
        published.push(daemon.publish(kind, json!({"n": n})).await["id"].clone());
    }
    let batch: Vec<Value> = (5..10)
        .map(|n| json!({"type": "a.batch", "data": {"n": n}}))
        .collect();
    let (status, answer) = daemon
        .api("POST", "/events/batch", Some(&json!(batch)))
        .await;
    assert_eq!(status, 202, "{answer}");
    for item in answer["data"].as_array().unwrap() {
        published.push(item["id"].clone());
    }
    let published: Vec<String> = published
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    assert_eq!(page_ids(&daemon, "").await, published);

    // Strictly after, combinable with type and limit.
    let after = &published[1];
    assert_eq!(
        page_ids(&daemon, &format!("after={after}")).await,
        published[2..]
    );
    assert_eq!(
        page_ids(&daemon, &format!("after={after}&type=a.*&limit=2")).await,
        [published[2].clone(), published[4].clone()]
    );
    assert_eq!(
        page_ids(&daemon, &format!("after={}", published[9])).await,
        Vec::<String>::new()
    );
    // An ID that was never stored is a position like any other.
    let before_all = "evt_00000000000000000000000000";
    assert_eq!(
        page_ids(&daemon, &format!("after={before_all}")).await,
        published
    );

    for bad in ["nonsense", "ep_01HZZZZZZZZZZZZZZZZZZZZZZZ", ""] {
        let (status, answer) = daemon
            .api("GET", &format!("/events?after={bad}"), None)
            .await;
        assert_eq!(status, 422, "after={bad}: {answer}");
        assert_error_shape(&answer);
        assert!(
            answer["message"].as_str().unwrap().contains("after"),
            "{answer}"
        );
    }

    // After a restart every new ID sorts after every stored one.
    daemon.restart(&[]);
    let later = daemon.publish("a.later", json!({})).await;
    let later = later["id"].as_str().unwrap();
    assert_eq!(
        page_ids(&daemon, &format!("after={}", published[9])).await,
        [later]
    );
}

/// Publishes `count` events one after another; returns the acknowledged IDs.
async fn publisher(daemon: &Daemon, client: usize, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let answer = daemon
            .publish("load.tick", json!({"client": client, "n": n}))
            .await;
        ids.push(answer["id"].as_str().unwrap().to_string());
    }
    ids
}

#[actix_web::test]
async fn a_reader_after_the_last_id_sees_every_event_once_while_many_publish() {
    const PUBLISHERS: usize = 8;
    const EACH: usize = 150;
    let daemon = Daemon::start(&[]);

    let all_answered = Cell::new(false);
    let publishing = async {
        let acknowledged =
            join_all((0..PUBLISHERS).map(|client| publisher(&daemon, client, EACH))).await;
        all_answered.set(true);
        acknowledged
    };
    let reading = async {
        let mut seen: Vec<String> = Vec::new();
        // Tails while the publishers run, then until the log has nothing
        // more after the last ID seen.
        loop {
            let answered = all_answered.get();
            let query = match seen.last() {
                Some(last) => format!("after={last}&limit=100"),
                None => "limit=100".to_string(),
            };
            let page = page_ids(&daemon, &query).await;
            if page.is_empty() && answered {
                return seen;
            }
            seen.extend(page);
        }
    };
    let (acknowledged, seen) = futures_util::join!(publishing, reading);

    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "the reader saw events out of order"
    );
    let seen_set: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen_set.len(), seen.len(), "an event was seen twice");
    for ids in &acknowledged {
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "one client's events are not in publish order"
        );
        for id in ids {
            assert!(seen_set.contains(id), "acknowledged {id} never seen");
        }
    }
    assert_eq!(
        seen.len(),
        PUBLISHERS * EACH,
        "events seen that nobody published"
    );
}
