//! A cgroup per container, where the host gives one: the pids limit (a fork bomb in a RUN
//! step stops at it instead of taking the host), the memory limit (`slipway run
//! --memory`) and Docker's device rules. Limits go to cgroup v2 where this process's v2
//! cgroup delegates the controller, otherwise to the v1 `pids` and `memory` hierarchies
//! (hybrid hosts such as these machines). The device rules are a cgroup v2 device program
//! (eBPF) wherever the kernel takes one, on hybrid hosts too, else the v1 `devices`
//! controller.
//!
//! Entering: the container's PID 1 is created inside the v2 cgroup (clone3 with
//! CLONE_INTO_CGROUP), so no running task is migrated: a `cgroup.procs` write takes the
//! kernel's threadgroup lock for writing, which waits for an RCU grace period (6-14 ms
//! after an idle moment, bench/RESULTS.md). v1 directories are still joined that way by
//! the container's first process before it unshares anything. Where no controller is
//! available the container runs without, and that is said once per process.
//! Directories of a killed slipway are swept by the next container start.
//! <https://docs.kernel.org/admin-guide/cgroup-v2.html>,
//! <https://docs.kernel.org/admin-guide/cgroup-v1/pids.html>

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
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
    /// Only the standard device nodes may be opened: a v2 device program, or the v1
    /// `devices` controller (the nodev mounts hold everywhere; this is the second wall, as
    /// Docker's).
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

/// How a container's device rules are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Devices {
    /// A cgroup v2 device program (BPF_PROG_TYPE_CGROUP_DEVICE, as runc and crun use on
    /// cgroup v2) on the container's v2 cgroup, which its PID 1 is created in. The kernel
    /// runs it before the v1 `devices` check, so it holds on hybrid hosts too.
    /// <https://docs.kernel.org/admin-guide/cgroup-v2.html#device-controller>
    Bpf,
    /// The v1 `devices` controller (`devices.deny`/`devices.allow`), joined by writing
    /// `cgroup.procs`.
    V1,
}

/// The cgroup directories of one container; removed by [`Cgroup::remove`].
#[derive(Debug)]
pub struct Cgroup {
    /// v1 directories, one per controller, joined by the container's first process.
    dirs: Vec<PathBuf>,
    /// The v2 directory, which the container's PID 1 is created in.
    unified: Option<Unified>,
    devices: Option<Devices>,
}

#[derive(Debug)]
struct Unified {
    dir: PathBuf,
    procs: PathBuf,
    fd: OwnedFd,
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

/// This process's cgroup in the v2 hierarchy: `/sys/fs/cgroup` itself on a unified host,
/// `/sys/fs/cgroup/unified` on a hybrid one (systemd's layout); `None` without one.
fn unified_parent() -> Option<PathBuf> {
    let root = Path::new(ROOT);
    let mount = [root.to_path_buf(), root.join("unified")]
        .into_iter()
        .find(|p| is_cgroup2(p))?;
    Some(mount.join(own_path(None)?.trim_start_matches('/')))
}

/// This process's cgroup in the v1 hierarchy of `controller`, when the host has one.
fn v1_parent(controller: &str) -> Option<PathBuf> {
    let hierarchy = Path::new(ROOT).join(controller);
    let own = own_path(Some(controller)).filter(|_| hierarchy.join("cgroup.procs").exists())?;
    Some(hierarchy.join(own.trim_start_matches('/')))
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("write {} to {}: {e}", value.trim(), path.display())))
}

fn mkdir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir(dir).map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", dir.display())))
}

fn once_note(what: &str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| eprintln!("note: {what}"));
}

/// The device program of [`DEVICE_RULES`], loaded once per process (a build starts many
/// containers). A program the verifier refuses is our bug, not the host's limit: that is
/// said (once); a kernel without cgroup BPF, or bpf(2) not permitted, is not.
fn device_program() -> Option<BorrowedFd<'static>> {
    static PROGRAM: std::sync::OnceLock<Option<OwnedFd>> = std::sync::OnceLock::new();
    let loaded = PROGRAM.get_or_init(|| {
        let program = device_program_for(&DEVICE_RULES)?;
        match crate::sys::load_device_program(&program) {
            Ok(fd) => Some(fd),
            Err(e) => {
                if e.to_string().contains("the verifier says") {
                    once_note(&format!("{e} (device rules through the v1 devices cgroup instead)"));
                }
                None
            }
        }
    });
    loaded.as_ref().map(|fd| fd.as_fd())
}

