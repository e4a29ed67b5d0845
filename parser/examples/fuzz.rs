//! A bounded-time mutation fuzzer for the parser (stable Rust: no sanitizer
//! coverage, so mutations are guided only by which diagnostics and argument shapes
//! an input produces).
//!
//!     cargo run --release -p slipway-parser --example fuzz -- [SECONDS] [--seed N]
//!         [--scaling | --no-scaling] [--shape NAME] [--hang-limit SECS] [--max-len BYTES]
//!         [--max-failures N]
//!
//! Seeds: the in-code snippets of `tests/support`, every file under the repository's
//! `tests/fixtures/`, and the shared corpus (`../shared/corpus/files`) when present.
//! Each mutant is parsed inside `catch_unwind`, its BuildKit views rendered and its words
//! expanded; every span must lie in the text on char boundaries. A watchdog treats a
//! single input running longer than the hang limit (2 s) as a failure. A failing input
//! is minimised and written to `parser/fuzz-artifacts/`; the exit status is then 1.
//!
//! After fuzzing (or alone with `--scaling`) the scaling check parses pathological
//! shapes at 256 KiB and 1 MiB: the time ratio must stay below 6 (linear is 4,
//! quadratic 16).

#[path = "../tests/support/mod.rs"]
mod support;

use slipway_parser::{parse, Args, Parse};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest mutant kept (longer ones are truncated).
const DEFAULT_MAX_LEN: usize = 256 * 1024;
/// Most inputs kept in the mutation pool besides the seeds.
const POOL_EXTRA: usize = 4096;
/// Worst acceptable time ratio between the 1 MiB and the 256 KiB input.
const MAX_RATIO: f64 = 6.0;

// ---------------------------------------------------------------------------
// A small, seeded PRNG (SplitMix64): reproducible runs without a dependency.
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    /// A length biased towards small values.
    fn len(&mut self, max: usize) -> usize {
        let cap = match self.below(8) {
            0..=4 => 8,
            5 | 6 => 64,
            _ => max,
        };
        1 + self.below(cap.min(max).max(1))
    }
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

const BYTES: &[u8] = b"\0\t\n\r \"#$'-:=<>[]\\`{},\x0b\x0c\x7f\x80\xbf\xc3\xe2\xf0\xff";

fn line_starts(d: &[u8]) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(d.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i + 1));
    v
}

