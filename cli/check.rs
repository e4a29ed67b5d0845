//! `slipway check`: find Dockerfiles, load each one's configuration and
//! `.dockerignore`, run every check, optionally apply fixes, report.
//!
//! Exit codes: 0 nothing at or above the fail level, 1 findings at or above
//! it, 2 a usage, configuration or I/O error (the other files are still checked).

use crate::report::{self, FileReport, Format};
use slipway_parser::diagnostics::Edit;
use slipway_parser::suppress::Config;
use slipway_parser::{CheckOptions, Diagnostic, Severity};
use slipway_planner::dockerignore::DockerIgnore;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The lowest severity that makes `check` exit 1 (with hadolint's `failure-threshold` names).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailLevel {
    Error,
    Warning,
    #[value(alias = "style")]
    Info,
    /// Never exit 1 for findings.
    #[value(alias = "ignore")]
    None,
}

/// hadolint's command-line flags, so a CI job's `hadolint …` line works as `slipway check …`.
/// They win over `.slipway.toml` and hadolint's configuration; lists add to theirs.
#[derive(Clone, Default, clap::Args)]
pub struct HadolintFlags {
    /// Give this code the severity `error` (hadolint's `--error`); repeatable.
    #[arg(long = "error", value_name = "CODE")]
    pub error: Vec<String>,
    /// Give this code the severity `warning`; repeatable.
    #[arg(long = "warning", value_name = "CODE")]
    pub warning: Vec<String>,
    /// Give this code the severity `info`; repeatable.
    #[arg(long = "info", value_name = "CODE")]
    pub info: Vec<String>,
    /// Give this code the severity `info` (hadolint's `style`); repeatable.
    #[arg(long = "style", value_name = "CODE")]
    pub style: Vec<String>,
    /// A registry FROM images may come from (DL3026); repeatable.
    #[arg(long = "trusted-registry", value_name = "REGISTRY")]
    pub trusted_registry: Vec<String>,
    /// A label every image must have, `label:type` (`text`, `url`, `semver`, `hash`,
    /// `rfc3339`, `spdx`, `email`); repeatable.
    #[arg(long = "require-label", value_name = "LABEL:TYPE")]
    pub require_label: Vec<String>,
    /// Labels outside the required ones are findings (DL3050).
    #[arg(long)]
    pub strict_labels: bool,
    /// `# hadolint ignore=` comments have no effect.
    #[arg(long)]
    pub disable_ignore_pragma: bool,
    /// The file name to write in the report instead of each Dockerfile's path.
    #[arg(long, value_name = "PATH")]
    pub file_path_in_report: Option<String>,
    /// No colours.
    #[arg(long)]
    pub no_color: bool,
    /// Say which configuration files are read, on stderr.
    #[arg(long, short = 'V')]
    pub verbose: bool,
}

impl HadolintFlags {
    /// Puts the flags over `config`; a `--require-label` of an unknown type is an error.
    fn apply(&self, config: &mut Config) -> Result<(), String> {
        for (codes, severity) in [
            (&self.error, Severity::Error),
            (&self.warning, Severity::Warning),
            (&self.info, Severity::Advice),
            (&self.style, Severity::Advice),
        ] {
            config.severity.extend(codes.iter().map(|c| (c.clone(), severity)));
        }
        config.trusted_registries.extend(self.trusted_registry.iter().cloned());
        for entry in &self.require_label {
            let (name, kind) = entry.split_once(':').ok_or_else(|| {
                format!("invalid --require-label {entry:?} (expected LABEL:TYPE, e.g. maintainer:text)")
            })?;
            let kind = slipway_parser::suppress::LabelType::parse(kind).ok_or_else(|| {
                format!("invalid --require-label {entry:?}: unknown type {kind:?} (expected text, url, semver, hash, rfc3339, spdx or email)")
            })?;
            config.label_schema.retain(|(n, _)| n != name);
            config.label_schema.push((name.to_string(), kind));
        }
        config.strict_labels |= self.strict_labels;
        config.disable_ignore_pragma |= self.disable_ignore_pragma;
        Ok(())
    }
}