/// Removes the cgroups `slipway-PID-N` below `parent` whose slipway process is gone (a
/// killed run cannot remove its own). rmdir(2) refuses one that still has processes
/// (EBUSY), so a cgroup in use is never taken away.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("slipway-"))
            .and_then(|rest| rest.split_once('-'))
            .filter(|(_, n)| n.parse::<u64>().is_ok())
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let _ = std::fs::remove_dir(entry.path());
    }
}

/// Sweeps every hierarchy a container's cgroup may be made in, once per process.
fn sweep_once() {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        let v1 = ["devices", "pids", "memory"].into_iter().filter_map(v1_parent);
        for parent in unified_parent().into_iter().chain(v1) {
            sweep_stale(&parent);
        }
    });
}

/// The controllers this process's v2 cgroup delegates (`cgroup.subtree_control`).
fn delegated_controllers(unified: Option<&Path>) -> String {
    unified
        .and_then(|p| std::fs::read_to_string(p.join("cgroup.subtree_control")).ok())
        .unwrap_or_default()
}

/// Where a container's limit of `controller` (`pids`, `memory`) goes: the hierarchy
/// [`Cgroup::create`] writes it to, `None` where the host has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    V2,
    V1,
}

/// The [`Hierarchy`] of `controller`'s limits, decided as [`Cgroup::create`] decides it.
pub fn limit_hierarchy(controller: &str) -> Option<Hierarchy> {
    if delegated_controllers(unified_parent().as_deref())
        .split_whitespace()
        .any(|d| d == controller)
    {
        Some(Hierarchy::V2)
    } else {
        v1_parent(controller).map(|_| Hierarchy::V1)
    }
}

impl Cgroup {
    /// The container's cgroup(s), named `name`, with `limits` written; `None` when the
    /// host offers nothing for them (said once). A limit goes to the v2 hierarchy when this
    /// process's v2 cgroup delegates its controller, else to the v1 hierarchy of it; the
    /// device rules to a v2 device program where the kernel takes one, else to the v1
    /// `devices` controller.
    pub fn create(name: &str, limits: &Limits) -> io::Result<Option<Cgroup>> {
        Self::create_via(name, limits, [Devices::Bpf, Devices::V1].as_slice())
    }

    /// [`Cgroup::create`] with the device rules enforced only by `via` (or not at all where
    /// the host lacks it): for tests and measurements of each mechanism.
    pub fn create_with_devices(name: &str, limits: &Limits, via: Devices) -> io::Result<Option<Cgroup>> {
        Self::create_via(name, limits, &[via])
    }

