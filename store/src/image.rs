//! OCI image data: manifest and config (the fields slipway reads and writes), and image
//! names. Pure data and string rules; the store's I/O stays in `lib.rs`.
//! <https://github.com/opencontainers/image-spec/blob/main/manifest.md>,
//! <https://github.com/opencontainers/image-spec/blob/main/config.md>

use crate::{Descriptor, Digest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An OCI image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: RunConfig,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// The defaults a container of the image runs with (the config's `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Docker extensions, kept as they come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "OnBuild")]
    pub on_build: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// Docker Hub's registry name in full references.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Normalises an image name as Docker does, for the store's refs: `busybox` →
/// `docker.io/library/busybox:latest`, `me/app:1` → `docker.io/me/app:1`,
/// `localhost:5000/x` → `localhost:5000/x:latest`; `name@sha256:…` keeps its digest.
/// Errors name what is wrong.
pub fn normalize_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("empty image name".into());
    }
    let (rest, digest) = match name.split_once('@') {
        Some((r, d)) => (r, Some(d.parse::<Digest>()?)),
        None => (name, None),
    };
    // The tag is after the last ':' that comes after the last '/'.
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    let mut parts: Vec<&str> = repo.split('/').collect();
    let first = parts[0];
    let has_registry = parts.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost");
    let registry = if has_registry {
        parts.remove(0)
    } else {
        DEFAULT_REGISTRY
    };
    if registry == DEFAULT_REGISTRY && parts.len() == 1 {
        parts.insert(0, "library");
    }
    for p in &parts {
        let ok = !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && p.as_bytes()[0].is_ascii_alphanumeric();
        if !ok {
            return Err(format!(
                "invalid image name {name:?}: path components are lowercase letters, digits and . _ -"
            ));
        }
    }
    let mut out = format!("{registry}/{}", parts.join("/"));
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err(format!("invalid tag {t:?} in image name {name:?}"));
        }
    }
    match (tag, digest) {
        (t, Some(d)) => {
            if let Some(t) = t {
                out.push(':');
                out.push_str(t);
            }
            out.push('@');
            out.push_str(d.as_str());
        }
        (Some(t), None) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
    }
    Ok(out)
}

/// The short form Docker shows: `docker.io/library/busybox:latest` → `busybox:latest`.
pub fn familiar_name(full: &str) -> &str {
    full.strip_prefix("docker.io/library/")
        .or_else(|| full.strip_prefix("docker.io/"))
        .unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_like_docker() {
        let n = |s: &str| normalize_name(s).unwrap_or_else(|e| format!("error: {e}"));
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(n("me/app"), "docker.io/me/app:latest");
        assert_eq!(n("docker.io/library/redis:7"), "docker.io/library/redis:7");
        assert_eq!(n("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(n("localhost/x:t"), "localhost/x:t");
        assert_eq!(n("ghcr.io/o/r/s:v1.2"), "ghcr.io/o/r/s:v1.2");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(n(&format!("alpine@{d}")), format!("docker.io/library/alpine@{d}"));
        assert!(n("Busybox").starts_with("error: invalid image name"));
        assert!(n("x:").starts_with("error: invalid tag"));
        assert!(n("").starts_with("error"));
        assert_eq!(familiar_name("docker.io/library/busybox:latest"), "busybox:latest");
        assert_eq!(familiar_name("docker.io/me/app:1"), "me/app:1");
        assert_eq!(familiar_name("ghcr.io/o/r:1"), "ghcr.io/o/r:1");
    }

    #[test]
    fn config_round_trips_with_docker_field_names() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"x","empty_layer":true}]}"#;
        let c: ImageConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(serde_json::to_string(&c).unwrap(), json);
    }
}
