//! Human output: diagnostics through miette's graphical renderer, and the
//! `parse --format pretty` outline.

use slipway_parser::{Args, Diagnostic, Dockerfile, Instruction};
use std::io::Write;

/// Renders diagnostics with source snippets. Width comes from `COLUMNS`
/// (default 100) so output is stable in tests and CI.
pub fn diagnostics(name: &str, text: &str, diags: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    // Without colours, messages and helps are wrapped here (see `Wrapped`) and miette
    // only indents them; with colours (a terminal: few diagnostics) miette wraps.
    let indents = (!color).then(|| Indents::of(&theme));
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_links(false);
    let indenting = handler.clone().with_wrap_lines(false);
    let mut out = String::new();
    let source = std::sync::Arc::new(Source::new(name, text));
    for d in diags {
        let code = shown_code(d.code);
        let wrapped = indents.as_ref().and_then(|i| Wrapped::new(d, i, width));
        // Rendered as it is, not through a `miette::Report`: a report asks miette's hook for
        // a handler, which looks at the terminal (two syscalls) for every diagnostic.
        let shown = Shown {
            code: &code,
            diagnostic: d,
            source: Shared(std::sync::Arc::clone(&source)),
            wrapped: wrapped.as_ref(),
        };
        let rendered = match shown.wrapped {
            Some(_) => indenting.render_report(&mut out, &shown),
            None => handler.render_report(&mut out, &shown),
        };
        if rendered.is_err() {
            out.push_str(&format!("{code}: {}\n", d.message));
        }
    }
    out
}

/// A code as people read it: with the hadolint rule(s) it corresponds to,
/// `slipway::lint::apt-pin (DL3008)`.
fn shown_code(code: &str) -> String {
    match slipway_parser::rules::hadolint_codes(code).as_slice() {
        [] => code.to_string(),
        h => format!("{code} ({})", h.join(", ")),
    }
}

/// The indents miette's graphical renderer puts before a message (after the severity's
/// icon) and a help, on their first and following lines, for a theme without styles.
struct Indents {
    message: [(String, String); 3],
    help: (String, String),
}

impl Indents {
    fn of(theme: &miette::GraphicalTheme) -> Indents {
        let c = &theme.characters;
        let message = |icon: &str| (format!("  {icon} "), format!("  {} ", c.vbar));
        Indents {
            message: [message(&c.error), message(&c.warning), message(&c.advice)],
            help: ("  help: ".to_string(), " ".repeat(8)),
        }
    }
}

/// A diagnostic's message and help wrapped as miette wraps them (`textwrap::fill` at the
/// width less 2, under its indents), without the indents: rendered with wrapping off,
/// miette adds the indents back and the output is the same. Wrapping here is cheaper: a
/// line that fits is not segmented (miette runs Unicode line breaking on every message),
/// and a long text (the same help under hundreds of diagnostics) is wrapped once.
#[derive(Debug)]
struct Wrapped {
    message: String,
    help: Option<String>,
}

impl Wrapped {
    /// `None` when miette's unwrapped output would differ (a blank line: miette trims the
    /// indent before it); the diagnostic is then rendered with miette's own wrapping.
    fn new(d: &Diagnostic, indents: &Indents, width: usize) -> Option<Wrapped> {
        // Related diagnostics would be rendered nested, with wrapping off too.
        if miette::Diagnostic::related(d).is_some() {
            return None;
        }
        let width = width.saturating_sub(2);
        let (first, rest) = &indents.message[match d.severity {
            slipway_parser::Severity::Error => 0,
            slipway_parser::Severity::Warning => 1,
            slipway_parser::Severity::Advice => 2,
        }];
        let help = match &d.help {
            Some(h) => Some(unindented(h, &indents.help.0, &indents.help.1, width)?),
            None => None,
        };
        Some(Wrapped {
            message: unindented(&d.message, first, rest, width)?,
            help,
        })
    }
}

