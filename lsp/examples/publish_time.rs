//! Times what publishing a file's diagnostics costs after the analysis:
//! `cargo run --release -p slipway-lsp --example publish_time FILE`.
//!
//! - `publish_frame`: the server's way, JSON written straight from the diagnostics;
//! - `via serde_json::Value`: tower-lsp's client's way (the server's until then): LSP
//!   values, a `serde_json::Value` tree of them, its text, and freeing the tree;
//! - `LineIndex::new`: rebuilt on every change, before the analysis.

use slipway_lsp::bench::{publish_frame, tower_lsp_publication, Conv};
use slipway_lsp::text::{Encoding, LineIndex};
use std::io::Write;
use std::time::Instant;

// The allocator the `slipway` binary uses.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let path = std::env::args().nth(1).expect("usage: publish_time FILE");
    let text = std::fs::read_to_string(&path).expect("read the file");
    let a = slipway_lsp::analysis::Analysis::new(text.clone(), &Default::default());
    let index = LineIndex::new(&text);
    let c = Conv {
        text: &text,
        index: &index,
        enc: Encoding::Utf16,
    };
    let uri = format!("file://{}", std::fs::canonicalize(&path).expect("a file").display());
    let rounds = 200;
    // A closed pipe (`| head`) ends the output, not the program with a panic.
    let mut out = std::io::stdout();
    let mut time = |name: &str, f: &mut dyn FnMut()| {
        let mut all: Vec<f64> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        all.sort_by(f64::total_cmp);
        let _ = writeln!(
            out,
            "{name:<28} best {:7.3} ms  median {:7.3} ms",
            all[0],
            all[rounds / 2]
        );
    };
    let frame = publish_frame(&c, &uri, Some(2), &a.diagnostics);
    let old = tower_lsp_publication(&c, &uri, Some(2), &a.diagnostics);
    assert!(frame.bytes().ends_with(&old), "the same message both ways");
    let _ = writeln!(
        std::io::stdout(),
        "{} diagnostics, {} bytes of JSON",
        a.diagnostics.len(),
        old.len()
    );
    time("publish_frame", &mut || {
        std::hint::black_box(publish_frame(&c, &uri, Some(2), &a.diagnostics));
    });
    time("via serde_json::Value", &mut || {
        std::hint::black_box(tower_lsp_publication(&c, &uri, Some(2), &a.diagnostics));
    });
    time("LineIndex::new", &mut || {
        std::hint::black_box(LineIndex::new(&text));
    });
}
