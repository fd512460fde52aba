//! hookd's own events (`hookd.endpoint.disabled`, `hookd.delivery.failed`,
//! `hookd.partner.registered`): they go through the same log and fan-out as
//! published events, but only endpoints that name them (or `hookd.*`) get
//! them — `*` never matches the reserved prefix.

use serde_json::Value;

use crate::clock::now_ms;
use crate::domain::event_type::EventType;
use crate::domain::Event;
use crate::service::publish;
use crate::store::{Store, StoreError};

pub const ENDPOINT_DISABLED: &str = "hookd.endpoint.disabled";
pub const DELIVERY_FAILED: &str = "hookd.delivery.failed";
pub const PARTNER_REGISTERED: &str = "hookd.partner.registered";

/// Appends an operational event and fans it out. Failures are logged, not
/// returned to the caller's caller: an operator notice must never fail the
/// work that triggered it.
pub async fn emit(store: &Store, event_type: &str, data: Value) {
    if let Err(error) = try_emit(store, event_type, data).await {
        tracing::error!(%error, event_type, "could not emit an operational event");
    }
}

async fn try_emit(store: &Store, event_type: &str, data: Value) -> Result<(), StoreError> {
    let event_type =
        EventType::parse_operational(event_type).map_err(|e| StoreError::Codec(e.to_string()))?;
    let now = now_ms();
    let event = Event::new(&event_type, &data, now);
    publish::publish_one(store, event, None, now).await?;
    Ok(())
}
