//! Images out of and into the store: OCI image layouts (a directory or a tar of one, as
//! BuildKit's `type=oci` exporter writes), docker archives (`docker save`'s format:
//! `manifest.json`, config JSON, one uncompressed `layer.tar` per layer, `repositories`),
//! loading either back, and `FROM oci-layout://PATH[:tag|@digest]`.
//!
//! Exports are deterministic: entries sorted, owner 0:0, mtime `$SOURCE_DATE_EPOCH` (else 0),
//! so the same images give the same bytes. Every blob that enters the store from outside
//! is checked against its digest, and every docker-archive layer against its diff_id.
//! <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>,
//! <https://github.com/moby/moby/blob/master/image/spec/v1.2.md> (the archive's manifest.json)

use crate::image::{self, Image};
use crate::layer::{layer_from_tar, Compression, LayerOptions};
use slipway_store::image::{familiar_name, is_index, normalize_name, ImageConfig, ImageIndex, Manifest};
use slipway_store::layout::{self, LayoutRef};
use slipway_store::platform::Platform;
use slipway_store::{Descriptor, Digest, Store, MEDIA_INDEX, REF_NAME};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::path::{Component, Path, PathBuf};

/// The annotation containerd and BuildKit give an OCI index entry: the image's full name.
pub const IMAGE_NAME_ANNOTATION: &str = "io.containerd.image.name";

/// What an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An OCI image layout.
    Oci,
    /// A docker archive (what `docker save` writes and `docker load` reads).
    Docker,
}

/// Where an export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// An OCI layout directory (created, or added to when it is one already).
    Dir(PathBuf),
    /// A tar file, written atomically.
    Tar(PathBuf),
    Stdout,
}

/// `--output type=oci|docker,dest=…[,tar=true|false][,name=NAME]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    pub dest: Dest,
    /// Extra names (`name=`), beyond the build's `-t`s.
    pub names: Vec<String>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn bad_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn ctx(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl Output {
    /// Parses a `--output` value as BuildKit spells it: comma-separated `key=value`
    /// fields. `type=oci` writes a layout directory unless `dest` ends in `.tar` or
    /// `tar=true`; `type=docker` writes a tar; `dest=-` is standard output (a tar).
    pub fn parse(spec: &str) -> Result<Output, String> {
        let (mut kind, mut dest, mut tar, mut names) = (None, None, None, Vec::new());
        for field in spec.split(',').filter(|f| !f.is_empty()) {
            let Some((k, v)) = field.split_once('=') else {
                return Err(format!(
                    "--output {spec}: {field:?} is not key=value (want type=oci|docker,dest=PATH)"
                ));
            };
            match k.trim() {
                "type" => kind = Some(v.to_string()),
                "dest" => dest = Some(v.to_string()),
                "tar" => {
                    tar = Some(match v {
                        "true" => true,
                        "false" => false,
                        _ => return Err(format!("--output {spec}: tar={v} (want true or false)")),
                    })
                }
                "name" => names.push(v.to_string()),
                other => {
                    return Err(format!(
                        "--output {spec}: unknown field {other:?} (known: type, dest, tar, name)"
                    ))
                }
            }
        }
        let format = match kind.as_deref() {
            Some("oci") => Format::Oci,
            Some("docker") => Format::Docker,
            Some(t @ ("local" | "tar" | "image" | "registry")) => {
                return Err(format!(
                    "--output type={t} is not supported yet (supported: type=oci, type=docker)"
                ))
            }
            Some(t) => return Err(format!("--output: unknown type {t:?} (want type=oci or type=docker)")),
            None => return Err(format!("--output {spec}: type= is required (type=oci or type=docker)")),
        };
        let dest = dest
            .filter(|d| !d.is_empty())
            .ok_or_else(|| format!("--output {spec}: dest= is required (a path, or - for standard output)"))?;
        let dest = if dest == "-" {
            Dest::Stdout
        } else {
            let as_tar = tar.unwrap_or(format == Format::Docker || dest.ends_with(".tar"));
            match (format, as_tar) {
                (Format::Docker, false) => {
                    return Err(format!(
                        "--output {spec}: a docker archive is a tar file; drop tar=false"
                    ))
                }
                (_, true) => Dest::Tar(dest.into()),
                (Format::Oci, false) => Dest::Dir(dest.into()),
            }
        };
        Ok(Output { format, dest, names })
    }
}

/// An image to export and the full names to give it there.
pub struct Named<'a> {
    pub image: &'a Image,
    pub names: Vec<String>,
}

