//! Layers leave the store compressed; they are kept uncompressed in it.
//!
//! A build writes each new layer as a plain tar blob (one pass: tar, hash, write), as
//! Docker keeps a step's result uncompressed and compresses only when it pushes. When an
//! image leaves the store (`push`, `build --push`, `--cache-to`, `--output type=oci`), each
//! uncompressed layer is compressed once and the compressed blob is remembered under
//! `cache/compressed/<tar digest>-<gzip|zstd>`, so the next push of the same layer reads it
//! instead of compressing again. The image's config, and so its ID, is the same either way
//! (it names layers by their uncompressed digest); the manifest that leaves is another one,
//! naming the compressed blobs, as Docker's pushed manifest differs from its local image.

use crate::image::{store_layer, Image};
use crate::layer::{layer_from_tar, Compression, LayerOptions};
use slipway_store::image::{is_index, ImageIndex, IndexEntry, Manifest};
use slipway_store::{Descriptor, Digest, Store, MEDIA_LAYER_TAR};
use std::fs;
use std::io;
use std::path::PathBuf;

/// Docker's media type for an uncompressed layer.
const MEDIA_DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Whether `layer` is a plain (uncompressed) tar blob.
pub fn is_uncompressed(layer: &Descriptor) -> bool {
    layer.media_type == MEDIA_LAYER_TAR || layer.media_type == MEDIA_DOCKER_LAYER_TAR
}

fn suffix(compression: Compression) -> Option<&'static str> {
    match compression {
        Compression::None => None,
        Compression::Gzip => Some("gzip"),
        Compression::Zstd => Some("zstd"),
    }
}

fn memo_path(store: &Store, tar: &Digest, suffix: &str) -> PathBuf {
    store
        .root()
        .join("cache/compressed")
        .join(format!("{}-{suffix}", tar.hex()))
}

/// The memo entries under `cache/compressed/`: (the memo file, the uncompressed layer's
/// digest, the compressed blob's digest). Unreadable entries are left out.
pub fn memos(store: &Store) -> Vec<(PathBuf, Digest, Digest)> {
    let Ok(rd) = fs::read_dir(store.root().join("cache/compressed")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((hex, _)) = name.split_once('-') else { continue };
        let Ok(tar) = format!("sha256:{hex}").parse::<Digest>() else {
            continue;
        };
        let Some(d) = fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<Descriptor>(&b).ok())
        else {
            continue;
        };
        out.push((e.path(), tar, d.digest));
    }
    out
}

/// The blob `layer` leaves the store as: itself when it is compressed already or
/// `compression` is none; else its compressed copy, made now or remembered from before.
/// Annotations (the diff ID) carry over.
pub fn layer(store: &Store, layer: &Descriptor, compression: Compression) -> io::Result<Descriptor> {
    let Some(suffix) = suffix(compression).filter(|_| is_uncompressed(layer)) else {
        return Ok(layer.clone());
    };
    let memo = memo_path(store, &layer.digest, suffix);
    if let Some(d) = fs::read(&memo)
        .ok()
        .and_then(|b| serde_json::from_slice::<Descriptor>(&b).ok())
        .filter(|d| store.has_blob(&d.digest))
    {
        return Ok(d);
    }
    let tar = fs::File::open(store.blob_path(&layer.digest))
        .map_err(|e| io::Error::new(e.kind(), format!("layer {}: {e}", layer.digest)))?;
    let options = LayerOptions {
        clamp: None,
        compression,
    };
    let info = store_layer(store, |f| {
        layer_from_tar(
            io::BufReader::with_capacity(1 << 20, tar),
            &options,
            io::BufWriter::new(f),
        )
    })?;
    if info.diff_id != layer.digest {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "layer {} in the store is corrupt (its content is {})",
                layer.digest, info.diff_id
            ),
        ));
    }
    let out = Descriptor {
        media_type: info.media_type.into(),
        digest: info.digest,
        size: info.size,
        annotations: layer.annotations.clone(),
    };
    let bytes = serde_json::to_vec(&out).map_err(io::Error::other)?;
    slipway_store::write_atomic(&memo, &bytes)?;
    Ok(out)
}

/// The manifest `manifest` (in the store) as it leaves: itself when no layer needs
/// compressing, else a manifest (stored as a blob, under no name) that names the
/// compressed layers. The config, and so the image ID, is the same.
pub fn manifest(store: &Store, manifest: &Descriptor, compression: Compression) -> io::Result<(Descriptor, Manifest)> {
    let bytes = store.get_blob(&manifest.digest)?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("manifest {} in the store: {e}", manifest.digest),
        )
    })?;
    if compression == Compression::None || !m.layers.iter().any(is_uncompressed) {
        return Ok((manifest.clone(), m));
    }
    let layers = m
        .layers
        .iter()
        .map(|l| layer(store, l, compression))
        .collect::<io::Result<Vec<_>>>()?;
    let out = Manifest { layers, ..m };
    let bytes = serde_json::to_vec(&out).map_err(io::Error::other)?;
    let descriptor = Descriptor {
        digest: store.put_blob(&bytes)?,
        size: bytes.len() as u64,
        ..manifest.clone()
    };
    Ok((descriptor, out))
}

