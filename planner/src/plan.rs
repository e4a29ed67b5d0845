//! Cache keys and the dry-run plan: for every step of the step graph, its
//! content-addressed key, whether the store already has it, and for every
//! miss the reasons (which instruction, ARG, ENV or file changed).
//!
//! A step's key is the sha256 of a canonical JSON of its [`CacheInputs`]:
//! the parent step's key (or the base image), the instruction after
//! expansion in canonical form, the state it runs in (workdir, user, shell),
//! the ARG and ENV values it sees and uses, and for COPY/ADD the digest of
//! every selected source entry (path, type, mode, size, link target,
//! content — never mtime). What "uses" means: RUN sees every ENV value and
//! every ARG declared in its stage (they are its environment, as in
//! BuildKit); other instructions use the variables they expand.

use slipway_parser::graph::{Edge, StepGraph, StepKind};
use slipway_parser::model::{Base, Command, CommandLine, CopySpec, Model};
use slipway_parser::syntax::{Dockerfile, Instruction};
use slipway_store::platform::Platform;
use slipway_store::{CacheInputs, CacheRecord, Store};
use std::collections::{BTreeMap, BTreeSet};

/// Where COPY/ADD sources come from: the build context (or a test double).
pub trait Sources {
    /// The entries a COPY/ADD selects, as sorted `(path, entry digest)`, or an error.
    fn select(&self, sources: &[String], excludes: &[String], parents: bool) -> Result<Vec<(String, String)>, String>;
}

/// No build context: every COPY/ADD from the context fails to select.
pub struct NoContext;

impl Sources for NoContext {
    fn select(&self, sources: &[String], _: &[String], _: bool) -> Result<Vec<(String, String)>, String> {
        Err(format!("no build context for {}", sources.join(" ")))
    }
}

