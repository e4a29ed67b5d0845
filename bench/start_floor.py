#!/usr/bin/env python3
"""Container start against the floor (bench/RESULTS.md, issue 19 item 3).

Usage: sudo bench/start_floor.py SLIPWAY [RUNS] [OTHER_SLIPWAY]

SLIPWAY is a release build (OTHER_SLIPWAY another one, e.g. the commit before, timed
with `--network none` in the same run). A temporary store gets an image "probe" (Debian's
busybox-static, every applet linked); then, in one run:

1. hyperfine -N (RUNS runs, min and mean) of `slipway run --rm --network none probe true`
   (the sandbox: capabilities, seccomp, masked paths, device rules, hidden init), the
   same `--privileged` (no sandbox), `--network host`, the default network (its own
   namespace with pasta), and the floor `unshare --mount --pid --uts --ipc --net --fork
   true`, with the ratio of each to the floor;
2. the same cases interleaved, one round every 0.5 s (a command typed after a pause, not
   a tight loop: cgroup migrations are cheap only in quick succession), median and min.
Needs root, hyperfine and busybox-static (pasta for the default network)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

if len(sys.argv) < 2:
    sys.exit(__doc__)
S = os.path.abspath(sys.argv[1])
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 100
tmp = tempfile.mkdtemp(prefix="slipway-start-floor-")
env = dict(os.environ, SLIPWAY_ROOT=os.path.join(tmp, "store"))
rootfs = os.path.join(tmp, "rootfs")
os.makedirs(os.path.join(rootfs, "bin"))
shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
for applet in subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split():
    if applet != "busybox":
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
subprocess.run([S, "image", "import", rootfs, "--tag", "probe"], env=env, check=True, stdout=subprocess.DEVNULL)

FLOOR = "floor: unshare --mount --pid --uts --ipc --net --fork true"
cases = {
    "slipway run --rm --network none probe true": [S, "run", "--rm", "--network", "none", "probe", "true"],
    "  the same, --privileged (no sandbox)": [S, "run", "--rm", "--network", "none", "--privileged", "probe", "true"],
    "slipway run --rm --network host probe true": [S, "run", "--rm", "--network", "host", "probe", "true"],
    FLOOR: ["unshare", "--mount", "--pid", "--uts", "--ipc", "--net", "--fork", "true"],
}
if len(sys.argv) > 3:
    cases["OTHER_SLIPWAY run --rm --network none probe true"] = [
        os.path.abspath(sys.argv[3]), "run", "--rm", "--network", "none", "probe", "true"]
if shutil.which("pasta"):
    cases["slipway run --rm probe true (default network: pasta)"] = [S, "run", "--rm", "probe", "true"]


def quote(argv):
    return " ".join(a if a.replace("/", "").replace("-", "").replace(".", "").isalnum() else repr(a) for a in argv)


try:
    out = os.path.join(tmp, "hyperfine.json")
    subprocess.run(
        ["hyperfine", "-N", "--warmup", "3", "--runs", str(RUNS), "--export-json", out, "--style", "none"]
        + [quote(c) for c in cases.values()],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )
    results = json.load(open(out))["results"]
    by = dict(zip(cases, results))
    floor = by[FLOOR]
    print(f"hyperfine -N, {RUNS} runs (load average {os.getloadavg()[0]:.2f})")
    print("| | min | mean | min / floor | mean / floor |")
    print("|---|---:|---:|---:|---:|")
    for k, r in by.items():
        print(f"| {k} | {r['min'] * 1e3:.2f} ms | {r['mean'] * 1e3:.2f} ms | "
              f"{r['min'] / floor['min']:.2f}x | {r['mean'] / floor['mean']:.2f}x |")

    rounds = max(10, RUNS // 5)
    res = {k: [] for k in cases}
    for _ in range(rounds):
        for k, c in cases.items():
            time.sleep(0.5)
            t = time.perf_counter()
            subprocess.run(c, env=env, check=True, stdout=subprocess.DEVNULL)
            res[k].append((time.perf_counter() - t) * 1e3)
    f = statistics.median(res[FLOOR])
    print(f"\ninterleaved, {rounds} rounds, 0.5 s apart (Python's subprocess adds its own ~1 ms)")
    print("| | median | min | median / floor |")
    print("|---|---:|---:|---:|")
    for k, v in res.items():
        print(f"| {k} | {statistics.median(v):.2f} ms | {min(v):.2f} ms | {statistics.median(v) / f:.2f}x |")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
