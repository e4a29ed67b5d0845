//! Pushing: blobs the registry lacks (a `HEAD` says which), mounted from another repository
//! of the same registry when one is known to hold them, else uploaded — in one `PUT` up to
//! the chunk size, in `PATCH` chunks above it — then the manifest under its tag.

use crate::client::{describe, with_query, Client};
use crate::config::Endpoint;
use crate::reference::Reference;
use crate::{short, Error, Progress};
use slipway_store::image::{is_index, ImageIndex, Manifest};
use slipway_store::{Descriptor, Digest, Store};
use std::io::{Read, Seek, SeekFrom};

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Parallel uploads.
    pub jobs: usize,
    /// Blobs above this size go up in `PATCH` chunks of this size.
    pub chunk_size: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            jobs: 4,
            chunk_size: 64 << 20,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    pub reference: String,
    pub digest: Option<Digest>,
    pub uploaded: usize,
    pub mounted: usize,
    pub existing: usize,
    pub bytes: u64,
}

/// How one blob got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    Existed,
    Mounted,
    Uploaded,
}

/// Pushes the image whose manifest is `manifest` (in the store) as `target`.
pub fn push(
    client: &Client,
    store: &Store,
    manifest: &Descriptor,
    target: &str,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<Pushed, Error> {
    let r = Reference::parse(target).map_err(Error::Invalid)?;
    let ep = client.registries().endpoint(&r.registry);
    let mut pushed = Pushed {
        reference: r.to_string(),
        ..Pushed::default()
    };
    let digest = push_manifest(
        client,
        store,
        &ep,
        &r.repository,
        manifest,
        &r.version(),
        options,
        progress,
        &mut pushed,
    )?;
    pushed.digest = Some(digest);
    Ok(pushed)
}

/// Pushes the image index `index` (in the store, its manifests' layers as they should
/// leave: see `slipway_runner::distribute::index`) as `target`: each manifest's blobs,
/// then each manifest by its digest, then the index under the tag. The digest is the
/// index's.
pub fn push_index(
    client: &Client,
    store: &Store,
    index: &Descriptor,
    target: &str,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<Pushed, Error> {
    let r = Reference::parse(target).map_err(Error::Invalid)?;
    let ep = client.registries().endpoint(&r.registry);
    let bytes = store.get_blob(&index.digest)?;
    let doc: ImageIndex = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Invalid(format!("index {} in the store: {e}", index.digest)))?;
    let mut pushed = Pushed {
        reference: r.to_string(),
        ..Pushed::default()
    };
    for entry in &doc.manifests {
        let d = &entry.descriptor;
        if is_index(&d.media_type) {
            return Err(Error::Invalid(format!(
                "index {}: an index inside an index is not supported",
                index.digest
            )));
        }
        push_manifest(
            client,
            store,
            &ep,
            &r.repository,
            d,
            d.digest.as_str(),
            options,
            progress,
            &mut pushed,
        )?;
    }
    let media_type = doc.media_type.clone().unwrap_or_else(|| index.media_type.clone());
    pushed.digest = Some(put_manifest(
        client,
        &ep,
        &r.repository,
        &r.version(),
        &media_type,
        &bytes,
    )?);
    Ok(pushed)
}

/// Pushes a manifest's config and layers, then the manifest as `version` (a tag or its
/// digest); counts into `pushed`; returns the manifest's digest.
#[allow(clippy::too_many_arguments)]
fn push_manifest(
    client: &Client,
    store: &Store,
    ep: &Endpoint,
    repo: &str,
    manifest: &Descriptor,
    version: &str,
    options: &PushOptions,
    progress: &dyn Progress,
    pushed: &mut Pushed,
) -> Result<Digest, Error> {
    let bytes = store.get_blob(&manifest.digest)?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Invalid(format!("manifest {} in the store: {e}", manifest.digest)))?;
    let mut blobs = m.layers.clone();
    blobs.push(m.config.clone());
    let outcomes = push_blobs(client, store, ep, repo, &blobs, options, progress)?;
    for (b, o) in blobs.iter().zip(&outcomes) {
        match o {
            BlobOutcome::Existed => pushed.existing += 1,
            BlobOutcome::Mounted => pushed.mounted += 1,
            BlobOutcome::Uploaded => {
                pushed.uploaded += 1;
                pushed.bytes += b.size;
            }
        }
    }
    let media_type = m.media_type.clone().unwrap_or_else(|| manifest.media_type.clone());
    put_manifest(client, ep, repo, version, &media_type, &bytes)
}

