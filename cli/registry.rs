//! `slipway pull`, `slipway push`, `slipway login`; pulling a build's missing base images;
//! `--push` and registry cache flags of `slipway build`. Progress bars per layer.

use slipway_registry::cache::{CacheSpec, ImportOptions};
use slipway_registry::pull::{Platform, PullOptions};
use slipway_registry::push::PushOptions;
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
    let client = client()?;
    match &found {
        Stored::Image(i) => push_one(&client, &store, &i.manifest_descriptor, &target, compression, quiet),
        Stored::Index(x) => push_index(&client, &store, &x.descriptor, &target, compression, quiet),
    }
}

fn push_one(
    client: &Client,
    store: &Store,
    manifest: &slipway_store::Descriptor,
    target: &str,
    compression: Compression,
    quiet: bool,
) -> io::Result<ExitCode> {
    // The store keeps a build's layers uncompressed: they are compressed on the way out.
    let manifest = match slipway_runner::distribute::manifest(store, manifest, compression) {
        Ok((d, _)) => d,
        Err(e) => return fail(format!("cannot push {target}: {e}")),
    };
    let bars = Bars::new(quiet);
    let pushed = slipway_registry::push::push(client, store, &manifest, target, &PushOptions::default(), &bars);
    report_push(pushed, quiet)
}

/// Pushes an image index: every platform's image by digest, then the index under the tag.
fn push_index(
    client: &Client,
    store: &Store,
    index: &slipway_store::Descriptor,
    target: &str,
    compression: Compression,
    quiet: bool,
) -> io::Result<ExitCode> {
    let index = match slipway_runner::distribute::index(store, index, compression) {
        Ok((d, _)) => d,
        Err(e) => return fail(format!("cannot push {target}: {e}")),
    };
    let bars = Bars::new(quiet);
    let pushed = slipway_registry::push::push_index(client, store, &index, target, &PushOptions::default(), &bars);
    report_push(pushed, quiet)
}

