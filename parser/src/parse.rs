//! Text → [`Dockerfile`]: physical lines, parser directives, line
//! continuations, instructions, arguments and heredocs, with BuildKit's
//! exact rules (see `frontend/dockerfile/parser` in moby/buildkit) and spans
//! on everything.
//!
//! BuildKit stops at the first error; this parser records it and goes on with
//! the next instruction, so one mistake never hides the next.

use crate::diagnostics::{codes, did_you_mean, Diagnostic, Phase};
use crate::json::{self, JsonArray};
use crate::shell::{Lexer, NoEnv};
use crate::syntax::*;
use crate::Parse;

/// Longest physical line BuildKit's line scanner accepts (bufio.MaxScanTokenSize, newline included).
const MAX_LINE: usize = 64 * 1024;

/// `ONBUILD ONBUILD …` deeper than this is not parsed further (BuildKit rejects any chain).
const MAX_ONBUILD_DEPTH: usize = 32;

/// `unicode.IsSpace` of Go.
pub(crate) fn is_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}')
        || (c > '\u{ff}' && c.is_whitespace())
}

/// The `[\t\v\f\r ]` class BuildKit splits words with.
fn is_split_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// BuildKit's flag scanner also takes the bytes 0x85 and 0xA0 for spaces, even
/// inside a UTF-8 character (`à` is C3 A0). We follow it where the byte ends a
/// character, so the text after it still starts on a character boundary.
fn splits_char(b: &[u8], pos: usize) -> bool {
    matches!(b[pos], 0x85 | 0xa0) && (pos + 1 == b.len() || (b[pos + 1] as i8) >= -0x40)
}

/// The ASCII part of `unicode.IsSpace(rune(b))` on a single byte, as BuildKit's flag scanner does.
fn is_byte_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

fn trim_go_space(s: &str) -> (usize, &str) {
    let start = s.len() - s.trim_start_matches(is_go_space).len();
    (start, s[start..].trim_end_matches(is_go_space))
}

/// A physical line: its offset in the text and its bytes, line ending included.
#[derive(Clone, Copy)]
struct Line<'a> {
    offset: usize,
    text: &'a str,
}

impl<'a> Line<'a> {
    /// The line without trailing `\r`/`\n` characters.
    fn content(&self) -> &'a str {
        self.text.trim_end_matches(['\r', '\n'])
    }
}

struct Lines<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;
    fn next(&mut self) -> Option<Line<'a>> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let len = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let line = Line {
            offset: self.pos,
            text: &rest[..len],
        };
        self.pos += len;
        Some(line)
    }
}

/// A logical line: continuation lines joined, with a map back to source offsets.
#[derive(Default)]
pub(crate) struct Logical {
    pub(crate) text: String,
    /// `(offset in text, offset in source)` at the start of each joined piece.
    segments: Vec<(usize, usize)>,
}

impl Logical {
    fn push(&mut self, piece: &str, source_offset: usize) {
        self.segments.push((self.text.len(), source_offset));
        self.text.push_str(piece);
    }

    /// Source offset of a position in the logical text (the start of what is there).
    pub(crate) fn start(&self, at: usize) -> usize {
        let i = self.segments.partition_point(|&(l, _)| l <= at).saturating_sub(1);
        match self.segments.get(i) {
            Some(&(l, s)) => s + (at - l),
            None => at,
        }
    }

    /// Source offset of the end of a range ending at `at` in the logical text.
    pub(crate) fn end(&self, at: usize) -> usize {
        let i = self.segments.partition_point(|&(l, _)| l < at).saturating_sub(1);
        match self.segments.get(i) {
            Some(&(l, s)) => s + (at - l),
            None => at,
        }
    }

    pub(crate) fn span(&self, range: std::ops::Range<usize>) -> Span {
        if range.is_empty() {
            let s = self.start(range.start);
            return s..s;
        }
        self.start(range.start)..self.end(range.end)
    }
}

/// The directive parser of BuildKit: `# name=value` lines before anything else.
struct DirectiveState {
    done: bool,
    line: usize,
    after_shebang: bool,
}

struct Parser<'a> {
    text: &'a str,
    onbuild_depth: usize,
    escape: char,
    directives: DirectiveState,
    file: Dockerfile,
    diags: Vec<Diagnostic>,
    /// Where reading starts, and the number of lines before it (a re-parse starts mid-file).
    start: usize,
    start_line: usize,
    /// Set when the text ran out in the middle of something (a continuation, a heredoc,
    /// comments waiting for their instruction): a re-parsed region then did not end on
    /// an instruction boundary.
    ran_out: bool,
    /// Where the instruction before `start` ends (a re-parse starts after one).
    previous_end: Option<usize>,
}

pub(crate) fn parse(text: &str) -> Parse {
    let mut p = Parser::new(text);
    p.run();
    p.file.escape = p.escape;
    snap_all(text, &mut p.diags);
    Parse {
        file: p.file,
        diagnostics: p.diags,
    }
}

/// Spans inside flag values are computed by offset arithmetic: makes sure every
/// diagnostic lands on character boundaries inside the text.
fn snap_all(text: &str, diags: &mut [Diagnostic]) {
    for d in diags {
        d.span = snap(text, d.span.clone());
        for (span, _) in &mut d.related {
            *span = snap(text, span.clone());
        }
    }
}

/// The part of a file an edit makes parse again, parsed.
struct Region<'t> {
    /// Old instructions `a..tail` are replaced by the region's.
    a: usize,
    tail: usize,
    /// The region's start (same in both texts) and its end in the old text.
    start: usize,
    end_old: usize,
    /// How far the text after the region moved, in bytes and in lines.
    delta: isize,
    line_delta: isize,
    p: Parser<'t>,
}

