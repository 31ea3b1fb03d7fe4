#!/usr/bin/env bash
# Runs every benchmark of docs/benchmarks.md and regenerates its generated sections.
#
#   bench/run_all.sh            # defaults finish in about 12 minutes on 2 cores
#
# Environment (all optional):
#   RUNS=5                 runs per figure (each run is a fresh process; figures are medians)
#   EVENTS=1000000         Nexmark events per run, tiers t1 and t2
#   EVENTS_T3=500000       Nexmark events per run, tier t3 (HTTP + log + server child process)
#   QUERIES="q0 q1 q2 q5 q7 q8 q11"   queries to run (missing ones are reported "not available yet")
#   TIERS="t1 t2 t3"
#   WR_DURATION=10         seconds per wildrydes phase (peak, then latency at 70% of peak)
#   INGEST=0               1: also rerun bench/ingest/run.sh (needs Node.js; ~4 min) and replace
#                          the ingest section; 0: keep the existing ingest section unchanged
#   CHECKPOINT=0           1: also rerun bench/checkpoint/run.sh (1M and 10M keys, TUMBLE and
#                          SESSION; over an hour with RUNS=3) and replace the checkpoint section;
#                          0: keep it unchanged
#   BUILD_DIR=build-rel    Release build directory (configured and built here)
#   DOC=docs/benchmarks.md the file whose generated sections are rewritten
#   OUT=$BUILD_DIR/bench-all.jsonl   raw JSON lines of every run
# Everything measured goes to stdout as it runs, with `uptime` load on every line.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
EVENTS=${EVENTS:-1000000}
EVENTS_T3=${EVENTS_T3:-500000}
QUERIES=${QUERIES:-"q0 q1 q2 q5 q7 q8 q11"}
TIERS=${TIERS:-"t1 t2 t3"}
WR_DURATION=${WR_DURATION:-10}
INGEST=${INGEST:-0}
CHECKPOINT=${CHECKPOINT:-0}
BUILD_DIR=${BUILD_DIR:-build-rel}
DOC=${DOC:-docs/benchmarks.md}
OUT=${OUT:-$BUILD_DIR/bench-all.jsonl}

echo "== building Release in $BUILD_DIR"
BUILD_TARGET=sluice-bench scripts/build "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
if ! grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD_DIR/CMakeCache.txt"; then
  echo "run_all.sh: $BUILD_DIR is not a Release build; use another BUILD_DIR" >&2
  exit 1
fi
BENCH=$BUILD_DIR/bench/sluice-bench   # t3 starts $BUILD_DIR/app/sluice (built with it)

MACHINE=$BUILD_DIR/bench-machine.txt
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "uname: $(uname -a)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cpus: $(nproc) ($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core)"
  echo "l3: $(lscpu | sed -n 's/^L3 cache: *//p')"
  echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "runs: $RUNS"
  echo "events: $EVENTS"
  echo "events_t3: $EVENTS_T3"
  echo "wr_duration: $WR_DURATION"
} > "$MACHINE"
echo "== machine"; cat "$MACHINE"; lscpu | head -20

: > "$OUT"
for q in $QUERIES; do
  for t in $TIERS; do
    n=$EVENTS; [[ $t == t3 ]] && n=$EVENTS_T3
    for r in $(seq "$RUNS"); do
      set +e
      line=$("$BENCH" nexmark --query "$q" --tier "$t" --events "$n" --checkpoint-interval 10)
      rc=$?
      set -e
      echo "$line" | grep -v '^{' || true
      echo "$line" | grep '^{' | sed "s/^{/{\"command\":\"sluice-bench nexmark --query $q --tier $t --events $n --checkpoint-interval 10\",/" >> "$OUT"
      if [[ $rc == 3 ]]; then break 2; fi   # not available yet: skip the query's other runs and tiers
      if [[ $rc != 0 ]]; then echo "run_all.sh: $q $t run $r failed (exit $rc)" >&2; fi
    done
  done
done

for r in $(seq "$RUNS"); do
  set +e
  line=$("$BENCH" wildrydes --duration "$WR_DURATION")
  rc=$?
  set -e
  echo "$line" | grep -v '^{' || true
  echo "$line" | grep '^{' | sed "s/^{/{\"command\":\"sluice-bench wildrydes --duration $WR_DURATION\",/" >> "$OUT"
  [[ $rc == 0 ]] || echo "run_all.sh: wildrydes run $r failed (exit $rc)" >&2
done

INGEST_MD=""
if [[ $INGEST == 1 ]]; then
  echo "== ingest (bench/ingest/run.sh, needs build/ with ingest_bench)"
  BUILD_TARGET=sluice scripts/build build -DCMAKE_BUILD_TYPE=Release
  BUILD_TARGET=ingest_bench scripts/build build
  INGEST_MD=$BUILD_DIR/bench-ingest.md
  CONNS=8 bench/ingest/run.sh "$RUNS" 8 > "$INGEST_MD"
fi

CHECKPOINT_MD=""
if [[ $CHECKPOINT == 1 ]]; then
  echo "== checkpoints (bench/checkpoint/run.sh)"
  BUILD_TARGET=checkpoint_bench scripts/build "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
  CHECKPOINT_MD=$BUILD_DIR/bench-checkpoint.md
  BIN=$BUILD_DIR/bench/checkpoint/checkpoint_bench bench/checkpoint/run.sh "$RUNS" > "$CHECKPOINT_MD"
fi

echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$MACHINE"
python3 bench/report.py "$OUT" "$MACHINE" "$DOC" ${INGEST_MD:+"$INGEST_MD"} ${CHECKPOINT_MD:+"checkpoint=$CHECKPOINT_MD"}
echo "== wrote $DOC (raw runs in $OUT)"
