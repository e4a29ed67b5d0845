//! Differential tests against a real Docker daemon: every case (a short Dockerfile and a
//! few context files) is built by Docker's classic builder (Debian's `docker.io`, 20.10,
//! `DOCKER_BUILDKIT=0 docker build --network none`) and by `slipway build`, from the same
//! busybox base imported into both, and the results are compared: the image config
//! (`docker image inspect`) and the flattened root filesystem (`docker create` +
//! `docker export` of both images; slipway's comes in through `docker load` of its
//! `--output type=docker` archive, which is itself under test): paths, types, modes,
//! owners, contents, link targets, hard links and mtimes.
//!
//! Mtimes: the base image's files are dated 2017 and the context's 2020, so a time from
//! 2022 on can only be the build's own (a directory a step changed, a file a RUN wrote):
//! those compare as "new" on both sides, every other time exactly.
//!
//! Where BuildKit (the reference) differs from the classic builder, the case says so:
//! `buildkit` names the paths or config fields left out of the comparison, with a one-line
//! reason, and `check` asserts BuildKit's behaviour on slipway's image instead. `docs/
//! fidelity.md` lists the same differences.
//!
//! Needs root, /bin/busybox, `dockerd` and `docker`; skips with a note otherwise, or when
//! the daemon does not start. One daemon (its own data and exec roots, socket, no
//! network) for every case; it is stopped at the end, also on failure.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Times before this are the base image's or the context's; after it, the build's.
const BUILD_TIME: u64 = 1_650_000_000;
const BASE_TIME: i64 = 1_500_000_000;
const CONTEXT_TIME: i64 = 1_600_000_000;

/// What slipway's image must show where it follows BuildKit rather than the classic builder.
type Check = fn(&Flat, &serde_json::Value) -> Result<(), String>;

struct Case {
    name: &'static str,
    dockerfile: &'static str,
    /// One entry a line: `path=content` (a file, 0644; `\n` is a newline), `path!MODE=content`,
    /// `dir/`, `link -> target`, `hard => existing`.
    context: &'static str,
    /// `--build-arg`s, `K=V`.
    args: &'static [&'static str],
    /// Paths (`/etc/x`) or config fields (`Config.User`) where BuildKit, which slipway
    /// follows, differs from the classic builder, with the reason.
    buildkit: &'static [(&'static str, &'static str)],
    check: Option<Check>,
    /// Both builders must fail.
    fails: bool,
}

const fn case(name: &'static str, dockerfile: &'static str, context: &'static str) -> Case {
    Case {
        name,
        dockerfile,
        context,
        args: &[],
        buildkit: &[],
        check: None,
        fails: false,
    }
}

impl Case {
    const fn args(mut self, args: &'static [&'static str]) -> Case {
        self.args = args;
        self
    }
    const fn buildkit(mut self, differs: &'static [(&'static str, &'static str)], check: Check) -> Case {
        self.buildkit = differs;
        self.check = Some(check);
        self
    }
    const fn fails(mut self) -> Case {
        self.fails = true;
        self
    }
}

/// One entry of a flattened root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `f` file, `d` directory, `l` symlink, `h` hard link, `c`/`b`/`p` nodes.
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    /// Seconds, or `None` for "made by the build" (see [`BUILD_TIME`]).
    mtime: Option<u64>,
    /// A file's content (sha256, or the text when short), a link's target.
    data: String,
}

type Flat = BTreeMap<String, Entry>;

/// Paths `docker create` adds or mounts over, the same for both images.
fn skipped(path: &str) -> bool {
    matches!(
        path,
        "/.dockerenv" | "/etc/hosts" | "/etc/hostname" | "/etc/resolv.conf" | "/etc/mtab" | "/proc" | "/sys" | "/dev"
    ) || path.starts_with("/dev/")
        || path.starts_with("/proc/")
        || path.starts_with("/sys/")
}

fn flatten(tar_bytes: &[u8]) -> Flat {
    let mut out = Flat::new();
    let mut a = tar::Archive::new(tar_bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = format!("/{}", e.path().unwrap().display());
        let path = path.trim_end_matches('/').to_string();
        let path = if path.is_empty() { "/".to_string() } else { path };
        if skipped(&path) || path == "/" {
            continue;
        }
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Char => 'c',
            tar::EntryType::Block => 'b',
            tar::EntryType::Fifo => 'p',
            _ => '?',
        };
        let data = match kind {
            'l' | 'h' => e
                .link_name()
                .unwrap()
                .map(|l| l.display().to_string())
                .unwrap_or_default(),
            'f' => {
                let mut buf = Vec::new();
                e.read_to_end(&mut buf).unwrap();
                if buf.len() <= 64 && std::str::from_utf8(&buf).is_ok() {
                    String::from_utf8(buf).unwrap()
                } else {
                    use sha2::Digest;
                    format!("sha256:{:x} ({} bytes)", sha2::Sha256::digest(&buf), buf.len())
                }
            }
            _ => String::new(),
        };
        let mtime = h.mtime().unwrap();
        out.insert(
            path,
            Entry {
                kind,
                mode: h.mode().unwrap() & 0o7777,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: (mtime < BUILD_TIME).then_some(mtime),
                data,
            },
        );
    }
    out
}

/// A running `dockerd` of the test's own; stopped (SIGTERM, then SIGKILL) on drop.
pub(crate) struct Daemon {
    child: Child,
    sock: String,
    docker: String,
    _dir: tempfile::TempDir,
}

