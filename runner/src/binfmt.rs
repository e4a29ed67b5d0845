//! Running foreign-architecture images: QEMU user-mode emulation through the kernel's
//! binfmt_misc. A handler registered for an architecture's ELF header (magic and mask at
//! offset 0) makes the kernel start its interpreter (`qemu-aarch64-static`, …) for such
//! binaries. With flag `F` ("fix binary") the kernel opens the interpreter when the handler
//! is registered, so it works inside a container whose root has no such file; without it,
//! the interpreter's path is looked up in the container and the exec fails.
//! <https://docs.kernel.org/admin-guide/binfmt-misc.html>
//!
//! [`emulation`] says how a platform's binaries run here: natively (the host's architecture,
//! or 386 on amd64, arm on arm64) or under a registered handler, else an error that says
//! how to register one. [`install`] mounts binfmt_misc when needed and registers the qemu
//! interpreters that are installed (Debian's `qemu-user-static`): the magic and mask of
//! each architecture are qemu's (`scripts/qemu-binfmt-conf.sh`, as Debian ships them in
//! `/usr/lib/binfmt.d/qemu-*.conf`). Debian's `-binfmt-P` interpreter names tell qemu that
//! argv\[0] is preserved, so those are registered with Debian's flags `OPF`; a plain
//! `qemu-*-static` with `F` only. Handlers already registered are left alone.

use crate::sys::Sys;
use nix::mount::MsFlags;
use slipway_store::platform::Platform;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where binfmt_misc is mounted.
pub const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// An architecture qemu can emulate: its name for qemu, the OCI platform, the ELF header
/// bytes that identify its executables and the mask the kernel compares them under.
#[derive(Debug, Clone, Copy)]
pub struct Arch {
    pub qemu: &'static str,
    pub architecture: &'static str,
    pub variant: Option<&'static str>,
    pub magic: &'static [u8],
    pub mask: &'static [u8],
}

impl Arch {
    pub fn platform(&self) -> Platform {
        Platform {
            os: "linux".into(),
            architecture: self.architecture.into(),
            variant: self.variant.map(String::from),
        }
    }
}

const MASK_LE: &[u8] = b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
const MASK_X86: &[u8] = b"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";

/// The architectures slipway knows to emulate (qemu's magic and mask for each).
pub const ARCHES: &[Arch] = &[
    Arch {
        qemu: "aarch64",
        architecture: "arm64",
        variant: None,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
        mask: MASK_LE,
    },
    Arch {
        qemu: "arm",
        architecture: "arm",
        variant: Some("v7"),
        magic: b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00",
        mask: MASK_LE,
    },
    Arch {
        qemu: "x86_64",
        architecture: "amd64",
        variant: None,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
        mask: MASK_X86,
    },
    Arch {
        qemu: "i386",
        architecture: "386",
        variant: None,
        magic: b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00",
        mask: MASK_X86,
    },
    Arch {
        qemu: "riscv64",
        architecture: "riscv64",
        variant: None,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00",
        mask: MASK_LE,
    },
    Arch {
        qemu: "ppc64le",
        architecture: "ppc64le",
        variant: None,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00",
    },
    Arch {
        qemu: "s390x",
        architecture: "s390x",
        variant: None,
        magic: b"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff",
    },
    Arch {
        qemu: "mips64el",
        architecture: "mips64le",
        variant: None,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    },
    Arch {
        qemu: "loongarch64",
        architecture: "loong64",
        variant: None,
        magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02\x01",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\xfc\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    },
];

/// The emulated architecture of a platform (arm of any variant is qemu's `arm`).
pub fn arch_of(platform: &Platform) -> Option<&'static Arch> {
    let p = platform.normalize();
    ARCHES.iter().find(|a| a.architecture == p.architecture)
}

/// A registered binfmt_misc handler, as `/proc/sys/fs/binfmt_misc/<name>` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub name: String,
    pub enabled: bool,
    pub interpreter: PathBuf,
    pub flags: String,
    pub offset: usize,
    pub magic: Vec<u8>,
    pub mask: Vec<u8>,
}

