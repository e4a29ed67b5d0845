//! Plain analysis functions: text (and its parse and model) in, plain data out.
//! Byte offsets everywhere; no LSP types (those live in `crate::proto`).

pub mod actions;
pub mod complete;
pub mod docs;
pub mod format;
pub mod hover;
pub mod outline;
pub mod tokens;

use slipway_parser::model::{Base, Model, VarDef};
use slipway_parser::syntax::{Args, Dockerfile, Instruction, Keyword, Span};
use slipway_parser::{lint, model, suppress, CheckOptions, Diagnostic};
use std::collections::HashMap;

/// Everything known about one version of a document.
pub struct Analysis {
    pub text: String,
    pub file: Dockerfile,
    pub model: Model,
    /// What `slipway check` reports, without the script checker (run separately, it is slow).
    pub diagnostics: Vec<Diagnostic>,
    /// The parser's own findings (kept so the next version can be parsed incrementally).
    parse_diagnostics: Vec<Diagnostic>,
    /// The best-practice rules' findings, per stage (so the next version re-checks only
    /// the stages an edit reaches).
    lint: lint::Lint,
    /// Every reference to a stage or variable, in source order; built on first use
    /// (publishing diagnostics does not need it).
    occurrences: std::sync::OnceLock<Vec<Occurrence>>,
}

/// What is left of a previous analysis once its tree has been taken.
pub enum Leftover {
    Owned(Box<Analysis>),
    Shared(std::sync::Arc<Analysis>),
}

impl Leftover {
    fn text(&self) -> &str {
        match self {
            Leftover::Owned(a) => &a.text,
            Leftover::Shared(a) => &a.text,
        }
    }
}

/// What a name refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A stage, by index.
    Stage(usize),
    /// A variable definition, by index into `Model::vars`.
    Var(usize),
    /// A variable nothing in the file defines (`$HOME`, a predefined ARG).
    Free(String),
}

/// One place where a stage or variable is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// The name itself (what rename replaces).
    pub span: Span,
    /// For variable uses, `$NAME` or `${NAME...}`; else the same as `span`.
    pub full: Span,
    pub target: Target,
    /// The defining occurrence.
    pub def: bool,
    /// The instruction it is in.
    pub instruction: usize,
}

impl Analysis {
    /// Parses, models and checks `text`. Mirrors `slipway_parser::check` (without the script
    /// hook) but keeps the model, so one parse serves every request on this version.
    pub fn new(text: String, options: &CheckOptions) -> Analysis {
        let parsed = slipway_parser::parse(&text);
        Analysis::from_parse(text, parsed, options, None)
    }

    /// The analysis of `text`, which is `previous`'s text after one edit (its bytes `edit`
    /// replaced by `inserted` bytes), with the same options: parsed again only around the
    /// edit, and only the stages the edit reaches are analysed and checked again. When
    /// nothing else holds `previous`, its parts are reused in place. What is left of
    /// `previous` comes back to be dropped when it suits the caller (freeing a big
    /// analysis takes a while).
    pub fn after_edit(
        text: String,
        previous: std::sync::Arc<Analysis>,
        edit: std::ops::Range<usize>,
        inserted: usize,
        options: &CheckOptions,
    ) -> (Analysis, Leftover) {
        let (left, old, reuse) = match std::sync::Arc::try_unwrap(previous) {
            Ok(mut a) => {
                let old = slipway_parser::Parse {
                    file: std::mem::take(&mut a.file),
                    diagnostics: std::mem::take(&mut a.parse_diagnostics),
                };
                let reuse = (std::mem::take(&mut a.model), std::mem::take(&mut a.lint));
                (Leftover::Owned(Box::new(a)), old, Some(reuse))
            }
            Err(shared) => {
                let old = slipway_parser::Parse {
                    file: shared.file.clone(),
                    diagnostics: shared.parse_diagnostics.clone(),
                };
                (Leftover::Shared(shared), old, None)
            }
        };
        let (parsed, change) = slipway_parser::reparse_with_change(&text, left.text(), old, edit, inserted);
        let again = match (change, reuse) {
            (Some(c), Some((model, lint))) => Some((c, model, lint)),
            _ => None,
        };
        (Analysis::from_parse(text, parsed, options, again), left)
    }

