//! What ADD does beyond COPY: local tar archives unpacked into the image (plain, gzip,
//! bzip2, xz or zstd, recognised by content as BuildKit does, not by name), and files
//! fetched from http(s) URLs, checked against `--checksum`.
//!
//! Unpacking is safe by construction: an entry that climbs out of the destination
//! (`../x`) is an error, and every parent directory is resolved *inside the image*
//! ([`crate::rootfs::View`]), so links in the archive or the image cannot make a write
//! land outside the step's upper directory.

use crate::rootfs::{contained, View};
use sha2::Digest as _;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How an archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    fn of(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [b'B', b'Z', b'h', ..] => Compression::Bzip2,
            [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Compression::Xz,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }

    fn reader<'a>(self, r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(r),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
            Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        })
    }
}

/// Whether a tar header block is valid: its checksum matches (which also covers old v7
/// archives without the `ustar` magic).
fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block.iter().all(|&b| b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .map(|&b| b as char)
        .collect();
    let Ok(want) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == want
}

/// The compression of `path` when it is a tar archive (possibly compressed), else `None`.
pub fn detect(path: &Path) -> io::Result<Option<Compression>> {
    let mut f = File::open(path)?;
    let mut head = [0u8; 8];
    let n = read_full(&mut f, &mut head)?;
    let compression = Compression::of(&head[..n]);
    let f = File::open(path)?;
    let mut block = vec![0u8; 512];
    let Ok(mut r) = compression.reader(BufReader::new(f)) else {
        return Ok(None);
    };
    let n = read_full(&mut r, &mut block).unwrap_or(0);
    Ok((n == 512 && is_tar_header(&block)).then_some(compression))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn bad(archive: &Path, entry: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: entry {entry:?} {why}", archive.display()),
    )
}

