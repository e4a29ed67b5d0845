//! The semantic model: stages, ARG/ENV scopes and expansion as BuildKit's
//! Dockerfile frontend resolves them, and BuildKit's build checks on top.
//!
//! What the model cannot know without image metadata: the base image's
//! environment (only `PATH` is assumed) and its platform
//! (`InvalidBaseImagePlatform` is therefore not checked here).

use crate::diagnostics::{codes, did_you_mean, Diagnostic, Edit, Phase};
use crate::shell::Lexer;
use crate::syntax::{Args, Dockerfile, Instruction, Keyword, Span, Word};
use crate::CheckOptions;
use std::collections::{BTreeMap, BTreeSet};

/// ARGs BuildKit predefines in the global scope (FROM lines and `ARG NAME` without value).
pub const PREDEFINED_ARGS: [&str; 11] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
];

/// The ARGs BuildKit predefines for proxies: `--build-arg` sets them for RUN without an
/// `ARG` instruction, and they stay out of the image.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Stage names BuildKit reserves.
pub const RESERVED_STAGE_NAMES: [&str; 2] = ["context", "scratch"];

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Base {
    /// `FROM scratch`.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference, ARGs expanded.
    Image(String),
}

/// A build stage: one FROM and the instructions up to the next.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stage {
    pub index: usize,
    /// Lowercased `AS` name.
    pub name: Option<String>,
    pub name_span: Option<Span>,
    /// Index of the FROM in `Dockerfile::instructions`.
    pub from: usize,
    pub base: Base,
    /// The base as written, and its span.
    pub base_text: String,
    pub base_span: Span,
    /// `--platform`, expanded.
    pub platform: Option<String>,
    /// Indices of the stage's instructions after FROM.
    pub instructions: Vec<usize>,
    /// Stages this one needs (its base, `COPY --from`, `RUN --mount=from=`).
    pub depends_on: BTreeSet<usize>,
}

/// Where a variable comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VarKind {
    /// An ARG before the first FROM.
    MetaArg,
    Arg,
    Env,
}

/// A variable definition, in file order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VarDef {
    pub name: String,
    /// The value after expansion (and `--build-arg`), if it has one.
    pub value: Option<String>,
    pub kind: VarKind,
    /// The stage it belongs to (`None` for meta ARGs).
    pub stage: Option<usize>,
    /// The defining instruction, and the span of the name.
    pub instruction: usize,
    pub span: Span,
}

/// What a Dockerfile means.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Model {
    pub stages: Vec<Stage>,
    /// Every ARG and ENV definition, in order.
    pub vars: Vec<VarDef>,
    /// The instruction index where each stage ends up, for instructions outside any stage: `None`.
    pub stage_of: Vec<Option<usize>>,
    /// Every instruction inside a stage, expanded where BuildKit expands it and typed.
    pub commands: Vec<Option<Command>>,
    #[serde(skip)]
    pub diagnostics: Vec<Diagnostic>,
    /// The first stage of each (lowercased) name: references resolve in constant time, so
    /// files with thousands of stages stay linear.
    #[serde(skip)]
    names: std::collections::HashMap<String, usize>,
    /// What the next analysis after an edit can reuse.
    #[serde(skip)]
    pub(crate) memo: Memo,
}

/// Where each stage's results are in a [`Model`], and what its analysis started and
/// ended with: what [`reanalyze`] needs to move a stage over instead of analysing it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memo {
    /// How many diagnostics and variables come before the first stage's.
    prelude: (usize, usize),
    /// Per stage: the end of its diagnostics and of its variables.
    ends: Vec<(usize, usize)>,
    /// Per stage: the scope it ends with.
    scopes: Vec<Scope>,
    /// Per stage: whether it was moved over from the previous model unchanged.
    pub(crate) reused: Vec<bool>,
    global: BTreeMap<String, String>,
    global_declared: BTreeSet<String>,
    stage_names: Vec<(usize, String)>,
}

impl Model {
    /// Which stages [`reanalyze`] moved over from the previous model (all `false` after a
    /// whole analysis).
    pub fn moved_stages(&self) -> &[bool] {
        &self.memo.reused
    }

    /// The stage a name or index (`--from=build`, `--from=0`) refers to.
    pub fn stage_by_ref(&self, reference: &str) -> Option<usize> {
        if let Some(&i) = self.names.get(reference.to_ascii_lowercase().as_str()) {
            return Some(i);
        }
        reference.parse::<usize>().ok().filter(|&i| i < self.stages.len())
    }

    /// Adds a stage (the first of a name is the one its name refers to).
    fn push_stage(&mut self, stage: Stage) {
        if let Some(name) = &stage.name {
            self.names.entry(name.clone()).or_insert(stage.index);
        }
        self.stages.push(stage);
    }
}

fn warn(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
    let rule = crate::rules::find(code);
    let mut d = Diagnostic::warning(code, span, message);
    if let Some(r) = rule {
        d.help = Some(format!("{} ({})", r.description, r.url));
        d.severity = r.severity;
    }
    d
}

/// The scope a stage's instructions are expanded in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Scope {
    env: BTreeMap<String, String>,
    /// ARGs declared in the stage, with or without a value.
    declared: BTreeSet<String>,
    shell_set: bool,
    workdir_set: bool,
}

/// How a stage of a re-analysis compares with the same stage before the edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Same {
    /// Moved over unchanged.
    Moved,
    /// Analysed again, and ends with the same scope.
    Equal,
    /// Analysed again, and ends with another scope.
    Changed,
}

/// The model a re-analysis starts from, taken apart stage by stage, in order.
struct Old<'c> {
    change: &'c crate::Change,
    stages: std::vec::IntoIter<Stage>,
    diagnostics: std::vec::IntoIter<Diagnostic>,
    vars: std::vec::IntoIter<VarDef>,
    commands: Vec<Option<Command>>,
    stage_of: Vec<Option<usize>>,
    scopes: Vec<Scope>,
    ends: Vec<(usize, usize)>,
    /// How many diagnostics and variables have been taken.
    taken: (usize, usize),
    /// Each old stage's instructions (its FROM included).
    ranges: Vec<std::ops::Range<usize>>,
    same: Vec<Same>,
}

