//! `slipway prune`: frees what nothing needs. First the containers `slipway run` kept
//! (none runs while a prune holds the store) and the dangling images (untagged, as
//! `docker image prune` removes them). Then kept: every blob reachable from an image
//! (manifests, indexes, configs, layers) or named by a cache record's result, and the
//! compressed copies of those layers that a push or export made; the unpacked
//! layer dirs of those images and records. Removed: other blobs and unpacked layers, build
//! work dirs and temp files left by processes that are gone; with `all`, the cache records
//! and `RUN --mount=type=cache` dirs too.
//!
//! A prune holds the store's "in use" lock exclusively (builds, loads and running
//! containers hold it shared, so a blob about to be named is never taken) and the index
//! lock exclusively (no ref changes while it decides).

use crate::build::DIFF_ID_ANNOTATION;
use slipway_store::image::{ImageConfig, Manifest};
use slipway_store::{Descriptor, Digest, Store};
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

/// What to prune.
#[derive(Debug, Clone, Copy, Default)]
pub struct PruneOptions {
    /// Also drop every cache record and cache mount.
    pub all: bool,
}

/// What a prune freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub blobs: usize,
    pub blob_bytes: u64,
    pub layer_dirs: usize,
    pub layer_bytes: u64,
    /// Build work dirs, temp files and (with `all`) cache mounts.
    pub work: usize,
    pub work_bytes: u64,
    pub cache_records: usize,
    /// IDs of the stopped containers removed.
    pub containers: Vec<String>,
    /// IDs of the dangling images removed.
    pub images: Vec<Digest>,
}

impl Pruned {
    pub fn bytes(&self) -> u64 {
        self.blob_bytes + self.layer_bytes + self.work_bytes
    }
}

/// Bytes under a path (files' lengths; symlinks not followed).
fn size_of(p: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(p) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(p)
        .map(|rd| rd.filter_map(Result::ok).map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

fn remove(p: &Path) -> io::Result<u64> {
    let size = size_of(p);
    let r = if fs::symlink_metadata(p)?.is_dir() {
        crate::tree::remove(p)
    } else {
        fs::remove_file(p)
    };
    r.map_err(|e| io::Error::new(e.kind(), format!("cannot remove {}: {e}", p.display())))?;
    Ok(size)
}

/// Whether the process that named a temp entry (`<prefix><pid>-…`) is gone.
fn owner_gone(name: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|prefix| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists())
    })
}

/// Everything the refs and cache records reach: blob digests and layer diff_ids.
fn reachable(store: &Store, roots: Vec<Descriptor>) -> (BTreeSet<Digest>, BTreeSet<Digest>) {
    let (mut blobs, mut diff_ids) = (BTreeSet::new(), BTreeSet::new());
    let mut todo = roots;
    while let Some(d) = todo.pop() {
        if !blobs.insert(d.digest.clone()) {
            continue;
        }
        if let Some(id) = d.annotations.get(DIFF_ID_ANNOTATION).and_then(|v| v.parse().ok()) {
            diff_ids.insert(id);
        }
        let is_manifest = d.media_type.contains("manifest") || d.media_type.contains("image.index");
        if !is_manifest {
            continue;
        }
        // A missing or unreadable manifest keeps what is reachable so far (verify reports it).
        if let Ok(children) = store.references(&d) {
            todo.extend(children);
        }
        let config = store
            .get_blob(&d.digest)
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .and_then(|m| store.get_blob(&m.config.digest).ok())
            .and_then(|b| serde_json::from_slice::<ImageConfig>(&b).ok());
        if let Some(c) = config {
            diff_ids.extend(c.rootfs.diff_ids);
        }
    }
    (blobs, diff_ids)
}

