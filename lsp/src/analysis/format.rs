//! Formatting: upper-case instruction names, one space after the name, no
//! indentation before it, continuation lines indented by four spaces, blanks
//! after a line-continuation escape removed. Heredoc bodies and text inside
//! quotes that spans lines are never touched, so the meaning stays the same.

use super::Analysis;
use slipway_parser::syntax::{Args, Instruction, Span};

/// The indentation of continuation lines.
pub const INDENT: &str = "    ";

/// Edits (byte span, replacement) in order, non-overlapping.
pub fn format(a: &Analysis) -> Vec<(Span, String)> {
    let mut out = Vec::new();
    for inst in &a.file.instructions {
        instruction(a, inst, &mut out);
    }
    out.sort_by_key(|(s, _)| s.start);
    out
}

/// The edits on the lines `range` touches.
pub fn format_range(a: &Analysis, range: Span) -> Vec<(Span, String)> {
    let text = &a.text;
    let start = text[..range.start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let end = range.end.min(text.len());
    let end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    format(a)
        .into_iter()
        .filter(|(s, _)| s.start <= end && s.end >= start)
        .collect()
}

fn instruction(a: &Analysis, inst: &Instruction, out: &mut Vec<(Span, String)>) {
    let text = &a.text;
    let bytes = text.as_bytes();
    let escape = a.file.escape as u8;
    // Indentation before the name.
    let line_start = text[..inst.name_span.start].rfind('\n').map_or(0, |i| i + 1);
    if inst.name_span.start > line_start && text[line_start..inst.name_span.start].trim().is_empty() {
        out.push((line_start..inst.name_span.start, String::new()));
    }
    name_and_space(a, inst, out);
    if let Args::Onbuild(inner) = &inst.args {
        name_and_space(a, inner, out);
    }
    // Continuation lines: physical lines after the first, up to the first heredoc body.
    let body_start = inst
        .heredocs
        .iter()
        .map(|h| h.content_span.start.min(h.terminator_span.start))
        .min()
        .unwrap_or(inst.span.end)
        .min(inst.span.end);
    let mut single = false;
    let mut double = false;
    let mut i = inst.name_span.end;
    while i < body_start {
        let b = bytes[i];
        if b == escape && !single {
            // An escape at a line end (maybe followed by blanks): a continuation.
            let mut j = i + 1;
            while j < body_start && (bytes[j] == b' ' || bytes[j] == b'\t') {
                j += 1;
            }
            let eol = j < bytes.len() && (bytes[j] == b'\n' || bytes[j] == b'\r');
            if eol && j > i + 1 {
                out.push((i + 1..j, String::new()));
            }
            i = if eol { j } else { i + 2 };
            continue;
        }
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'\n' => {
                let next = i + 1;
                if next >= body_start {
                    break;
                }
                let mut k = next;
                while k < body_start && (bytes[k] == b' ' || bytes[k] == b'\t') {
                    k += 1;
                }
                let blank = k >= body_start || bytes[k] == b'\n' || bytes[k] == b'\r';
                if !single && !double && !blank && &text[next..k] != INDENT {
                    out.push((next..k, INDENT.to_string()));
                }
            }
            _ => {}
        }
        i += 1;
    }
}

fn name_and_space(a: &Analysis, inst: &Instruction, out: &mut Vec<(Span, String)>) {
    let text = &a.text;
    let Some(kw) = inst.keyword else { return };
    if inst.name != kw.as_str() {
        out.push((inst.name_span.clone(), kw.as_str().to_string()));
    }
    let after = inst.name_span.end;
    let rest = &text[after..inst.span.end.min(text.len())];
    let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let next = rest[blanks..].chars().next();
    let continues = next.is_none_or(|c| c == '\n' || c == '\r' || c == a.file.escape);
    if !continues && &rest[..blanks] != " " {
        out.push((after..after + blanks, " ".to_string()));
    }
}

/// Applies non-overlapping edits (in any order).
pub fn apply(text: &str, edits: &[(Span, String)]) -> String {
    let mut sorted: Vec<&(Span, String)> = edits.iter().collect();
    sorted.sort_by_key(|(s, _)| (s.start, s.end));
    let mut out = text.to_string();
    for (s, t) in sorted.iter().rev() {
        out.replace_range(s.clone(), t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::analyze;
    use super::*;

    fn fmt(text: &str) -> String {
        apply(text, &format(&analyze(text)))
    }

    /// What the build sees: the typed, expanded commands, with whitespace runs
    /// collapsed (shell words do not change when indentation does).
    fn meaning(text: &str) -> Vec<String> {
        analyze(text)
            .model
            .commands
            .iter()
            .map(|c| {
                let mut s = serde_json::to_string(c).unwrap();
                if s.contains("\"onbuild\"") {
                    // The trigger is kept as text; instruction names are case-insensitive.
                    s = s.to_ascii_lowercase();
                }
                s.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect()
    }

    #[test]
    fn formats_case_spacing_and_continuations() {
        let input = "from   alpine AS build\n  run apt-get update \\\n&& apt-get install -y x \\   \n        && rm -rf /var/lib/apt/lists/*\ncopy\t--from=build /a /b\n";
        let want = "FROM alpine AS build\nRUN apt-get update \\\n    && apt-get install -y x \\\n    && rm -rf /var/lib/apt/lists/*\nCOPY --from=build /a /b\n";
        assert_eq!(fmt(input), want);
        assert_eq!(fmt(want), want, "formatting is idempotent");
        assert_eq!(meaning(input), meaning(want));
    }

    #[test]
    fn leaves_heredocs_and_multi_line_quotes_alone() {
        let input = "FROM a\nrun <<EOF\n  echo   hi\n\tEOF-not\nEOF\nRUN echo \"a \\\n      b\" \\\n  && true\n";
        let out = fmt(input);
        assert_eq!(
            out,
            "FROM a\nRUN <<EOF\n  echo   hi\n\tEOF-not\nEOF\nRUN echo \"a \\\n      b\" \\\n    && true\n"
        );
        assert_eq!(meaning(input), meaning(&out));
    }

    #[test]
    fn formatting_never_changes_meaning_on_the_fixtures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/features");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let out = fmt(&text);
            assert_eq!(meaning(&text), meaning(&out), "{}", e.path().display());
            assert_eq!(fmt(&out), out, "idempotent on {}", e.path().display());
            n += 1;
        }
        assert!(n > 0);
    }
}
