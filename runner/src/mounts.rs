//! Cache mounts (`RUN --mount=type=cache`) on disk: their identity (BuildKit's), their
//! directories — made empty, or restored from the seed a registry cache brought when the
//! store has none — and their contents packed as a blob for a registry cache export.
//! Layout and records: `slipway_store::mounts`.
//!
//! A shared or locked mount's directory is made (or restored) once, under
//! `<name>.init.lock`, into a temp dir renamed into place: parallel RUNs and builds see
//! either no directory or a whole one. `sharing=private` mounts are fresh temp dirs,
//! discarded after their RUN: nothing to restore or export.

use crate::image::{store_layer, unpack_dir};
use crate::layer::{write_dir, Compression, LayerOptions};
use petgraph::graph::NodeIndex;
use slipway_parser::model::Command;
use slipway_parser::values::{Mount, MountType, Sharing};
use slipway_planner::plan::PlannedStep;
use slipway_planner::request::Planned;
use slipway_store::mounts::{CacheMount, MountOwner, MountSnapshot, MEDIA_CACHE_MOUNT};
use slipway_store::{Descriptor, Store};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Go's `path.Clean`: one slash between names, `.` dropped, `..` eating the name before
/// it (at the root, nothing); `.` for an empty result.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            c => parts.push(c),
        }
    }
    let s = parts.join("/");
    if rooted {
        format!("/{s}")
    } else if s.is_empty() {
        ".".into()
    } else {
        s
    }
}

/// The owner and mode a cache mount's directory is made with.
pub fn owner(m: &Mount) -> MountOwner {
    MountOwner {
        uid: m.uid.unwrap_or(0),
        gid: m.gid.unwrap_or(0),
        mode: m.mode.unwrap_or(0o755) & 0o7777,
    }
}

/// A cache mount's identity as BuildKit's Dockerfile frontend makes it: `id=`, else the
/// target *as written*, cleaned (not joined with the WORKDIR); and the owner when the mount
/// sets any of uid, gid or mode. None for other mounts, and for a cache mount with neither
/// id nor target (its RUN fails).
pub fn identity(m: &Mount) -> Option<CacheMount> {
    if m.kind != MountType::Cache {
        return None;
    }
    let id = m.id.clone().or_else(|| m.target.as_deref().map(clean))?;
    let owned = m.uid.is_some() || m.gid.is_some() || m.mode.is_some();
    Some(CacheMount {
        id,
        owner: owned.then(|| owner(m)),
    })
}

/// The persistent cache mounts of the plan's RUN steps that `which` picks, once each, in
/// plan order (`sharing=private` ones are left out: they start empty and are discarded).
pub fn used_by(planned: &Planned, which: impl Fn(&PlannedStep) -> bool) -> Vec<CacheMount> {
    let mut out: Vec<CacheMount> = Vec::new();
    for step in planned.plan.steps.iter().filter(|s| which(s)) {
        let Some(node) = planned.graph.graph.node_weight(NodeIndex::new(step.id)) else {
            continue;
        };
        let Some(Some(Command::Run { mounts, .. })) = planned.model.commands.get(node.instruction) else {
            continue;
        };
        for m in mounts {
            if m.sharing == Some(Sharing::Private) {
                continue;
            }
            if let Some(id) = identity(m) {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
    }
    out
}

/// An open lock file, held (exclusively) until dropped.
pub(crate) fn lock_file(path: &Path) -> io::Result<fs::File> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
    f.lock()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot lock {}: {e}", path.display())))?;
    Ok(f)
}

/// The lock `sharing=locked` RUNs of a mount hold while they run (and an export while it
/// packs the directory).
pub(crate) fn lock(store: &Store, mount: &CacheMount) -> io::Result<fs::File> {
    let base = store.cache_mounts_dir();
    fs::create_dir_all(&base)?;
    lock_file(&base.join(format!("{}.lock", mount.name())))
}

/// How a mount's directory came to be.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// It was there.
    Existing,
    /// Made empty: no seed.
    Created,
    /// Restored from the seed (a registry cache's contents).
    Restored(Descriptor),
    /// Made empty: the seed's blob is not in the store (the build did not fetch it).
    NotFetched(Descriptor),
    /// Made empty: the seed could not be unpacked.
    Failed(String),
}

