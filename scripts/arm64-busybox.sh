#!/usr/bin/env bash
# An arm64 busybox root filesystem for the multi-platform tests (issue 16), from Debian's
# arm64 `busybox-static` package: `dpkg --add-architecture arm64`, `apt-get download
# busybox-static:arm64`, `dpkg-deb -x`, then /bin/sh and the other applets as symlinks to
# /bin/busybox (the applet list from the arm64 busybox itself under emulation when binfmt_misc
# runs it, else from this machine's busybox of the same package). Writes
# $SLIPWAY_FIXTURE_CACHE/busybox-arm64.tar (default /var/cache/slipway), owners 0:0, once:
# an existing tar is kept. Prints the tar's path. Needs root (dpkg, apt-get).
set -euo pipefail
cache=${SLIPWAY_FIXTURE_CACHE:-/var/cache/slipway}
out="$cache/busybox-arm64.tar"
if [ -s "$out" ]; then
    echo "$out"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "arm64-busybox: needs root (dpkg --add-architecture, apt-get)" >&2
    exit 2
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/.busybox-arm64.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get update -qq
fi
(cd "$work" && apt-get download -qq busybox-static:arm64 2>/dev/null) || {
    apt-get update -qq
    (cd "$work" && apt-get download -qq busybox-static:arm64)
}
root="$work/rootfs"
dpkg-deb -x "$work"/busybox-static_*_arm64.deb "$root"
test -x "$root/bin/busybox"
# The applets: from the arm64 binary when it runs here (emulated), else the host's busybox.
if ! applets=$("$root/bin/busybox" --list-full 2>/dev/null); then
    applets=$(busybox --list-full)
fi
for a in $applets; do
    [ "$a" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$a")"
    [ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done
mkdir -p "$root/etc" "$root/tmp" "$root/root"
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
tar --numeric-owner --owner=0 --group=0 --sort=name -C "$root" -cf "$work/busybox-arm64.tar" .
mv "$work/busybox-arm64.tar" "$out"
echo "$out"
