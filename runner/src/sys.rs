//! Every privileged syscall the runner makes, behind one small trait ([`Sys`]), so the
//! container set-up logic ([`crate::container`]) can be unit-tested with a recording fake
//! ([`Recorder`]) and run for real on [`Linux`] (nix).
//!
//! Process plumbing (fork, wait, pipes, signal forwarding) lives here too, as free
//! functions: it is the only `unsafe` in the workspace.
#![allow(unsafe_code)]

use caps::{CapSet, CapsHashSet};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The privileged operations of a container's set-up, in the order the caller makes them.
pub trait Sys {
    /// unshare(2): <https://man7.org/linux/man-pages/man2/unshare.2.html>
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()>;
    /// mount(2): <https://man7.org/linux/man-pages/man2/mount.2.html>
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// umount2(2): <https://man7.org/linux/man-pages/man2/umount2.2.html>
    fn umount(&mut self, target: &Path, flags: MntFlags) -> io::Result<()>;
    /// pivot_root(2): <https://man7.org/linux/man-pages/man2/pivot_root.2.html>
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    /// chdir(2).
    fn chdir(&mut self, path: &Path) -> io::Result<()>;
    /// `mkdir -p` (a mount point).
    fn mkdir_all(&mut self, path: &Path) -> io::Result<()>;
    /// Creates an empty file if nothing is there (a mount point for a file bind mount).
    fn create_file(&mut self, path: &Path) -> io::Result<()>;
    /// symlink(2): `link` → `target`; an existing `link` is left alone.
    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()>;
    /// Whether `path` is a directory (follows symlinks); decides bind-mount targets.
    fn is_dir(&mut self, path: &Path) -> bool;
    /// What is at `path`, without following a final symlink; `None` when nothing is.
    fn kind(&mut self, path: &Path) -> Option<Kind>;
    /// sethostname(2) in the new UTS namespace.
    fn sethostname(&mut self, name: &str) -> io::Result<()>;
    /// Brings `lo` up (SIOCSIFFLAGS) in a new network namespace, where it starts down.
    /// netdevice(7): <https://man7.org/linux/man-pages/man7/netdevice.7.html>
    fn loopback_up(&mut self) -> io::Result<()>;
    /// setgroups([gid, groups…]), setgid, setuid — in that order: after setuid the others
    /// fail. <https://man7.org/linux/man-pages/man2/setgroups.2.html>
    fn set_ids(&mut self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()>;
    /// execve(2); returns only on failure.
    fn exec(&mut self, path: &Path, argv: &[String], env: &[String]) -> io::Error;
    /// setns(2) into the network namespace `fd` names.
    /// <https://man7.org/linux/man-pages/man2/setns.2.html>
    fn join_network(&mut self, fd: BorrowedFd<'_>) -> io::Result<()>;
    /// Marks every descriptor from 3 up close-on-exec, so only stdio (and what was dup'ed
    /// onto it) crosses execve: close_range(2) with CLOSE_RANGE_CLOEXEC
    /// (<https://man7.org/linux/man-pages/man2/close_range.2.html>), or each fd of
    /// /proc/self/fd where the kernel is older than 5.11.
    fn cloexec_from_3(&mut self) -> io::Result<()>;
    /// Drops every capability not in `keep` from the bounding set (prctl PR_CAPBSET_DROP,
    /// needs CAP_SETPCAP): after execve no process of the container can hold more.
    /// capabilities(7): <https://man7.org/linux/man-pages/man7/capabilities.7.html>
    fn bound_caps(&mut self, keep: &CapsHashSet) -> io::Result<()>;
    /// After [`Sys::set_ids`]: inheritable and ambient sets emptied, permitted and
    /// effective cut down to `keep` (a non-root user has none left after setuid).
    fn limit_caps(&mut self, keep: &CapsHashSet) -> io::Result<()>;
    /// prctl(PR_SET_NO_NEW_PRIVS, 1).
    fn no_new_privs(&mut self) -> io::Result<()>;
    /// Loads a classic BPF program (an array of `struct sock_filter`) as this process's
    /// seccomp filter: seccomp(2) SECCOMP_SET_MODE_FILTER, which needs no_new_privs or
    /// CAP_SYS_ADMIN, so it comes before the capabilities are dropped (as in runc).
    /// <https://man7.org/linux/man-pages/man2/seccomp.2.html>
    fn seccomp(&mut self, program: &[u8]) -> io::Result<()>;
    /// Moves this process into a cgroup: "0" written to its `cgroup.procs`.
    fn join_cgroup(&mut self, procs: &Path) -> io::Result<()>;
}

fn err(e: Errno, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"))
}

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte"))
}

/// The real kernel, through nix.
#[derive(Debug, Default)]
pub struct Linux;

impl Sys for Linux {
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()> {
        nix::sched::unshare(flags).map_err(|e| err(e, format_args!("unshare({flags:?})")))
    }

    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data).map_err(|e| {
            err(
                e,
                format_args!(
                    "mount {} on {} (type {}, {flags:?}, {})",
                    source.map_or("none".into(), |s| s.display().to_string()),
                    target.display(),
                    fstype.unwrap_or("none"),
                    data.unwrap_or("")
                ),
            )
        })
    }

    fn umount(&mut self, target: &Path, flags: MntFlags) -> io::Result<()> {
        nix::mount::umount2(target, flags).map_err(|e| err(e, format_args!("umount2 {}", target.display())))
    }

    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        nix::unistd::pivot_root(new_root, put_old).map_err(|e| {
            err(
                e,
                format_args!("pivot_root {} {}", new_root.display(), put_old.display()),
            )
        })
    }

    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        nix::unistd::chdir(path).map_err(|e| err(e, format_args!("chdir {}", path.display())))
    }

    fn mkdir_all(&mut self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path).map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", path.display())))
    }

    fn create_file(&mut self, path: &Path) -> io::Result<()> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            self.mkdir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map(drop)
            .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", path.display())))
    }

    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        match std::os::unix::fs::symlink(target, link) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(io::Error::new(
                e.kind(),
                format!("symlink {} -> {}: {e}", link.display(), target.display()),
            )),
            _ => Ok(()),
        }
    }

    fn is_dir(&mut self, path: &Path) -> bool {
        path.is_dir()
    }

    fn kind(&mut self, path: &Path) -> Option<Kind> {
        let t = std::fs::symlink_metadata(path).ok()?.file_type();
        Some(if t.is_dir() {
            Kind::Dir
        } else if t.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        })
    }

    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(|e| err(e, format_args!("sethostname {name}")))
    }

    fn loopback_up(&mut self) -> io::Result<()> {
        // SAFETY: plain syscalls on a socket we own and a zeroed, NUL-terminated ifreq.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(err(Errno::last(), "socket(AF_INET) for lo"));
            }
            let mut req: libc::ifreq = std::mem::zeroed();
            req.ifr_name[0] = b'l' as libc::c_char;
            req.ifr_name[1] = b'o' as libc::c_char;
            let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
            if r == 0 {
                req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
                r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
            }
            let e = Errno::last();
            libc::close(fd);
            if r != 0 {
                return Err(err(e, "ioctl SIOCSIFFLAGS lo up"));
            }
        }
        Ok(())
    }

    fn set_ids(&mut self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
        let g = Gid::from_raw(gid);
        let mut all = vec![g];
        all.extend(groups.iter().map(|&x| Gid::from_raw(x)));
        nix::unistd::setgroups(&all).map_err(|e| err(e, format_args!("setgroups {all:?}")))?;
        nix::unistd::setgid(g).map_err(|e| err(e, format_args!("setgid {gid}")))?;
        nix::unistd::setuid(Uid::from_raw(uid)).map_err(|e| err(e, format_args!("setuid {uid}")))
    }

    fn exec(&mut self, path: &Path, argv: &[String], env: &[String]) -> io::Error {
        let run = || -> io::Result<()> {
            let p = cstring(path.as_os_str().as_bytes())?;
            let a = argv
                .iter()
                .map(|s| cstring(s.as_bytes()))
                .collect::<io::Result<Vec<_>>>()?;
            let e = env
                .iter()
                .map(|s| cstring(s.as_bytes()))
                .collect::<io::Result<Vec<_>>>()?;
            let Err(errno) = nix::unistd::execve(&p, &a, &e);
            Err(err(errno, format_args!("execve {}", path.display())))
        };
        run().unwrap_err()
    }

    fn join_network(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        nix::sched::setns(fd, CloneFlags::CLONE_NEWNET).map_err(|e| err(e, "setns(CLONE_NEWNET)"))
    }

    fn cloexec_from_3(&mut self) -> io::Result<()> {
        // SAFETY: close_range(2) takes no pointers; CLOSE_RANGE_CLOEXEC only sets a flag.
        let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
        if r == 0 {
            return Ok(());
        }
        let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
            .map_err(|e| io::Error::new(e.kind(), format!("read /proc/self/fd: {e}")))?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect();
        for fd in fds {
            // SAFETY: F_SETFD on a descriptor number; a closed one only fails with EBADF.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        Ok(())
    }

    fn bound_caps(&mut self, keep: &CapsHashSet) -> io::Result<()> {
        for cap in caps::all() {
            // Capabilities this kernel does not know are in no set.
            if keep.contains(&cap) || !caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                continue;
            }
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| io::Error::other(format!("prctl PR_CAPBSET_DROP {cap}: {e}")))?;
        }
        Ok(())
    }

    fn limit_caps(&mut self, keep: &CapsHashSet) -> io::Result<()> {
        let fail = |what: &'static str| move |e: caps::errors::CapsError| io::Error::other(format!("{what}: {e}"));
        if caps::runtime::ambient_set_supported().is_ok() {
            caps::clear(None, CapSet::Ambient).map_err(fail("clear ambient capabilities"))?;
        }
        caps::clear(None, CapSet::Inheritable).map_err(fail("clear inheritable capabilities"))?;
        let permitted = caps::read(None, CapSet::Permitted).map_err(fail("capget"))?;
        let kept: CapsHashSet = permitted.intersection(keep).copied().collect();
        caps::set(None, CapSet::Effective, &kept).map_err(fail("capset effective"))?;
        caps::set(None, CapSet::Permitted, &kept).map_err(fail("capset permitted"))
    }

    fn no_new_privs(&mut self) -> io::Result<()> {
        nix::sys::prctl::set_no_new_privs().map_err(|e| err(e, "prctl PR_SET_NO_NEW_PRIVS"))
    }

    fn seccomp(&mut self, program: &[u8]) -> io::Result<()> {
        if program.is_empty() || !program.len().is_multiple_of(std::mem::size_of::<libc::sock_filter>()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seccomp: not a BPF program",
            ));
        }
        // Copied into properly aligned `sock_filter`s (the bytes are in that layout).
        let filters: Vec<libc::sock_filter> = program
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let prog = libc::sock_fprog {
            len: filters.len() as u16,
            filter: filters.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `filters`, alive for the call; the kernel copies it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0u32,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(err(Errno::last(), "seccomp(SECCOMP_SET_MODE_FILTER)"));
        }
        Ok(())
    }

    fn join_cgroup(&mut self, procs: &Path) -> io::Result<()> {
        std::fs::write(procs, "0")
            .map_err(|e| io::Error::new(e.kind(), format!("join cgroup {}: {e}", procs.display())))
    }
}

