//! Scans a build context and prints what it found, for `bench/context_hash.sh`:
//!
//!     scan CONTEXT [--no-cache | --cache FILE] [--threads N] [--dockerignore FILE] [--select SRC]...
//!
//! Prints one line of `key=value` pairs: entries, files, bytes (total file size),
//! hashed (files read), hashed_bytes, digest (of the selection, `.` by default)
//! and seconds (scan + select, in-process).

use slipway_planner::context::{Context, EntryKind, ScanOptions};
use slipway_planner::dockerignore::DockerIgnore;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scan: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut context = None;
    let mut options = ScanOptions::default();
    let mut default_cache = true;
    let mut sources = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--no-cache" => default_cache = false,
            "--cache" => options.stat_cache = Some(PathBuf::from(value()?)),
            "--threads" => options.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--dockerignore" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                options.dockerignore = Some(DockerIgnore::parse(&text).map_err(|e| format!("{path}: {e}"))?);
            }
            "--select" => sources.push(value()?),
            _ if context.is_none() && !arg.starts_with('-') => context = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    let context = context.ok_or("usage: scan CONTEXT [--no-cache | --cache FILE] [--threads N] [--select SRC]...")?;
    if default_cache && options.stat_cache.is_none() {
        options.stat_cache = Some(ScanOptions::default_stat_cache(&context).map_err(|e| e.to_string())?);
    }
    if sources.is_empty() {
        sources.push(".".to_string());
    }
    let start = Instant::now();
    let ctx = Context::scan(&context, &options).map_err(|e| e.to_string())?;
    let selection = ctx.select(&sources, &[], false).map_err(|e| e.to_string())?;
    let digest = selection.digest();
    let seconds = start.elapsed().as_secs_f64();
    let files = ctx.entries().filter(|e| e.kind == EntryKind::File);
    let (count, bytes) = files.fold((0, 0u64), |(n, b), e| (n + 1, b + e.size));
    for w in ctx.warnings() {
        eprintln!("scan: warning: {w}");
    }
    println!(
        "entries={} files={count} bytes={bytes} hashed={} hashed_bytes={} digest={digest} seconds={seconds:.4}",
        ctx.len(),
        ctx.files_hashed(),
        ctx.bytes_hashed()
    );
    Ok(())
}
