//! Layers: the writable (upper) directory of a finished container becomes an OCI layer
//! tar — sorted entries, owners, modes and mtimes kept (whole seconds; newer ones clamped
//! to `SOURCE_DATE_EPOCH` when it is set, BuildKit's rewrite-timestamp), deletions as
//! whiteouts — so the same files with the same times always give the same digest.
//!
//! overlayfs records a deleted path as a 0/0 character device and a directory that
//! replaced a lower one as an "opaque" directory (xattr `trusted.overlay.opaque=y`);
//! the OCI image spec writes these as `.wh.<name>` and `<dir>/.wh..wh..opq`.
//! <https://docs.kernel.org/filesystems/overlayfs.html>,
//! <https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>

use sha2::{Digest as _, Sha256};
use slipway_store::Digest;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The xattr overlayfs sets on opaque directories (as real root; `user.overlay.*` in
/// user namespaces).
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// How to write a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerOptions {
    /// Entries keep their mtimes (whole seconds); one newer than `clamp` gets `clamp`
    /// (`SOURCE_DATE_EPOCH`, for reproducible layers).
    pub clamp: Option<u64>,
    pub compression: Compression,
}

impl Default for LayerOptions {
    fn default() -> Self {
        LayerOptions {
            clamp: source_date_epoch_set(),
            compression: Compression::Gzip,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    None,
    #[default]
    Gzip,
    /// zstd level 3: much faster than gzip at a similar size (containerd, BuildKit and
    /// podman read it; Docker Engine before 23 does not).
    Zstd,
}

/// The uncompressed tar stream of a layer blob of `media_type`.
pub fn decompressor<'a>(media_type: &str, blob: impl io::Read + 'a) -> io::Result<Box<dyn io::Read + 'a>> {
    Ok(match media_type {
        slipway_store::MEDIA_LAYER_GZIP | "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            Box::new(flate2::read::MultiGzDecoder::new(blob))
        }
        slipway_store::MEDIA_LAYER_ZSTD => Box::new(zstd::stream::read::Decoder::new(blob)?),
        slipway_store::MEDIA_LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => Box::new(blob),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unsupported layer media type {other}"),
            ))
        }
    })
}

/// `$SOURCE_DATE_EPOCH` when set to a number, else 0.
/// <https://reproducible-builds.org/specs/source-date-epoch/>
pub fn source_date_epoch() -> u64 {
    source_date_epoch_set().unwrap_or(0)
}

/// `$SOURCE_DATE_EPOCH` when set to a number.
pub fn source_date_epoch_set() -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// What a written layer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// sha256 of the (compressed) blob.
    pub digest: Digest,
    /// sha256 of the uncompressed tar: the image config's `rootfs.diff_ids`.
    pub diff_id: Digest,
    /// Size of the blob in bytes.
    pub size: u64,
    pub media_type: &'static str,
    /// The tar holds everything the directory held (no device node or socket was left
    /// out), so the directory itself can serve as the unpacked layer.
    pub exact: bool,
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            size: 0,
        }
    }
    fn digest(&self) -> Digest {
        format!("sha256:{}", slipway_store::hex(&self.hash.clone().finalize()))
            .parse()
            .expect("a sha256 digest")
    }
}

