#!/usr/bin/env bash
# Installs what slipway needs on a Debian machine and builds it (release).
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        build-essential ca-certificates curl git python3 python3-venv shellcheck debootstrap \
        libseccomp-dev passt >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
cargo build --release --locked
# `slipway` on PATH, as `docker` would be.
$sudo install -m 0755 "${CARGO_TARGET_DIR:-target}/release/slipway" /usr/local/bin/slipway
echo "installed /usr/local/bin/slipway ($(/usr/local/bin/slipway --version))"
