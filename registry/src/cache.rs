//! A build cache kept in a registry, so machines with empty stores get cache hits — the
//! role of BuildKit's `--cache-to type=registry`, without a cache server.
//!
//! The cache is an OCI image manifest (an artifact) under a tag of its own:
//! - `config` (media type [`MEDIA_CACHE_CONFIG`]) is a JSON [`CacheConfig`]: the cache
//!   records of the exported steps (key, step identity, inputs, result layer with its
//!   diff_id annotation) and the base images the keys start from (their manifest and config
//!   JSON inline, verified against their digests on import);
//! - `layers` are every layer blob those records and base images name, and — exported with
//!   `mounts=true` — the contents of the build's cache mounts (media type
//!   [`MEDIA_CACHE_MOUNT`], listed in the config's `mounts` by identity).
//!
//! An image manifest rather than an index, so registries that check an index's entries are
//! manifests (distribution 2.8 does) accept it. Import fetches the missing layers, writes the
//! records the store lacks and names the base images the store lacks; planning then finds
//! the keys. Nothing is trusted unverified: blobs by digest, base manifests and configs by
//! the digests the records' keys were made from.

use crate::pull::{fetch_blobs, get_manifest};
use crate::push::{push_blobs, put_manifest, PushOptions};
use crate::reference::Reference;
use crate::{Client, Error, Progress};
use serde::{Deserialize, Serialize};
use slipway_store::image::Manifest;
use slipway_store::mounts::{MountSnapshot, MEDIA_CACHE_MOUNT, MOUNT_ID_ANNOTATION};
use slipway_store::{CacheRecord, Descriptor, Digest, Store, MEDIA_MANIFEST};
use std::collections::BTreeMap;

pub const MEDIA_CACHE_CONFIG: &str = "application/vnd.slipway.cache.config.v1+json";
pub const ARTIFACT_TYPE: &str = "application/vnd.slipway.cache.v1";

/// The cache's config blob.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheConfig {
    pub version: u32,
    pub records: Vec<CacheRecord>,
    #[serde(default)]
    pub bases: Vec<BaseImage>,
    /// Cache mounts' contents (`mounts=true`), by mount identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<CachedMount>,
}

/// A cache mount's contents in the cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedMount {
    #[serde(flatten)]
    pub mount: slipway_store::mounts::CacheMount,
    /// A tar of the directory's entries, zstd-compressed ([`MEDIA_CACHE_MOUNT`]).
    pub layer: Descriptor,
}

/// A `--cache-to` / `--cache-from` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    /// `ref=`: where the cache is.
    pub reference: String,
    /// `mounts=true|false`: export the cache mounts' contents (`--cache-to`, default no),
    /// restore them (`--cache-from`, default yes). None when not given.
    pub mounts: Option<bool>,
}

/// A base image carried with the cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaseImage {
    /// The store's name (`docker.io/library/alpine:latest`).
    pub name: String,
    pub manifest: Descriptor,
    /// The manifest and config, byte for byte.
    pub manifest_json: String,
    pub config_json: String,
}

/// `--cache-to` / `--cache-from` values: `type=registry,ref=REF[,mode=max][,mounts=true]`.
/// `mode` and `ignore-error` are accepted for BuildKit compatibility; slipway always exports
/// every step of the build (BuildKit's `mode=max`), and a failed import is always a warning.
pub fn parse_spec(spec: &str) -> Result<CacheSpec, String> {
    let fields: Vec<(&str, &str)> = spec.split(',').map(|f| f.split_once('=').unwrap_or((f, ""))).collect();
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    match get("type") {
        Some("registry") => {}
        Some(other) => {
            return Err(format!(
                "cache spec {spec:?}: type {other:?} is not supported (only type=registry)"
            ))
        }
        None => return Err(format!("cache spec {spec:?}: type=registry is required")),
    }
    if let Some((k, v)) = fields.iter().find(|(k, v)| {
        !matches!(
            (*k, *v),
            ("type" | "ref" | "ignore-error", _) | ("mode", "max" | "min") | ("mounts", "true" | "false")
        )
    }) {
        return Err(format!(
            "cache spec {spec:?}: unknown field \"{k}={v}\" (want type=registry,ref=REGISTRY/REPO:TAG[,mounts=true])"
        ));
    }
    let reference = get("ref");
    let r = reference.ok_or_else(|| format!("cache spec {spec:?}: ref=REGISTRY/REPO:TAG is required"))?;
    Reference::parse(r).map_err(|e| format!("cache spec {spec:?}: {e}"))?;
    Ok(CacheSpec {
        reference: r.to_string(),
        mounts: get("mounts").map(|v| v == "true"),
    })
}