/// Options of a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Identifies the Dockerfile across builds (its path, as given).
    pub dockerfile_id: String,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--no-cache-filter`: stage names (or indices) whose steps must rebuild.
    pub no_cache_filter: Vec<String>,
    /// Build args given with `--build-arg`.
    pub build_args: BTreeMap<String, String>,
    /// The target platform (`None`: the host's). A stage without `FROM --platform` is built
    /// for it, so its base step's key names it when it is not the host's.
    pub platform: Option<slipway_parser::model::PlatformArgs>,
}

/// Hit or miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Hit,
    Miss,
}

/// One step of the plan.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedStep {
    pub id: usize,
    pub stage: String,
    pub line: usize,
    /// The instruction, never cut: its logical line (continuations joined), then the
    /// body and terminator of each heredoc.
    pub instruction: String,
    pub cache_key: String,
    pub status: Status,
    pub reasons: Vec<String>,
    /// Why the step's sources cannot be selected (a COPY source not in the context):
    /// such a plan is reported, and fails.
    pub errors: Vec<String>,
    pub depends_on: Vec<usize>,
    /// A RUN step of a stage built for a platform this machine cannot run natively: the
    /// platform (it runs under QEMU user-mode emulation, commonly 10-20x slower).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulated: Option<String>,
    /// The logical line with whitespace squeezed, for one row of a table.
    #[serde(skip)]
    pub summary: String,
    /// Where `summary` differs from the instruction of the step's last build.
    #[serde(skip)]
    pub change: TextChange,
    #[serde(skip)]
    pub kind: Option<StepKind>,
    #[serde(skip)]
    pub inputs: CacheInputs,
    #[serde(skip)]
    pub step_identity: String,
}

/// Whether, and where, a step's instruction differs from the one its last build ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TextChange {
    /// The same text, or no earlier build to compare with.
    #[default]
    Same,
    /// Changed; the first changed word is at these bytes of the step's `summary`.
    At(std::ops::Range<usize>),
    /// Changed where `summary` does not show it (a heredoc body, an expanded variable, `--link`).
    Elsewhere,
}

/// Counts over the plan.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub steps: usize,
    pub hits: usize,
    pub misses: usize,
    pub stages: usize,
    pub target: String,
    /// The platform planned for, when one was asked (`--platform`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// RUN steps that would run (misses) under emulation.
    #[serde(skip_serializing_if = "is_zero")]
    pub emulated: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The plan of a build.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub steps: Vec<PlannedStep>,
    pub summary: Summary,
}

/// The state a stage's steps run in, as config instructions change it.
#[derive(Clone, Default)]
struct StageState {
    env: BTreeMap<String, String>,
    args: BTreeMap<String, String>,
    workdir: String,
    user: String,
    shell: Vec<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    slipway_store::hex(&sha2::Sha256::digest(bytes))
}

/// A base image's descriptor in the store, by its name as written (`bb` → `docker.io/library/bb:latest`);
/// for `oci-layout://PATH[:tag|@digest]`, the descriptor in that layout (read, not copied).
/// A name of an image index gives the manifest for `platform` (None: the host's, and a plain
/// manifest is taken whatever its config says); with a platform, a plain manifest only when
/// its config matches.
fn base_ref(store: &Store, name: &str, platform: Option<&Platform>) -> Option<slipway_store::Descriptor> {
    if let Some(r) = name.strip_prefix(slipway_store::layout::SCHEME) {
        return slipway_store::layout::parse_reference(r)
            .ok()
            .and_then(|r| slipway_store::layout::resolve(&r).ok());
    }
    let full = slipway_store::image::normalize_name(name).unwrap_or_else(|_| name.to_string());
    if let Some(d) = store.get_ref(&full).ok().flatten() {
        return match platform {
            Some(p) => store.descriptor_for(&d, p).ok().flatten(),
            None if slipway_store::image::is_index(&d.media_type) => {
                store.descriptor_for(&d, &Platform::host()).ok().flatten()
            }
            None => Some(d),
        };
    }
    // `FROM <image ID>` (or a unique prefix of one, as Docker accepts): an image of the
    // store, named or not, whose config digest starts so.
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.len() < 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut found = store.images().ok()?.into_iter().filter_map(|(_, d)| {
        let manifest: slipway_store::image::Manifest = serde_json::from_slice(&store.get_blob(&d.digest).ok()?).ok()?;
        manifest.config.digest.hex().starts_with(hex).then_some(d)
    });
    let first = found.next()?;
    found.all(|d| d.digest == first.digest).then_some(first)
}

/// The key of a set of inputs.
pub fn cache_key(inputs: &CacheInputs, extra: &BTreeMap<String, String>) -> String {
    let canonical = serde_json::json!({ "v": 1, "inputs": inputs, "state": extra });
    sha256_hex(canonical.to_string().as_bytes())
}

/// Variables referenced as `$NAME` or `${NAME…` in a text.
fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let mut j = i + 1;
            if b.get(j) == Some(&b'{') {
                j += 1;
            }
            let start = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > start {
                out.insert(text[start..j].to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn instruction_words(inst: &Instruction) -> String {
    let mut parts: Vec<String> = vec![inst.name.clone()];
    parts.extend(inst.flags.iter().map(|f| f.text.clone()));
    parts.extend(inst.args.words().iter().map(|w| w.text.clone()));
    parts.join(" ")
}

/// The canonical, expanded form of a step's instruction.
fn canonical(command: Option<&Command>, inst: &Instruction) -> String {
    match command {
        Some(Command::Run {
            command,
            mounts,
            network,
            security,
        }) => {
            let line = match command {
                CommandLine::Exec(v) => serde_json::to_string(v).unwrap_or_default(),
                CommandLine::Shell(s) => s.clone(),
            };
            let heredocs: Vec<String> = inst
                .heredocs
                .iter()
                .map(|h| format!("<<{}:{}", h.name, h.chomped_content()))
                .collect();
            serde_json::json!({"RUN": line, "mounts": mounts, "network": network, "security": security, "heredocs": heredocs}).to_string()
        }
        Some(Command::Copy(c)) => copy_canonical("COPY", c, inst),
        Some(Command::Add(c)) => copy_canonical("ADD", c, inst),
        Some(Command::Workdir { path }) => format!("WORKDIR {path}"),
        _ => instruction_words(inst),
    }
}

fn copy_canonical(kind: &str, c: &CopySpec, inst: &Instruction) -> String {
    let heredocs: BTreeMap<&str, String> = inst
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.chomped_content()))
        .collect();
    serde_json::json!({
        kind: { "sources": c.sources, "dest": c.dest, "from": c.from, "chown": c.chown, "chmod": c.chmod,
                "link": c.link, "exclude": c.exclude, "parents": c.parents, "checksum": c.checksum,
                "keep_git_dir": c.keep_git_dir, "unpack": c.unpack, "heredocs": heredocs }
    })
    .to_string()
}

