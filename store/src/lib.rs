//! slipway-store: the on-disk, content-addressed store — an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`) plus a cache index that maps
//! step cache keys to their results and to the inputs that produced them, so
//! a later plan can say why a step misses.
//!
//! Invariants:
//! - depends on no other slipway crate;
//! - every write is temp file + fsync + rename (+ fsync of the directory):
//!   an interrupted write never leaves a partial file behind a name;
//! - a blob's name is the sha256 of its bytes, checked on write and on `verify`;
//! - `index.json` and the cache's step index change only under the store's
//!   exclusive lock; readers take the shared lock;
//! - whatever writes blobs before naming them (builds, loads, runs) holds the "in use"
//!   lock shared; a prune holds it exclusively, so it never deletes a blob about to be named.

pub mod image;
pub mod layout;
pub mod mounts;
pub mod platform;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A `sha256:<hex>` content digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex(&Sha256::digest(bytes))))
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Digest, String> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("unsupported digest algorithm in {s:?} (only sha256)"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(format!("invalid sha256 digest {s:?}"));
        }
        Ok(Digest(s))
    }
}

impl std::str::FromStr for Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Digest, String> {
        Digest::try_from(s.to_string())
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[usize::from(b >> 4)] as char);
        s.push(H[usize::from(b & 15)] as char);
    }
    s
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The annotation that names a manifest in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

/// Names first, sorted; then untagged images in the order they were added.
fn sort_index(index: &mut Index) {
    index.manifests.sort_by(
        |a, b| match (a.annotations.get(REF_NAME), b.annotations.get(REF_NAME)) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        },
    );
}

/// Points `name` at `descriptor` in `index`: the image the name pointed at before stays as
/// an untagged image when nothing else points at it and it is not one of `children` (the
/// manifests of the new index, which reaches them); the new descriptor and its children
/// lose their untagged entries.
fn point(index: &mut Index, name: &str, descriptor: Descriptor, children: &[Digest]) {
    let old = index
        .manifests
        .iter()
        .position(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(name))
        .map(|i| index.manifests.remove(i));
    // An image with a name has no untagged entry.
    index.manifests.retain(|d| {
        d.annotations.contains_key(REF_NAME) || (d.digest != descriptor.digest && !children.contains(&d.digest))
    });
    let mut d = descriptor;
    d.annotations.insert(REF_NAME.into(), name.into());
    index.manifests.push(d);
    if let Some(mut old) = old {
        if !index.manifests.iter().any(|d| d.digest == old.digest) && !children.contains(&old.digest) {
            old.annotations.remove(REF_NAME);
            index.manifests.push(old);
        }
    }
    sort_index(index);
}

/// What produced a cached step: enough to explain a later miss.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheInputs {
    /// The parent step's key (or the base image's digest).
    pub parent: Option<String>,
    /// The instruction, expanded, in canonical form.
    pub instruction: String,
    /// Build args the step sees and uses.
    pub args: BTreeMap<String, String>,
    /// Environment the step sees and uses.
    pub env: BTreeMap<String, String>,
    /// For COPY/ADD: every selected source file, path → digest of (mode, size, target, content).
    pub files: BTreeMap<String, String>,
}

/// A cache index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The step's cache key (hex sha256).
    pub key: String,
    /// Identity of the step across builds (e.g. Dockerfile path + stage + position), for explaining misses.
    pub step: String,
    pub inputs: CacheInputs,
    /// The layer (or other result) the step produced, if it produced one.
    pub result: Option<Descriptor>,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

/// The store at a root directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// `$SLIPWAY_ROOT`, else `$XDG_DATA_HOME/slipway`, else `~/.local/share/slipway`.
pub fn default_root() -> PathBuf {
    if let Some(r) = std::env::var_os("SLIPWAY_ROOT").filter(|r| !r.is_empty()) {
        return PathBuf::from(r);
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|r| !r.is_empty()) {
        return PathBuf::from(x).join("slipway");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib"));
    home.join(".local/share/slipway")
}

fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// A temp file name unique to this process and call.
fn temp_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(".tmp-{}-{n}", std::process::id())
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory,
/// fsync, rename over `path`, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| context(e, "cannot create", dir))?;
    let tmp = dir.join(temp_name());
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| context(e, "cannot create", &tmp))?;
        f.write_all(bytes).map_err(|e| context(e, "cannot write", &tmp))?;
        f.sync_all().map_err(|e| context(e, "cannot fsync", &tmp))?;
        fs::rename(&tmp, path).map_err(|e| context(e, "cannot rename into", path))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A held store lock; released on drop.
