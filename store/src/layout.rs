//! Other OCI image layouts on disk (what `FROM oci-layout://PATH[:tag|@digest]` and
//! `slipway image load DIR` read): parse a reference, read `index.json`, find the
//! descriptor a tag or digest names. Reading only; copying blobs into the store is the
//! runner's.
//! <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>

use crate::{Descriptor, Digest, REF_NAME};
use serde::Deserialize;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The prefix of a base image that lives in an OCI layout directory.
pub const SCHEME: &str = "oci-layout://";

/// `PATH[:tag|@digest]` inside an OCI layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRef {
    pub path: PathBuf,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// Parses `PATH[:tag|@sha256:…]` (without the `oci-layout://` scheme). The tag is what
/// follows the last `:` of the last path component.
pub fn parse_reference(s: &str) -> Result<LayoutRef, String> {
    let (rest, digest) = match s.rsplit_once('@') {
        Some((r, d)) if d.starts_with("sha256:") || !d.contains('/') => (r, Some(d.parse::<Digest>()?)),
        _ => (s, None),
    };
    let name_start = rest.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match rest[name_start..].rfind(':') {
        Some(i) if digest.is_none() => (&rest[..name_start + i], Some(&rest[name_start + i + 1..])),
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err(format!("{SCHEME}{s}: no path (want {SCHEME}PATH[:tag|@sha256:…])"));
    }
    if tag == Some("") {
        return Err(format!("{SCHEME}{s}: empty tag after ':'"));
    }
    Ok(LayoutRef {
        path: PathBuf::from(path),
        tag: tag.map(str::to_string),
        digest,
    })
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The path of a blob inside a layout.
pub fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(digest.hex())
}

/// The descriptors of a layout's `index.json`, after checking its `oci-layout` file.
pub fn read_index(dir: &Path) -> io::Result<Vec<Descriptor>> {
    let marker = dir.join("oci-layout");
    let text = fs::read_to_string(&marker).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{} is not an OCI image layout ({}: {e}; want a directory with oci-layout, index.json and blobs/)",
                dir.display(),
                marker.display()
            ),
        )
    })?;
    let version: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("{}: {e}", marker.display())))?;
    match version.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(v) if v.starts_with("1.") => {}
        other => {
            return Err(invalid(format!(
                "{}: unsupported imageLayoutVersion {other:?} (want 1.x)",
                marker.display()
            )))
        }
    }
    let p = dir.join("index.json");
    let bytes = fs::read(&p).map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", p.display())))?;
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{}: {e}", p.display())))?;
    Ok(index.manifests)
}

/// The tag of an `index.json` entry (`org.opencontainers.image.ref.name`).
pub fn tag_of(d: &Descriptor) -> Option<&str> {
    d.annotations.get(REF_NAME).map(String::as_str)
}

/// The descriptor `r` names in its layout: the entry with that tag, the entry (or any
/// blob) with that digest, or — with neither — the only entry, else the one tagged `latest`.
pub fn resolve(r: &LayoutRef) -> io::Result<Descriptor> {
    let entries = read_index(&r.path)?;
    let shown = || {
        let tags: Vec<&str> = entries.iter().filter_map(tag_of).collect();
        if tags.is_empty() {
            "it has no tagged manifests".to_string()
        } else {
            format!("its tags: {}", tags.join(", "))
        }
    };
    if let Some(digest) = &r.digest {
        if let Some(d) = entries.iter().find(|d| d.digest == *digest) {
            return Ok(d.clone());
        }
        let p = blob_path(&r.path, digest);
        let bytes = fs::read(&p).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("no manifest {digest} in the OCI layout {}", r.path.display()),
            )
        })?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| crate::MEDIA_MANIFEST.to_string());
        return Ok(Descriptor {
            media_type,
            digest: digest.clone(),
            size: bytes.len() as u64,
            annotations: Default::default(),
        });
    }
    let found = match &r.tag {
        Some(t) => entries.iter().find(|d| tag_of(d) == Some(t.as_str())),
        None if entries.len() == 1 => entries.first(),
        None => entries.iter().find(|d| tag_of(d) == Some("latest")),
    };
    found.cloned().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no manifest tagged {} in the OCI layout {} ({}; name one with {SCHEME}PATH:TAG or @sha256:…)",
                r.tag.as_deref().unwrap_or("latest"),
                r.path.display(),
                shown()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_path_tag_and_digest() {
        let p = |s: &str| parse_reference(s).map(|r| (r.path.display().to_string(), r.tag, r.digest.map(String::from)));
        assert_eq!(p("/a/b").unwrap(), ("/a/b".into(), None, None));
        assert_eq!(p("/a/b:v1").unwrap(), ("/a/b".into(), Some("v1".into()), None));
        assert_eq!(p("rel:x").unwrap(), ("rel".into(), Some("x".into()), None));
        // A ':' in a directory name is part of the path.
        assert_eq!(p("/a:b/c").unwrap(), ("/a:b/c".into(), None, None));
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(p(&format!("/a@{d}")).unwrap(), ("/a".into(), None, Some(d.clone())));
        assert!(p("/a@sha256:zz").unwrap_err().contains("invalid sha256"));
        assert!(p(":x").unwrap_err().contains("no path"));
        assert!(p("/a:").unwrap_err().contains("empty tag"));
    }

    #[test]
    fn resolve_by_tag_digest_or_only_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        let m = store
            .put_blob(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#)
            .unwrap();
        let desc = Descriptor {
            media_type: crate::MEDIA_MANIFEST.into(),
            digest: m.clone(),
            size: 1,
            annotations: Default::default(),
        };
        // No entries at all.
        let r = |s: &str| parse_reference(&format!("{}{s}", dir.path().display()));
        let e = resolve(&r("").unwrap()).unwrap_err();
        assert!(e.to_string().contains("no tagged manifests"), "{e}");
        store.set_ref("v1", desc.clone()).unwrap();
        assert_eq!(resolve(&r("").unwrap()).unwrap().digest, m, "the only entry");
        assert_eq!(resolve(&r(":v1").unwrap()).unwrap().digest, m);
        let e = resolve(&r(":v2").unwrap()).unwrap_err();
        assert!(e.to_string().contains("its tags: v1"), "{e}");
        assert_eq!(resolve(&r(&format!("@{m}")).unwrap()).unwrap().digest, m);
        let e = resolve(&parse_reference("/nonexistent/x").unwrap()).unwrap_err();
        assert!(e.to_string().contains("is not an OCI image layout"), "{e}");
    }
}
