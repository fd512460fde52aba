//! `hookd migrate --to postgres`: moves a node's embedded (sled) data
//! directory into an empty PostgreSQL database, so an installation can
//! scale out without losing its log, its deliveries or their history.
//!
//! It reads `storage.data_dir` and writes to `storage.postgres_url` (or
//! `--postgres-url`), whatever `storage.backend` says: the switch of
//! backend is the operator's next step. It refuses a database that already
//! holds records (never merging into a live one) and a data directory a
//! running hookd holds. Records keep their IDs; each kind is copied in
//! pages, one transaction per page, so memory stays flat.

use std::cell::Cell;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;

use crate::config::{Durability, Settings};
use crate::store::postgres::{redact_url, PgStore};
use crate::store::{ExportPage, SledStore, Store, StoreError, StoreGuard};

/// Rows per page read from sled and per transaction written.
const BATCH: usize = 1000;

/// Where `hookd migrate` can move data to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The PostgreSQL database of `storage.postgres_url`.
    Postgres,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The backend to move the data directory into.
    #[arg(long, value_enum)]
    pub to: Target,
    /// The target database [default: the config's storage.postgres_url].
    #[arg(long)]
    pub postgres_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum MigrateError {
    #[error("{0}")]
    Refused(String),
    #[error("reading the data directory failed: {0}")]
    Source(StoreError),
    #[error("writing to PostgreSQL failed: {0}")]
    Target(String),
}

impl From<crate::store::postgres::PgError> for MigrateError {
    fn from(error: crate::store::postgres::PgError) -> Self {
        MigrateError::Target(error.to_string())
    }
}

