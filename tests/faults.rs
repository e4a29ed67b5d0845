//! Faults: a build killed with SIGKILL in the middle of a step, and two builds into one
//! store at once. The store must verify clean and the next build complete.

use crate::build::{can_run_containers, import_busybox};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn slipway(store: &Path, cwd: &Path) -> Command {
    let mut c = crate::bin();
    c.current_dir(cwd)
        .env("SLIPWAY_ROOT", store)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

fn verify(store: &Path, cwd: &Path) {
    let o = slipway(store, cwd).arg("verify").output().unwrap();
    assert!(
        o.status.success(),
        "store not consistent:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn kill_9_in_the_middle_of_a_step_leaves_a_store_that_builds_again() {
    if !can_run_containers("kill_9_in_the_middle_of_a_step_leaves_a_store_that_builds_again") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (store, ctx) = (d.path().join("store"), d.path().join("ctx"));
    import_busybox(&store, d.path());
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("big.bin"), vec![7u8; 4 << 20]).unwrap();
    // The second RUN says it started, then sleeps unless WAIT=0 (the rebuild).
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nCOPY big.bin /data/\nRUN echo first > /first\nARG WAIT=1\n\
         RUN if [ \"$WAIT\" = 1 ]; then echo half-way; sleep 61; fi; echo done > /second\n",
    )
    .unwrap();
    let mut child = slipway(&store, &ctx)
        .args(["build", "--progress", "plain", "-t", "k", "."])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        seen.push_str(&line);
        if line.contains("half-way") {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("half-way"), "the step never started:\n{seen}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    verify(&store, &ctx);
    // The container died with its builder: nothing still runs the step. (The kernel
    // kills it when its parent dies, which is not instant: give it up to 5 s.)
    let running = || {
        let ps = Command::new("sh")
            .args(["-c", "ps -eo args | grep -c '^[s]leep 61' || true"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&ps.stdout).trim().to_string()
    };
    let mut left = running();
    for _ in 0..50 {
        if left == "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        left = running();
    }
    assert_eq!(left, "0", "a container outlived its build");
    // The rebuild uses the completed steps and finishes the rest.
    let o = slipway(&store, &ctx)
        .args(["build", "--progress", "plain", "--build-arg", "WAIT=0", "-t", "k", "."])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        err.matches("---> Using cache").count(),
        2,
        "COPY and the first RUN were done: {err}"
    );
    verify(&store, &ctx);
    let o = slipway(&store, &ctx)
        .args(["run", "--rm", "k", "cat", "/first", "/second"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "first\ndone\n");
}

#[test]
fn two_builds_into_one_store_at_once_both_succeed() {
    if !can_run_containers("two_builds_into_one_store_at_once_both_succeed") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    import_busybox(&store, d.path());
    let mut children = Vec::new();
    for i in 0..2 {
        let ctx = d.path().join(format!("ctx{i}"));
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("shared.txt"), "the same file in both contexts\n").unwrap();
        // The same first steps (same cache keys, same blobs), then different ones.
        std::fs::write(
            ctx.join("Dockerfile"),
            format!("FROM bb\nCOPY shared.txt /\nRUN echo shared > /s\nRUN echo {i} > /mine\n"),
        )
        .unwrap();
        children.push((
            i,
            ctx.clone(),
            slipway(&store, &ctx)
                .args(["build", "-q", "-t", &format!("c{i}"), "."])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
    }
    for (i, ctx, child) in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "build {i}: {}", String::from_utf8_lossy(&o.stderr));
        let r = slipway(&store, &ctx)
            .args(["run", "--rm", &format!("c{i}"), "cat", "/shared.txt", "/s", "/mine"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&r.stdout),
            format!("the same file in both contexts\nshared\n{i}\n")
        );
        verify(&store, &ctx);
    }
}
