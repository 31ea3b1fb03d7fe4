// Reads ingest_bench JSON lines and prints medians per label as a markdown table.
import { readFileSync } from 'node:fs';

const rows = readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const by = {};
for (const r of rows) (by[r.label] ??= []).push(r);
const cols = ['records_per_s', 'mb_per_s', 'p50_ms', 'p99_ms', 'server_cpu_s_per_million', 'server_peak_rss_mib'];
const med = {};
console.log(`| run | n | records/s | MB/s | p50 ack ms | p99 ack ms | server CPU s per 1M records | server peak RSS MiB |`);
console.log(`|---|---|---|---|---|---|---|---|`);
for (const [label, rs] of Object.entries(by)) {
  med[label] = Object.fromEntries(cols.map((c) => [c, median(rs.map((r) => r[c]))]));
  const m = med[label];
  console.log(`| ${label} | ${rs.length} | ${Math.round(m.records_per_s)} | ${m.mb_per_s.toFixed(1)} | ${m.p50_ms.toFixed(1)} | ${m.p99_ms.toFixed(1)} | ${m.server_cpu_s_per_million.toFixed(2)} | ${m.server_peak_rss_mib.toFixed(0)} |`);
}
if (med['sluice-peak'] && med['kinesalite-peak']) {
  const ratio = med['sluice-peak'].records_per_s / med['kinesalite-peak'].records_per_s;
  console.log(`\nSluice / kinesalite throughput (medians): **${ratio.toFixed(1)}x**`);
}
