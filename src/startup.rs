//! Wiring: settings → logging → store → listeners and dispatcher → signals.

use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

use crate::api::{self, AppState};
use crate::cli::{Cli, Command};
use crate::clock::now_ms;
use crate::config::{LogFormat, Settings, StorageBackend};
use crate::delivery::dispatcher::Dispatcher;
use crate::delivery::recorder::Recorder;
use crate::shutdown::Stopper;
use crate::store::StoreGuard;
use crate::{replay, retention, storage_watch};

#[derive(Debug, thiserror::Error)]
enum StartupError {
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the store at {path}: {source}")]
    Store {
        path: String,
        source: crate::store::StoreError,
    },
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    #[error(transparent)]
    Tls(#[from] api::tls::TlsError),
}

pub fn run(cli: Cli) -> ExitCode {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Admin(command) => crate::cli::run_admin(&config, &cli.admin, command),
        Command::Migrate(args) => crate::cli::run_migrate(&config, args),
        Command::CheckConfig => match Settings::load(&config) {
            Ok(settings) => {
                let text = serde_json::to_string_pretty(&settings.masked()).unwrap_or_default();
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("hookd: {error}");
                ExitCode::from(2)
            }
        },
        Command::Serve => {
            let settings = match Settings::load(&config) {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("hookd: {error}");
                    return ExitCode::from(2);
                }
            };
            // Held until the process ends: dropping it writes what is queued.
            let _log_writer = init_logging(&settings);
            match actix_web::rt::System::new().block_on(serve(Arc::new(settings))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(%error, "hookd stopped");
                    eprintln!("hookd: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Lines the logging thread may hold before a writer waits. The crate's
/// default, 128,000, allocates its queue up front: about 4 MiB of a
/// daemon that aims to start under 128 MiB (see BENCHMARKS.md). 16,384
/// lines still absorb more than half a second of one line per request at
/// the highest ingest rate measured there (about 25,000 a second).
const LOG_QUEUE_LINES: usize = 16_384;

/// Log lines go to stdout through a thread of their own, so the HTTP
/// workers and the dispatcher never wait on a write (a line per request
/// adds up at thousands a second). Nothing is dropped: a full queue makes
/// the thread that logs wait instead.
fn init_logging(settings: &Settings) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = match settings.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    guard
}

async fn serve(settings: Arc<Settings>) -> Result<(), StartupError> {
    // awc's rustls connector needs a process-wide crypto provider;
    // an error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let data_dir = &settings.storage.data_dir;
    let data_dir_error = |source| StartupError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(data_dir_error)?;
    check_writable(data_dir).map_err(data_dir_error)?;
    let location = match (&settings.storage.backend, &settings.storage.postgres_url) {
        (StorageBackend::Postgres, Some(url)) => crate::store::postgres::redact_url(url),
        _ => settings.storage.data_dir.join("db").display().to_string(),
    };
    let store_error = |source| StartupError::Store {
        path: location.clone(),
        source,
    };
    let guard = StoreGuard::open(&settings.storage)
        .await
        .map_err(store_error)?;
    let store = guard.store();
    let stopper = Stopper::default();
    let requeued = store.requeue_claimed(now_ms()).await.map_err(store_error)?;
    if requeued > 0 {
        tracing::info!(
            requeued,
            "attempts interrupted by the last stop are due again"
        );
    }
    actix_web::rt::spawn(replay::adopt(
        store.clone(),
        settings.clone(),
        stopper.handle(),
    ));
    let sweeper = retention::run(store.clone(), settings.clone(), stopper.handle());
    actix_web::rt::spawn(sweeper);
    let admin_tokens =
        api::auth_tokens(&settings.admin.tokens, data_dir).map_err(data_dir_error)?;
    let portal_key = api::portal_token::load_or_create_key(data_dir).map_err(data_dir_error)?;

    let certificate = public_certificate(&settings)?;
    let tls = certificate
        .as_ref()
        .map(|cert| cert.server_config())
        .transpose()?;
    let listeners = api::bind(
        AppState {
            store: store.clone(),
            settings: settings.clone(),
            admin_tokens,
            portal_key,
            registration_limiter: Default::default(),
            shutdown: stopper.source(),
        },
        tls,
    )
    .map_err(StartupError::Listen)?;
    let public = listeners.public.handle();
    let admin = listeners.admin.handle();
    actix_web::rt::spawn(listeners.public);
    actix_web::rt::spawn(listeners.admin);

    actix_web::rt::spawn(storage_watch::run(store.clone(), stopper.handle()));
    let is_tls = certificate.is_some();
    actix_web::rt::spawn(api::tls::reload_on_sighup(certificate, stopper.handle()));
    actix_web::rt::spawn(
        Dispatcher {
            store: store.clone(),
            settings: settings.clone(),
            shutdown: stopper.handle(),
            recorder: Rc::new(Recorder::start(store.clone()).map_err(store_error)?),
        }
        .run(),
    );
    tracing::info!(
        public = %listeners.public_addr,
        admin = %listeners.admin_addr,
        tls = is_tls,
        version = env!("CARGO_PKG_VERSION"),
        "listening"
    );
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    // The listeners finish their requests while the background tasks (the
    // dispatcher, the retention sweep, replays, the storage watch) stop; only
    // then is the store closed: flushed, and the committer thread joined.
    tokio::join!(public.stop(true), admin.stop(true), stopper.stop());
    guard.close().map_err(store_error)?;
    tracing::info!("stopped");
    Ok(())
}

/// The public listener's certificate, when configured. Without one, a
/// public listener reachable from other machines gets a warning: partners'
/// shared secrets would cross the network in clear.
fn public_certificate(
    settings: &Settings,
) -> Result<Option<Arc<api::tls::ReloadableCert>>, StartupError> {
    let server = &settings.server;
    match (&server.public_tls_cert, &server.public_tls_key) {
        (Some(cert), Some(key)) => Ok(Some(api::tls::ReloadableCert::load(cert, key)?)),
        _ => {
            if !server.public_bind.ip().is_loopback() {
                tracing::warn!(
                    public = %server.public_bind,
                    "the public listener is reachable from other machines without TLS: partners' secrets travel in clear; set server.public_tls_cert and server.public_tls_key, or put a TLS reverse proxy in front and bind it to loopback"
                );
            }
            Ok(None)
        }
    }
}

/// Fails early, naming the directory, when the data dir exists but refuses
/// writes (read-only mount, wrong owner): sled's own error names no path.
fn check_writable(data_dir: &std::path::Path) -> std::io::Result<()> {
    let probe = data_dir.join(".write-check");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
