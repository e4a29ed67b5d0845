//! One container: namespaces, the root filesystem (overlayfs or a directory), /proc, a
//! minimal /dev, /sys read-only, the host's resolv.conf and hosts, pivot_root, then the
//! command as the given user. PID 1 of the container is our init: it reaps zombies and
//! forwards signals, and its exit code is the command's.
//!
//! Processes: the caller forks a child that unshares the namespaces (its own pid stays
//! outside the new pid namespace) and forks again; that grandchild is PID 1 in the new
//! namespaces, sets up the mounts ([`setup`]) and forks the command ([`exec`]). Set-up
//! errors travel back on an O_CLOEXEC pipe: it reaches EOF without a message exactly when
//! execve succeeded (the pattern of posix_spawn and Rust's `Command`).

use crate::security::Security;
use crate::sys::{self, Forked, Kind, Linux, Sys};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// What to run, and on what.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub rootfs: Rootfs,
    /// The command; `argv[0]` is looked up in the container's `PATH` unless it has a `/`.
    pub argv: Vec<String>,
    /// `KEY=value` pairs, the command's whole environment.
    pub env: Vec<String>,
    /// Absolute path inside the container; must exist.
    pub workdir: PathBuf,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (see [`crate::user::resolve`]).
    pub groups: Vec<u32>,
    pub hostname: String,
    pub network: Network,
    /// Extra mounts, applied in order after the standard ones.
    pub mounts: Vec<Mount>,
    /// Capabilities, seccomp, masked paths.
    pub security: Security,
    /// pids and memory limits, in a cgroup of the container's own where the host has one.
    pub limits: crate::cgroup::Limits,
}

/// The container's root filesystem.
#[derive(Debug, Clone)]
pub enum Rootfs {
    /// A directory used as it is (changes go straight into it).
    Dir(PathBuf),
    /// overlayfs: read-only `lower` layers (bottom first, as in an image), the writable
    /// `upper` (the new layer), overlayfs' `work` dir (same filesystem as `upper`), and
    /// the empty directory `merged` to mount it on.
    /// <https://docs.kernel.org/filesystems/overlayfs.html>
    Overlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        merged: PathBuf,
    },
    /// overlayfs whose upper, work and merged dirs live on a tmpfs mounted at `scratch`
    /// (an existing, possibly shared, directory) inside the container's own mount
    /// namespace: what the container writes stays in memory and vanishes with the
    /// namespace, and nothing is created or removed on disk (`run --rm`).
    OverlayTmpfs { lower: Vec<PathBuf>, scratch: PathBuf },
}

/// The tmpfs of [`Rootfs::OverlayTmpfs`]: a cap like Docker's default /dev/shm is too
/// small for real writes; tmpfs' own default (half of RAM) is the limit.
const SCRATCH_OPTIONS: &str = "mode=755";

/// The container's network.
#[derive(Debug, Clone)]
pub enum Network {
    /// The host's network namespace (`--network=host`, an entitlement for RUN).
    Host,
    /// A new network namespace with only `lo`, up.
    None,
    /// An existing network namespace: one with outbound access through pasta
    /// ([`crate::net::Namespace`]), the default.
    Join(std::sync::Arc<crate::net::Namespace>),
}

/// An extra mount; `target` is absolute inside the container.
#[derive(Debug, Clone)]
pub enum Mount {
    Bind {
        source: PathBuf,
        target: PathBuf,
        readonly: bool,
    },
    Tmpfs {
        target: PathBuf,
        options: String,
    },
}

/// Host files bind-mounted read-only into every container (when the host has them).
pub const HOST_FILES: [&str; 2] = ["etc/resolv.conf", "etc/hosts"];

/// Device nodes bind-mounted from the host's /dev.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The namespaces a container gets. namespaces(7):
/// <https://man7.org/linux/man-pages/man7/namespaces.7.html>
pub fn namespaces(spec: &ContainerSpec) -> CloneFlags {
    let mut flags =
        CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    if matches!(spec.network, Network::None) {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    flags
}

/// Where the root filesystem is mounted.
fn root_path(spec: &ContainerSpec) -> PathBuf {
    match &spec.rootfs {
        Rootfs::Dir(d) => d.clone(),
        Rootfs::Overlay { merged, .. } => merged.clone(),
        Rootfs::OverlayTmpfs { scratch, .. } => scratch.join("merged"),
    }
}

/// `/a/b` inside the container → `root/a/b`.
fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// The overlayfs mount options. overlayfs takes lowerdirs top first, separated by `:`.
pub fn overlay_options(lower: &[PathBuf], upper: &Path, work: &Path) -> String {
    let lowers: Vec<String> = lower.iter().rev().map(|p| p.display().to_string()).collect();
    // Without redirects, an index or metadata-only copy-ups, the upper dir holds every
    // change as plain files (whiteouts and opaque dirs aside): what a layer tar needs.
    format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=off,index=off,metacopy=off",
        lowers.join(":"),
        upper.display(),
        work.display()
    )
}