/// What a path is, for the set-up's decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Symlink,
    /// A file, device, socket or fifo.
    Other,
}

/// A fake that records every call as a line of text and succeeds, for tests of the
/// set-up logic. `dirs`, `symlinks` and `present` (anything else) answer `is_dir` and `kind`.
#[derive(Debug, Default)]
pub struct Recorder {
    pub calls: Vec<String>,
    pub dirs: Vec<std::path::PathBuf>,
    pub symlinks: Vec<std::path::PathBuf>,
    pub present: Vec<std::path::PathBuf>,
}

/// `MsFlags(MS_BIND | MS_REC)` → `MS_BIND | MS_REC`.
fn flag_names(debug: String) -> String {
    match (debug.find('('), debug.rfind(')')) {
        (Some(a), Some(b)) if a < b => debug[a + 1..b].to_string(),
        _ => debug,
    }
}

impl Recorder {
    /// The calls, one a line.
    pub fn text(&self) -> String {
        self.calls.iter().map(|c| format!("{c}\n")).collect()
    }
}

impl Sys for Recorder {
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()> {
        self.calls.push(format!("unshare {}", flag_names(format!("{flags:?}"))));
        Ok(())
    }
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        let mut line = format!(
            "mount {} {} {} {}",
            source.map_or("none".into(), |s| s.display().to_string()),
            target.display(),
            fstype.unwrap_or("none"),
            flag_names(format!("{flags:?}"))
        );
        if let Some(d) = data {
            line.push(' ');
            line.push_str(d);
        }
        self.calls.push(line);
        Ok(())
    }
    fn umount(&mut self, target: &Path, flags: MntFlags) -> io::Result<()> {
        self.calls.push(format!(
            "umount {} {}",
            target.display(),
            flag_names(format!("{flags:?}"))
        ));
        Ok(())
    }
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        self.calls
            .push(format!("pivot_root {} {}", new_root.display(), put_old.display()));
        Ok(())
    }
    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        self.calls.push(format!("chdir {}", path.display()));
        Ok(())
    }
    fn mkdir_all(&mut self, path: &Path) -> io::Result<()> {
        self.calls.push(format!("mkdir {}", path.display()));
        Ok(())
    }
    fn create_file(&mut self, path: &Path) -> io::Result<()> {
        self.calls.push(format!("touch {}", path.display()));
        Ok(())
    }
    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        self.calls
            .push(format!("symlink {} -> {}", link.display(), target.display()));
        Ok(())
    }
    fn is_dir(&mut self, path: &Path) -> bool {
        self.dirs.iter().any(|d| d == path)
    }
    fn kind(&mut self, path: &Path) -> Option<Kind> {
        if self.dirs.iter().any(|d| d == path) {
            Some(Kind::Dir)
        } else if self.symlinks.iter().any(|d| d == path) {
            Some(Kind::Symlink)
        } else if self.present.iter().any(|d| d == path) {
            Some(Kind::Other)
        } else {
            None
        }
    }
    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        self.calls.push(format!("sethostname {name}"));
        Ok(())
    }
    fn loopback_up(&mut self) -> io::Result<()> {
        self.calls.push("lo up".into());
        Ok(())
    }
    fn set_ids(&mut self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
        let mut all = vec![gid];
        all.extend_from_slice(groups);
        self.calls
            .push(format!("setgroups {all:?}; setgid {gid}; setuid {uid}"));
        Ok(())
    }
    fn exec(&mut self, path: &Path, argv: &[String], env: &[String]) -> io::Error {
        self.calls.push(format!("execve {} {argv:?} {env:?}", path.display()));
        io::Error::other("recorded")
    }
    fn join_network(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.calls.push(format!("setns {} CLONE_NEWNET", fd.as_raw_fd()));
        Ok(())
    }
    fn cloexec_from_3(&mut self) -> io::Result<()> {
        self.calls.push("close_range 3.. CLOEXEC".into());
        Ok(())
    }
    fn bound_caps(&mut self, keep: &CapsHashSet) -> io::Result<()> {
        self.calls
            .push(format!("bounding caps {:#x}", crate::security::cap_bits(keep)));
        Ok(())
    }
    fn limit_caps(&mut self, keep: &CapsHashSet) -> io::Result<()> {
        self.calls.push(format!(
            "caps inheritable 0 ambient 0 permitted/effective within {:#x}",
            crate::security::cap_bits(keep)
        ));
        Ok(())
    }
    fn no_new_privs(&mut self) -> io::Result<()> {
        self.calls.push("no_new_privs".into());
        Ok(())
    }
    fn seccomp(&mut self, program: &[u8]) -> io::Result<()> {
        self.calls.push(format!("seccomp {} instructions", program.len() / 8));
        Ok(())
    }
    fn join_cgroup(&mut self, procs: &Path) -> io::Result<()> {
        self.calls.push(format!("join cgroup {}", procs.display()));
        Ok(())
    }
}