/// Writes images to `dest` in `format`. The same image given twice is written once with
/// all its names.
///
/// An OCI layout gets the images as they leave the store: uncompressed layers compressed
/// as `compression` says (see [`crate::distribute`]). A docker archive holds tars anyway.
pub fn export(
    store: &Store,
    images: &[Named<'_>],
    format: Format,
    compression: Compression,
    dest: &Dest,
) -> io::Result<()> {
    let leaving: Vec<Image> = match format {
        Format::Oci => images
            .iter()
            .map(|n| crate::distribute::image(store, n.image, compression))
            .collect::<io::Result<_>>()?,
        Format::Docker => images.iter().map(|n| n.image.clone()).collect(),
    };
    // Group by manifest, keep order of first appearance.
    let mut groups: Vec<(&Image, Vec<String>)> = Vec::new();
    for (n, image) in images.iter().zip(&leaving) {
        let names: Vec<String> = n
            .names
            .iter()
            .map(|x| normalize_name(x).map_err(invalid))
            .collect::<io::Result<_>>()?;
        match groups
            .iter_mut()
            .find(|(i, _)| i.manifest_descriptor.digest == image.manifest_descriptor.digest)
        {
            Some((_, existing)) => {
                for x in names {
                    if !existing.contains(&x) {
                        existing.push(x);
                    }
                }
            }
            None => groups.push((image, names)),
        }
    }
    let out = match format {
        Format::Oci => Out::Oci(
            groups
                .iter()
                .map(|(image, names)| Top {
                    descriptor: image.manifest_descriptor.clone(),
                    blobs: image_blobs(image),
                    names: names.clone(),
                })
                .collect(),
        ),
        Format::Docker => Out::Docker(groups),
    };
    write_out(store, &out, dest)
}

/// Writes an image index of the store (see [`image::Index`]) to `dest`, named `names`.
/// An OCI layout gets the index itself: `index.json` points at the index blob, which names
/// each platform's manifest (layers compressed as `compression` says, see
/// [`crate::distribute::index`]), with their configs and layers. A docker archive holds
/// one image per name, so it gets the host platform's image: the platform written is
/// returned then (None for an OCI layout), for the caller to say so.
pub fn export_index(
    store: &Store,
    index: &image::Index,
    names: &[String],
    format: Format,
    compression: Compression,
    dest: &Dest,
) -> io::Result<Option<Platform>> {
    let names: Vec<String> = names
        .iter()
        .map(|x| normalize_name(x).map_err(invalid))
        .collect::<io::Result<_>>()?;
    let what = || {
        index
            .name
            .as_deref()
            .map_or_else(|| index.id().to_string(), |n| familiar_name(n).to_string())
    };
    match format {
        Format::Docker => {
            let host = Platform::host();
            let Some(image) = index.select(&host) else {
                let have: Vec<String> = index.index.platforms().iter().map(Platform::to_string).collect();
                return Err(invalid(format!(
                    "{} has no {host} image (it has {}), and a docker archive holds one platform's image; export it with type=oci to keep every platform",
                    what(),
                    have.join(", ")
                )));
            };
            export(store, &[Named { image, names }], Format::Docker, compression, dest)?;
            Ok(Some(host))
        }
        Format::Oci => {
            let (descriptor, doc) = crate::distribute::index(store, &index.descriptor, compression)?;
            let mut blobs = BTreeSet::from([descriptor.digest.clone()]);
            for entry in &doc.manifests {
                let image = image::load(store, None, entry.descriptor.clone())?;
                blobs.extend(image_blobs(&image));
            }
            let mut descriptor = descriptor;
            descriptor.annotations.clear();
            let out = Out::Oci(vec![Top {
                descriptor,
                blobs,
                names,
            }]);
            write_out(store, &out, dest)?;
            Ok(None)
        }
    }
}

/// What an export writes: OCI entries, or a docker archive's images.
enum Out<'a> {
    Oci(Vec<Top>),
    Docker(Vec<(&'a Image, Vec<String>)>),
}

/// One entry of an OCI layout's `index.json`: an image manifest or an index, its names,
/// and every blob it reaches.
struct Top {
    descriptor: Descriptor,
    blobs: BTreeSet<Digest>,
    names: Vec<String>,
}

fn image_blobs(image: &Image) -> BTreeSet<Digest> {
    let mut blobs = BTreeSet::from([
        image.manifest_descriptor.digest.clone(),
        image.manifest.config.digest.clone(),
    ]);
    blobs.extend(image.manifest.layers.iter().map(|l| l.digest.clone()));
    blobs
}

fn write_out(store: &Store, out: &Out<'_>, dest: &Dest) -> io::Result<()> {
    match (out, dest) {
        (Out::Docker(_), Dest::Dir(d)) => Err(invalid(format!(
            "{}: a docker archive is a tar file, not a directory",
            d.display()
        ))),
        (Out::Oci(tops), Dest::Dir(d)) => oci_to_dir(store, tops, d),
        (_, Dest::Tar(path)) => write_file_atomic(path, |w| write_tar(store, out, w)),
        (_, Dest::Stdout) => {
            let stdout = io::stdout();
            let mut w = io::BufWriter::new(stdout.lock());
            write_tar(store, out, &mut w)?;
            w.flush()
        }
    }
}

/// Writes a file through a temp file beside it, renamed into place only when complete.
fn write_file_atomic(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot write {}: no directory {}", path.display(), dir.display()),
        ));
    }
    if path.is_dir() {
        return Err(invalid(format!(
            "{} is a directory; give a file name for the tar",
            path.display()
        )));
    }
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let f = fs::File::create(&tmp).map_err(|e| ctx(e, "cannot create", &tmp))?;
        let mut w = io::BufWriter::new(f);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path).map_err(|e| ctx(e, "cannot rename into", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The tag part of a full name (`docker.io/library/app:1` → `1`).
fn tag_of(full: &str) -> &str {
    let no_digest = full.split('@').next().unwrap_or(full);
    let slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    no_digest[slash..].rsplit_once(':').map_or("latest", |(_, t)| t)
}

/// The `index.json` entries for images: one per name, `ref.name` the tag (as BuildKit and
/// skopeo write it; the familiar name when two names share a tag), the full name in
/// containerd's annotation; one plain entry for an image without names.
fn index_entries(tops: &[Top]) -> Vec<Descriptor> {
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    for Top { descriptor, names, .. } in tops {
        let mut base = descriptor.clone();
        base.annotations.clear();
        if names.is_empty() {
            out.push(base);
            continue;
        }
        for name in names {
            let mut d = base.clone();
            let tag = tag_of(name);
            let ref_name = if used.insert(tag.to_string()) {
                tag.to_string()
            } else {
                familiar_name(name).to_string()
            };
            d.annotations.insert(REF_NAME.into(), ref_name);
            d.annotations.insert(IMAGE_NAME_ANNOTATION.into(), name.clone());
            out.push(d);
        }
    }
    out
}

/// Every blob an OCI export carries: indexes, manifests, configs, layers; sorted, once each.
fn oci_blobs(tops: &[Top]) -> BTreeSet<Digest> {
    tops.iter().flat_map(|t| t.blobs.iter().cloned()).collect()
}

fn index_json(entries: Vec<Descriptor>) -> io::Result<Vec<u8>> {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": entries,
    });
    let mut bytes = serde_json::to_vec(&index).map_err(io::Error::other)?;
    bytes.push(b'\n');
    Ok(bytes)
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An OCI layout directory: blobs copied (verified), `index.json` written last, atomically.
/// An existing layout keeps its other entries; entries with the same `ref.name` are replaced.
fn oci_to_dir(store: &Store, groups: &[Top], dir: &Path) -> io::Result<()> {
    let existing = if dir.join("index.json").exists() {
        layout::read_index(dir)?
    } else {
        if dir.is_dir() && fs::read_dir(dir)?.next().is_some() {
            return Err(invalid(format!(
                "{} is not empty and not an OCI layout; give a new or empty directory",
                dir.display()
            )));
        }
        Vec::new()
    };
    let blobs_dir = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs_dir).map_err(|e| ctx(e, "cannot create", &blobs_dir))?;
    for digest in oci_blobs(groups) {
        let target = layout::blob_path(dir, &digest);
        if target.is_file() {
            continue;
        }
        let source = fs::File::open(store.blob_path(&digest))
            .map_err(|e| ctx(e, &format!("blob {digest}:"), &store.blob_path(&digest)))?;
        let tmp = blobs_dir.join(format!(".tmp-{}-{}", std::process::id(), digest.hex()));
        let copied = (|| {
            let mut out = fs::File::create(&tmp).map_err(|e| ctx(e, "cannot create", &tmp))?;
            let got = copy_hashing(source, &mut out)?;
            if got != digest {
                return Err(bad_data(format!(
                    "blob {digest} in the store is corrupt (its content is {got})"
                )));
            }
            out.sync_all()?;
            fs::rename(&tmp, &target).map_err(|e| ctx(e, "cannot rename into", &target))
        })();
        if copied.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        copied?;
    }
    let mut entries = index_entries(groups);
    let ours: BTreeSet<&String> = entries.iter().filter_map(|d| d.annotations.get(REF_NAME)).collect();
    let mut kept: Vec<Descriptor> = existing
        .into_iter()
        .filter(|d| d.annotations.get(REF_NAME).is_none_or(|n| !ours.contains(n)))
        .filter(|d| {
            !entries
                .iter()
                .any(|e| e.digest == d.digest && e.annotations == d.annotations)
        })
        .collect();
    kept.append(&mut entries);
    slipway_store::write_atomic(&dir.join("oci-layout"), OCI_LAYOUT)?;
    slipway_store::write_atomic(&dir.join("index.json"), &index_json(kept)?)
}