/// Finds and parses the region of `text` that the edit changed; `None` when the old tree
/// cannot be reused around it.
fn region<'t>(
    text: &'t str,
    old_text: &str,
    old_file: &Dockerfile,
    edit: &std::ops::Range<usize>,
    inserted: usize,
) -> Option<Region<'t>> {
    let insts = &old_file.instructions;
    let old_len = old_text.len();
    if edit.start > edit.end
        || edit.end > old_len
        || text.len() + edit.len() != old_len + inserted
        || text.get(..edit.start) != old_text.get(..edit.start)
        || text.get(edit.start + inserted..) != old_text.get(edit.end..)
    {
        return None;
    }
    // The first instruction the edit can change (comments above an instruction belong to it),
    // and the last one parsed again: the first that starts after the edit.
    let a = insts.partition_point(|i| i.span.end < edit.start);
    let b = insts.partition_point(|i| i.span.start <= edit.end);
    if a == 0 || a >= insts.len() {
        return None;
    }
    let delta = inserted as isize - edit.len() as isize;
    // The offset after the line ending at or after `at` in the old text.
    let line_end = |at: usize| {
        old_text
            .get(at..)
            .and_then(|rest| rest.find('\n'))
            .map_or(old_len, |k| at + k + 1)
    };
    // The region starts on the line after instruction a-1 ends (before the edit).
    let start = line_end(insts[a - 1].span.end);
    if start > edit.start {
        return None;
    }
    // ... and ends after the last line of instruction b (after the edit), or at the end.
    let (end_old, tail) = match insts.get(b) {
        Some(i) => (line_end(i.span.end), b + 1),
        None => (old_len, insts.len()),
    };
    if end_old < edit.end {
        return None;
    }
    let end_new = end_old.checked_add_signed(delta)?;
    if end_new > text.len() || !text.is_char_boundary(start) || !text.is_char_boundary(end_new) {
        return None;
    }
    let line_delta = text[edit.start..edit.start + inserted].matches('\n').count() as isize
        - old_text[edit.clone()].matches('\n').count() as isize;
    let start_line = insts[a - 1].end_line;
    let mut p = Parser::new(&text[..end_new]);
    // The old file's escape character and directives; none are read here.
    p.escape = old_file.escape;
    p.file.escape = old_file.escape;
    p.file.directives = old_file.directives.clone();
    p.directives.done = true;
    p.directives.line = start_line;
    p.start = start;
    p.start_line = start_line;
    p.previous_end = Some(insts[a - 1].span.end);
    p.run();
    if p.ran_out || p.file.instructions.is_empty() {
        return None;
    }
    Some(Region {
        a,
        tail,
        start,
        end_old,
        delta,
        line_delta,
        p,
    })
}

/// Re-parses `text` after one edit of the text `old` was parsed from: the bytes
/// `edit` of the old text were replaced by `inserted` bytes. Only the instructions the
/// edit touches (and the one after it) are parsed again; the others are moved. `None`
/// when the edit reaches the top of the file (directives, the first instruction) or the
/// changed region no longer ends on an instruction boundary: parse the whole text then.
///
/// The result equals `parse(text)`; the parser's tests check that on random edits.
pub(crate) fn reparse(
    text: &str,
    old_text: &str,
    old: Parse,
    edit: std::ops::Range<usize>,
    inserted: usize,
) -> Option<(Parse, crate::Change)> {
    use crate::syntax::Shift;
    let region = region(text, old_text, &old.file, &edit, inserted)?;
    let Region {
        a,
        tail,
        start,
        end_old,
        delta,
        line_delta,
        mut p,
    } = region;
    let old_len = old_text.len();
    // The old tree is moved, not copied: the tail shifted in place, the region replaced.
    let Parse {
        mut file,
        diagnostics: old_diagnostics,
    } = old;
    for i in &mut file.instructions[tail..] {
        i.shift(delta, line_delta);
    }
    let change = crate::Change {
        bytes: edit,
        delta,
        replaced: a..tail,
        new_end: a + p.file.instructions.len(),
    };
    file.instructions.splice(a..tail, p.file.instructions);
    let before = |s: &Span| s.start < start;
    // (When the region reaches the end, empty spans at the very end are the region's.)
    let after = |s: &Span| end_old < old_len && s.start >= end_old;
    let c0 = file.comments.partition_point(|c| before(&c.span));
    let c1 = c0 + file.comments[c0..].partition_point(|c| !after(&c.span));
    for c in &mut file.comments[c1..] {
        c.shift(delta, line_delta);
    }
    file.comments.splice(c0..c1, p.file.comments);
    let mut diagnostics = Vec::with_capacity(old_diagnostics.len() + p.diags.len());
    let mut later = Vec::new();
    for mut d in old_diagnostics {
        if before(&d.span) {
            diagnostics.push(d);
        } else if after(&d.span) {
            d.shift(delta, line_delta);
            later.push(d);
        }
    }
    snap_all(text, &mut p.diags);
    diagnostics.append(&mut p.diags);
    diagnostics.append(&mut later);
    Some((Parse { file, diagnostics }, change))
}

