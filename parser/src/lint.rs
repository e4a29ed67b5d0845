//! slipway's best-practice rules beyond BuildKit's checks, each mapped to
//! the hadolint rule it corresponds to (`docs/rules.md` has the table).
//!
//! Rules read the semantic model rather than raw text, so they see what a
//! build sees: `FROM ${IMAGE}` is checked as the image the ARG default names,
//! a stage built on another inherits its WORKDIR, USER and SHELL, a RUN with a
//! cache mount on the package cache needs no clean-up, and heredoc bodies are
//! scripts like any other. Commands in RUN come from [`shell_words`], a small
//! splitter over the scripts of [`crate::scripts`], so every finding points at
//! the word or flag at fault, also inside multi-line RUNs and heredocs.
//!
//! Where a BuildKit build check already covers a hadolint rule, no second
//! diagnostic is reported: [`HADOLINT_ALIASES`] names the BuildKit rule, and
//! [`HADOLINT_ERRORS`] the build or parse error that covers a rule.

mod commands;
mod labels;
pub mod platform;
mod shell_words;

use crate::diagnostics::{codes, did_you_mean, Diagnostic, Edit, Severity};
use crate::model::{Base, Model, VarKind};
use crate::rules::Rule;
use crate::shell::Lexer;
use crate::syntax::{Args, Dockerfile, Instruction, Keyword, Span, Word};
use crate::CheckOptions;

/// Variables in scope, borrowed from the model: a few dozen at most, so a list searched
/// from the end (the latest setting wins) beats building a map per instruction.
#[derive(Default)]
pub(crate) struct VarsEnv<'a> {
    vars: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> VarsEnv<'a> {
    fn set(&mut self, name: &'a str, value: &'a str) {
        self.vars.push((name, Some(value)));
    }

    /// A definition without a value hides an inherited one (`ARG X` after `ENV X=1` does not).
    fn unset(&mut self, name: &'a str) {
        if self.vars.iter().any(|(n, _)| *n == name) {
            self.vars.push((name, None));
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.vars.iter().rev().find(|(n, _)| *n == name).and_then(|(_, v)| *v)
    }
}

impl crate::shell::Env for VarsEnv<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        VarsEnv::get(self, key)
    }
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for (n, v) in &self.vars {
            keys.retain(|k| k != n);
            if v.is_some() {
                keys.push(n.to_string());
            }
        }
        keys
    }
}

macro_rules! rule {
    ($name:literal, $dl:literal, $severity:ident, $description:literal) => {
        Rule {
            code: concat!("slipway::lint::", $name),
            description: $description,
            url: concat!("https://github.com/hadolint/hadolint/wiki/", $dl),
            hadolint: Some($dl),
            severity: Severity::$severity,
            buildkit: false,
            experimental: false,
            off_by_default: false,
        }
    };
    (off $name:literal, $dl:literal, $description:literal) => {
        Rule {
            off_by_default: true,
            ..rule!($name, $dl, Advice, $description)
        }
    };
}

