//! `slipway plan`: the dry-run cache report.

use slipway_planner::report;
use slipway_planner::request::{plan_request, Failure, Request};
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
}

pub fn run(opts: &Options) -> io::Result<ExitCode> {
    let store = slipway_store::Store::open(slipway_store::default_root())?;
    let planned = match plan_request(&opts.request, &store) {
        Ok(p) => p,
        Err(Failure::Io(e)) => return Err(e),
        Err(Failure::Invalid {
            name,
            text,
            diagnostics,
        }) => {
            eprint!("{}", crate::render::diagnostics(&name, &text, &diagnostics, opts.color));
            return Ok(ExitCode::from(1));
        }
    };
    for w in &planned.warnings {
        eprintln!("warning: {w}");
    }
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
    Ok(if opts.fail_on_miss && p.summary.misses > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