    fn create_via(name: &str, limits: &Limits, via: &[Devices]) -> io::Result<Option<Cgroup>> {
        let bpf = limits.devices && via.contains(&Devices::Bpf);
        if limits.is_empty() {
            return Ok(None);
        }
        sweep_once();
        let unified = unified_parent();
        let delegated = delegated_controllers(unified.as_deref());
        let mut v2 = Vec::new();
        let mut v1 = Vec::new();
        let wanted = [
            ("pids", "pids.max", "pids.max", limits.pids),
            ("memory", "memory.max", "memory.limit_in_bytes", limits.memory),
        ];
        for (controller, v2_file, v1_file, value) in wanted {
            let Some(value) = value else { continue };
            if delegated.split_whitespace().any(|d| d == controller) {
                v2.push((v2_file, value.to_string()));
            } else if let Some(parent) = v1_parent(controller) {
                v1.push((parent, v1_file, value.to_string()));
            } else {
                once_note(&format!(
                    "no cgroup {controller} controller (v1, or v2 delegated to {}): containers run without a {controller} limit",
                    unified.as_deref().unwrap_or(Path::new(ROOT)).display()
                ));
            }
        }
        let mut group = Cgroup {
            dirs: Vec::new(),
            unified: None,
            devices: None,
        };
        if let Some(parent) = unified.filter(|_| !v2.is_empty() || bpf) {
            let dir = parent.join(name);
            match mkdir(&dir) {
                Ok(()) => {}
                // Only the device rules wanted it: the v1 controller may still serve.
                Err(_) if v2.is_empty() => {}
                Err(e) => return Err(e),
            }
            if dir.is_dir() {
                let opened = std::fs::File::open(&dir)
                    .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", dir.display())));
                let fd = match opened {
                    Ok(f) => OwnedFd::from(f),
                    Err(e) => {
                        let _ = std::fs::remove_dir(&dir);
                        return Err(e);
                    }
                };
                group.unified = Some(Unified {
                    procs: dir.join("cgroup.procs"),
                    dir: dir.clone(),
                    fd,
                });
                let mut set = || -> io::Result<()> {
                    for (file, value) in &v2 {
                        write(&dir.join(file), value)?;
                    }
                    if limits.memory.is_some() && !v2.is_empty() {
                        let _ = write(&dir.join("memory.swap.max"), "0");
                    }
                    if bpf {
                        group.devices = group.attach_devices().then_some(Devices::Bpf);
                    }
                    Ok(())
                };
                if let Err(e) = set() {
                    group.remove();
                    return Err(e);
                }
                if v2.is_empty() && group.devices.is_none() {
                    if let Some(u) = group.unified.take() {
                        remove_dir(&u.dir);
                    }
                }
            }
        }
        if limits.devices && group.devices.is_none() {
            let v1_devices =
                v1_parent("devices").filter(|p| via.contains(&Devices::V1) && p.join("devices.allow").exists());
            if let Some(parent) = v1_devices {
                let dir = parent.join(name);
                if let Err(e) = mkdir(&dir) {
                    group.remove();
                    return Err(e);
                }
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
                group.devices = Some(Devices::V1);
            } else {
                once_note("no device cgroup (neither a v2 device program nor the v1 devices controller): only the nodev mounts keep device nodes closed");
            }
        }
        for (parent, file, value) in v1 {
            let dir = parent.join(name);
            if let Err(e) = mkdir(&dir) {
                group.remove();
                return Err(e);
            }
            group.dirs.push(dir.clone());
            if let Err(e) = write(&dir.join(file), &value) {
                group.remove();
                return Err(e);
            }
        }
        let empty = group.dirs.is_empty() && group.unified.is_none();
        Ok((!empty).then_some(group))
    }

    /// Attaches the device program to the v2 directory; false when the kernel takes none
    /// (no cgroup BPF, bpf(2) not permitted, an old kernel).
    fn attach_devices(&self) -> bool {
        let (Some(u), Some(program)) = (&self.unified, device_program()) else {
            return false;
        };
        crate::sys::attach_device_program(u.fd.as_fd(), program).is_ok()
    }

    /// The `cgroup.procs` files of the v1 directories, which the container's first process
    /// writes itself into.
    pub fn procs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// The v2 directory (a descriptor for clone3's CLONE_INTO_CGROUP, and its
    /// `cgroup.procs` for a kernel without it), when the container has one.
    pub fn unified(&self) -> Option<(BorrowedFd<'_>, &Path)> {
        self.unified.as_ref().map(|u| (u.fd.as_fd(), u.procs.as_path()))
    }

    /// How the device rules are enforced, when they are.
    pub fn devices(&self) -> Option<Devices> {
        self.devices
    }

    /// Removes the directories once their processes are gone (the kernel may still be
    /// tearing the last ones down: a few retries).
    pub fn remove(self) {
        for dir in self.dirs.iter().rev() {
            remove_dir(dir);
        }
        if let Some(u) = self.unified {
            drop(u.fd);
            remove_dir(&u.dir);
        }
    }
}

fn remove_dir(dir: &Path) {
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

/// One rule of [`DEVICE_RULES`]: type (`None` for `a`), major and minor (`None` for `*`),
/// access as a BPF_DEVCG_ACC_* mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    kind: Option<u32>,
    major: Option<u32>,
    minor: Option<u32>,
    access: u32,
}

/// `bpf_cgroup_dev_ctx`'s values (include/uapi/linux/bpf.h).
const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;

/// `c 136:* rwm` → a [`Rule`]; `None` for anything else.
fn parse_rule(rule: &str) -> Option<Rule> {
    let mut words = rule.split_whitespace();
    let kind = match words.next()? {
        "a" => None,
        "b" => Some(DEV_BLOCK),
        "c" => Some(DEV_CHAR),
        _ => return None,
    };
    let number = |s: &str| -> Option<Option<u32>> {
        match s {
            "*" => Some(None),
            n => n.parse::<u32>().ok().filter(|&n| n <= i32::MAX as u32).map(Some),
        }
    };
    let (major, minor) = words.next()?.split_once(':')?;
    let (major, minor) = (number(major)?, number(minor)?);
    let mut access = 0;
    for c in words.next()?.chars() {
        access |= match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => return None,
        };
    }
    if words.next().is_some() || access == 0 {
        return None;
    }
    Some(Rule {
        kind,
        major,
        minor,
        access,
    })
}