/// The rules this module implements, in hadolint order. Severities are
/// hadolint's defaults (error → error, warning → warning, info and style → advice).
pub const RULES: &[Rule] = &[
    rule!(off "inline-ignore", "DL1001", "Please refrain from using inline ignore pragmas `# hadolint ignore=DLxxxx`"),
    rule!("absolute-workdir", "DL3000", Error, "Use absolute WORKDIR"),
    rule!(
        "pointless-command",
        "DL3001",
        Advice,
        "Commands like ssh, vim, shutdown, service, ps, free, top, kill, mount and ifconfig make no sense in a container build"
    ),
    rule!("root-user", "DL3002", Warning, "Last USER should not be root"),
    rule!("cd-in-run", "DL3003", Warning, "Use WORKDIR to switch to a directory"),
    rule!(
        "sudo",
        "DL3004",
        Error,
        "Do not use sudo as it leads to unpredictable behavior; use a tool like gosu to enforce root"
    ),
    rule!("untagged-image", "DL3006", Warning, "Always tag the version of an image explicitly"),
    rule!(
        "latest-tag",
        "DL3007",
        Warning,
        "Using latest is prone to errors if the image will ever update; pin the version explicitly to a release tag"
    ),
    rule!("apt-pin", "DL3008", Warning, "Pin versions in apt-get install (`apt-get install <package>=<version>`)"),
    rule!(
        "apt-lists",
        "DL3009",
        Advice,
        "Delete the apt lists (/var/lib/apt/lists) after installing something"
    ),
    rule!("add-for-archive", "DL3010", Advice, "Use ADD for extracting archives into an image"),
    rule!("invalid-port", "DL3011", Error, "Valid UNIX ports range from 0 to 65535"),
    rule!(
        "pip-pin",
        "DL3013",
        Warning,
        "Pin versions in pip (`pip install <package>==<version>` or `pip install -r <requirements file>`)"
    ),
    rule!("apt-get-yes", "DL3014", Warning, "Use the -y switch to avoid manual input (`apt-get -y install <package>`)"),
    rule!(
        "apt-get-recommends",
        "DL3015",
        Advice,
        "Avoid additional packages by specifying `--no-install-recommends`"
    ),
    rule!("npm-pin", "DL3016", Warning, "Pin versions in npm (`npm install <package>@<version>`)"),
    rule!("apk-pin", "DL3018", Warning, "Pin versions in apk add (`apk add <package>=<version>`)"),
    rule!(
        "apk-no-cache",
        "DL3019",
        Advice,
        "Use the `--no-cache` switch to avoid the need to use `--update` and remove `/var/cache/apk/*`"
    ),
    rule!("add-for-copy", "DL3020", Error, "Use COPY instead of ADD for files and folders"),
    rule!(
        "copy-destination-dir",
        "DL3021",
        Error,
        "COPY with more than 2 arguments requires the last argument to end with /"
    ),
    rule!(
        "copy-from-unknown",
        "DL3022",
        Warning,
        "`COPY --from` should reference a previously defined `FROM` alias"
    ),
    rule!("untrusted-registry", "DL3026", Error, "Use only an allowed registry in the FROM image"),
    rule!(
        "apt",
        "DL3027",
        Warning,
        "Do not use apt as it is meant to be an end-user tool; use apt-get or apt-cache instead"
    ),
    rule!("gem-pin", "DL3028", Warning, "Pin versions in gem install (`gem install <gem>:<version>`)"),
    rule!("yum-yes", "DL3030", Warning, "Use the -y switch to avoid manual input (`yum install -y <package>`)"),
    rule!("yum-clean", "DL3032", Warning, "`yum clean all` missing after yum command"),
    rule!("yum-pin", "DL3033", Warning, "Specify version with `yum install -y <package>-<version>`"),
    rule!(
        "zypper-yes",
        "DL3034",
        Warning,
        "Non-interactive switch missing from `zypper` command (`zypper install -y`)"
    ),
    rule!("zypper-dist-upgrade", "DL3035", Warning, "Do not use `zypper dist-upgrade`"),
    rule!("zypper-clean", "DL3036", Warning, "`zypper clean` missing after zypper use"),
    rule!("zypper-pin", "DL3037", Warning, "Specify version with `zypper install -y <package>=<version>`"),
    rule!("dnf-yes", "DL3038", Warning, "Use the -y switch to avoid manual input (`dnf install -y <package>`)"),
    rule!("dnf-clean", "DL3040", Warning, "`dnf clean all` missing after dnf command"),
    rule!("dnf-pin", "DL3041", Warning, "Specify version with `dnf install -y <package>-<version>`"),
    rule!(
        "pip-cache",
        "DL3042",
        Warning,
        "Avoid use of cache directory with pip; use `pip install --no-cache-dir <package>`"
    ),
    rule!(
        "env-self-reference",
        "DL3044",
        Error,
        "Do not refer to an environment variable within the same `ENV` statement where it is defined"
    ),
    rule!(
        "copy-relative-no-workdir",
        "DL3045",
        Warning,
        "`COPY` to a relative destination without `WORKDIR` set"
    ),
    rule!(
        "useradd-high-uid",
        "DL3046",
        Warning,
        "`useradd` without flag `-l` and high UID will result in excessively large image"
    ),
    rule!(
        "wget-progress",
        "DL3047",
        Advice,
        "Avoid use of wget without progress bar; use `wget --progress=dot:giga <url>`, `-q` or `-nv`"
    ),
    rule!("label-key", "DL3048", Advice, "Invalid label key"),
    rule!("label-missing", "DL3049", Advice, "A label of the configured label schema is missing"),
    rule!("label-superfluous", "DL3050", Advice, "Superfluous label(s) present (strict labels)"),
    rule!("label-empty", "DL3051", Warning, "A label of the label schema is empty"),
    rule!("label-url", "DL3052", Warning, "A label of the label schema is not a valid URL"),
    rule!(
        "label-rfc3339",
        "DL3053",
        Warning,
        "A label of the label schema is not a valid time format (RFC 3339)"
    ),
    rule!("label-spdx", "DL3054", Warning, "A label of the label schema is not a valid SPDX license identifier"),
    rule!("label-git-hash", "DL3055", Warning, "A label of the label schema is not a valid git hash"),
    rule!("label-semver", "DL3056", Warning, "A label of the label schema does not conform to semantic versioning"),
    rule!(off "healthcheck-missing", "DL3057", "`HEALTHCHECK` instruction missing"),
    rule!("label-email", "DL3058", Warning, "A label of the label schema is not a valid email address (RFC 5322)"),
    rule!(
        "consecutive-run",
        "DL3059",
        Advice,
        "Multiple consecutive `RUN` instructions; consider consolidation"
    ),
    rule!("yarn-cache", "DL3060", Advice, "`yarn cache clean` missing after `yarn install` was run"),
    rule!("go-pin", "DL3062", Warning, "Pin versions in go (`go install <package>@<version>`)"),
    rule!("numeric-user", "DL3066", Advice, "Non-numeric user-id may not be resolvable by host system"),
    rule!(
        "copy-whole-filesystem",
        "DL3067",
        Warning,
        "Do not copy an entire filesystem from another stage"
    ),
    rule!("wget-and-curl", "DL4001", Warning, "Either use wget or curl but not both"),
    rule!("shell-symlink", "DL4005", Warning, "Use SHELL to change the default shell"),
    rule!(
        "pipefail",
        "DL4006",
        Warning,
        "Set the SHELL option -o pipefail before RUN with a pipe in it"
    ),
    // slipway's own (no hadolint rule): see `lint/platform.rs`.
    Rule {
        code: platform::EMULATED_BUILD_STAGE,
        description: "A build stage that is only copied from should run on the build platform (FROM --platform=$BUILDPLATFORM), not under emulation",
        url: "https://docs.docker.com/build/building/multi-platform/#cross-compilation",
        hadolint: None,
        severity: Severity::Warning,
        buildkit: false,
        experimental: false,
        off_by_default: false,
    },
];

/// hadolint rules a BuildKit build check covers: `(hadolint code, BuildKit rule)`.
/// slipway reports the BuildKit rule only; `# hadolint ignore=DL3025` should
/// suppress `JSONArgsRecommended` (see `docs/rules.md` for where they differ).
pub const HADOLINT_ALIASES: &[(&str, &str)] = &[
    // The first relative WORKDIR of a stage; later ones are DL3000 (absolute-workdir).
    ("DL3000", "WorkdirRelativePath"),
    ("DL3012", "MultipleInstructionsDisallowed"),
    ("DL3024", "DuplicateStageName"),
    ("DL3025", "JSONArgsRecommended"),
    ("DL3029", "FromPlatformFlagConstDisallowed"),
    ("DL3063", "ReservedStageName"),
    ("DL3064", "SecretsUsedInArgOrEnv"),
    ("DL3065", "RedundantTargetPlatform"),
    ("DL4000", "MaintainerDeprecated"),
    ("DL4003", "MultipleInstructionsDisallowed"),
    ("DL4004", "MultipleInstructionsDisallowed"),
];