fn ctx(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Whether a file is an overlayfs whiteout (a 0/0 character device).
pub fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether a directory is marked opaque by overlayfs.
pub fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

/// How much of the uncompressed stream one gzip member holds.
pub const GZIP_CHUNK: usize = 1 << 20;

/// Writes what `produce` writes to `out`, gzip-compressed on all cores: the stream is cut
/// every [`GZIP_CHUNK`] bytes and each piece becomes an independent gzip member (RFC 1952
/// §2.2: a gzip file is a series of members; Go's `compress/gzip`, which docker, containerd,
/// skopeo and umoci read layers with, flate2's `MultiGzDecoder` and GNU gzip read them all).
/// The cuts depend only on the byte count, so the output is the same whatever the number of
/// threads. flate2's gzip header has mtime 0 and no file name: deterministic.
pub fn gzip_parallel<W: Write + Send, T>(
    out: W,
    produce: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<(T, W)> {
    use std::sync::{mpsc, Arc, Mutex};
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    std::thread::scope(|s| {
        let (job_tx, job_rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::sync_channel::<(usize, io::Result<Vec<u8>>)>(threads * 2);
        for _ in 0..threads {
            let (job_rx, done_tx) = (Arc::clone(&job_rx), done_tx.clone());
            s.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => break,
                };
                let Ok((i, data)) = job else { break };
                let member = (|| {
                    let mut e = flate2::write::GzEncoder::new(
                        Vec::with_capacity(data.len() / 2 + 64),
                        flate2::Compression::default(),
                    );
                    e.write_all(&data)?;
                    e.finish()
                })();
                if done_tx.send((i, member)).is_err() {
                    break;
                }
            });
        }
        // Only the workers hold the queue's receiving end: when they all stop (the writer
        // failed), the producer's next send fails instead of blocking.
        drop(job_rx);
        drop(done_tx);
        let writer = s.spawn(move || -> io::Result<(W, usize)> {
            let mut out = out;
            let (mut next, mut pending) = (0usize, std::collections::BTreeMap::new());
            for (i, member) in done_rx {
                pending.insert(i, member);
                while let Some(m) = pending.remove(&next) {
                    out.write_all(&m?)?;
                    next += 1;
                }
            }
            Ok((out, next))
        });
        let mut chunks = Chunks {
            buf: Vec::with_capacity(GZIP_CHUNK),
            sent: 0,
            tx: Some(job_tx),
        };
        let produced = produce(&mut chunks);
        let sent = if produced.is_ok() { chunks.finish() } else { Ok(()) };
        let count = chunks.sent;
        drop(chunks);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the gzip writer thread panicked")));
        // The writer's error (e.g. a full disk) explains a refused chunk best.
        let (out, written) = written?;
        let value = produced?;
        sent?;
        if written != count {
            // Only a worker that died mid-chunk leaves a gap.
            return Err(io::Error::other("a gzip compression thread failed"));
        }
        Ok((value, out))
    })
}

/// The producer's side of [`gzip_parallel`]: fills chunks and hands them to the workers.
struct Chunks {
    buf: Vec<u8>,
    sent: usize,
    tx: Option<std::sync::mpsc::SyncSender<(usize, Vec<u8>)>>,
}