    fn from_parse(
        text: String,
        parsed: slipway_parser::Parse,
        options: &CheckOptions,
        again: Option<(slipway_parser::Change, Model, lint::Lint)>,
    ) -> Analysis {
        let (model, mut lint) = match again {
            Some((change, old_model, old_lint)) => {
                let model = model::reanalyze(&text, &parsed.file, options, old_model, &change);
                let lint = old_lint.after(&text, &parsed.file, &model, options, &change);
                (model, lint)
            }
            None => {
                let model = model::analyze(&text, &parsed.file, options);
                let lint = lint::Lint::new(&text, &parsed.file, &model, options);
                (model, lint)
            }
        };
        let mut diagnostics =
            Vec::with_capacity(parsed.diagnostics.len() + model.diagnostics.len() + lint.diagnostics.len());
        diagnostics.extend(parsed.diagnostics.iter().cloned());
        diagnostics.extend(model.diagnostics.iter().cloned());
        // (The lint keeps its findings per stage too; the merged list is only needed here.)
        diagnostics.append(&mut lint.diagnostics);
        let diagnostics = suppress::apply(&text, &parsed.file, diagnostics, &options.config);
        Analysis {
            text,
            file: parsed.file,
            model,
            diagnostics,
            parse_diagnostics: parsed.diagnostics,
            lint,
            occurrences: std::sync::OnceLock::new(),
        }
    }

    /// Every reference to a stage or variable, in source order.
    pub fn occurrences(&self) -> &[Occurrence] {
        self.occurrences
            .get_or_init(|| occurrences(&self.text, &self.file, &self.model))
    }

    /// The instruction whose span holds `offset` (the end of a line counts).
    pub fn instruction_at(&self, offset: usize) -> Option<usize> {
        let insts = &self.file.instructions;
        let i = insts.partition_point(|x| x.span.start <= offset).checked_sub(1)?;
        let span = &insts[i].span;
        let open_end = offset == span.end && !self.text[..span.end.min(self.text.len())].ends_with('\n');
        (offset < span.end || open_end).then_some(i)
    }

    /// The occurrence under `offset`, preferring one that starts or ends there.
    pub fn occurrence_at(&self, offset: usize) -> Option<&Occurrence> {
        self.occurrences()
            .iter()
            .find(|o| o.full.start <= offset && offset < o.full.end)
            .or_else(|| self.occurrences().iter().find(|o| o.full.end == offset))
    }

    /// Every occurrence of the target, definitions included.
    pub fn occurrences_of<'a>(&'a self, target: &'a Target) -> impl Iterator<Item = &'a Occurrence> + 'a {
        let same_name = move |o: &Occurrence| match (&o.target, target) {
            // Variables: every definition of the same name in the same scope chain is one symbol
            // for references and rename (ARG X ... ARG X redeclares the same variable).
            (Target::Var(a), Target::Var(b)) => self.same_var(*a, *b),
            (a, b) => a == b,
        };
        self.occurrences().iter().filter(move |o| same_name(o))
    }

    fn same_var(&self, a: usize, b: usize) -> bool {
        let (va, vb) = (&self.model.vars[a], &self.model.vars[b]);
        va.name == vb.name && va.stage == vb.stage
    }

    /// The definition of a variable in scope at `offset` (for hovers and hints).
    pub fn var_def(&self, target: &Target) -> Option<&VarDef> {
        match target {
            Target::Var(i) => self.model.vars.get(*i),
            _ => None,
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }
}

/// A `$NAME` or `${NAME...}` in source text: the name's span and the whole reference's.
pub fn scan_vars(text: &str, range: Span, escape: char, skip: &[Span], quotes: bool, out: &mut Vec<(Span, Span)>) {
    let bytes = text.as_bytes();
    let esc = escape as u8;
    let mut i = range.start;
    let mut single = false;
    let mut double = false;
    let is_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut skip_i = 0;
    while i < range.end {
        while skip_i < skip.len() && skip[skip_i].end <= i {
            skip_i += 1;
        }
        if let Some(s) = skip.get(skip_i) {
            if s.start <= i {
                i = s.end;
                continue;
            }
        }
        let b = bytes[i];
        if b == esc && !single {
            i += 2;
            continue;
        }
        if quotes {
            if b == b'\'' && !double {
                single = !single;
            } else if b == b'"' && !single {
                double = !double;
            }
        }
        if b == b'\n' {
            // A new physical line: a heredoc body or a continuation; quotes do not carry over
            // a heredoc, and an unbalanced quote must not hide the rest of the file.
            single = false;
            double = false;
        }
        if b != b'$' || single {
            i += 1;
            continue;
        }
        let start = i;
        if bytes.get(i + 1) == Some(&b'{') {
            let name_start = i + 2;
            let mut j = name_start;
            while j < range.end && is_name(bytes[j]) {
                j += 1;
            }
            if j > name_start && is_start(bytes[name_start]) {
                // The closing brace on the same line, counting nested braces.
                let mut depth = 1;
                let mut k = j;
                while k < range.end && bytes[k] != b'\n' {
                    match bytes[k] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                k += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    k += 1;
                }
                out.push((name_start..j, start..k));
                i = j;
                continue;
            }
            i = name_start;
            continue;
        }
        let name_start = i + 1;
        let mut j = name_start;
        if j < range.end && is_start(bytes[j]) {
            while j < range.end && is_name(bytes[j]) {
                j += 1;
            }
            out.push((name_start..j, start..j));
            i = j;
            continue;
        }
        i += 1;
    }
}