/// What an export did.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    pub records: usize,
    pub layers: usize,
    pub uploaded: usize,
    /// Cache mounts exported, and how many of their blobs went up.
    pub mounts: usize,
    pub mounts_uploaded: usize,
    pub digest: Option<Digest>,
}

/// What goes into an exported cache.
pub struct Contents<'a> {
    pub records: &'a [CacheRecord],
    /// Store names of the base images.
    pub bases: &'a [String],
    /// Cache mounts' contents: blobs in the store, or (carried on from an imported cache)
    /// held by a registry the store knows.
    pub mounts: &'a [MountSnapshot],
}

/// Exports `contents` (records with their layers, base images, cache mounts) as a cache at
/// `target`.
pub fn export(
    client: &Client,
    store: &Store,
    contents: &Contents<'_>,
    target: &str,
    progress: &dyn Progress,
) -> Result<Exported, Error> {
    let Contents { records, bases, mounts } = *contents;
    let r = Reference::parse(target).map_err(Error::Invalid)?;
    let ep = client.registries().endpoint(&r.registry);
    let mut layers: Vec<Descriptor> = Vec::new();
    let push_layer = |d: &Descriptor, layers: &mut Vec<Descriptor>| {
        if !layers.iter().any(|l| l.digest == d.digest) {
            layers.push(d.clone());
        }
    };
    let mut kept = Vec::new();
    for rec in records {
        match &rec.result {
            Some(d) if store.has_blob(&d.digest) => {
                push_layer(d, &mut layers);
                kept.push(rec.clone());
            }
            Some(_) => {}
            None => kept.push(rec.clone()),
        }
    }
    let mut base_images = Vec::new();
    for name in bases {
        let Some(desc) = store.get_ref(name)? else { continue };
        let manifest_bytes = store.get_blob(&desc.digest)?;
        let m: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::Invalid(format!("manifest of {name} in the store: {e}")))?;
        let config_bytes = store.get_blob(&m.config.digest)?;
        for l in &m.layers {
            push_layer(l, &mut layers);
        }
        let mut manifest = desc.clone();
        manifest.annotations.clear();
        base_images.push(BaseImage {
            name: name.clone(),
            manifest,
            manifest_json: String::from_utf8(manifest_bytes)
                .map_err(|_| Error::Invalid(format!("manifest of {name} is not UTF-8")))?,
            config_json: String::from_utf8(config_bytes)
                .map_err(|_| Error::Invalid(format!("config of {name} is not UTF-8")))?,
        });
    }
    // A mount carried on from an imported cache may be only in the registry: when the
    // target repository lacks it, it is fetched first, to be pushed like the rest.
    let mut cached_mounts = Vec::new();
    let mut mount_blobs: Vec<Descriptor> = Vec::new();
    for m in mounts {
        let mut d = m.layer.clone();
        d.media_type = MEDIA_CACHE_MOUNT.into();
        if !store.has_blob(&d.digest) && !crate::push::blob_exists(client, &ep, &r.repository, &d.digest, true)? {
            // Not fetched, the mount is left out: it is a cache.
            if let Err(e) = fetch_remote(client, store, std::slice::from_ref(&d), 1, progress) {
                progress.note(&format!("cache mount {} left out: {e}", m.mount.label()));
            }
            if !store.has_blob(&d.digest) {
                continue;
            }
        }
        cached_mounts.push(CachedMount {
            mount: m.mount.clone(),
            layer: d.clone(),
        });
        d.annotations.insert(MOUNT_ID_ANNOTATION.into(), m.mount.id.clone());
        if !layers.iter().any(|l| l.digest == d.digest) {
            mount_blobs.push(d.clone());
            layers.push(d);
        }
    }
    let config = CacheConfig {
        version: 1,
        records: kept,
        bases: base_images,
        mounts: cached_mounts,
    };
    let config_bytes = serde_json::to_vec(&config).map_err(std::io::Error::other)?;
    let config_desc = Descriptor {
        media_type: MEDIA_CACHE_CONFIG.into(),
        digest: store.put_blob(&config_bytes)?,
        size: config_bytes.len() as u64,
        annotations: BTreeMap::new(),
    };
    // What only the registry holds (checked above) is not pushed again.
    let mut blobs: Vec<Descriptor> = layers.iter().filter(|l| store.has_blob(&l.digest)).cloned().collect();
    blobs.push(config_desc.clone());
    let outcomes = push_blobs(
        client,
        store,
        &ep,
        &r.repository,
        &blobs,
        &PushOptions::default(),
        progress,
    )?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": config_desc,
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(std::io::Error::other)?;
    let digest = put_manifest(
        client,
        &ep,
        &r.repository,
        &r.version(),
        MEDIA_MANIFEST,
        &manifest_bytes,
    )?;
    let uploaded = |b: &Descriptor| {
        blobs
            .iter()
            .zip(&outcomes)
            .any(|(x, o)| x.digest == b.digest && *o == crate::push::BlobOutcome::Uploaded)
    };
    Ok(Exported {
        records: config.records.len(),
        layers: layers.len(),
        uploaded: outcomes
            .iter()
            .filter(|o| **o == crate::push::BlobOutcome::Uploaded)
            .count(),
        mounts: config.mounts.len(),
        mounts_uploaded: mount_blobs.iter().filter(|b| uploaded(b)).count(),
        digest: Some(digest),
    })
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Parallel downloads.
    pub jobs: usize,
    /// Only the manifest and the cache config: every blob stays in the registry until a
    /// build fetches it.
    pub lazy: bool,
    /// Record the cache mounts' contents as seeds, restored when a RUN that uses a mount
    /// runs in a store without its directory.
    pub mounts: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            jobs: 4,
            lazy: true,
            mounts: true,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Records in the cache, and how many the store did not have.
    pub records: usize,
    pub new_records: usize,
    /// Layers downloaded.
    pub fetched: usize,
    /// Base images named in the store by the import.
    pub bases: Vec<String>,
    /// Cache mounts recorded as seeds.
    pub mounts: usize,
}

