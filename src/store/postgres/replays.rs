//! Replay jobs, with the lease that makes exactly one node run a job: a
//! node takes a running job whose lease is free or has run out, renews the
//! lease with every step, and saves a step only while it still holds the
//! lease and the cursor is where the step began; a node that dies leaves
//! the job to whichever node takes the lease next, which resumes it from
//! the saved cursor.

use std::collections::HashMap;

use super::claims::NOTIFY_WORK;
use super::prepared::Prepared;
use super::rows::insert_deliveries;
use super::{from_json, json, key, ms, PgError, PgStore};
use crate::domain::replay::{next_picked, ReplayJob, ReplaySelection, ReplayStatus};
use crate::domain::{Delivery, Event};
use crate::ids::{EventId, ReplayId};
use crate::store::{ReplayBatch, StoreError};

impl PgStore {
    pub async fn create_replay(&self, job: &ReplayJob) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute_cached(
                "INSERT INTO replays (id, status, job) VALUES ($1, $2, $3::text::jsonb)",
                &[&key(job.id), &job.status.as_str(), &json(job)?],
            )
            .await?;
        Ok(())
    }

    pub async fn get_replay(&self, id: ReplayId) -> Result<Option<ReplayJob>, PgError> {
        let client = self.client().await?;
        let row = client
            .query_opt_cached("SELECT job::text FROM replays WHERE id = $1", &[&key(id)])
            .await?;
        row.map(|row| from_json(row.get(0))).transpose()
    }

    /// Jobs newest first, older than `before`.
    pub async fn list_replays(
        &self,
        before: Option<ReplayId>,
        limit: usize,
    ) -> Result<Vec<ReplayJob>, PgError> {
        let client = self.client().await?;
        let rows = client
            .query_cached(
                "SELECT job::text FROM replays WHERE id < $1 ORDER BY id DESC LIMIT $2",
                &[
                    &before.map_or_else(|| vec![0xff; 17], key),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await?;
        rows.iter().map(|row| from_json(row.get(0))).collect()
    }
}

/// Jobs in the way the service layer drives them: a node resumes the jobs
/// no live lease holds, and each step renews the lease, reads its batch,
/// and writes the deliveries `select` chose with the job's progress.
impl PgStore {
    /// Running jobs no node holds a live lease on.
    pub async fn running_replays(&self) -> Result<Vec<ReplayJob>, PgError> {
        let client = self.client().await?;
        let rows = client
            .query_cached(
                "SELECT job::text FROM replays
                  WHERE status = 'running' AND (lease_until IS NULL OR lease_until <= $1)
                  ORDER BY id",
                &[&ms(crate::clock::now_ms())],
            )
            .await?;
        rows.iter().map(|row| from_json(row.get(0))).collect()
    }

    /// Ends a job as failed, keeping its counts.
    pub async fn fail_replay(
        &self,
        id: ReplayId,
        error: String,
        now_ms: u64,
    ) -> Result<(), PgError> {
        if let Some(mut job) = self.get_replay(id).await? {
            job.status = ReplayStatus::Failed;
            job.error = Some(error);
            job.finished_at_ms = Some(now_ms);
            let client = self.client().await?;
            client
                .execute_cached(
                    "UPDATE replays SET status = $2, job = $3::text::jsonb,
                            runner = NULL, lease_until = NULL
                      WHERE id = $1",
                    &[&key(id), &job.status.as_str(), &json(&job)?],
                )
                .await?;
        }
        Ok(())
    }

    /// One step of a running job, if this node holds (or can take) its
    /// lease: `None` when another node runs it.
    pub async fn replay_step(
        &self,
        id: ReplayId,
        batch_size: usize,
        select: impl FnOnce(&ReplayJob, &ReplayBatch) -> Result<(ReplayJob, Vec<Delivery>), StoreError>,
    ) -> Result<Option<ReplayJob>, StoreError> {
        let now = crate::clock::now_ms();
        let client = self.client().await?;
        let leased = client
            .query_opt_cached(
                "UPDATE replays SET runner = $2, lease_until = $4
                  WHERE id = $1 AND status = 'running'
                    AND (runner IS NULL OR runner = $2 OR lease_until <= $3)
                  RETURNING job::text",
                &[
                    &key(id),
                    &self.node(),
                    &ms(now),
                    &ms(now.saturating_add(self.lease_ms)),
                ],
            )
            .await?;
        drop(client);
        let Some(row) = leased else {
            let job = self.get_replay(id).await?;
            return Ok(job.filter(|j| j.status != ReplayStatus::Running));
        };
        let job: ReplayJob = from_json(row.get(0))?;
        let mut batch = self.next_batch(&job, batch_size).await?;
        if job.request.only_failed {
            for event in &batch.events {
                let deliveries = self.deliveries_of_event(event.id).await?;
                batch.deliveries.insert(event.id, deliveries);
            }
        }
        let (updated, scheduled) = select(&job, &batch)?;
        let saved = self.save_step(&job, &updated, &scheduled, &batch).await?;
        Ok(Some(if saved { updated } else { job }))
    }

    /// Writes a step's deliveries with the job's progress, if this node
    /// still holds the lease and the cursor is where the step started.
    async fn save_step(
        &self,
        before: &ReplayJob,
        job: &ReplayJob,
        scheduled: &[Delivery],
        batch: &ReplayBatch,
    ) -> Result<bool, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt_cached(
                "SELECT job::text FROM replays WHERE id = $1 AND runner = $2 FOR UPDATE",
                &[&key(job.id), &self.node()],
            )
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let stored: ReplayJob = from_json(row.get(0))?;
        if stored.cursor != before.cursor || stored.status != ReplayStatus::Running {
            return Ok(false);
        }
        let types: HashMap<EventId, &str> = batch
            .events
            .iter()
            .map(|e| (e.id, e.event_type.as_str()))
            .collect();
        let rows: Vec<(Delivery, &str)> = scheduled
            .iter()
            .map(|d| (d.clone(), types.get(&d.event_id).copied().unwrap_or("")))
            .collect();
        insert_deliveries(&tx, &rows).await?;
        let finished = job.status != ReplayStatus::Running;
        tx.execute_cached(
            "UPDATE replays SET status = $2, job = $3::text::jsonb,
                    runner = CASE WHEN $4 THEN NULL ELSE runner END,
                    lease_until = CASE WHEN $4 THEN NULL ELSE lease_until END
              WHERE id = $1",
            &[&key(job.id), &job.status.as_str(), &json(job)?, &finished],
        )
        .await?;
        if !scheduled.is_empty() {
            tx.batch_execute(NOTIFY_WORK).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The events of the job's next step, after its cursor.
    async fn next_batch(&self, job: &ReplayJob, size: usize) -> Result<ReplayBatch, PgError> {
        match &job.request.selection {
            ReplaySelection::Range { from_ms, to_ms } => {
                let (after_ms, after_id) = match job.cursor {
                    Some(cursor) => (ms(cursor.created_ms()), key(cursor)),
                    None => (-1, Vec::new()),
                };
                let client = self.client().await?;
                let rows = client
                    .query_cached(
                        "SELECT record::text FROM events
                          WHERE created_ms >= $1 AND created_ms < $2
                            AND (created_ms, id) > ($3, $4)
                          ORDER BY created_ms, id LIMIT $5",
                        &[
                            &ms(*from_ms),
                            &ms(*to_ms),
                            &after_ms,
                            &after_id,
                            &i64::try_from(size + 1).unwrap_or(i64::MAX),
                        ],
                    )
                    .await?;
                let mut events: Vec<Event> = rows
                    .iter()
                    .map(|row| from_json(row.get(0)))
                    .collect::<Result<_, _>>()?;
                let exhausted = events.len() <= size;
                events.truncate(size);
                Ok(ReplayBatch {
                    last: events.last().map(|e| e.id),
                    events,
                    deliveries: HashMap::new(),
                    exhausted,
                })
            }
            ReplaySelection::Events(ids) => {
                let (chosen, exhausted) = next_picked(ids, job.cursor, size);
                let mut events = Vec::with_capacity(chosen.len());
                for id in chosen {
                    // Removed by retention since the request was accepted: skip it.
                    if let Some(event) = self.get_event(*id).await? {
                        events.push(event);
                    }
                }
                Ok(ReplayBatch {
                    events,
                    deliveries: HashMap::new(),
                    last: chosen.last().copied(),
                    exhausted,
                })
            }
        }
    }
}