/// `text` wrapped as miette wraps it under these indents, less the indents; `None` when
/// miette, given the result with wrapping off, would not write the same lines.
fn unindented(text: &str, first: &str, rest: &str, width: usize) -> Option<String> {
    let trimmed = text.trim_end_matches(' ');
    // One line that fits: textwrap keeps it whole, less its trailing spaces, whatever
    // its break opportunities (first fit never breaks a line whose words all fit).
    if !text.contains('\n') && textwrap::core::display_width(first) + textwrap::core::display_width(trimmed) <= width {
        return (!trimmed.trim().is_empty()).then(|| trimmed.to_string());
    }
    thread_local! {
        /// Texts wrapped before (helps repeat across diagnostics and files).
        static WRAPPED: std::cell::RefCell<std::collections::HashMap<(String, String, usize), Option<String>>> =
            Default::default();
    }
    let key = (text.to_string(), first.to_string(), width);
    if let Some(found) = WRAPPED.with(|w| w.borrow().get(&key).cloned()) {
        return found;
    }
    let options = textwrap::Options::new(width)
        .initial_indent(first)
        .subsequent_indent(rest)
        .break_words(true);
    let filled = textwrap::fill(text, options);
    let mut lines = Vec::new();
    for (i, line) in filled.split('\n').enumerate() {
        let content = line.strip_prefix(if i == 0 { first } else { rest });
        lines.push(content.filter(|c| !c.trim().is_empty()));
    }
    let found = lines.into_iter().collect::<Option<Vec<_>>>().map(|l| l.join("\n"));
    WRAPPED.with(|w| {
        let mut w = w.borrow_mut();
        if w.len() >= 4096 {
            w.clear();
        }
        w.insert(key, found.clone());
    });
    found
}

/// A diagnostic rendered under its [`shown_code`]; everything else is the diagnostic's,
/// or, with `wrapped`, its message and help wrapped already.
#[derive(Debug)]
struct Shown<'a> {
    code: &'a str,
    diagnostic: &'a Diagnostic,
    source: Shared,
    wrapped: Option<&'a Wrapped>,
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.wrapped {
            Some(w) => f.write_str(&w.message),
            None => std::fmt::Display::fmt(self.diagnostic, f),
        }
    }
}

impl std::error::Error for Shown<'_> {}

impl miette::Diagnostic for Shown<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        miette::Diagnostic::severity(self.diagnostic)
    }

    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        match self.wrapped {
            Some(w) => w.help.as_ref().map(|h| Box::new(h) as Box<dyn std::fmt::Display + 'b>),
            None => miette::Diagnostic::help(self.diagnostic),
        }
    }

    fn url<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        miette::Diagnostic::url(self.diagnostic)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        miette::Diagnostic::labels(self.diagnostic)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        miette::Diagnostic::related(self.diagnostic)
    }
}

/// The text being reported on, with where its lines start, shared by every diagnostic.
///
/// miette's own sources find a span's lines by reading from the start of the text, and
/// each report would get its own copy of the text: quadratic in the number of
/// diagnostics (a 64 KiB file of one-character lines took 7 s). This one hands miette a
/// window of the few lines around the span and moves the answer back into place, so
/// the output is the same.
#[derive(Debug)]
struct Source {
    name: String,
    text: String,
    /// Offsets where lines start, as miette counts them (`\n`, `\r\n` and a lone `\r`).
    starts: Vec<usize>,
}

impl Source {
    fn new(name: &str, text: &str) -> Source {
        let b = text.as_bytes();
        let mut starts = vec![0];
        for (i, &c) in b.iter().enumerate() {
            if c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        Source {
            name: name.to_string(),
            text: text.to_string(),
            starts,
        }
    }

    /// The line holding byte `offset` (0-based).
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }
}

/// A [`Source`] shared by many reports.
#[derive(Debug)]
struct Shared(std::sync::Arc<Source>);

impl miette::SourceCode for Shared {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let src = &self.0;
        let bytes = src.text.as_bytes();
        // From `context_lines_before` lines above the span's first line to a few lines
        // past the most miette reads after its end.
        let first = src.line_of(span.offset()).saturating_sub(context_lines_before);
        let last = src.line_of(span.offset() + span.len()) + context_lines_after + 2;
        let start = src.starts[first];
        let end = src.starts.get(last + 1).copied().unwrap_or(bytes.len());
        let window = miette::SourceSpan::new((span.offset() - start).into(), span.len());
        let inner = <[u8] as miette::SourceCode>::read_span(
            &bytes[start..end],
            &window,
            context_lines_before,
            context_lines_after,
        )?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            src.name.clone(),
            inner.data(),
            miette::SourceSpan::new((inner.span().offset() + start).into(), inner.span().len()),
            inner.line() + first,
            inner.column(),
            inner.line_count() + first,
        )))
    }
}