/// Plans a build: keys for every step of `graph`, looked up in `store`.
pub fn plan(
    file: &Dockerfile,
    model: &Model,
    graph: &StepGraph,
    sources: &dyn Sources,
    store: Option<&Store>,
    options: &PlanOptions,
) -> Plan {
    let stage_name = |s: usize| model.stages[s].name.clone().unwrap_or_else(|| s.to_string());
    let filtered: BTreeSet<usize> = options
        .no_cache_filter
        .iter()
        .filter_map(|f| model.stage_by_ref(f))
        .collect();
    let mut keys: BTreeMap<usize, String> = BTreeMap::new(); // node index → key
    let mut missed: BTreeSet<usize> = BTreeSet::new();
    let mut states: BTreeMap<usize, StageState> = BTreeMap::new(); // stage → state after its last step
    let mut steps = Vec::new();
    let mut position_in_stage: BTreeMap<usize, usize> = BTreeMap::new();
    let order: Vec<_> = graph.levels().into_iter().flatten().collect();
    // Process in file order within the dependency order: sort each node by (stage, instruction) but
    // parents always come first in `levels`, so a stable walk of `order` is enough.
    let mut state_of_stage: BTreeMap<usize, StageState> = BTreeMap::new();
    for node in order {
        let step = &graph.graph[node];
        let inst = &file.instructions[step.instruction];
        let needs = graph.needs(node);
        let mut state = match step.kind {
            StepKind::Base => match model.stages[step.stage].base {
                Base::Stage(s) => states.get(&s).cloned().unwrap_or_default(),
                _ => StageState {
                    shell: vec!["/bin/sh".into(), "-c".into()],
                    ..StageState::default()
                },
            },
            _ => state_of_stage.get(&step.stage).cloned().unwrap_or_default(),
        };
        if matches!(step.kind, StepKind::Base) {
            state.args.clear();
        }
        // Fold config instructions before this step into the state.
        for &ci in &step.config {
            apply_config(&mut state, model, ci);
        }
        let command = model.commands.get(step.instruction).and_then(Option::as_ref);
        if let Some(Command::Workdir { path }) = command {
            state.workdir = join_workdir(&state.workdir, path);
        }

        let mut inputs = CacheInputs {
            instruction: canonical(command, inst),
            ..CacheInputs::default()
        };
        let mut reasons_extra = Vec::new();
        let mut errors = Vec::new();
        match step.kind {
            StepKind::Base => {
                let stage_platform = crate::request::stage_platform(model, options.platform.as_ref(), step.stage);
                // A stage's platform: its `--platform`, else the target's when that is not
                // the host's (a host build's keys stay what they were).
                let platform = model.stages[step.stage].platform.clone().unwrap_or_else(|| {
                    options
                        .platform
                        .as_ref()
                        .filter(|p| **p != slipway_parser::model::PlatformArgs::host())
                        .map(|p| p.specifier())
                        .unwrap_or_default()
                });
                inputs.parent = Some(match &model.stages[step.stage].base {
                    Base::Scratch => format!("scratch{platform}"),
                    Base::Image(r) => match store.and_then(|s| base_ref(s, r, stage_platform.as_ref())) {
                        Some(d) => format!("image {r} {}{platform}", d.digest),
                        None => format!("image {r}{platform}"),
                    },
                    Base::Stage(s) => graph.stage_last[*s]
                        .and_then(|n| keys.get(&n.index()).cloned())
                        .unwrap_or_default(),
                });
                inputs.instruction = format!("FROM {}", model.stages[step.stage].base_text);
            }
            _ => {
                inputs.parent = needs
                    .iter()
                    .find(|(_, e)| *e == Edge::Parent)
                    .and_then(|(n, _)| keys.get(&n.index()).cloned());
            }
        }
        // Variables seen and used.
        let used: BTreeSet<String> = match step.kind {
            StepKind::Run => state.env.keys().chain(state.args.keys()).cloned().collect(),
            _ => referenced(&inst.original),
        };
        for name in used {
            if let Some(v) = state.args.get(&name) {
                inputs.args.insert(name.clone(), v.clone());
            } else if let Some(v) = state.env.get(&name) {
                inputs.env.insert(name, v.clone());
            }
        }
        // Files a RUN reads through a bind mount of the build context are inputs too.
        if let Some(Command::Run { mounts, .. }) = command {
            for m in mounts
                .iter()
                .filter(|m| m.kind == slipway_parser::values::MountType::Bind && m.from.is_none())
            {
                let source = m.source.clone().unwrap_or_else(|| ".".into());
                match sources.select(std::slice::from_ref(&source), &[], false) {
                    Ok(files) => inputs
                        .files
                        .extend(files.into_iter().map(|(p, d)| (format!("mount:{p}"), d))),
                    Err(e) => {
                        reasons_extra.push(format!("cannot read bind mount source: {e}"));
                        errors.push(format!("bind mount source: {e}"));
                    }
                }
            }
        }
        // COPY/ADD sources.
        if let Some(Command::Copy(c) | Command::Add(c)) = command {
            match c.from.as_deref().and_then(|f| model.stage_by_ref(f)) {
                Some(s) => {
                    let key = graph.stage_last[s]
                        .and_then(|n| keys.get(&n.index()).cloned())
                        .unwrap_or_default();
                    inputs.files.insert(format!("stage:{}", stage_name(s)), key);
                }
                None if c.from.is_some() => {
                    inputs
                        .files
                        .insert(format!("image:{}", c.from.clone().unwrap_or_default()), String::new());
                }
                None => {
                    let local: Vec<String> = c
                        .sources
                        .iter()
                        .filter(|s| !s.contains("://") && !s.starts_with("git@"))
                        .cloned()
                        .collect();
                    if !local.is_empty() {
                        match sources.select(&local, &c.exclude, c.parents) {
                            Ok(files) => inputs.files.extend(files),
                            Err(e) => {
                                reasons_extra.push(format!("cannot select sources: {e}"));
                                errors.push(e);
                            }
                        }
                    }
                    for url in c.sources.iter().filter(|s| s.contains("://") || s.starts_with("git@")) {
                        inputs.files.insert(url.clone(), c.checksum.clone().unwrap_or_default());
                    }
                }
            }
        }
        let mut extra = BTreeMap::new();
        if step.kind != StepKind::Base {
            extra.insert("workdir".to_string(), state.workdir.clone());
            extra.insert("user".to_string(), state.user.clone());
            if step.kind == StepKind::Run {
                extra.insert("shell".to_string(), state.shell.join(" "));
            }
        }
        let key = cache_key(&inputs, &extra);

        let pos = position_in_stage.entry(step.stage).or_insert(0);
        let identity = format!("{}#{}#{}", options.dockerfile_id, stage_name(step.stage), pos);
        *pos += 1;

        // Hit or miss, and why.
        let parent_missed = needs.iter().any(|(n, _)| missed.contains(&n.index()));
        let cached = store.and_then(|s| s.get_cache(&key).ok().flatten()).is_some();
        let forced = options.no_cache || filtered.contains(&step.stage);
        let status = if cached && !forced && !parent_missed && step.kind != StepKind::Base {
            Status::Hit
        } else {
            Status::Miss
        };
        let status = if step.kind == StepKind::Base {
            // A base is a hit when it is known (stage bases follow their stage; images need to be in the store).
            match &model.stages[step.stage].base {
                Base::Scratch => Status::Hit,
                Base::Stage(_) if !parent_missed => Status::Hit,
                Base::Image(r)
                    if store
                        .and_then(|s| {
                            let p = crate::request::stage_platform(model, options.platform.as_ref(), step.stage);
                            base_ref(s, r, p.as_ref())
                        })
                        .is_some()
                        && !forced =>
                {
                    Status::Hit
                }
                _ => Status::Miss,
            }
        } else {
            status
        };
        let summary = squeeze(&inst.original);
        let previous = match status {
            Status::Miss => store.and_then(|s| s.last_for_step(&identity).ok().flatten()),
            Status::Hit => None,
        };
        let change = previous.as_ref().map_or(TextChange::Same, |p| {
            text_change(&p.inputs.instruction, &inputs.instruction, &summary)
        });
        let mut reasons = Vec::new();
        if status == Status::Miss {
            if forced {
                reasons.push(if options.no_cache {
                    "--no-cache".to_string()
                } else {
                    format!("--no-cache-filter {}", stage_name(step.stage))
                });
            }
            if step.kind == StepKind::Base {
                match &model.stages[step.stage].base {
                    Base::Image(r) => reasons.push(match r.strip_prefix(slipway_store::layout::SCHEME) {
                        Some(l) => match slipway_store::layout::parse_reference(l) {
                            Ok(lr) => match slipway_store::layout::resolve(&lr) {
                                Err(e) => format!("base image {r}: {e}"),
                                Ok(_) => format!("base image {r} is forced to rebuild"),
                            },
                            Err(e) => format!("base image {r}: {e}"),
                        },
                        None => format!("base image {r} is not in the store"),
                    }),
                    Base::Stage(s) => reasons.push(format!("stage {} rebuilds", stage_name(*s))),
                    Base::Scratch => {}
                }
            } else if !forced {
                if parent_missed {
                    for (n, e) in &needs {
                        if missed.contains(&n.index()) {
                            reasons.push(match e {
                                Edge::Parent | Edge::BaseStage => "parent step missed".to_string(),
                                Edge::CopyFrom => {
                                    format!("source stage {} rebuilds", stage_name(graph.graph[*n].stage))
                                }
                                Edge::MountFrom => {
                                    format!("mounted stage {} rebuilds", stage_name(graph.graph[*n].stage))
                                }
                            });
                        }
                    }
                }
                if !parent_missed {
                    reasons.extend(explain(previous.as_ref(), &inputs));
                }
                reasons.extend(reasons_extra);
            }
            reasons.dedup();
            if reasons.is_empty() {
                reasons.push("not in the cache".into());
            }
            missed.insert(node.index());
        }
        keys.insert(node.index(), key.clone());
        state_of_stage.insert(step.stage, state.clone());
        if graph.stage_last[step.stage] == Some(node) {
            let mut end = state;
            for &ci in &graph.stage_tail[step.stage] {
                apply_config(&mut end, model, ci);
            }
            states.insert(step.stage, end);
        }
        steps.push(PlannedStep {
            id: node.index(),
            stage: stage_name(step.stage),
            line: inst.start_line,
            instruction: whole(inst),
            cache_key: key,
            status,
            reasons,
            errors,
            depends_on: needs.iter().map(|(n, _)| n.index()).collect(),
            emulated: (step.kind == StepKind::Run)
                .then(|| crate::request::stage_platform(model, options.platform.as_ref(), step.stage))
                .flatten()
                .filter(|p| !p.runs_natively_on(&Platform::host()))
                .map(|p| p.to_string()),
            summary,
            change,
            kind: Some(step.kind),
            inputs,
            step_identity: identity,
        });
    }
    steps.sort_by_key(|s| s.id);
    let hits = steps.iter().filter(|s| s.status == Status::Hit).count();
    let summary = Summary {
        steps: steps.len(),
        hits,
        misses: steps.len() - hits,
        stages: graph.stage_last.iter().filter(|s| s.is_some()).count(),
        target: stage_name(graph.target),
        platform: options.platform.as_ref().map(|p| p.specifier()),
        emulated: steps
            .iter()
            .filter(|s| s.status == Status::Miss && s.emulated.is_some())
            .count(),
    };
    Plan { steps, summary }
}

