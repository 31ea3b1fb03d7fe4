#!/usr/bin/env bash
# Profiles only the query part of `sluice-bench nexmark` (t1/t2) with perf (software clock, call
# graphs): the generator's chunks are left out, so they do not drown the engine. For the whole
# process (generator included), run plain `perf record -g -- sluice-bench nexmark ...`.
#   bench/profile.sh QUERY TIER [EVENTS] [SLUICE_BENCH]   e.g. bench/profile.sh q0 t2 3000000
# Prints the top functions (self time) and writes the perf data to /tmp/sluice-profile-QUERY-TIER.data.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${1:?query}; T=${2:?tier}; N=${3:-3000000}; BIN=${4:-build-rel/bench/sluice-bench}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
mkfifo "$TMP/ctl" "$TMP/ack"
OUT=/tmp/sluice-profile-$Q-$T.data
SLUICE_BENCH_PERF_CTL="$TMP/ctl:$TMP/ack" perf record -q -e cpu-clock -F 4000 -g --delay=-1 \
  --control="fifo:$TMP/ctl,$TMP/ack" -o "$OUT" -- "$BIN" nexmark --query "$Q" --tier "$T" --events "$N" \
  | grep '^{' >&2
perf report -i "$OUT" --no-children --sort symbol --stdio -g none --percent-limit 1 2>/dev/null \
  | grep -E '^ +[0-9]' | sed -E 's/ +$//' | cut -c1-160 | head -${TOP:-25}
