#!/usr/bin/env bash
# Build-context benchmarks (issue 4): cold hashing of a 200 MiB / 10,000-file context against
# `sha256sum` on 2 processes (goal: within 1.3x), and a no-op scan of a 100,000-file context with
# a warm stat cache against `find CONTEXT -printf '%s %T@\n'` (goal: within 3x).
# Writes the "## Build context" section of bench/RESULTS.md; exit status 1 when a goal is missed.
#   bench/context_hash.sh      (ROUNDS_COLD=3, ROUNDS_NOOP=5; CONTEXT_BENCH_DIR=/tmp/slipway-bench-context)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p slipway-planner --example scan
python3 bench/context_hash.py target/release/examples/scan bench/RESULTS.md