/// Puts a manifest; returns its digest (checked against the registry's answer).
pub fn put_manifest(
    client: &Client,
    ep: &Endpoint,
    repo: &str,
    version: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<Digest, Error> {
    let digest = Digest::of(bytes);
    let url = format!("{}/v2/{repo}/manifests/{version}", ep.base);
    let what = format!("putting manifest {}/{repo}:{version}", ep.host);
    let resp = client.send(ep, &crate::auth::scope(repo, true), &what, &|agent, auth| {
        let mut req = agent.put(&url).header("Content-Type", media_type);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send(bytes)
    })?;
    if resp.status().as_u16() != 201 {
        return Err(push_error(&what, &ep.host, resp));
    }
    if let Some(got) = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Digest>().ok())
    {
        if got != digest {
            return Err(Error::Invalid(format!(
                "{what}: the registry stored it as {got}, not {digest}"
            )));
        }
    }
    Ok(digest)
}

fn push_error(what: &str, host: &str, resp: ureq::http::Response<ureq::Body>) -> Error {
    let status = resp.status().as_u16();
    let text = describe(resp);
    match status {
        403 => Error::Auth(format!("{what}: access denied ({text}); check `slipway login {host}`")),
        404 => Error::NotFound(format!("{what}: {text}")),
        _ => Error::Registry(format!("{what}: registry answered {text}")),
    }
}

/// Pushes blobs (from the store), `jobs` at a time; returns how each got there.
pub fn push_blobs(
    client: &Client,
    store: &Store,
    ep: &Endpoint,
    repo: &str,
    blobs: &[Descriptor],
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<Vec<BlobOutcome>, Error> {
    let outcomes = std::sync::Mutex::new(vec![BlobOutcome::Existed; blobs.len()]);
    let indexed: Vec<(usize, &Descriptor)> = blobs.iter().enumerate().collect();
    crate::parallel(&indexed, options.jobs, &|(i, b)| {
        // An upload that failed part-way starts over (a new session), a bounded number of times.
        let mut attempt = 0;
        let o = loop {
            match push_blob(client, store, ep, repo, b, options, progress) {
                Err(Error::Registry(m) | Error::NotFound(m)) if attempt < 2 => {
                    attempt += 1;
                    progress.finish(&crate::short(&b.digest), "failed");
                    progress.note(&format!("{m}; starting the upload of {} again", b.digest));
                    std::thread::sleep(crate::client::backoff(attempt));
                }
                r => break r?,
            }
        };
        crate::record_origin(store, &b.digest, &ep.host, repo);
        outcomes.lock().unwrap_or_else(|p| p.into_inner())[*i] = o;
        Ok(())
    })?;
    Ok(outcomes.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Whether the registry has a blob in `repo`.
pub fn blob_exists(client: &Client, ep: &Endpoint, repo: &str, digest: &Digest, push: bool) -> Result<bool, Error> {
    let url = format!("{}/v2/{repo}/blobs/{digest}", ep.base);
    let what = format!("checking blob {digest} in {}/{repo}", ep.host);
    let resp = client.send(ep, &crate::auth::scope(repo, push), &what, &|agent, auth| {
        let mut req = agent.head(&url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.call()
    })?;
    match resp.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(push_error(&what, &ep.host, resp)),
    }
}

fn absolute(ep: &Endpoint, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", ep.base)
    } else {
        format!("{}/{location}", ep.base)
    }
}

/// The credentials go only to the registry itself: an upload `Location` on another host
/// (a storage service) gets none.
fn same_origin<'a>(ep: &Endpoint, url: &str, auth: Option<&'a str>) -> Option<&'a str> {
    auth.filter(|_| {
        url.strip_prefix(ep.base.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn location(resp: &ureq::http::Response<ureq::Body>, ep: &Endpoint, what: &str) -> Result<String, Error> {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(|l| absolute(ep, l))
        .ok_or_else(|| Error::Registry(format!("{what}: the registry sent no Location for the upload")))
}

fn push_blob(
    client: &Client,
    store: &Store,
    ep: &Endpoint,
    repo: &str,
    blob: &Descriptor,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<BlobOutcome, Error> {
    let id = short(&blob.digest);
    progress.start(&id, "pushing", blob.size);
    let path = store.blob_path(&blob.digest);
    let size = std::fs::metadata(&path)
        .map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("blob {} is not in the store: {e}", blob.digest),
            ))
        })?
        .len();
    if size != blob.size {
        return Err(Error::Invalid(format!(
            "blob {} in the store is {size} bytes, its descriptor says {}",
            blob.digest, blob.size
        )));
    }
    if blob_exists(client, ep, repo, &blob.digest, true)? {
        progress.finish(&id, "exists");
        return Ok(BlobOutcome::Existed);
    }
    // Start an upload, asking to mount the blob from a repository known to hold it.
    let from = crate::origins(store, &blob.digest, &ep.host)
        .into_iter()
        .find(|r| r != repo);
    let mut scope = crate::auth::scope(repo, true);
    let mut url = format!("{}/v2/{repo}/blobs/uploads/", ep.base);
    if let Some(f) = &from {
        scope.push(' ');
        scope.push_str(&crate::auth::scope(f, false));
        url = with_query(&url, &[("mount", blob.digest.as_str()), ("from", f)]);
    }
    let what = format!("uploading blob {} to {}/{repo}", blob.digest, ep.host);
    let resp = client.send(ep, &scope, &what, &|agent, auth| {
        let mut req = agent.post(&url).header("Content-Length", "0");
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send_empty()
    })?;
    match resp.status().as_u16() {
        201 if from.is_some() => {
            progress.advance(&id, blob.size);
            progress.finish(&id, "mounted");
            return Ok(BlobOutcome::Mounted);
        }
        202 => {}
        _ => return Err(push_error(&what, &ep.host, resp)),
    }
    let mut loc = location(&resp, ep, &what)?;
    let scope = crate::auth::scope(repo, true);
    let open_at = |offset: u64| -> Result<std::fs::File, Error> {
        let mut f = std::fs::File::open(&path).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot open {}: {e}", path.display()),
            ))
        })?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(f)
    };
    if size > options.chunk_size {
        // Chunked: PATCH each chunk with its Content-Range, then PUT the digest.
        let mut offset = 0u64;
        while offset < size {
            let len = options.chunk_size.min(size - offset);
            let url = loc.clone();
            let resp = client.send(ep, &scope, &what, &|agent, auth| {
                let file = open_at(offset).map_err(|e| ureq::Error::Io(std::io::Error::other(e.to_string())))?;
                let mut req = agent
                    .patch(&url)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Length", len.to_string())
                    .header("Content-Range", format!("{offset}-{}", offset + len - 1));
                if let Some(a) = same_origin(ep, &url, auth) {
                    req = req.header("Authorization", a);
                }
                req.send(ureq::SendBody::from_owned_reader(file.take(len)))
            })?;
            if resp.status().as_u16() != 202 {
                return Err(push_error(&what, &ep.host, resp));
            }
            loc = location(&resp, ep, &what)?;
            offset += len;
            progress.advance(&id, len);
        }
        let url = with_query(&loc, &[("digest", blob.digest.as_str())]);
        let resp = client.send(ep, &scope, &what, &|agent, auth| {
            let mut req = agent.put(&url).header("Content-Length", "0");
            if let Some(a) = same_origin(ep, &url, auth) {
                req = req.header("Authorization", a);
            }
            req.send_empty()
        })?;
        if resp.status().as_u16() != 201 {
            return Err(push_error(&what, &ep.host, resp));
        }
    } else {
        // Monolithic: one PUT with the whole blob.
        let url = with_query(&loc, &[("digest", blob.digest.as_str())]);
        let resp = client.send(ep, &scope, &what, &|agent, auth| {
            let file = open_at(0).map_err(|e| ureq::Error::Io(std::io::Error::other(e.to_string())))?;
            let mut req = agent
                .put(&url)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", size.to_string());
            if let Some(a) = same_origin(ep, &url, auth) {
                req = req.header("Authorization", a);
            }
            req.send(ureq::SendBody::from_owned_reader(file))
        })?;
        if resp.status().as_u16() != 201 {
            return Err(push_error(&what, &ep.host, resp));
        }
        progress.advance(&id, size);
    }
    progress.finish(&id, "pushed");
    Ok(BlobOutcome::Uploaded)
}

