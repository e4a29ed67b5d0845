//! The persistent stat cache: per context file, the stamp (size, mtime,
//! ctime, inode, device) it had when it was hashed, and its sha256. A file
//! whose stamp is unchanged is not read again.
//!
//! A small binary file, written atomically (`slipway_store::write_atomic`),
//! records sorted as the context's entries are so that loading is a single
//! pass and matching a merge:
//!
//! ```text
//! "slipway-stat-cache 1\n"  u32 root length, root bytes (the canonical context path)
//! u64 count, then per file: u32 path length, path, u64 size, i64 mtime ns,
//!                           i64 ctime ns, u64 inode, u64 device, 32 bytes sha256
//! ```
//!
//! Integers are little-endian. A file that does not parse, or belongs to
//! another context root, is ignored (everything is hashed again).

use super::walk::Stamp;
use std::io;
use std::path::Path;

const MAGIC: &[u8] = b"slipway-stat-cache 1\n";
const FIXED: usize = 8 * 5 + 32;

/// One cached file: its path is `buf[start..start + len]`.
pub(super) struct Cached {
    start: usize,
    len: usize,
    pub stamp: Stamp,
    pub digest: [u8; 32],
}

/// A loaded cache.
#[derive(Default)]
pub(super) struct StatCache {
    buf: Vec<u8>,
    pub records: Vec<Cached>,
}

impl StatCache {
    pub fn path(&self, r: &Cached) -> &str {
        // Checked to be UTF-8 when loaded.
        std::str::from_utf8(&self.buf[r.start..r.start + r.len]).unwrap_or("")
    }

    /// The cache at `file` for context `root`; empty when missing or unusable.
    pub fn load(file: &Path, root: &Path) -> StatCache {
        let Ok(buf) = std::fs::read(file) else {
            return StatCache::default();
        };
        parse(buf, root).unwrap_or_default()
    }
}

fn parse(buf: Vec<u8>, root: &Path) -> Option<StatCache> {
    use std::os::unix::ffi::OsStrExt;
    let mut at = 0;
    let take = |at: &mut usize, n: usize| -> Option<std::ops::Range<usize>> {
        let r = *at..at.checked_add(n)?;
        (r.end <= buf.len()).then(|| {
            *at = r.end;
            r
        })
    };
    let u32_at = |r: std::ops::Range<usize>| u32::from_le_bytes(buf[r].try_into().unwrap()) as usize;
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    if buf.get(..MAGIC.len())? != MAGIC {
        return None;
    }
    at += MAGIC.len();
    let n = u32_at(take(&mut at, 4)?);
    if buf[take(&mut at, n)?] != *root.as_os_str().as_bytes() {
        return None;
    }
    let count = u64_at(&buf[take(&mut at, 8)?], 0) as usize;
    let mut records = Vec::with_capacity(count.min(buf.len() / (FIXED + 4)));
    for _ in 0..count {
        let len = u32_at(take(&mut at, 4)?);
        let path = take(&mut at, len)?;
        std::str::from_utf8(&buf[path.clone()]).ok()?;
        let f = &buf[take(&mut at, FIXED)?];
        records.push(Cached {
            start: path.start,
            len,
            stamp: Stamp {
                size: u64_at(f, 0),
                mtime_ns: u64_at(f, 8) as i64,
                ctime_ns: u64_at(f, 16) as i64,
                ino: u64_at(f, 24),
                dev: u64_at(f, 32),
            },
            digest: f[40..72].try_into().unwrap(),
        });
    }
    (at == buf.len()).then_some(StatCache { buf, records })
}

/// Writes the cache: `records` must be in the context's entry order.
pub(super) fn save<'a>(
    file: &Path,
    root: &Path,
    records: impl ExactSizeIterator<Item = (&'a str, Stamp, [u8; 32])>,
) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let root = root.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(MAGIC.len() + 12 + root.len() + records.len() * (FIXED + 40));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(root.len() as u32).to_le_bytes());
    out.extend_from_slice(root);
    out.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for (path, s, digest) in records {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        for v in [s.size, s.mtime_ns as u64, s.ctime_ns as u64, s.ino, s.dev] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&digest);
    }
    slipway_store::write_atomic(file, &out)
}
