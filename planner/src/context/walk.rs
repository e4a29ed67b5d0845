//! The parallel context walk: directories are jobs on a shared stack, each
//! worker lists one directory at a time (`getdents` + one `fstatat` per
//! entry, never following a symlink) and keeps one new subdirectory for
//! itself, pushing the others for idle workers to take.
//!
//! A hand-written walker rather than `ignore::WalkParallel` or jwalk: the
//! `.dockerignore` decision for an entry needs the per-pattern match results of
//! its parent directory (BuildKit's `MatchesUsingParentResults`), which is
//! state a job carries to its children here.

use super::EntryKind;
use crate::dockerignore::DockerIgnore;
use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

/// What the walk records of one entry.
pub(super) struct Rec {
    /// Context-relative, `/`-separated (lossy UTF-8 if the name is not).
    pub path: String,
    /// The real bytes of `path` when it is not valid UTF-8.
    pub raw: Option<Box<[u8]>>,
    pub kind: EntryKind,
    pub mode: u32,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub link_target: Option<String>,
    pub stamp: Stamp,
    /// An excluded directory walked only because a `!` pattern may re-include
    /// something under it: kept only if something under it is kept.
    pub pending: bool,
}

/// What the stat cache compares: an unchanged stamp means unchanged content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
}

impl Stamp {
    pub fn of(md: &fs::Metadata) -> Stamp {
        Stamp {
            size: md.size(),
            mtime_ns: md.mtime().saturating_mul(1_000_000_000).saturating_add(md.mtime_nsec()),
            ctime_ns: md.ctime().saturating_mul(1_000_000_000).saturating_add(md.ctime_nsec()),
            ino: md.ino(),
            dev: md.dev(),
        }
    }
}

struct Job {
    abs: PathBuf,
    rel: String,
    raw: Option<Box<[u8]>>,
    /// Per `.dockerignore` pattern: whether it matched this directory.
    info: Option<Arc<[bool]>>,
    pending: bool,
}

struct State {
    jobs: Vec<Job>,
    /// Workers holding a job.
    active: usize,
    error: Option<io::Error>,
}

struct Shared<'a> {
    state: Mutex<State>,
    wake: Condvar,
    ignore: Option<&'a DockerIgnore>,
}

/// Walks `root` (a directory) with `threads` workers; entries come back unsorted.
pub(super) fn walk(root: &Path, ignore: Option<&DockerIgnore>, threads: usize) -> io::Result<Vec<Rec>> {
    let shared = Shared {
        state: Mutex::new(State {
            jobs: vec![Job {
                abs: root.to_path_buf(),
                rel: String::new(),
                raw: None,
                info: None,
                pending: false,
            }],
            active: 0,
            error: None,
        }),
        wake: Condvar::new(),
        ignore: ignore.filter(|i| !i.is_empty()),
    };
    let threads = threads.max(1);
    let mut all = if threads == 1 {
        worker(&shared)
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| worker(&shared))).collect();
            let mut all = Vec::new();
            for h in handles {
                let mut part = h.join().expect("context walker panicked");
                if all.is_empty() {
                    all = part;
                } else {
                    all.append(&mut part);
                }
            }
            all
        })
    };
    let state = shared.state.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = state.error {
        return Err(e);
    }
    all.shrink_to_fit();
    Ok(all)
}

fn worker(shared: &Shared<'_>) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut mine: Option<Job> = None;
    let mut found = Vec::new();
    loop {
        let job = match mine.take() {
            Some(job) => job,
            None => {
                let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if st.error.is_some() {
                        return out;
                    }
                    if let Some(job) = st.jobs.pop() {
                        st.active += 1;
                        break job;
                    }
                    if st.active == 0 {
                        shared.wake.notify_all();
                        return out;
                    }
                    st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            }
        };
        let result = list(&job, shared.ignore, &mut out, &mut found);
        mine = found.pop();
        if result.is_ok() && found.is_empty() && mine.is_some() {
            // Nothing to share: go on without touching the lock.
            continue;
        }
        let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = result {
            st.error.get_or_insert(e);
            shared.wake.notify_all();
            return out;
        }
        let shared_some = !found.is_empty();
        st.jobs.append(&mut found);
        if mine.is_none() {
            st.active -= 1;
        }
        if shared_some || st.active == 0 {
            shared.wake.notify_all();
        }
    }
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Lists one directory: records its entries, queues its subdirectories.
fn list(job: &Job, ignore: Option<&DockerIgnore>, out: &mut Vec<Rec>, found: &mut Vec<Job>) -> io::Result<()> {
    let dir = match fs::read_dir(&job.abs) {
        Ok(dir) => dir,
        // fsutil: a permission error under an excluded directory is not an error.
        Err(e) if job.pending && e.kind() == io::ErrorKind::PermissionDenied => return Ok(()),
        Err(e) => return Err(annotate(e, "cannot read directory", &job.abs)),
    };
    let mut info = Vec::new();
    for entry in dir {
        let entry = entry.map_err(|e| annotate(e, "cannot read directory", &job.abs))?;
        let name = entry.file_name();
        let name_str = match name.to_str() {
            Some(s) => Cow::Borrowed(s),
            None => name.to_string_lossy(),
        };
        let rel = if job.rel.is_empty() {
            name_str.to_string()
        } else {
            let mut rel = String::with_capacity(job.rel.len() + 1 + name_str.len());
            rel.push_str(&job.rel);
            rel.push('/');
            rel.push_str(&name_str);
            rel
        };
        let raw = if job.raw.is_some() || matches!(name_str, Cow::Owned(_)) {
            let mut raw = job.raw.as_deref().unwrap_or(job.rel.as_bytes()).to_vec();
            if !raw.is_empty() {
                raw.push(b'/');
            }
            raw.extend_from_slice(name.as_bytes());
            Some(raw.into_boxed_slice())
        } else {
            None
        };
        let excluded = match ignore {
            Some(di) => di.matches_using_parent_results(&rel, job.info.as_deref(), &mut info),
            None => false,
        };
        if excluded {
            // An excluded directory is still walked when a `!` pattern may
            // re-include something under it (fsutil's filter); anything else
            // excluded is not in the context at all.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir || !ignore.is_some_and(|di| di.may_reinclude_under(&rel)) {
                continue;
            }
        }
        let md = entry
            .metadata()
            .map_err(|e| annotate(e, "cannot stat", &entry.path()))?;
        let ft = md.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        };
        let link_target = if kind == EntryKind::Symlink {
            let path = entry.path();
            let target = fs::read_link(&path).map_err(|e| annotate(e, "cannot read link", &path))?;
            Some(OsStr::new(&target).to_string_lossy().into_owned())
        } else {
            None
        };
        if kind == EntryKind::Dir {
            found.push(Job {
                abs: entry.path(),
                rel: rel.clone(),
                raw: raw.clone(),
                info: ignore.map(|_| Arc::from(&info[..])),
                pending: excluded,
            });
        }
        out.push(Rec {
            path: rel,
            raw,
            kind,
            mode: md.mode() & 0o7777,
            size: if kind == EntryKind::Dir { 0 } else { md.size() },
            uid: md.uid(),
            gid: md.gid(),
            link_target,
            stamp: Stamp::of(&md),
            pending: excluded,
        });
    }
    Ok(())
}