/// hadolint rules about what BuildKit rejects outright, which slipway reports
/// as errors: `(hadolint code, diagnostic code)`.
pub const HADOLINT_ERRORS: &[(&str, &str)] = &[
    ("DL3023", codes::STAGE_ORDER),
    ("DL3043", codes::ONBUILD_FORBIDDEN),
    ("DL3043", codes::ONBUILD_CHAIN),
    ("DL3061", codes::NO_STAGE),
];

/// The rule a hadolint code names (registered in [`RULES`]).
fn rule(hadolint: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.hadolint == Some(hadolint))
        .expect("every hadolint code used here is registered")
}

/// A finding of the rule mapped to `hadolint`, with its severity.
fn finding(hadolint: &str, span: Span, message: impl Into<String>) -> Diagnostic {
    let r = rule(hadolint);
    Diagnostic {
        severity: r.severity,
        ..Diagnostic::warning(r.code, span, message)
    }
}

/// Runs every rule of this module.
pub fn run(text: &str, file: &Dockerfile, model: &Model, options: &CheckOptions) -> Vec<Diagnostic> {
    Lint::new(text, file, model, options).diagnostics
}

/// The findings of this module's rules, and each stage's part in them, kept so the
/// check after an edit can redo only the stages the edit reaches.
#[derive(Clone, Default)]
pub struct Lint {
    pub diagnostics: Vec<Diagnostic>,
    stages: Vec<StageLint>,
    /// Which stages [`Lint::after`] moved over.
    moved: Vec<bool>,
    /// Whether the text has a shell pragma (then [`Lint::after`] moves no stage over).
    shell_pragmas: bool,
}

/// One stage's findings, and what its checks start and end with.
#[derive(Clone)]
struct StageLint {
    /// Findings of the instruction rules.
    rules: Vec<Diagnostic>,
    /// Findings of the per-RUN rules.
    runs: Vec<Diagnostic>,
    /// What a stage built on this one starts with: the state and the SHELL.
    end: State,
    shell: (Vec<String>, bool),
    /// Whether apt was configured not to install recommends before and after its RUNs.
    recommends: (bool, bool),
    base: Base,
    used: bool,
    shipped: bool,
    windows: bool,
    /// A hash of its variables (names and values, in order): what stages built on it see.
    vars: u64,
}

impl Lint {
    /// Runs every rule over the file.
    pub fn new(text: &str, file: &Dockerfile, model: &Model, options: &CheckOptions) -> Lint {
        Lint::build(&Cx::new(text, file, model, options), None)
    }

    /// The findings for `model` ([`crate::model::reanalyze`]'s after `change`, with the
    /// same options) given these, the previous version's: stages the model moved over
    /// and whose bases ended the same keep their findings, moved. The same result as
    /// [`Lint::new`] (the parser's tests check that on random edits).
    pub fn after(
        self,
        text: &str,
        file: &Dockerfile,
        model: &Model,
        options: &CheckOptions,
        change: &crate::Change,
    ) -> Lint {
        Lint::build(&Cx::new(text, file, model, options), Some((self, change)))
    }

    fn build(cx: &Cx<'_>, old: Option<(Lint, &crate::Change)>) -> Lint {
        let model = cx.model;
        let n = model.stages.len();
        // A `# hadolint shell=` pragma changes the shell of stages it is not in (those after
        // it, or built on its stage): with one in either text, every stage is checked again.
        let shell_pragmas = cx
            .file
            .comments
            .iter()
            .any(|c| crate::scripts::shell_pragma(&c.text).is_some());
        let (mut old, change) = match old {
            Some((o, c))
                if o.stages.len() == n && model.memo.reused.len() == n && !o.shell_pragmas && !shell_pragmas =>
            {
                (o.stages.into_iter().map(Some).collect::<Vec<_>>(), Some(c))
            }
            _ => (Vec::new(), None),
        };
        let mut stages: Vec<StageLint> = Vec::with_capacity(n);
        // Per stage: it and every stage it builds on give stages built on them what they gave before.
        let mut same: Vec<bool> = Vec::with_capacity(n);
        let mut moved_stages = Vec::with_capacity(n);
        let mut recommends = false;
        for (k, stage) in model.stages.iter().enumerate() {
            let base = match stage.base {
                Base::Stage(p) if p < k => Some(p),
                _ => None,
            };
            let windows = base.map_or_else(|| commands::windows_image(&stage.base), |p| stages[p].windows);
            let (used, shipped) = (cx.used[k], cx.shipped[k]);
            let chain_same = base.is_none_or(|p| same[p]);
            let mut prev = old.get_mut(k).and_then(Option::take);
            let unchanged = prev.as_ref().is_some_and(|p| {
                model.memo.reused[k]
                    && chain_same
                    && (p.used, p.shipped, p.windows, p.recommends.0) == (used, shipped, windows, recommends)
            });
            let moved = if unchanged && prev.as_mut().zip(change).is_some_and(|(p, c)| p.move_to(c)) {
                prev.take()
            } else {
                None
            };
            moved_stages.push(moved.is_some());
            let (st, kept) = match moved {
                Some(st) => (st, true),
                None => {
                    let mut start = base.map(|p| stages[p].end.clone()).unwrap_or_default();
                    start.workdir_here = false;
                    let shell = crate::scripts::start_shell(cx.file, stage, base.map(|p| &stages[p].shell));
                    let st = stage_lint(cx, k, start, shell, (used, shipped, windows), recommends);
                    let kept = chain_same
                        && prev.zip(change).is_some_and(|(p, c)| {
                            p.base == st.base
                                && p.vars == st.vars
                                && p.shell == st.shell
                                && p.end.moved(c).as_ref() == Some(&st.end)
                        });
                    (st, kept)
                }
            };
            recommends = st.recommends.1;
            same.push(kept);
            stages.push(st);
        }
        let mut diagnostics: Vec<Diagnostic> = stages.iter().flat_map(|s| s.rules.iter().cloned()).collect();
        root_user(cx, stages.iter().map(|s| &s.end), &mut diagnostics);
        labels::images(cx, &mut diagnostics);
        inline_ignores(cx, &mut diagnostics);
        diagnostics.extend(stages.iter().flat_map(|s| s.runs.iter().cloned()));
        diagnostics.sort_by_key(|d| d.span.start);
        Lint {
            diagnostics,
            stages,
            moved: moved_stages,
            shell_pragmas,
        }
    }

