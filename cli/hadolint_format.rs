//! hadolint's output formats, for CI integrations scripted against hadolint:
//! `--format hadolint-json` (hadolint's `json`: an array of `code`, `column`, `file`,
//! `level`, `line`, `message`), `codeclimate` (one Code Climate issue per finding,
//! each followed by a NUL byte) and `gitlab_codeclimate` (a JSON array of the issues
//! with a `fingerprint`, for GitLab's code quality report).
//!
//! Findings are named as hadolint names them: the hadolint code of the rule (`DL3008`),
//! of the BuildKit check or build error that covers a hadolint rule (`DL3025` for
//! `JSONArgsRecommended`), `DL1000` for what BuildKit's parser rejects, `SC2086` for
//! shellcheck; slipway's code where hadolint has none. Levels are `error`, `warning`
//! and `info` (slipway's advice covers hadolint's info and style).

use crate::report::{FileReport, LineIndex, Position};
use serde_json::{json, Value};
use sha2::Digest;
use slipway_parser::diagnostics::Phase;
use slipway_parser::{Diagnostic, Severity};
use std::io::{self, Write};

/// The code hadolint would report for a diagnostic.
pub fn hadolint_code(d: &Diagnostic) -> String {
    if d.phase == Phase::Parse {
        return "DL1000".into();
    }
    if let Some(sc) = d.code.strip_prefix("shellcheck::") {
        return sc.to_string();
    }
    if let Some(h) = slipway_parser::lint::RULES
        .iter()
        .find(|r| r.code == d.code)
        .and_then(|r| r.hadolint)
    {
        return h.to_string();
    }
    let covering: Vec<&str> = slipway_parser::lint::HADOLINT_ALIASES
        .iter()
        .chain(slipway_parser::lint::HADOLINT_ERRORS)
        .filter(|(_, c)| *c == d.code)
        .map(|(h, _)| *h)
        .collect();
    match covering.as_slice() {
        [] => d.code.to_string(),
        [one] => one.to_string(),
        // MultipleInstructionsDisallowed: DL4003 (CMD), DL4004 (ENTRYPOINT), DL3012 (HEALTHCHECK).
        several => {
            let by_instruction = [("ENTRYPOINT", "DL4004"), ("HEALTHCHECK", "DL3012"), ("CMD", "DL4003")];
            by_instruction
                .iter()
                .find(|(kw, h)| several.contains(h) && d.message.contains(kw))
                .map_or(several[0], |(_, h)| h)
                .to_string()
        }
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Advice => "info",
    }
}

/// Code Climate's severity for a level (hadolint's mapping).
fn impact(s: Severity) -> &'static str {
    match s {
        Severity::Error => "blocker",
        Severity::Warning => "major",
        Severity::Advice => "info",
    }
}

/// Every finding with the 1-based position where it starts.
fn each(files: &[FileReport]) -> Vec<(&FileReport, Position, &Diagnostic)> {
    let mut out = Vec::new();
    for f in files {
        let index = LineIndex::new(&f.text);
        out.extend(f.diagnostics.iter().map(|d| (f, index.position(d.span.start), d)));
    }
    out
}

/// hadolint's `json`.
pub fn json_array(files: &[FileReport]) -> Value {
    Value::Array(
        each(files)
            .into_iter()
            .map(|(f, at, d)| {
                json!({
                    "code": hadolint_code(d),
                    "column": at.column,
                    "file": f.name,
                    "level": level(d.severity),
                    "line": at.line,
                    "message": d.message,
                })
            })
            .collect(),
    )
}

/// A Code Climate issue, as hadolint writes it (with the line range).
fn issue(f: &FileReport, at: Position, d: &Diagnostic) -> Value {
    let line = at.line;
    json!({
        "type": "issue",
        "check_name": hadolint_code(d),
        "description": d.message,
        "categories": ["Bug Risk"],
        "location": {"path": f.name, "lines": {"begin": line, "end": line}},
        "severity": impact(d.severity),
    })
}

/// `codeclimate`: each issue followed by a NUL byte (the Code Climate engine protocol).
pub fn codeclimate(out: &mut impl Write, files: &[FileReport]) -> io::Result<()> {
    for (f, at, d) in each(files) {
        serde_json::to_writer(&mut *out, &issue(f, at, d))?;
        out.write_all(b"\0")?;
    }
    Ok(())
}

/// `gitlab_codeclimate`: one JSON array; each issue has a `fingerprint`, a hash of the
/// issue, so GitLab can follow it between runs.
pub fn gitlab(out: &mut impl Write, files: &[FileReport]) -> io::Result<()> {
    let issues: Vec<Value> = each(files)
        .into_iter()
        .map(|(f, at, d)| {
            let mut i = issue(f, at, d);
            let digest = sha2::Sha256::digest(i.to_string().as_bytes());
            let fingerprint: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            i["fingerprint"] = Value::String(fingerprint);
            i
        })
        .collect();
    serde_json::to_writer(&mut *out, &issues)?;
    writeln!(out)
}