impl Handler {
    /// Whether the kernel would give an executable starting with `header` to this handler.
    pub fn matches(&self, header: &[u8]) -> bool {
        !self.magic.is_empty()
            && self.magic.iter().enumerate().all(|(i, m)| {
                let mask = self.mask.get(i).copied().unwrap_or(0xff);
                header.get(self.offset + i).is_some_and(|b| b & mask == *m)
            })
    }

    /// Flag `F`: the interpreter was opened at registration (works inside containers).
    pub fn fix_binary(&self) -> bool {
        self.flags.contains('F')
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Parses a handler's file (`enabled`, `interpreter …`, `flags: …`, `offset …`,
/// `magic …`, `mask …`); None for an extension (`extension .exe`) handler or other text.
pub fn parse_handler(name: &str, text: &str) -> Option<Handler> {
    let mut h = Handler {
        name: name.to_string(),
        enabled: false,
        interpreter: PathBuf::new(),
        flags: String::new(),
        offset: 0,
        magic: Vec::new(),
        mask: Vec::new(),
    };
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key.trim_end_matches(':') {
            "enabled" => h.enabled = true,
            "disabled" => h.enabled = false,
            "interpreter" => h.interpreter = PathBuf::from(value.trim()),
            "flags" => h.flags = value.trim().to_string(),
            "offset" => h.offset = value.trim().parse().ok()?,
            "magic" => h.magic = unhex(value.trim())?,
            "mask" => h.mask = unhex(value.trim())?,
            _ => {}
        }
    }
    (!h.magic.is_empty()).then_some(h)
}

/// The handlers registered in the binfmt_misc at `dir`; None when it is not mounted there
/// (no `register` file).
pub fn handlers(dir: &Path) -> io::Result<Option<Vec<Handler>>> {
    if !dir.join("register").exists() {
        return Ok(None);
    }
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", dir.display())))?;
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "register" || name == "status" {
            continue;
        }
        if let Some(h) = fs::read_to_string(e.path()).ok().and_then(|t| parse_handler(&name, &t)) {
            out.push(h);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(out))
}

/// How a platform's binaries run on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emulation {
    /// On the CPU itself.
    Native,
    /// Under a binfmt_misc handler (with flag `F`) and its interpreter.
    Qemu { handler: String, interpreter: PathBuf },
}

/// Why a platform cannot run here. Each says how to make it run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not linux, or an architecture slipway does not know to emulate.
    Unsupported { platform: Platform },
    /// binfmt_misc is not mounted.
    NotMounted { platform: Platform, qemu: String },
    /// No handler for the architecture.
    NoHandler { platform: Platform, qemu: String },
    /// A handler is there but disabled.
    Disabled { platform: Platform, handler: String },
    /// A handler without flag `F`: its interpreter is not found inside a container.
    NotFixBinary {
        platform: Platform,
        handler: String,
        flags: String,
    },
    /// binfmt_misc could not be read.
    Io(String),
}

const HOW: &str = "register qemu for it: `apt-get install qemu-user-static`, then as root `slipway binfmt --install` (mounts binfmt_misc at /proc/sys/fs/binfmt_misc when needed and registers each installed qemu with flag F)";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unsupported { platform } => write!(
                f,
                "cannot run {platform} images on {}: slipway emulates linux on {}",
                Platform::host(),
                ARCHES.iter().map(|a| a.architecture).collect::<Vec<_>>().join(", ")
            ),
            Error::NotMounted { platform, qemu } => write!(
                f,
                "cannot run {platform} binaries on {}: binfmt_misc is not mounted at {BINFMT_MISC}, so there is no qemu-{qemu} handler; {HOW}",
                Platform::host()
            ),
            Error::NoHandler { platform, qemu } => write!(
                f,
                "cannot run {platform} binaries on {}: binfmt_misc has no handler for them (qemu-{qemu}); {HOW}",
                Platform::host()
            ),
            Error::Disabled { platform, handler } => write!(
                f,
                "cannot run {platform} binaries: the binfmt_misc handler {handler} is disabled; enable it as root with `echo 1 > {BINFMT_MISC}/{handler}`"
            ),
            Error::NotFixBinary { platform, handler, flags } => write!(
                f,
                "cannot run {platform} binaries in a container: the binfmt_misc handler {handler} has flags {flags:?} without F, so its interpreter is looked up inside the container; as root `echo -1 > {BINFMT_MISC}/{handler}`, then `slipway binfmt --install` registers it with F"
            ),
            Error::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e {
            Error::Io(_) => io::ErrorKind::Other,
            _ => io::ErrorKind::Unsupported,
        };
        io::Error::new(kind, e.to_string())
    }
}

