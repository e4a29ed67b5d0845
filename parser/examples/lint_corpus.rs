//! Runs `slipway_parser::check` on Dockerfiles and prints one JSON object per
//! diagnostic, for `bench/hadolint_compare.py`:
//!
//!     lint_corpus [--list FILE] [FILE...]
//!
//! Each line: `{"file", "code", "hadolint", "severity", "line", "column",
//! "instruction_line"}`, where `hadolint` is the hadolint code the diagnostic
//! corresponds to (a rule's own code, `lint::HADOLINT_ALIASES` or
//! `lint::HADOLINT_ERRORS`; parse errors are `DL1000`) and `instruction_line`
//! the first line of the instruction it belongs to. The last line is
//! `{"files": N, "seconds": S}`: the time of `check` alone, files read first.
//!
//! `--instructions` also prints `{"file", "instructions": [[first, last], …]}`
//! per file: the line range of every instruction (to place other tools' findings).
//!
//! `--dump-scripts DIR` also writes every RUN script shellcheck would be given
//! (`slipway_parser::scripts`) to `DIR/<n>.<dialect>`, untimed, so the cost of
//! shellcheck on them can be measured.

use slipway_parser::{lint, rules, CheckOptions, Keyword, Phase};
use std::io::Write;
use std::time::Instant;

fn hadolint_code(code: &str, phase: Phase, keyword: Option<Keyword>) -> Option<&'static str> {
    // One BuildKit rule for three hadolint rules: tell them apart by instruction.
    if code == "MultipleInstructionsDisallowed" {
        return match keyword {
            Some(Keyword::Cmd) => Some("DL4003"),
            Some(Keyword::Entrypoint) => Some("DL4004"),
            _ => Some("DL3012"),
        };
    }
    if let Some(h) = rules::all().find(|r| r.code == code).and_then(|r| r.hadolint) {
        return Some(h);
    }
    if let Some((h, _)) = lint::HADOLINT_ALIASES.iter().find(|(_, c)| *c == code) {
        return Some(h);
    }
    if let Some((h, _)) = lint::HADOLINT_ERRORS.iter().find(|(_, c)| *c == code) {
        return Some(h);
    }
    (phase == Phase::Parse).then_some("DL1000")
}

fn main() {
    let mut files = Vec::new();
    let mut dump: Option<std::path::PathBuf> = None;
    let mut instructions = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--instructions" {
            instructions = true;
        } else if a == "--dump-scripts" {
            dump = Some(args.next().expect("--dump-scripts DIR").into());
        } else if a == "--list" {
            let list = args.next().expect("--list FILE");
            let text = std::fs::read_to_string(&list).expect("read the list");
            files.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_string));
        } else {
            files.push(a);
        }
    }
    let texts: Vec<(String, String)> = files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap_or_default();
            (f, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect();
    let options = CheckOptions::default();
    let start = Instant::now();
    let results: Vec<_> = texts.iter().map(|(_, t)| slipway_parser::check(t, &options)).collect();
    let seconds = start.elapsed().as_secs_f64();

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for ((file, text), parsed) in texts.iter().zip(&results) {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        for d in &parsed.diagnostics {
            let start = d.span.start.min(text.len());
            let line = line_of(start);
            let column = text[..start].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let inst = parsed.file.instructions.iter().rev().find(|i| i.span.start <= start);
            let instruction_line = inst.map_or(line, |i| i.start_line);
            let keyword = inst.and_then(|i| i.effective().keyword);
            let row = serde_json::json!({
                "file": file,
                "code": d.code,
                "hadolint": hadolint_code(d.code, d.phase, keyword),
                "severity": d.severity,
                "line": line,
                "column": column,
                "instruction_line": instruction_line,
            });
            writeln!(out, "{row}").expect("write");
        }
    }
    if instructions {
        for ((file, _), parsed) in texts.iter().zip(&results) {
            let lines: Vec<[usize; 2]> = parsed
                .file
                .instructions
                .iter()
                .map(|i| [i.start_line, i.end_line])
                .collect();
            writeln!(out, "{}", serde_json::json!({"file": file, "instructions": lines})).expect("write");
        }
    }
    writeln!(out, "{}", serde_json::json!({"files": texts.len(), "seconds": seconds})).expect("write");

    if let Some(dir) = dump {
        std::fs::create_dir_all(&dir).expect("create the script directory");
        let mut n = 0;
        for (_, text) in &texts {
            let parsed = slipway_parser::parse(text);
            let model = slipway_parser::model::analyze(text, &parsed.file, &options);
            for script in slipway_parser::scripts::scripts(text, &parsed.file, &model) {
                n += 1;
                std::fs::write(dir.join(format!("{n}.{}", script.dialect)), &script.text).expect("write a script");
            }
        }
    }
}