impl<'c> Old<'c> {
    /// `None` when nothing can be reused: the edit changed the number of stages (`froms`:
    /// the new file's FROM instructions, of `n`).
    fn new(model: Model, change: &'c crate::Change, froms: &[usize], n: usize) -> Option<Old<'c>> {
        let m = &model.memo;
        let count = model.stages.len();
        if m.ends.len() != count || m.scopes.len() != count || count != froms.len() {
            return None;
        }
        let old_n = n
            .checked_add(change.replaced.len())?
            .checked_sub(change.new_end - change.replaced.start)?;
        if model.stage_of.len() != old_n {
            return None;
        }
        let ranges = (0..count)
            .map(|k| model.stages[k].from..model.stages.get(k + 1).map_or(old_n, |s| s.from))
            .collect();
        let Model {
            stages,
            vars,
            commands,
            stage_of,
            diagnostics,
            memo: old_memo,
            ..
        } = model;
        let mut diagnostics = diagnostics.into_iter();
        let mut vars = vars.into_iter();
        diagnostics.by_ref().take(old_memo.prelude.0).for_each(drop);
        vars.by_ref().take(old_memo.prelude.1).for_each(drop);
        Some(Old {
            change,
            stages: stages.into_iter(),
            diagnostics,
            vars,
            commands,
            stage_of,
            scopes: old_memo.scopes,
            ends: old_memo.ends,
            taken: old_memo.prelude,
            ranges,
            same: Vec::with_capacity(count),
        })
    }

    /// Moves old stage `k` into `model` when the edit left it and the scope it starts
    /// from alone; returns the scope it ends with. Otherwise (the stage must be analysed
    /// again) `None`, and the old stage is dropped.
    fn take(&mut self, k: usize, new: std::ops::Range<usize>, model: &mut Model) -> Option<Scope> {
        let stage = self.stages.next()?;
        let (d_end, v_end) = self.ends[k];
        let mut diagnostics: Vec<Diagnostic> = self.diagnostics.by_ref().take(d_end - self.taken.0).collect();
        let vars: Vec<VarDef> = self.vars.by_ref().take(v_end - self.taken.1).collect();
        self.taken = (d_end, v_end);
        let c = self.change;
        let old = self.ranges[k].clone();
        let base_same = match stage.base {
            Base::Stage(p) => self.same.get(p).is_some_and(|s| *s != Same::Changed),
            _ => true,
        };
        if c.touched(old.clone()) || c.touches(new.clone()) || c.instruction(old.start) != Some(new.start) || !base_same
        {
            return None;
        }
        if !diagnostics.iter_mut().all(|d| c.move_diagnostic(d)) {
            return None;
        }
        let vars: Vec<VarDef> = vars
            .into_iter()
            .map(|mut v| {
                v.span = c.span(&v.span)?;
                v.instruction = c.instruction(v.instruction)?;
                Some(v)
            })
            .collect::<Option<_>>()?;
        let name_span = match &stage.name_span {
            Some(s) => Some(c.span(s)?),
            None => None,
        };
        let base_span = c.span(&stage.base_span)?;
        let instructions: Vec<usize> = stage
            .instructions
            .iter()
            .map(|&i| c.instruction(i))
            .collect::<Option<_>>()?;
        for (i, j) in std::iter::once(old.start)
            .chain(stage.instructions.iter().copied())
            .zip(std::iter::once(new.start).chain(instructions.iter().copied()))
        {
            model.commands[j] = self.commands[i].take();
            model.stage_of[j] = self.stage_of[i];
        }
        model.push_stage(Stage {
            from: new.start,
            name_span,
            base_span,
            instructions,
            ..stage
        });
        model.vars.extend(vars);
        model.diagnostics.extend(diagnostics);
        self.same.push(Same::Moved);
        Some(std::mem::take(&mut self.scopes[k]))
    }

    /// Stage `k` was analysed again and ends with `scope`.
    fn redone(&mut self, k: usize, scope: &Scope) {
        let same = if self.scopes.get(k) == Some(scope) {
            Same::Equal
        } else {
            Same::Changed
        };
        self.same.push(same);
    }
}

struct Analyzer<'a> {
    text: &'a str,
    file: &'a Dockerfile,
    options: &'a CheckOptions,
    lexer: Lexer,
    model: Model,
    build_args: BTreeMap<String, String>,
    /// Global scope: predefined args and meta ARGs with values.
    global: BTreeMap<String, String>,
    global_declared: BTreeSet<String>,
    /// Every stage's `AS` name by stage index, known before the walk (for forward references).
    stage_names: Vec<(usize, String)>,
    /// The FROM instruction index of every stage.
    stage_froms: Vec<usize>,
}

/// Builds the model and runs BuildKit's build checks.
pub fn analyze(text: &str, file: &Dockerfile, options: &CheckOptions) -> Model {
    Analyzer::new(text, file, options).finish(None)
}

/// The model of `file` (`text`), an incremental re-parse (`change`) of the file `old` was
/// built from, with the same options: stages the change did not touch, whose bases end
/// with the same scope, are moved over from `old` instead of being analysed again. The
/// same result as [`analyze`] (the parser's tests check that on random edits).
pub fn reanalyze(text: &str, file: &Dockerfile, options: &CheckOptions, old: Model, change: &crate::Change) -> Model {
    Analyzer::new(text, file, options).finish(Some((old, change)))
}

