//! `slipway build` end to end: a two-stage build from an imported busybox, run, rebuilt
//! from the cache. Needs root (namespaces, overlayfs) and /bin/busybox; skips otherwise.

use std::path::Path;
use std::process::{Command, Output};

fn slipway_in(store: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .current_dir(cwd)
        .env("SLIPWAY_ROOT", store)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("NO_COLOR", "1")
        .output()
        .expect("run slipway")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn can_run_containers(test: &str) -> bool {
    let is_root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    });
    if !is_root || !Path::new("/bin/busybox").is_file() {
        eprintln!("note: skipping {test} (needs root and /bin/busybox from busybox-static)");
        return false;
    }
    true
}

fn import_busybox(store: &Path, dir: &Path) {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in ["sh", "echo", "cat", "date", "id", "mkdir"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let o = slipway_in(
        store,
        dir,
        &["image", "import", rootfs.to_str().unwrap(), "--tag", "bb"],
    );
    assert!(o.status.success(), "{}", text(&o).1);
}

#[test]
fn two_stage_build_runs_and_rebuilds_from_cache() {
    if !can_run_containers("two_stage_build_runs_and_rebuilds_from_cache") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    import_busybox(&store, d.path());
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello from the context\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb AS b\n\
         RUN echo built > /out && date +%s%N > /stamp\n\
         FROM bb\n\
         COPY --from=b /out /stamp /\n\
         COPY hello.txt /srv/\n\
         ENV GREETING=hi\n\
         CMD [\"sh\", \"-c\", \"cat /out /srv/hello.txt; echo $GREETING\"]\n",
    )
    .unwrap();

    let started = std::time::Instant::now();
    let o = slipway_in(&store, &ctx, &["build", "-t", "app", "."]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    eprintln!("cold build: {:?}", started.elapsed());
    assert!(out.starts_with("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged app:latest"), "{out}");
    assert!(!err.contains("CACHED"), "{err}");

    let o = slipway_in(&store, &ctx, &["run", "--rm", "app"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out, "built\nhello from the context\nhi\n");
    let stamp = text(&slipway_in(&store, &ctx, &["run", "--rm", "app", "cat", "/stamp"])).0;
    assert!(!stamp.trim().is_empty());

    // Again: every step is cached, the RUN does not run (the stamp is unchanged).
    let started = std::time::Instant::now();
    let o = slipway_in(&store, &ctx, &["build", "-t", "app", "."]);
    let (out2, err) = text(&o);
    assert!(o.status.success(), "{err}");
    eprintln!("no-op rebuild: {:?}", started.elapsed());
    let steps = err.lines().filter(|l| l.starts_with('#') && l.contains('[')).count();
    let cached = err.lines().filter(|l| l.ends_with(" CACHED")).count();
    // The two FROMs are not cached steps; RUN, COPY, COPY are.
    assert_eq!((steps, cached), (5, 3), "{err}");
    assert!(!err.contains("DONE"), "{err}");
    assert!(out2.starts_with("Successfully built "), "{out2}");
    assert_eq!(
        text(&slipway_in(&store, &ctx, &["run", "--rm", "app", "cat", "/stamp"])).0,
        stamp
    );
    let o = slipway_in(&store, &ctx, &["plan", "--format", "json", "."]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["misses"], 0, "{out}");

    // -q prints only the ID.
    let o = slipway_in(&store, &ctx, &["build", "-q", "."]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.trim().starts_with("sha256:") && out.lines().count() == 1, "{out}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn failing_run_names_the_line() {
    if !can_run_containers("failing_run_names_the_line") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    import_busybox(&store, d.path());
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nWORKDIR /app\nARG X=1\nRUN test \"$X\" = 1 && test \"$(pwd)\" = /app\nRUN exit 3\n",
    )
    .unwrap();
    let o = slipway_in(&store, &ctx, &["build", "."]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: step 4/4 at Dockerfile:5: RUN exit 3 exited with code 3"),
        "{err}"
    );
}
