//! Pulling: a reference → manifest (through an index to this platform's manifest) →
//! config and layers, verified while they stream into the store; then the store's name.

use crate::client::{describe, Client, MANIFEST_ACCEPT};
use crate::config::Endpoint;
use crate::reference::Reference;
use crate::{short, Error, Progress};
use slipway_store::image::Manifest;
use slipway_store::{Descriptor, Digest, Store};
use std::collections::BTreeMap;
use std::io::{self, Read};

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The largest manifest or index accepted.
const MAX_MANIFEST: u64 = 4 << 20;
/// How often one blob download may be resumed after its connection broke.
const MAX_RESUMES: u32 = 5;

/// An image platform: the store's type, re-exported here where it was first defined.
pub use slipway_store::platform::Platform;

#[derive(Debug, Clone)]
pub struct PullOptions {
    pub platform: Platform,
    /// Parallel blob downloads.
    pub jobs: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: Platform::host(),
            jobs: 4,
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The store's name for the image.
    pub name: String,
    /// The platform manifest, as stored.
    pub manifest: Descriptor,
    /// The platform it is for (the index entry's, else the config's).
    pub platform: Platform,
    /// What the name points at now: the manifest, or a local index of it and the name's
    /// images of other platforms (see [`Store::set_ref_platform`]).
    pub named: Descriptor,
    /// Where it came from (a mirror or the registry), as a URL base.
    pub source: String,
    /// Blobs downloaded, and their bytes.
    pub fetched: usize,
    pub bytes: u64,
}

#[derive(serde::Deserialize)]
struct IndexDoc {
    manifests: Vec<IndexEntry>,
}

/// An entry of an index as registries send it (lenient: only what selection needs).
#[derive(serde::Deserialize)]
struct IndexEntry {
    digest: Digest,
    #[serde(default)]
    platform: Option<Platform>,
}

/// Pulls `reference` into the store (mirrors first, as configured) and names it there.
pub fn pull(
    client: &Client,
    store: &Store,
    reference: &str,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<Pulled, Error> {
    // Blobs land before a ref names them: no prune meanwhile.
    let _in_use = store.lock_in_use()?;
    let r = Reference::parse(reference).map_err(Error::Invalid)?;
    let name = slipway_store::image::normalize_name(reference).unwrap_or_else(|_| r.to_string());
    let mut notes = Vec::new();
    for ep in client.registries().pull_endpoints(&r.registry) {
        match pull_from(client, store, &r, &ep, options, progress) {
            Ok((manifest, platform, fetched, bytes)) => {
                // A pull for one platform keeps the name's images of others.
                let platform = match platform {
                    Some(p) => p,
                    None => store.platform_of(&manifest)?,
                };
                let named = store.set_ref_platform(&name, manifest.clone(), &platform)?;
                return Ok(Pulled {
                    name,
                    manifest,
                    platform,
                    named,
                    source: ep.base,
                    fetched,
                    bytes,
                });
            }
            Err(e) if ep.mirror => {
                progress.note(&format!("mirror {} failed: {e}; trying the next source", ep.host));
                notes.push(format!("mirror {}: {e}", ep.host));
            }
            Err(e) => {
                if notes.is_empty() {
                    return Err(e);
                }
                let msg = format!("{e} (after the mirrors failed: {})", notes.join("; "));
                return Err(match e {
                    Error::NotFound(_) => Error::NotFound(msg),
                    Error::Auth(_) => Error::Auth(msg),
                    Error::Invalid(_) => Error::Invalid(msg),
                    _ => Error::Registry(msg),
                });
            }
        }
    }
    Err(Error::Registry(format!("no source to pull {reference} from")))
}

/// A manifest's bytes, verified, and its media type.
pub fn get_manifest(
    client: &Client,
    ep: &Endpoint,
    repository: &str,
    version: &str,
    expected: Option<&Digest>,
) -> Result<(Vec<u8>, String, Digest), Error> {
    let scope = crate::auth::scope(repository, false);
    let url = format!("{}/v2/{repository}/manifests/{version}", ep.base);
    let what = format!("getting manifest {}/{repository}:{version}", ep.host);
    let resp = client.send(ep, &scope, &what, &|agent, auth| {
        let mut req = agent.get(&url).header("Accept", MANIFEST_ACCEPT);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.call()
    })?;
    match resp.status().as_u16() {
        200 => {}
        404 => {
            return Err(Error::NotFound(format!(
                "{}/{repository}:{version} is not in the registry ({})",
                ep.host,
                describe(resp)
            )))
        }
        403 => {
            return Err(Error::Auth(format!(
                "{what}: access denied ({}); check `slipway login {}`",
                describe(resp),
                ep.host
            )))
        }
        _ => return Err(Error::Registry(format!("{what}: registry answered {}", describe(resp)))),
    }
    let header_digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Digest>().ok());
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
    let bytes = resp
        .into_body()
        .with_config()
        .limit(MAX_MANIFEST)
        .read_to_vec()
        .map_err(|e| Error::Registry(format!("{what}: {e}")))?;
    let digest = Digest::of(&bytes);
    if let Some(want) = expected.or(header_digest.as_ref()) {
        if *want != digest {
            return Err(Error::Invalid(format!(
                "{what}: the registry sent a manifest whose digest is {digest}, not {want}; nothing was stored"
            )));
        }
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("{what}: the manifest is not JSON: {e}")))?;
    let media_type = doc
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(String::from)
        .or(content_type)
        .unwrap_or_else(|| {
            if doc.get("manifests").is_some() {
                slipway_store::MEDIA_INDEX.into()
            } else {
                slipway_store::MEDIA_MANIFEST.into()
            }
        });
    Ok((bytes, media_type, digest))
}