/// Prunes the store. `waiting` is called once when a build, load or container holds the
/// store and the prune has to wait for it.
pub fn prune(store: &Store, options: PruneOptions, waiting: impl FnOnce()) -> io::Result<Pruned> {
    let _unused = match store.try_lock_unused()? {
        Some(l) => l,
        None => {
            waiting();
            store.lock_unused()?
        }
    };
    let index = store.lock_exclusive()?;
    let mut out = Pruned::default();
    if options.all {
        out.cache_records = store.clear_cache(&index)?;
        let mounts = store.root().join("cache-mounts");
        if mounts.is_dir() {
            for e in fs::read_dir(&mounts)? {
                out.work_bytes += remove(&e?.path())?;
                out.work += 1;
            }
        }
    }
    // Containers kept by `slipway run` without `--rm`: none runs now (a running one holds
    // the in-use lock), so every one is stopped.
    if let Ok(rd) = fs::read_dir(store.root().join("containers")) {
        let mut dirs: Vec<_> = rd.filter_map(Result::ok).collect();
        dirs.sort_by_key(fs::DirEntry::file_name);
        for e in dirs {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            out.work_bytes += remove(&e.path())?;
            out.containers.push(name);
        }
    }
    out.images = store
        .remove_dangling_locked(&index, |_| false)?
        .into_iter()
        .map(|d| {
            store
                .get_blob(&d.digest)
                .ok()
                .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
                .map_or(d.digest, |m| m.config.digest)
        })
        .collect();
    let mut roots: Vec<Descriptor> = store.images_locked(&index)?;
    roots.extend(store.cache_records()?.into_iter().filter_map(|r| r.result));
    let (mut keep, diff_ids) = reachable(store, roots);
    // The compressed copies of kept uncompressed layers (made by a push or an export) are
    // kept with them; a copy whose layer goes, goes too.
    let memos = crate::distribute::memos(store);
    for (_, tar, compressed) in &memos {
        if keep.contains(tar) {
            keep.insert(compressed.clone());
        }
    }

    let blob_dir = store.root().join("blobs/sha256");
    for d in store.blobs()? {
        if !keep.contains(&d) {
            out.blob_bytes += remove(&store.blob_path(&d))?;
            out.blobs += 1;
        }
    }
    for (memo, _, compressed) in &memos {
        if !keep.contains(compressed) {
            let _ = fs::remove_file(memo);
        }
    }
    for e in fs::read_dir(&blob_dir)? {
        let e = e?;
        if owner_gone(&e.file_name().to_string_lossy(), &[".tmp-"]) {
            out.work_bytes += remove(&e.path())?;
            out.work += 1;
        }
    }
    let layers = store.root().join("layers");
    if layers.is_dir() {
        for e in fs::read_dir(&layers)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if owner_gone(&name, &[".tmp-"]) {
                out.work_bytes += remove(&e.path())?;
                out.work += 1;
                continue;
            }
            let Ok(d) = format!("sha256:{name}").parse::<Digest>() else {
                continue;
            };
            if !diff_ids.contains(&d) {
                out.layer_bytes += remove(&e.path())?;
                out.layer_dirs += 1;
            }
        }
    }
    // Work dirs and temp files of builds, loads and imports whose process is gone.
    for (dir, prefixes) in [
        ("builds", &["", "from-"][..]),
        ("tmp", &["layer-", "load-"][..]),
        ("cache-mounts", &["from-"][..]),
    ] {
        let dir = store.root().join(dir);
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd {
            let e = e?;
            if owner_gone(&e.file_name().to_string_lossy(), prefixes) {
                out.work_bytes += remove(&e.path())?;
                out.work += 1;
            }
        }
    }
    // Interrupted downloads (kept for a resumed pull); no pull runs while prune holds the
    // in-use lock.
    if let Ok(rd) = fs::read_dir(store.root().join("partial")) {
        for e in rd {
            let e = e?;
            out.work_bytes += remove(&e.path())?;
            out.work += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image;
    use slipway_store::{CacheInputs, CacheRecord};
    use std::collections::BTreeMap;

    /// A dead process's id: a child that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[test]
    fn prune_keeps_what_refs_and_cache_records_reach() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path().join("store")).unwrap();
        let make = |name: &str, content: &str| {
            let rootfs = d.path().join(name);
            fs::create_dir_all(&rootfs).unwrap();
            fs::write(rootfs.join("f"), content).unwrap();
            image::import(&store, &rootfs, name).unwrap()
        };
        let kept = make("kept", "kept\n");
        let gone = make("gone", "gone\n");
        image::remove(&store, "gone", false).unwrap();
        // A cache record whose layer no image uses.
        let upper = d.path().join("upper");
        fs::create_dir_all(&upper).unwrap();
        fs::write(upper.join("cached"), "c\n").unwrap();
        // Uncompressed, as a build writes it; pushed once (a compressed copy remembered).
        let tar_options = crate::layer::LayerOptions {
            clamp: None,
            compression: crate::layer::Compression::None,
        };
        let layer = image::commit_layer(&store, &upper, &tar_options).unwrap();
        let mut result = Descriptor {
            media_type: layer.media_type.into(),
            digest: layer.digest.clone(),
            size: layer.size,
            annotations: BTreeMap::new(),
        };
        result
            .annotations
            .insert(DIFF_ID_ANNOTATION.into(), layer.diff_id.to_string());
        store
            .put_cache(&CacheRecord {
                key: "ab".repeat(32),
                step: "Dockerfile#0#1".into(),
                inputs: CacheInputs::default(),
                result: Some(result),
                created: 0,
            })
            .unwrap();
        let pushed = crate::distribute::layer(
            &store,
            store.cache_records().unwrap()[0].result.as_ref().unwrap(),
            crate::layer::Compression::Gzip,
        )
        .unwrap();
        let garbage = store.put_blob(b"nobody's").unwrap();
        // Unpacked layers (made by hand: unpacking needs root), one of an image, one of nothing.
        let root = store.root();
        let kept_layer = root.join("layers").join(kept.config.rootfs.diff_ids[0].hex());
        let gone_layer = root.join("layers").join(gone.config.rootfs.diff_ids[0].hex());
        let cached_layer = root.join("layers").join(layer.diff_id.hex());
        for l in [&kept_layer, &gone_layer, &cached_layer] {
            fs::create_dir_all(l).unwrap();
            fs::write(l.join("f"), "x").unwrap();
        }
        // Leftovers of a dead build and of this (live) process.
        let dead = dead_pid();
        let stale = root.join("builds").join(format!("{dead}-1"));
        let live = root.join("builds").join(format!("{}-1", std::process::id()));
        fs::create_dir_all(stale.join("step-1")).unwrap();
        fs::create_dir_all(&live).unwrap();
        fs::write(root.join("blobs/sha256").join(format!(".tmp-{dead}-0")), "half").unwrap();

        let mut waited = false;
        let p = prune(&store, PruneOptions::default(), || waited = true).unwrap();
        assert!(!waited);
        // gone's config, manifest and layer blobs, and the garbage blob.
        assert_eq!((p.blobs, p.layer_dirs, p.work, p.cache_records), (4, 1, 2, 0), "{p:?}");
        assert!(p.bytes() > 0);
        assert!(!store.has_blob(&garbage) && !store.has_blob(gone.id()));
        assert!(store.has_blob(kept.id()) && store.has_blob(&layer.digest));
        assert!(
            store.has_blob(&pushed.digest),
            "the compressed copy of a kept layer stays"
        );
        assert!(kept_layer.is_dir() && cached_layer.is_dir() && !gone_layer.exists());
        assert!(!stale.exists() && live.exists());
        assert_eq!(store.verify().unwrap(), Vec::<String>::new());
        assert_eq!(image::resolve(&store, "kept").unwrap().id(), kept.id());
        // Nothing left to free.
        assert_eq!(
            prune(&store, PruneOptions::default(), || {}).unwrap(),
            Pruned::default()
        );

        // --all: the cache record goes, and with it its layer.
        let p = prune(&store, PruneOptions { all: true }, || {}).unwrap();
        assert_eq!((p.blobs, p.layer_dirs, p.cache_records), (2, 1, 1), "{p:?}");
        assert!(!store.has_blob(&layer.digest) && store.has_blob(kept.id()));
        assert!(!store.has_blob(&pushed.digest) && crate::distribute::memos(&store).is_empty());
        assert_eq!(store.verify().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn prune_waits_for_the_store_to_be_unused() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path().join("store")).unwrap();
        let in_use = store.lock_in_use().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = store.clone();
        let t = std::thread::spawn(move || {
            let tx2 = tx.clone();
            prune(&s, PruneOptions::default(), move || tx2.send("waiting").unwrap()).unwrap();
            tx.send("done").unwrap();
        });
        assert_eq!(rx.recv().unwrap(), "waiting");
        // Still waiting while the lock is held.
        assert!(rx.recv_timeout(std::time::Duration::from_millis(200)).is_err());
        drop(in_use);
        assert_eq!(rx.recv().unwrap(), "done");
        t.join().unwrap();
    }
}
