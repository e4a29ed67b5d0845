#!/usr/bin/env bash
# The mission's example (examples/redis/Dockerfile: FROM debian:bookworm-slim, RUN apt-get
# update && apt-get install redis-server, CMD) built with `--no-cache` by slipway and by
# Docker 20.10's classic builder, side by side in one run, alternating, on the same base
# (debootstrap --variant=minbase bookworm, imported into both) through the same warm apt
# mirror (apt-cacher-ng on 127.0.0.1:3142, warmed by one build of each first; both RUNs on
# the host network, as the issue asks: `docker build --network host`, `slipway build
# --network host --allow network.host`).
#
#   sudo bench/seed_build.sh [ROUNDS]      (default 5; prints each round and the medians)
#
# Needs root, dockerd/docker (Debian docker.io), apt-cacher-ng (Debian), the base rootfs
# tar (scripts/redis-example.sh makes it: /var/cache/slipway/bookworm-minbase.tar) and a
# release build (target/release/slipway). Starts its own dockerd and apt-cacher-ng and
# stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
slipway=$(realpath "${SLIPWAY:-${CARGO_TARGET_DIR:-target}/release/slipway}")
base=${SLIPWAY_DEBIAN_CACHE:-/var/cache/slipway}/bookworm-minbase.tar
docker=/usr/bin/docker
dockerd=/usr/sbin/dockerd
[ "$(id -u)" = 0 ] || { echo "seed_build: needs root" >&2; exit 2; }
for x in "$slipway" "$base" "$docker" "$dockerd" /usr/sbin/apt-cacher-ng; do
    [ -e "$x" ] || { echo "seed_build: missing $x" >&2; exit 2; }
done

work=$(mktemp -d /tmp/seed-build.XXXXXX)
dpid="" apid=""
cleanup() {
    [ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
    [ -n "$apid" ] && kill "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
    # dockerd leaves its netns bind mount (and overlays, if killed mid-build) behind.
    awk -v w="$work" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/acng/cache" "$work/acng/log" "$work/ctx" "$work/docker"
/usr/sbin/apt-cacher-ng ForeGround=1 Port=3142 BindAddress=127.0.0.1 \
    CacheDir="$work/acng/cache" LogDir="$work/acng/log" >"$work/acng/out" 2>&1 &
apid=$!
"$dockerd" --iptables=false --ip6tables=false --bridge=none --data-root "$work/docker/data" \
    --exec-root "$work/docker/exec" -H "unix://$work/docker/sock" --pidfile "$work/docker/pid" \
    >"$work/docker/log" 2>&1 &
dpid=$!
export DOCKER_HOST="unix://$work/docker/sock" DOCKER_BUILDKIT=0 SLIPWAY_ROOT="$work/store"
for _ in $(seq 100); do "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
"$docker" import "$base" debian:bookworm-slim >/dev/null
"$slipway" image import "$base" --tag debian:bookworm-slim >/dev/null
cp examples/redis/Dockerfile "$work/ctx/"
proxy=(--build-arg http_proxy=http://127.0.0.1:3142)

now() { date +%s.%N; }
run_docker() { "$docker" build -q --no-cache --network host "${proxy[@]}" "$work/ctx" >/dev/null; }
run_slipway() { "$slipway" build -q --no-cache --network host --allow network.host "${proxy[@]}" "$work/ctx" >/dev/null; }
timed() { local t0; t0=$(now); "$@"; echo "$(now) - $t0" | bc; }

echo "warming the apt mirror (one build of each)"
run_docker
run_slipway
ds=() ss=()
for i in $(seq "$rounds"); do
    d=$(timed run_docker)
    s=$(timed run_slipway)
    ds+=("$d") ss+=("$s")
    printf 'round %d: docker %.2f s, slipway %.2f s (%.2fx)\n' "$i" "$d" "$s" "$(echo "$s / $d" | bc -l)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
md=$(median "${ds[@]}")
ms=$(median "${ss[@]}")
printf 'median of %d: docker build %.2f s, slipway build %.2f s: slipway takes %.2fx the time of docker\n' \
    "$rounds" "$md" "$ms" "$(echo "$ms / $md" | bc -l)"
