//! What an admin command prints: the API's JSON as it came with `--json`,
//! otherwise plain aligned tables (as `kubectl get` prints them).

use std::io::Write;

use comfy_table::{presets::NOTHING, Table};
use serde_json::Value;

/// A command's answer: the API's JSON, and how to show it to a person.
pub enum Output {
    /// A `{"data": [...], "next_cursor"}` page, shown with these columns
    /// (header, field of each item).
    List(Value, &'static [(&'static str, &'static str)]),
    /// One object, shown field by field.
    Record(Value),
    /// The API's answer, summed up in a sentence.
    Message(Value, String),
    /// Printed as it came (a followed log); nothing left to print.
    Printed,
}

impl Output {
    pub fn print(&self, json: bool) {
        if json {
            let value = match self {
                Output::List(value, _) | Output::Record(value) | Output::Message(value, _) => value,
                Output::Printed => return,
            };
            if !value.is_null() {
                emit(&serde_json::to_string_pretty(value).unwrap_or_default());
            }
            return;
        }
        match self {
            Output::List(page, columns) => {
                let items = page["data"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                emit(&list(items, columns));
                if let Some(cursor) = page["next_cursor"].as_str() {
                    eprintln!("more: --cursor {cursor}");
                }
            }
            Output::Record(value) => {
                emit(&record(value));
            }
            Output::Message(_, message) => {
                emit(message);
            }
            Output::Printed => {}
        }
    }
}

/// Writes a line to stdout; false once nobody reads it (`| head` closed the
/// pipe), where `println!` would panic.
pub fn emit(line: &str) -> bool {
    writeln!(std::io::stdout(), "{line}").is_ok()
}

fn plain_table() -> Table {
    let mut table = Table::new();
    table.load_style(NOTHING);
    table
}

/// Columns flush left, two spaces apart, no trailing blanks.
fn render(mut table: Table) -> String {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table.trim_fmt()
}

/// One row per item, one column per `(header, field)`.
pub fn list(items: &[Value], columns: &[(&str, &str)]) -> String {
    let mut table = plain_table();
    table.set_header(columns.iter().map(|(header, _)| *header));
    for item in items {
        table.add_row(columns.iter().map(|(_, field)| cell(&item[*field])));
    }
    render(table)
}

/// A `field  value` line per scalar field; a list of objects (an event's
/// deliveries, a delivery's attempts) follows as its own table.
pub fn record(value: &Value) -> String {
    let Some(object) = value.as_object() else {
        return cell(value);
    };
    let mut fields = plain_table();
    let mut nested = Vec::new();
    for (name, item) in object {
        match item.as_array() {
            Some(rows) if rows.iter().any(Value::is_object) => nested.push((name, rows)),
            _ => {
                fields.add_row([name.clone(), cell(item)]);
            }
        }
    }
    let mut out = render(fields);
    for (name, rows) in nested {
        let mut headers: Vec<&str> = Vec::new();
        for key in rows
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|o| o.keys())
        {
            if !headers.contains(&key.as_str()) {
                headers.push(key);
            }
        }
        let columns: Vec<(&str, &str)> = headers.iter().map(|h| (*h, *h)).collect();
        out.push_str(&format!("\n\n{name}:\n{}", list(rows, &columns)));
    }
    out
}

/// A value as one table cell: text as is, lists of scalars comma-joined,
/// absent or null as `-`, anything else as compact JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(text) => text.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_read_as_text() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!("ep_1")), "ep_1");
        assert_eq!(cell(&json!(["a.*", "b"])), "a.*,b");
        assert_eq!(cell(&json!({"k": 1})), r#"{"k":1}"#);
        assert_eq!(cell(&json!(3)), "3");
    }

    #[test]
    fn a_list_has_a_header_and_a_row_per_item() {
        let items = [
            json!({"id": "ep_1", "url": "https://a"}),
            json!({"id": "ep_2"}),
        ];
        let text = list(&items, &[("ID", "id"), ("URL", "url")]);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID") && lines[0].ends_with("URL"));
        assert!(lines[1].starts_with("ep_1") && lines[1].ends_with("https://a"));
        assert!(lines[2].starts_with("ep_2") && lines[2].ends_with('-'));
    }

    #[test]
    fn a_record_puts_nested_lists_in_their_own_table() {
        let value = json!({"id": "dlv_1", "attempts": [{"attempt": 1, "status_code": 500}]});
        let text = record(&value);
        assert!(text.contains("id") && text.contains("dlv_1"), "{text}");
        assert!(text.contains("attempts:"), "{text}");
        assert!(text.contains("status_code"), "{text}");
    }
}
