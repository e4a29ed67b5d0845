//! Snapshots of rendered diagnostics: one fixture per distinct mistake in
//! `tests/fixtures/mistakes/`, rendered by the CLI without colour at 100
//! columns, compared with `tests/snapshots/mistakes/`.

use crate::{check_snapshot, root, slipway};

fn fixtures() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("tests/fixtures/mistakes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    v.sort();
    v
}

#[test]
fn rendered_diagnostics_match_snapshots() {
    let mut failures = Vec::new();
    let all = fixtures();
    for path in &all {
        let rel = path.strip_prefix(root()).unwrap().to_str().unwrap().to_string();
        let out = slipway(&["--color", "never", "parse", "--format", "buildkit-dump", &rel], None);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.is_empty(), "{rel}: no diagnostic at all");
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let snap = root().join("tests/snapshots/mistakes").join(format!("{stem}.txt"));
        let actual = format!("exit: {}\n{stderr}", out.status.code().unwrap_or(-1));
        if let Err(e) = check_snapshot(&snap, &actual) {
            failures.push(e);
        }
    }
    assert!(all.len() >= 25, "only {} mistake fixtures", all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_mistake_has_a_code_a_span_and_a_help() {
    for path in fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = slipway_parser::parse(&text);
        assert!(!parsed.diagnostics.is_empty(), "{}: no diagnostic", path.display());
        for d in &parsed.diagnostics {
            let buildkit_check = slipway_parser::rules::BUILDKIT.iter().any(|r| r.code == d.code);
            assert!(
                d.code.starts_with("slipway::") || buildkit_check,
                "{}: {d:?}",
                path.display()
            );
            assert!(
                d.span.end <= text.len() && d.span.start <= d.span.end,
                "{}: {d:?}",
                path.display()
            );
            assert!(
                d.help.as_deref().is_some_and(|h| !h.is_empty()),
                "{}: no help in {d:?}",
                path.display()
            );
        }
    }
}

/// Five independent mistakes give five diagnostics: recovery hides nothing.
#[test]
fn five_mistakes_five_diagnostics() {
    let text = std::fs::read_to_string(root().join("tests/fixtures/mistakes/five-mistakes.Dockerfile")).unwrap();
    let parsed = slipway_parser::parse(&text);
    let codes: Vec<&str> = parsed.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            "slipway::syntax::unknown-instruction",
            "slipway::flag::unknown",
            "slipway::syntax::missing-value",
            "slipway::syntax::json-not-strings",
            "slipway::heredoc::unterminated",
        ]
    );
    let lines: Vec<usize> = parsed
        .diagnostics
        .iter()
        .map(|d| text[..d.span.start].lines().count().max(1))
        .collect();
    assert_eq!(lines, [1, 2, 3, 4, 5]);
}