/// Makes `dir` with the owner and mode.
pub(crate) fn init(dir: &Path, owner: MountOwner) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(owner.mode))?;
    std::os::unix::fs::chown(dir, Some(owner.uid), Some(owner.gid))
}

/// The directory of a shared or locked cache mount, made when missing: restored from
/// the store's seed of the mount when its blob is in the store, else empty; owned as
/// `owner` says.
pub(crate) fn ensure_dir(store: &Store, mount: &CacheMount, owner: MountOwner) -> io::Result<(PathBuf, Prepared)> {
    let base = store.cache_mounts_dir();
    fs::create_dir_all(&base)?;
    let dir = store.cache_mount_dir(mount);
    let _init = lock_file(&base.join(format!("{}.init.lock", mount.name())))?;
    if fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Ok((dir, Prepared::Existing));
    }
    let empty = |how: Prepared| -> io::Result<(PathBuf, Prepared)> {
        fs::create_dir(&dir)?;
        init(&dir, owner)?;
        Ok((dir.clone(), how))
    };
    let Some(seed) = store.mount_seed(mount) else {
        return empty(Prepared::Created);
    };
    if !store.has_blob(&seed.layer.digest) {
        return empty(Prepared::NotFetched(seed.layer));
    }
    let tmp = crate::build::tempdir_in(&base)?;
    let restored = (|| {
        init(&tmp, owner)?;
        let blob = fs::File::open(store.blob_path(&seed.layer.digest))?;
        unpack_dir(zstd::stream::read::Decoder::new(blob)?, &tmp)?;
        fs::rename(&tmp, &dir)
    })();
    match restored {
        Ok(()) => {
            // Unchanged from here on, the directory is this blob: an export reuses it.
            if let Ok(fingerprint) = fingerprint(&dir) {
                let _ = store.set_mount_snapshot(&MountSnapshot {
                    mount: mount.clone(),
                    layer: seed.layer.clone(),
                    fingerprint,
                });
            }
            Ok((dir, Prepared::Restored(seed.layer)))
        }
        Err(e) => {
            let _ = crate::tree::remove(&tmp);
            empty(Prepared::Failed(format!("blob {}: {e}", seed.layer.digest)))
        }
    }
}

/// A digest of what is under `dir` as its metadata says (path, type and mode, owner, size,
/// mtime, ctime, inode, link count of every entry): equal while nothing under it changed.
fn fingerprint(dir: &Path) -> io::Result<String> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for rel in crate::layer::sorted_tree(dir)? {
        let m = fs::symlink_metadata(dir.join(&rel))?;
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update(b"\0");
        for v in [
            u64::from(m.mode()),
            u64::from(m.uid()),
            u64::from(m.gid()),
            m.size(),
            m.mtime() as u64,
            m.mtime_nsec() as u64,
            m.ctime() as u64,
            m.ctime_nsec() as u64,
            m.ino(),
            m.nlink(),
        ] {
            h.update(v.to_le_bytes());
        }
    }
    Ok(slipway_store::hex(&h.finalize()))
}

