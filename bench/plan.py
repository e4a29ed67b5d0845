#!/usr/bin/env python3
"""`slipway plan` end to end (issue 4), side by side with the stat-only floor, one run:
(1) a no-op plan of a 100,000-file context (warm stat cache, every step cached) against
    `find CONTEXT -printf '%s %T@\\n'`; (2) plan time for a 50-stage Dockerfile.
Writes the "## Plan" section of bench/RESULTS.md.
usage: bench/plan.py [ROUNDS]   (run from the repository root after `cargo build --release`)"""
import os, subprocess, sys, tempfile, time, datetime, json

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
exe = os.path.join(root, "target", "release", "slipway")
work = os.environ.get("PLAN_BENCH_DIR", "/tmp/slipway-bench-plan")
os.makedirs(work, exist_ok=True)
store = os.path.join(work, "store")
env = dict(os.environ, SLIPWAY_ROOT=store)

def best(cmd, **kw):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
        times.append(time.perf_counter() - t)
    return min(times)

def record(ctx):
    # There is no runner yet: write the cache records a build would, via the library's test hook.
    subprocess.run([os.path.join(root, "target", "release", "examples", "record_plan"), ctx], check=True, env=env)

# (1) 100,000 small files in 100 directories.
big = os.path.join(work, "ctx-100k")
if not os.path.exists(big + ".done"):
    for d in range(100):
        os.makedirs(os.path.join(big, f"d{d:03}"), exist_ok=True)
        for f in range(1000):
            with open(os.path.join(big, f"d{d:03}", f"f{f:04}.txt"), "w") as fh:
                fh.write(f"{d}-{f}\n")
    with open(os.path.join(big, "Dockerfile"), "w") as fh:
        fh.write("FROM scratch\n" + "".join(f"COPY d{d:03} /d{d:03}\n" for d in range(0, 100, 10)) + "COPY . /all\n")
    open(big + ".done", "w").close()
record(big)
plan_100k = best([exe, "plan", "--format", "json", big], env=env)
find_100k = best(["find", big, "-printf", "%s %T@\n"])

# (2) 50 stages, each with a few steps, a COPY --from chain and context files.
fifty = os.path.join(work, "ctx-50")
os.makedirs(fifty, exist_ok=True)
lines = ["ARG V=1"]
for s in range(50):
    lines.append(f"FROM scratch AS s{s}")
    lines.append(f"COPY f{s}.txt /f{s}.txt")
    lines.append(f"WORKDIR /w{s}")
    if s:
        lines.append(f"COPY --from=s{s-1} /f{s-1}.txt /prev.txt")
with open(os.path.join(fifty, "Dockerfile"), "w") as fh:
    fh.write("\n".join(lines) + "\n")
for s in range(50):
    with open(os.path.join(fifty, f"f{s}.txt"), "w") as fh:
        fh.write(f"{s}\n")
record(fifty)
plan_50 = best([exe, "plan", "--format", "json", fifty], env=env)
out = json.loads(subprocess.run([exe, "plan", "--format", "json", fifty], env=env, capture_output=True, check=True).stdout)

section = "\n".join([
    "## Plan",
    "",
    f"{datetime.date.today()}, {os.cpu_count()} cores, best of {rounds} runs, whole processes, warm page cache and warm stat cache.",
    "Reproduce: `cargo build --release && cargo build --release -p slipway-planner --example record_plan && bench/plan.py`",
    "",
    "| case | slipway plan | floor | ratio | goal |",
    "|---|---:|---:|---:|---|",
    f"| no-op plan, 100,000 files, 12 steps all cached | {plan_100k:.3f} s | {find_100k:.3f} s (`find -printf '%s %T@\\n'`) | {plan_100k / find_100k:.2f}x | ≤ 3x |",
    f"| 50-stage Dockerfile, {out['summary']['steps']} steps, all cached: {out['summary']['hits']} | {plan_50 * 1e3:.1f} ms | | | |",
    "",
])
print(section)
results = os.path.join(root, "bench", "RESULTS.md")
old = open(results).read()
start = old.find("## Plan\n")
if start >= 0:
    end = old.find("\n## ", start + 1)
    old = old[:start] + (old[end + 1:] if end >= 0 else "")
open(results, "w").write(old.rstrip() + "\n\n" + section)