/// The report format a hadolint `format` name stands for: its `json` is `hadolint-json`
/// (the shape its users parse), `tty` is `human`; `None` for the formats slipway does not
/// write (`codacy`, `sonarqube`, `junit`).
fn hadolint_format(name: &str) -> Option<Format> {
    Some(match name {
        "tty" => Format::Human,
        "json" => Format::HadolintJson,
        "checkstyle" => Format::Checkstyle,
        "codeclimate" => Format::Codeclimate,
        "gitlab_codeclimate" => Format::GitlabCodeclimate,
        "gnu" => Format::Gnu,
        "sarif" => Format::Sarif,
        _ => return None,
    })
}

impl FailLevel {
    fn fails(self, s: Severity) -> bool {
        match self {
            FailLevel::Error => s == Severity::Error,
            FailLevel::Warning => s >= Severity::Warning,
            FailLevel::Info => true,
            FailLevel::None => false,
        }
    }
}

/// The command line of `slipway check`.
pub struct Options {
    pub paths: Vec<PathBuf>,
    /// `--format`; without it hadolint's `format` (HADOLINT_FORMAT), else human.
    pub format: Option<Format>,
    /// `--fail-level`; without it hadolint's `failure-threshold`, else `error`.
    pub fail_level: Option<FailLevel>,
    /// `--no-fail` (or hadolint's `no-fail`): findings never make the exit code 1.
    pub no_fail: bool,
    /// `NAME=value`, or `NAME` to take the value from the environment.
    pub build_args: Vec<String>,
    pub ignore: Vec<String>,
    /// Use this configuration file instead of looking for `.slipway.toml`.
    pub config: Option<PathBuf>,
    /// `--target`: the stage being built.
    pub target: Option<String>,
    /// `--platform`, unparsed.
    pub platforms: Vec<String>,
    pub fix: bool,
    pub color: bool,
    /// Run shellcheck on RUN scripts when it is installed.
    pub shellcheck: bool,
    pub hadolint: HadolintFlags,
}

impl FailLevel {
    /// hadolint's `failure-threshold` as a fail level.
    fn from_threshold(t: slipway_planner::hadolint::Threshold) -> FailLevel {
        use slipway_planner::hadolint::Threshold;
        match t {
            Threshold::At(Severity::Error) => FailLevel::Error,
            Threshold::At(Severity::Warning) => FailLevel::Warning,
            Threshold::At(Severity::Advice) => FailLevel::Info,
            Threshold::Never => FailLevel::None,
        }
    }
}

/// Whether `--config` names a hadolint configuration file rather than a `.slipway.toml`.
fn is_hadolint_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// `.slipway.toml` at `path`; an unknown severity makes the whole file invalid.
fn load_config(path: &Path) -> Result<Config, String> {
    let (config, bad) = slipway_planner::config::read(path)?;
    match bad.first() {
        None => Ok(config),
        Some(b) => Err(format!(
            "invalid {}: unknown severity {:?} for {} (expected error, warning, info or ignore)",
            path.display(),
            b.level,
            b.code
        )),
    }
}

/// One input: a file on disk or standard input.
enum Input {
    File(PathBuf),
    Stdin,
}

/// Whether a file name is a Dockerfile's.
fn is_dockerfile(name: &str) -> bool {
    // `Dockerfile.*` also matches files about a Dockerfile, not Dockerfiles.
    const NOT: &[&str] = &[
        "dockerignore",
        "json",
        "md",
        "txt",
        "yml",
        "yaml",
        "toml",
        "sh",
        "orig",
        "rej",
        "bak",
        "swp",
        "lock",
        "sarif",
    ];
    if name.rsplit_once('.').is_some_and(|(_, ext)| NOT.contains(&ext)) {
        return false;
    }
    matches!(name, "Dockerfile" | "Containerfile")
        || name.ends_with(".Dockerfile")
        || name.ends_with(".dockerfile")
        || name.starts_with("Dockerfile.")
        || name.starts_with("Containerfile.")
}

/// Directories never searched.
fn skipped_dir(name: &str) -> bool {
    matches!(name, ".git" | "target" | "node_modules")
}

