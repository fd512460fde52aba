//! The PostgreSQL storage backend: the same records as the sled store, in a
//! database several hookd nodes share. Self-contained and async; it reuses
//! the domain types and the store's publish types, and owns only what a
//! shared database needs besides (leases, wake-ups, the log's watermark).
//!
//! Tables (`migrations/0001_initial.sql`): `events` (partitioned by day on
//! the time in the event's ID, see `schema.rs`), `deliveries` (one row per
//! delivery, written with its event at publish, with the lease a node holds
//! while attempting it), `attempts`, `endpoints`, `accounts`, `partners`,
//! `idempotency`, `health`, `replays`, and `hookd_schema` (the migrations
//! applied).
//!
//! Claims: a node takes due deliveries with `FOR UPDATE SKIP LOCKED` and
//! stamps them `claimed_by` itself until `claimed_until`; an attempt's
//! record releases the lease, and a lease that runs out (a dead node) makes
//! the delivery claimable again, so it is attempted at least once.
//!
//! Wake-ups: a publish, a resend and a resume run `NOTIFY hookd_work` in
//! their transaction, so listeners hear of new work only once it is
//! committed ([`PgStore::listen`]).
//!
//! The log's tail (`after=`): IDs are minted on several nodes and their
//! transactions commit in any order, so a reader that saw ID `b` could miss
//! an `a < b` committed later. Two rules close that gap:
//! - A publish marks its transaction (`application_name = hookd_publish`),
//!   has it assigned a transaction ID, and only then reads the database's
//!   clock; its event IDs are minted no earlier than that clock (the node's
//!   own clock and counter may put them later, never earlier).
//! - A page of the log first computes the watermark `W`: the earliest
//!   of its statement's start time and the start time of every marked
//!   transaction that holds a transaction ID, read from `pg_stat_activity`
//!   in that one statement. Its next statement serves only events created
//!   before `W`.
//!
//! Any event that statement cannot see belongs to a transaction that had
//! not committed when it started. Either that transaction held an ID when
//! the watermark was read (then it is counted, and its events are no older
//! than its start, so no older than `W`), or it got one afterwards (then its
//! events are no older than a clock read after the watermark's statement
//! began, again not before `W`). So every event before `W` is visible and a
//! page never skips one that commits later; the tail lags by the longest
//! publish in progress. This needs the nodes to share one role (or
//! `pg_read_all_stats`), so each sees the others' sessions.

mod admin;
mod claims;
mod connections;
mod deliveries;
mod events;
mod feed;
mod import;
mod prepared;
mod replays;
mod retention;
mod rows;
mod schema;
mod upkeep;

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, Notify};
use tokio_postgres::{AsyncMessage, NoTls};

pub use claims::WAKE_CHANNEL;
pub use events::PublishInProgress;
pub use retention::RetentionOutcome;
pub use schema::SCHEMA_VERSION;
pub use upkeep::PgGuard;

use crate::config::StorageSettings;
use crate::ids::Id;
use crate::store::{StoreError, Subscriber};
use connections::ConnectionThread;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("storage.postgres_url is not set")]
    NoUrl,
    #[error("storage.postgres_url is not a valid PostgreSQL URL ({url}): {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot connect to PostgreSQL at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("PostgreSQL error: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("PostgreSQL connection pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("the PostgreSQL connection thread has stopped")]
    ConnectionThreadStopped,
    #[error("stored record could not be read: {0}")]
    Codec(String),
    #[error("{0}")]
    Schema(String),
    /// An event matched more endpoints than its ID can name deliveries for.
    #[error("an event may go to at most {max} endpoints; this one matched {0}", max = crate::ids::MAX_FANOUT)]
    FanoutTooWide(usize),
}

