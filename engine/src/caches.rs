//! Registry-backed build caches: `--cache-from` imported before planning, `--cache-to`
//! exported after a build.

use crate::bases::{needed_images, Lazy};
use crate::events::Events;
use crate::Error;
use slipway_planner::request::Planned;
use slipway_registry::cache::{CacheSpec, ImportOptions};
use slipway_runner::layer::Compression;
use slipway_store::image::familiar_name;
use slipway_store::Store;

/// `--cache-from`: imports each cache into the store before planning (and, unless the
/// spec says `mounts=false`, the contents of its cache mounts as seeds). A cache that
/// cannot be imported is a warning, as in BuildKit: the build goes on without it.
pub fn import(store: &Store, specs: &[CacheSpec], events: &dyn Events) -> Result<(), Error> {
    if specs.is_empty() {
        return Ok(());
    }
    let mut client = Lazy::new();
    let client = client.get()?;
    for spec in specs {
        let r = &spec.reference;
        let bars = events.transfer();
        // Records and base manifests only: a plan needs no layer, and a build fetches
        // the layers of the steps it reuses (`fetch_reused`), none of those it runs.
        let options = ImportOptions {
            mounts: spec.mounts.unwrap_or(true),
            ..ImportOptions::default()
        };
        match slipway_registry::cache::import(client, store, r, &options, &*bars) {
            Ok(i) => events.info(&format!(
                "imported cache {r}: {} records ({} new), layers fetched when a build reuses them{}{}",
                i.records,
                i.new_records,
                if i.bases.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", base images {}",
                        i.bases.iter().map(|b| familiar_name(b)).collect::<Vec<_>>().join(", ")
                    )
                },
                if i.mounts == 0 {
                    String::new()
                } else {
                    format!(", {} cache mount(s) restored when a step that runs uses them", i.mounts)
                }
            )),
            Err(e) => events.warning(&format!("cannot import cache {r}: {e}")),
        }
    }
    Ok(())
}

/// `--cache-to`: exports the cache records of a build's steps (of every platform built),
/// their layers and its base images; with `mounts=true`, the contents of the cache mounts
/// its RUN steps use.
pub fn export(
    store: &Store,
    planned: &[&Planned],
    specs: &[CacheSpec],
    compression: Compression,
    events: &dyn Events,
) -> Result<(), Error> {
    if specs.is_empty() {
        return Ok(());
    }
    let mut records: Vec<slipway_store::CacheRecord> = Vec::new();
    for step in planned.iter().flat_map(|p| &p.plan.steps) {
        if let Some(mut r) = store.get_cache(&step.cache_key)? {
            if !records.iter().any(|x| x.key == r.key) {
                // The layer as it leaves the store (compressed), the record naming it.
                if let Some(d) = r.result.as_ref().filter(|d| store.has_blob(&d.digest)) {
                    r.result = Some(slipway_runner::distribute::layer(store, d, compression)?);
                }
                records.push(r);
            }
        }
    }
    let mut bases: Vec<String> = Vec::new();
    for (n, _) in planned.iter().flat_map(|p| needed_images(p)) {
        if let Ok(n) = slipway_store::image::normalize_name(&n) {
            if !bases.contains(&n) {
                bases.push(n);
            }
        }
    }
    // The mounts' blobs are written before the cache names them: no prune meanwhile.
    let _in_use = store.lock_in_use()?;
    let mut packed: Option<Vec<slipway_store::mounts::MountSnapshot>> = None;
    let mut client = Lazy::new();
    let client = client.get()?;
    for spec in specs {
        let r = &spec.reference;
        let mounts: &[slipway_store::mounts::MountSnapshot] = if spec.mounts == Some(true) {
            if packed.is_none() {
                let mut used = Vec::new();
                for p in planned {
                    for m in slipway_runner::mounts::used_by(p, |_| true) {
                        if !used.contains(&m) {
                            used.push(m);
                        }
                    }
                }
                let p = slipway_runner::mounts::pack(store, &used)
                    .map_err(|e| Error::Registry(format!("cannot pack the cache mounts for {r}: {e}")))?;
                packed = Some(p.into_iter().map(|p| p.snapshot).collect());
            }
            packed.as_deref().unwrap_or_default()
        } else {
            &[]
        };
        let bars = events.transfer();
        let contents = slipway_registry::cache::Contents {
            records: &records,
            bases: &bases,
            mounts,
        };
        match slipway_registry::cache::export(client, store, &contents, r, &*bars) {
            Ok(e) => events.info(&format!(
                "exported cache {r}: {} records, {} layers ({} uploaded){}",
                e.records,
                e.layers,
                e.uploaded,
                if spec.mounts == Some(true) {
                    format!(", {} cache mount(s) ({} uploaded)", e.mounts, e.mounts_uploaded)
                } else {
                    String::new()
                }
            )),
            Err(e) => return Err(Error::Registry(format!("cannot export the cache to {r}: {e}"))),
        }
    }
    Ok(())
}