/// Applies a stack of random mutations to `base`; `pool` provides splice partners.
fn mutate(rng: &mut Rng, base: &str, pool: &[Arc<str>], max_len: usize) -> String {
    let mut d = base.as_bytes().to_vec();
    let rounds = if rng.chance(4) {
        1 + rng.below(16)
    } else {
        1 + rng.below(4)
    };
    for _ in 0..rounds {
        let len = d.len();
        match rng.below(15) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = if rng.chance(3) {
                    rng.next() as u8
                } else {
                    *rng.pick(BYTES)
                };
            }
            2 | 3 => {
                // A tricky token, at a line start half of the time.
                let tok = rng.pick(support::TRICKY_TOKENS).as_bytes();
                let at = if rng.chance(2) {
                    *rng.pick(&line_starts(&d))
                } else {
                    rng.below(len + 1)
                };
                d.splice(at..at, tok.iter().copied());
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.len(len)).min(len);
                d.drain(a..b);
            }
            5 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.len(len)).min(len);
                let chunk = d[a..b].to_vec();
                let at = rng.below(len + 1);
                d.splice(at..at, chunk);
            }
            6 => {
                // Splice: our prefix, another input's suffix.
                let other = rng.pick(pool).as_bytes();
                let a = rng.below(len + 1);
                let b = rng.below(other.len() + 1);
                d.truncate(a);
                d.extend_from_slice(&other[b..]);
            }
            7 => {
                // A line of another input, inserted at a line start.
                let other = rng.pick(pool).as_bytes();
                let starts = line_starts(other);
                let s = *rng.pick(&starts);
                let e = other[s..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(other.len(), |i| s + i + 1);
                let at = *rng.pick(&line_starts(&d));
                d.splice(at..at, other[s..e].iter().copied());
            }
            8 if rng.chance(4) => {
                // A long run of one token; now and then past BuildKit's 64 KiB line limit.
                let tok = rng.pick(support::TRICKY_TOKENS).as_bytes();
                let count = if rng.chance(8) {
                    70_000 / tok.len().max(1) + 1
                } else {
                    1 + rng.below(2_000)
                };
                let at = rng.below(len + 1);
                d.splice(at..at, tok.iter().copied().cycle().take(tok.len() * count));
            }
            9 => {
                // Replace the first word of a line with another instruction name.
                let at = *rng.pick(&line_starts(&d));
                let end = d[at..]
                    .iter()
                    .position(|b| b.is_ascii_whitespace())
                    .map_or(len, |i| at + i);
                let name = rng.pick(support::NAMES).as_bytes();
                d.splice(at..end, name.iter().copied());
            }
            10 => {
                let n = 1 + rng.below(8);
                let at = rng.below(len + 1);
                let bytes: Vec<u8> = (0..n).map(|_| b' ' + rng.below(95) as u8).collect();
                d.splice(at..at, bytes);
            }
            11 if len > 0 => {
                // Delete, duplicate or swap whole lines.
                let starts = line_starts(&d);
                let i = rng.below(starts.len());
                let s = starts[i];
                let e = starts.get(i + 1).copied().unwrap_or(len);
                match rng.below(3) {
                    0 => {
                        d.drain(s..e);
                    }
                    1 => {
                        let line = d[s..e].to_vec();
                        d.splice(s..s, line);
                    }
                    _ => {
                        let line: Vec<u8> = d.drain(s..e).collect();
                        let at = *rng.pick(&line_starts(&d));
                        d.splice(at..at, line);
                    }
                }
            }
            12 => {
                // Line endings: all CRLF, or all LF, or lone CRs.
                let s = String::from_utf8_lossy(&d).into_owned();
                let s = match rng.below(3) {
                    0 => s.replace("\r\n", "\n").replace('\n', "\r\n"),
                    1 => s.replace("\r\n", "\n"),
                    _ => s.replace('\n', "\r"),
                };
                d = s.into_bytes();
            }
            13 => {
                // A header: directive, BOM or shebang.
                let head: &[u8] = match rng.below(5) {
                    0 => b"# escape=`\n",
                    1 => b"# escape=\\\n",
                    2 => "\u{feff}".as_bytes(),
                    3 => b"#!/bin/sh\n",
                    _ => b"# syntax=docker/dockerfile:1\n",
                };
                d.splice(0..0, head.iter().copied());
            }
            _ if len > 0 => {
                // Case flip of an ASCII letter.
                let i = rng.below(len);
                if d[i].is_ascii_alphabetic() {
                    d[i] ^= 0x20;
                }
            }
            _ => {}
        }
        if d.len() > max_len {
            d.truncate(max_len);
        }
    }
    String::from_utf8_lossy(&d).into_owned()
}

// ---------------------------------------------------------------------------
// Running one input
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Panic,
    Invariant,
    Hang,
    /// The process died: a stack overflow or an abort.
    Crash,
}

struct Failure {
    kind: Kind,
    message: String,
}