/// Everything PID 1 does before forking the command, in the new namespaces: the mount
/// plan, hostname, loopback, pivot_root. `host` is the host's root (`/` for real).
pub fn setup(sys: &mut dyn Sys, spec: &ContainerSpec, host: &Path) -> io::Result<()> {
    let root = &root_path(spec);
    let bind = MsFlags::MS_BIND;
    // Device nodes are usable only where bound into /dev on purpose: the root filesystem
    // and every other mount are nodev, so a node made with CAP_MKNOD (mknod /tmp/sda b 8 0)
    // or brought in by an image, a cache or a bind mount cannot be opened. (Docker gets the
    // same from the device cgroup; nodev needs no cgroup and holds on every host.)
    let nodev = if spec.security.privileged {
        MsFlags::empty()
    } else {
        MsFlags::MS_NODEV
    };
    let none: Option<&Path> = None;
    // Mounts made in the new namespace must not propagate back to the host (a shared "/"
    // would), and pivot_root(2) refuses a new root whose parent mount is shared.
    // mount_namespaces(7): <https://man7.org/linux/man-pages/man7/mount_namespaces.7.html>
    sys.mount(none, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)?;
    match &spec.rootfs {
        // pivot_root(2) needs the new root to be a mount point: bind the directory on itself.
        Rootfs::Dir(dir) => {
            sys.mount(Some(dir), dir, None, bind | MsFlags::MS_REC, None)?;
            if !nodev.is_empty() {
                sys.mount(none, dir, None, bind | MsFlags::MS_REMOUNT | nodev, None)?;
            }
        }
        Rootfs::Overlay {
            lower,
            upper,
            work,
            merged,
        } => {
            if lower.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "overlay rootfs needs at least one lower dir (use Rootfs::Dir for scratch)",
                ));
            }
            let options = overlay_options(lower, upper, work);
            sys.mount(
                Some(Path::new("overlay")),
                merged,
                Some("overlay"),
                nodev,
                Some(&options),
            )?;
        }
        Rootfs::OverlayTmpfs { lower, scratch } => {
            if lower.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "overlay rootfs needs at least one lower dir (use Rootfs::Dir for scratch)",
                ));
            }
            sys.mount(
                Some(Path::new("tmpfs")),
                scratch,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(SCRATCH_OPTIONS),
            )?;
            let (upper, work) = (scratch.join("upper"), scratch.join("work"));
            for d in [&upper, &work, root] {
                sys.mkdir_all(d)?;
            }
            sys.mount(
                Some(Path::new("overlay")),
                root,
                Some("overlay"),
                nodev,
                Some(&overlay_options(lower, &upper, &work)),
            )?;
        }
    }
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // /proc of the new pid namespace: proc(5) shows the pid namespace of the mounting process.
    let proc = root.join("proc");
    sys.mkdir_all(&proc)?;
    sys.mount(Some(Path::new("proc")), &proc, Some("proc"), nosuid_nodev_noexec, None)?;

    // A minimal /dev on a tmpfs: bind-mounted device nodes (no mknod, so no CAP_MKNOD games),
    // a private devpts instance, /dev/shm.
    let dev = root.join("dev");
    sys.mkdir_all(&dev)?;
    sys.mount(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME | nodev,
        Some("mode=755,size=65536k"),
    )?;
    for name in DEVICES {
        let source = host.join("dev").join(name);
        if sys.kind(&source).is_none() {
            continue;
        }
        let target = dev.join(name);
        sys.create_file(&target)?;
        sys.mount(Some(&source), &target, None, bind, None)?;
    }
    let pts = dev.join("pts");
    sys.mkdir_all(&pts)?;
    sys.mount(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    sys.symlink(Path::new("pts/ptmx"), &dev.join("ptmx"))?;
    let shm = dev.join("shm");
    sys.mkdir_all(&shm)?;
    sys.mount(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        nosuid_nodev_noexec,
        Some("mode=1777,size=65536k"),
    )?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        sys.symlink(Path::new(target), &dev.join(link))?;
    }

    let sysfs = root.join("sys");
    sys.mkdir_all(&sysfs)?;
    sys.mount(
        Some(Path::new("sysfs")),
        &sysfs,
        Some("sysfs"),
        nosuid_nodev_noexec | MsFlags::MS_RDONLY,
        None,
    )?;

    if !spec.security.privileged {
        mask_paths(sys, root, host)?;
    }

    for rel in HOST_FILES {
        let source = host.join(rel);
        if sys.kind(&source).is_none() {
            continue;
        }
        let target = root.join(rel);
        // mount(2) resolves a symlinked target in the *host's* root: never follow one out.
        if sys.kind(&target) == Some(Kind::Symlink) {
            continue;
        }
        sys.create_file(&target)?;
        bind_readonly(sys, &source, &target, false)?;
    }

    for m in &spec.mounts {
        match m {
            Mount::Bind {
                source,
                target,
                readonly,
            } => {
                let t = inside(root, target);
                if sys.kind(&t) == Some(Kind::Symlink) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("mount target {} is a symlink", target.display()),
                    ));
                }
                if sys.is_dir(source) {
                    sys.mkdir_all(&t)?;
                } else {
                    sys.create_file(&t)?;
                }
                let ro = if *readonly {
                    MsFlags::MS_RDONLY
                } else {
                    MsFlags::empty()
                };
                sys.mount(Some(source), &t, None, bind | MsFlags::MS_REC, None)?;
                if !(ro | nodev).is_empty() {
                    // Flags of a bind mount take a remount (mount(2), "Creating a bind mount").
                    sys.mount(
                        none,
                        &t,
                        None,
                        bind | MsFlags::MS_REMOUNT | MsFlags::MS_REC | ro | nodev,
                        None,
                    )?;
                }
            }
            Mount::Tmpfs { target, options } => {
                let t = inside(root, target);
                sys.mkdir_all(&t)?;
                let data = (!options.is_empty()).then_some(options.as_str());
                sys.mount(
                    Some(Path::new("tmpfs")),
                    &t,
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    data,
                )?;
            }
        }
    }

    sys.sethostname(&spec.hostname)?;
    if matches!(spec.network, Network::None) {
        sys.loopback_up()?;
    }

    // pivot_root(".", "."): the old root ends up stacked under the new one and is detached
    // at once, so no put_old directory is needed (pivot_root(2), NOTES).
    sys.chdir(root)?;
    sys.pivot_root(Path::new("."), Path::new("."))?;
    sys.umount(Path::new("."), MntFlags::MNT_DETACH)?;
    sys.chdir(Path::new("/"))
}