/// An instruction as the plan shows it in JSON: the logical line, then every heredoc's
/// body and terminator, as written.
fn whole(inst: &Instruction) -> String {
    let mut out = inst.original.trim_end().to_string();
    for h in &inst.heredocs {
        out.push('\n');
        out.push_str(&h.content);
        out.push_str(&h.name);
    }
    out
}

/// One line with runs of whitespace made one space.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words of a canonical instruction ([`canonical`]): its JSON's string values split
/// on whitespace, in order, and its other values; a plain one split on whitespace.
fn canonical_words(canonical: &str) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value;
        match v {
            Value::String(s) => out.extend(s.split_whitespace().map(String::from)),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            Value::Null => {}
            other => out.push(other.to_string()),
        }
    }
    match serde_json::from_str::<serde_json::Value>(canonical) {
        Ok(v @ serde_json::Value::Object(_)) => {
            let mut out = Vec::new();
            walk(&v, &mut out);
            out
        }
        _ => canonical.split_whitespace().map(String::from).collect(),
    }
}

/// Where `summary` (the instruction now) shows the first word in which canonical
/// instruction `now` differs from `old`.
fn text_change(old: &str, now: &str, summary: &str) -> TextChange {
    if old == now {
        return TextChange::Same;
    }
    let (old, now) = (canonical_words(old), canonical_words(now));
    let Some(first) = (0..now.len().max(old.len())).find(|&i| old.get(i) != now.get(i)) else {
        return TextChange::Elsewhere;
    };
    let Some(word) = now.get(first) else {
        // Words were removed at the end: the end of the text is what changed.
        return TextChange::At(summary.len()..summary.len());
    };
    // Past the words before it that the text shows, so a repeated word is found in its place.
    let mut from = 0;
    for w in &now[..first] {
        if let Some(at) = summary[from..].find(w.as_str()) {
            from += at + w.len();
        }
    }
    match summary[from..]
        .find(word.as_str())
        .map(|at| at + from)
        .or_else(|| summary.find(word.as_str()))
    {
        Some(at) => TextChange::At(at..at + word.len()),
        None => TextChange::Elsewhere,
    }
}

