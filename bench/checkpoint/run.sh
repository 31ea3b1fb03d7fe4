#!/usr/bin/env bash
# Runs checkpoint_bench (issue 5) RUNS times per configuration, each run a fresh process, and
# prints a Markdown table of medians (docs/benchmarks.md, "Checkpoints and recovery").
#
#   bench/checkpoint/run.sh [RUNS=3]
#   bench/checkpoint/run.sh --report RAW.jsonl...   (only the table, from earlier runs' JSON lines)
#
# Configurations (CONFIGS, "KEYS:CACHE:PASSES[:WINDOW] ..."; PASSES 0 = the bench's default of
# max(3, 30M / keys) throughput passes; WINDOW tumble (default) or session): 1M keys with all
# state in memory; 1M keys with the server's default state cache (1M groups: nothing is evicted,
# recovery is lazy); 10M keys all in memory; 10M keys with the default cache (9M groups spilled
# to RocksDB), one pass per phase; and SESSION configurations in SESSION_CONFIGS (default:
# 1M keys in memory and with the default cache, 10M keys with the default cache). An empty
# CONFIGS or SESSION_CONFIGS skips that kind.
# Environment: BIN (default build/bench/checkpoint/checkpoint_bench, a Release build: 
# `BUILD_TARGET=checkpoint_bench scripts/build build -DCMAKE_BUILD_TYPE=Release`), DIR (scratch
# folder for the RocksDB store, default /tmp/sluice-checkpoint-bench), CONFIGS ("KEYS:CACHE ...").
set -euo pipefail
cd "$(dirname "$0")/../.."
REPORT_ONLY=0
if [[ ${1:-} == --report ]]; then
  REPORT_ONLY=1
  shift
fi
RUNS=${1:-3}
BIN=${BIN:-build/bench/checkpoint/checkpoint_bench}
DIR=${DIR:-/tmp/sluice-checkpoint-bench}
CONFIGS=${CONFIGS-"1000000:0:0 1000000:1000000:0 10000000:0:1 10000000:1000000:1"}
CONFIGS="$CONFIGS ${SESSION_CONFIGS-1000000:0:0:session 1000000:1000000:0:session 10000000:1000000:1:session}"
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT
if [[ $REPORT_ONLY == 1 ]]; then
  cat "$@" | grep '^{' > "$RAW"
  CONFIGS=""
fi
for c in $CONFIGS; do
  IFS=: read -r keys cache passes window <<< "$c"
  for r in $(seq "$RUNS"); do
    line=$("$BIN" --keys "$keys" --cache-groups "$cache" --passes "$passes" --window "${window:-tumble}" --dir "$DIR")
    echo "$line" >&2
    echo "$line" | sed "s/^{/{\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",/" >> "$RAW"
  done
done
python3 - "$RAW" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
groups = {}
for r in rows:
    groups.setdefault((r.get("window", "tumble") != "tumble", r["keys"], r["cache_groups"]), []).append(r)
def m(rs, k): return statistics.median(r[k] for r in rs)
print("Medians of the runs per line (each a fresh process), Release build. State: one open 1-hour TUMBLE")
print("window, GROUP BY a BIGINT key, three aggregates (SESSION rows: one open 1-hour session per key, the")
print("same aggregates; the cache counts sessions); RocksDB store with synced commits (runtime::RocksStateStore).")
print("Checkpoints are taken as the query runner takes them: the worker serializes the changed groups")
print("(its pause), the commit runs on another thread, one in flight at a time.")
print()
print("| window | keys | state cache | full checkpoint: worker pause / total s (MB) | incremental checkpoint, 1% of keys changed, s (MB) "
      "| recovery to processing s (groups loaded) | first pass over every key after recovery s | rows/s, no checkpoints "
      "| rows/s, checkpoints every 10 s | throughput cost (checkpoints) | peak RSS MiB | runs | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (session, keys, cache), rs in sorted(groups.items()):
    off, on = m(rs, "rows_per_s_checkpoints_off"), m(rs, "rows_per_s_checkpoints_on")
    ok = all(r["results_exact"] for r in rs)
    loads = sorted(float(r["load"]) for r in rs if "load" in r) or [float("nan")]
    print(f"| {'SESSION' if session else 'TUMBLE'} | {keys:,} | {'none (all in memory)' if cache == 0 else f'{cache:,} groups'} | "
          f"{m(rs, 'full_checkpoint_serialize_seconds'):.2f} / {m(rs, 'full_checkpoint_seconds'):.2f} ({m(rs, 'full_checkpoint_mb'):.0f}) | "
          f"{m(rs, 'incremental_checkpoint_seconds'):.3f} ({m(rs, 'incremental_checkpoint_mb'):.1f}) | "
          f"{m(rs, 'recovery_seconds'):.3f} ({int(m(rs, 'groups_in_memory_after_recovery')):,}){'' if ok else ' RESULTS WRONG'} | "
          f"{m(rs, 'first_pass_after_recovery_seconds'):.2f} | "
          f"{off/1e6:.2f}M | {on/1e6:.2f}M | "
          + (f"{100*(1-on/off):.1f}% ({int(m(rs, 'checkpoints_taken'))})" if cache == 0 or keys <= cache else
             f"n/a: over the bound both phases checkpoint every 100 ms ({int(m(rs, 'checkpoints_taken'))})")
          + f" | {int(m(rs, 'peak_rss_mb')):,} | {len(rs)} | {loads[0]:.1f}–{loads[-1]:.1f} |")
PY
