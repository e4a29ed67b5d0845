//! `slipway build`: plan, then run the plan (see `slipway_runner::build`).

use slipway_planner::request::{plan_request, Failure, Request};
use slipway_runner::build::{build, BuildError, BuildOptions};
use std::io;
use std::process::ExitCode;

pub struct Options {
    pub request: Request,
    pub tags: Vec<String>,
    pub quiet: bool,
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
    let options = BuildOptions {
        tags: opts.tags.clone(),
        quiet: opts.quiet,
        build_args: opts.request.build_args.clone(),
    };
    match build(&store, &planned, &options) {
        Ok(built) => {
            if opts.quiet {
                println!("{}", built.id);
            } else {
                println!("Successfully built {}", &built.id.hex()[..12]);
                for t in &built.tags {
                    println!("Successfully tagged {}", slipway_store::image::familiar_name(t));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(BuildError::Step(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(BuildError::Io(e)) => Err(e),
    }
}