pub struct Lock(File);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Store> {
        let root = root.into();
        let store = Store { root };
        for dir in [
            store.root.join("blobs/sha256"),
            store.root.join("cache/keys"),
            store.root.join("cache/steps"),
        ] {
            fs::create_dir_all(&dir).map_err(|e| context(e, "cannot create", &dir))?;
        }
        let layout = store.root.join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !store.root.join("index.json").exists() {
            let _w = store.lock_exclusive()?;
            if !store.root.join("index.json").exists() {
                store.write_index(&Index {
                    schema_version: 2,
                    media_type: Some(MEDIA_INDEX.into()),
                    manifests: Vec::new(),
                })?;
            }
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock_file(&self) -> io::Result<File> {
        let p = self.root.join("lock");
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| context(e, "cannot open", &p))
    }

    /// Shared lock: many readers at once.
    pub fn lock_shared(&self) -> io::Result<Lock> {
        let f = self.lock_file()?;
        f.lock_shared().map_err(|e| context(e, "cannot lock", &self.root))?;
        Ok(Lock(f))
    }

    /// Exclusive lock: one writer of the index at a time.
    pub fn lock_exclusive(&self) -> io::Result<Lock> {
        let f = self.lock_file()?;
        f.lock().map_err(|e| context(e, "cannot lock", &self.root))?;
        Ok(Lock(f))
    }

    fn lock_named(&self, name: &str, exclusive: bool) -> io::Result<Lock> {
        let (f, p) = self.open_lock(name)?;
        if exclusive { f.lock() } else { f.lock_shared() }.map_err(|e| context(e, "cannot lock", &p))?;
        Ok(Lock(f))
    }

