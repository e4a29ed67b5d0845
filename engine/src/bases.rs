//! The images a build needs from outside: pulled when the store lacks them, and the
//! layers of what it reuses fetched when the store holds them only as "in a registry".

use crate::events::{size, Events};
use crate::Error;
use slipway_planner::plan::Status;
use slipway_planner::request::Planned;
use slipway_registry::pull::{Platform, PullOptions};
use slipway_registry::Client;
use slipway_store::image::familiar_name;
use slipway_store::Store;
use std::io;

/// The images a planned build needs from outside (stage bases and `COPY --from=IMAGE`),
/// with the platform of the stage that needs them (`None`: the host's, leniently).
pub fn needed_images(planned: &Planned) -> Vec<(String, Option<Platform>)> {
    use slipway_parser::model::{Base, Command};
    let mut out: Vec<(String, Option<Platform>)> = Vec::new();
    let graph = &planned.graph;
    let stages: std::collections::BTreeSet<usize> = graph.graph.node_indices().map(|n| graph.graph[n].stage).collect();
    for &s in &stages {
        let stage = &planned.model.stages[s];
        let platform = planned.stage_platform(s);
        if let Base::Image(r) = &stage.base {
            out.push((r.clone(), platform.clone()));
        }
        for &i in &stage.instructions {
            if let Some(Some(Command::Copy(c) | Command::Add(c))) = planned.model.commands.get(i) {
                if let Some(f) = &c.from {
                    if planned.model.stage_by_ref(f).is_none() && !out.iter().any(|(n, p)| n == f && *p == platform) {
                        out.push((f.clone(), platform.clone()));
                    }
                }
            }
        }
    }
    out.dedup();
    out
}

/// The registry client, made once per session when something needs it.
pub(crate) struct Lazy(Option<Client>);

impl Lazy {
    pub(crate) fn new() -> Lazy {
        Lazy(None)
    }

    pub(crate) fn get(&mut self) -> io::Result<&Client> {
        if self.0.is_none() {
            self.0 = Some(Client::new(slipway_registry::ClientConfig::from_environment()?));
        }
        Ok(self.0.as_ref().expect("set above"))
    }
}

/// Pulls the images a build needs that the store lacks (all of them with `refresh`),
/// each for its stage's platform (`--platform`, else the target's, else the host's).
/// Returns whether anything was pulled (the plan must then be made again).
pub fn pull_needed(store: &Store, planned: &Planned, refresh: bool, events: &dyn Events) -> Result<bool, Error> {
    let mut pulled = false;
    let mut client = Lazy::new();
    for (name, platform) in needed_images(planned) {
        // Images from OCI layouts on disk are read by the build itself.
        if name.starts_with("oci-layout://") {
            continue;
        }
        let present = slipway_runner::image::resolve_platform(store, &name, platform.as_ref()).is_ok();
        let platform = platform.unwrap_or_else(Platform::host);
        if present && !refresh {
            continue;
        }
        let client = client.get()?;
        if platform == Platform::host() {
            events.info(&format!("pulling {name}"));
        } else {
            events.info(&format!("pulling {name} for {platform}"));
        }
        let options = PullOptions {
            platform,
            ..PullOptions::default()
        };
        let bars = events.transfer();
        match slipway_registry::pull::pull(client, store, &name, &options, &*bars) {
            Ok(p) => {
                pulled = true;
                events.info(&format!(
                    "pulled {} ({}) from {}",
                    familiar_name(&p.name),
                    p.manifest.digest,
                    p.source
                ));
            }
            Err(e) if present => events.warning(&format!("cannot refresh {name}, using the stored image: {e}")),
            Err(e) => {
                return Err(Error::Io(io::Error::new(
                    kind_hint(&e),
                    format!(
                        "base image {name} is not in the store and cannot be pulled: {e} (configure a mirror in {}, or import a root filesystem with `slipway image import ROOTFS.tar --tag {name}`)",
                        slipway_registry::config::RegistriesConfig::default_path()
                            .map_or_else(|| "registries.toml".to_string(), |p| p.display().to_string())
                    ),
                )))
            }
        }
    }
    Ok(pulled)
}

fn kind_hint(e: &slipway_registry::Error) -> io::ErrorKind {
    match e {
        slipway_registry::Error::NotFound(_) => io::ErrorKind::NotFound,
        slipway_registry::Error::Auth(_) => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    }
}

