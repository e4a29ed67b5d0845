//! The build context: what `docker build` would send, read once, and the
//! exact files each COPY/ADD uses.
//!
//! [`Context::scan`] walks the context directory in parallel, leaves out what
//! `.dockerignore` excludes with BuildKit's rules (fsutil's filter walk: an
//! excluded directory is still walked when a `!` pattern may re-include
//! something under it, and the directories above a re-included path are kept),
//! never follows a symlink (it is an entry with its target, wherever that
//! points), and hashes every regular file with sha256 on all cores. A
//! persistent stat cache (path → size, mtime, ctime, inode, device → digest)
//! means an unchanged file is never read twice; files changed too recently to
//! trust their timestamps ("racily clean", as git says) are not cached.
//!
//! [`Context::select`] resolves COPY/ADD sources as BuildKit's Dockerfile
//! frontend and file backend do; [`Selection::digest`] is what a cache key
//! needs of them: path, kind, permission bits, size, symlink target and
//! content of every selected entry — never mtime or ownership (COPY without
//! `--chown` sets 0:0; the cache key adds `--chown` itself).
//!
//! Where slipway differs from BuildKit, on purpose:
//! - a `..` leading out of the context is clamped at its root, as BuildKit
//!   does (`COPY ../x` is `COPY x`), not rejected;
//! - a wildcard matching nothing selects nothing without error (BuildKit's
//!   Dockerfile frontend sets `AllowEmptyWildcard`), while a plain path that
//!   does not exist is an error.
//!
//! Paths are context-relative, `/`-separated, without a leading `./`; a name
//! that is not UTF-8 is kept lossily (the file itself is still read).

mod glob;
/// Go's `filepath.Match`, as BuildKit matches COPY sources.
pub use glob::{go_match, BadPattern};
mod hash;
mod select;
mod statcache;
mod walk;

use crate::dockerignore::DockerIgnore;
use glob::cmp_paths;
use serde::Serialize;
use std::cmp::Ordering;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use walk::{Rec, Stamp};

/// What a context entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A fifo, socket or device node (BuildKit copies them; they have no content digest).
    Other,
}

impl EntryKind {
    fn code(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Other => "other",
        }
    }
}

/// One entry of the build context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Context-relative, `/`-separated, no leading `./`.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits, setuid/setgid/sticky included (`st_mode & 0o7777`).
    pub mode: u32,
    /// Bytes for files, the target's length for symlinks, 0 for directories.
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub link_target: Option<String>,
    /// Hex sha256 of the content, files only.
    pub digest: Option<String>,
}

impl FileEntry {
    /// Hex sha256 of what a cache key needs of this entry, its path aside:
    /// kind, permission bits, size, symlink target, content digest.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        self.write_fields(&mut h);
        slipway_store::hex(&h.finalize())
    }

    fn write_fields(&self, h: &mut sha2::Sha256) {
        use sha2::Digest as _;
        h.update(self.kind.code());
        h.update([0]);
        h.update(format!("{:o}\0{}\0", self.mode, self.size));
        h.update(self.link_target.as_deref().unwrap_or(""));
        h.update([0]);
        h.update(self.digest.as_deref().unwrap_or(""));
        h.update(b"\n");
    }
}

/// How to scan a context.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// The `.dockerignore` patterns to apply (the caller finds the file:
    /// `<Dockerfile>.dockerignore`, else `.dockerignore` in the context).
    pub dockerignore: Option<DockerIgnore>,
    /// The persistent stat cache file; `None` hashes every file.
    pub stat_cache: Option<PathBuf>,
    /// Worker threads for walking and hashing; 0 = all available cores.
    pub threads: usize,
}

impl ScanOptions {
    /// The stat cache file for a context in the store at `store_root`
    /// (`<store root>/context-cache/<sha256 of the canonical context path>`): the
    /// store planned against, never an implicit default, so a plan against a
    /// temporary store (a test's) writes nothing into the user's.
    pub fn stat_cache_in(store_root: &Path, context: &Path) -> io::Result<PathBuf> {
        use sha2::{Digest as _, Sha256};
        let root = fs::canonicalize(context)?;
        let key = slipway_store::hex(&Sha256::digest(root.as_os_str().as_bytes()));
        Ok(store_root.join("context-cache").join(&key[..32]))
    }
}