impl Failure {
    /// What makes two failures the same bug: for a panic its location; otherwise the
    /// message without numbers and instruction names (diagnostic codes are kept).
    fn signature(&self) -> String {
        if self.kind == Kind::Panic {
            if let Some((_, loc)) = self.message.rsplit_once(" at ") {
                return format!("Panic at {loc}");
            }
        }
        let mut out = format!("{:?}: ", self.kind);
        let mut rest = self.message.as_str();
        while let Some(c) = rest.chars().next() {
            if c == '(' {
                if let Some(end) = rest.find(')') {
                    if rest[1..end].starts_with("slipway::") {
                        out.push_str(&rest[..=end]);
                    }
                    rest = &rest[end + 1..];
                    continue;
                }
            }
            if !c.is_ascii_digit() {
                out.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

thread_local! {
    static PANIC_MESSAGE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-string panic payload>".into());
        let loc = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{msg}{loc}")));
    }));
}

/// Parses, renders, expands and checks one input.
fn run(text: &str, generic: bool) -> Result<Parse, Failure> {
    run_timed(text, generic).map(|(p, _)| p)
}

/// [`run`], also returning how long the parse itself took (checks not included).
fn run_timed(text: &str, generic: bool) -> Result<(Parse, Duration), Failure> {
    match catch_unwind(AssertUnwindSafe(|| {
        let t = Instant::now();
        let parsed = parse(text);
        let took = t.elapsed();
        let checked = support::check(text, &parsed, generic).and_then(|()| reparse_agrees(text, &parsed));
        (parsed, took, checked)
    })) {
        Ok((parsed, took, Ok(()))) => Ok((parsed, took)),
        Ok((_, _, Err(message))) => Err(Failure {
            kind: Kind::Invariant,
            message,
        }),
        Err(_) => {
            let message = PANIC_MESSAGE.with(|m| m.borrow_mut().take()).unwrap_or_default();
            Err(Failure {
                kind: Kind::Panic,
                message,
            })
        }
    }
}

/// One edit of `text`, chosen from its hash (so a failing input minimises like any other):
/// the incremental `reparse` after it must give what a whole `parse` gives, and the
/// incremental model and checks what a whole analysis gives.
fn reparse_agrees(text: &str, parsed: &Parse) -> Result<(), String> {
    let h = fnv(text);
    let floor = |i: usize| support::floor(text, i);
    let at = floor((h >> 8) as usize % (text.len() + 1));
    let (range, inserted) = match h % 5 {
        0 => (at..at, "\n"),
        1 => (at..floor(at + 1 + (h >> 40) as usize % 8), ""),
        2 => (at..at, " \\\n"),
        3 => (at..at, "x"),
        _ => (at..floor(at + (h >> 40) as usize % 4), "RUN <<EOF\nx\nEOF\n"),
    };
    let mut edited = text.to_string();
    edited.replace_range(range.clone(), inserted);
    let (again, change) =
        slipway_parser::reparse_with_change(&edited, text, parsed.clone(), range.clone(), inserted.len());
    let whole = parse(&edited);
    if again.file != whole.file || support::sorted(again.diagnostics) != support::sorted(whole.diagnostics) {
        return Err(format!(
            "reparse after replacing {range:?} with {inserted:?} differs from a whole parse"
        ));
    }
    let Some(change) = change else { return Ok(()) };
    let options = slipway_parser::CheckOptions::default();
    let model = slipway_parser::model::analyze(text, &parsed.file, &options);
    let lint = slipway_parser::lint::Lint::new(text, &parsed.file, &model, &options);
    let model = slipway_parser::model::reanalyze(&edited, &again.file, &options, model, &change);
    let lint = lint.after(&edited, &again.file, &model, &options, &change);
    let whole_model = slipway_parser::model::analyze(&edited, &whole.file, &options);
    let whole_lint = slipway_parser::lint::Lint::new(&edited, &whole.file, &whole_model, &options);
    let parts = |m: &slipway_parser::model::Model, l: &slipway_parser::lint::Lint| {
        format!(
            "{:?}{:?}{:?}{:?}{:?}{:?}",
            m.stages, m.vars, m.stage_of, m.commands, m.diagnostics, l.diagnostics
        )
    };
    if parts(&model, &lint) != parts(&whole_model, &whole_lint) {
        return Err(format!(
            "the model or checks after replacing {range:?} with {inserted:?} differ from a whole analysis"
        ));
    }
    Ok(())
}

/// Small integers describing what the parser made of an input: new ones earn it a
/// place in the mutation pool.
fn features(p: &Parse, out: &mut Vec<u64>) {
    fn h(x: impl Hash) -> u64 {
        let mut s = std::collections::hash_map::DefaultHasher::new();
        x.hash(&mut s);
        s.finish()
    }
    for d in &p.diagnostics {
        out.push(h(("diag", d.code)));
    }
    for inst in &p.file.instructions {
        let e = inst.effective();
        let shape = match &e.args {
            Args::Empty => 0,
            Args::Ignored => 1,
            Args::Json(w) => 2 + 10 * w.len().min(3),
            Args::Shell(_) => 3,
            Args::Words(w) => 4 + 10 * w.len().min(3),
            Args::KeyValues(kv) => 5 + 10 * kv.len().min(3) + 100 * usize::from(kv.iter().any(|kv| kv.equals)),
            Args::Healthcheck { .. } => 6,
            Args::Onbuild(_) => 7,
        };
        out.push(h((
            inst.keyword,
            e.keyword,
            shape,
            e.flags.len().min(3),
            e.heredocs.len().min(3),
            e.heredocs
                .iter()
                .take(3)
                .map(|h| (h.chomp, h.expand, h.file_descriptor > 0))
                .collect::<Vec<_>>(),
            inst.end_line - inst.start_line > 0,
        )));
    }
    out.push(h(("escape", p.file.escape, p.file.directives.len().min(3))));
}

// ---------------------------------------------------------------------------
// The watchdog: a single input running longer than the limit is a hang.
// ---------------------------------------------------------------------------

struct Watch {
    /// The input running now, since when, and its time limit.
    current: Mutex<Option<(Instant, Arc<str>, Duration)>>,
    limit: Duration,
    /// With `--log-input`: every input is written here before it runs, so an input that
    /// kills the process (stack overflow) can be recovered.
    log: Option<Mutex<std::fs::File>>,
}

impl Watch {
    fn start(self: &Arc<Self>) {
        let w = Arc::clone(self);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(50));
            let hung = match &*w.current.lock().unwrap() {
                Some((t, input, limit)) if t.elapsed() > *limit => Some((Arc::clone(input), *limit)),
                _ => None,
            };
            if let Some((input, limit)) = hung {
                let f = Failure {
                    kind: Kind::Hang,
                    message: format!("one input ran longer than {limit:?}"),
                };
                report(&input, &input, &f);
                std::process::exit(1);
            }
        });
    }
    fn enter_with_limit(&self, input: Arc<str>, limit: Duration) {
        if let Some(log) = &self.log {
            use std::io::{Seek, Write};
            let mut f = log.lock().unwrap();
            let written = f
                .set_len(0)
                .and_then(|_| f.rewind())
                .and_then(|_| f.write_all(input.as_bytes()));
            if let Err(e) = written {
                eprintln!("cannot log the input: {e}");
            }
        }
        *self.current.lock().unwrap() = Some((Instant::now(), input, limit));
    }
    fn leave(&self) -> Duration {
        self.current
            .lock()
            .unwrap()
            .take()
            .map_or(Duration::ZERO, |(t, ..)| t.elapsed())
    }
}

