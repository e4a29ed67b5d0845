//! `slipway build`: plan, then run the plan (see `slipway_runner::build`).

use slipway_planner::request::Request;
use slipway_runner::build::{build, BuildError, BuildOptions, SecretSource, StepFailure};
use slipway_runner::export::{self, Dest, Output};
use slipway_runner::progress::Mode;
use std::collections::BTreeMap;
use std::io;
use std::process::ExitCode;

pub struct Options {
    pub request: Request,
    pub tags: Vec<String>,
    pub quiet: bool,
    pub progress: Progress,
    pub compression: Compression,
    /// `--network`: the default network of RUN steps.
    pub network_none: bool,
    /// `--network host` (needs `--allow network.host`).
    pub network_host: bool,
    /// `--allow`: entitlements.
    pub allow: Vec<String>,
    pub color: bool,
    /// `--secret id=X,src=FILE` / `id=X,env=VAR`, unparsed.
    pub secrets: Vec<String>,
    /// `--ssh default|ID=SOCKET`, unparsed.
    pub ssh: Vec<String>,
    /// `--output type=oci|docker,dest=…`, unparsed.
    pub outputs: Vec<String>,
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

/// `--compression`: how layers leave the store (pushed, exported); the store keeps a
/// build's layers uncompressed.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Compression {
    Gzip,
    Zstd,
    Uncompressed,
}

impl Compression {
    pub fn layers(self) -> slipway_runner::layer::Compression {
        match self {
            Compression::Gzip => slipway_runner::layer::Compression::Gzip,
            Compression::Zstd => slipway_runner::layer::Compression::Zstd,
            Compression::Uncompressed => slipway_runner::layer::Compression::None,
        }
    }
}

/// `--progress`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Progress {
    /// A live tree on a terminal, `plain` otherwise.
    Auto,
    /// One line per event, narrated: steps, cache, containers, layers.
    Plain,
    /// One JSON object per event.
    Json,
}

/// A failed step as a diagnostic at its instruction, with its last output lines.
fn failure(f: &StepFailure, planned: &slipway_planner::request::Planned, color: bool) -> String {
    let inst = &planned.file.instructions[f.instruction];
    let span = inst.name_span.start
        ..inst
            .span
            .end
            .min(inst.name_span.start + inst.original.lines().next().map_or(0, str::len));
    let mut help = String::new();
    if !f.output.is_empty() {
        help.push_str("the step's last output lines:\n");
        for l in &f.output {
            help.push_str("  │ ");
            help.push_str(l);
            help.push('\n');
        }
    }
    help.push_str("fix the command, then build again: the steps before it come from the cache");
    let d = slipway_parser::Diagnostic::error(
        "slipway::build::step_failed",
        slipway_parser::Phase::Build,
        span,
        format!("step {}/{} failed: {}", f.step, f.total, f.message),
    )
    .with_label("this step failed")
    .with_help(help);
    let name = planned.dockerfile.display().to_string();
    crate::render::diagnostics(&name, &planned.text, &[d], color)
}

