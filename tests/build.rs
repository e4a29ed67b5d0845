//! `slipway build` end to end: a two-stage build from an imported busybox, run, rebuilt
//! from the cache. Needs root (namespaces, overlayfs) and /bin/busybox; skips otherwise.

use crate::{slipway_in, text};
use std::path::Path;

/// Whether this process can run containers (root and busybox-static); prints why not.
pub(crate) fn can_run_containers(test: &str) -> bool {
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

/// Imports a busybox root filesystem (with root and nobody users) as the image `bb`.
pub(crate) fn import_busybox(store: &Path, dir: &Path) {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in [
        "sh", "echo", "cat", "date", "id", "mkdir", "ls", "cp", "test", "hostname", "pwd",
    ] {
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
    let first_built = out.lines().next().unwrap_or_default().to_string();
    assert!(out.contains("Successfully tagged app:latest"), "{out}");
    assert!(!err.contains("Using cache"), "{err}");
    assert!(err.contains("Step 1/7 : FROM bb AS b"), "{err}");
    assert!(err.contains("---> Running in slipway-"), "{err}");
    assert!(err.contains("---> Its writable layer became layer "), "{err}");

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
    let steps = err.lines().filter(|l| l.starts_with("Step ")).count();
    let cached = err.lines().filter(|l| l.contains("---> Using cache")).count();
    // Every instruction is a step; RUN, COPY, COPY come from the cache (the FROMs and the
    // ENV and CMD make no layer).
    assert_eq!((steps, cached), (7, 3), "{err}");
    // An all-cached rebuild is the same image.
    assert_eq!(out2.lines().next(), Some(first_built.as_str()), "{out2}");
    assert!(!err.contains("Running in"), "{err}");
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
        "FROM bb\nWORKDIR /app\nARG X=1\nRUN test \"$X\" = 1 && test \"$(pwd)\" = /app\nRUN echo about to fail; exit 3\n",
    )
    .unwrap();
    let o = slipway_in(&store, &ctx, &["build", "."]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    // A diagnostic at the instruction, with BuildKit's wording and the command's last output.
    assert!(err.contains("slipway::build::step_failed"), "{err}");
    let flat = err.replace("\n  │ ", " ");
    assert!(
        flat.contains(
            "step 5/5 failed: process \"/bin/sh -c echo about to fail; exit 3\" did not complete successfully: exit code: 3"
        ),
        "{err}"
    );
    assert!(err.contains("Dockerfile:5:1]"), "{err}");
    assert!(err.contains("│ about to fail"), "{err}");
}

/// A store with busybox imported as `bb` and a context dir with `dockerfile`.
pub(crate) fn setup(dockerfile: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    import_busybox(&store, d.path());
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    (d, store, ctx)
}

fn run_in(store: &Path, ctx: &Path, args: &[&str]) -> String {
    let o = slipway_in(store, ctx, args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{args:?}: {err}");
    out
}

#[test]
fn cache_mount_persists_across_builds_and_stays_out_of_the_image() {
    if !can_run_containers("cache_mount_persists_across_builds_and_stays_out_of_the_image") {
        return;
    }
    let (_d, store, ctx) = setup(
        "FROM bb\n\
         RUN --mount=type=cache,target=/cache sh -c 'test -f /cache/stamp || date +%N > /cache/stamp; cp /cache/stamp /stamp-copy'\n\
         RUN --mount=type=cache,target=/c2,id=locked-one,sharing=locked,mode=0700 sh -c 'ls -ld /c2 > /c2-mode'\n\
         RUN --mount=type=cache,target=/c3,sharing=private sh -c 'test ! -e /c3/x && echo x > /c3/x'\n",
    );
    run_in(&store, &ctx, &["build", "-t", "c1", "."]);
    let first = run_in(&store, &ctx, &["run", "--rm", "c1", "cat", "/stamp-copy"]);
    assert!(!first.trim().is_empty());
    let mode = run_in(&store, &ctx, &["run", "--rm", "c1", "cat", "/c2-mode"]);
    assert!(mode.starts_with("drwx------"), "{mode}");
    run_in(&store, &ctx, &["build", "--no-cache", "-t", "c2", "."]);
    let second = run_in(&store, &ctx, &["run", "--rm", "c2", "cat", "/stamp-copy"]);
    assert_eq!(first, second, "the cache mount did not persist");
    let o = slipway_in(
        &store,
        &ctx,
        &[
            "run",
            "--rm",
            "c2",
            "sh",
            "-c",
            "test -e /cache && echo present || echo absent",
        ],
    );
    assert_eq!(text(&o).0, "absent\n", "{}", text(&o).1);
}

#[test]
fn cache_mount_identity_is_buildkits() {
    if !can_run_containers("cache_mount_identity_is_buildkits") {
        return;
    }
    // A relative target names the cache as written (BuildKit's `path.Clean(target)`), so two
    // WORKDIRs share it; uid/gid/mode make a cache of their own.
    let (_d, store, ctx) = setup(
        "FROM bb
         WORKDIR /app
         RUN --mount=type=cache,target=c sh -c 'echo one > c/f'
         WORKDIR /other
         RUN --mount=type=cache,target=./c/ sh -c 'cat c/f > /same'
         RUN --mount=type=cache,target=/x,id=c,uid=1000,mode=0700 sh -c 'test ! -e /x/f && ls -nd /x > /own'
",
    );
    run_in(&store, &ctx, &["build", "-t", "ids", "."]);
    assert_eq!(run_in(&store, &ctx, &["run", "--rm", "ids", "cat", "/same"]), "one\n");
    let own = run_in(&store, &ctx, &["run", "--rm", "ids", "cat", "/own"]);
    assert!(own.starts_with("drwx------") && own.contains(" 1000 "), "{own}");
}

#[test]
fn secret_mount_never_lands_in_a_layer() {
    if !can_run_containers("secret_mount_never_lands_in_a_layer") {
        return;
    }
    let secret = "s3cr3t-slipway-token-8c1f0e";
    let (d, store, ctx) = setup(
        "FROM bb\n\
         RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null && test -s /run/secrets/tok && echo ok > /ok\n\
         RUN --mount=type=secret,id=tok,env=TOK sh -c 'echo ${#TOK} > /len; test -e /run/secrets/tok || echo none > /nofile'\n",
    );
    let file = d.path().join("tok.txt");
    std::fs::write(&file, secret).unwrap();
    let src = format!("id=tok,src={}", file.display());
    run_in(&store, &ctx, &["build", "--secret", &src, "-t", "s", "."]);
    assert_eq!(run_in(&store, &ctx, &["run", "--rm", "s", "cat", "/ok"]), "ok\n");
    assert_eq!(
        run_in(&store, &ctx, &["run", "--rm", "s", "cat", "/len", "/nofile"]),
        "27\nnone\n"
    );
    let o = slipway_in(
        &store,
        &ctx,
        &[
            "run",
            "--rm",
            "s",
            "sh",
            "-c",
            "test -e /run/secrets/tok && echo present || echo absent",
        ],
    );
    assert_eq!(text(&o).0, "absent\n", "{}", text(&o).1);
    let mut scanned = 0;
    for entry in walkdir::WalkDir::new(&store).into_iter().filter_map(Result::ok) {
        if !entry.file_type().is_file() {
            continue;
        }
        let raw = std::fs::read(entry.path()).unwrap();
        let mut plain = Vec::new();
        if raw.starts_with(&[0x1f, 0x8b]) {
            use std::io::Read;
            let _ = flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut plain);
        }
        for bytes in [&raw, &plain] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the secret is in {}",
                entry.path().display()
            );
        }
        scanned += 1;
    }
    assert!(scanned > 0);
    // A required secret that was not given fails the build.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nRUN --mount=type=secret,id=other,required=true true\n",
    )
    .unwrap();
    let o = slipway_in(&store, &ctx, &["build", "."]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("secret other is required"), "{}", text(&o).1);
}