// ---------------------------------------------------------------------------
// Failures: minimise, save, report
// ---------------------------------------------------------------------------

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn artifact_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz-artifacts")
}

fn report(original: &str, minimized: &str, f: &Failure) {
    let dir = artifact_dir();
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("crash-{:016x}.Dockerfile", fnv(original)));
    let min_path = dir.join(format!("crash-{:016x}.min.Dockerfile", fnv(original)));
    let saved = std::fs::write(&path, original).is_ok();
    if minimized != original {
        let _ = std::fs::write(&min_path, minimized);
    }
    eprintln!("\nFAILURE ({:?}): {}", f.kind, f.message);
    if saved {
        eprintln!("input written to {} ({} bytes)", path.display(), original.len());
    }
    if minimized != original {
        eprintln!(
            "minimised input written to {} ({} bytes)",
            min_path.display(),
            minimized.len()
        );
    }
    let shown: String = minimized.chars().take(600).collect();
    eprintln!(
        "minimised input (Rust string literal{}):\n{:?}",
        if shown.len() < minimized.len() {
            ", truncated"
        } else {
            ""
        },
        shown
    );
}

/// Shrinks `input` while it still fails the same way.
fn minimize(input: &str, signature: &str) -> String {
    shrink(input, |s| matches!(run(s, true), Err(f) if f.signature() == signature))
}

