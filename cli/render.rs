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
    for d in diags {
        let report = miette::Report::new(d.clone()).with_source_code(miette::NamedSource::new(name, text.to_string()));
        if handler.render_report(&mut out, report.as_ref()).is_err() {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
    }
    out
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