fn is_index(media_type: &str) -> bool {
    media_type == slipway_store::MEDIA_INDEX || media_type == MEDIA_DOCKER_LIST
}

/// Picks the manifest for `platform` from an index: its digest and its entry's platform.
fn select_platform(bytes: &[u8], platform: &Platform, what: &str) -> Result<(Digest, Platform), Error> {
    let index: IndexDoc =
        serde_json::from_slice(bytes).map_err(|e| Error::Invalid(format!("{what}: invalid image index: {e}")))?;
    // The exact platform first; else the same platform after normalisation
    // (`arm64/v8` is `arm64`, `aarch64` is `arm64`), as containerd matches.
    let best = index
        .manifests
        .iter()
        .find(|m| m.platform.as_ref() == Some(platform))
        .or_else(|| {
            index
                .manifests
                .iter()
                .find(|m| m.platform.as_ref().is_some_and(|p| p.matches(platform)))
        });
    match best {
        Some(m) => Ok((m.digest.clone(), m.platform.clone().unwrap_or_else(|| platform.clone()))),
        None => {
            let have: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|m| m.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(|p| p.to_string())
                .collect();
            Err(Error::NotFound(format!(
                "{what}: no image for {platform} (the index has {})",
                if have.is_empty() {
                    "no platforms".into()
                } else {
                    have.join(", ")
                }
            )))
        }
    }
}

fn pull_from(
    client: &Client,
    store: &Store,
    r: &Reference,
    ep: &Endpoint,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<(Descriptor, Option<Platform>, usize, u64), Error> {
    let repo = &r.repository;
    let mut platform = None;
    let (mut bytes, mut media_type, mut digest) = get_manifest(client, ep, repo, &r.version(), r.digest.as_ref())?;
    if is_index(&media_type) {
        let what = format!("{}/{repo}:{}", ep.host, r.version());
        let (child, entry_platform) = select_platform(&bytes, &options.platform, &what)?;
        platform = Some(entry_platform);
        (bytes, media_type, digest) = get_manifest(client, ep, repo, child.as_str(), Some(&child))?;
        if is_index(&media_type) {
            return Err(Error::Invalid(format!(
                "{what}: an index inside an index is not supported"
            )));
        }
    }
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        let schema1 = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("schemaVersion").and_then(|s| s.as_u64()))
            == Some(1);
        Error::Invalid(if schema1 {
            format!(
                "{}/{repo}:{} is a schema 1 image, which slipway does not support",
                ep.host,
                r.version()
            )
        } else {
            format!("manifest of {}/{repo}:{}: {e}", ep.host, r.version())
        })
    })?;
    let mut blobs = vec![manifest.config.clone()];
    blobs.extend(manifest.layers.iter().cloned());
    let (fetched, total) = fetch_blobs(client, store, ep, repo, &blobs, options.jobs, progress)?;
    let stored = store.put_blob(&bytes)?;
    debug_assert_eq!(stored, digest);
    Ok((
        Descriptor {
            media_type,
            digest,
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
        },
        platform,
        fetched,
        total,
    ))
}

