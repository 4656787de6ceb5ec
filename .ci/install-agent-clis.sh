#!/bin/sh
# Install the pinned agent CLIs into <checkout>/.npm-cli (put .npm-cli/node_modules/.bin on PATH).
#
# claude-code and opencode-ai put their native binary in place from a postinstall script, and npm 11 skips
# dependency install scripts unless package.json allows them (`allowScripts`); without it `claude` and
# `opencode` would be placeholder stubs. Each binary is run once at the end to prove it works.
set -eu

CLAUDE_VERSION=2.1.197
CODEX_VERSION=0.169.0
OPENCODE_VERSION=1.18.33

root=$(cd "$(dirname "$0")/.." && pwd)
prefix="$root/.npm-cli"
mkdir -p "$prefix"
cat > "$prefix/package.json" <<JSON
{
  "private": true,
  "dependencies": {
    "@anthropic-ai/claude-code": "$CLAUDE_VERSION",
    "@openai/codex": "$CODEX_VERSION",
    "opencode-ai": "$OPENCODE_VERSION"
  },
  "allowScripts": {
    "@anthropic-ai/claude-code@$CLAUDE_VERSION": true,
    "opencode-ai@$OPENCODE_VERSION": true
  }
}
JSON

# One more try after a pause: a registry hiccup should not fail a whole CI run.
npm install --prefix "$prefix" --no-audit --no-fund --no-save \
    || { sleep 10; npm install --prefix "$prefix" --no-audit --no-fund --no-save; }

bin="$prefix/node_modules/.bin"
check() {
    version=$("$bin/$1" --version 2>&1) || { echo "install-agent-clis: $1 does not run: $version" >&2; exit 1; }
    case "$version" in
        *"$2"*) echo "$1: $version" ;;
        *) echo "install-agent-clis: $1 reports '$version', expected $2" >&2; exit 1 ;;
    esac
}
check claude "$CLAUDE_VERSION"
check codex "$CODEX_VERSION"
check opencode "$OPENCODE_VERSION"
