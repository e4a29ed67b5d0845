#!/usr/bin/env python3
"""The CLI over many files against BuildKit's parser, and one small file against the process
start floor, side by side in one run (bench/RESULTS.md, issue 19 item 2).

usage: bench/cli_speed.py [--runs N] [--write-results]

- BuildKit's parser (PyPI `dockerfile` 3.4.0, BuildKit v0.12.5's Go parser) in process over
  the shared corpus, best of N rounds (bench/buildkit_parse_time.py): the peer.
- `slipway parse --format buildkit-json FILES...` and `slipway check --no-shellcheck
  --format json FILES...` over the same files, whole processes (hyperfine -N, min of N).
- `slipway check --no-shellcheck` of one small Dockerfile against the floor: a Rust binary
  whose main does nothing, built by the same rustc with the same profile settings.
Prints the table; `--write-results` puts it into bench/RESULTS.md between the
`<!-- cli_speed -->` markers. Goals: 15x BuildKit for both corpus commands, under 2x the floor.
"""
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLIPWAY = os.path.join(ROOT, "target/release/slipway")


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def oracle_python():
    for candidate in (".ci/oracle/bin/python", "/tmp/oracle/bin/python"):
        path = os.path.join(ROOT, candidate)
        if os.access(path, os.X_OK) and subprocess.run([path, "-c", "import dockerfile"]).returncode == 0:
            return path
    print("installing BuildKit's parser (PyPI dockerfile==3.4.0) into /tmp/oracle", file=sys.stderr)
    sh("python3", "-m", "venv", "/tmp/oracle")
    sh("/tmp/oracle/bin/pip", "install", "-q", "dockerfile==3.4.0")
    return "/tmp/oracle/bin/python"


def hyperfine(runs, commands, tmp):
    """Min seconds of each command (argv lists), measured in one hyperfine run."""
    out = os.path.join(tmp, "h.json")
    args = ["hyperfine", "-N", "-i", "--warmup", "3", "--runs", str(runs), "--export-json", out]
    args += [" ".join(c) for c in commands]
    subprocess.run(args, check=True, cwd=ROOT, stdout=sys.stderr)
    return [min(r["times"]) for r in json.load(open(out))["results"]]


def floor_binary(tmp):
    """`fn main() {}` built like our release binary (opt-level 3, PIE by default)."""
    src = os.path.join(tmp, "floor.rs")
    with open(src, "w") as f:
        f.write("fn main() {}\n")
    exe = os.path.join(tmp, "floor")
    sh("rustc", "-C", "opt-level=3", "-o", exe, src)
    return exe


def corpus_line(text):
    """The `key=value` words of the `corpus ...` line both timers print."""
    line = next(l for l in text.splitlines() if l.startswith("corpus "))
    return dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)


def machine():
    cpu = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    load = open("/proc/loadavg").read().split()[0]
    return f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, load {load} at the start"


def main():
    runs = 10
    write = "--write-results" in sys.argv
    if "--runs" in sys.argv:
        runs = int(sys.argv[sys.argv.index("--runs") + 1])
    corpus = os.path.join(ROOT, "../shared/corpus/files")
    if not os.path.isdir(corpus):
        print(f"note: {corpus} is absent: nothing to measure", file=sys.stderr)
        return 0
    where = machine()
    sh("cargo", "build", "--release", "--locked", "-q", "--bin", "slipway")
    sh("cargo", "build", "--release", "--locked", "-q", "-p", "slipway-parser", "--example", "parse_corpus")
    py = oracle_python()
    with tempfile.TemporaryDirectory() as tmp:
        listing = os.path.join(tmp, "files.txt")
        lib = subprocess.run(
            ["target/release/examples/parse_corpus", "--rounds", str(runs), "--write-list", listing],
            check=True, cwd=ROOT, capture_output=True, text=True,
        ).stdout
        files = [l for l in open(listing).read().splitlines() if l]
        bk = subprocess.run([py, "bench/buildkit_parse_time.py", str(runs), listing],
                            check=True, cwd=ROOT, capture_output=True, text=True).stdout
        buildkit = float(corpus_line(bk)["parse_s"])
        lib_values = corpus_line(lib)
        # All paths in one process, as parse_vs_buildkit.sh runs it: one argument string
        # for hyperfine would pass the kernel's limit, so xargs reads them (one exec more).
        def over_corpus(*args):
            script = os.path.join(tmp, f"cmd{len(os.listdir(tmp))}.sh")
            with open(script, "w") as f:
                f.write(f"#!/bin/sh\nexec xargs -d '\\n' {SLIPWAY} {' '.join(args)} < '{listing}'\n")
            os.chmod(script, 0o755)
            return [script]
        small = "examples/redis/Dockerfile"
        floor = floor_binary(tmp)
        parse, check, one, nothing = hyperfine(runs, [
            over_corpus("parse", "--format", "buildkit-json"),
            over_corpus("check", "--no-shellcheck", "--format", "json"),
            [SLIPWAY, "check", "--no-shellcheck", small],
            [floor],
        ], tmp)
    size = sum(os.path.getsize(os.path.join(ROOT, f)) for f in files)
    ms = lambda s: f"{s * 1000:.1f} ms"
    rows = [
        f"Measured by `bench/cli_speed.py --runs {runs}` on {where}; {len(files)} corpus files, "
        f"{size / 1e6:.1f} MB; whole processes by hyperfine -N (min of {runs}), BuildKit's parser "
        f"in process (best of {runs}, start-up and reading excluded): {ms(buildkit)}.",
        "",
        "| command | slipway | peer or floor | ratio | goal |",
        "|---|---:|---:|---:|---|",
        f"| `parse --format buildkit-json` over the corpus | {ms(parse)} | BuildKit {ms(buildkit)} "
        f"| **{buildkit / parse:.1f}x** faster | 15x: {'met' if buildkit / parse >= 15 else 'not met'} |",
        f"| `check --no-shellcheck --format json` over the corpus | {ms(check)} | BuildKit {ms(buildkit)} "
        f"| **{buildkit / check:.1f}x** faster | 15x: {'met' if buildkit / check >= 15 else 'not met'} |",
        f"| `check --no-shellcheck` of `{small}` | {ms(one)} | `fn main() {{}}` {ms(nothing)} "
        f"| **{one / nothing:.2f}x** the floor | under 2x: {'met' if one / nothing < 2 else 'not met'} |",
    ]
    rows.append("")
    rows.append(f"For reference, slipway's parser in process over the same files (one thread): "
                f"{ms(float(lib_values['parse_s']))}, with the BuildKit JSON view "
                f"{ms(float(lib_values['view_s']))} (`parser/examples/parse_corpus`).")
    table = "\n".join(rows)
    print(table)
    if write:
        path = os.path.join(ROOT, "bench/RESULTS.md")
        text = open(path).read()
        block = f"<!-- cli_speed -->\n{table}\n<!-- /cli_speed -->"
        if "<!-- cli_speed -->" in text:
            text = re.sub(r"<!-- cli_speed -->.*?<!-- /cli_speed -->", lambda _: block, text, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        open(path, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
