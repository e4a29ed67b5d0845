//! A whole plan from files on disk: read the Dockerfile, analyse it, build the
//! step graph, scan the context and compute the plan against a store. What
//! `slipway plan` runs, and what the runner will run before building.

use crate::context::{Context, ScanOptions};
use crate::dockerignore::DockerIgnore;
use crate::plan::{plan, Plan, PlanOptions};
use slipway_parser::{graph, model, CheckOptions, Diagnostic, Severity};
use slipway_store::platform::Platform;
use slipway_store::Store;
use std::io;
use std::path::{Path, PathBuf};

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The Dockerfile (default: `context/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    pub context: PathBuf,
    pub target: Option<String>,
    pub build_args: Vec<(String, String)>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    /// `--platform`: the platform to build for (`None`: the host's).
    pub platform: Option<model::PlatformArgs>,
}

/// Why there is no plan.
#[derive(Debug)]
pub enum Failure {
    /// Reading files failed.
    Io(io::Error),
    /// The Dockerfile has errors (`name`, `text` for rendering them).
    Invalid {
        name: String,
        text: String,
        diagnostics: Vec<Diagnostic>,
    },
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

/// A plan and what it was made from.
pub struct Planned {
    pub plan: Plan,
    pub dockerfile: PathBuf,
    pub text: String,
    /// Warnings about the context (e.g. the stat cache could not be saved).
    pub warnings: Vec<String>,
    /// What the plan was made from, for the builder.
    pub file: slipway_parser::syntax::Dockerfile,
    pub model: model::Model,
    pub graph: graph::StepGraph,
    pub context: Context,
    /// The platform it is planned for (`None`: the host's).
    pub platform: Option<model::PlatformArgs>,
}

impl Planned {
    /// The platform stage `stage` is built for: its `FROM --platform` (expanded), else the
    /// target platform; `None` when neither is given (the host's, leniently: a base image
    /// whose config names another platform is still used, as before multi-platform builds).
    pub fn stage_platform(&self, stage: usize) -> Option<Platform> {
        stage_platform(&self.model, self.platform.as_ref(), stage)
    }
}

/// [`Planned::stage_platform`] before there is a plan.
pub fn stage_platform(model: &model::Model, target: Option<&model::PlatformArgs>, stage: usize) -> Option<Platform> {
    let explicit = model.stages.get(stage).and_then(|s| s.platform.as_deref());
    match explicit.map(Platform::parse) {
        Some(Ok(p)) => Some(p.normalize()),
        _ => target.map(platform_of_args),
    }
}

/// A platform as the predefined ARGs see it, as the store names it.
pub fn platform_of_args(p: &model::PlatformArgs) -> Platform {
    Platform {
        os: p.os.clone(),
        architecture: p.architecture.clone(),
        variant: p.variant.clone(),
    }
    .normalize()
}

/// The predefined ARGs' view of a platform.
pub fn args_of_platform(p: &Platform) -> model::PlatformArgs {
    let p = p.normalize();
    model::PlatformArgs {
        os: p.os,
        architecture: p.architecture,
        variant: p.variant,
    }
}

/// `<Dockerfile>.dockerignore` next to the Dockerfile, else `.dockerignore` in the context.
pub fn find_dockerignore(dockerfile: &Path, context: &Path) -> io::Result<Option<DockerIgnore>> {
    let mut specific = dockerfile.as_os_str().to_owned();
    specific.push(".dockerignore");
    for p in [PathBuf::from(specific), context.join(".dockerignore")] {
        match std::fs::read(&p) {
            Ok(bytes) => {
                return DockerIgnore::parse(&String::from_utf8_lossy(&bytes))
                    .map(Some)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display())))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("cannot read {}: {e}", p.display()))),
        }
    }
    Ok(None)
}

/// The Dockerfile a request builds: `-f FILE`, else `CONTEXT/Dockerfile`, else
/// `CONTEXT/dockerfile` (as the docker CLI looks for it). A context that is not a
/// directory, or a context without either file, is an error that says so.
pub fn dockerfile_path(request: &Request) -> io::Result<PathBuf> {
    let context = &request.context;
    match std::fs::metadata(context) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the build context {} is not a directory (give the directory that holds the Dockerfile, and -f FILE for another Dockerfile)",
                    context.display()
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(io::Error::new(
                e.kind(),
                format!("the build context {} does not exist", context.display()),
            ))
        }
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot read the build context {}: {e}", context.display()),
            ))
        }
    }
    if let Some(f) = &request.dockerfile {
        if f.as_os_str() != "-" && !f.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the Dockerfile {} does not exist", f.display()),
            ));
        }
        return Ok(f.clone());
    }
    let upper = context.join("Dockerfile");
    if upper.exists() {
        return Ok(upper);
    }
    let lower = context.join("dockerfile");
    if lower.exists() {
        return Ok(lower);
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "no Dockerfile in the build context {} (write one there, or give -f FILE)",
            context.display()
        ),
    ))
}

/// Parses and analyses a Dockerfile's text for `request` (its build args and target) and
/// builds the step graph; the errors a build would stop at are a [`Failure::Invalid`].
pub(crate) fn analyze(
    name: &str,
    text: &str,
    request: &Request,
) -> Result<(slipway_parser::syntax::Dockerfile, model::Model, graph::StepGraph), Failure> {
    let invalid = |diagnostics: Vec<Diagnostic>| Failure::Invalid {
        name: name.to_string(),
        text: text.to_string(),
        diagnostics,
    };
    let parsed = slipway_parser::parse(text);
    let check = CheckOptions {
        build_args: request.build_args.clone(),
        target: request.target.clone(),
        platform: request.platform.clone(),
        ..CheckOptions::default()
    };
    let model = model::analyze(text, &parsed.file, &check);
    let errors: Vec<Diagnostic> = parsed
        .diagnostics
        .iter()
        .chain(&model.diagnostics)
        .filter(|d| d.severity == Severity::Error)
        .cloned()
        .collect();
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let graph = graph::build(&parsed.file, &model, request.target.as_deref(), 0..0).map_err(|d| invalid(vec![*d]))?;
    Ok((parsed.file, model, graph))
}

/// Plans a build of `request` against `store`.
pub fn plan_request(request: &Request, store: &Store) -> Result<Planned, Failure> {
    let dockerfile = dockerfile_path(request)?;
    let bytes = std::fs::read(&dockerfile)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", dockerfile.display())))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let name = dockerfile.display().to_string();
    let (file, model, graph) = analyze(&name, &text, request)?;
    let scan = ScanOptions {
        dockerignore: find_dockerignore(&dockerfile, &request.context)?,
        stat_cache: ScanOptions::stat_cache_in(store.root(), &request.context).ok(),
        threads: 0,
    };
    let context = Context::scan(&request.context, &scan).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot read the build context {}: {e}", request.context.display()),
        )
    })?;
    let options = PlanOptions {
        dockerfile_id: std::path::absolute(&dockerfile)
            .unwrap_or_else(|_| dockerfile.clone())
            .display()
            .to_string(),
        no_cache: request.no_cache,
        no_cache_filter: request.no_cache_filter.clone(),
        build_args: request.build_args.iter().cloned().collect(),
        platform: request.platform.clone(),
    };
    let plan = plan(&file, &model, &graph, &context, Some(store), &options);
    Ok(Planned {
        plan,
        dockerfile,
        text,
        warnings: context.warnings().to_vec(),
        file,
        model,
        graph,
        context,
        platform: request.platform.clone(),
    })
}
