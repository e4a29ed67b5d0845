//! `slipway pull`, `slipway push`, `slipway login`; pulling a build's missing base images;
//! `--push` and registry cache flags of `slipway build`. Progress bars per layer.

use slipway_engine::Events;
use slipway_registry::cache::CacheSpec;
use slipway_registry::pull::{Platform, PullOptions};
use slipway_registry::{Client, ClientConfig, Credentials, Progress};
use slipway_runner::image::Stored;
use slipway_runner::layer::Compression;
use slipway_store::image::familiar_name;
use slipway_store::Store;
use std::collections::BTreeMap;
use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;

/// Per-blob progress bars on a terminal; one line per finished blob otherwise.
pub struct Bars {
    multi: indicatif::MultiProgress,
    bars: Mutex<BTreeMap<String, indicatif::ProgressBar>>,
    terminal: bool,
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        let terminal = io::stderr().is_terminal();
        let multi = if quiet || !terminal {
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
        } else {
            indicatif::MultiProgress::new()
        };
        Bars {
            multi,
            bars: Mutex::new(BTreeMap::new()),
            terminal,
            quiet,
        }
    }

    fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        if self.terminal {
            let _ = self.multi.println(s);
        } else {
            eprintln!("{s}");
        }
    }
}

impl Progress for Bars {
    fn start(&self, id: &str, label: &str, total: u64) {
        let bar = self.multi.add(indicatif::ProgressBar::new(total));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix}: {msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(id.to_string());
        bar.set_message(label.to_string());
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), bar);
    }

    fn advance(&self, id: &str, bytes: u64) {
        if let Some(b) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            b.inc(bytes);
        }
    }

    fn finish(&self, id: &str, status: &str) {
        let bar = self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        if let Some(b) = bar {
            b.finish_and_clear();
            let size = b.length().unwrap_or(0);
            self.line(&format!("{id}: {status} ({})", crate::image::human_size(size)));
        }
    }

    fn note(&self, message: &str) {
        self.line(&format!("note: {message}"));
    }
}

/// How the CLI shows a build session: news and warnings on stderr (news not with `-q`),
/// progress bars per transfer, the built image and pushes on stdout (stderr when the
/// image's tar owns stdout).
pub struct Cli {
    /// No news (`-q`, or `--progress json`, whose stderr carries only JSON).
    pub quiet: bool,
    /// The reports are IDs and digests only (`-q`).
    pub id_only: bool,
    /// `--output dest=-`: the tar is on stdout, the report goes to stderr.
    pub stdout_taken: bool,
}

impl Cli {
    pub fn new(quiet: bool) -> Cli {
        Cli {
            quiet,
            id_only: quiet,
            stdout_taken: false,
        }
    }

