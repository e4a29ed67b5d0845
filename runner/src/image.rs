//! Images in the store: import a root filesystem as a one-layer image, list, resolve a
//! name or ID, load, tag, remove.
//!
//! Names are stored normalised as Docker does (`busybox` → `docker.io/library/busybox:latest`,
//! see [`slipway_store::image::normalize_name`]) in `index.json`'s ref-name annotation, and
//! shown in their short form. An image's ID is its config's digest, as in Docker.

use crate::layer::{layer_from_tar, write_layer, LayerInfo, LayerOptions};
use slipway_store::image::{
    familiar_name, is_index, normalize_name, History, ImageConfig, ImageIndex, Manifest, RootFs, RunConfig,
};
use slipway_store::platform::Platform;
use slipway_store::{Descriptor, Digest, Store, MEDIA_CONFIG, MEDIA_MANIFEST};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The OCI architecture name of this machine.
pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// A stored image, resolved.
#[derive(Debug, Clone)]
pub struct Image {
    /// The full name it was found by (None when found by ID).
    pub name: Option<String>,
    pub manifest_descriptor: Descriptor,
    pub manifest: Manifest,
    pub config: ImageConfig,
}

impl Image {
    /// The image ID: the config's digest.
    pub fn id(&self) -> &Digest {
        &self.manifest.config.digest
    }

    /// Config plus layer blob sizes.
    pub fn size(&self) -> u64 {
        self.manifest.config.size + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// RFC 3339 UTC for seconds since the epoch (days-from-civil, Howard Hinnant's algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `$SOURCE_DATE_EPOCH` if set, else now.
fn created_now() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
}

/// Writes a layer into the store via a temp file under `<root>/tmp`.
pub(crate) fn store_layer(
    store: &Store,
    write: impl FnOnce(&mut fs::File) -> io::Result<LayerInfo>,
) -> io::Result<LayerInfo> {
    let dir = store.root().join("tmp");
    fs::create_dir_all(&dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!("layer-{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", tmp.display())))?;
        let info = write(&mut f)?;
        drop(f);
        // The layer writer hashed the bytes as they went: no second read of the blob.
        store.put_blob_file(&tmp, &info.digest)?;
        Ok(info)
    })();
    let _ = fs::remove_file(&tmp);
    result
}

/// Imports a root filesystem (a directory, or a tar or tar.gz file) as a one-layer image
/// of this machine's platform named `name` (see [`import_for`]); returns the stored image.
pub fn import(store: &Store, source: &Path, name: &str) -> io::Result<Image> {
    import_for(store, source, name, &Platform::host())
}

/// Imports a root filesystem as a one-layer image for `platform` (its config gets the
/// platform's os, architecture and variant, normalised) named `name`. When the name has
/// images of other platforms it becomes an index of them all (an image of the same
/// platform is replaced), see [`Store::set_ref_platform`]. Returns the stored image.
pub fn import_for(store: &Store, source: &Path, name: &str, platform: &Platform) -> io::Result<Image> {
    let platform = platform.normalize();
    let full = normalize_name(name).map_err(invalid)?;
    let _in_use = store.lock_in_use()?;
    let meta =
        fs::metadata(source).map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", source.display())))?;
    let options = LayerOptions::default();
    let layer = if meta.is_dir() {
        store_layer(store, |f| write_layer(source, &options, io::BufWriter::new(f)))?
    } else {
        let input = fs::File::open(source)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", source.display())))?;
        store_layer(store, |f| {
            layer_from_tar(io::BufReader::new(input), &options, io::BufWriter::new(f))
        })?
    };
    let created = rfc3339(created_now());
    let config = ImageConfig {
        created: Some(created.clone()),
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        config: RunConfig {
            env: vec![format!("PATH={}", crate::container::DEFAULT_PATH)],
            ..RunConfig::default()
        },
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        history: vec![History {
            created: Some(created),
            created_by: Some(format!(
                "slipway image import {}",
                source.file_name().unwrap_or_default().to_string_lossy()
            )),
            ..History::default()
        }],
        ..ImageConfig::default()
    };
    let config_bytes = serde_json::to_vec(&config).map_err(io::Error::other)?;
    let layers = vec![Descriptor {
        media_type: layer.media_type.into(),
        digest: layer.digest,
        size: layer.size,
        annotations: BTreeMap::new(),
    }];
    let (_, manifest, descriptor) = put_manifest(store, &config_bytes, layers)?;
    store.set_ref_platform(&full, descriptor.clone(), &platform)?;
    Ok(Image {
        name: Some(full),
        manifest_descriptor: descriptor,
        manifest,
        config,
    })
}

