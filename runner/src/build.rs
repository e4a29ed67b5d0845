//! `slipway build`: runs a plan. Stages are built one after the other in the step
//! graph's `levels()` order. Every step that makes files (RUN, COPY, ADD, WORKDIR) runs
//! or copies into a fresh overlayfs upper dir over the stage's layers so far, and the
//! upper dir becomes the step's layer ([`image::commit_layer`]); its cache record
//! (`result`: the layer, its diff_id in the `org.slipway.diff_id` annotation) is written
//! only once the step completed. A cache hit whose layer blob exists is reused as is.
//! Config-only instructions change the image config and add `empty_layer` history.

use crate::container::{self, ContainerSpec, Network, Rootfs};
use crate::image;
use crate::layer::LayerOptions;
use slipway_parser::graph::StepKind;
use slipway_parser::model::{Base, Command, CommandLine, CopySpec};
use slipway_planner::context::EntryKind;
use slipway_planner::plan::Status;
use slipway_planner::request::Planned;
use slipway_store::image::{normalize_name, History, ImageConfig, Manifest, RootFs, RunConfig};
use slipway_store::{CacheRecord, Descriptor, Digest, Store, MEDIA_CONFIG, MEDIA_MANIFEST};
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
    /// `-q`: no progress.
    pub quiet: bool,
    /// `--build-arg`s (as the plan was made with).
    pub build_args: Vec<(String, String)>,
    /// `--secret`s by id, for `RUN --mount=type=secret`. Never part of a cache key.
    pub secrets: BTreeMap<String, SecretSource>,
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
    /// A RUN exited non-zero: the message names the step and line.
    Step(String),
    Io(io::Error),
}

