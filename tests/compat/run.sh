#!/usr/bin/env bash
# Runs the Kinesis compatibility tests: AWS's JavaScript SDK v3 against `sluice run`.
# Usage: tests/compat/run.sh SLUICE_BINARY WORK_DIR
# Installs the pinned npm packages (package-lock.json) into WORK_DIR/node_modules with `npm ci`
# when they are missing or the lock file changed, then runs `node --test` there. Fails, never
# skips, when Node.js or npm is missing.
set -euo pipefail

fail() {
  echo "kinesis_compat_test: $*" >&2
  exit 1
}

# First, so that a machine without Node.js fails here, with this message.
command -v node >/dev/null || fail "node is not installed; this test needs Node.js 18 or newer (scripts/install-deps.sh installs the Debian package nodejs)"
command -v npm >/dev/null || fail "npm is not installed; this test needs it to install @aws-sdk/client-kinesis (scripts/install-deps.sh installs the Debian package npm)"
major="$(node -p 'process.versions.node.split(".")[0]')"
((major >= 18)) || fail "Node.js $(node --version) is too old; this test needs 18 or newer"

[[ $# -eq 2 ]] || fail "usage: $0 SLUICE_BINARY WORK_DIR"
here="$(cd "$(dirname "$0")" && pwd)"
[[ -x "$1" ]] || fail "sluice binary $1 is missing (build it first)"
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
work="$2"

mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$work/"
if ! cmp -s "$here/package-lock.json" "$work/node_modules/.sluice-package-lock.json"; then
  echo "kinesis_compat_test: npm ci in $work" >&2
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed (is the npm registry reachable?)"
  cp "$here/package-lock.json" "$work/node_modules/.sluice-package-lock.json"
fi
cp "$here"/*.test.mjs "$work/"
cd "$work"
SLUICE_BINARY="$binary" exec node --test kinesis_compat.test.mjs