/// The image index `index` (in the store) as it leaves: itself when none of its manifests
/// changes, else an index (stored as a blob, under no name) whose entries are the
/// manifests as they leave ([`manifest`]), platforms and annotations kept. The images'
/// configs, so their IDs, are the same.
pub fn index(store: &Store, index: &Descriptor, compression: Compression) -> io::Result<(Descriptor, ImageIndex)> {
    let bytes = store.get_blob(&index.digest)?;
    let doc: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("index {} in the store: {e}", index.digest),
        )
    })?;
    let mut changed = false;
    let mut manifests = Vec::with_capacity(doc.manifests.len());
    for entry in &doc.manifests {
        if is_index(&entry.descriptor.media_type) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("index {}: an index inside an index is not supported", index.digest),
            ));
        }
        let (d, _) = manifest(store, &entry.descriptor, compression)?;
        changed |= d.digest != entry.descriptor.digest;
        manifests.push(IndexEntry {
            descriptor: d,
            platform: entry.platform.clone(),
        });
    }
    if !changed {
        return Ok((index.clone(), doc));
    }
    let out = ImageIndex { manifests, ..doc };
    let bytes = serde_json::to_vec(&out).map_err(io::Error::other)?;
    let descriptor = Descriptor {
        digest: store.put_blob(&bytes)?,
        size: bytes.len() as u64,
        ..index.clone()
    };
    Ok((descriptor, out))
}

/// The image as it leaves the store (see [`manifest`]).
pub fn image(store: &Store, image: &Image, compression: Compression) -> io::Result<Image> {
    if compression == Compression::None || !image.manifest.layers.iter().any(is_uncompressed) {
        return Ok(image.clone());
    }
    let (manifest_descriptor, manifest) = manifest(store, &image.manifest_descriptor, compression)?;
    Ok(Image {
        name: image.name.clone(),
        manifest_descriptor,
        manifest,
        config: image.config.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::write_layer;

    fn tar_layer(store: &Store, dir: &std::path::Path) -> Descriptor {
        let options = LayerOptions {
            clamp: None,
            compression: Compression::None,
        };
        let info = store_layer(store, |f| write_layer(dir, &options, io::BufWriter::new(f))).unwrap();
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert("x".to_string(), "y".to_string());
        Descriptor {
            media_type: info.media_type.into(),
            digest: info.digest,
            size: info.size,
            annotations,
        }
    }

    #[test]
    fn an_uncompressed_layer_leaves_compressed_once_and_with_the_same_content() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("a"), vec![b'a'; 100_000]).unwrap();
        let tar = tar_layer(&store, src.path());
        assert!(is_uncompressed(&tar));
        assert_eq!(tar.media_type, MEDIA_LAYER_TAR);

        let gz = layer(&store, &tar, Compression::Gzip).unwrap();
        assert_eq!(gz.media_type, slipway_store::MEDIA_LAYER_GZIP);
        assert!(gz.size < tar.size / 10, "{} vs {}", gz.size, tar.size);
        assert_eq!(gz.annotations, tar.annotations);
        let blob = store.get_blob(&gz.digest).unwrap();
        let mut plain = Vec::new();
        io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&blob[..]), &mut plain).unwrap();
        assert_eq!(Digest::of(&plain), tar.digest);

        // Remembered: the second call compresses nothing (the memo names the same blob,
        // and it is used even when the blob's mtime says nothing new was written).
        let memo = memo_path(&store, &tar.digest, "gzip");
        assert!(memo.is_file());
        assert_eq!(layer(&store, &tar, Compression::Gzip).unwrap(), gz);
        assert_eq!(
            memos(&store),
            vec![(memo.clone(), tar.digest.clone(), gz.digest.clone())]
        );

        // A memo whose blob is gone is made again.
        fs::remove_file(store.blob_path(&gz.digest)).unwrap();
        assert_eq!(layer(&store, &tar, Compression::Gzip).unwrap(), gz);

        let zst = layer(&store, &tar, Compression::Zstd).unwrap();
        assert_eq!(zst.media_type, slipway_store::MEDIA_LAYER_ZSTD);
        assert_eq!(layer(&store, &tar, Compression::None).unwrap(), tar);
        assert_eq!(layer(&store, &gz, Compression::Zstd).unwrap(), gz, "compressed already");
    }

    #[test]
    fn a_corrupt_uncompressed_blob_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("a"), b"hello").unwrap();
        let tar = tar_layer(&store, src.path());
        let path = store.blob_path(&tar.digest);
        let mut bytes = fs::read(&path).unwrap();
        bytes[600] ^= 1;
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        fs::write(&path, bytes).unwrap();
        let err = layer(&store, &tar, Compression::Gzip).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert!(!memo_path(&store, &tar.digest, "gzip").exists());
    }
}