impl From<io::Error> for BuildError {
    fn from(e: io::Error) -> Self {
        BuildError::Io(e)
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Step(m) => f.write_str(m),
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

/// A stage being built: its layers, config, and the state its steps run in.
#[derive(Clone, Default)]
struct StageState {
    layers: Vec<Descriptor>,
    /// Unpacked layer dirs, bottom first.
    dirs: Vec<PathBuf>,
    config: ImageConfig,
    args: BTreeMap<String, String>,
    shell: Vec<String>,
    /// CMD set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
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

    /// A file's text as the merged rootfs has it (top layer wins).
    fn read(&self, name: &str) -> String {
        self.dirs
            .iter()
            .rev()
            .find_map(|l| fs::read_to_string(l.join(name)).ok())
            .unwrap_or_default()
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

/// Runs the plan of `planned`: builds the target stage and names it.
pub fn build(store: &Store, planned: &Planned, options: &BuildOptions) -> Result<Built, BuildError> {
    // Layers are written before a cache record or ref names them: no prune meanwhile.
    let _in_use = store.lock_in_use()?;
    let plan = &planned.plan;
    let model = &planned.model;
    let graph = &planned.graph;
    let file = &planned.file;
    let dockerfile_name = planned
        .dockerfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| planned.dockerfile.display().to_string());
    let build_args: BTreeMap<String, String> = options.build_args.iter().cloned().collect();
    let by_id: BTreeMap<usize, &slipway_planner::plan::PlannedStep> = plan.steps.iter().map(|s| (s.id, s)).collect();
    let order: Vec<_> = graph.levels().into_iter().flatten().collect();
    let total = order.len();
    let mut per_stage_total: BTreeMap<usize, usize> = BTreeMap::new();
    for n in &order {
        *per_stage_total.entry(graph.graph[*n].stage).or_default() += 1;
    }
    let mut per_stage_pos: BTreeMap<usize, usize> = BTreeMap::new();
    let mut states: BTreeMap<usize, StageState> = BTreeMap::new(); // running
    let mut finished: BTreeMap<usize, StageState> = BTreeMap::new();
    let work = store
        .root()
        .join("builds")
        .join(format!("{}-{}", std::process::id(), now()));
    fs::create_dir_all(&work)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", work.display())))?;
    let result = (|| -> Result<Built, BuildError> {
        let mut counter = 0usize;
        for node in order {
            counter += 1;
            let step = &graph.graph[node];
            let planned_step = by_id
                .get(&node.index())
                .ok_or_else(|| io::Error::other(format!("no planned step {}", node.index())))?;
            let inst = &file.instructions[step.instruction];
            let pos = per_stage_pos.entry(step.stage).or_default();
            *pos += 1;
            let stage_label = model.stages[step.stage]
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{}", step.stage));
            let header = format!(
                "#{counter} [{stage_label} {pos}/{}] {}",
                per_stage_total[&step.stage],
                first_line(&inst.original)
            );
            let mut state = if step.kind == StepKind::Base {
                base_state(store, model, step.stage, &finished)?
            } else {
                states.remove(&step.stage).unwrap_or_default()
            };
            for &ci in &step.config {
                apply_config(
                    &mut state,
                    model.commands.get(ci).and_then(Option::as_ref),
                    &file.instructions[ci].original,
                    &build_args,
                );
            }
            if step.kind == StepKind::Base {
                if !options.quiet {
                    eprintln!("{header}");
                }
            } else {
                let command = model.commands.get(step.instruction).and_then(Option::as_ref);
                // A hit whose layer is still in the store is reused.
                let cached = (planned_step.status == Status::Hit)
                    .then(|| store.get_cache(&planned_step.cache_key).ok().flatten())
                    .flatten()
                    .and_then(|r| r.result)
                    .filter(|d| store.has_blob(&d.digest) && d.annotations.contains_key(DIFF_ID_ANNOTATION));
                let layer = match cached {
                    Some(d) => {
                        if !options.quiet {
                            eprintln!("{header}\n#{counter} CACHED");
                        }
                        d
                    }
                    None => {
                        if !options.quiet {
                            eprintln!("{header}");
                        }
                        let started = std::time::Instant::now();
                        let dir = work.join(format!("step-{counter}"));
                        let layer = run_step(store, &dir, &state, command, planned, &finished, &options.secrets)
                            .map_err(|e| match e {
                                BuildError::Step(m) => BuildError::Step(format!(
                                    "step {counter}/{total} at {dockerfile_name}:{}: {} {m}",
                                    inst.start_line,
                                    first_line(&inst.original)
                                )),
                                BuildError::Io(e) => BuildError::Io(io::Error::new(
                                    e.kind(),
                                    format!(
                                        "step {counter}/{total} at {dockerfile_name}:{}: {}: {e}",
                                        inst.start_line,
                                        first_line(&inst.original)
                                    ),
                                )),
                            })?;
                        let _ = fs::remove_dir_all(&dir);
                        store.put_cache(&CacheRecord {
                            key: planned_step.cache_key.clone(),
                            step: planned_step.step_identity.clone(),
                            inputs: planned_step.inputs.clone(),
                            result: Some(layer.clone()),
                            created: now(),
                        })?;
                        if !options.quiet {
                            eprintln!("#{counter} DONE {:.1}s", started.elapsed().as_secs_f64());
                        }
                        layer
                    }
                };
                let diff_id: Digest = layer.annotations[DIFF_ID_ANNOTATION]
                    .parse()
                    .map_err(|e: String| io::Error::new(io::ErrorKind::InvalidData, e))?;
                let dir = image::unpack_layer(store, &layer, &diff_id)?;
                let mut plain = layer.clone();
                plain.annotations.clear();
                state.layers.push(plain);
                state.dirs.push(dir);
                state.config.rootfs.diff_ids.push(diff_id);
                if let Some(Command::Workdir { path }) = command {
                    let wd = join_path(&state.workdir(), path);
                    state.config.config.working_dir = Some(wd);
                }
                state.config.history.push(History {
                    created: Some(created()),
                    created_by: Some(history_text(&inst.original, command, &state)),
                    comment: Some("slipway build".into()),
                    empty_layer: false,
                });
            }
            if graph.stage_last[step.stage] == Some(node) {
                for &ci in &graph.stage_tail[step.stage] {
                    apply_config(
                        &mut state,
                        model.commands.get(ci).and_then(Option::as_ref),
                        &file.instructions[ci].original,
                        &build_args,
                    );
                }
                finished.insert(step.stage, state);
            } else {
                states.insert(step.stage, state);
            }
        }
        let target = finished
            .remove(&graph.target)
            .ok_or_else(|| io::Error::other("the target stage was not built"))?;
        write_image(store, target, &options.tags)
    })();
    let _ = fs::remove_dir_all(&work);
    result
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
            let dirs = image::unpack_image(store, &img)?;
            StageState {
                layers: img.manifest.layers.clone(),
                dirs,
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
fn run_step(
    store: &Store,
    dir: &Path,
    state: &StageState,
    command: Option<&Command>,
    planned: &Planned,
    finished: &BTreeMap<usize, StageState>,
    secrets: &BTreeMap<String, SecretSource>,
) -> Result<Descriptor, BuildError> {
    let _ = fs::remove_dir_all(dir);
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
        crate::user::resolve(spec, &state.read("etc/passwd"), &state.read("etc/group"))
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
                None | Some("default" | "host") => Network::Host,
                Some("none") => Network::None,
                Some(n) => {
                    return Err(
                        io::Error::new(io::ErrorKind::Unsupported, format!("--network={n} is not supported")).into(),
                    )
                }
            };
            match security.as_deref() {
                None | Some("sandbox") => {}
                Some(s) => {
                    return Err(
                        io::Error::new(io::ErrorKind::Unsupported, format!("--security={s} is not supported")).into(),
                    )
                }
            }
            let mut prepared = RunMounts::default();
            for m in mounts {
                prepare_mount(store, dir, state, m, planned, finished, secrets, &mut prepared)?;
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
            let lower = if state.dirs.is_empty() {
                vec![empty.clone()]
            } else {
                state.dirs.clone()
            };
            let spec = ContainerSpec {
                rootfs: Rootfs::Overlay {
                    lower,
                    upper: upper.clone(),
                    work: workd,
                    merged,
                },
                argv: line_of(command, &state.shell()),
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
            };
            let status = container::run(&spec);
            drop(prepared);
            let status = status?;
            if !status.success() {
                use std::os::unix::process::ExitStatusExt;
                let code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1);
                return Err(BuildError::Step(format!("exited with code {code}")));
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
            ensure_dir(&upper, &state.dirs, &target, Some((user.uid, user.gid)))?;
        }
        Some(Command::Copy(c) | Command::Add(c)) => copy(store, &upper, state, c, planned, finished, &user_of)?,
        _ => {}
    }
    let info = image::commit_layer(store, &upper, &LayerOptions::default())?;
    let mut annotations = BTreeMap::new();
    annotations.insert(DIFF_ID_ANNOTATION.to_string(), info.diff_id.to_string());
    Ok(Descriptor {
        media_type: info.media_type.into(),
        digest: info.digest,
        size: info.size,
        annotations,
    })
}

/// What a RUN's `--mount`s need: the container mounts, env vars (secrets with `env=`),
/// and what must live until the RUN ends (temp dirs, locks).
#[derive(Default)]
struct RunMounts {
    mounts: Vec<container::Mount>,
    env: Vec<(String, String)>,
    temps: Vec<TempDir>,
    locks: Vec<fs::File>,
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
    secrets: &BTreeMap<String, SecretSource>,
    out: &mut RunMounts,
) -> Result<(), BuildError> {
    use slipway_parser::values::{MountType, Sharing};
    let workdir = state.workdir();
    let target = m.target.as_deref().map(|t| PathBuf::from(join_path(&workdir, t)));
    let need_target = || {
        target
            .clone()
            .ok_or_else(|| unsupported(format!("--mount=type={}: a target is required", m.kind.as_str())))
    };
    let scratch = dir.join("mounts");
    match m.kind {
        MountType::Ssh => return Err(unsupported("ssh mounts are not supported yet".into())),
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
                            .dirs
                            .clone(),
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
fn ensure_dir(upper: &Path, lowers: &[PathBuf], target: &str, owner: Option<(u32, u32)>) -> io::Result<()> {
    let mut rel = PathBuf::new();
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
    for (i, p) in parts.iter().enumerate() {
        rel.push(p);
        let here = upper.join(&rel);
        if fs::symlink_metadata(&here).is_ok() {
            continue;
        }
        let lower = lowers
            .iter()
            .rev()
            .find_map(|l| fs::metadata(l.join(&rel)).ok().filter(|m| m.is_dir()));
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

/// One thing to copy: a host path and its destination (absolute, in the image).
struct Item {
    host: PathBuf,
    dest: String,
}

fn copy(
    store: &Store,
    upper: &Path,
    state: &StageState,
    c: &CopySpec,
    planned: &Planned,
    finished: &BTreeMap<usize, StageState>,
    user_of: &dyn Fn(&str) -> io::Result<crate::user::ExecUser>,
) -> Result<(), BuildError> {
    if !c.heredocs.is_empty() || c.sources.iter().any(|s| s.contains("://") || s.starts_with("git@")) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "COPY/ADD of heredocs, URLs and git sources is not supported yet",
        )
        .into());
    }
    let workdir = state.workdir();
    let dest_is_dir = c.dest.ends_with('/') || c.sources.len() > 1 || c.sources.iter().any(|s| has_wildcard(s));
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
    let _assembled; // keeps a --from temp dir alive while copying
    match &c.from {
        Some(from) => {
            let stage = planned.model.stage_by_ref(from);
            let src_state = match stage {
                Some(s) => finished
                    .get(&s)
                    .cloned()
                    .ok_or_else(|| io::Error::other(format!("stage {from} was not built")))?,
                None => {
                    let img = image::resolve(store, from)?;
                    let dirs = image::unpack_image(store, &img)?;
                    StageState {
                        dirs,
                        ..StageState::default()
                    }
                }
            };
            let tmp = tempdir_in(&store.root().join("builds"))?;
            for src in &c.sources {
                if has_wildcard(src) {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!("COPY --from with wildcards ({src}) is not supported yet"),
                    )
                    .into());
                }
                let rel = join_path("/", src);
                let at = tmp.join(format!("{}", items.len()));
                fs::create_dir_all(&at)?;
                let name = Path::new(&rel)
                    .file_name()
                    .map(|n| n.to_owned())
                    .unwrap_or_else(|| "root".into());
                let host = at.join(&name);
                assemble(&src_state.dirs, rel.trim_start_matches('/'), &host)?;
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
                items.push(Item { host, dest: d });
            }
            keep_owner = true;
            _assembled = Some(TempDir(tmp));
        }
        None => {
            _assembled = None;
            let sel = planned
                .context
                .select(&c.sources, &c.exclude, c.parents)
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
            let kinds: BTreeMap<&str, EntryKind> = sel.files.iter().map(|f| (f.path.as_str(), f.kind)).collect();
            let root = planned.context.root();
            for (src, paths) in &sel.per_source {
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
                    });
                }
            }
        }
    }
    if dest_is_dir || dir_source {
        ensure_dir(upper, &state.dirs, &dest, owner)?;
    }
    for item in &items {
        let parent = Path::new(&item.dest)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        ensure_dir(upper, &state.dirs, &parent, None)?;
        copy_tree(
            &item.host,
            &upper.join(item.dest.trim_start_matches('/')),
            owner,
            mode,
            keep_owner,
        )?;
    }
    Ok(())
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
fn copy_tree(src: &Path, dst: &Path, owner: Option<(u32, u32)>, mode: Option<u32>, keep_owner: bool) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", src.display())))?;
    let (uid, gid) = owner.unwrap_or(if keep_owner { (meta.uid(), meta.gid()) } else { (0, 0) });
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
        for entry in fs::read_dir(src)? {
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
    let config_digest = store.put_blob(&config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_MANIFEST.into()),
        config: Descriptor {
            media_type: MEDIA_CONFIG.into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
            annotations: BTreeMap::new(),
        },
        layers: state.layers,
        annotations: BTreeMap::new(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    let descriptor = Descriptor {
        media_type: MEDIA_MANIFEST.into(),
        digest: store.put_blob(&manifest_bytes)?,
        size: manifest_bytes.len() as u64,
        annotations: BTreeMap::new(),
    };
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
