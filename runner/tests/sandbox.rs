//! The sandbox, probed from inside real containers (root and Debian's busybox-static
//! needed; skipped with a note otherwise). Each probe only shows that an action is refused
//! (or what a file says); none performs a damaging one: writability is checked by opening
//! for appending without writing (`: >> FILE`: open(2) with O_WRONLY, no write(2); a
//! read-only mount fails the open with EROFS), device nodes made with mknod are harmless
//! ones (null, zero).

use slipway_runner::cgroup::{Cgroup, Devices, Limits};
use slipway_runner::container::{run, ContainerSpec, Mount, Network, Rootfs};
use slipway_runner::security::Security;
use std::fs;
use std::path::{Path, PathBuf};

fn busybox_rootfs(dir: &Path) -> Result<PathBuf, &'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not root");
    }
    if !Path::new("/bin/busybox").is_file() {
        return Err("no /bin/busybox (apt-get install busybox-static)");
    }
    let r = dir.join("rootfs");
    fs::create_dir_all(r.join("bin")).unwrap();
    fs::create_dir_all(r.join("tmp")).unwrap();
    fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let _ = std::os::unix::fs::symlink("busybox", r.join("bin").join(applet));
    }
    Ok(r)
}

/// Runs `script` (busybox sh, every applet on PATH) in a container and returns what it
/// wrote to stdout.
fn probe(security: Security, uid: u32, network: Network, script: &str) -> Option<String> {
    let d = tempfile::tempdir().unwrap();
    let r = match busybox_rootfs(d.path()) {
        Ok(r) => r,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let spec = ContainerSpec {
        rootfs: Rootfs::Dir(r),
        argv: vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            format!("exec > /out/result 2>&1; {script}"),
        ],
        env: vec!["PATH=/bin".into()],
        workdir: "/".into(),
        uid,
        gid: uid,
        groups: vec![],
        hostname: "probe".into(),
        network,
        mounts: vec![Mount::Bind {
            source: out.clone(),
            target: "/out".into(),
            readonly: false,
        }],
        security,
        limits: Default::default(),
    };
    // A descriptor the caller left open without O_CLOEXEC (the class of CVE-2024-21626).
    let leaked = nix::unistd::dup(std::io::stderr()).unwrap();
    let status = run(&spec).unwrap();
    drop(leaked);
    let text = fs::read_to_string(out.join("result")).unwrap_or_default();
    assert!(status.success(), "probe failed ({status}): {text}");
    Some(text)
}

fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

const REFUSED: &str = "refused";

/// `ok` when `cmd` succeeds, `refused` otherwise.
fn attempt(name: &str, cmd: &str) -> String {
    format!("if {cmd} >/dev/null 2>&1; then echo {name}=ok; else echo {name}={REFUSED}; fi; ")
}

#[test]
fn root_gets_containerds_capabilities_and_dockers_seccomp() {
    let Some(t) = probe(
        Security::default(),
        0,
        Network::None,
        "grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status",
    ) else {
        return;
    };
    assert_eq!(line(&t, "CapEff:"), "00000000a80425fb", "{t}");
    assert_eq!(line(&t, "CapPrm:"), "00000000a80425fb", "{t}");
    assert_eq!(line(&t, "CapBnd:"), "00000000a80425fb", "{t}");
    assert_eq!(line(&t, "CapInh:"), "0000000000000000", "{t}");
    assert_eq!(line(&t, "CapAmb:"), "0000000000000000", "{t}");
    assert_eq!(line(&t, "Seccomp:"), "2", "filter mode: {t}");
    assert_eq!(line(&t, "NoNewPrivs:"), "0", "as Docker: {t}");
}

#[test]
fn a_non_root_user_has_no_capabilities_left() {
    let Some(t) = probe(
        Security::default(),
        1000,
        Network::None,
        "grep -E '^Cap' /proc/self/status",
    ) else {
        return;
    };
    assert_eq!(line(&t, "CapEff:"), "0000000000000000", "{t}");
    assert_eq!(line(&t, "CapPrm:"), "0000000000000000", "{t}");
    assert_eq!(line(&t, "CapBnd:"), "00000000a80425fb", "{t}");
}

