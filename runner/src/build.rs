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
use slipway_parser::model::{Base, Command, CommandLine, CopySpec};
use slipway_planner::context::EntryKind;
use slipway_planner::plan::Status;
use slipway_planner::request::Planned;
use slipway_store::image::{normalize_name, History, ImageConfig, RootFs, RunConfig};
use slipway_store::{CacheRecord, Descriptor, Digest, Store};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The annotation of a cached layer descriptor that holds the layer's diff_id.
pub const DIFF_ID_ANNOTATION: &str = "org.slipway.diff_id";

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
    progress: &'a Progress,
    by_id: BTreeMap<usize, &'a slipway_planner::plan::PlannedStep>,
    /// Step numbers (1-based, in the order steps are announced).
    numbers: BTreeMap<NodeIndex, usize>,
    build_args: BTreeMap<String, String>,
    work: PathBuf,
}

/// Runs the plan of `planned`: builds the target stage and names it. Steps of one level
/// of the step graph (independent stages) run in parallel threads.
pub fn build(store: &Store, planned: &Planned, options: &BuildOptions) -> Result<Built, BuildError> {
    // RUN steps' seccomp filter, compiled once per store rather than once per build.
    if let Err(e) = crate::security::Security::default().warm_seccomp_cache(&store.root().join("cache/seccomp")) {
        eprintln!("warning: seccomp filter cache: {e}");
    }
    // Layers are written before a cache record or ref names them: no prune meanwhile.
    let _in_use = store.lock_in_use()?;
    let graph = &planned.graph;
    let levels = graph.levels();
    let numbers: BTreeMap<NodeIndex, usize> = levels.iter().flatten().enumerate().map(|(i, &n)| (n, i + 1)).collect();
    let progress = Progress::new(options.progress, numbers.len());
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
        build_args: options.build_args.iter().cloned().collect(),
        work: work.clone(),
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
                    for &ci in &graph.stage_tail[step.stage] {
                        apply_config(
                            &mut state,
                            planned.model.commands.get(ci).and_then(Option::as_ref),
                            &planned.file.instructions[ci].original,
                            &ctx.build_args,
                        );
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
        write_image(store, target, &options.tags)
    })();
    let _ = crate::tree::remove(&work);
    result
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
    let n = ctx.numbers[&node];
    let inst = &file.instructions[step.instruction];
    let planned_step = ctx
        .by_id
        .get(&node.index())
        .ok_or_else(|| io::Error::other(format!("no planned step {}", node.index())))?;
    let stage_label = model.stages[step.stage]
        .name
        .clone()
        .unwrap_or_else(|| format!("stage-{}", step.stage));
    progress.start(n, &stage_label, &first_line(&inst.original));
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
            let mut state = base_state(store, model, step.stage, finished).map_err(|e| fail(e.into()))?;
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
    for &ci in &step.config {
        apply_config(
            &mut state,
            model.commands.get(ci).and_then(Option::as_ref),
            &file.instructions[ci].original,
            &ctx.build_args,
        );
    }
    if step.kind == StepKind::Base {
        progress.done(n);
        return Ok(state);
    }
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
        let image = Digest::of(&serde_json::to_vec(&state.config).unwrap_or_default());
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
    let mut plain = layer;
    plain.annotations.clear();
    state.layers.push(plain);
    state.config.rootfs.diff_ids.push(diff_id);
    if let Some(Command::Workdir { path }) = command {
        let wd = join_path(&state.workdir(), path);
        state.config.config.working_dir = Some(wd);
    }
    let text = history_text(original, command, state);
    state.config.history.push(History {
        created: Some(created()),
        created_by: Some(text),
        comment: Some("slipway build".into()),
        empty_layer: false,
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
    let build_args: BTreeMap<String, String> = options.build_args.iter().cloned().collect();
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
            _ => apply_config(state, command, &inst.original, &build_args),
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
    model: &slipway_parser::model::Model,
    stage: usize,
    finished: &BTreeMap<usize, StageState>,
) -> io::Result<StageState> {
    let mut state = match &model.stages[stage].base {
        Base::Scratch => StageState {
            config: ImageConfig {
                architecture: image::architecture().into(),
                os: "linux".into(),
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
            let img = image::resolve(store, r)?;
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

fn apply_config(
    state: &mut StageState,
    command: Option<&Command>,
    original: &str,
    build_args: &BTreeMap<String, String>,
) {
    let c = &mut state.config.config;
    match command {
        Some(Command::Arg { args }) => {
            for (k, v) in args {
                let value = build_args.get(k).cloned().or_else(|| v.clone()).unwrap_or_default();
                state.args.insert(k.clone(), value);
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
            for p in ports {
                let p = if p.contains('/') { p.clone() } else { format!("{p}/tcp") };
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
                Some(CommandLine::Exec(v)) => v.clone(),
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
    progress: &Progress,
    n: usize,
) -> Result<Descriptor, BuildError> {
    let _ = crate::tree::remove(dir);
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
            let user = user_of(state.config.config.user.as_deref().unwrap_or("0"))?;
            ensure_dir(&upper, &lowers, &target, Some((user.uid, user.gid)))?;
        }
        _ => {}
    }
    let layer_options = LayerOptions {
        compression: options.compression,
        ..LayerOptions::default()
    };
    let info = match command {
        Some(Command::Copy(c) | Command::Add(c)) => {
            let add = matches!(command, Some(Command::Add(_)));
            let plan = plan_copy(store, state, c, add, heredocs, planned, finished, &user_of)?;
            if !options.materialise_copies && plan.streams()? {
                // The sources go straight into the layer tar; no file is created. The layer
                // is unpacked from its blob if a later step needs it.
                let mut tree = crate::upper::Tree::default();
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
            "{} became layer {} ({} compressed)",
            match command {
                Some(Command::Run { .. }) => "Its writable layer",
                _ => "The files written",
            },
            progress::short_id(info.digest.as_str()),
            progress::human_size(info.size)
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
fn run_captured(spec: &ContainerSpec, progress: &Progress, n: usize) -> io::Result<std::process::ExitStatus> {
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
            let key = m.id.clone().unwrap_or_else(|| target.to_string_lossy().into_owned());
            let base = store.root().join("cache-mounts");
            fs::create_dir_all(&base)?;
            let path = base.join(Digest::of(key.as_bytes()).hex());
            let init = |p: &Path| -> io::Result<()> {
                fs::set_permissions(p, fs::Permissions::from_mode(m.mode.unwrap_or(0o755) & 0o7777))?;
                std::os::unix::fs::chown(p, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
            };
            let source = match m.sharing.unwrap_or(Sharing::Shared) {
                Sharing::Private => {
                    let t = tempdir_in(&base)?;
                    init(&t)?;
                    out.temps.push(TempDir(t.clone()));
                    t
                }
                sharing => {
                    if sharing == Sharing::Locked {
                        let lock = fs::OpenOptions::new()
                            .create(true)
                            .truncate(false)
                            .write(true)
                            .open(base.join(format!("{}.lock", Digest::of(key.as_bytes()).hex())))?;
                        lock.lock()?;
                        out.locks.push(lock);
                    }
                    match fs::create_dir(&path) {
                        Ok(()) => init(&path)?,
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e.into()),
                    }
                    path
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
                            let img = image::resolve(store, from)?;
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

/// Makes `target` (absolute) a directory in `upper`, its missing parents copied from the
/// lower layers' metadata (else root-owned 0755); the last one owned by `owner` when new.
pub(crate) fn ensure_dir(upper: &Path, lowers: &[PathBuf], target: &str, owner: Option<(u32, u32)>) -> io::Result<()> {
    let mut rel = PathBuf::new();
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
    for (i, p) in parts.iter().enumerate() {
        rel.push(p);
        let here = upper.join(&rel);
        if fs::symlink_metadata(&here).is_ok() {
            continue;
        }
        let lower = lower_dir(lowers, &rel);
        fs::create_dir(&here)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", here.display())))?;
        match lower {
            Some(m) => {
                fs::set_permissions(&here, fs::Permissions::from_mode(m.mode() & 0o7777))?;
                std::os::unix::fs::chown(&here, Some(m.uid()), Some(m.gid()))?;
            }
            None => {
                fs::set_permissions(&here, fs::Permissions::from_mode(0o755))?;
                let (u, g) = if i + 1 == parts.len() {
                    owner.unwrap_or((0, 0))
                } else {
                    (0, 0)
                };
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
    fn ensure_dir(&mut self, lowers: &[PathBuf], target: &str, owner: Option<(u32, u32)>) -> io::Result<()> {
        match self {
            Upper::Dir(upper) => ensure_dir(upper, lowers, target, owner),
            Upper::Tree(tree) => tree.ensure_dir(lowers, target, owner),
        }
    }
}

/// Writes what `plan` says into `upper`, over `lowers` (bottom first).
fn apply_copy(plan: &CopyPlan, lowers: &[PathBuf], upper: &mut Upper<'_>) -> io::Result<()> {
    let (dest, owner) = (&plan.dest, plan.owner);
    // Destinations resolve through the image's own links (`/lib -> usr/lib`).
    if plan.make_dest_dir {
        let at = match upper {
            Upper::Dir(u) => crate::rootfs::View::new(lowers, u).resolve(dest, true)?,
            Upper::Tree(t) => crate::rootfs::View::over_tree(lowers, t).resolve(dest, true)?,
        };
        upper.ensure_dir(lowers, &at, owner)?;
    }
    for item in &plan.items {
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
        upper.ensure_dir(lowers, &parent, None)?;
        let target = format!("{}/{name}", parent.trim_end_matches('/'));
        let target = target.trim_start_matches('/');
        let (mode, keep, recursive) = (plan.mode, plan.keep_owner, !item.dir_only);
        match upper {
            Upper::Dir(u) => copy_entry(&item.host, &u.join(target), owner, mode, keep, recursive)?,
            Upper::Tree(t) => t.copy_in(&item.host, Path::new(target), owner, mode, keep, recursive)?,
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn plan_copy(
    store: &Store,
    state: &StageState,
    c: &CopySpec,
    add: bool,
    heredocs: &[slipway_parser::syntax::Heredoc],
    planned: &Planned,
    finished: &BTreeMap<usize, StageState>,
    user_of: &dyn Fn(&str) -> io::Result<crate::user::ExecUser>,
) -> Result<CopyPlan, BuildError> {
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
    let dest_is_dir =
        c.dest.ends_with('/') || c.sources.len() + heredocs.len() > 1 || c.sources.iter().any(|s| has_wildcard(s));
    let dest = join_path(&workdir, &c.dest);
    let owner = match &c.chown {
        Some(spec) => {
            let u = user_of(spec)?;
            Some((u.uid, u.gid))
        }
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
                    let img = image::resolve(store, from)?;
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
                });
            }
            keep_owner = true;
            temps.push(TempDir(tmp));
        }
        None => {
            let sel = planned
                .context
                .select(&local, &c.exclude, c.parents)
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
            let kinds: BTreeMap<&str, EntryKind> = sel.files.iter().map(|f| (f.path.as_str(), f.kind)).collect();
            let root = planned.context.root();
            // `--parents`: the destination keeps each path below the pivot (the part
            // before `/./`, else the context root).
            dir_source |= c.parents;
            for (src, paths) in &sel.per_source {
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
                        items.push(Item {
                            host: root.join(p),
                            dest: join_path(&dest, rel),
                            unpack: add && c.unpack != Some(false) && kind == EntryKind::File,
                            dir_only: kind == EntryKind::Dir,
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
                    let d = if *p == top {
                        if kind == EntryKind::Dir {
                            dir_source = true;
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
                        host: root.join(p),
                        dest: d,
                        unpack: add && c.unpack != Some(false) && kind == EntryKind::File,
                        dir_only: kind == EntryKind::Dir,
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

fn tempdir_in(parent: &Path) -> io::Result<PathBuf> {
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
    Ok(())
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
    copy_entry(src, dst, owner, mode, keep_owner, true)
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

/// [`copy_tree`], or with `recursive` false a directory without its contents.
fn copy_entry(
    src: &Path,
    dst: &Path,
    owner: Option<(u32, u32)>,
    mode: Option<u32>,
    keep_owner: bool,
    recursive: bool,
) -> io::Result<()> {
    let (meta, uid, gid) = source_owner(src, owner, keep_owner)?;
    let ft = meta.file_type();
    if fs::symlink_metadata(dst).is_ok_and(|m| !(m.is_dir() && ft.is_dir())) {
        remove_any(dst)?;
    }
    if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
        std::os::unix::fs::lchown(dst, Some(uid), Some(gid))?;
        return Ok(());
    }
    if ft.is_dir() {
        if !dst.exists() {
            fs::create_dir(dst)?;
        }
        for entry in fs::read_dir(src)?.filter(|_| recursive) {
            let entry = entry?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()), owner, mode, keep_owner)?;
        }
    } else if ft.is_file() {
        fs::copy(src, dst).map_err(|e| io::Error::new(e.kind(), format!("cannot copy {}: {e}", src.display())))?;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{}: special files are not copied yet", src.display()),
        ));
    }
    std::os::unix::fs::chown(dst, Some(uid), Some(gid))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(mode.unwrap_or(meta.mode() & 0o7777)))?;
    Ok(())
}

/// Writes the config and manifest blobs of a finished stage and names it.
fn write_image(store: &Store, state: StageState, tags: &[String]) -> Result<Built, BuildError> {
    let mut config = state.config;
    config.created = Some(created());
    let config_bytes = serde_json::to_vec(&config).map_err(io::Error::other)?;
    let (config_digest, _, descriptor) = image::put_manifest(store, &config_bytes, state.layers)?;
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