/// Unpacks the archive at `archive` into `dest` (absolute, in the image) by writing into
/// `upper`, over `lowers` (bottom first). Ownership: `owner`, else the archive's. Returns
/// the number of entries written.
pub fn unpack(
    archive: &Path,
    compression: Compression,
    lowers: &[PathBuf],
    upper: &Path,
    dest: &str,
    owner: Option<(u32, u32)>,
) -> io::Result<usize> {
    let file = File::open(archive)?;
    let mut ar = tar::Archive::new(compression.reader(BufReader::new(file))?);
    let dest = View::new(lowers, upper).resolve(dest, true)?;
    crate::build::ensure_dir(upper, lowers, &dest, owner, 0o755)?;
    let mut count = 0;
    // Members keep the archive's mtimes; a directory's is set once everything is in.
    let mut dirs: Vec<(PathBuf, i64)> = Vec::new();
    for entry in ar.entries()? {
        let mut entry = entry.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", archive.display())))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let parts = contained(&raw).ok_or_else(|| bad(archive, &raw, "climbs out of the destination"))?;
        let Some((name, parents)) = parts.split_last() else {
            continue;
        };
        let header = entry.header();
        let kind = header.entry_type();
        let mtime = header.mtime().ok().and_then(|t| i64::try_from(t).ok()).unwrap_or(0);
        let set_mtime = |p: &Path| crate::build::set_mtime(p, mtime, 0, false);
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) = match owner {
            Some(o) => o,
            None => (
                header.uid().unwrap_or(0).try_into().unwrap_or(0),
                header.gid().unwrap_or(0).try_into().unwrap_or(0),
            ),
        };
        let view = View::new(lowers, upper);
        let parent = view.resolve(&format!("{dest}/{}", parents.join("/")), true)?;
        crate::build::ensure_dir(upper, lowers, &parent, None, 0o755)?;
        let in_image = format!("{}/{name}", parent.trim_end_matches('/'));
        let host = upper.join(in_image.trim_start_matches('/'));
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                // A directory over an image link to a directory follows it (`lib/` on a
                // merged-/usr Debian stays a link).
                let target = view.resolve(&in_image, true)?;
                crate::build::ensure_dir(upper, lowers, &target, None, 0o755)?;
                let at = upper.join(target.trim_start_matches('/'));
                std::os::unix::fs::chown(&at, Some(uid), Some(gid))?;
                fs::set_permissions(&at, fs::Permissions::from_mode(mode))?;
                dirs.push((at, mtime));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_entry(&host)?;
                let mut out = File::create(&host)?;
                io::copy(&mut entry, &mut out)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {raw}: {e}", archive.display())))?;
                out.flush()?;
                std::os::unix::fs::chown(&host, Some(uid), Some(gid))?;
                fs::set_permissions(&host, fs::Permissions::from_mode(mode))?;
                set_mtime(&host)?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(archive, &raw, "is a link without a target"))?;
                remove_entry(&host)?;
                std::os::unix::fs::symlink(String::from_utf8_lossy(&target).as_ref(), &host)?;
                std::os::unix::fs::lchown(&host, Some(uid), Some(gid))?;
                set_mtime(&host)?;
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(archive, &raw, "is a hard link without a target"))?;
                let target = String::from_utf8_lossy(&target).into_owned();
                let rel = contained(&target).ok_or_else(|| bad(archive, &raw, "links out of the destination"))?;
                let linked = view.resolve(&format!("{dest}/{}", rel.join("/")), false)?;
                let (source, meta) = view
                    .stat(linked.trim_start_matches('/'))
                    .ok_or_else(|| bad(archive, &raw, "links to a file the archive has not made"))?;
                if !meta.is_file() {
                    return Err(bad(archive, &raw, "hard-links something that is not a file"));
                }
                remove_entry(&host)?;
                if source.starts_with(upper) {
                    fs::hard_link(&source, &host)?;
                } else {
                    fs::copy(&source, &host)?;
                }
            }
            T::Char | T::Block | T::Fifo => {
                use crate::sys::NodeKind;
                let node = match kind {
                    T::Char => NodeKind::Char,
                    T::Block => NodeKind::Block,
                    _ => NodeKind::Fifo,
                };
                remove_entry(&host)?;
                crate::sys::make_node(
                    &host,
                    node,
                    mode,
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                )?;
                std::os::unix::fs::lchown(&host, Some(uid), Some(gid))?;
                set_mtime(&host)?;
            }
            // PAX and GNU long-name records are applied by the reader; others carry no file.
            _ => continue,
        }
        count += 1;
    }
    for (dir, mtime) in dirs.iter().rev() {
        crate::build::set_mtime(dir, *mtime, 0, false)?;
    }
    Ok(count)
}

fn remove_entry(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(_) => Ok(()),
    }
}

/// A checksum as `ADD --checksum` takes it: `sha256:<hex>` or `sha512:<hex>`.
fn parse_checksum(spec: &str) -> io::Result<(&str, String)> {
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--checksum={spec}: expected sha256:<64 hex digits> or sha512:<128 hex digits>"),
        )
    };
    let (algo, hex) = spec.split_once(':').ok_or_else(invalid)?;
    let len = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(invalid()),
    };
    if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    Ok((algo, hex.to_ascii_lowercase()))
}

/// The file name ADD gives a URL's content: the last path segment of the URL.
pub fn url_file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.split_once("://").map(|(_, r)| r).unwrap_or(path);
    match after_host.split_once('/') {
        Some((_, p)) => p
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("index.html")
            .to_string(),
        None => "index.html".to_string(),
    }
}

