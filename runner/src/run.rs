//! `slipway run`: a container from an image, as `docker run` starts one: the
//! image's layers as read-only lower dirs, a fresh writable layer on top, the
//! config's Entrypoint/Cmd/Env/WorkingDir/User, overridable from the command line.

use crate::container::{self, ContainerSpec, Network, Rootfs};
use crate::image;
use slipway_store::Store;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// What `slipway run` was asked.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub image: String,
    /// `--platform`: of an image index, the image for this platform (default: the host's);
    /// a foreign one runs under emulation ([`crate::binfmt`]).
    pub platform: Option<slipway_store::platform::Platform>,
    /// Replaces the image's Cmd (and, with `entrypoint`, its Entrypoint).
    pub command: Vec<String>,
    /// `--entrypoint` (an empty string clears it).
    pub entrypoint: Option<String>,
    /// `-e K=V` (or `-e K` to take it from the environment).
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub network_none: bool,
    /// `--network host`: the host's network namespace.
    pub network_host: bool,
    /// `-p`: ports published from the host (default network only).
    pub publish: Vec<crate::net::Port>,
    /// Capabilities, seccomp, `--privileged`.
    pub security: crate::security::Security,
    /// `--memory`, `--pids-limit`.
    pub limits: crate::cgroup::Limits,
    /// `--rm`: discard the container's writable layer afterwards (the default keeps it
    /// under the store's `containers/` for inspection).
    pub remove: bool,
    pub hostname: Option<String>,
    /// Called with the ID of a container that is kept (no `--rm`), before it starts.
    pub announce: Option<fn(&str)>,
}

/// The argv a container runs: Entrypoint + Cmd, where a given command replaces Cmd
/// and `--entrypoint` replaces Entrypoint (and drops the image's Cmd), as in Docker.
pub fn argv(config: &slipway_store::image::RunConfig, options: &RunOptions) -> Vec<String> {
    let entrypoint: Vec<String> = match &options.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => config.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = if !options.command.is_empty() {
        options.command.clone()
    } else if options.entrypoint.is_some() {
        Vec::new()
    } else {
        config.cmd.clone().unwrap_or_default()
    };
    entrypoint.into_iter().chain(cmd).collect()
}

/// The environment: the image's, then `-e`, with `HOME` from the user when unset.
pub fn env(config: &slipway_store::image::RunConfig, extra: &[String], home: &str) -> Vec<String> {
    let mut env: Vec<String> = config.env.clone();
    for e in extra {
        let entry = if e.contains('=') {
            e.clone()
        } else {
            match std::env::var(e) {
                Ok(v) => format!("{e}={v}"),
                Err(_) => continue,
            }
        };
        let key = entry.split('=').next().unwrap_or_default().to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Runs a container from an image to its end; returns the command's status.
pub fn run(store: &Store, options: &RunOptions) -> io::Result<ExitStatus> {
    // A prune waits while the container uses the store's unpacked layers.
    let _in_use = store.lock_in_use()?;
    let img = image::resolve_platform(store, &options.image, options.platform.as_ref())?;
    // A foreign image runs only where binfmt_misc has an interpreter for it (flag F).
    let platform = slipway_store::platform::Platform::of_config(&img.config);
    crate::binfmt::emulation(&platform).map_err(|e| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{} is a {platform} image: {e}", options.image),
        )
    })?;
    let lower = image::unpack_image(store, &img)?;
    let config = &img.config.config;
    let argv = argv(config, options);
    if argv.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "no command specified: {} has no Entrypoint or Cmd; give one after the image name",
                options.image
            ),
        ));
    }
    // The seccomp filter from the store's cache (compiled once per store), meanwhile.
    let warm = {
        let (security, dir) = (options.security.clone(), store.root().join("cache/seccomp"));
        std::thread::spawn(move || security.warm_seccomp_cache(&dir))
    };
    let network = network(options)?;
    if let Ok(Err(e)) = warm.join() {
        eprintln!("warning: seccomp filter cache: {e}");
    }
    let id = new_id();
    let dir = store.root().join("containers").join(&id);
    // `--rm`: the writable layer lives on a tmpfs in the container's own mount namespace
    // (one shared, empty mount point on disk), so nothing is written to or removed from
    // the disk; without it, the layer is kept under containers/<id>.
    let scratch = store.root().join("containers/.scratch");
    let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
    let dirs = if options.remove {
        vec![&scratch]
    } else {
        vec![&upper, &work, &merged]
    };
    for d in dirs {
        std::fs::create_dir_all(d)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", d.display())))?;
    }
    // Resolve the user against the image's own /etc/passwd and /etc/group (top layer wins).
    let user_spec = options
        .user
        .clone()
        .or_else(|| config.user.clone())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "0".into());
    let read = |name: &str| -> String {
        lower
            .iter()
            .rev()
            .find_map(|l| std::fs::read_to_string(l.join(name)).ok())
            .unwrap_or_default()
    };
    let user = crate::user::resolve(&user_spec, &read("etc/passwd"), &read("etc/group")).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unable to find user {user_spec}: {e}"),
        )
    })?;
    let workdir = options
        .workdir
        .clone()
        .or_else(|| config.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    let spec = ContainerSpec {
        rootfs: if options.remove {
            Rootfs::OverlayTmpfs { lower, scratch }
        } else {
            Rootfs::Overlay {
                lower,
                upper,
                work,
                merged,
            }
        },
        argv,
        env: env(config, &options.env, &user.home),
        workdir: PathBuf::from(workdir),
        uid: user.uid,
        gid: user.gid,
        groups: user.groups.clone(),
        hostname: options.hostname.clone().unwrap_or_else(|| id[..12].to_string()),
        network,
        mounts: Vec::new(),
        security: options.security.clone(),
        limits: options.limits,
    };
    let mut record = ContainerRecord {
        id: id.clone(),
        image: img.id().to_string(),
        image_name: img.name.clone().unwrap_or_else(|| img.id().to_string()),
        command: spec.argv.clone(),
        created: crate::image::rfc3339(now_secs()),
        pid: std::process::id(),
        exit_code: None,
    };
    if !options.remove {
        record.save(&dir)?;
        if let Some(announce) = &options.announce {
            announce(&id);
        }
    }
    let status = container::run(&spec);
    if !options.remove {
        use std::os::unix::process::ExitStatusExt;
        record.exit_code = Some(match &status {
            Ok(s) => s.code().or_else(|| s.signal().map(|n| 128 + n)).unwrap_or(1),
            Err(_) => 125,
        });
        let _ = record.save(&dir);
    }
    status
}