    /// Which stages [`Lint::after`] moved over (all `false` for [`Lint::new`]).
    pub fn moved_stages(&self) -> &[bool] {
        &self.moved
    }
}

impl StageLint {
    /// Moves this stage's findings and state to the new text; `false` when they touch
    /// the edit (the findings are then moved in part: only the rest is still good).
    fn move_to(&mut self, change: &crate::Change) -> bool {
        let Some(end) = self.end.moved(change) else {
            return false;
        };
        if !self
            .rules
            .iter_mut()
            .chain(&mut self.runs)
            .all(|d| change.move_diagnostic(d))
        {
            return false;
        }
        self.end = end;
        true
    }
}

/// Checks stage `k`, which starts with `start` and `shell`; `recommends`: DL3015's state
/// before its RUNs.
fn stage_lint(
    cx: &Cx<'_>,
    k: usize,
    start: State,
    shell: (Vec<String>, bool),
    (used, shipped, windows): (bool, bool, bool),
    recommends: bool,
) -> StageLint {
    let stage = &cx.model.stages[k];
    let mut scripts = Vec::new();
    // (No rule reads the names in scope of a script: listing them for every RUN is not free.)
    let shell = crate::scripts::stage_scripts(cx.text, cx.file, stage, shell, |_, _| Vec::new(), &mut scripts);
    let runs = commands::stage_runs(cx, stage, scripts, windows);
    let mut rules = Vec::new();
    let end = instructions(cx, k, start, &runs, &mut rules);
    let mut found = Vec::new();
    let after = commands::check(cx, &runs, recommends, &mut found);
    let mut h = std::hash::DefaultHasher::new();
    for &i in cx.vars_by_stage.get(k).map_or(&[][..], Vec::as_slice) {
        let v = &cx.model.vars[i];
        std::hash::Hash::hash(&(&v.name, &v.value), &mut h);
    }
    StageLint {
        rules,
        runs: found,
        end,
        shell,
        recommends: (recommends, after),
        base: stage.base.clone(),
        used,
        shipped,
        windows,
        vars: std::hash::Hasher::finish(&h),
    }
}

/// What every rule reads.
pub(crate) struct Cx<'a> {
    text: &'a str,
    file: &'a Dockerfile,
    model: &'a Model,
    options: &'a CheckOptions,
    lexer: Lexer,
    /// Stages whose filesystem ends up in an image: stages no other stage
    /// uses (the last one, alternative targets) and the stages they build on.
    shipped: Vec<bool>,
    /// Stages another stage uses (as its base, `COPY --from`, a mount).
    used: Vec<bool>,
    /// Indices into `model.vars` of each stage's definitions, in order (so a scope
    /// looks at its stages' variables only, not at every variable of the file).
    vars_by_stage: Vec<Vec<usize>>,
}

impl<'a> Cx<'a> {
    fn new(text: &'a str, file: &'a Dockerfile, model: &'a Model, options: &'a CheckOptions) -> Cx<'a> {
        let n = model.stages.len();
        let mut used = vec![false; n];
        for s in &model.stages {
            for &d in &s.depends_on {
                if d != s.index && d < n {
                    used[d] = true;
                }
            }
        }
        let mut shipped = vec![false; n];
        for s in (0..n).filter(|&s| !used[s]) {
            let mut k = Some(s);
            while let Some(i) = k {
                if shipped[i] {
                    break;
                }
                shipped[i] = true;
                k = match model.stages[i].base {
                    Base::Stage(p) if p < i => Some(p),
                    _ => None,
                };
            }
        }
        let mut vars_by_stage = vec![Vec::new(); n];
        for (i, v) in model.vars.iter().enumerate() {
            if let Some(list) = v.stage.and_then(|s| vars_by_stage.get_mut(s)) {
                list.push(i);
            }
        }
        Cx {
            used,
            vars_by_stage,
            text,
            file,
            model,
            options,
            lexer: Lexer::new(file.escape),
            shipped,
        }
    }

    /// ARG and ENV values in scope at instruction `at` (stage inheritance included).
    fn env_at(&self, at: usize) -> VarsEnv<'a> {
        let mut env = VarsEnv::default();
        match self.model.stage_of.get(at).copied().flatten() {
            Some(_) => self.scope_at(at, |name, value| {
                if let Some(v) = value {
                    env.set(name, v);
                } else {
                    env.unset(name);
                }
            }),
            None => env = self.meta_args(),
        }
        env
    }

    /// Calls `f` with every ARG and ENV definition in scope at instruction `at`, in the order
    /// they take effect (a later one with the same name wins).
    fn scope_at(&self, at: usize, mut f: impl FnMut(&'a str, Option<&'a str>)) {
        let Some(stage) = self.model.stage_of.get(at).copied().flatten() else {
            return;
        };
        // The stage and the stages it is built on, base first.
        let mut chain = vec![stage];
        let mut k = stage;
        while let Some(&Base::Stage(p)) = self.model.stages.get(k).map(|s| &s.base) {
            if p >= k {
                break;
            }
            chain.push(p);
            k = p;
        }
        let model: &'a Model = self.model;
        for &k in chain.iter().rev() {
            for &i in self.vars_by_stage.get(k).map_or(&[][..], Vec::as_slice) {
                let v = &model.vars[i];
                if k != stage || v.instruction < at {
                    f(v.name.as_str(), v.value.as_deref());
                }
            }
        }
    }

    /// Meta ARGs (before the first FROM) with their values.
    fn meta_args(&self) -> VarsEnv<'a> {
        let mut env = VarsEnv::default();
        let model: &'a Model = self.model;
        // Meta ARGs come first (they are before the first FROM).
        for v in model.vars.iter().take_while(|v| v.kind == VarKind::MetaArg) {
            if let Some(value) = &v.value {
                env.set(&v.name, value);
            }
        }
        env
    }

    /// A word expanded in `env`, or `None` when it uses unknown variables or does not expand.
    fn expand(&self, text: &str, env: &VarsEnv<'_>) -> Option<String> {
        let x = self.lexer.process_word_with_matches(text, env).ok()?;
        x.unmatched.is_empty().then_some(x.result)
    }

    /// Whether a word is exactly its source text (so it can be edited in place).
    fn verbatim(&self, w: &Word) -> bool {
        self.text.get(w.span.clone()) == Some(w.text.as_str())
    }
}

