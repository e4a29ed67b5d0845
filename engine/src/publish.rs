//! Pushing an image from the store: compressed on the way out (the store keeps a build's
//! layers uncompressed), then uploaded.

use crate::bases::Lazy;
use crate::events::Events;
use crate::session::Pushed;
use crate::Error;
use slipway_registry::push::PushOptions;
use slipway_runner::layer::Compression;
use slipway_store::{Descriptor, Store};

/// Pushes the image `descriptor` names to `target` (`REGISTRY/REPO[:TAG]`).
pub fn push(
    store: &Store,
    descriptor: &Descriptor,
    target: &str,
    compression: Compression,
    events: &dyn Events,
) -> Result<Pushed, Error> {
    let manifest = slipway_runner::distribute::manifest(store, descriptor, compression)
        .map_err(|e| Error::Registry(format!("cannot push {target}: {e}")))?
        .0;
    let mut client = Lazy::new();
    let client = client.get()?;
    let bars = events.transfer();
    let p = slipway_registry::push::push(client, store, &manifest, target, &PushOptions::default(), &*bars)
        .map_err(|e| Error::Registry(e.to_string()))?;
    Ok(Pushed {
        reference: p.reference,
        digest: p.digest.map(|d| d.to_string()).unwrap_or_default(),
        uploaded: p.uploaded,
        mounted: p.mounted,
        existing: p.existing,
    })
}
