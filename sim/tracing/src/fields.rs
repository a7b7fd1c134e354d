//! Rendering `tracing` fields twice: as `name=value` text for human lines and as JSON object
//! members. Every value is capped at [`VALUE_BYTES_MAX`] and a whole rendering at
//! [`FIELDS_BYTES_MAX`], so a huge `Debug` output or a span recorded in a loop cannot grow a
//! line without bound.

use std::fmt::{self, Write as _};
use tracing_core::field::{Field, Visit};

/// Longest rendering of one value, in bytes (longer ones end in `…`).
pub const VALUE_BYTES_MAX: usize = 4096;
/// Longest rendering of all fields of one span or event, in bytes (later fields are left off
/// and the text ends in `…`).
pub const FIELDS_BYTES_MAX: usize = 16 * 1024;

/// The fields of one span or event, rendered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rendered {
    /// The `message` field, if any (events' format string).
    pub(crate) message: String,
    /// `name=value` pairs separated by spaces, without the message.
    pub(crate) text: String,
    /// JSON members `"name":value` separated by commas, message included.
    pub(crate) json: String,
    /// Whether something was left off for length.
    pub(crate) truncated: bool,
}

impl Rendered {
    fn full(&self) -> bool {
        self.text.len() + self.json.len() + self.message.len() >= FIELDS_BYTES_MAX
    }

    fn push(&mut self, field: &Field, text: &str, json: &str) {
        if self.full() {
            self.truncated = true;
            return;
        }
        if field.name() == "message" {
            self.message.push_str(text);
        } else {
            if !self.text.is_empty() {
                self.text.push(' ');
            }
            let _ = write!(self.text, "{}={text}", field.name());
        }
        if !self.json.is_empty() {
            self.json.push(',');
        }
        push_json_str(&mut self.json, field.name());
        self.json.push(':');
        self.json.push_str(json);
    }

    /// `text` with the message first, as fmt prints it: `sent id=4`.
    pub(crate) fn human(&self) -> String {
        let mut s = self.message.clone();
        if !self.text.is_empty() {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&self.text);
        }
        if self.truncated {
            s.push('…');
        }
        s
    }
}

/// Cuts `s` to at most [`VALUE_BYTES_MAX`] bytes on a character boundary, marking the cut.
fn cap(mut s: String) -> String {
    if s.len() > VALUE_BYTES_MAX {
        let mut end = VALUE_BYTES_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""), // unreachable for str; never a panic on a field
    }
}

impl Visit for Rendered {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = cap(format!("{value:?}"));
        let mut json = String::new();
        push_json_str(&mut json, &text);
        self.push(field, &text, &json);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let text = cap(value.to_owned());
            let mut json = String::new();
            push_json_str(&mut json, &text);
            return self.push(field, &text, &json);
        }
        let text = cap(format!("{value:?}"));
        let mut json = String::new();
        push_json_str(&mut json, &cap(value.to_owned()));
        self.push(field, &text, &json);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let v = value.to_string();
        self.push(field, &v, &v);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let v = value.to_string();
        self.push(field, &v, &v);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let v = value.to_string();
        self.push(field, &v, &v);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let v = value.to_string();
        self.push(field, &v, &v);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let v = value.to_string();
        self.push(field, &v, &v);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let text = value.to_string();
        // JSON has no NaN or infinities: those go as strings.
        let json = if value.is_finite() {
            text.clone()
        } else {
            format!("\"{text}\"")
        };
        self.push(field, &text, &json);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let text = cap(value.to_string());
        let mut json = String::new();
        push_json_str(&mut json, &text);
        self.push(field, &text, &json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_long_values_on_a_char_boundary() {
        let s = cap("é".repeat(VALUE_BYTES_MAX));
        assert!(s.len() <= VALUE_BYTES_MAX + '…'.len_utf8());
        assert!(s.ends_with('…'));
        assert_eq!(cap("short".into()), "short");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_str(&mut out, "a\"b\n");
        assert_eq!(out, r#""a\"b\n""#);
    }
}