#[test]
fn pid_1_shows_nothing_of_the_caller_and_no_host_descriptor_crosses() {
    let script = "printf 'cmdline='; tr '\\0' '.' < /proc/1/cmdline | sed 's/\\.*$//'; echo; \
                  cat /proc/1/environ >/dev/null 2>&1 && echo environ=readable || echo environ=refused; \
                  readlink /proc/1/exe >/dev/null 2>&1 && echo exe=readable || echo exe=refused; \
                  echo fds=$(ls /proc/self/fd | sort -n | tr '\\n' ' '); \
                  echo init_fds=$(ls /proc/1/fd 2>/dev/null | sort -n | tr '\\n' ' ')";
    let Some(t) = probe(Security::default(), 0, Network::None, script) else {
        return;
    };
    assert_eq!(line(&t, "cmdline="), "init", "{t}");
    assert_eq!(line(&t, "environ="), "refused", "{t}");
    assert_eq!(line(&t, "exe="), "refused", "{t}");
    // 0-2, and the directory ls reads.
    assert_eq!(line(&t, "fds="), "0 1 2 3", "{t}");
    let init = line(&t, "init_fds=");
    assert!(init.is_empty() || init == "0 1 2", "init holds only stdio: {t}");
}

#[test]
fn kernel_knobs_mounts_namespaces_and_devices_are_refused() {
    let script = [
        attempt("core_pattern_writable", "sh -c ': >> /proc/sys/kernel/core_pattern'"),
        attempt("proc_sys_writable", "sh -c ': >> /proc/sys/vm/drop_caches'"),
        attempt("sysrq_writable", "sh -c ': >> /proc/sysrq-trigger'"),
        attempt("sys_writable", "sh -c ': >> /sys/kernel/uevent_helper'"),
        attempt("mount", "mount -t tmpfs none /tmp"),
        attempt("unshare_user", "unshare -U true"),
        attempt("unshare_net", "unshare -n true"),
        attempt("unshare_mount", "unshare -m true"),
        attempt("sethostname", "hostname evil"),
        attempt("dmesg", "dmesg"),
        attempt("kcore_has_bytes", "test -s /proc/kcore"),
        attempt("keys_readable", "test -s /proc/keys"),
        "mknod /tmp/null2 c 1 3 2>/dev/null; ".to_string(),
        attempt("made_node_opens", "sh -c 'echo x > /tmp/null2'"),
        attempt("dev_null_opens", "sh -c 'echo x > /dev/null'"),
        "echo dev=$(ls /dev | sort | tr '\\n' ' '); ".to_string(),
        "echo firmware=$(ls /sys/firmware 2>/dev/null | wc -l); ".to_string(),
    ]
    .concat();
    let Some(t) = probe(Security::default(), 0, Network::None, &script) else {
        return;
    };
    for key in [
        "core_pattern_writable=",
        "proc_sys_writable=",
        "sysrq_writable=",
        "sys_writable=",
        "mount=",
        "unshare_user=",
        "unshare_net=",
        "unshare_mount=",
        "sethostname=",
        "dmesg=",
        "kcore_has_bytes=",
        "keys_readable=",
        "made_node_opens=",
    ] {
        assert_eq!(line(&t, key), REFUSED, "{key} {t}");
    }
    assert_eq!(line(&t, "dev_null_opens="), "ok", "{t}");
    assert_eq!(
        line(&t, "dev="),
        "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero",
        "{t}"
    );
    assert_eq!(line(&t, "firmware="), "0", "{t}");
}

#[test]
fn privileged_lifts_the_sandbox() {
    let script = [
        "grep -E '^(CapEff|Seccomp)' /proc/self/status; ".to_string(),
        attempt("proc_sys_writable", "sh -c ': >> /proc/sys/vm/drop_caches'"),
        attempt("unshare_mount", "unshare -m true"),
    ]
    .concat();
    let Some(t) = probe(Security::privileged(), 0, Network::None, &script) else {
        return;
    };
    assert_eq!(line(&t, "Seccomp:"), "0", "{t}");
    assert_ne!(line(&t, "CapEff:"), "00000000a80425fb", "{t}");
    assert_eq!(line(&t, "proc_sys_writable="), "ok", "{t}");
    assert_eq!(line(&t, "unshare_mount="), "ok", "{t}");
}