impl Daemon {
    pub(crate) fn start() -> Result<Daemon, String> {
        let dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .ok_or("no dockerd (apt-get install docker.io)")?;
        // The client of the same package: it speaks the daemon's API version.
        let docker = ["/usr/bin/docker", "/usr/local/bin/docker"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .ok_or("no docker client")?;
        let dir = tempfile::Builder::new()
            .prefix("slipway-dockerd")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?;
        let sock = dir.path().join("d.sock").display().to_string();
        let log = std::fs::File::create(dir.path().join("dockerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(dockerd)
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("d.pid"))
            .arg("-H")
            .arg(format!("unix://{sock}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {dockerd}: {e}"))?;
        let mut d = Daemon {
            child,
            sock,
            docker: docker.to_string(),
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if d.docker(&["version"]).status.success() {
                return Ok(d);
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                let log = std::fs::read_to_string(d._dir.path().join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(format!("dockerd exited ({status}): {}", tail.join(" | ")));
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err("dockerd did not answer within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub(crate) fn docker(&self, args: &[&str]) -> Output {
        Command::new(&self.docker)
            .arg("-H")
            .arg(format!("unix://{}", self.sock))
            .args(args)
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CLI_HINTS", "false")
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// The flattened root filesystem and config of `image`.
    fn image(&self, image: &str) -> Result<(Flat, serde_json::Value), String> {
        let o = self.docker(&["create", image, "/bin/true"]);
        if !o.status.success() {
            return Err(format!("docker create: {}", String::from_utf8_lossy(&o.stderr)));
        }
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let export = self.docker(&["export", &id]);
        let _ = self.docker(&["rm", &id]);
        if !export.status.success() {
            return Err(format!("docker export: {}", String::from_utf8_lossy(&export.stderr)));
        }
        let o = self.docker(&["image", "inspect", image]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).map_err(|e| format!("inspect: {e}"))?;
        Ok((flatten(&export.stdout), v[0].clone()))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The busybox root filesystem both builders start from, as a tar: users, groups, a
/// `/lib -> usr/lib` link, a few directories with owners and modes, every time in 2017.
fn base_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in [
        "bin",
        "etc",
        "tmp",
        "usr/lib",
        "srv",
        "opt/app",
        "home/app",
        "var/empty",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let applets = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&applets.stdout).lines() {
        if a != "busybox" && !a.is_empty() {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\napp:x:1001:\nstaff:x:50:app\nnogroup:x:65534:\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/motd"), "base motd\n").unwrap();
    std::fs::write(root.join("opt/app/old.txt"), "old\n").unwrap();
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(root.join("srv"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(root.join("srv"), Some(7), Some(8)).unwrap();
    std::os::unix::fs::chown(root.join("home/app"), Some(1000), Some(1001)).unwrap();
    set_times(&root, BASE_TIME);
    let tar = dir.join("rootfs.tar");
    let o = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "-cf"])
        .arg(&tar)
        .arg(".")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tar
}

/// Sets every mtime under `root` (itself included) to `t`, deepest first.
fn set_times(root: &Path, t: i64) {
    let o = Command::new("find")
        .arg(root)
        .args(["-depth", "-exec", "touch", "-h", "-d"])
        .arg(format!("@{t}"))
        .args(["{}", "+"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Writes a case's context (see [`Case::context`]), each entry its own time in 2020.
fn write_context(dir: &Path, case: &Case) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), case.dockerfile).unwrap();
    let mut made = Vec::new();
    for line in case.context.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some((link, target)) = line.split_once(" -> ") {
            let p = dir.join(link);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, &p).unwrap();
            made.push(p);
        } else if let Some((hard, existing)) = line.split_once(" => ") {
            std::fs::hard_link(dir.join(existing), dir.join(hard)).unwrap();
        } else if let Some((name, what)) = line.split_once('@') {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, generated(what)).unwrap();
            made.push(p);
        } else if let Some(d) = line.strip_suffix('/') {
            std::fs::create_dir_all(dir.join(d)).unwrap();
            made.push(dir.join(d));
        } else {
            let (name, content) = line.split_once('=').unwrap_or((line, ""));
            let (name, mode) = match name.split_once('!') {
                Some((n, m)) => (n, u32::from_str_radix(m, 8).unwrap()),
                None => (name, 0o644),
            };
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content.replace("\\n", "\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            made.push(p);
        }
    }
    // Every entry its own time (the Dockerfile too), directories last.
    set_times(dir, CONTEXT_TIME);
    made.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in made.iter().enumerate() {
        let o = Command::new("touch")
            .args(["-h", "-d"])
            .arg(format!("@{}", CONTEXT_TIME + 1000 * (i as i64 + 1)))
            .arg(p)
            .output()
            .unwrap();
        assert!(o.status.success());
    }
}

/// Generated context files: `N` bytes of a pattern, or a `tar` / `tgz` archive with a
/// directory, files with their own modes, owners and times, a symlink and a hard link.
fn generated(what: &str) -> Vec<u8> {
    if let Ok(n) = what.parse::<usize>() {
        return (0..n).map(|i| (i * 7 % 251) as u8).collect();
    }
    let mut t = tar::Builder::new(Vec::new());
    let entry = |kind: tar::EntryType, mode: u32, uid: u64, mtime: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid + 1);
        h.set_mtime(mtime);
        h.set_size(0);
        h
    };
    let mut h = entry(tar::EntryType::Directory, 0o750, 0, 1_550_000_000);
    t.append_data(&mut h, "top/", std::io::empty()).unwrap();
    let mut h = entry(tar::EntryType::Regular, 0o640, 1000, 1_550_000_100);
    h.set_size(6);
    t.append_data(&mut h, "top/file", &b"inside"[..]).unwrap();
    let mut h = entry(tar::EntryType::Regular, 0o755, 0, 1_550_000_200);
    h.set_size(3);
    t.append_data(&mut h, "run.sh", &b"#!\n"[..]).unwrap();
    let mut h = entry(tar::EntryType::Symlink, 0o777, 0, 1_550_000_300);
    t.append_link(&mut h, "top/link", "file").unwrap();
    let mut h = entry(tar::EntryType::Link, 0o640, 1000, 1_550_000_100);
    t.append_link(&mut h, "top/hard", "top/file").unwrap();
    let bytes = t.into_inner().unwrap();
    match what {
        "tar" => bytes,
        "tgz" => {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&bytes).unwrap();
            e.finish().unwrap()
        }
        other => panic!("unknown generated file {other}"),
    }
}

/// The config fields compared, `null`, `[]`, `{}` and `""` alike.
const FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "Healthcheck",
    "StopSignal",
    "Shell",
    "OnBuild",
];

fn field(inspect: &serde_json::Value, name: &str) -> serde_json::Value {
    let v = inspect["Config"][name].clone();
    let empty = match &v {
        serde_json::Value::Null => true,
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        serde_json::Value::String(s) => s.is_empty(),
        _ => false,
    };
    if empty {
        serde_json::Value::Null
    } else {
        v
    }
}

/// What differs between Docker's image and slipway's, one line each.
fn compare(case: &Case, docker: &(Flat, serde_json::Value), ours: &(Flat, serde_json::Value)) -> Vec<String> {
    let known = |key: &str| {
        case.buildkit
            .iter()
            .any(|(k, _)| *k == key || key.starts_with(&format!("{k}/")))
    };
    let mut diffs = Vec::new();
    for f in FIELDS {
        let key = format!("Config.{f}");
        if known(&key) {
            continue;
        }
        let (a, b) = (field(&docker.1, f), field(&ours.1, f));
        if a != b {
            diffs.push(format!("{key}: docker {a} slipway {b}"));
        }
    }
    let paths: std::collections::BTreeSet<&String> = docker.0.keys().chain(ours.0.keys()).collect();
    for p in paths {
        if known(p) {
            continue;
        }
        match (docker.0.get(p), ours.0.get(p)) {
            (Some(a), Some(b)) if a == b => {}
            // BuildKit gives the directory a COPY/ADD copies a directory into that directory's
            // mtime (fsutil restores it after the contents); the classic builder leaves the
            // build's time. Only directories, only a context time against a new one.
            (Some(a), Some(b))
                if a.kind == 'd'
                    && a.mtime.is_none()
                    && b.mtime.is_some_and(|t| t >= CONTEXT_TIME as u64)
                    && Entry {
                        mtime: None,
                        ..b.clone()
                    } == *a => {}
            (a, b) => diffs.push(format!("{p}: docker {a:?} slipway {b:?}")),
        }
    }
    diffs
}

fn run_case(daemon: &Daemon, store: &Path, work: &Path, i: usize, case: &Case) -> Result<(), String> {
    let ctx = work.join(format!("case-{i}"));
    write_context(&ctx, case);
    let tag = format!("case-{i}");
    let ctx_s = ctx.display().to_string();
    let mut args: Vec<String> = vec!["build".into(), "--network".into(), "none".into(), "--no-cache".into()];
    args.extend(["-t".into(), format!("docker-{tag}"), "-q".into()]);
    for a in case.args {
        args.extend(["--build-arg".into(), (*a).into()]);
    }
    args.push(ctx_s.clone());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    // `*`: the classic builder cannot build it at all (a BuildKit-only feature).
    let buildkit_only = case.buildkit.iter().any(|(k, _)| *k == "*");
    let d = if buildkit_only {
        daemon.docker(&["version"])
    } else {
        daemon.docker(&argv)
    };
    let archive = work.join(format!("{tag}.tar"));
    let mut cmd = crate::bin();
    cmd.args(["build", "--network", "none", "--no-cache", "-q", "-t"])
        .arg(format!("slipway-{tag}"))
        .arg("--output")
        .arg(format!("type=docker,dest={}", archive.display()));
    for a in case.args {
        cmd.args(["--build-arg", a]);
    }
    let s = cmd
        .arg(&ctx)
        .env("SLIPWAY_ROOT", store)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let result = (|| {
        if case.fails {
            return match (d.status.success(), s.status.success()) {
                (false, false) => Ok(()),
                (dok, sok) => Err(format!("expected both to fail: docker ok {dok}, slipway ok {sok}")),
            };
        }
        if !d.status.success() {
            return Err(format!(
                "docker build failed: {}",
                String::from_utf8_lossy(&d.stderr).trim()
            ));
        }
        if !s.status.success() {
            return Err(format!(
                "slipway build failed: {}",
                String::from_utf8_lossy(&s.stderr).trim()
            ));
        }
        let o = daemon.docker(&["load", "-q", "-i", &archive.display().to_string()]);
        if !o.status.success() {
            return Err(format!("docker load: {}", String::from_utf8_lossy(&o.stderr)));
        }
        let ours = daemon.image(&format!("slipway-{tag}:latest"))?;
        let mut diffs = if buildkit_only {
            Vec::new()
        } else {
            compare(case, &daemon.image(&format!("docker-{tag}"))?, &ours)
        };
        if let Some(check) = case.check {
            if let Err(e) = check(&ours.0, &ours.1) {
                diffs.push(format!("BuildKit behaviour: {e}"));
            }
        }
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(diffs.join("\n    "))
        }
    })();
    let _ = daemon.docker(&["rmi", "-f", &format!("docker-{tag}"), &format!("slipway-{tag}:latest")]);
    let _ = std::fs::remove_file(&archive);
    let _ = std::fs::remove_dir_all(&ctx);
    result
}

fn entry<'a>(flat: &'a Flat, path: &str) -> Result<&'a Entry, String> {
    flat.get(path).ok_or_else(|| format!("{path} is missing"))
}

fn owner(flat: &Flat, path: &str, uid: u64, gid: u64) -> Result<(), String> {
    let e = entry(flat, path)?;
    if (e.uid, e.gid) != (uid, gid) {
        return Err(format!("{path} is owned by {}:{}, expected {uid}:{gid}", e.uid, e.gid));
    }
    Ok(())
}

fn absent(flat: &Flat, path: &str) -> Result<(), String> {
    match flat.get(path) {
        Some(e) => Err(format!("{path} should not exist: {e:?}")),
        None => Ok(()),
    }
}

#[test]
fn slipway_builds_what_docker_builds() {
    if !crate::build::can_run_containers("slipway_builds_what_docker_builds") {
        return;
    }
    let daemon = match Daemon::start() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("note: skipping slipway_builds_what_docker_builds (dockerd: {e})");
            return;
        }
    };
    let work = tempfile::Builder::new()
        .prefix("slipway-diff")
        .tempdir_in("/tmp")
        .unwrap();
    let store = work.path().join("store");
    let rootfs = base_rootfs(work.path());
    // slipway's import gives the image Docker's default PATH; so does this one.
    let o = daemon.docker(&[
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        &rootfs.display().to_string(),
        "bb",
    ]);
    assert!(
        o.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = crate::bin()
        .args(["image", "import"])
        .arg(&rootfs)
        .args(["--tag", "bb"])
        .env("SLIPWAY_ROOT", &store)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "slipway image import: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // slipway's docker archive runs under `docker run`.
    {
        let ctx = work.path().join("run-ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("hi.txt"), "hello from slipway\n").unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            "FROM bb\nCOPY hi.txt /srv/\nENV WHO=docker\nWORKDIR /srv\nCMD [\"sh\", \"-c\", \"cat hi.txt; echo $WHO; pwd\"]\n",
        )
        .unwrap();
        let archive = work.path().join("run.tar");
        let o = crate::bin()
            .args(["build", "-q", "-t", "runme", "--output"])
            .arg(format!("type=docker,dest={}", archive.display()))
            .arg(&ctx)
            .env("SLIPWAY_ROOT", &store)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = daemon.docker(&["load", "-i", &archive.display().to_string()]);
        assert!(
            o.status.success(),
            "docker load: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = daemon.docker(&["run", "--rm", "--network", "none", "runme"]);
        assert!(o.status.success(), "docker run: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "hello from slipway\ndocker\n/srv\n");
    }

    let cases = cases();
    let started = Instant::now();
    // Two at a time: a case mostly waits for the daemon or a container.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                if let Err(e) = run_case(&daemon, &store, work.path(), i, case) {
                    failed
                        .lock()
                        .unwrap()
                        .push(format!("{} (case-{i}):\n    {e}", case.name));
                }
            });
        }
    });
    let mut failed = failed.into_inner().unwrap();
    failed.sort();
    eprintln!(
        "differential: {} cases, {} identical or as BuildKit, {} failed, in {:?}",
        cases.len(),
        cases.len() - failed.len(),
        failed.len(),
        started.elapsed()
    );
    assert!(
        failed.is_empty(),
        "{} case(s) differ:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

fn cases() -> Vec<Case> {
    vec![
        // FROM and config-only instructions.
        case("from only", "FROM bb\n", ""),
        case("env", "FROM bb\nENV A=1 B=\"two words\"\nENV C $A-x\n", ""),
        case("env overrides path", "FROM bb\nENV PATH=/opt/bin:$PATH\n", ""),
        case("label", "FROM bb\nLABEL a=b \"c d\"=\"e f\"\nLABEL a=override\n", ""),
        case("cmd exec", "FROM bb\nCMD [\"echo\", \"hi\"]\n", ""),
        case("cmd shell", "FROM bb\nCMD echo hi\n", ""),
        case("entrypoint exec", "FROM bb\nENTRYPOINT [\"/bin/echo\"]\n", ""),
        case("entrypoint shell", "FROM bb\nENTRYPOINT echo hi\n", ""),
        case("cmd then entrypoint", "FROM bb\nCMD [\"a\"]\nENTRYPOINT [\"b\"]\n", ""),
        case("entrypoint then cmd", "FROM bb\nENTRYPOINT [\"b\"]\nCMD [\"a\"]\n", ""),
        case("user name", "FROM bb\nUSER app\n", ""),
        case("user uid gid", "FROM bb\nUSER 1000:50\n", ""),
        case("expose", "FROM bb\nEXPOSE 80 443/tcp 53/udp\n", ""),
        case("expose range", "FROM bb\nEXPOSE 8000-8002/tcp 9000-9001\n", ""),
        case("expose uppercase protocol", "FROM bb\nEXPOSE 80/TCP 53/UDP\n", ""),
        case("volume", "FROM bb\nVOLUME /data\nVOLUME [\"/a\", \"/b\"]\n", ""),
        case("stopsignal", "FROM bb\nSTOPSIGNAL SIGINT\n", ""),
        case("shell", "FROM bb\nSHELL [\"/bin/sh\", \"-ec\"]\nCMD echo hi\n", ""),
        case(
            "healthcheck shell",
            "FROM bb\nHEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD wget -q localhost\n",
            "",
        ),
        case("healthcheck exec", "FROM bb\nHEALTHCHECK CMD [\"ls\", \"/\"]\n", ""),
        case("healthcheck none", "FROM bb\nHEALTHCHECK NONE\n", ""),
        case("onbuild", "FROM bb\nONBUILD RUN echo hi\nONBUILD COPY a /a\n", ""),
        case("maintainer", "FROM bb\nMAINTAINER someone\n", ""),
        // RUN.
        case("run writes a file", "FROM bb\nRUN echo hi > /hi.txt\n", ""),
        case("run changes nothing", "FROM bb\nRUN true\n", ""),
        case("run mkdir", "FROM bb\nRUN mkdir -p /a/b/c && echo x > /a/b/c/f\n", ""),
        case("run chmod chown", "FROM bb\nRUN echo x > /f && chmod 4750 /f && chown 1000:50 /f\n", ""),
        case("run deletes a base file", "FROM bb\nRUN rm /etc/motd\n", ""),
        case("run deletes a dir", "FROM bb\nRUN rm -r /opt/app\n", ""),
        case("run replaces a dir", "FROM bb\nRUN rm -r /opt/app && mkdir /opt/app && echo n > /opt/app/new\n", ""),
        case("run symlink and hardlink", "FROM bb\nRUN echo x > /f && ln -s f /l && ln /f /h\n", ""),
        case("run touch old date", "FROM bb\nRUN echo x > /f && touch -d @1234567890 /f\n", ""),
        case("run as user", "FROM bb\nUSER app\nRUN echo x > /tmp/mine && id > /tmp/id\n", ""),
        case("run exec form", "FROM bb\nRUN [\"sh\", \"-c\", \"echo $0 > /zero\"]\n", ""),
        case("run sees env", "FROM bb\nENV A=1\nRUN echo $A > /a\n", ""),
        case("run with shell", "FROM bb\nSHELL [\"/bin/sh\", \"-xc\"]\nRUN echo hi > /hi\n", ""),
        case("run fails", "FROM bb\nRUN exit 3\n", "").fails(),
        case("run workdir", "FROM bb\nWORKDIR /w\nRUN pwd > here\n", ""),
        case("run after delete whiteout", "FROM bb\nRUN rm /etc/motd\nRUN echo back > /etc/motd\n", ""),
        case("run deletes what copy made", "FROM bb\nCOPY a.txt /x/\nRUN rm -r /x\n", "a.txt=a"),
        // ARG and ENV scoping.
        case("arg default in run", "FROM bb\nARG V=1\nRUN echo \"[$V]\" > /v\n", ""),
        case("arg build-arg", "FROM bb\nARG V=1\nRUN echo \"[$V]\" > /v\n", "").args(&["V=2"]),
        case("arg without value unset", "FROM bb\nARG V\nRUN echo \"[${V-unset}]\" > /v\n", ""),
        case(
            "arg global value",
            "ARG V=global\nFROM bb\nARG V\nRUN echo \"[${V-unset}]\" > /v\n",
            "",
        ),
        case(
            "arg global not redeclared",
            "ARG V=global\nFROM bb\nRUN echo \"[${V-unset}]\" > /v\n",
            "",
        ),
        case(
            "arg global build-arg",
            "ARG V=global\nFROM bb\nARG V\nRUN echo \"[$V]\" > /v\n",
            "",
        )
        .args(&["V=cli"]),
        case("arg undeclared build-arg", "FROM bb\nRUN echo \"[${V-unset}]\" > /v\n", "").args(&["V=cli"]),
        case("env beats arg", "FROM bb\nARG V=arg\nENV V=env\nRUN echo $V > /v\n", ""),
        case("arg not in config", "FROM bb\nARG V=1\nRUN true\n", ""),
        case("arg in env value", "FROM bb\nARG V=1\nENV E=$V\n", ""),
        case("arg in copy dest", "FROM bb\nARG D=/dst\nCOPY a.txt $D/\n", "a.txt=a"),
        case("proxy build-arg", "FROM bb\nRUN echo \"[$HTTP_PROXY][$no_proxy]\" > /p\n", "")
            .args(&["HTTP_PROXY=http://proxy:3128", "no_proxy=local"]),
        case("arg scope per stage", "FROM bb AS a\nARG V=1\nFROM bb\nRUN echo \"[${V-unset}]\" > /v\n", ""),
        case("env in later stage from stage", "FROM bb AS a\nENV E=1\nFROM a\nRUN echo $E > /e\n", ""),
        case("env expansion in workdir", "FROM bb\nENV D=/data\nWORKDIR $D/sub\n", ""),
        // WORKDIR.
        case("workdir new", "FROM bb\nWORKDIR /a/b\n", ""),
        case("workdir existing", "FROM bb\nWORKDIR /opt/app\n", ""),
        case("workdir relative", "FROM bb\nWORKDIR /a\nWORKDIR b\nWORKDIR ../c\n", ""),
        case("workdir under user", "FROM bb\nUSER app\nWORKDIR /home/app/x/y\n", "").buildkit(
            &[("/home/app/x", "BuildKit makes every WORKDIR directory as the USER (classic: root)")],
            |f, _| {
                owner(f, "/home/app/x", 1000, 1001)?;
                owner(f, "/home/app/x/y", 1000, 1001)
            },
        ),
        case("workdir under numeric user", "FROM bb\nUSER 1234\nWORKDIR /w/x\n", "").buildkit(
            &[("/w", "BuildKit makes every WORKDIR directory as the USER, a bare uid its own group")],
            |f, _| {
                owner(f, "/w", 1234, 1234)?;
                owner(f, "/w/x", 1234, 1234)
            },
        ),
        // COPY of files.
        case("copy file to dir", "FROM bb\nCOPY a.txt /dst/\n", "a.txt=hello"),
        case("copy file rename", "FROM bb\nCOPY a.txt /dst/b.txt\n", "a.txt=hello"),
        case("copy file into existing dir", "FROM bb\nCOPY a.txt /etc\n", "a.txt=hello"),
        case("copy into workdir dot", "FROM bb\nWORKDIR /app\nCOPY package.json .\n", "package.json={}"),
        case("copy into workdir relative", "FROM bb\nWORKDIR /app\nCOPY a.txt sub/\n", "a.txt=a"),
        case("copy file over file", "FROM bb\nCOPY a.txt /etc/motd\n", "a.txt=new motd"),
        case("copy keeps mode", "FROM bb\nCOPY run.sh /usr/local/bin/\n", "run.sh!755=#!/bin/sh"),
        case("copy setuid", "FROM bb\nCOPY s /s\n", "s!4755=x").buildkit(
            &[("/s", "BuildKit keeps a context file's setuid/setgid bits (classic drops them)")],
            |f, _| match entry(f, "/s")?.mode {
                0o4755 => Ok(()),
                m => Err(format!("/s mode {m:o}, expected 4755")),
            },
        ),
        case("copy multiple", "FROM bb\nCOPY a.txt b.txt /dst/\n", "a.txt=a\nb.txt=b"),
        case("copy wildcard", "FROM bb\nCOPY *.txt /dst/\n", "a.txt=a\nb.txt=b\nc.md=c"),
        case("copy wildcard question", "FROM bb\nCOPY ?.txt /dst/\n", "a.txt=a\nbb.txt=b"),
        case("copy wildcard class", "FROM bb\nCOPY [ab].txt /dst/\n", "a.txt=a\nb.txt=b\nc.txt=c"),
        case("copy through image link", "FROM bb\nCOPY a.txt /lib/\n", "a.txt=a"),
        case("copy into existing owned dir", "FROM bb\nCOPY a.txt /srv/\n", "a.txt=a"),
        case("copy deep new parents", "FROM bb\nCOPY a.txt /x/y/z/\n", "a.txt=a"),
        case("copy large file", "FROM bb\nCOPY big /big\n", "big@300000"),
        case("copy empty file", "FROM bb\nCOPY e /e\n", "e="),
        case("copy dockerfile", "FROM bb\nCOPY Dockerfile /\n", ""),
        case("copy missing", "FROM bb\nCOPY nope /x\n", "").fails(),
        // COPY of directories.
        case("copy dir", "FROM bb\nCOPY d /dst\n", "d/a=a\nd/sub/b=b"),
        case("copy dir slash", "FROM bb\nCOPY d/ /dst/\n", "d/a=a\nd/sub/b=b"),
        case("copy dir into existing", "FROM bb\nCOPY d /opt/app\n", "d/a=a\nd/sub/b=b"),
        case("copy dir to root", "FROM bb\nCOPY d /\n", "d/x=a\nd/sub/b=b"),
        case("copy dot", "FROM bb\nCOPY . /ctx/\n", "a=a\nd/b=b"),
        case("copy empty dir", "FROM bb\nCOPY d /dst\n", "d/"),
        case("copy dir modes", "FROM bb\nCOPY d /dst\n", "d/x!700=x\nd/sub/y!600=y"),
        case("copy wildcard dir", "FROM bb\nCOPY d* /dst/\n", "d1/a=a\nd2/b=b"),
        case("copy nested wildcard", "FROM bb\nCOPY d/*/f /dst/\n", "d/a/f=a\nd/b/f=b"),
        case("copy dir over existing file", "FROM bb\nCOPY d /etc/motd2/\n", "d/a=a"),
        case("copy dockerignore", "FROM bb\nCOPY . /ctx/\n", ".dockerignore=*.log\\n!keep.log\na.log=a\nkeep.log=k\nb=b"),
        // Links.
        case("copy symlink source", "FROM bb\nCOPY link /x\n", "target.txt=t\nlink -> target.txt"),
        case("copy symlink source into dir", "FROM bb\nCOPY link /dst/\n", "target.txt=t\nlink -> target.txt"),
        case("copy symlink to dir source", "FROM bb\nCOPY ld /dst\n", "d/a=a\nld -> d"),
        case("copy links inside dir", "FROM bb\nCOPY d /dst\n", "d/a=a\nd/l -> a\nd/abs -> /etc/motd\nd/dangling -> nope"),
        case("copy wildcard symlink", "FROM bb\nCOPY l* /dst/\n", "t=t\nlink -> t"),
        case("copy hardlinks", "FROM bb\nCOPY d /dst\n", "d/a=shared\nd/b => d/a"),
        case("copy hardlinks two sources", "FROM bb\nCOPY a b /dst/\n", "a=shared\nb => a"),
        // Ownership and modes.
        case("chown user", "FROM bb\nCOPY --chown=app a.txt /dst/\n", "a.txt=a"),
        case("chown user group", "FROM bb\nCOPY --chown=app:staff a.txt /dst/\n", "a.txt=a"),
        case("chown uid", "FROM bb\nCOPY --chown=1234 a.txt /dst/\n", "a.txt=a"),
        case("chown uid gid", "FROM bb\nCOPY --chown=1234:77 a.txt /dst/\n", "a.txt=a"),
        case("chown dir", "FROM bb\nCOPY --chown=app:app d /dst/\n", "d/a=a\nd/s/b=b").buildkit(
            &[],
            |f, _| owner(f, "/dst/s/b", 1000, 1001),
        ),
        case("chown created parents", "FROM bb\nCOPY --chown=1234:77 a.txt /p/q/\n", "a.txt=a").buildkit(
            &[("/p", "BuildKit gives the --chown owner to every directory it creates (classic: root)")],
            |f, _| {
                owner(f, "/p", 1234, 77)?;
                owner(f, "/p/q", 1234, 77)
            },
        ),
        case("chown existing dest dir untouched", "FROM bb\nCOPY --chown=app a.txt /srv/\n", "a.txt=a"),
        case("chown unknown user", "FROM bb\nCOPY --chown=nosuch a.txt /dst/\n", "a.txt=a").fails(),
        case("chmod", "FROM bb\nCOPY --chmod=600 a.txt /dst/\n", "a.txt=a").buildkit(
            &[("*", "--chmod needs BuildKit")],
            |f, _| match entry(f, "/dst/a.txt")?.mode {
                0o600 => Ok(()),
                m => Err(format!("mode {m:o}, expected 600")),
            },
        ),
        case("chmod dir", "FROM bb\nCOPY --chmod=750 d /dst\n", "d/a=a\nd/s/b=b").buildkit(
            &[("*", "--chmod needs BuildKit")],
            |f, _| {
                // Every copied entry, directories too, and the destination BuildKit makes.
                for (p, m) in [("/dst/a", 0o750), ("/dst/s", 0o750), ("/dst/s/b", 0o750), ("/dst", 0o750)] {
                    let e = entry(f, p)?;
                    if e.mode != m {
                        return Err(format!("{p} mode {:o}, expected {m:o}", e.mode));
                    }
                }
                Ok(())
            },
        ),
        // ADD.
        case("add file", "FROM bb\nADD a.txt /dst/\n", "a.txt=a"),
        case("add into existing dir", "FROM bb\nADD a.txt /etc\n", "a.txt=a"),
        case("add dir", "FROM bb\nADD d /dst\n", "d/a=a"),
        case("add tar", "FROM bb\nADD t.tar /dst/\n", "t.tar@tar"),
        case("add tar to root", "FROM bb\nADD t.tar /\n", "t.tar@tar"),
        case("add tar chown", "FROM bb\nADD --chown=1234:77 t.tar /dst/\n", "t.tar@tar").buildkit(
            &[("/dst", "BuildKit applies --chown to an archive's members and the directory it makes (classic: the archive's owners)")],
            |f, _| {
                for p in ["/dst", "/dst/top", "/dst/top/file", "/dst/top/link", "/dst/run.sh"] {
                    owner(f, p, 1234, 77)?;
                }
                Ok(())
            },
        ),
        case("add tgz", "FROM bb\nADD t.tar.gz /dst/\n", "t.tar.gz@tgz"),
        // Multi-stage.
        case("copy from stage", "FROM bb AS b\nRUN echo x > /out\nFROM bb\nCOPY --from=b /out /\n", ""),
        case("copy from stage index", "FROM bb\nRUN echo x > /out\nFROM bb\nCOPY --from=0 /out /got\n", ""),
        case("copy from stage dir", "FROM bb AS b\nRUN mkdir -p /o/s && echo x > /o/s/f\nFROM bb\nCOPY --from=b /o /o2\n", ""),
        case("copy from stage keeps owner", "FROM bb AS b\nRUN echo x > /f && chown 1000:50 /f\nFROM bb\nCOPY --from=b /f /f\n", ""),
        case("copy from stage chown", "FROM bb AS b\nRUN echo x > /f\nFROM bb\nCOPY --from=b --chown=app /f /f\n", ""),
        case("copy from stage into existing dir", "FROM bb AS b\nRUN echo x > /f\nFROM bb\nCOPY --from=b /f /etc\n", ""),
        case("copy from stage symlink source", "FROM bb AS b\nRUN echo x > /f && ln -s f /l\nFROM bb\nCOPY --from=b /l /got\n", ""),
        case("copy from image", "FROM bb\nCOPY --from=bb /etc/passwd /p\n", ""),
        case("copy from stage wildcard", "FROM bb AS b\nRUN mkdir /o && echo 1 > /o/a.txt && echo 2 > /o/b.txt\nFROM bb\nCOPY --from=b /o/*.txt /got/\n", ""),
        case("from stage", "FROM bb AS b\nENV E=1\nRUN echo x > /x\nFROM b\nRUN echo y > /y\n", ""),
        case("onbuild runs in child", "FROM bb AS p\nONBUILD RUN echo trig > /trig\nFROM p\nRUN cat /trig\n", ""),
        case("onbuild copy in child", "FROM bb AS p\nONBUILD COPY a.txt /a\nFROM p\n", "a.txt=a"),
        // Timestamps.
        case("mtimes of copied files", "FROM bb\nCOPY d /dst\nCOPY a.txt /dst/\n", "a.txt=a\nd/x=x\nd/s/y=y"),
        case(
            "source date epoch",
            "FROM bb\nARG SOURCE_DATE_EPOCH\nCOPY a.txt /dst/\nRUN echo x > /new\n",
            "a.txt=a",
        )
        .args(&["SOURCE_DATE_EPOCH=1610000000"])
        .buildkit(
            &[
                ("/new", "BuildKit clamps newer times to SOURCE_DATE_EPOCH (the classic builder ignores it)"),
                ("/dst", "clamped too"),
            ],
            |f, _| {
                let t = entry(f, "/new")?.mtime;
                if t != Some(1_610_000_000) {
                    return Err(format!("/new mtime {t:?}, expected the clamp 1610000000"));
                }
                match entry(f, "/dst/a.txt")?.mtime {
                    Some(t) if t < 1_610_000_000 => Ok(()),
                    t => Err(format!("/dst/a.txt mtime {t:?}: older times are kept")),
                }
            },
        ),
        // Heredocs.
        case("run heredoc", "FROM bb\nRUN <<EOF\necho one > /one\necho two > /two\nEOF\n", "").buildkit(
            &[("*", "heredocs need BuildKit")],
            |f, _| match (&entry(f, "/one")?.data[..], &entry(f, "/two")?.data[..]) {
                ("one\n", "two\n") => Ok(()),
                other => Err(format!("{other:?}")),
            },
        ),
        case("copy heredoc", "FROM bb\nCOPY <<EOF /here.txt\nhello\nEOF\n", "").buildkit(
            &[("*", "heredocs need BuildKit")],
            |f, _| {
                let e = entry(f, "/here.txt")?;
                if (e.data.as_str(), e.mode, e.mtime) != ("hello\n", 0o644, None) {
                    return Err(format!("{e:?}"));
                }
                Ok(())
            },
        ),
        // Empty steps and what they leave.
        case("unused stage", "FROM bb AS unused\nRUN echo u > /u\nFROM bb\nRUN echo m > /m\n", ""),
        case("volume then write", "FROM bb\nVOLUME /v\nRUN mkdir -p /v && echo x > /v/f\n", "").buildkit(
            &[("/v/f", "BuildKit keeps what a RUN writes under a VOLUME (classic drops it)")],
            |f, _| entry(f, "/v/f").map(|_| ()),
        ),
        case("whiteout then copy", "FROM bb\nRUN rm -r /opt/app\nCOPY a.txt /opt/app/\n", "a.txt=a"),
        case("nested whiteouts", "FROM bb\nRUN mkdir -p /w/a/b && echo 1 > /w/a/b/f\nRUN rm -r /w/a\n", ""),
        // More of each.
        case("copy into existing subdirs", "FROM bb\nCOPY d /opt/\n", "d/app/new.txt=n\nd/top.txt=t"),
        case("copy to image link dir", "FROM bb\nCOPY a.txt /lib\n", "a.txt=a"),
        case("copy hidden files", "FROM bb\nCOPY . /c/\n", ".hidden=h\nd/.also=a"),
        case("copy name with space", "FROM bb\nCOPY [\"a b.txt\", \"/x/\"]\n", "a b.txt=ab"),
        case("copy dot slash dest", "FROM bb\nCOPY a.txt ./\n", "a.txt=a"),
        case("workdir then copy dir relative", "FROM bb\nWORKDIR /w\nCOPY d d2\n", "d/f=f"),
        case("copy from stage to root", "FROM bb AS b\nRUN mkdir /o && echo x > /o/f\nFROM bb\nCOPY --from=b /o/ /\n", ""),
        case("entrypoint in child clears cmd", "FROM bb AS p\nCMD [\"x\"]\nFROM p\nENTRYPOINT [\"y\"]\n", ""),
        case("cmd inherited", "FROM bb AS p\nCMD [\"x\"]\nFROM p\nENV A=1\n", ""),
        case("arg before from", "ARG BASE=bb\nFROM $BASE\nRUN echo ok > /ok\n", ""),
        case("label with arg", "FROM bb\nARG V=1\nLABEL v=$V w=${V}x\n", ""),
        case("env default expansion", "FROM bb\nENV X=${UNSET:-def} Y=${X:+set}\n", ""),
        case("expose from env", "FROM bb\nENV P=8080\nEXPOSE $P\n", ""),
        case("stopsignal number", "FROM bb\nSTOPSIGNAL 9\n", ""),
        case("user group names", "FROM bb\nUSER app:staff\nRUN id > /tmp/id\n", ""),
        case("healthcheck start period", "FROM bb\nHEALTHCHECK --start-period=3s --interval=1m CMD true\n", ""),
        case("volume over files", "FROM bb\nVOLUME /opt/app\n", ""),
        case("run appends to base file", "FROM bb\nRUN echo more >> /etc/motd\n", ""),
        case("run mkfifo", "FROM bb\nRUN mkfifo /fifo\n", ""),
        case("run moves a dir", "FROM bb\nRUN mv /opt/app /opt/app2\n", ""),
        // Modes, owners and names, not times: `ls -l` prints minutes, and two builds a minute
        // boundary apart would differ.
        case(
            "run in new workdir sees it",
            "FROM bb\nWORKDIR /a/b\nRUN touch f && ls -la .. | awk '{print $1, $3, $4, $NF}' > /list\n",
            "",
        ),
        case("onbuild label in child", "FROM bb AS p\nONBUILD LABEL from=trigger\nFROM p\n", ""),
        case("copy then chmod in run", "FROM bb\nCOPY a.txt /a\nRUN chmod 600 /a\n", "a.txt=a"),
        case("copy overwrites copy", "FROM bb\nCOPY a.txt /x\nCOPY b.txt /x\n", "a.txt=a\nb.txt=b"),
        case("add dir with archive inside", "FROM bb\nADD d /d\n", "d/t.tar@tar"),
        case("deleted then absent", "FROM bb\nRUN rm /etc/motd\n", "").buildkit(&[], |f, _| absent(f, "/etc/motd")),
    ]
}