/// Shrinks `input` while `fails` holds: removes whole lines, then chunks of characters of
/// decreasing size. Bounded in time.
fn shrink(input: &str, fails: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut cur = input.to_string();
    // Lines first.
    let mut chunk = cur.split_inclusive('\n').count() / 2;
    while chunk >= 1 && Instant::now() < deadline {
        let lines: Vec<&str> = cur.split_inclusive('\n').collect();
        let mut i = 0;
        let mut reduced = None;
        while i < lines.len() && Instant::now() < deadline {
            let cand: String = lines[..i].concat() + &lines[(i + chunk).min(lines.len())..].concat();
            if fails(&cand) {
                reduced = Some(cand);
                break;
            }
            i += chunk;
        }
        match reduced {
            Some(c) => cur = c,
            None => chunk /= 2,
        }
    }
    // Then characters.
    let mut chunk = cur.chars().count() / 2;
    while chunk >= 1 && Instant::now() < deadline {
        let bounds: Vec<usize> = cur.char_indices().map(|(i, _)| i).chain([cur.len()]).collect();
        let n = bounds.len() - 1;
        let mut i = 0;
        let mut reduced = None;
        while i < n && Instant::now() < deadline {
            let cand = format!("{}{}", &cur[..bounds[i]], &cur[bounds[(i + chunk).min(n)]..]);
            if fails(&cand) {
                reduced = Some(cand);
                break;
            }
            i += chunk;
        }
        match reduced {
            Some(c) => cur = c,
            None => chunk /= 2,
        }
    }
    cur
}

// ---------------------------------------------------------------------------
// The scaling check
// ---------------------------------------------------------------------------