/// Loads the manifest and config a descriptor points at.
pub fn load(store: &Store, name: Option<String>, descriptor: Descriptor) -> io::Result<Image> {
    fn parse<T: serde::de::DeserializeOwned>(bytes: Vec<u8>, what: &str, d: &Digest) -> io::Result<T> {
        serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{what} {d}: {e}")))
    }
    let manifest: Manifest = parse(store.get_blob(&descriptor.digest)?, "manifest", &descriptor.digest)?;
    let config: ImageConfig = parse(
        store.get_blob(&manifest.config.digest)?,
        "config",
        &manifest.config.digest,
    )?;
    let mut descriptor = descriptor;
    descriptor.annotations.clear();
    Ok(Image {
        name,
        manifest_descriptor: descriptor,
        manifest,
        config,
    })
}

/// Every image: one entry per name (sorted by name), then the untagged images
/// (`name` None), in the order they were made. A name of an index gives each of the
/// index's images under that name (see [`entries`] for the indexes themselves).
pub fn list(store: &Store) -> io::Result<Vec<Image>> {
    let mut out = Vec::new();
    for entry in entries(store)? {
        match entry {
            Stored::Image(i) => out.push(*i),
            Stored::Index(x) => out.extend(x.images.into_iter().map(|(_, i)| i)),
        }
    }
    Ok(out)
}

/// What a name (or an untagged entry) of the store holds: an image, or an index of images
/// for several platforms.
#[derive(Debug, Clone)]
pub enum Stored {
    Image(Box<Image>),
    Index(Index),
}

/// An image index in the store, with its images.
#[derive(Debug, Clone)]
pub struct Index {
    /// The full name (None for an untagged index).
    pub name: Option<String>,
    /// The index blob's descriptor; its digest is the index's ID.
    pub descriptor: Descriptor,
    pub index: ImageIndex,
    /// The entries' images with their platforms, in the index's order (attestations and
    /// entries whose blobs the store lacks are left out).
    pub images: Vec<(Platform, Image)>,
}

impl Index {
    /// The ID `images` shows and `run` accepts: the index's digest.
    pub fn id(&self) -> &Digest {
        &self.descriptor.digest
    }

    /// The index blob plus every blob of its images, each counted once.
    pub fn size(&self) -> u64 {
        let mut seen = std::collections::BTreeSet::new();
        let mut size = self.descriptor.size;
        for (_, i) in &self.images {
            let blobs = std::iter::once(&i.manifest_descriptor)
                .chain(std::iter::once(&i.manifest.config))
                .chain(&i.manifest.layers);
            for b in blobs {
                if seen.insert(&b.digest) {
                    size += b.size;
                }
            }
        }
        size
    }

    /// When its newest image was made (RFC 3339, as in the configs).
    pub fn created(&self) -> Option<&str> {
        self.images
            .iter()
            .filter_map(|(_, i)| i.config.created.as_deref())
            .max()
    }

    /// The image for `platform` (see [`ImageIndex::select`]).
    pub fn select(&self, platform: &Platform) -> Option<&Image> {
        let entry = self.index.select(platform)?;
        self.images
            .iter()
            .find(|(_, i)| i.manifest_descriptor.digest == entry.descriptor.digest)
            .map(|(_, i)| i)
    }
}

impl Stored {
    pub fn name(&self) -> Option<&str> {
        match self {
            Stored::Image(i) => i.name.as_deref(),
            Stored::Index(i) => i.name.as_deref(),
        }
    }

    /// The ID: an image's config digest, an index's digest.
    pub fn id(&self) -> &Digest {
        match self {
            Stored::Image(i) => i.id(),
            Stored::Index(i) => i.id(),
        }
    }

    /// The descriptor the name points at (a manifest's or an index's).
    pub fn descriptor(&self) -> &Descriptor {
        match self {
            Stored::Image(i) => &i.manifest_descriptor,
            Stored::Index(i) => &i.descriptor,
        }
    }
}

/// Loads what a descriptor of `index.json` points at: an image, or an index and its images.
pub fn load_stored(store: &Store, name: Option<String>, descriptor: Descriptor) -> io::Result<Stored> {
    if !is_index(&descriptor.media_type) {
        return load(store, name, descriptor).map(|i| Stored::Image(Box::new(i)));
    }
    let bytes = store.get_blob(&descriptor.digest)?;
    let index: ImageIndex = serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("index {}: {e}", descriptor.digest)))?;
    let mut images = Vec::new();
    for entry in &index.manifests {
        let Some(platform) = entry.platform.clone().filter(|p| p.os != "unknown") else {
            continue;
        };
        if is_index(&entry.descriptor.media_type) || !store.has_blob(&entry.descriptor.digest) {
            continue;
        }
        images.push((platform, load(store, name.clone(), entry.descriptor.clone())?));
    }
    let mut descriptor = descriptor;
    descriptor.annotations.clear();
    Ok(Stored::Index(Index {
        name,
        descriptor,
        index,
        images,
    }))
}

