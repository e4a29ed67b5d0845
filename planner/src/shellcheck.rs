//! RUN scripts checked by an external `shellcheck`, every finding mapped to
//! its exact span in the Dockerfile.
//!
//! The scripts, their dialects and their maps come from
//! [`slipway_parser::scripts`]; this module only runs the program and maps
//! its `--format=json1` output (1-based lines, columns in characters with a
//! tab as one column, end column exclusive) back through [`Script`].
//!
//! - Declared names: shellcheck warns about lowercase variables that are
//!   referenced but never assigned (SC2154). The ARG/ENV names in scope are
//!   declared by one `export a b …` line appended after a blank line (the blank
//!   line ends a trailing `\` continuation). Appended, not prepended: a shebang
//!   must stay on line 1 and a `# shellcheck disable=…` comment before the
//!   first command covers the whole script only if it stays there, while
//!   shellcheck looks for assignments anywhere. Findings past the script's
//!   last line are dropped.
//! - Speed: starting shellcheck costs about 13 ms, checking a typical RUN
//!   about 3 ms, so scripts are written to a temporary directory and checked
//!   in batches (one `--shell` per batch), one batch per worker thread at a
//!   time, as many workers as CPUs ([`Config::jobs`]).
//! - Options: `--norc` (findings do not depend on a `.shellcheckrc` found
//!   from the temporary directory; suppress with slipway's own ignores) and
//!   SC1090/SC1091 excluded (sourced files live in the image).
//! - Robustness: a batch that fails (exit code 2–4, unreadable output) or
//!   outlives [`Config::timeout`] (it is killed) is retried one script at a
//!   time; a script that fails alone yields nothing. Without shellcheck,
//!   [`check`] returns nothing: reporting that once is the caller's job.

use serde::Deserialize;
use slipway_parser::diagnostics::{Edit, Fix};
use slipway_parser::model::Model;
use slipway_parser::scripts::{scripts, Script};
use slipway_parser::{Diagnostic, Dockerfile, Severity};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// Checks that cannot apply to a RUN: sourced files live in the image, not
/// next to the Dockerfile (SC1090: can't follow a non-constant source,
/// SC1091: not following a source).
const EXCLUDE: &str = "--exclude=SC1090,SC1091";

/// How to run shellcheck.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `shellcheck` executable.
    pub program: PathBuf,
    /// Processes run at the same time (at least 1).
    pub jobs: usize,
    /// How long one process may run before it is killed.
    pub timeout: Duration,
    /// The most scripts one process checks (at least 1).
    pub max_batch: usize,
}

impl Config {
    /// The shellcheck found by [`available`], one job per CPU, 30 s per
    /// process, batches of at most 64 scripts.
    pub fn detect() -> Option<Config> {
        Some(Config {
            program: available()?,
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
            timeout: Duration::from_secs(30),
            max_batch: 64,
        })
    }
}

/// One Dockerfile to check: its text, tree and model.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub text: &'a str,
    pub file: &'a Dockerfile,
    pub model: &'a Model,
}

/// The shellcheck to run: `$SLIPWAY_SHELLCHECK` when set (a path, or a name
/// looked up on `PATH`; set but empty turns shellcheck off), else
/// `shellcheck` on `PATH`.
pub fn available() -> Option<PathBuf> {
    // Absolute: the process runs in a temporary directory.
    let found = match std::env::var_os("SLIPWAY_SHELLCHECK") {
        Some(v) if v.is_empty() => None,
        Some(v) => {
            let p = PathBuf::from(v);
            if p.components().count() > 1 {
                is_executable(&p).then_some(p)
            } else {
                on_path(&p)
            }
        }
        None => on_path(Path::new("shellcheck")),
    }?;
    Some(std::path::absolute(&found).unwrap_or(found))
}