/// Parses `--ssh` values: `default` (the agent at `$SSH_AUTH_SOCK`), `ID`, `ID=SOCKET`.
pub fn parse_ssh(specs: &[String]) -> Result<BTreeMap<String, std::path::PathBuf>, String> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (id, path) = match spec.split_once('=') {
            Some((id, p)) => (id.to_string(), std::path::PathBuf::from(p)),
            None => match std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) {
                Some(s) => (spec.clone(), s.into()),
                None => {
                    return Err(format!(
                        "--ssh {spec}: SSH_AUTH_SOCK is not set (start ssh-agent, or give {spec}=SOCKET)"
                    ))
                }
            },
        };
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {}
            Ok(_) => {
                return Err(format!(
                "--ssh {spec}: {} is not an agent socket (key files are not supported: load the key into ssh-agent)",
                path.display()
            ))
            }
            Err(e) => return Err(format!("--ssh {spec}: {}: {e}", path.display())),
        }
        out.insert(id, path);
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
    let ssh = match parse_ssh(&opts.ssh) {
        Ok(s) => s,
        Err(m) => {
            eprintln!("error: {m}");
            return Ok(ExitCode::from(2));
        }
    };
    let outputs = match opts
        .outputs
        .iter()
        .map(|o| Output::parse(o))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(o) => o,
        Err(m) => {
            eprintln!("error: {m}");
            return Ok(ExitCode::from(2));
        }
    };
    let (cache_from, cache_to) = match (
        crate::registry::cache_specs(&opts.cache_from),
        crate::registry::cache_specs(&opts.cache_to),
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
    // With `--progress json`, stderr carries only JSON events.
    let silent = opts.quiet || matches!(opts.progress, Progress::Json);
    crate::registry::import_caches(&cache_from, silent)?;
    let (store, mut planned) = match crate::plan::plan_or_report(&opts.request, opts.color)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    // Base images the store lacks are pulled, and the plan made again with their digests.
    if crate::registry::pull_needed(&store, &planned, opts.pull, silent)? {
        planned = match crate::plan::plan_or_report(&opts.request, opts.color)? {
            Ok((_, p)) => p,
            Err(code) => return Ok(code),
        };
    }
    crate::registry::fetch_reused(&store, &planned, silent)?;
    let progress = match opts.progress {
        _ if opts.quiet => Mode::Quiet,
        Progress::Plain => Mode::Plain,
        Progress::Json => Mode::Json,
        Progress::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => Mode::Tty,
        Progress::Auto => Mode::Plain,
    };
    let options = BuildOptions {
        tags: opts.tags.clone(),
        progress,
        // Kept uncompressed in the store, compressed as `--compression` says when the image
        // leaves it (push, cache export, OCI output): see slipway_runner::distribute.
        compression: slipway_runner::layer::Compression::None,
        network_none: opts.network_none,
        network_host: opts.network_host,
        allow: slipway_runner::build::Entitlements::parse(&opts.allow)?,
        sandbox_network: Default::default(),
        build_args: opts.request.build_args.clone(),
        secrets,
        ssh,
        materialise_copies: false,
    };
    let leaving = opts.compression.layers();
    match build(&store, &planned, &options) {
        Ok(built) => {
            for output in &outputs {
                let image = slipway_runner::image::load(&store, None, built.manifest.clone())?;
                let names = opts.tags.iter().chain(&output.names).cloned().collect();
                let named = [export::Named { image: &image, names }];
                export::export(&store, &named, output.format, leaving, &output.dest)?;
                match &output.dest {
                    Dest::Dir(p) | Dest::Tar(p) if !opts.quiet => {
                        eprintln!("exported {} to {}", &built.id.hex()[..12], p.display())
                    }
                    _ => {}
                }
            }
            // With `dest=-` the tar owns standard output; the messages go to stderr.
            let mut report = String::new();
            if opts.quiet {
                report.push_str(&format!("{}\n", built.id));
            } else {
                report.push_str(&format!("Successfully built {}\n", &built.id.hex()[..12]));
                for t in &built.tags {
                    report.push_str(&format!(
                        "Successfully tagged {}\n",
                        slipway_store::image::familiar_name(t)
                    ));
                }
            }
            if outputs.iter().any(|o| o.dest == Dest::Stdout) {
                eprint!("{report}");
            } else {
                print!("{report}");
            }
            let code = crate::registry::export_caches(&store, &planned, &cache_to, leaving, silent)?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            if opts.push {
                return crate::registry::push_tags(&store, &built.manifest, &built.tags, leaving, silent);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(BuildError::Failed(f)) => {
            eprint!("{}", failure(&f, &planned, opts.color));
            Ok(ExitCode::from(1))
        }
        Err(BuildError::Step(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(BuildError::Io(e)) => Err(e),
    }
}
