// PlanPipeline: walks the statements, plans CREATE TABLE itself and hands INSERTs to
// query_planner.cc.
#include "sql/planner.h"

#include <algorithm>
#include <cctype>

#include <cctype>
#include <charconv>
#include <exception>
#include <set>
#include <string>
#include <vector>

#include "sql/expr_binder.h"
#include "sql/pg_parser.h"
#include "sql/plan_state.h"
#include "sql/query_planner.h"
#include "sql/source_text.h"

namespace sluice::sql {
namespace {

// One WITH (key = value) entry.
struct Option {
  std::string key;    // lower-cased
  std::string value;  // constants as text; a bare identifier as its name; no value → "true"
  int location = -1;  // the key
};

// Reads the integer after `key =` in the text when libpg_query's JSON left it out (0, negative).
std::optional<int64_t> RecoverOptionInteger(const SourceText& source, int location) {
  if (location < 0) return std::nullopt;
  size_t eq = source.text().find('=', static_cast<size_t>(location));
  if (eq == std::string_view::npos) return std::nullopt;
  return RecoverInteger(source, static_cast<int>(eq) + 1);
}

Result<std::vector<Option>> ReadOptions(const StatementContext& ctx, const Json* create) {
  std::vector<Option> options;
  const Json* list = ListField(create, "options");
  if (list == nullptr) return options;
  std::set<std::string> seen;
  for (const Json& item : *list) {
    PgNode def = AsNode(&item);
    int loc = LocationOf(def.body);
    if (!def.Is("DefElem")) return ctx.Error(MinLocation(&item), "unreadable WITH option");
    if (!StringField(def.body, "defnamespace").empty()) {
      return ctx.Error(loc, "namespaced WITH options are not supported");
    }
    Option opt;
    opt.key = AsciiLower(StringField(def.body, "defname"));
    opt.location = loc;
    const Json* arg = Field(def.body, "arg");
    PgNode value = AsNode(arg);
    if (arg == nullptr) {
      opt.value = "true";
    } else if (value.Is("String")) {
      opt.value = std::string(StringField(value.body, "sval"));
    } else if (value.Is("Integer")) {
      int64_t v = IntField(value.body, "ival", 0);
      if (Field(value.body, "ival") == nullptr) v = RecoverOptionInteger(ctx.source(), loc).value_or(0);
      opt.value = std::to_string(v);
    } else if (value.Is("Float")) {
      opt.value = std::string(StringField(value.body, "fval"));
    } else if (value.Is("Boolean")) {
      opt.value = BoolField(value.body, "boolval") ? "true" : "false";
    } else if (value.Is("TypeName")) {
      auto names = NameList(Field(value.body, "names"));
      if (!names || names->size() != 1 || ListField(value.body, "typmods") != nullptr) {
        return ctx.Error(loc, "WITH option " + opt.key + " needs a constant value such as '…' or 4");
      }
      opt.value = std::string(names->front());
    } else {
      return ctx.Error(loc, "WITH option " + opt.key + " needs a constant value such as '…' or 4");
    }
    if (!seen.insert(opt.key).second) return ctx.Error(loc, "WITH option " + opt.key + " is given twice");
    options.push_back(std::move(opt));
  }
  return options;
}

const Option* FindOption(const std::vector<Option>& options, std::string_view key) {
  for (const Option& o : options) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

Status CheckChoice(const StatementContext& ctx, const Option* opt, std::initializer_list<std::string_view> choices) {
  if (opt == nullptr) return Status::OK();
  std::string v = AsciiLower(TrimSpace(opt->value));
  std::string list;
  for (std::string_view c : choices) {
    if (v == c) return Status::OK();
    if (!list.empty()) list += ", ";
    list += '\'';
    list += c;
    list += '\'';
  }
  return ctx.Error(opt->location, "unknown " + opt->key + " '" + opt->value + "'; use " + list);
}

// Refuses a WITH option the connector does not take (a typo must not be ignored silently), and
// suggests the known option nearest in spelling when one is close. Options in `misplaced` are
// let through: the caller has a more specific message for them.
Status CheckKnownOptions(const StatementContext& ctx, const std::vector<Option>& options, std::string_view what,
                         std::initializer_list<std::string_view> known,
                         std::initializer_list<std::string_view> misplaced = {}) {
  for (const Option& opt : options) {
    if (std::find(known.begin(), known.end(), opt.key) != known.end()) continue;
    if (std::find(misplaced.begin(), misplaced.end(), opt.key) != misplaced.end()) continue;
    std::string list, nearest;
    size_t best = 3;  // suggest only within an edit distance of 2
    for (std::string_view k : known) {
      if (!list.empty()) list += ", ";
      list += k;
      // Levenshtein distance, small strings.
      std::vector<size_t> row(k.size() + 1);
      for (size_t j = 0; j <= k.size(); ++j) row[j] = j;
      for (size_t i = 1; i <= opt.key.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= k.size(); ++j) {
          const size_t up = row[j];
          row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (opt.key[i - 1] == k[j - 1] ? 0 : 1)});
          diag = up;
        }
      }
      if (row[k.size()] < best) {
        best = row[k.size()];
        nearest = std::string(k);
      }
    }
    return ctx.Error(opt.location, "unknown WITH option " + opt.key + " for " + std::string(what) +
                                       (nearest.empty() ? "" : " (did you mean " + nearest + "?)") +
                                       "; known options: " + list);
  }
  return Status::OK();
}