/// Imports the cache at `source` into the store. With `lazy`, only the manifest and the
/// cache config (the records, the base images' manifests and configs: kilobytes) are
/// fetched; every layer stays in the registry, recorded as held there
/// ([`Store::record_origin`], [`Store::mark_remote`]), until a build fetches the ones it
/// reuses ([`fetch_remote`]). A plan needs nothing more. With `mounts`, the cache mounts'
/// contents become the store's seeds of those mounts (`Store::set_mount_seed`).
pub fn import(
    client: &Client,
    store: &Store,
    source: &str,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<Imported, Error> {
    let ImportOptions { jobs, lazy, mounts } = *options;
    // Blobs land before a cache record names them: no prune meanwhile.
    let _in_use = store.lock_in_use()?;
    let r = Reference::parse(source).map_err(Error::Invalid)?;
    let ep = client.registries().endpoint(&r.registry);
    let repo = &r.repository;
    let (bytes, _media_type, _digest) = get_manifest(client, &ep, repo, &r.version(), r.digest.as_ref())?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("{source} is not a slipway cache: {e}")))?;
    if manifest.config.media_type != MEDIA_CACHE_CONFIG {
        return Err(Error::Invalid(format!(
            "{source} is not a slipway cache (its config is {}; export one with `slipway build --cache-to type=registry,ref={source}`)",
            manifest.config.media_type
        )));
    }
    if manifest.config.size > 64 << 20 {
        return Err(Error::Invalid(format!("{source}: the cache config is too large")));
    }
    fetch_blobs(
        client,
        store,
        &ep,
        repo,
        std::slice::from_ref(&manifest.config),
        1,
        progress,
    )?;
    let config: CacheConfig = serde_json::from_slice(&store.get_blob(&manifest.config.digest)?)
        .map_err(|e| Error::Invalid(format!("{source}: invalid cache config: {e}")))?;
    if config.version != 1 {
        return Err(Error::Invalid(format!(
            "{source}: cache format version {} is not supported (this slipway reads version 1)",
            config.version
        )));
    }
    let fetched = if lazy {
        for l in &manifest.layers {
            store.record_origin(&l.digest, &ep.host, repo);
            if !store.has_blob(&l.digest) {
                store.mark_remote(&l.digest)?;
            }
        }
        0
    } else {
        // Every layer, and the cache mounts' contents only when they are wanted.
        let wanted: Vec<Descriptor> = manifest
            .layers
            .iter()
            .filter(|l| {
                mounts
                    || l.media_type != MEDIA_CACHE_MOUNT
                    || config
                        .records
                        .iter()
                        .any(|r| r.result.as_ref().is_some_and(|d| d.digest == l.digest))
            })
            .cloned()
            .collect();
        for l in &manifest.layers {
            store.record_origin(&l.digest, &ep.host, repo);
        }
        fetch_blobs(client, store, &ep, repo, &wanted, jobs, progress)?.0
    };
    let listed = |d: &Digest| store.has_blob(d) || manifest.layers.iter().any(|l| &l.digest == d);
    let mut imported = Imported {
        records: config.records.len(),
        fetched,
        ..Imported::default()
    };
    for base in &config.bases {
        let m = base.manifest_json.as_bytes();
        if Digest::of(m) != base.manifest.digest {
            return Err(Error::Invalid(format!(
                "{source}: the manifest of base image {} does not match its digest {}",
                base.name, base.manifest.digest
            )));
        }
        let parsed: Manifest = serde_json::from_slice(m)
            .map_err(|e| Error::Invalid(format!("{source}: manifest of base image {}: {e}", base.name)))?;
        if Digest::of(base.config_json.as_bytes()) != parsed.config.digest {
            return Err(Error::Invalid(format!(
                "{source}: the config of base image {} does not match its digest",
                base.name
            )));
        }
        if parsed.layers.iter().any(|l| !listed(&l.digest)) {
            return Err(Error::Invalid(format!(
                "{source}: a layer of base image {} is missing from the cache",
                base.name
            )));
        }
        store.put_blob(base.config_json.as_bytes())?;
        store.put_blob(m)?;
        if store.get_ref(&base.name)?.is_none() {
            store.set_ref(&base.name, base.manifest.clone())?;
            imported.bases.push(base.name.clone());
        }
    }
    for rec in &config.records {
        if rec.key.is_empty() || !rec.key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Invalid(format!("{source}: invalid cache key {:?}", rec.key)));
        }
        if let Some(d) = &rec.result {
            if !listed(&d.digest) {
                return Err(Error::Invalid(format!(
                    "{source}: layer {} of a cache record is missing from the cache",
                    d.digest
                )));
            }
        }
        if store.get_cache(&rec.key)?.is_none() {
            store.put_cache(rec)?;
            imported.new_records += 1;
        }
    }
    if mounts {
        for m in &config.mounts {
            if m.mount.id.is_empty() || m.layer.media_type != MEDIA_CACHE_MOUNT {
                return Err(Error::Invalid(format!(
                    "{source}: invalid cache mount {:?} ({})",
                    m.mount.id, m.layer.media_type
                )));
            }
            if !listed(&m.layer.digest) {
                return Err(Error::Invalid(format!(
                    "{source}: the contents of cache mount {} are missing from the cache",
                    m.mount.label()
                )));
            }
            if !store.has_blob(&m.layer.digest) {
                store.mark_remote(&m.layer.digest)?;
            }
            store.set_mount_seed(&MountSnapshot {
                mount: m.mount.clone(),
                layer: m.layer.clone(),
                fingerprint: String::new(),
            })?;
            imported.mounts += 1;
        }
    }
    Ok(imported)
}

