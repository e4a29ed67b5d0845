//! `slipway image import|inspect|tag|rm|ls` and `slipway images`.

use clap::Subcommand;
use slipway_runner::image;
use slipway_store::image::familiar_name;
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