/// An overlayfs whiteout at `path`: a character device 0/0 (mknod(2) needs CAP_MKNOD).
/// <https://docs.kernel.org/filesystems/overlayfs.html#whiteouts-and-opaque-directories>
pub fn whiteout(path: &Path) -> io::Result<()> {
    use nix::sys::stat::{mknod, Mode, SFlag};
    mknod(path, SFlag::S_IFCHR, Mode::empty(), 0).map_err(|e| err(e, format_args!("mknod whiteout {}", path.display())))
}

/// The calling process gets SIGKILL when its parent dies (prctl(2) PR_SET_PDEATHSIG), so
/// a killed `slipway` takes its containers with it instead of leaving them running.
/// `parent` is checked to catch a parent that died before the call (not possible for
/// PID 1 of a new PID namespace, whose parent is outside it: getppid() is 0 there).
pub fn die_with_parent(parent: Option<nix::unistd::Pid>) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| err(e, format_args!("prctl PR_SET_PDEATHSIG")))?;
    if parent.is_some_and(|p| nix::unistd::getppid() != p) {
        exit_now(137);
    }
    Ok(())
}

/// Points stdout and stderr at `fd` and stdin at /dev/null (a build step's output is
/// captured by the builder).
pub fn redirect_output(fd: &std::os::fd::OwnedFd) -> io::Result<()> {
    let null = std::fs::File::open("/dev/null")?;
    nix::unistd::dup2_stdin(&null).map_err(|e| err(e, format_args!("dup2 stdin")))?;
    nix::unistd::dup2_stdout(fd).map_err(|e| err(e, format_args!("dup2 stdout")))?;
    nix::unistd::dup2_stderr(fd).map_err(|e| err(e, format_args!("dup2 stderr")))?;
    Ok(())
}