/// Every name and untagged entry of the store, images and indexes: one per name (sorted by
/// name), then the untagged ones in the order they were made.
pub fn entries(store: &Store) -> io::Result<Vec<Stored>> {
    store
        .images()?
        .into_iter()
        .map(|(name, d)| load_stored(store, name, d))
        .collect()
}

/// Finds what a reference names, without choosing a platform: a name, an ID (an image's
/// config digest or an index's digest), a manifest digest, or a unique prefix of one (at
/// least 4 hex digits). An image of an index is found by its ID or manifest digest too.
pub fn find(store: &Store, reference: &str) -> io::Result<Stored> {
    if let Ok(full) = normalize_name(reference) {
        if let Some(d) = store.get_ref(&full)? {
            return load_stored(store, Some(full), d);
        }
    }
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hex = hex.to_ascii_lowercase();
        let mut found: Vec<Stored> = Vec::new();
        let mut add = |s: Stored| {
            if !found.iter().any(|f| f.descriptor().digest == s.descriptor().digest) {
                found.push(s);
            }
        };
        let hit = |i: &Image| i.id().hex().starts_with(&hex) || i.manifest_descriptor.digest.hex().starts_with(&hex);
        for entry in entries(store)? {
            match entry {
                Stored::Image(i) if hit(&i) => add(Stored::Image(Box::new(Image { name: None, ..*i }))),
                Stored::Image(_) => {}
                Stored::Index(x) if x.id().hex().starts_with(&hex) => add(Stored::Index(Index { name: None, ..x })),
                Stored::Index(x) => {
                    for (_, i) in x.images.into_iter().filter(|(_, i)| hit(i)) {
                        add(Stored::Image(Box::new(Image { name: None, ..i })));
                    }
                }
            }
        }
        match found.len() {
            0 => {}
            1 => return Ok(found.remove(0)),
            _ => {
                return Err(invalid(format!(
                    "{reference} matches {} images; give more of the ID",
                    found.len()
                )))
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "no image {reference} in the store (import a root filesystem with `slipway image import ROOTFS.tar --tag {reference}`)"
        ),
    ))
}

/// Finds an image by name (`busybox`, `me/app:1`), by ID or manifest digest
/// (`sha256:…`), or by a unique prefix of an ID's hex (at least 4 characters); for a name
/// or ID of an index, the host platform's image ([`resolve_platform`] with None).
/// `oci-layout://PATH[:tag|@digest]` is an image in an OCI layout directory, brought
/// into the store (see [`crate::export::import_layout`]).
pub fn resolve(store: &Store, reference: &str) -> io::Result<Image> {
    resolve_platform(store, reference, None)
}

/// [`resolve`] for a platform. An index gives its image for `platform` (None: the host's);
/// a plain image is itself when `platform` is None or its config matches it. Otherwise the
/// error names the platforms there are and how to get the one asked for.
pub fn resolve_platform(store: &Store, reference: &str, platform: Option<&Platform>) -> io::Result<Image> {
    if let Some(r) = reference.strip_prefix(slipway_store::layout::SCHEME) {
        let want = platform.cloned().unwrap_or_else(Platform::host);
        let image = crate::export::import_layout_for(store, r, &want)?;
        return match platform {
            Some(p) if !Platform::of_config(&image.config).matches(p) => {
                Err(no_platform(reference, p, &[Platform::of_config(&image.config)]))
            }
            _ => Ok(image),
        };
    }
    match find(store, reference)? {
        Stored::Image(image) => match platform {
            Some(p) if !Platform::of_config(&image.config).matches(p) => {
                Err(no_platform(reference, p, &[Platform::of_config(&image.config)]))
            }
            _ => Ok(*image),
        },
        Stored::Index(index) => {
            let want = platform.cloned().unwrap_or_else(Platform::host);
            match index.select(&want) {
                Some(image) => Ok(image.clone()),
                None => Err(no_platform(reference, &want, &index.index.platforms())),
            }
        }
    }
}

fn no_platform(reference: &str, want: &Platform, have: &[Platform]) -> io::Error {
    let have: Vec<String> = have.iter().map(Platform::to_string).collect();
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "{reference} has no {want} image (it has {}): pull it with `slipway pull --platform {want} {reference}`, or import one with `slipway image import --platform {want} ROOTFS.tar --tag {reference}`",
            if have.is_empty() { "none".to_string() } else { have.join(", ") }
        ),
    )
}

