//! An endpoint: a URL subscribed to some event types, with how to sign and
//! shape what it receives and how hard to try.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::account::AccountId;
use crate::domain::schedule::RetrySchedule;
use crate::ids::{EndpointId, PartnerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureStyle {
    /// `sha256=<hex>` over the raw body (the default).
    Sha256Prefixed,
    /// Bare hex over the raw body.
    Hex,
    /// Bare hex over the canonical JSON body, as partners verify it.
    CanonicalJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    /// `{"id", "type", "created_at", "data"}`.
    Envelope,
    /// The data's fields at top level plus `event` and `timestamp` (unix
    /// seconds), as the partner protocol's receivers read them.
    Flat,
    /// `{"id", "event", "timestamp", "data"}`, the shape the fashion catalog
    /// guide's handlers read. Added last: stored endpoints encode the variant
    /// by position.
    Nested,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DisabledReason {
    Manual,
    Failures,
    Gone,
}

pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Webhook-Signature";

/// Headers an endpoint's `signature_header` may not name: those the HTTP
/// layer owns, and those every attempt sets itself (src/delivery/attempt.rs).
/// Naming one would overwrite it on each attempt, and a receiver that
/// deduplicates on `X-Webhook-Delivery` or `webhook-id` would break.
const RESERVED_HEADERS: [&str; 15] = [
    "host",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "user-agent",
    "x-webhook-event",
    "x-webhook-delivery",
    "x-webhook-attempt",
];

/// Whether `name` is reserved (compared case-insensitively; every
/// `webhook-*` and `proxy-*` name is reserved, for Standard Webhooks and proxies).
pub fn is_reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("webhook-")
        || name.starts_with("proxy-")
        || RESERVED_HEADERS.contains(&name.as_str())
}

/// A subscription as stored. Optional knobs left `None` follow `[delivery]` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: EndpointId,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    /// The secret before the last rotation, still signing beside the new one
    /// until `previous_secret_expires_ms`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_ms: Option<u64>,
    pub active: bool,
    pub disabled_reason: Option<DisabledReason>,
    pub disabled_at_ms: Option<u64>,
    pub description: Option<String>,
    pub signature_header: String,
    pub signature_style: SignatureStyle,
    pub payload_format: PayloadFormat,
    pub retry_schedule: Option<RetrySchedule>,
    pub timeout: Option<Duration>,
    pub max_in_flight: Option<u32>,
    pub rate_limit_per_s: Option<u32>,
    pub debug_mode: bool,
    /// Free-form JSON object, kept as text because the codec cannot carry `serde_json::Value`.
    pub metadata_json: String,
    pub partner_id: Option<PartnerId>,
    /// The account it belongs to, fixed at creation.
    pub account_id: Option<AccountId>,
    /// Without an account: also receive every account's events (audit feeds).
    pub all_accounts: bool,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl Endpoint {
    /// A new active endpoint with every optional setting at its default.
    pub fn new(url: String, events: Vec<String>, secret: String, now_ms: u64) -> Endpoint {
        Endpoint {
            id: EndpointId::generate(now_ms),
            url,
            events,
            secret,
            previous_secret: None,
            previous_secret_expires_ms: None,
            active: true,
            disabled_reason: None,
            disabled_at_ms: None,
            description: None,
            signature_header: DEFAULT_SIGNATURE_HEADER.to_string(),
            signature_style: SignatureStyle::Sha256Prefixed,
            payload_format: PayloadFormat::Envelope,
            retry_schedule: None,
            timeout: None,
            max_in_flight: None,
            rate_limit_per_s: None,
            debug_mode: false,
            metadata_json: "{}".to_string(),
            partner_id: None,
            account_id: None,
            all_accounts: false,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }

    /// The secrets that sign an attempt made at `now_ms`: the current one,
    /// and the previous one while its rotation grace lasts.
    pub fn signing_secrets(&self, now_ms: u64) -> (&str, Option<&str>) {
        let previous = match (&self.previous_secret, self.previous_secret_expires_ms) {
            (Some(secret), Some(until)) if now_ms < until => Some(secret.as_str()),
            _ => None,
        };
        (&self.secret, previous)
    }

    /// Replaces the secret; the old one keeps signing for `grace_ms`.
    pub fn rotate_secret(&mut self, new_secret: String, grace_ms: u64, now_ms: u64) {
        let old = std::mem::replace(&mut self.secret, new_secret);
        if grace_ms == 0 {
            self.previous_secret = None;
            self.previous_secret_expires_ms = None;
        } else {
            self.previous_secret = Some(old);
            self.previous_secret_expires_ms = Some(now_ms + grace_ms);
        }
        self.updated_at_ms = now_ms;
    }

    /// The endpoint's own schedule, else the configured default.
    pub fn schedule<'a>(&'a self, default: &'a RetrySchedule) -> &'a RetrySchedule {
        self.retry_schedule.as_ref().unwrap_or(default)
    }
}