Result<Duration> DurationOption(const StatementContext& ctx, const Option& opt) {
  auto d = ParseInterval(opt.value);
  if (!d.ok()) return ctx.Error(opt.location, opt.key + ": " + d.status().message());
  // Capped so event-time arithmetic (t - delay, window_end + lateness) cannot overflow.
  if (*d > std::chrono::hours(24 * 3650)) return ctx.Error(opt.location, opt.key + " must be at most 3650 days");
  return *d;
}

// "5 MB", "512 KiB", "1048576": a byte count with an optional unit (B, KB/MB/GB = 1000^n,
// KiB/MiB/GiB = 1024^n).
bool ValidByteSize(std::string_view text) {
  std::string_view s = TrimSpace(text);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return false;
  double n = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + i, n);
  if (ec != std::errc() || ptr != s.data() + i || n <= 0) return false;
  std::string unit = AsciiLower(TrimSpace(s.substr(i)));
  return unit.empty() || unit == "b" || unit == "bytes" || unit == "kb" || unit == "mb" || unit == "gb" ||
         unit == "kib" || unit == "mib" || unit == "gib";
}

struct TableColumns {
  Schema schema;
  std::vector<int> locations;
};

Result<TableColumns> ReadColumns(const StatementContext& ctx, const Json* create) {
  TableColumns out;
  const Json* elements = ListField(create, "tableElts");
  if (elements == nullptr) return out;
  for (const Json& element : *elements) {
    PgNode node = AsNode(&element);
    int loc = LocationOf(node.body);
    if (loc < 0) loc = MinLocation(&element);
    if (node.Is("Constraint")) {
      return ctx.Error(loc, "table constraints are not supported; a kv sink takes WITH (primary_key = '…')");
    }
    if (!node.Is("ColumnDef")) return ctx.Error(loc, "only column definitions are supported in CREATE TABLE");
    std::string name(StringField(node.body, "colname"));
    if (name.empty()) return ctx.Error(loc, "unreadable column definition");
    if (const Json* constraints = ListField(node.body, "constraints")) {
      return ctx.Error(MinLocation(constraints),
                       "column constraints (NOT NULL, PRIMARY KEY, …) are not supported; a kv sink names its key "
                       "in WITH (primary_key = '…')");
    }
    if (Field(node.body, "collClause") != nullptr) return ctx.Error(loc, "COLLATE is not supported");
    const Json* type_name = Field(node.body, "typeName");
    if (IsIntervalType(type_name)) return ctx.Error(LocationOf(type_name), "INTERVAL columns are not supported");
    SLUICE_ASSIGN_OR_RETURN(DataType type, ResolveTypeName(ctx, type_name));
    if (out.schema.IndexOf(name) >= 0) return ctx.Error(loc, "column \"" + name + "\" specified more than once");
    out.schema.Add(Column{name, type});
    out.locations.push_back(loc);
  }
  return out;
}

