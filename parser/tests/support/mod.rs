//! Shared by the robustness test, the fuzzer (`examples/fuzz.rs`), the corpus
//! timer (`examples/parse_corpus.rs`) and the benchmark (`benches/parse.rs`):
//! seed snippets, the span invariants every parse must satisfy, seed-file
//! loading and generators of realistic and pathological inputs.
//!
//! Included with `#[path]` (no crate of its own), so every user compiles only
//! what it needs.
#![allow(dead_code)]

use slipway_parser::{buildkit, Args, Dockerfile, Instruction, Parse, Span};
use std::path::{Path, PathBuf};

/// The char boundary at or before byte `i` of `s` (clamped to its length).
pub fn floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Diagnostics in a fixed order (span, code, message), to compare two lists that may
/// list the same findings in a different order.
pub fn sorted(mut d: Vec<slipway_parser::Diagnostic>) -> Vec<slipway_parser::Diagnostic> {
    d.sort_by(|a, b| {
        (a.span.start, a.span.end, a.code, &a.message).cmp(&(b.span.start, b.span.end, b.code, &b.message))
    });
    d
}

/// Hand-written snippets that poke at the corners of BuildKit's grammar.
pub const SEEDS: &[&str] = &[
    // A plain multi-stage file with flags.
    "# syntax=docker/dockerfile:1\nARG BASE=debian:bookworm\nFROM ${BASE} AS build\nWORKDIR /src\n\
     COPY --link --chown=1000:1000 . .\nRUN --mount=type=cache,target=/root/.cache make\n\
     FROM scratch\nCOPY --from=build /src/out /app\nENTRYPOINT [\"/app\"]\n",
    // Heredocs: plain, quoted + chomped, with a file descriptor, several per line.
    "FROM a\nRUN <<EOF\necho hi\nEOF\n",
    "FROM a\nRUN <<-\"EOF\"\n\techo $HOME\n\tEOF\n",
    "FROM a\nCOPY 3<<EOF /x\nbody\nEOF\n",
    "FROM a\nRUN <<A cat - && <<'B' cat && 3<<-C cat\na\nA\nb\nB\n\tc\n\tC\nRUN next\n",
    "FROM a\nRUN <<E\"O\"F python3\nprint(1)\nEOF\nCOPY <<a <<b /dst/\n1\na\n2\nb\n",
    "FROM a\nRUN <<EOF\nnever terminated\n",
    "FROM a\nRUN cat <<EOF \\\n  && echo more\nbody\nEOF\n",
    // ONBUILD with a heredoc and other ONBUILD oddities.
    "FROM a\nONBUILD RUN <<EOF\necho\nEOF\nONBUILD ONBUILD RUN x\nONBUILD FROM b\nONBUILD\nonbuild copy . .\n",
    // The backtick escape, with continuations, and a backtick continuation without the directive.
    "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nRUN dir `\n  c:\\ `\n  && echo done\n\
     COPY C:\\a\\b D:\\c\\\n",
    "FROM a\nRUN echo `\n  no directive\n",
    "# escape=\\\n# escape=`\nFROM a\n",
    "# escape=x\nFROM a\n",
    // CRLF line endings, BOM, shebang.
    "FROM a\r\nRUN echo a \\\r\n  b\r\nENV X=1 \\\r\n    Y=2\r\n",
    "\u{feff}# syntax=docker/dockerfile:1\nFROM a\n",
    "#!/usr/bin/env docker\n# escape=`\nFROM a\n",
    "\u{feff}\u{feff}FROM a\n",
    // Exec forms: valid, invalid, odd escapes.
    "FROM a\nCMD [\"a\", \"b\\u00e9\\n\", \"\\ud83d\\ude80\"]\nENTRYPOINT [\"x\"]\nSHELL [\"powershell\", \"-c\"]\n",
    "FROM a\nCMD [\"a\", 'b']\nENTRYPOINT [a]\nRUN [\"a\",]\nCMD [\"a\" \"b\"]\nCMD []\nCMD [\"\\u0000\", \"\\x\"]\n",
    "FROM a\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c /d\nEXPOSE 80/tcp 443\nHEALTHCHECK NONE\n\
     HEALTHCHECK --interval=5s --timeout=3s CMD [\"curl\", \"-f\", \"x\"]\nHEALTHCHECK CMD curl -f x || exit 1\n\
     HEALTHCHECK CMD\nHEALTHCHECK FOO\n",
    // ENV and LABEL, legacy and new forms.
    "FROM a\nENV A b c\nENV A=b C=\"d e\" F=g\\ h I='j k'\nENV\nENV A\nENV =b\nENV A= B=\n\
     LABEL a=b \"c d\"=\"e f\" g\nLABEL x\n",
    // Unknown instructions and odd names.
    "FROM a\nFOO bar baz\nfrobnicate\nRUNN x\nrun lower\nRuN mixed\nMAINTAINER me <me@x>\n",
    // Flags with quotes and odd shapes.
    "FROM a\nCOPY --chown=\"a b\" --from='x' src dst\nRUN --mount=type=secret,id=\"a b\",target=/s x\n\
     ADD --checksum=sha256:0123 https://x/y /y\nCOPY --chmod=0755 --link=false --parents a b\n\
     RUN --network=none --security=insecure x\nCOPY -- a b\nCOPY --=x a b\nCOPY --from a b\n",
    // Expansions.
    "ARG A=1\nFROM ${BASE:-debian}:${TAG:+x}${A#b}${A%%*}${A/b/c}${A//b/c} AS s$A\n\
     RUN echo $$ ${A:?msg} ${A?} ${ ${} $ \\$A '$A' \"$A\"\nWORKDIR ${A:-${B:-${C}}}\nUSER ${A\n",
    // Continuations with comments and blank lines inside; escape at end of file.
    "FROM a\nRUN a \\\n# comment inside\n\n  b \\\n   \t\n  c\nRUN last \\",
    "FROM a\nRUN \\\n\\\n\\\n",
    // ARG forms and other single-argument instructions.
    "ARG a\nARG a=b c=d\nARG \"q=1\"\nFROM a\nUSER 1000:1000\nSTOPSIGNAL SIGTERM\nWORKDIR /a b\nSTOPSIGNAL\n",
    // Whitespace oddities: tabs, \v, \f, NBSP, NEL, ideographic space, empty instructions.
    "FROM\ta\nRUN\u{b}x\u{c}y\nRUN\u{a0}z\nRUN\u{85}w\nRUN\u{3000}v\nRUN\n  RUN indented\n\t\n",
    // Directive placement: after a comment, after an instruction, duplicated, unknown, misspelt.
    "# hello\n# syntax=x\nFROM a\n# escape=`\n",
    "# syntax=a\n# syntax=b\n# check=skip=all\n# Syntax = c\n# synta=d\nFROM a\n",
    // Empty, comment-only, whitespace-only.
    "",
    "# only a comment\n",
    " \n\t\n\r\n",
    // NUL and multi-byte characters.
    "FROM a\nRUN echo \0 x\nLABEL é=🚀 \"ключ\"=значение\nRUN echo 🚀 \\\n é\n",
];