fn on_path(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let p = dir.join(name);
        if is_executable(&p) {
            return Some(p);
        }
        let exe = p.with_extension("exe");
        (cfg!(windows) && is_executable(&exe)).then_some(exe)
    })
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// shellcheck's findings on every RUN script of one Dockerfile, sorted by
/// span; empty when shellcheck is not [`available`].
pub fn check(text: &str, file: &Dockerfile, model: &Model) -> Vec<Diagnostic> {
    let Some(config) = Config::detect() else {
        return Vec::new();
    };
    check_files(&[Input { text, file, model }], &config)
        .pop()
        .unwrap_or_default()
}

/// shellcheck's findings for many Dockerfiles at once (one list per input, in
/// order, each sorted by span): batches are shared across files, so a
/// directory of small Dockerfiles keeps every worker busy.
pub fn check_files(inputs: &[Input<'_>], config: &Config) -> Vec<Vec<Diagnostic>> {
    findings(inputs, config, HashMap::new()).0
}

/// Each input's findings (sorted by span), from shellcheck and from `known` (comments on
/// inputs it was given before), and the comments on every script of `inputs`.
fn findings(
    inputs: &[Input<'_>],
    config: &Config,
    known: HashMap<Given, Vec<Comment>>,
) -> (Vec<Vec<Diagnostic>>, HashMap<Given, Vec<Comment>>) {
    let items: Vec<(usize, Script)> = inputs
        .iter()
        .enumerate()
        .flat_map(|(k, i)| scripts(i.text, i.file, i.model).into_iter().map(move |s| (k, s)))
        .collect();
    let given: Vec<Given> = items.iter().map(|(_, s)| (s.dialect, input(s))).collect();
    let found = comments_of(config, &given, known);
    let mut out = vec![Vec::new(); inputs.len()];
    for ((k, script), key) in items.iter().zip(&given) {
        let comments = found.get(key).map_or(&[][..], Vec::as_slice);
        out[*k].extend(comments.iter().filter_map(|c| diagnostic(inputs[*k].text, script, c)));
    }
    for diagnostics in &mut out {
        diagnostics.sort_by(|a, b| {
            (a.span.start, a.span.end, a.code, &a.message).cmp(&(b.span.start, b.span.end, b.code, &b.message))
        });
    }
    (out, found)
}

/// What shellcheck was given: the dialect and the text.
type Given = (&'static str, String);

/// shellcheck's comments on each distinct input of `given` (a script that occurs twice,
/// as the same heredoc in many stages, is checked once), taken from `known` where it has them.
fn comments_of(
    config: &Config,
    given: &[Given],
    mut known: HashMap<Given, Vec<Comment>>,
) -> HashMap<Given, Vec<Comment>> {
    let mut found: HashMap<Given, Vec<Comment>> = HashMap::with_capacity(given.len());
    let mut missing: Vec<Given> = Vec::new();
    for key in given {
        if found.contains_key(key) {
            continue;
        }
        match known.remove(key) {
            Some(comments) => {
                found.insert(key.clone(), comments);
            }
            None => {
                found.insert(key.clone(), Vec::new());
                missing.push(key.clone());
            }
        }
    }
    for (key, comments) in missing.iter().zip(comments(config, &missing)) {
        found.insert(key.clone(), comments);
    }
    found
}

/// What shellcheck found in the scripts of one document's last version, by what it was
/// given: checking the next version runs shellcheck only on the scripts that changed
/// (an edit in a 2,000-line file re-checks one RUN, not all of them).
#[derive(Debug, Default)]
pub struct Cache {
    program: PathBuf,
    found: HashMap<Given, Vec<Comment>>,
}

/// [`check`] with `config`, running shellcheck only on the scripts `cache` (the
/// document's previous check) has no findings for; the cache then holds this version's.
pub fn check_with(document: Input<'_>, config: &Config, cache: &mut Cache) -> Vec<Diagnostic> {
    if cache.program != config.program {
        *cache = Cache {
            program: config.program.clone(),
            ..Cache::default()
        };
    }
    let (mut out, found) = findings(&[document], config, std::mem::take(&mut cache.found));
    cache.found = found;
    out.pop().unwrap_or_default()
}

/// shellcheck's comments on each (dialect, input text), in order.
fn comments(config: &Config, given: &[Given]) -> Vec<Vec<Comment>> {
    let mut out = vec![Vec::new(); given.len()];
    if given.is_empty() {
        return out;
    }
    let Ok(dir) = tempfile::Builder::new().prefix("slipway-shellcheck-").tempdir() else {
        return out;
    };
    for (n, (_, text)) in given.iter().enumerate() {
        if std::fs::write(dir.path().join(file_name(n)), text).is_err() {
            return out;
        }
    }

    // Batches of one dialect, about one per worker, at most `max_batch` scripts.
    let jobs = config.jobs.max(1);
    let mut order: Vec<usize> = (0..given.len()).collect();
    order.sort_by_key(|&n| (given[n].0, n));
    let size = given.len().div_ceil(jobs).clamp(1, config.max_batch.max(1));
    let batches: Vec<&[usize]> = order
        .chunk_by(|&a, &b| given[a].0 == given[b].0)
        .flat_map(|group| group.chunks(size))
        .collect();

    let next = AtomicUsize::new(0);
    let found: Mutex<Vec<(usize, Comment)>> = Mutex::new(Vec::new());
    let work = || {
        while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
            let comments = run_batch(config, dir.path(), given[batch[0]].0, batch);
            found.lock().unwrap_or_else(PoisonError::into_inner).extend(comments);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..jobs.min(batches.len()) {
            s.spawn(work);
        }
        work();
    });
    for (n, comment) in found.into_inner().unwrap_or_else(PoisonError::into_inner) {
        out[n].push(comment);
    }
    out
}

fn file_name(n: usize) -> String {
    format!("{n}.sh")
}

/// The text given to shellcheck: the script, then the declaration line.
fn input(script: &Script) -> String {
    let names: Vec<&str> = script
        .declared
        .iter()
        .map(String::as_str)
        .filter(|n| {
            let mut c = n.chars();
            c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect();
    let mut text = script.text.clone();
    if !names.is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("\nexport ");
        text.push_str(&names.join(" "));
        text.push('\n');
    }
    text
}

/// One finding of `--format=json1`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Comment {
    file: String,
    line: usize,
    end_line: usize,
    column: usize,
    end_column: usize,
    level: String,
    code: u32,
    message: String,
    #[serde(default)]
    fix: Option<ShellcheckFix>,
}

#[derive(Debug, Clone, Deserialize)]
struct ShellcheckFix {
    replacements: Vec<Replacement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Replacement {
    line: usize,
    end_line: usize,
    column: usize,
    end_column: usize,
    /// For an insertion, which side it sticks to: `beforeStart` (the text
    /// before it, as a closing quote) or `afterEnd` (the text after it).
    #[serde(default)]
    insertion_point: String,
    replacement: String,
}

#[derive(Deserialize)]
struct Output {
    comments: Vec<Comment>,
}

/// Checks the scripts `batch` (indices, files in `dir`), alone if the batch fails.
fn run_batch(config: &Config, dir: &Path, dialect: &str, batch: &[usize]) -> Vec<(usize, Comment)> {
    let names: HashMap<String, usize> = batch.iter().map(|&n| (file_name(n), n)).collect();
    match run(config, dir, dialect, batch) {
        Some(comments) => comments
            .into_iter()
            .filter_map(|c| Some((*names.get(&c.file)?, c)))
            .collect(),
        None if batch.len() > 1 => batch
            .iter()
            .flat_map(|n| run_batch(config, dir, dialect, std::slice::from_ref(n)))
            .collect(),
        None => Vec::new(),
    }
}

/// One shellcheck process over some script files; `None` when it fails or times out.
fn run(config: &Config, dir: &Path, dialect: &str, batch: &[usize]) -> Option<Vec<Comment>> {
    let mut child = Command::new(&config.program)
        .current_dir(dir)
        // GHC runtime options from the environment make shellcheck exit 1 with no output.
        .env_remove("GHCRTS")
        .args(["--format=json1", "--norc", EXCLUDE, &format!("--shell={dialect}"), "--"])
        .args(batch.iter().map(|&n| file_name(n)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    // The reader ends when the process closes its output, also when killed.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = tx.send(stdout.read_to_end(&mut out).map(|_| out));
    });
    let Ok(Ok(output)) = rx.recv_timeout(config.timeout) else {
        // Not joined: a grandchild may hold the pipe open after the kill.
        let _ = child.kill();
        let _ = child.wait();
        return None;
    };
    let _ = reader.join();
    let status = child.wait().ok()?;
    // 0: no findings, 1: findings; 2: a file failed, 3: bad syntax, 4: bad options.
    if !matches!(status.code(), Some(0 | 1)) {
        return None;
    }
    serde_json::from_slice::<Output>(&output).ok().map(|o| o.comments)
}

/// A finding as a diagnostic on the Dockerfile; `None` for the declaration line.
fn diagnostic(text: &str, script: &Script, c: &Comment) -> Option<Diagnostic> {
    let lines = script.line_count();
    if c.line == 0 || c.line > lines {
        return None;
    }
    let start = script.line_col_to_offset(c.line, c.column);
    let end = if c.end_line > lines {
        script.text.len()
    } else {
        script.line_col_to_offset(c.end_line, c.end_column)
    };
    let severity = match c.level.as_str() {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        _ => Severity::Advice,
    };
    let mut d = Diagnostic::warning(
        code(c.code),
        script.source_span(start..end.max(start)),
        c.message.clone(),
    )
    .with_help(format!("https://www.shellcheck.net/wiki/SC{}", c.code));
    d.severity = severity;
    if let Some(fix) = c.fix.as_ref().and_then(|f| fix(text, script, lines, f)) {
        d.fixes.push(fix);
    }
    Some(d)
}

/// shellcheck's replacements as edits of the Dockerfile, when each one maps
/// exactly (a replaced range is the same text in the source) and adds no line.
fn fix(text: &str, script: &Script, lines: usize, f: &ShellcheckFix) -> Option<Fix> {
    let mut edits = Vec::new();
    for r in &f.replacements {
        if r.line == 0 || r.line > lines || r.end_line > lines || r.replacement.contains('\n') {
            return None;
        }
        let a = script.line_col_to_offset(r.line, r.column);
        let b = script.line_col_to_offset(r.end_line, r.end_column);
        let span = if a == b {
            let at = if r.insertion_point == "beforeStart" {
                script.source_end(a)
            } else {
                script.source_offset(a)
            };
            at..at
        } else {
            let span = script.source_span(a..b);
            if b < a || text.get(span.clone()) != script.text.get(a..b) {
                return None;
            }
            span
        };
        edits.push(Edit {
            span,
            text: r.replacement.clone(),
        });
    }
    (!edits.is_empty()).then(|| Fix {
        description: "apply shellcheck's suggestion".into(),
        edits,
    })
}

/// `shellcheck::SC2086` as a `&'static str`. Interned: each distinct code is
/// leaked once, and shellcheck's codes are four-digit numbers, so the table
/// is bounded (in practice a few hundred entries); other numbers share one code.
fn code(number: u32) -> &'static str {
    static CODES: OnceLock<Mutex<HashMap<u32, &'static str>>> = OnceLock::new();
    if !(1000..=9999).contains(&number) {
        return "shellcheck";
    }
    let mut codes = CODES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    codes
        .entry(number)
        .or_insert_with(|| Box::leak(format!("shellcheck::SC{number}").into_boxed_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_interned_once() {
        let a = code(2086);
        assert_eq!(a, "shellcheck::SC2086");
        assert!(std::ptr::eq(a, code(2086)));
        assert_eq!(code(12), "shellcheck");
    }

    #[test]
    fn declarations_follow_the_script_after_a_blank_line() {
        let text = "FROM alpine\nARG lower\nARG bad-name\nENV UPPER=1\nRUN echo a \\\n  b\n";
        let parsed = slipway_parser::parse(text);
        let model = slipway_parser::model::analyze(text, &parsed.file, &Default::default());
        let s = &scripts(text, &parsed.file, &model)[0];
        assert_eq!(input(s), "echo a   b\n\nexport UPPER lower\n");
    }
}
