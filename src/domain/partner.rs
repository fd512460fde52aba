//! A partner: an outside group that registered itself, receives
//! our events at its own endpoint and may send its own events in. The
//! delivery side lives on an ordinary `Endpoint`; this record holds what only
//! a partner has: a name and a status the operator controls.

use serde::{Deserialize, Serialize};

use crate::domain::account::{validate_display_name, AccountId};
use crate::ids::{EndpointId, PartnerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartnerStatus {
    Active,
    Suspended,
}

impl PartnerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerStatus::Active => "active",
            PartnerStatus::Suspended => "suspended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    pub endpoint_id: EndpointId,
    pub status: PartnerStatus,
    pub created_at_ms: u64,
}

impl Partner {
    /// The partner's account: its ID is the partner ID, which fits the
    /// account ID grammar, so either finds the other.
    pub fn account_id(&self) -> AccountId {
        AccountId::from_trusted(self.id.to_string())
    }
}

/// Checks a `partner_name`; the error is a sentence for the API.
pub fn validate_name(name: &str) -> Result<String, String> {
    validate_display_name("partner_name", name)
}

/// A fresh shared secret in the partner guide's `sk_live_…` shape: 32 random bytes,
/// hex, so it survives shells, env files and headers without quoting.
pub fn generate_shared_secret() -> String {
    format!("sk_live_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// The requested events that the catalog offers, in request order, without
/// repeats. Partners may only subscribe to what the operator publishes to
/// them, so wildcards are not expanded: `*` is not in any catalog.
pub fn subscribable(requested: &[String], catalog: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for event in requested {
        if catalog.contains(event) && !kept.contains(event) {
            kept.push(event.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(
            validate_name(" Tu Grupo - Nombre ").unwrap(),
            "Tu Grupo - Nombre"
        );
        assert!(validate_name("").is_err());
        assert!(validate_name("   ").is_err());
        assert!(validate_name(&"é".repeat(200)).is_ok());
        assert!(validate_name(&"é".repeat(201)).is_err());
        assert!(validate_name("a\nb").is_err());
    }

    #[test]
    fn secrets_look_like_the_partner_guide_shows() {
        let secret = generate_shared_secret();
        assert!(secret.starts_with("sk_live_"));
        assert_eq!(secret.len(), 8 + 64);
        assert_ne!(secret, generate_shared_secret());
    }

    #[test]
    fn subscription_is_the_catalog_intersection() {
        let to = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let catalog = to(&["payment.success", "payment.failed", "booking.confirmed"]);
        let requested = to(&[
            "payment.success",
            "payment.failed",
            "booking.confirmed",
            "booking.cancelled",
            "payment.success",
        ]);
        assert_eq!(
            subscribable(&requested, &catalog),
            to(&["payment.success", "payment.failed", "booking.confirmed"])
        );
        assert!(subscribable(&to(&["*"]), &catalog).is_empty());
    }
}