/// Tokens the fuzzer inserts: the characters and words that change how lines are read.
pub const TRICKY_TOKENS: &[&str] = &[
    "\\\n",
    "`\n",
    "\\ \n",
    "\\\r\n",
    "<<EOF\n",
    "<<EOF",
    "<<-EOF",
    "<<\"EOF\"",
    "<<'EOF'",
    "3<<EOF",
    "EOF\n",
    "\tEOF\n",
    "${",
    "}",
    "${a:-",
    "$",
    "\"",
    "'",
    "[",
    "]",
    "[\"",
    "\", \"",
    "\"]",
    "\r\n",
    "\r",
    "\n",
    "\u{feff}",
    "# escape=",
    "# escape=`\n",
    "# escape=\\\n",
    "# syntax=",
    "#",
    "--mount=",
    "--from=",
    "--",
    "=",
    " ",
    "\t",
    "\0",
    "é",
    "🚀",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{fffd}",
    "RUN ",
    "ONBUILD ",
    "HEALTHCHECK CMD ",
    "ENV ",
    "COPY ",
    "FROM ",
    "\\",
    "`",
    "\\u0000",
    "\\ud800",
    ",",
    ":",
    "/",
];

/// The first word of a line, for keyword swaps.
pub const NAMES: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "run",
    "Copy",
    "FOO",
    "#",
];

