#include "sql/plan_state.h"

#include <algorithm>
#include <cctype>

namespace sluice::sql {
namespace {

std::string ColumnList(const Schema& schema) {
  if (schema.empty()) return "(none)";
  std::string out;
  for (size_t i = 0; i < schema.size(); ++i) {
    if (i > 0) out += ", ";
    out += QuoteIdent(schema[i].name);
  }
  return out;
}

bool Assignable(DataType from, DataType to) {
  return from == to || from == DataType::kNull || (from == DataType::kInt64 && to == DataType::kFloat64);
}

}  // namespace

int PlanState::SourceIndex(std::string_view name) const {
  for (size_t i = 0; i < pipeline.sources.size(); ++i) {
    if (pipeline.sources[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int PlanState::SinkIndex(std::string_view name) const {
  for (size_t i = 0; i < pipeline.sinks.size(); ++i) {
    if (pipeline.sinks[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string PlanState::SourceNames() const {
  std::string out;
  for (const SourceDef& s : pipeline.sources) {
    if (!out.empty()) out += ", ";
    out += QuoteIdent(s.name);
  }
  return out.empty() ? "(none)" : out;
}

std::string PlanState::SinkNames() const {
  std::string out;
  for (const SinkDef& s : pipeline.sinks) {
    if (!out.empty()) out += ", ";
    out += QuoteIdent(s.name);
  }
  return out.empty() ? "(none)" : out;
}

Status ResolvePrimaryKey(const SourceText& source, PlanState* state, int sink) {
  SinkDef& def = state->pipeline.sinks[sink];
  const SinkState& info = state->sinks[sink];
  int at = info.primary_key_location >= 0 ? info.primary_key_location : info.statement_start;
  def.primary_key.clear();
  for (size_t i = 0; i < info.primary_key_names.size(); ++i) {
    const std::string& name = info.primary_key_names[i];
    int index = def.schema.IndexOf(name);
    if (index < 0 && !info.primary_key_quoted[i]) index = def.schema.IndexOf(AsciiLower(name));
    if (index < 0) {
      std::string msg = "primary_key column \"" + name + "\" does not exist in sink " + QuoteIdent(def.name);
      if (def.schema.empty()) {
        msg += "; no INSERT INTO " + QuoteIdent(def.name) + " defines its columns";
      } else {
        msg += "; its columns are " + ColumnList(def.schema);
      }
      return source.ErrorAt(at, msg);
    }
    if (std::find(def.primary_key.begin(), def.primary_key.end(), index) != def.primary_key.end()) {
      return source.ErrorAt(at, "primary_key lists column \"" + def.schema[index].name + "\" twice");
    }
    def.primary_key.push_back(index);
  }
  return Status::OK();
}

Status ApplyQueryToSink(const StatementContext& ctx, PlanState* state, int query, int sink_name_location,
                        const std::vector<int>& output_locations) {
  const QueryDef& q = state->pipeline.queries[query];
  SinkDef& sink = state->pipeline.sinks[q.sink];
  SinkState& info = state->sinks[q.sink];
  if (!info.declared && !info.fed) {
    Schema schema;
    for (const OutputColumn& out : q.outputs) schema.Add(Column{out.name, out.type});
    sink.schema = std::move(schema);
    info.fed = true;
    return ResolvePrimaryKey(ctx.source(), state, q.sink);
  }
  if (q.outputs.size() != sink.schema.size()) {
    return ctx.Error(sink_name_location, "the SELECT list has " + std::to_string(q.outputs.size()) +
                                             " columns but sink " + QuoteIdent(sink.name) + " has " +
                                             std::to_string(sink.schema.size()) + " (" + ColumnList(sink.schema) +
                                             ")");
  }
  for (size_t i = 0; i < q.outputs.size(); ++i) {
    const OutputColumn& out = q.outputs[i];
    const Column& col = sink.schema[i];
    if (!Assignable(out.type, col.type)) {
      int at = i < output_locations.size() ? output_locations[i] : -1;
      return ctx.Error(at, "column " + std::to_string(i + 1) + " of sink " + QuoteIdent(sink.name) + " (" +
                               QuoteIdent(col.name) + ") is " + DataTypeName(col.type) + " but the query gives " +
                               DataTypeName(out.type) + " (" + QuoteIdent(out.name) + ")");
    }
  }
  info.fed = true;
  return Status::OK();
}

}  // namespace sluice::sql
