#!/usr/bin/env python3
"""Combines the measurements of bench/parse_vs_buildkit.sh into a table, prints it and
writes it as the "## Parser throughput vs BuildKit" section of bench/RESULTS.md.

usage: parse_vs_buildkit_report.py SLIPWAY_OUT BUILDKIT_OUT CLI_SECONDS CLI_METHOD ROUNDS RESULTS_MD
"""
import datetime
import os
import re
import sys


def records(path):
    out = []
    with open(path) as f:
        for line in f:
            kind, _, rest = line.strip().partition(" ")
            if kind not in ("corpus", "synth"):
                continue
            fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', rest))
            out.append((kind, {k: v.strip('"') for k, v in fields.items()}))
    return out


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    sw_path, bk_path, cli_secs, cli_method, rounds, results = sys.argv[1:7]
    sw = records(sw_path)
    bk = records(bk_path)
    sw_corpus = next(r for k, r in sw if k == "corpus")
    bk_corpus = next(r for k, r in bk if k == "corpus")
    sw_synth = [r for k, r in sw if k == "synth"]
    bk_synth = [r for k, r in bk if k == "synth"]

    def t(secs):
        return f"{secs * 1e3:.2f} ms" if secs < 0.1 else f"{secs:.3f} s"

    def row(label, files, sw_r, bk_r):
        nbytes = int(sw_r["bytes"])
        mb = nbytes / 1e6
        b, p, v = float(bk_r["parse_s"]), float(sw_r["parse_s"]), float(sw_r["view_s"])
        return (f"| {label} | {nbytes:,} | {files} | {t(b)} | {mb / b:.1f} | {t(p)} | {mb / p:.1f} "
                f"| **{b / p:.1f}x** | {t(v)} | {b / v:.1f}x |"), b / p

    lines = [
        "| input | bytes | files | BuildKit | BuildKit MB/s | slipway parse | slipway MB/s | speed-up "
        "| slipway parse + BuildKit JSON view | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    files = int(sw_corpus["files"])
    r, corpus_speedup = row("corpus", files, sw_corpus, bk_corpus)
    lines.append(r)
    speedups = [corpus_speedup]
    for s, b in zip(sw_synth, bk_synth):
        r, x = row(f"generated {int(s['size']) // 1024} KiB", 1, s, b)
        lines.append(r)
        speedups.append(x)

    # Linearity: time per byte at the largest size relative to the smallest.
    def per_byte(r):
        return float(r["parse_s"]) / int(r["bytes"])

    sw_lin = per_byte(sw_synth[-1]) / per_byte(sw_synth[0])
    bk_lin = per_byte(bk_synth[-1]) / per_byte(bk_synth[0])
    cli = float(cli_secs)
    mb = int(sw_corpus["bytes"]) / 1e6
    goal_speed = min(speedups) >= 5
    goal_linear = sw_lin < 1.5

    machine = f"{os.cpu_count()} CPUs (nproc), {cpu_model()}"
    section = "\n".join([
        "## Parser throughput vs BuildKit",
        "",
        f"Measured {datetime.date.today().isoformat()} on {machine}.",
        "BuildKit's parser is PyPI `dockerfile` 3.4.0 (BuildKit v0.12.5's Go parser), timed inside Python with",
        "`time.perf_counter` around `dockerfile.parse_string` for every file; slipway is timed inside Rust",
        f"(`parser/examples/parse_corpus.rs`). Both read every file first and report the best of {rounds} rounds;",
        "process start-up is excluded. The generated inputs are a realistic multi-stage Dockerfile repeated",
        "to size (`realistic()` in `parser/tests/support/mod.rs`).",
        "",
        "Reproduce: `bench/parse_vs_buildkit.sh` (`ROUNDS=N` to change the rounds).",
        "",
        *lines,
        "",
        f"Linearity, time per byte at 1 MiB relative to 64 KiB (1.0 = linear): slipway {sw_lin:.2f}, BuildKit {bk_lin:.2f}.",
        "",
        f"End to end, for information: `slipway parse --format buildkit-json` over all {files} corpus files "
        f"({cli_method}) takes {cli:.3f} s ({mb / cli:.1f} MB/s), process start-up, JSON output and "
        "diagnostic rendering included.",
        "",
        f"Goals: at least 5x faster than BuildKit's parser on every input: "
        f"{'**met**' if goal_speed else '**NOT met**'} (lowest {min(speedups):.1f}x); "
        f"linear in input size: {'**met**' if goal_linear else '**NOT met**'} ({sw_lin:.2f}).",
        "",
    ])
    print(section)
    old = open(results).read() if os.path.exists(results) else "# Benchmark results\n"
    start = old.find("## Parser throughput vs BuildKit")
    if start >= 0:
        end = old.find("\n## ", start + 1)
        old = old[:start].rstrip() + ("\n\n" + old[end + 1:] if end >= 0 else "")
    with open(results, "w") as f:
        f.write(old.rstrip() + "\n\n" + section)
    return 0 if goal_speed and goal_linear else 1


if __name__ == "__main__":
    sys.exit(main())