// WITH (partitions = '0, 2-3'): Kafka partitions as a list of numbers and ranges, returned
// normalized ("0,2,3", ascending, no repeats).
Result<std::string> PartitionList(const StatementContext& ctx, const Option& opt) {
  std::set<int> parts;
  std::string_view rest = opt.value;
  auto number = [](std::string_view v, int* out) {
    v = TrimSpace(v);
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
    return !v.empty() && ec == std::errc() && ptr == v.data() + v.size() && *out >= 0 && *out < 100000;
  };
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const size_t dash = item.find('-');
    int lo = 0, hi = 0;
    const bool ok = dash == std::string_view::npos ? number(item, &lo) && number(item, &hi)
                                                   : number(item.substr(0, dash), &lo) && number(item.substr(dash + 1), &hi);
    if (!ok || lo > hi) {
      return ctx.Error(opt.location, "partitions must list partition numbers and ranges such as '0, 2-3', not '" +
                                         opt.value + "'");
    }
    for (int p = lo; p <= hi; ++p) parts.insert(p);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  std::string out;
  for (int p : parts) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

// A source: connector 'stream' (the embedded log) or 'kafka' (a topic read through librdkafka).
Status PlanSource(const StatementContext& ctx, std::string connector, std::string name, int name_loc,
                  TableColumns columns, const std::vector<Option>& options, PlanState* state) {
  SourceDef src;
  src.name = std::move(name);
  src.connector = connector;
  src.schema = std::move(columns.schema);
  if (src.schema.empty()) {
    return ctx.Error(name_loc, "source " + std::string(connector == "kafka" ? "topic " : "stream ") +
                                   QuoteIdent(src.name) + " needs at least one column");
  }
  if (connector == "kafka") {
    SLUICE_RETURN_IF_ERROR(CheckKnownOptions(ctx, options, "a kafka source",
                                             {"connector", "topic", "bootstrap_servers", "group_id", "partitions",
                                              "format", "event_time", "watermark_delay", "idle_timeout",
                                              "allowed_lateness", "late_output"},
                                             {"primary_key", "emit_interval"}));
    for (const char* required : {"bootstrap_servers", "topic"}) {
      const Option* opt = FindOption(options, required);
      if (opt == nullptr || TrimSpace(opt->value).empty()) {
        return ctx.Error(opt != nullptr ? opt->location : name_loc,
                         "kafka source " + QuoteIdent(src.name) + " needs WITH (" + required + " = '" +
                             (std::string_view(required) == "topic" ? "topic name" : "host:port") + "')");
      }
    }
  } else {
    SLUICE_RETURN_IF_ERROR(CheckKnownOptions(ctx, options, "a stream source",
                                             {"connector", "shards", "format", "event_time", "watermark_delay",
                                              "idle_timeout", "allowed_lateness", "late_output", "partition_key"},
                                             {"primary_key", "emit_interval"}));
  }
  // The source column an option names (event_time, partition_key), or an error naming the option.
  auto column_of = [&](const Option& opt) -> Result<int> {
    const int index = src.schema.IndexOf(opt.value);
    if (index >= 0) return index;
    std::string msg = UnknownColumnMessage(opt.value, src.schema, true);
    msg.insert(msg.find(" does not exist") + 15, " in " + QuoteIdent(src.name));
    return ctx.Error(opt.location, opt.key + " " + msg);
  };
  for (const Option& opt : options) {
    src.options[opt.key] = opt.value;
    if (opt.key == "partitions") {
      SLUICE_ASSIGN_OR_RETURN(src.options[opt.key], PartitionList(ctx, opt));
    } else if (opt.key == "shards") {
      std::string_view v = TrimSpace(opt.value);
      int shards = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), shards);
      if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || shards < 1 || shards > 1024) {
        return ctx.Error(opt.location, "shards must be an integer from 1 to 1024, not '" + opt.value + "'");
      }
      src.shards = shards;
    } else if (opt.key == "format") {
      SLUICE_RETURN_IF_ERROR(CheckChoice(ctx, &opt, {"json"}));
      src.format = "json";
    } else if (opt.key == "event_time") {
      SLUICE_ASSIGN_OR_RETURN(const int index, column_of(opt));
      if (src.schema[index].type != DataType::kTimestamp) {
        return ctx.Error(opt.location, "event_time column \"" + opt.value + "\" must be TIMESTAMPTZ, not " +
                                           DataTypeName(src.schema[index].type));
      }
      src.event_time_column = index;
    } else if (opt.key == "partition_key") {
      SLUICE_ASSIGN_OR_RETURN(const int index, column_of(opt));
      const DataType t = src.schema[index].type;
      if (t != DataType::kText && t != DataType::kInt64) {
        return ctx.Error(opt.location, "partition_key column \"" + opt.value + "\" must be TEXT or BIGINT, not " +
                                           DataTypeName(t));
      }
      src.partition_key_column = index;
    } else if (opt.key == "watermark_delay") {
      SLUICE_ASSIGN_OR_RETURN(src.watermark_delay, DurationOption(ctx, opt));
    } else if (opt.key == "idle_timeout") {
      SLUICE_ASSIGN_OR_RETURN(src.idle_timeout, DurationOption(ctx, opt));
    } else if (opt.key == "allowed_lateness") {
      SLUICE_ASSIGN_OR_RETURN(src.allowed_lateness, DurationOption(ctx, opt));
    } else if (opt.key == "primary_key") {
      return ctx.Error(opt.location, "primary_key belongs to kv sinks, not to source streams");
    } else if (opt.key == "emit_interval") {
      return ctx.Error(opt.location, "emit_interval belongs to the sink a windowed query writes to, not to sources");
    } else if (opt.key == "late_output") {
      const std::string& v = opt.value;
      const bool valid = !v.empty() && v.size() <= 128 && std::all_of(v.begin(), v.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      });
      if (!valid) {
        return ctx.Error(opt.location, "late_output must name a stream: 1 to 128 letters, digits, '_', '-' or '.'");
      }
      if (v == src.name) return ctx.Error(opt.location, "late_output cannot be the source stream itself");
      src.late_output = v;
    }
  }
  state->pipeline.sources.push_back(std::move(src));
  return Status::OK();
}