/// How binaries of `platform` run here (see the module docs), reading `/proc/sys/fs/binfmt_misc`.
pub fn emulation(platform: &Platform) -> Result<Emulation, Error> {
    let host = Platform::host();
    if is_native(&host, platform) {
        return Ok(Emulation::Native);
    }
    let handlers = handlers(Path::new(BINFMT_MISC)).map_err(|e| Error::Io(e.to_string()))?;
    emulation_with(&host, handlers.as_deref(), platform)
}

/// The host runs these itself: its own architecture (any variant), 386 on amd64, arm on arm64.
fn is_native(host: &Platform, platform: &Platform) -> bool {
    platform.normalize().os == "linux" && platform.runs_natively_on(host)
}

/// [`emulation`] for a host and the handlers there (None: binfmt_misc not mounted).
/// arm on arm64 prefers a registered handler (not every arm64 CPU runs 32-bit code).
pub fn emulation_with(host: &Platform, handlers: Option<&[Handler]>, platform: &Platform) -> Result<Emulation, Error> {
    let p = platform.normalize();
    let unsupported = || Error::Unsupported {
        platform: platform.clone(),
    };
    if p.os != "linux" {
        return Err(unsupported());
    }
    let native = is_native(host, platform);
    let arch = match arch_of(platform) {
        Some(a) => a,
        None if native => return Ok(Emulation::Native),
        None => return Err(unsupported()),
    };
    let prefer_handler = host.normalize().architecture == "arm64" && p.architecture == "arm";
    if native && !prefer_handler {
        return Ok(Emulation::Native);
    }
    let Some(handlers) = handlers else {
        return if native {
            Ok(Emulation::Native)
        } else {
            Err(Error::NotMounted {
                platform: platform.clone(),
                qemu: arch.qemu.into(),
            })
        };
    };
    let matching: Vec<&Handler> = handlers.iter().filter(|h| h.matches(arch.magic)).collect();
    if let Some(h) = matching.iter().find(|h| h.enabled && h.fix_binary()) {
        return Ok(Emulation::Qemu {
            handler: h.name.clone(),
            interpreter: h.interpreter.clone(),
        });
    }
    if native {
        return Ok(Emulation::Native);
    }
    match matching.first() {
        Some(h) if h.enabled => Err(Error::NotFixBinary {
            platform: platform.clone(),
            handler: h.name.clone(),
            flags: h.flags.clone(),
        }),
        Some(h) => Err(Error::Disabled {
            platform: platform.clone(),
            handler: h.name.clone(),
        }),
        None => Err(Error::NoHandler {
            platform: platform.clone(),
            qemu: arch.qemu.into(),
        }),
    }
}

/// What [`install`] did for one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// Registered now, with this interpreter and flags.
    Registered {
        handler: String,
        interpreter: PathBuf,
        flags: String,
    },
    /// A handler for it was there already (left alone).
    Present { handler: String },
    /// No qemu interpreter for it is installed.
    NoInterpreter,
}

/// The interpreter to register for an architecture: Debian's `-binfmt-P` name (flags
/// `OPF`, as Debian registers it), else `qemu-<arch>-static` (flags `F`).
pub fn interpreter(arch: &Arch) -> Option<(PathBuf, &'static str)> {
    let debian = PathBuf::from(format!("/usr/libexec/qemu-binfmt/{}-binfmt-P", arch.qemu));
    if debian.exists() {
        return Some((debian, "OPF"));
    }
    let plain = PathBuf::from(format!("/usr/bin/qemu-{}-static", arch.qemu));
    plain.exists().then_some((plain, "F"))
}

/// The line written to `register`: `:name:M::magic:mask:interpreter:flags`, every byte of
/// the magic and mask as `\xHH` (so no byte reads as a field separator).
pub fn register_line(name: &str, arch: &Arch, interpreter: &Path, flags: &str) -> String {
    let esc = |b: &[u8]| b.iter().map(|x| format!("\\x{x:02x}")).collect::<String>();
    format!(
        ":{name}:M::{}:{}:{}:{flags}",
        esc(arch.magic),
        esc(arch.mask),
        interpreter.display()
    )
}

