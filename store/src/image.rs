//! OCI image data: manifest and config (the fields slipway reads and writes), and image
//! names. Pure data and string rules; the store's I/O stays in `lib.rs`.
//! <https://github.com/opencontainers/image-spec/blob/main/manifest.md>,
//! <https://github.com/opencontainers/image-spec/blob/main/config.md>

use crate::platform::Platform;
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

/// Docker's media type for a manifest list (an index).
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Whether a descriptor's media type is an image index (OCI, or Docker's manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == crate::MEDIA_INDEX || media_type == MEDIA_DOCKER_LIST
}

/// An OCI image index: manifests for several platforms under one name.
/// <https://github.com/opencontainers/image-spec/blob/main/image-index.md>
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIndex {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<IndexEntry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One manifest of an index, with the platform it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    #[serde(flatten)]
    pub descriptor: Descriptor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl ImageIndex {
    /// An OCI index of `entries` (manifest descriptors with their platforms), in that order.
    pub fn of(entries: &[(Descriptor, Platform)]) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(crate::MEDIA_INDEX.into()),
            manifests: entries
                .iter()
                .map(|(d, p)| IndexEntry {
                    descriptor: Descriptor {
                        annotations: d
                            .annotations
                            .iter()
                            .filter(|(k, _)| k.as_str() != crate::REF_NAME)
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        ..d.clone()
                    },
                    platform: Some(p.clone()),
                })
                .collect(),
            annotations: BTreeMap::new(),
        }
    }

    /// The entry for `platform`: one with exactly that platform, else the first that
    /// [`Platform::matches`] it. Entries without a platform, and attestation manifests
    /// (`unknown/unknown`), are never chosen.
    pub fn select(&self, platform: &Platform) -> Option<&IndexEntry> {
        self.manifests
            .iter()
            .find(|e| e.platform.as_ref() == Some(platform))
            .or_else(|| {
                self.manifests
                    .iter()
                    .find(|e| e.platform.as_ref().is_some_and(|p| p.matches(platform)))
            })
    }

    /// The platforms of the entries, in order, without attestations (`unknown/unknown`).
    pub fn platforms(&self) -> Vec<Platform> {
        self.manifests
            .iter()
            .filter_map(|e| e.platform.clone())
            .filter(|p| p.os != "unknown")
            .collect()
    }
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
    fn an_index_round_trips_and_selects_platforms() {
        let d = |c: char, annotations: &[(&str, &str)]| Descriptor {
            media_type: crate::MEDIA_MANIFEST.into(),
            digest: format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap(),
            size: 7,
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let p = |s: &str| Platform::parse(s).unwrap();
        let index = ImageIndex::of(&[
            (d('a', &[(crate::REF_NAME, "x:1")]), p("linux/amd64")),
            (d('b', &[("k", "v")]), p("linux/arm64/v8")),
        ]);
        let json = serde_json::to_string(&index).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{m}","digest":"sha256:{a}","size":7,"platform":{{"os":"linux","architecture":"amd64"}}}},{{"mediaType":"{m}","digest":"sha256:{b}","size":7,"annotations":{{"k":"v"}},"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#,
                crate::MEDIA_INDEX,
                m = crate::MEDIA_MANIFEST,
                a = "a".repeat(64),
                b = "b".repeat(64)
            ),
            "the ref name is not copied into the index"
        );
        let back: ImageIndex = serde_json::from_str(&json).unwrap();
        assert_eq!(back, index);
        let pick = |s: &str| index.select(&p(s)).map(|e| e.descriptor.digest.hex()[..1].to_string());
        assert_eq!(pick("linux/amd64").as_deref(), Some("a"));
        assert_eq!(pick("linux/x86_64").as_deref(), Some("a"));
        assert_eq!(pick("linux/arm64").as_deref(), Some("b"));
        assert_eq!(pick("linux/aarch64").as_deref(), Some("b"));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(index.platforms(), [p("linux/amd64"), p("linux/arm64/v8")]);
        assert!(is_index(crate::MEDIA_INDEX) && is_index(MEDIA_DOCKER_LIST) && !is_index(crate::MEDIA_MANIFEST));
    }

    #[test]
    fn config_round_trips_with_docker_field_names() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"x","empty_layer":true}]}"#;
        let c: ImageConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(serde_json::to_string(&c).unwrap(), json);
    }
}
