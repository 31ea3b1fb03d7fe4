#!/usr/bin/env bash
# Worker scaling of the engine on in-process input, at 1 and 2 workers, run alternately so that
# load changes hit both alike: Nexmark queries through runtime::Engine (`sluice-bench nexmark
# --workers N`, generated splits, the generator counted) and the Wild Rydes pipeline
# (`sluice-bench wildrydes --in-process --workers N`, generated JSON statuses). Prints one line per
# run and then the medians: wall-clock events/s, whole-process and query-only events per
# CPU-second (Wild Rydes: whole process only).
#
#   bench/scaling.sh [SLUICE_BENCH=build/bench/sluice-bench] [RUNS=5] [EVENTS=4000000] [QUERIES="q5 q7 q11 wildrydes"]
set -euo pipefail
BIN=${1:-build/bench/sluice-bench}; RUNS=${2:-5}; EVENTS=${3:-4000000}; QUERIES=${4:-q5 q7 q11 wildrydes}
out=$(mktemp)
for r in $(seq "$RUNS"); do
  for q in $QUERIES; do
    for w in 1 2; do
      if [[ $q == wildrydes ]]; then
        line=$("$BIN" wildrydes --in-process --events "$EVENTS" --workers "$w" | grep '^{' | tail -1)
        line=$(echo "$line" | python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); j.update(query="wildrydes", events_per_s=j["records_per_s"], whole_events_per_cpu_s=j["records_per_cpu_s"], query_events_per_cpu_s=0); print(json.dumps(j))')
      else
        line=$("$BIN" nexmark --query "$q" --events "$EVENTS" --workers "$w" --splits 4 | grep '^{' | tail -1)
      fi
      echo "$line" >> "$out"
      echo "$line" | python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(j["query"], "workers", j["workers"], "wall", j["wall_s"], "events/s", j["events_per_s"], "whole/CPU-s", j["whole_events_per_cpu_s"], "query/CPU-s", j["query_events_per_cpu_s"], "rss MiB", j["peak_rss_mib"])'
    done
  done
done
python3 - "$out" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for j in rows: by.setdefault((j["query"], j["workers"]), []).append(j)
print("| query | workers | events/s (wall) | speed-up | whole process events/CPU-s | query only events/CPU-s | peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for (q, w) in sorted(by):
    xs = by[(q, w)]
    eps = st.median(x["events_per_s"] for x in xs)
    base = st.median(x["events_per_s"] for x in by.get((q, 1), xs))
    print(f"| {q} | {w} | {eps/1e6:.2f}M | {eps/base:.2f}x | {st.median(x['whole_events_per_cpu_s'] for x in xs)/1e6:.2f}M | " +
          (f"{st.median(x['query_events_per_cpu_s'] for x in xs)/1e6:.2f}M" if q != "wildrydes" else "—") + f" | {st.median(x['peak_rss_mib'] for x in xs):.0f} |")
PY
rm -f "$out"
