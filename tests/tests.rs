//! End-to-end tests of the `slipway` binary.

mod build;
mod check;
mod cli;
mod diagnostics;
mod differential;
mod editors;
mod export;
mod faults;
mod features;
mod fidelity;
mod isolation;
mod lsp;
mod plan;
mod plan_base;
mod platform_builds;
mod platforms;
mod registry;
mod runner;
mod sandbox;
mod seeds;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where the binary's store is when a test gives it none: under `/dev/null`, where
/// nothing can be created (not even by root), so a test that forgets its store fails
/// instead of writing into the user's (`~/.local/share/slipway`, issue 20).
pub const NO_STORE: &str = "/dev/null/slipway-test-without-a-store";

/// The `slipway` binary, the one way tests spawn it: with [`NO_STORE`] as its store
/// until the test sets `SLIPWAY_ROOT` to a temporary one.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
    cmd.env("SLIPWAY_ROOT", NO_STORE);
    cmd
}

/// Runs `slipway` with stable rendering (no colour, 100 columns).
pub fn slipway(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = bin();
    cmd.args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .current_dir(root());
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn slipway");
    if let Some(input) = stdin {
        // The child may exit without reading (a usage error); a broken pipe is fine.
        if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin: {e}");
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait for slipway")
}

/// Runs `slipway` in `cwd` against the store `store`, with stable layer dates and no colour.
pub fn slipway_in(store: &Path, cwd: &Path, args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .env("SLIPWAY_ROOT", store)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("NO_COLOR", "1")
        .output()
        .expect("run slipway")
}

/// A finished command's stdout and stderr, as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Compares `actual` with the snapshot file; `UPDATE_EXPECT=1` rewrites it.
pub fn check_snapshot(path: &PathBuf, actual: &str) -> Result<(), String> {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{} differs (UPDATE_EXPECT=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ))
    }
}