/// Best time of `f` over repetitions lasting at least ~100 ms (at least 2 runs).
fn best_time(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut runs = 0;
    while runs < 2 || (start.elapsed() < Duration::from_millis(100) && runs < 200) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

/// One size of one shape: best parse time, best views time, diagnostics, slowest single parse.
struct Measure {
    parse: f64,
    views: f64,
    /// The whole analysis (`check`: model, rules, suppressions) after the parse.
    check: f64,
    diags: usize,
    slowest: Duration,
}

/// Parses `text` under the watchdog (a backstop for endless loops only), checks the result
/// once, then times parsing and the BuildKit views. `None` after reporting a failure.
fn measure(watch: &Arc<Watch>, text: Arc<str>) -> Option<Measure> {
    let backstop = watch.limit * 15;
    let mut slowest = Duration::ZERO;
    let mut timed_parse = || {
        watch.enter_with_limit(Arc::clone(&text), backstop);
        let p = catch_unwind(AssertUnwindSafe(|| parse(std::hint::black_box(&text))));
        let took = watch.leave();
        slowest = slowest.max(took);
        p
    };
    let panicked = || PANIC_MESSAGE.with(|m| m.borrow_mut().take()).unwrap_or_default();
    let parsed = match timed_parse() {
        Ok(p) => p,
        Err(_) => {
            return fail(
                &text,
                Failure {
                    kind: Kind::Panic,
                    message: panicked(),
                },
            )
        }
    };
    // Every check, once (not timed).
    match catch_unwind(AssertUnwindSafe(|| support::check(&text, &parsed, false))) {
        Ok(Ok(())) => {}
        Ok(Err(message)) => {
            return fail(
                &text,
                Failure {
                    kind: Kind::Invariant,
                    message,
                },
            )
        }
        Err(_) => {
            return fail(
                &text,
                Failure {
                    kind: Kind::Panic,
                    message: panicked(),
                },
            )
        }
    }
    let parse_time = best_time(|| drop(std::hint::black_box(timed_parse())));
    let views = best_time(|| {
        std::hint::black_box(slipway_parser::buildkit::commands(&parsed.file));
        std::hint::black_box(slipway_parser::buildkit::dump(&parsed.file));
    });
    let options = slipway_parser::CheckOptions::default();
    let check = best_time(|| drop(std::hint::black_box(slipway_parser::check(&text, &options))));
    Some(Measure {
        parse: parse_time,
        views,
        check,
        diags: parsed.diagnostics.len(),
        slowest,
    })
}

fn fail<T>(text: &str, f: Failure) -> Option<T> {
    report(text, text, &f);
    None
}

fn scaling(watch: &Arc<Watch>, filter: Option<&str>) -> bool {
    const SMALL: usize = 256 * 1024;
    const LARGE: usize = 1024 * 1024;
    const CONFIRM: usize = 4 * 1024 * 1024;
    println!(
        "\nscaling check: best parse (and BuildKit views, and whole check) time at 256 KiB and 1 MiB; the ratio must be < {MAX_RATIO} \
         (linear 4, quadratic 16; confirmed from 1 to 4 MiB when it is not) and one parse of 1 MiB must take < {:?}",
        watch.limit
    );
    println!(
        "{:<32} {:>10} {:>10} {:>6} {:>10} {:>10} {:>6} {:>10} {:>6} {:>8}  result",
        "shape", "parse 256K", "parse 1M", "ratio", "views 256K", "views 1M", "ratio", "check 1M", "ratio", "diags 1M"
    );
    // Below 2 ms for 1 MiB nothing is quadratic: timer noise is not a failure.
    let linear = |a: f64, b: f64| b < 0.002 || b / a.max(1e-9) < MAX_RATIO;
    let mut ok = true;
    for (name, shape) in support::SHAPES {
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let (Some(small), Some(large)) = (measure(watch, shape(SMALL).into()), measure(watch, shape(LARGE).into()))
        else {
            return false;
        };
        let mut result = String::from("ok");
        let mut row_ok =
            linear(small.parse, large.parse) && linear(small.views, large.views) && linear(small.check, large.check);
        if !row_ok {
            // Caches and page faults make big inputs a little slower per byte: a second
            // opinion one size up before calling it superlinear.
            let Some(huge) = measure(watch, shape(CONFIRM).into()) else {
                return false;
            };
            row_ok =
                linear(large.parse, huge.parse) && linear(large.views, huge.views) && linear(large.check, huge.check);
            result = format!(
                "{} (1M->4M: parse x{:.2}, views x{:.2}, check x{:.2})",
                if row_ok { "ok" } else { "NOT LINEAR" },
                huge.parse / large.parse,
                huge.views / large.views.max(1e-9),
                huge.check / large.check.max(1e-9)
            );
        }
        if large.slowest > watch.limit {
            row_ok = false;
            result = format!("TOO SLOW (one parse took {:.2} s)", large.slowest.as_secs_f64());
        }
        ok &= row_ok;
        println!(
            "{:<32} {:>8.2}ms {:>8.2}ms {:>6.2} {:>8.2}ms {:>8.2}ms {:>6.2} {:>8.2}ms {:>6.2} {:>8}  {}",
            name,
            small.parse * 1e3,
            large.parse * 1e3,
            large.parse / small.parse.max(1e-9),
            small.views * 1e3,
            large.views * 1e3,
            large.views / small.views.max(1e-9),
            large.check * 1e3,
            large.check / small.check.max(1e-9),
            large.diags,
            result
        );
    }
    ok
}

// ---------------------------------------------------------------------------

struct Options {
    seconds: f64,
    seed: u64,
    fuzz: bool,
    scaling: bool,
    shape: Option<String>,
    hang_limit: f64,
    max_len: usize,
    /// Stop after this many distinct failures.
    max_failures: usize,
    /// Run the work in this process (the supervisor starts a child with this).
    child: bool,
    log_input: Option<PathBuf>,
    /// Check one file and exit: 0 when it passes, 1 when it fails (or die).
    check_one: Option<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        seconds: 60.0,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()),
        fuzz: true,
        scaling: true,
        shape: None,
        hang_limit: 2.0,
        max_len: DEFAULT_MAX_LEN,
        max_failures: 20,
        child: false,
        log_input: None,
        check_one: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--seed" => o.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--scaling" => o.fuzz = false,
            "--no-scaling" => o.scaling = false,
            "--shape" => o.shape = Some(value("--shape")?),
            "--hang-limit" => {
                o.hang_limit = value("--hang-limit")?
                    .parse()
                    .map_err(|e| format!("--hang-limit: {e}"))?
            }
            "--max-len" => o.max_len = value("--max-len")?.parse().map_err(|e| format!("--max-len: {e}"))?,
            "--max-failures" => {
                o.max_failures = value("--max-failures")?
                    .parse()
                    .map_err(|e| format!("--max-failures: {e}"))?
            }
            "--child" => o.child = true,
            "--log-input" => o.log_input = Some(value("--log-input")?.into()),
            "--check-one" => o.check_one = Some(value("--check-one")?.into()),
            "-h" | "--help" => {
                return Err(
                    "usage: fuzz [SECONDS] [--seed N] [--scaling | --no-scaling] [--shape NAME] \
                            [--hang-limit SECS] [--max-len BYTES] [--max-failures N]"
                        .into(),
                )
            }
            s => o.seconds = s.parse().map_err(|_| format!("unknown argument {s:?} (see --help)"))?,
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    install_panic_hook();
    if let Some(path) = &o.check_one {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        return if run(&text, true).is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if !o.child {
        return supervise(&o);
    }
    let log = match &o.log_input {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                eprintln!("cannot create {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let watch = Arc::new(Watch {
        current: Mutex::new(None),
        limit: Duration::from_secs_f64(o.hang_limit),
        log,
    });
    watch.start();

    if o.fuzz && !fuzz(&o, &watch) {
        return ExitCode::FAILURE;
    }
    if o.scaling && !scaling(&watch, o.shape.as_deref()) {
        eprintln!("scaling check failed: parse time grows faster than linearly");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Runs the fuzzer in a child process, so that an input that kills the process (a stack
/// overflow aborts; it cannot be caught) is still found: the run is replayed with the same
/// seed, logging each input before it runs, and the last input is minimised with
/// `--check-one` child processes.
fn supervise(o: &Options) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find the fuzzer's own executable: {e}");
            return ExitCode::from(2);
        }
    };
    // The child gets the same arguments, with the seed made explicit.
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    args.extend(["--child".into(), "--seed".into(), o.seed.to_string()]);
    let status = match std::process::Command::new(&exe).args(&args).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start {}: {e}", exe.display());
            return ExitCode::from(2);
        }
    };
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    eprintln!(
        "\nthe fuzzer process died ({status}), most likely of a stack overflow; \
         replaying --seed {} with input logging to recover the input",
        o.seed
    );
    let dir = artifact_dir();
    let _ = std::fs::create_dir_all(&dir);
    let log = dir.join("last-input.Dockerfile");
    args.push("--log-input".into());
    args.push(log.display().to_string());
    // Same sequence of inputs; give the slower replay more time to reach the crash (the
    // last positional argument wins).
    args.push((o.seconds * 4.0 + 60.0).to_string());
    let replay = std::process::Command::new(&exe)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !matches!(replay, Ok(s) if s.code().is_none()) {
        eprintln!("the replay did not crash ({replay:?}); the crash could not be recovered");
        return ExitCode::FAILURE;
    }
    let input = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(&log);
    let probe = dir.join("probe.Dockerfile");
    let dies = |s: &str| {
        std::fs::write(&probe, s).is_ok()
            && std::process::Command::new(&exe)
                .arg("--check-one")
                .arg(&probe)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|st| st.code().is_none())
    };
    if !dies(&input) {
        eprintln!("the logged input does not crash on its own; saving it anyway");
    }
    let min = shrink(&input, dies);
    let _ = std::fs::remove_file(&probe);
    report(
        &input,
        &min,
        &Failure {
            kind: Kind::Crash,
            message: format!("the process died ({status})"),
        },
    );
    ExitCode::FAILURE
}