/// What a stage has seen so far (inherited by stages built on it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct State {
    /// A WORKDIR in this stage or a stage it builds on (DL3045).
    workdir_set: bool,
    /// A WORKDIR earlier in this very stage (BuildKit's WorkdirRelativePath covers the first).
    workdir_here: bool,
    /// The working directory, when every WORKDIR so far was known.
    workdir: Option<String>,
    /// The last USER: instruction index and user, expanded.
    user: Option<(usize, String)>,
}

impl State {
    /// The state in the new text after `change`; `None` when its USER was replaced.
    fn moved(&self, change: &crate::Change) -> Option<State> {
        let user = match &self.user {
            Some((i, u)) => Some((change.instruction(*i)?, u.clone())),
            None => None,
        };
        Some(State { user, ..self.clone() })
    }
}

/// Rules on the instructions of stage `k` (no shell parsing), which starts with `st`;
/// returns the state it ends with. `runs`: the stage's RUNs (see [`commands::stage_runs`]).
fn instructions(
    cx: &Cx<'_>,
    k: usize,
    mut st: State,
    runs: &[Option<commands::Run>],
    out: &mut Vec<Diagnostic>,
) -> State {
    let stage = &cx.model.stages[k];
    from_rules(cx, k, out);
    let mut prev_run: Option<(usize, usize)> = None;
    // DL4001: where curl and wget were first used in this stage.
    let mut tools: [Option<Span>; 2] = [None, None];
    let mut archives = commands::Archives::default();
    for &i in &stage.instructions {
        let inst = &cx.file.instructions[i];
        let Some(kw) = inst.keyword else { continue };
        if kw != Keyword::Run {
            prev_run = None;
        }
        match (kw, &inst.args) {
            (Keyword::Workdir, Args::Shell(w)) => workdir(cx, i, w, &mut st, out),
            (Keyword::User, Args::Shell(w)) => user(cx, i, w, &mut st, out),
            (Keyword::Expose, Args::Words(words)) => expose(cx, i, words, out),
            (Keyword::Env, Args::KeyValues(kvs)) => env_self_reference(cx, i, kvs, out),
            (Keyword::Label, Args::KeyValues(kvs)) => {
                label_keys(cx, i, kvs, out);
                labels::values(cx, i, kvs, out);
            }
            (Keyword::Copy | Keyword::Add, args) => {
                copy(cx, i, inst, args, &st, out);
                if kw == Keyword::Copy && inst.flag("from").is_none() {
                    archives.remember(args);
                }
            }
            (Keyword::Run, _) => {
                mount_images(cx, inst, out);
                let Some(run) = runs.get(i - stage.from - 1).and_then(Option::as_ref) else {
                    prev_run = None;
                    continue;
                };
                consecutive_run(cx, i, run, &mut prev_run, out);
                archives.extracted_by(run, out);
                commands::wget_and_curl(run, &mut tools, out);
            }
            _ => {}
        }
    }
    st
}

/// DL3006, DL3007 and DL3026 on a stage's base image.
fn from_rules(cx: &Cx<'_>, stage: usize, out: &mut Vec<Diagnostic>) {
    let s = &cx.model.stages[stage];
    let Base::Image(image) = &s.base else { return };
    if image.is_empty() || image.eq_ignore_ascii_case("scratch") {
        return;
    }
    // With unknown variables (an ARG without default), the reference is unknowable.
    if s.base_text.contains('$') && cx.expand(&s.base_text, &cx.meta_args()).is_none() {
        return;
    }
    let from = &cx.file.instructions[s.from];
    let Some(word) = from.args.words().first().copied() else {
        return;
    };
    let expanded = if s.base_text != *image {
        format!(" (`{}` with the ARG defaults)", s.base_text)
    } else {
        String::new()
    };
    let (name, tag, digest) = split_reference(image);
    if tag.is_none() && digest.is_none() {
        out.push(
            finding(
                "DL3006",
                word.span.clone(),
                format!("Always tag the version of an image explicitly: `{image}`{expanded} has no tag"),
            )
            .with_label("no tag: whatever `latest` is at build time")
            .with_help(format!(
                "pin a release: `{name}:<version>`, or a digest `{name}@sha256:<digest>`"
            )),
        );
    } else if tag == Some("latest") && digest.is_none() {
        let span = match (cx.verbatim(word), word.text.rfind(":latest")) {
            (true, Some(at)) => word.span.start + at + 1..word.span.start + at + 7,
            _ => word.span.clone(),
        };
        out.push(
            finding(
                "DL3007",
                span,
                format!("Using latest is prone to errors if the image will ever update: `{image}`{expanded}"),
            )
            .with_label("moves whenever the image is updated")
            .with_help(format!("pin a release tag: `{name}:<version>`")),
        );
    }
    untrusted(cx, image, word.span.clone(), "FROM", out);
}

