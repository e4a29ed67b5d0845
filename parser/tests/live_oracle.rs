//! Differential test against the live BuildKit parser (PyPI `dockerfile`,
//! BuildKit v0.12.5) on edge cases and generated Dockerfiles. Runs when a
//! Python with that package is found (`SLIPWAY_ORACLE_PYTHON`, else `python3`);
//! otherwise prints a note and passes.
//!
//! One deliberate difference: BuildKit ≥ 0.13 treats `CMD ["a"] b` (JSON
//! followed by more text) as shell form, v0.12.5 as JSON; we follow current
//! BuildKit, so such inputs are counted, not compared. Likewise v0.12.5
//! does not know the `# check=` directive, which ends its directive block,
//! so an `# escape=` after it is ignored there but honoured today.

mod oracle;

use serde_json::Value;
use std::process::Command;

fn oracle_python() -> Option<String> {
    let candidates = [
        std::env::var("SLIPWAY_ORACLE_PYTHON").ok(),
        Some(format!("{}/../.ci/oracle/bin/python", env!("CARGO_MANIFEST_DIR"))),
        Some("python3".into()),
    ];
    for py in candidates.into_iter().flatten() {
        let ok = Command::new(&py)
            .args(["-c", "import dockerfile"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py);
        }
    }
    eprintln!(
        "note: no Python with the `dockerfile` package (pip install dockerfile==3.4.0); skipping the live oracle test"
    );
    None
}

const ORACLE: &str = r#"
import dockerfile, json, sys
out = []
for path in sys.argv[1:]:
    try:
        cmds = dockerfile.parse_file(path)
        out.append([dict(c._asdict(), heredocs=[h._asdict() for h in c.heredocs]) for c in cmds])
    except dockerfile.GoParseError as e:
        out.append({"error": str(e)})
print(json.dumps(out))
"#;

/// Hand-picked edge cases.
const EDGE_CASES: &[&str] = &[
    "FROM a\nRUN echo \\\n  # comment inside\n\n  done\n",
    "# escape=`\nFROM a\nRUN dir `\n  c:\\\n",
    "\u{feff}FROM a\r\nRUN x \\\r\n y\r\n",
    "FROM a\nRUN <<EOF cat\nline\nEOF\n",
    "FROM a\nRUN <<-\"EOF\"\n\tx\n\tEOF\n",
    "FROM a\nRUN 3<<EOF <<EOT\na\nEOF\nb\nEOT\n",
    "FROM a\nCOPY <<EOF /x\nhi \\\nEOF\n",
    "FROM a\nONBUILD RUN <<EOF\nx\nEOF\n",
    "FROM a\nCMD [\"a\", \"b\\u00e9\"]\n",
    "FROM a\nCMD ['a']\n",
    "FROM a\nCMD [\"a\"\n",
    "FROM a\nENV a b c\nENV d=\"e f\" g=h\\ i\n",
    "FROM a\nLABEL \"x y\"=z\n",
    "FROM a\nCOPY --chown=\"a b\" --from='c' x y\n",
    "FROM a\nCOPY -- --x y\n",
    "FROM a\nRUN --mount=type=cache,target=/x --network=none make\n",
    "FROM a\nHEALTHCHECK --retries=3 CMD [\"x\"]\n",
    "FROM a\nHEALTHCHECK NONE\n",
    "FROM a\nfoo bar baz\n",
    "FROM a\nRUN x \\",
    "FROM a\nRUN x \\\\\nRUN y\n",
    "# syntax=x\n# escape=\\\nFROM a\n",
    "# escape=`\n# escape=\\\nFROM a\n",
    "FROM a\nENV x\n",
    "FROM a\nCMD [1]\n",
    "# only comments\n",
    "",
    "FROM a\nRUN <<EOF\nnever\n",
    "FROM a\nARG a=\"b c\" d\n",
    "FROM a\nEXPOSE 80/tcp\t443\n",
    "FROM a\nVOLUME [\"/a\", \"/b\"]\n",
    "FROM a\nUSER  root:root  \n",
    "FROM a\nRUN [ \"a\" , \"b\" ]  \n",
    "FROM a\nONBUILD\n",
    "FROM a\nONBUILD ONBUILD x\n",
    "FROM a\n  RUN   indented\n",
    "FROM a\nRUN a \\ \t\nb\n",
    "FROM a\nRUN a\\\\\\\nb\n",
    "FROM a\nRUN echo é 한국어 🚀\n",
    "FROM a\nRUN <<\"E O F\"\nx\nE O F\n",
    "FROM a\nRUN <<'EOF'\n$x\nEOF\n",
    "FROM a\nADD <<EOF <<EOF2 /dest/\na\nEOF\nb\nEOF2\n",
    "FROM a\nCMD [\"a\"] b\n",
    "FROM a\nCOPY --chown=josé:à x y\nCOPY --from=ü\u{85}z a b\n",
    "FROM a\nRUN --mount=target=/é true\n",
];

