#!/usr/bin/env bash
# Makes ../screenshot.png: Neovim (a real terminal in tmux) with this plugin and slipway's
# diagnostics and a hover, captured with colours and rendered to PNG.
# Needs tmux, nvim, rsvg-convert (librsvg2-bin) and a built slipway ($SLIPWAY_BIN).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SLIPWAY_BIN:-$here/../../../target/debug/slipway}
tmp=$(mktemp -d)
trap 'tmux kill-session -t slipway-shot 2>/dev/null || true; rm -rf "$tmp"' EXIT
cp "$here/example.Dockerfile" "$tmp/Dockerfile"
tmux new-session -d -s slipway-shot -x 100 -y 17 -c "$tmp" \
    "env HOME=$tmp XDG_CACHE_HOME=$tmp/c SLIPWAY_ROOT=$tmp/store SLIPWAY_BIN=$bin SLIPWAY_PLUGIN=$here/.. nvim --clean -u $here/init.lua Dockerfile"
sleep 3
tmux capture-pane -t slipway-shot -p -e > "$tmp/screen.ansi"
python3 "$here/ansi2svg.py" 100 17 < "$tmp/screen.ansi" > "$tmp/screen.svg"
rsvg-convert "$tmp/screen.svg" -o "$here/../screenshot.png"
echo "wrote $here/../screenshot.png"