/// A scanned build context.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
    /// In [`glob::cmp_paths`] order: a directory, then everything under it.
    entries: Vec<FileEntry>,
    files_hashed: usize,
    bytes_hashed: u64,
    warnings: Vec<String>,
}

/// Timestamps this close to the scan's start may still change without
/// changing (mtime, ctime): the kernel stamps files with a coarse clock.
const RACY_NS: i64 = 50_000_000;

fn racy(s: &Stamp, start_ns: i64) -> bool {
    // Whole seconds on both suggests a filesystem with second granularity.
    let granularity = if s.mtime_ns % 1_000_000_000 == 0 && s.ctime_ns % 1_000_000_000 == 0 {
        1_000_000_000
    } else {
        0
    };
    s.mtime_ns.max(s.ctime_ns).saturating_add(granularity + RACY_NS) > start_ns
}

impl Context {
    /// Walks and hashes the context at `root` (a directory; a symlink to one
    /// is followed, as BuildKit resolves the context path).
    pub fn scan(root: &Path, options: &ScanOptions) -> io::Result<Context> {
        let start_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        let root = fs::canonicalize(root)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read build context {}: {e}", root.display())))?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("build context {} is not a directory", root.display()),
            ));
        }
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut recs = walk::walk(&root, options.dockerignore.as_ref(), threads)?;
        recs.sort_unstable_by(|a, b| cmp_paths(&a.path, &b.path));
        if recs.iter().any(|r| r.pending) {
            recs = keep_needed_parents(recs);
        }

        // Digests the stat cache still vouches for; the rest are read.
        let cache = match &options.stat_cache {
            Some(file) => statcache::StatCache::load(file, &root),
            None => statcache::StatCache::default(),
        };
        let mut digests: Vec<Option<[u8; 32]>> = vec![None; recs.len()];
        let mut jobs = Vec::new();
        let mut hits = 0;
        let mut j = 0;
        for (i, r) in recs.iter().enumerate() {
            if r.kind != EntryKind::File {
                continue;
            }
            while j < cache.records.len() && cmp_paths(cache.path(&cache.records[j]), &r.path) == Ordering::Less {
                j += 1;
            }
            if let Some(c) = cache.records.get(j) {
                if c.stamp == r.stamp && cache.path(c) == r.path {
                    digests[i] = Some(c.digest);
                    hits += 1;
                    continue;
                }
            }
            let path = match &r.raw {
                Some(raw) => root.join(OsStr::from_bytes(raw)),
                None => root.join(&r.path),
            };
            jobs.push(hash::Job {
                index: i,
                path,
                size: r.size,
                ino: r.stamp.ino,
                dev: r.stamp.dev,
            });
        }
        let files_hashed = jobs.len();
        let bytes_hashed = jobs.iter().map(|j| j.size).sum();
        for (i, d) in hash::hash_all(jobs, threads)? {
            digests[i] = Some(d);
        }

        let mut warnings = Vec::new();
        if let Some(file) = &options.stat_cache {
            let fresh = |(r, d): &(&Rec, &Option<[u8; 32]>)| {
                r.kind == EntryKind::File && d.is_some() && !racy(&r.stamp, start_ns)
            };
            let kept = recs.iter().zip(&digests).filter(fresh).count();
            // Unchanged: every kept record was a hit, and nothing cached is gone.
            if kept != hits || hits != cache.records.len() {
                let records: Vec<_> = recs
                    .iter()
                    .zip(&digests)
                    .filter(fresh)
                    .map(|(r, d)| (r.path.as_str(), r.stamp, d.unwrap_or_default()))
                    .collect();
                // The cache only saves time: failing to write it is not fatal.
                if let Err(e) = statcache::save(file, &root, records.into_iter()) {
                    warnings.push(format!("cannot write the stat cache: {e}"));
                }
            }
        }
        drop(cache);

        let entries = recs
            .into_iter()
            .zip(digests)
            .map(|(r, d)| FileEntry {
                path: r.path,
                kind: r.kind,
                mode: r.mode,
                size: r.size,
                uid: r.uid,
                gid: r.gid,
                link_target: r.link_target,
                digest: d.map(|d| slipway_store::hex(&d)),
            })
            .collect();
        Ok(Context {
            root,
            entries,
            files_hashed,
            bytes_hashed,
            warnings,
        })
    }

    /// A context made of entries read elsewhere (a git tree: see [`crate::gitbase`]),
    /// `.dockerignore` already applied; `root` is where it would be on disk.
    pub fn from_entries(root: PathBuf, mut entries: Vec<FileEntry>) -> Context {
        entries.sort_by(|a, b| cmp_paths(&a.path, &b.path));
        Context {
            root,
            entries,
            files_hashed: 0,
            bytes_hashed: 0,
            warnings: Vec::new(),
        }
    }

    /// The canonical context directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry at a context path (`a/b.txt`; no leading `./` or `/`).
    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.index(path).map(|i| &self.entries[i])
    }

    /// Every entry, each directory followed by what is under it.
    pub fn entries(&self) -> impl Iterator<Item = &FileEntry> {
        self.entries.iter()
    }

    /// How many entries the context has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many files this scan read (the rest came from the stat cache).
    pub fn files_hashed(&self) -> usize {
        self.files_hashed
    }

    /// How many bytes this scan read and hashed.
    pub fn bytes_hashed(&self) -> u64 {
        self.bytes_hashed
    }

    /// Problems that did not stop the scan (the stat cache could not be written).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn index(&self, path: &str) -> Option<usize> {
        self.entries.binary_search_by(|e| cmp_paths(&e.path, path)).ok()
    }

    /// The entries strictly under directory `dir` (`""`: the whole context).
    fn under(&self, dir: &str) -> std::ops::Range<usize> {
        if dir.is_empty() {
            return 0..self.entries.len();
        }
        let prefix = format!("{dir}/");
        let start = self
            .entries
            .partition_point(|e| cmp_paths(&e.path, &prefix) == Ordering::Less);
        let len = self.entries[start..].partition_point(|e| e.path.starts_with(&prefix));
        start..start + len
    }
}

