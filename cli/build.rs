//! `slipway build`: plan, then run the plan (see `slipway_runner::build`).

use slipway_planner::request::Request;
use slipway_runner::build::{build, BuildError, BuildOptions, SecretSource};
use std::collections::BTreeMap;
use std::io;
use std::process::ExitCode;

pub struct Options {
    pub request: Request,
    pub tags: Vec<String>,
    pub quiet: bool,
    pub color: bool,
    /// `--secret id=X,src=FILE` / `id=X,env=VAR`, unparsed.
    pub secrets: Vec<String>,
    /// `--pull`: refresh base images from their registries.
    pub pull: bool,
    /// `--push`: push the image under its tags.
    pub push: bool,
    /// `--cache-from` / `--cache-to` specs.
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
}

/// Parses `--secret` values (`id=X,src=FILE`, `id=X,source=FILE`, `id=X,env=VAR`).
pub fn parse_secrets(specs: &[String]) -> Result<BTreeMap<String, SecretSource>, String> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (mut id, mut source) = (None, None);
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => source = Some(SecretSource::File(v.into())),
                Some(("env", v)) => source = Some(SecretSource::Env(v.into())),
                Some(("type", "file" | "env")) => {}
                _ => {
                    return Err(format!(
                        "--secret {spec}: unknown field {field:?} (want id=X,src=FILE or id=X,env=VAR)"
                    ))
                }
            }
        }
        let id = id.ok_or_else(|| format!("--secret {spec}: id= is required"))?;
        let source = source.ok_or_else(|| format!("--secret {spec}: src=FILE or env=VAR is required"))?;
        out.insert(id, source);
    }
    Ok(out)
}

pub fn run(opts: &Options) -> io::Result<ExitCode> {
    let secrets = match parse_secrets(&opts.secrets) {
        Ok(s) => s,
        Err(m) => {
            eprintln!("error: {m}");
            return Ok(ExitCode::from(2));
        }
    };
    let (cache_from, cache_to) = match (
        crate::registry::cache_refs(&opts.cache_from),
        crate::registry::cache_refs(&opts.cache_to),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(m), _) | (_, Err(m)) => {
            eprintln!("error: {m}");
            return Ok(ExitCode::from(2));
        }
    };
    if opts.push && opts.tags.is_empty() {
        eprintln!("error: --push needs a name: add -t REGISTRY/REPO:TAG");
        return Ok(ExitCode::from(2));
    }
    crate::registry::import_caches(&cache_from, opts.quiet)?;
    let (store, mut planned) = match crate::plan::plan_or_report(&opts.request, opts.color)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    // Base images the store lacks are pulled, and the plan made again with their digests.
    if crate::registry::pull_needed(&store, &planned, opts.pull, opts.quiet)? {
        planned = match crate::plan::plan_or_report(&opts.request, opts.color)? {
            Ok((_, p)) => p,
            Err(code) => return Ok(code),
        };
    }
    let options = BuildOptions {
        tags: opts.tags.clone(),
        quiet: opts.quiet,
        build_args: opts.request.build_args.clone(),
        secrets,
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
            let code = crate::registry::export_caches(&store, &planned, &cache_to, opts.quiet)?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            if opts.push {
                return crate::registry::push_tags(&store, &built.manifest, &built.tags, opts.quiet);
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
