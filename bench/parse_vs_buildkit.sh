#!/usr/bin/env bash
# slipway's parser vs BuildKit's parser (PyPI `dockerfile` 3.4.0 = BuildKit v0.12.5's Go parser),
# side by side on the shared corpus and on generated 64 KiB / 256 KiB / 1 MiB inputs.
# Both parsers are timed in-process (best of ROUNDS rounds, start-up excluded); the slipway
# CLI end to end is timed for information. Prints a table and writes it into bench/RESULTS.md.
#   bench/parse_vs_buildkit.sh            (ROUNDS=5 by default; CORPUS=DIR to change the corpus)
# Exit status 1 when slipway is not at least 5x faster than BuildKit or not linear.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-5}"

# BuildKit's parser: the CI's venv if there is one, else one under /tmp.
py=""
for candidate in .ci/oracle/bin/python /tmp/oracle/bin/python; do
    if [ -x "$candidate" ] && "$candidate" -c 'import dockerfile' 2>/dev/null; then py="$candidate"; break; fi
done
if [ -z "$py" ]; then
    echo "installing BuildKit's parser (PyPI dockerfile==3.4.0) into /tmp/oracle" >&2
    python3 -m venv /tmp/oracle
    /tmp/oracle/bin/pip install -q dockerfile==3.4.0
    py=/tmp/oracle/bin/python
fi

cargo build --release --locked -q -p slipway-parser --example parse_corpus
cargo build --release --locked -q --bin slipway

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
corpus_args=()
[ -n "${CORPUS:-}" ] && corpus_args=(--corpus "$CORPUS")

echo "slipway (in-process, best of $rounds)..." >&2
target/release/examples/parse_corpus --rounds "$rounds" "${corpus_args[@]}" \
    --write-list "$tmp/files.txt" --write-synth "$tmp/synth" | tee "$tmp/slipway.txt" >&2

echo "BuildKit (in-process, best of $rounds)..." >&2
"$py" bench/buildkit_parse_time.py "$rounds" "$tmp/files.txt" \
    "$tmp/synth/synth-64K.Dockerfile" "$tmp/synth/synth-256K.Dockerfile" "$tmp/synth/synth-1024K.Dockerfile" \
    | tee "$tmp/buildkit.txt" >&2

# The CLI end to end over every file (exit status 1 for files BuildKit rejects is expected).
cli_cmd="xargs -d '\\n' target/release/slipway parse --format buildkit-json < '$tmp/files.txt' > /dev/null 2>&1 || true"
if command -v hyperfine >/dev/null 2>&1; then
    hyperfine -N --warmup 1 --runs "$rounds" --export-json "$tmp/cli.json" "bash -c \"$cli_cmd\"" >&2
    cli_secs="$(python3 -c 'import json,sys; print(min(json.load(open(sys.argv[1]))["results"][0]["times"]))' "$tmp/cli.json")"
    cli_method="hyperfine, best of $rounds"
else
    cli_secs=""
    for _ in $(seq "$rounds"); do
        start=$(date +%s%N)
        bash -c "$cli_cmd"
        end=$(date +%s%N)
        t=$(python3 -c "print(($end - $start) / 1e9)")
        cli_secs=$(python3 -c "print(min(float('$t'), float('${cli_secs:-inf}')))")
    done
    cli_method="best of $rounds timed runs"
fi

python3 bench/parse_vs_buildkit_report.py "$tmp/slipway.txt" "$tmp/buildkit.txt" "$cli_secs" "$cli_method" \
    "$rounds" bench/RESULTS.md