/// A tiny deterministic PRNG (xorshift) for generated files.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const LINES: &[&str] = &[
    "FROM alpine:3.20 AS base",
    "FROM --platform=$BUILDPLATFORM golang:1.22",
    "RUN apk add --no-cache curl",
    "RUN set -e; \\\n    make; \\\n    make install",
    "RUN [\"/bin/sh\", \"-c\", \"echo hi\"]",
    "RUN --mount=type=cache,target=/root/.cache go build ./...",
    "RUN <<EOF\nset -e\necho \"$HOME\"\nEOF",
    "RUN <<-EOT bash\n\techo tabbed\n\tEOT",
    "COPY --from=base /a /b",
    "COPY --chmod=0755 --link a b c/",
    "COPY <<EOF /etc/x.conf\nkey=value\nEOF",
    "ADD https://example.com/a.tgz /tmp/",
    "ENV A=1 B=\"two words\" C=three\\ four",
    "ENV LEGACY value with spaces",
    "LABEL org.opencontainers.image.title=\"x\" version=1",
    "ARG V=1",
    "ARG A B=c",
    "WORKDIR /app",
    "USER nobody",
    "EXPOSE 8080 9090/udp",
    "VOLUME /data",
    "HEALTHCHECK --interval=30s CMD curl -f http://localhost/ || exit 1",
    "ONBUILD COPY . /src",
    "ONBUILD RUN make",
    "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]",
    "STOPSIGNAL SIGTERM",
    "MAINTAINER someone",
    "CMD [\"redis-server\"]",
    "CMD echo \"not json\"",
    "ENTRYPOINT [\"tini\", \"--\"]",
    "# a comment",
    "",
    "RUN echo a \\\n    # comment in continuation\n    && echo b",
    "RUN echo a \\\n\n    && echo b",
    "unknowninstruction arg",
    "CMD ['single', 'quoted']",
];

fn generated(n: usize) -> Vec<String> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    (0..n)
        .map(|_| {
            let mut s = String::new();
            if rng.next().is_multiple_of(10) {
                s.push_str("# syntax=docker/dockerfile:1\n");
            }
            let crlf = rng.next().is_multiple_of(8);
            let count = 1 + rng.next() % 12;
            for _ in 0..count {
                let line = rng.pick(LINES);
                let line = if crlf {
                    line.replace('\n', "\r\n")
                } else {
                    line.to_string()
                };
                s.push_str(&line);
                s.push_str(if crlf { "\r\n" } else { "\n" });
            }
            s
        })
        .collect()
}

/// JSON form followed by more text: v0.12.5 and current BuildKit disagree.
fn json_with_trailing_text(oracle: &Value) -> bool {
    oracle.as_array().is_some_and(|cmds| {
        cmds.iter().any(|c| {
            c["json"] == true
                && c["original"].as_str().is_some_and(|o| {
                    o.trim_end()
                        .rsplit_once(']')
                        .is_some_and(|(_, rest)| !rest.trim().is_empty())
                })
        })
    })
}

/// `# check=...` then `# escape=...` in the leading directive block.
fn escape_after_check_directive(text: &str) -> bool {
    let leading: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    let check = leading.iter().position(|l| l.replace(' ', "").starts_with("#check="));
    let escape = leading.iter().position(|l| l.replace(' ', "").starts_with("#escape="));
    matches!((check, escape), (Some(c), Some(e)) if c < e)
}

#[test]
fn live_oracle_agrees_on_edge_cases_and_generated_files() {
    let Some(py) = oracle_python() else { return };
    let dir = std::env::temp_dir().join(format!("slipway-live-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut inputs: Vec<String> = EDGE_CASES.iter().map(|s| s.to_string()).collect();
    // The project's own feature fixtures.
    let features = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/features");
    let mut fixture_paths: Vec<_> = std::fs::read_dir(&features)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fixture_paths.sort();
    inputs.extend(
        fixture_paths
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()),
    );
    inputs.extend(generated(400));
    let paths: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let p = dir.join(format!("{i}.Dockerfile"));
            std::fs::write(&p, text).unwrap();
            p.to_str().unwrap().to_string()
        })
        .collect();
    let out = Command::new(&py).arg("-c").arg(ORACLE).args(&paths).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let (mut compared, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    for (text, oracle) in inputs.iter().zip(&results) {
        if json_with_trailing_text(oracle) || escape_after_check_directive(text) {
            skipped += 1;
            continue;
        }
        compared += 1;
        let parsed = slipway_parser::parse(text);
        let ours = oracle::view(text);
        // Rejections must agree; the messages may differ between BuildKit versions.
        let ok = if oracle.get("error").is_some() {
            ours.get("error").is_some()
        } else {
            &ours == oracle
        };
        if !ok {
            failures.push(format!(
                "input {text:?}\n  oracle {oracle}\n  ours rejected={} {:?}",
                parsed.rejected(),
                slipway_parser::buildkit::commands(&parsed.file)
            ));
        }
    }
    eprintln!("live oracle: {compared} inputs compared, {skipped} skipped (JSON followed by text, or `check` before `escape`)");
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
