//! Times the analysis steps on one file: `cargo run --release -p slipway-lsp --example analysis_time FILE`.

use std::time::Instant;

// The allocator the `slipway` binary uses.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let path = std::env::args().nth(1).expect("usage: analysis_time FILE");
    let text = std::fs::read_to_string(path).expect("read the file");
    let options = slipway_parser::CheckOptions::default();
    let rounds = 20;
    let time = |name: &str, f: &mut dyn FnMut()| {
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        }
        // A closed pipe (`| head`) ends the output, not the program with a panic.
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "{name:<28} {best:8.3} ms");
    };
    time("parse", &mut || {
        std::hint::black_box(slipway_parser::parse(&text));
    });
    let parsed = slipway_parser::parse(&text);
    time("model", &mut || {
        std::hint::black_box(slipway_parser::model::analyze(&text, &parsed.file, &options));
    });
    let model = slipway_parser::model::analyze(&text, &parsed.file, &options);
    time("lint", &mut || {
        std::hint::black_box(slipway_parser::lint::run(&text, &parsed.file, &model, &options));
    });
    let mut all = parsed.diagnostics.clone();
    all.extend(model.diagnostics.clone());
    all.extend(slipway_parser::lint::run(&text, &parsed.file, &model, &options));
    time("suppress", &mut || {
        std::hint::black_box(slipway_parser::suppress::apply(
            &text,
            &parsed.file,
            all.clone(),
            &options.config,
        ));
    });
    time("check (parser crate)", &mut || {
        std::hint::black_box(slipway_parser::check(&text, &options));
    });
    time("Analysis::new", &mut || {
        std::hint::black_box(slipway_lsp::analysis::Analysis::new(text.clone(), &options));
    });
    let a = slipway_lsp::analysis::Analysis::new(text.clone(), &options);
    // One character typed in the middle of the file.
    let mid = text.len() / 2;
    let mid = text[mid..].find('\n').map_or(mid, |i| mid + i);
    let mut edited = text.clone();
    edited.insert(mid, 'x');
    // Inputs made outside the timing: each round consumes its previous analysis.
    let mut best = f64::MAX;
    let mut best_parse = f64::MAX;
    for _ in 0..rounds {
        let previous = std::sync::Arc::new(slipway_lsp::analysis::Analysis::new(text.clone(), &options));
        let t = Instant::now();
        let (a, leftover) =
            slipway_lsp::analysis::Analysis::after_edit(edited.clone(), previous, mid..mid, 1, &options);
        best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        drop((a, leftover));
        let old = slipway_parser::parse(&text);
        let t = Instant::now();
        let again = slipway_parser::reparse(&edited, &text, old, mid..mid, 1);
        best_parse = best_parse.min(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(again.file, slipway_parser::parse(&edited).file);
    }
    // The incremental model and checks on their own.
    let (mut best_model, mut best_lint) = (f64::MAX, f64::MAX);
    let mut moved = (0, 0, 0);
    for _ in 0..rounds {
        let old = slipway_parser::parse(&text);
        let model = slipway_parser::model::analyze(&text, &old.file, &options);
        let lint = slipway_parser::lint::Lint::new(&text, &old.file, &model, &options);
        let (again, change) = slipway_parser::reparse_with_change(&edited, &text, old, mid..mid, 1);
        let change = change.expect("an edit in the middle re-parses in part");
        let t = Instant::now();
        let model = slipway_parser::model::reanalyze(&edited, &again.file, &options, model, &change);
        best_model = best_model.min(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let lint = lint.after(&edited, &again.file, &model, &options, &change);
        best_lint = best_lint.min(t.elapsed().as_secs_f64() * 1000.0);
        let count = |m: &[bool]| m.iter().filter(|&&x| x).count();
        moved = (
            count(model.moved_stages()),
            count(lint.moved_stages()),
            model.stages.len(),
        );
        drop((model, lint));
    }
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{:<28} {best:8.3} ms", "Analysis::after_edit");
    let _ = writeln!(std::io::stdout(), "{:<28} {best_model:8.3} ms", "  model::reanalyze");
    let _ = writeln!(std::io::stdout(), "{:<28} {best_lint:8.3} ms", "  Lint::after");
    let _ = writeln!(
        std::io::stdout(),
        "  (stages moved over: {} of {} by the model, {} by the checks)",
        moved.0,
        moved.2,
        moved.1
    );
    let _ = writeln!(std::io::stdout(), "{:<28} {best_parse:8.3} ms", "reparse (one edit)");
    time("tokens", &mut || {
        std::hint::black_box(slipway_lsp::analysis::tokens::tokens(&a));
    });
    time("symbols", &mut || {
        std::hint::black_box(slipway_lsp::analysis::outline::symbols(&a));
    });
    time("format", &mut || {
        std::hint::black_box(slipway_lsp::analysis::format::format(&a));
    });
}
