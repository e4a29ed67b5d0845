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
fn values(args: &Args, separators: bool) -> Vec<&str> {
    match args {
        Args::Empty => Vec::new(),
        // BuildKit chains one value-less node holding the wrapped instruction.
        Args::Ignored | Args::Onbuild(_) => vec![""],
        Args::KeyValues(kvs) => {
            let mut v = Vec::with_capacity(kvs.len() * 3);
            for kv in kvs {
                v.push(kv.key.text.as_str());
                v.push(kv.value.text.as_str());
                if separators {
                    v.push(if kv.equals { "=" } else { "" });
                }
            }
            v
        }
        other => other.words().into_iter().map(|w| w.text.as_str()).collect(),
    }
}

/// The `dockerfile` package's view of a parsed file.
pub fn commands(file: &Dockerfile) -> Vec<Command> {
    file.instructions
        .iter()
        .map(|inst| CommandView::new(inst).to_owned())
        .collect()
}

/// [`Command`] borrowing from the tree, for serialising without copying every string.
/// Fields in alphabetical order: the JSON has the keys in the order of a
/// `serde_json::Value` object (sorted), as [`json_view`] gives them.
#[derive(Serialize)]
struct CommandView<'a> {
    cmd: &'a str,
    end_line: usize,
    flags: Vec<&'a str>,
    heredocs: Vec<HeredocRef<'a>>,
    json: bool,
    original: Option<std::borrow::Cow<'a, str>>,
    start_line: usize,
    sub_cmd: Option<&'a str>,
    value: Vec<&'a str>,
}

/// [`HeredocView`] borrowing from the tree; fields in alphabetical order.
#[derive(Serialize)]
struct HeredocRef<'a> {
    content: &'a str,
    file_descriptor: u32,
    name: &'a str,
}

impl<'a> CommandView<'a> {
    fn new(inst: &'a Instruction) -> Self {
        let none_if_empty = |s: &'a str| (!s.is_empty()).then_some(s);
        let target = inst.effective();
        let mut original = std::borrow::Cow::Borrowed(inst.original.as_str());
        let mut heredocs = Vec::new();
        // The package reads heredocs from the ONBUILD's inner node, where BuildKit
        // never puts them: an ONBUILD's heredocs are not reported.
        if !matches!(inst.args, Args::Onbuild(_)) && !inst.heredocs.is_empty() {
            let o = original.to_mut();
            o.push('\n');
            for h in &inst.heredocs {
                o.push_str(&h.content);
                o.push_str(&h.name);
                o.push('\n');
                heredocs.push(HeredocRef {
                    content: &h.content,
                    file_descriptor: h.file_descriptor,
                    name: &h.name,
                });
            }
        }
        CommandView {
            cmd: &inst.name,
            end_line: inst.end_line,
            flags: inst.flags.iter().map(|f| f.text.as_str()).collect(),
            heredocs,
            json: target.is_json(),
            original: (!original.is_empty()).then_some(original),
            start_line: inst.start_line,
            sub_cmd: match &inst.args {
                Args::Onbuild(inner) => none_if_empty(&inner.name),
                _ => None,
            },
            value: values(&target.args, false),
        }
    }

    fn to_owned(&self) -> Command {
        Command {
            cmd: self.cmd.to_string(),
            sub_cmd: self.sub_cmd.map(str::to_string),
            json: self.json,
            original: self.original.as_deref().map(str::to_string),
            start_line: self.start_line,
            end_line: self.end_line,
            flags: self.flags.iter().map(|f| f.to_string()).collect(),
            value: self.value.iter().map(|v| v.to_string()).collect(),
            heredocs: self
                .heredocs
                .iter()
                .map(|h| HeredocView {
                    name: h.name.to_string(),
                    file_descriptor: h.file_descriptor,
                    content: h.content.to_string(),
                })
                .collect(),
        }
    }
}

/// What the `dockerfile` package returns for a whole file, ready to serialise: the
/// commands, or `{"error": message}` when BuildKit's parser rejects it. Serialised, it
/// is the JSON of [`json_view`] (keys sorted), without building a `serde_json::Value`.
pub struct JsonView<'a>(View<'a>);

#[derive(Serialize)]
#[serde(untagged)]
enum View<'a> {
    Error { error: &'a str },
    Commands(#[serde(serialize_with = "commands_of")] &'a Dockerfile),
}

impl Serialize for JsonView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

fn commands_of<S: serde::Serializer>(file: &&Dockerfile, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(file.instructions.iter().map(CommandView::new))
}

/// The `dockerfile` package's output for a parsed file, as [`JsonView`] serialises it.
pub fn json(parsed: &crate::Parse) -> JsonView<'_> {
    JsonView(match parsed.diagnostics.iter().find(|d| d.rejects_parse()) {
        Some(first) => View::Error { error: &first.message },
        None => View::Commands(&parsed.file),
    })
}

/// What the `dockerfile` package returns for a whole file: the commands, or
/// `{"error": message}` when BuildKit's parser rejects it.
pub fn json_view(parsed: &crate::Parse) -> serde_json::Value {
    serde_json::to_value(json(parsed)).unwrap_or(serde_json::Value::Null)
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
                out.push_str(&go_quote(v));
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

    /// The view serialised directly has the keys where a `serde_json::Value` puts them
    /// (sorted): `slipway parse --format buildkit-json` writes it without the tree.
    #[test]
    fn json_view_serialises_as_its_value() {
        for text in [
            "FROM a AS b\nONBUILD RUN x\nENV k=v k2 v2\nRUN --mount=type=cache,target=/c <<EOF cat\nhi\nEOF\nCMD [\"a\"]\n",
            "FROM a\nONBUILD\n",
            "FROM a\nRUN\n",
            "",
        ] {
            let parsed = crate::parse(text);
            let direct = serde_json::to_string_pretty(&json(&parsed)).unwrap();
            let value = serde_json::to_string_pretty(&json_view(&parsed)).unwrap();
            assert_eq!(direct, value, "{text:?}");
        }
    }
}
