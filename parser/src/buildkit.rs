//! BuildKit-compatible views of the tree, for diffing against BuildKit's own parser:
//! `Node.Dump()` s-expressions and the JSON shape of the PyPI `dockerfile` package.

use crate::syntax::{Args, Dockerfile, Instruction};
use serde::Serialize;

/// One instruction as the `dockerfile` package (BuildKit v0.12.5) reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    pub cmd: String,
    pub sub_cmd: Option<String>,
    pub json: bool,
    pub original: Option<String>,
    pub start_line: usize,
    pub end_line: usize,
    pub flags: Vec<String>,
    pub value: Vec<String>,
    pub heredocs: Vec<HeredocView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeredocView {
    pub name: String,
    pub file_descriptor: u32,
    pub content: String,
}

/// The values of `Node.Next`, with ENV/LABEL as flat `key, value` pairs
/// (`separators = false`, BuildKit ≤ 0.12) or `key, value, separator`
/// triples (`separators = true`, current BuildKit).
fn values(args: &Args, separators: bool) -> Vec<String> {
    match args {
        Args::Empty => Vec::new(),
        // BuildKit chains one value-less node holding the wrapped instruction.
        Args::Ignored | Args::Onbuild(_) => vec![String::new()],
        Args::KeyValues(kvs) => {
            let mut v = Vec::with_capacity(kvs.len() * 3);
            for kv in kvs {
                v.push(kv.key.text.clone());
                v.push(kv.value.text.clone());
                if separators {
                    v.push(if kv.equals { "=".into() } else { String::new() });
                }
            }
            v
        }
        other => other.words().into_iter().map(|w| w.text.clone()).collect(),
    }
}

/// The `dockerfile` package's view of a parsed file.
pub fn commands(file: &Dockerfile) -> Vec<Command> {
    file.instructions.iter().map(command).collect()
}

fn command(inst: &Instruction) -> Command {
    let none_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let target = inst.effective();
    let mut original = inst.original.clone();
    let mut heredocs = Vec::new();
    // The package reads heredocs from the ONBUILD's inner node, where BuildKit
    // never puts them: an ONBUILD's heredocs are not reported.
    if !matches!(inst.args, Args::Onbuild(_)) && !inst.heredocs.is_empty() {
        original.push('\n');
        for h in &inst.heredocs {
            original.push_str(&h.content);
            original.push_str(&h.name);
            original.push('\n');
            heredocs.push(HeredocView {
                name: h.name.clone(),
                file_descriptor: h.file_descriptor,
                content: h.content.clone(),
            });
        }
    }
    Command {
        cmd: inst.name.clone(),
        sub_cmd: match &inst.args {
            Args::Onbuild(inner) => none_if_empty(&inner.name),
            _ => None,
        },
        json: target.is_json(),
        original: none_if_empty(&original),
        start_line: inst.start_line,
        end_line: inst.end_line,
        flags: inst.flags.iter().map(|f| f.text.clone()).collect(),
        value: values(&target.args, false),
        heredocs,
    }
}

/// What the `dockerfile` package returns for a whole file: the commands, or
/// `{"error": message}` when BuildKit's parser rejects it.
pub fn json_view(parsed: &crate::Parse) -> serde_json::Value {
    match parsed.diagnostics.iter().find(|d| d.rejects_parse()) {
        Some(first) => serde_json::json!({ "error": first.message }),
        None => serde_json::to_value(commands(&parsed.file)).unwrap_or(serde_json::Value::Null),
    }
}

/// `Node.Dump()` of the root node, plus the final newline BuildKit's tests expect.
pub fn dump(file: &Dockerfile) -> String {
    let mut out = String::new();
    for inst in &file.instructions {
        out.push('(');
        dump_node(inst, &mut out);
        out.push_str(")\n");
    }
    // The root's Dump() trims surrounding whitespace; the tests add one newline.
    let trimmed = out.trim_matches(crate::parse::is_go_space);
    format!("{trimmed}\n")
}

fn dump_node(inst: &Instruction, out: &mut String) {
    let start = out.len();
    out.push_str(&inst.name.to_lowercase());
    if !inst.flags.is_empty() {
        out.push_str(" [");
        for (i, f) in inst.flags.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&go_quote(&f.text));
        }
        out.push(']');
    }
    match &inst.args {
        Args::Onbuild(inner) => {
            out.push_str(" (");
            dump_node(inner, out);
            out.push(')');
        }
        args => {
            for v in values(args, true) {
                out.push(' ');
                out.push_str(&go_quote(&v));
            }
        }
    }
    // Dump() trims each node's own text.
    let node = out[start..].trim_matches(crate::parse::is_go_space).to_string();
    out.truncate(start);
    out.push_str(&node);
}

/// Go's `strconv.Quote` (one implementation, shared with the shell lexer's messages).
pub fn go_quote(s: &str) -> String {
    crate::shell::go_quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(go_quote("\u{1}\u{7f}"), r#""\x01\x7f""#);
        assert_eq!(go_quote("é한🚀"), "\"é한🚀\"");
        assert_eq!(go_quote("\u{a0}\u{200b}"), r#""\u00a0\u200b""#);
    }
}