/// A device node or FIFO, as an archive entry describes it (mknod(2)).
pub fn make_node(path: &Path, kind: NodeKind, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let flag = match kind {
        NodeKind::Char => SFlag::S_IFCHR,
        NodeKind::Block => SFlag::S_IFBLK,
        NodeKind::Fifo => SFlag::S_IFIFO,
    };
    let dev = makedev(major.into(), minor.into());
    mknod(path, flag, Mode::from_bits_truncate(mode), dev).map_err(|e| err(e, format_args!("mknod {}", path.display())))
}

/// What [`make_node`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Char,
    Block,
    Fifo,
}

// ---- process plumbing -------------------------------------------------------------------

/// Which side of a fork we are on.
pub enum Forked {
    Parent(nix::unistd::Pid),
    Child,
}

/// fork(2): <https://man7.org/linux/man-pages/man2/fork.2.html>
///
/// The child of a multi-threaded process may only rely on memory it owns: callers prepare
/// what the child needs before forking, and the child ends with `exec` or [`exit_now`].
/// (glibc's malloc stays usable in the child: it resets its locks in a fork handler.)
pub fn fork() -> io::Result<Forked> {
    // SAFETY: see above; every child path ends in execve or _exit, never returns into
    // the caller's threads' state (no unwinding past the fork, no atexit handlers).
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Forked::Parent(child)),
        Ok(nix::unistd::ForkResult::Child) => Ok(Forked::Child),
        Err(e) => Err(err(e, "fork")),
    }
}

