//! A throwaway database per test on the local PostgreSQL server
//! (127.0.0.1:5432, user postgres, or `HOOKD_TEST_POSTGRES`), dropped when the test ends; tests skip
//! with a message where no server answers.

// Each test crate uses only some of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use hookd::domain::event_type::EventType;
use hookd::domain::{Endpoint, Event};
use hookd::store::postgres::{redact_url, PgStore};
use hookd::store::NewEvent;
use tokio_postgres::NoTls;

/// The server tests use, without a database name; overridden by
/// `HOOKD_TEST_POSTGRES` (e.g. `postgres://postgres@127.0.0.1:5433`).
fn server() -> String {
    std::env::var("HOOKD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

pub struct TestDb {
    pub url: String,
    name: String,
}

async fn admin() -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) =
        tokio_postgres::connect(&format!("{}/postgres", server()), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

impl TestDb {
    /// A fresh database, or `None` (after saying so) without a server.
    pub async fn create() -> Option<TestDb> {
        let admin = match admin().await {
            Ok(admin) => admin,
            Err(error) => {
                eprintln!(
                    "SKIPPED: no PostgreSQL server answers at {} ({error}); \
                     start one to run the PostgreSQL store tests",
                    redact_url(&server())
                );
                return None;
            }
        };
        let name = format!("hookd_test_{:016x}", rand::random::<u64>());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        Some(TestDb {
            url: format!("{}/{name}", server()),
            name,
        })
    }

    pub async fn store(&self) -> PgStore {
        PgStore::connect_url(&self.url, 4, Duration::from_secs(5), Duration::from_secs(1))
            .await
            .expect("connect to the test database")
    }

    /// A plain connection, to look at or arrange rows directly.
    pub async fn raw(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async: a runtime of its own on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                let admin = admin().await?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
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
