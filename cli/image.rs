//! `slipway image import|inspect|tag|rm|ls` and `slipway images`.

use clap::{Subcommand, ValueEnum};
use slipway_runner::export;
use slipway_runner::image;
use slipway_store::image::familiar_name;
use slipway_store::platform::Platform;
use std::io::IsTerminal;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Command {
    /// Import a root filesystem (a directory, a .tar or a .tar.gz) as a one-layer image.
    ///
    /// Names are normalised as Docker's: `busybox` is `docker.io/library/busybox:latest`.
    Import {
        /// The root filesystem.
        source: PathBuf,
        /// The image's name, NAME[:TAG].
        #[arg(long, short)]
        tag: String,
        /// The platform the root filesystem is for, `os/arch[/variant]` (default: this
        /// machine's). A name with images of other platforms becomes an index of them all.
        #[arg(long)]
        platform: Option<String>,
    },
    /// Print images' manifest and config as JSON.
    Inspect {
        /// Names, IDs or unique ID prefixes.
        #[arg(required = true)]
        images: Vec<String>,
        /// Of an image index, the image for this platform, `os/arch[/variant]` (without it,
        /// an index is shown whole: the index and each platform's image).
        #[arg(long)]
        platform: Option<String>,
    },
    /// Give an image another name.
    Tag {
        /// A name, ID or unique ID prefix.
        source: String,
        /// The new NAME[:TAG].
        target: String,
    },
    /// Remove images: a name untags (the image goes with its last name), an ID removes
    /// the image (`-f` also when several names point at it). Blobs stay until a prune.
    #[command(alias = "remove")]
    Rm {
        /// Remove an image given by ID even when several names point at it.
        #[arg(long, short)]
        force: bool,
        /// Names, IDs or unique ID prefixes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List the images in the store (untagged ones as `<none>`).
    #[command(alias = "list")]
    Ls(ListOptions),
    /// Write images to a tar (or an OCI layout directory), like `docker save`.
    ///
    /// `--format docker` (the default) writes a docker archive that `docker load`,
    /// skopeo (`docker-archive:`) and `slipway image load` read; `--format oci` an OCI image
    /// layout: a tar, or a directory when OUTPUT is one or ends in `/`.
    Save {
        /// Where to write (default: standard output, which must not be a terminal).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = SaveFormat::Docker)]
        format: SaveFormat,
        /// Names, IDs or unique ID prefixes.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Load images from a docker archive or an OCI layout (a tar or a directory), like `docker load`.
    Load {
        /// The archive or layout directory (default: standard input).
        #[arg(long, short)]
        input: Option<PathBuf>,
        /// The same as --input.
        #[arg(conflicts_with = "input")]
        source: Option<PathBuf>,
    },
}

/// `slipway images` / `slipway image ls`, with `docker images`' flags.
#[derive(clap::Args, Default)]
pub struct ListOptions {
    /// Show all images (slipway keeps no intermediate images, so the same as without).
    #[arg(long, short)]
    pub all: bool,
    /// Only image IDs (each once).
    #[arg(long, short)]
    pub quiet: bool,
    /// Full image IDs.
    #[arg(long)]
    pub no_trunc: bool,
    /// `dangling=true|false` (untagged images or not), `reference=PATTERN` (`*` wildcards);
    /// repeatable.
    #[arg(long, short, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Each image's platforms below it (an index has one per platform), as `docker image ls --tree`.
    #[arg(long)]
    pub tree: bool,
}

/// A parsed `--filter`.
enum Filter {
    Dangling(bool),
    Reference(String),
}

fn filters(specs: &[String]) -> Result<Vec<Filter>, String> {
    specs
        .iter()
        .map(|f| match f.split_once('=') {
            Some(("dangling", v)) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Filter::Dangling(true)),
                "false" | "0" => Ok(Filter::Dangling(false)),
                _ => Err(format!("invalid filter {f}: dangling is true or false")),
            },
            Some(("reference", v)) => Ok(Filter::Reference(v.to_string())),
            _ => Err(format!(
                "invalid filter {f:?} (supported: dangling=true|false, reference=PATTERN)"
            )),
        })
        .collect()
}

