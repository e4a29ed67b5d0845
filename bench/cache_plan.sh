#!/usr/bin/env bash
# Issue 18.1: `slipway plan --cache-from` against a registry cache of a >= 500 MB image,
# on an empty store: time and bytes fetched by the plan (records and manifests only), side
# by side with what the import used to cost (every layer: what a build that reuses all of
# them fetches now). A loopback docker-registry is started and stopped here. Root.
#   bench/cache_plan.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-512}
slipway=$(realpath "${SLIPWAY:-${CARGO_TARGET_DIR:-target}/release/slipway}")
work=$(mktemp -d)
reg=""
cleanup() { [ -n "$reg" ] && kill "$reg" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s/data}}\nhttp: {addr: 127.0.0.1:%s}\n' "$work" "$port" >"$work/config.yml"
docker-registry serve "$work/config.yml" >/dev/null 2>&1 &
reg=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
# A base of SIZE_MB incompressible bytes, and a two-step build on it.
mkdir -p "$work/rootfs/bin" "$work/ctx"
cp /bin/busybox "$work/rootfs/bin/" && ln -s busybox "$work/rootfs/bin/sh"
head -c "$((size << 20))" /dev/urandom >"$work/rootfs/blob"
printf 'FROM big\nRUN echo built > /built\nCOPY a /a\n' >"$work/ctx/Dockerfile"
echo a >"$work/ctx/a"
cache="type=registry,ref=127.0.0.1:$port/cache/big:main"
export SLIPWAY_ROOT="$work/a"
"$slipway" image import "$work/rootfs" --tag big >/dev/null
"$slipway" build -q --cache-to "$cache" "$work/ctx" >/dev/null 2>&1
bytes() { du -sb "$1/blobs" | cut -f1; }
export SLIPWAY_ROOT="$work/b"
t0=$(date +%s.%N)
"$slipway" plan --cache-from "$cache" "$work/ctx" >"$work/plan.txt" 2>/dev/null
t1=$(date +%s.%N)
plan_bytes=$(bytes "$work/b")
grep -q "0 to rebuild" "$work/plan.txt" || { cat "$work/plan.txt"; exit 1; }
"$slipway" build -q --cache-from "$cache" "$work/ctx" >/dev/null 2>&1
t2=$(date +%s.%N)
full_bytes=$(bytes "$work/b")
python3 - "$t0" "$t1" "$t2" "$plan_bytes" "$full_bytes" "$size" <<'PY'
import sys
t0, t1, t2 = map(float, sys.argv[1:4]); pb, fb, size = map(int, sys.argv[4:7])
print(f"cache of a {size} MB image, empty store, loopback registry")
print(f"plan --cache-from (records + manifests): {t1-t0:7.2f} s  {pb/1e3:10.1f} kB fetched")
print(f"every layer (the old import; a build reusing all): {t2-t1:7.2f} s  {fb/1e6:10.1f} MB fetched")
print(f"plan: {fb/max(pb,1):.0f}x fewer bytes, {(t2-t1)/max(t1-t0,1e-9):.1f}x faster")
PY
