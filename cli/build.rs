//! `slipway build`: plan, then run the plan (see `slipway_runner::build`).

use slipway_planner::request::Request;
use slipway_runner::build::SecretSource;
use slipway_runner::export::{Dest, Output};
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
    /// `--platform`, unparsed.
    pub platforms: Vec<String>,
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

/// Prints a usage error (exit code 2).
fn usage(m: impl std::fmt::Display) -> io::Result<ExitCode> {
    eprintln!("error: {m}");
    Ok(ExitCode::from(2))
}

/// Renders a session's error: diagnostics at their spans, the rest as one line.
pub fn session_error(e: slipway_engine::Error, color: bool) -> io::Result<ExitCode> {
    use slipway_engine::Error;
    match e {
        Error::Dockerfile {
            name,
            text,
            diagnostics,
        } => {
            eprint!("{}", crate::render::diagnostics(&name, &text, &diagnostics, color));
            Ok(ExitCode::from(1))
        }
        Error::Build(m) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Error::Usage(m) | Error::Registry(m) => usage(m),
        Error::Io(e) => Err(e),
    }
}

pub fn run(opts: &Options) -> io::Result<ExitCode> {
    let secrets = match parse_secrets(&opts.secrets) {
        Ok(s) => s,
        Err(m) => return usage(m),
    };
    let ssh = match parse_ssh(&opts.ssh) {
        Ok(s) => s,
        Err(m) => return usage(m),
    };
    let outputs = match opts
        .outputs
        .iter()
        .map(|o| Output::parse(o))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(o) => o,
        Err(m) => return usage(m),
    };
    let (cache_from, cache_to) = match (
        crate::registry::cache_specs(&opts.cache_from),
        crate::registry::cache_specs(&opts.cache_to),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(m), _) | (_, Err(m)) => return usage(m),
    };
    let platforms = match parse_platforms(&opts.platforms) {
        Ok(p) => p,
        Err(m) => return usage(m),
    };
    let progress = match opts.progress {
        _ if opts.quiet => Mode::Quiet,
        Progress::Plain => Mode::Plain,
        Progress::Json => Mode::Json,
        Progress::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => Mode::Tty,
        Progress::Auto => Mode::Plain,
    };
    let request = slipway_engine::BuildRequest {
        plan: opts.request.clone(),
        platforms,
        tags: opts.tags.clone(),
        progress,
        network_none: opts.network_none,
        network_host: opts.network_host,
        allow: slipway_runner::build::Entitlements::parse(&opts.allow)?,
        secrets,
        ssh,
        outputs,
        pull: opts.pull,
        push: opts.push,
        cache_from,
        cache_to,
        compression: opts.compression.layers(),
    };
    // With `--progress json`, stderr carries only JSON events.
    let events = crate::registry::Cli {
        quiet: opts.quiet || matches!(opts.progress, Progress::Json),
        id_only: opts.quiet,
        // With `dest=-` the tar owns standard output; the messages go to stderr.
        stdout_taken: request.outputs.iter().any(|o| o.dest == Dest::Stdout),
    };
    let store = slipway_store::Store::open(slipway_store::default_root())?;
    match slipway_engine::build(&store, &request, &events) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => session_error(e, opts.color),
    }
}

/// `--platform linux/amd64,linux/arm64` (comma-separated or repeated).
pub fn parse_platforms(specs: &[String]) -> Result<Vec<slipway_registry::pull::Platform>, String> {
    let mut out: Vec<slipway_registry::pull::Platform> = Vec::new();
    for s in specs
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let p = slipway_registry::pull::Platform::parse(s).map_err(|e| format!("--platform: {e}"))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}
