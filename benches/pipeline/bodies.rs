//! The request bodies and headers every scenario and baseline sends.

use crate::PAYLOAD_BYTES;

/// A `data` object whose compact JSON is exactly `PAYLOAD_BYTES` long.
pub fn pad_object(seq: Option<usize>) -> String {
    let head = match seq {
        Some(seq) => format!("{{\"seq\":{seq},\"pad\":\""),
        None => "{\"pad\":\"".to_string(),
    };
    let fill = PAYLOAD_BYTES - head.len() - 2;
    format!("{head}{}\"}}", "x".repeat(fill))
}

pub fn publish_body(event_type: &str, seq: Option<usize>) -> Vec<u8> {
    publish_item(event_type, seq).into_bytes()
}

fn publish_item(event_type: &str, seq: Option<usize>) -> String {
    format!("{{\"type\":\"{event_type}\",\"data\":{}}}", pad_object(seq))
}

/// An `/events/batch` body: `n` publish bodies in one JSON array.
pub fn batch_body(event_type: &str, n: usize) -> Vec<u8> {
    let item = publish_item(event_type, None);
    format!("[{}]", vec![item; n].join(",")).into_bytes()
}

pub fn delivery_body() -> Vec<u8> {
    format!(
        "{{\"id\":\"evt_01HQ3Z5Y8W0000000000000000\",\"type\":\"bench.deliver\",\
         \"created_at\":\"2024-01-15T10:30:00Z\",\"data\":{}}}",
        pad_object(None)
    )
    .into_bytes()
}

/// Header names and value sizes as hookd sends them (values are not signed
/// for real: the baseline measures transport, not HMAC).
pub fn delivery_headers() -> Vec<(String, String)> {
    let delivery = "dlv_01HQ3Z5Y8W0000000000000000".to_string();
    let signature = format!("v1,{}", "A".repeat(44));
    [
        ("Content-Type", "application/json".to_string()),
        ("User-Agent", "hookd/0.1.0".to_string()),
        ("X-Webhook-Event", "bench.deliver".to_string()),
        ("X-Webhook-Delivery", delivery.clone()),
        ("X-Webhook-Attempt", "1".to_string()),
        ("X-Webhook-Signature", format!("sha256={}", "0".repeat(64))),
        ("webhook-signature", signature),
        ("webhook-id", delivery),
        ("webhook-timestamp", "1705314600".to_string()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect()
}
