//! The syntax tree: what a Dockerfile says, with a byte span on every node.
//!
//! Spans are byte ranges into the text given to [`crate::parse`]. Values are
//! what BuildKit's parser makes of the text (continuations joined, comment
//! lines inside continuations dropped), so a value may be longer than, or
//! differ from, the slice its span covers.

use std::ops::Range;

/// A byte range in the parsed text.
pub type Span = Range<usize>;

/// A parsed Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Dockerfile {
    /// Parser directives found at the top (`# syntax=`, `# escape=`, `# check=`).
    pub directives: Vec<Directive>,
    /// The escape character in effect: `\` or `` ` ``.
    pub escape: char,
    /// Every instruction, in order; unknown instructions included.
    pub instructions: Vec<Instruction>,
    /// Every comment line outside heredoc bodies, in order.
    pub comments: Vec<Comment>,
}

/// A `# name=value` parser directive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Directive {
    /// Lowercased name: `syntax`, `escape` or `check`.
    pub name: String,
    pub value: String,
    /// 1-based line number.
    pub line: usize,
    pub span: Span,
    pub name_span: Span,
    pub value_span: Span,
}

/// A comment line (`# ...`), including those inside line continuations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Comment {
    /// The text after `#`, trimmed.
    pub text: String,
    pub span: Span,
}

/// The instructions BuildKit knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Keyword {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
}

impl Keyword {
    /// All 18 instructions.
    pub const ALL: [Keyword; 18] = [
        Keyword::Add,
        Keyword::Arg,
        Keyword::Cmd,
        Keyword::Copy,
        Keyword::Entrypoint,
        Keyword::Env,
        Keyword::Expose,
        Keyword::From,
        Keyword::Healthcheck,
        Keyword::Label,
        Keyword::Maintainer,
        Keyword::Onbuild,
        Keyword::Run,
        Keyword::Shell,
        Keyword::Stopsignal,
        Keyword::User,
        Keyword::Volume,
        Keyword::Workdir,
    ];

    /// The canonical upper-case spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Add => "ADD",
            Keyword::Arg => "ARG",
            Keyword::Cmd => "CMD",
            Keyword::Copy => "COPY",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Env => "ENV",
            Keyword::Expose => "EXPOSE",
            Keyword::From => "FROM",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Label => "LABEL",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Onbuild => "ONBUILD",
            Keyword::Run => "RUN",
            Keyword::Shell => "SHELL",
            Keyword::Stopsignal => "STOPSIGNAL",
            Keyword::User => "USER",
            Keyword::Volume => "VOLUME",
            Keyword::Workdir => "WORKDIR",
        }
    }

    /// Case-insensitive lookup, as BuildKit dispatches.
    pub fn from_name(name: &str) -> Option<Keyword> {
        Keyword::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(name))
    }

    /// Instructions whose arguments may open heredocs.
    pub fn allows_heredocs(self) -> bool {
        matches!(self, Keyword::Add | Keyword::Copy | Keyword::Run)
    }
}

impl std::fmt::Display for Keyword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One instruction, e.g. `COPY --from=build /out /app`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Instruction {
    /// The instruction name as written (`from`, `FROM`, `Run`, or an unknown word).
    pub name: String,
    /// `None` for an unknown instruction.
    pub keyword: Option<Keyword>,
    pub name_span: Span,
    /// `--name=value` flags before the arguments, in order.
    pub flags: Vec<Flag>,
    pub args: Args,
    /// Heredoc bodies opened by this instruction, in order.
    pub heredocs: Vec<Heredoc>,
    /// The whole instruction: first line through the last continuation or heredoc line.
    pub span: Span,
    /// 1-based first and last line (heredoc bodies included).
    pub start_line: usize,
    pub end_line: usize,
    /// The logical line: continuation lines joined, as BuildKit's `Original`.
    pub original: String,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
    /// How the logical line maps back to the source: `(logical offset, source offset)`
    /// at the start of each joined piece. See [`Instruction::source_offset`].
    #[serde(skip)]
    pub segments: Vec<(usize, usize)>,
}

