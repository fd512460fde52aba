//! A throwaway database per test on the local PostgreSQL server
//! (127.0.0.1:5432, user postgres, or `HOOKD_TEST_POSTGRES`), dropped when the test ends; tests skip
//! with a message where no server answers.

// Each test crate uses only some of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use hookd::domain::event_type::EventType;
use hookd::domain::{Endpoint, Event};
use hookd::store::postgres::PgStore;
use hookd::store::NewEvent;
use tokio_postgres::NoTls;

// The test crate's `mod common` holds the database itself.
use crate::common::pg_database::{DatabaseError, TestDatabase};

pub struct TestDb {
    database: TestDatabase,
}

impl TestDb {
    /// A fresh database, or `None` (after saying so) without a server.
    pub async fn create() -> Option<TestDb> {
        match TestDatabase::create("hookd_test") {
            Ok(database) => Some(TestDb { database }),
            Err(DatabaseError::Unreachable(error)) => {
                eprintln!("SKIPPED: {error}; start one to run the PostgreSQL store tests");
                None
            }
            Err(DatabaseError::Refused(error)) => panic!("create the test database: {error}"),
        }
    }

    pub fn url(&self) -> &str {
        &self.database.url
    }

    pub async fn store(&self) -> PgStore {
        PgStore::connect_url(
            self.url(),
            4,
            Duration::from_secs(5),
            Duration::from_secs(1),
        )
        .await
        .expect("connect to the test database")
    }

    /// A plain connection, to look at or arrange rows directly.
    pub async fn raw(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(self.url(), NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        client
    }
}

pub async fn endpoint(store: &PgStore, events: &[&str], now_ms: u64) -> Endpoint {
    let endpoint = Endpoint::new(
        "https://example.com/hook".into(),
        events.iter().map(|e| e.to_string()).collect(),
        format!("whsec_{:032x}", rand::random::<u128>()),
        now_ms,
    );
    store.save_endpoint(&endpoint).await.expect("save endpoint");
    store.reload_subscribers().await.expect("reload endpoints");
    endpoint
}

/// An event owed to every endpoint of `store` that subscribes to it.
pub fn new_event(store: &PgStore, event_type: &str, now_ms: u64) -> NewEvent {
    let event_type = EventType::parse(event_type).expect("a valid event type");
    let event = Event::new(&event_type, &serde_json::json!({"n": 1}), now_ms);
    let owed = hookd::service::publish::plan(&store.subscribers(), &event, None);
    NewEvent { event, owed }
}

/// Polls `check` until it holds or `deadline` passes.
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