/// Writes an image index of `entries` (manifests in the store, with their platforms) and
/// names it under every tag (normalised as Docker does), or records it untagged when `tags`
/// is empty. The manifests stop being untagged images of their own (the index reaches them).
/// Returns the index's descriptor; its digest is the index's ID.
pub fn store_index(store: &Store, tags: &[String], entries: &[(Descriptor, Platform)]) -> io::Result<Descriptor> {
    let names = tags
        .iter()
        .map(|t| normalize_name(t).map_err(invalid))
        .collect::<io::Result<Vec<_>>>()?;
    if entries.is_empty() {
        return Err(invalid("an image index needs at least one image".into()));
    }
    for (i, (d, p)) in entries.iter().enumerate() {
        if is_index(&d.media_type) {
            return Err(invalid(format!(
                "{} is an index: an index holds image manifests",
                d.digest
            )));
        }
        if entries[..i].iter().any(|(_, q)| q.matches(p)) {
            return Err(invalid(format!("two images for {p} in one index")));
        }
    }
    let _in_use = store.lock_in_use()?;
    let descriptor = store.put_index(entries)?;
    if names.is_empty() {
        store.add_image(descriptor.clone())?;
    }
    for n in &names {
        store.set_ref(n, descriptor.clone())?;
    }
    for (d, _) in entries {
        store.remove_image(&d.digest)?;
    }
    Ok(descriptor)
}

/// Gives the image `source` a new name; returns the new full name.
pub fn tag(store: &Store, source: &str, target: &str) -> io::Result<String> {
    let found = find(store, source)?;
    let full = normalize_name(target).map_err(invalid)?;
    store.set_ref(&full, found.descriptor().clone())?;
    Ok(full)
}

/// What [`remove`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A name was removed (the image stays while it has another).
    Untagged(String),
    /// An image was removed by its ID, with the names it had.
    Deleted { id: Digest, names: Vec<String> },
}

/// Removes a name, or an image given by its ID (with all its names when `force`, or
/// when it has at most one), as `docker rmi`; blobs stay until a prune.
pub fn remove(store: &Store, reference: &str, force: bool) -> io::Result<Removed> {
    if let Ok(full) = normalize_name(reference) {
        if store.remove_ref(&full)? {
            return Ok(Removed::Untagged(full));
        }
    }
    let image = match find(store, reference) {
        Ok(i) if i.name().is_none() => i,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no such image: {reference}"),
            ))
        }
    };
    let digest = &image.descriptor().digest;
    // An image found by ID inside an index is not an entry of its own: the index goes whole.
    if !store.images()?.iter().any(|(_, d)| &d.digest == digest) {
        return Err(invalid(format!(
            "{reference} is one platform's image of an image index; remove the index (by its name or ID, see `slipway images --tree`)"
        )));
    }
    let names: Vec<String> = store
        .refs()?
        .into_iter()
        .filter(|(_, d)| &d.digest == digest)
        .map(|(n, _)| n)
        .collect();
    if names.len() > 1 && !force {
        return Err(invalid(format!(
            "unable to delete {} (must be forced): image is referenced in multiple names ({})",
            &image.id().hex()[..12],
            names.iter().map(|n| familiar_name(n)).collect::<Vec<_>>().join(", ")
        )));
    }
    for n in &names {
        store.remove_ref(n)?;
    }
    store.remove_image(digest)?;
    Ok(Removed::Deleted {
        id: image.id().clone(),
        names,
    })
}

/// Writes a container's upper dir into the store as a layer blob.
pub fn commit_layer(store: &Store, upper: &Path, options: &LayerOptions) -> io::Result<LayerInfo> {
    store_layer(store, |f| write_layer(upper, options, io::BufWriter::new(f)))
}

/// Stores an image: its config (as these bytes, so an image ID survives a round trip) and a
/// manifest naming it and `layers`. Returns the config digest (the image ID), the manifest
/// and the manifest's descriptor.
pub fn put_manifest(
    store: &Store,
    config_bytes: &[u8],
    layers: Vec<Descriptor>,
) -> io::Result<(Digest, Manifest, Descriptor)> {
    let config_digest = store.put_blob(config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_MANIFEST.into()),
        config: Descriptor {
            media_type: MEDIA_CONFIG.into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
            annotations: BTreeMap::new(),
        },
        layers,
        annotations: BTreeMap::new(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    let descriptor = Descriptor {
        media_type: MEDIA_MANIFEST.into(),
        digest: store.put_blob(&manifest_bytes)?,
        size: manifest_bytes.len() as u64,
        annotations: BTreeMap::new(),
    };
    Ok((config_digest, manifest, descriptor))
}

/// Makes `upper` (a step's overlayfs upper dir, just written as a layer with diff_id
/// `diff_id`) the unpacked layer directory, by renaming it, instead of unpacking the blob
/// again. Only for an `exact` layer (nothing in the dir was left out of the tar); when the
/// layer is unpacked already, `upper` is left alone.
pub fn adopt_layer(store: &Store, upper: &Path, diff_id: &Digest) -> io::Result<()> {
    let layers = store.root().join("layers");
    let dir = layers.join(diff_id.hex());
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(&layers)?;
    match fs::rename(upper, &dir) {
        Err(_) if dir.is_dir() => Ok(()),
        r => r,
    }
}

/// A reader that hashes what passes through.
struct HashingReader<R> {
    inner: R,
    hash: sha2::Sha256,
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hash, &buf[..n]);
        Ok(n)
    }
}

