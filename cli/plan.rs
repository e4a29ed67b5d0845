//! `slipway plan`: the dry-run cache report.

use slipway_planner::report;
use slipway_planner::request::Request;
use std::io::{self, Write};
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Markdown,
    Dot,
}

pub struct Options {
    pub request: Request,
    pub format: Format,
    pub fail_on_miss: bool,
    pub color: bool,
    /// `--cache-from` specs.
    pub cache_from: Vec<String>,
    /// `--base REV`: compare with a git revision instead of the store.
    pub base: Option<String>,
    /// `--platform`, unparsed.
    pub platforms: Vec<String>,
}

/// A plan that could not be made: an I/O error is returned, Dockerfile errors are rendered
/// (exit 1).
fn failed(failure: slipway_planner::request::Failure, color: bool) -> io::Result<ExitCode> {
    crate::build::session_error(failure.into(), color)
}

/// `slipway plan --base REV`: the working tree against a git revision.
fn run_against(opts: &Options, rev: &str) -> io::Result<ExitCode> {
    let store = slipway_store::Store::open(slipway_store::default_root()).ok();
    let based = match slipway_planner::gitbase::plan_against(&opts.request, rev, store.as_ref()) {
        Ok(b) => b,
        Err(f) => return failed(f, opts.color),
    };
    let p = &based.plan;
    let out = match opts.format {
        Format::Human => {
            let mut o =
                format!("Compared with {rev}: \"cached\" is unchanged, \"rebuild\" is what this change rebuilds\n\n");
            o.push_str(&report::human(p));
            for n in &based.notes {
                o.push_str(&format!("note: {n}\n"));
            }
            o
        }
        Format::Json => {
            let mut v = serde_json::to_value(p).map_err(io::Error::other)?;
            v["base"] = serde_json::Value::String(rev.to_string());
            v["notes"] = serde_json::json!(based.notes);
            serde_json::to_string_pretty(&v).map_err(io::Error::other)? + "\n"
        }
        Format::Markdown => {
            let mut o = format!("Compared with `{rev}`:\n\n");
            o.push_str(&report::markdown(p));
            for n in &based.notes {
                o.push_str(&format!("\n_note: {n}_\n"));
            }
            o
        }
        Format::Dot => report::dot(p),
    };
    let stdout = io::stdout();
    let mut lock = stdout.lock();
    lock.write_all(out.as_bytes())?;
    lock.flush()?;
    Ok(if opts.fail_on_miss && p.summary.misses > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn run(opts: &Options) -> io::Result<ExitCode> {
    if let Some(rev) = &opts.base {
        return run_against(opts, rev);
    }
    let cache_from = match crate::registry::cache_specs(&opts.cache_from) {
        Ok(refs) => refs,
        Err(m) => {
            eprintln!("error: {m}");
            return Ok(ExitCode::from(2));
        }
    };
    let store = slipway_store::Store::open(slipway_store::default_root())?;
    let events = crate::registry::Cli::new(false);
    let platforms = match crate::build::parse_platforms(&opts.platforms) {
        Ok(p) => p,
        Err(m) => {
            eprintln!("error: {m}");
            return Ok(ExitCode::from(2));
        }
    };
    let plans = match slipway_engine::plan_with_caches(&store, &opts.request, &platforms, &cache_from, &events) {
        Ok(p) => p,
        Err(e) => return crate::build::session_error(e, opts.color),
    };
    if plans.len() > 1 {
        return several(opts, &plans);
    }
    let Some(planned) = plans.into_iter().next() else {
        return Ok(ExitCode::SUCCESS);
    };
    let p = &planned.plan;
    let out = match opts.format {
        Format::Human => report::human(p),
        Format::Json => report::json(p) + "\n",
        Format::Markdown => report::markdown(p),
        Format::Dot => report::dot(p),
    };
    let stdout = io::stdout();
    let mut lock = stdout.lock();
    lock.write_all(out.as_bytes())?;
    lock.flush()?;
    // Sources that cannot be selected: the report is out, then the plan fails.
    let unselectable = source_errors(&planned, opts.request.context.as_path());
    if !unselectable.is_empty() {
        let name = planned.dockerfile.display().to_string();
        eprint!(
            "{}",
            crate::render::diagnostics(&name, &planned.text, &unselectable, opts.color)
        );
        return Ok(ExitCode::from(1));
    }
    Ok(if opts.fail_on_miss && p.summary.misses > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The plans of several platforms: one report after the other (human, Markdown), one
/// JSON object `{"platforms": [plan, ...]}`, one DOT graph per platform.
fn several(opts: &Options, plans: &[slipway_planner::request::Planned]) -> io::Result<ExitCode> {
    let mut out = String::new();
    match opts.format {
        Format::Json => {
            let all: Vec<&slipway_planner::plan::Plan> = plans.iter().map(|p| &p.plan).collect();
            out = serde_json::to_string_pretty(&serde_json::json!({ "platforms": all })).map_err(io::Error::other)?;
            out.push('\n');
        }
        _ => {
            for (i, p) in plans.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let platform = p.plan.summary.platform.clone().unwrap_or_default();
                out.push_str(&match opts.format {
                    Format::Human => format!("Platform {platform}:\n{}", report::human(&p.plan)),
                    Format::Markdown => format!("#### {platform}\n\n{}", report::markdown(&p.plan)),
                    _ => report::dot(&p.plan),
                });
            }
        }
    }
    let stdout = io::stdout();
    let mut lock = stdout.lock();
    lock.write_all(out.as_bytes())?;
    lock.flush()?;
    let mut code = ExitCode::SUCCESS;
    for p in plans {
        let unselectable = source_errors(p, opts.request.context.as_path());
        if !unselectable.is_empty() {
            let name = p.dockerfile.display().to_string();
            eprint!(
                "{}",
                crate::render::diagnostics(&name, &p.text, &unselectable, opts.color)
            );
            return Ok(ExitCode::from(1));
        }
        if opts.fail_on_miss && p.plan.summary.misses > 0 {
            code = ExitCode::from(1);
        }
    }
    Ok(code)
}

/// A diagnostic at the source (else the instruction) of every step whose sources cannot
/// be selected.
fn source_errors(
    planned: &slipway_planner::request::Planned,
    context: &std::path::Path,
) -> Vec<slipway_parser::Diagnostic> {
    let mut out = Vec::new();
    for step in &planned.plan.steps {
        let Some(inst) = planned.file.instructions.iter().find(|i| i.start_line == step.line) else {
            continue;
        };
        // The instruction's first line: a heredoc body is no part of what is wrong.
        let first_line = planned.text[inst.span.clone()].find('\n').unwrap_or(inst.span.len());
        for e in &step.errors {
            // The error names the path as BuildKit looks it up: `"/dir/file"`.
            let path = e.split('"').nth(1).map(|p| p.trim_start_matches('/'));
            let word = inst.args.words().into_iter().find(|w| {
                path.is_some_and(|p| !p.is_empty() && w.text.trim_start_matches("./").trim_start_matches('/') == p)
            });
            let span = word.map_or(inst.span.start..inst.span.start + first_line, |w| w.span.clone());
            out.push(
                slipway_parser::Diagnostic::error(SOURCES, slipway_parser::Phase::Build, span, e.clone()).with_help(
                    format!(
                        "source paths are relative to the build context {}; check the path and .dockerignore",
                        context.display()
                    ),
                ),
            );
        }
    }
    out
}

/// A COPY/ADD source or bind mount source the build context does not have.
const SOURCES: &str = "slipway::plan::missing-source";
