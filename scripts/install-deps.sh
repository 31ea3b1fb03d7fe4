#!/usr/bin/env bash
# Installs the Debian 12 packages Sluice needs to build, run and test, but only those that are
# missing: when everything is present it only runs dpkg-query and returns in well under a second.
# Usage: scripts/install-deps.sh        (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ make cmake pkg-config git ca-certificates
  # libraries (see CMakeLists.txt)
  librdkafka-dev librocksdb-dev prometheus-cpp-dev nlohmann-json3-dev doctest-dev
  libsimdjson-dev libpg-query-dev libh2o-evloop-dev libssl-dev zlib1g-dev libzstd-dev
  libcurl4-openssl-dev libcli11-dev libspdlog-dev libconcurrentqueue-dev libxxhash-dev libjemalloc-dev ccache
  # tools the tests and demo use (chromium: the status page's browser test, tests/browser)
  curl procps chromium
  # prometheus (with promtool) and python3: the monitoring test, tests/monitoring
  prometheus python3
  # the libFuzzer target (cmake -DSLUICE_FUZZ=ON with clang; docs/golden-tests.md)
  clang libclang-rt-14-dev
)
# Node.js 18+ and npm run the AWS SDK compatibility tests (tests/compat). Only when missing from
# PATH: a Node.js installed another way (NodeSource, nvm) is kept, not replaced by Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  [[ "$p" == \#* ]] && continue
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: run as root (or install sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
