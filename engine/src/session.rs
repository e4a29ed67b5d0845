//! A build session: what `slipway build` (and `slipway plan`) run, from a request to an
//! image in the store, exported and pushed as asked. With several target platforms the
//! session plans and builds once per platform (stages pinned to `$BUILDPLATFORM` come
//! from the cache after the first: their cache keys do not depend on the target) and
//! names an image index that holds every platform's image.

use crate::events::Events;
use crate::Error;
use slipway_planner::request::{plan_request, Failure, Planned, Request};
use slipway_registry::cache::CacheSpec;
use slipway_registry::pull::Platform;
use slipway_runner::build::{BuildError, BuildOptions, Built, Entitlements, SecretSource, StepFailure};
use slipway_runner::export::{self, Dest, Output};
use slipway_runner::layer::Compression;
use slipway_runner::progress::Mode;
use slipway_store::{Descriptor, Digest, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to build and what to do with the image.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The Dockerfile, context, target, build args, cache flags.
    pub plan: Request,
    /// `--platform`: the target platforms (none: the host's).
    pub platforms: Vec<Platform>,
    /// `-t`: names of the image (of the index, with several platforms).
    pub tags: Vec<String>,
    /// How the runner shows the steps.
    pub progress: Mode,
    /// `--network none` / `--network host` for RUN steps without their own `--network`.
    pub network_none: bool,
    pub network_host: bool,
    /// `--allow`.
    pub allow: Entitlements,
    /// `--secret`s by id.
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--ssh` agent sockets by id.
    pub ssh: BTreeMap<String, PathBuf>,
    /// `--output`s.
    pub outputs: Vec<Output>,
    /// `--pull`: refresh base images from their registries.
    pub pull: bool,
    /// `--push`: push the image under its tags.
    pub push: bool,
    pub cache_from: Vec<CacheSpec>,
    pub cache_to: Vec<CacheSpec>,
    /// How layers are compressed when they leave the store (push, cache export, OCI output).
    pub compression: Compression,
}

/// One platform's image of a build.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub platform: Platform,
    pub built: Built,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The image's ID: its config digest, or the index's digest with several platforms.
    pub id: Digest,
    /// The manifest, or the index, that the tags name.
    pub descriptor: Descriptor,
    /// Full names set.
    pub tags: Vec<String>,
    /// Every platform's image, in the order asked.
    pub images: Vec<PlatformImage>,
}

/// A registry push's result, for the report.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: String,
    pub digest: String,
    pub uploaded: usize,
    pub mounted: usize,
    pub existing: usize,
}

/// Plans `request` against `store` for `platform` (None: the host's); context warnings go
/// to `events`, a Dockerfile with errors is an [`Error::Dockerfile`].
pub fn plan(store: &Store, request: &Request, events: &dyn Events) -> Result<Planned, Error> {
    let planned = plan_request(request, store).map_err(Error::from)?;
    for w in &planned.warnings {
        events.warning(w);
    }
    Ok(planned)
}

/// `slipway plan`'s session: imports the caches, then plans for each platform (none: one
/// plan for the host's).
pub fn plan_with_caches(
    store: &Store,
    request: &Request,
    platforms: &[Platform],
    cache_from: &[CacheSpec],
    events: &dyn Events,
) -> Result<Vec<Planned>, Error> {
    crate::caches::import(store, cache_from, events)?;
    if platforms.is_empty() {
        return Ok(vec![plan(store, request, events)?]);
    }
    platforms
        .iter()
        .map(|p| {
            let mut r = request.clone();
            r.platform = Some(platform_args(p));
            plan(store, &r, events)
        })
        .collect()
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::Io(e) => Error::Io(e),
            Failure::Invalid {
                name,
                text,
                diagnostics,
            } => Error::Dockerfile {
                name,
                text,
                diagnostics,
            },
        }
    }
}

/// Runs a whole build: caches imported, per platform the bases pulled, planned, built;
/// the index named (several platforms); outputs exported; caches exported; pushed.
/// `events.built` hears of the image as soon as it is in the store, before exports.
pub fn build(store: &Store, request: &BuildRequest, events: &dyn Events) -> Result<Outcome, Error> {
    if request.push && request.tags.is_empty() {
        return Err(Error::Usage("--push needs a name: add -t REGISTRY/REPO:TAG".into()));
    }
    crate::caches::import(store, &request.cache_from, events)?;
    let host = Platform::host();
    let targets: Vec<Option<&Platform>> = if request.platforms.is_empty() {
        vec![None]
    } else {
        request.platforms.iter().map(Some).collect()
    };
    let several = targets.len() > 1;
    let mut planned_all: Vec<Planned> = Vec::new();
    let mut images: Vec<PlatformImage> = Vec::new();
    for (i, &target) in targets.iter().enumerate() {
        if several {
            if let Some(p) = target {
                events.platform(p, i, targets.len());
            }
        }
        let mut plan_request = request.plan.clone();
        plan_request.platform = target.map(platform_args);
        let target_platform = target.cloned().unwrap_or_else(|| host.clone());
        let mut planned = plan(store, &plan_request, events)?;
        // Base images the store lacks are pulled, and the plan made again with their digests.
        if crate::bases::pull_needed(store, &planned, request.pull, events)? {
            planned = plan(store, &plan_request, events)?;
        }
        crate::bases::fetch_reused(store, &planned, events)?;
        crate::bases::check_platforms(store, &planned, events);
        emulation_for(&planned, events)?;
        let options = BuildOptions {
            // With several platforms the index gets the names, not each platform's image.
            tags: if several { Vec::new() } else { request.tags.clone() },
            progress: request.progress,
            // Kept uncompressed in the store, compressed as asked when the image leaves
            // it (push, cache export, OCI output): see slipway_runner::distribute.
            compression: Compression::None,
            network_none: request.network_none,
            network_host: request.network_host,
            allow: request.allow,
            sandbox_network: Default::default(),
            build_args: request.plan.build_args.clone(),
            secrets: request.secrets.clone(),
            ssh: request.ssh.clone(),
            materialise_copies: false,
        };
        match slipway_runner::build::build_with(store, &planned, &options, &crate::events::Steps(events)) {
            Ok(built) => images.push(PlatformImage {
                platform: target_platform,
                built,
            }),
            Err(BuildError::Failed(f)) => return Err(step_failed(&f, &planned)),
            Err(BuildError::Step(m)) => return Err(Error::Build(m)),
            Err(BuildError::Io(e)) => return Err(Error::Io(e)),
        }
        planned_all.push(planned);
    }
    let outcome = if several {
        let entries: Vec<(Descriptor, Platform)> = images
            .iter()
            .map(|i| (i.built.manifest.clone(), i.platform.clone()))
            .collect();
        let descriptor = slipway_runner::image::store_index(store, &request.tags, &entries)?;
        let tags = request
            .tags
            .iter()
            .map(|t| slipway_store::image::normalize_name(t).map_err(Error::Usage))
            .collect::<Result<Vec<_>, _>>()?;
        Outcome {
            id: descriptor.digest.clone(),
            descriptor,
            tags,
            images,
        }
    } else {
        let only = images.pop().expect("one platform was built");
        Outcome {
            id: only.built.id.clone(),
            descriptor: only.built.manifest.clone(),
            tags: only.built.tags.clone(),
            images: vec![only],
        }
    };
    events.built(&outcome);
    for output in &request.outputs {
        export_output(store, &outcome, request, output, events)?;
        if let Dest::Dir(p) | Dest::Tar(p) = &output.dest {
            events.info(&format!("exported {} to {}", &outcome.id.hex()[..12], p.display()));
        }
    }
    let planned_refs: Vec<&Planned> = planned_all.iter().collect();
    crate::caches::export(store, &planned_refs, &request.cache_to, request.compression, events)?;
    if request.push {
        for t in &outcome.tags {
            let pushed = crate::publish::push(store, &outcome.descriptor, t, request.compression, events)?;
            events.pushed(&pushed);
        }
    }
    Ok(outcome)
}

use slipway_planner::request::args_of_platform as platform_args;

/// The RUN steps that will run (misses) in stages of a platform this machine does not run
/// natively need a binfmt_misc handler: found, the session says which; missing, the build
/// stops before its first step with how to register one.
fn emulation_for(planned: &Planned, events: &dyn Events) -> Result<(), Error> {
    use slipway_planner::plan::Status;
    let mut seen: Vec<String> = Vec::new();
    for step in planned.plan.steps.iter().filter(|s| s.status == Status::Miss) {
        let Some(p) = step.emulated.as_deref() else {
            continue;
        };
        if seen.iter().any(|s| s == p) {
            continue;
        }
        seen.push(p.to_string());
        let platform = Platform::parse(p).map_err(Error::Usage)?;
        match slipway_runner::binfmt::emulation(&platform) {
            Ok(slipway_runner::binfmt::Emulation::Qemu { handler, interpreter }) => events.info(&format!(
                "RUN steps for {platform} run under emulation ({handler}: {}); emulated steps are commonly 10-20x slower",
                interpreter.display()
            )),
            Ok(slipway_runner::binfmt::Emulation::Native) => {}
            Err(e) => {
                return Err(Error::Build(format!(
                    "line {}: {} runs for {platform}: {e}",
                    step.line,
                    step.summary.split_whitespace().take(6).collect::<Vec<_>>().join(" ")
                )))
            }
        }
    }
    Ok(())
}

/// One `--output`: the image (or the index) with the tags and the output's own names.
fn export_output(
    store: &Store,
    outcome: &Outcome,
    request: &BuildRequest,
    output: &Output,
    events: &dyn Events,
) -> Result<(), Error> {
    let names: Vec<String> = request.tags.iter().chain(&output.names).cloned().collect();
    if let slipway_runner::image::Stored::Index(index) =
        slipway_runner::image::load_stored(store, None, outcome.descriptor.clone())?
    {
        let only = export::export_index(store, &index, &names, output.format, request.compression, &output.dest)?;
        if let Some(p) = only {
            events.info(&format!(
                "a docker archive holds one platform: exported the {p} image of the index (type=oci keeps them all)"
            ));
        }
        return Ok(());
    }
    let image = slipway_runner::image::load(store, None, outcome.descriptor.clone())?;
    let named = [export::Named { image: &image, names }];
    export::export(store, &named, output.format, request.compression, &output.dest)?;
    Ok(())
}

/// A failed step as a diagnostic at its instruction, with its last output lines.
fn step_failed(f: &StepFailure, planned: &Planned) -> Error {
    let inst = &planned.file.instructions[f.instruction];
    let span = inst.name_span.start
        ..inst
            .span
            .end
            .min(inst.name_span.start + inst.original.lines().next().map_or(0, str::len));
    let mut help = String::new();
    if !f.output.is_empty() {
        help.push_str("the step's last output lines:\n");
        for l in &f.output {
            help.push_str("  │ ");
            help.push_str(l);
            help.push('\n');
        }
    }
    help.push_str("fix the command, then build again: the steps before it come from the cache");
    let d = slipway_parser::Diagnostic::error(
        "slipway::build::step_failed",
        slipway_parser::Phase::Build,
        span,
        format!("step {}/{} failed: {}", f.step, f.total, f.message),
    )
    .with_label("this step failed")
    .with_help(help);
    Error::Dockerfile {
        name: planned.dockerfile.display().to_string(),
        text: planned.text.clone(),
        diagnostics: vec![d],
    }
}