/// Fetches the layers a build will reuse that the store has only as "held by a registry"
/// (a cache imported lazily): the result of every cached step, and the layers of the
/// base images. Layers of steps that rebuild are never fetched. Also the contents of the
/// cache mounts that the steps which run use, where the store has only a seed.
pub fn fetch_reused(store: &Store, planned: &Planned, events: &dyn Events) -> Result<(), Error> {
    let mut wanted: Vec<slipway_store::Descriptor> = Vec::new();
    for step in planned.plan.steps.iter().filter(|s| s.status == Status::Hit) {
        if let Some(d) = store.get_cache(&step.cache_key)?.and_then(|r| r.result) {
            wanted.push(d);
        }
    }
    for (name, platform) in needed_images(planned) {
        if let Ok(image) = slipway_runner::image::resolve_platform(store, &name, platform.as_ref()) {
            wanted.extend(image.manifest.layers);
        }
    }
    wanted.retain(|d| store.is_remote(&d.digest));
    // The contents of the cache mounts that the steps which run use, when the store has
    // no directory for them but an imported cache has them (a seed); none for steps that
    // come from the cache.
    let mut seeds: Vec<(String, slipway_store::Descriptor)> = Vec::new();
    for mount in slipway_runner::mounts::used_by(planned, |s| s.status != Status::Hit) {
        if store.cache_mount_dir(&mount).is_dir() {
            continue;
        }
        if let Some(seed) = store.mount_seed(&mount).filter(|s| store.is_remote(&s.layer.digest)) {
            seeds.push((mount.label(), seed.layer));
        }
    }
    if wanted.is_empty() && seeds.is_empty() {
        return Ok(());
    }
    let mut client = Lazy::new();
    let client = client.get()?;
    if !wanted.is_empty() {
        let bars = events.transfer();
        match slipway_registry::cache::fetch_remote(client, store, &wanted, 4, &*bars) {
            Ok((n, bytes)) => events.info(&format!(
                "fetched {n} cached layer(s) ({}) that this build reuses",
                size(bytes)
            )),
            // A layer that cannot be fetched makes its step run again: a warning.
            Err(e) => events.warning(&format!("cannot fetch cached layers: {e}")),
        }
    }
    if !seeds.is_empty() {
        let bars = events.transfer();
        let blobs: Vec<slipway_store::Descriptor> = seeds.iter().map(|(_, d)| d.clone()).collect();
        let names: Vec<&str> = seeds.iter().map(|(l, _)| l.as_str()).collect();
        match slipway_registry::cache::fetch_remote(client, store, &blobs, 4, &*bars) {
            Ok((_, bytes)) => events.info(&format!(
                "fetched the contents of cache mount(s) {} ({}) for the steps that run",
                names.join(", "),
                size(bytes)
            )),
            // A mount that cannot be restored starts empty: a warning.
            Err(e) => events.warning(&format!("cannot fetch cache mounts {}: {e}", names.join(", "))),
        }
    }
    Ok(())
}

/// BuildKit's InvalidBaseImagePlatform: a base image whose config names another platform
/// than the one its stage is built for (an image imported or pulled for another machine).
/// The build goes on with it, as BuildKit's does; the warning says what will happen.
pub fn check_platforms(store: &Store, planned: &Planned, events: &dyn Events) {
    use slipway_parser::model::Base;
    let host = Platform::host();
    for (s, stage) in planned.model.stages.iter().enumerate() {
        let Base::Image(name) = &stage.base else {
            continue;
        };
        if !planned
            .graph
            .graph
            .node_indices()
            .any(|n| planned.graph.graph[n].stage == s)
        {
            continue;
        }
        let Ok(image) = slipway_runner::image::resolve_platform(store, name, planned.stage_platform(s).as_ref()) else {
            continue;
        };
        let expected = planned.stage_platform(s).unwrap_or_else(|| host.clone());
        let actual = Platform::of_config(&image.config);
        if !actual.matches(&expected) {
            events.warning(&format!(
                "InvalidBaseImagePlatform: Base image {name} was pulled with platform \"{actual}\", expected \"{expected}\" for current build{}",
                if actual.runs_natively_on(&host) {
                    String::new()
                } else {
                    " (its programs run here only under emulation: `slipway binfmt`)".to_string()
                }
            ));
        }
    }
}
