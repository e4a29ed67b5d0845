#!/usr/bin/env bash
# slipway build/run against buildah (vfs storage, chroot isolation, --layers), side by side
# in one run, on the same busybox base image and the same Dockerfiles:
#   cold build, no-op rebuild, rebuild after changing one context file, a 10,000-file COPY
#   (~200 MB of random data; also against `tar -c | gzip` of the same files), and
#   container start (`slipway run --rm` vs `buildah run` vs the bare `unshare` floor).
# Prints a Markdown table with ratios; `--write-results` also replaces the section
# "## Build and run vs buildah" of bench/RESULTS.md.
#
# Needs root, buildah, hyperfine, busybox-static, python3 and a release build:
#   cargo build --release --bin slipway     (SLIPWAY=path overrides the binary)
#   apt-get install -y buildah hyperfine busybox-static
# Everything (stores, containers-storage, data) lives in one temp dir, removed at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLIPWAY=${SLIPWAY:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slipway}
WRITE=0
[ "${1:-}" = --write-results ] && WRITE=1
RUNS=${RUNS:-10}          # runs of the quick cases
BIG_RUNS=${BIG_RUNS:-3}   # runs of the 10,000-file COPY cases
FILES=${FILES:-10000}
FILE_KB=${FILE_KB:-20}    # 10,000 × 20 KiB ≈ 205 MB

