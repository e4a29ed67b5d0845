//! Tests never write into the user's store (issue 20): every spawned binary gets its
//! store from the harness (`crate::bin()`), a temporary one or none at all.

use crate::{bin, root, text, NO_STORE};
use std::path::Path;

/// Every test spawns the binary through `crate::bin()`, which sets its store.
#[test]
fn every_test_spawns_slipway_through_the_harness() {
    let needle = concat!("Command::new(env!(\"CARGO_BIN_", "EXE_slipway\"))");
    for entry in std::fs::read_dir(root().join("tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            assert!(
                !source.contains(needle),
                "{} spawns slipway without `crate::bin()`",
                path.display()
            );
        }
    }
}

/// Regression (issue 20): `cargo test` added stat-cache entries under
/// `~/.local/share/slipway/context-cache/`. With HOME and XDG_DATA_HOME on an empty
/// directory, a binary spawned without a store cannot fall back to the default root, and
/// one given a store writes only there.
#[test]
fn a_test_run_writes_nothing_under_the_default_root() {
    let d = tempfile::tempdir().unwrap();
    let (home, ctx, store) = (d.path().join("home"), d.path().join("ctx"), d.path().join("store"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY a /a\n").unwrap();
    std::fs::write(ctx.join("a"), "a\n").unwrap();
    // The stat cache does not keep a file changed just now.
    std::thread::sleep(std::time::Duration::from_millis(120));
    let run = |store: Option<&Path>, args: &[&str]| {
        let mut cmd = bin();
        cmd.args(args)
            .current_dir(&ctx)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"));
        if let Some(s) = store {
            cmd.env("SLIPWAY_ROOT", s);
        }
        cmd.output().unwrap()
    };

    let o = run(None, &["plan", "."]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(text(&o).1.contains(NO_STORE), "{o:?}");
    let o = run(None, &["check", "Dockerfile"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");

    let o = run(Some(&store), &["plan", "."]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let cached = std::fs::read_dir(store.join("context-cache")).unwrap().count();
    assert_eq!(cached, 1, "the stat cache is in the given store");

    let written: Vec<_> = walkdir::WalkDir::new(&home)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert!(written.is_empty(), "written under HOME: {written:?}");
}