impl<'a> Parser<'a> {
    /// A parser of `text` from its start, with BuildKit's defaults.
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            onbuild_depth: 0,
            escape: '\\',
            directives: DirectiveState {
                done: false,
                line: 0,
                after_shebang: false,
            },
            file: Dockerfile {
                escape: '\\',
                ..Dockerfile::default()
            },
            diags: Vec::new(),
            start: 0,
            start_line: 0,
            ran_out: false,
            previous_end: None,
        }
    }

    fn run(&mut self) {
        let mut lines = Lines {
            text: self.text,
            pos: self.start,
        };
        let mut current_line = self.start_line;
        let mut comments: Vec<String> = Vec::new();
        let mut last_line_end = 0usize;

        while let Some(mut line) = lines.next() {
            self.check_length(line);
            if current_line == 0 {
                if let Some(rest) = line.text.strip_prefix('\u{feff}') {
                    line = Line {
                        offset: line.offset + 3,
                        text: rest,
                    };
                }
            }
            current_line += 1;
            last_line_end = line.offset + line.text.len();
            let content = line.content();
            let (lead, trimmed) = {
                let t = content.trim_start_matches(is_go_space);
                (content.len() - t.len(), t)
            };
            let offset = line.offset + lead;

            if current_line == 1 && trimmed.starts_with("#!") {
                // A shebang: BuildKit's `syntax`/`check` detection skips it, but its line
                // parser sees an ordinary comment, so `escape` no longer applies after it.
                self.directives.after_shebang = true;
                self.directives.line += 1;
                self.add_comment(trimmed, offset);
                continue;
            }
            let is_directive = self.directive(trimmed, offset, current_line);
            if let Some(body) = trimmed.strip_prefix('#') {
                if !is_directive {
                    self.add_comment(trimmed, offset);
                    self.misplaced_directive(trimmed, offset);
                    let c = body.trim_matches(is_go_space);
                    if c.is_empty() {
                        comments.clear();
                    } else {
                        comments.push(c.to_string());
                    }
                }
                continue;
            }
            let start_line = current_line;
            let (first, mut eol) = self.trim_continuation(trimmed);
            if eol && first.is_empty() {
                continue;
            }
            let mut logical = Logical::default();
            logical.push(first, offset);
            let mut empty_continuations: Vec<Span> = Vec::new();
            let mut last_end = offset + trimmed.len();
            let mut ended_by_eof = false;
            while !eol {
                let Some(next) = lines.next() else {
                    ended_by_eof = true;
                    break;
                };
                self.check_length(next);
                current_line += 1;
                last_line_end = next.offset + next.text.len();
                let content = next.content();
                let t = content.trim_start_matches(is_go_space);
                if t.starts_with('#') {
                    self.add_comment(t, next.offset + (content.len() - t.len()));
                    continue;
                }
                if t.is_empty() {
                    empty_continuations.push(next.offset..next.offset + content.len());
                    continue;
                }
                let (piece, e) = self.trim_continuation(content);
                eol = e;
                logical.push(piece, next.offset);
                last_end = next.offset + content.len();
            }
            let span_end = last_end;
            self.ran_out |= ended_by_eof;
            if ended_by_eof {
                self.diags.push(
                    Diagnostic::warning(
                        codes::CONTINUATION_AT_EOF,
                        last_end.saturating_sub(1)..last_end,
                        "line continuation at the end of the file",
                    )
                    .with_label("nothing follows this escape character")
                    .with_help("remove the trailing escape character, or add the line that should follow it"),
                );
            }
            for span in &empty_continuations {
                self.diags.push(
                    Diagnostic::warning(codes::EMPTY_CONTINUATION, span.clone(), "empty continuation line")
                        .with_label("this empty line continues the instruction above")
                        .with_help("delete the empty line, or end the instruction before it; empty continuation lines will become errors in a future BuildKit"),
                );
            }

            let mut inst = self.instruction(&logical, 0..logical.text.len(), false);
            inst.start_line = start_line;
            inst.span = offset..span_end;
            inst.comments = std::mem::take(&mut comments);

            // Heredocs: bodies follow the instruction line.
            let host = match &inst.args {
                Args::Onbuild(inner) => inner.as_ref(),
                _ => &inst,
            };
            let allows = host.keyword.is_some_and(Keyword::allows_heredocs) && !matches!(host.args, Args::Json(_));
            if logical.text.contains("<<") {
                if allows {
                    let markers = self.heredoc_markers(&logical);
                    for marker in markers {
                        let (doc, lines_read, end) = self.read_heredoc(&mut lines, marker, inst.span.clone());
                        current_line += lines_read;
                        if let Some(end) = end {
                            last_line_end = end;
                        }
                        inst.span.end = inst.span.end.max(doc.terminator_span.end.max(doc.content_span.end));
                        inst.heredocs.push(doc);
                    }
                } else if !matches!(host.args, Args::Json(_)) {
                    self.heredoc_not_allowed(&logical, host);
                }
            }
            inst.end_line = current_line;
            let (start, end) = (inst.start_line, inst.end_line);
            let mut wrapped = &mut inst.args;
            while let Args::Onbuild(inner) = wrapped {
                inner.start_line = start;
                inner.end_line = end;
                wrapped = &mut inner.args;
            }
            self.file.instructions.push(inst);
        }
        let _ = last_line_end;
        self.ran_out |= !comments.is_empty();

        if self.file.instructions.is_empty() && self.start == 0 {
            let end = self.text.len();
            self.diags.push(
                Diagnostic::error(
                    codes::NO_INSTRUCTIONS,
                    Phase::Parse,
                    end..end,
                    "file with no instructions",
                )
                .with_label("the file ends here without a single instruction")
                .with_help("a Dockerfile needs at least a FROM instruction, e.g. `FROM alpine:3.20`"),
            );
        }
    }

    fn check_length(&mut self, line: Line<'_>) {
        if line.text.len() > MAX_LINE || (line.text.len() == MAX_LINE && !line.text.ends_with('\n')) {
            let start = line.offset;
            self.diags.push(
                Diagnostic::error(
                    codes::LINE_TOO_LONG,
                    Phase::Parse,
                    start..start + line.text.len(),
                    format!("dockerfile line greater than max allowed size of {}", MAX_LINE - 1),
                )
                .with_label(format!("this line is {} bytes long", line.text.len()))
                .with_help("split the line with line continuations, or move long data into a file that COPY adds"),
            );
        }
    }

    fn add_comment(&mut self, line: &str, offset: usize) {
        let text = line.trim_end_matches(is_go_space);
        self.file.comments.push(Comment {
            text: text[1..].trim_matches(is_go_space).to_string(),
            span: offset..offset + text.len(),
        });
    }

    /// Parses `line` as a parser directive if directives are still allowed.
    /// Returns whether it was one.
    fn directive(&mut self, line: &str, offset: usize, line_no: usize) -> bool {
        let d = &mut self.directives;
        d.line += 1;
        if d.done {
            return false;
        }
        let Some(m) = match_directive(line) else {
            d.done = true;
            return false;
        };
        let name = line[m.name.clone()].to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            d.done = true;
            return false;
        }
        let span = offset..offset + line.trim_end_matches(is_go_space).len();
        let name_span = offset + m.name.start..offset + m.name.end;
        let value_span = offset + m.value.start..offset + m.value.end;
        let value = line[m.value.clone()].to_string();
        if let Some(first) = self.file.directives.iter().find(|x| x.name == name) {
            let first_span = first.span.clone();
            self.diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_DIRECTIVE,
                    Phase::Parse,
                    span.clone(),
                    format!("only one {name} parser directive can be used"),
                )
                .with_label("second directive")
                .with_related(first_span, "first set here")
                .with_help(format!("delete one of the two `# {name}=` lines")),
            );
            return true;
        }
        if name == "escape" && self.directives.after_shebang {
            self.diags.push(
                Diagnostic::warning(codes::MISPLACED_DIRECTIVE, span, "`escape` parser directive is ignored after a `#!` line")
                    .with_label("treated as a comment")
                    .with_help("BuildKit reads `escape` only before any other line; move it above the `#!` line or drop the `#!` line"),
            );
            return true;
        }
        if name == "escape" {
            match value.as_str() {
                "\\" => self.escape = '\\',
                "`" => self.escape = '`',
                _ => {
                    self.diags.push(
                        Diagnostic::error(
                            codes::INVALID_ESCAPE,
                            Phase::Parse,
                            value_span.clone(),
                            format!("invalid escape token '{value}' does not match ` or \\"),
                        )
                        .with_label("not an escape character")
                        .with_help("use `# escape=\\` (the default) or `# escape=`` (common on Windows)"),
                    );
                    return true;
                }
            }
        }
        self.file.directives.push(Directive {
            name,
            value,
            line: line_no,
            span,
            name_span,
            value_span,
        });
        true
    }

    /// A `# escape=` or `# syntax=` comment after the top of the file is just a
    /// comment to BuildKit; say so. (`# check=` above an instruction is not: BuildKit
    /// applies it to that instruction.)
    fn misplaced_directive(&mut self, line: &str, offset: usize) {
        let Some(m) = match_directive(line) else { return };
        let name = line[m.name.clone()].to_ascii_lowercase();
        let span = offset..offset + line.trim_end_matches(is_go_space).len();
        if name == "check" {
            return;
        }
        if matches!(name.as_str(), "syntax" | "escape") {
            if self.file.directives.iter().any(|d| d.name == name) {
                return; // reported as a duplicate, or a repeat after the first block
            }
            self.diags.push(
                Diagnostic::warning(codes::MISPLACED_DIRECTIVE, span, format!("`{name}` parser directive is ignored here"))
                    .with_label("treated as a comment")
                    .with_help("parser directives must come before any instruction, comment or empty line; move it to the first line of the file"),
            );
        } else if self.file.directives.is_empty() && self.file.instructions.is_empty() && self.start == 0 {
            if let Some(s) = did_you_mean(&name, ["syntax", "escape", "check"]) {
                self.diags.push(
                    Diagnostic::warning(
                        codes::UNKNOWN_DIRECTIVE,
                        offset + m.name.start..offset + m.name.end,
                        format!("unknown parser directive `{name}`"),
                    )
                    .with_label("not a parser directive, so this line is a comment")
                    .with_help(format!("did you mean `{s}`?")),
                );
            }
        }
    }

    /// BuildKit's continuation rule: the escape character, then only spaces
    /// and tabs, at the end of the line, not itself escaped.
    fn trim_continuation<'s>(&self, line: &'s str) -> (&'s str, bool) {
        let body = line.trim_end_matches([' ', '\t']);
        let Some(before) = body.strip_suffix(self.escape) else {
            return (line, true);
        };
        if before.ends_with(self.escape) {
            return (line, true);
        }
        (before, false)
    }

    /// Builds one instruction from (part of) a logical line.
    fn instruction(&mut self, line: &Logical, range: std::ops::Range<usize>, nested: bool) -> Instruction {
        let whole = &line.text[range.clone()];
        let (lead, trimmed) = trim_go_space(whole);
        let base = range.start + lead;
        let name_len = trimmed.find(is_split_space).unwrap_or(trimmed.len());
        let name = &trimmed[..name_len];
        let after = trimmed[name_len..].trim_start_matches(is_split_space);
        let after_off = base + (trimmed.len() - after.len());
        let keyword = Keyword::from_name(name);
        let name_span = line.span(base..base + name_len);

        let (flags, args_off) = if after.is_empty() {
            (Vec::new(), after_off)
        } else {
            self.flags(line, after, after_off)
        };
        let args_text = &line.text[args_off..after_off + after.len()];
        let (args_lead, args_trim) = trim_go_space(args_text);
        let args_start = args_off + args_lead;
        let args_range = args_start..args_start + args_trim.len();

        let mut inst = Instruction {
            name: name.to_string(),
            keyword,
            name_span: name_span.clone(),
            flags,
            args: Args::Empty,
            heredocs: Vec::new(),
            span: line.span(base..base + trimmed.len()),
            start_line: 0,
            end_line: 0,
            original: trimmed.to_string(),
            comments: Vec::new(),
            segments: line.segments.clone(),
        };
        if nested {
            inst.original = trimmed.to_string();
        } else {
            inst.original = line.text.clone();
        }
        let Some(kw) = keyword else {
            let mut d = Diagnostic::error(
                codes::UNKNOWN_INSTRUCTION,
                Phase::Build,
                name_span,
                format!("unknown instruction: {name}"),
            )
            .with_label("not a Dockerfile instruction");
            let names = Keyword::ALL.map(Keyword::as_str);
            let previous = self
                .file
                .instructions
                .last()
                .map(|p| p.span.end)
                .or(self.previous_end)
                .filter(|_| !nested);
            d = match (did_you_mean(name, names), previous) {
                (Some(s), _) => d.with_help(format!("did you mean {s}?")),
                (None, Some(end)) => d
                    .with_related(
                        end..end,
                        format!(
                            "the previous instruction ends here; add `{}` to continue it",
                            self.escape
                        ),
                    )
                    .with_help(format!(
                        "if this line belongs to the instruction above, end that line with `{}`; instructions are {}",
                        self.escape,
                        names.join(", ")
                    )),
                (None, None) => d.with_help(format!("instructions are {}", names.join(", "))),
            };
            self.diags.push(d);
            inst.args = Args::Ignored;
            return inst;
        };
        crate::flags::check(kw, &inst.flags, &mut self.diags);
        inst.args = self.args(kw, line, args_range, &inst);
        crate::flags::check_arity(&inst, &mut self.diags);
        inst
    }

    /// `--flag` words at the start of the arguments (BuildKit's extractBuilderFlags,
    /// byte for byte). Returns the flags and where the arguments start.
    fn flags(&mut self, line: &Logical, rest: &str, rest_off: usize) -> (Vec<Flag>, usize) {
        #[derive(PartialEq)]
        enum Phase {
            Spaces,
            Word,
            Quote(u8),
        }
        let b = rest.as_bytes();
        let esc = self.escape as u8;
        let mut flags = Vec::new();
        let mut phase = Phase::Spaces;
        let mut word: Vec<u8> = Vec::new();
        let mut blank_ok = false;
        let mut word_start = 0;
        let mut pos = 0;
        let finish = |word: &[u8], start: usize, end: usize, flags: &mut Vec<Flag>| {
            // A word cut inside a character (see `splits_char`) ends before that character.
            let mut end = end;
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            // BuildKit's text turns each byte into a char (`WriteRune(rune(byte))`),
            // mangling non-ASCII; the name and value keep the real characters.
            let text: String = word.iter().map(|&c| c as char).collect();
            let decoded = String::from_utf8_lossy(word);
            let span = line.span(rest_off + start..rest_off + end);
            let body = decoded.strip_prefix("--").unwrap_or(&decoded);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (body.to_string(), None),
            };
            let src = &line.text[rest_off + start..rest_off + end];
            let eq = src.find('=');
            let name_span = line.span(rest_off + start + 2.min(src.len())..rest_off + start + eq.unwrap_or(src.len()));
            let value_span = eq.map(|e| line.span(rest_off + start + e + 1..rest_off + end));
            flags.push(Flag {
                text,
                name,
                value,
                span,
                name_span,
                value_span,
            });
        };
        while pos <= b.len() {
            let at_end = pos == b.len();
            let ch = if at_end { 0 } else { b[pos] };
            if phase == Phase::Spaces {
                if at_end {
                    return (flags, rest_off + pos);
                }
                if is_byte_space(ch) {
                    pos += 1;
                    continue;
                }
                if ch != b'-' || pos + 1 == b.len() || b[pos + 1] != b'-' {
                    return (flags, rest_off + pos);
                }
                phase = Phase::Word;
                word_start = pos;
            }
            if at_end {
                if word != b"--" && (blank_ok || !word.is_empty()) {
                    finish(&word, word_start, pos, &mut flags);
                }
                return (flags, rest_off + pos);
            }
            match phase {
                Phase::Word => {
                    if is_byte_space(ch) || splits_char(b, pos) {
                        if word == b"--" {
                            return (flags, rest_off + pos);
                        }
                        if blank_ok || !word.is_empty() {
                            finish(&word, word_start, pos, &mut flags);
                        }
                        word.clear();
                        blank_ok = false;
                        phase = Phase::Spaces;
                        pos += 1;
                        continue;
                    }
                    if ch == b'\'' || ch == b'"' {
                        phase = Phase::Quote(ch);
                        blank_ok = true;
                        pos += 1;
                        continue;
                    }
                    let mut c = ch;
                    if ch == esc {
                        if pos + 1 == b.len() {
                            pos += 1;
                            continue;
                        }
                        pos += 1;
                        c = b[pos];
                    }
                    word.push(c);
                    pos += 1;
                }
                Phase::Quote(q) => {
                    if ch == q {
                        phase = Phase::Word;
                        pos += 1;
                        continue;
                    }
                    let mut c = ch;
                    if ch == esc {
                        if pos + 1 == b.len() {
                            phase = Phase::Word;
                            pos += 1;
                            continue;
                        }
                        pos += 1;
                        c = b[pos];
                    }
                    word.push(c);
                    pos += 1;
                }
                Phase::Spaces => unreachable!("handled above"),
            }
        }
        (flags, rest_off + b.len())
    }

    fn args(&mut self, kw: Keyword, line: &Logical, range: std::ops::Range<usize>, inst: &Instruction) -> Args {
        let rest = &line.text[range.clone()];
        let off = range.start;
        match kw {
            Keyword::Run | Keyword::Cmd | Keyword::Entrypoint | Keyword::Shell => self.maybe_json(line, range, kw),
            Keyword::Add | Keyword::Copy | Keyword::Volume => match self.json(line, range.clone(), kw) {
                Some(a) => a,
                None => split_whitespace(line, rest, off),
            },
            Keyword::Expose | Keyword::From => split_whitespace(line, rest, off),
            Keyword::Arg => {
                let words = parse_words(rest, self.escape);
                if words.is_empty() {
                    Args::Empty
                } else {
                    Args::Words(
                        words
                            .into_iter()
                            .map(|(t, s, e)| Word {
                                text: t,
                                span: line.span(off + s..off + e),
                            })
                            .collect(),
                    )
                }
            }
            Keyword::Env | Keyword::Label => self.name_values(kw, line, range),
            Keyword::Maintainer | Keyword::Stopsignal | Keyword::User | Keyword::Workdir => {
                if rest.is_empty() {
                    Args::Empty
                } else {
                    Args::Shell(Word {
                        text: rest.to_string(),
                        span: line.span(range),
                    })
                }
            }
            Keyword::Healthcheck => {
                let b = rest.as_bytes();
                let sep = b.iter().position(|&c| is_byte_space(c)).unwrap_or(b.len());
                if sep == 0 {
                    return Args::Empty;
                }
                let next = sep
                    + b[sep..]
                        .iter()
                        .position(|&c| !is_byte_space(c))
                        .unwrap_or(b.len() - sep);
                let kind = Word {
                    text: rest[..sep].to_string(),
                    span: line.span(off..off + sep),
                };
                let cmd = self.maybe_json(line, off + next..range.end, kw);
                Args::Healthcheck {
                    kind,
                    cmd: Box::new(cmd),
                }
            }
            Keyword::Onbuild => {
                if rest.is_empty() {
                    self.diags.push(
                        Diagnostic::error(
                            codes::ONBUILD_EMPTY,
                            Phase::Build,
                            inst.name_span.clone(),
                            "ONBUILD requires an instruction to run later",
                        )
                        .with_label("nothing follows ONBUILD")
                        .with_help("write the instruction the image's users should run, e.g. `ONBUILD COPY . /app`"),
                    );
                    return Args::Empty;
                }
                // `ONBUILD ONBUILD …` is an error anyway; stop recursing long before the stack ends.
                if self.onbuild_depth >= MAX_ONBUILD_DEPTH {
                    return Args::Ignored;
                }
                self.onbuild_depth += 1;
                let inner = self.instruction(line, range, true);
                self.onbuild_depth -= 1;
                match inner.keyword {
                    Some(Keyword::Onbuild) => self.diags.push(
                        Diagnostic::error(
                            codes::ONBUILD_CHAIN,
                            Phase::Build,
                            inner.name_span.clone(),
                            "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                        )
                        .with_label("second ONBUILD")
                        .with_help("remove one ONBUILD"),
                    ),
                    Some(k @ (Keyword::From | Keyword::Maintainer)) => self.diags.push(
                        Diagnostic::error(
                            codes::ONBUILD_FORBIDDEN,
                            Phase::Build,
                            inner.name_span.clone(),
                            format!("{k} isn't allowed as an ONBUILD trigger"),
                        )
                        .with_label("not allowed after ONBUILD")
                        .with_help(if k == Keyword::From {
                            "a trigger runs inside the child's stage; it cannot start a new one"
                        } else {
                            "use `LABEL maintainer=...` instead of MAINTAINER"
                        }),
                    ),
                    _ => {}
                }
                Args::Onbuild(Box::new(inner))
            }
        }
    }

    /// RUN/CMD/ENTRYPOINT/SHELL: exec form if the text is a JSON array, else shell form.
    fn maybe_json(&mut self, line: &Logical, range: std::ops::Range<usize>, kw: Keyword) -> Args {
        if range.is_empty() {
            return Args::Empty;
        }
        if let Some(a) = self.json(line, range.clone(), kw) {
            return a;
        }
        Args::Shell(Word {
            text: line.text[range.clone()].to_string(),
            span: line.span(range),
        })
    }

    /// Exec form, or `None` when the text is not a JSON array (shell form follows).
    fn json(&mut self, line: &Logical, range: std::ops::Range<usize>, kw: Keyword) -> Option<Args> {
        let rest = &line.text[range.clone()];
        let t = rest.trim_start_matches(is_go_space);
        let off = range.start + (rest.len() - t.len());
        if !t.starts_with('[') {
            return None;
        }
        match json::parse_array(t) {
            JsonArray::Strings(items) => Some(Args::Json(
                items
                    .into_iter()
                    .map(|(s, r)| Word {
                        text: s,
                        span: line.span(off + r.start..off + r.end),
                    })
                    .collect(),
            )),
            JsonArray::NotStrings(r) => {
                self.diags.push(
                    Diagnostic::error(
                        codes::JSON_NOT_STRINGS,
                        Phase::Parse,
                        line.span(off + r.start..off + r.end),
                        "when using JSON array syntax, arrays must be comprised of strings only",
                    )
                    .with_label("not a string")
                    .with_help("quote every element, e.g. `[\"sleep\", \"10\"]`"),
                );
                Some(Args::Json(Vec::new()))
            }
            JsonArray::Invalid(at, expected) => {
                // Shell form it is; warn when it clearly was meant as JSON.
                if matches!(
                    kw,
                    Keyword::Run | Keyword::Cmd | Keyword::Entrypoint | Keyword::Shell | Keyword::Healthcheck
                ) && looks_like_exec_form(t)
                {
                    let at = off + at;
                    let help = if t.contains('\'') && !t.contains('"') {
                        "JSON strings need double quotes: write `[\"a\", \"b\"]`, not `['a', 'b']`"
                    } else {
                        "fix the JSON (double-quoted strings, commas between them), or drop the brackets to use shell form"
                    };
                    self.diags.push(
                        Diagnostic::warning(codes::JSON_FALLBACK, line.span(at..(at + 1).min(range.end)), format!("this looks like exec form but is not valid JSON (expected {expected}), so {kw} runs it in a shell"))
                            .with_label("JSON parsing stops here")
                            .with_related(line.span(range), "the whole argument becomes one shell command")
                            .with_help(help),
                    );
                }
                None
            }
        }
    }

    fn name_values(&mut self, kw: Keyword, line: &Logical, range: std::ops::Range<usize>) -> Args {
        let rest = &line.text[range.clone()];
        let off = range.start;
        let words = parse_words(rest, self.escape);
        if words.is_empty() {
            return Args::Empty;
        }
        if !words[0].0.contains('=') {
            // Legacy `KEY name value`.
            let key_len = rest.find(is_split_space).unwrap_or(rest.len());
            let value_start =
                key_len + rest[key_len..].len() - rest[key_len..].trim_start_matches(is_split_space).len();
            let key = Word {
                text: rest[..key_len].to_string(),
                span: line.span(off..off + key_len),
            };
            if key_len == rest.len() {
                let d = Diagnostic::error(
                    codes::KEY_VALUE_MISSING_VALUE,
                    Phase::Parse,
                    key.span.clone(),
                    format!("{kw} must have two arguments"),
                )
                .with_label("a name without a value")
                .with_help(format!(
                    "give it a value: `{kw} {}=value` (or `{kw} {}=\"\"` for an empty one)",
                    key.text, key.text
                ));
                self.diags.push(d);
                let end = key.span.end;
                return Args::KeyValues(vec![KeyValue {
                    key,
                    value: Word {
                        text: String::new(),
                        span: end..end,
                    },
                    equals: false,
                }]);
            }
            let value = Word {
                text: rest[value_start..].to_string(),
                span: line.span(off + value_start..off + rest.len()),
            };
            return Args::KeyValues(vec![KeyValue {
                key,
                value,
                equals: false,
            }]);
        }
        let mut kvs = Vec::new();
        for (w, s, e) in words {
            match w.find('=') {
                Some(eq) => {
                    // Word text equals its source slice, so offsets carry over.
                    kvs.push(KeyValue {
                        key: Word {
                            text: w[..eq].to_string(),
                            span: line.span(off + s..off + s + eq),
                        },
                        value: Word {
                            text: w[eq + 1..].to_string(),
                            span: line.span(off + s + eq + 1..off + e),
                        },
                        equals: true,
                    });
                }
                None => {
                    self.diags.push(
                        Diagnostic::error(codes::KEY_VALUE_MISSING_EQUALS, Phase::Parse, line.span(off + s..off + e), format!("Syntax error - can't find = in {}. Must be of the form: name=value", crate::buildkit::go_quote(&w)))
                            .with_label("no `=` in this word")
                            .with_help(format!("once one pair uses `name=value`, all must: write `{w}=value`, or quote the value of the previous pair if this word belongs to it")),
                    );
                }
            }
        }
        Args::KeyValues(kvs)
    }

    /// Heredoc markers in a logical line, as BuildKit finds them: words of the
    /// line (quotes and escapes kept) of the form `[fd]<<[-]WORD`.
    fn heredoc_markers(&mut self, line: &Logical) -> Vec<Marker> {
        let lexer = Lexer {
            raw_quotes: true,
            raw_escapes: true,
            skip_unset_env: true,
            ..Lexer::new('\\')
        };
        let Ok(words) = lexer.process_words(&line.text, &NoEnv) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut search_from = 0;
        for word in words {
            // Locate the word in the line to give it a span (best effort: words are mostly verbatim).
            let at = line.text[search_from..].find(&word).map(|i| i + search_from);
            if let Some(at) = at {
                search_from = at + word.len();
            }
            let span = at.map_or(0..line.text.len(), |a| a..a + word.len());
            let Some(m) = match_heredoc(&word) else { continue };
            if m.rest.is_empty() {
                continue;
            }
            let plain = Lexer {
                skip_unset_env: true,
                ..Lexer::new('\\')
            };
            let words = match plain.process_words(&m.rest, &NoEnv) {
                Ok(w) => w,
                Err(e) => {
                    self.diags.push(
                        Diagnostic::error(codes::INVALID_HEREDOC, Phase::Parse, line.span(span), e.message.clone())
                            .with_label("invalid heredoc delimiter")
                            .with_help("close the quotes around the delimiter, e.g. `<<\"EOF\"`"),
                    );
                    continue;
                }
            };
            if words.len() != 1 {
                continue;
            }
            let raw = Lexer {
                raw_quotes: true,
                skip_unset_env: true,
                ..Lexer::new('\\')
            };
            let raw_words = raw.process_words(&m.rest, &NoEnv).unwrap_or_default();
            let count = |s: &str| s.matches(['\'', '"']).count();
            let expand = raw_words.len() == 1 && count(&words[0]) == count(&raw_words[0]);
            out.push(Marker {
                name: words[0].clone(),
                fd: m.fd,
                chomp: m.chomp,
                expand,
                span: line.span(span),
            });
        }
        out
    }

    /// Reads one heredoc body from the following lines. Returns the heredoc,
    /// the number of lines read and the offset after the last one.
    fn read_heredoc(
        &mut self,
        lines: &mut Lines<'_>,
        marker: Marker,
        inst_span: Span,
    ) -> (Heredoc, usize, Option<usize>) {
        let content_start = lines.pos;
        let mut read = 0;
        let mut end = None;
        let mut content = String::new();
        let mut terminator_span = None;
        for line in lines.by_ref() {
            self.check_length(line);
            read += 1;
            end = Some(line.offset + line.text.len());
            let mut candidate = line.content();
            if marker.chomp {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == marker.name {
                terminator_span = Some(line.offset..line.offset + line.content().len());
                break;
            }
            content.push_str(line.text);
        }
        let content_end = content_start + content.len();
        let terminator_span = match terminator_span {
            Some(s) => s,
            None => {
                let _ = inst_span;
                self.ran_out = true;
                // A body line that nearly matches the delimiter is the likely culprit.
                let mut near = None;
                let mut at = content_start;
                for l in content.split_inclusive('\n') {
                    let t = l.trim_end_matches(['\r', '\n']);
                    let core = t.trim();
                    if !core.is_empty() && did_you_mean(core, [marker.name.as_str()]).is_some() {
                        near = Some(at..at + t.len());
                    }
                    at += l.len();
                }
                let mut d = Diagnostic::error(
                    codes::UNTERMINATED_HEREDOC,
                    Phase::Parse,
                    marker.span.clone(),
                    "unterminated heredoc",
                )
                .with_label(format!("this heredoc is never closed by a line `{}`", marker.name));
                d = match near {
                    Some(span) => d.with_related(span, format!("did you mean this line to be `{}`?", marker.name)),
                    None => d.with_related(content_end..content_end, "the file ends here"),
                };
                self.diags.push(d.with_help(format!(
                    "end the body with a line holding only `{}`{}",
                    marker.name,
                    if marker.chomp {
                        " (leading tabs allowed)"
                    } else {
                        " (nothing else on the line, not even spaces)"
                    }
                )));
                content_end..content_end
            }
        };
        let doc = Heredoc {
            name: marker.name,
            file_descriptor: marker.fd,
            expand: marker.expand,
            chomp: marker.chomp,
            content,
            marker_span: marker.span,
            content_span: content_start..content_end,
            terminator_span,
        };
        (doc, read, end)
    }

    fn heredoc_not_allowed(&mut self, line: &Logical, host: &Instruction) {
        let Some(kw) = host.keyword else { return };
        let lexer = Lexer {
            raw_quotes: true,
            raw_escapes: true,
            skip_unset_env: true,
            ..Lexer::new('\\')
        };
        let Ok(words) = lexer.process_words(&line.text, &NoEnv) else {
            return;
        };
        let Some(word) = words
            .iter()
            .find(|w| match_heredoc(w).is_some_and(|m| !m.rest.is_empty()))
        else {
            return;
        };
        let at = line.text.find(word.as_str()).unwrap_or(0);
        self.diags.push(
            Diagnostic::warning(
                codes::HEREDOC_NOT_ALLOWED,
                line.span(at..at + word.len()),
                format!("{kw} does not take heredocs; `{word}` is passed on as text"),
            )
            .with_label("not a heredoc here")
            .with_help("heredocs work in RUN, COPY and ADD; write the script in a `RUN <<EOF` instead"),
        );
    }
}

struct Marker {
    name: String,
    fd: u32,
    chomp: bool,
    expand: bool,
    span: Span,
}

struct HeredocMatch {
    fd: u32,
    chomp: bool,
    rest: String,
}

/// `^(\d*)<<(-?)\s*([^<]*)$`
fn match_heredoc(word: &str) -> Option<HeredocMatch> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let after = word[digits..].strip_prefix("<<")?;
    let (chomp, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    let rest = after.trim_start_matches(['\t', '\n', '\u{c}', '\r', ' ']);
    if rest.contains('<') {
        return None;
    }
    // An absurd descriptor number saturates, like strconv.ParseUint failing to 0 would surprise.
    let fd = if digits == 0 {
        0
    } else {
        word[..digits].parse::<u32>().unwrap_or(0)
    };
    Some(HeredocMatch {
        fd,
        chomp,
        rest: rest.to_string(),
    })
}

struct DirectiveMatch {
    name: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
}

/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` with `\s` = `[\t\n\f\r ]`.
fn match_directive(line: &str) -> Option<DirectiveMatch> {
    let is_ws = |c: char| matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ');
    let rest = line.strip_prefix('#')?;
    let after_ws = rest.trim_start_matches(|c: char| is_go_space(c));
    let name_start = line.len() - after_ws.len();
    let mut chars = after_ws.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() => {}
        _ => return None,
    }
    let name_len = after_ws
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(after_ws.len());
    let after_name = after_ws[name_len..].trim_start_matches(is_ws);
    let after_eq_raw = after_name.strip_prefix('=')?;
    let after_eq = after_eq_raw.trim_start_matches(is_ws);
    let mut value = after_eq.trim_end_matches(is_ws);
    let mut value_start = line.len() - after_eq.len();
    if value.is_empty() {
        // `(.+?)` must take one character: with only blanks after `=`, it takes the last one.
        let last = after_eq_raw.chars().next_back()?;
        value_start = line.len() - last.len_utf8();
        value = &line[value_start..];
    }
    Some(DirectiveMatch {
        name: name_start..name_start + name_len,
        value: value_start..value_start + value.len(),
    })
}

/// Whitespace-separated words (`[\t\v\f\r ]+`) of an already trimmed string.
fn split_whitespace(line: &Logical, rest: &str, off: usize) -> Args {
    if rest.is_empty() {
        return Args::Empty;
    }
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in rest.char_indices() {
        if is_split_space(c) {
            if let Some(s) = start.take() {
                words.push(Word {
                    text: rest[s..i].to_string(),
                    span: line.span(off + s..off + i),
                });
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        words.push(Word {
            text: rest[s..].to_string(),
            span: line.span(off + s..off + rest.len()),
        });
    }
    Args::Words(words)
}

/// BuildKit's parseWords: words split on whitespace outside quotes; quotes
/// and escapes are kept in the text. Returns `(text, start, end)`.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<(String, usize, usize)> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut start = 0;
    let mut it = rest.char_indices().peekable();
    loop {
        let Some((pos, ch)) = it.next() else {
            if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
                words.push((word, start, rest.len()));
            }
            return words;
        };
        if phase == Phase::Spaces {
            if is_go_space(ch) {
                continue;
            }
            phase = Phase::Word;
            start = pos;
        }
        match phase {
            Phase::Word => {
                if is_go_space(ch) {
                    if blank_ok || !word.is_empty() {
                        words.push((std::mem::take(&mut word), start, pos));
                    }
                    word.clear();
                    blank_ok = false;
                    phase = Phase::Spaces;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    match it.next() {
                        None => continue,
                        Some((_, next)) => {
                            word.push(ch);
                            word.push(next);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                }
                if ch == escape && q != '\'' {
                    match it.next() {
                        None => {
                            phase = Phase::Word;
                            continue;
                        }
                        Some((_, next)) => {
                            word.push(ch);
                            word.push(next);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
    }
}

/// Whether an invalid `[...]` argument was probably meant as exec form,
/// not a shell test like `[ -f x ]` or `[ "$a" = b ]` (which need a space after `[`).
fn looks_like_exec_form(t: &str) -> bool {
    let inner = &t[1..];
    inner.starts_with(['"', '\'']) || (inner.trim_start().starts_with(['"', '\'']) && inner.contains(','))
}

/// Clamps a span into `text` and widens it to character boundaries.
fn snap(text: &str, span: Span) -> Span {
    let mut start = span.start.min(text.len());
    let mut end = span.end.clamp(start, text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}
