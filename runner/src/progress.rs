//! What a build tells the user while it runs.
//!
//! - `plain` narrates in the terms Docker's documentation teaches ("Step 2/5 : RUN …",
//!   "Using cache", the temporary container a RUN ran in, the layer each step made), one
//!   line per event, so a learner can watch the layers pile up; a RUN's output is streamed
//!   as it comes, prefixed with its step number when stages build in parallel;
//! - `tty` keeps a live tree on a terminal: one line per step with its cache status and
//!   timer, and the last lines of output under a running step, redrawn in place;
//! - `json` prints one JSON object per event (a line each), for tools;
//! - `quiet` prints nothing (`-q`).
//!
//! Every mode keeps the last lines of each step's output, for the diagnostic of a failing
//! step ([`Progress::tail`]).

use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Output lines kept per step for a failure's diagnostic.
pub const TAIL_LINES: usize = 12;
/// Output lines shown under a running step in the live tree.
const LIVE_LINES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    Quiet,
    #[default]
    Plain,
    Tty,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Running(Instant),
    Cached,
    Done(Duration),
    Failed(Duration),
}

struct Step {
    title: String,
    state: State,
    tail: VecDeque<String>,
    /// An unfinished output line.
    partial: Vec<u8>,
    /// Its final line is on the screen (tty mode).
    printed: bool,
}

struct Inner {
    steps: BTreeMap<usize, Step>,
    /// Lines the live tree drew last time (to move back over them).
    drawn: usize,
    last_draw: Option<Instant>,
    /// Several steps run at once (output lines get their step number).
    parallel: bool,
}

/// What happens to a build's steps, for a listener other than the display (an
/// embedding, the language server): the same events the display shows. `n` counts the
/// build's steps from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEvent<'a> {
    Started {
        n: usize,
        total: usize,
        stage: &'a str,
        instruction: &'a str,
    },
    Note {
        n: usize,
        text: &'a str,
    },
    Cached {
        n: usize,
        layer: &'a str,
        size: u64,
    },
    Output {
        n: usize,
        bytes: &'a [u8],
    },
    Done {
        n: usize,
    },
    Failed {
        n: usize,
        why: &'a str,
    },
}

