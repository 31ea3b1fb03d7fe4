#!/usr/bin/env bash
# Runs the status page's browser test: `sluice run` of the Wild Rydes pipeline under load from
# unicorn-producer, its page at / in headless Chromium (Debian's chromium) driven by playwright-core.
# Usage: tests/browser/run.sh SLUICE_BINARY UNICORN_PRODUCER_BINARY WORK_DIR
# Installs playwright-core (package.json) into WORK_DIR/node_modules with `npm install` when it is
# missing or package.json changed, then runs `node --test` there. The screenshot is written to
# WORK_DIR/status-page.png, and also to docs/images/status-page.png when
# SLUICE_UPDATE_SCREENSHOT=1. Fails, never skips, when Node.js, npm or Chromium is missing.
# CHROMIUM=path picks another Chromium binary (default: /usr/bin/chromium).
set -euo pipefail

fail() {
  echo "status_page_browser_test: $*" >&2
  exit 1
}

# First, so that a machine without the tools fails here, with this message.
command -v node >/dev/null || fail "node is not installed; this test needs Node.js 18 or newer (scripts/install-deps.sh installs the Debian package nodejs)"
command -v npm >/dev/null || fail "npm is not installed; this test needs it to install playwright-core (scripts/install-deps.sh installs the Debian package npm)"
major="$(node -p 'process.versions.node.split(".")[0]')"
((major >= 18)) || fail "Node.js $(node --version) is too old; this test needs 18 or newer"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[[ -x "$chromium" ]] || fail "$chromium is missing; this test needs Chromium (scripts/install-deps.sh installs the Debian package chromium)"

[[ $# -eq 3 ]] || fail "usage: $0 SLUICE_BINARY UNICORN_PRODUCER_BINARY WORK_DIR"
here="$(cd "$(dirname "$0")" && pwd)"
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
[[ -x "$1" ]] || fail "sluice binary $1 is missing (build it first)"
[[ -x "$2" ]] || fail "unicorn-producer binary $2 is missing (build it first)"
sluice="$(abs "$1")"
producer="$(abs "$2")"
work="$3"

mkdir -p "$work"
cp "$here/package.json" "$work/"
if [[ ! -f "$work/node_modules/playwright-core/package.json" ]] ||
   ! cmp -s "$here/package.json" "$work/node_modules/.sluice-package.json"; then
  echo "status_page_browser_test: npm install in $work" >&2
  (cd "$work" && npm install --no-audit --no-fund --no-package-lock --loglevel=error) ||
    fail "npm install failed (is the npm registry reachable?)"
  cp "$here/package.json" "$work/node_modules/.sluice-package.json"
fi
cp "$here"/*.test.mjs "$work/"
cd "$work"
SLUICE_BINARY="$sluice" UNICORN_PRODUCER="$producer" CHROMIUM="$chromium" \
  SLUICE_SOURCE_DIR="$(cd "$here/../.." && pwd)" exec node --test --test-reporter=spec status_page.test.mjs
