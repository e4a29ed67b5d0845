#!/usr/bin/env bash
# Bounded-time fuzzing of the parser: no panic, no hang, spans in bounds, linear time.
#   scripts/fuzz.sh [SECONDS] [-- extra fuzzer options: --seed N, --scaling, --no-scaling, ...]
# Failing inputs are written to parser/fuzz-artifacts/; the exit status is then non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
[ "${1:-}" = "--" ] && shift
exec cargo run --release --locked -q -p slipway-parser --example fuzz -- "$seconds" "$@"
