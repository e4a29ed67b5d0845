//! What the BuildKit oracle (PyPI `dockerfile`) would print for a file, shared by
//! the corpus and live-oracle tests.

use serde_json::Value;

/// Our BuildKit-JSON view of `text`, with the oracle's one known bug applied:
/// strings pass through C strings, so a NUL ends them.
pub fn view(text: &str) -> Value {
    let mut v = slipway_parser::buildkit::json_view(&slipway_parser::parse(text));
    truncate_at_nul(&mut v);
    v
}

fn truncate_at_nul(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some(i) = s.find('\0') {
                s.truncate(i);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(truncate_at_nul),
        Value::Object(o) => o.values_mut().for_each(truncate_at_nul),
        _ => {}
    }
}
