//! The sandbox's policy for a container's processes: capabilities, the seccomp filter,
//! the /proc and /sys paths that are masked or read-only. Plain data and pure functions;
//! [`crate::container`] applies them through [`crate::sys::Sys`].
//!
//! The defaults are containerd's and Docker's: the 14 capabilities of containerd's
//! default spec, Docker's default seccomp profile (`seccomp-default.json`, Docker's JSON
//! format, read by the same code as a `--security-opt seccomp=PROFILE.json`), runc's
//! masked and read-only paths. Inheritable and ambient capabilities are empty, as since
//! containerd 1.6.2 / Docker 20.10.14 (CVE-2022-24769: a non-root process would otherwise
//! gain inheritable capabilities from a file's). No `no_new_privs` unless asked, as Docker.

use caps::{Capability, CapsHashSet};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use serde::Deserialize;
use std::io;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// containerd's default capabilities (`oci.defaultUnixCaps`), which Docker uses too.
pub const DEFAULT_CAPS: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// runc's (Docker's) masked paths, relative to the container's root: a directory gets an
/// empty read-only tmpfs over it, a file /dev/null. Per-CPU `thermal_throttle` dirs are
/// added by [`masked_paths`].
pub const MASKED_PATHS: [&str; 12] = [
    "proc/acpi",
    "proc/asound",
    "proc/interrupts",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/sched_debug",
    "proc/scsi",
    "proc/timer_list",
    "proc/timer_stats",
    "sys/devices/virtual/powercap",
    "sys/firmware",
];

/// runc's read-only paths: bound on themselves, read-only. `/proc/sys` holds
/// `kernel/core_pattern`, `kernel/modprobe` and the rest of the kernel's knobs.
pub const READONLY_PATHS: [&str; 5] = ["proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger"];

/// The masked paths on this host: [`MASKED_PATHS`] plus each CPU's `thermal_throttle`
/// directory (Docker masks those too: GHSA-6fw5-f8r9-fgfm).
pub fn masked_paths(host: &std::path::Path) -> Vec<String> {
    let mut paths: Vec<String> = MASKED_PATHS.iter().map(|p| p.to_string()).collect();
    if let Ok(dir) = std::fs::read_dir(host.join("sys/devices/system/cpu")) {
        let mut cpus: Vec<String> = dir
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| {
                n.strip_prefix("cpu")
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            })
            .filter(|n| {
                host.join("sys/devices/system/cpu")
                    .join(n)
                    .join("thermal_throttle")
                    .exists()
            })
            .map(|n| format!("sys/devices/system/cpu/{n}/thermal_throttle"))
            .collect();
        cpus.sort();
        paths.extend(cpus);
    }
    paths
}

/// [`masked_paths`] of this host (`/`), read once per process.
pub fn host_masked_paths() -> &'static [String] {
    static PATHS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PATHS.get_or_init(|| masked_paths(std::path::Path::new("/")))
}

/// How a container's processes are confined.
#[derive(Debug, Clone)]
pub struct Security {
    /// The bounding set; also root's permitted and effective sets (non-root users start
    /// with none, as in Docker).
    pub caps: CapsHashSet,
    pub seccomp: Seccomp,
    /// Docker's `--privileged` as far as paths go: no masked or read-only /proc and /sys
    /// paths, and device nodes on the root filesystem and mounts can be opened (otherwise
    /// those are `nodev`: only the standard nodes bound into /dev work).
    pub privileged: bool,
    /// prctl(PR_SET_NO_NEW_PRIVS): setuid binaries and file capabilities no longer raise
    /// privileges (`--security-opt no-new-privileges`).
    pub no_new_privileges: bool,
}

/// The seccomp filter.
#[derive(Debug, Clone)]
pub enum Seccomp {
    /// Docker's default profile.
    Default,
    /// No filter (`--security-opt seccomp=unconfined`, privileged containers).
    Unconfined,
    /// A profile in Docker's JSON format.
    Profile(Arc<Profile>),
}

impl Default for Security {
    fn default() -> Self {
        Security {
            caps: DEFAULT_CAPS.into_iter().collect(),
            seccomp: Seccomp::Default,
            privileged: false,
            no_new_privileges: false,
        }
    }
}

impl Security {
    /// Docker's `--privileged` (and BuildKit's `RUN --security=insecure`): every
    /// capability, no seccomp filter, no masked paths.
    pub fn privileged() -> Self {
        Security {
            caps: caps::all(),
            seccomp: Seccomp::Unconfined,
            privileged: true,
            no_new_privileges: false,
        }
    }

