//! A delivery: one event owed to one endpoint, and the attempts made so far.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{DeliveryId, EndpointId, EventId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// On the wheel, waiting for its next attempt (or in flight).
    Pending,
    Succeeded,
    /// Retries exhausted or a final answer; can be resent by hand.
    Failed,
    /// Its endpoint is disabled: kept, not attempted, resumed on re-enable.
    Held,
    /// Its endpoint was deleted.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Failed,
        DeliveryStatus::Held,
        DeliveryStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Held => "held",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The status an open delivery takes from its endpoint's state
    /// (`Some(active)`, or `None` once the endpoint is deleted): pending
    /// while the endpoint is active, held while it is disabled, cancelled
    /// once it is gone.
    pub fn open_for(endpoint_active: Option<bool>) -> DeliveryStatus {
        match endpoint_active {
            Some(true) => DeliveryStatus::Pending,
            Some(false) => DeliveryStatus::Held,
            None => DeliveryStatus::Cancelled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    /// Attempts made so far; the next one is number `attempts + 1`.
    pub attempts: u32,
    /// When the next attempt is due, while pending.
    pub next_attempt_ms: Option<u64>,
    pub updated_at_ms: u64,
}

/// One HTTP attempt, as recorded after it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub attempt: u32,
    pub at_ms: u64,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    /// Kept only when the endpoint is in debug mode.
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus;

    #[test]
    fn an_open_delivery_follows_its_endpoint() {
        assert_eq!(
            DeliveryStatus::open_for(Some(true)),
            DeliveryStatus::Pending
        );
        assert_eq!(DeliveryStatus::open_for(Some(false)), DeliveryStatus::Held);
        assert_eq!(DeliveryStatus::open_for(None), DeliveryStatus::Cancelled);
    }
}