/// Whether an instruction's text is run by a shell (quotes follow shell rules there).
fn shell_like(inst: &Instruction) -> bool {
    matches!(
        inst.effective().keyword,
        Some(Keyword::Run | Keyword::Cmd | Keyword::Entrypoint | Keyword::Healthcheck | Keyword::Shell)
    )
}

/// Resolves a variable named `name` used in instruction `i`; `defs` holds the
/// definitions of each name, in file order.
fn resolve(model: &Model, defs: &HashMap<&str, Vec<usize>>, i: usize, name: &str, is_from: bool) -> Option<usize> {
    let candidates = defs.get(name)?;
    let last = |stage: Option<usize>, before: usize| {
        candidates.iter().rev().copied().find(|&d| {
            let v = &model.vars[d];
            v.stage == stage && v.instruction < before
        })
    };
    let stage = if is_from {
        None
    } else {
        model.stage_of.get(i).copied().flatten()
    };
    let Some(mut s) = stage else {
        return last(None, i);
    };
    let mut before = i;
    for _ in 0..=model.stages.len() {
        if let Some(d) = last(Some(s), before) {
            return Some(d);
        }
        match model.stages[s].base {
            Base::Stage(b) if b < s => {
                s = b;
                before = usize::MAX;
            }
            _ => break,
        }
    }
    None
}

fn occurrences(text: &str, file: &Dockerfile, model: &Model) -> Vec<Occurrence> {
    let mut out = Vec::new();
    let comment_spans: Vec<Span> = file.comments.iter().map(|c| c.span.clone()).collect();
    let mut var_def_at: HashMap<usize, usize> = HashMap::new();
    for (d, v) in model.vars.iter().enumerate() {
        var_def_at.insert(v.span.start, d);
    }
    let mut defs: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut vars_at: HashMap<usize, Vec<usize>> = HashMap::new();
    for (d, v) in model.vars.iter().enumerate() {
        defs.entry(v.name.as_str()).or_default().push(d);
        vars_at.entry(v.instruction).or_default().push(d);
    }
    let mut found = Vec::new();
    for (i, inst) in file.instructions.iter().enumerate() {
        let kw = inst.keyword;
        // Stage definitions and references.
        if kw == Some(Keyword::From) {
            if let Some(s) = model.stage_of[i] {
                let stage = &model.stages[s];
                if let Some(span) = &stage.name_span {
                    push(&mut out, span.clone(), Target::Stage(s), true, i);
                }
                if let Base::Stage(b) = stage.base {
                    if text.get(stage.base_span.clone()) == Some(stage.base_text.as_str()) {
                        push(&mut out, stage.base_span.clone(), Target::Stage(b), false, i);
                    }
                }
            }
        }
        let eff = inst.effective();
        for flag in &eff.flags {
            let Some(vspan) = &flag.value_span else { continue };
            let Some(value) = text.get(vspan.clone()) else { continue };
            if flag.name == "from" && value == flag.value.as_deref().unwrap_or_default() {
                if let Some(s) = stage_named(model, value) {
                    push(&mut out, vspan.clone(), Target::Stage(s), false, i);
                }
            }
            if flag.name == "mount" {
                let mut at = vspan.start;
                for field in value.split(',') {
                    if let Some(v) = field.strip_prefix("from=") {
                        if let Some(s) = stage_named(model, v) {
                            let start = at + "from=".len();
                            push(&mut out, start..start + v.len(), Target::Stage(s), false, i);
                        }
                    }
                    at += field.len() + 1;
                }
            }
        }
        // Variables: definitions, then every `$NAME` in the instruction.
        for &d in vars_at.get(&i).map_or(&[][..], Vec::as_slice) {
            push(&mut out, model.vars[d].span.clone(), Target::Var(d), true, i);
        }
        found.clear();
        let start = inst.name_span.end.min(inst.span.end);
        scan_vars(
            text,
            start..inst.span.end.min(text.len()),
            file.escape,
            &comment_spans[comment_spans.partition_point(|c| c.end <= start)..],
            shell_like(inst),
            &mut found,
        );
        for (name_span, full) in found.drain(..) {
            if var_def_at.contains_key(&name_span.start) {
                continue;
            }
            let name = &text[name_span.clone()];
            let target = match resolve(model, &defs, i, name, kw == Some(Keyword::From)) {
                Some(d) => Target::Var(d),
                None => Target::Free(name.to_string()),
            };
            out.push(Occurrence {
                span: name_span,
                full,
                target,
                def: false,
                instruction: i,
            });
        }
    }
    out.sort_by_key(|o| o.full.start);
    out
}