/// Checks everything that must hold for any input: every span (found by walking the
/// tree and the diagnostics as the typed structs, and, with `generic`, also every
/// `{start, end}` object of their serde serialisation, so spans added later are
/// covered too) lies in `0..=text.len()`, on char boundaries, with `start <= end`;
/// line numbers are ordered; the BuildKit views and word expansion do not fail.
pub fn check(text: &str, parsed: &Parse, generic: bool) -> Result<(), String> {
    let file = &parsed.file;
    for (i, d) in parsed.diagnostics.iter().enumerate() {
        check_span(text, &d.span, || format!("diagnostic {i} ({})", d.code))?;
        for (j, (s, _)) in d.related.iter().enumerate() {
            check_span(text, s, || format!("diagnostic {i} ({}) related {j}", d.code))?;
        }
    }
    for (i, d) in file.directives.iter().enumerate() {
        check_span(text, &d.span, || format!("directive {i} span"))?;
        check_span(text, &d.name_span, || format!("directive {i} name_span"))?;
        check_span(text, &d.value_span, || format!("directive {i} value_span"))?;
    }
    for (i, c) in file.comments.iter().enumerate() {
        check_span(text, &c.span, || format!("comment {i}"))?;
    }
    for (i, inst) in file.instructions.iter().enumerate() {
        check_instruction(text, i, inst)?;
    }
    for (i, c) in buildkit::commands(file).iter().enumerate() {
        if c.start_line > c.end_line || c.start_line == 0 {
            return Err(format!(
                "buildkit command {i} ({}): start_line {} / end_line {}",
                c.cmd, c.start_line, c.end_line
            ));
        }
    }
    let _ = buildkit::dump(file);
    check_expansions(text, file)?;
    // serde walks the tree recursively: only for sanely nested trees.
    if generic && file.instructions.iter().all(|i| chain(i).nth(64).is_none()) {
        check_generic(text, parsed)?;
    }
    Ok(())
}

/// Checks one span; `what` describes it, built only on failure.
fn check_span(text: &str, span: &Span, what: impl FnOnce() -> String) -> Result<(), String> {
    let problem = if span.start > span.end {
        "has start > end".to_string()
    } else if span.end > text.len() {
        format!("ends past the text ({} bytes)", text.len())
    } else if !text.is_char_boundary(span.start) || !text.is_char_boundary(span.end) {
        "is not on char boundaries".to_string()
    } else {
        return Ok(());
    };
    Err(format!("{}: span {span:?} {problem}", what()))
}

/// The chain `inst`, its ONBUILD trigger, the trigger's trigger, ... (walked without
/// recursion: nesting depth is unbounded in the input).
fn chain(inst: &Instruction) -> impl Iterator<Item = &Instruction> {
    std::iter::successors(Some(inst), |i| match &i.args {
        Args::Onbuild(inner) => Some(inner.as_ref()),
        _ => None,
    })
}

/// Spans and line numbers of an instruction and of its ONBUILD triggers.
fn check_instruction(text: &str, i: usize, top: &Instruction) -> Result<(), String> {
    for (depth, inst) in chain(top).enumerate() {
        let what = |part: String| {
            let inner = if depth > 0 {
                format!(" onbuild inner depth {depth} ({})", inst.name)
            } else {
                String::new()
            };
            format!("instruction {i} ({}){inner} {part}", top.name)
        };
        if inst.start_line == 0 || inst.start_line > inst.end_line {
            return Err(what(format!(
                "start_line {} / end_line {}",
                inst.start_line, inst.end_line
            )));
        }
        check_span(text, &inst.span, || what("span".into()))?;
        check_span(text, &inst.name_span, || what("name_span".into()))?;
        for (j, f) in inst.flags.iter().enumerate() {
            check_span(text, &f.span, || what(format!("flag {j} span")))?;
            check_span(text, &f.name_span, || what(format!("flag {j} name_span")))?;
            if let Some(v) = &f.value_span {
                check_span(text, v, || what(format!("flag {j} value_span")))?;
            }
        }
        for (j, w) in inst.args.words().into_iter().enumerate() {
            check_span(text, &w.span, || what(format!("word {j}")))?;
        }
        for (j, h) in inst.heredocs.iter().enumerate() {
            check_span(text, &h.marker_span, || what(format!("heredoc {j} marker_span")))?;
            check_span(text, &h.content_span, || what(format!("heredoc {j} content_span")))?;
            check_span(text, &h.terminator_span, || {
                what(format!("heredoc {j} terminator_span"))
            })?;
        }
    }
    Ok(())
}

