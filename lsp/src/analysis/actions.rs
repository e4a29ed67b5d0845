//! Code actions: the fixes diagnostics carry (the same edits as `check --fix`),
//! suppressions (`# check=skip=`, `# slipway ignore=`), shell form → JSON form,
//! splitting a RUN at `&&` and merging it with the next RUN.

use super::Analysis;
use slipway_parser::syntax::{Args, Instruction, Keyword, Span};
use slipway_parser::{Diagnostic, Phase};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    QuickFix,
    Rewrite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub title: String,
    pub kind: ActionKind,
    pub edits: Vec<(Span, String)>,
    /// The diagnostic it fixes or suppresses.
    pub diagnostic: Option<Diagnostic>,
    pub preferred: bool,
}

/// Actions for `range`, given the document's diagnostics (the analysis's and any others, e.g. shellcheck's).
pub fn actions(a: &Analysis, range: Span, diagnostics: &[Diagnostic]) -> Vec<Action> {
    let mut out = Vec::new();
    for d in diagnostics {
        let touches = d.span.start <= range.end && range.start <= d.span.end;
        if !touches {
            continue;
        }
        for (n, fix) in d.fixes.iter().enumerate() {
            let ok = fix.edits.iter().all(|e| {
                e.span.start <= e.span.end
                    && e.span.end <= a.text.len()
                    && a.text.is_char_boundary(e.span.start)
                    && a.text.is_char_boundary(e.span.end)
            });
            if ok && !fix.edits.is_empty() {
                out.push(Action {
                    title: fix.description.clone(),
                    kind: ActionKind::QuickFix,
                    edits: fix.edits.iter().map(|e| (e.span.clone(), e.text.clone())).collect(),
                    diagnostic: Some(d.clone()),
                    preferred: n == 0,
                });
            }
        }
        if let Some(s) = suppress(a, d) {
            out.push(s);
        }
    }
    if let Some(i) = a.instruction_at(range.start) {
        let inst = &a.file.instructions[i];
        out.extend(to_json(a, inst));
        out.extend(split_run(a, inst));
        out.extend(merge_run(a, i));
    }
    out
}