    fn report(&self, text: &str) {
        if self.stdout_taken {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
}

impl slipway_engine::Events for Cli {
    fn info(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    fn warning(&self, message: &str) {
        eprintln!("warning: {message}");
    }

    fn transfer(&self) -> Box<dyn Progress + '_> {
        Box::new(Bars::new(self.quiet))
    }

    fn platform(&self, platform: &Platform, index: usize, count: usize) {
        if !self.quiet {
            eprintln!("building for {platform} ({}/{count})", index + 1);
        }
    }

    fn built(&self, outcome: &slipway_engine::Outcome) {
        let mut report = String::new();
        if self.id_only {
            report.push_str(&format!("{}\n", outcome.id));
        } else {
            report.push_str(&format!("Successfully built {}\n", &outcome.id.hex()[..12]));
            for t in &outcome.tags {
                report.push_str(&format!("Successfully tagged {}\n", familiar_name(t)));
            }
        }
        self.report(&report);
    }

    fn pushed(&self, p: &slipway_engine::Pushed) {
        if self.id_only {
            self.report(&format!("{}\n", p.digest));
        } else {
            self.report(&format!(
                "Pushed {}: {} uploaded, {} mounted, {} already there; digest: {}\n",
                familiar_name(&p.reference),
                p.uploaded,
                p.mounted,
                p.existing,
                p.digest
            ));
        }
    }
}

pub fn client() -> io::Result<Client> {
    Ok(Client::new(ClientConfig::from_environment()?))
}

fn store() -> io::Result<Store> {
    Store::open(slipway_store::default_root())
}

/// Prints a registry error (with its kind's exit code 2).
fn fail(e: impl std::fmt::Display) -> io::Result<ExitCode> {
    eprintln!("error: {e}");
    Ok(ExitCode::from(2))
}

/// `slipway pull IMAGE`.
pub fn pull(image: &str, platform: Option<&str>, quiet: bool) -> io::Result<ExitCode> {
    let platform = match platform.map(Platform::parse).transpose() {
        Ok(p) => p.unwrap_or_else(Platform::host),
        Err(e) => return fail(e),
    };
    let store = store()?;
    let client = client()?;
    let bars = Bars::new(quiet);
    let options = PullOptions {
        platform,
        ..PullOptions::default()
    };
    match slipway_registry::pull::pull(&client, &store, image, &options, &bars) {
        Ok(p) => {
            if quiet {
                println!("{}", p.manifest.digest);
            } else {
                println!("Digest: {}", p.manifest.digest);
                println!("Pulled {} ({}) from {}", familiar_name(&p.name), p.platform, p.source);
                if p.named.digest != p.manifest.digest {
                    let platforms = slipway_runner::image::find(&store, &p.name)
                        .ok()
                        .and_then(|s| match s {
                            slipway_runner::image::Stored::Index(x) => Some(
                                x.images
                                    .iter()
                                    .map(|(p, _)| p.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            ),
                            slipway_runner::image::Stored::Image(_) => None,
                        })
                        .unwrap_or_default();
                    println!(
                        "{} is an index now: {platforms} ({})",
                        familiar_name(&p.name),
                        p.named.digest
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail(e),
    }
}

/// `slipway push IMAGE [TARGET]`.
pub fn push(image: &str, target: Option<&str>, compression: Compression, quiet: bool) -> io::Result<ExitCode> {
    let store = store()?;
    let found = if image.starts_with(slipway_store::layout::SCHEME) {
        slipway_runner::image::resolve(&store, image).map(|i| Stored::Image(Box::new(i)))
    } else {
        slipway_runner::image::find(&store, image)
    };
    let found = match found {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let target = match (target, found.name()) {
        (Some(t), _) => t.to_string(),
        (None, Some(n)) => n.to_string(),
        (None, None) => {
            return fail(format!(
                "{image} is an ID: name a target, `slipway push {image} REGISTRY/REPO:TAG`"
            ))
        }
    };
    push_one(&store, found.descriptor(), &target, compression, quiet)
}

fn push_one(
    store: &Store,
    manifest: &slipway_store::Descriptor,
    target: &str,
    compression: Compression,
    quiet: bool,
) -> io::Result<ExitCode> {
    let events = Cli::new(quiet);
    match slipway_engine::publish::push(store, manifest, target, compression, &events) {
        Ok(p) => {
            events.pushed(&p);
            Ok(ExitCode::SUCCESS)
        }
        Err(slipway_engine::Error::Io(e)) => Err(e),
        Err(e) => fail(e),
    }
}

/// `slipway login SERVER`: checks the credentials, then stores them in Docker's config.
pub fn login(
    server: &str,
    username: Option<String>,
    password: Option<String>,
    password_stdin: bool,
) -> io::Result<ExitCode> {
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .to_string();
    let host = if host == "index.docker.io" || host == "registry-1.docker.io" {
        "docker.io".to_string()
    } else {
        host
    };
    let stdin = io::stdin();
    let read_line = |prompt: &str| -> io::Result<String> {
        if !password_stdin && stdin.is_terminal() {
            eprint!("{prompt}");
            let _ = io::stderr().flush();
        }
        let mut s = String::new();
        stdin.lock().read_line(&mut s)?;
        Ok(s.trim_end_matches(['\n', '\r']).to_string())
    };
    let username = match username {
        Some(u) => u,
        None if password_stdin => return fail("--password-stdin needs --username"),
        None => read_line("Username: ")?,
    };
    let password = match (password, password_stdin) {
        (Some(_), true) => return fail("give either --password or --password-stdin"),
        (Some(p), false) => p,
        (None, _) => read_line("Password: ")?,
    };
    if username.is_empty() || password.is_empty() {
        return fail("a username and a password are required");
    }
    let creds = Credentials { username, password };
    let client = client()?;
    if let Err(e) = slipway_registry::push::login(&client, &host, creds.clone()) {
        return fail(e);
    }
    let path = slipway_registry::config::docker_config_path()
        .ok_or_else(|| io::Error::other("cannot find the Docker config: set HOME or DOCKER_CONFIG"))?;
    slipway_registry::config::store_credentials(&path, &host, &creds)?;
    println!("Login Succeeded ({host}; credentials in {})", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Parses `--cache-to` / `--cache-from` values; a usage error names the bad one.
pub fn cache_specs(specs: &[String]) -> Result<Vec<CacheSpec>, String> {
    specs.iter().map(|s| slipway_registry::cache::parse_spec(s)).collect()
}
