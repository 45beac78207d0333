//! Printing: one line of text per response (or per stream event), or with
//! `--json` one JSON object.

use serde_json::Value;

/// Something callgridctl can print both ways.
pub trait Render {
    /// For people: one line (a list prints one line per item).
    fn text(&self) -> String;
    /// For machines: one JSON object.
    fn json(&self) -> Value;
}

/// Writes one line to stdout. A closed pipe (`callgridctl ... | head`) ends
/// the program quietly, as it does for other command-line tools.
fn line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("callgridctl: writing output: {e}");
        std::process::exit(1);
    }
}

/// Where and how responses are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints one response or stream event. Stdout is line-buffered, so a
    /// stream's events appear as they arrive even through a pipe.
    pub fn show(&self, item: &dyn Render) {
        if self.json {
            line(&item.json().to_string());
        } else {
            line(&item.text());
        }
    }

    /// Prints the acknowledgement of a request whose response carries nothing.
    pub fn note(&self, message: &str) {
        if self.json {
            line(&serde_json::json!({ "ok": true, "message": message }).to_string());
        } else {
            line(message);
        }
    }
}

/// A response printed with some words of context the response itself lacks
/// (the call id an answer was for, the tenant a config belongs to).
pub struct Titled<'a, R: Render> {
    /// Put before the response's own text.
    pub title: String,
    /// Merged into the response's JSON object.
    pub fields: Value,
    pub inner: &'a R,
}

impl<R: Render> Render for Titled<'_, R> {
    fn text(&self) -> String {
        format!("{}: {}", self.title, self.inner.text())
    }

    fn json(&self) -> Value {
        let mut value = self.inner.json();
        if let (Value::Object(obj), Value::Object(extra)) = (&mut value, &self.fields) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        value
    }
}

/// A bare acknowledgement of a write that answers nothing but success.
pub struct Done(pub String);

impl Render for Done {
    fn text(&self) -> String {
        self.0.clone()
    }

    fn json(&self) -> Value {
        serde_json::json!({ "ok": true, "done": self.0 })
    }
}
