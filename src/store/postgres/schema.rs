//! The database's shape: the migrations this build carries, applied in
//! order and recorded in `hookd_schema`, and the log's daily partitions.
//!
//! Migrations run in one transaction that first takes a transaction-level
//! advisory lock, so nodes starting together apply each migration once: the
//! others wait, then find it recorded. A database migrated by a newer build
//! is refused rather than misread.

use super::{PgError, PgStore};
use crate::clock;

/// Embedded in the binary, applied in this order; the version of each is its
/// position from 1.
const MIGRATIONS: &[(&str, &str)] =
    &[("0001_initial", include_str!("migrations/0001_initial.sql"))];

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Advisory lock keys, fixed so every node takes the same ones ("hookd" and
/// a purpose, as bytes).
const MIGRATION_LOCK: i64 = 0x686f_6f6b_645f_6d67;
const PARTITION_LOCK: i64 = 0x686f_6f6b_645f_7074;

pub(super) const DAY_MS: u64 = 86_400_000;

/// How many days ahead of today the log has partitions ready, so a publish
/// near midnight never waits for one to be created.
const DAYS_AHEAD: u64 = 2;

impl PgStore {
    /// Applies the migrations the database lacks, under the migration lock.
    pub(super) async fn migrate(&self) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS hookd_schema (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
        let row = tx
            .query_one("SELECT coalesce(max(version), 0) FROM hookd_schema", &[])
            .await?;
        let current: i32 = row.get(0);
        if current > SCHEMA_VERSION {
            return Err(PgError::Schema(format!(
                "the database holds hookd schema version {current}; this build knows up to version {SCHEMA_VERSION}: run a newer hookd"
            )));
        }
        for (version, (name, sql)) in (1..).zip(MIGRATIONS.iter()).skip(current as usize) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO hookd_schema (version, name) VALUES ($1, $2)",
                &[&version, name],
            )
            .await?;
            tracing::info!(version, name, "applied a PostgreSQL migration");
        }
        tx.commit().await?;
        Ok(())
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<i32, PgError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT coalesce(max(version), 0) FROM hookd_schema", &[])
            .await?;
        Ok(row.get(0))
    }

    /// Creates the log's partitions for the day of `now_ms` and the next
    /// [`DAYS_AHEAD`] days, where missing. Called at connect and by the
    /// maintenance sweep.
    pub async fn ensure_partitions(&self, now_ms: u64) -> Result<(), PgError> {
        let today = now_ms / DAY_MS;
        let days: Vec<u64> = (today..=today + DAYS_AHEAD).collect();
        self.ensure_days(&days).await
    }

    /// Creates the partitions of these days where missing. Serialised by
    /// an advisory lock: two nodes creating the same partition at once
    /// would otherwise collide in the catalog.
    pub(super) async fn ensure_days(&self, days: &[u64]) -> Result<(), PgError> {
        let missing: Vec<u64> = {
            let known = self
                .partitions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            days.iter()
                .copied()
                .filter(|day| !known.contains(&(*day as i64)))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
            .await?;
        for day in &missing {
            let start = day * DAY_MS;
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ({start}) TO ({})",
                partition_name(*day),
                start + DAY_MS
            ))
            .await?;
        }
        tx.commit().await?;
        let mut known = self
            .partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        known.extend(missing.iter().map(|day| *day as i64));
        Ok(())
    }

    /// Forgets a dropped partition, so a late event of that day creates it
    /// again rather than failing.
    pub(super) fn forget_partition(&self, day: u64) {
        self.partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&(day as i64));
    }

    /// The days the log has partitions for, oldest first.
    pub async fn partition_days(&self) -> Result<Vec<u64>, PgError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'events'::regclass",
                &[],
            )
            .await?;
        let mut days: Vec<u64> = rows
            .iter()
            .filter_map(|row| day_of_partition(row.get(0)))
            .collect();
        days.sort_unstable();
        Ok(days)
    }
}

/// `events_YYYYMMDD` (UTC) for the day numbered `day` since the epoch.
pub(super) fn partition_name(day: u64) -> String {
    let date = clock::format_rfc3339(day * DAY_MS);
    format!("events_{}", date.get(..10).unwrap_or("").replace('-', ""))
}

/// The day a partition's name stands for.
fn day_of_partition(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("events_")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = format!(
        "{}-{}-{}T00:00:00Z",
        &digits[..4],
        &digits[4..6],
        &digits[6..]
    );
    clock::parse_rfc3339(&date).map(|ms| ms / DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip_through_days() {
        let day = clock::parse_rfc3339("2024-02-29T13:00:00Z").unwrap() / DAY_MS;
        assert_eq!(partition_name(day), "events_20240229");
        assert_eq!(day_of_partition("events_20240229"), Some(day));
        assert_eq!(day_of_partition("events_default"), None);
    }
}
