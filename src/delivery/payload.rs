//! What a receiver gets in the request body: the event shaped as an envelope,
//! nested or flat (README, "What a receiver sees"), and the bytes that shape
//! is sent as: canonical JSON (`canonical_json.rs`) for `canonical-json`
//! endpoints, compact JSON otherwise.

use serde_json::{Map, Value};

use crate::delivery::canonical_json::canonical_json;
use crate::domain::PayloadFormat;

/// What a body needs from an event besides its data.
#[derive(Clone, Copy)]
pub struct PayloadInput<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub created_at_ms: u64,
    pub test: bool,
    pub source: Option<&'a str>,
    pub account_id: Option<&'a str>,
}

/// The JSON an endpoint receives for one event, in its payload format.
pub fn payload_value(
    format: PayloadFormat,
    input: &PayloadInput,
    data: &Map<String, Value>,
) -> Value {
    let mut map = match format {
        PayloadFormat::Envelope => wrapped(input, data, "type", "created_at"),
        PayloadFormat::Nested => wrapped(input, data, "event", "timestamp"),
        PayloadFormat::Flat => {
            // Inserted after the data so that they win over same-named fields:
            // partner receivers dispatch on `event`.
            let mut map = data.clone();
            map.insert("event".into(), input.event_type.into());
            map.insert("timestamp".into(), (input.created_at_ms / 1000).into());
            map
        }
    };
    if input.test {
        map.insert("test".into(), true.into());
    }
    if let Some(source) = input.source {
        map.insert("source".into(), source.into());
    }
    if let Some(account) = input.account_id {
        map.insert("account_id".into(), account.into());
    }
    Value::Object(map)
}

/// The event ID, its type and its RFC 3339 creation time under the names a
/// format gives them, and the data kept whole under `data`.
fn wrapped(
    input: &PayloadInput,
    data: &Map<String, Value>,
    type_key: &str,
    time_key: &str,
) -> Map<String, Value> {
    let created_at = crate::clock::format_rfc3339(input.created_at_ms);
    let mut map = Map::new();
    map.insert("id".into(), input.event_id.into());
    map.insert(type_key.into(), input.event_type.into());
    map.insert(time_key.into(), created_at.into());
    map.insert("data".into(), Value::Object(data.clone()));
    map
}

/// The bytes sent for an event whose data is stored as `data_json`.
/// Envelope and nested bodies in compact JSON splice the stored text in
/// whole (see [`wrapped_body`]); the rest are built as a [`Value`] first.
pub fn body(
    format: PayloadFormat,
    canonical: bool,
    input: &PayloadInput,
    data_json: &str,
) -> Result<Vec<u8>, String> {
    let keys = match format {
        PayloadFormat::Envelope => Some(("type", "created_at")),
        PayloadFormat::Nested => Some(("event", "timestamp")),
        PayloadFormat::Flat => None,
    };
    if let (Some((type_key, time_key)), false) = (keys, canonical) {
        return Ok(wrapped_body(input, type_key, time_key, data_json));
    }
    let data: Map<String, Value> =
        serde_json::from_str(data_json).map_err(|e| format!("stored event data: {e}"))?;
    let value = payload_value(format, input, &data);
    Ok(render_body(&value, canonical))
}

/// What [`wrapped`] gives, written as compact JSON with the stored data text
/// in place of a parsed copy: an attempt neither parses nor re-encodes the
/// data. Byte for byte what `render_body(&payload_value(..), false)` writes,
/// since serde_json writes an object's keys in sorted order and the data was
/// stored as serde_json's own encoding of a value (`domain/event.rs`).
fn wrapped_body(input: &PayloadInput, type_key: &str, time_key: &str, data_json: &str) -> Vec<u8> {
    enum Field<'a> {
        Text(&'a str),
        Raw(&'a str),
    }
    let created_at = crate::clock::format_rfc3339(input.created_at_ms);
    let mut fields = vec![
        ("id", Field::Text(input.event_id)),
        (type_key, Field::Text(input.event_type)),
        (time_key, Field::Text(&created_at)),
        ("data", Field::Raw(data_json)),
    ];
    if input.test {
        fields.push(("test", Field::Raw("true")));
    }
    if let Some(source) = input.source {
        fields.push(("source", Field::Text(source)));
    }
    if let Some(account) = input.account_id {
        fields.push(("account_id", Field::Text(account)));
    }
    fields.sort_unstable_by_key(|(key, _)| *key);
    let mut out = Vec::with_capacity(data_json.len() + 192);
    out.push(b'{');
    for (index, (key, value)) in fields.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        // Writing a string into memory cannot fail.
        let _ = serde_json::to_writer(&mut out, key);
        out.push(b':');
        match value {
            Field::Text(text) => {
                let _ = serde_json::to_writer(&mut out, text);
            }
            Field::Raw(raw) => out.extend_from_slice(raw.as_bytes()),
        }
    }
    out.push(b'}');
    out
}