/// runc's masked paths (a directory under an empty read-only tmpfs, a file under
/// /dev/null) and read-only paths (bound on themselves, remounted read-only), for those
/// this kernel has. /proc/sys read-only is what keeps `kernel/core_pattern` (a program the
/// kernel runs as host root on a crash) and the other kernel knobs out of reach.
fn mask_paths(sys: &mut dyn Sys, root: &Path, host: &Path) -> io::Result<()> {
    let none: Option<&Path> = None;
    let null = host.join("dev/null");
    let owned;
    let masked = if host == Path::new("/") {
        crate::security::host_masked_paths()
    } else {
        owned = crate::security::masked_paths(host);
        &owned
    };
    for rel in masked {
        let target = root.join(rel);
        match sys.kind(&target) {
            None | Some(Kind::Symlink) => {}
            Some(Kind::Dir) => sys.mount(
                Some(Path::new("tmpfs")),
                &target,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0"),
            )?,
            Some(Kind::Other) => sys.mount(Some(&null), &target, None, MsFlags::MS_BIND, None)?,
        }
    }
    for rel in crate::security::READONLY_PATHS {
        let target = root.join(rel);
        if matches!(sys.kind(&target), None | Some(Kind::Symlink)) {
            continue;
        }
        sys.mount(Some(&target), &target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
        sys.mount(
            none,
            &target,
            None,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC
                | MsFlags::MS_REC,
            None,
        )?;
    }
    Ok(())
}

/// A bind mount made read-only: MS_RDONLY is ignored on the bind itself and needs a
/// remount (mount(2), "Creating a bind mount").
fn bind_readonly(sys: &mut dyn Sys, source: &Path, target: &Path, recursive: bool) -> io::Result<()> {
    let rec = if recursive { MsFlags::MS_REC } else { MsFlags::empty() };
    sys.mount(Some(source), target, None, MsFlags::MS_BIND | rec, None)?;
    let none: Option<&Path> = None;
    sys.mount(
        none,
        target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | rec,
        None,
    )
}

/// The default `PATH` when the environment has none (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// In the command's process, after pivot_root: descriptors, capabilities, seccomp, user,
/// workdir, execve. Returns only on failure. The order is runc's: the bounding set first
/// (that needs CAP_SETPCAP), the seccomp filter while CAP_SYS_ADMIN is still there (without
/// no_new_privs the kernel asks for it), then the ids (setuid to a non-root user clears the
/// permitted and effective sets) and what is left of the capabilities.
pub fn exec(sys: &mut dyn Sys, spec: &ContainerSpec, seccomp: Option<&[u8]>) -> io::Error {
    let security = &spec.security;
    let confine = |sys: &mut dyn Sys| -> io::Result<()> {
        sys.cloexec_from_3()?;
        sys.bound_caps(&security.caps)?;
        if security.no_new_privileges {
            sys.no_new_privs()?;
        }
        if let Some(program) = seccomp {
            sys.seccomp(program)?;
        }
        Ok(())
    };
    if let Err(e) = confine(sys) {
        return e;
    }
    if let Err(e) = sys.set_ids(spec.uid, spec.gid, &spec.groups) {
        return e;
    }
    if let Err(e) = sys.limit_caps(&security.caps) {
        return e;
    }
    if let Err(e) = sys.chdir(&spec.workdir) {
        return io::Error::new(e.kind(), format!("workdir: {e}"));
    }
    let Some(program) = spec.argv.first() else {
        return io::Error::new(io::ErrorKind::InvalidInput, "empty command");
    };
    if program.contains('/') {
        return sys.exec(Path::new(program), &spec.argv, &spec.env);
    }
    let path = spec
        .env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut last = None;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let e = sys.exec(&Path::new(dir).join(program), &spec.argv, &spec.env);
        if e.kind() != io::ErrorKind::NotFound {
            last = Some(e);
        }
    }
    last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{program}: executable file not found in $PATH ({path})"),
        )
    })
}