/// eBPF opcodes (include/uapi/linux/bpf.h, bpf_common.h): 64-bit ALU with an immediate,
/// 32-bit loads from the context, jumps on an immediate.
mod op {
    /// BPF_LDX | BPF_MEM | BPF_W
    pub const LOAD_W: u8 = 0x61;
    /// BPF_ALU64 | BPF_AND | BPF_K
    pub const AND: u8 = 0x57;
    /// BPF_ALU64 | BPF_RSH | BPF_K
    pub const RSH: u8 = 0x77;
    /// BPF_ALU64 | BPF_MOV | BPF_K
    pub const MOV: u8 = 0xb7;
    /// BPF_ALU64 | BPF_MOV | BPF_X
    pub const MOV_REG: u8 = 0xbf;
    /// BPF_JMP | BPF_JNE | BPF_K
    pub const JNE: u8 = 0x55;
    /// BPF_JMP | BPF_EXIT
    pub const EXIT: u8 = 0x95;
}

/// One `struct bpf_insn`: opcode, dst and src registers (4 bits each, dst first in memory
/// order of the bit-field), offset, immediate.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let regs = if cfg!(target_endian = "little") {
        dst | src << 4
    } else {
        dst << 4 | src
    };
    let [o0, o1] = off.to_ne_bytes();
    let [i0, i1, i2, i3] = imm.to_ne_bytes();
    [code, regs, o0, o1, i0, i1, i2, i3]
}

