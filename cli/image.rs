//! `slipway image import|inspect|tag|rm|ls` and `slipway images`.

use clap::{Subcommand, ValueEnum};
use slipway_runner::export;
use slipway_runner::image;
use slipway_store::image::familiar_name;
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
    },
    /// Print images' manifest and config as JSON.
    Inspect {
        /// Names, IDs or unique ID prefixes.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Give an image another name.
    Tag {
        /// A name, ID or unique ID prefix.
        source: String,
        /// The new NAME[:TAG].
        target: String,
    },
    /// Remove image names (the blobs stay until a prune).
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List the images in the store.
    #[command(alias = "list")]
    Ls,
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
        Command::Import { source, tag } => {
            let image = image::import(&store, &source, &tag)?;
            writeln!(out, "{}", image.id())?;
        }
        Command::Inspect { images } => {
            let mut code = ExitCode::SUCCESS;
            let mut found = Vec::new();
            for name in &images {
                match image::resolve(&store, name) {
                    Ok(i) => found.push(serde_json::json!({
                        "Name": i.name.as_deref().map(familiar_name),
                        "Id": i.id(),
                        "ManifestDescriptor": i.manifest_descriptor,
                        "Manifest": i.manifest,
                        "Config": i.config,
                    })),
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
            let mut resolved = Vec::new();
            for name in &images {
                resolved.push(image::resolve(&store, name)?);
            }
            let named: Vec<export::Named<'_>> = resolved
                .iter()
                .map(|i| export::Named {
                    image: i,
                    names: i.name.iter().cloned().collect(),
                })
                .collect();
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
            export::export(&store, &named, format, &dest)?;
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
        Command::Rm { names } => {
            let mut code = ExitCode::SUCCESS;
            for name in &names {
                match image::remove(&store, name) {
                    Ok(full) => writeln!(out, "Untagged: {}", familiar_name(&full))?,
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = ExitCode::from(2);
                    }
                }
            }
            return Ok(code);
        }
        Command::Ls => {
            let rows: Vec<[String; 4]> = image::list(&store)?
                .iter()
                .map(|i| {
                    [
                        familiar_name(i.name.as_deref().unwrap_or("<none>")).to_string(),
                        i.id().hex()[..12].to_string(),
                        i.config.created.as_deref().map_or("-".into(), |c| {
                            c.replacen('T', " ", 1).trim_end_matches('Z').to_string()
                        }),
                        human_size(i.size()),
                    ]
                })
                .collect();
            let header = ["NAME", "ID", "CREATED", "SIZE"].map(String::from);
            let mut widths = [0usize; 4];
            for row in std::iter::once(&header).chain(&rows) {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.len());
                }
            }
            for row in std::iter::once(&header).chain(&rows) {
                let line = format!(
                    "{:w0$}   {:w1$}   {:w2$}   {}",
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    w0 = widths[0],
                    w1 = widths[1],
                    w2 = widths[2]
                );
                writeln!(out, "{}", line.trim_end())?;
            }
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
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        let digits = if v >= 100.0 {
            0
        } else if v >= 10.0 {
            1
        } else {
            2
        };
        format!("{v:.digits$}{}", units[u])
    }
}
