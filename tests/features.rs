//! The project's own feature fixtures (`tests/fixtures/features/`): each
//! file's BuildKit `Node.Dump()` view and diagnostics are snapshotted in
//! `tests/snapshots/features/`. The same files are checked against the live
//! BuildKit parser by `parser/tests/live_oracle.rs` when Python is available.

use crate::{check_snapshot, root, slipway};

#[test]
fn feature_fixtures_match_snapshots() {
    let mut paths: Vec<_> = std::fs::read_dir(root().join("tests/fixtures/features"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    for path in &paths {
        let rel = path.strip_prefix(root()).unwrap().to_str().unwrap().to_string();
        let out = slipway(&["--color", "never", "parse", "--format", "buildkit-dump", &rel], None);
        let actual = format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap()
        );
        let stem = path.file_stem().unwrap().to_str().unwrap();
        if let Err(e) = check_snapshot(
            &root().join("tests/snapshots/features").join(format!("{stem}.txt")),
            &actual,
        ) {
            failures.push(e);
        }
    }
    assert!(paths.len() >= 10);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