/// _exit(2): ends a forked child without running the parent's exit handlers or destructors.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) is async-signal-safe and takes no pointers.
    unsafe { libc::_exit(code) }
}

/// Gives every signal its default disposition and unblocks them all before the
/// container's command is executed, as runc does: execve(2) keeps ignored signals ignored
/// and the mask as it was (signal(7)), and the Rust runtime ignores SIGPIPE, a shell that
/// started slipway in the background ignores SIGINT and SIGQUIT; none of that may reach the
/// container (a `trap` on an ignored-at-entry signal cannot even be set in sh).
pub fn reset_signals_for_exec() -> io::Result<()> {
    use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installs the default disposition; no handler code runs.
        unsafe { signal(sig, SigHandler::SigDfl) }.map_err(|e| err(e, format_args!("signal {sig} SIG_DFL")))?;
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).map_err(|e| err(e, "sigprocmask"))
}

/// The child's pid that PID 1 forwards signals to (0: none yet).
static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// In a container's PID 1: forward the usual termination signals to `pid`. PID 1 of a pid
/// namespace gets only the signals it has handlers for (pid_namespaces(7):
/// <https://man7.org/linux/man-pages/man7/pid_namespaces.7.html>), so without this a
/// `kill -TERM` of the init would be ignored.
pub fn forward_signals_to(pid: nix::unistd::Pid) -> io::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    FORWARD_TO.store(pid.as_raw(), std::sync::atomic::Ordering::Relaxed);
    let action = SigAction::new(SigHandler::Handler(forward), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        // SAFETY: the handler only reads an atomic and calls kill(2).
        unsafe { sigaction(sig, &action) }.map_err(|e| err(e, format_args!("sigaction {sig}")))?;
    }
    Ok(())
}

