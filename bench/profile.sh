#!/usr/bin/env bash
# Profiles `sluice-bench nexmark` (t1/t2: the query on runtime::Engine, generated in its splits)
# with perf (software clock, call graphs). The generator runs inside the source's splits, so its
# functions (sluice::nexmark::Generator, Event::ToJson for t2) are in the profile beside the
# engine's; the bench reports its share as generator_cpu_s.
#   bench/profile.sh QUERY TIER [EVENTS] [SLUICE_BENCH]   e.g. bench/profile.sh q0 t2 3000000
# Prints the top functions (self time) and writes the perf data to /tmp/sluice-profile-QUERY-TIER.data.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${1:?query}; T=${2:?tier}; N=${3:-3000000}; BIN=${4:-build/bench/sluice-bench}
OUT=/tmp/sluice-profile-$Q-$T.data
perf record -q -e cpu-clock -F 4000 -g -o "$OUT" -- "$BIN" nexmark --query "$Q" --tier "$T" --events "$N" \
  | grep '^{' >&2
perf report -i "$OUT" --no-children --sort symbol --stdio -g none --percent-limit 1 2>/dev/null \
  | grep -E '^ +[0-9]' | sed -E 's/ +$//' | cut -c1-160 | head -${TOP:-25}
