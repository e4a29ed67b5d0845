#!/usr/bin/env python3
"""slipway's parser vs BuildKit's (PyPI `dockerfile`, BuildKit v0.12.5's Go parser),
side by side on the same files in one run. Both are timed in-process (best of N
rounds), so interpreter and process start-up are excluded.

usage: bench/compare_parse.py [ROUNDS]   (run from the repository root)
"""
import glob, json, os, platform, subprocess, sys, time, datetime

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "..", "shared", "corpus", "files")
files = sorted(glob.glob(os.path.join(corpus, "*", "*")))
if not files:
    files = sorted(glob.glob(os.path.join(root, "tests", "fixtures", "*", "*.Dockerfile")))
    print("note: ../shared/corpus is absent; using the project's fixtures", file=sys.stderr)

import dockerfile  # BuildKit's parser

texts = [open(f, "rb").read().decode("utf-8", "replace") for f in files]
nbytes = sum(len(t.encode()) for t in texts)

def buildkit_round():
    t = time.perf_counter()
    for text in texts:
        try:
            dockerfile.parse_string(text)
        except dockerfile.GoParseError:
            pass
    return time.perf_counter() - t

bk = min(buildkit_round() for _ in range(rounds))
exe = os.path.join(root, "target", "release", "examples", "throughput")
out = subprocess.run([exe] + files, capture_output=True, text=True, env=dict(os.environ, ROUNDS=str(rounds)), check=True)
sw = json.loads(out.stdout)

# BuildKit on the same synthetic scaling inputs.
unit = ("FROM alpine:3.20 AS build\nARG V=1\nRUN --mount=type=cache,target=/root/.cache \\\n    apk add --no-cache curl && \\\n"
        "    echo \"${V:-none}\"\nCOPY --from=build --chmod=0755 /out /app\nRUN <<EOF\nset -e\nmake\nEOF\n"
        "ENV A=1 B=\"two words\"\nCMD [\"/app\", \"--serve\"]\n")
bk_scaling = []
for size, _ in sw["scaling"]:
    text = unit * (size // len(unit))
    text = unit * (size // len(unit) + (1 if len(text) < size else 0))
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter(); dockerfile.parse_string(text); best = min(best, time.perf_counter() - t)
    bk_scaling.append(best)

mb = nbytes / 1e6
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
rows = [
    "| input | bytes | BuildKit (PyPI dockerfile 3.4.0) | slipway | speed-up |",
    "|---|---:|---:|---:|---:|",
    f"| corpus, {len(files)} files | {nbytes:,} | {bk:.3f} s ({mb / bk:.1f} MB/s) | {sw['seconds']:.3f} s ({mb / sw['seconds']:.1f} MB/s) | **{bk / sw['seconds']:.1f}x** |",
]
for (size, s), b in zip(sw["scaling"], bk_scaling):
    rows.append(f"| synthetic {size // 1024} KB | {size:,} | {b * 1e3:.1f} ms | {s * 1e3:.2f} ms | {b / s:.1f}x |")
first, last = sw["scaling"][0], sw["scaling"][-1]
linear = (last[1] / first[1]) / (last[0] / first[0])
section = "\n".join([
    "## Parser throughput vs BuildKit",
    "",
    f"{datetime.date.today()}, {os.cpu_count()} cores ({cpu}), best of {rounds} rounds, both timed in-process.",
    "Reproduce: `cargo build --release -p slipway-parser --example throughput && bench/compare_parse.py`",
    "",
    *rows,
    "",
    f"Scaling: 64 KB → 1 MB is {last[0] / first[0]:.0f}x the input and {last[1] / first[1]:.1f}x the time "
    f"(time per byte ratio {linear:.2f}; 1.0 = perfectly linear).",
    "",
])
print(section)
results = os.path.join(root, "bench", "RESULTS.md")
old = open(results).read() if os.path.exists(results) else "# Benchmark results\n\n"
start = old.find("## Parser throughput vs BuildKit")
if start >= 0:
    end = old.find("\n## ", start + 1)
    old = old[:start] + (old[end + 1:] if end >= 0 else "")
open(results, "w").write(old.rstrip() + "\n\n" + section)