fn report_push(
    pushed: Result<slipway_registry::push::Pushed, slipway_registry::Error>,
    quiet: bool,
) -> io::Result<ExitCode> {
    match pushed {
        Ok(p) => {
            let digest = p.digest.map(|d| d.to_string()).unwrap_or_default();
            if quiet {
                println!("{digest}");
            } else {
                println!(
                    "Pushed {}: {} uploaded, {} mounted, {} already there; digest: {digest}",
                    familiar_name(&p.reference),
                    p.uploaded,
                    p.mounted,
                    p.existing
                );
            }
            Ok(ExitCode::SUCCESS)
        }
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

/// The images a planned build needs from outside (stage bases and `COPY --from=IMAGE`),
/// with their `--platform`.
pub fn needed_images(planned: &slipway_planner::request::Planned) -> Vec<(String, Option<String>)> {
    use slipway_parser::model::{Base, Command};
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let graph = &planned.graph;
    let stages: std::collections::BTreeSet<usize> = graph.graph.node_indices().map(|n| graph.graph[n].stage).collect();
    for &s in &stages {
        let stage = &planned.model.stages[s];
        if let Base::Image(r) = &stage.base {
            out.push((r.clone(), stage.platform.clone()));
        }
        for &i in &stage.instructions {
            if let Some(Some(Command::Copy(c) | Command::Add(c))) = planned.model.commands.get(i) {
                if let Some(f) = &c.from {
                    if planned.model.stage_by_ref(f).is_none() && !out.iter().any(|(n, _)| n == f) {
                        out.push((f.clone(), stage.platform.clone()));
                    }
                }
            }
        }
    }
    out.dedup();
    out
}

/// Fetches the layers a build will reuse that the store has only as "held by a registry"
/// (a cache imported lazily): the result of every cached step, and the layers of the
/// base images. Layers of steps that rebuild are never fetched. Also the contents of the
/// cache mounts that the steps which run use, where the store has only a seed.
pub fn fetch_reused(store: &Store, planned: &slipway_planner::request::Planned, quiet: bool) -> io::Result<()> {
    use slipway_planner::plan::Status;
    let mut wanted: Vec<slipway_store::Descriptor> = Vec::new();
    for step in planned.plan.steps.iter().filter(|s| s.status == Status::Hit) {
        if let Some(d) = store.get_cache(&step.cache_key)?.and_then(|r| r.result) {
            wanted.push(d);
        }
    }
    for (name, _) in needed_images(planned) {
        if let Ok(image) = slipway_runner::image::resolve(store, &name) {
            wanted.extend(image.manifest.layers);
        }
    }
    wanted.retain(|d| store.is_remote(&d.digest));
    // The contents of the cache mounts that the steps which run use, when the store has
    // no directory for them but an imported cache has them (a seed); none for steps that
    // come from the cache.
    let mut seeds: Vec<(String, slipway_store::Descriptor)> = Vec::new();
    for mount in slipway_runner::mounts::used_by(planned, |s| s.status != Status::Hit) {
        if store.cache_mount_dir(&mount).is_dir() {
            continue;
        }
        if let Some(seed) = store.mount_seed(&mount).filter(|s| store.is_remote(&s.layer.digest)) {
            seeds.push((mount.label(), seed.layer));
        }
    }
    if wanted.is_empty() && seeds.is_empty() {
        return Ok(());
    }
    let client = client()?;
    if !wanted.is_empty() {
        let bars = Bars::new(quiet);
        match slipway_registry::cache::fetch_remote(&client, store, &wanted, 4, &bars) {
            Ok((n, bytes)) if !quiet => eprintln!(
                "fetched {n} cached layer(s) ({}) that this build reuses",
                crate::image::human_size(bytes)
            ),
            Ok(_) => {}
            // A layer that cannot be fetched makes its step run again: a warning.
            Err(e) => eprintln!("warning: cannot fetch cached layers: {e}"),
        }
    }
    if !seeds.is_empty() {
        let bars = Bars::new(quiet);
        let blobs: Vec<slipway_store::Descriptor> = seeds.iter().map(|(_, d)| d.clone()).collect();
        let names: Vec<&str> = seeds.iter().map(|(l, _)| l.as_str()).collect();
        match slipway_registry::cache::fetch_remote(&client, store, &blobs, 4, &bars) {
            Ok((_, bytes)) if !quiet => eprintln!(
                "fetched the contents of cache mount(s) {} ({}) for the steps that run",
                names.join(", "),
                crate::image::human_size(bytes)
            ),
            Ok(_) => {}
            // A mount that cannot be restored starts empty: a warning.
            Err(e) => eprintln!("warning: cannot fetch cache mounts {}: {e}", names.join(", ")),
        }
    }
    Ok(())
}

/// Pulls the images a build needs that the store lacks (all of them with `refresh`).
/// Returns whether anything was pulled (the plan must then be made again).
pub fn pull_needed(
    store: &Store,
    planned: &slipway_planner::request::Planned,
    refresh: bool,
    quiet: bool,
) -> io::Result<bool> {
    let mut pulled = false;
    let mut client: Option<Client> = None;
    for (name, platform) in needed_images(planned) {
        // Images from OCI layouts on disk are read by the build itself.
        if name.starts_with("oci-layout://") {
            continue;
        }
        let present = slipway_runner::image::resolve(store, &name).is_ok();
        if present && !refresh {
            continue;
        }
        if client.is_none() {
            client = Some(self::client()?);
        }
        let client = client.as_ref().expect("set above");
        if !quiet {
            eprintln!("pulling {name}");
        }
        let platform = match platform.as_deref().map(Platform::parse).transpose() {
            Ok(p) => p.unwrap_or_else(Platform::host),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
        };
        let options = PullOptions {
            platform,
            ..PullOptions::default()
        };
        let bars = Bars::new(quiet);
        match slipway_registry::pull::pull(client, store, &name, &options, &bars) {
            Ok(p) => {
                pulled = true;
                if !quiet {
                    eprintln!(
                        "pulled {} ({}) from {}",
                        familiar_name(&p.name),
                        p.manifest.digest,
                        p.source
                    );
                }
            }
            Err(e) if present => eprintln!("warning: cannot refresh {name}, using the stored image: {e}"),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind_hint(),
                    format!(
                        "base image {name} is not in the store and cannot be pulled: {e} (configure a mirror in {}, or import a root filesystem with `slipway image import ROOTFS.tar --tag {name}`)",
                        slipway_registry::config::RegistriesConfig::default_path()
                            .map_or_else(|| "registries.toml".to_string(), |p| p.display().to_string())
                    ),
                ))
            }
        }
    }
    Ok(pulled)
}

trait KindHint {
    fn kind_hint(&self) -> io::ErrorKind;
}

impl KindHint for slipway_registry::Error {
    fn kind_hint(&self) -> io::ErrorKind {
        match self {
            slipway_registry::Error::NotFound(_) => io::ErrorKind::NotFound,
            slipway_registry::Error::Auth(_) => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::Other,
        }
    }
}