impl Instruction {
    /// The instruction an `ONBUILD` wraps, or `self`.
    pub fn effective(&self) -> &Instruction {
        match &self.args {
            Args::Onbuild(inner) => inner,
            _ => self,
        }
    }

    /// Whether the arguments were written in exec (JSON) form.
    pub fn is_json(&self) -> bool {
        match &self.args {
            Args::Json(_) => true,
            Args::Healthcheck { cmd, .. } => matches!(**cmd, Args::Json(_)),
            _ => false,
        }
    }

    /// The source offset of byte `offset` of `word`'s text, for words that are
    /// slices of the logical line (shell-form commands, plain words): exact across
    /// continuation lines and dropped comment lines. JSON words map to their span start.
    pub fn source_offset(&self, word: &Word, offset: usize) -> usize {
        let segs = &self.segments;
        if segs.is_empty() {
            return (word.span.start + offset).min(word.span.end);
        }
        // Logical offset of the word's start: the segment holding its source start.
        let to_logical = |src: usize| {
            let i = segs.partition_point(|&(_, s)| s <= src).saturating_sub(1);
            segs.get(i).map_or(src, |&(l, s)| l + (src - s))
        };
        let logical = to_logical(word.span.start) + offset;
        let i = segs.partition_point(|&(l, _)| l <= logical).saturating_sub(1);
        let mapped = segs.get(i).map_or(logical, |&(l, s)| s + (logical - l));
        mapped.clamp(word.span.start, word.span.end)
    }

    /// A flag by name (without `--`), the last one if repeated.
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().rev().find(|f| f.name == name)
    }
}

/// A `--name[=value]` flag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Flag {
    /// The word as BuildKit keeps it, quotes removed: `--from=build`.
    pub text: String,
    /// The name without dashes: `from`.
    pub name: String,
    /// The part after `=`, if there is one.
    pub value: Option<String>,
    pub span: Span,
    pub name_span: Span,
    pub value_span: Option<Span>,
}

/// A word of an instruction's arguments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Word {
    /// The text, still unexpanded (quotes and escapes as written, except in
    /// JSON form where it is the decoded string).
    pub text: String,
    pub span: Span,
}

/// A `key=value` (or legacy `key value`) pair of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyValue {
    pub key: Word,
    pub value: Word,
    /// `true` for the `key=value` form, `false` for the legacy `key value` form.
    pub equals: bool,
}

/// An instruction's arguments, shaped as BuildKit's parser shapes them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "form", content = "value", rename_all = "snake_case")]
pub enum Args {
    /// Nothing after the instruction name (and its flags).
    Empty,
    /// An unknown instruction: its arguments are not interpreted.
    Ignored,
    /// Exec form: `["executable", "param"]`.
    Json(Vec<Word>),
    /// One string: the shell form of RUN/CMD/ENTRYPOINT/SHELL and the single
    /// argument of USER/WORKDIR/MAINTAINER/STOPSIGNAL.
    Shell(Word),
    /// Whitespace-separated words (FROM, EXPOSE, COPY, ADD, VOLUME, ARG).
    Words(Vec<Word>),
    /// ENV and LABEL.
    KeyValues(Vec<KeyValue>),
    /// `HEALTHCHECK NONE` or `HEALTHCHECK CMD ...`.
    Healthcheck { kind: Word, cmd: Box<Args> },
    /// `ONBUILD <instruction>`.
    Onbuild(Box<Instruction>),
}

impl Args {
    /// The argument words, flattened as BuildKit's `Node.Next` chain would be
    /// (ENV/LABEL as `key, value` pairs; see [`crate::buildkit`] for the exact forms).
    pub fn words(&self) -> Vec<&Word> {
        match self {
            Args::Empty | Args::Ignored | Args::Onbuild(_) => Vec::new(),
            Args::Json(w) | Args::Words(w) => w.iter().collect(),
            Args::Shell(w) => vec![w],
            Args::KeyValues(kvs) => kvs.iter().flat_map(|kv| [&kv.key, &kv.value]).collect(),
            Args::Healthcheck { kind, cmd } => {
                let mut v = vec![kind];
                v.extend(cmd.words());
                v
            }
        }
    }
}