/// `*` matches any run of characters, as Docker's reference filter (which also matches
/// the name without its tag).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

/// How long ago, in Docker's words (`2 minutes ago`, `About an hour ago`).
fn ago(created: Option<&str>) -> String {
    let Some(secs) = created.and_then(parse_rfc3339) else {
        return "N/A".into();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let s = (now - secs).max(0);
    let text = match s {
        0 => "Less than a second".to_string(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3_599 => format!("{} minutes", s / 60),
        3_600..=7_199 => "About an hour".into(),
        7_200..=172_799 => format!("{} hours", s / 3_600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=5_183_999 => format!("{} weeks", s / 604_800),
        5_184_000..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    };
    format!("{text} ago")
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn parse_rfc3339(t: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = t.get(19..)?;
    let rest = rest
        .strip_prefix('.')
        .map_or(rest, |f| f.trim_start_matches(|c: char| c.is_ascii_digit()));
    let offset = match rest {
        "Z" | "z" | "" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o.get(1..3)?.parse::<i64>().ok()? * 3600 + o.get(4..6)?.parse::<i64>().ok()? * 60)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// `slipway images`.
pub fn list(options: &ListOptions) -> io::Result<ExitCode> {
    let filters = match filters(&options.filter) {
        Ok(f) => f,
        Err(m) => {
            eprintln!("error: {m}");
            return Ok(ExitCode::from(2));
        }
    };
    let store = store()?;
    let entries: Vec<image::Stored> = image::entries(&store)?
        .into_iter()
        .filter(|i| {
            filters.iter().all(|f| match f {
                Filter::Dangling(d) => i.name().is_none() == *d,
                Filter::Reference(p) => i
                    .name()
                    .map(familiar_name)
                    .is_some_and(|n| glob(p, n) || n.rsplit_once(':').is_some_and(|(repo, _)| glob(p, repo))),
            })
        })
        .collect();
    let short = |id: &slipway_store::Digest| {
        if options.no_trunc {
            id.to_string()
        } else {
            id.hex()[..12].to_string()
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if options.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for i in &entries {
            if seen.insert(i.id().clone()) {
                writeln!(out, "{}", short(i.id()))?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // (platform, ID, size) of each image of an entry.
    let platforms = |e: &image::Stored| -> Vec<(String, String, u64)> {
        match e {
            image::Stored::Image(i) => vec![(Platform::of_config(&i.config).to_string(), short(i.id()), i.size())],
            image::Stored::Index(x) => x
                .images
                .iter()
                .map(|(p, i)| (p.to_string(), short(i.id()), i.size()))
                .collect(),
        }
    };
    if options.tree {
        let mut rows: Vec<[String; 3]> = Vec::new();
        for e in &entries {
            let (_, size) = summary(e);
            rows.push([
                e.name().map_or("<none>:<none>", familiar_name).to_string(),
                short(e.id()),
                human_size(size),
            ]);
            let children = platforms(e);
            for (k, (p, id, size)) in children.iter().enumerate() {
                let branch = if k + 1 == children.len() { "└─" } else { "├─" };
                rows.push([format!("{branch} {p}"), id.clone(), human_size(*size)]);
            }
        }
        let header = ["IMAGE", "ID", "SIZE"].map(String::from);
        write_table(&mut out, &header, &rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            let (repo, tag) = match e.name().map(familiar_name) {
                Some(n) => match n.rsplit_once(':').filter(|(r, _)| !r.is_empty()) {
                    Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                    _ => (n.to_string(), "<none>".to_string()),
                },
                None => ("<none>".into(), "<none>".into()),
            };
            let (created, size) = summary(e);
            [repo, tag, short(e.id()), ago(created.as_deref()), human_size(size)]
        })
        .collect();
    let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(String::from);
    write_table(&mut out, &header, &rows)?;
    Ok(ExitCode::SUCCESS)
}

/// When an entry was made and its size: an index's newest image and all its blobs.
fn summary(e: &image::Stored) -> (Option<String>, u64) {
    match e {
        image::Stored::Image(i) => (i.config.created.clone(), i.size()),
        image::Stored::Index(x) => (x.created().map(String::from), x.size()),
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SaveFormat {
    /// A docker archive (manifest.json, configs, uncompressed layer tars).
    Docker,
    /// An OCI image layout (index.json, blobs).
    Oci,
}

fn store() -> io::Result<slipway_store::Store> {
    slipway_store::Store::open(slipway_store::default_root())
}

pub fn run(command: Command) -> io::Result<ExitCode> {
    let store = store()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match command {
        Command::Import { source, tag, platform } => {
            let platform = match platform.as_deref().map(Platform::parse).transpose() {
                Ok(p) => p.unwrap_or_else(Platform::host),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let image = image::import_for(&store, &source, &tag, &platform)?;
            writeln!(out, "{}", image.id())?;
        }
        Command::Inspect { images, platform } => {
            let platform = match platform.as_deref().map(Platform::parse).transpose() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let json = |i: &image::Image| {
                serde_json::json!({
                    "Name": i.name.as_deref().map(familiar_name),
                    "Id": i.id(),
                    "ManifestDescriptor": i.manifest_descriptor,
                    "Manifest": i.manifest,
                    "Config": i.config,
                })
            };
            let mut code = ExitCode::SUCCESS;
            let mut found = Vec::new();
            for name in &images {
                let got = match &platform {
                    Some(p) => image::resolve_platform(&store, name, Some(p)).map(|i| json(&i)),
                    None if name.starts_with(slipway_store::layout::SCHEME) => {
                        image::resolve(&store, name).map(|i| json(&i))
                    }
                    None => match image::find(&store, name) {
                        Ok(image::Stored::Index(x)) => Ok(serde_json::json!({
                            "Name": x.name.as_deref().map(familiar_name),
                            "Id": x.id(),
                            "Descriptor": x.descriptor,
                            "Index": x.index,
                            "Images": x.images.iter().map(|(p, i)| {
                                let mut v = json(i);
                                v["Platform"] = serde_json::json!(p.to_string());
                                v
                            }).collect::<Vec<_>>(),
                        })),
                        Ok(image::Stored::Image(i)) => Ok(json(&i)),
                        Err(e) => Err(e),
                    },
                };
                match got {
                    Ok(v) => found.push(v),
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = ExitCode::from(2);
                    }
                }
            }
            serde_json::to_writer_pretty(&mut out, &found)?;
            writeln!(out)?;
            return Ok(code);
        }
        Command::Save { output, format, images } => {
            let format = match format {
                SaveFormat::Docker => export::Format::Docker,
                SaveFormat::Oci => export::Format::Oci,
            };
            let dest = match output {
                None if io::stdout().is_terminal() => {
                    eprintln!("error: refusing to write a tar to a terminal; give -o FILE or redirect standard output");
                    return Ok(ExitCode::from(2));
                }
                None => export::Dest::Stdout,
                Some(p)
                    if matches!(format, export::Format::Oci) && (p.is_dir() || p.to_string_lossy().ends_with('/')) =>
                {
                    export::Dest::Dir(p)
                }
                Some(p) => export::Dest::Tar(p),
            };
            drop(out);
            // One index alone: all its platforms (an OCI layout), or the host's (a docker archive).
            if let [name] = images.as_slice() {
                if let Ok(image::Stored::Index(index)) = image::find(&store, name) {
                    let names: Vec<String> = index.name.iter().cloned().collect();
                    let compression = slipway_runner::layer::Compression::Gzip;
                    if let Some(p) = export::export_index(&store, &index, &names, format, compression, &dest)? {
                        eprintln!("note: {name} is an image index; a docker archive holds one platform, so it has the {p} image (save with --format oci for every platform)");
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let mut resolved = Vec::new();
            for name in &images {
                if let Ok(image::Stored::Index(_)) = image::find(&store, name) {
                    eprintln!("note: {name} is an image index; the archive holds its {} image (save it alone for every platform)", Platform::host());
                }
                resolved.push(image::resolve(&store, name)?);
            }
            let named: Vec<export::Named<'_>> = resolved
                .iter()
                .map(|i| export::Named {
                    image: i,
                    names: i.name.iter().cloned().collect(),
                })
                .collect();
            export::export(&store, &named, format, slipway_runner::layer::Compression::Gzip, &dest)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Load { input, source } => {
            let source = input.or(source).filter(|p| p.as_os_str() != "-");
            if source.is_none() && io::stdin().is_terminal() {
                eprintln!("error: nothing to load: give a FILE or DIR, or pipe an archive into standard input");
                return Ok(ExitCode::from(2));
            }
            for loaded in export::load(&store, source.as_deref())? {
                if loaded.names.is_empty() {
                    writeln!(out, "Loaded image ID: {}", loaded.id)?;
                }
                for n in &loaded.names {
                    writeln!(out, "Loaded image: {}", familiar_name(n))?;
                }
            }
        }
        Command::Tag { source, target } => {
            image::tag(&store, &source, &target)?;
        }
        Command::Rm { force, names } => {
            let mut code = ExitCode::SUCCESS;
            for name in &names {
                match image::remove(&store, name, force) {
                    Ok(image::Removed::Untagged(full)) => writeln!(out, "Untagged: {}", familiar_name(&full))?,
                    Ok(image::Removed::Deleted { id, names }) => {
                        for n in names {
                            writeln!(out, "Untagged: {}", familiar_name(&n))?;
                        }
                        writeln!(out, "Deleted: {id}")?;
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = ExitCode::from(2);
                    }
                }
            }
            return Ok(code);
        }
        Command::Ls(options) => {
            drop(out);
            return list(&options);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `slipway prune [--all]`.
pub fn prune(all: bool) -> io::Result<ExitCode> {
    let store = store()?;
    let options = slipway_runner::prune::PruneOptions { all };
    let p = slipway_runner::prune::prune(&store, options, || {
        eprintln!("waiting for running builds, loads and containers to finish…")
    })?;
    if !p.containers.is_empty() {
        println!("Deleted Containers:");
        for c in &p.containers {
            println!("{c}");
        }
        println!();
    }
    if !p.images.is_empty() {
        println!("Deleted Images:");
        for i in &p.images {
            println!("deleted: {i}");
        }
        println!();
    }
    let mut parts = vec![
        format!("{} blobs ({})", p.blobs, human_size(p.blob_bytes)),
        format!("{} unpacked layers ({})", p.layer_dirs, human_size(p.layer_bytes)),
        format!("{} work dirs and temp files ({})", p.work, human_size(p.work_bytes)),
    ];
    if all {
        parts.push(format!("{} cache records", p.cache_records));
    }
    println!("Deleted {}", parts.join(", "));
    println!("Total reclaimed space: {}", human_size(p.bytes()));
    Ok(ExitCode::SUCCESS)
}

/// `slipway verify`: every blob against its digest, every ref and cache record against
/// the blobs it names. Exits 1 when something is wrong.
pub fn verify() -> io::Result<ExitCode> {
    let store = store()?;
    let problems = store.verify()?;
    if problems.is_empty() {
        println!("store {} is consistent", store.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("{p}");
    }
    eprintln!(
        "error: {} problem(s) in the store {}; `slipway prune` removes what nothing names, a rebuild replaces a bad blob",
        problems.len(),
        store.root().display()
    );
    Ok(ExitCode::from(1))
}

/// Docker's sizes: decimal units, three significant digits (`1.98MB`).
pub(crate) fn human_size(bytes: u64) -> String {
    slipway_engine::events::size(bytes)
}

/// `slipway ps [-a] [-q]`.
pub fn ps(all: bool, quiet: bool) -> io::Result<ExitCode> {
    let store = store()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let containers: Vec<_> = slipway_runner::run::containers(&store)?
        .into_iter()
        .filter(|c| all || c.running())
        .collect();
    if quiet {
        for c in &containers {
            writeln!(out, "{}", &c.id[..12])?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = containers
        .iter()
        .rev()
        .map(|c| {
            let image = if c.image_name.starts_with("sha256:") {
                c.image_name["sha256:".len()..].chars().take(12).collect()
            } else {
                familiar_name(&c.image_name).to_string()
            };
            let mut command = c.command.join(" ");
            if command.chars().count() > 20 {
                command = command.chars().take(19).collect::<String>() + "…";
            }
            let status = match c.exit_code {
                _ if c.running() => "Up".to_string(),
                Some(code) => format!("Exited ({code})"),
                None => "Dead".to_string(),
            };
            [
                c.id[..12].to_string(),
                image,
                format!("\"{command}\""),
                ago(Some(&c.created)),
                status,
            ]
        })
        .collect();
    let header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS"].map(String::from);
    write_table(&mut out, &header, &rows)?;
    Ok(ExitCode::SUCCESS)
}

/// `slipway rm CONTAINER...`.
pub fn rm_containers(ids: &[String]) -> io::Result<ExitCode> {
    let store = store()?;
    let mut code = ExitCode::SUCCESS;
    for id in ids {
        match slipway_runner::run::remove_container(&store, id) {
            Ok(full) => println!("{}", &full[..12]),
            Err(e) => {
                eprintln!("error: {e}");
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

/// Columns padded to their widest cell, three spaces apart, as Docker's tables.
fn write_table<const N: usize>(out: &mut impl Write, header: &[String; N], rows: &[[String; N]]) -> io::Result<()> {
    let mut widths = [0usize; N];
    for row in std::iter::once(header).chain(rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (k, (cell, w)) in row.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if k + 1 < N {
                line.push_str(&" ".repeat(w - cell.chars().count() + 3));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `slipway binfmt [--install]`.
pub fn binfmt(install: bool) -> io::Result<ExitCode> {
    use slipway_runner::binfmt::{self, Installed};
    let dir = std::path::Path::new(binfmt::BINFMT_MISC);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if install {
        if !slipway_runner::sys::is_root() {
            eprintln!("error: `slipway binfmt --install` needs root (it mounts binfmt_misc and registers handlers)");
            return Ok(ExitCode::from(2));
        }
        let find = |a: &binfmt::Arch| binfmt::interpreter(a);
        for (arch, done) in binfmt::install(&mut slipway_runner::sys::Linux, dir, &find)? {
            let what = match done {
                Installed::Registered {
                    handler,
                    interpreter,
                    flags,
                } => {
                    format!("registered {handler}: {} (flags {flags})", interpreter.display())
                }
                Installed::Present { handler } => format!("already registered ({handler})"),
                Installed::NoInterpreter => {
                    format!("no qemu-{} installed (apt-get install qemu-user-static)", arch.qemu)
                }
            };
            writeln!(out, "{}: {what}", arch.platform())?;
        }
        writeln!(out)?;
    }
    match binfmt::handlers(dir)? {
        None => writeln!(out, "binfmt_misc is not mounted at {}", dir.display())?,
        Some(handlers) => {
            let rows: Vec<[String; 4]> = handlers
                .iter()
                .map(|h| {
                    [
                        h.name.clone(),
                        if h.enabled { "enabled" } else { "disabled" }.to_string(),
                        h.flags.clone(),
                        h.interpreter.display().to_string(),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &["HANDLER", "STATE", "FLAGS", "INTERPRETER"].map(String::from),
                &rows,
            )?;
        }
    }
    writeln!(out)?;
    let rows: Vec<[String; 2]> = binfmt::ARCHES
        .iter()
        .map(|a| {
            let p = a.platform();
            let how = match binfmt::emulation(&p) {
                Ok(binfmt::Emulation::Native) => "native".to_string(),
                Ok(binfmt::Emulation::Qemu { handler, interpreter }) => {
                    format!("emulated: {handler} ({})", interpreter.display())
                }
                Err(binfmt::Error::NoHandler { .. }) | Err(binfmt::Error::NotMounted { .. }) => {
                    "cannot run: no handler (`slipway binfmt --install` as root)".to_string()
                }
                Err(e) => format!("cannot run: {e}"),
            };
            [p.to_string(), how]
        })
        .collect();
    write_table(&mut out, &["PLATFORM", "RUNS"].map(String::from), &rows)?;
    Ok(ExitCode::SUCCESS)
}