/// Downloads `url` to `into` (mode 0600, as Docker's ADD), checking `checksum` when
/// given; a mismatch is an error and leaves no file behind.
pub fn fetch(url: &str, checksum: Option<&str>, into: &Path) -> io::Result<()> {
    let want = checksum.map(parse_checksum).transpose()?;
    let agent = ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(30)))
        .timeout_global(Some(std::time::Duration::from_secs(3600)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let response = agent
        .get(url)
        .call()
        .map_err(|e| io::Error::other(format!("ADD {url}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(io::Error::other(format!("ADD {url}: the server answered {status}")));
    }
    let mut body = response.into_body().into_reader();
    let mut out = File::create(into)?;
    let (mut s256, mut s512) = (sha2::Sha256::new(), sha2::Sha512::new());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                drop(out);
                let _ = fs::remove_file(into);
                return Err(io::Error::new(e.kind(), format!("ADD {url}: {e}")));
            }
        };
        out.write_all(&buf[..n])?;
        match want.as_ref().map(|w| w.0) {
            Some("sha512") => s512.update(&buf[..n]),
            _ => s256.update(&buf[..n]),
        }
    }
    out.flush()?;
    drop(out);
    fs::set_permissions(into, fs::Permissions::from_mode(0o600))?;
    if let Some((algo, hex)) = want {
        let got = match algo {
            "sha512" => slipway_store::hex(&s512.finalize()),
            _ => slipway_store::hex(&s256.finalize()),
        };
        if got != hex {
            let _ = fs::remove_file(into);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("ADD {url}: checksum mismatch: --checksum wants {algo}:{hex}, the download is {algo}:{got}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o640);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the raw name as a hostile archive would.
            let n = name.as_bytes();
            h.as_old_mut().name[..n.len()].copy_from_slice(n);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn detects_archives_by_content() {
        let d = tempfile::tempdir().unwrap();
        let plain = tar_with(&[("a", b"x")]);
        fs::write(d.path().join("t"), &plain).unwrap();
        assert_eq!(detect(&d.path().join("t")).unwrap(), Some(Compression::None));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        fs::write(d.path().join("t.gz"), gz.finish().unwrap()).unwrap();
        assert_eq!(detect(&d.path().join("t.gz")).unwrap(), Some(Compression::Gzip));
        fs::write(d.path().join("t.zst"), zstd::encode_all(&plain[..], 3).unwrap()).unwrap();
        assert_eq!(detect(&d.path().join("t.zst")).unwrap(), Some(Compression::Zstd));
        fs::write(d.path().join("notes.tar"), "just text, named like an archive\n").unwrap();
        assert_eq!(detect(&d.path().join("notes.tar")).unwrap(), None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"gzip of text, not of a tar").unwrap();
        fs::write(d.path().join("x.gz"), gz.finish().unwrap()).unwrap();
        assert_eq!(detect(&d.path().join("x.gz")).unwrap(), None);
    }

    #[test]
    fn unpacking_refuses_escapes_and_follows_image_links() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("lower"), d.path().join("upper"));
        fs::create_dir_all(lower.join("usr/lib")).unwrap();
        fs::create_dir_all(&upper).unwrap();
        std::os::unix::fs::symlink("usr/lib", lower.join("lib")).unwrap();
        let lowers = [lower];
        fs::write(
            d.path().join("ok.tar"),
            tar_with(&[("lib/x.so", b"elf"), ("./etc/conf", b"c")]),
        )
        .unwrap();
        let n = unpack(&d.path().join("ok.tar"), Compression::None, &lowers, &upper, "/", None).unwrap();
        assert_eq!(n, 2);
        assert_eq!(fs::read(upper.join("usr/lib/x.so")).unwrap(), b"elf");
        assert!(
            !upper.join("lib").exists(),
            "the image's /lib link must not be shadowed"
        );
        assert_eq!(fs::read(upper.join("etc/conf")).unwrap(), b"c");
        fs::write(d.path().join("evil.tar"), tar_with(&[("a/../../x", b"evil")])).unwrap();
        let e = unpack(
            &d.path().join("evil.tar"),
            Compression::None,
            &lowers,
            &upper,
            "/opt",
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("climbs out of the destination"), "{e}");
        assert!(!d.path().join("x").exists());
    }

    #[test]
    fn checksums_and_names() {
        assert!(parse_checksum("sha256:abc").is_err());
        assert!(parse_checksum("md5:d41d8cd98f00b204e9800998ecf8427e").is_err());
        assert_eq!(
            parse_checksum(&format!("sha256:{}", "A".repeat(64))).unwrap().1,
            "a".repeat(64)
        );
        assert_eq!(
            url_file_name("https://example.org/dl/tool-1.2.tar.gz?x=1"),
            "tool-1.2.tar.gz"
        );
        assert_eq!(url_file_name("http://127.0.0.1:8080/"), "index.html");
        assert_eq!(url_file_name("http://127.0.0.1:8080"), "index.html");
    }
}
