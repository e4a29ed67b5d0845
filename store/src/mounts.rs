//! Cache mounts (`RUN --mount=type=cache`): directories under `<store>/cache-mounts/` that
//! outlive builds, one per mount identity, and what the store knows of their contents as
//! blobs — the *seed* a registry cache brought (restored into a directory that does not
//! exist yet) and the *snapshot* the last export or restore made (so an unchanged
//! directory is not packed again).
//!
//! Files under `cache-mounts/`: `<name>/` the directory, `<name>.lock` (held by
//! `sharing=locked` RUNs and by an export packing it), `<name>.init.lock` (held while the
//! directory is made or restored), `<name>.seed`, `<name>.snapshot` (JSON
//! [`MountSnapshot`]s); `from-<pid>-…` are temp dirs of a build.

use crate::{write_atomic, Descriptor, Digest, Store};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::PathBuf;

/// The media type of a cache mount's contents in a registry cache: a zstd-compressed tar of
/// the directory's entries (relative paths, no whiteouts), not an image layer. zstd, not
/// gzip: caches are mostly archives already (wheels, .debs, crates), and zstd packs those
/// ~15x and unpacks them ~8x faster for the same size; only slipway reads these blobs.
pub const MEDIA_CACHE_MOUNT: &str = "application/vnd.slipway.cache.mount.v1.tar+zstd";

/// The annotation on a cache mount's blob descriptor that names its id.
pub const MOUNT_ID_ANNOTATION: &str = "org.slipway.cache.mount.id";

/// A cache mount's identity, as BuildKit keys its cache directories: the id (by default
/// the target as written, cleaned) and, when the mount sets any of uid, gid or mode, those
/// (BuildKit then mounts a directory it creates with them: a cache of its own).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CacheMount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<MountOwner>,
}

/// The owner and mode a cache mount's directory is made with (`uid=`, `gid=`, `mode=`;
/// 0, 0 and 0755 when not given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MountOwner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl CacheMount {
    /// The name of its directory: the sha256 of the id alone (what the store has always
    /// used), or of the id with the owner.
    pub fn name(&self) -> String {
        match &self.owner {
            None => Digest::of(self.id.as_bytes()).hex().to_string(),
            Some(o) => Digest::of(format!("{}\0uid={},gid={},mode={:o}", self.id, o.uid, o.gid, o.mode).as_bytes())
                .hex()
                .to_string(),
        }
    }

    /// How it reads in messages: the id, with the owner when it has one.
    pub fn label(&self) -> String {
        match &self.owner {
            None => self.id.clone(),
            Some(o) => format!("{} (uid={},gid={},mode={:o})", self.id, o.uid, o.gid, o.mode),
        }
    }
}

/// A cache mount's contents as a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSnapshot {
    pub mount: CacheMount,
    /// The blob ([`MEDIA_CACHE_MOUNT`]).
    pub layer: Descriptor,
    /// For a snapshot: a digest of the directory's metadata (paths, types, sizes, modes,
    /// owners, mtimes, ctimes, inodes) when the blob was made from it or unpacked into it;
    /// the directory is unchanged while it is the same. Empty for a seed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl Store {
    /// `<root>/cache-mounts`.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.root.join("cache-mounts")
    }

    /// The directory of a cache mount (it may not exist).
    pub fn cache_mount_dir(&self, mount: &CacheMount) -> PathBuf {
        self.cache_mounts_dir().join(mount.name())
    }

    fn mount_file(&self, mount: &CacheMount, ext: &str) -> PathBuf {
        self.cache_mounts_dir().join(format!("{}.{ext}", mount.name()))
    }

    /// Records what a registry cache holds for a mount, to restore when its directory does
    /// not exist (the newest import wins).
    pub fn set_mount_seed(&self, seed: &MountSnapshot) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(seed).map_err(std::io::Error::other)?;
        write_atomic(&self.mount_file(&seed.mount, "seed"), &bytes)
    }

    /// What a registry cache brought for a mount, if any.
    pub fn mount_seed(&self, mount: &CacheMount) -> Option<MountSnapshot> {
        self.read_mount_file(mount, "seed")
    }

    /// Records the blob a mount's directory was last packed into or unpacked from.
    pub fn set_mount_snapshot(&self, snapshot: &MountSnapshot) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(snapshot).map_err(std::io::Error::other)?;
        write_atomic(&self.mount_file(&snapshot.mount, "snapshot"), &bytes)
    }

    /// The last snapshot of a mount's directory, if any.
    pub fn mount_snapshot(&self, mount: &CacheMount) -> Option<MountSnapshot> {
        self.read_mount_file(mount, "snapshot")
    }

    fn read_mount_file(&self, mount: &CacheMount, ext: &str) -> Option<MountSnapshot> {
        let bytes = fs::read(self.mount_file(mount, ext)).ok()?;
        // A damaged record only costs a restore or a packing: it is ignored.
        serde_json::from_slice::<MountSnapshot>(&bytes)
            .ok()
            .filter(|s| &s.mount == mount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_the_old_layout_and_separate_owners() {
        let plain = CacheMount {
            id: "/root/.cache".into(),
            owner: None,
        };
        assert_eq!(plain.name(), Digest::of(b"/root/.cache").hex());
        let owned = CacheMount {
            owner: Some(MountOwner {
                uid: 1000,
                gid: 0,
                mode: 0o755,
            }),
            ..plain.clone()
        };
        assert_ne!(owned.name(), plain.name());
        assert_eq!(owned.label(), "/root/.cache (uid=1000,gid=0,mode=755)");
    }

    #[test]
    fn seeds_and_snapshots_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let mount = CacheMount {
            id: "pip".into(),
            owner: None,
        };
        assert_eq!(store.mount_seed(&mount), None);
        let seed = MountSnapshot {
            mount: mount.clone(),
            layer: Descriptor {
                media_type: MEDIA_CACHE_MOUNT.into(),
                digest: Digest::of(b"x"),
                size: 1,
                annotations: Default::default(),
            },
            fingerprint: String::new(),
        };
        store.set_mount_seed(&seed).unwrap();
        assert_eq!(store.mount_seed(&mount), Some(seed.clone()));
        assert_eq!(store.mount_snapshot(&mount), None);
        let other = CacheMount {
            id: "npm".into(),
            owner: None,
        };
        assert_eq!(store.mount_seed(&other), None);
    }
}