for tool in buildah hyperfine python3 unshare; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install -y buildah hyperfine)" >&2; exit 2; }
done
[ -x "$SLIPWAY" ] || { echo "error: no $SLIPWAY (cargo build --release --bin slipway)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "error: needs root (namespaces, overlayfs)" >&2; exit 2; }
[ -x /bin/busybox ] || { echo "error: needs /bin/busybox (apt-get install busybox-static)" >&2; exit 2; }

W=$(mktemp -d /var/tmp/slipway-bench.XXXXXX)
cleanup() {
    buildah rm --all >/dev/null 2>&1 || true
    # Unlinks from 16 processes: one at a time, gigabytes of vfs copies take minutes here.
    find "$W" -type f -print0 2>/dev/null | xargs -0 -r -P16 -n500 rm -f 2>/dev/null || true
    rm -rf "$W" 2>/dev/null || true
}
trap cleanup EXIT
export SLIPWAY_ROOT="$W/slipway"
cat >"$W/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$W/cs-run"
graphroot = "$W/cs-graph"
EOF
export CONTAINERS_STORAGE_CONF="$W/storage.conf"
B="buildah --storage-driver vfs"

echo "== base image (busybox) in both stores" >&2
mkdir -p "$W/r/bin" "$W/r/etc"
cp /bin/busybox "$W/r/bin/"
for a in sh cat echo true ls mkdir cp date wc; do ln -s busybox "$W/r/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$W/r/etc/passwd"
tar -C "$W/r" -cf "$W/rootfs.tar" .
"$SLIPWAY" image import "$W/rootfs.tar" --tag bb >/dev/null
cp -a "$SLIPWAY_ROOT" "$W/slipway-base" # a store with only the base, for cold builds
c=$($B from scratch)
$B add "$c" "$W/rootfs.tar" / >/dev/null
$B config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
$B commit -q "$c" localhost/bb:latest >/dev/null
$B rm "$c" >/dev/null

echo "== contexts" >&2
APP="$W/app"
mkdir -p "$APP/src"
for i in 1 2 3 4 5; do echo "file $i" >"$APP/src/f$i.txt"; done
cat >"$APP/Dockerfile" <<'EOF'
FROM bb
RUN echo one > /one && echo two > /two
COPY src/ /src/
RUN cat /src/f1.txt /one > /copied
ENV GREETING=hi
CMD ["cat", "/copied"]
EOF
BIG="$W/big"
mkdir -p "$BIG"
python3 - "$BIG/data" "$FILES" "$FILE_KB" <<'PY'
import os, sys
root, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    d = os.path.join(root, f"d{i // 500:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(kb * 1024))
PY
printf 'FROM bb\nCOPY data/ /data/\n' >"$BIG/Dockerfile"
BIG_MB=$(du -sm "$BIG/data" | cut -f1)

S="$SLIPWAY"
SB="$S build -q"
BB="$B bud --isolation chroot --layers -q"
J="$W/json"
mkdir -p "$J"
hf() { # name, runs, extra hyperfine args..., then commands
    local name=$1 runs=$2
    shift 2
    hyperfine -N --style basic --runs "$runs" --export-json "$J/$name.json" "$@" >&2
}

echo "== cold build (no cache)" >&2
hf cold "$RUNS" -w 1 -n slipway "$SB --no-cache -t app $APP" -n buildah "$BB --no-cache -t app $APP"

echo "== no-op rebuild (every step cached)" >&2
$SB -t app "$APP" >/dev/null
$BB -t app "$APP" >/dev/null
hf noop "$RUNS" -w 2 -n slipway "$SB -t app $APP" -n buildah "$BB -t app $APP"

echo "== rebuild after changing one context file" >&2
hf touch "$RUNS" -w 1 --prepare "sh -c 'date +%s%N > $APP/src/f1.txt'" \
    -n slipway "$SB -t app $APP" -n buildah "$BB -t app $APP"

echo "== 10,000-file COPY (${BIG_MB} MB): cold, into a store that has only the base image" >&2
# Each run starts from a copy of the base-only store: the context is hashed from scratch and
# the files streamed into the layer (no later step needs them unpacked); nothing is cached.
hf big_cold "$BIG_RUNS" -w 0 --prepare "sh -c 'rm -rf $W/cold && cp -a $W/slipway-base $W/cold'" \
    -n slipway "env SLIPWAY_ROOT=$W/cold $SB -t big $BIG" \
    -n "tar | gzip" "sh -c 'tar -C $BIG -c data | gzip > /dev/null'"
echo "== 10,000-file COPY (${BIG_MB} MB): the first build into each store" >&2
# Once: slipway hashes the context for the first time; buildah has its own first-time costs.
hf big_first 1 -w 0 -n slipway "$SB -t big $BIG" -n buildah "$BB -t big $BIG"
echo "== 10,000-file COPY (${BIG_MB} MB): rebuilt with --no-cache" >&2
hf big "$BIG_RUNS" -w 0 \
    -n slipway "$SB --no-cache -t big $BIG" \
    -n buildah "$BB --no-cache -t big $BIG" \
    -n "tar | gzip" "sh -c 'tar -C $BIG -c data | gzip > /dev/null'" \
    -n "tar | gzip -1" "sh -c 'tar -C $BIG -c data | gzip -1 > /dev/null'"

echo "== container start" >&2
ctr=$($B from app)
hf run 30 -w 3 \
    -n slipway "$S run --rm --network none app true" \
    -n "slipway default network" "$S run --rm app true" \
    -n buildah "$B run --isolation chroot $ctr true" \
    -n unshare "unshare --mount --pid --uts --ipc --fork true"
$B rm "$ctr" >/dev/null

VERSIONS="$(buildah --version | head -1); $(hyperfine --version); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 - "$J" "$BIG_MB" "$FILES" "$VERSIONS" "$WRITE" "$ROOT/bench/RESULTS.md" <<'PY'
import json, os, sys, datetime
jdir, big_mb, files, versions, write, results = sys.argv[1:7]
def load(name):
    with open(os.path.join(jdir, name + ".json")) as f:
        return {r["command"]: r for r in json.load(f)["results"]}
def fmt(s):
    return f"{s*1000:.1f} ms" if s < 1 else f"{s:.2f} s"
def cell(r):
    return f"{fmt(r['mean'])} ± {fmt(r['stddev'] or 0)}"
rows, goals = [], []
def row(case, res, a, b, note=""):
    ratio = res[b]["mean"] / res[a]["mean"]
    rows.append(f"| {case} | {a} {cell(res[a])} | {b} {cell(res[b])} | **{ratio:.1f}x** | {note} |")
    return ratio
cold = load("cold"); row("cold build (`--no-cache`)", cold, "slipway", "buildah")
noop = load("noop"); r = row("no-op rebuild (all cached)", noop, "slipway", "buildah", "goal ≥ 20x")
goals.append(("no-op rebuild ≥ 20x faster than buildah", r >= 20, f"{r:.1f}x"))
touch = load("touch"); row("rebuild after changing one context file", touch, "slipway", "buildah")
cold = load("big_cold")
gc = cold["tar | gzip"]["mean"] / cold["slipway"]["mean"]
rows.append(f"| COPY of {files} files, {big_mb} MB, cold (empty cache, a fresh store each run) vs `tar -c \\| gzip` | slipway {cell(cold['slipway'])} | tar \\| gzip {cell(cold['tar | gzip'])} | **{gc:.2f}x** | goal ≥ 0.67x (within 1.5x) |")
goals.append(("cold 10,000-file COPY build within 1.5x of tar | gzip", gc >= 1 / 1.5, f"{1/gc:.2f}x the time of tar | gzip"))
first = load("big_first")
row(f"COPY of {files} files, {big_mb} MB: first build into the store (1 run)", first, "slipway", "buildah",
    "slipway: context hashed for the first time; the files streamed into the layer")
big = load("big")
r = row(f"COPY of {files} files, {big_mb} MB: rebuilt (`--no-cache`)", big, "slipway", "buildah")
g = big["tar | gzip"]["mean"] / big["slipway"]["mean"]
rows.append(f"| same files rebuilt: slipway vs `tar -c \\| gzip` | slipway {cell(big['slipway'])} | tar \\| gzip {cell(big['tar | gzip'])} | {g:.2f}x | streamed again: no file created or deleted; `gzip -1`: {cell(big['tar | gzip -1'])} |")
run = load("run"); r = row("container start (`run --rm --network none IMG true`)", run, "slipway", "buildah", "goal ≥ 10x")
d = run["buildah"]["mean"] / run["slipway default network"]["mean"]
rows.append(f"| container start, default network (its own namespace, pasta) | slipway {cell(run['slipway default network'])} | buildah {cell(run['buildah'])} | {d:.1f}x | pasta's start-up; a build's RUN steps share one namespace |")
goals.append(("container start ≥ 10x faster than buildah run", r >= 10, f"{r:.1f}x"))
f = run["unshare"]["mean"] / run["slipway"]["mean"]
rows.append(f"| container start vs the floor | slipway {cell(run['slipway'])} | `unshare --mount --pid --uts --ipc --fork true` {cell(run['unshare'])} | {f:.2f}x | the floor: namespaces alone, no image |")
today = datetime.date.today().isoformat()
section = f"""## Build and run vs buildah

Measured {today}: {versions}. buildah runs as `buildah --storage-driver vfs bud --isolation chroot --layers`
(and `buildah run --isolation chroot`), both tools on the same busybox base image (busybox-static, one
layer) and the same Dockerfiles, each with its own store in one temp dir; a release build of slipway.
Times are hyperfine means ± standard deviation (quick cases {os.environ.get('RUNS', '10')} runs, the COPY
{os.environ.get('BIG_RUNS', '3')} runs after one first build, container start 30); "ratio" is buildah's time over slipway's.
The app Dockerfile: `FROM bb`, a RUN, `COPY src/`, a RUN reading the copy, ENV, CMD.

Reproduce: `cargo build --release --bin slipway && bench/buildah.sh --write-results`.

| case | slipway | peer | ratio | note |
|---|---:|---:|---:|---|
""" + "\n".join(rows) + "\n\nGoals:\n" + "\n".join(
    f"- {name}: **{'met' if ok else 'missed'}** ({val})" for name, ok, val in goals) + "\n"
notes = os.path.join(os.path.dirname(results), "buildah-notes.md")
if os.path.exists(notes):
    section += "\n" + open(notes).read()
print(section)
if write == "1":
    text = open(results).read() if os.path.exists(results) else "# Benchmark results\n"
    head = "## Build and run vs buildah"
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + section + ("\n" + text[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(results, "w").write(text)
    print(f"wrote {results}", file=sys.stderr)
PY