/// The cgroup device program of `rules` (devices.allow syntax, allow-list; anything else
/// is denied): the context (`struct bpf_cgroup_dev_ctx { access_type, major, minor }`,
/// access_type = access << 16 | type) is read into r2 (type), r3 (access), r4 (major),
/// r5 (minor), then each rule is a block that jumps to the next on a mismatch and returns
/// 1 (allow) at its end; after the last, 0 (EPERM). A request passes a rule when every
/// access it asks for is among the rule's. `None` for a rule it cannot read.
/// <https://docs.kernel.org/admin-guide/cgroup-v2.html#device-controller>
fn device_program_for(rules: &[&str]) -> Option<Vec<u8>> {
    let mut out: Vec<[u8; 8]> = vec![
        insn(op::LOAD_W, 2, 1, 0, 0),
        insn(op::AND, 2, 0, 0, 0xffff),
        insn(op::LOAD_W, 3, 1, 0, 0),
        insn(op::RSH, 3, 0, 0, 16),
        insn(op::LOAD_W, 4, 1, 4, 0),
        insn(op::LOAD_W, 5, 1, 8, 0),
    ];
    for text in rules {
        let rule = parse_rule(text)?;
        // The tests of the block, each a jump over the rest of it when they fail.
        let mut tests: Vec<Vec<(u8, u8, u8, i32)>> = Vec::new();
        if let Some(kind) = rule.kind {
            tests.push(vec![(op::JNE, 2, 0, kind as i32)]);
        }
        let all = ACC_MKNOD | ACC_READ | ACC_WRITE;
        if rule.access != all {
            tests.push(vec![
                (op::MOV_REG, 0, 3, 0),
                (op::AND, 0, 0, (all & !rule.access) as i32),
                (op::JNE, 0, 0, 0),
            ]);
        }
        if let Some(major) = rule.major {
            tests.push(vec![(op::JNE, 4, 0, major as i32)]);
        }
        if let Some(minor) = rule.minor {
            tests.push(vec![(op::JNE, 5, 0, minor as i32)]);
        }
        let len = tests.iter().map(Vec::len).sum::<usize>() + 2;
        let mut at = 0;
        for (code, dst, src, imm) in tests.into_iter().flatten() {
            at += 1;
            let off = if code == op::JNE { (len - at) as i16 } else { 0 };
            out.push(insn(code, dst, src, off, imm));
        }
        out.push(insn(op::MOV, 0, 0, 0, 1));
        out.push(insn(op::EXIT, 0, 0, 0, 0));
    }
    out.push(insn(op::MOV, 0, 0, 0, 0));
    out.push(insn(op::EXIT, 0, 0, 0, 0));
    Some(out.concat())
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

    /// Runs a device program of [`device_program_for`] (only the opcodes it emits) on one
    /// request, as the kernel would: 1 allows, 0 denies.
    fn decide(program: &[u8], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access << 16 | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = &program[pc * 8..pc * 8 + 8];
            let (dst, src) = ((i[1] & 0xf) as usize, (i[1] >> 4) as usize);
            let off = i16::from_ne_bytes([i[2], i[3]]);
            let imm = i32::from_ne_bytes([i[4], i[5], i[6], i[7]]);
            pc += 1;
            match i[0] {
                op::LOAD_W => {
                    assert_eq!(src, 1, "loads read the context");
                    r[dst] = u64::from(ctx[off as usize / 4]);
                }
                op::AND => r[dst] &= imm as i64 as u64,
                op::RSH => r[dst] >>= imm,
                op::MOV => r[dst] = imm as i64 as u64,
                op::MOV_REG => r[dst] = r[src],
                op::JNE => {
                    if r[dst] != imm as i64 as u64 {
                        pc += off as usize;
                    }
                }
                op::EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_device_program_allows_what_dockers_rules_allow() {
        let program = device_program_for(&DEVICE_RULES).unwrap();
        let (c, b) = (DEV_CHAR, DEV_BLOCK);
        let (m, r, w) = (ACC_MKNOD, ACC_READ, ACC_WRITE);
        let cases = [
            // mknod of anything: a layer may hold device nodes, whiteouts are 0/0.
            (c, m, 0, 0, 1),
            (b, m, 8, 0, 1),
            (c, m, 240, 7, 1),
            // Opening only the standard nodes.
            (c, r | w, 1, 3, 1),
            (c, r, 1, 9, 1),
            (c, r | w | m, 5, 2, 1),
            (c, r | w, 136, 12, 1),
            (b, r, 8, 0, 0),
            (b, r | m, 8, 0, 0),
            (c, r, 1, 1, 0),
            (c, w, 1, 11, 0),
            (c, r, 10, 237, 0),
            (c, r, 240, 0, 0),
            (c, r, 137, 0, 0),
            (b, r, 1, 3, 0),
        ];
        for (kind, access, major, minor, want) in cases {
            assert_eq!(
                decide(&program, kind, access, major, minor),
                want,
                "type {kind} access {access} {major}:{minor}"
            );
        }
    }

    #[test]
    fn device_rules_read_as_devices_allow_writes_them() {
        assert_eq!(
            parse_rule("c 136:* rwm"),
            Some(Rule {
                kind: Some(DEV_CHAR),
                major: Some(136),
                minor: None,
                access: ACC_MKNOD | ACC_READ | ACC_WRITE
            })
        );
        assert_eq!(parse_rule("a *:* r").map(|r| r.kind), Some(None));
        for bad in [
            "",
            "x 1:3 r",
            "c 1:3",
            "c 1 r",
            "c 1:3 rx",
            "c 1:3 r extra",
            "c -1:3 r",
            "c 99999999999:1 r",
        ] {
            assert_eq!(parse_rule(bad), None, "{bad:?}");
            assert!(device_program_for(&[bad]).is_none(), "{bad:?}");
        }
        let all = device_program_for(&["a *:* rwm"]).unwrap();
        assert_eq!(decide(&all, DEV_BLOCK, ACC_READ, 8, 0), 1);
        assert_eq!(decide(&device_program_for(&[]).unwrap(), DEV_CHAR, ACC_READ, 1, 3), 0);
    }

    #[test]
    fn stale_cgroups_of_dead_processes_are_swept() {
        let d = tempfile::tempdir().unwrap();
        // A pid above pid_max is never alive; this process's own is.
        let dead = d.path().join("slipway-4294967295-3");
        let mine = d.path().join(format!("slipway-{}-0", std::process::id()));
        let other = d.path().join("slipway-cache");
        for dir in [&dead, &mine, &other] {
            std::fs::create_dir(dir).unwrap();
        }
        sweep_stale(d.path());
        assert!(!dead.exists());
        assert!(mine.exists() && other.exists());
    }

    #[test]
    fn no_limits_make_no_cgroup() {
        assert!(Cgroup::create("x", &Limits::default()).unwrap().is_none());
    }
}