impl From<PgError> for StoreError {
    /// A lost or refused connection is storage that cannot take writes now
    /// (a `503` to a publisher); a record that cannot be read stays that.
    fn from(error: PgError) -> StoreError {
        match error {
            PgError::Codec(reason) => StoreError::Codec(reason),
            PgError::Schema(reason) => StoreError::Schema(reason),
            PgError::FanoutTooWide(count) => StoreError::FanoutTooWide(count),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// A pool of connections to the shared database, with what this node keeps
/// in memory beside it (kept up by `upkeep.rs`).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Where the pool's connections are opened (`connections.rs`).
    connections: Arc<ConnectionThread>,
    config: tokio_postgres::Config,
    /// The URL without its password, for messages.
    url: Arc<str>,
    /// The days the log has partitions for, as far as this node knows.
    partitions: Arc<Mutex<BTreeSet<i64>>>,
    /// This process's name in the leases it takes; new at every start, so
    /// a restarted node never mistakes a dead process's lease for its own.
    node: Arc<str>,
    /// How long a claim holds without renewal.
    lease_ms: u64,
    /// Every endpoint with its filter parsed, as of the last reload.
    subscribers: Arc<RwLock<Arc<Vec<Subscriber>>>>,
    /// Held by a reload from its query to installing what it read, so an
    /// older read never replaces a newer one (an endpoint's save reloads
    /// while the periodic reload may be running).
    reloading: Arc<tokio::sync::Mutex<()>>,
    /// Signalled when work may have become due (a wake-up from any node).
    work: Arc<Notify>,
    /// False from a failed round trip until one succeeds again.
    writable: Arc<AtomicBool>,
    /// The database's size in bytes, as last read.
    size: Arc<AtomicU64>,
}

impl PgStore {
    /// Builds the pool, checks that one connection works, applies the
    /// migrations this build carries and creates the log's next partitions.
    pub async fn connect(settings: &StorageSettings) -> Result<PgStore, PgError> {
        let url = settings.postgres_url.as_deref().ok_or(PgError::NoUrl)?;
        Self::connect_url(
            url,
            settings.postgres_pool_size,
            settings.postgres_statement_timeout,
            settings.postgres_claim_lease,
        )
        .await
    }

    pub async fn connect_url(
        url: &str,
        pool_size: usize,
        statement_timeout: Duration,
        claim_lease: Duration,
    ) -> Result<PgStore, PgError> {
        let redacted = redact_url(url);
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|error| PgError::BadUrl {
                url: redacted.clone(),
                message: error.to_string(),
            })?;
        // Set at connection start-up, so every pooled connection (and the
        // listener's) has it without a statement of its own.
        // An open transaction left idle (a stalled node mid-publish) is
        // ended too, so it cannot hold back the log's watermark for long.
        let statement_ms = statement_timeout.as_millis().max(1);
        config.options(format!(
            "-c statement_timeout={statement_ms} -c idle_in_transaction_session_timeout={}",
            (statement_ms * 2).max(10_000)
        ));
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|error| PgError::BadUrl {
                url: redacted.clone(),
                message: error.to_string(),
            })?;
        let connections = ConnectionThread::start().map_err(|error| PgError::Connect {
            url: redacted.clone(),
            message: format!("cannot start the connection thread: {error}"),
        })?;
        let store = PgStore {
            pool,
            connections,
            config,
            url: redacted.into(),
            partitions: Arc::default(),
            node: format!("node-{}", ulid::Ulid::new()).into(),
            lease_ms: u64::try_from(claim_lease.as_millis()).unwrap_or(u64::MAX),
            subscribers: Arc::default(),
            reloading: Arc::default(),
            work: Arc::new(Notify::new()),
            writable: Arc::new(AtomicBool::new(true)),
            size: Arc::default(),
        };
        drop(
            store
                .client()
                .await
                .map_err(|error| store.connect_error(error))?,
        );
        store.migrate().await?;
        store.ensure_partitions(crate::clock::now_ms()).await?;
        store.reload_subscribers().await?;
        Ok(store)
    }

    /// A connection failure, named by the URL without its password, with
    /// its causes (the client's own message is only "error connecting").
    fn connect_error(&self, error: PgError) -> PgError {
        let mut message = match &error {
            PgError::Pool(deadpool_postgres::PoolError::Backend(inner)) => inner.to_string(),
            other => other.to_string(),
        };
        let mut cause = match &error {
            PgError::Pool(deadpool_postgres::PoolError::Backend(inner)) => {
                std::error::Error::source(inner)
            }
            other => std::error::Error::source(other),
        };
        while let Some(inner) = cause {
            message = format!("{message}: {inner}");
            cause = inner.source();
        }
        PgError::Connect {
            url: self.url.to_string(),
            message,
        }
    }

