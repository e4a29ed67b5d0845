//! `slipway build`: runs a plan. Stages are built one after the other in the step
//! graph's `levels()` order. A RUN or WORKDIR writes into a fresh overlayfs upper dir over
//! the stage's layers so far, and the upper dir becomes the step's layer
//! ([`image::commit_layer`]); a COPY or ADD streams its sources straight into the layer
//! tar (`crate::upper`), the same bytes as copying them into an upper dir would give. The
//! stage's layers are unpacked only when a step needs them as directories. A step's cache record
//! (`result`: the layer, its diff_id in the `org.slipway.diff_id` annotation) is written
//! only once the step completed. A cache hit whose layer blob exists is reused as is.
//! Config-only instructions change the image config and add `empty_layer` history.

use crate::container::{self, ContainerSpec, Network, Rootfs};
use crate::image;
use crate::layer::LayerOptions;
use crate::progress::{self, Progress};
use petgraph::graph::NodeIndex;
use slipway_parser::graph::StepKind;
use slipway_parser::model::{Base, Command, CommandLine, CopySpec, VarKind};
use slipway_planner::context::EntryKind;
use slipway_planner::plan::Status;
use slipway_planner::request::Planned;
use slipway_store::image::{normalize_name, History, ImageConfig, RootFs, RunConfig};
use slipway_store::{CacheRecord, Descriptor, Digest, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The annotation of a cached layer descriptor that holds the layer's diff_id.
pub const DIFF_ID_ANNOTATION: &str = "org.slipway.diff_id";

/// The diff_id of a layer without entries (a tar of two zero blocks). A step whose layer
/// this is (a RUN that changed nothing, a WORKDIR that exists) adds no layer to the image,
/// only a history entry marked `empty_layer`, as Docker's builders do.
const EMPTY_TAR_DIFF_ID: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// What `slipway build` was asked beyond the plan.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `-t`: names to give the image.
    pub tags: Vec<String>,
    /// How progress is shown (`Quiet` for `-q`).
    pub progress: progress::Mode,
    /// How new layers are compressed (`--compression`).
    pub compression: crate::layer::Compression,
    /// `--network=none`: RUN steps without their own `--network` get only loopback.
    pub network_none: bool,
    /// `--network=host`: RUN steps without their own `--network` use the host's network
    /// (needs `allow.network_host`).
    pub network_host: bool,
    /// `--allow`: the entitlements a Dockerfile may use.
    pub allow: Entitlements,
    /// The network namespace (with pasta) that RUN steps on the default network share,
    /// started by the first of them.
    pub sandbox_network: crate::net::Shared,
    /// `--build-arg`s (as the plan was made with).
    pub build_args: Vec<(String, String)>,
    /// `--secret`s by id, for `RUN --mount=type=secret`. Never part of a cache key.
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--ssh`: SSH agent sockets by id, for `RUN --mount=type=ssh`.
    pub ssh: BTreeMap<String, PathBuf>,
    /// COPY/ADD write their files into an upper dir on disk and the layer is tarred from
    /// it, as RUN does, instead of streaming the sources into the layer. The layers are the
    /// same; this is for the tests that check so.
    pub materialise_copies: bool,
}

impl BuildOptions {
    /// `SOURCE_DATE_EPOCH` from `--build-arg`, else the environment: every newer timestamp
    /// in a new layer is clamped to it (BuildKit's rewrite-timestamp).
    pub fn source_date_epoch(&self) -> Option<u64> {
        match self.build_args.iter().rev().find(|(k, _)| k == "SOURCE_DATE_EPOCH") {
            Some((_, v)) => v.trim().parse().ok(),
            None => crate::layer::source_date_epoch_set(),
        }
    }
}

/// BuildKit's entitlements (`buildx build --allow`): what a Dockerfile can ask for only
/// when the person building says so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entitlements {
    /// `network.host`: `RUN --network=host` (and `--network host`).
    pub network_host: bool,
    /// `security.insecure`: `RUN --security=insecure`, a step with every capability, no
    /// seccomp filter and no masked paths (Docker's `--privileged`).
    pub security_insecure: bool,
}

impl Entitlements {
    /// `network.host`, `security.insecure` (comma-separated or repeated).
    pub fn parse(specs: &[String]) -> io::Result<Entitlements> {
        let mut e = Entitlements::default();
        for name in specs
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match name {
                "network.host" => e.network_host = true,
                "security.insecure" => e.security_insecure = true,
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("unknown entitlement {other:?} (known: network.host, security.insecure)"),
                    ))
                }
            }
        }
        Ok(e)
    }
}

/// The entitlement a step lacks.
fn not_entitled(what: &str, entitlement: &str) -> BuildError {
    BuildError::Io(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{what} needs the {entitlement} entitlement: slipway build --allow {entitlement}"),
    ))
}

/// Where a `--secret` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

impl SecretSource {
    fn read(&self) -> io::Result<Vec<u8>> {
        match self {
            SecretSource::File(p) => {
                fs::read(p).map_err(|e| io::Error::new(e.kind(), format!("cannot read secret {}: {e}", p.display())))
            }
            SecretSource::Env(v) => std::env::var_os(v)
                .map(|v| v.into_encoded_bytes())
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("secret env {v} is not set"))),
        }
    }
}

/// Why a build failed.
#[derive(Debug)]
pub enum BuildError {
    /// A command failed (inside a step; [`build`] turns it into `Failed`).
    Step(String),
    /// A step failed: which, where in the Dockerfile, why, and its last output lines.
    Failed(Box<StepFailure>),
    Io(io::Error),
}

/// A failed step, for a diagnostic that points at its instruction.
#[derive(Debug, Clone)]
pub struct StepFailure {
    pub step: usize,
    pub total: usize,
    /// Index into the Dockerfile's instructions.
    pub instruction: usize,
    pub dockerfile: PathBuf,
    /// 1-based line of the instruction.
    pub line: usize,
    /// The instruction's first line.
    pub text: String,
    pub message: String,
    /// The last lines the step printed.
    pub output: Vec<String>,
}

impl From<io::Error> for BuildError {
    fn from(e: io::Error) -> Self {
        BuildError::Io(e)
    }
}

impl BuildError {
    /// The same error, its message prefixed with `what`.
    fn context(self, what: String) -> BuildError {
        match self {
            BuildError::Step(m) => BuildError::Step(format!("{what}: {m}")),
            BuildError::Failed(f) => BuildError::Failed(f),
            BuildError::Io(e) => BuildError::Io(io::Error::new(e.kind(), format!("{what}: {e}"))),
        }
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Step(m) => f.write_str(m),
            BuildError::Failed(s) => {
                let name = s
                    .dockerfile
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                write!(
                    f,
                    "step {}/{} at {name}:{}: {}: {}",
                    s.step, s.total, s.line, s.text, s.message
                )
            }
            BuildError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The image a build made.
#[derive(Debug, Clone)]
pub struct Built {
    pub id: Digest,
    pub manifest: Descriptor,
    /// Full names set.
    pub tags: Vec<String>,
}

/// A stage being built: its layers, config, and the state its steps run in. Its layers
/// are unpacked into directories only when a step needs them ([`StageState::dirs`]): a
/// streamed COPY that ends the build never creates its files.
#[derive(Clone, Default)]
struct StageState {
    /// The layers, bottom first; `config.rootfs.diff_ids` are their diff_ids.
    layers: Vec<Descriptor>,
    config: ImageConfig,
    args: BTreeMap<String, String>,
    shell: Vec<String>,
    /// CMD set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// The base image's ID, when the stage starts from an image.
    image_id: String,
    /// The platform the stage is built for (`Planned::stage_platform`): images it starts
    /// from or copies from are resolved for it. `None`: the host's, leniently.
    platform: Option<slipway_store::platform::Platform>,
}

impl StageState {
    fn workdir(&self) -> String {
        self.config
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }

    fn shell(&self) -> Vec<String> {
        if self.shell.is_empty() {
            vec!["/bin/sh".into(), "-c".into()]
        } else {
            self.shell.clone()
        }
    }

    /// The unpacked layer dirs, bottom first (overlayfs lower dirs), unpacked from their
    /// blobs now when they are not yet (atomically: see [`image::unpack_layer`]).
    fn dirs(&self, store: &Store) -> io::Result<Vec<PathBuf>> {
        image::unpack_layers(store, &self.layers, &self.config.rootfs.diff_ids)
    }

    /// The digest of the config so far: the intermediate image the narration names.
    fn config_digest(&self) -> Digest {
        Digest::of(&serde_json::to_vec(&self.config).unwrap_or_default())
    }

    fn set_env(&mut self, key: &str, value: &str) {
        let env = &mut self.config.config.env;
        let entry = format!("{key}={value}");
        match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
    }
}

/// A file's text as the merged rootfs of `dirs` (bottom first) has it (top layer wins).
fn read_merged(dirs: &[PathBuf], name: &str) -> String {
    dirs.iter()
        .rev()
        .find_map(|l| fs::read_to_string(l.join(name)).ok())
        .unwrap_or_default()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn created() -> String {
    let epoch = crate::layer::source_date_epoch();
    image::rfc3339(if epoch > 0 { epoch } else { now() })
}

fn line_of(command: &CommandLine, shell: &[String]) -> Vec<String> {
    match command {
        CommandLine::Exec(v) => v.clone(),
        CommandLine::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
    }
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or_default().trim();
    if s.lines().nth(1).is_some() {
        format!("{l} …")
    } else {
        l.to_string()
    }
}

/// What every step of one build shares.
struct Ctx<'a> {
    store: &'a Store,
    planned: &'a Planned,
    options: &'a BuildOptions,
    progress: &'a Progress<'a>,
    by_id: BTreeMap<usize, &'a slipway_planner::plan::PlannedStep>,
    /// Step numbers (1-based) of every instruction the build dispatches, by instruction
    /// index: the ARGs before the first FROM, then each built stage's FROM and every
    /// instruction after it, in file order, as Docker's classic builder counts them.
    numbers: BTreeMap<usize, usize>,
    work: PathBuf,
    /// Some step ran (a miss, or an ONBUILD trigger) rather than coming from the cache.
    ran: std::sync::atomic::AtomicBool,
}

/// Runs the plan of `planned`: builds the target stage and names it. Steps of one level
/// of the step graph (independent stages) run in parallel threads.
pub fn build(store: &Store, planned: &Planned, options: &BuildOptions) -> Result<Built, BuildError> {
    build_with(store, planned, options, &progress::NoListener)
}

/// [`build`], telling `listener` every step event as the display shows it.
pub fn build_with(
    store: &Store,
    planned: &Planned,
    options: &BuildOptions,
    listener: &dyn progress::StepListener,
) -> Result<Built, BuildError> {
    // RUN steps' seccomp filter, compiled once per store rather than once per build.
    if let Err(e) = crate::security::Security::default().warm_seccomp_cache(&store.root().join("cache/seccomp")) {
        eprintln!("warning: seccomp filter cache: {e}");
    }
    // Layers are written before a cache record or ref names them: no prune meanwhile.
    let _in_use = store.lock_in_use()?;
    let graph = &planned.graph;
    let levels = graph.levels();
    let numbers = step_numbers(planned);
    let progress = Progress::with_listener(options.progress, numbers.len(), listener);
    for (&i, &n) in numbers.range(..planned.model.stages.first().map_or(0, |s| s.from)) {
        // The ARGs before the first FROM: numbered, and only said.
        progress.start(n, "global", &first_line(&planned.file.instructions[i].original));
        progress.done(n);
    }
    let work = store
        .root()
        .join("builds")
        .join(format!("{}-{}", std::process::id(), now()));
    fs::create_dir_all(&work)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", work.display())))?;
    let ctx = Ctx {
        store,
        planned,
        options,
        progress: &progress,
        by_id: planned.plan.steps.iter().map(|s| (s.id, s)).collect(),
        numbers,
        work: work.clone(),
        ran: std::sync::atomic::AtomicBool::new(false),
    };
    let result = (|| -> Result<Built, BuildError> {
        let mut states: BTreeMap<usize, StageState> = BTreeMap::new(); // stages under way
        let mut finished: BTreeMap<usize, StageState> = BTreeMap::new();
        for level in levels {
            let jobs: Vec<(NodeIndex, Option<StageState>)> = level
                .iter()
                .map(|&node| {
                    let step = &graph.graph[node];
                    let state = (step.kind != StepKind::Base).then(|| states.remove(&step.stage).unwrap_or_default());
                    (node, state)
                })
                .collect();
            progress.set_parallel(jobs.len() > 1);
            let results: Vec<(NodeIndex, Result<StageState, BuildError>)> = if jobs.len() == 1 {
                jobs.into_iter()
                    .map(|(node, state)| (node, do_step(&ctx, node, state, &finished)))
                    .collect()
            } else {
                let finished = &finished;
                let ctx = &ctx;
                std::thread::scope(|scope| {
                    let handles: Vec<_> = jobs
                        .into_iter()
                        .map(|(node, state)| scope.spawn(move || (node, do_step(ctx, node, state, finished))))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| panic!("a build step's thread panicked")))
                        .collect()
                })
            };
            for (node, result) in results {
                let mut state = result?;
                let step = &graph.graph[node];
                if graph.stage_last[step.stage] == Some(node) {
                    let label = stage_label(&planned.model, step.stage);
                    for &ci in &graph.stage_tail[step.stage] {
                        apply_config(&mut state, &planned.model, ci, &planned.file.instructions[ci].original);
                        config_step(&ctx, &label, ci, &state);
                    }
                    finished.insert(step.stage, state);
                } else {
                    states.insert(step.stage, state);
                }
            }
        }
        let target = finished
            .remove(&graph.target)
            .ok_or_else(|| io::Error::other("the target stage was not built"))?;
        let all_cached = !ctx.ran.load(std::sync::atomic::Ordering::Relaxed);
        write_image(store, target, &options.tags, all_cached)
    })();
    let _ = crate::tree::remove(&work);
    result
}

/// The number of every instruction the build dispatches (see [`Ctx::numbers`]).
fn step_numbers(planned: &Planned) -> BTreeMap<usize, usize> {
    let model = &planned.model;
    let built: BTreeSet<usize> = planned.graph.graph.node_weights().map(|s| s.stage).collect();
    let first_from = model.stages.first().map_or(usize::MAX, |s| s.from);
    let mut dispatched: Vec<usize> = planned
        .file
        .instructions
        .iter()
        .enumerate()
        .take_while(|(i, _)| *i < first_from)
        .filter(|(_, inst)| inst.name.eq_ignore_ascii_case("arg"))
        .map(|(i, _)| i)
        .collect();
    for stage in built.iter().filter_map(|&s| model.stages.get(s)) {
        dispatched.push(stage.from);
        dispatched.extend(&stage.instructions);
    }
    dispatched.sort_unstable();
    dispatched.dedup();
    dispatched.into_iter().enumerate().map(|(k, i)| (i, k + 1)).collect()
}

/// Narrates a config-only instruction as a step of its own (`Step 3/3 : CMD […]`),
/// after it is applied: it makes no layer, only a new config.
fn config_step(ctx: &Ctx<'_>, stage: &str, instruction: usize, state: &StageState) {
    let Some(&n) = ctx.numbers.get(&instruction) else {
        return;
    };
    let progress = ctx.progress;
    progress.start(
        n,
        stage,
        &first_line(&ctx.planned.file.instructions[instruction].original),
    );
    if progress.mode() != progress::Mode::Quiet {
        let image = state.config_digest();
        progress.note(
            n,
            &format!(
                "Image {} (a config change: no new layer, still {} layer(s))",
                progress::short_id(image.as_str()),
                state.layers.len()
            ),
        );
    }
    progress.done(n);
}

fn stage_label(model: &slipway_parser::model::Model, stage: usize) -> String {
    model.stages[stage]
        .name
        .clone()
        .unwrap_or_else(|| format!("stage-{stage}"))
}

/// One step of the graph: FROM (with the base's ONBUILD triggers), or a RUN/COPY/ADD/
/// WORKDIR run or taken from the cache, each with the config instructions before it.
fn do_step(
    ctx: &Ctx<'_>,
    node: NodeIndex,
    state: Option<StageState>,
    finished: &BTreeMap<usize, StageState>,
) -> Result<StageState, BuildError> {
    let (planned, store, progress) = (ctx.planned, ctx.store, ctx.progress);
    let (model, graph, file) = (&planned.model, &planned.graph, &planned.file);
    let step = &graph.graph[node];
    let n = ctx.numbers.get(&step.instruction).copied().unwrap_or(0);
    let inst = &file.instructions[step.instruction];
    let planned_step = ctx
        .by_id
        .get(&node.index())
        .ok_or_else(|| io::Error::other(format!("no planned step {}", node.index())))?;
    let stage_label = stage_label(model, step.stage);
    let is_base = step.kind == StepKind::Base;
    if is_base {
        progress.start(n, &stage_label, &first_line(&inst.original));
    }
    let fail = |e: BuildError| -> BuildError {
        let message = match e {
            BuildError::Step(m) => m,
            BuildError::Io(e) => e.to_string(),
            BuildError::Failed(f) => return BuildError::Failed(f),
        };
        progress.failed(n, &message);
        BuildError::Failed(Box::new(StepFailure {
            step: n,
            total: ctx.numbers.len(),
            instruction: step.instruction,
            dockerfile: planned.dockerfile.clone(),
            line: inst.start_line,
            text: first_line(&inst.original),
            message,
            output: progress.tail(n),
        }))
    };
    let mut state = match state {
        Some(s) => s,
        None => {
            let mut state = base_state(store, planned, step.stage, finished).map_err(|e| fail(e.into()))?;
            match &model.stages[step.stage].base {
                Base::Image(r) => progress.note(
                    n,
                    &format!(
                        "Base image {r}: {} layer(s), image {}",
                        state.layers.len(),
                        progress::short_id(state.image_id.as_str())
                    ),
                ),
                Base::Stage(s) => progress.note(
                    n,
                    &format!("Base: stage {s}'s result ({} layer(s))", state.layers.len()),
                ),
                Base::Scratch => progress.note(n, "Base: scratch (an empty filesystem)"),
            }
            // The base image's ONBUILD triggers run first; the new image does not keep them.
            if let Some(triggers) = state.config.config.on_build.take().filter(|t| !t.is_empty()) {
                ctx.ran.store(true, std::sync::atomic::Ordering::Relaxed);
                let dir = ctx.work.join(format!("step-{n}-onbuild"));
                run_triggers(ctx, &dir, &mut state, &triggers, finished, n)
                    .map_err(|e| fail(e.context("the base image's ONBUILD".into())))?;
                progress.note(
                    n,
                    &format!("Ran {} ONBUILD trigger(s) of the base image", triggers.len()),
                );
            }
            state
        }
    };
    // The config-only instructions before this step, each narrated as a step of its own.
    for &ci in &step.config {
        apply_config(&mut state, model, ci, &file.instructions[ci].original);
        config_step(ctx, &stage_label, ci, &state);
    }
    if is_base {
        progress.done(n);
        return Ok(state);
    }
    progress.start(n, &stage_label, &first_line(&inst.original));
    let command = model.commands.get(step.instruction).and_then(Option::as_ref);
    // A hit whose layer is still in the store is reused.
    let cached = (planned_step.status == Status::Hit)
        .then(|| store.get_cache(&planned_step.cache_key).ok().flatten())
        .flatten()
        .and_then(|r| r.result)
        .filter(|d| store.has_blob(&d.digest) && d.annotations.contains_key(DIFF_ID_ANNOTATION));
    let layer = match cached {
        Some(d) => {
            progress.cached(n, d.digest.as_str(), d.size);
            d
        }
        None => {
            ctx.ran.store(true, std::sync::atomic::Ordering::Relaxed);
            let dir = ctx.work.join(format!("step-{n}"));
            let layer = run_step(
                store,
                &dir,
                &state,
                command,
                &inst.heredocs,
                planned,
                finished,
                ctx.options,
                progress,
                n,
            )
            .map_err(fail)?;
            let _ = crate::tree::remove(&dir);
            store
                .put_cache(&CacheRecord {
                    key: planned_step.cache_key.clone(),
                    step: planned_step.step_identity.clone(),
                    inputs: planned_step.inputs.clone(),
                    result: Some(layer.clone()),
                    created: now(),
                })
                .map_err(|e| fail(e.into()))?;
            layer
        }
    };
    push_layer(&mut state, layer, command, &inst.original).map_err(fail)?;
    if progress.mode() != progress::Mode::Quiet {
        let image = state.config_digest();
        progress.note(
            n,
            &format!(
                "Image {} now has {} layer(s) (an intermediate image: its config digest)",
                progress::short_id(image.as_str()),
                state.layers.len()
            ),
        );
    }
    progress.done(n);
    Ok(state)
}

/// Adds a step's layer to the stage: in the manifest, the config's diff_ids and history
/// (unpacked only when a later step needs it).
fn push_layer(
    state: &mut StageState,
    layer: Descriptor,
    command: Option<&Command>,
    original: &str,
) -> Result<(), BuildError> {
    let diff_id: Digest = layer.annotations[DIFF_ID_ANNOTATION]
        .parse()
        .map_err(|e: String| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let empty = diff_id.as_str() == EMPTY_TAR_DIFF_ID;
    if !empty {
        let mut plain = layer;
        plain.annotations.clear();
        state.layers.push(plain);
        state.config.rootfs.diff_ids.push(diff_id);
    }
    if let Some(Command::Workdir { path }) = command {
        let wd = join_path(&state.workdir(), path);
        state.config.config.working_dir = Some(wd);
    }
    let text = history_text(original, command, state);
    state.config.history.push(History {
        created: Some(created()),
        created_by: Some(text),
        comment: Some("slipway build".into()),
        empty_layer: empty,
    });
    Ok(())
}

/// Runs ONBUILD triggers (instruction texts from the base image's config) in `state`,
/// as BuildKit does: parsed as instructions of the stage, right after its FROM. They are
/// not cached: each build runs them.
fn run_triggers(
    ctx: &Ctx<'_>,
    dir: &Path,
    state: &mut StageState,
    triggers: &[String],
    finished: &BTreeMap<usize, StageState>,
    n: usize,
) -> Result<(), BuildError> {
    let (store, planned, options, progress) = (ctx.store, ctx.planned, ctx.options, ctx.progress);
    let text = format!("FROM scratch\n{}\n", triggers.join("\n"));
    let parsed = slipway_parser::parse(&text);
    let check = slipway_parser::CheckOptions {
        build_args: options.build_args.clone(),
        ..Default::default()
    };
    let model = slipway_parser::model::analyze(&text, &parsed.file, &check);
    if let Some(d) = parsed
        .diagnostics
        .iter()
        .chain(&model.diagnostics)
        .find(|d| d.severity == slipway_parser::Severity::Error)
    {
        return Err(BuildError::Step(format!("invalid trigger: {}", d.message)));
    }
    for (i, inst) in parsed.file.instructions.iter().enumerate().skip(1) {
        let command = model.commands.get(i).and_then(Option::as_ref);
        match command {
            Some(Command::Run { .. } | Command::Copy(_) | Command::Add(_) | Command::Workdir { .. }) => {
                let step_dir = dir.join(i.to_string());
                let layer = run_step(
                    store,
                    &step_dir,
                    state,
                    command,
                    &inst.heredocs,
                    planned,
                    finished,
                    options,
                    progress,
                    n,
                )
                .map_err(|e| e.context(first_line(&inst.original)))?;
                let _ = crate::tree::remove(&step_dir);
                push_layer(state, layer, command, &inst.original)?;
            }
            _ => apply_config(state, &model, i, &inst.original),
        }
    }
    Ok(())
}

fn history_text(original: &str, command: Option<&Command>, state: &StageState) -> String {
    match command {
        Some(Command::Run {
            command: CommandLine::Shell(s),
            ..
        }) => format!("RUN {} {s} # buildkit", state.shell().join(" ")),
        _ => format!("{} # buildkit", first_line(original)),
    }
}

fn base_state(
    store: &Store,
    planned: &Planned,
    stage: usize,
    finished: &BTreeMap<usize, StageState>,
) -> io::Result<StageState> {
    let model = &planned.model;
    let platform = planned.stage_platform(stage);
    let mut state = match &model.stages[stage].base {
        Base::Scratch => StageState {
            config: ImageConfig {
                architecture: platform
                    .as_ref()
                    .map_or_else(|| image::architecture().into(), |p| p.architecture.clone()),
                os: platform.as_ref().map_or_else(|| "linux".into(), |p| p.os.clone()),
                variant: platform.as_ref().and_then(|p| p.variant.clone()),
                rootfs: RootFs {
                    kind: "layers".into(),
                    diff_ids: Vec::new(),
                },
                ..ImageConfig::default()
            },
            ..StageState::default()
        },
        Base::Stage(s) => finished
            .get(s)
            .cloned()
            .ok_or_else(|| io::Error::other(format!("stage {s} was not built before stage {stage}")))?,
        Base::Image(r) => {
            let img = image::resolve_platform(store, r, platform.as_ref())?;
            if img.manifest.layers.len() != img.config.rootfs.diff_ids.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "image {} has {} layers but {} diff_ids",
                        img.id(),
                        img.manifest.layers.len(),
                        img.config.rootfs.diff_ids.len()
                    ),
                ));
            }
            StageState {
                image_id: img.id().to_string(),
                layers: img.manifest.layers.clone(),
                shell: img.config.config.shell.clone().unwrap_or_default(),
                config: img.config,
                ..StageState::default()
            }
        }
    };
    state.args.clear();
    state.cmd_set = false;
    state.platform = platform;
    if state.config.config.env.is_empty() && !matches!(model.stages[stage].base, Base::Stage(_)) {
        state.set_env("PATH", container::DEFAULT_PATH);
    }
    Ok(state)
}

fn empty_history(state: &mut StageState, original: &str) {
    state.config.history.push(History {
        created: Some(created()),
        created_by: Some(format!("{} # buildkit", first_line(original))),
        comment: Some("slipway build".into()),
        empty_layer: true,
    });
}

/// Applies the config-only instruction `ci` of `model` to the stage.
fn apply_config(state: &mut StageState, model: &slipway_parser::model::Model, ci: usize, original: &str) {
    let command = model.commands.get(ci).and_then(Option::as_ref);
    let c = &mut state.config.config;
    match command {
        Some(Command::Arg { .. }) => {
            // The value as the model resolved it: `--build-arg`, else the default, else the
            // global ARG's. An ARG with none of them is not set at all (as BuildKit).
            for v in model
                .vars
                .iter()
                .filter(|v| v.instruction == ci && v.kind == VarKind::Arg)
            {
                if let Some(value) = &v.value {
                    state.args.insert(v.name.clone(), value.clone());
                }
            }
            return;
        }
        Some(Command::Env { pairs }) => {
            for (k, v) in pairs {
                state.set_env(k, v);
            }
        }
        Some(Command::Label { pairs }) => c.labels.extend(pairs.iter().cloned()),
        Some(Command::User { user }) => c.user = Some(user.clone()),
        Some(Command::Workdir { path }) => {
            let wd = join_path(&state.workdir(), path);
            state.config.config.working_dir = Some(wd);
        }
        Some(Command::Expose { ports }) => {
            for p in ports.iter().flat_map(|p| expose_ports(p)) {
                c.exposed_ports.insert(p, serde_json::json!({}));
            }
        }
        Some(Command::Volume { paths }) => {
            for p in paths {
                c.volumes.insert(p.clone(), serde_json::json!({}));
            }
        }
        Some(Command::Stopsignal { signal }) => c.stop_signal = Some(signal.clone()),
        Some(Command::Cmd { command }) => {
            state.config.config.cmd = Some(line_of(command, &state.shell()));
            state.cmd_set = true;
        }
        Some(Command::Entrypoint { command }) => {
            state.config.config.entrypoint = Some(line_of(command, &state.shell()));
            if !state.cmd_set {
                state.config.config.cmd = None;
            }
        }
        Some(Command::Shell { shell }) => {
            c.shell = Some(shell.clone());
            state.shell = shell.clone();
        }
        Some(Command::Healthcheck(h)) => {
            let test = match &h.test {
                None => vec!["NONE".to_string()],
                // Docker stores the exec form with its `CMD` marker (`["CMD", "curl", …]`).
                Some(CommandLine::Exec(v)) => ["CMD".to_string()].into_iter().chain(v.iter().cloned()).collect(),
                Some(CommandLine::Shell(s)) => vec!["CMD-SHELL".into(), s.clone()],
            };
            let mut v = serde_json::json!({ "Test": test });
            for (k, d) in [
                ("Interval", h.interval),
                ("Timeout", h.timeout),
                ("StartPeriod", h.start_period),
                ("StartInterval", h.start_interval),
            ] {
                if let Some(d) = d {
                    v[k] = serde_json::json!(d.as_nanos() as u64);
                }
            }
            if let Some(r) = h.retries {
                v["Retries"] = serde_json::json!(r);
            }
            c.healthcheck = Some(v);
        }
        Some(Command::Onbuild { trigger }) => c.on_build.get_or_insert_with(Vec::new).push(trigger.clone()),
        Some(Command::Maintainer { name }) => state.config.author = Some(name.clone()),
        _ => return,
    }
    empty_history(state, original);
}

/// The `ExposedPorts` keys of one EXPOSE word, as Docker's `nat.ParsePortSpecs`: the
/// protocol lowercased (`tcp` when absent), a range `8000-8002` one key per port. A word
/// that is no port or range is kept as written.
fn expose_ports(word: &str) -> Vec<String> {
    let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let range = match ports.split_once('-') {
        Some((a, b)) => a.parse::<u16>().ok().zip(b.parse::<u16>().ok()),
        None => ports.parse::<u16>().ok().map(|p| (p, p)),
    };
    match range {
        Some((a, b)) if a <= b => (a..=b).map(|p| format!("{p}/{proto}")).collect(),
        _ => vec![format!("{ports}/{proto}")],
    }
}

/// `path` against `base` (WORKDIR semantics), cleaned, absolute.
fn join_path(base: &str, path: &str) -> String {
    let full = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in full.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Runs one file-making step into a fresh upper dir under `dir`; returns its layer.
#[allow(clippy::too_many_arguments)]
fn run_step(
    store: &Store,
    dir: &Path,
    state: &StageState,
    command: Option<&Command>,
    heredocs: &[slipway_parser::syntax::Heredoc],
    planned: &Planned,
    finished: &BTreeMap<usize, StageState>,
    options: &BuildOptions,
    progress: &Progress<'_>,
    n: usize,
) -> Result<Descriptor, BuildError> {
    let _ = crate::tree::remove(dir);
    if matches!(command, Some(Command::Run { .. })) && !crate::sys::is_root() {
        return Err(BuildError::Step(
            "building RUN steps needs root (rootless mode is not available yet): run slipway build as root, or `slipway plan` to see what would run".into(),
        ));
    }
    // The steps so far, unpacked: RUN mounts them, COPY and WORKDIR look at them.
    let lowers = state.dirs(store)?;
    let (upper, workd, merged, empty) = (
        dir.join("upper"),
        dir.join("work"),
        dir.join("merged"),
        dir.join("empty"),
    );
    for d in [&upper, &workd, &merged, &empty] {
        fs::create_dir_all(d).map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", d.display())))?;
    }
    let user_of = |spec: &str| {
        crate::user::resolve(
            spec,
            &read_merged(&lowers, "etc/passwd"),
            &read_merged(&lowers, "etc/group"),
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("unable to find user {spec}: {e}")))
    };
    // The owner of what COPY --chown and WORKDIR create.
    let owner_of = |spec: &str| {
        crate::user::owner(
            spec,
            &read_merged(&lowers, "etc/passwd"),
            &read_merged(&lowers, "etc/group"),
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    };
    match command {
        Some(Command::Run {
            command,
            mounts,
            network,
            security,
        }) => {
            let network = match network.as_deref() {
                None if options.network_none => Network::None,
                None if options.network_host && options.allow.network_host => Network::Host,
                None if options.network_host => return Err(not_entitled("--network=host", "network.host")),
                None | Some("default") => options.sandbox_network.get(),
                Some("host") if options.allow.network_host => Network::Host,
                Some("host") => return Err(not_entitled("RUN --network=host", "network.host")),
                Some("none") => Network::None,
                Some(n) => {
                    return Err(
                        io::Error::new(io::ErrorKind::Unsupported, format!("--network={n} is not supported")).into(),
                    )
                }
            };
            let security = match security.as_deref() {
                None | Some("sandbox") => crate::security::Security::default(),
                Some("insecure") if options.allow.security_insecure => crate::security::Security::privileged(),
                Some("insecure") => return Err(not_entitled("RUN --security=insecure", "security.insecure")),
                Some(s) => {
                    return Err(
                        io::Error::new(io::ErrorKind::Unsupported, format!("--security={s} is not supported")).into(),
                    )
                }
            };
            let mut prepared = RunMounts::default();
            for m in mounts {
                prepare_mount(store, dir, state, m, planned, finished, options, &mut prepared)?;
            }
            for note in &prepared.notes {
                progress.note(n, note);
            }
            let (argv, script) = run_argv(command, heredocs, &state.shell())?;
            if let Some((name, body)) = script {
                // A shebang heredoc runs as a file, read-only under /dev/pipes (as BuildKit).
                let pipes = dir.join("pipes");
                fs::create_dir_all(&pipes)?;
                let file = pipes.join(&name);
                fs::write(&file, body)?;
                fs::set_permissions(&file, fs::Permissions::from_mode(0o755))?;
                prepared.mounts.push(container::Mount::Bind {
                    source: pipes,
                    target: PathBuf::from("/dev/pipes"),
                    readonly: true,
                });
            }
            let user = user_of(state.config.config.user.as_deref().unwrap_or("0"))?;
            let mut rc = RunConfig::default();
            // ENV wins over ARG of the same name.
            for (k, v) in &state.args {
                if !state
                    .config
                    .config
                    .env
                    .iter()
                    .any(|e| e.split('=').next() == Some(k.as_str()))
                {
                    rc.env.push(format!("{k}={v}"));
                }
            }
            rc.env.extend(state.config.config.env.iter().cloned());
            // The predefined proxy ARGs reach RUN from `--build-arg` undeclared, and only RUN:
            // never the config or history (BuildKit's `llb.WithProxy`).
            for (k, v) in &options.build_args {
                if slipway_parser::model::PROXY_ARGS.contains(&k.as_str())
                    && !rc.env.iter().any(|e| e.split('=').next() == Some(k.as_str()))
                {
                    rc.env.push(format!("{k}={v}"));
                }
            }
            let lower = if lowers.is_empty() {
                vec![empty.clone()]
            } else {
                lowers.clone()
            };
            let spec = ContainerSpec {
                rootfs: Rootfs::Overlay {
                    lower,
                    upper: upper.clone(),
                    work: workd,
                    merged,
                },
                argv,
                env: {
                    let mut env = crate::run::env(&rc, &[], &user.home);
                    for (k, v) in &prepared.env {
                        env.retain(|e| e.split('=').next() != Some(k.as_str()));
                        env.push(format!("{k}={v}"));
                    }
                    env
                },
                workdir: PathBuf::from(state.workdir()),
                uid: user.uid,
                gid: user.gid,
                groups: user.groups.clone(),
                hostname: "slipway-build".into(),
                network,
                mounts: prepared.mounts.clone(),
                security,
                limits: crate::cgroup::Limits {
                    pids: Some(crate::cgroup::DEFAULT_RUN_PIDS),
                    ..Default::default()
                },
            };
            let container = format!(
                "slipway-{}",
                &Digest::of(format!("{}-{n}-{}", std::process::id(), dir.display()).as_bytes()).hex()[..12]
            );
            progress.note(
                n,
                &format!(
                    "Running in {container}: a temporary container over {} layer(s) with a fresh writable layer",
                    state.layers.len()
                ),
            );
            let status = run_captured(&spec, progress, n);
            drop(prepared);
            let status = status?;
            progress.note(n, &format!("Removed temporary container {container}"));
            if !status.success() {
                use std::os::unix::process::ExitStatusExt;
                let code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1);
                let shown = match command {
                    CommandLine::Shell(s) => format!("{} {s}", state.shell().join(" ")),
                    CommandLine::Exec(v) => format!("{v:?}"),
                };
                return Err(BuildError::Step(format!(
                    "process \"{}\" did not complete successfully: exit code: {code}",
                    first_line(&shown)
                )));
            }
        }
        Some(Command::Workdir { .. }) => {
            // The config gets the new WORKDIR after the step; the directory is made here.
            let wd = state.workdir();
            let target = match command {
                Some(Command::Workdir { path }) => join_path(&wd, path),
                _ => wd,
            };
            // Every directory it makes is the USER's (BuildKit's `Mkdir` with parents `WithUser`).
            let owner = owner_of(state.config.config.user.as_deref().unwrap_or(""))?;
            if !is_dir_in(&lowers, &target)? {
                let at = match lowers.split_last() {
                    Some((top, below)) => crate::rootfs::View::new(below, top).resolve(&target, true)?,
                    None => target,
                };
                ensure_dir(&upper, &lowers, &at, Some(owner), 0o755)?;
            }
        }
        _ => {}
    }
    let layer_options = LayerOptions {
        compression: options.compression,
        clamp: options.source_date_epoch(),
    };
    let started = std::time::Instant::now();
    let info = match command {
        Some(Command::Copy(c) | Command::Add(c)) => {
            let add = matches!(command, Some(Command::Add(_)));
            let plan = plan_copy(store, state, &lowers, c, add, heredocs, planned, finished, &owner_of)?;
            if !options.materialise_copies && plan.streams()? {
                // The sources go straight into the layer tar; no file is created. The layer
                // is unpacked from its blob if a later step needs it.
                let mut tree = crate::upper::Tree::at(plan.now);
                apply_copy(&plan, &lowers, &mut Upper::Tree(&mut tree))?;
                image::store_layer(store, |f| {
                    crate::upper::write_layer(&tree, &layer_options, io::BufWriter::new(f))
                })?
            } else {
                apply_copy(&plan, &lowers, &mut Upper::Dir(&upper))?;
                commit_and_adopt(store, &upper, &layer_options)?
            }
        }
        _ => commit_and_adopt(store, &upper, &layer_options)?,
    };
    progress.note(
        n,
        &format!(
            "{} became layer {} ({}{}, written in {:.2} s)",
            match command {
                Some(Command::Run { .. }) => "Its writable layer",
                _ => "The files written",
            },
            progress::short_id(info.digest.as_str()),
            progress::human_size(info.size),
            match layer_options.compression {
                crate::layer::Compression::None => "",
                _ => " compressed",
            },
            started.elapsed().as_secs_f64()
        ),
    );
    let mut annotations = BTreeMap::new();
    annotations.insert(DIFF_ID_ANNOTATION.to_string(), info.diff_id.to_string());
    Ok(Descriptor {
        media_type: info.media_type.into(),
        digest: info.digest,
        size: info.size,
        annotations,
    })
}

/// Writes the upper dir as a layer; when the tar holds all of it, the upper dir becomes the
/// unpacked layer, so the next steps use it as it is.
fn commit_and_adopt(store: &Store, upper: &Path, options: &LayerOptions) -> io::Result<crate::layer::LayerInfo> {
    let info = image::commit_layer(store, upper, options)?;
    if info.exact {
        image::adopt_layer(store, upper, &info.diff_id)?;
    }
    Ok(info)
}

/// Runs a container with its stdout and stderr going to `progress` (step `n`).
fn run_captured(spec: &ContainerSpec, progress: &Progress<'_>, n: usize) -> io::Result<std::process::ExitStatus> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| io::Error::other(format!("pipe2: {e}")))?;
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            use std::io::Read;
            let mut r = fs::File::from(r);
            let mut buf = [0u8; 8192];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => progress.output(n, &buf[..k]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
        let status = container::run_with_output(spec, Some(&w));
        drop(w);
        let _ = reader.join();
        status
    })
}

/// The argv of a RUN, heredocs applied as BuildKit does: `RUN <<EOF` alone runs the body
/// with the shell, or, when the body starts with `#!`, as an executable file (returned as
/// name and body, to be mounted at `/dev/pipes/<name>`); a command with heredocs
/// (`RUN python3 <<EOF`, several heredocs) gets the bodies appended and the shell reads them.
type Script = Option<(String, String)>;

fn run_argv(
    command: &CommandLine,
    heredocs: &[slipway_parser::syntax::Heredoc],
    shell: &[String],
) -> Result<(Vec<String>, Script), BuildError> {
    let with_shell = |s: String| shell.iter().cloned().chain([s]).collect::<Vec<_>>();
    let line = match command {
        CommandLine::Exec(v) if heredocs.is_empty() => return Ok((v.clone(), None)),
        CommandLine::Exec(_) => {
            return Err(unsupported(
                "a heredoc needs the shell form of RUN (the JSON form has no shell to read it)".into(),
            ))
        }
        CommandLine::Shell(s) if heredocs.is_empty() => return Ok((with_shell(s.clone()), None)),
        CommandLine::Shell(s) => s,
    };
    let first = &heredocs[0];
    if is_lone_heredoc(line.trim()) {
        let body = if first.chomp {
            first.chomped_content()
        } else {
            first.content.clone()
        };
        if body.starts_with("#!") {
            let name = first.name.clone();
            return Ok((vec![format!("/dev/pipes/{name}")], Some((name, body))));
        }
        return Ok((with_shell(body), None));
    }
    let mut full = line.clone();
    for h in heredocs {
        full.push('\n');
        full.push_str(&h.content);
        full.push_str(&h.name);
    }
    Ok((with_shell(full), None))
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<'EOF'` and nothing else.
fn is_lone_heredoc(word: &str) -> bool {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest).trim_start();
    let name = rest.trim_matches(|c| c == '"' || c == '\'');
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && rest.len() - name.len() <= 2
}

/// What a RUN's `--mount`s need: the container mounts, env vars (secrets with `env=`),
/// and what must live until the RUN ends (temp dirs, locks).
#[derive(Default)]
struct RunMounts {
    mounts: Vec<container::Mount>,
    env: Vec<(String, String)>,
    temps: Vec<TempDir>,
    locks: Vec<fs::File>,
    /// SSH mounts so far (their default targets are numbered).
    ssh: usize,
    /// What the RUN's narration says about its mounts (a cache mount restored).
    notes: Vec<String>,
}

fn unsupported(msg: String) -> BuildError {
    io::Error::new(io::ErrorKind::Unsupported, msg).into()
}

/// Prepares one `RUN --mount`.
#[allow(clippy::too_many_arguments)]
fn prepare_mount(
    store: &Store,
    dir: &Path,
    state: &StageState,
    m: &slipway_parser::values::Mount,
    planned: &Planned,
    finished: &BTreeMap<usize, StageState>,
    options: &BuildOptions,
    out: &mut RunMounts,
) -> Result<(), BuildError> {
    use slipway_parser::values::{MountType, Sharing};
    let secrets = &options.secrets;
    let workdir = state.workdir();
    let target = m.target.as_deref().map(|t| PathBuf::from(join_path(&workdir, t)));
    let need_target = || {
        target
            .clone()
            .ok_or_else(|| unsupported(format!("--mount=type={}: a target is required", m.kind.as_str())))
    };
    let scratch = dir.join("mounts");
    match m.kind {
        MountType::Ssh => {
            // The agent's socket, bind-mounted (BuildKit's default target and SSH_AUTH_SOCK).
            let id = m.id.clone().unwrap_or_else(|| "default".into());
            let Some(socket) = options.ssh.get(&id) else {
                if m.required {
                    return Err(BuildError::Step(format!(
                        "ssh agent {id} is required but was not given (slipway build --ssh {id}[=SOCKET])"
                    )));
                }
                return Ok(());
            };
            let target = target.unwrap_or_else(|| PathBuf::from(format!("/run/buildkit/ssh_agent.{}", out.ssh)));
            out.ssh += 1;
            if !out.env.iter().any(|(k, _)| k == "SSH_AUTH_SOCK") {
                out.env.push(("SSH_AUTH_SOCK".into(), target.display().to_string()));
            }
            out.mounts.push(container::Mount::Bind {
                source: socket.clone(),
                target,
                readonly: false,
            });
        }
        MountType::Tmpfs => {
            out.mounts.push(container::Mount::Tmpfs {
                target: need_target()?,
                options: m.size.as_ref().map(|s| format!("size={s}")).unwrap_or_default(),
            });
        }
        MountType::Cache => {
            if m.from.is_some() {
                return Err(unsupported("cache mounts with from= are not supported yet".into()));
            }
            let target = need_target()?;
            let mount = crate::mounts::identity(m)
                .ok_or_else(|| unsupported("--mount=type=cache: a target is required".into()))?;
            let owner = crate::mounts::owner(m);
            let source = match m.sharing.unwrap_or(Sharing::Shared) {
                Sharing::Private => {
                    let t = tempdir_in(&store.cache_mounts_dir())?;
                    crate::mounts::init(&t, owner)?;
                    out.temps.push(TempDir(t.clone()));
                    t
                }
                sharing => {
                    if sharing == Sharing::Locked {
                        out.locks.push(crate::mounts::lock(store, &mount)?);
                    }
                    let (dir, how) = crate::mounts::ensure_dir(store, &mount, owner)?;
                    let label = mount.label();
                    use crate::mounts::Prepared;
                    match how {
                        Prepared::Existing | Prepared::Created => {}
                        Prepared::Restored(d) => out.notes.push(format!(
                            "Cache mount {label}: restored from the registry cache ({}, {})",
                            progress::short_id(d.digest.as_str()),
                            progress::human_size(d.size)
                        )),
                        Prepared::NotFetched(d) => out.notes.push(format!(
                            "Cache mount {label}: starts empty (the registry cache's {} was not fetched)",
                            progress::short_id(d.digest.as_str())
                        )),
                        Prepared::Failed(e) => out
                            .notes
                            .push(format!("Cache mount {label}: starts empty (cannot restore {e})")),
                    }
                    dir
                }
            };
            out.mounts.push(container::Mount::Bind {
                source,
                target,
                readonly: m.readonly,
            });
        }
        MountType::Bind => {
            let target = need_target()?;
            let rel = join_path("/", m.source.as_deref().unwrap_or("."));
            let rel = rel.trim_start_matches('/');
            let source = match &m.from {
                None => {
                    let root = fs::canonicalize(planned.context.root())?;
                    let host = fs::canonicalize(root.join(rel)).map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("--mount source {rel}: not found in the build context: {e}"),
                        )
                    })?;
                    if !host.starts_with(&root) {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("--mount source {rel} is outside the build context"),
                        )
                        .into());
                    }
                    if m.readonly {
                        host
                    } else {
                        // Writes are discarded: the RUN gets a copy.
                        fs::create_dir_all(&scratch)?;
                        let t = tempdir_in(&scratch)?;
                        out.temps.push(TempDir(t.clone()));
                        let copy = t.join("src");
                        copy_tree(&host, &copy, None, None, true)?;
                        copy
                    }
                }
                Some(from) => {
                    let dirs = match planned.model.stage_by_ref(from) {
                        Some(s) => finished
                            .get(&s)
                            .ok_or_else(|| io::Error::other(format!("stage {from} was not built")))?
                            .dirs(store)?,
                        None => {
                            let img = image::resolve_platform(store, from, state.platform.as_ref())?;
                            image::unpack_image(store, &img)?
                        }
                    };
                    fs::create_dir_all(&scratch)?;
                    let t = tempdir_in(&scratch)?;
                    out.temps.push(TempDir(t.clone()));
                    let copy = t.join("src");
                    assemble(&dirs, rel, &copy)?;
                    if fs::symlink_metadata(&copy).is_err() {
                        return Err(
                            io::Error::new(io::ErrorKind::NotFound, format!("{rel}: not found in {from}")).into(),
                        );
                    }
                    copy
                }
            };
            out.mounts.push(container::Mount::Bind {
                source,
                target,
                readonly: m.readonly,
            });
        }
        MountType::Secret => {
            let id =
                m.id.clone()
                    .or_else(|| {
                        m.target
                            .as_deref()
                            .and_then(|t| Path::new(t).file_name())
                            .map(|n| n.to_string_lossy().into_owned())
                    })
                    .ok_or_else(|| unsupported("--mount=type=secret: an id or target is required".into()))?;
            let Some(src) = secrets.get(&id) else {
                if m.required {
                    return Err(BuildError::Step(format!(
                        "secret {id} is required but was not given (--secret id={id},src=FILE)"
                    )));
                }
                return Ok(());
            };
            let bytes = match src.read() {
                Ok(b) => b,
                Err(e) if !m.required && e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            if let Some(var) = &m.env {
                out.env
                    .push((var.clone(), String::from_utf8_lossy(&bytes).into_owned()));
            }
            if m.env.is_none() || m.target.is_some() {
                let target = target.unwrap_or_else(|| PathBuf::from(format!("/run/secrets/{id}")));
                // A 0600 copy on tmpfs when there is one, never in a layer.
                let shm = Path::new("/dev/shm");
                let parent = if shm.is_dir() {
                    shm.to_path_buf()
                } else {
                    scratch.clone()
                };
                let t = tempdir_in(&parent)?;
                fs::set_permissions(&t, fs::Permissions::from_mode(0o700))?;
                out.temps.push(TempDir(t.clone()));
                let file = t.join("secret");
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    let mut f = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&file)?;
                    f.write_all(&bytes)?;
                }
                std::os::unix::fs::chown(&file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))?;
                fs::set_permissions(&file, fs::Permissions::from_mode(m.mode.unwrap_or(0o400) & 0o7777))?;
                out.mounts.push(container::Mount::Bind {
                    source: file,
                    target,
                    readonly: true,
                });
            }
        }
    }
    Ok(())
}

/// Makes `target` (absolute) a directory in `upper`, its missing parents with the lower
/// layers' owner and mode (else `mode`, owned by `owner`, root by default: BuildKit's
/// `MkdirAll` with the chown user).
pub(crate) fn ensure_dir(
    upper: &Path,
    lowers: &[PathBuf],
    target: &str,
    owner: Option<(u32, u32)>,
    mode: u32,
) -> io::Result<()> {
    let mut rel = PathBuf::new();
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
    for p in parts {
        rel.push(p);
        let here = upper.join(&rel);
        if fs::symlink_metadata(&here).is_ok() {
            continue;
        }
        let lower = lower_dir(lowers, &rel);
        // A directory of the lower layers is copied up as overlayfs does it: its metadata,
        // mtime included, and its parent's mtime unchanged (only a new entry changes it).
        let parent = here.parent().map(|p| (p, fs::symlink_metadata(p)));
        fs::create_dir(&here)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", here.display())))?;
        match lower {
            Some(m) => {
                fs::set_permissions(&here, fs::Permissions::from_mode(m.mode() & 0o7777))?;
                std::os::unix::fs::chown(&here, Some(m.uid()), Some(m.gid()))?;
                set_mtime(&here, m.mtime(), m.mtime_nsec(), false)?;
                if let Some((p, Ok(pm))) = parent {
                    set_mtime(p, pm.mtime(), pm.mtime_nsec(), false)?;
                }
            }
            None => {
                fs::set_permissions(&here, fs::Permissions::from_mode(mode))?;
                let (u, g) = owner.unwrap_or((0, 0));
                std::os::unix::fs::chown(&here, Some(u), Some(g))?;
            }
        }
    }
    Ok(())
}

/// The metadata of the top-most directory at `rel` among `lowers` (bottom first, links
/// followed on the host), whose owner and mode a directory made in the upper dir copies.
pub(crate) fn lower_dir(lowers: &[PathBuf], rel: &Path) -> Option<fs::Metadata> {
    lowers
        .iter()
        .rev()
        .find_map(|l| fs::metadata(l.join(rel)).ok().filter(|m| m.is_dir()))
}

/// One thing to copy: a host path and its destination (absolute, in the image).
struct Item {
    host: PathBuf,
    dest: String,
    /// ADD unpacks this into the destination when it is a tar archive.
    unpack: bool,
    /// A directory of the context whose contents are items of their own (the selection
    /// lists every path, after `--exclude` and `--parents`): the directory alone.
    dir_only: bool,
    /// The context source it comes from: files that are hard links of each other stay
    /// linked within one source (BuildKit copies each source on its own).
    source: Option<usize>,
    /// A directory named as a source: its contents go into `dest`, which keeps its own
    /// owner and mode and gets the directory's mtime once they are in (BuildKit's copy
    /// restores the timestamp). `Some(true)`: its contents are copied with it;
    /// `Some(false)`: they are items of their own.
    contents: Option<bool>,
}

/// What a COPY/ADD writes, worked out before anything is written: the items, where and
/// how, and the temp dirs (heredoc bodies, fetched URLs, `--from` sources) that must live
/// until the layer is written.
struct CopyPlan {
    items: Vec<Item>,
    /// The destination (absolute, WORKDIR applied) and whether it is a directory.
    dest: String,
    make_dest_dir: bool,
    owner: Option<(u32, u32)>,
    mode: Option<u32>,
    keep_owner: bool,
    /// When the step started (the coarse clock), and its time in seconds: what the
    /// directories it makes or changes get.
    started: (i64, i64),
    now: i64,
    _temps: Vec<TempDir>,
}

impl CopyPlan {
    /// Whether the layer can be written straight from the sources: everything but ADD's
    /// archive unpacking (which writes through the upper dir, see [`crate::add::unpack`]).
    fn streams(&self) -> io::Result<bool> {
        for item in &self.items {
            if item.unpack && crate::add::detect(&item.host)?.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Where a COPY/ADD writes: an upper dir on disk, or the in-memory tree its layer is
/// streamed from.
enum Upper<'a> {
    Dir(&'a Path),
    Tree(&'a mut crate::upper::Tree),
}

impl Upper<'_> {
    fn ensure_dir(&mut self, lowers: &[PathBuf], target: &str, owner: Option<(u32, u32)>, mode: u32) -> io::Result<()> {
        match self {
            Upper::Dir(upper) => ensure_dir(upper, lowers, target, owner, mode),
            Upper::Tree(tree) => tree.ensure_dir(lowers, target, owner, mode),
        }
    }
}

/// Writes what `plan` says into `upper`, over `lowers` (bottom first).
fn apply_copy(plan: &CopyPlan, lowers: &[PathBuf], upper: &mut Upper<'_>) -> io::Result<()> {
    let (dest, owner) = (&plan.dest, plan.owner);
    // The directories made for the destination: 0755, or the `--chmod` mode's permission
    // bits (BuildKit's `MkdirAll` with a Go `FileMode`, where 0o4000 is no setuid bit).
    let dir_mode = plan.mode.map_or(0o755, |m| m & 0o777);
    // Copies of sources that are hard links of each other are linked (on disk).
    let mut links = Links::default();
    // Destinations resolve through the image's own links (`/lib -> usr/lib`).
    if plan.make_dest_dir {
        let at = match upper {
            Upper::Dir(u) => crate::rootfs::View::new(lowers, u).resolve(dest, true)?,
            Upper::Tree(t) => crate::rootfs::View::over_tree(lowers, t).resolve(dest, true)?,
        };
        upper.ensure_dir(lowers, &at, owner, dir_mode)?;
    }
    // Directories copied alone (their entries are items of their own) get their source's
    // mtime once every item of their source is in, as a copy of the whole tree would.
    let mut dir_times: Vec<(String, i64, i64)> = Vec::new();
    let mut source = None;
    for item in &plan.items {
        if item.source != source {
            settle_copied_dirs(upper, &mut dir_times)?;
            source = item.source;
        }
        if let Some(children) = item.contents {
            let at = match upper {
                Upper::Dir(u) => crate::rootfs::View::new(lowers, u).resolve(&item.dest, true)?,
                Upper::Tree(t) => crate::rootfs::View::over_tree(lowers, t).resolve(&item.dest, true)?,
            };
            upper.ensure_dir(lowers, &at, owner, dir_mode)?;
            let target = at.trim_start_matches('/').to_string();
            for entry in fs::read_dir(&item.host)?.filter(|_| children) {
                let entry = entry?;
                let to = Path::new(&target).join(entry.file_name());
                let (mode, keep) = (plan.mode, plan.keep_owner);
                match upper {
                    Upper::Dir(u) => copy_entry(&entry.path(), &u.join(&to), owner, mode, keep, true, &mut links)?,
                    Upper::Tree(t) => t.copy_in(&entry.path(), &to, owner, mode, keep, true)?,
                }
            }
            let m = fs::metadata(&item.host)?;
            dir_times.push((target, m.mtime(), m.mtime_nsec()));
            continue;
        }
        if item.unpack {
            if let Upper::Dir(u) = upper {
                if let Some(compression) = crate::add::detect(&item.host)? {
                    crate::add::unpack(&item.host, compression, lowers, u, dest, owner)?;
                    continue;
                }
            }
        }
        let (parent, name) = item.dest.rsplit_once('/').unwrap_or(("", item.dest.as_str()));
        let parent = match upper {
            Upper::Dir(u) => crate::rootfs::View::new(lowers, u).resolve(parent, true)?,
            Upper::Tree(t) => crate::rootfs::View::over_tree(lowers, t).resolve(parent, true)?,
        };
        upper.ensure_dir(lowers, &parent, owner, dir_mode)?;
        let target = format!("{}/{name}", parent.trim_end_matches('/'));
        let target = target.trim_start_matches('/');
        let (mode, keep, recursive) = (plan.mode, plan.keep_owner, !item.dir_only);
        links.source = item.source;
        match upper {
            Upper::Dir(u) => copy_entry(&item.host, &u.join(target), owner, mode, keep, recursive, &mut links)?,
            Upper::Tree(t) => {
                t.link_source = item.source;
                t.copy_in(&item.host, Path::new(target), owner, mode, keep, recursive)?
            }
        }
        if item.dir_only {
            let m = fs::symlink_metadata(&item.host)?;
            dir_times.push((target.to_string(), m.mtime(), m.mtime_nsec()));
        }
    }
    settle_copied_dirs(upper, &mut dir_times)?;
    if let Upper::Dir(u) = upper {
        // The directories this step made or changed have the step's time, as in the tree
        // (the kernel gave them the time of each change).
        settle_dir_times(u, plan.started, plan.now)?;
    }
    Ok(())
}

/// Gives the directories copied alone their sources' mtimes (`dir_times`: path in the
/// layer, seconds, nanoseconds), and forgets them.
fn settle_copied_dirs(upper: &mut Upper<'_>, dir_times: &mut Vec<(String, i64, i64)>) -> io::Result<()> {
    for (rel, secs, nanos) in dir_times.drain(..) {
        match upper {
            Upper::Dir(u) => set_mtime(&u.join(&rel), secs, nanos, false)?,
            Upper::Tree(t) => t.set_dir_mtime(Path::new(&rel), secs)?,
        }
    }
    Ok(())
}

/// Sets every directory under `dir` whose mtime is not before `started` to `now`.
fn settle_dir_times(dir: &Path, started: (i64, i64), now: i64) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let m = entry.metadata()?;
        if m.is_dir() {
            settle_dir_times(&entry.path(), started, now)?;
            if (m.mtime(), m.mtime_nsec()) >= started {
                set_mtime(&entry.path(), now, 0, true)?;
            }
        }
    }
    Ok(())
}

/// Sets a path's mtime (and atime) to `secs`.`nanos`; a symlink itself unless `follow`.
pub(crate) fn set_mtime(path: &Path, secs: i64, nanos: i64, follow: bool) -> io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    let t = nix::sys::time::TimeSpec::new(secs, nanos);
    let flag = if follow {
        UtimensatFlags::FollowSymlink
    } else {
        UtimensatFlags::NoFollowSymlink
    };
    utimensat(nix::fcntl::AT_FDCWD, path, &t, &t, flag).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("cannot set the times of {}: {e}", path.display()),
        )
    })
}

/// The kernel's time now, as it stamps files (its coarse clock, which can be behind the
/// one `SystemTime` reads): the mtime of a directory just made under `dir`. Anything
/// changed after this has an mtime not before it.
fn kernel_now(dir: &Path) -> io::Result<(i64, i64)> {
    let probe = dir.join(format!(
        "clock-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = fs::remove_dir(&probe);
    fs::create_dir(&probe)?;
    let m = fs::metadata(&probe)?;
    fs::remove_dir(&probe)?;
    Ok((m.mtime(), m.mtime_nsec()))
}

#[allow(clippy::too_many_arguments)]
fn plan_copy(
    store: &Store,
    state: &StageState,
    lowers: &[PathBuf],
    c: &CopySpec,
    add: bool,
    heredocs: &[slipway_parser::syntax::Heredoc],
    planned: &Planned,
    finished: &BTreeMap<usize, StageState>,
    owner_of: &dyn Fn(&str) -> io::Result<(u32, u32)>,
) -> Result<CopyPlan, BuildError> {
    let started = kernel_now(&store.root().join("builds"))?;
    let is_url = |s: &str| s.starts_with("http://") || s.starts_with("https://");
    // A remote git repository; a local path that merely ends in `.git` is a context path.
    let is_git =
        |s: &str| s.starts_with("git@") || s.starts_with("git://") || (s.contains("://") && s.ends_with(".git"));
    for s in &c.sources {
        if !add && is_url(s) {
            return Err(unsupported(format!("COPY cannot fetch {s}: use ADD for URLs")));
        }
        if add && is_git(s) {
            return Err(unsupported(format!(
                "ADD of git repositories ({s}) is not supported yet"
            )));
        }
    }
    if c.checksum.is_some() && !c.sources.iter().all(|s| is_url(s)) {
        return Err(unsupported("ADD --checksum applies to URL sources only".into()));
    }
    let workdir = state.workdir();
    let dest = join_path(&workdir, &c.dest);
    // A destination that is a directory already (through the image's links) is one:
    // `WORKDIR /app` + `COPY package.json .` writes /app/package.json.
    let dest_is_dir = c.dest.ends_with('/')
        || c.sources.len() + heredocs.len() > 1
        || c.sources.iter().any(|s| has_wildcard(s))
        || is_dir_in(lowers, &dest)?;
    let owner = match &c.chown {
        Some(spec) => Some(owner_of(spec)?),
        None => None,
    };
    let mode = match &c.chmod {
        Some(m) => Some(u32::from_str_radix(m, 8).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--chmod={m}: only octal modes are supported"),
            )
        })?),
        None => None,
    };
    let mut items: Vec<Item> = Vec::new();
    let mut keep_owner = false;
    let mut dir_source = false;
    let mut temps = Vec::new();
    if !heredocs.is_empty() {
        temps.push(inline_files(store, state, heredocs, &dest, dest_is_dir, &mut items)?);
    }
    let urls: Vec<&String> = c.sources.iter().filter(|s| is_url(s)).collect();
    if !urls.is_empty() {
        let tmp = TempDir(tempdir_in(&store.root().join("builds"))?);
        for (i, url) in urls.iter().enumerate() {
            let host = tmp.0.join(i.to_string());
            crate::add::fetch(url, c.checksum.as_deref(), &host)?;
            let name = crate::add::url_file_name(url);
            let d = if dest_is_dir {
                join_path(&dest, &name)
            } else {
                dest.clone()
            };
            items.push(Item {
                host,
                dest: d,
                unpack: c.unpack == Some(true),
                dir_only: false,
                source: None,
                contents: None,
            });
        }
        temps.push(tmp);
    }
    let local: Vec<String> = c.sources.iter().filter(|s| !is_url(s)).cloned().collect();
    match &c.from {
        _ if local.is_empty() => {}
        Some(from) => {
            let stage = planned.model.stage_by_ref(from);
            let src_dirs = match stage {
                Some(s) => finished
                    .get(&s)
                    .ok_or_else(|| io::Error::other(format!("stage {from} was not built")))?
                    .dirs(store)?,
                None => {
                    let img = image::resolve_platform(store, from, state.platform.as_ref())?;
                    image::unpack_image(store, &img)?
                }
            };
            let tmp = tempdir_in(&store.root().join("builds"))?;
            let mut expanded = Vec::new();
            for src in &local {
                if has_wildcard(src) {
                    let found = glob_layers(&src_dirs, src)?;
                    if found.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("{src}: no file in {from} matches"),
                        )
                        .into());
                    }
                    expanded.extend(found);
                } else {
                    expanded.push(src.clone());
                }
            }
            for src in &expanded {
                let rel = join_path("/", src);
                let at = tmp.join(format!("{}", items.len()));
                fs::create_dir_all(&at)?;
                let name = Path::new(&rel)
                    .file_name()
                    .map(|n| n.to_owned())
                    .unwrap_or_else(|| "root".into());
                let host = at.join(&name);
                // A symlink named as the source is followed inside the source image.
                let rel = match src_dirs.split_last() {
                    Some((top, below)) => crate::rootfs::View::new(below, top).resolve(&rel, true)?,
                    None => rel,
                };
                assemble(&src_dirs, rel.trim_start_matches('/'), &host)?;
                if fs::symlink_metadata(&host).is_err() {
                    return Err(io::Error::new(io::ErrorKind::NotFound, format!("{src}: not found in {from}")).into());
                }
                let is_dir = fs::metadata(&host).map(|m| m.is_dir()).unwrap_or(false);
                dir_source |= is_dir;
                let d = if is_dir {
                    dest.clone()
                } else if dest_is_dir {
                    join_path(&dest, &name.to_string_lossy())
                } else {
                    dest.clone()
                };
                items.push(Item {
                    host,
                    dest: d,
                    unpack: false,
                    dir_only: false,
                    source: None,
                    contents: is_dir.then_some(true),
                });
            }
            keep_owner = true;
            temps.push(TempDir(tmp));
        }
        None => {
            let sel = planned.context.select(&local, &c.exclude, c.parents).map_err(|e| {
                // The message with its hint: check the path and `.dockerignore`.
                let help = miette::Diagnostic::help(&e)
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                io::Error::new(io::ErrorKind::NotFound, format!("{e}{help}"))
            })?;
            let kinds: BTreeMap<&str, EntryKind> = sel.files.iter().map(|f| (f.path.as_str(), f.kind)).collect();
            let root = planned.context.root();
            // `--parents`: the destination keeps each path below the pivot (the part
            // before `/./`, else the context root).
            dir_source |= c.parents;
            for (si, (src, paths)) in sel.per_source.iter().enumerate() {
                if c.parents {
                    let pivot = src.find("/./").map_or("", |i| &src[..i]);
                    let pivot = join_path("/", pivot);
                    let pivot = pivot.trim_start_matches('/');
                    for p in paths {
                        let rel = if pivot.is_empty() {
                            p.as_str()
                        } else {
                            match p.strip_prefix(pivot).and_then(|r| r.strip_prefix('/')) {
                                Some(r) => r,
                                None => continue, // the pivot itself and the dirs above it
                            }
                        };
                        let kind = kinds.get(p.as_str()).copied().unwrap_or(EntryKind::File);
                        // Symlinks on the way are followed inside the context.
                        let host = root.join(planned.context.resolve(p).unwrap_or_else(|| p.clone()));
                        items.push(Item {
                            host,
                            dest: join_path(&dest, rel),
                            unpack: add && c.unpack != Some(false) && kind == EntryKind::File,
                            dir_only: kind == EntryKind::Dir,
                            source: Some(si),
                            contents: None,
                        });
                    }
                    continue;
                }
                let base = src
                    .trim_start_matches("./")
                    .trim_start_matches('/')
                    .trim_end_matches('/');
                let base = if base == "." { "" } else { base };
                let wild = has_wildcard(src);
                // Where each named source (a match, with wildcards) is in the context: the
                // source is followed when it is a symlink (or goes through one), links
                // under it stay links.
                let mut resolved: BTreeMap<String, String> = BTreeMap::new();
                for p in paths {
                    // The match (or the named source) this path is under.
                    let top = if wild {
                        paths
                            .iter()
                            .filter(|r| p == *r || p.starts_with(&format!("{r}/")))
                            .min_by_key(|r| r.len())
                            .cloned()
                            .unwrap_or_else(|| p.clone())
                    } else {
                        base.to_string()
                    };
                    let kind = kinds.get(p.as_str()).copied().unwrap_or(EntryKind::File);
                    let top_at = resolved
                        .entry(top.clone())
                        .or_insert_with(|| planned.context.resolve(&top).unwrap_or_else(|| top.clone()));
                    let host = if *p == top {
                        root.join(&*top_at)
                    } else if top.is_empty() {
                        root.join(p)
                    } else {
                        root.join(&*top_at).join(&p[top.len() + 1..])
                    };
                    let d = if *p == top {
                        if kind == EntryKind::Dir {
                            dir_source = true;
                            items.push(Item {
                                host,
                                dest: dest.clone(),
                                unpack: false,
                                dir_only: true,
                                source: Some(si),
                                contents: Some(false),
                            });
                            continue;
                        }
                        let name = p.rsplit('/').next().unwrap_or(p);
                        if dest_is_dir {
                            join_path(&dest, name)
                        } else {
                            dest.clone()
                        }
                    } else {
                        let rel = if top.is_empty() {
                            p.as_str()
                        } else {
                            &p[top.len() + 1..]
                        };
                        join_path(&dest, rel)
                    };
                    items.push(Item {
                        host,
                        dest: d,
                        // Only a source itself is unpacked, never an archive inside a directory.
                        unpack: add && c.unpack != Some(false) && kind == EntryKind::File && *p == top,
                        dir_only: kind == EntryKind::Dir,
                        source: Some(si),
                        contents: None,
                    });
                }
            }
        }
    }
    Ok(CopyPlan {
        items,
        dest,
        make_dest_dir: dest_is_dir || dir_source,
        owner,
        mode,
        keep_owner,
        started,
        now: started.0,
        _temps: temps,
    })
}

/// COPY/ADD heredocs become files named after their delimiter (mode 0644), bodies
/// expanded with the stage's ARG/ENV unless the delimiter was quoted (as BuildKit:
/// quotes are not processed, `\` escapes).
fn inline_files(
    store: &Store,
    state: &StageState,
    heredocs: &[slipway_parser::syntax::Heredoc],
    dest: &str,
    dest_is_dir: bool,
    items: &mut Vec<Item>,
) -> io::Result<TempDir> {
    let tmp = TempDir(tempdir_in(&store.root().join("builds"))?);
    let mut env = slipway_parser::shell::MapEnv::new();
    env.extend(state.args.iter().map(|(k, v)| (k.clone(), v.clone())));
    for e in &state.config.config.env {
        if let Some((k, v)) = e.split_once('=') {
            env.insert(k, v);
        }
    }
    let lexer = slipway_parser::shell::Lexer {
        skip_process_quotes: true,
        ..slipway_parser::shell::Lexer::new('\\')
    };
    for (i, h) in heredocs.iter().enumerate() {
        let mut body = if h.chomp {
            h.chomped_content()
        } else {
            h.content.clone()
        };
        if h.expand {
            body = lexer
                .process_word(&body, &env)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("heredoc <<{}: {e}", h.name)))?;
        }
        let host = tmp.0.join(i.to_string());
        fs::write(&host, body)?;
        fs::set_permissions(&host, fs::Permissions::from_mode(0o644))?;
        let dest = if dest_is_dir {
            join_path(dest, &h.name)
        } else {
            dest.to_string()
        };
        items.push(Item {
            host,
            dest,
            unpack: false,
            dir_only: false,
            source: None,
            contents: None,
        });
    }
    Ok(tmp)
}

/// The paths (absolute) in the merged view of `layers` that `pattern` matches, component
/// by component with Go's `filepath.Match` (as BuildKit matches `COPY --from` sources).
fn glob_layers(layers: &[PathBuf], pattern: &str) -> io::Result<Vec<String>> {
    let mut found: Vec<String> = vec![String::new()];
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let mut next = Vec::new();
        for dir in &found {
            if !has_wildcard(part) {
                let rel = if dir.is_empty() {
                    part.to_string()
                } else {
                    format!("{dir}/{part}")
                };
                if merged_stat(layers, &rel).is_some() {
                    next.push(rel);
                }
                continue;
            }
            for name in merged_names(layers, dir) {
                let ok = slipway_planner::context::go_match(part, &name)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad pattern {pattern:?}")))?;
                if ok {
                    next.push(if dir.is_empty() { name } else { format!("{dir}/{name}") });
                }
            }
        }
        found = next;
    }
    found.sort();
    Ok(found
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| format!("/{p}"))
        .collect())
}

/// Whether `path` (absolute) is a directory in the merged view of `layers` (bottom first),
/// links followed inside the image.
fn is_dir_in(layers: &[PathBuf], path: &str) -> io::Result<bool> {
    let Some((top, below)) = layers.split_last() else {
        return Ok(false);
    };
    let view = crate::rootfs::View::new(below, top);
    let at = view.resolve(path, true)?;
    Ok(view.stat(at.trim_start_matches('/')).is_some_and(|(_, m)| m.is_dir()))
}

fn merged_stat(layers: &[PathBuf], rel: &str) -> Option<fs::Metadata> {
    let (top, below) = layers.split_last()?;
    crate::rootfs::View::new(below, top).stat(rel).map(|(_, m)| m)
}

/// The names in directory `rel` of the merged view of `layers` (bottom first).
fn merged_names(layers: &[PathBuf], rel: &str) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut hidden = std::collections::BTreeSet::new();
    for layer in layers.iter().rev() {
        let dir = if rel.is_empty() { layer.clone() } else { layer.join(rel) };
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if hidden.contains(&name) {
                continue;
            }
            if e.metadata().is_ok_and(|m| crate::layer::is_whiteout(&m)) {
                hidden.insert(name);
            } else {
                names.insert(name.clone());
                hidden.insert(name);
            }
        }
        if crate::layer::is_opaque(&dir) {
            break;
        }
    }
    names.into_iter().collect()
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn tempdir_in(parent: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(parent)?;
    for i in 0..1000u32 {
        let p = parent.join(format!("from-{}-{}-{i}", std::process::id(), now()));
        match fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("cannot make a temp dir"))
}

/// The merged view of `rel` over overlayfs lower dirs `layers` (bottom first), copied to
/// `out`: later layers win, whiteouts remove, opaque directories hide what is below.
fn assemble(layers: &[PathBuf], rel: &str, out: &Path) -> io::Result<()> {
    for layer in layers {
        let p = if rel.is_empty() { layer.clone() } else { layer.join(rel) };
        let Ok(meta) = fs::symlink_metadata(&p) else { continue };
        if crate::layer::is_whiteout(&meta) {
            remove_any(out)?;
            continue;
        }
        if meta.is_dir() {
            if crate::layer::is_opaque(&p) || !fs::symlink_metadata(out).is_ok_and(|m| m.is_dir()) {
                remove_any(out)?;
            }
            overlay_dir(&p, out)?;
        } else {
            remove_any(out)?;
            copy_tree(&p, out, None, None, true)?;
        }
    }
    Ok(())
}

fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(_) => Ok(()),
    }
}

/// Copies the layer dir `src` over `out` (a dir or absent), applying whiteouts.
fn overlay_dir(src: &Path, out: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    if !out.exists() {
        fs::create_dir(out)?;
    }
    fs::set_permissions(out, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    std::os::unix::fs::lchown(out, Some(meta.uid()), Some(meta.gid()))?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let m = entry.metadata()?;
        let target = out.join(entry.file_name());
        if crate::layer::is_whiteout(&m) {
            remove_any(&target)?;
        } else if m.is_dir() {
            if crate::layer::is_opaque(&entry.path()) || !fs::symlink_metadata(&target).is_ok_and(|t| t.is_dir()) {
                remove_any(&target)?;
            }
            overlay_dir(&entry.path(), &target)?;
        } else {
            remove_any(&target)?;
            copy_tree(&entry.path(), &target, None, None, true)?;
        }
    }
    set_mtime(out, meta.mtime(), meta.mtime_nsec(), false)
}

/// Copies a file, symlink or directory tree from `src` to `dst`. Ownership: `owner`, else
/// the source's with `keep_owner`, else root. `mode` replaces permission bits.
pub(crate) fn copy_tree(
    src: &Path,
    dst: &Path,
    owner: Option<(u32, u32)>,
    mode: Option<u32>,
    keep_owner: bool,
) -> io::Result<()> {
    copy_entry(src, dst, owner, mode, keep_owner, true, &mut Links::default())
}

/// The copies made so far of files with other hard links, by source and (device, inode),
/// so the next copy of one becomes a link to the first.
#[derive(Default)]
struct Links {
    /// The source being copied; `None` links nothing.
    source: Option<usize>,
    first: HashMap<(usize, u64, u64), PathBuf>,
}

/// A copy source's metadata and the owner its copy gets: `owner`, else the source's own
/// with `keep_owner`, else root.
pub(crate) fn source_owner(
    src: &Path,
    owner: Option<(u32, u32)>,
    keep_owner: bool,
) -> io::Result<(fs::Metadata, u32, u32)> {
    let meta = fs::symlink_metadata(src)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", src.display())))?;
    let (uid, gid) = owner.unwrap_or(if keep_owner { (meta.uid(), meta.gid()) } else { (0, 0) });
    Ok((meta, uid, gid))
}

/// [`copy_tree`], or with `recursive` false a directory without its contents. Times are
/// the source's (a directory's set after its contents); a file whose source is a hard link
/// of one copied before (`links`: source (device, inode) → copy) becomes a link to it.
fn copy_entry(
    src: &Path,
    dst: &Path,
    owner: Option<(u32, u32)>,
    mode: Option<u32>,
    keep_owner: bool,
    recursive: bool,
    links: &mut Links,
) -> io::Result<()> {
    let (meta, uid, gid) = source_owner(src, owner, keep_owner)?;
    let ft = meta.file_type();
    if fs::symlink_metadata(dst).is_ok_and(|m| !(m.is_dir() && ft.is_dir())) {
        remove_any(dst)?;
    }
    if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
        std::os::unix::fs::lchown(dst, Some(uid), Some(gid))?;
        return set_mtime(dst, meta.mtime(), meta.mtime_nsec(), false);
    }
    if ft.is_dir() {
        if !dst.exists() {
            fs::create_dir(dst)?;
        }
        for entry in fs::read_dir(src)?.filter(|_| recursive) {
            let entry = entry?;
            copy_entry(
                &entry.path(),
                &dst.join(entry.file_name()),
                owner,
                mode,
                keep_owner,
                true,
                links,
            )?;
        }
    } else if ft.is_file() {
        let inode = links
            .source
            .filter(|_| meta.nlink() > 1)
            .map(|s| (s, meta.dev(), meta.ino()));
        if let Some(inode) = inode {
            let linked = links
                .first
                .get(&inode)
                .filter(|first| fs::symlink_metadata(first).is_ok_and(|m| m.is_file()))
                .map(|first| fs::hard_link(first, dst))
                .is_some_and(|r| r.is_ok());
            if linked {
                return Ok(());
            }
        }
        fs::copy(src, dst).map_err(|e| io::Error::new(e.kind(), format!("cannot copy {}: {e}", src.display())))?;
        if let Some(inode) = inode {
            links.first.insert(inode, dst.to_path_buf());
        }
    } else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{}: special files are not copied yet", src.display()),
        ));
    }
    std::os::unix::fs::chown(dst, Some(uid), Some(gid))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(mode.unwrap_or(meta.mode() & 0o7777)))?;
    set_mtime(dst, meta.mtime(), meta.mtime_nsec(), false)
}

/// The key under which a build's image config is remembered: the config without its
/// times, and the layers. An all-cached rebuild of the same steps finds the config of the
/// build before and reuses its bytes, times included, so it gives the same image ID (as
/// Docker's classic builder and BuildKit do); a build that ran any step gets new times.
fn image_key(config: &ImageConfig, layers: &[Descriptor]) -> String {
    let mut timeless = config.clone();
    timeless.created = None;
    for h in &mut timeless.history {
        h.created = None;
    }
    let mut bytes = b"slipway image config\0".to_vec();
    bytes.extend(serde_json::to_vec(&timeless).unwrap_or_default());
    for l in layers {
        bytes.push(0);
        bytes.extend(l.digest.as_str().as_bytes());
    }
    Digest::of(&bytes).hex().to_string()
}

/// The config an earlier all-cached build of the same image wrote, when its blob is still
/// in the store.
fn earlier_config(store: &Store, key: &str) -> Option<Vec<u8>> {
    let record = store.get_cache(key).ok().flatten()?;
    store.get_blob(&record.result?.digest).ok()
}

/// Writes the config and manifest blobs of a finished stage and names it (or, with no
/// tags, records it as an untagged image).
fn write_image(store: &Store, state: StageState, tags: &[String], all_cached: bool) -> Result<Built, BuildError> {
    let mut config = state.config;
    let key = image_key(&config, &state.layers);
    let config_bytes = match all_cached.then(|| earlier_config(store, &key)).flatten() {
        Some(bytes) => bytes,
        None => {
            let stamp = created();
            config.created = Some(stamp.clone());
            for h in &mut config.history {
                h.created.get_or_insert_with(|| stamp.clone());
            }
            serde_json::to_vec(&config).map_err(io::Error::other)?
        }
    };
    let (config_digest, _, descriptor) = image::put_manifest(store, &config_bytes, state.layers)?;
    store.put_cache(&CacheRecord {
        key: key.clone(),
        step: format!("image config {key}"),
        inputs: slipway_store::CacheInputs::default(),
        result: Some(Descriptor {
            media_type: slipway_store::MEDIA_CONFIG.into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
            annotations: BTreeMap::new(),
        }),
        created: now(),
    })?;
    store.add_image(descriptor.clone())?;
    let mut names = Vec::new();
    for t in tags {
        let full = normalize_name(t).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        store.set_ref(&full, descriptor.clone())?;
        names.push(full);
    }
    let _ = io::stderr().flush();
    Ok(Built {
        id: config_digest,
        manifest: descriptor,
        tags: names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_ranges_expand_and_protocols_lowercase() {
        // As Docker's nat.ParsePortSpecs.
        assert_eq!(expose_ports("80"), ["80/tcp"]);
        assert_eq!(expose_ports("53/UDP"), ["53/udp"]);
        assert_eq!(expose_ports("8000-8002/tcp"), ["8000/tcp", "8001/tcp", "8002/tcp"]);
        assert_eq!(expose_ports("9000-9001"), ["9000/tcp", "9001/tcp"]);
        assert_eq!(expose_ports("$PORT"), ["$PORT/tcp"]);
    }
}
