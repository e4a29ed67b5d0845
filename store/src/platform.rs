//! Image platforms (`linux/amd64`, `linux/arm64`, `linux/arm/v7`): the OCI `platform` object
//! of an index entry, and the `os`/`architecture`/`variant` of an image config.
//!
//! Names are compared after containerd's normalisation (`platforms.Normalize`): `aarch64` is
//! `arm64`, `x86_64`/`x86-64` are `amd64`, `i386`/`i686` are `386`, `armhf` is `arm/v7` and
//! `armel` `arm/v6`; `arm64/v8` is plain `arm64` and a plain `arm` is `arm/v7`; `amd64/v1` is
//! plain `amd64`. A platform keeps the words it was given ([`Platform::parse`] and serde do
//! not rewrite it); [`Platform::normalize`] gives the canonical form and
//! [`Platform::matches`] compares two platforms in it.
//! <https://github.com/opencontainers/image-spec/blob/main/image-index.md>

use serde::{Deserialize, Serialize};
use std::fmt;

/// An image platform, as the OCI `platform` object (`os`, `architecture`, `variant`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/architecture` without a variant.
    pub fn new(os: &str, architecture: &str) -> Platform {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// This machine's platform, normalised (`linux/amd64`, `linux/arm64`, `linux/arm/v7`).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "loongarch64" => "loong64",
            "mips64" if cfg!(target_endian = "little") => "mips64le",
            other => other,
        };
        Platform::new("linux", arch).normalize()
    }

    /// Parses `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`); words are lowercased,
    /// otherwise kept as written. Errors say what is wrong.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<String> = s.trim().split('/').map(str::to_ascii_lowercase).collect();
        let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        match parts.as_slice() {
            [os, arch] if word(os) && word(arch) => Ok(Platform::new(os, arch)),
            [os, arch, v] if word(os) && word(arch) && word(v) => Ok(Platform {
                variant: Some(v.clone()),
                ..Platform::new(os, arch)
            }),
            _ => Err(format!(
                "invalid platform {s:?} (want os/arch[/variant], e.g. linux/amd64 or linux/arm/v7)"
            )),
        }
    }

    /// The platform of an image config.
    pub fn of_config(config: &crate::image::ImageConfig) -> Platform {
        Platform {
            os: config.os.clone(),
            architecture: config.architecture.clone(),
            variant: config.variant.clone().filter(|v| !v.is_empty()),
        }
    }

    /// containerd's canonical form (see the module docs).
    pub fn normalize(&self) -> Platform {
        let os = self.os.to_ascii_lowercase();
        let os = if os == "macos" { "darwin".to_string() } else { os };
        let variant = self
            .variant
            .as_deref()
            .map(str::to_ascii_lowercase)
            .filter(|v| !v.is_empty());
        let (architecture, variant) = match (self.architecture.to_ascii_lowercase().as_str(), variant) {
            ("i386" | "i486" | "i586" | "i686" | "x86" | "386", _) => ("386".to_string(), None),
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64".to_string(), v.filter(|v| v != "v1")),
            ("aarch64" | "arm64", v) => (
                "arm64".to_string(),
                v.filter(|v| !matches!(v.as_str(), "8" | "v8" | "v8.0")),
            ),
            ("armhf", _) => ("arm".to_string(), Some("v7".to_string())),
            ("armel", _) => ("arm".to_string(), Some("v6".to_string())),
            ("arm", None) => ("arm".to_string(), Some("v7".to_string())),
            ("arm", Some(v)) => (
                "arm".to_string(),
                Some(if v.starts_with('v') { v } else { format!("v{v}") }),
            ),
            ("powerpc64le" | "ppc64le", v) => ("ppc64le".to_string(), v),
            (other, v) => (other.to_string(), v),
        };
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// Whether two platforms are the same after normalisation (`linux/aarch64` matches
    /// `linux/arm64/v8`; `linux/arm` matches `linux/arm/v7` but not `linux/arm/v6`).
    pub fn matches(&self, other: &Platform) -> bool {
        self.normalize() == other.normalize()
    }

    /// Whether a program of this platform runs on a `host` machine without emulation: the
    /// same OS and architecture (any variant), 32-bit x86 on amd64, 32-bit arm on arm64
    /// (where the CPU has AArch32; `runner::binfmt` prefers a registered handler there).
    pub fn runs_natively_on(&self, host: &Platform) -> bool {
        let (p, h) = (self.normalize(), host.normalize());
        p.os == h.os
            && (p.architecture == h.architecture
                || (p.architecture == "386" && h.architecture == "amd64")
                || (p.architecture == "arm" && h.architecture == "arm64"))
    }

    /// The architecture's name as `uname -m` reports it inside such a container
    /// (`aarch64`, `x86_64`, `armv7l`), when known.
    pub fn uname_machine(&self) -> Option<&'static str> {
        let p = self.normalize();
        Some(match (p.architecture.as_str(), p.variant.as_deref()) {
            ("amd64", _) => "x86_64",
            ("386", _) => "i686",
            ("arm64", _) => "aarch64",
            ("arm", Some("v7")) => "armv7l",
            ("arm", Some("v6")) => "armv6l",
            ("arm", Some("v5")) => "armv5l",
            ("riscv64", _) => "riscv64",
            ("ppc64le", _) => "ppc64le",
            ("s390x", _) => "s390x",
            ("mips64le", _) => "mips64",
            ("loong64", _) => "loongarch64",
            _ => return None,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Platform, String> {
        Platform::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn names_normalise_like_containerd() {
        let n = |s: &str| p(s).normalize().to_string();
        assert_eq!(n("linux/aarch64"), "linux/arm64");
        assert_eq!(n("linux/arm64/v8"), "linux/arm64");
        assert_eq!(n("linux/arm64/v9"), "linux/arm64/v9");
        assert_eq!(n("linux/x86_64"), "linux/amd64");
        assert_eq!(n("linux/x86-64"), "linux/amd64");
        assert_eq!(n("linux/amd64/v1"), "linux/amd64");
        assert_eq!(n("linux/amd64/v3"), "linux/amd64/v3");
        assert_eq!(n("linux/armhf"), "linux/arm/v7");
        assert_eq!(n("linux/armel"), "linux/arm/v6");
        assert_eq!(n("linux/arm"), "linux/arm/v7");
        assert_eq!(n("linux/arm/6"), "linux/arm/v6");
        assert_eq!(n("linux/i386"), "linux/386");
        assert_eq!(n("linux/i686"), "linux/386");
        assert_eq!(n("Linux/AMD64"), "linux/amd64");
        assert_eq!(n("linux/s390x"), "linux/s390x");
    }

    #[test]
    fn platforms_match_after_normalisation() {
        assert!(p("linux/aarch64").matches(&p("linux/arm64/v8")));
        assert!(p("linux/arm").matches(&p("linux/arm/v7")));
        assert!(!p("linux/arm").matches(&p("linux/arm/v6")));
        assert!(p("linux/x86_64").matches(&p("linux/amd64")));
        assert!(!p("linux/amd64").matches(&p("linux/arm64")));
        assert!(!p("linux/amd64").matches(&p("windows/amd64")));
        assert!(p("linux/386").matches(&p("linux/i386")));
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/arm64").variant, None);
        assert_eq!(
            "linux/amd64".parse::<Platform>().unwrap(),
            Platform::new("linux", "amd64")
        );
        for bad in [
            "linux",
            "",
            "linux/",
            "/amd64",
            "linux/arm/v7/x",
            "linux/a md64",
            "linux//v7",
        ] {
            let e = Platform::parse(bad).unwrap_err();
            assert!(e.starts_with("invalid platform"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_host_is_a_normalised_linux_platform() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        assert_eq!(h, h.normalize());
        #[cfg(target_arch = "x86_64")]
        assert_eq!(h.to_string(), "linux/amd64");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(h.to_string(), "linux/arm64");
    }

    #[test]
    fn serde_is_the_oci_platform_object() {
        let json = r#"{"os":"linux","architecture":"arm","variant":"v7"}"#;
        let v: Platform = serde_json::from_str(json).unwrap();
        assert_eq!(v, p("linux/arm/v7"));
        assert_eq!(serde_json::to_string(&v).unwrap(), json);
        assert_eq!(
            serde_json::to_string(&p("linux/amd64")).unwrap(),
            r#"{"os":"linux","architecture":"amd64"}"#
        );
        // Other keys of the OCI object (os.version, os.features) are accepted.
        let w: Platform =
            serde_json::from_str(r#"{"os":"windows","architecture":"amd64","os.version":"10.0"}"#).unwrap();
        assert_eq!(w.to_string(), "windows/amd64");
    }

    #[test]
    fn uname_names() {
        assert_eq!(p("linux/arm64").uname_machine(), Some("aarch64"));
        assert_eq!(p("linux/amd64").uname_machine(), Some("x86_64"));
        assert_eq!(p("linux/arm").uname_machine(), Some("armv7l"));
        assert_eq!(p("linux/sparc").uname_machine(), None);
    }
}