#[test]
fn network_none_has_only_loopback() {
    if !can_run_containers("network_none_has_only_loopback") {
        return;
    }
    let (_d, store, ctx) = setup("FROM bb\nRUN --network=none sh -c 'ls /sys/class/net > /nets'\n");
    run_in(&store, &ctx, &["build", "-t", "n", "."]);
    assert_eq!(run_in(&store, &ctx, &["run", "--rm", "n", "cat", "/nets"]), "lo\n");
    std::fs::write(ctx.join("Dockerfile"), "FROM bb\nRUN --security=insecure true\n").unwrap();
    let o = slipway_in(&store, &ctx, &["build", "."]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
    assert!(
        text(&o)
            .1
            .contains("RUN --security=insecure needs the security.insecure entitlement"),
        "{}",
        text(&o).1
    );
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nRUN --mount=type=ssh,required=true true\n",
    )
    .unwrap();
    let o = slipway_in(&store, &ctx, &["build", "."]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
    assert!(
        text(&o).1.contains("ssh agent default is required but was not given"),
        "{}",
        text(&o).1
    );
}

#[test]
fn ssh_mount_forwards_the_agent_socket() {
    if !can_run_containers("ssh_mount_forwards_the_agent_socket") {
        return;
    }
    let (d, store, ctx) = setup(
        "FROM bb\n\
         RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /sock\n\
         RUN --mount=type=ssh,id=other,target=/agent test -S /agent && echo ok > /other\n\
         RUN --mount=type=ssh,id=missing echo optional mounts are skipped > /skipped\n",
    );
    let socket = d.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let spec = format!("other={}", socket.display());
    let o = slipway_in(
        &store,
        &ctx,
        &[
            "build",
            "--ssh",
            &format!("default={}", socket.display()),
            "--ssh",
            &spec,
            "-t",
            "s",
            ".",
        ],
    );
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        run_in(&store, &ctx, &["run", "--rm", "s", "cat", "/sock"]),
        "/run/buildkit/ssh_agent.0\n"
    );
    assert_eq!(run_in(&store, &ctx, &["run", "--rm", "s", "cat", "/other"]), "ok\n");
    let o = slipway_in(
        &store,
        &ctx,
        &["run", "--rm", "s", "sh", "-c", "ls /run/buildkit 2>&1; true"],
    );
    assert!(
        !text(&o).0.contains("ssh_agent"),
        "the socket is not in the image: {:?}",
        text(&o)
    );
    // A file that is not a socket is refused up front.
    let o = slipway_in(&store, &ctx, &["build", "--ssh", "default=/etc/hostname", "."]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("is not an agent socket"), "{}", text(&o).1);
}

