//! Pushing an image from the store: compressed on the way out (the store keeps a build's
//! layers uncompressed), then uploaded.

use crate::bases::Lazy;
use crate::events::Events;
use crate::session::Pushed;
use crate::Error;
use slipway_registry::push::PushOptions;
use slipway_runner::layer::Compression;
use slipway_store::{Descriptor, Store};

/// Pushes the image `descriptor` names to `target` (`REGISTRY/REPO[:TAG]`); an image index
/// goes as one: every platform's image by digest, then the index under the tag.
pub fn push(
    store: &Store,
    descriptor: &Descriptor,
    target: &str,
    compression: Compression,
    events: &dyn Events,
) -> Result<Pushed, Error> {
    let cannot = |e: std::io::Error| Error::Registry(format!("cannot push {target}: {e}"));
    let index = slipway_store::image::is_index(&descriptor.media_type);
    let leaving = if index {
        slipway_runner::distribute::index(store, descriptor, compression)
            .map_err(cannot)?
            .0
    } else {
        slipway_runner::distribute::manifest(store, descriptor, compression)
            .map_err(cannot)?
            .0
    };
    let mut client = Lazy::new();
    let client = client.get()?;
    let bars = events.transfer();
    let options = PushOptions::default();
    let p = if index {
        slipway_registry::push::push_index(client, store, &leaving, target, &options, &*bars)
    } else {
        slipway_registry::push::push(client, store, &leaving, target, &options, &*bars)
    }
    .map_err(|e| Error::Registry(e.to_string()))?;
    Ok(Pushed {
        reference: p.reference,
        digest: p.digest.map(|d| d.to_string()).unwrap_or_default(),
        uploaded: p.uploaded,
        mounted: p.mounted,
        existing: p.existing,
    })
}
