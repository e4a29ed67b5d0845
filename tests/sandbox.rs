//! The sandbox end to end: one probe script, run from inside a build step (`RUN`) and from
//! `slipway run`, checks each defence (capabilities, seccomp, PID 1, descriptors, secrets,
//! kernel knobs, mounts, namespaces, device nodes, network). Root and busybox-static
//! needed; skipped with a note otherwise. Every probe only shows that an action is refused:
//! writability is tested by opening for append without writing (`: >> FILE`), the device
//! node made is /dev/null's, the host listener only accepts.

use crate::build::can_run_containers;
use crate::{slipway_in, text};
use slipway_runner::cgroup::Hierarchy;
use std::path::{Path, PathBuf};

/// The probes, as `name=value` lines. `$PORT` is a host loopback listener's port.
const PROBES: &str = r#"
p() { if (eval "$2") >/dev/null 2>&1; then echo "$1=ok"; else echo "$1=refused"; fi; }
grep -E '^(CapEff|CapPrm|CapBnd|CapInh|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\t' | sed 's/:/=/'
echo cmdline=$(tr '\0' '.' < /proc/1/cmdline | sed 's/\.*$//')
p environ 'cat /proc/1/environ'
p exe 'readlink /proc/1/exe'
p init_cwd 'ls /proc/1/cwd/'
echo fds=$(ls /proc/self/fd | sort -n | tr '\n' ' ')
# (the pattern is in no process's arguments: grep reads it from a file)
printf '%s%s\n' s3cr3t -q7x > /tmp/probe-pattern
echo secret_seen=$(cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' | grep -c -f /tmp/probe-pattern)
p core_pattern ': >> /proc/sys/kernel/core_pattern'
p proc_sys ': >> /proc/sys/vm/overcommit_memory'
p sysrq ': >> /proc/sysrq-trigger'
p sys ': >> /sys/kernel/uevent_helper'
p mount 'mount -t tmpfs none /mnt'
p remount_proc 'mount -o remount,rw /proc/sys'
p unshare_user 'unshare -U true'
p unshare_net 'unshare -n true'
p unshare_mount 'unshare -m true'
p kcore 'test -s /proc/kcore'
p sethostname 'hostname probe2'
mknod /tmp/probe-null c 1 3 2>/dev/null
p made_node "sh -c 'echo > /tmp/probe-null'"
echo dev=$(ls /dev | sort | tr '\n' ' ')
echo nets=$(ls /sys/class/net | sort | tr '\n' ' ')
p host_loopback "nc -w 2 127.0.0.1 $PORT </dev/null"
echo abstract=$(grep -c 'slipway-probe-abstract' /proc/net/unix)
p ip_link_add 'ip link add probe0 type dummy'
echo pids_v1=$(grep -c ':pids:.*/slipway-' /proc/self/cgroup)
echo unified=$(grep -c '^0::.*/slipway-' /proc/self/cgroup)
"#;

/// A store with `probe`: busybox with every applet linked, and an unprivileged user.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let rootfs = d.path().join("rootfs");
    for dir in ["bin", "etc", "tmp", "mnt"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
    let store = d.path().join("store");
    let o = slipway_in(
        &store,
        d.path(),
        &["image", "import", rootfs.to_str().unwrap(), "--tag", "probe"],
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("probes.sh"), PROBES).unwrap();
    (d, store, ctx)
}

/// Listeners on the host that no container on the default network may reach: TCP on
/// 127.0.0.1 and an abstract unix socket.
struct HostServices {
    port: u16,
    _tcp: std::net::TcpListener,
    _abstract: std::os::unix::net::UnixListener,
}

fn host_services() -> HostServices {
    use std::os::linux::net::SocketAddrExt;
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Accepts and closes at once, so a client that did connect ends (the thread lasts
    // as long as the test process).
    let accepting = tcp.try_clone().unwrap();
    std::thread::spawn(move || accepting.incoming().for_each(drop));
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("slipway-probe-abstract-{}-{n}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    HostServices {
        port: tcp.local_addr().unwrap().port(),
        _tcp: tcp,
        _abstract: std::os::unix::net::UnixListener::bind_addr(&addr).unwrap(),
    }
}

fn probes_of(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Builds a Dockerfile whose RUN runs the probes into /probes, returns them.
fn build_probes(store: &Path, ctx: &Path, run_flags: &str, extra: &[&str]) -> Result<String, String> {
    let services = host_services();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM probe\nARG PORT\nCOPY probes.sh /\nRUN {run_flags} sh /probes.sh > /probes 2>&1\n"),
    )
    .unwrap();
    let port = format!("PORT={}", services.port);
    let mut args = vec![
        "build",
        "--no-cache",
        "-t",
        "probed",
        "--build-arg",
        &port,
        // Undeclared: only in slipway's own arguments, which PID 1 must not show.
        "--build-arg",
        "PROBE_ARG=s3cr3t-q7x",
        "--secret",
        "id=tok,env=SLIPWAY_PROBE_SECRET",
    ];
    args.extend_from_slice(extra);
    args.push(".");
    let o = crate::bin()
        .args(&args)
        .current_dir(ctx)
        .env("SLIPWAY_ROOT", store)
        .env("SLIPWAY_PROBE_SECRET", "s3cr3t-q7x")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    if !o.status.success() {
        return Err(text(&o).1);
    }
    let o = slipway_in(
        store,
        ctx,
        &["run", "--rm", "--network", "none", "probed", "cat", "/probes"],
    );
    assert!(o.status.success(), "{}", text(&o).1);
    Ok(text(&o).0)
}

/// Runs the probes with `slipway run FLAGS probe`.
fn run_probes(store: &Path, ctx: &Path, flags: &[&str]) -> String {
    let services = host_services();
    let port = format!("PORT={}", services.port);
    let mut args = vec!["run", "--rm", "-e", &port];
    args.extend_from_slice(flags);
    let script = std::fs::read_to_string(ctx.join("probes.sh")).unwrap();
    args.extend_from_slice(&["probe", "sh", "-c", &script]);
    let o = crate::bin()
        .args(&args)
        .current_dir(ctx)
        .env("SLIPWAY_ROOT", store)
        .env("SLIPWAY_PROBE_SECRET", "s3cr3t-q7x")
        .output()
        .unwrap();
    assert!(o.status.success(), "{flags:?}: {}", text(&o).1);
    text(&o).0
}

/// What Docker's default container shows (and slipway's must).
fn assert_sandboxed(t: &str, where_: &str, pasta: bool) {
    let p = probes_of(t);
    let get = |k: &str| {
        p.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{where_}: no {k} in {t}"))
    };
    for (k, v) in [
        ("CapEff", "00000000a80425fb"),
        ("CapPrm", "00000000a80425fb"),
        ("CapBnd", "00000000a80425fb"),
        ("CapInh", "0000000000000000"),
        ("CapAmb", "0000000000000000"),
        ("Seccomp", "2"),
        ("cmdline", "init"),
        ("secret_seen", "0"),
        ("abstract", "0"),
        (
            "dev",
            "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero",
        ),
    ] {
        assert_eq!(get(k), v, "{where_}: {k} in {t}");
    }
    for k in [
        "environ",
        "exe",
        "init_cwd",
        "core_pattern",
        "proc_sys",
        "sysrq",
        "sys",
        "mount",
        "remount_proc",
        "unshare_user",
        "unshare_net",
        "unshare_mount",
        "kcore",
        "sethostname",
        "made_node",
        "host_loopback",
        "ip_link_add",
    ] {
        assert_eq!(get(k), "refused", "{where_}: {k} in {t}");
    }
    // stdio, the directory ls reads (and in a RUN the step's output pipe is fd 1/2).
    assert_eq!(get("fds"), "0 1 2 3", "{where_}: {t}");
    let nets = get("nets");
    if pasta {
        assert!(
            nets.contains("lo") && nets.split(' ').count() == 2,
            "{where_}: pasta's interface and lo: {t}"
        );
    }
}

/// Where the runner puts a container's pids limit (v1, or v2 delegated to us), if anywhere.
fn pids_hierarchy() -> Option<Hierarchy> {
    slipway_runner::cgroup::limit_hierarchy("pids")
}

/// Whether the host offers a pids controller.
fn has_pids_controller() -> bool {
    pids_hierarchy().is_some()
}

#[test]
fn pids_and_memory_limits_hold() {
    if !can_run_containers("pids_and_memory_limits_hold") || !has_pids_controller() {
        return;
    }
    let (_d, store, ctx) = setup();
    // 20 short sleeps against a limit of 10: some forks must fail (and nothing else runs).
    let o = slipway_in(
        &store,
        &ctx,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--pids-limit",
            "10",
            "--memory",
            "64m",
            "probe",
            "sh",
            "-c",
            "grep -c slipway- /proc/self/cgroup; for i in $(seq 20); do sleep 1 & done; wait",
        ],
    );
    let (out, err) = text(&o);
    assert!(err.contains("can't fork"), "{out}{err}");
    assert!(out.trim() != "0", "{out}");
    let o = slipway_in(&store, &ctx, &["run", "--rm", "-m", "lots", "probe", "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("invalid size \"lots\""), "{}", text(&o).1);
}

fn have_pasta() -> bool {
    let found = std::process::Command::new("pasta").arg("--version").output().is_ok();
    if !found {
        eprintln!("note: pasta (passt) is not installed: network probes see only loopback");
    }
    found
}

#[test]
fn a_run_step_is_sandboxed() {
    if !can_run_containers("a_run_step_is_sandboxed") {
        return;
    }
    let (_d, store, ctx) = setup();
    let t = build_probes(
        &store,
        &ctx,
        "--mount=type=secret,id=tok,target=/run/secrets/other",
        &[],
    )
    .unwrap();
    // The mounted secret is there for the step (as a file), but in no process's memory.
    assert_sandboxed(&t, "RUN", have_pasta());
    // Its own cgroup where the pids limit is: the v2 one where the controller is
    // delegated, else the v1 pids hierarchy (the v2 one then holds only the device program).
    let probes = probes_of(&t);
    match pids_hierarchy() {
        Some(Hierarchy::V2) => assert_eq!(
            probes["unified"], "1",
            "a RUN step has a v2 cgroup with a pids limit: {t}"
        ),
        Some(Hierarchy::V1) => assert_eq!(probes["pids_v1"], "1", "a RUN step has a v1 pids cgroup: {t}"),
        None => eprintln!("note: no pids controller here: the RUN step's pids cgroup is not checked"),
    }
}

#[test]
fn slipway_run_is_sandboxed_and_its_flags_lift_parts_of_it() {
    if !can_run_containers("slipway_run_is_sandboxed_and_its_flags_lift_parts_of_it") {
        return;
    }
    let (_d, store, ctx) = setup();
    let pasta = have_pasta();
    assert_sandboxed(&run_probes(&store, &ctx, &[]), "run", pasta);
    assert_sandboxed(
        &run_probes(&store, &ctx, &["--network", "none"]),
        "run --network none",
        false,
    );

    let user = probes_of(&run_probes(&store, &ctx, &["-u", "user"]));
    assert_eq!(user["CapEff"], "0000000000000000", "{user:?}");
    assert_eq!(user["CapPrm"], "0000000000000000", "{user:?}");
    assert_eq!(user["CapBnd"], "00000000a80425fb", "{user:?}");

    let added = probes_of(&run_probes(
        &store,
        &ctx,
        &["--cap-add", "NET_ADMIN", "--cap-drop", "mknod"],
    ));
    assert_eq!(
        added["CapEff"],
        format!("{:016x}", (0xa80425fbu64 | 1 << 12) & !(1 << 27)),
        "{added:?}"
    );

    let unconfined = probes_of(&run_probes(&store, &ctx, &["--security-opt", "seccomp=unconfined"]));
    assert_eq!(unconfined["Seccomp"], "0", "{unconfined:?}");
    assert_eq!(
        unconfined["unshare_user"], "ok",
        "without seccomp root may unshare a user namespace: {unconfined:?}"
    );

    let nnp = probes_of(&run_probes(&store, &ctx, &["--security-opt", "no-new-privileges"]));
    assert_eq!(nnp["NoNewPrivs"], "1", "{nnp:?}");

    let privileged = probes_of(&run_probes(&store, &ctx, &["--privileged"]));
    assert_eq!(privileged["Seccomp"], "0", "{privileged:?}");
    assert_eq!(privileged["mount"], "ok", "{privileged:?}");
    assert_eq!(privileged["proc_sys"], "ok", "{privileged:?}");

    let host = probes_of(&run_probes(&store, &ctx, &["--network", "host"]));
    assert_eq!(host["host_loopback"], "ok", "the probe itself works: {host:?}");
    assert_ne!(host["abstract"], "0", "the probe itself works: {host:?}");
    assert_eq!(
        host["ip_link_add"], "refused",
        "no CAP_NET_ADMIN even on the host network: {host:?}"
    );
}

#[test]
fn a_docker_seccomp_profile_file_is_applied() {
    if !can_run_containers("a_docker_seccomp_profile_file_is_applied") {
        return;
    }
    let (d, store, ctx) = setup();
    // Docker's format: deny mkdir (and mkdirat) with EACCES, allow the rest.
    let profile = d.path().join("profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let o = slipway_in(
        &store,
        &ctx,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--security-opt",
            &opt,
            "probe",
            "sh",
            "-c",
            "mkdir /tmp/x || grep Seccomp: /proc/self/status",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(out.starts_with("Seccomp:\t2"), "{out}");
    let o = slipway_in(
        &store,
        &ctx,
        &[
            "run",
            "--rm",
            "--security-opt",
            "seccomp=/nonexistent.json",
            "probe",
            "true",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("cannot read seccomp profile /nonexistent.json"),
        "{}",
        text(&o).1
    );
}

#[test]
fn entitlements_gate_the_host_network_and_insecure_steps() {
    if !can_run_containers("entitlements_gate_the_host_network_and_insecure_steps") {
        return;
    }
    let (_d, store, ctx) = setup();
    let e = build_probes(&store, &ctx, "--network=host", &[]).unwrap_err();
    assert!(
        e.contains("RUN --network=host needs the network.host entitlement: slipway build --allow network.host"),
        "{e}"
    );
    let t = build_probes(&store, &ctx, "--network=host", &["--allow", "network.host"]).unwrap();
    let p = probes_of(&t);
    assert_eq!(p["host_loopback"], "ok", "{t}");
    assert_eq!(p["CapEff"], "00000000a80425fb", "still confined otherwise: {t}");

    let e = build_probes(&store, &ctx, "--security=insecure", &[]).unwrap_err();
    assert!(
        e.contains("RUN --security=insecure needs the security.insecure entitlement"),
        "{e}"
    );
    let t = build_probes(&store, &ctx, "--security=insecure", &["--allow", "security.insecure"]).unwrap();
    let p = probes_of(&t);
    assert_eq!(p["Seccomp"], "0", "{t}");
    assert_eq!(p["mount"], "ok", "{t}");
    let e = build_probes(&store, &ctx, "", &["--allow", "network.everything"]).unwrap_err();
    assert!(e.contains("unknown entitlement \"network.everything\""), "{e}");
}

#[test]
fn published_ports_reach_the_container() {
    if !can_run_containers("published_ports_reach_the_container") || !have_pasta() {
        return;
    }
    let (_d, store, _ctx) = setup();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let publish = format!("127.0.0.1:{port}:8080");
    let mut server = crate::bin()
        .args([
            "run",
            "--rm",
            "-p",
            &publish,
            "probe",
            "sh",
            "-c",
            "echo hello | nc -l -p 8080",
        ])
        .env("SLIPWAY_ROOT", &store)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut answer = String::new();
    for _ in 0..100 {
        use std::io::Read;
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let _ = s.read_to_string(&mut answer);
            if !answer.is_empty() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(answer, "hello\n");
}

/// Runs the docker client against the daemon being compared with.
type DockerCli<'a> = dyn Fn(&[&str]) -> std::process::Output + 'a;

/// A Docker daemon to compare with: `$DOCKER_HOST` when it answers (CI or a developer may
/// start one: `dockerd --iptables=false --bridge=none --data-root D -H unix://SOCK`).
fn docker_host() -> Option<String> {
    let host = std::env::var("DOCKER_HOST").ok().or_else(|| {
        Path::new("/var/run/docker.sock")
            .exists()
            .then(|| "unix:///var/run/docker.sock".to_string())
    })?;
    let ok = std::process::Command::new("docker")
        .args(["-H", &host, "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(host)
}

#[test]
fn slipway_refuses_all_that_dockers_default_container_refuses() {
    if !can_run_containers("slipway_refuses_all_that_dockers_default_container_refuses") {
        return;
    }
    // `$DOCKER_HOST` when it answers, else a dockerd of the test's own (as the
    // differential suite starts one), so CI compares with a real daemon.
    let own;
    let docker: Box<DockerCli<'_>> = match docker_host() {
        Some(host) => Box::new(move |args: &[&str]| {
            std::process::Command::new("docker")
                .args(["-H", &host])
                .args(args)
                .output()
                .unwrap()
        }),
        None => match crate::differential::Daemon::start() {
            Ok(d) => {
                own = d;
                Box::new(|args: &[&str]| own.docker(args))
            }
            Err(e) => {
                eprintln!("note: no Docker daemon ({e}): not compared with docker run");
                return;
            }
        },
    };
    let (d, store, ctx) = setup();
    let tar = d.path().join("probe.tar");
    let packed = std::process::Command::new("tar")
        .args([
            "-C",
            d.path().join("rootfs").to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(packed.success());
    let tag = format!("slipway-probe:{}", std::process::id());
    let o = docker(&["import", tar.to_str().unwrap(), &tag]);
    assert!(o.status.success(), "{}", text(&o).1);
    let services = host_services();
    let port = format!("PORT={}", services.port);
    let script = std::fs::read_to_string(ctx.join("probes.sh")).unwrap();
    let o = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-e",
        &port,
        &tag,
        "sh",
        "-c",
        &script,
    ]);
    let _ = docker(&["rmi", &tag]);
    assert!(o.status.success(), "{}", text(&o).1);
    let theirs = probes_of(&text(&o).0);
    let ours = probes_of(&run_probes(&store, &ctx, &["--network", "none"]));
    for (k, v) in &theirs {
        if v == "refused" {
            assert_eq!(
                ours.get(k).map(String::as_str),
                Some("refused"),
                "docker refuses {k}, slipway must too: {ours:?}"
            );
        }
        if k.starts_with("Cap") || k == "Seccomp" || k == "NoNewPrivs" {
            assert_eq!(ours.get(k), Some(v), "{k} as docker: {ours:?}");
        }
    }
}