/// A heredoc body: `<<EOF ... EOF`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// The `3` of `3<<EOF`; 0 when absent.
    pub file_descriptor: u32,
    /// `false` when any part of the delimiter was quoted (`<<"EOF"`): no expansion.
    pub expand: bool,
    /// `<<-EOF`: leading tabs are stripped from the body.
    pub chomp: bool,
    /// The body as written, every line with its line ending, tabs not yet stripped.
    pub content: String,
    /// The `<<EOF` word in the instruction line.
    pub marker_span: Span,
    /// The body lines.
    pub content_span: Span,
    /// The terminating line (empty when the heredoc is unterminated).
    pub terminator_span: Span,
}

impl Heredoc {
    /// The body after `<<-` tab stripping, as the build sees it.
    pub fn chomped_content(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        let mut out = String::with_capacity(self.content.len());
        for line in self.content.split_inclusive('\n') {
            out.push_str(line.trim_start_matches('\t'));
        }
        out
    }
}

/// Moves every span of a node by `delta` bytes and its line numbers by `lines`
/// (how an incremental re-parse carries the unchanged tail of a file past an edit).
pub(crate) trait Shift {
    fn shift(&mut self, delta: isize, lines: isize);
}

fn moved(at: usize, delta: isize) -> usize {
    at.saturating_add_signed(delta)
}

impl Shift for Span {
    fn shift(&mut self, delta: isize, _lines: isize) {
        *self = moved(self.start, delta)..moved(self.end, delta);
    }
}

impl Shift for Word {
    fn shift(&mut self, delta: isize, lines: isize) {
        self.span.shift(delta, lines);
    }
}

impl Shift for Flag {
    fn shift(&mut self, delta: isize, lines: isize) {
        self.span.shift(delta, lines);
        self.name_span.shift(delta, lines);
        if let Some(v) = &mut self.value_span {
            v.shift(delta, lines);
        }
    }
}

impl Shift for Args {
    fn shift(&mut self, delta: isize, lines: isize) {
        match self {
            Args::Empty | Args::Ignored => {}
            Args::Json(w) | Args::Words(w) => w.iter_mut().for_each(|w| w.shift(delta, lines)),
            Args::Shell(w) => w.shift(delta, lines),
            Args::KeyValues(kvs) => kvs.iter_mut().for_each(|kv| {
                kv.key.shift(delta, lines);
                kv.value.shift(delta, lines);
            }),
            Args::Healthcheck { kind, cmd } => {
                kind.shift(delta, lines);
                cmd.shift(delta, lines);
            }
            Args::Onbuild(inner) => inner.shift(delta, lines),
        }
    }
}

impl Shift for Heredoc {
    fn shift(&mut self, delta: isize, lines: isize) {
        self.marker_span.shift(delta, lines);
        self.content_span.shift(delta, lines);
        self.terminator_span.shift(delta, lines);
    }
}

impl Shift for Instruction {
    fn shift(&mut self, delta: isize, lines: isize) {
        self.name_span.shift(delta, lines);
        self.flags.iter_mut().for_each(|f| f.shift(delta, lines));
        self.args.shift(delta, lines);
        self.heredocs.iter_mut().for_each(|h| h.shift(delta, lines));
        self.span.shift(delta, lines);
        self.start_line = self.start_line.saturating_add_signed(lines);
        self.end_line = self.end_line.saturating_add_signed(lines);
        for (_, source) in &mut self.segments {
            *source = moved(*source, delta);
        }
    }
}

impl Shift for Comment {
    fn shift(&mut self, delta: isize, lines: isize) {
        self.span.shift(delta, lines);
    }
}

impl Shift for crate::Diagnostic {
    fn shift(&mut self, delta: isize, lines: isize) {
        self.span.shift(delta, lines);
        self.related.iter_mut().for_each(|(s, _)| s.shift(delta, lines));
        for fix in &mut self.fixes {
            fix.edits.iter_mut().for_each(|e| e.span.shift(delta, lines));
        }
    }
}
