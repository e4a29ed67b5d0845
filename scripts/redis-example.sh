#!/usr/bin/env bash
# The mission's example end to end, like `docker build` then `docker run`, with no daemon:
#   1. a Debian base image: `debootstrap --variant=minbase bookworm`, imported into the store
#      as debian:bookworm-slim (the root filesystem is cached under $SLIPWAY_DEBIAN_CACHE);
#   2. `slipway build .` in examples/redis, with no tag, as the seeds' tutorial does
#      `docker build .`: it prints "Successfully built <id>";
#   3. `slipway run --network host <id>`: waits for "Ready to accept connections", then
#      `redis-cli ping` (from the same image, by its full ID) must answer PONG; then Ctrl-C's
#      SIGINT is relayed and redis-server must save and exit 0.
# Needs root (namespaces, overlayfs) and the Debian mirror (debootstrap, apt-get in the RUN).
set -euo pipefail
cd "$(dirname "$0")/.."
slipway=$(realpath "${SLIPWAY:-${CARGO_TARGET_DIR:-target}/release/slipway}")
cache=${SLIPWAY_DEBIAN_CACHE:-/var/cache/slipway}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log=$(mktemp)
server=""
cleanup() {
    [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -f "$log"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
    echo "redis-example: needs root (namespaces, overlayfs, debootstrap)" >&2
    exit 2
fi
if ! command -v debootstrap >/dev/null; then
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

if ! "$slipway" image inspect debian:bookworm-slim >/dev/null 2>&1; then
    if [ ! -f "$cache/bookworm-minbase.tar" ]; then
        echo "==> debootstrap --variant=minbase bookworm (about a minute, cached in $cache)"
        rm -rf "$cache/bookworm-rootfs.tmp"
        mkdir -p "$cache"
        debootstrap --variant=minbase bookworm "$cache/bookworm-rootfs.tmp" "$mirror" >/dev/null
        # A slim base, like the registry's: no apt lists, no caches.
        rm -rf "$cache"/bookworm-rootfs.tmp/var/lib/apt/lists/* "$cache"/bookworm-rootfs.tmp/var/cache/apt/*.bin
        tar -C "$cache/bookworm-rootfs.tmp" --numeric-owner -cf "$cache/bookworm-minbase.tar.tmp" .
        mv "$cache/bookworm-minbase.tar.tmp" "$cache/bookworm-minbase.tar"
        rm -rf "$cache/bookworm-rootfs.tmp"
    fi
    echo "==> slipway image import $cache/bookworm-minbase.tar --tag debian:bookworm-slim"
    "$slipway" image import "$cache/bookworm-minbase.tar" --tag debian:bookworm-slim
fi

echo "==> cd examples/redis && slipway build ."
out=$(cd examples/redis && "$slipway" build .)
echo "$out"
built=$(echo "$out" | sed -n 's/^Successfully built \([0-9a-f]\{12\}\)$/\1/p')
[ -n "$built" ] || { echo "redis-example: no \"Successfully built <id>\" line" >&2; exit 1; }
full=$("$slipway" image inspect "$built" | sed -n 's/^ *"Id": "\(sha256:[0-9a-f]*\)",$/\1/p' | head -n1)
[ -n "$full" ] || { echo "redis-example: image $built is not in the store" >&2; exit 1; }

port=6379
if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    port=16379 # something already listens on redis's port: use another one
    set -- redis-server --port $port
fi
echo "==> slipway run --rm --network host $built $*"
"$slipway" run --rm --network host "$built" "$@" >"$log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    grep -q "Ready to accept connections" "$log" && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
cat "$log"
grep -q "Ready to accept connections" "$log" || { echo "redis-example: the server did not start" >&2; exit 1; }
echo "==> slipway run --rm --network host $full redis-cli -p $port ping"
answer=$("$slipway" run --rm --network host "$full" redis-cli -p "$port" ping)
echo "$answer"
[ "$answer" = PONG ] || { echo "redis-example: expected PONG, got: $answer" >&2; exit 1; }
echo "==> kill -INT (Ctrl-C) the slipway run of redis-server: relayed once, redis saves and exits 0"
kill -INT "$server"
code=0
wait "$server" || code=$?
server=""
cat "$log"
[ "$code" = 0 ] || { echo "redis-example: slipway run exited $code after SIGINT (want 0)" >&2; exit 1; }
grep -q "DB saved on disk" "$log" || { echo "redis-example: redis-server did not save on SIGINT" >&2; exit 1; }
echo "==> ok: built, ran by ID, answered PONG, shut down cleanly on Ctrl-C"