/// Expands every word (as a build would) and checks the spans of expansion errors.
fn check_expansions(text: &str, file: &Dockerfile) -> Result<(), String> {
    for (i, top) in file.instructions.iter().enumerate() {
        for (depth, inst) in chain(top).enumerate() {
            // JSON words are decoded strings: a build does not expand them, but the lexer must cope anyway.
            for (j, w) in inst.args.words().into_iter().enumerate() {
                if let Err(d) = slipway_parser::expand(text, w, file.escape, &slipway_parser::shell::NoEnv) {
                    let what = || format!("instruction {i} ({}) depth {depth} word {j} expansion error", top.name);
                    check_span(text, &d.span, what)?;
                    for (k, (s, _)) in d.related.iter().enumerate() {
                        check_span(text, s, || format!("{} related {k}", what()))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Every `{"start": n, "end": m}` object in the serialised tree and diagnostics.
fn check_generic(text: &str, parsed: &Parse) -> Result<(), String> {
    fn walk(text: &str, path: &mut Vec<String>, v: &serde_json::Value) -> Result<(), String> {
        match v {
            serde_json::Value::Object(o) => {
                if o.len() == 2 {
                    if let (Some(s), Some(e)) = (o.get("start"), o.get("end")) {
                        if let (Some(s), Some(e)) = (s.as_u64(), e.as_u64()) {
                            return check_span(text, &(s as usize..e as usize), || path.join("."));
                        }
                    }
                }
                for (k, v) in o {
                    path.push(k.clone());
                    walk(text, path, v)?;
                    path.pop();
                }
            }
            serde_json::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(i.to_string());
                    walk(text, path, v)?;
                    path.pop();
                }
            }
            _ => {}
        }
        Ok(())
    }
    let tree = serde_json::to_value(&parsed.file).map_err(|e| format!("tree does not serialise: {e}"))?;
    let diags = serde_json::to_value(&parsed.diagnostics).map_err(|e| format!("diagnostics do not serialise: {e}"))?;
    walk(text, &mut vec!["file".into()], &tree)?;
    walk(text, &mut vec!["diagnostics".into()], &diags)
}

/// The repository root (the parent of the parser crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/corpus/files` beside the repository, if it is there.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/corpus/files");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

/// Every file under `dir` (recursively, sorted, at most `max_bytes` each), read as
/// UTF-8 with invalid bytes replaced. An absent directory gives nothing.
pub fn read_tree(dir: &Path, max_bytes: u64) -> Vec<(PathBuf, String)> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() && e.metadata().is_ok_and(|m| m.len() <= max_bytes) => paths.push(p),
                _ => {}
            }
        }
    }
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            std::fs::read(&p)
                .ok()
                .map(|b| (p, String::from_utf8_lossy(&b).into_owned()))
        })
        .collect()
}

/// The repository's own Dockerfiles: `tests/fixtures/**` and `examples/**/Dockerfile`.
pub fn repo_dockerfiles() -> Vec<(PathBuf, String)> {
    let root = repo_root();
    let mut v = read_tree(&root.join("tests/fixtures"), 1 << 20);
    v.retain(|(p, _)| is_dockerfile_name(p));
    let mut ex = read_tree(&root.join("examples"), 1 << 20);
    ex.retain(|(p, _)| is_dockerfile_name(p));
    v.extend(ex);
    v
}

fn is_dockerfile_name(p: &Path) -> bool {
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    name.contains("dockerfile") || name.contains("containerfile")
}

