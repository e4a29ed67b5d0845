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
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_links(false);
    let mut out = String::new();
    let source = std::sync::Arc::new(Source::new(name, text));
    for d in diags {
        // Rendered as it is, not through a `miette::Report`: a report asks miette's hook for
        // a handler, which looks at the terminal (two syscalls) for every diagnostic.
        let shown = Shown {
            code: shown_code(d.code),
            diagnostic: d.clone(),
            source: Shared(std::sync::Arc::clone(&source)),
        };
        if handler.render_report(&mut out, &shown).is_err() {
            out.push_str(&format!("{}: {}\n", shown_code(d.code), d.message));
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

/// A diagnostic rendered under its [`shown_code`]; everything else is the diagnostic's.
#[derive(Debug)]
struct Shown {
    code: String,
    diagnostic: Diagnostic,
    source: Shared,
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.diagnostic, f)
    }
}

impl std::error::Error for Shown {}

impl miette::Diagnostic for Shown {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        miette::Diagnostic::severity(&self.diagnostic)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        miette::Diagnostic::help(&self.diagnostic)
    }

    fn url<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        miette::Diagnostic::url(&self.diagnostic)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        miette::Diagnostic::labels(&self.diagnostic)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        miette::Diagnostic::related(&self.diagnostic)
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
