use crate::domain::PayloadFormat;
use serde_json::{Map, Value};
pub struct PayloadInput<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub created_at_ms: u64,
    pub data: &'a Map<String, Value>,
    pub test: bool,
    pub source: Option<&'a str>,
}
pub fn payload_value(f: PayloadFormat, i: &PayloadInput) -> Value {
    let mut v = match f {
        PayloadFormat::Envelope => {
            serde_json::json!({"id": i.event_id, "type": i.event_type, "created_at": crate::clock::format_rfc3339(i.created_at_ms), "data": i.data})
        }
        PayloadFormat::Flat => {
            let mut m = i.data.clone();
            m.insert("event".into(), i.event_type.into());
            m.insert("timestamp".into(), (i.created_at_ms / 1000).into());
            Value::Object(m)
        }
    };
    if i.test {
        v["test"] = true.into();
    }
    if let Some(s) = i.source {
        v["source"] = s.into();
    }
    v
}
pub fn canonical_json(v: &Value) -> String {
    v.to_string()
}
pub fn render_body(v: &Value, canonical: bool) -> Vec<u8> {
    if canonical {
        canonical_json(v).into_bytes()
    } else {
        serde_json::to_vec(v).unwrap_or_default()
    }
}