    /// The default set changed by `--cap-add`/`--cap-drop`, as Docker does: `ALL` in
    /// the adds starts from every capability, `ALL` in the drops from none; then drops
    /// go, adds come. Names with or without `CAP_`, any case.
    pub fn change_caps(&mut self, add: &[String], drop: &[String]) -> io::Result<()> {
        let all = |v: &[String]| v.iter().any(|c| c.eq_ignore_ascii_case("all"));
        let (add_all, drop_all) = (all(add), all(drop));
        if add_all {
            self.caps = caps::all();
        } else if drop_all {
            self.caps.clear();
        }
        for name in drop.iter().filter(|c| !c.eq_ignore_ascii_case("all")) {
            let cap = parse_cap(name)?;
            if !(add_all && add.iter().any(|a| parse_cap(a).ok() == Some(cap))) {
                self.caps.remove(&cap);
            }
        }
        for name in add.iter().filter(|c| !c.eq_ignore_ascii_case("all")) {
            self.caps.insert(parse_cap(name)?);
        }
        Ok(())
    }

    /// The compiled BPF program (`None`: unconfined), for the container's processes to
    /// load before exec. Docker's default profile is compiled once per capability set.
    pub fn seccomp_program(&self) -> io::Result<Option<Arc<Vec<u8>>>> {
        match &self.seccomp {
            Seccomp::Unconfined => Ok(None),
            Seccomp::Profile(p) => Ok(Some(Arc::new(compile(p, &self.caps)?))),
            Seccomp::Default => {
                let key = cap_bits(&self.caps);
                let mut cache = default_cache().lock().unwrap_or_else(|e| e.into_inner());
                if let Some((_, p)) = cache.iter().find(|(k, _)| *k == key) {
                    return Ok(Some(p.clone()));
                }
                let program = Arc::new(compile(default_profile(), &self.caps)?);
                cache.push((key, program.clone()));
                Ok(Some(program))
            }
        }
    }
}

impl Security {
    /// Makes the default profile's program for these capabilities available to
    /// [`Security::seccomp_program`] from a file under `dir` (the store's), compiling and
    /// saving it the first time: libseccomp takes ~20 ms for Docker's profile on three
    /// architectures, which a `slipway run` would otherwise pay at every start. The file's
    /// name holds everything the program depends on (profile, capabilities, architecture,
    /// kernel, libseccomp); it is written to a temp file and renamed, and trusted as much
    /// as the store that holds it.
    pub fn warm_seccomp_cache(&self, dir: &std::path::Path) -> io::Result<()> {
        use sha2::Digest;
        if !matches!(self.seccomp, Seccomp::Default) {
            return Ok(());
        }
        let key = cap_bits(&self.caps);
        if default_cache()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|(k, _)| *k == key)
        {
            return Ok(());
        }
        let (major, minor) = kernel_version();
        let lib = libseccomp::ScmpVersion::current()
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
            .unwrap_or_default();
        let profile = sha2::Sha256::digest(include_str!("seccomp-default.json").as_bytes());
        let hex: String = profile.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let file = dir.join(format!(
            "default-{hex}-{key:016x}-{}-{major}.{minor}-{lib}.bpf",
            std::env::consts::ARCH
        ));
        let program = match std::fs::read(&file) {
            Ok(p) if !p.is_empty() && p.len().is_multiple_of(8) => p,
            _ => {
                let p = compile(default_profile(), &self.caps)?;
                std::fs::create_dir_all(dir)?;
                let tmp = dir.join(format!(".tmp-{}-{key:016x}", std::process::id()));
                std::fs::write(&tmp, &p)?;
                std::fs::rename(&tmp, &file)?;
                p
            }
        };
        let mut cache = default_cache().lock().unwrap_or_else(|e| e.into_inner());
        if !cache.iter().any(|(k, _)| *k == key) {
            cache.push((key, Arc::new(program)));
        }
        Ok(())
    }
}

/// Compiled programs of the default profile, by capability mask.
type Programs = Mutex<Vec<(u64, Arc<Vec<u8>>)>>;

fn default_cache() -> &'static Programs {
    static CACHE: Programs = Mutex::new(Vec::new());
    &CACHE
}

/// The capabilities as a bit mask (bit N = capability N), as /proc/PID/status shows them.
pub fn cap_bits(set: &CapsHashSet) -> u64 {
    set.iter().fold(0, |m, c| m | c.bitmask())
}

/// `NET_ADMIN`, `cap_net_admin` or `CAP_NET_ADMIN` → the capability.
pub fn parse_cap(name: &str) -> io::Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    Capability::from_str(&full)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("unknown capability: {name}")))
}

/// A seccomp profile in Docker's JSON format (`profiles/seccomp/default.json`, as
/// `docker run --security-opt seccomp=FILE` reads it).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    /// The old form: the architectures to accept, native first.
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    /// The old form: one name.
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