/// Downloads the blobs the store lacks, `jobs` at a time; returns how many and their bytes.
pub fn fetch_blobs(
    client: &Client,
    store: &Store,
    ep: &Endpoint,
    repo: &str,
    blobs: &[Descriptor],
    jobs: usize,
    progress: &dyn Progress,
) -> Result<(usize, u64), Error> {
    let mut missing: Vec<&Descriptor> = Vec::new();
    for b in blobs {
        if store.has_blob(&b.digest) {
            progress.start(&short(&b.digest), "already in the store", b.size);
            progress.finish(&short(&b.digest), "exists");
        } else if !missing.iter().any(|m| m.digest == b.digest) {
            missing.push(b);
        }
    }
    let count = missing.len();
    let bytes = missing.iter().map(|b| b.size).sum();
    crate::parallel(&missing, jobs, &|b| {
        fetch_blob(client, store, ep, repo, b, progress)?;
        crate::record_origin(store, &b.digest, &ep.host, repo);
        Ok(())
    })?;
    Ok((count, bytes))
}

/// Downloads one blob into the store, resuming a broken connection with a range request;
/// verified against its digest (a mismatch stores nothing).
pub fn fetch_blob(
    client: &Client,
    store: &Store,
    ep: &Endpoint,
    repo: &str,
    blob: &Descriptor,
    progress: &dyn Progress,
) -> Result<(), Error> {
    if store.has_blob(&blob.digest) {
        return Ok(());
    }
    let id = short(&blob.digest);
    progress.start(&id, "downloading", blob.size);
    let mut reader = ResumingReader {
        client,
        ep,
        scope: crate::auth::scope(repo, false),
        url: format!("{}/v2/{repo}/blobs/{}", ep.base, blob.digest),
        what: format!("getting blob {} from {}/{repo}", blob.digest, ep.host),
        size: blob.size,
        offset: 0,
        skip: 0,
        body: None,
        resumes: 0,
        progress,
        id: id.clone(),
        failure: None,
    };
    // What an interrupted earlier pull left is kept: only the rest is asked for.
    let r = &mut reader;
    let result = store.put_blob_resumable(&blob.digest, move |offset| {
        if offset > 0 {
            r.progress
                .note(&format!("{}: continuing at byte {offset} of an earlier pull", r.what));
            r.progress.advance(&r.id, offset);
        }
        r.offset = offset;
        Ok(r)
    });
    match result {
        Ok((_, size)) if size == blob.size => {
            progress.finish(&id, "done");
            Ok(())
        }
        Ok((_, size)) => Err(Error::Invalid(format!(
            "blob {} from {}/{repo} is {size} bytes, its descriptor says {}",
            blob.digest, ep.host, blob.size
        ))),
        Err(e) => {
            progress.finish(&id, "failed");
            if let Some(f) = reader.failure.take() {
                return Err(f);
            }
            if e.kind() == io::ErrorKind::InvalidData && e.to_string().contains("digest mismatch") {
                return Err(Error::Invalid(format!(
                    "blob {} from {}/{repo} does not match its digest ({e}); the registry sent corrupt data and nothing was stored",
                    blob.digest, ep.host
                )));
            }
            Err(Error::Io(e))
        }
    }
}