/// Fetches the blobs of `blobs` the store lacks from the registry repositories known to
/// hold them (see [`import`] with `lazy`); returns how many were fetched and their bytes.
/// A blob no registry is known to hold is left out: the build then runs its step again.
pub fn fetch_remote(
    client: &Client,
    store: &Store,
    blobs: &[Descriptor],
    jobs: usize,
    progress: &dyn Progress,
) -> Result<(usize, u64), Error> {
    let _in_use = store.lock_in_use()?;
    let mut by_repo: BTreeMap<String, Vec<Descriptor>> = BTreeMap::new();
    for b in blobs {
        if store.has_blob(&b.digest) {
            continue;
        }
        if let Some(origin) = store.origins(&b.digest).into_iter().next() {
            let list = by_repo.entry(origin).or_default();
            if !list.iter().any(|d| d.digest == b.digest) {
                list.push(b.clone());
            }
        }
    }
    let (mut count, mut bytes) = (0, 0);
    for (origin, list) in by_repo {
        // `host/repo`, where host may carry a port but never a `/`.
        let Some((host, repo)) = origin.split_once('/') else {
            continue;
        };
        let ep = client.registries().endpoint(host);
        let (c, b) = fetch_blobs(client, store, &ep, repo, &list, jobs, progress)?;
        count += c;
        bytes += b;
    }
    Ok((count, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_specs() {
        assert_eq!(
            parse_spec("type=registry,ref=localhost:5000/cache:main").unwrap(),
            CacheSpec {
                reference: "localhost:5000/cache:main".into(),
                mounts: None
            }
        );
        assert_eq!(
            parse_spec("type=registry,ref=r/c,mounts=true").unwrap().mounts,
            Some(true)
        );
        assert_eq!(
            parse_spec("type=registry,ref=r/c,mounts=false").unwrap().mounts,
            Some(false)
        );
        assert!(parse_spec("type=registry,ref=r/c,mounts=yes")
            .unwrap_err()
            .contains("unknown field \"mounts=yes\""));
        assert!(parse_spec("type=registry,ref=r/c:1,mode=max").is_ok());
        assert!(parse_spec("type=local,dest=x")
            .unwrap_err()
            .contains("only type=registry"));
        assert!(parse_spec("ref=r/c").unwrap_err().contains("type=registry is required"));
        assert!(parse_spec("type=registry").unwrap_err().contains("ref="));
        assert!(parse_spec("type=registry,ref=Bad//x").is_err());
        assert!(parse_spec("type=registry,ref=r/c,oops=1")
            .unwrap_err()
            .contains("unknown field"));
    }
}