/// `--push`: pushes every tag of a built image.
pub fn push_tags(
    store: &Store,
    manifest: &slipway_store::Descriptor,
    tags: &[String],
    compression: Compression,
    quiet: bool,
) -> io::Result<ExitCode> {
    if tags.is_empty() {
        return fail("--push needs a name: add -t REGISTRY/REPO:TAG");
    }
    let client = client()?;
    for t in tags {
        let code = push_one(&client, store, manifest, t, compression, quiet)?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses `--cache-to` / `--cache-from` values; a usage error names the bad one.
pub fn cache_specs(specs: &[String]) -> Result<Vec<CacheSpec>, String> {
    specs.iter().map(|s| slipway_registry::cache::parse_spec(s)).collect()
}

/// `--cache-from`: imports each cache into the store before planning (and, unless the
/// spec says `mounts=false`, the contents of its cache mounts as seeds). A cache that
/// cannot be imported is a warning, as in BuildKit: the build goes on without it.
pub fn import_caches(specs: &[CacheSpec], quiet: bool) -> io::Result<()> {
    if specs.is_empty() {
        return Ok(());
    }
    let store = store()?;
    let client = client()?;
    for spec in specs {
        let r = &spec.reference;
        let bars = Bars::new(quiet);
        // Records and base manifests only: a plan needs no layer, and a build fetches
        // the layers of the steps it reuses (`fetch_reused`), none of those it runs.
        let options = ImportOptions {
            mounts: spec.mounts.unwrap_or(true),
            ..ImportOptions::default()
        };
        match slipway_registry::cache::import(&client, &store, r, &options, &bars) {
            Ok(i) => {
                if !quiet {
                    eprintln!(
                        "imported cache {r}: {} records ({} new), layers fetched when a build reuses them{}{}",
                        i.records,
                        i.new_records,
                        if i.bases.is_empty() {
                            String::new()
                        } else {
                            format!(
                                ", base images {}",
                                i.bases.iter().map(|b| familiar_name(b)).collect::<Vec<_>>().join(", ")
                            )
                        },
                        if i.mounts == 0 {
                            String::new()
                        } else {
                            format!(", {} cache mount(s) restored when a step that runs uses them", i.mounts)
                        }
                    );
                }
            }
            Err(e) => eprintln!("warning: cannot import cache {r}: {e}"),
        }
    }
    Ok(())
}

/// `--cache-to`: exports the cache records of a build's steps, their layers and its base
/// images; with `mounts=true`, the contents of the cache mounts its RUN steps use.
pub fn export_caches(
    store: &Store,
    planned: &slipway_planner::request::Planned,
    specs: &[CacheSpec],
    compression: Compression,
    quiet: bool,
) -> io::Result<ExitCode> {
    if specs.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut records = Vec::new();
    for step in &planned.plan.steps {
        if let Some(mut r) = store.get_cache(&step.cache_key)? {
            if !records.iter().any(|x: &slipway_store::CacheRecord| x.key == r.key) {
                // The layer as it leaves the store (compressed), the record naming it.
                if let Some(d) = r.result.as_ref().filter(|d| store.has_blob(&d.digest)) {
                    r.result = Some(slipway_runner::distribute::layer(store, d, compression)?);
                }
                records.push(r);
            }
        }
    }
    let bases: Vec<String> = needed_images(planned)
        .into_iter()
        .filter_map(|(n, _)| slipway_store::image::normalize_name(&n).ok())
        .collect();
    // The mounts' blobs are written before the cache names them: no prune meanwhile.
    let _in_use = store.lock_in_use()?;
    let mut packed: Option<Vec<slipway_store::mounts::MountSnapshot>> = None;
    let client = client()?;
    for spec in specs {
        let r = &spec.reference;
        let mounts: &[slipway_store::mounts::MountSnapshot] = if spec.mounts == Some(true) {
            if packed.is_none() {
                let used = slipway_runner::mounts::used_by(planned, |_| true);
                let p = match slipway_runner::mounts::pack(store, &used) {
                    Ok(p) => p,
                    Err(e) => return fail(format!("cannot pack the cache mounts for {r}: {e}")),
                };
                packed = Some(p.into_iter().map(|p| p.snapshot).collect());
            }
            packed.as_deref().unwrap_or_default()
        } else {
            &[]
        };
        let bars = Bars::new(quiet);
        let contents = slipway_registry::cache::Contents {
            records: &records,
            bases: &bases,
            mounts,
        };
        match slipway_registry::cache::export(&client, store, &contents, r, &bars) {
            Ok(e) => {
                if !quiet {
                    eprintln!(
                        "exported cache {r}: {} records, {} layers ({} uploaded){}",
                        e.records,
                        e.layers,
                        e.uploaded,
                        if spec.mounts == Some(true) {
                            format!(", {} cache mount(s) ({} uploaded)", e.mounts, e.mounts_uploaded)
                        } else {
                            String::new()
                        }
                    );
                }
            }
            Err(e) => return fail(format!("cannot export the cache to {r}: {e}")),
        }
    }
    Ok(ExitCode::SUCCESS)
}
