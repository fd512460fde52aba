//! Inbound partner events, `POST /webhooks/partners[/{partner_id}]`: the
//! raw body is read and its signature checked before anything is
//! believed, then the event joins the log like any published one.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::body::{read_limited, require_json};
use super::AppState;
use crate::clock::now_ms;
use crate::delivery::canonical_json::canonical_json;
use crate::delivery::signing::verify_hex;
use crate::domain::event_type::EventType;
use crate::domain::{Endpoint, Event, Partner, PartnerStatus};
use crate::error::{ApiError, ErrorBody};
use crate::ids::{EventId, PartnerId};
use crate::service::publish;

/// The partner guide's sender retries the same body; within this window a repeat is
/// answered from the first delivery and stores nothing.
const DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/webhooks/partners", web::post().to(receive_unnamed))
        .route(
            "/webhooks/partners/{partner_id}",
            web::post().to(receive_named),
        );
}

/// The acknowledgement of an inbound event; a repeat gets the same one.
#[derive(Serialize, ToSchema)]
pub struct Received {
    #[schema(example = "received")]
    status: &'static str,
    /// When the event was first received, in Unix seconds.
    timestamp: u64,
    event_id: String,
}

/// A partner's signed event; the sender is found by its signature, or named
/// by `X-Partner-Id`.
#[utoipa::path(post, path = "/webhooks/partners", tag = "public",
    request_body(content = Object, description = "The event's data, a JSON object"),
    params(
        ("X-Webhook-Signature" = String, Header,
            description = "Hex HMAC-SHA256 of the body (raw or canonical JSON) with the shared secret"),
        ("X-Webhook-Event" = String, Header, description = "The event type, one of `partners.inbound_events`"),
        ("X-Partner-Id" = Option<String>, Header, description = "The sending partner, to skip the search"),
    ),
    responses(
        (status = 200, description = "Stored (or a repeat of a stored event)", body = Received),
        (status = 401, description = "The signature matches no partner", body = ErrorBody),
        (status = 403, description = "The partner is suspended", body = ErrorBody),
    ))]
pub(crate) async fn receive_unnamed(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let named = header(&request, "X-Partner-Id").map(str::to_string);
    receive(&state, &request, payload, named).await
}

/// A partner's signed event, the partner named in the path.
#[utoipa::path(post, path = "/webhooks/partners/{partner_id}", tag = "public",
    request_body(content = Object, description = "The event's data, a JSON object"),
    params(
        ("partner_id" = String, Path),
        ("X-Webhook-Signature" = String, Header,
            description = "Hex HMAC-SHA256 of the body (raw or canonical JSON) with the shared secret"),
        ("X-Webhook-Event" = String, Header, description = "The event type, one of `partners.inbound_events`"),
    ),
    responses(
        (status = 200, description = "Stored (or a repeat of a stored event)", body = Received),
        (status = 401, description = "The signature does not match, or no such partner", body = ErrorBody),
        (status = 403, description = "The partner is suspended", body = ErrorBody),
    ))]
