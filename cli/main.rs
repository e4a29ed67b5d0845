//! The `slipway` binary: flags, exit codes, rendering. No logic of its own.
//!
//! Exit codes: 0 success, 1 findings (the file is rejected), 2 usage or I/O error.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc: the analysis behind `check` and `lsp` allocates many small values, and
/// jemalloc's thread caches make that ~20% faster than glibc's malloc here. It registers
/// fork handlers, so the runner's forked container processes may allocate safely
/// (an allocator without them could deadlock a child forked while another thread held
/// one of its locks).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (its `malloc_conf`, read once at start; `_RJEM_MALLOC_CONF` in the
/// environment still overrides): freed pages go back to the system after 200 ms instead
/// of 10 s, which keeps a language server holding big documents at a third of the
/// memory (measured: 35 MB peak instead of 60 MB) at no cost in speed.
#[allow(unsafe_code)] // exporting a symbol: jemalloc reads this C string (`const char *`)
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &u8 = &b"dirty_decay_ms:200,muzzy_decay_ms:0\0"[0];

mod build;
mod check;
mod hadolint_format;
mod image;
mod par;
mod plan;
mod registry;
mod render;
mod report;

#[derive(Parser)]
#[command(
    name = "slipway",
    version,
    about = "A daemonless Dockerfile toolkit: parse, check, plan, build, run"
)]
struct Cli {
    /// When to use colours in diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Parse Dockerfiles and print their syntax tree.
    ///
    /// Diagnostics go to stderr. Exits 1 when BuildKit's parser would reject a file.
    Parse {
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = ParseFormat::Pretty)]
        format: ParseFormat,
        /// Dockerfiles to parse; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check Dockerfiles: BuildKit's build checks, best-practice rules, build errors.
    ///
    /// Directories are searched recursively for Dockerfile, Containerfile, *.Dockerfile,
    /// *.dockerfile, Dockerfile.* and Containerfile.*. Configuration comes from the nearest
    /// `.slipway.toml` above each Dockerfile, and from hadolint's `.hadolint.yaml` and
    /// `HADOLINT_*` variables for what it does not set. Exits 1 when a finding is at or above
    /// --fail-level, 2 on a usage or I/O error.
    Check {
        /// Output format [default: human, or hadolint's `format` / HADOLINT_FORMAT].
        #[arg(long, short, value_enum)]
        format: Option<report::Format>,
        /// The lowest severity that makes the command exit 1 [default: error, or hadolint's
        /// `failure-threshold`].
        #[arg(long, short = 't', visible_alias = "failure-threshold", value_enum)]
        fail_level: Option<check::FailLevel>,
        /// Exit 0 whatever the findings (hadolint's `--no-fail`).
        #[arg(long)]
        no_fail: bool,
        /// A build argument, `NAME=value` (or `NAME` to take it from the environment).
        #[arg(long = "build-arg", value_name = "NAME=VALUE")]
        build_args: Vec<String>,
        /// Never report this code (a rule name, BuildKit check, or hadolint code); repeatable.
        #[arg(long, value_name = "CODE")]
        ignore: Vec<String>,
        /// Use this configuration file instead of the nearest `.slipway.toml` (a `.yaml` or
        /// `.yml` file: instead of hadolint's `.hadolint.yaml`).
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
        /// The stage being built (the value of TARGETSTAGE).
        #[arg(long, value_name = "STAGE")]
        target: Option<String>,
        /// The platform(s) the Dockerfile is built for, `os/arch[/variant]` (comma-separated
        /// or repeated): TARGETPLATFORM and the other TARGET* ARGs take its values, and a
        /// build stage that would run under emulation though it is only copied from is
        /// reported. Of several, the first this machine cannot run natively is checked.
        #[arg(long, value_name = "PLATFORM")]
        platform: Vec<String>,
        /// Apply the machine-applicable fixes to the files, then report what remains.
        #[arg(long)]
        fix: bool,
        /// Do not run shellcheck on RUN scripts (it runs when `shellcheck` is on PATH).
        #[arg(long)]
        no_shellcheck: bool,
        #[command(flatten)]
        hadolint: check::HadolintFlags,
        /// Dockerfiles or directories (default `.`); `-` reads standard input.
        paths: Vec<PathBuf>,
    },
    /// Show which steps of a build are cached and, for every rebuild, why (a dry run).
    ///
    /// Exits 0; with --fail-on-miss, 1 when any step would rebuild.
    Plan {
        /// The Dockerfile (default: CONTEXT/Dockerfile).
        #[arg(long, short = 'f', value_name = "FILE")]
        file: Option<PathBuf>,
        /// The stage to build (default: the last).
        #[arg(long, value_name = "STAGE")]
        target: Option<String>,
        /// A build argument, `NAME=value` (or `NAME` to take it from the environment).
        #[arg(long = "build-arg", value_name = "NAME=VALUE")]
        build_args: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = plan::Format::Human)]
        format: plan::Format,
        /// Plan as if nothing were cached.
        #[arg(long)]
        no_cache: bool,
        /// Rebuild the steps of this stage; repeatable.
        #[arg(long, value_name = "STAGE")]
        no_cache_filter: Vec<String>,
        /// Exit 1 when anything would rebuild (a CI gate).
        #[arg(long)]
        fail_on_miss: bool,
        /// Import a build cache before planning: `type=registry,ref=REGISTRY/REPO:TAG`; repeatable.
        #[arg(long, value_name = "type=registry,ref=REF")]
        cache_from: Vec<String>,
        /// Compare with the git revision REV instead of the store (a pull request's merge
        /// base): which steps this change rebuilds, and why. Needs only git.
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// Plan for these platforms, `os/arch[/variant]`, comma-separated or repeated: one
        /// report per platform, naming the RUN steps that would run under emulation.
        #[arg(long, value_name = "PLATFORM")]
        platform: Vec<String>,
        /// The build context directory.
        #[arg(default_value = ".")]
        context: PathBuf,
    },
    /// Build an image from a Dockerfile, reusing cached steps.
    ///
    /// Every RUN step runs sandboxed, as Docker's default container: containerd's 14 default
    /// capabilities, Docker's default seccomp profile, runc's masked and read-only /proc and
    /// /sys paths, only the standard device nodes, a PID 1 that holds no host file and shows
    /// nothing of the caller, a network namespace with outbound access through pasta (no
    /// host loopback services, abstract sockets or network configuration), a cgroup with a
    /// pids limit of 4096 where the host has one. Secrets are visible only where mounted.
    /// `RUN --network=host` needs `--allow network.host`; `RUN --security=insecure` (every
    /// capability, no seccomp, no masked paths) needs `--allow security.insecure`.
    ///
    /// Exits 1 when a RUN fails (naming its line), 2 on other errors.
    Build {
        /// The Dockerfile (default: CONTEXT/Dockerfile).
        #[arg(long, short = 'f', value_name = "FILE")]
        file: Option<PathBuf>,
        /// Name the image `NAME[:TAG]`; repeatable.
        #[arg(long, short = 't', value_name = "NAME:TAG")]
        tag: Vec<String>,
        /// The stage to build (default: the last).
        #[arg(long, value_name = "STAGE")]
        target: Option<String>,
        /// A build argument, `NAME=value` (or `NAME` to take it from the environment).
        #[arg(long = "build-arg", value_name = "NAME=VALUE")]
        build_args: Vec<String>,
        /// Run every step, ignoring the cache.
        #[arg(long)]
        no_cache: bool,
        /// A secret for `RUN --mount=type=secret`: `id=ID,src=FILE` or `id=ID,env=VAR`;
        /// repeatable. Secrets never enter a layer or a cache key.
        #[arg(long, value_name = "id=ID,src=FILE")]
        secret: Vec<String>,
        /// An SSH agent for `RUN --mount=type=ssh`: `default` (the agent at $SSH_AUTH_SOCK) or
        /// `ID=SOCKET`; repeatable.
        #[arg(long, value_name = "default|ID=SOCKET")]
        ssh: Vec<String>,
        /// Also export the image: `type=oci,dest=DIR|FILE.tar` (an OCI image layout) or
        /// `type=docker,dest=FILE.tar` (a docker archive); `dest=-` writes the tar to
        /// standard output; `name=NAME` adds a name; repeatable.
        #[arg(long, short = 'o', value_name = "type=oci,dest=PATH")]
        output: Vec<String>,
        /// No progress; print only the image ID.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// How to show progress: a live tree on a terminal (auto), narrated lines (plain), JSON lines.
        #[arg(long, value_enum, default_value_t = build::Progress::Auto)]
        progress: build::Progress,
        /// How layers are compressed when the image leaves the store (`--push`, `--cache-to`,
        /// `--output type=oci`): gzip (default, as Docker), zstd (faster), uncompressed. The
        /// store keeps them uncompressed, as Docker does.
        #[arg(long, value_enum, default_value_t = build::Compression::Gzip)]
        compression: build::Compression,
        /// The network of RUN steps without `--network`: `default` (a network namespace of
        /// their own with outbound access through pasta), `none` (only loopback) or `host`
        /// (the host's network; needs `--allow network.host`).
        #[arg(long, value_name = "MODE", default_value = "default", value_parser = ["default", "host", "none"])]
        network: String,
        /// Entitlements the Dockerfile may use (repeatable or comma-separated):
        /// `network.host` allows `RUN --network=host` (the host's network namespace: its
        /// loopback services, abstract sockets, interfaces); `security.insecure` allows
        /// `RUN --security=insecure` (every capability, no seccomp filter, no masked paths:
        /// host root in all but the namespaces).
        #[arg(long, value_name = "ENTITLEMENT")]
        allow: Vec<String>,
        /// Pull base images again even when the store has them.
        #[arg(long)]
        pull: bool,
        /// Push the image under every -t name after it is built.
        #[arg(long)]
        push: bool,
        /// Import a build cache before planning: `type=registry,ref=REGISTRY/REPO:TAG`; repeatable.
        /// Cache mounts it carries are restored before a RUN that uses them (`mounts=false`: not).
        #[arg(long, value_name = "type=registry,ref=REF")]
        cache_from: Vec<String>,
        /// Export the build cache (records, layers, base images) to a registry:
        /// `type=registry,ref=REGISTRY/REPO:TAG`; repeatable. `,mounts=true` also exports
        /// the contents of the RUN steps' cache mounts.
        #[arg(long, value_name = "type=registry,ref=REF")]
        cache_to: Vec<String>,
        /// The platforms to build for, `os/arch[/variant]`, comma-separated or repeated
        /// (`linux/amd64,linux/arm64`): one image per platform under one name (an image
        /// index). RUN steps of a foreign platform run under QEMU user-mode emulation
        /// (`slipway binfmt`). Default: this machine's.
        #[arg(long, value_name = "PLATFORM")]
        platform: Vec<String>,
        /// The build context directory.
        #[arg(default_value = ".")]
        context: PathBuf,
    },
    /// Pull an image from a registry into the store (mirrors and credentials as configured).
    Pull {
        /// The platform to pick from a multi-platform image, `os/arch[/variant]`.
        #[arg(long, value_name = "PLATFORM")]
        platform: Option<String>,
        /// No progress; print only the manifest digest.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// `NAME[:TAG|@DIGEST]`, e.g. `alpine`, `ghcr.io/org/img:tag`, `localhost:5000/app`.
        image: String,
    },
    /// Push an image from the store to a registry.
    Push {
        /// No progress; print only the manifest digest.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// The image: a name, a full digest or a unique ID prefix.
        image: String,
        /// Where to push it, `REGISTRY/REPO[:TAG]` (default: the image's name).
        target: Option<String>,
        /// How layers kept uncompressed in the store are compressed for the registry.
        #[arg(long, value_enum, default_value_t = build::Compression::Gzip)]
        compression: build::Compression,
    },
    /// Log in to a registry: check the credentials and store them in Docker's config.json.
    Login {
        /// The user name (asked for when not given).
        #[arg(long, short)]
        username: Option<String>,
        /// The password (asked for when not given; prefer --password-stdin).
        #[arg(long, short)]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The registry, e.g. `ghcr.io`, `localhost:5000` (Docker Hub: `docker.io`).
        server: String,
    },
    /// Manage the images in the store: import, inspect, tag, rm, ls.
    Image {
        #[command(subcommand)]
        command: image::Command,
    },
    /// List the images in the store (the same as `slipway image ls`).
    Images(image::ListOptions),
    /// Remove images (the same as `slipway image rm`).
    Rmi {
        /// Remove an image given by ID even when several names point at it.
        #[arg(long, short)]
        force: bool,
        /// Names, IDs or unique ID prefixes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Free the store: blobs and unpacked layers no image or cache record needs, and what
    /// finished builds left behind; waits for running builds and containers.
    Prune {
        /// Also drop the build cache (cache records and `RUN --mount=type=cache` dirs).
        #[arg(long, short)]
        all: bool,
    },
    /// Check the store: every blob against its digest, every name and cache record against
    /// the blobs it needs. Exits 1 when something is wrong.
    Verify,
    /// Start a container from an image, like `docker run`.
    ///
    /// Runs the image's Entrypoint and Cmd (a COMMAND replaces Cmd) with its Env, WorkingDir
    /// and User, in new mount, pid, uts and ipc namespaces; exits with the command's code.
    Run {
        /// Remove the container's writable layer when it exits.
        #[arg(long)]
        rm: bool,
        /// Set an environment variable, `NAME=value` (or `NAME` to copy it from here); repeatable.
        #[arg(long, short = 'e', value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// Working directory inside the container.
        #[arg(long, short = 'w', value_name = "DIR")]
        workdir: Option<String>,
        /// User (name or uid, optionally `:group`).
        #[arg(long, short = 'u', value_name = "USER")]
        user: Option<String>,
        /// `default` (a network namespace of its own with outbound access through pasta, as
        /// Docker's bridge), `none` (only loopback) or `host` (the host's network namespace).
        #[arg(long, value_name = "MODE", default_value = "default", value_parser = ["default", "bridge", "host", "none"])]
        network: String,
        /// Publish a container port on the host, `[IP:]HOST_PORT:CONTAINER_PORT[/udp]`; repeatable.
        #[arg(long, short = 'p', value_name = "[IP:]HOST:CONTAINER[/udp]")]
        publish: Vec<String>,
        /// Add a capability to the default set (containerd's 14), e.g. `NET_ADMIN`, or `ALL`.
        #[arg(long, value_name = "CAP")]
        cap_add: Vec<String>,
        /// Drop a capability from the default set, or `ALL`.
        #[arg(long, value_name = "CAP")]
        cap_drop: Vec<String>,
        /// Every capability, no seccomp filter, no masked or read-only /proc paths, device
        /// nodes usable: the sandbox off, as Docker's --privileged.
        #[arg(long)]
        privileged: bool,
        /// `seccomp=unconfined`, `seccomp=PROFILE.json` (Docker's profile format) or
        /// `no-new-privileges`; repeatable.
        #[arg(long, value_name = "OPT")]
        security_opt: Vec<String>,
        /// Memory limit, e.g. `512m`, `2g` (a cgroup of the container's own).
        #[arg(long, short = 'm', value_name = "SIZE")]
        memory: Option<String>,
        /// The most processes and threads the container may have (`-1`: unlimited, the default).
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        pids_limit: Option<i64>,
        /// Replace the image's Entrypoint (`""` clears it).
        #[arg(long, value_name = "CMD")]
        entrypoint: Option<String>,
        /// Container hostname.
        #[arg(long, value_name = "NAME")]
        hostname: Option<String>,
        /// Of an image index, the platform's image, `os/arch[/variant]` (default: this
        /// machine's); a foreign one runs under QEMU emulation (see `slipway binfmt`).
        #[arg(long)]
        platform: Option<String>,
        /// The image: a name, a full digest or a unique ID prefix.
        image: String,
        /// The command and its arguments (replaces the image's Cmd).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// QEMU emulation through binfmt_misc: the handlers registered and what each platform
    /// would run with; `--install` (root) registers the installed qemu interpreters.
    Binfmt {
        /// Mount binfmt_misc when needed and register each installed qemu (flag F) for the
        /// architectures that have no handler; leaves registered handlers alone.
        #[arg(long)]
        install: bool,
    },
    /// List the containers `slipway run` kept (without `--rm`), like `docker ps -a`.
    Ps {
        /// Also stopped containers (the default shows running ones only, as Docker).
        #[arg(long, short)]
        all: bool,
        /// Only container IDs.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Remove stopped containers kept by `slipway run` (IDs or unique prefixes).
    Rm {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Serve the Dockerfile language server over standard input and output.
    Lsp {
        /// Accepted and ignored: stdio is the only transport (editors pass it).
        #[arg(long)]
        stdio: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ParseFormat {
    /// A readable outline of the instructions.
    Pretty,
    /// slipway's syntax tree with spans, as JSON.
    Json,
    /// BuildKit's parser output as the PyPI `dockerfile` package gives it.
    BuildkitJson,
    /// BuildKit's `Node.Dump()` s-expressions.
    BuildkitDump,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = |terminal: bool| match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    let result = match cli.command {
        Command::Parse { format, files } => parse(format, &files, color(std::io::stderr().is_terminal())),
        Command::Check {
            format,
            fail_level,
            no_fail,
            build_args,
            ignore,
            config,
            target,
            platform,
            fix,
            no_shellcheck,
            hadolint,
            paths,
        } => check::run(&check::Options {
            paths,
            format,
            fail_level,
            no_fail,
            build_args,
            ignore,
            config,
            target,
            platforms: platform,
            fix,
            color: color(std::io::stdout().is_terminal()) && !hadolint.no_color,
            shellcheck: !no_shellcheck,
            hadolint,
        }),
        Command::Plan {
            file,
            target,
            build_args,
            format,
            no_cache,
            no_cache_filter,
            fail_on_miss,
            cache_from,
            base,
            platform,
            context,
        } => plan::run(&plan::Options {
            request: slipway_planner::request::Request {
                dockerfile: file,
                context,
                target,
                build_args: check::build_args(&build_args),
                no_cache,
                no_cache_filter,
                platform: None,
            },
            format,
            fail_on_miss,
            color: color(std::io::stderr().is_terminal()),
            cache_from,
            base,
            platforms: platform,
        }),
        Command::Build {
            file,
            tag,
            target,
            build_args,
            no_cache,
            secret,
            ssh,
            output,
            quiet,
            progress,
            compression,
            network,
            allow,
            pull,
            push,
            cache_from,
            cache_to,
            platform,
            context,
        } => build::run(&build::Options {
            request: slipway_planner::request::Request {
                dockerfile: file,
                context,
                target,
                build_args: check::build_args(&build_args),
                no_cache,
                no_cache_filter: Vec::new(),
                platform: None,
            },
            tags: tag,
            quiet,
            progress,
            compression,
            network_none: network == "none",
            network_host: network == "host",
            allow,
            color: color(std::io::stderr().is_terminal()),
            secrets: secret,
            ssh,
            outputs: output,
            pull,
            push,
            cache_from,
            cache_to,
            platforms: platform,
        }),
        Command::Pull { platform, quiet, image } => registry::pull(&image, platform.as_deref(), quiet),
        Command::Push {
            quiet,
            image,
            target,
            compression,
        } => registry::push(&image, target.as_deref(), compression.layers(), quiet),
        Command::Login {
            username,
            password,
            password_stdin,
            server,
        } => registry::login(&server, username, password, password_stdin),
        Command::Image { command } => image::run(command),
        Command::Images(options) => image::list(&options),
        Command::Rmi { force, names } => image::run(image::Command::Rm { force, names }),
        Command::Prune { all } => image::prune(all),
        Command::Verify => image::verify(),
        Command::Run {
            rm,
            env,
            workdir,
            user,
            network,
            publish,
            cap_add,
            cap_drop,
            privileged,
            security_opt,
            memory,
            pids_limit,
            entrypoint,
            hostname,
            platform,
            image,
            command,
        } => (|| {
            let platform = platform
                .as_deref()
                .map(slipway_store::platform::Platform::parse)
                .transpose()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            run_container(slipway_runner::run::RunOptions {
                image,
                platform,
                command,
                entrypoint,
                env,
                workdir,
                user,
                network_none: network == "none",
                network_host: network == "host",
                publish: publish
                    .iter()
                    .map(|p| slipway_runner::net::Port::parse(p))
                    .collect::<std::io::Result<_>>()?,
                security: security(privileged, &cap_add, &cap_drop, &security_opt)?,
                limits: slipway_runner::cgroup::Limits {
                    pids: pids_limit.and_then(|n| u64::try_from(n).ok()).filter(|&n| n > 0),
                    memory: memory.as_deref().map(slipway_runner::cgroup::parse_size).transpose()?,
                    devices: false,
                },
                remove: rm,
                hostname,
                announce: Some(|id| {
                    eprintln!(
                        "slipway: container {} (kept after it exits; `slipway rm {}` or `slipway prune` removes it)",
                        &id[..12],
                        &id[..12]
                    )
                }),
            })
        })(),
        Command::Binfmt { install } => image::binfmt(install),
        Command::Ps { all, quiet } => image::ps(all, quiet),
        Command::Rm { containers } => image::rm_containers(&containers),
        Command::Lsp { stdio: _ } => slipway_lsp::run_stdio().map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Reads a file argument; `-` is standard input. Invalid UTF-8 is replaced, not fatal.
fn read_input(path: &PathBuf) -> std::io::Result<(String, String)> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)?;
        return Ok(("<stdin>".into(), text_of(bytes)));
    }
    bytes = std::fs::read(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))?;
    Ok((path.display().to_string(), text_of(bytes)))
}

/// The text of a file's bytes, invalid UTF-8 replaced; valid UTF-8 (nearly every file) is
/// taken as it is, not copied.
fn text_of(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn parse(format: ParseFormat, files: &[PathBuf], color: bool) -> std::io::Result<ExitCode> {
    /// What one file gives: its output, its rendered diagnostics (or read error), and
    /// whether it was rejected.
    struct Parsed {
        out: Vec<u8>,
        err: String,
        unreadable: bool,
        rejected: bool,
    }
    let one = |path: &PathBuf| -> std::io::Result<Parsed> {
        let (name, text) = match read_input(path) {
            Ok(x) => x,
            Err(e) => {
                return Ok(Parsed {
                    out: Vec::new(),
                    err: format!("error: {e}\n"),
                    unreadable: true,
                    rejected: false,
                })
            }
        };
        let parsed = slipway_parser::parse(&text);
        let mut out = Vec::new();
        match format {
            ParseFormat::Pretty => render::outline(&mut out, &name, &text, &parsed.file)?,
            ParseFormat::Json => {
                serde_json::to_writer_pretty(
                    &mut out,
                    &serde_json::json!({
                        "file": name,
                        "tree": parsed.file,
                        "diagnostics": parsed.diagnostics,
                    }),
                )?;
                writeln!(out)?;
            }
            ParseFormat::BuildkitJson => {
                serde_json::to_writer_pretty(&mut out, &slipway_parser::buildkit::json(&parsed))?;
                writeln!(out)?;
            }
            ParseFormat::BuildkitDump => {
                if !parsed.rejected() {
                    out.extend_from_slice(slipway_parser::buildkit::dump(&parsed.file).as_bytes());
                }
            }
        }
        let err = if parsed.diagnostics.is_empty() {
            String::new()
        } else {
            render::diagnostics(&name, &text, &parsed.diagnostics, color)
        };
        Ok(Parsed {
            out,
            err,
            unreadable: false,
            rejected: parsed.rejected(),
        })
    };
    let mut code = ExitCode::SUCCESS;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut write = |r: std::io::Result<Parsed>| -> std::io::Result<()> {
        let r = r?;
        out.write_all(&r.out)?;
        if !r.err.is_empty() {
            // Diagnostics after the output before them, when both go to one place.
            out.flush()?;
            std::io::stderr().lock().write_all(r.err.as_bytes())?;
        }
        if r.unreadable {
            code = ExitCode::from(2);
        } else if r.rejected && code == ExitCode::SUCCESS {
            code = ExitCode::from(1);
        }
        Ok(())
    };
    // Standard input is read on this thread; files on every core, each file's output and
    // diagnostics written in the files' order as soon as they are ready.
    if files.iter().any(|p| p.as_os_str() == "-") {
        files.iter().try_for_each(|p| write(one(p)))?;
    } else {
        par::for_each(files, one, write)?;
    }
    out.flush()?;
    Ok(code)
}

/// `slipway run`'s sandbox from its flags, as Docker reads them.
fn security(
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
    options: &[String],
) -> std::io::Result<slipway_runner::security::Security> {
    use slipway_runner::security::{Profile, Seccomp, Security};
    let mut s = if privileged {
        Security::privileged()
    } else {
        Security::default()
    };
    s.change_caps(cap_add, cap_drop)?;
    for opt in options {
        let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("seccomp", "unconfined") => s.seccomp = Seccomp::Unconfined,
            ("seccomp", "" | "builtin" | "default") => s.seccomp = Seccomp::Default,
            ("seccomp", file) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("cannot read seccomp profile {file}: {e}")))?;
                s.seccomp = Seccomp::Profile(std::sync::Arc::new(Profile::from_json(&text, file)?));
            }
            ("no-new-privileges", "" | "true") => s.no_new_privileges = true,
            ("no-new-privileges", "false") => s.no_new_privileges = false,
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("unsupported --security-opt {opt:?} (seccomp=unconfined|PROFILE.json, no-new-privileges)"),
                ))
            }
        }
    }
    Ok(s)
}

/// `slipway run`: the container's exit code becomes ours.
fn run_container(options: slipway_runner::run::RunOptions) -> std::io::Result<ExitCode> {
    use std::os::unix::process::ExitStatusExt;
    if !slipway_runner::sys::is_root() {
        eprintln!("error: running containers needs root (rootless mode is not available yet)");
        return Ok(ExitCode::from(125));
    }
    let store = slipway_store::Store::open(slipway_store::default_root())?;
    let status = match slipway_runner::run::run(&store, &options) {
        Ok(s) => s,
        Err(e) => {
            // Docker's codes: 127 no such command, 126 not executable, 125 anything else.
            let exec = e
                .get_ref()
                .and_then(|e| e.downcast_ref::<slipway_runner::container::ExecFailed>());
            return Ok(match exec {
                Some(f) => {
                    eprintln!("error: cannot start the container's command: {}", f.message);
                    ExitCode::from(u8::try_from(f.code).unwrap_or(127))
                }
                None => {
                    eprintln!("error: {e}");
                    ExitCode::from(125)
                }
            });
        }
    };
    let code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    /// Every subcommand's flags are consistent (clap checks this only when the subcommand runs).
    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