/// What `slipway ps` shows of a container kept under `containers/<id>/container.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// The image ID (config digest).
    pub image: String,
    /// The name or ID the image was given by.
    pub image_name: String,
    pub command: Vec<String>,
    /// RFC 3339.
    pub created: String,
    /// The `slipway run` process (running while it lives and `exit_code` is None).
    pub pid: u32,
    pub exit_code: Option<i32>,
}

impl ContainerRecord {
    fn save(&self, dir: &std::path::Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        slipway_store::write_atomic(&dir.join("container.json"), &bytes)
    }

    /// Whether its `slipway run` still runs it.
    pub fn running(&self) -> bool {
        self.exit_code.is_none() && std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// The containers kept in the store, oldest first.
pub fn containers(store: &Store) -> io::Result<Vec<ContainerRecord>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(store.root().join("containers")) else {
        return Ok(out);
    };
    for e in rd {
        let e = e?;
        if let Ok(bytes) = std::fs::read(e.path().join("container.json")) {
            if let Ok(r) = serde_json::from_slice::<ContainerRecord>(&bytes) {
                out.push(r);
            }
        }
    }
    out.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// Removes stopped containers by ID or unique ID prefix; returns the full IDs removed.
pub fn remove_container(store: &Store, reference: &str) -> io::Result<String> {
    let found: Vec<ContainerRecord> = containers(store)?
        .into_iter()
        .filter(|c| c.id.starts_with(reference))
        .collect();
    match found.as_slice() {
        [c] if c.running() => Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!("container {} is running: stop it first", &c.id[..12]),
        )),
        [c] => {
            crate::tree::remove(&store.root().join("containers").join(&c.id))?;
            Ok(c.id.clone())
        }
        [] => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no such container: {reference}"),
        )),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{reference} matches {} containers; give more of the ID", found.len()),
        )),
    }
}

/// The container's network: its own namespace with outbound access through pasta (as
/// Docker's bridge), unless `--network none|host` says otherwise.
fn network(options: &RunOptions) -> io::Result<Network> {
    if (options.network_none || options.network_host) && !options.publish.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "published ports (-p) need the default network, not --network none or host",
        ));
    }
    if options.network_none {
        return Ok(Network::None);
    }
    if options.network_host {
        return Ok(Network::Host);
    }
    match crate::net::Namespace::start(&options.publish) {
        Ok(ns) => Ok(Network::Join(std::sync::Arc::new(ns))),
        Err(e) if e.kind() == io::ErrorKind::NotFound && options.publish.is_empty() => {
            eprintln!("warning: {e}: the container gets a network namespace with only loopback (no outbound access)");
            Ok(Network::None)
        }
        Err(e) => Err(e),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A container ID as Docker's: 64 hex digits (sha256 of the time, pid and a counter).
fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{t}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    slipway_store::Digest::of(seed.as_bytes()).hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_store::image::RunConfig;

    fn config() -> RunConfig {
        RunConfig {
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["serve".into(), "--port=1".into()]),
            env: vec!["A=1".into(), "PATH=/bin".into()],
            ..RunConfig::default()
        }
    }

    #[test]
    fn argv_follows_docker() {
        let c = config();
        let o = RunOptions::default();
        assert_eq!(argv(&c, &o), ["/entry", "serve", "--port=1"]);
        let o = RunOptions {
            command: vec!["sh".into()],
            ..RunOptions::default()
        };
        assert_eq!(argv(&c, &o), ["/entry", "sh"]);
        let o = RunOptions {
            entrypoint: Some("/bin/sh".into()),
            ..RunOptions::default()
        };
        assert_eq!(argv(&c, &o), ["/bin/sh"]);
        let o = RunOptions {
            entrypoint: Some(String::new()),
            command: vec!["true".into()],
            ..RunOptions::default()
        };
        assert_eq!(argv(&c, &o), ["true"]);
    }

    #[test]
    fn env_overrides_and_defaults() {
        let e = env(&config(), &["A=2".into(), "B=3".into()], "/root");
        assert_eq!(e, ["PATH=/bin", "A=2", "B=3", "HOME=/root"]);
    }
}