/// Checks the credentials for `host` (a `GET /v2/`, answering its challenge).
pub fn login(client: &Client, host: &str, creds: crate::Credentials) -> Result<(), Error> {
    client.set_credentials(host, creds);
    let ep = client.registries().endpoint(host);
    let url = format!("{}/v2/", ep.base);
    let what = format!("logging in to {host}");
    let resp = client.send(&ep, "", &what, &|agent, auth| {
        let mut req = agent.get(&url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.call()
    })?;
    match resp.status().as_u16() {
        200 => Ok(()),
        _ => Err(push_error(&what, host, resp)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_with_the_registry() {
        let ep = Endpoint {
            host: "reg.example:5000".into(),
            base: "https://reg.example:5000".into(),
            mirror: false,
        };
        let a = Some("Bearer t");
        assert_eq!(
            same_origin(&ep, "https://reg.example:5000/v2/x/blobs/uploads/u?s=1", a),
            a
        );
        assert_eq!(same_origin(&ep, "https://reg.example:50000/v2/x", a), None);
        assert_eq!(same_origin(&ep, "https://storage.example/upload/u", a), None);
        assert_eq!(
            absolute(&ep, "/v2/x/blobs/uploads/u"),
            "https://reg.example:5000/v2/x/blobs/uploads/u"
        );
        assert_eq!(absolute(&ep, "https://s.example/u"), "https://s.example/u");
    }
}