/// The command could not be started: not found (exit code 127) or not executable (126),
/// as Docker reports it. Carried inside the `io::Error` of [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecFailed {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for ExecFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExecFailed {}

/// Runs a container to its end; stdin, stdout and stderr are inherited (streamed live),
/// and the signals this process gets are relayed to the container (see
/// [`sys::relay_signals_to`]): the caller is `slipway run`, attached. The status is the
/// command's (a signal N shows as exit code 128+N). Errors of the set-up say which
/// syscall and path failed.
pub fn run(spec: &ContainerSpec) -> io::Result<ExitStatus> {
    launch(spec, None, true)
}

/// [`run`], with the command's stdout and stderr sent to `output` (and stdin from
/// /dev/null) when given, and no signal relay (a build step).
pub fn run_with_output(spec: &ContainerSpec, output: Option<&OwnedFd>) -> io::Result<ExitStatus> {
    launch(spec, output, false)
}

fn launch(spec: &ContainerSpec, output: Option<&OwnedFd>, relay: bool) -> io::Result<ExitStatus> {
    if spec.argv.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    if !spec.workdir.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("workdir {} is not absolute", spec.workdir.display()),
        ));
    }
    // Compiled before forking (and once per capability set for the default profile);
    // the host's masked paths are read once, here, not in every container.
    let seccomp = spec.security.seccomp_program()?;
    crate::security::host_masked_paths();
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!(
        "slipway-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let limits = crate::cgroup::Limits {
        devices: !spec.security.privileged,
        ..spec.limits
    };
    let cgroup = crate::cgroup::Cgroup::create(&name, &limits)?;
    let join = Join {
        procs: cgroup.as_ref().map(crate::cgroup::Cgroup::procs).unwrap_or_default(),
        unified: cgroup.as_ref().and_then(crate::cgroup::Cgroup::unified),
    };
    let cleanup = MountStubs::prepare(spec);
    let result = run_forked(spec, output, relay, seccomp.as_deref().map(Vec::as_slice), &join);
    cleanup.finish();
    if let Some(c) = cgroup {
        c.remove();
    }
    result
}

/// The container's cgroups, as its processes enter them.
struct Join<'a> {
    /// v1 `cgroup.procs` files, joined by the first child.
    procs: Vec<PathBuf>,
    /// The v2 cgroup PID 1 is created in (and its `cgroup.procs`, for a kernel without
    /// clone3's CLONE_INTO_CGROUP).
    unified: Option<(std::os::fd::BorrowedFd<'a>, &'a Path)>,
}