#[test]
fn bind_mount_from_the_context_is_read_only_and_not_in_the_image() {
    if !can_run_containers("bind_mount_from_the_context_is_read_only_and_not_in_the_image") {
        return;
    }
    let (_d, store, ctx) = setup(
        "FROM bb AS src\n\
         RUN echo staged > /s\n\
         FROM bb\n\
         RUN --mount=type=bind,from=src,source=/s,target=/m cp /m /m-copy\n\
         RUN --mount=type=bind,source=data,target=/data cp /data/x /x-copy && ! sh -c 'echo no > /data/y' 2>/dev/null\n\
         RUN --mount=type=tmpfs,target=/scratch,size=1m sh -c 'echo t > /scratch/f && cp /scratch/f /t-copy'\n\
         RUN --mount=type=bind,source=data,target=/data,rw sh -c 'echo w > /data/x'\n",
    );
    std::fs::create_dir_all(ctx.join("data")).unwrap();
    std::fs::write(ctx.join("data/x"), "from the context\n").unwrap();
    run_in(&store, &ctx, &["build", "-t", "b", "."]);
    assert_eq!(
        run_in(&store, &ctx, &["run", "--rm", "b", "cat", "/x-copy"]),
        "from the context\n"
    );
    assert_eq!(run_in(&store, &ctx, &["run", "--rm", "b", "cat", "/t-copy"]), "t\n");
    assert_eq!(
        run_in(&store, &ctx, &["run", "--rm", "b", "cat", "/m-copy"]),
        "staged\n"
    );
    let o = slipway_in(
        &store,
        &ctx,
        &[
            "run",
            "--rm",
            "b",
            "sh",
            "-c",
            "test -e /data || test -e /scratch || test -e /m && echo present || echo absent",
        ],
    );
    assert_eq!(text(&o).0, "absent\n", "{}", text(&o).1);
    // rw writes went to a copy: the context is unchanged.
    assert_eq!(
        std::fs::read_to_string(ctx.join("data/x")).unwrap(),
        "from the context\n"
    );
}