/// Hears every [`StepEvent`] of a build (from the threads of parallel stages too).
pub trait StepListener: Sync {
    fn step(&self, event: &StepEvent<'_>);
}

/// Hears nothing.
pub struct NoListener;
impl StepListener for NoListener {
    fn step(&self, _: &StepEvent<'_>) {}
}

/// A build's progress display. Shared by the threads of parallel stages.
pub struct Progress<'a> {
    mode: Mode,
    total: usize,
    inner: Mutex<Inner>,
    listener: &'a dyn StepListener,
}

/// A size in decimal units with one decimal (`1.2 MB`), for narration.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The first 12 hex digits of a digest.
pub fn short_id(digest: &str) -> &str {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

impl<'a> Progress<'a> {
    pub fn new(mode: Mode, total: usize) -> Progress<'static> {
        Progress::with_listener(mode, total, &NoListener)
    }

    /// A display that also tells `listener` every event.
    pub fn with_listener(mode: Mode, total: usize, listener: &'a dyn StepListener) -> Progress<'a> {
        Progress {
            mode,
            total,
            listener,
            inner: Mutex::new(Inner {
                steps: BTreeMap::new(),
                drawn: 0,
                last_draw: None,
                parallel: false,
            }),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether RUN output is passed through this display (else it goes to the terminal).
    pub fn set_parallel(&self, parallel: bool) {
        self.lock().parallel = parallel;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `#N` while stages build in parallel (so interleaved lines say whose they are).
    fn prefix(&self, n: usize) -> String {
        if self.lock().parallel {
            format!("#{n}")
        } else {
            String::new()
        }
    }

    fn json(&self, value: serde_json::Value) {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "{value}");
    }

    fn plain(&self, text: &str) {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }

    /// A step starts: `n` of the build's total, `title` its instruction's first line.
    pub fn start(&self, n: usize, stage: &str, title: &str) {
        self.listener.step(&StepEvent::Started {
            n,
            total: self.total,
            stage,
            instruction: title,
        });
        let mut inner = self.lock();
        inner.steps.insert(
            n,
            Step {
                title: format!("[{stage}] {title}"),
                state: State::Running(Instant::now()),
                tail: VecDeque::new(),
                partial: Vec::new(),
                printed: false,
            },
        );
        match self.mode {
            Mode::Plain => self.plain(&format!("Step {n}/{} : {title}", self.total)),
            Mode::Json => self
                .json(json!({"event": "start", "step": n, "total": self.total, "stage": stage, "instruction": title})),
            Mode::Tty => self.draw(&mut inner),
            Mode::Quiet => {}
        }
    }

    /// A note on step `n` (plain: ` ---> note`).
    pub fn note(&self, n: usize, text: &str) {
        self.listener.step(&StepEvent::Note { n, text });
        match self.mode {
            Mode::Plain => self.plain(&format!("{} ---> {text}", self.prefix(n))),
            Mode::Json => self.json(json!({"event": "note", "step": n, "text": text})),
            Mode::Tty => {
                let mut inner = self.lock();
                if let Some(s) = inner.steps.get_mut(&n) {
                    push_tail(&mut s.tail, text.to_string());
                }
                self.draw(&mut inner);
            }
            Mode::Quiet => {}
        }
    }

    /// Step `n` reuses a cached layer.
    pub fn cached(&self, n: usize, layer: &str, bytes: u64) {
        self.listener.step(&StepEvent::Cached { n, layer, size: bytes });
        let mut inner = self.lock();
        if let Some(s) = inner.steps.get_mut(&n) {
            s.state = State::Cached;
        }
        match self.mode {
            Mode::Plain => {
                let prefix = if inner.parallel { format!("#{n}") } else { String::new() };
                self.plain(&format!(
                    "{prefix} ---> Using cache: layer {} ({}) from an earlier build",
                    short_id(layer),
                    human_size(bytes)
                ))
            }
            Mode::Json => self.json(json!({"event": "cached", "step": n, "layer": layer, "size": bytes})),
            Mode::Tty => self.draw(&mut inner),
            Mode::Quiet => {}
        }
    }

    /// Bytes a RUN wrote to its stdout/stderr.
    pub fn output(&self, n: usize, bytes: &[u8]) {
        self.listener.step(&StepEvent::Output { n, bytes });
        let mut inner = self.lock();
        let parallel = inner.parallel;
        let Some(step) = inner.steps.get_mut(&n) else { return };
        step.partial.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(i) = step.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = step.partial.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim_end_matches('\r')
                .to_string();
            push_tail(&mut step.tail, text.clone());
            lines.push(text);
        }
        match self.mode {
            Mode::Plain => {
                let mut err = io::stderr().lock();
                for l in &lines {
                    let _ = if parallel {
                        writeln!(err, "#{n} {l}")
                    } else {
                        writeln!(err, "{l}")
                    };
                }
            }
            Mode::Json => {
                for l in lines {
                    self.json(json!({"event": "log", "step": n, "line": l}));
                }
            }
            Mode::Tty => {
                // Redraw at most 20 times a second.
                if inner.last_draw.is_none_or(|t| t.elapsed() > Duration::from_millis(50)) {
                    self.draw(&mut inner);
                }
            }
            Mode::Quiet => {}
        }
    }

    /// Flushes a step's unfinished output line.
    fn flush_partial(&self, inner: &mut Inner, n: usize) -> Option<String> {
        let step = inner.steps.get_mut(&n)?;
        if step.partial.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&std::mem::take(&mut step.partial)).into_owned();
        push_tail(&mut step.tail, text.clone());
        Some(text)
    }

    /// Step `n` finished.
    pub fn done(&self, n: usize) {
        self.listener.step(&StepEvent::Done { n });
        let mut inner = self.lock();
        let rest = self.flush_partial(&mut inner, n);
        if let Some(s) = inner.steps.get_mut(&n) {
            if let State::Running(t) = s.state {
                s.state = State::Done(t.elapsed());
            }
        }
        let took = match inner.steps.get(&n).map(|s| &s.state) {
            Some(State::Done(d)) => d.as_secs_f64(),
            _ => 0.0,
        };
        match self.mode {
            Mode::Plain => {
                if let Some(r) = rest {
                    self.plain(&r);
                }
                let prefix = if inner.parallel { format!("#{n}") } else { String::new() };
                self.plain(&format!("{prefix} ---> Step {n} done in {took:.1}s"));
            }
            Mode::Json => self.json(json!({"event": "done", "step": n, "seconds": took})),
            Mode::Tty => self.draw(&mut inner),
            Mode::Quiet => {}
        }
    }

    /// Step `n` failed.
    pub fn failed(&self, n: usize, why: &str) {
        self.listener.step(&StepEvent::Failed { n, why });
        let mut inner = self.lock();
        let rest = self.flush_partial(&mut inner, n);
        if let Some(s) = inner.steps.get_mut(&n) {
            if let State::Running(t) = s.state {
                s.state = State::Failed(t.elapsed());
            }
        }
        match self.mode {
            Mode::Plain => {
                if let Some(r) = rest {
                    self.plain(&r);
                }
                let prefix = if inner.parallel { format!("#{n}") } else { String::new() };
                self.plain(&format!("{prefix} ---> Step {n} failed: {why}"));
            }
            Mode::Json => self.json(json!({"event": "error", "step": n, "message": why})),
            Mode::Tty => self.draw(&mut inner),
            Mode::Quiet => {}
        }
    }

    /// The last lines step `n` printed.
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.lock()
            .steps
            .get(&n)
            .map(|s| s.tail.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The live tree: finished steps print once and scroll away; running steps are
    /// redrawn in place with their last output lines below them.
    fn draw(&self, inner: &mut Inner) {
        let mut out = String::new();
        if inner.drawn > 0 {
            // Back to the top of the live area, which is then cleared.
            out.push_str(&format!("\x1b[{}F\x1b[J", inner.drawn));
        }
        let width = terminal_width();
        let clip = |s: String| -> String {
            let mut t: String = s.chars().take(width.saturating_sub(1) + 9).collect();
            t.push('\n');
            t
        };
        let total = self.total;
        for (&n, s) in inner.steps.iter_mut().filter(|(_, s)| !s.printed) {
            let line = match &s.state {
                State::Running(_) => continue,
                State::Cached => format!("\x1b[34m => CACHED #{n}/{total} {}\x1b[0m", s.title),
                State::Done(d) => format!(" => #{n}/{total} {} \x1b[2m{:.1}s\x1b[0m", s.title, d.as_secs_f64()),
                State::Failed(d) => format!(
                    "\x1b[31m => ERROR #{n}/{total} {} {:.1}s\x1b[0m",
                    s.title,
                    d.as_secs_f64()
                ),
            };
            out.push_str(&clip(line));
            s.printed = true;
        }
        let mut drawn = 0;
        for (&n, s) in &inner.steps {
            let State::Running(t) = s.state else { continue };
            out.push_str(&clip(format!(
                "\x1b[36m => #{n}/{total} {} {:.1}s\x1b[0m",
                s.title,
                t.elapsed().as_secs_f64()
            )));
            drawn += 1;
            for l in s.tail.iter().rev().take(LIVE_LINES).rev() {
                out.push_str(&clip(format!("\x1b[2m    {l}\x1b[0m")));
                drawn += 1;
            }
        }
        inner.drawn = drawn;
        inner.last_draw = Some(Instant::now());
        let mut err = io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

fn push_tail(tail: &mut VecDeque<String>, line: String) {
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line);
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w: &usize| w > 20)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_split_into_lines_and_the_tail_is_bounded() {
        let p = Progress::new(Mode::Quiet, 3);
        p.start(2, "build", "RUN make");
        p.output(2, b"one\ntw");
        p.output(2, b"o\r\n");
        for i in 0..20 {
            p.output(2, format!("line {i}\n").as_bytes());
        }
        p.output(2, b"no newline at the end");
        p.failed(2, "exit code 2");
        let tail = p.tail(2);
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last().unwrap(), "no newline at the end");
        assert_eq!(tail[0], "line 9");
    }

    #[test]
    fn sizes_and_ids() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_234_567), "1.2 MB");
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
