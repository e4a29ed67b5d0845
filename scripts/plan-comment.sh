#!/usr/bin/env bash
# What a pull request rebuilds, as Markdown comments: for every Dockerfile of the
# repository, `slipway plan --base BASE --format markdown`, written to OUT/<n>.md with a
# first line `<!-- slipway-plan: PATH -->` that the CI workflows (docs/ci/) use to find
# and update their own comment. Needs only git and slipway (no store, no registry).
#   scripts/plan-comment.sh BASE_REV OUT_DIR
set -euo pipefail
base=${1:?usage: plan-comment.sh BASE_REV OUT_DIR}
out=${2:?usage: plan-comment.sh BASE_REV OUT_DIR}
slipway=${SLIPWAY:-slipway}
mkdir -p "$out"
n=0
# Dockerfiles tracked in git at HEAD or in the working tree (not ignored).
git ls-files --cached --others --exclude-standard -z |
    while IFS= read -r -d '' f; do
        case "${f##*/}" in
        Dockerfile | dockerfile | Containerfile | *.Dockerfile | *.dockerfile | Dockerfile.* | Containerfile.*) printf '%s\n' "$f" ;;
        esac
    done | sort -u >"$out/.dockerfiles"
while IFS= read -r f; do
    n=$((n + 1))
    dir=$(dirname "$f")
    {
        echo "<!-- slipway-plan: $f -->"
        echo "### \`$f\`"
        echo
        "$slipway" plan --base "$base" --format markdown -f "$f" "$dir" || echo "_slipway plan failed for \`$f\` (see the job log)_"
    } >"$out/$n.md"
    echo "$out/$n.md: $f"
done <"$out/.dockerfiles"
rm -f "$out/.dockerfiles"