    fn open_lock(&self, name: &str) -> io::Result<(File, PathBuf)> {
        let p = self.root.join(name);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| context(e, "cannot open", &p))?;
        Ok((f, p))
    }

    /// The "in use" lock, shared: held by whatever writes blobs before it names them (a
    /// build, a load) or reads unpacked layers (a running container), so a prune waits.
    pub fn lock_in_use(&self) -> io::Result<Lock> {
        self.lock_named("in-use.lock", false)
    }

    /// The "in use" lock, exclusive (a prune), without waiting: `None` when it is held.
    pub fn try_lock_unused(&self) -> io::Result<Option<Lock>> {
        let (f, p) = self.open_lock("in-use.lock")?;
        match f.try_lock() {
            Ok(()) => Ok(Some(Lock(f))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(context(e, "cannot lock", &p)),
        }
    }

    /// The "in use" lock, exclusive, waiting for its holders.
    pub fn lock_unused(&self) -> io::Result<Lock> {
        self.lock_named("in-use.lock", true)
    }

    /// The path of a blob (which may not exist).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores bytes as a blob; returns its digest. Idempotent.
    pub fn put_blob(&self, bytes: &[u8]) -> io::Result<Digest> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if !path.is_file() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Stores a blob from a reader, checking it against `expected` when given
    /// (a mismatch stores nothing). Returns the digest and size.
    pub fn put_blob_from(&self, mut reader: impl Read, expected: Option<&Digest>) -> io::Result<(Digest, u64)> {
        let dir = self.root.join("blobs/sha256");
        let tmp = dir.join(temp_name());
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let result = (|| {
            let mut f = File::create(&tmp).map_err(|e| context(e, "cannot create", &tmp))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                f.write_all(&buf[..n]).map_err(|e| context(e, "cannot write", &tmp))?;
                size += n as u64;
            }
            f.sync_all().map_err(|e| context(e, "cannot fsync", &tmp))?;
            let digest = Digest(format!("sha256:{}", hex(&hasher.finalize_reset())));
            if let Some(want) = expected {
                if *want != digest {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("digest mismatch: expected {want}, got {digest}"),
                    ));
                }
            }
            let path = self.blob_path(&digest);
            fs::rename(&tmp, &path).map_err(|e| context(e, "cannot rename into", &path))?;
            Ok(digest)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|d| (d, size))
    }

    /// Moves a complete file into place as the blob `digest`: for a writer that hashed the
    /// bytes as it wrote them (a layer), so they are not read and hashed a second time.
    /// `file` must be on the store's filesystem (e.g. under `<root>/tmp`); it is fsynced
    /// and renamed, or removed when the blob exists already.
    pub fn put_blob_file(&self, file: &Path, digest: &Digest) -> io::Result<()> {
        let path = self.blob_path(digest);
        if path.is_file() {
            return fs::remove_file(file).map_err(|e| context(e, "cannot remove", file));
        }
        File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(|e| context(e, "cannot fsync", file))?;
        fs::rename(file, &path).map_err(|e| context(e, "cannot rename into", &path))?;
        if let Some(d) = path.parent().and_then(|d| File::open(d).ok()) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Where an interrupted download of a blob is kept: `<root>/partial/<hex>`.
    pub fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("partial").join(digest.hex())
    }

    /// Stores a blob whose bytes may have been partly written by an earlier, interrupted
    /// call: what `partial_path` holds is hashed, `rest(offset)` gives a reader of the bytes
    /// after it, they are appended (so a new interruption keeps them too), and the whole is
    /// checked against `expected` before it is renamed into place. A mismatch removes the
    /// partial file and stores nothing. When another process holds the partial file, this
    /// falls back to [`Store::put_blob_from`] from offset 0.
    pub fn put_blob_resumable<R: Read>(
        &self,
        expected: &Digest,
        rest: impl FnOnce(u64) -> io::Result<R>,
    ) -> io::Result<(Digest, u64)> {
        let path = self.blob_path(expected);
        if let Ok(m) = fs::metadata(&path) {
            return Ok((expected.clone(), m.len()));
        }
        let partial = self.partial_path(expected);
        let dir = self.root.join("partial");
        fs::create_dir_all(&dir).map_err(|e| context(e, "cannot create", &dir))?;
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&partial)
            .map_err(|e| context(e, "cannot open", &partial))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return self.put_blob_from(rest(0)?, Some(expected)),
            Err(fs::TryLockError::Error(e)) => return Err(context(e, "cannot lock", &partial)),
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(|e| context(e, "cannot read", &partial))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        let mut reader = rest(size)?;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            f.write_all(&buf[..n])
                .map_err(|e| context(e, "cannot write", &partial))?;
            size += n as u64;
        }
        f.sync_all().map_err(|e| context(e, "cannot fsync", &partial))?;
        let digest = Digest(format!("sha256:{}", hex(&hasher.finalize())));
        if digest != *expected {
            let _ = fs::remove_file(&partial);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("digest mismatch: expected {expected}, got {digest}"),
            ));
        }
        fs::rename(&partial, &path).map_err(|e| context(e, "cannot rename into", &path))?;
        if let Ok(d) = File::open(path.parent().unwrap_or(Path::new("."))) {
            let _ = d.sync_all();
        }
        Ok((digest, size))
    }

    /// Reads a blob, verifying its digest.
    pub fn get_blob(&self, digest: &Digest) -> io::Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(|e| context(e, "cannot read blob", &path))?;
        if Digest::of(&bytes) != *digest {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("blob {digest} is corrupt: its content has another digest"),
            ));
        }
        Ok(bytes)
    }

    fn read_index(&self) -> io::Result<Index> {
        let p = self.root.join("index.json");
        let bytes = fs::read(&p).map_err(|e| context(e, "cannot read", &p))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display())))
    }

    fn write_index(&self, index: &Index) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(index).map_err(io::Error::other)?;
        write_atomic(&self.root.join("index.json"), &bytes)
    }

    /// Points `name` (e.g. `redis:latest`) at a manifest descriptor. The image the name
    /// pointed at before stays in the store as an untagged (dangling) image when no other
    /// name points at it, as Docker keeps a re-tagged image as `<none>:<none>`.
    pub fn set_ref(&self, name: &str, descriptor: Descriptor) -> io::Result<()> {
        let _w = self.lock_exclusive()?;
        let mut index = self.read_index()?;
        point(&mut index, name, descriptor, &[]);
        self.write_index(&index)
    }

    /// Writes an image index of `entries` (manifest descriptors with their platforms, in
    /// that order) as a blob, under no name; returns its descriptor.
    pub fn put_index(&self, entries: &[(Descriptor, platform::Platform)]) -> io::Result<Descriptor> {
        let bytes = serde_json::to_vec(&image::ImageIndex::of(entries)).map_err(io::Error::other)?;
        Ok(Descriptor {
            media_type: MEDIA_INDEX.into(),
            digest: self.put_blob(&bytes)?,
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
        })
    }

    /// Points `name` at `manifest` as its image for `platform`, keeping the name's images
    /// of other platforms: when the name has images of other platforms (a manifest whose
    /// config is for another platform, or an index), it becomes an index of them all, the
    /// platform's old entry (if any) replaced in place, a new one appended. Otherwise the
    /// name points at the manifest itself, as [`Store::set_ref`]. An image replaced stays
    /// as an untagged image when nothing else names it. Returns what the name points at
    /// now. The whole change is made under the exclusive lock.
    pub fn set_ref_platform(
        &self,
        name: &str,
        manifest: Descriptor,
        platform: &platform::Platform,
    ) -> io::Result<Descriptor> {
        let mut manifest = manifest;
        manifest.annotations.remove(REF_NAME);
        let _w = self.lock_exclusive()?;
        let mut index = self.read_index()?;
        let old = index
            .manifests
            .iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(name))
            .cloned();
        let mut entries: Vec<(Descriptor, platform::Platform)> = match &old {
            None => Vec::new(),
            Some(old) if image::is_index(&old.media_type) => {
                let doc: image::ImageIndex = serde_json::from_slice(&self.get_blob(&old.digest)?).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("index {} of {name}: {e}", old.digest),
                    )
                })?;
                // Attestations (`unknown/unknown`) describe the old images: they go.
                doc.manifests
                    .into_iter()
                    .filter_map(|e| Some((e.descriptor, e.platform.filter(|p| p.os != "unknown")?)))
                    .collect()
            }
            Some(old) => {
                let mut old = old.clone();
                old.annotations.remove(REF_NAME);
                // An image whose platform cannot be read is replaced.
                match self.platform_of(&old) {
                    Ok(p) => vec![(old, p)],
                    Err(_) => Vec::new(),
                }
            }
        };
        let mut replaced = Vec::new();
        match entries.iter().position(|(_, p)| p.matches(platform)) {
            Some(i) => {
                let (d, _) = std::mem::replace(&mut entries[i], (manifest.clone(), platform.clone()));
                replaced.push(d);
                let mut j = i + 1;
                while j < entries.len() {
                    if entries[j].1.matches(platform) {
                        replaced.push(entries.remove(j).0);
                    } else {
                        j += 1;
                    }
                }
            }
            None => entries.push((manifest.clone(), platform.clone())),
        }
        let target = if entries.len() == 1 {
            manifest
        } else {
            self.put_index(&entries)?
        };
        let children: Vec<Digest> = entries.iter().map(|(d, _)| d.digest.clone()).collect();
        point(&mut index, name, target.clone(), &children);
        for mut d in replaced.into_iter().filter(|d| !children.contains(&d.digest)) {
            if !index.manifests.iter().any(|x| x.digest == d.digest) {
                d.annotations.clear();
                index.manifests.push(d);
            }
        }
        sort_index(&mut index);
        self.write_index(&index)?;
        Ok(target)
    }

    /// The platform of an image manifest in the store, from its config.
    pub fn platform_of(&self, manifest: &Descriptor) -> io::Result<platform::Platform> {
        let bad = |what: &str, digest: &Digest, e: serde_json::Error| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{what} {digest} in the store: {e}"))
        };
        let m: image::Manifest = serde_json::from_slice(&self.get_blob(&manifest.digest)?)
            .map_err(|e| bad("manifest", &manifest.digest, e))?;
        let config: image::ImageConfig = serde_json::from_slice(&self.get_blob(&m.config.digest)?)
            .map_err(|e| bad("config", &m.config.digest, e))?;
        Ok(platform::Platform::of_config(&config))
    }

    /// Records an image that has no name (an untagged build's result, a loaded image
    /// without a name): listed as `<none>:<none>`, found by its ID, kept until a prune
    /// removes dangling images. Nothing changes when the image is already in the index.
    pub fn add_image(&self, descriptor: Descriptor) -> io::Result<()> {
        let _w = self.lock_exclusive()?;
        let mut index = self.read_index()?;
        if index.manifests.iter().any(|d| d.digest == descriptor.digest) {
            return Ok(());
        }
        let mut d = descriptor;
        d.annotations.remove(REF_NAME);
        index.manifests.push(d);
        sort_index(&mut index);
        self.write_index(&index)
    }

    /// Every image in the index, named or not: `(name, descriptor)`, the names first
    /// (sorted), then the untagged images. An image with several names appears once per name.
    pub fn images(&self) -> io::Result<Vec<(Option<String>, Descriptor)>> {
        let _r = self.lock_shared()?;
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .map(|d| (d.annotations.get(REF_NAME).cloned(), d))
            .collect())
    }

    /// Removes an untagged image's entry (its blobs stay until a prune); returns whether
    /// it was there.
    pub fn remove_image(&self, digest: &Digest) -> io::Result<bool> {
        let _w = self.lock_exclusive()?;
        let mut index = self.read_index()?;
        let before = index.manifests.len();
        index
            .manifests
            .retain(|d| d.annotations.contains_key(REF_NAME) || &d.digest != digest);
        let removed = index.manifests.len() != before;
        if removed {
            self.write_index(&index)?;
        }
        Ok(removed)
    }

    /// Removes untagged images for which `keep` says no, under a lock the caller holds;
    /// returns the removed descriptors.
    pub fn remove_dangling_locked(
        &self,
        _lock: &Lock,
        keep: impl Fn(&Descriptor) -> bool,
    ) -> io::Result<Vec<Descriptor>> {
        let mut index = self.read_index()?;
        let (dangling, rest): (Vec<Descriptor>, Vec<Descriptor>) = index
            .manifests
            .into_iter()
            .partition(|d| !d.annotations.contains_key(REF_NAME) && !keep(d));
        index.manifests = rest;
        if !dangling.is_empty() {
            self.write_index(&index)?;
        }
        Ok(dangling)
    }

    /// The descriptor a name points at.
    pub fn get_ref(&self, name: &str) -> io::Result<Option<Descriptor>> {
        let _r = self.lock_shared()?;
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(name)))
    }

    /// The image manifest a name gives for `platform`. For a name that points at an image
    /// index: the entry for the platform ([`image::ImageIndex::select`]), None when the index
    /// has none. For a name that points at a manifest: that manifest when its config's
    /// os/architecture/variant match the platform (after normalisation), else None. None
    /// too when the name is unknown; an unreadable manifest, index or config is an error.
    pub fn get_ref_for(&self, name: &str, platform: &platform::Platform) -> io::Result<Option<Descriptor>> {
        let Some(d) = self.get_ref(name)? else {
            return Ok(None);
        };
        self.descriptor_for(&d, platform)
    }

    /// What [`Store::get_ref_for`] does for a name, for a descriptor (a ref's, or an
    /// untagged image's).
    pub fn descriptor_for(&self, d: &Descriptor, platform: &platform::Platform) -> io::Result<Option<Descriptor>> {
        let bad = |what: &str, digest: &Digest, e: serde_json::Error| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{what} {digest} in the store: {e}"))
        };
        if image::is_index(&d.media_type) {
            let index: image::ImageIndex =
                serde_json::from_slice(&self.get_blob(&d.digest)?).map_err(|e| bad("index", &d.digest, e))?;
            return Ok(index.select(platform).map(|e| e.descriptor.clone()));
        }
        let found = self.platform_of(d)?;
        let mut d = d.clone();
        d.annotations.remove(REF_NAME);
        Ok(found.matches(platform).then_some(d))
    }

    /// Every named manifest: `(name, descriptor)`.
    pub fn refs(&self) -> io::Result<Vec<(String, Descriptor)>> {
        let _r = self.lock_shared()?;
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| d.annotations.get(REF_NAME).cloned().map(|n| (n, d)))
            .collect())
    }

    /// Removes a name; returns whether it existed. Blobs stay until `prune`. The image
    /// goes with its last name (as `docker rmi NAME` deletes an image it untags last).
    pub fn remove_ref(&self, name: &str) -> io::Result<bool> {
        let _w = self.lock_exclusive()?;
        let mut index = self.read_index()?;
        let before = index.manifests.len();
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(name));
        let removed = index.manifests.len() != before;
        if removed {
            self.write_index(&index)?;
        }
        Ok(removed)
    }

    /// Every image in the index (named or not), read under a lock the caller already holds.
    pub fn images_locked(&self, _lock: &Lock) -> io::Result<Vec<Descriptor>> {
        Ok(self.read_index()?.manifests)
    }

    /// Every named manifest, read under a lock the caller already holds (so a prune can
    /// read the refs while it keeps them from changing).
    pub fn refs_locked(&self, _lock: &Lock) -> io::Result<Vec<(String, Descriptor)>> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| d.annotations.get(REF_NAME).cloned().map(|n| (n, d)))
            .collect())
    }

    /// The digests of every blob file (names that are not digests, e.g. temp files, are skipped).
    pub fn blobs(&self) -> io::Result<Vec<Digest>> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(|e| context(e, "cannot read", &dir))? {
            let name = e?.file_name();
            if let Ok(d) = format!("sha256:{}", name.to_string_lossy()).parse::<Digest>() {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every cache record (unreadable ones are skipped: `verify` reports them).
    pub fn cache_records(&self) -> io::Result<Vec<CacheRecord>> {
        let dir = self.root.join("cache/keys");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(|e| context(e, "cannot read", &dir))? {
            let name = e?.file_name().to_string_lossy().into_owned();
            if let Ok(Some(r)) = self.get_cache(&name) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Removes every cache record (under the exclusive lock the caller holds); returns how many.
    pub fn clear_cache(&self, _lock: &Lock) -> io::Result<usize> {
        let mut n = 0;
        for sub in ["cache/keys", "cache/steps"] {
            let dir = self.root.join(sub);
            for e in fs::read_dir(&dir).map_err(|e| context(e, "cannot read", &dir))? {
                let p = e?.path();
                fs::remove_file(&p).map_err(|e| context(e, "cannot remove", &p))?;
                n += usize::from(sub == "cache/keys");
            }
        }
        Ok(n)
    }

    /// The blobs a manifest or index references (config, layers, child manifests), read
    /// from the store; a missing or unreadable blob is an error naming it.
    pub fn references(&self, descriptor: &Descriptor) -> io::Result<Vec<Descriptor>> {
        let bytes = self.get_blob(&descriptor.digest)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("manifest {}: {e}", descriptor.digest),
            )
        })?;
        let mut out = Vec::new();
        let mut push = |v: &serde_json::Value| -> io::Result<()> {
            out.push(serde_json::from_value::<Descriptor>(v.clone()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("manifest {}: {e}", descriptor.digest),
                )
            })?);
            Ok(())
        };
        if let Some(c) = v.get("config") {
            push(c)?;
        }
        for key in ["layers", "manifests"] {
            for d in v.get(key).and_then(|l| l.as_array()).into_iter().flatten() {
                push(d)?;
            }
        }
        Ok(out)
    }

    /// Checks the store: every blob's content matches its name; every ref, the manifests,
    /// configs and layers they reach, and every cache record's result exist; no manifest
    /// is unreadable. Returns the problems found (empty when consistent).
    pub fn verify(&self) -> io::Result<Vec<String>> {
        let _r = self.lock_shared()?;
        let mut problems = Vec::new();
        let blobs: std::collections::BTreeSet<Digest> = self.blobs()?.into_iter().collect();
        for d in &blobs {
            let p = self.blob_path(d);
            let mut f = File::open(&p).map_err(|e| context(e, "cannot open", &p))?;
            let mut h = Sha256::new();
            io::copy(&mut f, &mut h).map_err(|e| context(e, "cannot read", &p))?;
            if hex(&h.finalize()) != d.hex() {
                problems.push(format!("blob {d} is corrupt: its content has another digest"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut todo: Vec<(String, Descriptor)> = self
            .read_index()?
            .manifests
            .into_iter()
            .map(|d| match d.annotations.get(REF_NAME) {
                Some(n) => (format!("ref {n}"), d),
                None => (format!("untagged image {}", d.digest), d),
            })
            .collect();
        // A blob not fetched yet but known to a registry (a layer of a cache imported for
        // planning: fetched when a build reuses it) is not missing.
        let remote = |d: &Digest| self.is_remote(d);
        while let Some((from, d)) = todo.pop() {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            if !blobs.contains(&d.digest) {
                if !remote(&d.digest) {
                    problems.push(format!("{from}: blob {} is missing", d.digest));
                }
                continue;
            }
            let is_manifest = d.media_type.contains("manifest") || d.media_type.contains("image.index");
            if is_manifest {
                match self.references(&d) {
                    Ok(children) => todo.extend(children.into_iter().map(|c| (format!("manifest {}", d.digest), c))),
                    Err(e) => problems.push(format!("{from}: {e}")),
                }
            }
        }
        let dir = self.root.join("cache/keys");
        for e in fs::read_dir(&dir).map_err(|e| context(e, "cannot read", &dir))? {
            let name = e?.file_name().to_string_lossy().into_owned();
            match self.get_cache(&name) {
                Ok(Some(r)) => {
                    if let Some(res) = r
                        .result
                        .filter(|res| !blobs.contains(&res.digest) && !remote(&res.digest))
                    {
                        problems.push(format!("cache record {name}: result blob {} is missing", res.digest));
                    }
                }
                Ok(None) => problems.push(format!("cache record {name}: not a cache key")),
                Err(e) => problems.push(format!("cache record {name}: {e}")),
            }
        }
        Ok(problems)
    }

    /// Remembers that the registry repository `host/repo` holds a blob (pulled from it,
    /// pushed to it, or listed by a cache there): a push can mount it from there, and a
    /// blob the store does not have yet can be fetched from there. Best effort.
    pub fn record_origin(&self, digest: &Digest, host: &str, repo: &str) {
        let path = self.root.join("registry/origins").join(digest.hex());
        let line = format!("{host}/{repo}");
        let mut lines: Vec<String> = fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        if lines.contains(&line) {
            return;
        }
        lines.push(line);
        // A lost origin only costs an upload or a fetch from elsewhere.
        let _ = write_atomic(&path, (lines.join("\n") + "\n").as_bytes());
    }

    /// Marks a blob the store does not have as held by a registry (see
    /// [`Store::record_origin`]): named by a cache record or an image, but fetched only
    /// when a build needs it. `verify` does not count it as missing.
    pub fn mark_remote(&self, digest: &Digest) -> io::Result<()> {
        write_atomic(&self.root.join("registry/remote").join(digest.hex()), b"")
    }

    /// Whether a blob the store lacks was marked [`Store::mark_remote`].
    pub fn is_remote(&self, digest: &Digest) -> bool {
        !self.has_blob(digest) && self.root.join("registry/remote").join(digest.hex()).exists()
    }

    /// The `host/repo` registry repositories known to hold a blob.
    pub fn origins(&self, digest: &Digest) -> Vec<String> {
        fs::read_to_string(self.root.join("registry/origins").join(digest.hex()))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    fn step_path(&self, step: &str) -> PathBuf {
        self.root
            .join("cache/steps")
            .join(hex(&Sha256::digest(step.as_bytes())))
    }

    /// Records a cached step: by key, and as the latest record of its step identity.
    pub fn put_cache(&self, record: &CacheRecord) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        write_atomic(&self.root.join("cache/keys").join(&record.key), &bytes)?;
        let _w = self.lock_exclusive()?;
        write_atomic(&self.step_path(&record.step), record.key.as_bytes())
    }

    /// The record for a cache key, if the step was built before.
    pub fn get_cache(&self, key: &str) -> io::Result<Option<CacheRecord>> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let p = self.root.join("cache/keys").join(key);
        match fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(context(e, "cannot read", &p)),
        }
    }

    /// The latest record of a step identity (to compare inputs on a miss).
    pub fn last_for_step(&self, step: &str) -> io::Result<Option<CacheRecord>> {
        let p = self.step_path(step);
        match fs::read_to_string(&p) {
            Ok(key) => self.get_cache(key.trim()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(context(e, "cannot read", &p)),
        }
    }
}

/// OCI media types.
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        (dir, store)
    }

    #[test]
    fn layout_and_blobs() {
        let (_d, s) = temp();
        assert_eq!(
            fs::read_to_string(s.root().join("oci-layout")).unwrap(),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );
        let d = s.put_blob(b"hello").unwrap();
        assert_eq!(
            d.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(s.get_blob(&d).unwrap(), b"hello");
        // Corruption is detected.
        fs::write(s.blob_path(&d), b"jello").unwrap();
        assert_eq!(s.get_blob(&d).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn streamed_blobs_are_verified_and_leave_nothing_on_mismatch() {
        let (_d, s) = temp();
        let want = Digest::of(b"abc");
        let (got, size) = s.put_blob_from(&b"abc"[..], Some(&want)).unwrap();
        assert_eq!((got, size), (want.clone(), 3));
        let wrong = Digest::of(b"xyz");
        assert!(s.put_blob_from(&b"abc!"[..], Some(&wrong)).is_err());
        let names: Vec<String> = fs::read_dir(s.root().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![want.hex().to_string()], "no temp file or corrupt blob left");
    }

    #[test]
    fn resumable_blobs_continue_and_verify() {
        let (_d, s) = temp();
        let want = Digest::of(b"hello world");
        // An earlier attempt got "hello " before it was interrupted.
        let interrupted = s.put_blob_resumable(&want, |offset| {
            assert_eq!(offset, 0);
            Ok(io::Read::chain(&b"hello "[..], FailingReader))
        });
        assert!(interrupted.is_err());
        assert_eq!(fs::read(s.partial_path(&want)).unwrap(), b"hello ");
        let (got, size) = s
            .put_blob_resumable(&want, |offset| {
                assert_eq!(offset, 6, "only the rest is asked for");
                Ok(&b"world"[..])
            })
            .unwrap();
        assert_eq!((got, size), (want.clone(), 11));
        assert_eq!(s.get_blob(&want).unwrap(), b"hello world");
        assert!(!s.partial_path(&want).exists());
        // A wrong rest: nothing stored, the partial file gone.
        let other = Digest::of(b"abc");
        assert!(s.put_blob_resumable(&other, |_| Ok(&b"abd"[..])).is_err());
        assert!(!s.has_blob(&other) && !s.partial_path(&other).exists());
    }

    struct FailingReader;
    impl Read for FailingReader {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset"))
        }
    }

    #[test]
    fn refs_round_trip_and_survive_concurrent_writers() {
        let (_d, s) = temp();
        let desc = |n: &[u8]| Descriptor {
            media_type: MEDIA_MANIFEST.into(),
            digest: Digest::of(n),
            size: n.len() as u64,
            annotations: BTreeMap::new(),
        };
        std::thread::scope(|t| {
            for i in 0..8 {
                let s = s.clone();
                t.spawn(move || {
                    for j in 0..10 {
                        s.set_ref(&format!("img{i}:{j}"), desc(format!("{i}-{j}").as_bytes()))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(s.refs().unwrap().len(), 80);
        assert_eq!(s.get_ref("img3:7").unwrap().unwrap().digest, Digest::of(b"3-7"));
        assert!(s.remove_ref("img3:7").unwrap());
        assert!(s.get_ref("img3:7").unwrap().is_none());
        // index.json is a valid OCI index.
        let index: serde_json::Value = serde_json::from_slice(&fs::read(s.root().join("index.json")).unwrap()).unwrap();
        assert_eq!(index["schemaVersion"], 2);
    }

    #[test]
    fn cache_records_by_key_and_by_step() {
        let (_d, s) = temp();
        let mut r = CacheRecord {
            key: "ab".repeat(32),
            step: "Dockerfile#0#2".into(),
            inputs: CacheInputs::default(),
            result: None,
            created: 1,
        };
        r.inputs.instruction = "RUN make".into();
        s.put_cache(&r).unwrap();
        assert_eq!(s.get_cache(&r.key).unwrap(), Some(r.clone()));
        assert_eq!(s.get_cache(&"cd".repeat(32)).unwrap(), None);
        assert_eq!(s.get_cache("../../etc/passwd").unwrap(), None);
        let mut r2 = r.clone();
        r2.key = "ef".repeat(32);
        s.put_cache(&r2).unwrap();
        assert_eq!(s.last_for_step("Dockerfile#0#2").unwrap().unwrap().key, r2.key);
    }

    #[test]
    fn a_ref_gives_the_manifest_for_a_platform_through_an_index_or_its_config() {
        use platform::Platform;
        let (_d, s) = temp();
        let p = |x: &str| Platform::parse(x).unwrap();
        let manifest_for = |arch: &str, variant: Option<&str>| {
            let config = serde_json::json!({
                "architecture": arch, "os": "linux", "variant": variant,
                "rootfs": {"type": "layers", "diff_ids": []}
            });
            let config = serde_json::to_vec(&config).unwrap();
            let manifest = serde_json::json!({
                "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                "config": {"mediaType": MEDIA_CONFIG, "digest": s.put_blob(&config).unwrap(), "size": config.len()},
                "layers": []
            });
            let bytes = serde_json::to_vec(&manifest).unwrap();
            Descriptor {
                media_type: MEDIA_MANIFEST.into(),
                digest: s.put_blob(&bytes).unwrap(),
                size: bytes.len() as u64,
                annotations: BTreeMap::new(),
            }
        };
        let amd = manifest_for("amd64", None);
        let arm = manifest_for("arm64", Some("v8"));
        s.set_ref("one:1", amd.clone()).unwrap();
        assert_eq!(s.get_ref_for("one:1", &p("linux/amd64")).unwrap(), Some(amd.clone()));
        assert_eq!(s.get_ref_for("one:1", &p("linux/x86_64")).unwrap(), Some(amd.clone()));
        assert_eq!(s.get_ref_for("one:1", &p("linux/arm64")).unwrap(), None);
        s.set_ref("arm:1", arm.clone()).unwrap();
        assert_eq!(s.get_ref_for("arm:1", &p("linux/arm64")).unwrap(), Some(arm.clone()));
        assert_eq!(s.get_ref_for("nothing:1", &p("linux/arm64")).unwrap(), None);

        let index = image::ImageIndex::of(&[(amd.clone(), p("linux/amd64")), (arm.clone(), p("linux/arm64"))]);
        let bytes = serde_json::to_vec(&index).unwrap();
        let idx = Descriptor {
            media_type: MEDIA_INDEX.into(),
            digest: s.put_blob(&bytes).unwrap(),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
        };
        s.set_ref("both:1", idx.clone()).unwrap();
        assert_eq!(
            s.get_ref_for("both:1", &p("linux/arm64/v8")).unwrap(),
            Some(arm.clone())
        );
        assert_eq!(s.get_ref_for("both:1", &p("linux/amd64")).unwrap(), Some(amd.clone()));
        assert_eq!(s.get_ref_for("both:1", &p("linux/riscv64")).unwrap(), None);
        // An index is followed by `references`, so verify checks what it reaches.
        let reached: Vec<Digest> = s.references(&idx).unwrap().into_iter().map(|d| d.digest).collect();
        assert_eq!(reached, [amd.digest.clone(), arm.digest.clone()]);
        assert!(s.verify().unwrap().is_empty());
        let arm_manifest: image::Manifest = serde_json::from_slice(&s.get_blob(&arm.digest).unwrap()).unwrap();
        fs::remove_file(s.blob_path(&arm_manifest.config.digest)).unwrap();
        let problems = s.verify().unwrap();
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&format!("blob {} is missing", arm_manifest.config.digest))),
            "{problems:?}"
        );
        // Per-platform naming: another platform makes the name an index, the same one
        // replaces its entry only, the replaced image stays untagged.
        let amd2 = manifest_for("x86_64", Some("v1"));
        assert_eq!(
            s.set_ref_platform("grow:1", amd.clone(), &p("linux/amd64")).unwrap(),
            amd
        );
        let grown = s.set_ref_platform("grow:1", arm.clone(), &p("linux/arm64/v8")).unwrap();
        assert_eq!(grown.media_type, MEDIA_INDEX);
        assert_eq!(s.get_ref_for("grow:1", &p("linux/amd64")).unwrap(), Some(amd.clone()));
        assert_eq!(s.get_ref_for("grow:1", &p("linux/arm64")).unwrap(), Some(arm.clone()));
        let untagged = |s: &Store| -> Vec<Digest> {
            s.images()
                .unwrap()
                .into_iter()
                .filter(|(n, _)| n.is_none())
                .map(|(_, d)| d.digest)
                .collect()
        };
        assert!(untagged(&s).is_empty(), "the manifests are the index's now");
        let regrown = s.set_ref_platform("grow:1", amd2.clone(), &p("linux/x86_64")).unwrap();
        let doc: image::ImageIndex = serde_json::from_slice(&s.get_blob(&regrown.digest).unwrap()).unwrap();
        let order: Vec<&Digest> = doc.manifests.iter().map(|e| &e.descriptor.digest).collect();
        assert_eq!(order, [&amd2.digest, &arm.digest], "replaced in place");
        assert_eq!(
            untagged(&s),
            vec![grown.digest.clone()],
            "the old index is an untagged image now"
        );
        // amd was named by "one:1" too, so only the old index became untagged.
        s.remove_ref("one:1").unwrap();
        let again = s.set_ref_platform("grow:1", amd.clone(), &p("linux/amd64")).unwrap();
        assert!(untagged(&s).contains(&amd2.digest));
        assert!(!untagged(&s).contains(&amd.digest));
        assert_eq!(s.get_ref("grow:1").unwrap().unwrap().digest, again.digest);

        // A corrupt index is an error, not "no image".
        s.set_ref(
            "bad:1",
            Descriptor {
                digest: Digest::of(b"{}"),
                ..idx.clone()
            },
        )
        .unwrap();
        s.put_blob(b"{}").unwrap();
        assert!(s.get_ref_for("bad:1", &p("linux/amd64")).is_err());
    }

    #[test]
    fn digests_parse_strictly() {
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "A".repeat(64)).parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "a".repeat(64)).parse::<Digest>().is_ok());
    }
}