/// Where `slipway run` relays the signals it gets (0: nowhere), and when (CLOCK_MONOTONIC,
/// milliseconds) it last relayed an interrupt.
static RELAY_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
static INTERRUPTED_AT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// A second SIGINT or SIGTERM this soon after the first kills the container.
pub const FORCE_WINDOW_MS: i64 = 3_000;

/// The signals `slipway run` passes on, as `docker run`'s signal proxy does.
const RELAYED: [nix::sys::signal::Signal; 7] = {
    use nix::sys::signal::Signal::*;
    [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH]
};

fn monotonic_ms() -> i64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime(2) writes the timespec it is given; it is async-signal-safe.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) } != 0 {
        return 0;
    }
    t.tv_sec * 1000 + t.tv_nsec / 1_000_000
}

extern "C" fn relay(sig: libc::c_int) {
    let pid = RELAY_TO.load(std::sync::atomic::Ordering::Relaxed);
    if pid <= 0 {
        return;
    }
    let mut sig = sig;
    if sig == libc::SIGINT || sig == libc::SIGTERM {
        // clock_gettime(2) and kill(2) are async-signal-safe.
        let now = monotonic_ms().max(1);
        let last = INTERRUPTED_AT.swap(now, std::sync::atomic::Ordering::Relaxed);
        if last != 0 && now - last < FORCE_WINDOW_MS {
            sig = libc::SIGKILL;
        }
    }
    // SAFETY: kill(2) is async-signal-safe.
    unsafe { libc::kill(pid, sig) };
}

/// In `slipway run`'s own process while its container runs: the termination signals
/// (a Ctrl-C on the terminal, a `kill`) go to `pid` once each instead of ending slipway,
/// which then exits with the container's code; a second SIGINT/SIGTERM within
/// [`FORCE_WINDOW_MS`] sends SIGKILL (the container dies with its init).
pub fn relay_signals_to(pid: nix::unistd::Pid) -> io::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    INTERRUPTED_AT.store(0, std::sync::atomic::Ordering::Relaxed);
    RELAY_TO.store(pid.as_raw(), std::sync::atomic::Ordering::Relaxed);
    let action = SigAction::new(SigHandler::Handler(relay), SaFlags::SA_RESTART, SigSet::empty());
    for sig in RELAYED {
        // SAFETY: the handler only reads atomics, reads the clock and calls kill(2).
        unsafe { sigaction(sig, &action) }.map_err(|e| err(e, format_args!("sigaction {sig}")))?;
    }
    Ok(())
}