/// A blob's body that reconnects with `Range: bytes=N-` when the connection breaks, and
/// reads exactly the descriptor's size.
struct ResumingReader<'a> {
    client: &'a Client,
    ep: &'a Endpoint,
    scope: String,
    url: String,
    what: String,
    size: u64,
    offset: u64,
    /// Bytes to drop because a server ignored the range and started from 0.
    skip: u64,
    body: Option<ureq::BodyReader<'static>>,
    resumes: u32,
    progress: &'a dyn Progress,
    id: String,
    /// The registry error behind an `io::Error` returned to the store.
    failure: Option<Error>,
}

impl ResumingReader<'_> {
    fn open(&mut self) -> Result<(), Error> {
        let offset = self.offset;
        let url = self.url.clone();
        let resp = self.client.send(self.ep, &self.scope, &self.what, &|agent, auth| {
            let mut req = agent.get(&url);
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            if offset > 0 {
                req = req.header("Range", format!("bytes={offset}-"));
            }
            req.call()
        })?;
        match resp.status().as_u16() {
            200 => self.skip = offset,
            206 if offset > 0 => self.skip = 0,
            404 => {
                return Err(Error::NotFound(format!(
                    "{}: the registry does not have it ({})",
                    self.what,
                    describe(resp)
                )))
            }
            _ => {
                return Err(Error::Registry(format!(
                    "{}: registry answered {}",
                    self.what,
                    describe(resp)
                )))
            }
        }
        self.body = Some(resp.into_body().into_reader());
        Ok(())
    }
}

impl Read for ResumingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.offset >= self.size {
                return Ok(0);
            }
            if self.body.is_none() {
                if let Err(e) = self.open() {
                    let msg = e.to_string();
                    self.failure = Some(e);
                    return Err(io::Error::other(msg));
                }
            }
            let want = (self.size - self.offset).min(buf.len() as u64) as usize;
            let body = self.body.as_mut().expect("opened above");
            let got = if self.skip > 0 {
                let mut scratch = vec![0u8; self.skip.min(1 << 16) as usize];
                body.read(&mut scratch).map(|n| {
                    self.skip -= n as u64;
                    (n, true)
                })
            } else {
                body.read(&mut buf[..want]).map(|n| (n, false))
            };
            let interruption = match got {
                Ok((0, _)) => "the connection closed early".to_string(),
                Ok((_, true)) => continue,
                Ok((n, false)) => {
                    self.offset += n as u64;
                    self.progress.advance(&self.id, n as u64);
                    return Ok(n);
                }
                Err(e) => e.to_string(),
            };
            self.body = None;
            if self.resumes >= MAX_RESUMES {
                let msg = format!(
                    "{}: {interruption} at byte {} of {} ({} resumes tried)",
                    self.what, self.offset, self.size, self.resumes
                );
                self.failure = Some(Error::Registry(msg.clone()));
                return Err(io::Error::other(msg));
            }
            self.resumes += 1;
            self.progress.note(&format!(
                "{}: {interruption} at byte {} of {}; resuming",
                self.what, self.offset, self.size
            ));
            std::thread::sleep(crate::client::backoff(self.resumes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_selected_from_an_index() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v6"}}}},
            {{"digest":"{}","size":2,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
            {{"digest":"{}","size":3,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"digest":"{}","size":4,"platform":{{"os":"unknown","architecture":"unknown"}}}}]}}"#,
            d('a'),
            d('b'),
            d('c'),
            d('d')
        );
        let pick = |p: &str| {
            select_platform(index.as_bytes(), &Platform::parse(p).unwrap(), "x")
                .map(|(d, _)| d.to_string())
                .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(pick("linux/amd64"), d('c'));
        assert_eq!(pick("linux/arm64/v8"), d('b'));
        assert_eq!(pick("linux/arm64"), d('b'));
        assert_eq!(pick("linux/arm/v6"), d('a'));
        assert_eq!(
            pick("linux/s390x"),
            "x: no image for linux/s390x (the index has linux/arm/v6, linux/arm64/v8, linux/amd64)"
        );
        assert!(Platform::parse("linux").is_err());
        assert_eq!(Platform::parse("linux/arm/v7").unwrap().to_string(), "linux/arm/v7");
    }
}
