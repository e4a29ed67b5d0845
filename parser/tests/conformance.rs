//! BuildKit's own parser test files: `testfiles/*/Dockerfile` must dump to
//! `result` byte for byte, `testfiles-negative/*` must be rejected.
//! The files live in `../shared/` beside the project; without it the tests
//! print a note and pass.

use std::path::{Path, PathBuf};

fn shared() -> Option<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/buildkit/frontend/dockerfile/parser");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: {} is absent; skipping BuildKit conformance cases", dir.display());
        None
    }
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

#[test]
fn positive_cases_dump_exactly() {
    let Some(root) = shared() else { return };
    let mut failures = Vec::new();
    let all = cases(&root.join("testfiles"));
    for case in &all {
        let parsed = slipway_parser::parse(&read(&case.join("Dockerfile")));
        let expected = read(&case.join("result"));
        let got = slipway_parser::buildkit::dump(&parsed.file);
        if parsed.rejected() {
            failures.push(format!("{}: rejected: {:?}", case.display(), parsed.diagnostics));
        } else if got != expected {
            failures.push(format!("{}:\n--- expected\n{expected}--- got\n{got}", case.display()));
        }
    }
    assert_eq!(all.len(), 33, "expected 33 positive cases");
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn negative_cases_are_rejected() {
    let Some(root) = shared() else { return };
    let all = cases(&root.join("testfiles-negative"));
    assert_eq!(all.len(), 4);
    for case in all {
        let parsed = slipway_parser::parse(&read(&case.join("Dockerfile")));
        assert!(parsed.rejected(), "{} was accepted", case.display());
    }
}

#[test]
fn line_numbers_match_buildkit() {
    let Some(root) = shared() else { return };
    let parsed = slipway_parser::parse(&read(&root.join("testfile-line/Dockerfile")));
    let file = &parsed.file;
    assert_eq!(file.instructions.first().unwrap().start_line, 5);
    assert_eq!(file.instructions.last().unwrap().end_line, 31);
    let lines: Vec<(usize, usize)> = file.instructions.iter().map(|i| (i.start_line, i.end_line)).collect();
    assert_eq!(lines, vec![(5, 5), (11, 12), (17, 31)]);
}
