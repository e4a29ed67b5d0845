//! `slipway check` output formats: human (miette), JSON, SARIF 2.1.0, GitHub
//! workflow commands, Checkstyle XML and GNU one-liners.
//!
//! Diagnostics speak byte offsets; this is where they become 1-based lines
//! and columns, columns counted in characters (Unicode code points).

use crate::render;
use serde_json::{json, Value};
use slipway_parser::{rules, Diagnostic, Severity, Span};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// One checked file and what remains to report about it.
pub struct FileReport {
    /// The path as shown to the user (`<stdin>` for standard input).
    pub name: String,
    pub text: String,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Rendered diagnostics with source snippets, and a summary line.
    Human,
    /// `{"diagnostics": [...]}` with 1-based lines and character columns.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning, IDEs).
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…::message`).
    Github,
    /// Checkstyle XML.
    Checkstyle,
    /// `file:line.col-endline.endcol: severity: message [code]`.
    Gnu,
    /// hadolint's `json`: `[{"code", "column", "file", "level", "line", "message"}]`.
    HadolintJson,
    /// Code Climate issues, each followed by a NUL byte (hadolint's `codeclimate`).
    Codeclimate,
    /// GitLab's code quality report (hadolint's `gitlab_codeclimate`).
    #[value(name = "gitlab_codeclimate", alias = "gitlab-codeclimate")]
    GitlabCodeclimate,
}

/// Writes every report in `format`.
pub fn write(out: &mut impl Write, format: Format, files: &[FileReport], color: bool) -> io::Result<()> {
    match format {
        Format::Human => human(out, files, color),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &json_report(files))?;
            writeln!(out)
        }
        Format::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &sarif(files, &std::env::current_dir().ok()))?;
            writeln!(out)
        }
        Format::Github => github(out, files),
        Format::Checkstyle => checkstyle(out, files),
        Format::Gnu => gnu(out, files),
        Format::HadolintJson => {
            serde_json::to_writer(&mut *out, &crate::hadolint_format::json_array(files))?;
            writeln!(out)
        }
        Format::Codeclimate => crate::hadolint_format::codeclimate(out, files),
        Format::GitlabCodeclimate => crate::hadolint_format::gitlab(out, files),
    }
}

/// Line starts of a text, to turn byte offsets into 1-based lines and character columns.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        // A byte order mark is no character of line 1.
        let first = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let mut starts = vec![first];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1].min(offset);
        Position {
            line,
            column: self.text[start..offset].chars().count() + 1,
        }
    }

    pub fn range(&self, span: &Span) -> (Position, Position) {
        (self.position(span.start), self.position(span.end))
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Advice => "info",
    }
}

/// Counts of errors, warnings and advice.
pub fn counts(files: &[FileReport]) -> (usize, usize, usize) {
    let all = files.iter().flat_map(|f| &f.diagnostics);
    let n = |s| all.clone().filter(|d| d.severity == s).count();
    (n(Severity::Error), n(Severity::Warning), n(Severity::Advice))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `2 errors, 1 warning in 3 files` (advice counted only when there is some).
pub fn summary(files: &[FileReport]) -> String {
    let (e, w, a) = counts(files);
    let mut s = format!("{}, {}", plural(e, "error", "errors"), plural(w, "warning", "warnings"));
    if a > 0 {
        s.push_str(&format!(", {a} advice"));
    }
    s.push_str(&format!(" in {}", plural(files.len(), "file", "files")));
    s
}

fn human(out: &mut impl Write, files: &[FileReport], color: bool) -> io::Result<()> {
    for f in files {
        if !f.diagnostics.is_empty() {
            out.write_all(render::diagnostics(&f.name, &f.text, &f.diagnostics, color).as_bytes())?;
        }
    }
    writeln!(out, "{}", summary(files))
}

/// `--format json`: one object per diagnostic, fields in this order.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

#[derive(serde::Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    code: &'a str,
    /// The hadolint rule(s) the code corresponds to (`DL3008`, comma-separated), if any.
    hadolint: Option<String>,
    severity: &'static str,
    message: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    help: Option<&'a str>,
    fixes: Vec<JsonFix<'a>>,
}

#[derive(serde::Serialize)]
struct JsonFix<'a> {
    description: &'a str,
    edits: Vec<JsonEdit<'a>>,
}

#[derive(serde::Serialize)]
struct JsonEdit<'a> {
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    text: &'a str,
}

fn json_report(files: &[FileReport]) -> JsonReport<'_> {
    let mut diagnostics = Vec::new();
    for f in files {
        let index = LineIndex::new(&f.text);
        for d in &f.diagnostics {
            let (start, end) = index.range(&d.span);
            let fixes = d
                .fixes
                .iter()
                .map(|fix| JsonFix {
                    description: &fix.description,
                    edits: fix
                        .edits
                        .iter()
                        .map(|e| {
                            let (s, t) = index.range(&e.span);
                            JsonEdit {
                                line: s.line,
                                column: s.column,
                                end_line: t.line,
                                end_column: t.column,
                                text: &e.text,
                            }
                        })
                        .collect(),
                })
                .collect();
            diagnostics.push(JsonDiagnostic {
                file: &f.name,
                code: d.code,
                hadolint: hadolint(d.code),
                severity: severity_name(d.severity),
                message: &d.message,
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
                help: d.help.as_deref(),
                fixes,
            });
        }
    }
    JsonReport { diagnostics }
}

/// The hadolint rule(s) a code corresponds to, comma-separated (`DL3012,DL4003,DL4004`).
fn hadolint(code: &str) -> Option<String> {
    let codes = rules::hadolint_codes(code);
    (!codes.is_empty()).then(|| codes.join(","))
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Advice => "note",
    }
}

/// Percent-encodes a path for a SARIF `uri` (RFC 3986 unreserved characters and `/` stay).
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A SARIF artifact location: relative paths against `%SRCROOT%`, absolute ones as `file://` URIs.
fn artifact(name: &str) -> Value {
    let path = name.replace('\\', "/");
    if path.starts_with('/') {
        json!({ "uri": format!("file://{}", uri_path(&path)) })
    } else {
        json!({ "uri": uri_path(&path), "uriBaseId": "%SRCROOT%" })
    }
}

fn region(index: &LineIndex<'_>, span: &Span) -> Value {
    let (s, e) = index.range(span);
    json!({ "startLine": s.line, "startColumn": s.column, "endLine": e.line, "endColumn": e.column })
}

/// The SARIF 2.1.0 log: one run, every registered rule plus the codes seen.
pub fn sarif(files: &[FileReport], cwd: &Option<std::path::PathBuf>) -> Value {
    let mut rule_ids: Vec<&str> = Vec::new();
    let mut rule_values: Vec<Value> = Vec::new();
    let mut index_of: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rules::all() {
        let mut props = serde_json::Map::new();
        // The hadolint rule(s) this one corresponds to.
        if let Some(h) = hadolint(r.code) {
            props.insert("hadolint".into(), json!(h));
        }
        let mut tags = Vec::new();
        if r.buildkit {
            tags.push("buildkit");
        }
        if r.experimental {
            tags.push("experimental");
        }
        if !tags.is_empty() {
            props.insert("tags".into(), json!(tags));
        }
        let mut rule = json!({
            "id": r.code,
            "shortDescription": { "text": r.description },
            "helpUri": r.url,
            "defaultConfiguration": { "level": sarif_level(r.severity) },
        });
        if !props.is_empty() {
            rule["properties"] = Value::Object(props);
        }
        index_of.insert(r.code, rule_ids.len());
        rule_ids.push(r.code);
        rule_values.push(rule);
    }
    for d in files.iter().flat_map(|f| &f.diagnostics) {
        if !index_of.contains_key(d.code) {
            index_of.insert(d.code, rule_ids.len());
            rule_ids.push(d.code);
            let mut rule = json!({
                "id": d.code,
                "shortDescription": { "text": d.message },
            });
            if let Some(h) = hadolint(d.code) {
                rule["properties"] = json!({ "hadolint": h });
            }
            rule_values.push(rule);
        }
    }

    let mut results = Vec::new();
    for f in files {
        let index = LineIndex::new(&f.text);
        let location = artifact(&f.name);
        for d in &f.diagnostics {
            let mut result = json!({
                "ruleId": d.code,
                "ruleIndex": index_of[d.code],
                "level": sarif_level(d.severity),
                "message": { "text": d.message },
                "locations": [{
                    "physicalLocation": { "artifactLocation": location, "region": region(&index, &d.span) },
                }],
            });
            if !d.related.is_empty() {
                result["relatedLocations"] = d
                    .related
                    .iter()
                    .enumerate()
                    .map(|(i, (span, label))| {
                        json!({
                            "id": i,
                            "message": { "text": label },
                            "physicalLocation": { "artifactLocation": location, "region": region(&index, span) },
                        })
                    })
                    .collect();
            }
            if !d.fixes.is_empty() {
                result["fixes"] = d
                    .fixes
                    .iter()
                    .map(|fix| {
                        let replacements: Vec<Value> = fix
                            .edits
                            .iter()
                            .map(|e| json!({ "deletedRegion": region(&index, &e.span), "insertedContent": { "text": e.text } }))
                            .collect();
                        json!({
                            "description": { "text": fix.description },
                            "artifactChanges": [{ "artifactLocation": location, "replacements": replacements }],
                        })
                    })
                    .collect();
            }
            let mut props = serde_json::Map::new();
            if let Some(help) = &d.help {
                props.insert("help".into(), json!(help));
            }
            if let Some(h) = hadolint(d.code) {
                props.insert("hadolint".into(), json!(h));
            }
            if !props.is_empty() {
                result["properties"] = Value::Object(props);
            }
            results.push(result);
        }
    }

    let mut run = json!({
        "tool": {
            "driver": {
                "name": "slipway",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rule_values,
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
    });
    if let Some(cwd) = cwd.as_ref().and_then(|c| c.to_str()) {
        let mut base = uri_path(&cwd.replace('\\', "/"));
        if !base.ends_with('/') {
            base.push('/');
        }
        run["originalUriBaseIds"] = json!({ "%SRCROOT%": { "uri": format!("file://{base}") } });
    }
    json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    })
}

/// Escapes workflow-command data (`%`, CR, LF) and, for properties, `:` and `,`.
fn gh_escape(s: &str, property: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

fn github(out: &mut impl Write, files: &[FileReport]) -> io::Result<()> {
    for f in files {
        let index = LineIndex::new(&f.text);
        for d in &f.diagnostics {
            let (s, e) = index.range(&d.span);
            let kind = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Advice => "notice",
            };
            writeln!(
                out,
                "::{kind} file={},line={},col={},endLine={},endColumn={},title={}::{}",
                gh_escape(&f.name, true),
                s.line,
                s.column,
                e.line,
                e.column,
                gh_escape(d.code, true),
                gh_escape(&d.message, false),
            )?;
        }
    }
    Ok(())
}

/// Escapes an XML attribute value.
fn xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            // Not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn checkstyle(out: &mut impl Write, files: &[FileReport]) -> io::Result<()> {
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(out, "<checkstyle version=\"4.3\">")?;
    for f in files {
        let index = LineIndex::new(&f.text);
        writeln!(out, "  <file name=\"{}\">", xml_attr(&f.name))?;
        for d in &f.diagnostics {
            let s = index.position(d.span.start);
            writeln!(
                out,
                "    <error line=\"{}\" column=\"{}\" severity=\"{}\" message=\"{}\" source=\"{}\"/>",
                s.line,
                s.column,
                severity_name(d.severity),
                xml_attr(&d.message),
                xml_attr(d.code),
            )?;
        }
        writeln!(out, "  </file>")?;
    }
    writeln!(out, "</checkstyle>")
}

