#include "app/explain.h"

#include <cstdio>
#include <numeric>

#include "operators/aggregate_function.h"
#include "operators/key_groups.h"
#include "operators/expr_eval.h"

namespace sluice::app {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return b <= 0 ? 0 : (a + b - 1) / b; }

std::string Bytes(double n) {
  char buf[32];
  if (n < 1024) {
    std::snprintf(buf, sizeof buf, "%.0f B", n);
  } else if (n < 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024);
  } else if (n < 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", n / (1024.0 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f GiB", n / (1024.0 * 1024 * 1024));
  }
  return buf;
}

// Windows (panes, sessions) held in state per key, per the header's formula.
int64_t StateUnits(const SourceDef& source, const WindowDef& w) {
  const int64_t held = source.watermark_delay.count() + source.allowed_lateness.count();
  switch (w.kind) {
    case WindowKind::kTumble: return CeilDiv(held, w.size.count()) + 1;
    case WindowKind::kHop: {
      const int64_t pane = std::gcd(w.slide.count(), w.size.count());
      return CeilDiv(w.size.count() + held, pane) + 1;
    }
    case WindowKind::kSession: return CeilDiv(held, w.gap.count()) + 1;
    case WindowKind::kNone: return 0;
  }
  return 0;
}

size_t BytesPerGroup(const QueryDef& q) {
  size_t b = 96 + 48 * q.group_keys.size();
  for (const AggregateDef& a : q.aggregates) b += ops::EstimatedAccumulatorBytes(a.kind, 100);
  return b;
}

std::string StateKey(const QueryDef& q) {
  std::string key = "(";
  for (size_t i = 0; i < q.group_keys.size(); ++i) key += (i ? ", " : "") + q.group_keys[i].text;
  if (!q.group_keys.empty()) key += ", ";
  switch (q.window.kind) {
    case WindowKind::kTumble: key += "window_start"; break;
    case WindowKind::kHop: key += "pane_start"; break;
    case WindowKind::kSession: key += "session_start"; break;
    case WindowKind::kNone: break;
  }
  return key + ")";
}

}  // namespace

size_t EstimatedStateBytesPerKey(const Pipeline& pipeline, const QueryDef& query) {
  if (query.window.kind == WindowKind::kNone) return 0;
  const SourceDef& source = pipeline.sources[static_cast<size_t>(query.source)];
  return static_cast<size_t>(StateUnits(source, query.window)) * BytesPerGroup(query);
}