/// In a container's PID 1, once its mounts are made: closes every descriptor but stdio and
/// `keep` (the set-up error pipe), so no host file (the store's locks, say) stays open in
/// the container, and makes PID 1 non-dumpable and its arguments and environment blank.
///
/// PID 1 is a fork of `slipway`: its memory holds the caller's arguments and environment
/// (build args, `--secret id=x,env=VAR` values), and /proc/1/exe is the host's binary.
/// Non-dumpable (prctl PR_SET_DUMPABLE 0), /proc/1/{environ,exe,fd/*,mem,root,…} need
/// CAP_SYS_PTRACE, which containers do not get (proc(5), ptrace(2) "Ptrace access mode
/// checking"); /proc/1/cmdline stays world-readable, so the argument and environment areas
/// are overwritten in place with `name` and NULs (the kernel reads cmdline from that memory).
/// The command's own process is unaffected: execve gives it a new memory and dumpability.
pub fn hide_init(keep: std::os::fd::RawFd, name: &str) -> io::Result<()> {
    close_all_but(keep)?;
    nix::sys::prctl::set_dumpable(false).map_err(|e| err(e, "prctl PR_SET_DUMPABLE 0"))?;
    let _ = nix::sys::prctl::set_name(&cstring(name.as_bytes())?);
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name in parentheses (which may hold spaces): field 3 on.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let field = |n: usize| -> Option<usize> { rest.split(' ').nth(n - 3)?.trim().parse().ok() };
    // proc(5): arg_start (48), arg_end (49), env_start (50), env_end (51).
    let (Some(arg_start), Some(arg_end), Some(env_start), Some(env_end)) = (field(48), field(49), field(50), field(51))
    else {
        return Err(io::Error::other("cannot read the argument area from /proc/self/stat"));
    };
    let blank = |start: usize, end: usize, text: &[u8]| {
        if start == 0 || end <= start {
            return;
        }
        let len = end - start;
        let n = text.len().min(len.saturating_sub(1));
        // SAFETY: [start, end) is this process's own argument (or environment) area on the
        // stack, writable and mapped for the process's life; the kernel reports it for
        // exactly this use (setproctitle). Nothing here reads argv/environ afterwards.
        unsafe {
            let p = start as *mut u8;
            std::ptr::copy_nonoverlapping(text.as_ptr(), p, n);
            std::ptr::write_bytes(p.add(n), 0, len - n);
        }
    };
    blank(arg_start, arg_end, name.as_bytes());
    blank(env_start, env_end, b"");
    Ok(())
}

/// Closes every descriptor above 2 except `keep` (close_range(2), or one by one).
fn close_all_but(keep: std::os::fd::RawFd) -> io::Result<()> {
    let keep = keep as u32;
    let ranges = [(3u32, keep.saturating_sub(1)), (keep + 1, u32::MAX)];
    for (first, last) in ranges {
        if first > last {
            continue;
        }
        // SAFETY: close_range(2) takes no pointers; nothing in this process uses these fds
        // afterwards (the caller is PID 1 after its set-up, holding only `keep`).
        let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        if r != 0 {
            let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|&fd: &i32| fd as u32 >= first && fd as u32 <= last)
                .collect();
            for fd in fds {
                // SAFETY: as above; a descriptor already closed (the directory's) is EBADF.
                unsafe { libc::close(fd) };
            }
        }
    }
    Ok(())
}

/// Ends [`relay_signals_to`]: the signals get their default dispositions back.
pub fn stop_relaying() {
    use nix::sys::signal::{signal, SigHandler};
    RELAY_TO.store(0, std::sync::atomic::Ordering::Relaxed);
    for sig in RELAYED {
        // SAFETY: installs the default disposition; no handler code runs.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
}

/// setsid(2): the calling process leads a new session with no controlling terminal, so
/// the terminal's job-control signals (Ctrl-C's SIGINT to the foreground process group)
/// reach slipway only, which relays them once; reads of an inherited terminal still work.
pub fn new_session() -> io::Result<()> {
    nix::unistd::setsid().map(drop).map_err(|e| err(e, "setsid"))
}

/// Spawns `cmd` with `fd` as its descriptor 3 and PR_SET_PDEATHSIG(SIGKILL), so it dies
/// with the thread that spawned it (pasta, attached to a container's network namespace).
pub fn spawn_with_fd3(cmd: &mut std::process::Command, fd: &std::os::fd::OwnedFd) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let raw = fd.as_raw_fd();
    // SAFETY: the closure runs in the forked child before execve and only makes
    // async-signal-safe calls (dup2, fcntl, prctl) on plain integers.
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(raw, 3) != 3 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    };
    cmd.spawn()
}