fn join_workdir(current: &str, path: &str) -> String {
    if path.starts_with('/') || current.is_empty() {
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        }
    } else {
        format!("{}/{}", current.trim_end_matches('/'), path)
    }
}

fn apply_config(state: &mut StageState, model: &Model, ci: usize) {
    match model.commands.get(ci).and_then(Option::as_ref) {
        Some(Command::Env { pairs }) => state.env.extend(pairs.iter().cloned()),
        Some(Command::Arg { .. }) => {
            // The value as the model resolved it (as the runner sets it): `--build-arg`,
            // else the default, else the global ARG's, which for `ARG TARGETARCH` is the
            // target platform's. An ARG with none of them is not set.
            for v in model
                .vars
                .iter()
                .filter(|v| v.instruction == ci && v.kind == slipway_parser::model::VarKind::Arg)
            {
                if let Some(value) = &v.value {
                    state.args.insert(v.name.clone(), value.clone());
                }
            }
        }
        Some(Command::User { user }) => state.user = user.clone(),
        Some(Command::Shell { shell }) => state.shell = shell.clone(),
        Some(Command::Workdir { path }) => state.workdir = join_workdir(&state.workdir, path),
        _ => {}
    }
}

/// Why `now` differs from the last time this step was built.
pub fn explain(previous: Option<&CacheRecord>, now: &CacheInputs) -> Vec<String> {
    let Some(prev) = previous else {
        return vec!["never built before".into()];
    };
    let old = &prev.inputs;
    let mut reasons = Vec::new();
    if old.instruction != now.instruction {
        reasons.push("instruction text changed".into());
    }
    for (what, a, b) in [("ARG", &old.args, &now.args), ("ENV", &old.env, &now.env)] {
        for (k, v) in b {
            match a.get(k) {
                Some(o) if o != v => reasons.push(format!("{what} {k} changed {} → {}", short(o), short(v))),
                None => reasons.push(format!("{what} {k} set to {}", short(v))),
                _ => {}
            }
        }
        for k in a.keys().filter(|k| !b.contains_key(*k)) {
            reasons.push(format!("{what} {k} no longer set"));
        }
    }
    reasons.extend(file_changes(&old.files, &now.files));
    if reasons.is_empty() && old.parent != now.parent {
        reasons.push("parent step changed".into());
    }
    if reasons.is_empty() {
        reasons.push("build state changed (workdir, user or shell)".into());
    }
    reasons
}