fn suppress(a: &Analysis, d: &Diagnostic) -> Option<Action> {
    if d.phase == Phase::Parse {
        return None;
    }
    let rule = slipway_parser::rules::find(d.code);
    if rule.is_some_and(|r| r.buildkit) {
        let edit = match a.file.directives.iter().find(|x| x.name == "check") {
            Some(dir) => {
                let value = &dir.value;
                match value.find("skip=") {
                    Some(at) => {
                        let list_end = value[at..].find(';').map_or(value.len(), |e| at + e);
                        let insert = dir.value_span.start + list_end;
                        (insert..insert, format!(",{}", d.code))
                    }
                    None => (dir.value_span.end..dir.value_span.end, format!(";skip={}", d.code)),
                }
            }
            None => {
                let start = if a.text.starts_with('\u{feff}') { 3 } else { 0 };
                (start..start, format!("# check=skip={}\n", d.code))
            }
        };
        return Some(Action {
            title: format!("Skip {} in this file (# check=skip)", d.code),
            kind: ActionKind::QuickFix,
            edits: vec![edit],
            diagnostic: Some(d.clone()),
            preferred: false,
        });
    }
    let i = a.instruction_at(d.span.start)?;
    let inst = &a.file.instructions[i];
    let line_start = a.text[..inst.span.start].rfind('\n').map_or(0, |x| x + 1);
    let indent: String = a.text[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let code = d.code.strip_prefix("shellcheck::").unwrap_or(d.code);
    Some(Action {
        title: format!("Ignore {code} for this instruction (# slipway ignore)"),
        kind: ActionKind::QuickFix,
        edits: vec![(line_start..line_start, format!("{indent}# slipway ignore={code}\n"))],
        diagnostic: Some(d.clone()),
        preferred: false,
    })
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `CMD x y` → `CMD ["x", "y"]`; with shell syntax, `["/bin/sh", "-c", "..."]`.
fn to_json(a: &Analysis, inst: &Instruction) -> Option<Action> {
    let inst = inst.effective();
    if !matches!(inst.keyword, Some(Keyword::Cmd | Keyword::Entrypoint | Keyword::Run)) || !inst.heredocs.is_empty() {
        return None;
    }
    let Args::Shell(w) = &inst.args else { return None };
    let cmd = w.text.trim();
    if cmd.is_empty() {
        return None;
    }
    let shell_syntax = cmd.contains(|c: char| "|&;<>()$`\\\"'*?[]#~=%{}\n".contains(c));
    let parts: Vec<String> = if shell_syntax {
        vec!["/bin/sh".into(), "-c".into(), cmd.to_string()]
    } else {
        cmd.split_whitespace().map(str::to_string).collect()
    };
    let json = format!(
        "[{}]",
        parts.iter().map(|p| json_string(p)).collect::<Vec<_>>().join(", ")
    );
    let _ = a;
    Some(Action {
        title: format!("Convert {} to exec (JSON) form", inst.keyword?.as_str()),
        kind: ActionKind::Rewrite,
        edits: vec![(w.span.clone(), json)],
        diagnostic: None,
        preferred: false,
    })
}

/// The `&&`-separated commands of a shell line, outside quotes.
fn and_parts(cmd: &str, escape: char) -> Vec<&str> {
    let bytes = cmd.as_bytes();
    let (mut single, mut double) = (false, false);
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == escape as u8 && !single {
            i += 2;
            continue;
        }
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'&' if !single && !double && bytes.get(i + 1) == Some(&b'&') => {
                parts.push(cmd[start..i].trim());
                start = i + 2;
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(cmd[start..].trim());
    parts
}

fn flags_text(a: &Analysis, inst: &Instruction) -> String {
    inst.flags
        .iter()
        .map(|f| format!("{} ", &a.text[f.span.clone()]))
        .collect::<String>()
}

fn run_shell(inst: &Instruction) -> Option<&slipway_parser::syntax::Word> {
    if inst.keyword != Some(Keyword::Run) || !inst.heredocs.is_empty() {
        return None;
    }
    match &inst.args {
        Args::Shell(w) => Some(w),
        _ => None,
    }
}

/// The instruction's span without its line ending.
fn body_span(a: &Analysis, inst: &Instruction) -> Span {
    let mut s = inst.span.clone();
    while s.end > s.start && matches!(a.text.as_bytes()[s.end - 1], b'\n' | b'\r') {
        s.end -= 1;
    }
    s
}

fn split_run(a: &Analysis, inst: &Instruction) -> Option<Action> {
    let w = run_shell(inst)?;
    let parts = and_parts(&w.text, a.file.escape);
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let flags = flags_text(a, inst);
    let name = inst.name.as_str();
    let text = parts
        .iter()
        .map(|p| format!("{name} {flags}{p}"))
        .collect::<Vec<_>>()
        .join("\n");
    Some(Action {
        title: format!("Split RUN into {} instructions", parts.len()),
        kind: ActionKind::Rewrite,
        edits: vec![(body_span(a, inst), text)],
        diagnostic: None,
        preferred: false,
    })
}

fn merge_run(a: &Analysis, i: usize) -> Option<Action> {
    let (inst, next) = (a.file.instructions.get(i)?, a.file.instructions.get(i + 1)?);
    let (w1, w2) = (run_shell(inst)?, run_shell(next)?);
    if flags_text(a, inst) != flags_text(a, next)
        || !next.comments.is_empty()
        || a.model.stage_of.get(i) != a.model.stage_of.get(i + 1)
        || !a.text[inst.span.end..next.span.start].trim().is_empty()
    {
        return None;
    }
    let esc = a.file.escape;
    let first = a.text[inst.span.start..w1.span.end].trim_end();
    let second = a.text.get(w2.span.clone())?;
    Some(Action {
        title: "Merge with the next RUN".to_string(),
        kind: ActionKind::Rewrite,
        edits: vec![(
            inst.span.start..body_span(a, next).end,
            format!("{first} {esc}\n    && {second}"),
        )],
        diagnostic: None,
        preferred: false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{analyze, cursor};
    use super::super::format::apply;
    use super::*;

    fn titles(fixture: &str) -> Vec<String> {
        let (text, at) = cursor(fixture);
        let a = analyze(&text);
        actions(&a, at..at, &a.diagnostics)
            .into_iter()
            .map(|x| x.title)
            .collect()
    }

    fn run(fixture: &str, title: &str) -> String {
        let (text, at) = cursor(fixture);
        let a = analyze(&text);
        let act = actions(&a, at..at, &a.diagnostics)
            .into_iter()
            .find(|x| x.title.starts_with(title))
            .unwrap_or_else(|| panic!("no action {title:?} in {:?}", titles(fixture)));
        apply(&text, &act.edits)
    }

    #[test]
    fn quick_fixes_match_check_fix() {
        // FromAsCasing has a fix in the parser's checks.
        let out = run("FROM a $0as build\n", "");
        assert_eq!(out, "FROM a AS build\n");
    }

    #[test]
    fn suppressions() {
        assert_eq!(
            run("FROM a $0as build\n", "Skip FromAsCasing"),
            "# check=skip=FromAsCasing\nFROM a as build\n"
        );
        assert_eq!(
            run("# check=skip=StageNameCasing;error=true\nFROM a $0as build\n", "Skip"),
            "# check=skip=StageNameCasing,FromAsCasing;error=true\nFROM a as build\n"
        );
        assert_eq!(
            run("# check=error=true\nFROM a $0as build\n", "Skip"),
            "# check=error=true;skip=FromAsCasing\nFROM a as build\n"
        );
    }

    #[test]
    fn rewrites() {
        assert_eq!(
            run("FROM a\nCMD$0 nginx -g daemon\n", "Convert CMD"),
            "FROM a\nCMD [\"nginx\", \"-g\", \"daemon\"]\n"
        );
        assert_eq!(
            run("FROM a\nCMD$0 echo $HOME && ls\n", "Convert CMD"),
            "FROM a\nCMD [\"/bin/sh\", \"-c\", \"echo $HOME && ls\"]\n"
        );
        assert_eq!(
            run(
                "FROM a\nRUN$0 --network=none apt-get update && echo 'a && b'\n",
                "Split"
            ),
            "FROM a\nRUN --network=none apt-get update\nRUN --network=none echo 'a && b'\n"
        );
        assert_eq!(
            run("FROM a\nRUN$0 a \\\n  && b\nRUN c\n", "Merge"),
            "FROM a\nRUN a \\\n  && b \\\n    && c\n"
        );
        assert!(!titles("FROM a\nRUN$0 a\n# why\nRUN c\n")
            .iter()
            .any(|t| t.starts_with("Merge")));
    }
}