/// DL3026: a reference outside `trusted_registries` (when configured).
fn untrusted(cx: &Cx<'_>, image: &str, span: Span, what: &str, out: &mut Vec<Diagnostic>) {
    let allowed = &cx.options.config.trusted_registries;
    if allowed.is_empty() || image.eq_ignore_ascii_case("scratch") {
        return;
    }
    let registry = registry_of(image);
    let ok = |r: &str| {
        allowed
            .iter()
            .any(|p| match (p.strip_prefix('*'), p.strip_suffix('*')) {
                _ if p == "*" => true,
                (Some(suffix), _) => r.ends_with(suffix),
                (_, Some(prefix)) => r.starts_with(prefix),
                _ => r == p,
            })
    };
    let trusted = match registry {
        Some(r) => ok(r),
        None => ok("docker.io") || ok("hub.docker.com"),
    };
    if !trusted {
        out.push(
            finding(
                "DL3026",
                span,
                format!(
                    "Use only an allowed registry in the {what} image: `{image}` is from {}",
                    registry.unwrap_or("docker.io")
                ),
            )
            .with_label("not a trusted registry")
            .with_help(format!("trusted registries: {}", allowed.join(", "))),
        );
    }
}

/// DL3026 on `RUN --mount=…,from=<image>`: the mount pulls that image like `COPY --from`.
fn mount_images(cx: &Cx<'_>, inst: &Instruction, out: &mut Vec<Diagnostic>) {
    if cx.options.config.trusted_registries.is_empty() {
        return;
    }
    for flag in inst.effective().flags.iter().filter(|f| f.name == "mount") {
        let (Some(value), Some(vspan)) = (flag.value.as_deref(), flag.value_span.clone()) else {
            continue;
        };
        let Ok(mount) = crate::values::parse_mount(value) else {
            continue;
        };
        let Some(from) = mount.from.as_deref() else { continue };
        if from.is_empty() || from.contains('$') || cx.model.stage_by_ref(from).is_some() {
            continue;
        }
        // The span of the `from=` value when the flag is written as it reads.
        let span = match cx.text.get(vspan.clone()) {
            Some(raw) if raw == value => {
                let mut at = 0;
                let mut found = None;
                for field in raw.split(',') {
                    if let Some(v) = field.strip_prefix("from=").filter(|v| *v == from) {
                        let start = vspan.start + at + 5;
                        found = Some(start..start + v.len());
                    }
                    at += field.len() + 1;
                }
                found.unwrap_or(vspan)
            }
            _ => vspan,
        };
        untrusted(cx, from, span, "RUN --mount", out);
    }
}

/// The registry host of a reference, `None` for Docker Hub's short names.
fn registry_of(image: &str) -> Option<&str> {
    let (first, rest) = image.split_once('/')?;
    (!rest.is_empty() && (first.contains('.') || first.contains(':') || first == "localhost")).then_some(first)
}

/// `name[:tag][@digest]` of a reference.
fn split_reference(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..]), digest),
        _ => (rest, None, digest),
    }
}

/// DL3000: a relative WORKDIR after another WORKDIR of the stage (the first
/// one is BuildKit's WorkdirRelativePath).
fn workdir(cx: &Cx<'_>, i: usize, w: &Word, st: &mut State, out: &mut Vec<Diagnostic>) {
    let env = cx.env_at(i);
    let path = cx.expand(&w.text, &env);
    let relative = match &path {
        Some(p) => !p.starts_with('/') && !crate::model::windows_absolute(p),
        // hadolint's rule: an unknown variable at the start may be absolute.
        None => !w.text.trim_matches(['"', '\'']).starts_with(['$', '/']) && !crate::model::windows_absolute(&w.text),
    };
    if relative && st.workdir_here {
        let mut d = finding(
            "DL3000",
            w.span.clone(),
            format!("Use absolute WORKDIR: `{}` is relative to the previous WORKDIR", w.text),
        )
        .with_label("relative path");
        match (&st.workdir, &path) {
            (Some(base), Some(p)) if cx.verbatim(w) && !w.text.contains(['$', '"', '\'', '\\']) => {
                let joined = join_path(base, p);
                d = d.with_help(format!("write the absolute path `{joined}`")).with_fix(
                    format!("write `{joined}`"),
                    vec![Edit {
                        span: w.span.clone(),
                        text: joined,
                    }],
                );
            }
            _ => d = d.with_help("write the absolute path, so a change to an earlier WORKDIR does not move this one"),
        }
        out.push(d);
    }
    st.workdir = match (&path, &st.workdir) {
        (Some(p), _) if p.starts_with('/') => Some(clean_path(p)),
        (Some(p), Some(base)) => Some(join_path(base, p)),
        _ => None,
    };
    st.workdir_set = true;
    st.workdir_here = true;
}

/// `/a/b` + `c/../d` → `/a/b/d`.
fn join_path(base: &str, rel: &str) -> String {
    clean_path(&format!("{base}/{rel}"))
}

fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    format!("/{}", parts.join("/"))
}

/// DL3066 on each USER; remembers the user for DL3002.
fn user(cx: &Cx<'_>, i: usize, w: &Word, st: &mut State, out: &mut Vec<Diagnostic>) {
    let env = cx.env_at(i);
    let Some(user) = cx.expand(&w.text, &env) else {
        st.user = None;
        return;
    };
    let uid = user.split(':').next().unwrap_or("");
    if !uid.is_empty() && !uid.chars().all(|c| c.is_ascii_digit()) {
        out.push(
            finding(
                "DL3066",
                w.span.clone(),
                format!("Non-numeric user-id may not be resolvable by host system: `{uid}`"),
            )
            .with_label("a user name")
            .with_help(
                "use the numeric UID (and GID), e.g. `USER 1000:1000`, so runAsNonRoot-style checks can verify it",
            ),
        );
    }
    st.user = Some((i, user));
}