impl Chunks {
    fn send(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(GZIP_CHUNK));
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| io::Error::other("the compressor is closed"))?;
        tx.send((self.sent, data))
            .map_err(|_| io::Error::other("the compressor stopped"))?;
        self.sent += 1;
        Ok(())
    }

    /// Sends the last chunk (an empty one when nothing was written: a gzip file has at
    /// least one member) and closes the queue.
    fn finish(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() || self.sent == 0 {
            self.send()?;
        }
        self.tx = None;
        Ok(())
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(GZIP_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == GZIP_CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the upper dir `upper` as a layer to `out`. Entries are sorted by path;
/// device files, sockets and overlayfs' own bookkeeping are skipped.
pub fn write_layer(upper: &Path, options: &LayerOptions, out: impl Write + Send) -> io::Result<LayerInfo> {
    write_layer_with(options, out, |tar| write_tar(upper, options, Tree::Upper, tar))
}

/// Writes a plain directory (a cache mount's, not an overlayfs upper dir) as a tar of its
/// entries, compressed as `options` say: nothing is a whiteout or an opaque directory
/// there, and device nodes and sockets are left out.
pub fn write_dir(dir: &Path, options: &LayerOptions, out: impl Write + Send) -> io::Result<LayerInfo> {
    write_layer_with(options, out, |tar| write_tar(dir, options, Tree::Plain, tar))
}

/// What a directory written as a tar is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// An overlayfs upper dir: 0/0 character devices are whiteouts, the opaque xattr marks
    /// opaque directories.
    Upper,
    /// A plain directory.
    Plain,
}

/// Writes the tar that `tar` produces as a layer to `out`, compressed as `options` say,
/// hashing the tar (diff_id) and the blob (digest) as they go. `tar` returns whether the
/// layer is exact (see [`LayerInfo::exact`]).
pub(crate) fn write_layer_with(
    options: &LayerOptions,
    out: impl Write + Send,
    tar: impl FnOnce(&mut dyn Write) -> io::Result<bool>,
) -> io::Result<LayerInfo> {
    let mut blob = Hashing::new(out);
    let exact;
    let (diff_id, media_type) = match options.compression {
        Compression::None => {
            let mut t = Hashing::new(&mut blob);
            exact = tar(&mut t)?;
            (t.digest(), slipway_store::MEDIA_LAYER_TAR)
        }
        Compression::Gzip => {
            let ((d, e), _) = gzip_parallel(&mut blob, |gz| {
                let mut t = Hashing::new(gz);
                let e = tar(&mut t)?;
                Ok((t.digest(), e))
            })?;
            exact = e;
            (d, slipway_store::MEDIA_LAYER_GZIP)
        }
        Compression::Zstd => {
            let mut z = zstd::stream::write::Encoder::new(&mut blob, 3)?;
            let mut t = Hashing::new(&mut z);
            exact = tar(&mut t)?;
            let d = t.digest();
            z.finish()?;
            (d, slipway_store::MEDIA_LAYER_ZSTD)
        }
    };
    blob.flush()?;
    Ok(LayerInfo {
        digest: blob.digest(),
        diff_id,
        size: blob.size,
        media_type,
        exact,
    })
}

/// Turns an existing tar stream into a layer blob on `out`: compressed as `options` say,
/// or kept as it is when it is gzip already (then the digests are computed from it).
pub fn layer_from_tar(mut tar: impl io::Read, options: &LayerOptions, out: impl Write + Send) -> io::Result<LayerInfo> {
    let mut head = [0u8; 2];
    let mut n = 0;
    while n < 2 {
        let r = tar.read(&mut head[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    let mut input = io::Read::chain(&head[..n], tar);
    let mut blob = Hashing::new(out);
    if head[..n] == [0x1f, 0x8b] {
        // Already gzip: copy it and hash what it decompresses to.
        let mut tee = Tee {
            inner: input,
            copy: &mut blob,
        };
        let mut diff = Hashing::new(io::sink());
        io::copy(&mut flate2::read::MultiGzDecoder::new(&mut tee), &mut diff)?;
        io::copy(&mut tee, &mut io::sink())?;
        blob.flush()?;
        return Ok(LayerInfo {
            digest: blob.digest(),
            diff_id: diff.digest(),
            size: blob.size,
            media_type: slipway_store::MEDIA_LAYER_GZIP,
            exact: true,
        });
    }
    let (diff_id, media_type) = match options.compression {
        Compression::None => {
            let mut t = Hashing::new(&mut blob);
            io::copy(&mut input, &mut t)?;
            (t.digest(), slipway_store::MEDIA_LAYER_TAR)
        }
        Compression::Gzip => {
            let (d, _) = gzip_parallel(&mut blob, |gz| {
                let mut t = Hashing::new(gz);
                io::copy(&mut input, &mut t)?;
                Ok(t.digest())
            })?;
            (d, slipway_store::MEDIA_LAYER_GZIP)
        }
        Compression::Zstd => {
            let mut z = zstd::stream::write::Encoder::new(&mut blob, 3)?;
            let mut t = Hashing::new(&mut z);
            io::copy(&mut input, &mut t)?;
            let d = t.digest();
            z.finish()?;
            (d, slipway_store::MEDIA_LAYER_ZSTD)
        }
    };
    blob.flush()?;
    Ok(LayerInfo {
        digest: blob.digest(),
        diff_id,
        size: blob.size,
        media_type,
        exact: true,
    })
}

/// A reader that copies what it reads to a writer.
struct Tee<R, W> {
    inner: R,
    copy: W,
}

impl<R: io::Read, W: Write> io::Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// The relative paths under `dir`: names sorted bytewise within each directory, a
/// directory right before its contents.
pub(crate) fn sorted_tree(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        let full = root.join(rel);
        let mut names = fs::read_dir(&full)
            .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect::<io::Result<Vec<_>>>())
            .map_err(|e| ctx(e, "cannot read", &full))?;
        names.sort();
        for name in names {
            let child = rel.join(name);
            let meta =
                fs::symlink_metadata(root.join(&child)).map_err(|e| ctx(e, "cannot stat", &root.join(&child)))?;
            out.push(child.clone());
            if meta.is_dir() {
                walk(root, &child, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out)?;
    Ok(out)
}

/// The header every layer entry starts from: mtime (clamped), owner and permission bits.
/// The one place both layer writers (an upper dir on disk, [`crate::upper::Tree`]) take
/// their headers from, so the same files give the same bytes.
pub(crate) fn entry_header(options: &LayerOptions, uid: u32, gid: u32, mode: u32, mtime: i64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    let mtime = u64::try_from(mtime).unwrap_or(0);
    header.set_mtime(options.clamp.map_or(mtime, |c| mtime.min(c)));
    header.set_uid(u64::from(uid));
    header.set_gid(u64::from(gid));
    header.set_mode(mode & 0o7777);
    header
}

fn write_tar(upper: &Path, options: &LayerOptions, tree: Tree, out: impl Write) -> io::Result<bool> {
    let mut exact = true;
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for rel in sorted_tree(upper)? {
        let full = upper.join(&rel);
        let meta = fs::symlink_metadata(&full).map_err(|e| ctx(e, "cannot stat", &full))?;
        let ft = meta.file_type();
        let name = rel.file_name().unwrap_or_default().to_string_lossy();
        let mut header = entry_header(options, meta.uid(), meta.gid(), meta.mode(), meta.mtime());
        if tree == Tree::Upper && is_whiteout(&meta) {
            let wh = rel.with_file_name(format!("{WHITEOUT_PREFIX}{name}"));
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mode(0o600);
            tar.append_data(&mut header, &wh, io::empty())?;
        } else if ft.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, &rel, io::empty())?;
            if tree == Tree::Upper && is_opaque(&full) {
                let mut h = entry_header(options, 0, 0, 0o600, meta.mtime());
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                tar.append_data(&mut h, rel.join(OPAQUE_MARKER), io::empty())?;
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&full).map_err(|e| ctx(e, "cannot read link", &full))?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, &rel, &target)?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                    header.set_entry_type(tar::EntryType::Link);
                    header.set_size(0);
                    tar.append_link(&mut header, &rel, first)?;
                    continue;
                }
                links.insert((meta.dev(), meta.ino()), rel.clone());
            }
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let f = fs::File::open(&full).map_err(|e| ctx(e, "cannot open", &full))?;
            tar.append_data(&mut header, &rel, f)?;
        } else if ft.is_fifo() {
            header.set_entry_type(tar::EntryType::Fifo);
            header.set_size(0);
            tar.append_data(&mut header, &rel, io::empty())?;
        } else {
            // Other devices and sockets are not part of an image.
            exact = false;
        }
    }
    tar.into_inner()?.flush()?;
    Ok(exact)
}