    /// A pooled connection, opened on the connection thread if new.
    async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        let pool = self.pool.clone();
        let taken = self.connections.run(async move { pool.get().await }).await;
        Ok(taken.ok_or(PgError::ConnectionThreadStopped)??)
    }

    /// The database URL as messages may show it (no password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Wake-ups: one message per committed `NOTIFY hookd_work` (coalesced
    /// while the receiver is behind), on a connection of its own. The
    /// channel closes when that connection is lost; listen again then.
    pub async fn listen(&self) -> Result<mpsc::Receiver<()>, PgError> {
        let (client, mut connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|error| self.connect_error(PgError::Db(error)))?;
        let (wake, woken) = mpsc::channel(1);
        let driver_wake = wake.clone();
        let mut driver = tokio::spawn(async move {
            loop {
                let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
                match message {
                    Some(Ok(AsyncMessage::Notification(_))) => {
                        // Full means a wake-up is already waiting: enough.
                        if let Err(mpsc::error::TrySendError::Closed(())) = driver_wake.try_send(())
                        {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::warn!(%error, "the PostgreSQL wake-up connection failed");
                        return;
                    }
                    None => return,
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {WAKE_CHANNEL}"))
            .await?;
        // Keeps the client (and so the connection) until the receiver is
        // dropped, and the channel open until the connection is lost.
        tokio::spawn(async move {
            tokio::select! {
                _ = wake.closed() => {}
                _ = &mut driver => {}
            }
            drop(client);
        });
        Ok(woken)
    }
}

/// `url` without its password: a URL's password is dropped, and so is a
/// `password=` pair of the key=value form.
pub fn redact_url(url: &str) -> String {
    if let Ok(mut parsed) = url::Url::parse(url) {
        if parsed.password().is_some() && parsed.set_password(None).is_ok() {
            return parsed.to_string();
        }
        if !parsed.query_pairs().any(|(key, _)| key == "password") {
            return parsed.to_string();
        }
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(key, _)| key != "password")
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(kept);
        return parsed.to_string();
    }
    url.split_whitespace()
        .filter(|pair| !pair.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An ID as stored: its 16 big-endian bytes.
fn key<K>(id: Id<K>) -> Vec<u8> {
    id.to_bytes().to_vec()
}

/// An ID read back from a bytea column.
fn id_of<K>(bytes: &[u8]) -> Result<Id<K>, PgError> {
    <[u8; 16]>::try_from(bytes)
        .map(Id::from_bytes)
        .map_err(|_| PgError::Codec(format!("an ID of {} bytes", bytes.len())))
}

/// Milliseconds as PostgreSQL's bigint.
fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A bigint read back as milliseconds.
fn ms_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A record for a jsonb column.
fn json<T: serde::Serialize>(value: &T) -> Result<String, PgError> {
    serde_json::to_string(value).map_err(|error| PgError::Codec(error.to_string()))
}

/// A record read back from a jsonb column (selected as `::text`, so large
/// integers such as IDs keep every digit).
fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, PgError> {
    serde_json::from_str(text).map_err(|error| PgError::Codec(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn a_url_loses_its_password() {
        let redacted = redact_url("postgres://hookd:s3cret@db.internal:5432/hookd");
        assert_eq!(redacted, "postgres://hookd@db.internal:5432/hookd");
        let redacted =
            redact_url("postgresql://db/hookd?user=hookd&password=s3cret&sslmode=disable");
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(redacted.contains("sslmode=disable"), "{redacted}");
        let redacted = redact_url("host=db user=hookd password=s3cret dbname=hookd");
        assert_eq!(redacted, "host=db user=hookd dbname=hookd");
        assert_eq!(redact_url("postgres://db/hookd"), "postgres://db/hookd");
    }
}