fn run_forked(
    spec: &ContainerSpec,
    output: Option<&OwnedFd>,
    relay: bool,
    seccomp: Option<&[u8]>,
    cgroups: &Join<'_>,
) -> io::Result<ExitStatus> {
    let me = nix::unistd::getpid();
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| io::Error::other(format!("pipe2: {e}")))?;
    let pid = match sys::fork()? {
        Forked::Child => {
            drop(r);
            if let Err(e) = sys::die_with_parent(Some(me)) {
                report(&w, &e);
                sys::exit_now(125);
            }
            if let Some(fd) = output {
                if let Err(e) = sys::redirect_output(fd) {
                    report(&w, &e);
                    sys::exit_now(125);
                }
            }
            // Never unwind out of a forked child into the caller's code (a test harness,
            // say): a panic anywhere below ends this process, or its own forked child.
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| outside(spec, w, seccomp, cgroups)));
            sys::exit_now(code.unwrap_or(125))
        }
        Forked::Parent(pid) => pid,
    };
    drop(w);
    if relay {
        sys::relay_signals_to(pid)?;
    }
    let mut message = String::new();
    let read = std::fs::File::from(r).read_to_string(&mut message);
    let code = wait_code(pid);
    if relay {
        sys::stop_relaying();
    }
    let code = code?;
    read?;
    if !message.is_empty() {
        if code == 126 || code == 127 {
            return Err(io::Error::other(ExecFailed { code, message }));
        }
        return Err(io::Error::other(message));
    }
    Ok(ExitStatus::from_raw((code & 0xff) << 8))
}

/// Waits for `pid`; its exit code, or 128+N for signal N.
fn wait_code(pid: nix::unistd::Pid) -> io::Result<i32> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::other(format!("waitpid {pid}: {e}"))),
        }
    }
}

/// Sends an error up the pipe (best effort: the parent then reports it).
fn report(w: &OwnedFd, e: &io::Error) {
    let _ = nix::unistd::write(w, e.to_string().as_bytes());
}

/// The first child: a session of its own, its cgroup, joins or unshares the namespaces,
/// forks PID 1, relays signals to it, passes its exit code on.
fn outside(spec: &ContainerSpec, w: OwnedFd, seccomp: Option<&[u8]>, cgroups: &Join<'_>) -> i32 {
    if let Err(e) = sys::new_session() {
        report(&w, &e);
        return 125;
    }
    // Into the container's v1 cgroups first: every process below inherits them.
    for procs in &cgroups.procs {
        if let Err(e) = Linux.join_cgroup(procs) {
            report(&w, &e);
            return 125;
        }
    }
    if let Network::Join(ns) = &spec.network {
        if let Err(e) = Linux.join_network(ns.fd()) {
            report(&w, &e);
            return 125;
        }
    }
    if let Err(e) = Linux.unshare(namespaces(spec)) {
        report(&w, &e);
        return 125;
    }
    match fork_pid1(cgroups) {
        Err(e) => {
            report(&w, &e);
            125
        }
        Ok(Forked::Child) => {
            // PID 1 of the container: when it dies, the kernel kills the rest.
            if let Err(e) = sys::die_with_parent(None) {
                report(&w, &e);
                sys::exit_now(125);
            }
            sys::exit_now(init(spec, w, seccomp))
        }
        Ok(Forked::Parent(pid)) => {
            drop(w);
            // PID 1 has handlers for these, so they reach it from outside its namespace.
            if let Err(e) = sys::forward_signals_to(pid) {
                eprintln!("slipway: {e}");
            }
            wait_code(pid).unwrap_or(125)
        }
    }
}

/// Forks the container's PID 1, inside the v2 cgroup when there is one: created there by
/// clone3 (this process has one thread: it is a fork), or, where the kernel lacks that,
/// forked after this process joined the cgroup.
fn fork_pid1(cgroups: &Join<'_>) -> io::Result<Forked> {
    let Some((fd, procs)) = cgroups.unified else {
        return sys::fork();
    };
    match sys::fork_into_cgroup(fd) {
        Ok(forked) => Ok(forked),
        Err(nix::errno::Errno::ENOSYS | nix::errno::Errno::E2BIG | nix::errno::Errno::EINVAL) => {
            Linux.join_cgroup(procs)?;
            sys::fork()
        }
        Err(e) => Err(io::Error::new(
            io::Error::from(e).kind(),
            format!("clone3(CLONE_INTO_CGROUP) into {}: {e}", procs.display()),
        )),
    }
}

