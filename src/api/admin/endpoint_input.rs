//! The body of `POST`/`PATCH /api/v1/webhooks`, and how it is checked and
//! applied to an endpoint. One struct for both: a PATCH is a create whose
//! missing fields keep their current values.

use base64::Engine;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::api::scope::parse_account_id;
use crate::config::Settings;
use crate::domain::duration::parse_duration;
use crate::domain::endpoint::is_reserved_header;
use crate::domain::filter::EventFilter;
use crate::domain::schedule::RetrySchedule;
use crate::domain::target::validate_url;
use crate::domain::{Endpoint, PayloadFormat, SignatureStyle};
use crate::error::ApiError;

/// `url` and `events` are required on create; every field is optional on update.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// Where deliveries go: https (http with `delivery.allow_http`).
    #[schema(example = "https://example.com/hooks", pattern = "^https?://")]
    pub url: Option<String>,
    /// Event types or categories (`payment.*`), or `*` for every type.
    #[schema(example = json!(["payment.succeeded"]))]
    pub events: Option<Vec<String>>,
    /// The signing secret, 16 to 256 characters; generated when absent.
    #[schema(min_length = 16, max_length = 256)]
    pub secret: Option<String>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// The header carrying the signature, `X-Webhook-Signature` by default.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub signature_header: Option<String>,
    pub signature_style: Option<SignatureStyle>,
    pub payload_format: Option<PayloadFormat>,
    /// Delays between attempts, e.g. `["10s", "1m", "1h"]`; null for the default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub retry_schedule: Option<Option<Vec<String>>>,
    /// Per-attempt timeout, 1ms to 5m, e.g. `10s`; null for the default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub timeout: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub max_in_flight: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub rate_limit_per_s: Option<Option<u32>>,
    /// Keep request and response bodies of attempts.
    pub debug_mode: Option<bool>,
    /// Free-form JSON object kept with the endpoint.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Set at creation (checked to exist by the caller), fixed afterwards.
    #[serde(default, deserialize_with = "nullable")]
    pub account_id: Option<Option<String>>,
    pub all_accounts: Option<bool>,
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`, back to the default).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

pub fn generate_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Secrets given by hand: long enough to resist guessing, short enough for a header.
pub fn validate_secret(secret: &str) -> Result<(), ApiError> {
    if secret.len() < 16 || secret.len() > 256 {
        return Err(ApiError::invalid(
            "invalid_secret",
            "secret must be 16 to 256 characters",
        ));
    }
    Ok(())
}

/// A new endpoint from a create body; `url` and `events` are required.
pub fn new_endpoint(
    input: EndpointInput,
    settings: &Settings,
    now_ms: u64,
) -> Result<Endpoint, ApiError> {
    if input.url.is_none() {
        return Err(ApiError::invalid("invalid_url", "url is required"));
    }
    if input.events.is_none() {
        return Err(ApiError::invalid("invalid_events", "events is required"));
    }
    let mut endpoint = Endpoint::new(String::new(), Vec::new(), generate_secret(), now_ms);
    endpoint.account_id = input
        .account_id
        .clone()
        .flatten()
        .map(|raw| parse_account_id(&raw))
        .transpose()?;
    apply(input, &mut endpoint, settings)?;
    Ok(endpoint)
}

/// Checks every present field and writes it into `endpoint`. Activation is
/// left to the caller, which must also hold or resume deliveries.
pub fn apply(
    input: EndpointInput,
    endpoint: &mut Endpoint,
    settings: &Settings,
) -> Result<(), ApiError> {
    let delivery = &settings.delivery;
    if let Some(account) = input.account_id {
        if account.as_deref() != endpoint.account_id.as_ref().map(|a| a.as_str()) {
            return Err(ApiError::invalid(
                "account_id_fixed",
                "an endpoint's account_id is set at creation and cannot change",
            ));
        }
    }
    if let Some(all) = input.all_accounts {
        if all && endpoint.account_id.is_some() {
            return Err(ApiError::invalid(
                "invalid_all_accounts",
                "all_accounts is for endpoints without an account",
            ));
        }
        endpoint.all_accounts = all;
    }
    if let Some(url) = input.url {
        let url = validate_url(&url, delivery.allow_http, delivery.allow_private_targets)
            .map_err(|message| ApiError::invalid("invalid_url", message))?;
        endpoint.url = url.to_string();
    }
    if let Some(events) = input.events {
        EventFilter::parse(&events)
            .map_err(|e| ApiError::invalid("invalid_events", e.to_string()))?;
        endpoint.events = events;
    }
    if let Some(secret) = input.secret {
        validate_secret(&secret)?;
        endpoint.secret = secret;
    }
    if let Some(description) = input.description {
        endpoint.description = description;
    }
    if let Some(header) = input.signature_header {
        let valid = !header.is_empty()
            && header.len() <= 64
            && header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(ApiError::invalid(
                "invalid_signature_header",
                "signature_header must be an HTTP header name (letters, digits, '-', '_')",
            ));
        }
        if is_reserved_header(&header) {
            return Err(ApiError::invalid(
                "invalid_signature_header",
                format!("signature_header may not name {header}: hookd or HTTP sets that header"),
            ));
        }
        endpoint.signature_header = header;
    }
    if let Some(style) = input.signature_style {
        endpoint.signature_style = style;
    }
    if let Some(format) = input.payload_format {
        endpoint.payload_format = format;
    }
    if let Some(schedule) = input.retry_schedule {
        endpoint.retry_schedule = schedule
            .map(|list| RetrySchedule::parse(&list))
            .transpose()
            .map_err(|e| ApiError::invalid("invalid_retry_schedule", e.to_string()))?;
    }
    if let Some(timeout) = input.timeout {
        let parsed = timeout
            .map(|text| parse_duration(&text))
            .transpose()
            .map_err(|e| ApiError::invalid("invalid_timeout", e.to_string()))?;
        if parsed.is_some_and(|t| t.is_zero() || t.as_secs() > 300) {
            return Err(ApiError::invalid(
                "invalid_timeout",
                "timeout must be between 1ms and 5m",
            ));
        }
        endpoint.timeout = parsed;
    }
    if let Some(max) = input.max_in_flight {
        if max == Some(0) {
            return Err(ApiError::invalid(
                "invalid_max_in_flight",
                "max_in_flight must be at least 1",
            ));
        }
        endpoint.max_in_flight = max;
    }
    if let Some(rate) = input.rate_limit_per_s {
        if rate == Some(0) {
            return Err(ApiError::invalid(
                "invalid_rate_limit",
                "rate_limit_per_s must be at least 1, or null for no limit",
            ));
        }
        endpoint.rate_limit_per_s = rate;
    }
    if let Some(debug) = input.debug_mode {
        endpoint.debug_mode = debug;
    }
    if let Some(metadata) = input.metadata {
        if !metadata.is_object() {
            return Err(ApiError::invalid(
                "invalid_metadata",
                "metadata must be a JSON object",
            ));
        }
        endpoint.metadata_json = metadata.to_string();
    }
    Ok(())
}
