//! Real containers on the real kernel (root and Debian's busybox-static needed; skipped
//! with a note otherwise).

use slipway_runner::container::{run, ContainerSpec, Mount, Network, Rootfs};
use slipway_runner::layer::{write_layer, Compression, LayerOptions};
use std::fs;
use std::path::{Path, PathBuf};

/// A busybox root filesystem, or why there is none.
fn busybox_rootfs(dir: &Path) -> Result<PathBuf, &'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not root");
    }
    if !Path::new("/bin/busybox").is_file() {
        return Err("no /bin/busybox (apt-get install busybox-static)");
    }
    let r = dir.join("rootfs");
    fs::create_dir_all(r.join("bin")).unwrap();
    fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
    for a in ["sh", "cat", "echo", "ls", "rm", "mkdir", "touch", "hostname", "id"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(a)).unwrap();
    }
    Ok(r)
}

macro_rules! rootfs_or_skip {
    ($dir:expr) => {
        match busybox_rootfs($dir) {
            Ok(r) => r,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        }
    };
}

fn spec(rootfs: Rootfs, script: &str, out: &Path) -> ContainerSpec {
    ContainerSpec {
        rootfs,
        argv: vec!["sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin".into(), "FOO=bar".into()],
        workdir: "/".into(),
        uid: 0,
        gid: 0,
        groups: vec![],
        hostname: "slipwaybox".into(),
        network: Network::None,
        mounts: vec![Mount::Bind {
            source: out.to_path_buf(),
            target: "/out".into(),
            readonly: false,
        }],
        security: Default::default(),
    }
}

fn read(p: PathBuf) -> String {
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn dir_rootfs_namespaces_env_and_exit_code() {
    let d = tempfile::tempdir().unwrap();
    let r = rootfs_or_skip!(d.path());
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    let mut s = spec(
        Rootfs::Dir(r.clone()),
        "echo $$ > /out/pid; echo $FOO > /out/env; hostname > /out/host; cat /proc/net/dev > /out/net; \
         ls /dev > /out/dev; cat /etc/resolv.conf > /out/resolv; echo z > /dev/null; id > /out/id; exit 3",
        &out,
    );
    s.uid = 1234;
    s.gid = 99;
    s.groups = vec![7];
    // The command runs as 1234: let it write its answers.
    fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let status = run(&s).unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(read(out.join("pid")), "2\n", "PID 1 is our init, the command is 2");
    assert_eq!(read(out.join("env")), "bar\n");
    assert_eq!(read(out.join("host")), "slipwaybox\n");
    let net = read(out.join("net"));
    assert!(
        net.contains("lo:") && net.lines().count() == 3,
        "only lo in --network none: {net}"
    );
    let dev = read(out.join("dev"));
    for name in ["null", "zero", "urandom", "pts", "shm", "ptmx", "fd"] {
        assert!(dev.split_whitespace().any(|n| n == name), "/dev/{name} missing: {dev}");
    }
    if Path::new("/etc/resolv.conf").exists() {
        assert_eq!(
            read(out.join("resolv")),
            fs::read_to_string("/etc/resolv.conf").unwrap()
        );
    }
    assert!(
        read(out.join("id")).starts_with("uid=1234 gid=99 groups=7,99")
            || read(out.join("id")).starts_with("uid=1234 gid=99 groups=99,7"),
        "{}",
        read(out.join("id"))
    );
    assert!(
        !r.join("etc").exists(),
        "the resolv.conf/hosts mount points are cleaned up"
    );
}

#[test]
fn setup_errors_name_the_call_and_path() {
    let d = tempfile::tempdir().unwrap();
    let r = rootfs_or_skip!(d.path());
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    let mut s = spec(Rootfs::Dir(r.clone()), "true", &out);
    s.workdir = "/nowhere".into();
    let e = run(&s).unwrap_err().to_string();
    assert!(e.contains("chdir /nowhere"), "{e}");
    s.workdir = "/".into();
    // A command killed by signal N exits 128+N, like a shell's $?.
    s.argv = vec!["sh".into(), "-c".into(), "kill -TERM $$".into()];
    assert_eq!(run(&s).unwrap().code(), Some(143));
    s.argv = vec!["nosuchprogram".into()];
    let e = run(&s).unwrap_err().to_string();
    assert!(e.contains("nosuchprogram: executable file not found in $PATH"), "{e}");
}

#[test]
fn overlay_changes_become_a_layer_with_whiteouts_and_stack() {
    let d = tempfile::tempdir().unwrap();
    let base = rootfs_or_skip!(d.path());
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    let overlay = |name: &str, lower: Vec<PathBuf>| {
        let c = d.path().join(name);
        for sub in ["upper", "work", "merged"] {
            fs::create_dir_all(c.join(sub)).unwrap();
        }
        Rootfs::Overlay {
            lower,
            upper: c.join("upper"),
            work: c.join("work"),
            merged: c.join("merged"),
        }
    };
    let first = overlay("c1", vec![base.clone()]);
    let status = run(&spec(first, "echo hi > /x; rm /bin/cat", &out)).unwrap();
    assert!(status.success());
    assert!(base.join("bin/cat").exists(), "the lower layer is untouched");
    let upper1 = d.path().join("c1/upper");
    let mut blob = Vec::new();
    let info = write_layer(
        &upper1,
        &LayerOptions {
            clamp: Some(0),
            compression: Compression::Gzip,
        },
        &mut blob,
    )
    .unwrap();
    let names: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]))
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    // Only the command's changes: no mount stubs (proc, dev, sys, etc/resolv.conf,
    // etc/hosts, the /out bind target).
    assert_eq!(names, ["bin", "bin/.wh.cat", "x"]);
    assert!(info.size > 0);

    // A second container on [base, the first upper] sees /x and no /bin/cat.
    let second = overlay("c2", vec![base.clone(), upper1]);
    let status = run(&spec(second, "read l < /x; echo $l > /out/x; ls /bin > /out/bin", &out)).unwrap();
    assert!(status.success());
    assert_eq!(read(out.join("x")), "hi\n");
    let bin = read(out.join("bin"));
    assert!(
        bin.contains("sh") && !bin.split_whitespace().any(|n| n == "cat"),
        "{bin}"
    );
}