#[test]
fn heredocs_in_run_and_copy() {
    if !can_run_containers("heredocs_in_run_and_copy") {
        return;
    }
    let (_d, store, ctx) = setup(
        "FROM bb\n\
         ARG WHO=world\n\
         ENV GREETING=hello\n\
         RUN <<EOF\n\
         echo \"plain $GREETING\" > /plain\n\
         echo second >> /plain\n\
         EOF\n\
         RUN <<EOF\n\
         #!/bin/sh\n\
         echo \"shebang $0\" > /shebang\n\
         EOF\n\
         RUN cat <<A > /a && cat <<-B > /b\n\
         from a\n\
         A\n\
         \tfrom b\n\
         \tB\n\
         COPY <<EOF /etc/greeting\n\
         $GREETING, \"${WHO}\"!\n\
         EOF\n\
         COPY --chmod=755 <<'RAW' <<TWO /opt/\n\
         $GREETING stays\n\
         RAW\n\
         two $WHO\n\
         TWO\n",
    );
    run_in(&store, &ctx, &["build", "--build-arg", "WHO=docs", "-t", "h", "."]);
    let cat = |path: &str| run_in(&store, &ctx, &["run", "--rm", "h", "cat", path]);
    assert_eq!(cat("/plain"), "plain hello\nsecond\n");
    assert_eq!(cat("/shebang"), "shebang /dev/pipes/EOF\n");
    assert_eq!(cat("/a"), "from a\n");
    assert_eq!(cat("/b"), "from b\n");
    assert_eq!(cat("/etc/greeting"), "hello, \"docs\"!\n");
    assert_eq!(cat("/opt/RAW"), "$GREETING stays\n");
    assert_eq!(cat("/opt/TWO"), "two docs\n");
    let modes = run_in(
        &store,
        &ctx,
        &["run", "--rm", "h", "ls", "-l", "/opt/TWO", "/etc/greeting"],
    );
    assert!(modes.contains("-rwxr-xr-x") && modes.contains("-rw-r--r--"), "{modes}");
    // Nothing of the shebang script stays behind in the image.
    let pipes = run_in(
        &store,
        &ctx,
        &["run", "--rm", "h", "sh", "-c", "ls /dev/pipes 2>&1 || true"],
    );
    assert!(!pipes.contains("EOF"), "{pipes}");
}

/// Serves `body` over HTTP on 127.0.0.1 for at most `requests` requests; returns the base URL.
fn serve_once(body: Vec<u8>, requests: usize) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut conn, _)) = listener.accept() else { return };
            let mut req = [0u8; 4096];
            let _ = conn.read(&mut req);
            let found = String::from_utf8_lossy(&req).starts_with("GET /files/");
            let (status, payload): (&str, &[u8]) = if found {
                ("200 OK", &body)
            } else {
                ("404 Not Found", b"")
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = conn.write_all(payload);
        }
    });
    (url, handle)
}