/// A mount's contents for an export.
#[derive(Debug, Clone)]
pub struct Packed {
    pub snapshot: MountSnapshot,
    /// How: packed now, the last snapshot (unchanged), or the seed carried on.
    pub how: PackedHow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedHow {
    Packed,
    Unchanged,
    /// The store never made the directory (no RUN that used it ran here): the registry's
    /// contents go on as they were. The blob may be only in the registry.
    Carried,
}

/// The contents of each of `mounts` as a blob, for an export: the last snapshot when the
/// directory has not changed since (and the blob is still in the store), else the
/// directory packed anew (a zstd'd tar, mtimes kept: the same files give the same blob);
/// the seed when the store has no directory. Mounts with neither are left out.
/// The caller holds the store's in-use lock until the blobs are named.
pub fn pack(store: &Store, mounts: &[CacheMount]) -> io::Result<Vec<Packed>> {
    let mut out = Vec::new();
    let mut done: BTreeMap<String, ()> = BTreeMap::new();
    for mount in mounts {
        if done.insert(mount.name(), ()).is_some() {
            continue;
        }
        let dir = store.cache_mount_dir(mount);
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            if let Some(seed) = store.mount_seed(mount) {
                out.push(Packed {
                    snapshot: seed,
                    how: PackedHow::Carried,
                });
            }
            continue;
        }
        // No locked RUN writes it meanwhile.
        let _lock = lock(store, mount)?;
        let fp = fingerprint(&dir)?;
        if let Some(last) = store
            .mount_snapshot(mount)
            .filter(|s| s.fingerprint == fp && store.has_blob(&s.layer.digest))
        {
            out.push(Packed {
                snapshot: last,
                how: PackedHow::Unchanged,
            });
            continue;
        }
        let options = LayerOptions {
            clamp: None,
            compression: Compression::Zstd,
        };
        let info = store_layer(store, |f| write_dir(&dir, &options, io::BufWriter::new(f)))?;
        let snapshot = MountSnapshot {
            mount: mount.clone(),
            layer: Descriptor {
                media_type: MEDIA_CACHE_MOUNT.into(),
                digest: info.digest,
                size: info.size,
                annotations: BTreeMap::new(),
            },
            fingerprint: fp,
        };
        store.set_mount_snapshot(&snapshot)?;
        out.push(Packed {
            snapshot,
            how: PackedHow::Packed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_go_path_clean() {
        for (p, want) in [
            ("/root/.cache/pip/", "/root/.cache/pip"),
            ("cache", "cache"),
            ("./cache", "cache"),
            ("a//b/./c/..", "a/b"),
            ("/../x", "/x"),
            ("../x", "../x"),
            ("", "."),
            ("/", "/"),
        ] {
            assert_eq!(clean(p), want, "{p}");
        }
    }

    /// Makes a tree with the kinds a cache holds (and a name that is a whiteout in a layer).
    fn fill(dir: &Path) {
        fs::create_dir_all(dir.join("pkgs/empty")).unwrap();
        fs::write(dir.join("pkgs/a.whl"), vec![7u8; 100_000]).unwrap();
        fs::write(dir.join(".wh.not-a-whiteout"), "kept\n").unwrap();
        fs::hard_link(dir.join("pkgs/a.whl"), dir.join("pkgs/a-link.whl")).unwrap();
        std::os::unix::fs::symlink("pkgs/a.whl", dir.join("latest")).unwrap();
        fs::set_permissions(dir.join("pkgs/a.whl"), fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(dir.join(".wh.not-a-whiteout"), Some(1000), Some(1000)).unwrap();
    }

    fn listing(dir: &Path) -> Vec<String> {
        crate::layer::sorted_tree(dir)
            .unwrap()
            .into_iter()
            .map(|rel| {
                let m = fs::symlink_metadata(dir.join(&rel)).unwrap();
                format!(
                    "{} {:o} {}:{} {} {} {}",
                    rel.display(),
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    if m.is_dir() { 0 } else { m.size() },
                    m.mtime(),
                    m.nlink()
                )
            })
            .collect()
    }

    #[test]
    fn packed_mount_restores_on_another_store_and_packs_to_the_same_blob() {
        if !crate::sys::is_root() {
            eprintln!("note: skipping (needs root: chown)");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (
            Store::open(d.path().join("a")).unwrap(),
            Store::open(d.path().join("b")).unwrap(),
        );
        let mount = identity(&parse("type=cache,target=/root/.cache/pip")).unwrap();
        let owner = owner(&parse("type=cache,target=/x"));
        let (dir, how) = ensure_dir(&a, &mount, owner).unwrap();
        assert!(matches!(how, Prepared::Created), "{how:?}");
        fill(&dir);
        let packed = pack(&a, std::slice::from_ref(&mount)).unwrap();
        assert_eq!(packed[0].how, PackedHow::Packed);
        let blob = packed[0].snapshot.layer.clone();
        assert_eq!(blob.media_type, MEDIA_CACHE_MOUNT);
        // Unchanged: the snapshot again, nothing packed.
        let again = pack(&a, std::slice::from_ref(&mount)).unwrap();
        assert_eq!((again[0].how, &again[0].snapshot.layer), (PackedHow::Unchanged, &blob));

        // Store b has only the seed: before its blob is there the mount starts empty
        // and is not restored later; a fresh directory is restored.
        let seed = MountSnapshot {
            fingerprint: String::new(),
            ..packed[0].snapshot.clone()
        };
        b.set_mount_seed(&seed).unwrap();
        assert_eq!(
            pack(&b, std::slice::from_ref(&mount)).unwrap()[0].how,
            PackedHow::Carried
        );
        b.put_blob(&a.get_blob(&blob.digest).unwrap()).unwrap();
        let (restored, how) = ensure_dir(&b, &mount, owner).unwrap();
        assert!(matches!(&how, Prepared::Restored(l) if *l == blob), "{how:?}");
        assert_eq!(listing(&restored), listing(&dir));
        assert!(fs::symlink_metadata(restored.join(".wh.not-a-whiteout"))
            .unwrap()
            .is_file());
        let (_, how) = ensure_dir(&b, &mount, owner).unwrap();
        assert!(matches!(how, Prepared::Existing), "{how:?}");
        // Unchanged since the restore: the same blob, without packing; packed anew (as
        // another machine would), the same bytes.
        assert_eq!(
            pack(&b, std::slice::from_ref(&mount)).unwrap()[0].how,
            PackedHow::Unchanged
        );
        fs::remove_file(b.cache_mounts_dir().join(format!("{}.snapshot", mount.name()))).unwrap();
        let repacked = pack(&b, std::slice::from_ref(&mount)).unwrap();
        assert_eq!(
            (repacked[0].how, &repacked[0].snapshot.layer),
            (PackedHow::Packed, &blob)
        );
        // A change is packed.
        fs::write(restored.join("pkgs/b.whl"), "new").unwrap();
        let changed = pack(&b, std::slice::from_ref(&mount)).unwrap();
        assert_eq!(changed[0].how, PackedHow::Packed);
        assert_ne!(changed[0].snapshot.layer.digest, blob.digest);
    }

    fn parse(text: &str) -> Mount {
        slipway_parser::values::parse_mount(text).expect("a mount")
    }

    #[test]
    fn identity_is_buildkits() {
        let id = |t: &str| identity(&parse(t));
        assert_eq!(id("type=cache,target=/root/.cache/").unwrap().id, "/root/.cache");
        // Relative targets name the cache as written, whatever the WORKDIR.
        assert_eq!(id("type=cache,target=node_modules").unwrap().id, "node_modules");
        assert_eq!(id("type=cache,target=/x,id=shared").unwrap().id, "shared");
        assert_eq!(id("type=cache,target=/x").unwrap().owner, None);
        assert_eq!(
            id("type=cache,target=/x,uid=1000").unwrap().owner,
            Some(MountOwner {
                uid: 1000,
                gid: 0,
                mode: 0o755
            })
        );
        assert_eq!(id("type=tmpfs,target=/x"), None);
        assert_eq!(id("type=secret,id=tok"), None);
    }
}