fn gnu(out: &mut impl Write, files: &[FileReport]) -> io::Result<()> {
    for f in files {
        let index = LineIndex::new(&f.text);
        for d in &f.diagnostics {
            let (s, e) = index.range(&d.span);
            writeln!(
                out,
                "{}:{}.{}-{}.{}: {}: {} [{}]",
                f.name,
                s.line,
                s.column,
                e.line,
                e.column,
                severity_name(d.severity),
                d.message.replace('\n', " "),
                d.code
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_not_bytes() {
        let text = "FROM é\nRUN 🚀 x\n";
        let index = LineIndex::new(text);
        assert_eq!(index.position(0), Position { line: 1, column: 1 });
        let x = text.find('x').unwrap();
        assert_eq!(index.position(x), Position { line: 2, column: 7 });
        // Inside a character: the character's start.
        let rocket = text.find('🚀').unwrap();
        assert_eq!(index.position(rocket + 2), Position { line: 2, column: 5 });
        assert_eq!(index.position(text.len()), Position { line: 3, column: 1 });
        assert_eq!(index.position(text.len() + 10), Position { line: 3, column: 1 });
        let bom = LineIndex::new("\u{feff}FROM a");
        assert_eq!(bom.position(3), Position { line: 1, column: 1 });
        assert_eq!(bom.position(0), Position { line: 1, column: 1 });
    }

    #[test]
    fn escapes() {
        assert_eq!(gh_escape("a:b,c%\nd", true), "a%3Ab%2Cc%25%0Ad");
        assert_eq!(gh_escape("a:b,c", false), "a:b,c");
        assert_eq!(xml_attr("<a & \"b\">\n"), "&lt;a &amp; &quot;b&quot;&gt;&#10;");
        assert_eq!(uri_path("dir/my file#1.Dockerfile"), "dir/my%20file%231.Dockerfile");
    }
}