/// DL3002: the image's last USER is root (for every stage that is built into an image).
fn root_user<'s>(cx: &Cx<'_>, finals: impl Iterator<Item = &'s State>, out: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::BTreeSet::new();
    for (s, st) in finals.enumerate() {
        if cx.used.get(s).copied().unwrap_or(false) {
            continue;
        }
        let Some((i, user)) = &st.user else { continue };
        let root = user == "root" || user == "0" || user.starts_with("root:") || user.starts_with("0:");
        if !root || !seen.insert(*i) {
            continue;
        }
        let inst = &cx.file.instructions[*i];
        let Args::Shell(w) = &inst.args else { continue };
        out.push(
            finding(
                "DL3002",
                w.span.clone(),
                "Last USER should not be root: the image runs as root",
            )
            .with_label("the last USER of the image")
            .with_help("switch to an unprivileged user after the steps that need root: `USER <uid>`"),
        );
    }
}

/// DL1001: `# hadolint ignore=…` (or `# slipway ignore=…`) above an instruction; global
/// pragmas are not inline. Off by default, as in hadolint.
fn inline_ignores(cx: &Cx<'_>, out: &mut Vec<Diagnostic>) {
    for c in &cx.file.comments {
        if crate::suppress::pragma(&c.text).is_some_and(|(scope, _, _)| scope == crate::suppress::Scope::Inline) {
            out.push(
                finding(
                    "DL1001",
                    c.span.clone(),
                    "Please refrain from using inline ignore pragmas `# hadolint ignore=DLxxxx`",
                )
                .with_label("an inline ignore pragma")
                .with_help("fix the finding, or ignore the rule for the project in the configuration"),
            );
        }
    }
}

/// DL3011: EXPOSE ports must be 0-65535.
fn expose(cx: &Cx<'_>, i: usize, words: &[Word], out: &mut Vec<Diagnostic>) {
    let env = cx.env_at(i);
    for w in words {
        let Some(port) = cx.expand(&w.text, &env) else { continue };
        let port = port.split('/').next().unwrap_or("");
        let bad = port.split('-').filter_map(|p| p.parse::<u64>().ok()).any(|p| p > 65535);
        if bad && !port.contains(':') {
            out.push(
                finding(
                    "DL3011",
                    w.span.clone(),
                    format!("Valid UNIX ports range from 0 to 65535: `{port}`"),
                )
                .with_label("out of range")
                .with_help("use a port between 0 and 65535"),
            );
        }
    }
}

/// DL3044: `ENV A=1 B=$A` — BuildKit expands every value of an ENV with the
/// environment from before it, so `$A` is not the `1` just set.
fn env_self_reference(cx: &Cx<'_>, i: usize, kvs: &[crate::syntax::KeyValue], out: &mut Vec<Diagnostic>) {
    if kvs.len() < 2 {
        return;
    }
    let mut before = std::collections::BTreeSet::new();
    cx.scope_at(i, |name, _| {
        before.insert(name);
    });
    let defined_before = |name: &str| before.contains(name);
    for (j, kv) in kvs.iter().enumerate() {
        for (k, other) in kvs.iter().enumerate() {
            let name = other.key.text.as_str();
            if k == j || name.is_empty() || defined_before(name) {
                continue;
            }
            let Some(at) = find_reference(&kv.value.text, name) else {
                continue;
            };
            let span = if cx.verbatim(&kv.value) {
                kv.value.span.start + at.start..kv.value.span.start + at.end
            } else {
                kv.value.span.clone()
            };
            out.push(
                finding(
                    "DL3044",
                    span,
                    format!("Do not refer to `{name}` within the same ENV statement where it is defined"),
                )
                .with_label("expands to the value from before this ENV (here: unset)")
                .with_related(other.key.span.clone(), "defined in the same ENV")
                .with_help(format!("set `{name}` in an ENV of its own before this one")),
            );
            break;
        }
    }
}

/// The range of `$name` or `${name…}` in a value.
fn find_reference(value: &str, name: &str) -> Option<Span> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (at, _) in value.match_indices('$') {
        let rest = &value[at + 1..];
        if let Some(inner) = rest.strip_prefix('{') {
            if inner.starts_with(name) && !inner[name.len()..].starts_with(is_name) {
                let end = inner.find('}').map_or(value.len(), |e| at + 2 + e + 1);
                return Some(at..end);
            }
        } else if rest.starts_with(name) && !rest[name.len()..].starts_with(is_name) {
            return Some(at..at + 1 + name.len());
        }
    }
    None
}

/// DL3048: label keys: lowercase alphanumerics, `.`, `-`, `_`, `/`; start
/// with a letter, end with a letter or digit; no reserved namespace, no `..`/`--`.
fn label_keys(cx: &Cx<'_>, i: usize, kvs: &[crate::syntax::KeyValue], out: &mut Vec<Diagnostic>) {
    let env = cx.env_at(i);
    for kv in kvs {
        let Some(key) = cx.expand(&kv.key.text, &env) else {
            continue;
        };
        let why = if key.is_empty() {
            continue;
        } else if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
            "must start with a lowercase letter"
        } else if !key.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            "must end with a lowercase letter or a digit"
        } else if !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_/".contains(c))
        {
            "may only contain lowercase letters, digits, `.`, `-`, `_` and `/`"
        } else if ["com.docker.", "io.docker.", "org.dockerproject."]
            .iter()
            .any(|p| key.starts_with(p))
        {
            "uses a namespace reserved by Docker"
        } else if key.contains("..") || key.contains("--") {
            "has consecutive separators"
        } else {
            continue;
        };
        out.push(
            finding(
                "DL3048",
                kv.key.span.clone(),
                format!("Invalid label key `{key}`: it {why}"),
            )
            .with_label(why)
            .with_help("use a reverse-DNS key such as `org.opencontainers.image.title`"),
        );
    }
}

