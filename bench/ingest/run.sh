#!/usr/bin/env bash
# Ingest benchmark: Sluice vs kinesalite, same client (ingest_bench), same machine, same run.
#   bench/ingest/run.sh [RUNS] [SECONDS]     (defaults: 5 runs of 10 s each)
# Needs a release build in build/ (scripts/build build) and Node.js with npm.
# Prints a markdown section (medians of RUNS runs) on stdout; raw JSON lines go to
# build/bench-ingest.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
SECS=${2:-10}
CONNS=${CONNS:-8}
BENCH=build/bench/ingest/ingest_bench
SLUICE=build/app/sluice
[[ -x $BENCH && -x $SLUICE ]] || { echo "build first: scripts/build build" >&2; exit 1; }
(cd bench/ingest && [[ -d node_modules/kinesalite ]] || npm ci --no-audit --no-fund >/dev/null)
OUT=build/bench-ingest.jsonl
: > "$OUT"
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
printf "CREATE TABLE bench (x TEXT) WITH (connector = 'stream', shards = 4);\n" > "$TMP/p.sql"

wait_port() { for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

for run in $(seq "$RUNS"); do
  # Sluice, ack after fsync, fresh data dir each run.
  rm -rf "$TMP/data"
  $SLUICE run "$TMP/p.sql" --data-dir "$TMP/data" --listen 127.0.0.1:4601 > "$TMP/sluice.log" 2>&1 &
  SP=$!
  wait_port 4601
  $BENCH --endpoint http://127.0.0.1:4601/ --stream bench --connections "$CONNS" --seconds "$SECS" \
         --server-pid $SP --label sluice-peak >> "$OUT"
  PEAK=$(tail -1 "$OUT" | sed 's/.*"records_per_s":\([0-9]*\).*/\1/')
  $BENCH --endpoint http://127.0.0.1:4601/ --stream bench --connections "$CONNS" --seconds "$SECS" \
         --rate $((PEAK / 2)) --server-pid $SP --label sluice-half >> "$OUT"
  kill $SP; wait $SP 2>/dev/null || true
  # kinesalite (in memory: the default, and the fastest way it runs).
  node bench/ingest/node_modules/kinesalite/cli.js --port 4602 --createStreamMs 0 > "$TMP/kl.log" 2>&1 &
  KP=$!
  wait_port 4602
  $BENCH --endpoint http://127.0.0.1:4602/ --stream bench --create --shards 4 --connections "$CONNS" \
         --seconds "$SECS" --server-pid $KP --label kinesalite-peak >> "$OUT"
  kill $KP; wait $KP 2>/dev/null || true
done
node bench/ingest/report.mjs "$OUT"
