//! One HTTP attempt: build the body, sign it, POST it, and report what came
//! back. Deciding what that means for the delivery is `outcome` and `retry`.

use std::time::{Duration, Instant};

use awc::error::{ConnectError, SendRequestError};

use crate::delivery::outcome::{parse_retry_after, AttemptResult};
use crate::delivery::payload::{self, PayloadInput};
use crate::delivery::signing::{standard_webhooks_signature, style_signature};
use crate::delivery::target_guard::BlockedTarget;
use crate::domain::{Delivery, Endpoint, Event, SignatureStyle};

/// Receivers' answers are read up to this size and no further.
const RESPONSE_BODY_LIMIT: usize = 64 * 1024;

pub const USER_AGENT: &str = concat!("hookd/", env!("CARGO_PKG_VERSION"));

/// Everything needed to send one attempt, computed before any I/O.
pub struct PreparedAttempt {
    pub url: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

/// What one attempt observed.
pub struct AttemptReport {
    pub result: AttemptResult,
    pub duration: Duration,
    pub response_body: Option<String>,
}

/// The body and headers of attempt number `attempt` (1-based) of `delivery`.
/// The signatures cover the exact bytes sent.
pub fn prepare(
    delivery: &Delivery,
    event: &Event,
    endpoint: &Endpoint,
    attempt: u32,
    timeout: Duration,
    now_ms: u64,
) -> Result<PreparedAttempt, String> {
    let event_id = event.id.to_string();
    let input = PayloadInput {
        event_id: &event_id,
        event_type: &event.event_type,
        created_at_ms: event.created_at_ms(),
        test: event.test,
        source: event.source.as_deref(),
        account_id: event.account_id.as_ref().map(|a| a.as_str()),
    };
    let canonical = endpoint.signature_style == SignatureStyle::CanonicalJson;
    let body = payload::body(endpoint.payload_format, canonical, &input, &event.data_json)?;

    let delivery_id = delivery.id.to_string();
    let now_secs = (now_ms / 1000) as i64;
    // During a rotation grace both secrets sign, new first, so receivers
    // holding either one verify (Standard Webhooks allows several `v1,`).
    let (secret, previous) = endpoint.signing_secrets(now_ms);
    let mut standard = standard_webhooks_signature(secret, &delivery_id, now_secs, &body);
    if let Some(previous) = previous {
        standard.push(' ');
        standard.push_str(&standard_webhooks_signature(
            previous,
            &delivery_id,
            now_secs,
            &body,
        ));
    }
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), USER_AGENT.to_string()),
        ("X-Webhook-Event".to_string(), event.event_type.clone()),
        ("X-Webhook-Delivery".to_string(), delivery_id.clone()),
        ("X-Webhook-Attempt".to_string(), attempt.to_string()),
        (
            endpoint.signature_header.clone(),
            style_signature(endpoint.signature_style, secret, &body),
        ),
        ("webhook-signature".to_string(), standard),
        ("webhook-id".to_string(), delivery_id),
        ("webhook-timestamp".to_string(), now_secs.to_string()),
    ];
    Ok(PreparedAttempt {
        url: endpoint.url.clone(),
        body,
        headers,
        timeout,
    })
}

/// Sends one prepared attempt. Never follows redirects (the client is built
/// without them) and never waits longer than the attempt's timeout in total.
pub async fn send(client: &awc::Client, prepared: PreparedAttempt) -> AttemptReport {
    let started = Instant::now();
    let mut request = client.post(&prepared.url).timeout(prepared.timeout);
    for (name, value) in &prepared.headers {
        request = request.insert_header((name.as_str(), value.as_str()));
    }
    let result = request.send_body(prepared.body).await;
    let (result, response_body) = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            let remaining = prepared.timeout.saturating_sub(started.elapsed());
            let mut response = response.timeout(remaining.max(Duration::from_millis(1)));
            let body = response
                .body()
                .limit(RESPONSE_BODY_LIMIT)
                .await
                .ok()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            (
                AttemptResult::Response {
                    status,
                    retry_after,
                },
                body,
            )
        }
        Err(SendRequestError::Timeout) => (AttemptResult::Timeout, None),
        Err(SendRequestError::Connect(ConnectError::Resolver(error)))
            if error.is::<BlockedTarget>() =>
        {
            (AttemptResult::BlockedTarget, None)
        }
        Err(error) => (AttemptResult::Connect(error.to_string()), None),
    };
    AttemptReport {
        result,
        duration: started.elapsed(),
        response_body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeliveryStatus, PayloadFormat};
    use crate::ids::{DeliveryId, EventId};

    fn fixture(style: SignatureStyle, format: PayloadFormat) -> (Delivery, Event, Endpoint) {
        let event = Event {
            id: EventId::lowest_at(1_704_186_000_000),
            event_type: "payment.success".into(),
            data_json: r#"{"amount":150.0,"user_name":"Juan Pérez"}"#.into(),
            source: None,
            test: false,
            account_id: None,
        };
        let mut endpoint = Endpoint::new(
            "https://example.com/hook".into(),
            vec!["*".into()],
            "test_secret_0123456789".into(),
            1,
        );
        endpoint.signature_style = style;
        endpoint.payload_format = format;
        let delivery = Delivery {
            id: DeliveryId::generate(2),
            event_id: event.id,
            endpoint_id: endpoint.id,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_ms: Some(0),
            updated_at_ms: 0,
        };
        (delivery, event, endpoint)
    }

    fn header<'a>(prepared: &'a PreparedAttempt, name: &str) -> &'a str {
        prepared
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[test]
    fn headers_identify_the_delivery_and_sign_the_exact_body() {
        let (delivery, event, endpoint) =
            fixture(SignatureStyle::Sha256Prefixed, PayloadFormat::Envelope);
        let prepared = prepare(
            &delivery,
            &event,
            &endpoint,
            2,
            Duration::from_secs(1),
            1_700_000_000_000,
        )
        .unwrap();
        assert_eq!(
            header(&prepared, "X-Webhook-Delivery"),
            delivery.id.to_string()
        );
        assert_eq!(header(&prepared, "webhook-id"), delivery.id.to_string());
        assert_eq!(header(&prepared, "X-Webhook-Attempt"), "2");
        assert_eq!(header(&prepared, "X-Webhook-Event"), "payment.success");
        assert!(header(&prepared, "User-Agent").starts_with("hookd/"));
        let expected = style_signature(
            SignatureStyle::Sha256Prefixed,
            &endpoint.secret,
            &prepared.body,
        );
        assert_eq!(header(&prepared, "X-Webhook-Signature"), expected);
        let body: serde_json::Value = serde_json::from_slice(&prepared.body).unwrap();
        assert_eq!(body["id"], event.id.to_string());
        assert_eq!(body["data"]["amount"], 150.0);
    }

    #[test]
    fn canonical_endpoints_receive_canonical_bytes() {
        let (delivery, event, endpoint) =
            fixture(SignatureStyle::CanonicalJson, PayloadFormat::Flat);
        let prepared = prepare(
            &delivery,
            &event,
            &endpoint,
            1,
            Duration::from_secs(1),
            1_700_000_000_000,
        )
        .unwrap();
        let text = String::from_utf8(prepared.body.clone()).unwrap();
        assert_eq!(
            text,
            r#"{"amount":150.0,"event":"payment.success","timestamp":1704186000,"user_name":"Juan P\u00e9rez"}"#
        );
    }
}