impl Profile {
    /// Reads a profile; errors name the file.
    pub fn from_json(text: &str, what: &str) -> io::Result<Profile> {
        serde_json::from_str(text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("seccomp profile {what}: {e}")))
    }
}

/// Docker's default profile, as data (`seccomp-default.json`).
pub fn default_profile() -> &'static Profile {
    static PROFILE: std::sync::OnceLock<Profile> = std::sync::OnceLock::new();
    PROFILE.get_or_init(|| {
        Profile::from_json(include_str!("seccomp-default.json"), "(built in)").expect("the built-in profile parses")
    })
}

/// Go's name of this machine's architecture, as profiles' `arches` use it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// libseccomp's name of this machine's architecture.
fn scmp_native() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// The running kernel's (major, minor).
fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_version(&release)
}

fn parse_version(s: &str) -> (u32, u32) {
    let mut parts = s.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

fn action(name: &str, errno: Option<u32>, default_errno: u32) -> io::Result<ScmpAction> {
    let errno = errno.unwrap_or(default_errno) as i32;
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno as u16),
        "SCMP_ACT_LOG" => ScmpAction::Log,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seccomp action {other} is not supported"),
            ))
        }
    })
}

fn compare(arg: &Arg) -> io::Result<ScmpArgCompare> {
    let op = match arg.op.as_str() {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        // Docker: `value` is the mask, `valueTwo` the value compared with.
        "SCMP_CMP_MASKED_EQ" => {
            return Ok(ScmpArgCompare::new(
                arg.index,
                ScmpCompareOp::MaskedEqual(arg.value),
                arg.value_two,
            ))
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seccomp comparison {other} is not supported"),
            ))
        }
    };
    Ok(ScmpArgCompare::new(arg.index, op, arg.value))
}

/// Whether a rule applies here, by Docker's rules: every included capability present,
/// no excluded one; the architecture (Go's name) listed in `includes`, not in `excludes`;
/// the kernel at least `includes.minKernel` (and below `excludes.minKernel`).
fn applies(rule: &Rule, caps: &CapsHashSet, arch: &str, kernel: (u32, u32)) -> bool {
    let has = |c: &String| parse_cap(c).is_ok_and(|c| caps.contains(&c));
    if let Some(ex) = &rule.excludes {
        if ex.arches.iter().any(|a| a == arch) || ex.caps.iter().any(has) {
            return false;
        }
        if ex.min_kernel.as_deref().is_some_and(|k| kernel >= parse_version(k)) {
            return false;
        }
    }
    if let Some(inc) = &rule.includes {
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch) {
            return false;
        }
        if !inc.caps.iter().all(has) {
            return false;
        }
        if inc.min_kernel.as_deref().is_some_and(|k| kernel < parse_version(k)) {
            return false;
        }
    }
    true
}

/// Compiles a profile for a container with `caps` into a classic BPF program (an array of
/// `struct sock_filter`), as runc does from the same JSON: syscalls unknown to this
/// architecture are skipped; a rule whose arguments compare one index twice becomes one
/// rule per comparison (libseccomp refuses two on one argument in a rule).
pub fn compile(profile: &Profile, caps: &CapsHashSet) -> io::Result<Vec<u8>> {
    let fail =
        |what: String| move |e: libseccomp::error::SeccompError| io::Error::other(format!("seccomp: {what}: {e}"));
    let default_errno = profile.default_errno_ret.unwrap_or(libc::EPERM as u32);
    let default = action(&profile.default_action, None, default_errno)?;
    let mut ctx = ScmpFilterContext::new(default).map_err(fail("new filter".into()))?;
    // A binary tree of syscall numbers rather than a linear chain (libseccomp >= 2.5):
    // every syscall of the container passes through the filter.
    let _ = ctx.set_ctl_optimize(2);
    let native = scmp_native();
    let mut arches: Vec<String> = profile.architectures.clone();
    for m in &profile.arch_map {
        if m.architecture == native {
            arches.push(m.architecture.clone());
            arches.extend(m.sub_architectures.iter().cloned());
        }
    }
    for a in &arches {
        let arch = ScmpArch::from_str(a).map_err(fail(format!("architecture {a}")))?;
        if arch != ScmpArch::native() {
            ctx.add_arch(arch).map_err(fail(format!("add architecture {a}")))?;
        }
    }
    let (arch, kernel) = (go_arch(), kernel_version());
    for rule in &profile.syscalls {
        if !applies(rule, caps, arch, kernel) {
            continue;
        }
        let act = action(&rule.action, rule.errno_ret, default_errno)?;
        if act == default {
            continue;
        }
        let args = rule.args.as_deref().unwrap_or_default();
        let cmps = args.iter().map(compare).collect::<io::Result<Vec<_>>>()?;
        let repeated = args
            .iter()
            .enumerate()
            .any(|(i, a)| args[..i].iter().any(|b| b.index == a.index));
        for name in rule.names.iter().chain(rule.name.as_ref()) {
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let added = if cmps.is_empty() {
                ctx.add_rule(act, sys)
            } else if repeated {
                cmps.iter()
                    .try_for_each(|c| ctx.add_rule_conditional(act, sys, &[*c]).map(drop))
                    .map(|_| &mut ctx)
            } else {
                ctx.add_rule_conditional(act, sys, &cmps)
            };
            added.map_err(fail(format!("rule for {name}")))?;
        }
    }
    let mut file = tempfile_for_bpf()?;
    ctx.export_bpf(&file).map_err(fail("export".into()))?;
    use std::io::{Read, Seek};
    file.rewind()?;
    let mut program = Vec::new();
    file.read_to_end(&mut program)?;
    Ok(program)
}

