//! Bulk inserts of whole events and deliveries, one statement per batch
//! (`unnest` over column arrays): shared by publishing, replay steps and the
//! import from the embedded backend, so every path writes the same columns.

use deadpool_postgres::GenericClient;

use super::deliveries::attempts;
use super::prepared::Prepared;
use super::{json, key, ms, PgError};
use crate::domain::{Delivery, Event};

pub(super) async fn insert_events(
    client: &impl GenericClient,
    events: &[&Event],
) -> Result<(), PgError> {
    let times: Vec<i64> = events.iter().map(|e| ms(e.created_at_ms())).collect();
    let ids: Vec<Vec<u8>> = events.iter().map(|e| key(e.id)).collect();
    let accounts: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.account_id.as_ref().map(|a| a.as_str()))
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let records = events
        .iter()
        .map(|e| json(*e))
        .collect::<Result<Vec<_>, _>>()?;
    client
        .execute_cached(
            "INSERT INTO events (created_ms, id, account_id, event_type, record)
             SELECT t, i, a, y, r::jsonb
               FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::text[])
                    AS u(t, i, a, y, r)",
            &[&times, &ids, &accounts, &types, &records],
        )
        .await?;
    Ok(())
}

/// Deliveries as given, each with its event's type, with no lease.
pub(super) async fn insert_deliveries(
    client: &impl GenericClient,
    deliveries: &[(Delivery, &str)],
) -> Result<(), PgError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Delivery) -> Vec<u8>| -> Vec<Vec<u8>> {
        deliveries.iter().map(|(d, _)| f(d)).collect()
    };
    let ids = column(|d| key(d.id));
    let events = column(|d| key(d.event_id));
    let endpoints = column(|d| key(d.endpoint_id));
    let types: Vec<&str> = deliveries.iter().map(|(_, t)| *t).collect();
    let statuses: Vec<&str> = deliveries.iter().map(|(d, _)| d.status.as_str()).collect();
    let counts: Vec<i32> = deliveries
        .iter()
        .map(|(d, _)| attempts(d.attempts))
        .collect();
    let due: Vec<Option<i64>> = deliveries
        .iter()
        .map(|(d, _)| d.next_attempt_ms.map(ms))
        .collect();
    let updated: Vec<i64> = deliveries
        .iter()
        .map(|(d, _)| ms(d.updated_at_ms))
        .collect();
    client
        .execute_cached(
            "INSERT INTO deliveries
                 (id, event_id, endpoint_id, event_type, status, attempts, next_attempt_ms, updated_ms)
             SELECT i, e, p, y, s, n, d, u
               FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::text[], $5::text[],
                           $6::integer[], $7::bigint[], $8::bigint[]) AS x(i, e, p, y, s, n, d, u)",
            &[&ids, &events, &endpoints, &types, &statuses, &counts, &due, &updated],
        )
        .await?;
    Ok(())
}
