#!/usr/bin/env bash
# A two-platform build (linux/amd64 + linux/arm64, one image index) with slipway against
# buildah (`bud --platform ... --manifest`, vfs storage, chroot isolation), side by side in
# one run, on the same Dockerfile and the same busybox bases (amd64 from busybox-static, arm64
# from Debian's busybox-static:arm64, pushed as one index to a loopback registry both pull
# from); and the emulation cost of one RUN (the same CPU-bound RUN built for the host's
# platform and for arm64 under QEMU user-mode emulation, by each tool).
# Prints a Markdown table with ratios; `--write-results` also replaces the section
# "## Multi-platform builds vs buildah" of bench/RESULTS.md.
#
# Needs root, buildah, hyperfine, docker-registry, qemu-user-static registered through
# binfmt_misc (`slipway binfmt --install`), scripts/arm64-busybox.sh's fixture, python3 and a
# release build: cargo build --release --bin slipway (SLIPWAY=path overrides the binary).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLIPWAY=${SLIPWAY:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slipway}
WRITE=0
[ "${1:-}" = --write-results ] && WRITE=1
RUNS=${RUNS:-5}
LOOP=${LOOP:-200000} # iterations of the shell loop each timed RUN spins

for tool in buildah hyperfine python3 docker-registry; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install -y buildah hyperfine docker-registry)" >&2; exit 2; }
done
[ -x "$SLIPWAY" ] || { echo "error: no $SLIPWAY (cargo build --release --bin slipway)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "error: needs root (namespaces, overlayfs, binfmt_misc)" >&2; exit 2; }
[ "$(uname -m)" = x86_64 ] || { echo "error: written for an amd64 host" >&2; exit 2; }
"$SLIPWAY" binfmt --install >/dev/null 2>&1 || true
"$SLIPWAY" binfmt | grep -q '^linux/arm64 .*emulated' || { echo "error: linux/arm64 cannot run here (apt-get install qemu-user-static; slipway binfmt --install)" >&2; exit 2; }
ARM64_TAR=$("$ROOT/scripts/arm64-busybox.sh")

W=$(mktemp -d /var/tmp/slipway-bench-mp.XXXXXX)
REG_PID=
cleanup() {
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null || true
    buildah rm --all >/dev/null 2>&1 || true
    rm -rf "$W" 2>/dev/null || true
}
trap cleanup EXIT
export SLIPWAY_ROOT="$W/slipway"
cat >"$W/storage.conf" <<CONF
[storage]
driver = "vfs"
runroot = "$W/cs-run"
graphroot = "$W/cs-graph"
CONF
export CONTAINERS_STORAGE_CONF="$W/storage.conf"
B="buildah --storage-driver vfs"

echo "== loopback registry" >&2
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$W/registry.yml" <<CONF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/registry}}
http: {addr: 127.0.0.1:$PORT}
CONF
docker-registry serve "$W/registry.yml" >/dev/null 2>&1 &
REG_PID=$!
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/v2/')" 2>/dev/null && break
    sleep 0.05
done
REG="127.0.0.1:$PORT"

echo "== bases: busybox for amd64 and arm64, one index in the registry" >&2
mkdir -p "$W/r/bin"
cp /bin/busybox "$W/r/bin/"
for a in sh cat echo uname true; do ln -s busybox "$W/r/bin/$a"; done
"$SLIPWAY" image import --platform linux/amd64 "$W/r" --tag "$REG/bb:1" >/dev/null
"$SLIPWAY" image import --platform linux/arm64 "$ARM64_TAR" --tag "$REG/bb:1" >/dev/null
"$SLIPWAY" push -q "$REG/bb:1" >/dev/null
for arch in amd64 arm64; do
    $B pull -q --tls-verify=false --platform "linux/$arch" "$REG/bb:1" >/dev/null
done

mkdir -p "$W/two" "$W/one"
SPIN="i=0; while [ \$i -lt $LOOP ]; do i=\$((i+1)); done"
cat >"$W/two/Dockerfile" <<DF
FROM --platform=\$BUILDPLATFORM $REG/bb:1 AS tools
ARG TARGETARCH
RUN $SPIN; echo "tool for \$TARGETARCH" > /tool
FROM $REG/bb:1
RUN $SPIN; uname -m > /arch
COPY --from=tools /tool /tool
DF
printf 'FROM %s\nRUN %s; uname -m > /arch\n' "$REG/bb:1" "$SPIN" >"$W/one/Dockerfile"

S="$SLIPWAY build -q --no-cache --network none"
BB="$B bud --isolation chroot --no-cache -q --tls-verify=false"
J="$W/json"
mkdir -p "$J"
hf() {
    local name=$1
    shift
    hyperfine -N --style basic --runs "$RUNS" -w 1 --export-json "$J/$name.json" "$@" >&2
}

# Each command once, so a failure shows its output.
$S --platform linux/amd64,linux/arm64 -t "$REG/app:2" "$W/two" >/dev/null
$BB --platform linux/amd64,linux/arm64 --manifest "localhost/app-list-$$" "$W/two" >/dev/null
echo "== two platforms, one index (cross-compile pattern; --no-cache)" >&2
hf two \
    -n slipway "$S --platform linux/amd64,linux/arm64 -t $REG/app:2 $W/two" \
    -n buildah "$BB --platform linux/amd64,linux/arm64 --manifest localhost/app-list-$$ $W/two"
echo "== one RUN, native and under emulation" >&2
hf emu \
    -n "slipway amd64" "$S --platform linux/amd64 -t one-amd64 $W/one" \
    -n "slipway arm64" "$S --platform linux/arm64 -t one-arm64 $W/one" \
    -n "buildah amd64" "$BB --platform linux/amd64 -t one-amd64 $W/one" \
    -n "buildah arm64" "$BB --platform linux/arm64 -t one-arm64 $W/one"

# The index really has both platforms, and the arm64 RUN ran as aarch64.
"$SLIPWAY" run --rm --network none --platform linux/arm64 "$REG/app:2" cat /arch | grep -qx aarch64
"$SLIPWAY" run --rm --network none --platform linux/amd64 "$REG/app:2" cat /arch | grep -qx x86_64

python3 - "$J" "$WRITE" "$ROOT/bench/RESULTS.md" "$LOOP" "$RUNS" <<'PY'
import json, os, platform, subprocess, sys
j, write, results, loop, runs = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4], sys.argv[5]
def load(name):
    with open(os.path.join(j, name + ".json")) as f:
        return {r["command"]: r for r in json.load(f)["results"]}