/// The Dockerfiles under `dir`, sorted; walk errors are reported and counted.
fn discover(dir: &Path, errors: &mut usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !(e.file_type().is_dir() && e.file_name().to_str().is_some_and(skipped_dir))
        });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() && e.file_name().to_str().is_some_and(is_dockerfile) => {
                let p = e.into_path();
                found.push(p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p));
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {e}");
                *errors += 1;
            }
        }
    }
    found
}

/// The `.dockerignore` of a Dockerfile whose context is its own directory:
/// `<Dockerfile>.dockerignore` next to it, else `.dockerignore` in the context (looked up
/// once per context through `general`).
fn find_dockerignore(
    dockerfile: Option<&Path>,
    context: &Path,
    general: &mut HashMap<PathBuf, Option<PathBuf>>,
) -> Option<PathBuf> {
    if let Some(f) = dockerfile {
        let mut specific = f.as_os_str().to_owned();
        specific.push(".dockerignore");
        let specific = PathBuf::from(specific);
        if specific.is_file() {
            return Some(specific);
        }
    }
    general
        .entry(context.to_path_buf())
        .or_insert_with(|| Some(context.join(".dockerignore")).filter(|p| p.is_file()))
        .clone()
}

/// `CheckOptions::ignored`.
type IgnoredFn = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Reads a `.dockerignore` into the `ignored` callback that BuildKit's
/// CopyIgnoredFile check needs. Problems are warnings: the check is skipped.
fn ignored_callback(path: &Path) -> Option<IgnoredFn> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            eprintln!("warning: cannot read {}: {e}", path.display());
            return None;
        }
    };
    match DockerIgnore::parse(&text) {
        Ok(di) => Some(Arc::new(move |src: &str| di.copy_source_ignored(src))),
        Err(e) => {
            eprintln!("warning: {}: {e}; files excluded by it are not checked", path.display());
            None
        }
    }
}

/// Applies the first fix of each diagnostic, skipping a fix that overlaps one
/// already taken; edits go back to front. Returns the new text and how many
/// fixes were applied.
pub fn apply_fixes(text: &str, diags: &[Diagnostic]) -> (String, usize) {
    let mut fixes: Vec<&[Edit]> = diags
        .iter()
        .filter_map(|d| d.fixes.first())
        .map(|f| f.edits.as_slice())
        .filter(|edits| {
            !edits.is_empty()
                && edits.iter().all(|e| {
                    e.span.start <= e.span.end
                        && e.span.end <= text.len()
                        && text.is_char_boundary(e.span.start)
                        && text.is_char_boundary(e.span.end)
                })
        })
        .collect();
    fixes.sort_by_key(|edits| edits.iter().map(|e| e.span.start).min());
    let overlaps = |a: &Edit, b: &Edit| {
        let (a, b) = (&a.span, &b.span);
        if a.is_empty() || b.is_empty() {
            // An insertion conflicts with an edit around it or another insertion at the same place.
            (a.start > b.start && a.start < b.end) || (b.start > a.start && b.start < a.end) || a.start == b.start
        } else {
            a.start < b.end && b.start < a.end
        }
    };
    let mut taken: Vec<&Edit> = Vec::new();
    let mut applied = 0;
    for edits in fixes {
        let clash = edits
            .iter()
            .enumerate()
            .any(|(i, e)| taken.iter().any(|t| overlaps(e, t)) || edits[..i].iter().any(|o| overlaps(e, o)));
        if clash {
            continue;
        }
        taken.extend(edits.iter());
        applied += 1;
    }
    taken.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = text.to_string();
    for e in taken.iter().rev() {
        out.replace_range(e.span.clone(), &e.text);
    }
    (out, applied)
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename,
/// keeping the file's permissions.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".slipway-fix-").tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Parses `--build-arg` values; `NAME` alone takes the value from the environment
/// (and is dropped when unset), as `docker build` does.
pub fn build_args(args: &[String]) -> Vec<(String, String)> {
    args.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(a).ok().map(|v| (a.clone(), v)),
        })
        .collect()
}

