//! `slipway::lint::emulated-build-stage`: for a build for a platform this machine cannot
//! run natively, a stage that is only copied from (its files, not its filesystem, reach
//! the image) but runs a build tool without `FROM --platform`: every such RUN runs under
//! emulation, commonly 10-20x slower, where pinning the stage to `$BUILDPLATFORM` and
//! cross-compiling for `$TARGETARCH` would run it natively (BuildKit's cross-compilation
//! pattern). Reported only when the check knows the target (`slipway check --platform`).

use crate::diagnostics::Diagnostic;
use crate::model::{Base, Command, CommandLine, Model, PlatformArgs};
use crate::syntax::Dockerfile;
use crate::CheckOptions;

pub const EMULATED_BUILD_STAGE: &str = "slipway::lint::emulated-build-stage";

/// Programs that compile, bundle or build: what a stage that could be pinned runs.
const BUILD_TOOLS: &[&str] = &[
    "go", "cargo", "rustc", "gcc", "g++", "cc", "c++", "clang", "clang++", "make", "cmake", "ninja", "meson", "mvn",
    "gradle", "javac", "dotnet", "npm", "yarn", "pnpm", "tsc", "webpack", "esbuild", "bazel", "zig", "swift", "ghc",
    "stack", "cabal",
];

/// Whether a program of `p` runs on this machine without emulation (the same OS and
/// architecture, or 386 on amd64).
fn native(p: &PlatformArgs) -> bool {
    let host = PlatformArgs::host();
    p.os == host.os
        && (p.architecture == host.architecture || (p.architecture == "386" && host.architecture == "amd64"))
}

/// The build tool a RUN starts, if any (the first word of one of its commands).
fn build_tool(command: &CommandLine) -> Option<&'static str> {
    let words: Vec<&str> = match command {
        CommandLine::Exec(argv) => argv.iter().map(String::as_str).collect(),
        CommandLine::Shell(s) => s
            .split(|c: char| c.is_whitespace() || matches!(c, '&' | ';' | '|' | '(' | ')' | '`'))
            .filter(|w| !w.is_empty())
            .collect(),
    };
    words.iter().find_map(|w| {
        let name = w.rsplit('/').next().unwrap_or(w);
        BUILD_TOOLS.iter().copied().find(|t| *t == name)
    })
}

pub fn run(text: &str, file: &Dockerfile, model: &Model, options: &CheckOptions) -> Vec<Diagnostic> {
    let Some(target) = options.platform.as_ref().filter(|p| !native(p)) else {
        return Vec::new();
    };
    let n = model.stages.len();
    let Some(last) = n.checked_sub(1) else {
        return Vec::new();
    };
    let target_stage = options
        .target
        .as_deref()
        .and_then(|t| model.stage_by_ref(t))
        .unwrap_or(last);
    // What the image is made of: the target stage and the stages it is built FROM.
    let mut shipped = vec![false; n];
    let mut k = Some(target_stage);
    while let Some(i) = k.filter(|&i| i < n && !shipped[i]) {
        shipped[i] = true;
        k = match model.stages[i].base {
            Base::Stage(p) => Some(p),
            _ => None,
        };
    }
    // What the build reaches at all.
    let mut reached = vec![false; n];
    let mut todo = vec![target_stage];
    while let Some(i) = todo.pop() {
        if i < n && !reached[i] {
            reached[i] = true;
            todo.extend(model.stages[i].depends_on.iter().copied());
        }
    }
    let mut out = Vec::new();
    for stage in model.stages.iter().filter(|s| reached[s.index] && !shipped[s.index]) {
        // A stage with its own --platform is already where its author wants it; a stage
        // built FROM another inherits that one's platform.
        if stage.platform.is_some() || matches!(stage.base, Base::Stage(_)) {
            continue;
        }
        let Some((i, tool)) = stage.instructions.iter().find_map(|&i| match model.commands.get(i) {
            Some(Some(Command::Run { command, .. })) => build_tool(command).map(|t| (i, t)),
            _ => None,
        }) else {
            continue;
        };
        let inst = &file.instructions[i];
        let first_line = text[inst.span.clone()].find('\n').unwrap_or(inst.span.len());
        let from = &file.instructions[stage.from];
        let name = stage.name.clone().unwrap_or_else(|| stage.index.to_string());
        let as_name = stage.name.as_ref().map_or_else(String::new, |n| format!(" AS {n}"));
        out.push(
            Diagnostic::warning(
                EMULATED_BUILD_STAGE,
                inst.span.start..inst.span.start + first_line,
                format!(
                    "`{tool}` runs under emulation for {} (commonly 10-20x slower), in stage {name}, which is only copied from",
                    target.specifier()
                ),
            )
            .with_label("runs under emulation")
            .with_related(from.span.start..from.span.start + from.original.lines().next().map_or(0, str::len), "built for the target platform")
            .with_help(format!(
                "pin the stage to the machine that builds: `FROM --platform=$BUILDPLATFORM {}{as_name}`, and build for the target with `ARG TARGETOS TARGETARCH` (e.g. `GOOS=$TARGETOS GOARCH=$TARGETARCH go build`, `cargo build --target`, a cross compiler); output that does not depend on the architecture (JavaScript bundles, jars) needs nothing more",
                stage.base_text
            )),
        );
    }
    out
}