fn tar_gz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, data, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_uid(1234);
        h.set_gid(5678);
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn add_unpacks_local_archives_and_fetches_checked_urls() {
    if !can_run_containers("add_unpacks_local_archives_and_fetches_checked_urls") {
        return;
    }
    use sha2::Digest;
    let payload = b"remote payload\n".to_vec();
    let sum = slipway_store::hex(&sha2::Sha256::digest(&payload));
    let (url, server) = serve_once(payload, 1);
    let (_d, store, ctx) = setup(&format!(
        "FROM bb\n\
         ADD app.tar.gz /opt/app/\n\
         ADD notes.tar /notes.tar\n\
         ADD --checksum=sha256:{sum} {url}/files/remote.txt /dl/\n"
    ));
    std::fs::write(
        ctx.join("app.tar.gz"),
        tar_gz(&[
            ("./bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
            ("etc/app.conf", b"k=v\n", 0o600),
        ]),
    )
    .unwrap();
    std::fs::write(ctx.join("notes.tar"), "a text file whose name ends in .tar\n").unwrap();
    run_in(&store, &ctx, &["build", "-t", "a", "."]);
    server.join().unwrap();
    let sh = |script: &str| run_in(&store, &ctx, &["run", "--rm", "a", "sh", "-c", script]);
    assert_eq!(sh("/opt/app/bin/tool"), "tool\n");
    assert_eq!(sh("cat /opt/app/etc/app.conf"), "k=v\n");
    let owners = sh("ls -ln /opt/app/etc/app.conf /dl/remote.txt");
    assert!(
        owners.contains("-rw-------    1 1234     5678"),
        "archive ownership kept: {owners}"
    );
    assert!(
        owners.contains("-rw-------    1 0        0"),
        "a URL's file is 0600 root: {owners}"
    );
    assert_eq!(sh("cat /notes.tar"), "a text file whose name ends in .tar\n");
    assert_eq!(sh("cat /dl/remote.txt"), "remote payload\n");

    // A wrong checksum fails the step and says which digest arrived.
    let (url, server) = serve_once(b"tampered\n".to_vec(), 1);
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM bb\nADD --checksum=sha256:{sum} {url}/files/remote.txt /dl/\n"),
    )
    .unwrap();
    let o = slipway_in(&store, &ctx, &["build", "-t", "bad", "."]);
    server.join().unwrap();
    let err = text(&o).1;
    assert!(!o.status.success());
    assert!(err.contains("checksum mismatch") && err.contains(&sum), "{err}");

    // An archive entry that climbs out of the destination is refused.
    std::fs::write(ctx.join("evil.tar.gz"), tar_gz(&[("a/../../../etc/evil", b"x", 0o644)])).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM bb\nADD evil.tar.gz /opt/\n").unwrap();
    let o = slipway_in(&store, &ctx, &["build", "-t", "evil", "."]);
    let err = text(&o).1;
    assert!(!o.status.success());
    assert!(
        err.contains("climbs out of the destination") && err.contains("Dockerfile:2"),
        "{err}"
    );
}

#[test]
fn onbuild_triggers_run_in_the_child_build_only() {
    if !can_run_containers("onbuild_triggers_run_in_the_child_build_only") {
        return;
    }
    let (_d, store, ctx) = setup(
        "FROM bb\n\
         ONBUILD COPY app.txt /app/\n\
         ONBUILD RUN echo \"triggered as $(id -u)\" > /app/ran\n\
         RUN echo parent > /parent\n",
    );
    std::fs::write(ctx.join("app.txt"), "child's file\n").unwrap();
    run_in(&store, &ctx, &["build", "-t", "onbuild-base", "."]);
    let o = slipway_in(
        &store,
        &ctx,
        &["run", "--rm", "onbuild-base", "sh", "-c", "ls /app 2>&1; true"],
    );
    assert!(
        text(&o).0.contains("No such file"),
        "triggers must not run in the parent: {:?}",
        text(&o)
    );
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM onbuild-base\nRUN cat /app/ran /app/app.txt > /both\n",
    )
    .unwrap();
    let o = slipway_in(&store, &ctx, &["build", "-t", "child", "."]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(text(&o).1.contains("2 ONBUILD trigger"), "{}", text(&o).1);
    assert_eq!(
        run_in(&store, &ctx, &["run", "--rm", "child", "cat", "/both"]),
        "triggered as 0\nchild's file\n"
    );
    let inspect = run_in(&store, &ctx, &["image", "inspect", "child"]);
    assert!(
        !inspect.contains("\"OnBuild\""),
        "the child keeps no triggers: {inspect}"
    );
    let inspect = run_in(&store, &ctx, &["image", "inspect", "onbuild-base"]);
    assert!(inspect.contains("\"OnBuild\""), "{inspect}");
}