/// The unpacked directory of a layer: `<root>/layers/<diff_id hex>/`, usable as an
/// overlayfs lower dir (whiteouts as overlayfs' 0/0 character devices, opaque
/// directories with `trusted.overlay.opaque=y`). Unpacked once per diff_id, into a temp
/// directory renamed into place, so a crash never leaves a half layer under the name.
/// Needs root (mknod, trusted.* xattrs, ownership).
pub fn unpack_layer(store: &Store, layer: &Descriptor, diff_id: &Digest) -> io::Result<std::path::PathBuf> {
    let layers = store.root().join("layers");
    let dir = layers.join(diff_id.hex());
    if dir.is_dir() {
        return Ok(dir);
    }
    fs::create_dir_all(&layers)?;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = layers.join(format!(".tmp-{}-{n}", std::process::id()));
    let result = (|| {
        fs::create_dir(&tmp)?;
        let blob = io::BufReader::new(
            fs::File::open(store.blob_path(&layer.digest))
                .map_err(|e| io::Error::new(e.kind(), format!("layer blob {}: {e}", layer.digest)))?,
        );
        let decompressed = crate::layer::decompressor(&layer.media_type, blob)?;
        let mut reader = HashingReader {
            inner: decompressed,
            hash: sha2::Digest::new(),
        };
        unpack_tar(&mut reader, &tmp, true)?;
        io::copy(&mut reader, &mut io::sink())?;
        let got = format!("sha256:{}", slipway_store::hex(&sha2::Digest::finalize(reader.hash)));
        if got != diff_id.as_str() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("layer {} unpacks to {got}, not its diff_id {diff_id}", layer.digest),
            ));
        }
        match fs::rename(&tmp, &dir) {
            // Another process unpacked it first: theirs is as good.
            Err(_) if dir.is_dir() => {
                let _ = fs::remove_dir_all(&tmp);
                Ok(())
            }
            r => r,
        }
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result.map(|()| dir)
}

/// Unpacks a tar of a plain directory (see [`crate::layer::write_dir`]) into `dir`:
/// `.wh.` names are ordinary files there, and device nodes are left out.
pub(crate) fn unpack_dir(reader: impl io::Read, dir: &Path) -> io::Result<()> {
    unpack_tar(reader, dir, false)
}

/// Unpacks an OCI layer tar into `dir`, turning `.wh.` entries into overlayfs whiteouts
/// when `overlay`. Paths that would leave `dir` (`..`, absolute, through symlinks) are
/// refused by `tar::Entry::unpack_in`.
fn unpack_tar(reader: impl io::Read, dir: &Path, overlay: bool) -> io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let mut dirs: Vec<(std::path::PathBuf, i64)> = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(hidden) = name.strip_prefix(crate::layer::WHITEOUT_PREFIX).filter(|_| overlay) {
            let parent = path.parent().unwrap_or(Path::new(""));
            if parent
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(invalid(format!("layer entry {} leaves the layer", path.display())));
            }
            let parent = dir.join(parent);
            fs::create_dir_all(&parent)?;
            if name == crate::layer::OPAQUE_MARKER {
                xattr::set(&parent, crate::layer::OPAQUE_XATTR, b"y")
                    .map_err(|e| io::Error::new(e.kind(), format!("setxattr {}: {e}", parent.display())))?;
            } else {
                let target = parent.join(hidden);
                if let Ok(m) = fs::symlink_metadata(&target) {
                    if m.is_dir() {
                        fs::remove_dir_all(&target)?;
                    } else {
                        fs::remove_file(&target)?;
                    }
                }
                crate::sys::whiteout(&target)?;
            }
            continue;
        }
        let kind = entry.header().entry_type();
        if !overlay && (kind.is_character_special() || kind.is_block_special()) {
            continue;
        }
        if kind.is_fifo() || kind.is_character_special() || kind.is_block_special() {
            // The tar crate would write these as empty files.
            let at = node_path(dir, &path)?;
            let node = if kind.is_fifo() {
                crate::sys::NodeKind::Fifo
            } else if kind.is_character_special() {
                crate::sys::NodeKind::Char
            } else {
                crate::sys::NodeKind::Block
            };
            let h = entry.header();
            let mode = h.mode().unwrap_or(0o644) & 0o7777;
            if let Ok(m) = fs::symlink_metadata(&at) {
                if m.is_dir() {
                    fs::remove_dir_all(&at)?;
                } else {
                    fs::remove_file(&at)?;
                }
            }
            crate::sys::make_node(
                &at,
                node,
                mode,
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            )?;
            let (uid, gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
            std::os::unix::fs::lchown(&at, Some(uid), Some(gid))?;
            fs::set_permissions(&at, fs::Permissions::from_mode(mode))?;
            continue;
        }
        let mtime = entry
            .header()
            .mtime()
            .ok()
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(0);
        if !entry.unpack_in(dir)? {
            return Err(invalid(format!("layer entry {} leaves the layer", path.display())));
        }
        if kind.is_dir() {
            dirs.push((path, mtime));
        } else if kind.is_symlink() {
            // The tar crate leaves a link's own time alone.
            crate::build::set_mtime(&node_path(dir, &path)?, mtime, 0, false)?;
        }
    }
    // A directory's entries changed its mtime as they were made: its own comes last.
    for (path, mtime) in dirs.iter().rev() {
        if let Ok(at) = node_path(dir, path) {
            if fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
                crate::build::set_mtime(&at, *mtime, 0, false)?;
            }
        }
    }
    Ok(())
}