/// COPY/ADD rules: DL3020, DL3021, DL3022, DL3026 (`--from` images), DL3045, DL3067.
fn copy(cx: &Cx<'_>, i: usize, inst: &Instruction, args: &Args, st: &State, out: &mut Vec<Diagnostic>) {
    let words = args.words();
    let Some((dest, sources)) = words.split_last() else {
        return;
    };
    let env = cx.env_at(i);
    let is_copy = inst.keyword == Some(Keyword::Copy);
    let from = inst.flag("from");

    if !is_copy {
        add_for_copy(cx, inst, sources, &env, out);
    }

    // DL3021: several sources need a directory destination.
    if is_copy && sources.len() > 1 {
        if let Some(d) = cx.expand(&dest.text, &env) {
            if !d.ends_with('/') {
                let mut f = finding(
                    "DL3021",
                    dest.span.clone(),
                    format!("COPY with more than 2 arguments requires the last argument to end with /: `{d}`"),
                )
                .with_label("several sources go into a directory")
                .with_help("end the destination with `/`");
                if cx.verbatim(dest) {
                    f = f.with_fix(
                        "add `/`",
                        vec![Edit {
                            span: dest.span.end..dest.span.end,
                            text: "/".into(),
                        }],
                    );
                }
                out.push(f);
            }
        }
    }

    if let Some(flag) = from {
        let value = flag.value.as_deref().unwrap_or("");
        let span = flag.value_span.clone().unwrap_or(flag.span.clone());
        let image_like = value.contains([':', '/', '@']);
        if is_copy && !value.is_empty() && !value.contains('$') && !image_like && cx.model.stage_by_ref(value).is_none()
        {
            let names = cx.model.stages.iter().filter_map(|s| s.name.as_deref());
            let mut f = finding(
                "DL3022",
                span.clone(),
                format!("`COPY --from={value}` should reference a previously defined `FROM` alias"),
            )
            .with_label("no stage of this name: this pulls an image");
            f = match did_you_mean(value, names) {
                Some(s) => f.with_help(format!("did you mean `--from={s}`?")),
                None => f.with_help(format!(
                    "name a stage with `FROM <image> AS {value}`, or give a full image reference"
                )),
            };
            out.push(f);
        }
        if !value.contains('$') && cx.model.stage_by_ref(value).is_none() {
            untrusted(cx, value, span, "COPY --from", out);
        }
        // DL3067: `COPY --from=x / /`.
        if sources.iter().any(|s| s.text.trim_matches(['"', '\'']) == "/") && dest.text.trim_matches(['"', '\'']) == "/"
        {
            out.push(
                finding(
                    "DL3067",
                    inst.span.start..dest.span.end,
                    "Do not copy an entire filesystem from another stage",
                )
                .with_label("`/` to `/`")
                .with_help("copy only the directories the image needs"),
            );
        }
    }

    // DL3045: a relative destination depends on the base image's WORKDIR.
    if is_copy && !st.workdir_set {
        let raw = dest.text.trim_matches(['"', '\'']);
        let resolved = cx.expand(&dest.text, &env);
        let relative = match &resolved {
            Some(d) => !d.starts_with('/') && !crate::model::windows_absolute(d) && !raw.starts_with('$'),
            None => false,
        };
        if relative {
            out.push(
                finding(
                    "DL3045",
                    dest.span.clone(),
                    format!(
                        "`COPY` to a relative destination without `WORKDIR` set: `{}`",
                        dest.text
                    ),
                )
                .with_label("relative to the base image's working directory")
                .with_help("set `WORKDIR /path` first, or use an absolute destination"),
            );
        }
    }
}

/// DL3020: ADD of local files and folders (not URLs, git, or archives it would unpack).
fn add_for_copy(cx: &Cx<'_>, inst: &Instruction, sources: &[&Word], env: &VarsEnv<'_>, out: &mut Vec<Diagnostic>) {
    const ARCHIVES: [&str; 15] = [
        ".tar", ".Z", ".bz2", ".gz", ".lz", ".lzma", ".tZ", ".tb2", ".tbz", ".tbz2", ".tgz", ".tlz", ".tpz", ".txz",
        ".xz",
    ];
    if sources.is_empty() {
        return;
    }
    for s in sources {
        let heredoc = s
            .text
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .starts_with("<<");
        if heredoc {
            continue;
        }
        let Some(p) = cx.expand(&s.text, env) else { return };
        let remote = p.contains("://") || p.starts_with("git@");
        if remote || ARCHIVES.iter().any(|a| p.ends_with(a)) {
            return;
        }
    }
    let add_only = inst
        .flags
        .iter()
        .any(|f| matches!(f.name.as_str(), "checksum" | "keep-git-dir" | "unpack"));
    let mut d = finding(
        "DL3020",
        inst.name_span.clone(),
        "Use COPY instead of ADD for files and folders",
    )
    .with_label("only local files: ADD's URL and archive handling is not needed")
    .with_help("COPY says what it does; ADD also fetches URLs and unpacks archives");
    if !add_only && inst.args.words().iter().all(|w| !w.text.is_empty()) {
        let copy = if inst.name.chars().all(|c| c.is_ascii_lowercase()) {
            "copy"
        } else {
            "COPY"
        };
        d = d.with_fix(
            format!("write `{copy}`"),
            vec![Edit {
                span: inst.name_span.clone(),
                text: copy.into(),
            }],
        );
    }
    out.push(d);
}

/// DL3059: consecutive RUNs of at most two commands each, with the same flags.
fn consecutive_run(
    cx: &Cx<'_>,
    i: usize,
    run: &commands::Run,
    prev: &mut Option<(usize, usize)>,
    out: &mut Vec<Diagnostic>,
) {
    let count = run.commands;
    let inst = &cx.file.instructions[i];
    if let Some((p, prev_count)) = *prev {
        let prev_inst = &cx.file.instructions[p];
        fn flags(x: &Instruction) -> Vec<&str> {
            let mut f: Vec<&str> = x.flags.iter().map(|f| f.text.as_str()).collect();
            f.sort_unstable();
            f
        }
        if flags(prev_inst) == flags(inst) && count <= 1 && prev_count <= 1 {
            out.push(
                finding(
                    "DL3059",
                    inst.name_span.clone(),
                    "Multiple consecutive `RUN` instructions; consider consolidation",
                )
                .with_label("could join the RUN above")
                .with_related(prev_inst.name_span.clone(), "the RUN before")
                .with_help("join them with `&&` into one RUN, so the image has one layer for them"),
            );
        }
    }
    *prev = Some((i, count));
}
