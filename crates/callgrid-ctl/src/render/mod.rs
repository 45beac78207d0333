//! How each `callgrid.v1` message prints, as text and as JSON.
//!
//! prost types are not serde types, so the JSON is mapped by hand here:
//! enums print as lower-case names without their prefix (`picked_up`,
//! `directed_pickup`), timestamps as `*_ms` numbers, absent values as null.

mod calls;
mod cluster;
mod directory;
mod labels;
mod presence;

pub use labels::{label, words};

use callgrid_proto::v1;
use serde_json::{Value, json};

/// A party as text: its number, or `?` when absent.
pub fn party_text(p: Option<&v1::Party>) -> String {
    match p.and_then(|p| p.kind.as_ref()) {
        Some(v1::party::Kind::Extension(e)) => e.clone(),
        Some(v1::party::Kind::Outside(n)) => n.clone(),
        None => "?".into(),
    }
}

/// A party as JSON: `{"extension": "101"}`, `{"outside": "+1555"}` or null.
pub fn party_json(p: Option<&v1::Party>) -> Value {
    match p.and_then(|p| p.kind.as_ref()) {
        Some(v1::party::Kind::Extension(e)) => json!({ "extension": e }),
        Some(v1::party::Kind::Outside(n)) => json!({ "outside": n }),
        None => Value::Null,
    }
}

/// An optional string as JSON: null when empty.
fn opt_str(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { json!(s) }
}

/// A timestamp relative to this machine's clock: `12s ago`, `in 40s`.
fn when(ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    if ms <= now {
        format!("{}s ago", (now - ms) / 1000)
    } else {
        format!("in {}s", (ms - now).div_ceil(1000))
    }
}

/// One line per item, or `none` words when there are none.
fn lines<T>(items: &[T], none: &str, line: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        none.to_owned()
    } else {
        items.iter().map(line).collect::<Vec<_>>().join("\n")
    }
}