/// An anonymous file for libseccomp to write the program to.
fn tempfile_for_bpf() -> io::Result<std::fs::File> {
    let fd = nix::sys::memfd::memfd_create(c"slipway-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| io::Error::other(format!("memfd_create: {e}")))?;
    Ok(std::fs::File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_changes_follow_docker() {
        let mut s = Security::default();
        s.change_caps(&["net_admin".into()], &["CAP_MKNOD".into()]).unwrap();
        assert!(s.caps.contains(&Capability::CAP_NET_ADMIN));
        assert!(!s.caps.contains(&Capability::CAP_MKNOD));
        assert_eq!(s.caps.len(), 14);
        let mut s = Security::default();
        s.change_caps(&["CHOWN".into()], &["ALL".into()]).unwrap();
        assert_eq!(s.caps, [Capability::CAP_CHOWN].into_iter().collect());
        let mut s = Security::default();
        s.change_caps(&["ALL".into()], &["SYS_ADMIN".into()]).unwrap();
        assert!(!s.caps.contains(&Capability::CAP_SYS_ADMIN));
        assert!(s.caps.contains(&Capability::CAP_SYS_PTRACE));
        let e = Security::default().change_caps(&["FLY".into()], &[]).unwrap_err();
        assert_eq!(e.to_string(), "unknown capability: FLY");
    }

    #[test]
    fn default_caps_are_containerds_fourteen() {
        // The mask Docker shows as CapBnd/CapEff for root: 00000000a80425fb.
        assert_eq!(cap_bits(&Security::default().caps), 0xa80425fb);
    }

    #[test]
    fn rules_apply_by_caps_arch_and_kernel() {
        let rule = |json: &str| -> Rule { serde_json::from_str(json).unwrap() };
        let caps: CapsHashSet = DEFAULT_CAPS.into_iter().collect();
        let admin = rule(r#"{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}"#);
        assert!(!applies(&admin, &caps, "amd64", (6, 1)));
        assert!(applies(&admin, &caps::all(), "amd64", (6, 1)));
        let clone = rule(
            r#"{"names":["clone"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_SYS_ADMIN"],"arches":["s390x"]}}"#,
        );
        assert!(applies(&clone, &caps, "amd64", (6, 1)));
        assert!(!applies(&clone, &caps, "s390x", (6, 1)));
        assert!(!applies(&clone, &caps::all(), "amd64", (6, 1)));
        let ptrace = rule(r#"{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}}"#);
        assert!(applies(&ptrace, &caps, "amd64", (4, 8)));
        assert!(!applies(&ptrace, &caps, "amd64", (4, 4)));
        assert_eq!(parse_version("6.18.44-fc-v1300"), (6, 18));
    }

    #[test]
    fn the_default_profile_compiles_for_default_and_all_caps() {
        let p = Security::default().seccomp_program().unwrap().unwrap();
        assert!(p.len() > 100 * 8 && p.len().is_multiple_of(8), "{} bytes", p.len());
        let again = Security::default().seccomp_program().unwrap().unwrap();
        assert!(Arc::ptr_eq(&p, &again), "compiled once");
        let mut all = Security::default();
        all.caps = caps::all();
        assert_ne!(*all.seccomp_program().unwrap().unwrap(), *p);
        assert!(Security::privileged().seccomp_program().unwrap().is_none());
    }

    #[test]
    fn bad_profiles_are_refused_with_the_reason() {
        let e = Profile::from_json("{", "p.json").unwrap_err();
        assert!(e.to_string().starts_with("seccomp profile p.json: "), "{e}");
        let p = Profile::from_json(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#, "p.json").unwrap();
        let e = compile(&p, &CapsHashSet::new()).unwrap_err();
        assert_eq!(e.to_string(), "seccomp action SCMP_ACT_NOPE is not supported");
    }
}
