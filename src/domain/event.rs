//! An event as it sits in the append-only log.

use serde::{Deserialize, Serialize};

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
}

impl Event {
    pub fn created_at_ms(&self) -> u64 {
        self.id.created_ms()
    }
}