/// A realistic multi-stage Dockerfile, stages repeated (and renamed) until it has
/// at least `target` bytes.
pub fn realistic(target: usize) -> String {
    let mut out = String::from("# syntax=docker/dockerfile:1.7\nARG DEBIAN=bookworm\nARG GO_VERSION=1.22\n\n");
    let mut i = 0;
    while out.len() < target {
        out.push_str(&format!(
            r#"# ---- stage {i}: build ----
FROM --platform=$BUILDPLATFORM golang:${{GO_VERSION}}-${{DEBIAN}} AS build{i}
ARG TARGETOS TARGETARCH
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOFLAGS="-trimpath -mod=readonly" \
    GOCACHE=/root/.cache/go-build
COPY --link go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go mod download && \
    # keep the module cache warm
    go mod verify
COPY --link . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags="-s -w" -o /out/app{i} ./cmd/app
RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends ca-certificates tzdata
rm -rf /var/lib/apt/lists/*
EOF

FROM debian:${{DEBIAN}}-slim AS runtime{i}
LABEL org.opencontainers.image.title="app{i}" \
      org.opencontainers.image.source="https://example.com/app" \
      maintainer="Example <dev@example.com>"
RUN groupadd -r app && useradd -r -g app -d /home/app -s /sbin/nologin app
COPY --from=build{i} --chown=app:app --chmod=0755 /out/app{i} /usr/local/bin/app
COPY <<-"CONF" /etc/app/config.toml
	listen = "0.0.0.0:8080"
	log = "info"
	CONF
ENV PATH=/usr/local/bin:$PATH APP_ENV=production
EXPOSE 8080/tcp
VOLUME ["/var/lib/app"]
USER app
WORKDIR /home/app
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["/usr/local/bin/app", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["serve", "--config", "/etc/app/config.toml"]

"#
        ));
        i += 1;
    }
    out
}

/// `unit` repeated until the result has at least `n` bytes (prefix + repeats + suffix).
fn repeat_to(prefix: &str, unit: &str, suffix: &str, n: usize) -> String {
    let count = n
        .saturating_sub(prefix.len() + suffix.len())
        .div_ceil(unit.len().max(1));
    let mut s = String::with_capacity(prefix.len() + unit.len() * count + suffix.len());
    s.push_str(prefix);
    for _ in 0..count {
        s.push_str(unit);
    }
    s.push_str(suffix);
    s
}

/// Like [`repeat_to`], with a counter in each unit (`{}` is replaced by it).
fn repeat_numbered(prefix: &str, unit: &str, suffix: &str, n: usize) -> String {
    let mut s = String::with_capacity(n + 64);
    s.push_str(prefix);
    let mut i = 0usize;
    while s.len() + suffix.len() < n {
        s.push_str(&unit.replace("{}", &i.to_string()));
        i += 1;
    }
    s.push_str(suffix);
    s
}

/// An input generator for the scaling check: `n` is the target size in bytes.
pub type Shape = fn(usize) -> String;

/// Pathological input shapes whose parse time must grow linearly with their size.
pub const SHAPES: &[(&str, Shape)] = &[
    ("realistic", realistic),
    ("instructions under one comment", |n| {
        repeat_to("# top\nFROM a\n", "RUN a\n", "", n)
    }),
    ("giant line of a", |n| repeat_to("FROM a\nRUN ", "a", "\n", n)),
    ("giant line no newline", |n| repeat_to("FROM a\nRUN ", "a", "", n)),
    ("backslash continuations", |n| {
        repeat_to("FROM a\nRUN x \\\n", "a \\\n", "b\n", n)
    }),
    ("bare backslash lines", |n| repeat_to("FROM a\nRUN \\\n", "\\\n", "", n)),
    ("continuations + comments", |n| {
        repeat_to("FROM a\nRUN x \\\n", "# c\n\n", "b\n", n)
    }),
    ("backtick continuations", |n| {
        repeat_to("# escape=`\nFROM a\nRUN x `\n", "a `\n", "b\n", n)
    }),
    ("heredoc markers one line", |n| {
        repeat_to("FROM a\nRUN ", "<<EOF ", "\n", n)
    }),
    ("heredoc markers numbered", |n| {
        repeat_numbered("FROM a\nRUN ", "<<E{} ", "\nbody\n", n)
    }),
    ("heredoc markers per cont. line", |n| {
        repeat_numbered("FROM a\nRUN ", "<<E{} \\\n", "x\n", n)
    }),
    ("unterminated heredoc per line", |n| {
        repeat_to("FROM a\n", "RUN <<EOF\n", "", n)
    }),
    ("terminated heredocs", |n| {
        repeat_to("FROM a\n", "RUN <<EOF\necho\nEOF\n", "", n)
    }),
    ("heredoc body lines", |n| {
        repeat_to("FROM a\nRUN <<EOF\n", "echo hello world\n", "EOF\n", n)
    }),
    ("nested [[[[ exec", |n| repeat_to("FROM a\nCMD ", "[", "\n", n)),
    ("nested [[[[ per line", |n| {
        repeat_to("FROM a\n", "CMD [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n", "", n)
    }),
    ("json array of strings", |n| {
        repeat_to("FROM a\nCMD [\"a\"", ", \"a\"", "]\n", n)
    }),
    ("${${${ in RUN", |n| repeat_to("FROM a\nRUN echo ", "${", "\n", n)),
    ("${${${ in FROM", |n| repeat_to("FROM ", "${", "\n", n)),
    ("${${${ per line", |n| {
        repeat_to(
            "FROM a\n",
            "WORKDIR ${${${${${${${${${${${${${${${${${${${${${${${${\n",
            "",
            n,
        )
    }),
    ("${a:-${a:-... per line", |n| {
        repeat_to("FROM a\n", "ENV A=${a:-${a:-${a:-${a:-${a:-${a:-${a:-x}}}}}}}\n", "", n)
    }),
    ("# comment lines", |n| {
        repeat_to("FROM a\n", "# comment\n", "RUN x\n", n)
    }),
    ("directive-like lines", |n| repeat_to("", "# escape=`\n", "FROM a\n", n)),
    ("ENV 50k k=v one line", |n| {
        repeat_numbered("FROM a\nENV ", "k{}=v ", "\n", n)
    }),
    ("ENV k=v continuations", |n| {
        repeat_numbered("FROM a\nENV ", "k{}=v \\\n", "z=1\n", n)
    }),
    ("LABEL quoted pairs", |n| {
        repeat_numbered("FROM a\nLABEL ", "\"k{}\"=\"v v\" \\\n", "z=1\n", n)
    }),
    ("unterminated quotes", |n| repeat_to("FROM a\nRUN ", "\"a 'b ", "\n", n)),
    ("unterminated quotes per line", |n| {
        repeat_to("FROM a\n", "ENV a=\"b c\nLABEL x='y\n", "", n)
    }),
    ("many flags", |n| {
        repeat_to("FROM a\nCOPY ", "--from=\"x y\" ", "a b\n", n)
    }),
    ("many mounts", |n| {
        repeat_to("FROM a\nRUN ", "--mount=type=cache,target=/a,id=\"x\" ", "x\n", n)
    }),
    ("many instructions", |n| {
        repeat_numbered("FROM a\n", "RUN echo {}\n", "", n)
    }),
    ("many stages", |n| repeat_numbered("", "FROM a AS s{}\n", "", n)),
    ("unknown instruction lines", |n| repeat_to("FROM a\n", "x\n", "", n)),
    ("misspelt instruction lines", |n| {
        repeat_to("FROM a\n", "RUNN x\n", "", n)
    }),
    ("lone escape lines (backtick)", |n| repeat_to("FROM a\n", "`\n", "", n)),
    ("onbuild chain", |n| {
        repeat_to("FROM a\n", "ONBUILD ONBUILD ONBUILD RUN x\n", "", n)
    }),
    ("CRLF lines", |n| repeat_to("FROM a\r\n", "RUN a \\\r\n", "b\r\n", n)),
    ("escaped escapes", |n| repeat_to("FROM a\nRUN ", "\\\\", "\n", n)),
    ("multi-byte chars", |n| repeat_to("FROM a\nRUN ", "é🚀", "\n", n)),
    ("NUL bytes", |n| repeat_to("FROM a\nRUN ", "\0", "\n", n)),
    ("empty lines", |n| repeat_to("FROM a\n", "\n", "", n)),
    ("whitespace lines", |n| repeat_to("FROM a\n", " \t\u{a0}\n", "", n)),
];

/// Small stages built on one another, so that an edit of one stage's variables, user,
/// shell or working directory reaches the stages after it; with forward `--from`
/// references, a repeated stage name, mixed instruction case and findings in every stage
/// (for the incremental analysis's tests).
pub fn chained(stages: usize) -> String {
    let mut out = String::from("# syntax=docker/dockerfile:1\nARG BASE=debian:bookworm\nARG TAG\n");
    for i in 0..stages {
        let base = match i {
            0 => "${BASE}".to_string(),
            _ if i % 3 == 0 => "alpine:${TAG:-3}".to_string(),
            _ => format!("s{}", i / 2),
        };
        let name = if i == stages - 1 {
            "s1".to_string()
        } else {
            format!("s{i}")
        };
        out.push_str(&format!(
            "FROM {base} AS {name}\n\
             ARG V{i}=1 TAG\n\
             ENV P{i}=$V{i} HOME=/h{i} PATH=/b{i}:$PATH\n\
             {workdir} $HOME/w\n\
             USER {user}\n\
             {shell}\
             RUN apt-get update && apt-get install -y curl$P{i} && cd /x\n\
             run echo $UNDEFINED{i} $P{prev} $HOME\n\
             COPY --from=s{next} /a /b\n\
             CMD [\"a\"]\n\
             CMD b\n\n",
            workdir = if i % 2 == 0 { "WORKDIR" } else { "workdir" },
            user = if i % 2 == 0 { "root" } else { "app" },
            shell = if i % 4 == 1 {
                "SHELL [\"/bin/bash\", \"-c\"]\n"
            } else {
                ""
            },
            prev = i.saturating_sub(1),
            next = i + 1,
        ));
        if i == 2 {
            out.push_str("RUN echo 'APT::Install-Recommends \"false\";' > /etc/apt/apt.conf.d/no\n");
        }
    }
    out
}