// Splits primary_key = 'a, "B"' into names; quoted names keep their case exactly.
Status ReadPrimaryKey(const StatementContext& ctx, const Option& opt, SinkState* info) {
  std::string_view rest = opt.value;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view part = TrimSpace(rest.substr(0, comma));
    bool quoted = part.size() >= 2 && part.front() == '"' && part.back() == '"';
    if (quoted) part = part.substr(1, part.size() - 2);
    if (part.empty()) return ctx.Error(opt.location, "primary_key has an empty column name: '" + opt.value + "'");
    info->primary_key_names.emplace_back(part);
    info->primary_key_quoted.push_back(quoted);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return Status::OK();
}

Status PlanSink(const StatementContext& ctx, std::string connector, std::string name, int name_loc,
                TableColumns columns, const std::vector<Option>& options, PlanState* state) {
  SinkDef sink;
  SinkState info;
  sink.name = std::move(name);
  sink.connector = connector;
  info.declared = !columns.schema.empty();
  info.statement_start = ctx.statement_start();
  sink.schema = std::move(columns.schema);
  // primary_key on a files sink has a message of its own below.
  if (connector == "kv") {
    SLUICE_RETURN_IF_ERROR(CheckKnownOptions(ctx, options, "a kv sink", {"connector", "primary_key", "emit_interval"}));
  } else if (connector == "metrics") {
    SLUICE_RETURN_IF_ERROR(CheckKnownOptions(ctx, options, "a metrics sink", {"connector", "emit_interval"}, {"primary_key"}));
  } else {
    SLUICE_RETURN_IF_ERROR(CheckKnownOptions(ctx, options, "a files sink",
                                             {"connector", "path", "format", "compression", "partition", "buffer_size",
                                              "buffer_interval", "emit_interval"},
                                             {"primary_key"}));
  }
  for (const Option& opt : options) sink.options[opt.key] = opt.value;
  if (const Option* emit = FindOption(options, "emit_interval")) {
    SLUICE_ASSIGN_OR_RETURN(sink.emit_interval, DurationOption(ctx, *emit));
    if (sink.emit_interval.count() <= 0) return ctx.Error(emit->location, "emit_interval must be positive");
  }
  const Option* pk = FindOption(options, "primary_key");
  if (connector == "kv") {
    if (pk == nullptr) {
      return ctx.Error(name_loc, "kv sink " + QuoteIdent(sink.name) + " needs WITH (primary_key = 'column, ...')");
    }
    info.primary_key_location = pk->location;
    SLUICE_RETURN_IF_ERROR(ReadPrimaryKey(ctx, *pk, &info));
  } else if (connector == "metrics") {
    if (pk != nullptr) return ctx.Error(pk->location, "primary_key is only for kv sinks");
  } else {
    if (pk != nullptr) return ctx.Error(pk->location, "primary_key is only for kv sinks");
    const Option* path = FindOption(options, "path");
    if (path == nullptr || TrimSpace(path->value).empty()) {
      return ctx.Error(path != nullptr ? path->location : name_loc,
                       "files sink " + QuoteIdent(sink.name) + " needs WITH (path = 'directory')");
    }
    SLUICE_RETURN_IF_ERROR(CheckChoice(ctx, FindOption(options, "format"), {"jsonl"}));
    SLUICE_RETURN_IF_ERROR(CheckChoice(ctx, FindOption(options, "compression"), {"gzip", "none"}));
    SLUICE_RETURN_IF_ERROR(CheckChoice(ctx, FindOption(options, "partition"), {"hour", "day", "none"}));
    if (const Option* size = FindOption(options, "buffer_size"); size != nullptr && !ValidByteSize(size->value)) {
      return ctx.Error(size->location, "buffer_size must be a size such as '5 MB', not '" + size->value + "'");
    }
    if (const Option* interval = FindOption(options, "buffer_interval")) {
      SLUICE_RETURN_IF_ERROR(DurationOption(ctx, *interval).status());
    }
  }
  state->pipeline.sinks.push_back(std::move(sink));
  state->sinks.push_back(std::move(info));
  if (state->sinks.back().declared) {
    return ResolvePrimaryKey(ctx.source(), state, static_cast<int>(state->sinks.size()) - 1);
  }
  return Status::OK();
}

