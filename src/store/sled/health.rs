//! Per-endpoint failure counters, kept apart from the endpoint record so that
//! counting an attempt never rewrites the endpoint (nor the subscriber list).
//! They survive restarts like everything else here.

use serde::{Deserialize, Serialize};

use super::{codec, SledStore, StoreError};
use crate::ids::EndpointId;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointHealth {
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// When the current run of failures began.
    pub failing_since_ms: Option<u64>,
}

impl SledStore {
    pub fn endpoint_health(&self, id: EndpointId) -> Result<EndpointHealth, StoreError> {
        match self.trees()?.health.get(id.to_bytes())? {
            Some(bytes) => codec::decode(&bytes),
            None => Ok(EndpointHealth::default()),
        }
    }

    /// Counts one failed attempt and returns the counters after it.
    pub fn count_failure(&self, id: EndpointId, now_ms: u64) -> Result<EndpointHealth, StoreError> {
        let current = self.endpoint_health(id)?;
        let updated = EndpointHealth {
            consecutive_failures: current.consecutive_failures.saturating_add(1),
            failing_since_ms: current.failing_since_ms.or(Some(now_ms)),
        };
        self.trees()?
            .health
            .insert(id.to_bytes(), codec::encode(&updated)?)?;
        Ok(updated)
    }

    /// Forgets the counters, e.g. when an operator re-enables an endpoint.
    pub fn reset_health(&self, id: EndpointId) -> Result<(), StoreError> {
        // Most resets (one per successful attempt) find nothing to forget: a
        // read, no write.
        if self.trees()?.health.contains_key(id.to_bytes())? {
            self.trees()?.health.remove(id.to_bytes())?;
        }
        Ok(())
    }
}