fn stage_named(model: &Model, name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    model
        .stages
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
}

fn push(out: &mut Vec<Occurrence>, span: Span, target: Target, def: bool, instruction: usize) {
    out.push(Occurrence {
        full: span.clone(),
        span,
        target,
        def,
        instruction,
    });
}

/// The words of an instruction's arguments with their spans (ONBUILD's inner instruction's).
pub fn arg_words(inst: &Instruction) -> Vec<&slipway_parser::syntax::Word> {
    match &inst.args {
        Args::Onbuild(inner) => inner.args.words(),
        a => a.words(),
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    /// Splits a fixture at its `$0` cursor marker: (text without the marker, offset).
    pub fn cursor(fixture: &str) -> (String, usize) {
        let at = fixture.find("$0").expect("fixture has a $0 cursor marker");
        (fixture.replacen("$0", "", 1), at)
    }

    pub fn analyze(text: &str) -> super::Analysis {
        super::Analysis::new(text.to_string(), &slipway_parser::CheckOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{analyze, cursor};

    fn refs(fixture: &str) -> Vec<String> {
        let (text, at) = cursor(fixture);
        let a = analyze(&text);
        let occ = a.occurrence_at(at).expect("an occurrence at the cursor");
        a.occurrences_of(&occ.target)
            .map(|o| format!("{}{}", if o.def { "def " } else { "" }, &text[o.full.clone()]))
            .collect()
    }

    #[test]
    fn stage_references_cover_from_copy_and_mounts() {
        let f = "FROM alpine AS bu$0ild\nRUN make\nFROM build AS test\nCOPY --from=build /a /b\nRUN --mount=type=bind,from=build,target=/x true\nFROM scratch\nCOPY --from=0 /a /b\n";
        assert_eq!(refs(f), ["def build", "build", "build", "build"]);
    }

    #[test]
    fn variables_resolve_per_stage_and_through_stage_bases() {
        let f = "ARG V$0=1\nFROM alpine:$V AS a\nARG V\nENV P=/opt/${V}\nFROM a\nRUN echo $V '$V' \"$V\"\n";
        assert_eq!(refs(f), ["def V", "$V"]);
        let f = "ARG V=1\nFROM alpine:$V AS a\nARG V$0\nENV P=/opt/${V}\nFROM a\nRUN echo $V '$V' \"$V\"\n";
        assert_eq!(refs(f), ["def V", "${V}", "$V", "$V"]);
    }

    #[test]
    fn escaped_dollars_and_comments_are_not_uses() {
        let (text, _) = cursor("FROM a\nENV A=1\nRUN echo \\$A \\\n# $A in a comment\n  $A$0\n");
        let a = analyze(&text);
        let uses: Vec<_> = a
            .occurrences()
            .iter()
            .filter(|o| !o.def)
            .map(|o| &text[o.full.clone()])
            .collect();
        assert_eq!(uses, ["$A"]);
    }
}

/// Facts about an image in the local store (for hovers and inlay hints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// The full reference it was found under.
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// Compressed layer bytes.
    pub size: u64,
    pub layers: usize,
    pub platform: String,
    pub created: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
}

/// A step's cache status from a dry-run plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepStatus {
    /// 1-based line of the step's instruction.
    pub line: usize,
    pub cached: bool,
    pub reasons: Vec<String>,
}

/// What the analysis may consult beyond the text: the image store and the last plan.
pub struct World<'a> {
    pub image: &'a dyn Fn(&str) -> Option<ImageInfo>,
    pub steps: &'a [StepStatus],
    /// Image names in the store (familiar names with tags), for completion.
    pub images: &'a [String],
}

impl World<'_> {
    /// No store, no plan.
    pub fn none() -> World<'static> {
        World {
            image: &|_| None,
            steps: &[],
            images: &[],
        }
    }
}