#[test]
fn cap_add_and_an_unconfined_profile_are_honoured() {
    let mut s = Security::default();
    s.change_caps(&["SYS_ADMIN".into()], &["MKNOD".into()]).unwrap();
    s.seccomp = slipway_runner::security::Seccomp::Unconfined;
    let script = [
        "grep -E '^(CapEff|Seccomp)' /proc/self/status; ".to_string(),
        attempt("mknod", "mknod /tmp/z c 1 5"),
    ]
    .concat();
    let Some(t) = probe(s, 0, Network::None, &script) else {
        return;
    };
    assert_eq!(
        line(&t, "CapEff:"),
        format!("{:016x}", (0xa80425fbu64 | 1 << 21) & !(1 << 27)),
        "{t}"
    );
    assert_eq!(line(&t, "Seccomp:"), "0", "{t}");
    assert_eq!(line(&t, "mknod="), REFUSED, "{t}");
}

/// Whether this host takes the device rules as `via`.
fn devices_via(via: Devices) -> bool {
    let limits = Limits {
        devices: true,
        ..Default::default()
    };
    let name = format!("slipway-{}-probe-{via:?}", std::process::id());
    match Cgroup::create_with_devices(&name, &limits, via) {
        Ok(Some(c)) => {
            let hit = c.devices() == Some(via);
            c.remove();
            hit
        }
        _ => false,
    }
}

#[test]
fn the_device_cgroup_allows_only_the_standard_nodes() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: not root");
        return;
    }
    // The container's processes are in a cgroup of its own: a v2 one with the device
    // program where the kernel takes it (created there: clone3), else the v1 devices one.
    let (bpf, v1) = (devices_via(Devices::Bpf), devices_via(Devices::V1));
    if !bpf && !v1 {
        eprintln!("skipped: neither a cgroup v2 device program nor a v1 devices controller");
        return;
    }
    let Some(t) = probe(Security::default(), 0, Network::None, "cat /proc/self/cgroup") else {
        return;
    };
    let line = if bpf { "0::/" } else { ":devices:/" };
    assert!(
        t.lines().any(|l| l.contains(line) && l.contains("/slipway-")),
        "a cgroup of its own ({line}): {t}"
    );
    if bpf {
        assert!(
            !t.lines().any(|l| l.contains(":devices:") && l.contains("/slipway-")),
            "no v1 devices cgroup besides the program: {t}"
        );
    }
    let Some(t) = probe(Security::privileged(), 0, Network::None, "cat /proc/self/cgroup") else {
        return;
    };
    assert!(!t.contains("/slipway-"), "privileged: none: {t}");
}

/// The device rules on their own, apart from the nodev mounts (which refuse a made node
/// before any cgroup check, with EACCES): a shell in a container's cgroup, on the host's
/// filesystem, makes nodes of major 240 (for local use: no driver is behind it, so even
/// an allowed open does nothing but fail with ENXIO) and opens them. The rules allow the
/// mknod and refuse the opens (EPERM); /dev/null still opens. For each mechanism the
/// host has.
#[test]
fn device_rules_refuse_opening_nodes_outside_the_list() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: not root");
        return;
    }
    for via in [Devices::Bpf, Devices::V1] {
        if !devices_via(via) {
            eprintln!("skipped {via:?}: not on this host");
            continue;
        }
        let limits = Limits {
            devices: true,
            ..Default::default()
        };
        let name = format!("slipway-{}-rules-{via:?}", std::process::id());
        let cgroup = Cgroup::create_with_devices(&name, &limits, via).unwrap().unwrap();
        let mut procs = cgroup.procs();
        procs.extend(cgroup.unified().map(|(_, p)| p.to_path_buf()));
        let d = tempfile::tempdir().unwrap();
        let script = "for p in $PROCS; do echo 0 > $p || exit 9; done; \
            mknod $D/c c 240 0 && echo mknod=ok; mknod $D/b b 240 0 && echo mknod_block=ok; \
            cat $D/c; head -c1 $D/b; : < /dev/null && echo null=ok";
        let o = std::process::Command::new("/bin/sh")
            .args(["-c", script])
            .env("D", d.path())
            .env(
                "PROCS",
                procs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
            .output()
            .unwrap();
        cgroup.remove();
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(9), "{via:?}: could not join: {err}");
        assert!(
            out.contains("mknod=ok") && out.contains("mknod_block=ok"),
            "{via:?}: {out}{err}"
        );
        assert_eq!(
            err.matches("Operation not permitted").count(),
            2,
            "{via:?}: both opens refused by the rules: {out}{err}"
        );
        assert!(
            !err.contains("No such device"),
            "{via:?}: an open got past the rules: {err}"
        );
        assert!(out.contains("null=ok"), "{via:?}: {out}{err}");
    }
}