/// Copies a reader to a writer; returns the sha256 of what passed.
fn copy_hashing(mut r: impl Read, mut w: impl Write) -> io::Result<Digest> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        w.write_all(&buf[..n])?;
    }
    Ok(format!("sha256:{}", slipway_store::hex(&h.finalize()))
        .parse()
        .expect("a sha256 digest"))
}

/// Deterministic tar entries.
struct TarOut<W: Write> {
    b: tar::Builder<W>,
    mtime: u64,
}

impl<W: Write> TarOut<W> {
    fn header(&self, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(self.mtime);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn dir(&mut self, path: &str) -> io::Result<()> {
        let mut h = self.header(tar::EntryType::Directory, 0, 0o755);
        self.b.append_data(&mut h, path, io::empty())
    }

    fn file(&mut self, path: &str, size: u64, data: impl Read) -> io::Result<()> {
        let mut h = self.header(tar::EntryType::Regular, size, 0o644);
        self.b.append_data(&mut h, path, data)
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.file(path, data.len() as u64, data)
    }
}

fn write_tar(store: &Store, out: &Out<'_>, w: impl Write) -> io::Result<()> {
    let mut t = TarOut {
        b: tar::Builder::new(w),
        mtime: crate::layer::source_date_epoch(),
    };
    match out {
        Out::Oci(groups) => {
            t.bytes("oci-layout", OCI_LAYOUT)?;
            t.bytes("index.json", &index_json(index_entries(groups))?)?;
            t.dir("blobs/")?;
            t.dir("blobs/sha256/")?;
            for digest in oci_blobs(groups) {
                let path = store.blob_path(&digest);
                let f = fs::File::open(&path).map_err(|e| ctx(e, &format!("blob {digest}:"), &path))?;
                let size = f.metadata()?.len();
                let mut hashing = HashingReader::new(f);
                t.file(&format!("blobs/sha256/{}", digest.hex()), size, &mut hashing)?;
                if hashing.digest() != digest {
                    return Err(bad_data(format!("blob {digest} in the store is corrupt")));
                }
            }
        }
        Out::Docker(groups) => docker_entries(store, groups, &mut t)?,
    }
    t.b.into_inner()?.flush()
}

/// A reader that hashes what passes through.
struct HashingReader<R> {
    inner: R,
    hash: sha2::Sha256,
    size: u64,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hash: sha2::Digest::new(),
            size: 0,
        }
    }
    fn digest(&self) -> Digest {
        format!(
            "sha256:{}",
            slipway_store::hex(&sha2::Digest::finalize(self.hash.clone()))
        )
        .parse()
        .expect("a sha256 digest")
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hash, &buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// A layer blob's uncompressed tar stream.
fn layer_tar(store: &Store, layer: &Descriptor) -> io::Result<Box<dyn Read>> {
    let path = store.blob_path(&layer.digest);
    let f = io::BufReader::new(fs::File::open(&path).map_err(|e| ctx(e, &format!("layer {}:", layer.digest), &path))?);
    crate::layer::decompressor(&layer.media_type, f).map_err(|e| {
        invalid(format!(
            "layer {}: {e}, which a docker archive cannot carry",
            layer.digest
        ))
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ArchiveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// `<diff_id>/layer.tar` per layer (uncompressed; checked against the config's
/// diff_ids), `<config digest>.json`, `manifest.json`, `repositories`.
fn docker_entries<W: Write>(store: &Store, groups: &[(&Image, Vec<String>)], t: &mut TarOut<W>) -> io::Result<()> {
    let mut written = BTreeSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (image, names) in groups {
        let diff_ids = &image.config.rootfs.diff_ids;
        if diff_ids.len() != image.manifest.layers.len() {
            return Err(bad_data(format!(
                "image {} has {} layers but {} diff_ids",
                image.id(),
                image.manifest.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in image.manifest.layers.iter().zip(diff_ids) {
            let name = format!("{}/layer.tar", diff_id.hex());
            if written.insert(diff_id.clone()) {
                // Pass 1: size and digest of the uncompressed tar (a tar header needs the size first).
                let mut probe = HashingReader::new(layer_tar(store, layer)?);
                io::copy(&mut probe, &mut io::sink())?;
                if probe.digest() != *diff_id {
                    return Err(bad_data(format!(
                        "layer {} uncompresses to {}, not its diff_id {diff_id}",
                        layer.digest,
                        probe.digest()
                    )));
                }
                t.dir(&format!("{}/", diff_id.hex()))?;
                t.file(&name, probe.size, layer_tar(store, layer)?)?;
            }
            layers.push(name);
        }
        let config_name = format!("{}.json", image.id().hex());
        if written.insert(image.id().clone()) {
            let bytes = store.get_blob(image.id())?;
            t.bytes(&config_name, &bytes)?;
        }
        let tags: Vec<String> = names
            .iter()
            .filter(|n| !n.contains('@'))
            .map(|n| familiar_name(n).to_string())
            .collect();
        for tag in &tags {
            if let (Some((repo, tg)), Some(top)) = (tag.rsplit_once(':'), diff_ids.last()) {
                repositories
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tg.to_string(), top.hex().to_string());
            }
        }
        manifest.push(ArchiveEntry {
            config: config_name,
            repo_tags: (!tags.is_empty()).then_some(tags),
            layers,
        });
    }
    let mut bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    bytes.push(b'\n');
    t.bytes("manifest.json", &bytes)?;
    if !repositories.is_empty() {
        let mut bytes = serde_json::to_vec(&repositories).map_err(io::Error::other)?;
        bytes.push(b'\n');
        t.bytes("repositories", &bytes)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Loading

/// An image a load put into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The image's ID (its config digest), or an index's (its digest).
    pub id: Digest,
    /// The image manifest's descriptor, or the index's when the archive held a whole index.
    pub manifest: Descriptor,
    /// Full names given to it.
    pub names: Vec<String>,
}

/// Where the blobs of an OCI index come from.
enum Blobs<'a> {
    /// A layout directory on disk: copied into the store, verified.
    Layout(&'a Path),
    /// Already streamed into the store (from a tar).
    Store,
}

impl Blobs<'_> {
    /// Makes sure the blob is in the store.
    fn fetch(&self, store: &Store, d: &Descriptor) -> io::Result<()> {
        if store.has_blob(&d.digest) {
            return Ok(());
        }
        match self {
            Blobs::Layout(dir) => {
                let p = layout::blob_path(dir, &d.digest);
                let f = fs::File::open(&p).map_err(|e| ctx(e, &format!("blob {} of the layout:", d.digest), &p))?;
                store
                    .put_blob_from(io::BufReader::new(f), Some(&d.digest))
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                Ok(())
            }
            Blobs::Store => Err(bad_data(format!("the archive has no blob {}", d.digest))),
        }
    }
}

impl Blobs<'_> {
    /// Whether the source (or the store) has the blob.
    fn has(&self, store: &Store, d: &Digest) -> bool {
        store.has_blob(d)
            || match self {
                Blobs::Layout(dir) => layout::blob_path(dir, d).is_file(),
                Blobs::Store => false,
            }
    }
}

/// Brings a whole image index into the store when the source has every blob it reaches
/// (each platform's manifest, config and layers): the index is kept byte for byte, so its
/// digest (its ID) survives a save and load. None when `d` is not an index, nests one, or
/// misses a blob (then the caller takes the host's image alone).
fn import_index(store: &Store, blobs: &Blobs<'_>, d: &Descriptor) -> io::Result<Option<Descriptor>> {
    if !blobs.has(store, &d.digest) {
        return Ok(None);
    }
    blobs.fetch(store, d)?;
    let bytes = store.get_blob(&d.digest)?;
    let Ok(doc) = serde_json::from_slice::<ImageIndex>(&bytes) else {
        return Ok(None);
    };
    let mut all = Vec::new();
    for entry in &doc.manifests {
        let m = &entry.descriptor;
        if is_index(&m.media_type) || !blobs.has(store, &m.digest) {
            return Ok(None);
        }
        blobs.fetch(store, m)?;
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&store.get_blob(&m.digest)?) else {
            return Ok(None);
        };
        let parts: Vec<Descriptor> = std::iter::once(manifest.config).chain(manifest.layers).collect();
        if parts.iter().any(|p| !blobs.has(store, &p.digest)) {
            return Ok(None);
        }
        all.extend(parts);
    }
    for b in &all {
        blobs.fetch(store, b)?;
    }
    Ok(Some(Descriptor {
        media_type: doc.media_type.clone().unwrap_or_else(|| MEDIA_INDEX.into()),
        digest: d.digest.clone(),
        size: bytes.len() as u64,
        annotations: BTreeMap::new(),
    }))
}

/// Brings an image manifest (choosing this machine's platform from an index) and the
/// blobs it references into the store; returns the image manifest's descriptor.
fn import_manifest(
    store: &Store,
    blobs: &Blobs<'_>,
    d: &Descriptor,
    depth: usize,
    platform: &Platform,
) -> io::Result<Descriptor> {
    if depth > 4 {
        return Err(bad_data(format!("index {} nests too deep", d.digest)));
    }
    blobs.fetch(store, d)?;
    let bytes = store.get_blob(&d.digest)?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad_data(format!("manifest {}: {e}", d.digest)))?;
    let media_type = v
        .get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(d.media_type.as_str())
        .to_string();
    if let Some(children) = v.get("manifests").and_then(|m| m.as_array()) {
        let children: Vec<serde_json::Value> = children.clone();
        let host = platform;
        let platform_of = |c: &serde_json::Value| {
            c.get("platform")
                .and_then(|p| serde_json::from_value::<Platform>(p.clone()).ok())
        };
        let pick = children
            .iter()
            .find(|c| platform_of(c).is_some_and(|p| p.matches(host)))
            .or_else(|| (children.len() == 1).then(|| &children[0]))
            .ok_or_else(|| {
                let have: Vec<String> = children
                    .iter()
                    .map(|c| platform_of(c).map_or_else(|| "?".into(), |p| p.to_string()))
                    .collect();
                invalid(format!(
                    "index {} has no image for {host} (it has: {})",
                    d.digest,
                    have.join(", ")
                ))
            })?;
        let child: Descriptor =
            serde_json::from_value(pick.clone()).map_err(|e| bad_data(format!("index {}: {e}", d.digest)))?;
        return import_manifest(store, blobs, &child, depth + 1, platform);
    }
    let manifest: Manifest = serde_json::from_value(v).map_err(|e| bad_data(format!("manifest {}: {e}", d.digest)))?;
    blobs.fetch(store, &manifest.config)?;
    for l in &manifest.layers {
        blobs.fetch(store, l)?;
    }
    Ok(Descriptor {
        media_type,
        digest: d.digest.clone(),
        size: bytes.len() as u64,
        annotations: BTreeMap::new(),
    })
}

/// The image `oci-layout://PATH[:tag|@digest]` names (`reference` without the scheme),
/// brought into the store (verified). It gets no name in the store.
pub fn import_layout(store: &Store, reference: &str) -> io::Result<Image> {
    import_layout_for(store, reference, &Platform::host())
}

/// [`import_layout`] choosing `platform`'s image when the layout names an index.
pub fn import_layout_for(store: &Store, reference: &str, platform: &Platform) -> io::Result<Image> {
    let r: LayoutRef = layout::parse_reference(reference).map_err(invalid)?;
    let _in_use = store.lock_in_use()?;
    let d = layout::resolve(&r)?;
    let d = import_manifest(store, &Blobs::Layout(&r.path), &d, 0, platform)?;
    image::load(store, None, d)
}

/// The name an OCI index entry carries: containerd's full-name annotation, else a
/// `ref.name` that is a whole image reference (not a bare tag).
fn entry_name(d: &Descriptor) -> Option<String> {
    if let Some(n) = d.annotations.get(IMAGE_NAME_ANNOTATION) {
        return normalize_name(n).ok();
    }
    let r = d.annotations.get(REF_NAME)?;
    (r.contains('/') || r.contains(':'))
        .then(|| normalize_name(r).ok())
        .flatten()
}

fn load_oci(store: &Store, blobs: &Blobs<'_>, entries: Vec<Descriptor>) -> io::Result<Vec<Loaded>> {
    let mut out: Vec<Loaded> = Vec::new();
    for entry in entries {
        // An index with every platform's blobs stays an index; else the host's image.
        let whole = if is_index(&entry.media_type) {
            import_index(store, blobs, &entry)?
        } else {
            None
        };
        let (d, id) = match whole {
            Some(d) => {
                let id = d.digest.clone();
                (d, id)
            }
            None => {
                let d = import_manifest(store, blobs, &entry, 0, &Platform::host())?;
                let id = image::load(store, None, d.clone())?.id().clone();
                (d, id)
            }
        };
        let name = entry_name(&entry);
        if let Some(n) = &name {
            store.set_ref(n, d.clone())?;
        }
        match out.iter_mut().find(|l| l.manifest.digest == d.digest) {
            Some(l) => l.names.extend(name),
            None => out.push(Loaded {
                id,
                manifest: d,
                names: name.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// A tar's non-blob files spooled to a temp dir, its symlinks remembered.
struct Spool {
    dir: PathBuf,
    links: BTreeMap<PathBuf, PathBuf>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An archive path made relative and clean; `None` when it would leave the archive.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

impl Spool {
    /// The spooled file at an archive path (following the archive's symlinks).
    fn path(&self, rel: &str) -> io::Result<PathBuf> {
        let mut p = clean(Path::new(rel)).ok_or_else(|| bad_data(format!("archive path {rel} leaves the archive")))?;
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => return Ok(self.dir.join(p)),
            }
        }
        Err(bad_data(format!("archive path {rel}: too many symlinks")))
    }
}

/// The blob digest of an archive path `blobs/sha256/<hex>`.
fn blob_digest(rel: &Path) -> Option<Digest> {
    let s = rel.to_str()?;
    format!("sha256:{}", s.strip_prefix("blobs/sha256/")?).parse().ok()
}

/// Streams a tar (optionally gzip-compressed): `blobs/sha256/*` straight into the store
/// (each checked against its name), everything else into a temp dir under the store.
fn spool(store: &Store, input: impl Read) -> io::Result<Spool> {
    let mut input = io::BufReader::new(input);
    let gz = input.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let tmp = store.root().join("tmp");
    fs::create_dir_all(&tmp)?;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let spool = Spool {
        dir: tmp.join(format!("load-{}-{n}", std::process::id())),
        links: BTreeMap::new(),
    };
    let mut spool = spool;
    fs::create_dir_all(&spool.dir)?;
    let mut archive = tar::Archive::new(reader);
    let mut any = false;
    let not_tar = |any: bool, e: io::Error| {
        if any {
            bad_data(format!("the tar archive is damaged: {e}"))
        } else {
            // The tar reader's message quotes the bytes it choked on: not for a terminal.
            bad_data("not a tar archive (want a docker archive or an OCI layout, as .tar or .tar.gz)".into())
        }
    };
    for entry in archive.entries().map_err(|e| not_tar(false, e))? {
        let mut entry = entry.map_err(|e| not_tar(any, e))?;
        any = true;
        let raw = entry.path()?.into_owned();
        let rel = clean(&raw).ok_or_else(|| bad_data(format!("archive entry {} leaves the archive", raw.display())))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(d) = blob_digest(&rel) {
                    if store.has_blob(&d) {
                        io::copy(&mut entry, &mut io::sink())?;
                    } else {
                        store
                            .put_blob_from(&mut entry, Some(&d))
                            .map_err(|e| io::Error::new(e.kind(), format!("archive entry {}: {e}", rel.display())))?;
                    }
                } else {
                    let to = spool.dir.join(&rel);
                    if let Some(p) = to.parent() {
                        fs::create_dir_all(p)?;
                    }
                    let mut f = fs::File::create(&to).map_err(|e| ctx(e, "cannot create", &to))?;
                    io::copy(&mut entry, &mut f)?;
                }
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| bad_data(format!("archive link {} has no target", rel.display())))?;
                let joined = if entry.header().entry_type() == tar::EntryType::Symlink {
                    rel.parent().unwrap_or(Path::new("")).join(target)
                } else {
                    target.into_owned()
                };
                let target = clean(&joined)
                    .ok_or_else(|| bad_data(format!("archive link {} leaves the archive", rel.display())))?;
                spool.links.insert(rel, target);
            }
            _ => {}
        }
    }
    if !any {
        return Err(bad_data(
            "the archive is empty (want a docker archive or an OCI layout tar)".into(),
        ));
    }
    Ok(spool)
}

/// Loads images from an OCI layout (a directory or a tar of one) or a docker archive
/// (a tar, possibly gzip-compressed, or its unpacked directory); `None` reads standard input.
pub fn load(store: &Store, source: Option<&Path>) -> io::Result<Vec<Loaded>> {
    let _in_use = store.lock_in_use()?;
    let spooled = match source {
        Some(p) if p.is_dir() => None,
        Some(p) => {
            let f = fs::File::open(p).map_err(|e| ctx(e, "cannot open", p))?;
            Some(spool(store, f).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?)
        }
        None => Some(spool(store, io::stdin().lock())?),
    };
    let (dir, blobs) = match (&spooled, source) {
        (Some(s), _) => (s.dir.clone(), Blobs::Store),
        (None, p) => {
            let p = p.unwrap_or(Path::new("."));
            (p.to_path_buf(), Blobs::Layout(p))
        }
    };
    let spool_ref = spooled.as_ref();
    let loaded = if dir.join("oci-layout").is_file() && dir.join("index.json").is_file() {
        load_oci(store, &blobs, layout::read_index(&dir)?)?
    } else if dir.join("manifest.json").is_file() {
        load_docker(store, &dir, spool_ref)?
    } else {
        return Err(bad_data(format!(
            "{} is neither an OCI layout (oci-layout, index.json) nor a docker archive (manifest.json)",
            source.map_or("standard input".into(), |p| p.display().to_string())
        )));
    };
    if loaded.is_empty() {
        return Err(bad_data("the archive names no images".into()));
    }
    Ok(loaded)
}

/// A docker archive's images: configs kept byte for byte (so IDs are kept), layers
/// compressed into the store and checked against the config's diff_ids.
fn load_docker(store: &Store, dir: &Path, spool: Option<&Spool>) -> io::Result<Vec<Loaded>> {
    let p = dir.join("manifest.json");
    let entries: Vec<ArchiveEntry> = serde_json::from_slice(&fs::read(&p).map_err(|e| ctx(e, "cannot read", &p))?)
        .map_err(|e| bad_data(format!("manifest.json: {e}")))?;
    // A file of the archive: a blob already in the store, a spooled file, or a file of the directory.
    let open = |rel: &str| -> io::Result<fs::File> {
        let path = match (clean(Path::new(rel)).as_deref().and_then(blob_digest), spool) {
            (Some(d), _) if store.has_blob(&d) => store.blob_path(&d),
            (_, Some(s)) => s.path(rel)?,
            (_, None) => dir.join(clean(Path::new(rel)).ok_or_else(|| bad_data(format!("{rel} leaves the archive")))?),
        };
        fs::File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("archive file {rel}: {e}")))
    };
    let mut out = Vec::new();
    for entry in entries {
        let mut config_bytes = Vec::new();
        open(&entry.config)?.read_to_end(&mut config_bytes)?;
        let config: ImageConfig =
            serde_json::from_slice(&config_bytes).map_err(|e| bad_data(format!("{}: {e}", entry.config)))?;
        if config.rootfs.diff_ids.len() != entry.layers.len() {
            return Err(bad_data(format!(
                "{}: {} diff_ids but manifest.json lists {} layers",
                entry.config,
                config.rootfs.diff_ids.len(),
                entry.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for (rel, want) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            let f = open(rel)?;
            let info = image::store_layer(store, |out| {
                layer_from_tar(io::BufReader::new(f), &LayerOptions::default(), io::BufWriter::new(out))
            })?;
            if info.diff_id != *want {
                return Err(bad_data(format!(
                    "archive layer {rel} is {}, but the config says {want}",
                    info.diff_id
                )));
            }
            layers.push(Descriptor {
                media_type: info.media_type.into(),
                digest: info.digest,
                size: info.size,
                annotations: BTreeMap::new(),
            });
        }
        let (config_digest, _, d) = crate::image::put_manifest(store, &config_bytes, layers)?;
        let mut names = Vec::new();
        for tag in entry.repo_tags.unwrap_or_default() {
            let full = normalize_name(&tag).map_err(|e| bad_data(format!("manifest.json: {e}")))?;
            store.set_ref(&full, d.clone())?;
            names.push(full);
        }
        out.push(Loaded {
            id: config_digest,
            manifest: d,
            names,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(s: &str) -> String {
        match Output::parse(s) {
            Ok(o) => format!("{:?} {:?} {:?}", o.format, o.dest, o.names),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn output_specs_parse_like_buildkit() {
        expect_test::expect![[r#"
            Oci Dir("out") []
            Oci Tar("out.tar") []
            Oci Tar("x") ["a:1"]
            Docker Tar("d.tar") []
            Docker Stdout []
            error: --output type=docker,dest=d,tar=false: a docker archive is a tar file; drop tar=false
            error: --output type=local is not supported yet (supported: type=oci, type=docker)
            error: --output: unknown type "zip" (want type=oci or type=docker)
            error: --output dest=x: type= is required (type=oci or type=docker)
            error: --output type=oci: dest= is required (a path, or - for standard output)
            error: --output type=oci,dest=x,compression=zstd: unknown field "compression" (known: type, dest, tar, name)
            error: --output out: "out" is not key=value (want type=oci|docker,dest=PATH)
        "#]]
        .assert_eq(
            &[
                "type=oci,dest=out",
                "type=oci,dest=out.tar",
                "type=oci,dest=x,tar=true,name=a:1",
                "type=docker,dest=d.tar",
                "type=docker,dest=-",
                "type=docker,dest=d,tar=false",
                "type=local,dest=x",
                "type=zip,dest=x",
                "dest=x",
                "type=oci",
                "type=oci,dest=x,compression=zstd",
                "out",
            ]
            .map(|s| output(s) + "\n")
            .concat(),
        );
    }

    /// A store with a two-layer image `app:1` (no root needed: layers from directories).
    fn sample(dir: &Path) -> (Store, Image) {
        let store = Store::open(dir.join("store")).unwrap();
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::write(rootfs.join("bin/hello"), "#!/bin/sh\necho hello\n").unwrap();
        let base = image::import(&store, &rootfs, "base").unwrap();
        // A second layer on top, as a build would add.
        let upper = dir.join("upper");
        fs::create_dir_all(upper.join("srv")).unwrap();
        fs::write(upper.join("srv/data"), "data\n").unwrap();
        let layer = image::commit_layer(&store, &upper, &LayerOptions::default()).unwrap();
        let mut config = base.config.clone();
        config.rootfs.diff_ids.push(layer.diff_id.clone());
        config.config.cmd = Some(vec!["cat".into(), "/srv/data".into()]);
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let mut layers = base.manifest.layers.clone();
        layers.push(Descriptor {
            media_type: layer.media_type.into(),
            digest: layer.digest,
            size: layer.size,
            annotations: BTreeMap::new(),
        });
        let (_, _, d) = image::put_manifest(&store, &config_bytes, layers).unwrap();
        store.set_ref("docker.io/library/app:1", d).unwrap();
        let img = image::resolve(&store, "app:1").unwrap();
        (store, img)
    }

    fn names(store: &Store) -> Vec<String> {
        image::list(store).unwrap().into_iter().filter_map(|i| i.name).collect()
    }

    #[test]
    fn every_format_round_trips_with_the_same_ids() {
        let d = tempfile::tempdir().unwrap();
        let (store, img) = sample(d.path());
        let named = [Named {
            image: &img,
            names: vec!["app:1".into(), "me/app:latest".into()],
        }];
        for (i, (format, dest)) in [
            (Format::Oci, Dest::Dir(d.path().join("layout"))),
            (Format::Oci, Dest::Tar(d.path().join("layout.tar"))),
            (Format::Docker, Dest::Tar(d.path().join("docker.tar"))),
        ]
        .into_iter()
        .enumerate()
        {
            export(&store, &named, format, Compression::Gzip, &dest).unwrap();
            let (Dest::Dir(p) | Dest::Tar(p)) = &dest else { panic!() };
            let other = Store::open(d.path().join(format!("other{i}"))).unwrap();
            let loaded = load(&other, Some(p)).unwrap();
            assert_eq!(loaded.len(), 1, "{format:?}");
            assert_eq!(loaded[0].id, *img.id(), "{format:?}: the config is kept byte for byte");
            // The manifest digest survives too: OCI carries the blobs; a docker archive
            // carries uncompressed layers that a load compresses again the same way
            // (chunked gzip members do not depend on how the tar was written).
            assert_eq!(loaded[0].manifest.digest, img.manifest_descriptor.digest, "{format:?}");
            assert_eq!(
                names(&other),
                ["docker.io/library/app:1", "docker.io/me/app:latest"],
                "{format:?}"
            );
            assert_eq!(other.verify().unwrap(), Vec::<String>::new());
            let spool_left = fs::read_dir(other.root().join("tmp")).is_ok_and(|mut r| r.next().is_some());
            assert!(!spool_left, "spool removed");
        }
        // Deterministic: the same export twice is the same bytes.
        let again = d.path().join("again.tar");
        export(
            &store,
            &named,
            Format::Docker,
            Compression::Gzip,
            &Dest::Tar(again.clone()),
        )
        .unwrap();
        assert_eq!(
            fs::read(&again).unwrap(),
            fs::read(d.path().join("docker.tar")).unwrap()
        );
        // The layout's index names the tags as BuildKit does.
        let index = layout::read_index(&d.path().join("layout")).unwrap();
        let tags: Vec<_> = index.iter().filter_map(layout::tag_of).collect();
        assert_eq!(tags, ["1", "latest"]);
        // oci-layout:// resolves a tag of it into a store that lacks the image.
        let fresh = Store::open(d.path().join("fresh")).unwrap();
        let via = image::resolve(
            &fresh,
            &format!("oci-layout://{}:latest", d.path().join("layout").display()),
        )
        .unwrap();
        assert_eq!(via.id(), img.id());
        assert!(fresh.has_blob(&img.manifest.layers[1].digest));
        // An export into the same layout again adds nothing and keeps one entry per tag.
        export(
            &store,
            &named,
            Format::Oci,
            Compression::Gzip,
            &Dest::Dir(d.path().join("layout")),
        )
        .unwrap();
        assert_eq!(layout::read_index(&d.path().join("layout")).unwrap().len(), 2);
    }

    #[test]
    fn damaged_inputs_are_refused_with_a_reason() {
        let d = tempfile::tempdir().unwrap();
        let (store, img) = sample(d.path());
        let named = [Named {
            image: &img,
            names: vec!["app:1".into()],
        }];
        let layout_dir = d.path().join("layout");
        export(
            &store,
            &named,
            Format::Oci,
            Compression::Gzip,
            &Dest::Dir(layout_dir.clone()),
        )
        .unwrap();
        // A blob whose content is not its name.
        let blob = layout::blob_path(&layout_dir, &img.manifest.layers[1].digest);
        fs::write(&blob, b"tampered").unwrap();
        let other = Store::open(d.path().join("other")).unwrap();
        let e = load(&other, Some(&layout_dir)).unwrap_err().to_string();
        assert!(e.contains("digest mismatch"), "{e}");
        let e = image::resolve(&other, &format!("oci-layout://{}:1", layout_dir.display()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("digest mismatch"), "{e}");
        assert!(!other.has_blob(&img.manifest.layers[1].digest));

        // A docker archive whose layer is not what the config says.
        let tar_path = d.path().join("bad.tar");
        {
            let mut t = TarOut {
                b: tar::Builder::new(fs::File::create(&tar_path).unwrap()),
                mtime: 0,
            };
            let config = store.get_blob(img.id()).unwrap();
            t.bytes("c.json", &config).unwrap();
            t.bytes("l1.tar", &[0u8; 1024]).unwrap();
            t.bytes("l2.tar", &[0u8; 1024]).unwrap();
            t.bytes(
                "manifest.json",
                br#"[{"Config":"c.json","RepoTags":["bad:1"],"Layers":["l1.tar","l2.tar"]}]"#,
            )
            .unwrap();
            t.b.into_inner().unwrap();
        }
        let e = load(&other, Some(&tar_path)).unwrap_err().to_string();
        assert!(
            e.contains("archive layer l1.tar is sha256:") && e.contains("but the config says"),
            "{e}"
        );
        assert!(names(&other).is_empty());

        // An entry that climbs out of the archive.
        let evil = d.path().join("evil.tar");
        {
            let mut b = tar::Builder::new(fs::File::create(&evil).unwrap());
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_entry_type(tar::EntryType::Regular);
            // `set_path` refuses `..`; write the raw name as a hostile archive would.
            h.as_old_mut().name[..7].copy_from_slice(b"../../x");
            h.set_cksum();
            b.append(&h, &b"x"[..]).unwrap();
            b.into_inner().unwrap();
        }
        let e = load(&other, Some(&evil)).unwrap_err().to_string();
        assert!(e.contains("leaves the archive"), "{e}");
        assert!(!d.path().join("x").exists());

        let e = load(&other, Some(Path::new("/nonexistent.tar")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot open /nonexistent.tar"), "{e}");
        let e = export(
            &store,
            &named,
            Format::Docker,
            Compression::Gzip,
            &Dest::Dir(d.path().into()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("a docker archive is a tar file"), "{e}");
        let e = export(
            &store,
            &named,
            Format::Oci,
            Compression::Gzip,
            &Dest::Dir(d.path().into()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not empty and not an OCI layout"), "{e}");
    }
}