#[test]
fn independent_stages_run_at_the_same_time_and_progress_can_be_json() {
    if !can_run_containers("independent_stages_run_at_the_same_time_and_progress_can_be_json") {
        return;
    }
    // Each stage waits (bounded) for the other's mark in a shared cache mount: the build
    // only succeeds when both RUNs are live at once.
    let wait = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id=rendezvous,target=/r,sharing=shared sh -c \
             'echo > /r/{me}; i=0; while [ ! -e /r/{other} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
             test -e /r/{other} && echo met {other} > /{me}'\n"
        )
    };
    let (_d, store, ctx) = setup(&format!(
        "FROM bb AS a\n{}FROM bb AS b\n{}FROM bb\nCOPY --from=a /a /\nCOPY --from=b /b /\n",
        wait("a", "b"),
        wait("b", "a")
    ));
    let o = slipway_in(&store, &ctx, &["build", "--progress", "json", "-t", "par", "."]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let events: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let kinds = |k: &str| events.iter().filter(|e| e["event"] == k).count();
    assert_eq!(kinds("start"), 7, "{err}");
    assert_eq!(kinds("done"), 7, "{err}");
    assert!(events.iter().all(|e| e["step"].as_u64().is_some()), "{err}");
    assert_eq!(
        run_in(&store, &ctx, &["run", "--rm", "par", "cat", "/a", "/b"]),
        "met b\nmet a\n"
    );
}

#[test]
fn build_network_none_applies_to_runs_without_their_own() {
    if !can_run_containers("build_network_none_applies_to_runs_without_their_own") {
        return;
    }
    let (_d, store, ctx) =
        setup("FROM bb\nRUN ls /sys/class/net > /default-net\nRUN --network=host ls /sys/class/net > /host-net\n");
    run_in(
        &store,
        &ctx,
        &["build", "--network", "none", "--allow", "network.host", "-t", "nn", "."],
    );
    assert_eq!(
        run_in(&store, &ctx, &["run", "--rm", "nn", "cat", "/default-net"]),
        "lo\n"
    );
    let host = run_in(&store, &ctx, &["run", "--rm", "nn", "cat", "/host-net"]);
    assert_ne!(host, "lo\n", "a RUN --network=host sees the host's interfaces");
}

#[test]
fn zstd_layers_build_run_and_export() {
    if !can_run_containers("zstd_layers_build_run_and_export") {
        return;
    }
    let (d, store, ctx) = setup("FROM bb\nRUN echo zstd > /z\nCOPY Dockerfile /copied\n");
    run_in(&store, &ctx, &["build", "--compression", "zstd", "-t", "z", "."]);
    assert_eq!(run_in(&store, &ctx, &["run", "--rm", "z", "cat", "/z"]), "zstd\n");
    // The store keeps the new layers uncompressed (the imported base stays gzip); they
    // leave it as zstd blobs: an OCI export with `--compression zstd`.
    let layer_types = |manifest: &serde_json::Value| -> Vec<String> {
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["mediaType"].as_str().unwrap().to_string())
            .collect()
    };
    let inspect: serde_json::Value = serde_json::from_str(&run_in(&store, &ctx, &["image", "inspect", "z"])).unwrap();
    assert_eq!(
        layer_types(&inspect[0]["Manifest"]),
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar"
        ]
    );
    let layout = d.path().join("layout");
    run_in(
        &store,
        &ctx,
        &[
            "build",
            "--compression",
            "zstd",
            "--output",
            &format!("type=oci,dest={}", layout.display()),
            ".",
        ],
    );
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(digest)).unwrap()).unwrap();
    assert_eq!(
        layer_types(&m),
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ]
    );
    assert_eq!(m["config"]["digest"], inspect[0]["Id"], "the same image");
    // A docker archive carries them uncompressed.
    let tar = d.path().join("z.tar");
    run_in(
        &store,
        &ctx,
        &["image", "save", "--format", "docker", "-o", tar.to_str().unwrap(), "z"],
    );
    assert!(std::fs::metadata(&tar).unwrap().len() > 0);
}