/// Where a layer entry `path` goes under `dir`, its parents created; refused when it
/// would leave `dir` (`..`, an absolute path, a link among its parents).
fn node_path(dir: &Path, path: &Path) -> io::Result<std::path::PathBuf> {
    use std::path::Component;
    let mut at = dir.to_path_buf();
    let comps: Vec<_> = path.components().filter(|c| !matches!(c, Component::CurDir)).collect();
    for (i, c) in comps.iter().enumerate() {
        let Component::Normal(n) = c else {
            return Err(invalid(format!("layer entry {} leaves the layer", path.display())));
        };
        at.push(n);
        if i + 1 < comps.len() {
            match fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(invalid(format!(
                        "layer entry {} goes through a non-directory",
                        path.display()
                    )))
                }
                Err(_) => fs::create_dir(&at)?,
            }
        }
    }
    Ok(at)
}

/// The unpacked layers of an image, bottom first: overlayfs lower dirs.
pub fn unpack_image(store: &Store, image: &Image) -> io::Result<Vec<std::path::PathBuf>> {
    if image.manifest.layers.len() != image.config.rootfs.diff_ids.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "image {} has {} layers but {} diff_ids",
                image.id(),
                image.manifest.layers.len(),
                image.config.rootfs.diff_ids.len()
            ),
        ));
    }
    unpack_layers(store, &image.manifest.layers, &image.config.rootfs.diff_ids)
}