std::string ExplainPipeline(const Pipeline& p) {
  std::string o;
  for (const auto& s : p.sources) {
    if (s.connector == "kafka") {
      o += "source " + s.name + ": kafka topic " + s.options.at("topic") + " at " + s.options.at("bootstrap_servers") +
           ", one split per partition (" +
           (s.options.count("partitions") ? "partitions " + s.options.at("partitions") : std::string("all partitions")) +
           "), " + s.format;
    } else {
      o += "source " + s.name + ": stream, " + std::to_string(s.shards) + " shards, " + s.format;
    }
    if (s.event_time_column >= 0) {
      o += ", event time " + s.schema[static_cast<size_t>(s.event_time_column)].name + ", watermark = max(event time) - " +
           FormatDuration(s.watermark_delay);
    }
    if (s.idle_timeout.count()) {
      o += ", idle after " + FormatDuration(s.idle_timeout) + (s.idle_timeout == kDefaultIdleTimeout ? " (default)" : "");
    } else {
      o += ", shards never idle";
    }
    if (s.allowed_lateness.count()) o += ", allowed lateness " + FormatDuration(s.allowed_lateness);
    o += "\n";
    // The engine's shared scan (runtime/source_scan.h): one read and one decode for all readers.
    std::vector<std::string> readers;
    std::vector<bool> needed(s.schema.size(), false);
    for (const auto& q : p.queries) {
      if (p.sources[static_cast<size_t>(q.source)].name != s.name) continue;
      readers.push_back(q.name);
      const std::vector<bool> used = ops::ColumnsUsed(q, s.schema.size(), s.event_time_column);
      for (size_t c = 0; c < needed.size() && c < used.size(); ++c) needed[c] = needed[c] || used[c];
    }
    bool by_pk = false;
    for (const auto& q : p.queries) {
      by_pk = by_pk || (p.sources[static_cast<size_t>(q.source)].name == s.name && s.connector == "stream" &&
                        ops::PartitionKeyGroupKey(s, q) >= 0);
    }
    if (s.partition_key_column >= 0) o += "  partition key: " + s.schema[static_cast<size_t>(s.partition_key_column)].name + "\n";
    if (!readers.empty()) {
      o += std::string(by_pk ? "  scan: with N workers, worker w reads the shards whose hash-key ranges hold its key groups"
                             : "  scan: with N workers, worker w reads shards i with i mod N = w") +
           " and decodes each record once for " +
           std::to_string(readers.size()) + (readers.size() == 1 ? " query" : " queries") + " (";
      for (size_t i = 0; i < readers.size(); ++i) o += (i ? ", " : "") + readers[i];
      o += "); columns decoded:";
      for (size_t c = 0; c < needed.size(); ++c) {
        if (needed[c]) o += " " + s.schema[c].name;
      }
      o += "\n";
      if (s.event_time_column >= 0) {
        o += "  watermark alignment: a shard more than 60s (the default) ahead in event time of the slowest shard"
             " still being read waits for it\n";
      }
    }
  }
  for (const auto& q : p.queries) {
    const SinkDef& sink = p.sinks[static_cast<size_t>(q.sink)];
    const SourceDef& src = p.sources[static_cast<size_t>(q.source)];
    o += "\nquery " + q.name + ": " + src.name + " -> " + sink.name + " (" + sink.connector + ")\n";
    o += "  rows from the shared scan of " + src.name + " (decoded once)\n";
    // How rows reach the worker holding their state (runtime/source_scan.h).
    const bool keyed = q.stages || q.window.kind != WindowKind::kNone;
    const uint32_t k = ops::DefaultKeyGroups(q);
    if (!keyed) {
      o += "  exchange: none (no keyed state: each worker runs the query on the shards it reads)\n";
    } else if (k == 1) {
      o += "  exchange: single worker (one key group, on worker 0: the source's scan runs on worker 0 alone, unless"
           " another query of the source has key groups; then the other workers send this query's rows to"
           " worker 0)\n";
    } else if (const int pk = ops::PartitionKeyGroupKey(src, q); pk >= 0 && src.connector == "stream") {
      o += "  exchange: partition key (GROUP BY holds " + q.group_keys[static_cast<size_t>(pk)].text +
           ", the source's partition_key: state in " + std::to_string(k) +
           " key groups by the key's Kinesis hash key, and each worker reads the shards whose hash-key ranges"
           " hold its groups, so rows stay on the worker that read them when N divides the shard count;"
           " otherwise the groups a shard shares with another worker are exchanged)\n";
    } else {
      o += "  exchange: key group (state in " + std::to_string(k) +
           " key groups by XXH3 of the GROUP BY key; with N > 1 workers each row goes to the worker owning its"
           " group over an SPSC queue; none with 1 worker)\n";
    }
    if (q.where) o += "  filter " + q.where->text + "\n";
    if (q.stages) {
      // Window-aligned stages (docs/sql.md): leaves fire whole windows; nodes run per fired window.
      const StagePlan& sp = *q.stages;
      o += "  window-aligned stages: " + std::to_string(sp.leaves.size()) + " windowed leaves, evaluated per fired window\n";
      for (size_t i = 0; i < sp.leaves.size(); ++i) {
        const QueryDef& leaf = sp.leaves[i];
        o += "    leaf " + std::to_string(i) + ": ";
        o += leaf.window.kind == WindowKind::kHop ? "HOP size " + FormatDuration(leaf.window.size) + " slide " +
                                                        FormatDuration(leaf.window.slide)
                                                  : "TUMBLE " + FormatDuration(leaf.window.size);
        if (leaf.where) o += ", where " + leaf.where->text;
        if (leaf.aggregating()) {
          o += ", state key " + StateKey(leaf) + ", aggregates";
          for (const auto& a : leaf.aggregates) o += " " + a.text;
        } else {
          o += ", buffers " + std::to_string(leaf.projections.size()) + " columns per row until the window fires";
        }
        o += "\n";
      }
      for (size_t n = 0; n < sp.nodes.size(); ++n) {
        const StageNode& node = sp.nodes[n];
        o += "    node " + std::to_string(n) + ": ";
        switch (node.kind) {
          case StageNode::Kind::kLeaf: o += "rows of leaf " + std::to_string(node.leaf); break;
          case StageNode::Kind::kJoin:
            o += "hash join of nodes " + std::to_string(node.left) + " and " + std::to_string(node.right) + " on " +
                 std::to_string(node.left_keys.size()) + " keys";
            if (node.condition) o += ", then " + node.condition->text;
            break;
          case StageNode::Kind::kAggregate:
            o += "hash aggregate of node " + std::to_string(node.left) + ":";
            for (const auto& a : node.aggregate.aggregates) o += " " + a.text;
            break;
          case StageNode::Kind::kProject:
            o += "project " + std::to_string(node.projections.size()) + " columns of node " + std::to_string(node.left);
            if (node.condition) o += " where " + node.condition->text;
            break;
        }
        o += "\n";
      }
      o += "  watermark: column " + src.schema[static_cast<size_t>(src.event_time_column)].name + ", delay " +
           FormatDuration(src.watermark_delay) + "\n";
    } else if (q.window.kind == WindowKind::kNone) {
      o += "  project " + std::to_string(q.projections.size()) + " columns\n";
    } else {
      const std::string& ts = src.schema[static_cast<size_t>(q.window.time_column)].name;
      o += "  watermark: column " + ts + ", delay " + FormatDuration(src.watermark_delay) + " (per shard max(" + ts +
           ") - delay, minimum over " +
           (src.connector == "kafka" ? std::string("the topic's partitions") : std::to_string(src.shards) + " shards");
      o += src.idle_timeout.count() ? ", shards idle after " + FormatDuration(src.idle_timeout) + ")\n"
                                    : ", shards never idle)\n";
      switch (q.window.kind) {
        case WindowKind::kTumble:
          o += "  tumbling window " + FormatDuration(q.window.size) + " on " + ts +
               ", fires when the watermark passes window_end\n";
          break;
        case WindowKind::kHop: {
          const int64_t pane = std::gcd(q.window.slide.count(), q.window.size.count());
          o += "  hopping window size " + FormatDuration(q.window.size) + " slide " + FormatDuration(q.window.slide) +
               " on " + ts + ", panes of " +
               FormatDuration(Duration(pane)) + " (" + std::to_string(q.window.size.count() / pane) +
               " per window, merged when a window fires at window_end)\n";
          break;
        }
        case WindowKind::kSession:
          o += "  session window gap " + FormatDuration(q.window.gap) + " on " + ts +
               ", per key; fires when the watermark passes the session end\n";
          break;
        case WindowKind::kNone: break;
      }
      if (src.allowed_lateness.count() > 0) {
        o += "  late rows: allowed lateness " + FormatDuration(src.allowed_lateness) +
             " (fired windows keep state that long; updates re-emit them); later rows -> dead-letter queue, "
             "stage \"late\"\n";
      } else {
        o += "  late rows: allowed lateness 0s; rows for fired windows -> dead-letter queue, stage \"late\"\n";
      }
      o += "  state key: " + StateKey(q) + "\n";
      o += "  aggregates:";
      for (const auto& a : q.aggregates) o += " " + a.text;
      o += "\n";
      if (q.having) o += "  having " + q.having->text + "\n";
      o += "  emit: on window close";
      if (sink.emit_interval.count()) {
        o += ", and partial rows of changed open windows every " + FormatDuration(sink.emit_interval) +
             " of processing time";
      }
      o += "\n";
      const size_t per_key = EstimatedStateBytesPerKey(p, q);
      o += "  state estimate: " + std::to_string(StateUnits(src, q.window)) + " windows/panes per key x " +
           Bytes(static_cast<double>(BytesPerGroup(q))) + " = " + Bytes(static_cast<double>(per_key)) +
           " per distinct key (" + Bytes(static_cast<double>(per_key) * 1000) + " for 1,000 keys)\n";
    }
    o += "  sink columns:";
    for (const auto& c : sink.schema.columns()) o += " " + c.name + " " + DataTypeName(c.type) + ",";
    o.pop_back();
    o += "\n";
  }
  return o;
}

}  // namespace sluice::app
