//! An event as it sits in the append-only log.

use serde::{Deserialize, Serialize};

use crate::domain::account::AccountId;
use crate::domain::event_type::EventType;
use crate::ids::EventId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub event_type: String,
    /// The `data` object as compact JSON text: stored once, parsed when a body is built.
    pub data_json: String,
    /// `partner:<id>` when a partner sent it in.
    pub source: Option<String>,
    /// Synthetic events from `POST …/test` carry `"test": true` in their payload.
    pub test: bool,
    /// The account the event belongs to, if any (see `routing.rs`).
    pub account_id: Option<AccountId>,
}

impl Event {
    /// A new event of a validated type, stamped `now_ms`; neither test nor
    /// from a partner until the caller says so.
    pub fn new(event_type: &EventType, data: &serde_json::Value, now_ms: u64) -> Event {
        Event {
            id: EventId::generate(now_ms),
            event_type: event_type.as_str().to_string(),
            data_json: data.to_string(),
            source: None,
            test: false,
            account_id: None,
        }
    }

    pub fn created_at_ms(&self) -> u64 {
        self.id.created_ms()
    }
}