/// The unpacked directories of `layers` (bottom first, with their `diff_ids`), each
/// unpacked from its blob the first time something needs it (see [`unpack_layer`]).
pub fn unpack_layers(store: &Store, layers: &[Descriptor], diff_ids: &[Digest]) -> io::Result<Vec<std::path::PathBuf>> {
    if layers.len() != diff_ids.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} layers but {} diff_ids", layers.len(), diff_ids.len()),
        ));
    }
    layers
        .iter()
        .zip(diff_ids)
        .map(|(l, d)| unpack_layer(store, l, d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    /// An image of `platform` under `name`: a directory imported, its config rewritten.
    fn image_for(store: &Store, dir: &Path, name: &str, platform: &str) -> Image {
        let p = Platform::parse(platform).unwrap();
        let mut image = import(store, dir, name).unwrap();
        image.config.os = p.os;
        image.config.architecture = p.architecture;
        image.config.variant = p.variant;
        let bytes = serde_json::to_vec(&image.config).unwrap();
        let (_, manifest, descriptor) = put_manifest(store, &bytes, image.manifest.layers.clone()).unwrap();
        store
            .set_ref(&normalize_name(name).unwrap(), descriptor.clone())
            .unwrap();
        store.remove_image(&image.manifest_descriptor.digest).unwrap();
        Image {
            manifest_descriptor: descriptor,
            manifest,
            ..image
        }
    }

    #[test]
    fn imports_of_two_platforms_under_one_name_make_an_index() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path().join("store")).unwrap();
        let rootfs = d.path().join("rootfs");
        fs::create_dir_all(&rootfs).unwrap();
        let p = |s: &str| Platform::parse(s).unwrap();
        let amd = import_for(&store, &rootfs, "bb", &p("linux/x86_64")).unwrap();
        assert_eq!(
            (amd.config.os.as_str(), amd.config.architecture.as_str()),
            ("linux", "amd64")
        );
        let arm = import_for(&store, &rootfs, "bb", &p("linux/arm64/v8")).unwrap();
        assert_eq!(
            (arm.config.architecture.as_str(), arm.config.variant.as_deref()),
            ("arm64", None)
        );
        let armv7 = import_for(&store, &rootfs, "bb", &p("linux/arm")).unwrap();
        assert_eq!(armv7.config.variant.as_deref(), Some("v7"));
        let Stored::Index(index) = find(&store, "bb").unwrap() else {
            panic!("bb is not an index")
        };
        let platforms: Vec<String> = index.images.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64", "linux/arm/v7"]);
        assert_eq!(
            resolve_platform(&store, "bb", Some(&p("linux/aarch64"))).unwrap().id(),
            arm.id()
        );
        // Importing arm64 again replaces that entry only.
        fs::write(rootfs.join("new"), "x").unwrap();
        let arm2 = import_for(&store, &rootfs, "bb", &p("linux/arm64")).unwrap();
        let Stored::Index(index) = find(&store, "bb").unwrap() else {
            panic!("bb is not an index")
        };
        let ids: Vec<&Digest> = index.images.iter().map(|(_, i)| i.id()).collect();
        assert_eq!(ids, [amd.id(), arm2.id(), armv7.id()]);
        assert!(store.verify().unwrap().is_empty());

        // `oci-layout://` of an exported index gives the platform asked for.
        let layout = d.path().join("layout");
        let names = ["bb:latest".to_string()];
        let dest = crate::export::Dest::Dir(layout.clone());
        let compression = crate::layer::Compression::Gzip;
        crate::export::export_index(&store, &index, &names, crate::export::Format::Oci, compression, &dest).unwrap();
        let other = Store::open(d.path().join("other")).unwrap();
        let r = format!("oci-layout://{}:latest", layout.display());
        assert_eq!(
            resolve_platform(&other, &r, Some(&p("linux/arm64"))).unwrap().id(),
            arm2.id()
        );
        assert_eq!(
            resolve_platform(&other, &r, Some(&p("linux/arm/v7"))).unwrap().id(),
            armv7.id()
        );
        let e = resolve_platform(&other, &r, Some(&p("linux/s390x"))).unwrap_err();
        assert!(e.to_string().contains("has no image for linux/s390x"), "{e}");
    }

    #[test]
    fn an_index_names_one_image_per_platform() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path().join("store")).unwrap();
        let rootfs = d.path().join("rootfs");
        fs::create_dir_all(&rootfs).unwrap();
        fs::write(rootfs.join("f"), "x").unwrap();
        let host = Platform::host();
        let foreign = if host.architecture == "s390x" {
            "linux/riscv64"
        } else {
            "linux/s390x"
        };
        let native = image_for(&store, &rootfs, "one:native", &host.to_string());
        let other = image_for(&store, &rootfs, "one:foreign", foreign);
        let p = |s: &str| Platform::parse(s).unwrap();

        // A plain image: itself without a platform or for its own, an error for another.
        assert_eq!(resolve_platform(&store, "one:foreign", None).unwrap().id(), other.id());
        assert_eq!(
            resolve_platform(&store, "one:foreign", Some(&p(foreign))).unwrap().id(),
            other.id()
        );
        let e = resolve_platform(&store, "one:foreign", Some(&host)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("one:foreign has no {host} image (it has {foreign}): ")),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains(&format!("slipway pull --platform {host} one:foreign")),
            "{e}"
        );

        let index = store_index(
            &store,
            &["multi:1".to_string(), "multi:latest".to_string()],
            &[
                (native.manifest_descriptor.clone(), host.clone()),
                (other.manifest_descriptor.clone(), p(foreign)),
            ],
        )
        .unwrap();
        assert_eq!(index.media_type, slipway_store::MEDIA_INDEX);
        assert_eq!(
            store.get_ref("docker.io/library/multi:1").unwrap().unwrap().digest,
            index.digest
        );
        assert_eq!(
            store
                .get_ref_for("docker.io/library/multi:1", &p(foreign))
                .unwrap()
                .unwrap()
                .digest,
            other.manifest_descriptor.digest
        );
        // The host's by default, each platform's on request, a clear error for another.
        assert_eq!(resolve(&store, "multi:1").unwrap().id(), native.id());
        assert_eq!(
            resolve_platform(&store, "multi:1", Some(&p(foreign))).unwrap().id(),
            other.id()
        );
        let e = resolve_platform(&store, "multi:1", Some(&p("linux/mips64le"))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("multi:1 has no linux/mips64le image (it has {host}, {foreign}): pull it with `slipway pull --platform linux/mips64le multi:1`")),
            "{e}"
        );
        // The index's ID is its digest; a prefix finds it, and its images by their IDs.
        let by_id = find(&store, &index.digest.hex()[..12]).unwrap();
        assert!(matches!(&by_id, Stored::Index(x) if x.id() == &index.digest && x.images.len() == 2));
        assert_eq!(
            resolve_platform(&store, index.digest.as_str(), Some(&p(foreign)))
                .unwrap()
                .id(),
            other.id()
        );
        assert!(matches!(find(&store, &other.id().hex()[..12]).unwrap(), Stored::Image(i) if i.id() == other.id()));
        // Listed once per name; `list` gives the images under the index's names.
        let listed: Vec<(Option<String>, String)> = entries(&store)
            .unwrap()
            .iter()
            .map(|e| (e.name().map(String::from), e.id().to_string()))
            .collect();
        assert!(listed.contains(&(Some("docker.io/library/multi:1".into()), index.digest.to_string())));
        assert_eq!(
            listed.iter().filter(|(_, id)| *id == index.digest.to_string()).count(),
            2
        );
        assert_eq!(
            list(&store)
                .unwrap()
                .iter()
                .filter(|i| i.name.as_deref() == Some("docker.io/library/multi:1"))
                .count(),
            2
        );

        // Tagging a name of an index tags the index; an index of one platform twice is refused.
        tag(&store, "multi:1", "again:1").unwrap();
        assert_eq!(
            store.get_ref("docker.io/library/again:1").unwrap().unwrap().digest,
            index.digest
        );
        let twice = store_index(
            &store,
            &[],
            &[
                (native.manifest_descriptor.clone(), host.clone()),
                (native.manifest_descriptor.clone(), host.clone()),
            ],
        );
        assert!(twice.unwrap_err().to_string().contains("two images for"));
        assert!(store_index(&store, &["x:1".into()], &[]).is_err());
        assert!(store_index(
            &store,
            &["Bad Name".into()],
            &[(native.manifest_descriptor.clone(), host.clone())]
        )
        .is_err());

        // The images' own names go; prune keeps everything the index reaches.
        store.remove_ref("docker.io/library/one:native").unwrap();
        store.remove_ref("docker.io/library/one:foreign").unwrap();
        let e = remove(&store, other.id().as_str(), false).unwrap_err();
        assert!(e.to_string().contains("one platform's image of an image index"), "{e}");
        crate::prune::prune(&store, crate::prune::PruneOptions::default(), || {}).unwrap();
        assert!(store.verify().unwrap().is_empty(), "{:?}", store.verify());
        assert_eq!(
            resolve_platform(&store, "multi:1", Some(&p(foreign))).unwrap().id(),
            other.id()
        );
        assert!(store.has_blob(&other.manifest.layers[0].digest));
        // An untagged index: listed without a name, found by its ID.
        let untagged = store_index(&store, &[], &[(other.manifest_descriptor.clone(), p(foreign))]).unwrap();
        assert!(entries(&store)
            .unwrap()
            .iter()
            .any(|e| e.name().is_none() && e.id() == &untagged.digest));
        assert!(
            matches!(remove(&store, untagged.digest.as_str(), false).unwrap(), Removed::Deleted { id, .. } if id == untagged.digest)
        );
    }

    #[test]
    fn import_list_resolve_tag_remove() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path().join("store")).unwrap();
        let rootfs = d.path().join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::write(rootfs.join("bin/hello"), "#!/bin/sh\necho hi\n").unwrap();
        let image = import(&store, &rootfs, "hello").unwrap();
        assert_eq!(image.name.as_deref(), Some("docker.io/library/hello:latest"));
        assert_eq!(image.config.rootfs.diff_ids.len(), 1);
        assert!(store.has_blob(&image.manifest.layers[0].digest));

        // The same rootfs as a tar: the same diff_id.
        let tar_path = d.path().join("rootfs.tar");
        let mut b = tar::Builder::new(fs::File::create(&tar_path).unwrap());
        b.append_dir_all(".", &rootfs).unwrap();
        b.into_inner().unwrap();
        let from_tar = import(&store, &tar_path, "hello:tar").unwrap();
        assert_eq!(from_tar.manifest.layers.len(), 1);

        let names: Vec<_> = list(&store).unwrap().into_iter().filter_map(|i| i.name).collect();
        assert_eq!(names, ["docker.io/library/hello:latest", "docker.io/library/hello:tar"]);
        let by_id = resolve(&store, &image.id().hex()[..12]).unwrap();
        assert_eq!(by_id.manifest_descriptor.digest, image.manifest_descriptor.digest);
        assert_eq!(tag(&store, "hello", "me/hello:v1").unwrap(), "docker.io/me/hello:v1");
        assert_eq!(
            resolve(&store, "me/hello:v1").unwrap().manifest_descriptor.digest,
            image.manifest_descriptor.digest
        );
        assert_eq!(
            remove(&store, "hello", false).unwrap(),
            Removed::Untagged("docker.io/library/hello:latest".into())
        );
        let e = resolve(&store, "hello").unwrap_err();
        assert!(e.to_string().contains("slipway image import"), "{e}");
        assert!(remove(&store, "hello", false).is_err());
        assert!(
            !store.root().join("tmp").read_dir().unwrap().any(|_| true),
            "no temp file left"
        );
    }
}