/// PID 1 of the container.
fn init(spec: &ContainerSpec, w: OwnedFd, seccomp: Option<&[u8]>) -> i32 {
    let mut linux = Linux;
    if let Err(e) = setup(&mut linux, spec, Path::new("/")) {
        report(&w, &e);
        return 125;
    }
    // No host file open, nothing of the caller readable through /proc/1.
    use std::os::fd::AsRawFd;
    if let Err(e) = sys::hide_init(w.as_raw_fd(), "init") {
        report(&w, &e);
        return 125;
    }
    let child = match sys::fork() {
        Err(e) => {
            report(&w, &e);
            return 125;
        }
        Ok(Forked::Child) => {
            if let Err(e) = sys::reset_signals_for_exec() {
                report(&w, &e);
                sys::exit_now(127)
            }
            let e = exec(&mut linux, spec, seccomp);
            report(&w, &e);
            // Docker's codes: 126 for a command that cannot be executed, 127 for none found.
            sys::exit_now(if e.kind() == io::ErrorKind::PermissionDenied {
                126
            } else {
                127
            })
        }
        Ok(Forked::Parent(pid)) => pid,
    };
    drop(w);
    if let Err(e) = sys::forward_signals_to(child) {
        eprintln!("slipway init: {e}");
    }
    // Reap everything (orphans are re-parented to PID 1); end with the command.
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, code)) if p == child => return code,
            Ok(WaitStatus::Signaled(p, sig, _)) if p == child => return 128 + sig as i32,
            Err(nix::errno::Errno::ECHILD) => return 125,
            _ => continue,
        }
    }
}

/// Mount points the set-up creates when the image lacks them (/proc, /dev, /sys, the host
/// files, extra mount targets, and their parents). They land in the writable layer, so this
/// removes them again afterwards when they are still empty, as BuildKit's mount stub
/// cleaner does: they never end up in a layer.
struct MountStubs {
    top: PathBuf,
    /// Relative paths absent from the writable layer before the run, deepest last.
    stubs: Vec<PathBuf>,
}

impl MountStubs {
    fn prepare(spec: &ContainerSpec) -> MountStubs {
        let top = match &spec.rootfs {
            Rootfs::Dir(d) => d.clone(),
            Rootfs::Overlay { upper, .. } => upper.clone(),
            // Its stubs are on the tmpfs and go with it.
            Rootfs::OverlayTmpfs { scratch, .. } => {
                return MountStubs {
                    top: scratch.clone(),
                    stubs: Vec::new(),
                }
            }
        };
        let mut targets: Vec<PathBuf> = ["proc", "dev", "sys"].iter().map(PathBuf::from).collect();
        targets.extend(HOST_FILES.iter().map(PathBuf::from));
        for m in &spec.mounts {
            let (Mount::Bind { target, .. } | Mount::Tmpfs { target, .. }) = m;
            targets.push(target.strip_prefix("/").unwrap_or(target).to_path_buf());
        }
        let mut stubs = Vec::new();
        for t in targets {
            for p in t.ancestors().filter(|p| !p.as_os_str().is_empty()) {
                if std::fs::symlink_metadata(top.join(p)).is_err() && !stubs.iter().any(|s: &PathBuf| s == p) {
                    stubs.push(p.to_path_buf());
                }
            }
        }
        stubs.sort_by_key(|p| p.components().count());
        MountStubs { top, stubs }
    }