#[test]
fn copy_from_a_stage_with_wildcards() {
    if !can_run_containers("copy_from_a_stage_with_wildcards") {
        return;
    }
    let (_d, store, ctx) = setup(
        "FROM bb AS build\n\
         RUN mkdir -p /out/lib /out/bin && echo a > /out/lib/a.so && echo b > /out/lib/b.so && echo t > /out/lib/notes.txt && echo x > /out/bin/x\n\
         RUN rm /out/lib/b.so\n\
         FROM bb\n\
         COPY --from=build /out/lib/*.so /usr/lib/\n\
         COPY --from=build /out/b* /opt/\n",
    );
    run_in(&store, &ctx, &["build", "-t", "w", "."]);
    let sh = |s: &str| run_in(&store, &ctx, &["run", "--rm", "w", "sh", "-c", s]);
    assert_eq!(sh("ls /usr/lib"), "a.so\n", "whited-out b.so must not match");
    assert_eq!(sh("ls /opt"), "x\n", "a matched directory's contents are copied");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb AS b\nFROM bb\nCOPY --from=b /nothing* /x/\n",
    )
    .unwrap();
    let o = slipway_in(&store, &ctx, &["build", "."]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("/nothing*: no file in b matches"), "{}", text(&o).1);
}

#[test]
fn deletions_are_whiteouts_and_opaque_dirs_in_the_image() {
    if !can_run_containers("deletions_are_whiteouts_and_opaque_dirs_in_the_image") {
        return;
    }
    let (d, store, ctx) = setup(
        "FROM bb\n\
         RUN mkdir -p /d/sub && echo x > /d/f && echo y > /g && echo z > /d/sub/k && mkfifo /pipe\n\
         RUN rm /g && rm -r /d && mkdir /d && echo new > /d/h\n",
    );
    run_in(&store, &ctx, &["build", "-t", "wh", "."]);
    let check = |store: &Path| {
        let out = run_in(
            store,
            &ctx,
            &[
                "run",
                "--rm",
                "wh",
                "sh",
                "-c",
                "ls -A /d; test -e /g && echo g-present; test -p /pipe && echo fifo",
            ],
        );
        assert_eq!(out, "h\nfifo\n", "in {}", store.display());
    };
    // Here the steps' upper dirs serve as the unpacked layers …
    check(&store);
    // … and in another store the same image comes from its blobs alone.
    let tar = d.path().join("wh.tar");
    run_in(&store, &ctx, &["image", "save", "-o", tar.to_str().unwrap(), "wh"]);
    let other = d.path().join("other-store");
    run_in(&other, &ctx, &["image", "load", tar.to_str().unwrap()]);
    check(&other);
}

#[test]
fn add_of_a_local_path_ending_in_git_is_a_context_file() {
    if !can_run_containers("add_of_a_local_path_ending_in_git_is_a_context_file") {
        return;
    }
    let (_d, store, ctx) = setup("FROM bb\nADD notes.git /notes.git\n");
    std::fs::write(ctx.join("notes.git"), "not a repository\n").unwrap();
    run_in(&store, &ctx, &["build", "-t", "g", "."]);
    assert_eq!(
        run_in(&store, &ctx, &["run", "--rm", "g", "cat", "/notes.git"]),
        "not a repository\n"
    );
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nADD https://127.0.0.1:9/repo.git /src\n",
    )
    .unwrap();
    let o = slipway_in(&store, &ctx, &["build", "."]);
    assert!(text(&o).1.contains("ADD of git repositories"), "{}", text(&o).1);
}