/// The bytes sent: canonical JSON for `canonical-json` endpoints (so the
/// receiver may hash the raw body or re-serialize it), compact JSON otherwise.
pub fn render_body(value: &Value, canonical: bool) -> Vec<u8> {
    if canonical {
        canonical_json(value).into_bytes()
    } else {
        // Serializing a `Value` to memory cannot fail.
        serde_json::to_vec(value).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> PayloadInput<'static> {
        PayloadInput {
            event_id: "evt_01HMABC",
            event_type: "user.subscription.changed",
            created_at_ms: 1_705_314_600_999,
            test: false,
            source: None,
            account_id: None,
        }
    }

    #[test]
    fn nested_shape_keeps_data_whole() {
        let data = json!({"event": "kept in data", "customer_id": "cust_67890"});
        let data = data.as_object().unwrap();
        let v = payload_value(PayloadFormat::Nested, &input(), data);
        let want = json!({"id": "evt_01HMABC", "event": "user.subscription.changed",
            "timestamp": "2024-01-15T10:30:00Z", "data": data});
        assert_eq!(v, want);
    }

    #[test]
    fn envelope_and_flat_shapes() {
        let data = json!({"event": "spoofed", "timestamp": "x", "amount": 1.0});
        let data = data.as_object().unwrap();
        let v = payload_value(PayloadFormat::Envelope, &input(), data);
        let want = json!({"id": "evt_01HMABC", "type": "user.subscription.changed",
            "created_at": "2024-01-15T10:30:00Z", "data": data});
        assert_eq!(v, want);
        // Flat: `event` and `timestamp` win over same-named data fields.
        let v = payload_value(PayloadFormat::Flat, &input(), data);
        let want = json!({"event": "user.subscription.changed",
            "timestamp": 1_705_314_600_u64, "amount": 1.0});
        assert_eq!(v, want);
    }

    #[test]
    fn test_and_source_in_both_formats() {
        let data = json!({"test": "kept unless a test event"});
        let data = data.as_object().unwrap();
        for format in [
            PayloadFormat::Envelope,
            PayloadFormat::Nested,
            PayloadFormat::Flat,
        ] {
            let plain = payload_value(format, &input(), data);
            assert!(plain.get("source").is_none());
            let marked = PayloadInput {
                test: true,
                source: Some("partner:p"),
                account_id: Some("acme"),
                ..input()
            };
            let v = payload_value(format, &marked, data);
            assert_eq!(v["test"], json!(true));
            assert_eq!(v["source"], json!("partner:p"));
            assert_eq!(v["account_id"], json!("acme"));
            assert!(plain.get("account_id").is_none());
        }
        let envelope = payload_value(PayloadFormat::Envelope, &input(), data);
        assert!(envelope.get("test").is_none());
    }

    #[test]
    fn render_body_compact_when_not_canonical() {
        let v = json!({"b": "é", "a": 1e-7});
        assert_eq!(render_body(&v, false), r#"{"a":1e-7,"b":"é"}"#.as_bytes());
        assert_eq!(render_body(&v, true), br#"{"a":1e-07,"b":"\u00e9"}"#);
    }

    #[test]
    fn spliced_bodies_match_the_bodies_built_from_values() {
        let data = json!({"z": [1, 1.5, -0.0, 1e-7, null], "a": {"é": "😀\"\\\n\u{1}"},
            "event": "x", "id": 7, "type": true, "account_id": "spoof"});
        let data_json = data.to_string();
        let data = data.as_object().unwrap();
        let marked = PayloadInput {
            test: true,
            source: Some("partner:\"p\""),
            account_id: Some("acme"),
            ..input()
        };
        for format in [PayloadFormat::Envelope, PayloadFormat::Nested] {
            for input in [input(), marked] {
                let spliced = body(format, false, &input, &data_json).unwrap();
                let built = render_body(&payload_value(format, &input, data), false);
                assert_eq!(
                    String::from_utf8(spliced).unwrap(),
                    String::from_utf8(built).unwrap()
                );
            }
        }
        // Canonical JSON and the flat shape are still built from the value.
        let canonical = body(PayloadFormat::Envelope, true, &input(), &data_json).unwrap();
        let want = render_body(
            &payload_value(PayloadFormat::Envelope, &input(), data),
            true,
        );
        assert_eq!(canonical, want);
        assert!(body(PayloadFormat::Flat, false, &input(), "not json").is_err());
    }
}