    fn finish(self) {
        for rel in self.stubs.iter().rev() {
            let p = self.top.join(rel);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    let _ = std::fs::remove_dir(&p);
                }
                Ok(m) if m.is_file() && m.len() == 0 => {
                    let _ = std::fs::remove_file(&p);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Recorder;

    fn spec(rootfs: Rootfs) -> ContainerSpec {
        ContainerSpec {
            rootfs,
            argv: vec!["sh".into(), "-c".into(), "true".into()],
            env: vec!["PATH=/usr/bin:/bin".into()],
            workdir: "/".into(),
            uid: 1000,
            gid: 100,
            groups: vec![],
            hostname: "box".into(),
            network: Network::None,
            mounts: vec![
                Mount::Bind {
                    source: "/src".into(),
                    target: "/ctx".into(),
                    readonly: true,
                },
                Mount::Tmpfs {
                    target: "/tmp".into(),
                    options: "size=1m".into(),
                },
            ],
            security: Security::default(),
            limits: Default::default(),
        }
    }

    fn host_has_everything() -> Recorder {
        let mut r = Recorder::default();
        for d in DEVICES {
            r.present.push(PathBuf::from("/dev").join(d));
        }
        for f in HOST_FILES {
            r.present.push(PathBuf::from("/").join(f));
        }
        r.dirs.push("/src".into());
        r.dirs.push("/c/merged/proc/acpi".into());
        r.dirs.push("/c/merged/proc/sys".into());
        r.present.push("/c/merged/proc/kcore".into());
        r.present.push("/c/merged/proc/sysrq-trigger".into());
        r
    }

    #[test]
    fn overlay_mount_plan() {
        let mut r = host_has_everything();
        let s = spec(Rootfs::Overlay {
            lower: vec!["/l/base".into(), "/l/mid".into()],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            merged: "/c/merged".into(),
        });
        setup(&mut r, &s, Path::new("/")).unwrap();
        expect_test::expect![[r#"
            mount none / none MS_REC | MS_PRIVATE
            mount overlay /c/merged overlay MS_NODEV lowerdir=/l/mid:/l/base,upperdir=/c/upper,workdir=/c/work,redirect_dir=off,index=off,metacopy=off
            mkdir /c/merged/proc
            mount proc /c/merged/proc proc MS_NOSUID | MS_NODEV | MS_NOEXEC
            mkdir /c/merged/dev
            mount tmpfs /c/merged/dev tmpfs MS_NOSUID | MS_NODEV | MS_STRICTATIME mode=755,size=65536k
            touch /c/merged/dev/null
            mount /dev/null /c/merged/dev/null none MS_BIND
            touch /c/merged/dev/zero
            mount /dev/zero /c/merged/dev/zero none MS_BIND
            touch /c/merged/dev/full
            mount /dev/full /c/merged/dev/full none MS_BIND
            touch /c/merged/dev/random
            mount /dev/random /c/merged/dev/random none MS_BIND
            touch /c/merged/dev/urandom
            mount /dev/urandom /c/merged/dev/urandom none MS_BIND
            touch /c/merged/dev/tty
            mount /dev/tty /c/merged/dev/tty none MS_BIND
            mkdir /c/merged/dev/pts
            mount devpts /c/merged/dev/pts devpts MS_NOSUID | MS_NOEXEC newinstance,ptmxmode=0666,mode=0620
            symlink /c/merged/dev/ptmx -> pts/ptmx
            mkdir /c/merged/dev/shm
            mount shm /c/merged/dev/shm tmpfs MS_NOSUID | MS_NODEV | MS_NOEXEC mode=1777,size=65536k
            symlink /c/merged/dev/fd -> /proc/self/fd
            symlink /c/merged/dev/stdin -> /proc/self/fd/0
            symlink /c/merged/dev/stdout -> /proc/self/fd/1
            symlink /c/merged/dev/stderr -> /proc/self/fd/2
            mkdir /c/merged/sys
            mount sysfs /c/merged/sys sysfs MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
            mount tmpfs /c/merged/proc/acpi tmpfs MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC size=0
            mount /dev/null /c/merged/proc/kcore none MS_BIND
            mount /c/merged/proc/sys /c/merged/proc/sys none MS_BIND | MS_REC
            mount none /c/merged/proc/sys none MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND | MS_REC
            mount /c/merged/proc/sysrq-trigger /c/merged/proc/sysrq-trigger none MS_BIND | MS_REC
            mount none /c/merged/proc/sysrq-trigger none MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND | MS_REC
            touch /c/merged/etc/resolv.conf
            mount /etc/resolv.conf /c/merged/etc/resolv.conf none MS_BIND
            mount none /c/merged/etc/resolv.conf none MS_RDONLY | MS_REMOUNT | MS_BIND
            touch /c/merged/etc/hosts
            mount /etc/hosts /c/merged/etc/hosts none MS_BIND
            mount none /c/merged/etc/hosts none MS_RDONLY | MS_REMOUNT | MS_BIND
            mkdir /c/merged/ctx
            mount /src /c/merged/ctx none MS_BIND | MS_REC
            mount none /c/merged/ctx none MS_RDONLY | MS_NODEV | MS_REMOUNT | MS_BIND | MS_REC
            mkdir /c/merged/tmp
            mount tmpfs /c/merged/tmp tmpfs MS_NOSUID | MS_NODEV size=1m
            sethostname box
            lo up
            chdir /c/merged
            pivot_root . .
            umount . MNT_DETACH
            chdir /
        "#]]
        .assert_eq(&r.text());
    }

    #[test]
    fn dir_rootfs_is_bound_on_itself_and_symlinked_targets_are_not_followed() {
        let mut r = Recorder::default();
        r.present.push("/etc/hosts".into());
        r.symlinks.push("/rootfs/etc/hosts".into());
        let mut s = spec(Rootfs::Dir("/rootfs".into()));
        s.mounts.clear();
        s.network = Network::Host;
        setup(&mut r, &s, Path::new("/")).unwrap();
        let text = r.text();
        assert!(
            text.starts_with("mount none / none MS_REC | MS_PRIVATE\nmount /rootfs /rootfs none MS_BIND | MS_REC\n"),
            "{text}"
        );
        assert!(!text.contains("etc/hosts"), "{text}");
        assert!(!text.contains("lo up"), "{text}");
        assert!(!text.contains("/dev/null"), "no host device, no bind: {text}");
    }

    #[test]
    fn overlay_without_lower_is_refused() {
        let mut r = Recorder::default();
        let s = spec(Rootfs::Overlay {
            lower: vec![],
            upper: "/u".into(),
            work: "/w".into(),
            merged: "/m".into(),
        });
        let e = setup(&mut r, &s, Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("at least one lower dir"), "{e}");
    }

    #[test]
    fn overlay_on_a_scratch_tmpfs_mounts_it_first_and_leaves_no_stubs() {
        let mut r = Recorder::default();
        let mut s = spec(Rootfs::OverlayTmpfs {
            lower: vec!["/l/base".into()],
            scratch: "/c/.scratch".into(),
        });
        s.mounts.clear();
        setup(&mut r, &s, Path::new("/")).unwrap();
        let text = r.text();
        let start = "mount none / none MS_REC | MS_PRIVATE\n\
                     mount tmpfs /c/.scratch tmpfs MS_NOSUID | MS_NODEV mode=755\n\
                     mkdir /c/.scratch/upper\n\
                     mkdir /c/.scratch/work\n\
                     mkdir /c/.scratch/merged\n\
                     mount overlay /c/.scratch/merged overlay MS_NODEV \
                     lowerdir=/l/base,upperdir=/c/.scratch/upper,workdir=/c/.scratch/work,redirect_dir=off,index=off,metacopy=off\n\
                     mkdir /c/.scratch/merged/proc\n";
        assert!(text.starts_with(start), "{text}");
        assert!(text.contains("chdir /c/.scratch/merged\npivot_root . .\n"), "{text}");
        assert!(MountStubs::prepare(&s).stubs.is_empty());
        let e = setup(
            &mut Recorder::default(),
            &spec(Rootfs::OverlayTmpfs {
                lower: vec![],
                scratch: "/s".into(),
            }),
            Path::new("/"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("at least one lower dir"), "{e}");
    }

    #[test]
    fn exec_sets_user_then_workdir_then_searches_path() {
        let mut r = Recorder::default();
        let mut s = spec(Rootfs::Dir("/r".into()));
        s.workdir = "/app".into();
        let e = exec(&mut r, &s, Some(&[0; 16]));
        assert_eq!(
            e.kind(),
            io::ErrorKind::Other,
            "the recorder's execve fails with Other: {e}"
        );
        expect_test::expect![[r#"
            close_range 3.. CLOEXEC
            bounding caps 0xa80425fb
            seccomp 2 instructions
            setgroups [100]; setgid 100; setuid 1000
            caps inheritable 0 ambient 0 permitted/effective within 0xa80425fb
            chdir /app
            execve /usr/bin/sh ["sh", "-c", "true"] ["PATH=/usr/bin:/bin"]
            execve /bin/sh ["sh", "-c", "true"] ["PATH=/usr/bin:/bin"]
        "#]]
        .assert_eq(&r.text());
    }

    #[test]
    fn privileged_containers_keep_devices_and_paths() {
        let mut r = host_has_everything();
        let mut s = spec(Rootfs::Overlay {
            lower: vec!["/l/base".into()],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            merged: "/c/merged".into(),
        });
        s.security = Security::privileged();
        setup(&mut r, &s, Path::new("/")).unwrap();
        let text = r.text();
        assert!(!text.contains("/c/merged/proc/kcore"), "no masks: {text}");
        assert!(
            text.contains("mount overlay /c/merged overlay 0x0 "),
            "no nodev: {text}"
        );
        let mut r = Recorder::default();
        s.security.no_new_privileges = true;
        exec(&mut r, &s, None);
        let text = r.text();
        assert!(
            text.contains("bounding caps 0x1ffffffffff\nno_new_privs\nsetgroups"),
            "{text}"
        );
    }

    #[test]
    fn namespaces_follow_the_network() {
        let mut s = spec(Rootfs::Dir("/r".into()));
        assert!(namespaces(&s).contains(CloneFlags::CLONE_NEWNET));
        s.network = Network::Host;
        assert!(!namespaces(&s).contains(CloneFlags::CLONE_NEWNET));
    }
}