/// Registers the installed qemu interpreters for every architecture the host does not run
/// itself, in the binfmt_misc at `dir` (mounted there first, through `sys`, when it is not).
/// Idempotent: an architecture that has a handler keeps it. Needs root.
pub fn install(
    sys: &mut dyn Sys,
    dir: &Path,
    find: &dyn Fn(&Arch) -> Option<(PathBuf, &'static str)>,
) -> io::Result<Vec<(Arch, Installed)>> {
    if !dir.join("register").exists() {
        sys.mkdir_all(dir)?;
        // binfmt_misc(5) is a filesystem of its own; mounting it needs CAP_SYS_ADMIN.
        sys.mount(
            Some(Path::new("binfmt_misc")),
            dir,
            Some("binfmt_misc"),
            MsFlags::empty(),
            None,
        )?;
        if !dir.join("register").exists() {
            return Err(io::Error::other(format!(
                "binfmt_misc mounted at {} has no register file",
                dir.display()
            )));
        }
    }
    let host = Platform::host();
    let mut out = Vec::new();
    for arch in ARCHES {
        if is_native(&host, &arch.platform()) && arch.architecture != "arm" {
            continue;
        }
        if host.normalize().architecture == arch.architecture {
            continue;
        }
        let existing = handlers(dir)?.unwrap_or_default();
        if let Some(h) = existing.iter().find(|h| h.matches(arch.magic)) {
            out.push((
                *arch,
                Installed::Present {
                    handler: h.name.clone(),
                },
            ));
            continue;
        }
        let Some((interpreter, flags)) = find(arch) else {
            out.push((*arch, Installed::NoInterpreter));
            continue;
        };
        let handler = format!("qemu-{}", arch.qemu);
        let line = register_line(&handler, arch, &interpreter, flags);
        let register = dir.join("register");
        fs::write(&register, line.as_bytes()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot register {handler} ({}) in {}: {e}",
                    interpreter.display(),
                    register.display()
                ),
            )
        })?;
        out.push((
            *arch,
            Installed::Registered {
                handler,
                interpreter,
                flags: flags.into(),
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn handlers_parse_from_the_kernel_text() {
        let h = parse_handler("qemu-aarch64", AARCH64).unwrap();
        assert!(h.enabled && h.fix_binary());
        assert_eq!(h.interpreter, Path::new("/usr/libexec/qemu-binfmt/aarch64-binfmt-P"));
        assert!(h.matches(ARCHES[0].magic), "the aarch64 header");
        assert!(!h.matches(ARCHES[1].magic), "not arm");
        assert!(!h.matches(ARCHES[2].magic), "not x86_64");
        assert!(parse_handler(
            "python3.11",
            "enabled\ninterpreter /usr/bin/python3.11\nflags: \nextension .pyc\n"
        )
        .is_none());
        assert!(parse_handler("x", "enabled\nmagic 7g\n").is_none());
        // Every table entry's magic passes its own mask, and no two architectures collide.
        for a in ARCHES {
            let h = Handler {
                name: a.qemu.into(),
                enabled: true,
                interpreter: PathBuf::new(),
                flags: "F".into(),
                offset: 0,
                magic: a.magic.iter().zip(a.mask).map(|(m, k)| m & k).collect(),
                mask: a.mask.to_vec(),
            };
            let hits: Vec<&str> = ARCHES.iter().filter(|b| h.matches(b.magic)).map(|b| b.qemu).collect();
            assert_eq!(hits, [a.qemu]);
        }
    }

    #[test]
    fn emulation_is_native_a_handler_or_a_clear_error() {
        let amd = p("linux/amd64");
        let h = parse_handler("qemu-aarch64", AARCH64).unwrap();
        let with = |handlers: Option<&[Handler]>, platform: &str| emulation_with(&amd, handlers, &p(platform));
        assert_eq!(with(None, "linux/amd64"), Ok(Emulation::Native));
        assert_eq!(with(None, "linux/x86_64/v3"), Ok(Emulation::Native));
        assert_eq!(with(None, "linux/386"), Ok(Emulation::Native));
        assert_eq!(
            with(Some(std::slice::from_ref(&h)), "linux/arm64/v8"),
            Ok(Emulation::Qemu {
                handler: "qemu-aarch64".into(),
                interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into()
            })
        );
        let e = with(None, "linux/arm64").unwrap_err();
        assert!(e.to_string().contains("binfmt_misc is not mounted"), "{e}");
        assert!(
            e.to_string().contains("apt-get install qemu-user-static")
                && e.to_string().contains("slipway binfmt --install"),
            "{e}"
        );
        let e = with(Some(std::slice::from_ref(&h)), "linux/riscv64").unwrap_err();
        assert_eq!(
            e,
            Error::NoHandler {
                platform: p("linux/riscv64"),
                qemu: "riscv64".into()
            }
        );
        let no_f = Handler {
            flags: "P".into(),
            ..h.clone()
        };
        let e = with(Some(std::slice::from_ref(&no_f)), "linux/arm64").unwrap_err();
        assert!(matches!(e, Error::NotFixBinary { .. }), "{e}");
        assert!(e.to_string().contains("without F"), "{e}");
        let off = Handler {
            enabled: false,
            ..h.clone()
        };
        assert!(matches!(
            with(Some(std::slice::from_ref(&off)), "linux/arm64"),
            Err(Error::Disabled { .. })
        ));
        assert!(matches!(with(None, "windows/amd64"), Err(Error::Unsupported { .. })));
        assert!(matches!(with(None, "linux/sparc64"), Err(Error::Unsupported { .. })));
        // arm on arm64: a handler when there is one, else the CPU.
        let arm64 = p("linux/arm64");
        assert_eq!(
            emulation_with(&arm64, Some(&[]), &p("linux/arm/v7")),
            Ok(Emulation::Native)
        );
        assert_eq!(emulation_with(&arm64, None, &p("linux/arm64")), Ok(Emulation::Native));
        assert!(matches!(
            emulation_with(&arm64, None, &p("linux/amd64")),
            Err(Error::NotMounted { .. })
        ));
    }

    #[test]
    fn install_mounts_registers_what_is_missing_and_leaves_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut sys = crate::sys::Recorder::default();
        let find =
            |a: &Arch| (a.qemu != "s390x").then(|| (PathBuf::from(format!("/usr/bin/qemu-{}-static", a.qemu)), "F"));
        // Not mounted: mounted through `sys` (the fake mounts nothing, so nothing registers).
        let _ = install(&mut sys, dir.path(), &find);
        assert!(
            sys.text()
                .contains(&format!("mount binfmt_misc {} binfmt_misc", dir.path().display())),
            "{}",
            sys.text()
        );
        // "Mounted": a register file, and an aarch64 handler already there.
        let mut sys = crate::sys::Recorder::default();
        fs::write(dir.path().join("register"), "").unwrap();
        fs::write(dir.path().join("status"), "enabled\n").unwrap();
        fs::write(dir.path().join("qemu-aarch64"), AARCH64).unwrap();
        let done = install(&mut sys, dir.path(), &find).unwrap();
        assert!(sys.calls.is_empty(), "no mount when mounted: {:?}", sys.calls);
        let host = Platform::host().normalize().architecture;
        let by = |q: &str| done.iter().find(|(a, _)| a.qemu == q).map(|(_, i)| i.clone());
        if host != "arm64" {
            assert_eq!(
                by("aarch64"),
                Some(Installed::Present {
                    handler: "qemu-aarch64".into()
                })
            );
        }
        if host != "s390x" {
            assert_eq!(by("s390x"), Some(Installed::NoInterpreter));
        }
        if host == "amd64" {
            assert_eq!(by("x86_64"), None, "the host's own");
            assert_eq!(by("i386"), None, "386 runs natively on amd64");
            // The fake register file holds the last line written.
            let last = fs::read_to_string(dir.path().join("register")).unwrap();
            assert!(last.starts_with(":qemu-loongarch64:M::\\x7f\\x45\\x4c\\x46"), "{last}");
            assert!(last.ends_with(":/usr/bin/qemu-loongarch64-static:F"), "{last}");
        }
        assert_eq!(
            register_line("qemu-arm", &ARCHES[1], Path::new("/q"), "OPF"),
            ":qemu-arm:M::\\x7f\\x45\\x4c\\x46\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/q:OPF"
        );
    }
}