/// Runs `slipway check`.
pub fn run(opts: &Options) -> io::Result<ExitCode> {
    // The platform checked: of several, the first this machine cannot run natively.
    let platform = match crate::build::parse_platforms(&opts.platforms) {
        Ok(p) => {
            let host = slipway_store::platform::Platform::host();
            p.iter()
                .find(|p| !p.runs_natively_on(&host))
                .or(p.first())
                .map(slipway_planner::request::args_of_platform)
        }
        Err(m) => {
            eprintln!("error: {m}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut errors = 0usize;
    let mut inputs = Vec::new();
    let paths = if opts.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        opts.paths.clone()
    };
    for path in &paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
        } else if path.is_dir() {
            let found = discover(path, &mut errors);
            if found.is_empty() {
                eprintln!("warning: no Dockerfiles found under {}", path.display());
            }
            inputs.extend(found.into_iter().map(Input::File));
        } else {
            inputs.push(Input::File(path.clone()));
        }
    }
    if opts.fix && inputs.iter().any(|i| matches!(i, Input::Stdin)) {
        eprintln!("error: --fix cannot rewrite standard input; pass a file path");
        return Ok(ExitCode::from(2));
    }

    // hadolint's configuration: the environment once, files as found for each Dockerfile
    // (`--config x.yaml` names the file instead).
    let hadolint_env = slipway_planner::hadolint::from_env(&|k| std::env::var(k).ok());
    let verbose = opts.hadolint.verbose || hadolint_env.verbose == Some(true);
    // The output format when --format is not given: hadolint's, from the configuration of
    // the first Dockerfile (HADOLINT_FORMAT over its file).
    let mut format = opts.format;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let explicit_hadolint = match opts.config.as_deref().filter(|p| is_hadolint_file(p)) {
        Some(p) => match slipway_planner::hadolint::read(p) {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    let mut hadolint_files: HashMap<PathBuf, Result<slipway_planner::hadolint::HadolintConfig, String>> =
        HashMap::new();
    let mut failing = false;
    let explicit_config = match opts.config.as_deref().filter(|p| !is_hadolint_file(p)) {
        Some(p) => match load_config(p) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    let build_args = build_args(&opts.build_args);
    let check_override = build_args
        .iter()
        .rev()
        .find(|(k, _)| k == "BUILDKIT_DOCKERFILE_CHECK")
        .map(|(_, v)| v.clone());
    let mut configs: HashMap<PathBuf, Result<Config, String>> = HashMap::new();
    // Lookups that walk up the directory tree, once per build context: a repository's
    // Dockerfiles share a few directories, and each walk is a stat per parent.
    let mut found_configs: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
    let mut found_hadolint: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
    let mut ignore_files: HashMap<PathBuf, Option<IgnoredFn>> = HashMap::new();
    let mut context_ignores: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();

    let mut reports = Vec::new();
    let mut fixed = 0usize;
    let mut fixed_files = 0usize;
    // Read every input first, so shellcheck can check all scripts in one batched run.
    let mut loaded: Vec<(String, Option<PathBuf>, String)> = Vec::new();
    for input in &inputs {
        match input {
            Input::Stdin => {
                let mut bytes = Vec::new();
                io::stdin().read_to_end(&mut bytes)?;
                loaded.push(("<stdin>".to_string(), None, crate::text_of(bytes)));
            }
            Input::File(p) => match std::fs::read(p) {
                Ok(bytes) => loaded.push((p.display().to_string(), Some(p.clone()), crate::text_of(bytes))),
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", p.display());
                    errors += 1;
                }
            },
        }
    }
    // shellcheck on RUN scripts, when installed and not turned off. Without --fix the
    // scripts of all files go through one batched, parallel run; with --fix each
    // re-check needs fresh findings, so the files are checked one by one.
    let shellcheck = if opts.shellcheck {
        slipway_planner::shellcheck::Config::detect()
    } else {
        None
    };
    let mut precomputed: Vec<Option<Vec<Diagnostic>>> = vec![None; loaded.len()];
    if let (Some(config), false) = (&shellcheck, opts.fix) {
        let script_options = CheckOptions {
            build_args: build_args.clone(),
            target: opts.target.clone(),
            ..CheckOptions::default()
        };
        let parsed: Vec<_> = loaded.iter().map(|(_, _, text)| slipway_parser::parse(text)).collect();
        let models: Vec<_> = loaded
            .iter()
            .zip(&parsed)
            .map(|((_, _, text), p)| slipway_parser::model::analyze(text, &p.file, &script_options))
            .collect();
        let batch: Vec<slipway_planner::shellcheck::Input<'_>> = loaded
            .iter()
            .zip(&parsed)
            .zip(&models)
            .map(|(((_, _, text), p), model)| slipway_planner::shellcheck::Input {
                text,
                file: &p.file,
                model,
            })
            .collect();
        for (slot, found) in precomputed
            .iter_mut()
            .zip(slipway_planner::shellcheck::check_files(&batch, config))
        {
            *slot = Some(found);
        }
    }
    // Each file's options first (configuration files are read once, in order), then the
    // checks on every core, then fixes and reports in the files' order.
    let mut jobs: Vec<(String, Option<PathBuf>, String, CheckOptions, FailLevel)> = Vec::new();
    for (index, (name, path_buf, text)) in loaded.into_iter().enumerate() {
        let path = path_buf.as_deref();
        let scripts: Option<slipway_parser::ScriptChecker> = match (precomputed[index].take(), &shellcheck) {
            (Some(found), _) => Some(Arc::new(
                move |_: &str, _: &slipway_parser::Dockerfile, _: &slipway_parser::model::Model| found.clone(),
            )),
            (None, Some(_)) => Some(Arc::new(slipway_planner::shellcheck::check)),
            (None, None) => None,
        };
        // The build context: the Dockerfile's directory (the working directory for stdin).
        let context = match path.and_then(Path::parent) {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut config = match &explicit_config {
            Some(c) => c.clone(),
            None => match found_configs
                .entry(context.clone())
                .or_insert_with(|| slipway_planner::config::find(&context))
                .clone()
            {
                Some(found) => {
                    let first = !configs.contains_key(&found);
                    if first && verbose {
                        eprintln!("configuration: {}", found.display());
                    }
                    match configs.entry(found.clone()).or_insert_with(|| load_config(&found)) {
                        Ok(c) => c.clone(),
                        Err(e) => {
                            // Said once per configuration file; every file under it is skipped.
                            if first {
                                eprintln!("error: {e}");
                            }
                            errors += 1;
                            continue;
                        }
                    }
                }
                None => Config::default(),
            },
        };
        let hadolint_file = match &explicit_hadolint {
            Some(h) => h.clone(),
            None => match found_hadolint
                .entry(context.clone())
                .or_insert_with(|| slipway_planner::hadolint::find(&cwd, Some(&context), &|k| std::env::var(k).ok()))
                .clone()
            {
                Some(found) => {
                    let first = !hadolint_files.contains_key(&found);
                    if first && verbose {
                        eprintln!("hadolint configuration: {}", found.display());
                    }
                    match hadolint_files
                        .entry(found.clone())
                        .or_insert_with(|| slipway_planner::hadolint::read(&found))
                    {
                        Ok(h) => h.clone(),
                        Err(e) => {
                            if first {
                                eprintln!("error: {e}");
                            }
                            errors += 1;
                            continue;
                        }
                    }
                }
                None => Default::default(),
            },
        };
        let hadolint = hadolint_file.with(hadolint_env.clone());
        slipway_planner::hadolint::merge_under(&mut config, &hadolint);
        if let Err(e) = opts.hadolint.apply(&mut config) {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        if format.is_none() {
            format = Some(match hadolint.formats.first() {
                None => Format::Human,
                Some(name) => hadolint_format(name).unwrap_or_else(|| {
                    eprintln!(
                        "warning: slipway check does not write hadolint's {name} format; writing the human format (choose one with --format)"
                    );
                    Format::Human
                }),
            });
        }
        // The command line first, then hadolint's `no-fail` and `failure-threshold`.
        let fail_level = match (opts.no_fail, opts.fail_level) {
            (true, _) => FailLevel::None,
            (false, Some(level)) => level,
            (false, None) if hadolint.no_fail == Some(true) => FailLevel::None,
            (false, None) => hadolint
                .failure_threshold
                .map_or(FailLevel::Error, FailLevel::from_threshold),
        };
        config.ignore.extend(opts.ignore.iter().cloned());
        if check_override.is_some() {
            config.check = check_override.clone();
        }
        let options = CheckOptions {
            build_args: build_args.clone(),
            ignored: find_dockerignore(path, &context, &mut context_ignores).and_then(|p| {
                // Read once per file (a bad one is said once), shared by the Dockerfiles it serves.
                ignore_files
                    .entry(p)
                    .or_insert_with_key(|p| ignored_callback(p))
                    .clone()
            }),
            config,
            target: opts.target.clone(),
            scripts,
            platform: platform.clone(),
        };

        jobs.push((name, path_buf, text, options, fail_level));
    }
    let results = if opts.fix {
        Vec::new()
    } else {
        crate::par::map(&jobs, |(_, _, text, options, _)| slipway_parser::check(text, options))
    };
    let mut results = results.into_iter();
    for (name, path, text, options, fail_level) in jobs {
        let path = path.as_deref();
        let mut text = text;
        let mut result = match results.next() {
            Some(r) => r,
            None => slipway_parser::check(&text, &options),
        };
        if let (true, Some(path)) = (opts.fix, path) {
            let mut applied_here = 0;
            // A fix can make room for another (overlaps are skipped), so go a few rounds.
            for _ in 0..10 {
                let (new_text, applied) = apply_fixes(&text, &result.diagnostics);
                if applied == 0 || new_text == text {
                    break;
                }
                applied_here += applied;
                text = new_text;
                result = slipway_parser::check(&text, &options);
            }
            if applied_here > 0 {
                if let Err(e) = write_atomically(path, &text) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    errors += 1;
                }
                fixed += applied_here;
                fixed_files += 1;
            }
        }
        let mut diagnostics = result.diagnostics;
        diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
        failing |= diagnostics.iter().any(|d| fail_level.fails(d.severity));
        reports.push(FileReport {
            name: opts.hadolint.file_path_in_report.clone().unwrap_or(name),
            text,
            diagnostics,
        });
    }

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    report::write(&mut out, format.unwrap_or(Format::Human), &reports, opts.color)?;
    out.flush()?;
    if opts.fix {
        eprintln!(
            "applied {fixed} fix{} in {fixed_files} file{}",
            if fixed == 1 { "" } else { "es" },
            if fixed_files == 1 { "" } else { "s" }
        );
    }

    Ok(if errors > 0 {
        ExitCode::from(2)
    } else if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_parser::diagnostics::Fix;

    fn diag(fixes: &[&[(std::ops::Range<usize>, &str)]]) -> Diagnostic {
        let mut d = Diagnostic::warning("x", 0..0, "x");
        for edits in fixes {
            d.fixes.push(Fix {
                description: "f".into(),
                edits: edits
                    .iter()
                    .map(|(s, t)| Edit {
                        span: s.clone(),
                        text: t.to_string(),
                    })
                    .collect(),
            });
        }
        d
    }

    #[test]
    fn fixes_apply_back_to_front_and_skip_overlaps() {
        let text = "abcdef";
        let diags = [
            diag(&[&[(0..1, "A")]]),
            diag(&[&[(4..6, "")]]),
            diag(&[&[(5..6, "Z")]]),                 // overlaps 4..6: skipped
            diag(&[&[(2..2, "+"), (3..3, "-")]]),    // insertions, one fix
            diag(&[&[(2..2, "?")]]),                 // same insertion point: skipped
            diag(&[&[(1..2, "B")], &[(1..2, "C")]]), // only the first alternative
        ];
        assert_eq!(apply_fixes(text, &diags), ("AB+c-d".to_string(), 4));
        // Out-of-range or mid-character edits are never applied.
        assert_eq!(apply_fixes("é", &[diag(&[&[(1..2, "x")]])]), ("é".to_string(), 0));
        assert_eq!(apply_fixes("a", &[diag(&[&[(0..9, "x")]])]), ("a".to_string(), 0));
    }

    #[test]
    fn dockerfile_names() {
        for name in [
            "Dockerfile",
            "Containerfile",
            "api.Dockerfile",
            "x.dockerfile",
            "Dockerfile.dev",
            "Containerfile.arm",
        ] {
            assert!(is_dockerfile(name), "{name}");
        }
        for name in [
            "Dockerfile.dockerignore",
            "README.md",
            "dockerfile.txt",
            "MyDockerfile",
            "Dockerfile.json",
            "Dockerfile.md",
        ] {
            assert!(!is_dockerfile(name), "{name}");
        }
    }
}