/// Whether `rel` exists in the union of `layers` (top first), honouring whiteouts and
/// opaque directories as overlayfs would.
pub fn layered_exists(layers: &[PathBuf], rel: &Path) -> bool {
    layered_lookup(layers, rel).is_some()
}

/// Where `rel` is in the union of `layers` (top first): its path in the top-most layer
/// that has it, honouring whiteouts and opaque directories as overlayfs would; `None`
/// when absent or hidden.
pub fn layered_lookup<P: AsRef<Path>>(layers: &[P], rel: &Path) -> Option<PathBuf> {
    let comps: Vec<_> = rel.components().collect();
    'layers: for layer in layers {
        // A whiteout or a non-directory on the way hides everything below; an opaque
        // directory on the way hides the lower layers.
        let mut opaque = false;
        let mut at = layer.as_ref().to_path_buf();
        for (i, c) in comps.iter().enumerate() {
            at.push(c);
            let Ok(meta) = fs::symlink_metadata(&at) else {
                if opaque {
                    return None;
                }
                continue 'layers;
            };
            if is_whiteout(&meta) {
                return None;
            }
            if i + 1 == comps.len() {
                return Some(at);
            }
            if !meta.is_dir() {
                return None;
            }
            opaque |= is_opaque(&at);
        }
        return Some(at);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entries(blob: &[u8], gzip: bool) -> Vec<String> {
        let reader: Box<dyn io::Read + '_> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(blob))
        } else {
            Box::new(blob)
        };
        let mut a = tar::Archive::new(reader);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| format!(" -> {}", l.display()))
                    .unwrap_or_default();
                format!(
                    "{:?} {} {:o} {}:{} {} {}{link}",
                    h.entry_type(),
                    e.path().unwrap().display(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                    h.size().unwrap()
                )
            })
            .collect()
    }

    fn sample(root: &Path) {
        fs::create_dir_all(root.join("etc/app")).unwrap();
        fs::write(root.join("etc/app/conf"), "x=1\n").unwrap();
        fs::write(root.join("b"), "bee").unwrap();
        fs::set_permissions(root.join("b"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::hard_link(root.join("b"), root.join("c")).unwrap();
        std::os::unix::fs::symlink("b", root.join("a")).unwrap();
    }

    #[test]
    fn parallel_gzip_is_chunked_members_in_order() {
        // 3.5 chunks of data that compresses somewhat (a counter) but not to nothing.
        let data: Vec<u8> = (0..GZIP_CHUNK * 7 / 2)
            .map(|i| (i * 31 % 251) as u8 ^ (i >> 12) as u8)
            .collect();
        let (n, out) = gzip_parallel(Vec::new(), |w| {
            // Odd-sized writes straddle the chunk boundaries.
            for piece in data.chunks(77_777) {
                w.write_all(piece)?;
            }
            Ok(data.len())
        })
        .unwrap();
        assert_eq!(n, data.len());
        // The same bytes as compressing each chunk alone, one after the other: the thread
        // count cannot change the output.
        let mut expected = Vec::new();
        for chunk in data.chunks(GZIP_CHUNK) {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(chunk).unwrap();
            expected.extend(e.finish().unwrap());
        }
        assert!(out == expected, "parallel output differs from sequential members");
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&out[..]), &mut back).unwrap();
        assert!(back == data);
        // Nothing written: still a valid (empty) gzip file.
        let ((), empty) = gzip_parallel(Vec::new(), |_| Ok(())).unwrap();
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&empty[..]), &mut back).unwrap();
        assert!(back.is_empty() && !empty.is_empty());
    }

    #[test]
    fn parallel_gzip_reports_a_failing_writer_and_producer() {
        #[derive(Debug)]
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = gzip_parallel(Full, |w| {
            for _ in 0..64 {
                w.write_all(&[7u8; GZIP_CHUNK])?;
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        let e = gzip_parallel(Vec::new(), |w| {
            w.write_all(b"partial")?;
            Err::<(), _>(io::Error::other("source vanished"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "source vanished");
    }

    #[test]
    fn same_tree_same_digest_and_sorted_entries() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        sample(d1.path());
        // Created in another order, at another time.
        std::thread::sleep(std::time::Duration::from_millis(20));
        sample(d2.path());
        let opts = LayerOptions {
            clamp: Some(1_700_000_000),
            compression: Compression::Gzip,
        };
        let mut b1 = Vec::new();
        let mut b2 = Vec::new();
        let i1 = write_layer(d1.path(), &opts, &mut b1).unwrap();
        let i2 = write_layer(d2.path(), &opts, &mut b2).unwrap();
        assert_eq!(i1, i2);
        assert_eq!(i1.digest, Digest::of(&b1));
        assert_eq!(i1.size, b1.len() as u64);
        let mut tar = Vec::new();
        flate2::read::MultiGzDecoder::new(&b1[..]).read_to_end_into(&mut tar);
        assert_eq!(i1.diff_id, Digest::of(&tar));
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let text = entries(&b1, true)
            .join("\n")
            .replace(&format!(" {uid}:{gid} "), " U:G ");
        expect_test::expect![[r#"
            Symlink a 777 U:G 1700000000 0 -> b
            Regular b 755 U:G 1700000000 3
            Link c 755 U:G 1700000000 0 -> b
            Directory etc 755 U:G 1700000000 0
            Directory etc/app 755 U:G 1700000000 0
            Regular etc/app/conf 644 U:G 1700000000 4"#]]
        .assert_eq(&text);
        // Uncompressed: the blob is the tar, digest == diff_id.
        let mut plain = Vec::new();
        let i3 = write_layer(
            d1.path(),
            &LayerOptions {
                compression: Compression::None,
                ..opts
            },
            &mut plain,
        )
        .unwrap();
        assert_eq!(i3.digest, i3.diff_id);
        assert_eq!(i3.diff_id, i1.diff_id);
    }

    trait ReadAll {
        fn read_to_end_into(self, out: &mut Vec<u8>);
    }
    impl<R: io::Read> ReadAll for R {
        fn read_to_end_into(mut self, out: &mut Vec<u8>) {
            self.read_to_end(out).unwrap();
        }
    }

    #[test]
    fn whiteouts_and_opaque_dirs_as_root() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: whiteouts need root (mknod of a 0/0 char device, trusted.* xattrs)");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("bin")).unwrap();
        nix::sys::stat::mknod(
            &root.join("bin/cat"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        )
        .unwrap();
        nix::sys::stat::mknod(
            &root.join("null"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        fs::create_dir(root.join("opq")).unwrap();
        xattr::set(root.join("opq"), OPAQUE_XATTR, b"y").unwrap();
        fs::write(root.join("opq/new"), "").unwrap();
        let mut blob = Vec::new();
        let opts = LayerOptions {
            clamp: Some(0),
            compression: Compression::None,
        };
        write_layer(root, &opts, &mut blob).unwrap();
        let names: Vec<String> = entries(&blob, false)
            .iter()
            .map(|e| e.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            names,
            [
                "Directory bin",
                "Regular bin/.wh.cat",
                "Directory opq",
                "Regular opq/.wh..wh..opq",
                "Regular opq/new"
            ],
            "the device file null is skipped"
        );
        // layered_exists sees through the whiteout and the opaque dir.
        let lower = tempfile::tempdir().unwrap();
        fs::create_dir_all(lower.path().join("bin")).unwrap();
        fs::write(lower.path().join("bin/cat"), "").unwrap();
        fs::write(lower.path().join("bin/sh"), "").unwrap();
        fs::create_dir_all(lower.path().join("opq")).unwrap();
        fs::write(lower.path().join("opq/old"), "").unwrap();
        let layers = [root.to_path_buf(), lower.path().to_path_buf()];
        assert!(!layered_exists(&layers, Path::new("bin/cat")));
        assert!(layered_exists(&layers, Path::new("bin/sh")));
        assert!(!layered_exists(&layers, Path::new("opq/old")));
        assert!(layered_exists(&layers, Path::new("opq/new")));
        assert!(!layered_exists(&layers, Path::new("etc/hosts")));
    }
}
