//! Python's `json.dumps(obj, sort_keys=True, separators=(',', ':'))`, byte
//! for byte. The partner protocol's receivers check signatures by
//! re-serializing the parsed body that way, so for `canonical-json`
//! endpoints the body must be exactly those bytes (`payload.rs`), and
//! inbound partner events are signed over them. serde_json alone sorts keys
//! but keeps non-ASCII raw and prints floats differently (`1e-7` where
//! Python prints `1e-07`).

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// Python's `json.dumps(value, sort_keys=True, separators=(',', ':'))`,
/// byte for byte (with its default `ensure_ascii=True`).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { "," });
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's map is only sorted when `preserve_order` is off, and
            // any crate in the build can switch that feature on: sort here.
            // Rust orders `str` by UTF-8 bytes, which is code point order, as
            // Python sorts.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                out.push_str(if i == 0 { "" } else { "," });
                write_str(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    // serde_json keeps `150` as an integer and `150.0` as f64, like Python's
    // int and float; the two print differently, so ask for integers first.
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(f) = n.as_f64() {
        write_float(out, f);
    } else {
        // Unreachable without `arbitrary_precision`; keep the number's own text.
        let _ = write!(out, "{n}");
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, positional
/// when the decimal exponent is in -4..16, else `d.ddde±XX`.
fn write_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        // Never reached from a serde_json value; Python's spelling otherwise.
        out.push_str(match (f.is_nan(), f > 0.0) {
            (true, _) => "NaN",
            (false, true) => "Infinity",
            (false, false) => "-Infinity",
        });
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    // Shortest round-trip digits with ties broken to even, as CPython's dtoa
    // does. serde_json's ryu agrees; Rust's own `{:e}` breaks ties the other
    // way (`…254.3` where Python prints `…254.2`). Only the layout differs.
    let (digits, exp) = shortest_digits(&Value::from(f.abs()).to_string());
    if (-4..16).contains(&exp) {
        // `point` digits stand before the decimal point.
        let point = exp + 1;
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else if digits.len() > point as usize {
            let (whole, frac) = digits.split_at(point as usize);
            let _ = write!(out, "{whole}.{frac}");
        } else {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
            out.push_str(".0");
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "{first}{dot}{rest}e{sign}{:02}", exp.unsigned_abs());
    }
}

/// The significant digits of a finite, non-negative decimal number's text
/// (`"1e+16"`, `"0.00001"`, `"150.0"`) and the exponent of its first digit:
/// `("15", 2)` for `150.0`. Zero is `("0", 0)`.
fn shortest_digits(text: &str) -> (String, i32) {
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int_part}{frac_part}");
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_matches('0');
    if significant.is_empty() {
        return ("0".to_string(), 0);
    }
    // Lengths are a few dozen at most (ryu's output), so the casts are exact.
    let point = int_part.len() as i32 - leading as i32 + exp;
    (significant.to_string(), point - 1)
}

/// A JSON string with `ensure_ascii`: printable ASCII as is, the usual short
/// escapes, everything else (controls, DEL, non-ASCII) as `\uXXXX` in UTF-16.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            ' '..='~' => continue,
            _ => None,
        };
        // Copy the unescaped run in one go rather than char by char.
        out.push_str(&s[run_start..i]);
        run_start = i + c.len_utf8();
        match short {
            Some(esc) => out.push_str(esc),
            None => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::payload::{payload_value, render_body, PayloadInput};
    use crate::domain::PayloadFormat;
    use serde_json::{json, Map};

    /// Generated by `scripts/canonical_vectors.py` with CPython.
    const VECTORS: &str = include_str!("../../tests/vectors/canonical_json.json");

    fn vectors() -> Vec<(String, String)> {
        let cases: Vec<Value> = serde_json::from_str(VECTORS).unwrap();
        let str_of = |v: &Value| v.as_str().unwrap().to_string();
        cases
            .iter()
            .map(|c| (str_of(&c["input"]), str_of(&c["canonical"])))
            .collect()
    }

    #[test]
    fn matches_python_vectors() {
        let cases = vectors();
        assert!(cases.len() >= 20, "vector file looks truncated");
        for (input, expected) in cases {
            let value: Value = serde_json::from_str(&input).unwrap();
            assert_eq!(canonical_json(&value), expected, "input: {input}");
        }
    }

    #[test]
    fn escapes_and_number_kinds() {
        let v = json!(["a\u{7f}\u{0}\u{1f}é😀\"\\/\u{8}\u{c}", 150, 150.0]);
        let want = r#"["a\u007f\u0000\u001f\u00e9\ud83d\ude00\"\\/\b\f",150,150.0]"#;
        assert_eq!(canonical_json(&v), want);
        // Known divergence, kept out of the vectors: Python reads the integer
        // literal `-0` as int 0 and prints `0`; serde_json reads it as -0.0.
        // It only matters when re-serializing a received body with a bare -0.
        assert_eq!(canonical_json(&serde_json::from_str("-0").unwrap()), "-0.0");
    }

    #[test]
    fn float_layout_without_parsing() {
        // f64 literals, so serde_json's float parser plays no part here.
        let cases: [(f64, &str); 6] = [
            (9_999_999_999_999_998.0, "9999999999999998.0"),
            (0.0000123, "1.23e-05"),
            (-0.0, "-0.0"),
            // Exact ties between two shortest candidates: Python takes the even.
            (1_059_438_285_926_254.0 + 0.25, "1059438285926254.2"),
            (-108_868_734_838_530.0 - 0.125, "-108868734838530.12"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            let mut out = String::new();
            write_float(&mut out, f);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn flat_partner_guide_payment_success_is_byte_exact() {
        // The first vector is the partner guide's payment.success example.
        let (input_text, python) = vectors().swap_remove(0);
        let mut data: Map<String, Value> = serde_json::from_str(&input_text).unwrap();
        data.remove("event");
        data.remove("timestamp");
        let inp = PayloadInput {
            event_id: "evt_01HMABC",
            event_type: "payment.success",
            created_at_ms: 1_704_186_000_000,
            test: false,
            source: None,
            account_id: None,
        };
        let body = render_body(&payload_value(PayloadFormat::Flat, &inp, &data), true);
        assert_eq!(String::from_utf8(body).unwrap(), python);
    }
}