Status PlanCreateTable(const StatementContext& ctx, const Json* create, PlanState* state) {
  const Json* relation = Field(create, "relation");
  int name_loc = LocationOf(relation);
  std::string name(StringField(relation, "relname"));
  if (name.empty()) return ctx.Error(name_loc, "unreadable table name");
  if (!StringField(relation, "schemaname").empty() || !StringField(relation, "catalogname").empty()) {
    return ctx.Error(name_loc, "schema-qualified table names are not supported");
  }
  std::string_view persistence = StringField(relation, "relpersistence");
  if (persistence == "t") return ctx.Error(-1, "TEMPORARY tables are not supported");
  if (persistence == "u") return ctx.Error(-1, "UNLOGGED tables are not supported");
  if (BoolField(create, "if_not_exists")) return ctx.Error(-1, "IF NOT EXISTS is not supported");
  if (const Json* inh = ListField(create, "inhRelations")) return ctx.Error(MinLocation(inh), "INHERITS is not supported");
  if (const Json* part = Field(create, "partspec")) return ctx.Error(MinLocation(part), "PARTITION BY is not supported");
  if (Field(create, "partbound") != nullptr) return ctx.Error(-1, "PARTITION OF is not supported");
  if (Field(create, "ofTypename") != nullptr) return ctx.Error(-1, "CREATE TABLE OF is not supported");
  if (const Json* cons = ListField(create, "constraints")) {
    return ctx.Error(MinLocation(cons), "table constraints are not supported");
  }
  if (!StringField(create, "accessMethod").empty()) return ctx.Error(-1, "USING is not supported");
  if (!StringField(create, "tablespacename").empty()) return ctx.Error(-1, "TABLESPACE is not supported");
  if (state->SourceIndex(name) >= 0 || state->SinkIndex(name) >= 0) {
    return ctx.Error(name_loc, "relation \"" + name + "\" already exists");
  }
  SLUICE_ASSIGN_OR_RETURN(TableColumns columns, ReadColumns(ctx, create));
  SLUICE_ASSIGN_OR_RETURN(std::vector<Option> options, ReadOptions(ctx, create));
  const Option* connector = FindOption(options, "connector");
  if (connector == nullptr) {
    return ctx.Error(name_loc, "CREATE TABLE " + QuoteIdent(name) +
                                   " needs WITH (connector = 'stream' | 'kafka' | 'kv' | 'files' | 'metrics')");
  }
  std::string kind = AsciiLower(TrimSpace(connector->value));
  if (kind == "stream" || kind == "kafka") {
    return PlanSource(ctx, std::move(kind), std::move(name), name_loc, std::move(columns), options, state);
  }
  if (kind == "kv" || kind == "files" || kind == "metrics") {
    return PlanSink(ctx, std::move(kind), std::move(name), name_loc, std::move(columns), options, state);
  }
  return ctx.Error(connector->location,
                   "unknown connector '" + connector->value + "'; use 'stream', 'kafka', 'kv', 'files' or 'metrics'");
}