/// Runs the command: exit 0 with a summary, 1 (with the reason) when
/// refused or failed, 2 for an unusable configuration.
pub fn run(config: &Path, args: MigrateArgs) -> ExitCode {
    let settings = match Settings::load(config) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("hookd: {error}");
            return ExitCode::from(2);
        }
    };
    let Target::Postgres = args.to;
    let Some(url) = args.postgres_url.or(settings.storage.postgres_url.clone()) else {
        eprintln!(
            "hookd: no target database: set storage.postgres_url (HOOKD__STORAGE__POSTGRES_URL) or pass --postgres-url"
        );
        return ExitCode::FAILURE;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hookd: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(migrate(&settings, &url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hookd: migrate refused or failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// How many of each kind were copied, in the order they were.
#[derive(Default)]
struct Counts(Vec<(&'static str, u64)>);

impl Counts {
    fn done(&mut self, kind: &'static str, count: u64) {
        println!("{kind}: {count} copied");
        self.0.push((kind, count));
    }
}

async fn migrate(settings: &Settings, url: &str) -> Result<(), MigrateError> {
    let storage = &settings.storage;
    let db_path = storage.data_dir.join("db");
    if !db_path.is_dir() {
        return Err(MigrateError::Refused(format!(
            "there is no hookd database at {} (storage.data_dir)",
            db_path.display()
        )));
    }
    let guard = open_source(&db_path, storage.cache_capacity)?;
    let store = guard.store();
    // One batch is written at a time, so a few connections are plenty; a
    // batch of large events may take longer than a publish is allowed.
    let target = PgStore::connect_url(
        url,
        storage.postgres_pool_size.min(4),
        storage
            .postgres_statement_timeout
            .max(Duration::from_secs(60)),
        storage.postgres_claim_lease,
    )
    .await?;
    let holding = target.tables_with_records().await?;
    if !holding.is_empty() {
        return Err(MigrateError::Refused(format!(
            "the database at {} already holds records ({}); migrate only into an empty database",
            redact_url(url),
            holding.join(", ")
        )));
    }
    println!("migrating {} into {}", db_path.display(), redact_url(url));
    let counts = copy_all(&store, &target).await.map_err(|error| match error {
        MigrateError::Target(reason) => MigrateError::Target(format!(
            "{reason}; the database holds part of the data now: drop and recreate it before running migrate again"
        )),
        other => other,
    })?;
    guard.close().map_err(MigrateError::Source)?;
    let summary: Vec<String> = counts
        .0
        .iter()
        .map(|(kind, count)| format!("{count} {kind}"))
        .collect();
    println!("done: {}", summary.join(", "));
    println!(
        "set storage.backend = \"postgres\" (and storage.postgres_url) and start hookd on the database"
    );
    Ok(())
}

/// Opens the embedded database; a lock held by a running hookd is said so.
fn open_source(db_path: &Path, cache_capacity: u64) -> Result<StoreGuard, MigrateError> {
    StoreGuard::open_at(db_path, cache_capacity, Durability::Flush).map_err(|error| match &error {
        StoreError::Sled(::sled::Error::Io(io)) if io.to_string().contains("lock") => {
            MigrateError::Refused(format!(
                "the data directory {} is in use (a hookd is running on it?): stop it first",
                db_path.display()
            ))
        }
        _ => MigrateError::Source(error),
    })
}

/// Reads one page of a kind from the embedded store, after a key.
type ReadPage<T> = fn(&SledStore, Option<&[u8]>, usize) -> Result<ExportPage<T>, StoreError>;

/// Walks one kind page by page: `read` gets a page of the embedded store
/// after a key on the blocking pool, `write` imports it.
async fn copy_kind<T, W, F>(
    store: &Store,
    kind: &'static str,
    read: ReadPage<T>,
    mut write: W,
) -> Result<u64, MigrateError>
where
    T: Send + 'static,
    W: FnMut(Vec<T>) -> F,
    F: std::future::Future<Output = Result<u64, MigrateError>>,
{
    let source = store
        .embedded_backend()
        .ok_or_else(|| MigrateError::Refused("the source is not an embedded database".into()))?;
    let mut after: Option<Vec<u8>> = None;
    let mut copied = 0u64;
    let mut pages = 0u64;
    loop {
        let from = after.take();
        let page = source
            .blocking(move |s| read(&s, from.as_deref(), BATCH))
            .await
            .map_err(MigrateError::Source)?;
        copied += write(page.records).await?;
        pages += 1;
        if pages.is_multiple_of(20) {
            println!("{kind}: {copied} so far");
        }
        match page.resume {
            Some(resume) => after = Some(resume),
            None => return Ok(copied),
        }
    }
}

/// Copies every kind, records others refer to first.
async fn copy_all(store: &Store, t: &PgStore) -> Result<Counts, MigrateError> {
    let mut counts = Counts::default();

    let n = copy_kind(
        store,
        "accounts",
        |s, a, l| s.export_accounts(a, l),
        |page| async move {
            t.import_accounts(&page).await?;
            Ok(page.len() as u64)
        },
    )
    .await?;
    counts.done("accounts", n);

    let n = copy_kind(
        store,
        "endpoints",
        |s, a, l| s.export_endpoints(a, l),
        |page| async move {
            t.import_endpoints(&page).await?;
            Ok(page.len() as u64)
        },
    )
    .await?;
    counts.done("endpoints", n);

    let n = copy_kind(
        store,
        "partners",
        |s, a, l| s.export_partners(a, l),
        |page| async move {
            t.import_partners(&page).await?;
            Ok(page.len() as u64)
        },
    )
    .await?;
    counts.done("partners", n);

    let deliveries = Cell::new(0u64);
    let copied = &deliveries;
    let n = copy_kind(
        store,
        "events",
        |s, a, l| s.export_events(a, l),
        |page| async move {
            let events: Vec<_> = page.iter().map(|e| e.event.clone()).collect();
            t.import_events(&events).await?;
            let owed: Vec<_> = page
                .into_iter()
                .flat_map(|e| {
                    let event_type = e.event.event_type;
                    e.deliveries
                        .into_iter()
                        .map(move |d| (d, event_type.clone()))
                })
                .collect();
            for chunk in owed.chunks(BATCH) {
                t.import_deliveries(chunk).await?;
            }
            copied.set(copied.get() + owed.len() as u64);
            Ok(events.len() as u64)
        },
    )
    .await?;
    counts.done("events", n);
    counts.done("deliveries", deliveries.get());

    let n = copy_kind(
        store,
        "attempts",
        |s, a, l| s.export_attempts(a, l),
        |page| async move {
            t.import_attempts(&page).await?;
            Ok(page.len() as u64)
        },
    )
    .await?;
    counts.done("attempts", n);

    let n = copy_kind(
        store,
        "replay jobs",
        |s, a, l| s.export_replays(a, l),
        |page| async move {
            t.import_replays(&page).await?;
            Ok(page.len() as u64)
        },
    )
    .await?;
    counts.done("replay jobs", n);

    let n = copy_kind(
        store,
        "idempotency keys",
        |s, a, l| s.export_idempotency(a, l),
        |page| async move {
            t.import_idempotency(&page).await?;
            Ok(page.len() as u64)
        },
    )
    .await?;
    counts.done("idempotency keys", n);

    let n = copy_kind(
        store,
        "endpoint health",
        |s, a, l| s.export_health(a, l),
        |page| async move {
            t.import_health(&page).await?;
            Ok(page.len() as u64)
        },
    )
    .await?;
    counts.done("endpoint health", n);
    Ok(counts)
}