/// Keeps an excluded-but-walked directory only when something under it is
/// kept, as fsutil's filter emits such parents lazily. `recs` is sorted.
fn keep_needed_parents(recs: Vec<Rec>) -> Vec<Rec> {
    let mut keep = vec![true; recs.len()];
    // Pending directories above the current entry.
    let mut open: Vec<usize> = Vec::new();
    for i in 0..recs.len() {
        while let Some(&top) = open.last() {
            let p = &recs[top].path;
            let path = &recs[i].path;
            if path.len() > p.len() && path.starts_with(p.as_str()) && path.as_bytes()[p.len()] == b'/' {
                break;
            }
            open.pop();
        }
        if recs[i].pending {
            keep[i] = false;
            open.push(i);
        } else {
            for &o in &open {
                keep[o] = true;
            }
        }
    }
    recs.into_iter()
        .zip(keep)
        .filter_map(|(mut r, k)| {
            r.pending = false;
            k.then_some(r)
        })
        .collect()
}

/// The entries a COPY/ADD selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Every selected entry once, in context order. Paths are as the sources
    /// name them: a source that is (or goes through) a symlink, which BuildKit
    /// follows inside the context, gives its entries under the source's name.
    pub files: Vec<FileEntry>,
    /// Per source as written: the paths it selected.
    pub per_source: Vec<(String, Vec<String>)>,
}

impl Selection {
    /// Hex sha256 over (path, kind, permission bits, size, symlink target,
    /// content digest) of every selected entry, in order. Never mtime.
    pub fn digest(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        for f in &self.files {
            h.update(f.path.as_bytes());
            h.update([0]);
            f.write_fields(&mut h);
        }
        slipway_store::hex(&h.finalize())
    }
}

/// A COPY/ADD source that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum SelectError {
    /// A path without wildcards that is not in the context.
    #[error("failed to compute cache key: {path:?}: not found")]
    #[diagnostic(
        code(slipway::context::not_found),
        help("source paths are relative to the build context; is {path:?} excluded by .dockerignore or misspelled?")
    )]
    NotFound {
        /// The source as written.
        src: String,
        /// The normalized path BuildKit looks up (`/x`).
        path: String,
    },
    /// A source or `--exclude` pattern that is no valid pattern.
    #[error("invalid pattern {pattern:?}: syntax error in pattern")]
    #[diagnostic(code(slipway::context::bad_pattern))]
    BadPattern { pattern: String },
}
