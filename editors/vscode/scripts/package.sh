#!/usr/bin/env bash
# Builds the VS Code extension from a clean state: install the locked dependencies, compile
# with tsc, lint, run the unit tests (client logic and the TextMate grammar), and package
# editors/vscode/slipway.vsix with @vscode/vsce. `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is missing (apt-get install nodejs npm, or Node.js 20+ from nodejs.org)" >&2
    exit 2
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
    echo "error: Node.js $(node --version) is too old; @vscode/vsce needs Node.js 20 or later" >&2
    exit 2
fi

npm ci --no-audit --no-fund --loglevel=error
rm -rf out
npx --no-install tsc -p .
npx --no-install eslint src
# (server.test.js talks to target/debug/slipway, or $SLIPWAY_BIN; it skips without one)
node --test --test-reporter=spec out/test/
npx --no-install vsce package --allow-missing-repository --skip-license --out slipway.vsix
# The package must hold the compiled extension, the grammar and the language client.
listing=$(python3 -m zipfile -l slipway.vsix)
for want in extension/out/extension.js extension/syntaxes/dockerfile.tmLanguage.json \
    extension/node_modules/vscode-languageclient/ extension/readme.md; do
    grep -q "$want" <<<"$listing" || { echo "error: slipway.vsix lacks $want" >&2; exit 1; }
done
echo "built $(pwd)/slipway.vsix ($(du -k slipway.vsix | cut -f1) KB)"