/// One line per instruction: line numbers, the instruction, its form and flags.
pub fn outline(out: &mut impl Write, name: &str, text: &str, file: &Dockerfile) -> std::io::Result<()> {
    writeln!(
        out,
        "{name}: {} instructions, escape {}",
        file.instructions.len(),
        file.escape
    )?;
    for d in &file.directives {
        writeln!(out, "  # {}={}", d.name, d.value)?;
    }
    for inst in &file.instructions {
        write_instruction(out, text, inst, 1)?;
    }
    Ok(())
}

fn write_instruction(out: &mut impl Write, text: &str, inst: &Instruction, depth: usize) -> std::io::Result<()> {
    let lines = if inst.start_line == inst.end_line {
        format!("{}", inst.start_line)
    } else {
        format!("{}-{}", inst.start_line, inst.end_line)
    };
    let pad = "  ".repeat(depth);
    let kw = inst
        .keyword
        .map_or_else(|| format!("{} (unknown)", inst.name), |k| k.to_string());
    let flags: Vec<&str> = inst.flags.iter().map(|f| f.text.as_str()).collect();
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" {}", flags.join(" "))
    };
    let form = match &inst.args {
        Args::Json(_) => " [exec form]",
        Args::Shell(_) if matches!(inst.keyword.map(|k| k.as_str()), Some("RUN" | "CMD" | "ENTRYPOINT")) => {
            " [shell form]"
        }
        _ => "",
    };
    writeln!(out, "{pad}{lines:>7}  {kw}{flags}{form}")?;
    match &inst.args {
        Args::Onbuild(inner) => write_instruction(out, text, inner, depth + 1)?,
        Args::KeyValues(kvs) => {
            for kv in kvs {
                writeln!(out, "{pad}           {} = {}", kv.key.text, kv.value.text)?;
            }
        }
        Args::Healthcheck { kind, cmd } => {
            writeln!(out, "{pad}           {}", kind.text)?;
            for w in cmd.words() {
                writeln!(out, "{pad}           {}", w.text)?;
            }
        }
        args => {
            for w in args.words() {
                writeln!(out, "{pad}           {}", w.text)?;
            }
        }
    }
    for h in &inst.heredocs {
        let body_lines = text[h.content_span.clone()].lines().count();
        writeln!(
            out,
            "{pad}           <<{} ({} lines{})",
            h.name,
            body_lines,
            if h.expand { "" } else { ", not expanded" }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use slipway_parser::Diagnostic;

    /// Messages and helps wrapped here render exactly as miette wraps them: texts that
    /// fit, that wrap at spaces, hyphens and slashes, with trailing and leading spaces,
    /// blank lines, line breaks, wide and combining characters, one unbreakable word.
    #[test]
    fn wrapping_here_renders_as_miette_wraps() {
        let long = "instructions are ADD, ARG, CMD, COPY, ENTRYPOINT, ENV, EXPOSE, FROM, HEALTHCHECK, LABEL";
        let texts = [
            "short".to_string(),
            "trailing spaces   ".to_string(),
            "  leading spaces".to_string(),
            long.to_string(),
            format!("{long}, {long}"),
            format!("{long}\n\nsecond paragraph after a blank line"),
            "line one\nline two  \n".to_string(),
            "apt-get install -y --no-install-recommends ca-certificates/bookworm-backports ".repeat(3),
            "x".repeat(150),
            "é🚀한字 ".repeat(30),
            "e\u{301}\u{200b}a\u{a0}b ".repeat(40),
            " ".to_string(),
            String::new(),
            "tab\tseparated\twords ".repeat(10),
        ];
        let text = "FROM a\nRUN b\n";
        for width in [100, 40, 12, 3, 0] {
            std::env::set_var("COLUMNS", width.to_string());
            for (i, message) in texts.iter().enumerate() {
                let help = &texts[(i + 3) % texts.len()];
                for d in [
                    Diagnostic::warning("x", 7..12, message.clone()).with_help(help.clone()),
                    Diagnostic::warning("x", 0..4, message.clone()),
                ] {
                    let mut wrapped_by_miette = String::new();
                    let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                        .with_width(width)
                        .with_links(false);
                    let shown = super::Shown {
                        code: "x",
                        diagnostic: &d,
                        source: super::Shared(std::sync::Arc::new(super::Source::new("f", text))),
                        wrapped: None,
                    };
                    handler.render_report(&mut wrapped_by_miette, &shown).unwrap();
                    let ours = super::diagnostics("f", text, std::slice::from_ref(&d), false);
                    assert_eq!(ours, wrapped_by_miette, "width {width}: {message:?} / {help:?}");
                }
            }
        }
        std::env::remove_var("COLUMNS");
    }
}
