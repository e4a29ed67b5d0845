//! Content hashing: files are shared out to the workers largest first (an
//! atomic cursor over the list), each read through one reused buffer.

use sha2::{Digest as _, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Read size: large enough that syscalls cost nothing next to sha256.
const BUF: usize = 512 * 1024;

/// One file to hash: where it is, and the inode the walk saw there.
pub(super) struct Job {
    pub index: usize,
    pub path: PathBuf,
    pub size: u64,
    pub ino: u64,
    pub dev: u64,
}

/// Hashes every job; returns (index, sha256) pairs in no particular order.
pub(super) fn hash_all(mut jobs: Vec<Job>, threads: usize) -> io::Result<Vec<(usize, [u8; 32])>> {
    jobs.sort_unstable_by_key(|j| std::cmp::Reverse(j.size));
    let total: u64 = jobs.iter().map(|j| j.size).sum();
    // Small work is not worth a thread.
    let threads = if total < 1 << 20 {
        1
    } else {
        threads.clamp(1, jobs.len().max(1))
    };
    let next = AtomicUsize::new(0);
    let run = || -> io::Result<Vec<(usize, [u8; 32])>> {
        let mut buf = vec![0u8; BUF];
        let mut out = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { return Ok(out) };
            out.push((job.index, hash_file(job, &mut buf)?));
        }
    };
    if threads == 1 {
        return run();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(run)).collect();
        let mut all = Vec::with_capacity(jobs.len());
        let mut first_error = None;
        for h in handles {
            match h.join().expect("context hasher panicked") {
                Ok(mut part) => all.append(&mut part),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(all),
        }
    })
}

fn hash_file(job: &Job, buf: &mut [u8]) -> io::Result<[u8; 32]> {
    let context = |e: io::Error, what: &str| io::Error::new(e.kind(), format!("{what} {}: {e}", job.path.display()));
    // O_NOFOLLOW: if the file was replaced by a symlink since the walk, fail
    // rather than read whatever it points to (perhaps outside the context).
    let mut f: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&job.path)
        .map_err(|e| context(e, "cannot open"))?;
    let md = f.metadata().map_err(|e| context(e, "cannot stat"))?;
    if !md.is_file() || md.ino() != job.ino || md.dev() != job.dev {
        return Err(io::Error::other(format!(
            "{} changed while the build context was read",
            job.path.display()
        )));
    }
    let mut h = Sha256::new();
    loop {
        match f.read(buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(context(e, "cannot read")),
        }
    }
    Ok(h.finalize().into())
}
