//! `slipway lsp` over stdio: the real binary, a client with real framing, every
//! capability (the same walk as the in-process suite), and a clean exit.

#[path = "../lsp/tests/support/client.rs"]
mod client;

use std::process::Stdio;
use std::time::{Duration, Instant};

fn spawn() -> (client::Client, std::process::Child) {
    let mut child = crate::bin()
        .args(["lsp", "--stdio"])
        // No store (`crate::NO_STORE`): code lenses and image facts must degrade, not fail.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn slipway lsp");
    let c = client::Client::new(child.stdout.take().unwrap(), child.stdin.take().unwrap());
    (c, child)
}

fn wait_exit(child: &mut std::process::Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("slipway lsp did not exit");
}

#[test]
fn lsp_over_stdio_answers_every_capability_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, mut child) = spawn();
    client::exercise_all(&mut c, dir.path());
    c.shutdown();
    assert_eq!(wait_exit(&mut child), Some(0));
}

#[test]
fn lsp_exits_when_its_input_closes() {
    let (c, mut child) = spawn();
    drop(c);
    // Closing stdin without `exit` ends the server too (no hang).
    assert!(wait_exit(&mut child).is_some());
}

/// Polls code lenses until `want` returns true (the plan runs in the background).
fn lenses_until(c: &mut client::Client, uri: &str, want: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut titles = Vec::new();
    for _ in 0..200 {
        let lenses = c.request(
            "textDocument/codeLens",
            serde_json::json!({"textDocument": {"uri": uri}}),
        );
        titles = lenses
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["command"]["title"].as_str().unwrap_or_default().to_string())
            .collect();
        if want(&titles) {
            return titles;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("code lenses never became what was expected: {titles:?}");
}

#[test]
fn lsp_shows_image_facts_and_cache_status_from_the_store() {
    use serde_json::json;
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    let rootfs = d.path().join("rootfs");
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(rootfs.join("bin/hello"), "hi\n").unwrap();
    std::fs::write(ctx.join("a"), "a\n").unwrap();
    let dockerfile = ctx.join("Dockerfile");
    std::fs::write(&dockerfile, "FROM hello\nCOPY a /a\n").unwrap();
    let run = |args: &[&str]| {
        let o = crate::bin().args(args).env("SLIPWAY_ROOT", &store).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let image_id = run(&["image", "import", rootfs.to_str().unwrap(), "--tag", "hello"]);
    assert!(image_id.starts_with("sha256:"));

    let mut child = crate::bin()
        .arg("lsp")
        .env("SLIPWAY_ROOT", &store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut c = client::Client::new(child.stdout.take().unwrap(), child.stdin.take().unwrap());
    c.initialize(json!({}), json!({"slipway": {"shellcheck": false}}));
    let uri = format!("file://{}", dockerfile.display());
    c.open(&uri, "FROM hello\nCOPY a /a\n");

    // Hover on the base image: facts from the store.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 6}}),
    );
    let md = h["contents"]["value"].as_str().unwrap().to_string();
    assert!(
        md.contains("docker.io/library/hello:latest") && md.contains("| layers | 1 |"),
        "{md}"
    );
    // The inlay hint shows the digest the tag resolves to.
    let hints = c.request(
        "textDocument/inlayHint",
        json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}}}),
    );
    assert!(hints[0]["label"].as_str().unwrap().starts_with("@sha256:"), "{hints}");
    // Completion after FROM offers the store's images.
    let items = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 5}}),
    );
    assert!(
        items.as_array().unwrap().iter().any(|i| i["label"] == "hello:latest"),
        "{items}"
    );

    // Cache status per step: COPY was never built.
    let titles = lenses_until(&mut c, &uri, |t| t.len() == 3);
    assert_eq!(titles, ["slipway plan", "cached", "rebuilds: never built before"]);
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 1, "character": 1}}),
    );
    assert!(
        h["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("rebuilds: never built before"),
        "{h}"
    );
    // Build it, save: the lens turns to cached (building writes layers with their owners: root).
    let is_root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    });
    if !is_root {
        eprintln!("note: skipping the rebuilt-then-cached half of lsp_shows_image_facts_and_cache_status_from_the_store (needs root)");
        c.shutdown();
        assert_eq!(wait_exit(&mut child), Some(0));
        return;
    }
    run(&["build", ctx.to_str().unwrap(), "-t", "out", "-q"]);
    c.notify("textDocument/didSave", json!({"textDocument": {"uri": uri}}));
    let titles = lenses_until(&mut c, &uri, |t| t.len() == 3 && t[2] == "cached");
    assert_eq!(titles, ["slipway plan", "cached", "cached"]);
    let plan = c.request(
        "workspace/executeCommand",
        json!({"command": "slipway.plan", "arguments": [uri]}),
    );
    assert_eq!(plan.as_array().unwrap().len(), 2);
    c.shutdown();
    assert_eq!(wait_exit(&mut child), Some(0));
}