fn fuzz(o: &Options, watch: &Arc<Watch>) -> bool {
    let mut pool: Vec<Arc<str>> = support::SEEDS.iter().map(|s| Arc::from(*s)).collect();
    let fixtures = support::read_tree(&support::repo_root().join("tests/fixtures"), 1 << 20);
    let corpus = support::corpus_dir()
        .map(|d| support::read_tree(&d, 1 << 20))
        .unwrap_or_default();
    println!(
        "fuzz: seed {} ({} in-code seeds, {} fixture files, {} corpus files); {} s; reproduce with --seed {}",
        o.seed,
        support::SEEDS.len(),
        fixtures.len(),
        corpus.len(),
        o.seconds,
        o.seed
    );
    pool.extend(fixtures.into_iter().chain(corpus).map(|(_, t)| Arc::from(t)));
    let seeds = pool.len();

    // Every seed as is first.
    let mut seen: HashSet<u64> = HashSet::new();
    let mut feats = Vec::new();
    let mut execs: u64 = 0;
    let mut found = Found::default();
    let start = Instant::now();
    for input in pool.clone() {
        exec(&input, watch, &mut execs, &mut feats, &mut found);
        seen.extend(feats.drain(..));
    }

    let mut rng = Rng(o.seed);
    let deadline = start + Duration::from_secs_f64(o.seconds);
    let mut slowest: (Duration, Arc<str>) = (Duration::ZERO, Arc::from(""));
    let mut last_status = Instant::now();
    let mut added = 0usize;
    while Instant::now() < deadline && found.signatures.len() < o.max_failures {
        // Favour the small in-code seeds and newly found inputs over big corpus files.
        let base = if rng.chance(3) {
            rng.pick(&pool[..support::SEEDS.len()])
        } else {
            rng.pick(&pool)
        };
        let input: Arc<str> = mutate(&mut rng, base, &pool, o.max_len).into();
        let took = exec(&input, watch, &mut execs, &mut feats, &mut found);
        if took > slowest.0 {
            slowest = (took, Arc::clone(&input));
        }
        let before = seen.len();
        seen.extend(feats.drain(..));
        if seen.len() > before && input.len() < 64 * 1024 {
            if pool.len() < seeds + POOL_EXTRA {
                pool.push(input);
            } else {
                let i = seeds + rng.below(POOL_EXTRA);
                pool[i] = input;
            }
            added += 1;
        }
        if last_status.elapsed() > Duration::from_secs(10) {
            last_status = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            println!(
                "  {:>6.0}s  {execs} execs  {:.0} exec/s  {} features  {added} inputs added",
                secs,
                execs as f64 / secs,
                seen.len()
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz: done, {} distinct failures: {execs} executions in {secs:.1} s = {:.0} exec/s; {} features, {added} inputs added; \
         slowest parse {:.2} ms ({} bytes)",
        found.signatures.len(),
        execs as f64 / secs,
        seen.len(),
        slowest.0.as_secs_f64() * 1e3,
        slowest.1.len()
    );
    if slowest.0 > Duration::from_millis(50) {
        // Not a failure (below the hang limit), but worth a look: the parser usually
        // does over 50 MB/s.
        let dir = artifact_dir();
        let path = dir.join(format!("slow-{:016x}.Dockerfile", fnv(&slowest.1)));
        if std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(&path, &*slowest.1))
            .is_ok()
        {
            println!("  (the slowest input is in {})", path.display());
        }
    }
    for (sig, (count, min)) in &found.signatures {
        let shown: String = min.chars().take(300).collect();
        println!("  FAILURE x{count}: {sig}\n      minimised: {shown:?}");
    }
    found.signatures.is_empty()
}

/// Failures found so far, by signature (the same bug is reported once).
#[derive(Default)]
struct Found {
    signatures: std::collections::BTreeMap<String, (usize, String)>,
}

/// Runs one input under the watchdog; a new kind of failure is minimised, saved and reported.
/// Returns how long its parse took (zero for a failure).
fn exec(input: &Arc<str>, watch: &Arc<Watch>, execs: &mut u64, feats: &mut Vec<u64>, found: &mut Found) -> Duration {
    // The watchdog stops a parse that never ends; checks on a big input may take a while too.
    watch.enter_with_limit(Arc::clone(input), watch.limit * 5);
    // The generic (serde) span walk is slower: one input in eight.
    let result = run_timed(input, execs.is_multiple_of(8));
    watch.leave();
    *execs += 1;
    let mut took = Duration::ZERO;
    let result = match result {
        Ok((_, t)) if t > watch.limit => Err(Failure {
            kind: Kind::Hang,
            message: format!("one parse took {t:?} (limit {:?})", watch.limit),
        }),
        Ok((p, t)) => {
            took = t;
            Ok(p)
        }
        Err(f) => Err(f),
    };
    match result {
        Ok(p) => features(&p, feats),
        Err(f) => {
            let sig = f.signature();
            if let Some((count, _)) = found.signatures.get_mut(&sig) {
                *count += 1;
                return took;
            }
            eprintln!("\nfailure found ({:?}): {}; minimising...", f.kind, f.message);
            let min = if f.kind == Kind::Hang {
                input.to_string()
            } else {
                minimize(input, &sig)
            };
            let f = if f.kind == Kind::Hang {
                f
            } else {
                run(&min, true).err().unwrap_or(f)
            };
            report(input, &min, &f);
            found.signatures.insert(sig, (1, min));
        }
    }
    took
}
