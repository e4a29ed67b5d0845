//! A cgroup per container, where the host gives one: the pids limit (a fork bomb in a RUN
//! step stops at it instead of taking the host) and the memory limit (`slipway run
//! --memory`). cgroup v2 when `/sys/fs/cgroup` is the unified hierarchy and the parent
//! delegates the controllers; otherwise the v1 `pids` and `memory` hierarchies (hybrid
//! hosts such as these machines). The container's first process joins before it unshares
//! anything, so every process of the container is in it. Where no controller is available
//! the container runs without, and that is said once per process.
//! <https://docs.kernel.org/admin-guide/cgroup-v2.html>,
//! <https://docs.kernel.org/admin-guide/cgroup-v1/pids.html>

use std::io;
use std::path::{Path, PathBuf};

/// The default pids limit of a RUN step: far above what builds use (compilers, test
/// suites), far below what hurts the host.
pub const DEFAULT_RUN_PIDS: u64 = 4096;

/// Resource limits of a container (none by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Processes and threads.
    pub pids: Option<u64>,
    /// Bytes of memory.
    pub memory: Option<u64>,
    /// Only the standard device nodes may be opened: the v1 `devices` controller where the
    /// host has it (the nodev mounts hold everywhere; this is the second wall, as Docker's).
    pub devices: bool,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.pids.is_none() && self.memory.is_none() && !self.devices
    }
}

/// Docker's device rules: mknod of anything (a layer may hold device nodes; overlayfs
/// whiteouts are 0/0), read/write only of null, zero, full, random, urandom, tty, console,
/// ptmx and the ptys. devices.allow syntax: devices(7) of cgroup v1,
/// <https://docs.kernel.org/admin-guide/cgroup-v1/devices.html>
pub const DEVICE_RULES: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// Docker's memory sizes: `512m`, `1g`, `1048576`, `64k` (b, k, m, g; either case).
pub fn parse_size(s: &str) -> io::Result<u64> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid size {s:?} (e.g. 512m, 2g)"),
        )
    };
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|r| !r.is_empty() && r.ends_with(['k', 'm', 'g']))
        .unwrap_or(&t);
    let (num, mult) = match t.as_bytes().last() {
        Some(b'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some(b'm') => (&t[..t.len() - 1], 1 << 20),
        Some(b'g') => (&t[..t.len() - 1], 1 << 30),
        Some(b'b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if n.is_nan() || n <= 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as u64)
}

/// The cgroup directories of one container; removed by [`Cgroup::remove`].
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
}

/// Where cgroup hierarchies are mounted.
const ROOT: &str = "/sys/fs/cgroup";

/// This process's cgroup path in a hierarchy (`0::/x` for v2, `N:pids:/x` for v1).
fn own_path(controller: Option<&str>) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = match controller {
            None => list.is_empty(),
            Some(c) => list.split(',').any(|x| x == c),
        };
        hit.then(|| path.to_string())
    })
}

fn is_cgroup2(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("write {} to {}: {e}", value.trim(), path.display())))
}

fn once_note(what: &str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        eprintln!("note: {what}: containers run without a cgroup of their own (no pids or memory limit)")
    });
}

impl Cgroup {
    /// The container's cgroup(s), named `name`, with `limits` written; `None` (said once)
    /// when the host offers no controller for them.
    pub fn create(name: &str, limits: &Limits) -> io::Result<Option<Cgroup>> {
        if limits.is_empty() {
            return Ok(None);
        }
        let root = Path::new(ROOT);
        if is_cgroup2(root) && (limits.pids.is_some() || limits.memory.is_some()) {
            let parent = root.join(own_path(None).unwrap_or_default().trim_start_matches('/'));
            let delegated = std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            let needed: Vec<&str> = [("pids", limits.pids.is_some()), ("memory", limits.memory.is_some())]
                .iter()
                .filter(|(_, want)| *want)
                .map(|(c, _)| *c)
                .collect();
            if !needed.iter().all(|c| delegated.split_whitespace().any(|d| d == *c)) {
                once_note(&format!(
                    "the cgroup {} does not delegate {}",
                    parent.display(),
                    needed.join(" and ")
                ));
                return Ok(None);
            }
            let dir = parent.join(name);
            std::fs::create_dir(&dir).map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", dir.display())))?;
            let group = Cgroup {
                dirs: vec![dir.clone()],
            };
            if let Some(p) = limits.pids {
                write(&dir.join("pids.max"), &p.to_string())?;
            }
            if let Some(m) = limits.memory {
                write(&dir.join("memory.max"), &m.to_string())?;
                let _ = write(&dir.join("memory.swap.max"), "0");
            }
            return Ok(Some(group));
        }
        if is_cgroup2(root) {
            // Devices on v2 take an eBPF program; the nodev mounts cover them.
            return Ok(None);
        }
        // cgroup v1: one directory per controller.
        let mut group = Cgroup { dirs: Vec::new() };
        if limits.devices {
            let hierarchy = root.join("devices");
            if let Some(own) = own_path(Some("devices")).filter(|_| hierarchy.join("devices.allow").exists()) {
                let dir = hierarchy.join(own.trim_start_matches('/')).join(name);
                std::fs::create_dir(&dir)
                    .map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", dir.display())))?;
                group.dirs.push(dir.clone());
                let set = || -> io::Result<()> {
                    write(&dir.join("devices.deny"), "a")?;
                    for rule in DEVICE_RULES {
                        write(&dir.join("devices.allow"), rule)?;
                    }
                    Ok(())
                };
                if let Err(e) = set() {
                    group.remove();
                    return Err(e);
                }
            }
        }
        let wanted = [
            ("pids", limits.pids.map(|p| ("pids.max", p.to_string()))),
            (
                "memory",
                limits.memory.map(|m| ("memory.limit_in_bytes", m.to_string())),
            ),
        ];
        for (controller, setting) in wanted {
            let Some((file, value)) = setting else { continue };
            let hierarchy = root.join(controller);
            let Some(own) = own_path(Some(controller)).filter(|_| hierarchy.join("cgroup.procs").exists()) else {
                group.remove();
                once_note(&format!("no cgroup {controller} controller"));
                return Ok(None);
            };
            let dir = hierarchy.join(own.trim_start_matches('/')).join(name);
            if let Err(e) = std::fs::create_dir(&dir) {
                group.remove();
                return Err(io::Error::new(e.kind(), format!("mkdir {}: {e}", dir.display())));
            }
            group.dirs.push(dir.clone());
            if let Err(e) = write(&dir.join(file), &value) {
                group.remove();
                return Err(e);
            }
        }
        Ok((!group.dirs.is_empty()).then_some(group))
    }

    /// The `cgroup.procs` files the container's first process writes itself into.
    pub fn procs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Removes the directories once their processes are gone (the kernel may still be
    /// tearing the last ones down: a few retries).
    pub fn remove(self) {
        for dir in self.dirs.iter().rev() {
            for attempt in 0..50 {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 49 => {
                        std::thread::sleep(std::time::Duration::from_millis(2))
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker() {
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("64kb").unwrap(), 64 << 10);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn no_limits_make_no_cgroup() {
        assert!(Cgroup::create("x", &Limits::default()).unwrap().is_none());
    }
}