two, emu = load("two"), load("emu")
med = lambda r: r["median"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load_avg = os.getloadavg()[0]
out = []
out.append("## Multi-platform builds vs buildah (`bench/multiplatform.sh`, issue 16)\n")
out.append(f"Measured on {os.cpu_count()} CPUs ({cpu}), load average {load_avg:.1f} at the end; "
           f"hyperfine, {runs} runs after a warm-up, median. buildah {subprocess.run(['buildah','--version'],capture_output=True,text=True).stdout.split()[2]} "
           "(vfs storage, chroot isolation, `bud --platform ... --manifest`); both `--no-cache` (slipway `--network none`; buildah's chroot isolation has only the host network), "
           "the same busybox bases (amd64: busybox-static; arm64: Debian's busybox-static:arm64) pulled from one "
           "index in a loopback registry; arm64 RUN steps under qemu-user-static through binfmt_misc (flag F). "
           f"Each timed RUN spins a shell loop of {loop} iterations.\n")
out.append("| build | slipway | buildah | slipway / buildah |")
out.append("|---|---:|---:|---:|")
s, b = med(two["slipway"]), med(two["buildah"])
out.append(f"| two platforms, one index: a `$BUILDPLATFORM` stage (native) + the target stage's RUN (arm64 emulated) | {s:.2f} s | {b:.2f} s | **{s/b:.2f}x** |")
sa, sr, ba, br = (med(emu[k]) for k in ("slipway amd64", "slipway arm64", "buildah amd64", "buildah arm64"))
out.append(f"| one RUN for linux/amd64 (native) | {sa:.2f} s | {ba:.2f} s | {sa/ba:.2f}x |")
out.append(f"| the same RUN for linux/arm64 (emulated) | {sr:.2f} s | {br:.2f} s | {sr/br:.2f}x |")
out.append("")
out.append(f"Emulation cost of one RUN (arm64 / amd64 build of the same Dockerfile): slipway **{sr/sa:.1f}x**, "
           f"buildah {br/ba:.1f}x. Whole builds, so the ratio includes the fixed cost of a build "
           "(plan, container start, layer); the RUN alone is slowed more.")
text = "\n".join(out) + "\n"
print(text)
if write:
    doc = open(results).read()
    head = "## Multi-platform builds vs buildah"
    if head in doc:
        start = doc.index(head)
        rest = doc[start + len(head):]
        end = rest.find("\n## ")
        doc = doc[:start] + text + ("" if end < 0 else rest[end + 1:])
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    open(results, "w").write(doc)
PY
