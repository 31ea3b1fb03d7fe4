#!/usr/bin/env bash
# A/B check of two sluice-bench binaries (each with the sluice of its own build tree, for t3) on the
# same machine, run alternately so that load changes hit both alike. Prints one line per run:
# version, query, tier, whole-process events/CPU-s (generator included), query-only events/CPU-s,
# query wall seconds.
#
#   bench/ab.sh BASE_SLUICE_BENCH HEAD_SLUICE_BENCH [RUNS=3]
#
# e.g. build another commit with `git worktree add /tmp/base <commit>` and
# `BUILD_TARGET=sluice-bench scripts/build /tmp/base/build -DCMAKE_BUILD_TYPE=Release`, then
# `bench/ab.sh /tmp/base/build/bench/sluice-bench build/bench/sluice-bench`. (Commits before
# sluice-bench existed: pass a wrapper script that runs `sluice bench "$@"`.)
set -euo pipefail
BASE=${1:?base sluice-bench binary}; HEAD=${2:?head sluice-bench binary}; RUNS=${3:-3}
for r in $(seq "$RUNS"); do
  for v in base head; do
    if [[ $v == base ]]; then BIN=$BASE; else BIN=$HEAD; fi
    for spec in "q5 t1 1000000" "q0 t2 1000000" "q0 t3 300000"; do
      set -- $spec
      line=$("$BIN" nexmark --query "$1" --tier "$2" --events "$3" --checkpoint-interval 10 | grep '^{' | tail -1)
      echo "$v $1 $2 $(echo "$line" | python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(j.get("whole_events_per_cpu_s", "-"), j["events_per_cpu_s"], j["wall_s"])')"
    done
  done
done