std::string UnsupportedStatement(std::string_view tag, const Json* body) {
  if (tag == "SelectStmt") return "a SELECT on its own is not supported; write INSERT INTO <sink> SELECT …";
  if (tag == "ViewStmt") return "CREATE VIEW is not supported";
  if (tag == "CreateTableAsStmt") {
    return StringField(body, "objtype") == "OBJECT_MATVIEW" ? "CREATE MATERIALIZED VIEW is not supported"
                                                            : "CREATE TABLE AS is not supported";
  }
  if (tag == "UpdateStmt") return "UPDATE is not supported";
  if (tag == "DeleteStmt") return "DELETE is not supported";
  if (tag == "MergeStmt") return "MERGE is not supported";
  if (tag == "DropStmt") return "DROP is not supported";
  if (tag == "AlterTableStmt") return "ALTER TABLE is not supported";
  std::string name(tag);
  if (name.size() > 4 && name.ends_with("Stmt")) name.resize(name.size() - 4);
  return "this statement (" + name +
         ") is not supported; a pipeline has CREATE TABLE and INSERT INTO … SELECT statements";
}

Status PlanStatement(const StatementContext& ctx, const ParsedStatement& st, PlanState* state) {
  PgNode node = AsNode(&st.node);
  if (!node) return ctx.Error(-1, "unreadable statement");
  if (node.tag == "CreateStmt") return PlanCreateTable(ctx, node.body, state);
  if (node.tag == "InsertStmt") return PlanInsert(ctx, st, node.body, state);
  return ctx.Error(-1, UnsupportedStatement(node.tag, node.body));
}

Result<Pipeline> Plan(const SourceText& source) {
  SLUICE_ASSIGN_OR_RETURN(std::vector<ParsedStatement> statements, ParseSql(source));
  PlanState state;
  for (const ParsedStatement& st : statements) {
    StatementContext ctx(source, st.start);
    Status s;
    try {
      s = PlanStatement(ctx, st, &state);
    } catch (const std::exception& e) {
      s = ctx.Error(-1, std::string("internal planner error: ") + e.what());
    } catch (...) {
      s = ctx.Error(-1, "internal planner error");
    }
    SLUICE_RETURN_IF_ERROR(s);
  }
  // A kv sink whose schema no INSERT defined cannot have its primary key.
  for (size_t i = 0; i < state.sinks.size(); ++i) {
    if (!state.sinks[i].declared && !state.sinks[i].fed) {
      SLUICE_RETURN_IF_ERROR(ResolvePrimaryKey(source, &state, static_cast<int>(i)));
    }
  }
  return std::move(state.pipeline);
}

}  // namespace

Result<Pipeline> PlanPipeline(std::string_view sql_text) {
  SourceText source(sql_text);
  try {
    return Plan(source);
  } catch (const std::exception& e) {
    return source.ErrorAt(0, std::string("internal planner error: ") + e.what());
  } catch (...) {
    return source.ErrorAt(0, "internal planner error");
  }
}

}  // namespace sluice::sql
