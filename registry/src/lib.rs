//! slipway-registry: a client of the OCI distribution API — image references parsed as
//! Docker's, manifests and indexes (with platform selection), blobs (parallel, resumed
//! downloads; monolithic, chunked and cross-repository-mounted uploads), Basic and Bearer
//! authentication with Docker's credentials, mirrors and plain-http registries — and what
//! slipway does with it: `pull`, `push`, `login`, and a build cache kept in a registry.
//!
//! Invariants:
//! - depends on slipway-store only (of ours);
//! - nothing enters the store unverified: every manifest and blob is checked against its
//!   digest while it streams in ([`slipway_store::Store::put_blob_resumable`]), and a
//!   mismatch stores nothing;
//! - a blob already in the store is never fetched again;
//! - every loop over the network is bounded (retries, resumes, redirects, body sizes).

pub mod auth;
pub mod cache;
pub mod client;
pub mod config;
pub mod pull;
pub mod push;
pub mod reference;

pub use client::{Client, ClientConfig};
pub use config::{Credentials, Endpoint};
pub use reference::Reference;

use std::io;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The registry could not be reached or answered an error.
    #[error("{0}")]
    Registry(String),
    /// Authentication failed or is needed.
    #[error("{0}")]
    Auth(String),
    /// The registry does not have it.
    #[error("{0}")]
    NotFound(String),
    /// Bad input, or data that does not match its digest or format.
    #[error("{0}")]
    Invalid(String),
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            Error::Registry(m) => io::Error::other(m),
            Error::Auth(m) => io::Error::new(io::ErrorKind::PermissionDenied, m),
            Error::NotFound(m) => io::Error::new(io::ErrorKind::NotFound, m),
            Error::Invalid(m) => io::Error::new(io::ErrorKind::InvalidData, m),
        }
    }
}

/// Progress of blob transfers, reported from worker threads. Ids are short digests.
pub trait Progress: Sync {
    /// A transfer of `total` bytes starts (`label`: what it is).
    fn start(&self, _id: &str, _label: &str, _total: u64) {}
    /// `bytes` more arrived or left.
    fn advance(&self, _id: &str, _bytes: u64) {}
    /// The transfer ended (`status`: "done", "exists", "mounted", …).
    fn finish(&self, _id: &str, _status: &str) {}
    /// A line of news ("resuming …", "pulling from mirror …").
    fn note(&self, _message: &str) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// The short id of a digest for progress lines: 12 hex digits.
pub fn short(d: &slipway_store::Digest) -> String {
    d.hex()[..12].to_string()
}

/// Runs `work` on every item with at most `jobs` threads; returns the first error.
pub(crate) fn parallel<T: Sync>(
    items: &[T],
    jobs: usize,
    work: &(dyn Fn(&T) -> Result<(), Error> + Sync),
) -> Result<(), Error> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if let Err(e) = work(item) {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                }
            });
        }
    });
    match errors
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .next()
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Records that a blob is in `host/repository`, so a later push to another repository of
/// the same registry can mount it instead of uploading it.
pub(crate) fn record_origin(store: &slipway_store::Store, digest: &slipway_store::Digest, host: &str, repo: &str) {
    store.record_origin(digest, host, repo);
}

/// Repositories of `host` known to hold a blob.
pub(crate) fn origins(store: &slipway_store::Store, digest: &slipway_store::Digest, host: &str) -> Vec<String> {
    store
        .origins(digest)
        .iter()
        .filter_map(|l| l.strip_prefix(host).and_then(|r| r.strip_prefix('/')).map(String::from))
        .collect()
}
