//! The one-write ceiling: what a publish costs when it is exactly one
//! durable write. A bare actix-web handler parses the same body, inserts each
//! event into a fresh sled database under a monotonic key (one insert per
//! event), and answers 202 only once a flush covering it has finished.
//!
//! Flushes are shared the way hookd's own group commit shares them
//! (src/store/sled/committer.rs): handlers never flush themselves; they queue a
//! oneshot for one committer thread, which takes every waiter queued so far,
//! runs one `Db::flush`, and answers them all. sled's `flush_async` is not
//! used: it deadlocks when many tasks call it at once.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::baseline::Server;
use crate::figures::err;
use crate::BenchResult;

/// The database, removed with the server.
pub struct Ceiling {
    pub server: Server,
    _dir: tempfile::TempDir,
}

struct State {
    db: sled::Db,
    next_key: AtomicU64,
    commits: mpsc::Sender<oneshot::Sender<bool>>,
}

/// Serves `POST /api/v1/events` and `POST /api/v1/events/batch`.
pub fn start() -> BenchResult<Ceiling> {
    let dir = tempfile::Builder::new()
        .prefix("hookd-ceiling-")
        .tempdir()
        .map_err(err)?;
    let db = open_bare_sled(&dir.path().join("db"))?;
    let (commits, waiters) = mpsc::channel();
    let committer_db = db.clone();
    std::thread::Builder::new()
        .name("ceiling-committer".into())
        .spawn(move || commit_loop(&committer_db, &waiters))
        .map_err(err)?;
    let state = web::Data::new(State {
        db,
        next_key: AtomicU64::new(0),
        commits,
    });
    let listener = TcpListener::bind("127.0.0.1:0").map_err(err)?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .route("/api/v1/events", web::post().to(publish))
            .route("/api/v1/events/batch", web::post().to(publish_batch))
    })
    .workers(2)
    .disable_signals()
    .listen(listener.try_clone().map_err(err)?)
    .map_err(err)?
    .run();
    Ok(Ceiling {
        server: Server::spawn(&listener, server)?,
        _dir: dir,
    })
}

/// A sled database at `path` with hookd's default page cache
/// (`storage.cache_capacity`): the store every baseline compares against.
pub fn open_bare_sled(path: &Path) -> BenchResult<sled::Db> {
    sled::Config::new()
        .path(path)
        .cache_capacity(hookd::config::StorageSettings::default().cache_capacity)
        .open()
        .map_err(err)
}

/// Ends when the server is gone: its state holds the only sender.
fn commit_loop(db: &sled::Db, waiters: &mpsc::Receiver<oneshot::Sender<bool>>) {
    while let Ok(first) = waiters.recv() {
        let batch: Vec<_> = std::iter::once(first).chain(waiters.try_iter()).collect();
        let flushed = db.flush().is_ok();
        for waiter in batch {
            let _ = waiter.send(flushed);
        }
    }
}

impl State {
    /// One insert of the re-encoded event under the next key.
    fn insert(&self, event: &Value) -> bool {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        serde_json::to_vec(event)
            .ok()
            .is_some_and(|value| self.db.insert(key, value).is_ok())
    }

    /// Resolves once a flush that started after this call has finished.
    async fn commit(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        self.commits.send(tx).is_ok() && rx.await.unwrap_or(false)
    }
}

async fn publish(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    if !state.insert(&event) || !state.commit().await {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Accepted()
        .json(json!({"id": "evt_ceiling", "type": event["type"], "deliveries": 1}))
}

async fn publish_batch(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    let Ok(events) = serde_json::from_slice::<Vec<Value>>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    if !events.iter().all(|event| state.insert(event)) || !state.commit().await {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Accepted().json(json!({"events": events.len()}))
}