/// Whether this process runs as root (containers need it: there is no rootless mode yet).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

// ---- cgroup v2 device programs and clone3 -------------------------------------------------

/// `union bpf_attr` for BPF_PROG_LOAD, up to `expected_attach_type` (include/uapi/linux/bpf.h;
/// the kernel zero-extends a shorter attr).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH, up to `replace_bpf_fd`.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> libc::c_long {
    // SAFETY: `attr` is a live, initialised `union bpf_attr` prefix of the size passed; every
    // pointer it holds (instructions, license, log) outlives the call.
    unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) }
}

/// Loads a cgroup device program (BPF_PROG_TYPE_CGROUP_DEVICE) with bpf(2) BPF_PROG_LOAD:
/// `program` is its instructions (`struct bpf_insn`, 8 bytes each). When the kernel refuses
/// it, the load is repeated with a log so that the error carries the verifier's words.
/// <https://man7.org/linux/man-pages/man2/bpf.2.html>,
/// <https://docs.kernel.org/bpf/verifier.html>
pub fn load_device_program(program: &[u8]) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if program.is_empty() || !program.len().is_multiple_of(8) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bpf: not an eBPF program"));
    }
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..14].copy_from_slice(b"slipway_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (program.len() / 8) as u32,
        insns: program.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &mut attr);
    if fd >= 0 {
        // SAFETY: a new descriptor the kernel just gave us, owned by nobody else.
        return Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) });
    }
    let first = Errno::last();
    let mut log = vec![0u8; 64 * 1024];
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    let again = bpf(BPF_PROG_LOAD, &mut attr);
    if again >= 0 {
        // SAFETY: as above (the first attempt failed for a passing reason).
        return Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(again as i32) });
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let words = String::from_utf8_lossy(&log[..end]);
    let words = words.trim();
    Err(io::Error::new(
        io::Error::from(first).kind(),
        if words.is_empty() {
            format!("bpf(BPF_PROG_LOAD) of the device program: {first}")
        } else {
            format!("bpf(BPF_PROG_LOAD) of the device program: {first}; the verifier says: {words}")
        },
    ))
}

/// Attaches a device program to the cgroup v2 directory `cgroup` (bpf(2) BPF_PROG_ATTACH,
/// BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI: programs of the cgroups above still run, and a
/// device must pass them all). It stays attached until the cgroup is removed.
pub fn attach_device_program(cgroup: BorrowedFd<'_>, program: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    if bpf(BPF_PROG_ATTACH, &mut attr) != 0 {
        return Err(err(Errno::last(), "bpf(BPF_PROG_ATTACH) of the device program"));
    }
    Ok(())
}

/// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// [`fork`], with the child created inside the cgroup v2 directory `cgroup` (clone3(2)
/// CLONE_INTO_CGROUP, Linux 5.7): nothing is migrated, so the kernel's threadgroup lock is
/// never taken for writing (a `cgroup.procs` write takes it and may wait for an RCU grace
/// period, milliseconds). <https://man7.org/linux/man-pages/man2/clone3.2.html>
///
/// Only for a process with a single thread (a forked child): glibc's fork handlers do not
/// run, so no lock another thread could hold may be needed in the child.
/// `Err` with `ENOSYS` (an old kernel, or a seccomp filter that hides clone3), `E2BIG` or
/// `EINVAL` means the kernel lacks it and the caller can fall back.
pub fn fork_into_cgroup(cgroup: BorrowedFd<'_>) -> Result<Forked, Errno> {
    let mut args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM duplicates the process as fork(2) does, the child
    // on a copy of this stack; `args` lives across the call. The single-thread rule above
    // is the caller's (it is documented at the one call site).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        0 => Ok(Forked::Child),
        pid if pid > 0 => Ok(Forked::Parent(nix::unistd::Pid::from_raw(pid as i32))),
        _ => Err(Errno::last()),
    }
}
