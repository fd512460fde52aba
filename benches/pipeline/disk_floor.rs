//! The footprint scenario's baseline: what one sled tree holding only the
//! events takes on disk, with nothing built above it.
//!
//! A fresh database, opened as the ceiling opens its own
//! (`ceiling::open_bare_sled`), gets the same publish items the scenario
//! sends, each stored as its JSON under a monotonic key (as the one-write
//! ceiling stores them) and flushed every `FLUSH_EVERY` inserts, as a group
//! commit would. Then the older half is removed, as a retention sweep
//! removes it. Both figures are taken after the database is closed, as the
//! scenario takes its own after a stop.
//!
//! Read beside hookd's figure, this separates what hookd's own records
//! add from what sled does with any log of 1 KiB values: it rewrites a
//! leaf page whole as the page fills, and removing values frees space
//! inside its files for reuse without shrinking them.

use serde_json::{json, Value};

use crate::bodies::publish_body;
use crate::ceiling::open_bare_sled;
use crate::figures::{dir_bytes, err, round};
use crate::BenchResult;

const FLUSH_EVERY: usize = 1_000;

pub struct DiskFloor {
    value_bytes: usize,
    bytes_per_event: f64,
    pub bytes_per_retained_event: f64,
}

impl DiskFloor {
    pub fn figures(&self) -> Value {
        json!({
            "value_bytes": self.value_bytes,
            "bytes_per_event": round(self.bytes_per_event),
            "bytes_per_retained_event": round(self.bytes_per_retained_event),
        })
    }
}

/// Stores `events` events, removes the older half, and says what each took.
pub async fn measure(events: usize) -> BenchResult<DiskFloor> {
    actix_web::rt::task::spawn_blocking(move || measure_blocking(events))
        .await
        .map_err(err)?
}

fn measure_blocking(events: usize) -> BenchResult<DiskFloor> {
    let dir = tempfile::Builder::new()
        .prefix("hookd-disk-floor-")
        .tempdir()
        .map_err(err)?;
    let path = dir.path().join("db");
    let value = publish_body("bench.footprint", None);
    let removed = events / 2;

    let db = open_bare_sled(&path)?;
    for key in 0..events {
        db.insert(key_of(key), value.as_slice()).map_err(err)?;
        flush_at(&db, key)?;
    }
    close(db)?;
    let stored = dir_bytes(&path);

    let db = open_bare_sled(&path)?;
    for key in 0..removed {
        db.remove(key_of(key)).map_err(err)?;
        flush_at(&db, key)?;
    }
    close(db)?;
    let after = dir_bytes(&path);

    Ok(DiskFloor {
        value_bytes: value.len(),
        bytes_per_event: stored as f64 / events as f64,
        bytes_per_retained_event: after as f64 / (events - removed) as f64,
    })
}

fn close(db: sled::Db) -> BenchResult<()> {
    db.flush().map_err(err)?;
    drop(db);
    Ok(())
}

fn key_of(n: usize) -> [u8; 8] {
    (n as u64).to_be_bytes()
}

fn flush_at(db: &sled::Db, key: usize) -> BenchResult<()> {
    if key % FLUSH_EVERY == FLUSH_EVERY - 1 {
        db.flush().map_err(err)?;
    }
    Ok(())
}
