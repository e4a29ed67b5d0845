//! Parser throughput (`cargo bench -p slipway-parser --bench parse`).
//!
//! - `corpus`: every file of the shared corpus (`../shared/corpus/files`) parsed in one
//!   iteration, reported in bytes/s; without the corpus, the repository's own Dockerfiles
//!   plus a generated one.
//! - `linearity`: a realistic generated Dockerfile at 64 KiB, 256 KiB and 1 MiB; the
//!   throughput should stay flat.
//!
//! `bench/parse_vs_buildkit.sh` compares the same numbers with BuildKit's parser.

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn inputs() -> (String, Vec<String>) {
    if let Some(dir) = support::corpus_dir() {
        let files = support::read_tree(&dir, u64::MAX);
        if !files.is_empty() {
            return (
                format!("shared corpus, {} files", files.len()),
                files.into_iter().map(|(_, t)| t).collect(),
            );
        }
    }
    let mut texts: Vec<String> = support::repo_dockerfiles().into_iter().map(|(_, t)| t).collect();
    texts.push(support::realistic(64 * 1024));
    (
        format!("repository Dockerfiles + generated, {} files", texts.len()),
        texts,
    )
}

fn corpus(c: &mut Criterion) {
    let (what, texts) = inputs();
    let bytes: usize = texts.iter().map(String::len).sum();
    eprintln!("corpus: {what}, {bytes} bytes");
    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("parse", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(slipway_parser::parse(black_box(t)));
            }
        })
    });
    g.bench_function("parse+buildkit_view", |b| {
        b.iter(|| {
            for t in &texts {
                let p = slipway_parser::parse(black_box(t));
                black_box(slipway_parser::buildkit::commands(&p.file));
            }
        })
    });
    g.finish();
}

fn linearity(c: &mut Criterion) {
    let mut g = c.benchmark_group("linearity");
    g.sample_size(20);
    for size in [64 * 1024, 256 * 1024, 1024 * 1024] {
        let text = support::realistic(size);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("realistic", format!("{}KiB", size / 1024)),
            &text,
            |b, t| b.iter(|| black_box(slipway_parser::parse(black_box(t)))),
        );
    }
    g.finish();
}

criterion_group!(benches, corpus, linearity);
criterion_main!(benches);
