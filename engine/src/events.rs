//! What a build session tells whoever runs it. The CLI renders these as lines and
//! progress bars; the language server or an embedding may collect them instead.

use slipway_registry::Progress;

/// The listener of a build session. Every method has a default that ignores the event,
/// so an embedding implements only what it shows.
pub trait Events: Sync {
    /// A line of news: a base image being pulled, a cache imported or exported, layers
    /// fetched, an image exported.
    fn info(&self, _message: &str) {}
    /// Something went wrong that the session works around (a cache that cannot be
    /// imported, a layer that cannot be fetched and will be rebuilt).
    fn warning(&self, _message: &str) {}
    /// The progress of one transfer's blobs (a pull, a push, a cache import or export,
    /// fetched layers): one listener per transfer.
    fn transfer(&self) -> Box<dyn Progress + '_> {
        Box::new(slipway_registry::NoProgress)
    }
    /// The build of one of several target platforms starts (`index` counts from 0).
    fn platform(&self, _platform: &slipway_registry::pull::Platform, _index: usize, _count: usize) {}
    /// A build step's event (started, note, cached, output, done, failed), as the runner's
    /// display shows it (`BuildRequest::progress`; `Mode::Quiet` shows nothing and leaves
    /// these to the listener).
    fn step(&self, _event: &slipway_runner::progress::StepEvent<'_>) {}
    /// The image is in the store under its names (before outputs, cache exports, pushes).
    fn built(&self, _outcome: &crate::Outcome) {}
    /// The image was pushed under one of its names.
    fn pushed(&self, _pushed: &crate::Pushed) {}
}

/// The runner's listener that hands step events to an [`Events`].
pub(crate) struct Steps<'a>(pub(crate) &'a dyn Events);

impl slipway_runner::progress::StepListener for Steps<'_> {
    fn step(&self, event: &slipway_runner::progress::StepEvent<'_>) {
        self.0.step(event);
    }
}

/// Ignores every event.
pub struct Silent;
impl Events for Silent {}

/// Docker's sizes: decimal units, three significant digits (`1.98MB`).
pub fn size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        let digits = if v >= 100.0 {
            0
        } else if v >= 10.0 {
            1
        } else {
            2
        };
        format!("{v:.digits$}{}", units[u])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_dockers() {
        assert_eq!(super::size(999), "999B");
        assert_eq!(super::size(1_980_000), "1.98MB");
        assert_eq!(super::size(178_800_000), "179MB");
        assert_eq!(super::size(12_300), "12.3kB");
    }
}
