//! In-process parse throughput, for `bench/parse_vs_buildkit.sh`:
//!
//!     parse_corpus [--rounds N] [--corpus DIR] [--write-list FILE] [--write-synth DIR]
//!
//! Reads every file under the corpus directory (default `../shared/corpus/files`; without
//! it the repository's own Dockerfiles and a generated one) first, then times parsing them
//! all, best of N rounds, alone and with the BuildKit JSON view. Then does the same for a
//! realistic generated Dockerfile of 64 KiB, 256 KiB and 1 MiB (linearity).
//!
//! Prints one `key=value` line per measurement. `--write-list` writes the files' paths (one
//! per line) and `--write-synth` the generated inputs, so another parser can be timed on
//! exactly the same bytes.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn best_of(rounds: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn parse_all(texts: &[String]) {
    for t in texts {
        black_box(slipway_parser::parse(black_box(t)));
    }
}

fn parse_and_view_all(texts: &[String]) {
    for t in texts {
        let p = slipway_parser::parse(black_box(t));
        black_box(slipway_parser::buildkit::commands(&p.file));
    }
}

fn main() -> ExitCode {
    let mut rounds = 5;
    let mut corpus = support::corpus_dir();
    let mut list: Option<PathBuf> = None;
    let mut synth_dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let Some(v) = args.next() else {
            eprintln!("usage: parse_corpus [--rounds N] [--corpus DIR] [--write-list FILE] [--write-synth DIR]");
            return ExitCode::from(2);
        };
        match a.as_str() {
            "--rounds" => rounds = v.parse().unwrap_or(5),
            "--corpus" => corpus = Some(v.into()),
            "--write-list" => list = Some(v.into()),
            "--write-synth" => synth_dir = Some(v.into()),
            _ => {
                eprintln!("unknown argument {a:?}");
                return ExitCode::from(2);
            }
        }
    }

    let (source, files) = match corpus.as_deref().map(|d| support::read_tree(d, u64::MAX)) {
        Some(files) if !files.is_empty() => (corpus.unwrap().display().to_string(), files),
        _ => {
            eprintln!("note: no corpus; using the repository's own Dockerfiles and a generated one");
            let mut files = support::repo_dockerfiles();
            if let Some(dir) = &synth_dir {
                let p = dir.join("generated.Dockerfile");
                let text = support::realistic(64 * 1024);
                if std::fs::create_dir_all(dir)
                    .and_then(|_| std::fs::write(&p, &text))
                    .is_ok()
                {
                    files.push((p, text));
                }
            }
            ("repository Dockerfiles".into(), files)
        }
    };
    if let Some(list) = &list {
        let body: String = files.iter().map(|(p, _)| format!("{}\n", p.display())).collect();
        if let Err(e) = std::fs::write(list, body) {
            eprintln!("cannot write {}: {e}", list.display());
            return ExitCode::from(2);
        }
    }
    let texts: Vec<String> = files.into_iter().map(|(_, t)| t).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let mb = bytes as f64 / 1e6;

    parse_all(&texts); // warm-up
    let parse = best_of(rounds, || parse_all(&texts));
    let view = best_of(rounds, || parse_and_view_all(&texts));
    println!(
        "corpus source={source:?} files={} bytes={bytes} rounds={rounds} parse_s={parse:.6} parse_mbs={:.1} \
         view_s={view:.6} view_mbs={:.1}",
        texts.len(),
        mb / parse,
        mb / view
    );

    for size in [64 * 1024, 256 * 1024, 1024 * 1024] {
        let text = support::realistic(size);
        if let Some(dir) = &synth_dir {
            let p = dir.join(format!("synth-{}K.Dockerfile", size / 1024));
            if let Err(e) = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&p, &text)) {
                eprintln!("cannot write {}: {e}", p.display());
                return ExitCode::from(2);
            }
        }
        let one = std::slice::from_ref(&text);
        let parse = best_of(rounds * 2, || parse_all(one));
        let view = best_of(rounds * 2, || parse_and_view_all(one));
        println!(
            "synth size={size} bytes={} parse_s={parse:.6} parse_mbs={:.1} view_s={view:.6} view_mbs={:.1}",
            text.len(),
            text.len() as f64 / 1e6 / parse,
            text.len() as f64 / 1e6 / view
        );
    }
    ExitCode::SUCCESS
}