impl<'a> Analyzer<'a> {
    fn new(text: &'a str, file: &'a Dockerfile, options: &'a CheckOptions) -> Analyzer<'a> {
        let mut a = Analyzer {
            text,
            file,
            options,
            lexer: Lexer::new(file.escape),
            model: Model {
                stage_of: vec![None; file.instructions.len()],
                commands: vec![None; file.instructions.len()],
                ..Model::default()
            },
            build_args: options.build_args.iter().cloned().collect(),
            global: predefined_values(options.platform.as_ref()),
            global_declared: BTreeSet::new(),
            stage_names: Vec::new(),
            stage_froms: Vec::new(),
        };
        for (i, inst) in file
            .instructions
            .iter()
            .enumerate()
            .filter(|(_, x)| x.keyword == Some(Keyword::From))
        {
            let index = a.stage_froms.len();
            a.stage_froms.push(i);
            if let Args::Words(w) = &inst.args {
                if w.len() == 3 && w[1].text.eq_ignore_ascii_case("as") {
                    a.stage_names.push((index, w[2].text.to_ascii_lowercase()));
                }
            }
        }
        // TARGETSTAGE: the target, else the last stage.
        let target = options.target.clone().or_else(|| {
            a.stage_names
                .iter()
                .find(|(i, _)| i + 1 == a.stage_froms.len())
                .map(|(_, n)| n.clone())
        });
        a.global.insert("TARGETSTAGE".into(), target.unwrap_or_default());
        a
    }

    /// The model, built from `old` where the change left it alone.
    fn finish(mut self, old: Option<(Model, &crate::Change)>) -> Model {
        self.run(old);
        self.casing();
        self.model
    }
}

/// A platform as the predefined ARGs name it (`TARGETOS`, `TARGETARCH`, `TARGETVARIANT`),
/// already normalised (`arm64`, not `aarch64`; `arm` with its variant).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlatformArgs {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformArgs {
    /// The machine's own platform (what `BUILDPLATFORM` is).
    pub fn host() -> PlatformArgs {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "x86" => ("386", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        PlatformArgs {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(String::from),
        }
    }

    /// `os/arch[/variant]`.
    pub fn specifier(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// Values the predefined ARGs take for a build for `target` (default: the host's
/// platform) on this machine.
fn predefined_values(target: Option<&PlatformArgs>) -> BTreeMap<String, String> {
    let build = PlatformArgs::host();
    let target = target.unwrap_or(&build);
    let (build_platform, target_platform) = (build.specifier(), target.specifier());
    [
        ("BUILDPLATFORM", build_platform.as_str()),
        ("BUILDOS", build.os.as_str()),
        ("BUILDOSVERSION", ""),
        ("BUILDARCH", build.architecture.as_str()),
        ("BUILDVARIANT", build.variant.as_deref().unwrap_or("")),
        ("TARGETPLATFORM", target_platform.as_str()),
        ("TARGETOS", target.os.as_str()),
        ("TARGETOSVERSION", ""),
        ("TARGETARCH", target.architecture.as_str()),
        ("TARGETVARIANT", target.variant.as_deref().unwrap_or("")),
        ("TARGETSTAGE", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl<'a> Analyzer<'a> {
    fn push(&mut self, d: Diagnostic) {
        self.model.diagnostics.push(d);
    }

    fn run(&mut self, old: Option<(Model, &crate::Change)>) {
        let file = self.file;
        let n = file.instructions.len();
        let first = self.stage_froms.first().copied().unwrap_or(n);
        for (i, inst) in file.instructions[..first].iter().enumerate() {
            let Some(kw) = inst.keyword else { continue };
            if kw == Keyword::Arg {
                self.meta_arg(i, inst);
            } else {
                self.push(
                    Diagnostic::error(
                        codes::NO_STAGE,
                        Phase::Build,
                        inst.name_span.clone(),
                        "no build stage in current context",
                    )
                    .with_label(format!("{kw} before the first FROM"))
                    .with_help("only ARG may come before the first FROM; move this below a FROM"),
                );
            }
        }
        let mut memo = Memo {
            prelude: (self.model.diagnostics.len(), self.model.vars.len()),
            ..Memo::default()
        };
        // Nothing can be moved over when what comes before the first FROM or the stage
        // names changed.
        let same_prelude = |m: &Memo| {
            m.global == self.global && m.global_declared == self.global_declared && m.stage_names == self.stage_names
        };
        let mut old = old
            .filter(|(model, _)| same_prelude(&model.memo))
            .and_then(|(model, change)| Old::new(model, change, &self.stage_froms, n));
        let mut scopes: Vec<Scope> = Vec::with_capacity(self.stage_froms.len());
        for k in 0..self.stage_froms.len() {
            let from = self.stage_froms[k];
            let end = self.stage_froms.get(k + 1).copied().unwrap_or(n);
            let reused = old.as_mut().and_then(|o| o.take(k, from..end, &mut self.model));
            let scope = match reused {
                Some(scope) => scope,
                None => {
                    let scope = self.stage(k, from, end, &scopes);
                    if let Some(o) = old.as_mut() {
                        o.redone(k, &scope);
                    }
                    scope
                }
            };
            memo.reused.push(old.as_ref().is_some_and(|o| o.same[k] == Same::Moved));
            scopes.push(scope);
            memo.ends.push((self.model.diagnostics.len(), self.model.vars.len()));
        }
        memo.scopes = scopes;
        // The analysis is done with them (the casing check does not read them).
        memo.global = std::mem::take(&mut self.global);
        memo.global_declared = std::mem::take(&mut self.global_declared);
        memo.stage_names = std::mem::take(&mut self.stage_names);
        self.model.memo = memo;
    }

    /// Analyses stage `k`: its FROM (instruction `from`) and the instructions up to `end`.
    /// Returns the scope it ends with.
    fn stage(&mut self, k: usize, from: usize, end: usize, scopes: &[Scope]) -> Scope {
        let file = self.file;
        let mut scope = self.from(from, &file.instructions[from], scopes);
        // MultipleInstructionsDisallowed: where each once-only instruction last was.
        let mut seen_once: BTreeMap<Keyword, usize> = BTreeMap::new();
        for (i, inst) in file.instructions.iter().enumerate().take(end).skip(from + 1) {
            let Some(kw) = inst.keyword else { continue };
            self.model.stage_of[i] = Some(k);
            self.model.stages[k].instructions.push(i);
            if matches!(kw, Keyword::Cmd | Keyword::Entrypoint | Keyword::Healthcheck) {
                if let Some(&prev) = seen_once.get(&kw) {
                    let p = &file.instructions[prev];
                    self.push(
                        warn(
                            "MultipleInstructionsDisallowed",
                            p.name_span.clone(),
                            format!("Multiple {} instructions should not be used in the same stage because only the last one will be used", p.name.to_uppercase()),
                        )
                        .with_label("this one is overridden")
                        .with_related(inst.name_span.clone(), "by this one")
                        .with_fix("remove the overridden instruction", vec![Edit { span: line_span(self.text, &p.span), text: String::new() }]),
                    );
                }
                seen_once.insert(kw, i);
            }
            self.instruction(i, inst, k, &mut scope);
        }
        scope
    }

    /// An ARG before the first FROM.
    /// The name and default of one ARG word, after the checks every ARG gets
    /// (blank name, secrets); `None` when the word has no name.
    fn arg_word(&mut self, w: &Word) -> Option<(String, Option<(String, Span)>)> {
        let (name, default) = split_arg(w);
        if name.is_empty() {
            self.push(
                Diagnostic::error(
                    codes::MISSING_ARGUMENTS,
                    Phase::Build,
                    w.span.clone(),
                    "ARG names can not be blank",
                )
                .with_label("no name before `=`")
                .with_help("write `ARG NAME=default`"),
            );
            return None;
        }
        self.secret_check("ARG", &name, name_span(w, &name));
        Some((name, default))
    }

    fn meta_arg(&mut self, i: usize, inst: &Instruction) {
        let Args::Words(words) = &inst.args else { return };
        for w in words {
            let Some((name, default)) = self.arg_word(w) else {
                continue;
            };
            let value = if let Some(v) = self.build_args.get(&name) {
                Some(v.clone())
            } else if let Some((d, dspan)) = default {
                match self.lexer.process_word(&d, &self.global) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.expansion_error(&e.message, dspan);
                        None
                    }
                }
            } else {
                self.global
                    .get(&name)
                    .cloned()
                    .filter(|_| PREDEFINED_ARGS.contains(&name.as_str()))
            };
            if let Some(v) = &value {
                self.global.insert(name.clone(), v.clone());
            }
            self.global_declared.insert(name.clone());
            self.model.vars.push(VarDef {
                name: name.clone(),
                value,
                kind: VarKind::MetaArg,
                stage: None,
                instruction: i,
                span: name_span(w, &name),
            });
        }
        self.definition_description(inst, words.iter().map(|w| split_arg(w).0).collect());
    }

    fn from(&mut self, i: usize, inst: &Instruction, scopes: &[Scope]) -> Scope {
        let index = self.model.stages.len();
        let Args::Words(words) = &inst.args else {
            self.model.push_stage(Stage {
                index,
                name: None,
                name_span: None,
                from: i,
                base: Base::Scratch,
                base_text: String::new(),
                base_span: inst.name_span.clone(),
                platform: None,
                instructions: Vec::new(),
                depends_on: BTreeSet::new(),
            });
            return Scope::default();
        };
        let base_word = &words[0];
        let (name, name_span) = match words.as_slice() {
            [_, as_kw, n] if as_kw.text.eq_ignore_ascii_case("as") => {
                self.check_from_casing(inst, as_kw, n);
                (Some(n.text.to_ascii_lowercase()), Some(n.span.clone()))
            }
            _ => (None, None),
        };
        if let (Some(n), Some(span)) = (&name, &name_span) {
            if !valid_stage_name(n) {
                self.push(
                    Diagnostic::error(
                        codes::INVALID_STAGE_NAME,
                        Phase::Build,
                        span.clone(),
                        format!(
                            "invalid name for build stage: {}, name can't start with a number or contain symbols",
                            crate::buildkit::go_quote(&words[2].text)
                        ),
                    )
                    .with_label("not a valid stage name")
                    .with_help("start with a letter; use only letters, digits, `-`, `_` and `.`"),
                );
            }
            if RESERVED_STAGE_NAMES.contains(&n.as_str()) {
                self.push(
                    warn(
                        "ReservedStageName",
                        span.clone(),
                        format!(
                            "Stage name should not use the same name as reserved stage {}",
                            crate::buildkit::go_quote(n)
                        ),
                    )
                    .with_label("reserved"),
                );
            }
            if let Some(prev) = self.model.names.get(n.as_str()).map(|&k| &self.model.stages[k]) {
                let prev_span = prev.name_span.clone().unwrap_or(prev.base_span.clone());
                self.push(
                    warn(
                        "DuplicateStageName",
                        span.clone(),
                        format!(
                            "Duplicate stage name {}, stage names should be unique",
                            crate::buildkit::go_quote(n)
                        ),
                    )
                    .with_label("second stage with this name")
                    .with_related(prev_span, "first defined here"),
                );
            }
            if let Some(n) = &name {
                self.definition_description(inst, vec![n.clone()]);
            }
        }

        // Base name and platform, expanded with the global scope.
        let base_text = base_word.text.clone();
        let expanded = match self.lexer.process_word_with_matches(&base_text, &self.global) {
            Ok(x) => {
                self.undefined_in_from(&x.unmatched, base_word);
                x.result
            }
            Err(e) => {
                self.expansion_error(&e.message, base_word.span.clone());
                base_text.clone()
            }
        };
        self.invalid_default_arg(base_word);
        let mut platform = None;
        if let Some(flag) = inst.flag("platform") {
            if let Some(v) = &flag.value {
                match self.lexer.process_word_with_matches(v, &self.global) {
                    Ok(x) => {
                        let vspan = flag.value_span.clone().unwrap_or(flag.span.clone());
                        let w = Word {
                            text: v.clone(),
                            span: vspan.clone(),
                        };
                        self.undefined_in_from(&x.unmatched, &w);
                        if x.matched.len() == 1
                            && x.unmatched.is_empty()
                            && x.matched.contains("TARGETPLATFORM")
                            && Some(&x.result) == self.global.get("TARGETPLATFORM")
                        {
                            self.push(
                                warn("RedundantTargetPlatform", flag.span.clone(), format!("Setting platform to predefined {v} in FROM is redundant as this is the default behavior"))
                                    .with_label("the default already")
                                    .with_fix("remove the flag", vec![Edit { span: flag.span.start..skip_blanks(self.text, flag.span.end), text: String::new() }]),
                            );
                        }
                        let constant = (x.matched.is_empty() && x.unmatched.is_empty())
                            .then(|| parse_platform(&x.result))
                            .flatten();
                        if let Some((os, arch)) = constant {
                            let named_for_it = name.as_deref().is_some_and(|n| n.contains(&os) || n.contains(&arch));
                            if !named_for_it {
                                self.push(
                                    warn(
                                        "FromPlatformFlagConstDisallowed",
                                        vspan,
                                        format!(
                                            "FROM --platform flag should not use constant value {}",
                                            crate::buildkit::go_quote(&x.result)
                                        ),
                                    )
                                    .with_label("a constant platform"),
                                );
                            }
                        }
                        platform = Some(x.result);
                    }
                    Err(e) => self.expansion_error(&e.message, flag.span.clone()),
                }
            }
        }

        if expanded.is_empty() {
            self.push(
                Diagnostic::error(
                    codes::BLANK_BASE,
                    Phase::Build,
                    base_word.span.clone(),
                    format!("base name ({}) should not be blank", base_text),
                )
                .with_label("expands to nothing")
                .with_help("give the ARG a default before the first FROM, or pass it with --build-arg"),
            );
        }
        let (base, scope) = if expanded.eq_ignore_ascii_case("scratch") {
            (Base::Scratch, Scope::default())
        } else if let Some(s) = self.model.stage_by_ref_before(&expanded, index) {
            // The child starts from the parent's state: its environment (ARG values
            // included) and its SHELL; declarations and WORKDIR tracking start afresh.
            let mut inherited = scopes.get(s).cloned().unwrap_or_default();
            inherited.declared.clear();
            inherited.workdir_set = false;
            (Base::Stage(s), inherited)
        } else {
            let mut sc = Scope::default();
            // The image's environment is unknown here; every image sets PATH.
            sc.env.insert(
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
            (Base::Image(expanded), sc)
        };
        let mut depends_on = BTreeSet::new();
        if let Base::Stage(s) = base {
            depends_on.insert(s);
        }
        self.model.push_stage(Stage {
            index,
            name,
            name_span,
            from: i,
            base,
            base_text,
            base_span: base_word.span.clone(),
            platform,
            instructions: Vec::new(),
            depends_on,
        });
        self.model.stage_of[i] = Some(index);
        scope
    }

    fn check_from_casing(&mut self, inst: &Instruction, as_kw: &Word, name: &Word) {
        if name.text != name.text.to_ascii_lowercase() {
            self.push(
                warn(
                    "StageNameCasing",
                    name.span.clone(),
                    format!("Stage name '{}' should be lowercase", name.text),
                )
                .with_label("not lowercase")
                .with_fix(
                    "lowercase the stage name",
                    vec![Edit {
                        span: name.span.clone(),
                        text: name.text.to_ascii_lowercase(),
                    }],
                ),
            );
        }
        let from = &inst.name;
        let lower = *from == from.to_ascii_lowercase();
        let upper = *from == from.to_ascii_uppercase();
        if (lower && as_kw.text != as_kw.text.to_ascii_lowercase())
            || (upper && !lower && as_kw.text != as_kw.text.to_ascii_uppercase())
        {
            let want = if lower {
                as_kw.text.to_ascii_lowercase()
            } else {
                as_kw.text.to_ascii_uppercase()
            };
            self.push(
                warn(
                    "FromAsCasing",
                    as_kw.span.clone(),
                    format!("'{}' and '{}' keywords' casing do not match", as_kw.text, from),
                )
                .with_label(format!("write `{want}` to match `{from}`"))
                .with_fix(
                    format!("write `{want}`"),
                    vec![Edit {
                        span: as_kw.span.clone(),
                        text: want.clone(),
                    }],
                ),
            );
        }
    }

    fn undefined_in_from(&mut self, unmatched: &BTreeSet<String>, word: &Word) {
        for name in unmatched {
            if self.global_declared.contains(name) || self.build_args.contains_key(name) {
                continue;
            }
            let candidates: Vec<&str> = self.global_declared.iter().map(String::as_str).collect();
            let suggestion = did_you_mean(name, candidates.iter().copied());
            let mut message = format!("FROM argument '{name}' is not declared");
            if let Some(s) = suggestion {
                message.push_str(&format!(" (did you mean {s}?)"));
            }
            let span = var_span(self.text, word, name);
            let mut d = warn("UndefinedArgInFrom", span, message).with_label("not declared before the first FROM");
            d.help = Some(format!("declare it before the first FROM: `ARG {name}=<default>`"));
            self.push(d);
        }
    }

    /// InvalidDefaultArgInFrom: with only ARG defaults (no build args), the base must be a valid reference.
    fn invalid_default_arg(&mut self, base: &Word) {
        if !base.text.contains('$') {
            return;
        }
        let mut defaults = predefined_values(self.options.platform.as_ref());
        // Meta ARGs come first (they are before the first FROM).
        for v in self.model.vars.iter().take_while(|v| v.kind == VarKind::MetaArg) {
            if let Some(x) = v.value.as_ref().filter(|_| !self.build_args.contains_key(&v.name)) {
                defaults.insert(v.name.clone(), x.clone());
            }
        }
        // Re-expand defaults only (a build arg may be what makes it valid).
        let Ok(x) = self.lexer.process_word_with_matches(&base.text, &defaults) else {
            return;
        };
        if !x.result.eq_ignore_ascii_case("scratch") && !valid_reference(&x.result) {
            self.push(
                warn(
                    "InvalidDefaultArgInFrom",
                    base.span.clone(),
                    format!(
                        "Default value for ARG {} results in empty or invalid base image name",
                        base.text
                    ),
                )
                .with_label(if x.result.is_empty() {
                    "empty with the ARG defaults".to_string()
                } else {
                    format!("`{}` with the ARG defaults", x.result)
                }),
            );
        }
    }

    fn definition_description(&mut self, inst: &Instruction, names: Vec<String>) {
        let Some(last) = inst.comments.last() else { return };
        if names.is_empty() {
            return;
        }
        let first = last.split(' ').next().unwrap_or("");
        if names.iter().any(|n| n == first) {
            return;
        }
        let example = if names.len() > 1 {
            "<arg_key>".to_string()
        } else {
            names[0].clone()
        };
        let what = if inst.keyword == Some(Keyword::From) {
            "FROM"
        } else {
            "ARG"
        };
        self.push(
            warn(
                "InvalidDefinitionDescription",
                inst.name_span.clone(),
                format!("Comment for {what} should follow the format: `# {example} <description>`"),
            )
            .with_label("the comment above does not start with the name"),
        );
    }

    fn secret_check(&mut self, instruction: &str, key: &str, span: Span) {
        if is_secret_name(key) {
            self.push(
                warn(
                    "SecretsUsedInArgOrEnv",
                    span,
                    format!(
                        "Do not use ARG or ENV instructions for sensitive data ({instruction} {})",
                        crate::buildkit::go_quote(key)
                    ),
                )
                .with_label("ends up in the image's history"),
            );
        }
    }

    fn expansion_error(&mut self, message: &str, span: Span) {
        self.push(
            Diagnostic::error(codes::EXPANSION, Phase::Build, span, message.to_string())
                .with_label("cannot expand this")
                .with_help("close every quote and `${`; escape a literal `$` as `\\$`"),
        );
    }

    /// Expands a word in a stage, reporting UndefinedVar. Returns the expansion.
    fn expand(&mut self, word: &Word, scope: &Scope) -> Option<String> {
        self.expand_matches(word, scope).map(|(result, _)| result)
    }

    /// [`Self::expand`], with the names that had no value (empty in the result).
    fn expand_matches(&mut self, word: &Word, scope: &Scope) -> Option<(String, BTreeSet<String>)> {
        match self.lexer.process_word_with_matches(&word.text, &scope.env) {
            Ok(x) => {
                for name in &x.unmatched {
                    if scope.declared.contains(name) || name.starts_with("BUILDKIT_SBOM_SCAN_") {
                        continue;
                    }
                    let keys: Vec<&str> = scope.env.keys().map(String::as_str).collect();
                    let suggestion = did_you_mean(name, keys.iter().copied());
                    let mut message = format!("Usage of undefined variable '${name}'");
                    if let Some(s) = suggestion {
                        message.push_str(&format!(" (did you mean ${s}?)"));
                    }
                    let mut d = warn("UndefinedVar", var_span(self.text, word, name), message)
                        .with_label("not defined at this point");
                    d.help = Some(format!(
                        "define it earlier in this stage (`ARG {name}` or `ENV {name}=...`); ARGs from before FROM must be declared again inside the stage"
                    ));
                    self.push(d);
                }
                Some((x.result, x.unmatched))
            }
            Err(e) => {
                self.expansion_error(&e.message, word.span.clone());
                None
            }
        }
    }

    fn instruction(&mut self, i: usize, inst: &Instruction, stage: usize, scope: &mut Scope) {
        let Some(kw) = inst.keyword else { return };
        self.model.commands[i] = Some(resolve(&self.lexer, inst, &scope.env));
        match (kw, &inst.args) {
            (Keyword::Arg, Args::Words(words)) => {
                for w in words {
                    let Some((name, default)) = self.arg_word(w) else {
                        continue;
                    };
                    let value = if let Some(v) = self.build_args.get(&name) {
                        Some(v.clone())
                    } else if let Some((d, dspan)) = default {
                        self.expand(&Word { text: d, span: dspan }, scope)
                    } else {
                        self.global.get(&name).cloned()
                    };
                    if let Some(v) = &value {
                        scope.env.insert(name.clone(), v.clone());
                    }
                    scope.declared.insert(name.clone());
                    self.model.vars.push(VarDef {
                        name: name.clone(),
                        value,
                        kind: VarKind::Arg,
                        stage: Some(stage),
                        instruction: i,
                        span: name_span(w, &name),
                    });
                }
                self.definition_description(inst, words.iter().map(|w| split_arg(w).0).collect());
            }
            (Keyword::Env | Keyword::Label, Args::KeyValues(kvs)) => {
                // Every pair of one ENV is expanded with the environment before it
                // (`ENV a=1 b=$a` gives b the old a), so assignments wait.
                let mut assigned = Vec::new();
                for kv in kvs {
                    if kv.key.text.is_empty() {
                        self.push(
                            Diagnostic::error(
                                codes::MISSING_ARGUMENTS,
                                Phase::Build,
                                kv.key.span.start..kv.value.span.end,
                                format!("{kw} names can not be blank"),
                            )
                            .with_label("no name before `=`")
                            .with_help(format!("write `{kw} NAME=value`")),
                        );
                    }
                    if !kv.equals {
                        let mut d = warn(
                            "LegacyKeyValueFormat",
                            inst.span.start..kv.value.span.end,
                            format!("\"{kw} key=value\" should be used instead of legacy \"{kw} key value\" format"),
                        )
                        .with_label("legacy form");
                        if let Some(fix) = legacy_fix(kv) {
                            d = d.with_fix(
                                format!("write `{kw} {}`", fix.1),
                                vec![Edit {
                                    span: kv.key.span.start..kv.value.span.end,
                                    text: fix.1,
                                }],
                            );
                        }
                        self.push(d);
                    }
                    let key = self.expand(&kv.key, scope).unwrap_or_else(|| kv.key.text.clone());
                    let value = self.expand(&kv.value, scope);
                    if kw == Keyword::Env {
                        self.secret_check("ENV", &key, kv.key.span.clone());
                        if let Some(v) = &value {
                            assigned.push((key.clone(), v.clone()));
                        }
                        self.model.vars.push(VarDef {
                            name: key,
                            value,
                            kind: VarKind::Env,
                            stage: Some(stage),
                            instruction: i,
                            span: kv.key.span.clone(),
                        });
                    }
                }
                scope.env.extend(assigned);
            }
            (Keyword::Copy | Keyword::Add, args) => {
                for flag in &inst.flags {
                    if matches!(flag.name.as_str(), "chown" | "chmod" | "checksum" | "exclude") {
                        if let (Some(v), Some(span)) = (&flag.value, &flag.value_span) {
                            self.expand(
                                &Word {
                                    text: v.clone(),
                                    span: span.clone(),
                                },
                                scope,
                            );
                        }
                    }
                }
                let from_flag = inst.flag("from");
                let from = from_flag.and_then(|f| f.value.clone());
                if let (Some(f), Some(flag)) = (&from, from_flag) {
                    let span = flag.value_span.clone().unwrap_or(flag.span.clone());
                    if f.contains('$') {
                        self.push(
                            Diagnostic::error(codes::FROM_VARIABLE, Phase::Build, span, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")
                                .with_label("a variable in --from")
                                .with_help("declare `ARG SRC=...` before the first FROM, add `FROM ${SRC} AS src`, then use `--from=src`"),
                        );
                    } else if let Some(s) = self.model.stage_by_ref(f).filter(|&s| s < stage) {
                        self.model.stages[stage].depends_on.insert(s);
                    } else if let Some(later) = self
                        .stage_names
                        .iter()
                        .find(|(i, n)| *i >= stage && n.eq_ignore_ascii_case(f))
                        .map(|&(i, _)| i)
                        .or_else(|| {
                            // `--from=<index>` of the current stage or a later one: BuildKit's
                            // dispatch finds that stage not yet built and fails the same way.
                            f.parse::<usize>()
                                .ok()
                                .filter(|&i| i >= stage && i < self.stage_froms.len())
                        })
                    {
                        let current = self.model.stages[stage]
                            .name
                            .clone()
                            .unwrap_or_else(|| stage.to_string());
                        let later_span = self.file.instructions[self.stage_froms[later]].name_span.clone();
                        self.push(
                            Diagnostic::error(
                                codes::STAGE_ORDER,
                                Phase::Build,
                                span,
                                format!(
                                    "cannot copy from stage {}, it needs to be defined before current stage {}",
                                    crate::buildkit::go_quote(f),
                                    crate::buildkit::go_quote(&current)
                                ),
                            )
                            .with_label(if later == stage {
                                "this is the current stage"
                            } else {
                                "defined later in the file"
                            })
                            .with_related(later_span, "the stage")
                            .with_help("move that stage above this one; a stage can copy only from stages before it"),
                        );
                    }
                }
                if let Some(last) = args.words().last() {
                    if last
                        .text
                        .trim_start_matches(|c: char| c.is_ascii_digit())
                        .starts_with("<<")
                        && !inst.heredocs.is_empty()
                    {
                        self.push(
                            Diagnostic::error(
                                codes::HEREDOC_MISUSE,
                                Phase::Build,
                                last.span.clone(),
                                format!("{kw} cannot accept a heredoc as a destination"),
                            )
                            .with_label("the last argument is the destination")
                            .with_help(format!(
                                "write the destination path after the heredoc: `{kw} <<EOF /path/to/file`"
                            )),
                        );
                    }
                }
                let words = args.words();
                let n = words.len();
                for (k, w) in words.into_iter().enumerate() {
                    let marker = w
                        .text
                        .trim_start_matches(|c: char| c.is_ascii_digit())
                        .starts_with("<<");
                    if marker && !inst.heredocs.is_empty() {
                        continue;
                    }
                    let Some(path) = self.expand(w, scope) else { continue };
                    let is_source = k + 1 < n;
                    if is_source && from.is_none() && !path.contains("://") && !path.starts_with("git@") {
                        if let Some(ignored) = &self.options.ignored {
                            let clean = clean_path(&path);
                            if ignored(&clean) {
                                let cmd = if kw == Keyword::Add { "Add" } else { "Copy" };
                                self.push(
                                    warn(
                                        "CopyIgnoredFile",
                                        w.span.clone(),
                                        format!(
                                            "Attempting to {cmd} file {} that is excluded by .dockerignore",
                                            crate::buildkit::go_quote(&clean)
                                        ),
                                    )
                                    .with_label("excluded by .dockerignore, so not in the build context"),
                                );
                            }
                        }
                    }
                }
            }
            (Keyword::Run, _) => {
                for flag in inst.flags.iter().filter(|f| f.name == "mount") {
                    if let (Some(v), Some(span)) = (&flag.value, &flag.value_span) {
                        if v.contains('$') {
                            if let Some(expanded) = self.expand(
                                &Word {
                                    text: v.clone(),
                                    span: span.clone(),
                                },
                                scope,
                            ) {
                                if let Err(e) = crate::values::parse_mount(&expanded) {
                                    self.push(
                                        Diagnostic::error(
                                            codes::FLAG_INVALID_VALUE,
                                            Phase::Build,
                                            span.clone(),
                                            e.message,
                                        )
                                        .with_label(format!("after expansion: {expanded}"))
                                        .with_help(e.help),
                                    );
                                }
                            }
                        }
                        if let Ok(m) = crate::values::parse_mount(v) {
                            // Mounts may name any stage, even a later one (cycles are checked by the graph).
                            let target = m.from.as_deref().and_then(|f| {
                                let lower = f.to_ascii_lowercase();
                                self.stage_names
                                    .iter()
                                    .find(|(_, n)| *n == lower)
                                    .map(|(i, _)| *i)
                                    .or_else(|| self.model.stage_by_ref(f))
                            });
                            if let Some(s) = target {
                                self.model.stages[stage].depends_on.insert(s);
                            }
                        }
                    }
                }
            }
            (Keyword::Workdir, Args::Shell(w)) => {
                let (path, unknown) = self
                    .expand_matches(w, scope)
                    .unwrap_or_else(|| (w.text.clone(), BTreeSet::new()));
                // A path that starts with a variable this file does not set (the base image's
                // `$HOME`, an ARG without a value) may well be absolute: BuildKit, which knows
                // the value, decides; so does a drive letter, which only a Windows stage writes.
                let unknown_start = !unknown.is_empty() && w.text.trim_start_matches(['"', '\'']).starts_with('$');
                if !scope.workdir_set && !path.starts_with('/') && !unknown_start && !windows_absolute(&path) {
                    self.push(
                        warn(
                            "WorkdirRelativePath",
                            w.span.clone(),
                            format!(
                                "Relative workdir {} can have unexpected results if the base image changes",
                                crate::buildkit::go_quote(&path)
                            ),
                        )
                        .with_label("relative to the base image's working directory"),
                    );
                }
                scope.workdir_set = true;
            }
            (Keyword::Expose, Args::Words(words)) => {
                for w in words {
                    let Some(port) = self.expand(w, scope) else { continue };
                    if port.contains(':') {
                        self.push(
                            warn("ExposeInvalidFormat", w.span.clone(), format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{port}'"))
                                .with_label("publish ports at run time (`docker run -p`) instead"),
                        );
                    }
                    if let Some((_, proto)) = port.rsplit_once('/') {
                        if proto != proto.to_ascii_lowercase() {
                            let mut d = warn(
                                "ExposeProtoCasing",
                                w.span.clone(),
                                format!("Defined protocol '{port}' in EXPOSE instruction should be lowercase"),
                            )
                            .with_label("uppercase protocol");
                            if w.text == port {
                                d = d.with_fix(
                                    "lowercase the protocol",
                                    vec![Edit {
                                        span: w.span.clone(),
                                        text: port.to_ascii_lowercase(),
                                    }],
                                );
                            }
                            self.push(d);
                        }
                    }
                }
            }
            (Keyword::User | Keyword::Stopsignal, Args::Shell(w)) => {
                self.expand(w, scope);
            }
            (Keyword::Volume, args) => {
                for w in args.words() {
                    if self.expand(w, scope).is_some_and(|v| v.is_empty()) || w.text.is_empty() {
                        self.push(
                            Diagnostic::error(
                                codes::MISSING_ARGUMENTS,
                                Phase::Build,
                                w.span.clone(),
                                "VOLUME specified can not be an empty string",
                            )
                            .with_label("empty")
                            .with_help("give the mount point, e.g. `VOLUME /data`"),
                        );
                    }
                }
            }
            (Keyword::Shell, _) => scope.shell_set = true,
            (Keyword::Cmd | Keyword::Entrypoint, Args::Shell(w)) if !scope.shell_set => {
                let mut d = warn(
                    "JSONArgsRecommended",
                    w.span.clone(),
                    format!(
                        "JSON arguments recommended for {} to prevent unintended behavior related to OS signals",
                        kw
                    ),
                )
                .with_label("shell form: the process runs under /bin/sh -c and won't receive signals");
                if let Some(json) = exec_form(&w.text) {
                    d = d.with_fix(
                        "use exec form",
                        vec![Edit {
                            span: w.span.clone(),
                            text: json,
                        }],
                    );
                }
                self.push(d);
            }
            (Keyword::Maintainer, Args::Shell(w)) => {
                let label = format!(
                    "LABEL org.opencontainers.image.authors={}",
                    crate::buildkit::go_quote(&w.text)
                );
                self.push(
                    warn(
                        "MaintainerDeprecated",
                        inst.name_span.clone(),
                        "Maintainer instruction is deprecated in favor of using label",
                    )
                    .with_label("deprecated")
                    .with_fix(
                        format!("write `{label}`"),
                        vec![Edit {
                            span: inst.name_span.start..w.span.end,
                            text: label,
                        }],
                    ),
                );
            }
            _ => {}
        }
    }

    /// ConsistentInstructionCasing over every stage's FROM and commands.
    fn casing(&mut self) {
        let in_stages = || {
            self.file
                .instructions
                .iter()
                .zip(&self.model.stage_of)
                .filter(|(_, s)| s.is_some())
                .map(|(x, _)| x)
        };
        let is_lower = |n: &str| !n.bytes().any(|b| b.is_ascii_uppercase());
        let is_upper = |n: &str| !n.bytes().any(|b| b.is_ascii_lowercase());
        let (mut lower, mut upper) = (0, 0);
        for inst in in_stages() {
            if is_lower(&inst.name) {
                lower += 1;
            } else if is_upper(&inst.name) {
                upper += 1;
            }
        }
        let majority_lower = lower > upper;
        let mut found = Vec::new();
        for inst in in_stages() {
            let n = &inst.name;
            let fits = if majority_lower { is_lower(n) } else { is_upper(n) };
            if !fits && inst.keyword.is_some() {
                let (case, want) = if majority_lower {
                    ("lowercase", n.to_ascii_lowercase())
                } else {
                    ("uppercase", n.to_ascii_uppercase())
                };
                found.push(
                    warn(
                        "ConsistentInstructionCasing",
                        inst.name_span.clone(),
                        format!("Command '{n}' should match the case of the command majority ({case})"),
                    )
                    .with_label(format!("write `{want}`"))
                    .with_fix(
                        format!("write `{want}`"),
                        vec![Edit {
                            span: inst.name_span.clone(),
                            text: want,
                        }],
                    ),
                );
            }
        }
        self.model.diagnostics.extend(found);
    }
}

impl Model {
    /// A stage reference resolved among stages defined before `before` (FROM only looks back).
    fn stage_by_ref_before(&self, reference: &str, before: usize) -> Option<usize> {
        self.stage_by_ref(reference).filter(|&s| s < before)
    }
}

/// `NAME` or `NAME=default` of an ARG word, with the default's span.
fn split_arg(w: &Word) -> (String, Option<(String, Span)>) {
    match w.text.split_once('=') {
        Some((k, v)) => {
            let start = (w.span.start + k.len() + 1).min(w.span.end);
            (k.to_string(), Some((v.to_string(), start..w.span.end)))
        }
        None => (w.text.clone(), None),
    }
}

fn name_span(w: &Word, name: &str) -> Span {
    w.span.start..(w.span.start + name.len()).min(w.span.end)
}

/// The span of `$name` / `${name` inside a word when the word is verbatim source, else the word.
fn var_span(text: &str, word: &Word, name: &str) -> Span {
    if text.get(word.span.clone()) != Some(word.text.as_str()) {
        return word.span.clone();
    }
    let t = &word.text;
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (at, _) in t.match_indices('$') {
        let rest = &t[at + 1..];
        let (inner, braced) = match rest.strip_prefix('{') {
            Some(r) => (r, true),
            None => (rest, false),
        };
        if inner.starts_with(name) && !inner[name.len()..].starts_with(is_name) {
            let mut end = at + 1 + usize::from(braced) + name.len();
            if braced {
                end = t[end..].find('}').map_or(t.len(), |i| end + i + 1);
            }
            return word.span.start + at..word.span.start + end;
        }
    }
    word.span.clone()
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// BuildKit's SecretsUsedInArgOrEnv pattern: a secret token as the whole name or
/// as its first or last `_`-separated word, unless an allow token is too.
pub fn is_secret_name(key: &str) -> bool {
    const DENY: [&str; 10] = [
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    const ALLOW: [&str; 3] = ["public", "file", "version"];
    let lower = key.to_ascii_lowercase();
    // `_`-separated words: the token must be the first, the last or an inner one.
    let hit = |tokens: &[&str]| lower.split('_').any(|word| tokens.contains(&word));
    hit(&DENY) && !hit(&ALLOW)
}

/// `os/arch[/variant]` with known-looking parts.
/// `C:\\x`, `c:/x`: absolute on Windows.
pub(crate) fn windows_absolute(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// The OS and architecture of a platform specifier as containerd's `platforms.Parse`
/// reads it (what BuildKit's FromPlatformFlagConstDisallowed parses): `os/arch[/variant]`,
/// or one word that is a known OS (the host's architecture) or a known architecture (on
/// linux), names normalised (`x86_64` → `amd64`, `aarch64` → `arm64`, `macos` → `darwin`).
/// `None` where containerd returns an error.
fn parse_platform(s: &str) -> Option<(String, String)> {
    const OSES: [&str; 17] = [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "windows",
        "zos",
    ];
    const ARCHES: [&str; 24] = [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "ppc64",
        "ppc64le",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
    ];
    let word = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c));
    // The OS may carry a version in parentheses: `windows(10.0.17763)/amd64`.
    let os_word = |p: &str| match p.split_once('(') {
        Some((os, v)) => word(os) && v.strip_suffix(')').is_some_and(|v| v.is_empty() || word(v)),
        None => word(p),
    };
    let os = |p: &str| match p.split('(').next().unwrap_or(p).to_ascii_lowercase() {
        m if m == "macos" => "darwin".to_string(),
        m => m,
    };
    let arch = |p: &str| match p.to_ascii_lowercase().as_str() {
        "i386" => "386".to_string(),
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        "armhf" | "armel" => "arm".to_string(),
        a => a.to_string(),
    };
    let parts: Vec<&str> = s.split('/').collect();
    match parts[..] {
        [one] if os_word(one) && OSES.contains(&os(one).as_str()) => {
            let host = match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                "x86" => "386",
                "powerpc64" => "ppc64le",
                a => a,
            };
            Some((os(one), host.to_string()))
        }
        [one] if word(one) && ARCHES.contains(&arch(one).as_str()) => Some(("linux".to_string(), arch(one))),
        [o, a] | [o, a, _] if os_word(o) && word(a) && parts[2..].iter().all(|v| word(v)) => Some((os(o), arch(a))),
        _ => None,
    }
}

/// A plausible Docker image reference (`[host[:port]/]path[:tag][@digest]`).
pub fn valid_reference(r: &str) -> bool {
    if r.is_empty() || r.len() > 255 && !r.contains('@') {
        return false;
    }
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        let Some((alg, hex)) = d.split_once(':') else {
            return false;
        };
        if alg.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return false;
        }
    }
    let (path, tag) = match name.rfind(':') {
        Some(i) if !name[i + 1..].contains('/') => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    };
    if let Some(t) = tag {
        let mut c = t.chars();
        if !c.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            || t.len() > 128
            || !t.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return false;
        }
    }
    let comps: Vec<&str> = path.split('/').collect();
    comps.iter().enumerate().all(|(i, comp)| {
        if comp.is_empty() {
            return false;
        }
        if i == 0 && comps.len() > 1 && (comp.contains('.') || comp.contains(':') || *comp == "localhost") {
            // A registry host: letters, digits, dots, dashes and a port.
            return comp.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
        }
        comp.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && comp.starts_with(|c: char| c.is_ascii_alphanumeric())
            && comp.ends_with(|c: char| c.is_ascii_alphanumeric())
    })
}

/// `filepath.Clean` of a context path, relative, `/`-separated.
fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

/// `ENV k v` → `k="v"` when the value has no quotes or escapes to worry about.
fn legacy_fix(kv: &crate::syntax::KeyValue) -> Option<((), String)> {
    let v = &kv.value.text;
    if v.contains(['"', '\'', '\\', '$', '`']) {
        return None;
    }
    let value = if v.contains(char::is_whitespace) {
        format!("\"{v}\"")
    } else {
        v.clone()
    };
    Some(((), format!("{}={value}", kv.key.text)))
}

/// Exec form of a shell-form command when splitting on blanks means the same thing.
fn exec_form(cmd: &str) -> Option<String> {
    if cmd.is_empty() || cmd.contains(|c: char| "$&|;<>()*?[]{}~`'\"\\#!=\n".contains(c)) {
        return None;
    }
    let parts: Vec<String> = cmd.split_whitespace().map(|p| format!("\"{p}\"")).collect();
    Some(format!("[{}]", parts.join(", ")))
}

/// The whole line(s) of an instruction, newline included, for removal fixes.
fn line_span(text: &str, span: &Span) -> Span {
    let start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[span.end..].find('\n').map_or(text.len(), |i| span.end + i + 1);
    start..end
}

/// Extends past spaces and tabs after `at`.
fn skip_blanks(text: &str, at: usize) -> usize {
    at + text[at..].len() - text[at..].trim_start_matches([' ', '\t']).len()
}

/// A command line: exec form, or shell form run by the stage's SHELL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "form", content = "value", rename_all = "snake_case")]
pub enum CommandLine {
    Exec(Vec<String>),
    Shell(String),
}

/// `HEALTHCHECK`, typed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// `None` for `HEALTHCHECK NONE`.
    pub test: Option<CommandLine>,
    pub interval: Option<std::time::Duration>,
    pub timeout: Option<std::time::Duration>,
    pub start_period: Option<std::time::Duration>,
    pub start_interval: Option<std::time::Duration>,
    pub retries: Option<i32>,
}

/// COPY and ADD, typed: sources (context paths, URLs, or heredoc names), destination and flags.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopySpec {
    pub sources: Vec<String>,
    /// Names of the heredocs used as sources, in order.
    pub heredocs: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    pub parents: bool,
    /// ADD only.
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub unpack: Option<bool>,
}

/// An instruction as BuildKit dispatches it: variables expanded where BuildKit
/// expands them (not in RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK or ONBUILD),
/// flags typed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    From,
    Arg {
        args: Vec<(String, Option<String>)>,
    },
    Env {
        pairs: Vec<(String, String)>,
    },
    Label {
        pairs: Vec<(String, String)>,
    },
    Run {
        command: CommandLine,
        mounts: Vec<crate::values::Mount>,
        network: Option<String>,
        security: Option<String>,
    },
    Copy(CopySpec),
    Add(CopySpec),
    Workdir {
        path: String,
    },
    User {
        user: String,
    },
    Expose {
        ports: Vec<String>,
    },
    Volume {
        paths: Vec<String>,
    },
    Stopsignal {
        signal: String,
    },
    Cmd {
        command: CommandLine,
    },
    Entrypoint {
        command: CommandLine,
    },
    Shell {
        shell: Vec<String>,
    },
    Healthcheck(Health),
    Onbuild {
        trigger: String,
    },
    Maintainer {
        name: String,
    },
}

/// Types one instruction, expanding with `env` where BuildKit does. Expansion
/// errors leave the word as written (they are reported by the checks).
fn resolve(lexer: &Lexer, inst: &Instruction, env: &BTreeMap<String, String>) -> Command {
    let ex = |t: &str| lexer.process_word(t, env).unwrap_or_else(|_| t.to_string());
    let flag = |name: &str| inst.flag(name).and_then(|f| f.value.clone());
    let flag_ex = |name: &str| flag(name).map(|v| ex(&v));
    let bool_flag = |name: &str| {
        inst.flag(name)
            .is_some_and(|f| f.value.as_deref().is_none_or(|v| v.eq_ignore_ascii_case("true")))
    };
    let line = |args: &Args| match args {
        Args::Json(w) => CommandLine::Exec(w.iter().map(|w| w.text.clone()).collect()),
        Args::Shell(w) => CommandLine::Shell(w.text.clone()),
        _ => CommandLine::Shell(String::new()),
    };
    let words = || {
        inst.args
            .words()
            .into_iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
    };
    match inst.keyword {
        Some(Keyword::From) | None => Command::From,
        Some(Keyword::Arg) => Command::Arg {
            args: inst
                .args
                .words()
                .iter()
                .map(|w| match w.text.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(ex(v))),
                    None => (w.text.clone(), None),
                })
                .collect(),
        },
        Some(k @ (Keyword::Env | Keyword::Label)) => {
            let pairs = match &inst.args {
                Args::KeyValues(kvs) => kvs.iter().map(|kv| (ex(&kv.key.text), ex(&kv.value.text))).collect(),
                _ => Vec::new(),
            };
            if k == Keyword::Env {
                Command::Env { pairs }
            } else {
                Command::Label { pairs }
            }
        }
        Some(Keyword::Run) => Command::Run {
            command: line(&inst.args),
            mounts: inst
                .flags
                .iter()
                .filter(|f| f.name == "mount")
                .filter_map(|f| crate::values::parse_mount(&ex(f.value.as_deref().unwrap_or(""))).ok())
                .collect(),
            network: flag_ex("network"),
            security: flag_ex("security"),
        },
        Some(k @ (Keyword::Copy | Keyword::Add)) => {
            let all = words();
            let is_heredoc = |w: &str| w.trim_start_matches(|c: char| c.is_ascii_digit()).starts_with("<<");
            let (srcs, dest) = match all.split_last() {
                Some((d, s)) => (s.to_vec(), ex(d)),
                None => (Vec::new(), String::new()),
            };
            let spec = CopySpec {
                sources: srcs.iter().filter(|w| !is_heredoc(w)).map(|w| ex(w)).collect(),
                heredocs: inst.heredocs.iter().map(|h| h.name.clone()).collect(),
                dest,
                from: flag("from"),
                chown: flag_ex("chown"),
                chmod: flag_ex("chmod"),
                link: bool_flag("link"),
                exclude: inst
                    .flags
                    .iter()
                    .filter(|f| f.name == "exclude")
                    .filter_map(|f| f.value.as_deref().map(&ex))
                    .collect(),
                parents: bool_flag("parents"),
                checksum: flag_ex("checksum"),
                keep_git_dir: bool_flag("keep-git-dir"),
                unpack: inst.flag("unpack").map(|_| bool_flag("unpack")),
            };
            if k == Keyword::Add {
                Command::Add(spec)
            } else {
                Command::Copy(spec)
            }
        }
        Some(Keyword::Workdir) => Command::Workdir {
            path: words().first().map(|w| ex(w)).unwrap_or_default(),
        },
        Some(Keyword::User) => Command::User {
            user: words().first().map(|w| ex(w)).unwrap_or_default(),
        },
        Some(Keyword::Stopsignal) => Command::Stopsignal {
            signal: words().first().map(|w| ex(w)).unwrap_or_default(),
        },
        Some(Keyword::Expose) => Command::Expose {
            ports: words().iter().map(|w| ex(w)).collect(),
        },
        Some(Keyword::Volume) => Command::Volume {
            paths: words().iter().map(|w| ex(w)).collect(),
        },
        Some(Keyword::Cmd) => Command::Cmd {
            command: line(&inst.args),
        },
        Some(Keyword::Entrypoint) => Command::Entrypoint {
            command: line(&inst.args),
        },
        Some(Keyword::Shell) => Command::Shell {
            shell: words().iter().map(|w| w.to_string()).collect(),
        },
        Some(Keyword::Maintainer) => Command::Maintainer {
            name: words().first().map(|w| w.to_string()).unwrap_or_default(),
        },
        Some(Keyword::Onbuild) => Command::Onbuild {
            trigger: match &inst.args {
                Args::Onbuild(inner) => inner.original.clone(),
                _ => String::new(),
            },
        },
        Some(Keyword::Healthcheck) => {
            let dur = |name: &str| flag(name).and_then(|v| crate::values::parse_duration(&v).ok());
            Command::Healthcheck(Health {
                test: match &inst.args {
                    Args::Healthcheck { kind, cmd } if kind.text.eq_ignore_ascii_case("cmd") => Some(line(cmd)),
                    _ => None,
                },
                interval: dur("interval"),
                timeout: dur("timeout"),
                start_period: dur("start-period"),
                start_interval: dur("start-interval"),
                retries: flag("retries").and_then(|v| v.parse().ok()),
            })
        }
    }
}