pub(crate) async fn receive_named(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
    partner_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    receive(&state, &request, payload, Some(partner_id.into_inner())).await
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

async fn receive(
    state: &AppState,
    request: &HttpRequest,
    payload: web::Payload,
    named: Option<String>,
) -> Result<HttpResponse, ApiError> {
    require_json(request)?;
    let raw = read_limited(payload, state.settings.events.max_payload_bytes).await?;
    let (Some(signature), Some(event_type)) = (
        header(request, "X-Webhook-Signature"),
        header(request, "X-Webhook-Event"),
    ) else {
        return Err(ApiError::Malformed(
            "X-Webhook-Signature and X-Webhook-Event are required".into(),
        ));
    };
    let body: Value = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::Malformed(format!("the body is not valid JSON: {e}")))?;
    if !body.is_object() {
        return Err(ApiError::Malformed("the body must be a JSON object".into()));
    }
    let canonical = canonical_json(&body).into_bytes();
    let partner = sender(state, named.as_deref(), signature, &raw, &canonical).await?;
    let event_type = accepted_type(state, event_type)?;

    let now = now_ms();
    let event = Event {
        id: EventId::generate(now),
        event_type: event_type.as_str().to_string(),
        data_json: body.to_string(),
        source: Some(format!("partner:{}", partner.id)),
        test: false,
        account_id: Some(partner.account_id()),
    };
    // Keyed on the canonical form so a resend that only re-spaces the JSON is
    // still recognised as the same event.
    let digest = hex::encode(Sha256::digest(&canonical));
    let key = format!("inbound:{}:{}:{digest}", partner.id, event.event_type);
    let outcome = publish::publish(
        &state.store,
        vec![event],
        Some(&key),
        DEDUP_WINDOW.as_millis() as u64,
        now,
    )
    .await?;
    let stored = outcome.events.first().ok_or(ApiError::Internal)?;
    if outcome.duplicate {
        tracing::info!(partner = %partner.id, event = %stored.id, "repeated inbound partner event");
    } else {
        tracing::info!(partner = %partner.id, event = %stored.id, r#type = %stored.event_type, "inbound partner event");
    }
    // Built from the stored event, so a repeat gets byte-identical answers.
    Ok(HttpResponse::Ok().json(Received {
        status: "received",
        timestamp: stored.id.created_ms() / 1000,
        event_id: stored.id.to_string(),
    }))
}

/// The partner that signed the body: the named one, else whichever active
/// partner's secret verifies it. Unknown or mismatching → 401, suspended → 403.
async fn sender(
    state: &AppState,
    named: Option<&str>,
    signature: &str,
    raw: &[u8],
    canonical: &[u8],
) -> Result<Partner, ApiError> {
    let candidates: Vec<(Partner, Endpoint)> = match named {
        Some(id) => {
            // An unknown ID answers like a bad signature, so the route cannot
            // be used to discover which partners exist.
            let id: PartnerId = id.parse().map_err(|_| ApiError::InvalidSignature)?;
            state
                .store
                .partner_with_endpoint(id)
                .await?
                .into_iter()
                .collect()
        }
        None => state.store.active_partners().await?,
    };
    let (partner, _) = candidates
        .into_iter()
        .find(|(_, endpoint)| signed_by(&endpoint.secret, signature, raw, canonical))
        .ok_or(ApiError::InvalidSignature)?;
    if partner.status == PartnerStatus::Suspended {
        return Err(ApiError::Forbidden("this partner is suspended".into()));
    }
    Ok(partner)
}

/// Bare hex HMAC-SHA256 over the canonical JSON (what the partner protocol's sender
/// signs) or over the raw body (what most other senders sign). Both are
/// computed every time so the answer's timing does not tell which failed.
fn signed_by(secret: &str, signature: &str, raw: &[u8], canonical: &[u8]) -> bool {
    let over_canonical = verify_hex(secret.as_bytes(), canonical, signature);
    let over_raw = verify_hex(secret.as_bytes(), raw, signature);
    over_canonical | over_raw
}

/// A valid, non-reserved type that `partners.inbound_events` lets in.
fn accepted_type(state: &AppState, raw: &str) -> Result<EventType, ApiError> {
    let event_type = EventType::parse(raw)
        .map_err(|e| ApiError::invalid("invalid_event_type", e.to_string()))?;
    if !state
        .settings
        .partners
        .inbound_events
        .iter()
        .any(|allowed| allowed == event_type.as_str())
    {
        return Err(ApiError::invalid(
            "event_type_not_accepted",
            format!("partners may not send {event_type} events"),
        ));
    }
    Ok(event_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::signing::hmac_sha256;

    #[test]
    fn either_signed_form_is_accepted() {
        let secret = "sk_live_test";
        let raw = br#"{"b": 1, "a": 2}"#;
        let canonical = br#"{"a":2,"b":1}"#;
        let sign = |m: &[u8]| hex::encode(hmac_sha256(secret.as_bytes(), m));
        assert!(signed_by(secret, &sign(canonical), raw, canonical));
        assert!(signed_by(secret, &sign(raw), raw, canonical));
        assert!(signed_by(secret, &sign(raw).to_uppercase(), raw, canonical));
        assert!(!signed_by(secret, &sign(b"other"), raw, canonical));
        assert!(!signed_by("sk_live_other", &sign(raw), raw, canonical));
        assert!(!signed_by(secret, "", raw, canonical));
    }
}
