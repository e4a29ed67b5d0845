//! slipway-parser: Dockerfile text → syntax tree + diagnostics, the way
//! BuildKit's Dockerfile frontend reads it.
//!
//! - [`parse`] never fails: it returns a [`Parse`] — the tree and every
//!   problem found — and recovers at instruction boundaries.
//! - Every node carries its byte span into the parsed text; values are what
//!   BuildKit's parser makes of the text.
//! - [`shell`] expands words (`$a`, `${a:-b}`, …) as BuildKit's shell lexer does;
//!   [`expand`] applies it to an instruction's words with spans for errors.
//! - [`buildkit`] renders BuildKit-compatible views (`Node.Dump()`, the PyPI
//!   `dockerfile` JSON) for conformance testing.
//!
//! Invariants: this crate depends on no other slipway crate; it does no I/O;
//! it speaks byte offsets, never line/column or UTF-16.

pub mod buildkit;
pub mod diagnostics;
mod expand;
pub mod flags;
pub mod graph;
mod json;
pub mod lint;
pub mod model;
mod parse;
pub mod rules;
pub mod scripts;
pub mod shell;
pub mod suppress;
pub mod syntax;
pub mod values;

pub use diagnostics::{Diagnostic, Phase, Severity};
pub use expand::expand;
pub use syntax::*;

/// The result of parsing: a tree and the problems found on the way.
#[derive(Debug, Clone)]
pub struct Parse {
    pub file: Dockerfile,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parse {
    /// Whether BuildKit's parser would reject this file.
    pub fn rejected(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::rejects_parse)
    }

    /// Whether anything is an error (for BuildKit's parser or for a build).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
}

/// Parses a Dockerfile. Never fails; see [`Parse::diagnostics`].
pub fn parse(text: &str) -> Parse {
    parse::parse(text)
}

/// Whether a build-context path is excluded by `.dockerignore`.
pub type IgnoreFn = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Checks the shell scripts of RUN instructions (shellcheck, in the planner
/// crate, which may do I/O); its findings are suppressed like the others.
pub type ScriptChecker = std::sync::Arc<dyn Fn(&str, &Dockerfile, &model::Model) -> Vec<Diagnostic> + Send + Sync>;

/// What `check` needs beyond the text.
#[derive(Clone, Default)]
pub struct CheckOptions {
    /// `--build-arg NAME=value` (only declared ARGs take them, as in BuildKit).
    pub build_args: Vec<(String, String)>,
    /// `--target`: the stage being built (the value of `TARGETSTAGE`).
    pub target: Option<String>,
    /// Whether a context path (relative, `/`-separated) is excluded by `.dockerignore`;
    /// `None` when there is no build context (CopyIgnoredFile is then not checked).
    pub ignored: Option<IgnoreFn>,
    /// Suppression and severity configuration.
    pub config: suppress::Config,
    /// Script checks (shellcheck), if enabled.
    pub scripts: Option<ScriptChecker>,
    /// `--platform`: the target platform (`TARGETPLATFORM` and the other `TARGET*` ARGs);
    /// `None` is the host's.
    pub platform: Option<model::PlatformArgs>,
}

/// Parses, builds the semantic model and runs every check: parse errors,
/// build (instruction conversion) errors, BuildKit's build checks and
/// slipway's best-practice rules, with suppressions applied.
pub fn check(text: &str, options: &CheckOptions) -> Parse {
    let mut parsed = parse(text);
    let mut model = model::analyze(text, &parsed.file, options);
    parsed.diagnostics.append(&mut model.diagnostics);
    parsed
        .diagnostics
        .extend(lint::run(text, &parsed.file, &model, options));
    parsed
        .diagnostics
        .extend(lint::platform::run(text, &parsed.file, &model, options));
    if let Some(scripts) = &options.scripts {
        parsed.diagnostics.extend(scripts(text, &parsed.file, &model));
    }
    parsed.diagnostics = suppress::apply(
        text,
        &parsed.file,
        std::mem::take(&mut parsed.diagnostics),
        &options.config,
    );
    parsed
}

/// Parses `text`: `old_text` (parsed as `old`) after one edit, its bytes `edit` replaced
/// by `inserted` bytes. Re-reads only the instructions the edit touches and moves the
/// others out of `old`; the same result as [`parse`], faster on big files. Falls back to
/// a whole parse when the edit is near the top or changes where instructions begin and end,
/// and when the two texts differ anywhere but at `edit` (a caller's mistake costs speed,
/// never a wrong tree).
pub fn reparse(text: &str, old_text: &str, old: Parse, edit: std::ops::Range<usize>, inserted: usize) -> Parse {
    reparse_with_change(text, old_text, old, edit, inserted).0
}

/// [`reparse`], and how the new tree relates to the old one when it was re-parsed in part
/// (`None` after a whole parse): what [`model::reanalyze`] and [`lint::Lint::after`] need
/// to redo only the stages the edit touched.
pub fn reparse_with_change(
    text: &str,
    old_text: &str,
    old: Parse,
    edit: std::ops::Range<usize>,
    inserted: usize,
) -> (Parse, Option<Change>) {
    match parse::reparse(text, old_text, old, edit, inserted) {
        Some((parsed, change)) => (parsed, Some(change)),
        None => (parse::parse(text), None),
    }
}

/// Where an incremental re-parse changed a tree: old instructions `replaced` became new
/// instructions `replaced.start..new_end`; the old bytes `bytes` were replaced and
/// everything after them moved by `delta` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub bytes: std::ops::Range<usize>,
    pub delta: isize,
    pub replaced: std::ops::Range<usize>,
    pub new_end: usize,
}

impl Change {
    /// Where an old span is in the new text; `None` when it touches the edit.
    pub fn span(&self, s: &Span) -> Option<Span> {
        if s.end < self.bytes.start {
            Some(s.clone())
        } else if s.start > self.bytes.end {
            Some(s.start.checked_add_signed(self.delta)?..s.end.checked_add_signed(self.delta)?)
        } else {
            None
        }
    }

    /// The new index of an old instruction; `None` for a replaced one.
    pub fn instruction(&self, i: usize) -> Option<usize> {
        if i < self.replaced.start {
            Some(i)
        } else if i >= self.replaced.end {
            Some(i - self.replaced.end + self.new_end)
        } else {
            None
        }
    }

    /// Whether new instructions `range` include a re-parsed one.
    pub fn touches(&self, range: std::ops::Range<usize>) -> bool {
        range.start < self.new_end && self.replaced.start < range.end
    }

    /// Whether old instructions `range` include a replaced one.
    pub fn touched(&self, range: std::ops::Range<usize>) -> bool {
        range.start < self.replaced.end && self.replaced.start < range.end
    }

    /// Moves a diagnostic to the new text; `false` (and the diagnostic moved in part) when
    /// any of its spans touches the edit.
    pub fn move_diagnostic(&self, d: &mut Diagnostic) -> bool {
        let mut ok = true;
        let mut move_span = |s: &mut Span| match self.span(s) {
            Some(new) => *s = new,
            None => ok = false,
        };
        move_span(&mut d.span);
        d.related.iter_mut().for_each(|(s, _)| move_span(s));
        d.fixes
            .iter_mut()
            .flat_map(|f| f.edits.iter_mut())
            .for_each(|e| move_span(&mut e.span));
        ok
    }
}