fn short(v: &str) -> String {
    let v = if v.is_empty() { "\"\"" } else { v };
    if v.chars().count() > 40 {
        format!("{}…", v.chars().take(39).collect::<String>())
    } else {
        v.to_string()
    }
}

/// "file a modified", "3 files added under src/", … — grouped by directory when many.
fn file_changes(old: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<String> {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut modified = Vec::new();
    for (p, d) in now {
        match old.get(p) {
            None => added.push(p.as_str()),
            Some(o) if o != d => modified.push(p.as_str()),
            _ => {}
        }
    }
    for p in old.keys().filter(|p| !now.contains_key(*p)) {
        removed.push(p.as_str());
    }
    let mut out = Vec::new();
    for (verb, list) in [("modified", modified), ("added", added), ("removed", removed)] {
        out.extend(group(verb, &list));
    }
    out
}

fn group(verb: &str, paths: &[&str]) -> Vec<String> {
    let describe = |p: &str| {
        if let Some(stage) = p.strip_prefix("stage:") {
            format!("stage {stage} output")
        } else if let Some(mounted) = p.strip_prefix("mount:") {
            format!("bind-mounted file {mounted}")
        } else {
            format!("file {p}")
        }
    };
    if paths.len() <= 3 {
        return paths.iter().map(|p| format!("{} {verb}", describe(p))).collect();
    }
    // Group by top-level directory.
    let mut by_dir: BTreeMap<String, usize> = BTreeMap::new();
    for p in paths {
        let dir = p.rsplit_once('/').map_or(String::new(), |(d, _)| format!("{d}/"));
        *by_dir.entry(dir).or_default() += 1;
    }
    by_dir
        .into_iter()
        .map(|(dir, n)| {
            let what = if n == 1 {
                "file".to_string()
            } else {
                format!("{n} files")
            };
            if dir.is_empty() {
                format!("{what} {verb} at the context root")
            } else {
                format!("{what} {verb} under {dir}")
            }
        })
        .collect()
}

/// Records every step of a plan in the store's cache index, as a build would
/// after running them (used by tests and, later, by the runner).
pub fn record(plan: &Plan, store: &Store, created: u64) -> std::io::Result<()> {
    for s in &plan.steps {
        store.put_cache(&CacheRecord {
            key: s.cache_key.clone(),
            step: s.step_identity.clone(),
            inputs: s.inputs.clone(),
            result: None,
            created,
        })?;
    }
    Ok(())
}

impl Sources for crate::context::Context {
    fn select(&self, sources: &[String], excludes: &[String], parents: bool) -> Result<Vec<(String, String)>, String> {
        let selection = crate::context::Context::select(self, sources, excludes, parents).map_err(|e| e.to_string())?;
        Ok(selection
            .files
            .iter()
            .map(|f| (f.path.clone(), f.fingerprint()))
            .collect())
    }
}
