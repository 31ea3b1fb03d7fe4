// PlanState: the pipeline being built while the planner walks a file's statements in order,
// plus what it must remember about sinks until their schema is known.
//
// A sink declared with `()` takes its schema from the first INSERT that feeds it; later INSERTs
// must then match that schema. A kv sink's primary_key names are resolved once the schema is
// known, and any sink whose schema never became known is checked at the end.
//
// Internal to sql/. Thread-safety: owned by one PlanPipeline call; not shared.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/plan.h"
#include "core/status.h"
#include "sql/source_text.h"

namespace sluice::sql {

/// Planner-side facts about one sink, parallel to Pipeline::sinks.
struct SinkState {
  bool declared = false;  ///< CREATE TABLE listed columns.
  bool fed = false;       ///< An INSERT has fixed (or matched) the schema.
  int statement_start = 0;                     ///< Where its CREATE TABLE starts.
  int primary_key_location = -1;               ///< The primary_key option, for error carets.
  std::vector<std::string> primary_key_names;  ///< As written, quotes removed.
  std::vector<bool> primary_key_quoted;        ///< Parallel: was the name double-quoted?
};

/// The pipeline under construction. Names are unique across sources and sinks.
struct PlanState {
  Pipeline pipeline;
  std::vector<SinkState> sinks;  ///< Parallel to pipeline.sinks.
  int inserts = 0;               ///< INSERT statements planned so far.

  /// Index into pipeline.sources / pipeline.sinks, or -1.
  int SourceIndex(std::string_view name) const;
  int SinkIndex(std::string_view name) const;
  /// "a, b, c" for hints, or "(none)".
  std::string SourceNames() const;
  std::string SinkNames() const;
};

/// Resolves sink `sink`'s primary_key names against its schema into SinkDef::primary_key.
/// An unquoted name that matches no column exactly also matches its lower-cased spelling.
/// Errors: InvalidArgument at the primary_key option when a name is not a column (the message
/// says when no INSERT defined the columns) or is listed twice.
Status ResolvePrimaryKey(const SourceText& source, PlanState* state, int sink);

/// Records that query `query` (already in pipeline.queries) writes to its sink: the first query
/// into a `()` sink defines the sink's schema (its output names and types); otherwise the outputs
/// must match the sink's columns in number and type (same type, BIGINT into FLOAT8, or NULL).
/// `output_locations[i]` is where output i was written in the SELECT list.
/// Errors: InvalidArgument at the sink name for a count mismatch, at the SELECT item for a type
/// mismatch, and anything ResolvePrimaryKey returns.
Status ApplyQueryToSink(const StatementContext& ctx, PlanState* state, int query, int sink_name_location,
                        const std::vector<int>& output_locations);

}  // namespace sluice::sql