#[test]
fn imported_busybox_image_run_commit_and_run_on_both_layers() {
    use slipway_runner::image::{commit_layer, import, resolve, unpack_image, unpack_layer};
    let d = tempfile::tempdir().unwrap();
    let rootfs = rootfs_or_skip!(d.path());
    let store = slipway_store::Store::open(d.path().join("store")).unwrap();
    let image = import(&store, &rootfs, "busybox").unwrap();
    let image = resolve(&store, "busybox").unwrap_or(image);
    let lowers = unpack_image(&store, &image).unwrap();
    assert_eq!(lowers.len(), 1);
    assert!(lowers[0].join("bin/busybox").is_file());
    assert_eq!(unpack_image(&store, &image).unwrap(), lowers, "cached per diff_id");

    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    let container = |name: &str, lower: Vec<PathBuf>| {
        let c = d.path().join(name);
        for sub in ["upper", "work", "merged"] {
            fs::create_dir_all(c.join(sub)).unwrap();
        }
        Rootfs::Overlay {
            lower,
            upper: c.join("upper"),
            work: c.join("work"),
            merged: c.join("merged"),
        }
    };
    let mut s = spec(container("c1", lowers.clone()), "echo hi > /x; rm /bin/cat", &out);
    s.mounts.clear();
    assert!(run(&s).unwrap().success());
    let opts = LayerOptions {
        clamp: Some(0),
        compression: Compression::Gzip,
    };
    let layer = commit_layer(&store, &d.path().join("c1/upper"), &opts).unwrap();
    let blob = store.get_blob(&layer.digest).unwrap();
    let names: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]))
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["bin", "bin/.wh.cat", "x"]);

    let desc = slipway_store::Descriptor {
        media_type: layer.media_type.into(),
        digest: layer.digest.clone(),
        size: layer.size,
        annotations: Default::default(),
    };
    let new_lower = unpack_layer(&store, &desc, &layer.diff_id).unwrap();
    let mut lower = lowers;
    lower.push(new_lower);
    let s = spec(
        container("c2", lower),
        "read l < /x; echo $l > /out/x; ls /bin > /out/bin",
        &out,
    );
    assert!(run(&s).unwrap().success());
    assert_eq!(read(out.join("x")), "hi\n");
    let bin = read(out.join("bin"));
    assert!(
        bin.contains("sh") && !bin.split_whitespace().any(|n| n == "cat"),
        "{bin}"
    );
}
