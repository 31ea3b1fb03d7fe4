#include "sql/planner.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

namespace sluice::sql {
namespace {

using std::chrono::seconds;

// The DESIGN.md pipeline with the workshop's field names, as the demo runs it.
constexpr std::string_view kDemo = R"sql(CREATE TABLE unicorn_telemetry (
  "Name" TEXT, "StatusTime" TIMESTAMPTZ, "Latitude" FLOAT8, "Longitude" FLOAT8,
  "Distance" FLOAT8, "MagicPoints" INT, "HealthPoints" INT
) WITH (connector = 'stream', shards = 4, format = 'json',
        event_time = 'StatusTime', watermark_delay = '5 seconds');
CREATE TABLE unicorn_minutes () WITH (connector = 'kv', primary_key = 'name, window_start');
INSERT INTO unicorn_minutes
SELECT "Name" AS name, window_start, window_end,
       sum("Distance") AS distance, min("MagicPoints") AS min_magic, max("MagicPoints") AS max_magic,
       min("HealthPoints") AS min_health, max("HealthPoints") AS max_health, count(*) AS readings,
       avg("HealthPoints") AS avg_health
FROM TUMBLE(unicorn_telemetry, "StatusTime", INTERVAL '1 minute')
GROUP BY "Name", window_start, window_end;
CREATE TABLE telemetry_archive () WITH (connector = 'files', path = 'archive/unicorns',
  format = 'jsonl', compression = 'gzip', partition = 'hour', buffer_size = '5 MB', buffer_interval = '60 seconds');
INSERT INTO telemetry_archive SELECT * FROM unicorn_telemetry;
)sql";

// A source for the smaller tests: lower-case names, one event-time column and one other timestamp.
constexpr std::string_view kSource = R"sql(CREATE TABLE t (
  name TEXT, ts TIMESTAMPTZ, other_ts TIMESTAMPTZ, x BIGINT, y FLOAT8, ok BOOLEAN
) WITH (connector = 'stream', event_time = 'ts');
CREATE TABLE out () WITH (connector = 'files', path = 'out');
)sql";

Pipeline MustPlan(std::string_view sql) {
  auto r = PlanPipeline(sql);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  return std::move(r).value();
}

// The error message of planning `sql`, or "OK".
std::string ErrorOf(std::string_view sql) {
  auto r = PlanPipeline(sql);
  if (r.ok()) return "OK";
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  return r.status().message();
}

// The error for kSource followed by `query`.
std::string QueryError(std::string_view query) { return ErrorOf(std::string(kSource) + std::string(query)); }

// Plans kSource + `query` and returns its only query.
QueryDef PlanQuery(std::string_view query) {
  Pipeline p = MustPlan(std::string(kSource) + std::string(query));
  REQUIRE(p.queries.size() == 1);
  return p.queries[0];
}

// First line of an error: "line L, column C: message".
std::string Headline(const std::string& message) { return message.substr(0, message.find('\n')); }

// The text of the caret line (third line).
std::string CaretLine(const std::string& message) { return message.substr(message.rfind('\n') + 1); }

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST_CASE("demo pipeline: the source stream") {
  Pipeline p = MustPlan(kDemo);
  REQUIRE(p.sources.size() == 1);
  const SourceDef& s = p.sources[0];
  CHECK(s.name == "unicorn_telemetry");
  CHECK(s.connector == "stream");
  CHECK(s.shards == 4);
  CHECK(s.format == "json");
  REQUIRE(s.schema.size() == 7);
  const char* names[] = {"Name", "StatusTime", "Latitude", "Longitude", "Distance", "MagicPoints", "HealthPoints"};
  DataType types[] = {DataType::kText,    DataType::kTimestamp, DataType::kFloat64, DataType::kFloat64,
                      DataType::kFloat64, DataType::kInt64,     DataType::kInt64};
  for (size_t i = 0; i < 7; ++i) {
    CHECK(s.schema[i].name == names[i]);
    CHECK(s.schema[i].type == types[i]);
  }
  CHECK(s.event_time_column == 1);
  CHECK(s.watermark_delay == seconds(5));
  CHECK(s.idle_timeout == kDefaultIdleTimeout);  // not set: 30 s
  CHECK(s.allowed_lateness == Duration(0));
  CHECK(s.options.at("connector") == "stream");
  CHECK(s.options.at("shards") == "4");
  CHECK(s.options.at("event_time") == "StatusTime");
  CHECK(s.options.at("watermark_delay") == "5 seconds");
  CHECK(s.options.size() == 5);
}

TEST_CASE("demo pipeline: the windowed aggregate into the kv sink") {
  Pipeline p = MustPlan(kDemo);
  REQUIRE(p.sinks.size() == 2);
  REQUIRE(p.queries.size() == 2);
  const SinkDef& kv = p.sinks[0];
  CHECK(kv.name == "unicorn_minutes");
  CHECK(kv.connector == "kv");
  CHECK(kv.options.at("primary_key") == "name, window_start");

  // The sink's schema comes from the query's outputs.
  struct Expected {
    const char* name;
    DataType type;
    OutputColumn::Kind kind;
    int index;
  };
  using K = OutputColumn::Kind;
  const Expected expected[] = {
      {"name", DataType::kText, K::kGroupKey, 0},         {"window_start", DataType::kTimestamp, K::kWindowStart, -1},
      {"window_end", DataType::kTimestamp, K::kWindowEnd, -1}, {"distance", DataType::kFloat64, K::kAggregate, 0},
      {"min_magic", DataType::kInt64, K::kAggregate, 1},  {"max_magic", DataType::kInt64, K::kAggregate, 2},
      {"min_health", DataType::kInt64, K::kAggregate, 3}, {"max_health", DataType::kInt64, K::kAggregate, 4},
      {"readings", DataType::kInt64, K::kAggregate, 5},   {"avg_health", DataType::kFloat64, K::kAggregate, 6},
  };
  REQUIRE(kv.schema.size() == 10);
  const QueryDef& q = p.queries[0];
  REQUIRE(q.outputs.size() == 10);
  for (size_t i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK(kv.schema[i].name == expected[i].name);
    CHECK(kv.schema[i].type == expected[i].type);
    CHECK(q.outputs[i].name == expected[i].name);
    CHECK(q.outputs[i].type == expected[i].type);
    CHECK(q.outputs[i].kind == expected[i].kind);
    if (expected[i].index >= 0) CHECK(q.outputs[i].index == expected[i].index);
  }
  CHECK(kv.primary_key == std::vector<int>{0, 1});

  CHECK(q.name == "q1_unicorn_minutes");
  CHECK(q.source == 0);
  CHECK(q.sink == 0);
  CHECK(!q.where.has_value());
  CHECK(q.aggregating());
  CHECK(q.window.kind == WindowKind::kTumble);
  CHECK(q.window.time_column == 1);
  CHECK(q.window.size == seconds(60));
  REQUIRE(q.group_keys.size() == 1);  // window_start/window_end are not group keys
  CHECK(q.group_keys[0].op == ExprOp::kColumn);
  CHECK(q.group_keys[0].column == 0);
  CHECK(q.group_keys[0].type == DataType::kText);
  CHECK(q.group_keys[0].text == "\"Name\"");
  CHECK(q.projections.empty());

  struct Agg {
    AggKind kind;
    int column;
    DataType result;
    const char* text;
  };
  const Agg aggs[] = {
      {AggKind::kSum, 4, DataType::kFloat64, "sum(\"Distance\")"},
      {AggKind::kMin, 5, DataType::kInt64, "min(\"MagicPoints\")"},
      {AggKind::kMax, 5, DataType::kInt64, "max(\"MagicPoints\")"},
      {AggKind::kMin, 6, DataType::kInt64, "min(\"HealthPoints\")"},
      {AggKind::kMax, 6, DataType::kInt64, "max(\"HealthPoints\")"},
      {AggKind::kCountStar, -1, DataType::kInt64, "count(*)"},
      {AggKind::kAvg, 6, DataType::kFloat64, "avg(\"HealthPoints\")"},
  };
  REQUIRE(q.aggregates.size() == 7);
  for (size_t i = 0; i < 7; ++i) {
    CAPTURE(i);
    CHECK(q.aggregates[i].kind == aggs[i].kind);
    CHECK(q.aggregates[i].result_type == aggs[i].result);
    CHECK(q.aggregates[i].text == aggs[i].text);
    if (aggs[i].column >= 0) {
      CHECK(q.aggregates[i].arg.op == ExprOp::kColumn);
      CHECK(q.aggregates[i].arg.column == aggs[i].column);
    }
  }
  CHECK(q.text.rfind("INSERT INTO unicorn_minutes\nSELECT \"Name\" AS name", 0) == 0);
  CHECK(q.text.ends_with("GROUP BY \"Name\", window_start, window_end"));
}

TEST_CASE("demo pipeline: the archive sink takes SELECT * as projections") {
  Pipeline p = MustPlan(kDemo);
  const SinkDef& files = p.sinks[1];
  CHECK(files.name == "telemetry_archive");
  CHECK(files.connector == "files");
  CHECK(files.primary_key.empty());
  CHECK(files.options.at("path") == "archive/unicorns");
  CHECK(files.options.at("format") == "jsonl");
  CHECK(files.options.at("compression") == "gzip");
  CHECK(files.options.at("partition") == "hour");
  CHECK(files.options.at("buffer_size") == "5 MB");
  CHECK(files.options.at("buffer_interval") == "60 seconds");

  const QueryDef& q = p.queries[1];
  CHECK(q.name == "q2_telemetry_archive");
  CHECK(q.text == "INSERT INTO telemetry_archive SELECT * FROM unicorn_telemetry");
  CHECK(q.source == 0);
  CHECK(q.sink == 1);
  CHECK(!q.aggregating());
  CHECK(q.window.kind == WindowKind::kNone);
  const Schema& src = p.sources[0].schema;
  REQUIRE(q.projections.size() == src.size());
  REQUIRE(q.outputs.size() == src.size());
  REQUIRE(files.schema.size() == src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    CAPTURE(i);
    CHECK(q.projections[i].op == ExprOp::kColumn);
    CHECK(q.projections[i].column == static_cast<int>(i));
    CHECK(q.projections[i].type == src[i].type);
    CHECK(q.outputs[i].kind == OutputColumn::Kind::kProjection);
    CHECK(q.outputs[i].index == static_cast<int>(i));
    CHECK(q.outputs[i].name == src[i].name);
    CHECK(files.schema[i].name == src[i].name);
    CHECK(files.schema[i].type == src[i].type);
  }
}

TEST_CASE("source options: durations, shards and options kept with lower-cased keys") {
  Pipeline p = MustPlan(R"sql(
    CREATE TABLE s (ts TIMESTAMP WITH TIME ZONE, a VARCHAR(10), b CHAR(2), c BOOL, d SMALLINT, e BIGINT,
                    f INTEGER, g REAL, h DOUBLE PRECISION, i NUMERIC(10, 2), j DECIMAL, k TIMESTAMP, l INT8, m FLOAT4)
    WITH (connector = 'stream', "Shards" = '16', event_time = 'ts', watermark_delay = '250 ms',
          idle_timeout = '1 minute', allowed_lateness = '00:00:10');)sql");
  const SourceDef& s = p.sources[0];
  CHECK(s.shards == 16);
  CHECK(s.event_time_column == 0);
  CHECK(s.watermark_delay == std::chrono::milliseconds(250));
  CHECK(s.idle_timeout == seconds(60));
  CHECK(s.allowed_lateness == seconds(10));
  CHECK(s.options.at("shards") == "16");
  std::vector<DataType> types;
  for (const Column& c : s.schema.columns()) types.push_back(c.type);
  CHECK(types == std::vector<DataType>{DataType::kTimestamp, DataType::kText, DataType::kText, DataType::kBool,
                                       DataType::kInt64, DataType::kInt64, DataType::kInt64, DataType::kFloat64,
                                       DataType::kFloat64, DataType::kFloat64, DataType::kFloat64,
                                       DataType::kTimestamp, DataType::kInt64, DataType::kFloat64});
}

TEST_CASE("syntax errors report line, column and a caret under the token") {
  std::string sql = "CREATE TABLE t (a INT) WITH (connector = 'stream');\nINSERT INTO x SELEC a FROM t;\n";
  CHECK(ErrorOf(sql) ==
        "line 2, column 15: syntax error at or near \"SELEC\"\n"
        "INSERT INTO x SELEC a FROM t;\n"
        "              ^");
  // libpg_query's cursor counts characters; the column does too, after a multi-byte character.
  CHECK(ErrorOf("SELECT 'é' FROM FROM") ==
        "line 1, column 17: syntax error at or near \"FROM\"\n"
        "SELECT 'é' FROM FROM\n"
        "                ^");
  // At end of input the caret goes right after the last token.
  CHECK(ErrorOf("INSERT INTO out SELECT x FROM\n\n") ==
        "line 1, column 30: syntax error at end of input\n"
        "INSERT INTO out SELECT x FROM\n"
        "                             ^");
}

TEST_CASE("unknown columns name the column and list what exists") {
  std::string err = QueryError("INSERT INTO out SELECT nme FROM t;");
  CHECK(Headline(err) ==
        "line 5, column 24: column \"nme\" does not exist; available columns: name, ts, other_ts, x, y, ok");
  CHECK(CaretLine(err) == "                       ^");

  // Unquoted names fold to lower case: hint at the quoted spelling.
  std::string demo_err = ErrorOf(std::string(kDemo) + "INSERT INTO telemetry_archive SELECT name FROM unicorn_telemetry;");
  CHECK(Contains(demo_err, "column \"name\" does not exist; did you mean \"Name\"?"));

  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t WHERE t.zz > 1;"), "column \"zz\" does not exist"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT u.x FROM t;"), "missing FROM-clause entry for table \"u\""));
  // Qualified with the source name or its alias is fine.
  CHECK(QueryError("INSERT INTO out SELECT t.x FROM t;") == "OK");
  CHECK(QueryError("INSERT INTO out SELECT a.x AS ax, a.* FROM t AS a;") == "OK");
  CHECK(Contains(QueryError("INSERT INTO out SELECT window_start FROM t;"),
                 "window_start exists only in a windowed query"));
}

TEST_CASE("unknown source and sink tables") {
  std::string err = QueryError("INSERT INTO out SELECT x FROM nosuch;");
  CHECK(Headline(err) == "line 5, column 31: source \"nosuch\" does not exist; known sources: t");
  err = QueryError("INSERT INTO nosuch SELECT x FROM t;");
  CHECK(Headline(err) == "line 5, column 13: sink table \"nosuch\" does not exist; known sinks: out");
  CHECK(Contains(QueryError("INSERT INTO t SELECT * FROM t;"), "t is a source stream"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT * FROM out;"), "out is a sink table"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT * FROM TUMBLE(nosuch, ts, '1 minute');"),
                 "source \"nosuch\" does not exist"));
  // A table must be created before it is used.
  CHECK(Contains(ErrorOf("INSERT INTO out SELECT * FROM t;" + std::string(kSource)),
                 "sink table \"out\" does not exist"));
  CHECK(Contains(ErrorOf(std::string(kSource) + "CREATE TABLE t (a INT) WITH (connector = 'stream');"),
                 "relation \"t\" already exists"));
}

TEST_CASE("type errors in WHERE point at the operator") {
  std::string err = QueryError("INSERT INTO out SELECT x FROM t WHERE name + 1 > 0;");
  CHECK(Headline(err) == "line 5, column 44: operator does not exist: TEXT + BIGINT");
  CHECK(CaretLine(err) == std::string(43, ' ') + "^");
  CHECK(Headline(QueryError("INSERT INTO out SELECT x FROM t WHERE x;")) ==
        "line 5, column 39: argument of WHERE must be type BOOLEAN, not type BIGINT");
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t WHERE ts = x;"),
                 "operator does not exist: TIMESTAMPTZ = BIGINT"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t WHERE x > 1 AND y;"),
                 "argument of AND must be type BOOLEAN, not type FLOAT8"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t WHERE ts > 'yesterday';"),
                 "invalid input syntax for type TIMESTAMPTZ: \"yesterday\""));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t WHERE x = 'abc';"),
                 "invalid input syntax for type BIGINT: \"abc\""));
  CHECK(Contains(QueryError("INSERT INTO out SELECT CAST(ts AS BIGINT) AS n FROM t;"),
                 "cannot cast type TIMESTAMPTZ to BIGINT"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x::xml AS j FROM t;"), "type \"xml\" is not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT -name AS n FROM t;"), "operator does not exist: - TEXT"));
}

TEST_CASE("scalar expressions bind with PostgreSQL types and readable text") {
  QueryDef q = PlanQuery(
      "INSERT INTO out SELECT x / 2 AS half, x * y AS xy, -x AS neg, x % 3 AS m, CAST(x AS FLOAT8) AS xf, "
      "'7'::BIGINT AS seven, name IS NULL AS missing, -5 AS minus_five, 0 AS zero, 9999999999 AS big, 1.5 AS f, "
      "NULL::TEXT AS nothing "
      "FROM t WHERE ts >= '2026-11-21 10:00:00Z' AND NOT ok AND (x BETWEEN -3 AND 7 OR name IN ('a', 'b'));");
  REQUIRE(q.projections.size() == 12);
  const std::vector<Expr>& e = q.projections;
  CHECK(e[0].op == ExprOp::kDiv);
  CHECK(e[0].type == DataType::kInt64);  // BIGINT / BIGINT stays BIGINT
  CHECK(e[0].text == "x / 2");
  CHECK(e[1].type == DataType::kFloat64);
  CHECK(e[2].op == ExprOp::kNeg);
  CHECK(e[2].text == "-x");
  CHECK(e[3].op == ExprOp::kMod);
  CHECK(e[4].op == ExprOp::kCast);
  CHECK(e[4].type == DataType::kFloat64);
  CHECK(e[4].text == "CAST(x AS FLOAT8)");
  CHECK(e[5].op == ExprOp::kLiteral);  // folded at plan time
  CHECK(e[5].literal == Value::Int(7));
  CHECK(e[6].op == ExprOp::kIsNull);
  CHECK(e[6].type == DataType::kBool);
  // libpg_query 15 drops the value of 0 and negative integer constants; the planner reads it back.
  CHECK(e[7].literal == Value::Int(-5));
  CHECK(e[8].literal == Value::Int(0));
  CHECK(e[9].literal == Value::Int(9999999999));
  CHECK(e[10].literal == Value::Float(1.5));
  CHECK(e[10].type == DataType::kFloat64);
  CHECK(e[11].type == DataType::kText);
  CHECK(e[11].literal.is_null());
  CHECK(q.outputs[0].name == "half");
  CHECK(q.outputs[0].type == DataType::kInt64);

  REQUIRE(q.where.has_value());
  const Expr& w = *q.where;
  CHECK(w.type == DataType::kBool);
  CHECK(w.op == ExprOp::kAnd);
  // ts >= '...' folded the string into a TIMESTAMPTZ literal.
  const Expr& ts_cmp = w.args[0].args[0];
  CHECK(ts_cmp.op == ExprOp::kGe);
  CHECK(ts_cmp.args[1].op == ExprOp::kLiteral);
  CHECK(ts_cmp.args[1].type == DataType::kTimestamp);
  CHECK(ts_cmp.args[1].literal.as_time() == ParseTimestamp("2026-11-21T10:00:00Z").value());
  CHECK(w.text ==
        "ts >= '2026-11-21T10:00:00.000Z' AND NOT ok AND (x >= -3 AND x <= 7 OR name = 'a' OR name = 'b')");
}

TEST_CASE("output names follow PostgreSQL and must be unique") {
  QueryDef q = PlanQuery("INSERT INTO out SELECT x, x + 1, ok::TEXT FROM t;");
  CHECK(q.outputs[0].name == "x");
  CHECK(q.outputs[1].name == "?column?");
  CHECK(q.outputs[2].name == "ok");
  QueryDef with_null = PlanQuery("INSERT INTO out SELECT NULL AS nothing, 'a' AS letter FROM t;");
  CHECK(with_null.outputs[0].type == DataType::kText);  // a bare NULL is TEXT, as in PostgreSQL
  CHECK(with_null.outputs[1].type == DataType::kText);
  std::string err = QueryError("INSERT INTO out SELECT x, y AS x FROM t;");
  CHECK(Headline(err) == "line 5, column 27: output column \"x\" appears more than once; rename one with AS");
  CHECK(Contains(QueryError("INSERT INTO out SELECT x + 1, y + 1 FROM t;"), "output column \"?column?\""));
  CHECK(Contains(QueryError("INSERT INTO out SELECT *, x FROM t;"), "output column \"x\" appears more than once"));
}

TEST_CASE("aggregation needs a window") {
  std::string err = QueryError("INSERT INTO out SELECT name, count(*) AS n FROM t GROUP BY name;");
  CHECK(Headline(err) == "line 5, column 30: aggregation needs a window (TUMBLE, HOP or SESSION) in a streaming query");
  CHECK(Contains(QueryError("INSERT INTO out SELECT name FROM t GROUP BY name;"),
                 "aggregation needs a window (TUMBLE, HOP or SESSION) in a streaming query"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT window_start, window_end FROM TUMBLE(t, ts, '1 minute');"),
                 "a TUMBLE window needs aggregates or GROUP BY keys"));
}

TEST_CASE("non-aggregated SELECT items must be grouped") {
  std::string err = QueryError(
      "INSERT INTO out SELECT name, x, count(*) AS n FROM TUMBLE(t, ts, '1 minute') GROUP BY name, window_start;");
  CHECK(Headline(err) == "line 5, column 30: column \"x\" must appear in GROUP BY or be used in an aggregate");
  CHECK(Contains(QueryError("INSERT INTO out SELECT x + y AS s, count(*) AS n FROM TUMBLE(t, ts, '1 minute') "
                            "GROUP BY x, window_start;"),
                 "column \"y\" must appear in GROUP BY"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT *, count(*) AS n FROM TUMBLE(t, ts, '1 minute') GROUP BY x;"),
                 "SELECT * is not allowed in an aggregating query"));
}

TEST_CASE("GROUP BY takes expressions, positions and aliases; window columns are not keys") {
  QueryDef q = PlanQuery(
      "INSERT INTO out SELECT x * 2 AS double_x, name AS n, window_end, sum(y) AS total, count(x) AS c, "
      "min(ts) AS first_ts, name IS NULL AS no_name, 1 AS one "
      "FROM TUMBLE(t, ts, '1 minute') WHERE ok GROUP BY double_x, 2, window_start, window_end;");
  using K = OutputColumn::Kind;
  REQUIRE(q.outputs.size() == 8);
  REQUIRE(q.group_keys.size() == 4);
  CHECK(q.group_keys[0].text == "x * 2");
  CHECK(q.group_keys[0].type == DataType::kInt64);
  CHECK(q.group_keys[1].text == "name");
  // Expressions over plain-column keys (and constants) become extra keys: same groups.
  CHECK(q.group_keys[2].text == "name IS NULL");
  CHECK(q.group_keys[3].text == "1");
  CHECK((q.outputs[0].kind == K::kGroupKey && q.outputs[0].index == 0));
  CHECK((q.outputs[1].kind == K::kGroupKey && q.outputs[1].index == 1 && q.outputs[1].name == "n"));
  CHECK(q.outputs[2].kind == K::kWindowEnd);
  CHECK(q.outputs[2].type == DataType::kTimestamp);
  CHECK((q.outputs[3].kind == K::kAggregate && q.outputs[3].type == DataType::kFloat64));
  CHECK(q.aggregates[1].kind == AggKind::kCount);
  CHECK(q.aggregates[1].result_type == DataType::kInt64);
  CHECK(q.aggregates[2].kind == AggKind::kMin);
  CHECK(q.aggregates[2].result_type == DataType::kTimestamp);
  CHECK((q.outputs[6].kind == K::kGroupKey && q.outputs[6].index == 2 && q.outputs[6].type == DataType::kBool));
  CHECK((q.outputs[7].kind == K::kGroupKey && q.outputs[7].index == 3));
  CHECK(q.where->text == "ok");
}

TEST_CASE("expression text keeps only the parentheses it needs") {
  QueryDef q = PlanQuery(
      "INSERT INTO out SELECT (x + 1) * 2 AS a, x - (x - 1) AS b, x - x - 1 AS c, -(x - 1) AS d, "
      "(x = 1) = ok AS e, NOT (ok OR ok) AS f, x + 1 IS NULL AS g FROM t;");
  REQUIRE(q.projections.size() == 7);
  CHECK(q.projections[0].text == "(x + 1) * 2");
  CHECK(q.projections[1].text == "x - (x - 1)");
  CHECK(q.projections[2].text == "x - x - 1");
  CHECK(q.projections[3].text == "-(x - 1)");
  CHECK(q.projections[4].text == "(x = 1) = ok");
  CHECK(q.projections[5].text == "NOT (ok OR ok)");
  CHECK(q.projections[6].text == "x + 1 IS NULL");
  CHECK(Contains(QueryError("INSERT INTO out SELECT x, count(*) AS n FROM TUMBLE(t, ts, '1 minute') GROUP BY 3;"),
                 "GROUP BY position 3 is not in select list"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x, count(*) AS n FROM TUMBLE(t, ts, '1 minute') GROUP BY n;"),
                 "aggregate functions are not allowed in GROUP BY"));
}

TEST_CASE("missing event_time") {
  std::string sql = "CREATE TABLE s (a TEXT, ts TIMESTAMPTZ) WITH (connector = 'stream');\n"
                    "CREATE TABLE o () WITH (connector = 'files', path = 'o');\n"
                    "INSERT INTO o SELECT a, count(*) AS n FROM TUMBLE(s, ts, INTERVAL '1 minute') GROUP BY a;";
  CHECK(Headline(ErrorOf(sql)) ==
        "line 3, column 54: source s has no event_time; windows need one (add event_time = '<column>' to its WITH)");
  CHECK(Contains(ErrorOf("CREATE TABLE s (a TEXT) WITH (connector = 'stream', event_time = 'ts');"),
                 "event_time column \"ts\" does not exist"));
  std::string err = ErrorOf("CREATE TABLE s (a TEXT, ts BIGINT) WITH (connector = 'stream', event_time = 'ts');");
  CHECK(Headline(err) == "line 1, column 64: event_time column \"ts\" must be TIMESTAMPTZ, not BIGINT");
}

TEST_CASE("partition_key names a TEXT or BIGINT column of a stream source") {
  Pipeline p = MustPlan("CREATE TABLE s (a TEXT, n BIGINT, ts TIMESTAMPTZ) WITH (connector = 'stream', partition_key = 'a');");
  CHECK(p.sources[0].partition_key_column == 0);
  p = MustPlan("CREATE TABLE s (a TEXT, n BIGINT, ts TIMESTAMPTZ) WITH (connector = 'stream', partition_key = 'n');");
  CHECK(p.sources[0].partition_key_column == 1);
  p = MustPlan("CREATE TABLE s (a TEXT, ts TIMESTAMPTZ) WITH (connector = 'stream');");
  CHECK(p.sources[0].partition_key_column == -1);
  CHECK(Contains(ErrorOf("CREATE TABLE s (a TEXT) WITH (connector = 'stream', partition_key = 'b');"),
                 "partition_key column \"b\" does not exist"));
  CHECK(Contains(ErrorOf("CREATE TABLE s (a TEXT, ts TIMESTAMPTZ) WITH (connector = 'stream', partition_key = 'ts');"),
                 "partition_key column \"ts\" must be TEXT or BIGINT, not TIMESTAMPTZ"));
  CHECK(Contains(ErrorOf("CREATE TABLE s (a TEXT) WITH (connector = 'kafka', topic = 't', bootstrap_servers = 'h:1', "
                         "partition_key = 'a');"),
                 "partition_key"));
}

TEST_CASE("windows must use the event-time column and a valid size") {
  std::string err = QueryError(
      "INSERT INTO out SELECT count(*) AS n FROM TUMBLE(t, other_ts, INTERVAL '1 minute') GROUP BY window_start;");
  CHECK(Headline(err) == "line 5, column 53: TUMBLE must use the event_time column ts of t, not other_ts");
  err = QueryError(
      "INSERT INTO out SELECT count(*) AS n FROM TUMBLE(t, ts, INTERVAL '1 fortnight') GROUP BY window_start;");
  CHECK(Headline(err) == "line 5, column 66: bad window size: bad interval '1 fortnight': unknown unit 'fortnight'");
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM TUMBLE(t, ts, '0 seconds') GROUP BY x;"),
                 "the window size must be positive"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM TUMBLE(t, ts, 60) GROUP BY x;"),
                 "the window size must be an interval"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM TUMBLE(t, ts) GROUP BY x;"),
                 "TUMBLE takes 3 arguments"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM HOP(t, ts, '5 minutes', '1 minute');"),
                 "the HOP slide (5m) must not be larger than the window size (1m)"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t WHERE window_start > '2026-01-01';"),
                 "column \"window_start\" does not exist"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM TUMBLE(t, ts, '1 minute') WHERE window_start "
                            "IS NULL GROUP BY x;"),
                 "window_start is not available in WHERE"));

  // Flink's INTERVAL '1' MINUTE and a plain string both work.
  CHECK(PlanQuery("INSERT INTO out SELECT count(*) AS n FROM TUMBLE(t, ts, INTERVAL '2' MINUTE) GROUP BY x;")
            .window.size == seconds(120));
  CHECK(PlanQuery("INSERT INTO out SELECT count(*) AS n FROM TUMBLE(t, t.ts, '30 seconds') GROUP BY x;")
            .window.size == seconds(30));
}

TEST_CASE("unsupported constructs are named at their position") {
  std::string err = QueryError("INSERT INTO out SELECT t.x FROM t JOIN t AS u ON true;");
  CHECK(Headline(err) ==
        "line 5, column 33: each side of a JOIN must be a subquery over a window, e.g. (SELECT …, window_start, "
        "window_end FROM TUMBLE(…)) AS name");
  CHECK(Contains(QueryError("INSERT INTO out SELECT t.x FROM t, out;"), "joins are not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM (SELECT x FROM t) AS s;"),
                 "a subquery in FROM must read a window"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t WHERE x IN (SELECT x FROM t);"),
                 "subqueries are not supported"));
  CHECK(Headline(QueryError("INSERT INTO out SELECT DISTINCT x FROM t;")) ==
        "line 5, column 24: DISTINCT is not supported");
  CHECK(Headline(QueryError("INSERT INTO out SELECT x FROM t ORDER BY x;")) ==
        "line 5, column 33: ORDER BY is not supported (a stream has no end to sort)");
  CHECK(Headline(QueryError("INSERT INTO out SELECT x FROM t LIMIT 10;")) == "line 5, column 33: LIMIT is not supported");
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t UNION SELECT x FROM t;"), "UNION is not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT rank() OVER (ORDER BY x) AS r FROM t;"),
                 "window functions (OVER) are not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT greatest(x, 1) AS c FROM t;"), "GREATEST and LEAST are not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x || x AS c FROM t;"), "operator does not exist: BIGINT || BIGINT"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT md5(name) AS c FROM t;"), "function md5() is not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t WHERE name LIKE 'a%' ESCAPE '!';"),
                 "LIKE … ESCAPE is not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT sum(DISTINCT x) AS s FROM TUMBLE(t, ts, '1 minute') GROUP BY "
                            "name;"),
                 "sum(DISTINCT …) is not supported; only count(DISTINCT …) is"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x FROM t WHERE sum(x) > 1;"),
                 "aggregate functions are not allowed in WHERE"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT sum(name) AS s FROM TUMBLE(t, ts, '1 minute') GROUP BY x;"),
                 "function sum(TEXT) does not exist"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x, count(*) AS n FROM TUMBLE(t, ts, '1 minute') GROUP BY x "
                            "HAVING y > 1;"),
                 "column \"y\" must appear in GROUP BY or be used in an aggregate"));

  CHECK(Headline(QueryError("CREATE VIEW v AS SELECT x FROM t;")) == "line 5, column 1: CREATE VIEW is not supported");
  CHECK(Contains(QueryError("SELECT x FROM t;"), "a SELECT on its own is not supported"));
  CHECK(Contains(QueryError("DROP TABLE t;"), "DROP is not supported"));
  CHECK(Contains(QueryError("INSERT INTO out VALUES (1);"), "VALUES is not supported"));
  CHECK(Contains(QueryError("INSERT INTO out (x) SELECT x FROM t;"), "INSERT column lists are not supported"));
  CHECK(Contains(QueryError("CREATE TABLE k (a INT PRIMARY KEY) WITH (connector = 'kv', primary_key = 'a');"),
                 "column constraints (NOT NULL, PRIMARY KEY, …) are not supported"));
}

TEST_CASE("table options are validated") {
  auto source_with = [](std::string_view options) {
    return ErrorOf("CREATE TABLE s (a TEXT, ts TIMESTAMPTZ) WITH (connector = 'stream'" + std::string(options) + ");");
  };
  CHECK(Headline(source_with(", shards = 0")) == "line 1, column 69: shards must be an integer from 1 to 1024, not '0'");
  CHECK(Contains(source_with(", shards = -2"), "not '-2'"));
  CHECK(Contains(source_with(", shards = 2000"), "not '2000'"));
  CHECK(Contains(source_with(", shards = 'many'"), "not 'many'"));
  CHECK(source_with(", shards = 1024") == "OK");
  CHECK(Contains(source_with(", watermark_delay = 'soon'"), "watermark_delay: bad interval 'soon'"));
  CHECK(Contains(source_with(", idle_timeout = '5 parsecs'"), "idle_timeout: bad interval"));
  CHECK(Contains(source_with(", format = 'avro'"), "unknown format 'avro'; use 'json'"));
  CHECK(Contains(source_with(", connector = 'kv'"), "WITH option connector is given twice"));
  CHECK(Headline(ErrorOf("CREATE TABLE s (a TEXT) WITH (connector = 'pulsar');")) ==
        "line 1, column 31: unknown connector 'pulsar'; use 'stream', 'kafka', 'kv', 'files' or 'metrics'");
  CHECK(Contains(ErrorOf("CREATE TABLE s (a TEXT);"), "needs WITH (connector = 'stream' | 'kafka' | 'kv' | 'files' | 'metrics')"));
  CHECK(Contains(ErrorOf("CREATE TABLE s () WITH (connector = 'stream');"), "needs at least one column"));
  CHECK(Contains(ErrorOf("CREATE TABLE s (a TEXT, a INT) WITH (connector = 'stream');"),
                 "column \"a\" specified more than once"));
  CHECK(Headline(ErrorOf("CREATE TABLE s (a XML) WITH (connector = 'stream');")) ==
        "line 1, column 19: type \"xml\" is not supported; use TEXT, BOOLEAN, BIGINT, FLOAT8, TIMESTAMPTZ or JSONB");

  auto files_with = [](std::string_view options) {
    return ErrorOf("CREATE TABLE f () WITH (connector = 'files'" + std::string(options) + ");");
  };
  CHECK(files_with(", path = 'x', compression = 'none', partition = 'day', buffer_size = '512 KiB'") == "OK");
  CHECK(Contains(files_with(", path = 'x', compression = 'zip'"), "unknown compression 'zip'; use 'gzip', 'none'"));
  CHECK(Contains(files_with(", path = 'x', partition = 'week'"), "unknown partition 'week'; use 'hour', 'day', 'none'"));
  CHECK(Contains(files_with(", path = 'x', buffer_size = 'big'"), "buffer_size must be a size"));
  CHECK(Contains(files_with(", path = 'x', buffer_interval = 'often'"), "buffer_interval: bad interval"));
  CHECK(Contains(files_with(""), "files sink f needs WITH (path = 'directory')"));
  CHECK(Contains(ErrorOf("CREATE TABLE k () WITH (connector = 'kv');"), "kv sink k needs WITH (primary_key"));
}

TEST_CASE("kv primary keys must name sink columns") {
  std::string err = ErrorOf(std::string(kSource) +
                            "CREATE TABLE k () WITH (connector = 'kv', primary_key = 'name, nope');\n"
                            "INSERT INTO k SELECT name, window_start, count(*) AS n "
                            "FROM TUMBLE(t, ts, '1 minute') GROUP BY name;");
  CHECK(Headline(err) ==
        "line 5, column 43: primary_key column \"nope\" does not exist in sink k; its columns are name, "
        "window_start, n");
  // A kv sink that no INSERT feeds has no columns for its key.
  CHECK(Contains(ErrorOf("CREATE TABLE k () WITH (connector = 'kv', primary_key = 'a');"),
                 "no INSERT INTO k defines its columns"));
  // Declared columns are checked at once; quoted names keep their case.
  CHECK(Contains(ErrorOf("CREATE TABLE k (\"Name\" TEXT) WITH (connector = 'kv', primary_key = '\"name\"');"),
                 "primary_key column \"name\" does not exist"));
  Pipeline p = MustPlan("CREATE TABLE k (\"Name\" TEXT, n BIGINT) WITH (connector = 'kv', primary_key = 'n, \"Name\"');");
  CHECK(p.sinks[0].primary_key == std::vector<int>{1, 0});
  CHECK(Contains(ErrorOf("CREATE TABLE k (a TEXT) WITH (connector = 'kv', primary_key = 'a, a');"),
                 "primary_key lists column \"a\" twice"));
}

TEST_CASE("declared sink schemas must match the query") {
  std::string base = std::string(kSource) +
                     "CREATE TABLE k (name TEXT, window_start TIMESTAMPTZ, total FLOAT8) "
                     "WITH (connector = 'kv', primary_key = 'name, window_start');\n";
  // BIGINT into FLOAT8 widens.
  Pipeline p = MustPlan(base +
                        "INSERT INTO k SELECT name, window_start, count(*) AS c FROM TUMBLE(t, ts, '1 minute') "
                        "GROUP BY name, window_start, window_end;");
  CHECK(p.sinks[1].schema[2].name == "total");
  CHECK(p.sinks[1].schema[2].type == DataType::kFloat64);
  CHECK(p.queries[0].outputs[2].type == DataType::kInt64);

  std::string err = ErrorOf(base + "INSERT INTO k SELECT name, window_start FROM TUMBLE(t, ts, '1 minute') GROUP BY name;");
  CHECK(Headline(err) ==
        "line 6, column 13: the SELECT list has 2 columns but sink k has 3 (name, window_start, total)");
  err = ErrorOf(base + "INSERT INTO k SELECT name, window_start, max(name) AS m FROM TUMBLE(t, ts, '1 minute') "
                       "GROUP BY name;");
  CHECK(Headline(err) == "line 6, column 42: column 3 of sink k (total) is FLOAT8 but the query gives TEXT (m)");

  // A `()` sink takes the first query's schema; a second query must match it.
  err = QueryError("INSERT INTO out SELECT x FROM t;\nINSERT INTO out SELECT name FROM t;");
  CHECK(Headline(err) == "line 6, column 24: column 1 of sink out (x) is BIGINT but the query gives TEXT (name)");
}

TEST_CASE("queries are named by INSERT position and sink") {
  Pipeline p = MustPlan(std::string(kSource) +
                        "CREATE TABLE other () WITH (connector = 'files', path = 'o');\n"
                        "-- first\nINSERT INTO out SELECT x FROM t WHERE ok;\n"
                        "INSERT INTO other SELECT name FROM t;\n"
                        "INSERT INTO out SELECT x + 1 AS x FROM t");
  REQUIRE(p.queries.size() == 3);
  CHECK(p.queries[0].name == "q1_out");
  CHECK(p.queries[0].text == "INSERT INTO out SELECT x FROM t WHERE ok");
  CHECK(p.queries[1].name == "q2_other");
  CHECK(p.queries[2].name == "q3_out");
  CHECK(p.queries[2].text == "INSERT INTO out SELECT x + 1 AS x FROM t");
  CHECK(p.queries[0].where->op == ExprOp::kColumn);
}

TEST_CASE("empty files and comments plan to an empty pipeline") {
  Pipeline p = MustPlan("  -- nothing here\n/* still nothing */\n");
  CHECK(p.sources.empty());
  CHECK(p.sinks.empty());
  CHECK(p.queries.empty());
}

TEST_CASE("hostile inputs are errors, not crashes") {
  // libpg_query itself would overflow its stack on this one; the planner refuses it first.
  std::string chain = "INSERT INTO out SELECT x FROM t WHERE x = 1";
  for (int i = 0; i < 60000; ++i) chain += "+1";
  std::string err = QueryError(chain);
  CHECK(Headline(err) == "line 5, column 1: statement is too long (more than 10000 tokens)");
  // Nesting within the token budget stops at the binder's depth limit.
  std::string nested = "x";
  for (int i = 0; i < 400; ++i) nested = "(" + nested + " + 1)";
  CHECK(Contains(QueryError("INSERT INTO out SELECT " + nested + " AS deep FROM t;"), "nested too deeply"));
  CHECK(Contains(ErrorOf(std::string("SELECT 1;\0 DROP", 15)), "unexpected NUL byte"));
  CHECK(ErrorOf("SELECT 'ab\xff';") ==
        "line 1, column 11: invalid UTF-8 byte sequence in SQL text\n"
        "SELECT 'ab?';\n"
        "          ^");
  CHECK(Headline(ErrorOf("SELECT 'unterminated")) == "line 1, column 8: unterminated quoted string at or near \"'unterminated\"");
}

TEST_CASE("PlanPipeline is safe to call from several threads") {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&ok, i] {
      for (int n = 0; n < 20; ++n) ok[i] += PlanPipeline(kDemo).ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  for (int n : ok) CHECK(n == 20);
}

}  // namespace
}  // namespace sluice::sql

namespace sluice::sql {
namespace {

TEST_CASE("HOP and SESSION windows: arguments, validation and messages") {
  QueryDef hop = PlanQuery(
      "INSERT INTO out SELECT name, window_start, window_end, count(*) AS n "
      "FROM HOP(t, ts, INTERVAL '2 seconds', INTERVAL '10 seconds') GROUP BY name, window_start, window_end;");
  CHECK(hop.window.kind == WindowKind::kHop);
  CHECK(hop.window.slide == seconds(2));
  CHECK(hop.window.size == seconds(10));
  CHECK(hop.window.time_column == 1);
  QueryDef uneven = PlanQuery("INSERT INTO out SELECT count(*) AS n FROM HOP(t, ts, '4 seconds', '10 seconds');");
  CHECK(uneven.window.slide == seconds(4));  // size need not be a multiple of slide: panes of gcd = 2 s
  QueryDef session = PlanQuery(
      "INSERT INTO out SELECT name, window_start, window_end, count(*) AS n FROM SESSION(t, ts, INTERVAL '30' SECOND) "
      "GROUP BY name, window_start, window_end;");
  CHECK(session.window.kind == WindowKind::kSession);
  CHECK(session.window.gap == seconds(30));

  std::string err = QueryError("INSERT INTO out SELECT count(*) AS n FROM HOP(t, ts, '0 seconds', '1 minute');");
  CHECK(Headline(err) == "line 5, column 54: the window slide must be positive");
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM HOP(t, ts, '1 minute');"), "HOP takes 4 arguments"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM SESSION(t, ts, '-5 seconds');"),
                 "bad session gap"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM SESSION(t, other_ts, '5 seconds');"),
                 "SESSION must use the event_time column ts of t, not other_ts"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM HOP(t, ts, '1 second', '1 day');"),
                 "needs 86400 panes"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT window_start FROM SESSION(t, ts, '1 minute') GROUP BY window_start;"),
                 "a SESSION window needs aggregates or GROUP BY keys"));
}

TEST_CASE("aggregates: new kinds, DISTINCT, FILTER and approx_percentile's fraction") {
  QueryDef q = PlanQuery(
      "INSERT INTO out SELECT count(DISTINCT name) AS d, stddev_samp(y) AS sd, variance(x) AS v, var_pop(x) AS vp, "
      "stddev_pop(x) AS sdp, first_value(name) AS f, last_value(ts) AS l, approx_count_distinct(name) AS a, "
      "approx_percentile(y, 0.95) AS p, count(*) FILTER (WHERE ok) AS n_ok, sum(x) FILTER (WHERE name LIKE 'a%') AS s "
      "FROM TUMBLE(t, ts, '1 minute') GROUP BY window_start;");
  REQUIRE(q.aggregates.size() == 11);
  CHECK(q.aggregates[0].kind == AggKind::kCountDistinct);
  CHECK(q.aggregates[0].text == "count(DISTINCT name)");
  CHECK(q.aggregates[1].kind == AggKind::kStddevSamp);
  CHECK(q.aggregates[1].result_type == DataType::kFloat64);
  CHECK(q.aggregates[2].kind == AggKind::kVarSamp);
  CHECK(q.aggregates[3].kind == AggKind::kVarPop);
  CHECK(q.aggregates[4].kind == AggKind::kStddevPop);
  CHECK(q.aggregates[5].kind == AggKind::kFirstValue);
  CHECK(q.aggregates[5].result_type == DataType::kText);
  CHECK(q.aggregates[6].result_type == DataType::kTimestamp);
  CHECK(q.aggregates[7].kind == AggKind::kApproxCountDistinct);
  CHECK(q.aggregates[7].result_type == DataType::kInt64);
  CHECK(q.aggregates[8].kind == AggKind::kApproxPercentile);
  CHECK(q.aggregates[8].param == doctest::Approx(0.95));
  CHECK(q.aggregates[8].text == "approx_percentile(y, 0.95)");
  REQUIRE(q.aggregates[9].filter.has_value());
  CHECK(q.aggregates[9].text == "count(*) FILTER (WHERE ok)");
  CHECK(q.aggregates[10].filter->text == "name LIKE 'a%'");

  CHECK(Contains(QueryError("INSERT INTO out SELECT approx_percentile(y, 1.5) AS p FROM TUMBLE(t, ts, '1 minute') "
                            "GROUP BY x;"),
                 "approx_percentile's second argument must be a constant fraction from 0 to 1"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT approx_percentile(y, x) AS p FROM TUMBLE(t, ts, '1 minute') "
                            "GROUP BY x;"),
                 "approx_percentile's second argument must be a constant fraction"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT stddev_samp(name) AS p FROM TUMBLE(t, ts, '1 minute') GROUP BY x;"),
                 "function stddev_samp(TEXT) does not exist"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) FILTER (WHERE x) AS n FROM TUMBLE(t, ts, '1 minute') "
                            "GROUP BY x;"),
                 "argument of FILTER must be type BOOLEAN, not type BIGINT"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) FILTER (WHERE count(*) > 1) AS n FROM TUMBLE(t, ts, "
                            "'1 minute') GROUP BY x;"),
                 "aggregate functions are not allowed in FILTER"));
}

TEST_CASE("HAVING and expressions over aggregates read the group row") {
  QueryDef q = PlanQuery(
      "INSERT INTO out SELECT name, window_end, sum(y) / count(*) AS mean, count(*) AS n, "
      "CASE WHEN max(x) > 10 THEN 'big' ELSE name END AS label FROM TUMBLE(t, ts, '1 minute') "
      "GROUP BY name, window_start, window_end HAVING count(*) > 1 AND min(x) >= 0 AND name <> 'z';");
  // Group row: [window_start, window_end, name, sum(y), count(*), max(x), min(x)].
  REQUIRE(q.group_keys.size() == 1);
  REQUIRE(q.aggregates.size() == 4);
  CHECK(q.aggregates[0].text == "sum(y)");
  CHECK(q.aggregates[1].text == "count(*)");
  CHECK(q.aggregates[2].text == "max(x)");
  CHECK(q.aggregates[3].text == "min(x)");  // only in HAVING: no output of its own
  REQUIRE(q.post_projections.size() == 2);
  const Expr& mean = q.post_projections[0];
  CHECK(mean.op == ExprOp::kDiv);
  CHECK(mean.type == DataType::kFloat64);
  CHECK(mean.args[0].column == 3);
  CHECK(mean.args[1].column == 4);
  CHECK(mean.text == "sum(y) / count(*)");
  CHECK(q.outputs[2].kind == OutputColumn::Kind::kPostExpr);
  CHECK((q.outputs[3].kind == OutputColumn::Kind::kAggregate && q.outputs[3].index == 1));  // shared with mean's count(*)
  CHECK(q.post_projections[1].args[2].column == 2);  // ELSE name → the group key
  REQUIRE(q.having.has_value());
  CHECK(q.having->text == "count(*) > 1 AND min(x) >= 0 AND name <> 'z'");
  CHECK(q.having->args[0].args[0].args[0].column == 4);
  CHECK(q.having->args[0].args[1].args[0].column == 6);
  CHECK(q.having->args[1].args[0].column == 2);

  CHECK(Contains(QueryError("INSERT INTO out SELECT count(*) AS n FROM TUMBLE(t, ts, '1 minute') GROUP BY x HAVING "
                            "count(*);"),
                 "argument of HAVING must be type BOOLEAN, not type BIGINT"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT name, count(*) AS n FROM t GROUP BY name HAVING count(*) > 1;"),
                 "aggregation needs a window"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT sum(x) + y AS s FROM TUMBLE(t, ts, '1 minute') GROUP BY x;"),
                 "column \"y\" must appear in GROUP BY or be used in an aggregate"));
}

TEST_CASE("scalar functions and CASE bind with PostgreSQL types") {
  QueryDef q = PlanQuery(
      "INSERT INTO out SELECT CASE WHEN x > 1 THEN x ELSE y END AS c1, CASE x WHEN 1 THEN 'one' END AS c2, "
      "COALESCE(name, 'none') AS c3, NULLIF(x, 0) AS c4, name NOT LIKE 'a_%' AS c5, lower(name) || '!' AS c6, "
      "length(name) AS c7, substring(name FROM 2 FOR 3) AS c8, concat(name, x, ts) AS c9, abs(y) AS c10, "
      "round(y, 2) AS c11, floor(x) AS c12, sqrt(x) AS c13, mod(x, 7) AS c14, date_trunc('minute', ts) AS c15, "
      "EXTRACT(hour FROM ts) AS c16, extract(epoch FROM ts) AS c17, to_timestamp(x) AS c18, name ILIKE '%B%' AS c19 "
      "FROM t;");
  REQUIRE(q.projections.size() == 19);
  auto type = [&](int i) { return q.projections[static_cast<size_t>(i)].type; };
  CHECK(type(0) == DataType::kFloat64);  // BIGINT and FLOAT8 branches
  CHECK(q.projections[0].text == "CASE WHEN x > 1 THEN x ELSE y END");
  CHECK(type(1) == DataType::kText);
  CHECK(q.projections[1].text == "CASE WHEN x = 1 THEN 'one' END");
  CHECK(type(2) == DataType::kText);
  CHECK(type(3) == DataType::kInt64);
  CHECK(q.projections[4].text == "name NOT LIKE 'a_%'");
  CHECK(q.projections[5].text == "lower(name) || '!'");
  CHECK(type(6) == DataType::kInt64);
  CHECK(q.projections[7].fn == ScalarFn::kSubstring);
  CHECK(q.projections[7].args.size() == 3);
  CHECK(type(8) == DataType::kText);
  CHECK(type(9) == DataType::kFloat64);
  CHECK(type(11) == DataType::kInt64);
  CHECK(type(12) == DataType::kFloat64);
  CHECK(q.projections[13].op == ExprOp::kMod);
  CHECK(type(14) == DataType::kTimestamp);
  CHECK(q.projections[14].args[0].literal.as_int() == static_cast<int64_t>(TimeField::kMinute));
  CHECK(type(15) == DataType::kInt64);
  CHECK(q.projections[15].text == "EXTRACT(hour FROM ts)");
  CHECK(type(16) == DataType::kFloat64);
  CHECK(type(17) == DataType::kTimestamp);
  CHECK(q.projections[18].fn == ScalarFn::kILike);
  CHECK(q.outputs[1].name == "c2");

  CHECK(Contains(QueryError("INSERT INTO out SELECT CASE WHEN ok THEN 1 ELSE 'x' END AS c FROM t;"),
                 "invalid input syntax for type BIGINT: \"x\""));
  CHECK(Contains(QueryError("INSERT INTO out SELECT CASE WHEN ok THEN x ELSE name END AS c FROM t;"),
                 "CASE types BIGINT and TEXT cannot be matched"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT COALESCE(x, ts) AS c FROM t;"),
                 "COALESCE types BIGINT and TIMESTAMPTZ cannot be matched"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT CASE WHEN x THEN 1 END AS c FROM t;"),
                 "argument of CASE/WHEN must be type BOOLEAN, not type BIGINT"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT lower(x) AS c FROM t;"), "function lower(BIGINT) does not exist"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT x LIKE 'a' AS c FROM t;"), "operator does not exist: BIGINT LIKE TEXT"));
  std::string err = QueryError("INSERT INTO out SELECT date_trunc('fortnight', ts) AS c FROM t;");
  CHECK(Headline(err).starts_with("line 5, column 35: date_trunc unit 'fortnight' is not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT date_trunc('epoch', ts) AS c FROM t;"), "date_trunc unit 'epoch'"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT extract(century FROM ts) AS c FROM t;"),
                 "extract field 'century' is not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT to_timestamp(name, 'YYYY') AS c FROM t;"),
                 "to_timestamp(text, format) is not supported"));
  CHECK(Contains(QueryError("INSERT INTO out SELECT lower(DISTINCT name) AS c FROM t;"), "is not an aggregate function"));
}

TEST_CASE("emit_interval belongs to sinks") {
  Pipeline p = MustPlan(std::string(kSource) +
                        "CREATE TABLE k (name TEXT) WITH (connector = 'kv', primary_key = 'name', emit_interval = '10 seconds');");
  CHECK(p.sinks[1].emit_interval == seconds(10));
  CHECK(Contains(ErrorOf(std::string(kSource) +
                         "CREATE TABLE k () WITH (connector = 'kv', primary_key = 'name', emit_interval = 'soon');"),
                 "emit_interval: "));
  CHECK(Contains(ErrorOf("CREATE TABLE s (ts TIMESTAMPTZ) WITH (connector = 'stream', emit_interval = '1 second');"),
                 "emit_interval belongs to the sink"));
}

TEST_CASE("window joins and subqueries plan into a StagePlan with shared leaves") {
  // Nexmark q5's shape: the two identical HOP subqueries become one leaf.
  QueryDef q = PlanQuery(
      "INSERT INTO out SELECT c.x, c.n FROM "
      "(SELECT x, count(*) AS n, window_start AS s, window_end AS e FROM HOP(t, ts, INTERVAL '2 seconds', "
      "INTERVAL '10 seconds') GROUP BY x, window_start, window_end) AS c "
      "JOIN (SELECT max(n) AS top, s, e FROM (SELECT x, count(*) AS n, window_start AS s, window_end AS e "
      "FROM HOP(t, ts, INTERVAL '2 seconds', INTERVAL '10 seconds') GROUP BY x, window_start, window_end) AS y "
      "GROUP BY s, e) AS m ON c.s = m.s AND m.e = c.e AND c.n >= m.top;");
  REQUIRE(q.stages != nullptr);
  const StagePlan& plan = *q.stages;
  CHECK(plan.leaves.size() == 1);
  REQUIRE(plan.nodes.size() == 5);  // leaf, leaf, aggregate, join, project
  CHECK(plan.nodes[0].kind == StageNode::Kind::kLeaf);
  CHECK(plan.nodes[1].leaf == plan.nodes[0].leaf);
  CHECK(plan.nodes[2].kind == StageNode::Kind::kAggregate);
  CHECK(plan.nodes[2].window_start_column == 2);
  CHECK(plan.nodes[2].window_end_column == 3);
  const StageNode& join = plan.nodes[3];
  CHECK(join.kind == StageNode::Kind::kJoin);
  CHECK(join.left_keys.size() == 2);  // window_start and window_end, written either way round
  CHECK(join.right_keys[1].column == 2);  // m.e, in the right side's own columns
  REQUIRE(join.condition.has_value());  // c.n >= m.top, over the joined row
  CHECK(plan.nodes[4].kind == StageNode::Kind::kProject);
  REQUIRE(q.outputs.size() == 2);
  CHECK(q.outputs[0].name == "x");
  CHECK(q.outputs[1].kind == OutputColumn::Kind::kProjection);

  // A non-aggregating TUMBLE subquery tags rows with their window.
  QueryDef q7 = PlanQuery(
      "INSERT INTO out SELECT b.x FROM (SELECT x, window_start, window_end FROM TUMBLE(t, ts, INTERVAL '10 "
      "seconds')) AS b JOIN (SELECT max(x) AS top, window_start, window_end FROM TUMBLE(t, ts, INTERVAL '10 "
      "seconds') GROUP BY window_start, window_end) AS m ON b.window_start = m.window_start AND b.window_end = "
      "m.window_end AND b.x = m.top;");
  REQUIRE(q7.stages != nullptr);
  CHECK(q7.stages->leaves.size() == 2);
  CHECK(!q7.stages->leaves[0].aggregating());
  CHECK(q7.stages->nodes[2].left_keys.size() == 3);
  CHECK(!q7.stages->nodes[2].condition.has_value());
}

}  // namespace

TEST_CASE("kafka sources: topic and bootstrap_servers are required, shards is refused, options are kept") {
  auto r = PlanPipeline(
      "CREATE TABLE rides (name TEXT, ts TIMESTAMPTZ) WITH (connector = 'kafka', topic = 'wildrydes', "
      "bootstrap_servers = '127.0.0.1:9092', group_id = 'g1', event_time = 'ts', watermark_delay = '5 seconds');\n"
      "CREATE TABLE out () WITH (connector = 'kv', primary_key = 'name');\n"
      "INSERT INTO out SELECT name, count(*) AS n FROM TUMBLE(rides, ts, INTERVAL '1 minute') GROUP BY name;");
  REQUIRE(r.ok());
  const SourceDef& src = r->sources[0];
  CHECK(src.connector == "kafka");
  CHECK(src.options.at("topic") == "wildrydes");
  CHECK(src.options.at("bootstrap_servers") == "127.0.0.1:9092");
  CHECK(src.options.at("group_id") == "g1");
  CHECK(src.watermark_delay == std::chrono::seconds(5));

  CHECK(Headline(ErrorOf("CREATE TABLE k (a TEXT) WITH (connector = 'kafka', topic = 't');")) ==
        "line 1, column 14: kafka source k needs WITH (bootstrap_servers = 'host:port')");
  CHECK(Headline(ErrorOf("CREATE TABLE k (a TEXT) WITH (connector = 'kafka', bootstrap_servers = 'b:9092', topic = '');")) ==
        "line 1, column 82: kafka source k needs WITH (topic = 'topic name')");
  CHECK(Contains(ErrorOf("CREATE TABLE k (a TEXT) WITH (connector = 'kafka', topic = 't', bootstrap_servers = 'b', "
                         "shards = 4);"),
                 "unknown WITH option shards for a kafka source"));
  CHECK(Contains(ErrorOf("CREATE TABLE k (a TEXT) WITH (connector = 'kafka', topik = 't', bootstrap_servers = 'b');"),
                 "(did you mean topic?)"));
  CHECK(Contains(ErrorOf("CREATE TABLE k () WITH (connector = 'kafka', topic = 't', bootstrap_servers = 'b');"),
                 "source topic k needs at least one column"));

  // partitions: numbers and ranges, normalized.
  auto with_partitions = [](const std::string& list) {
    return PlanPipeline("CREATE TABLE k (a TEXT) WITH (connector = 'kafka', topic = 't', bootstrap_servers = 'b', "
                        "partitions = '" + list + "');");
  };
  auto parts = with_partitions(" 5, 0-2,1 ");
  REQUIRE(parts.ok());
  CHECK(parts->sources[0].options.at("partitions") == "0,1,2,5");
  for (const char* bad : {"", "a", "3-1", "1,,2", "-1", "2-"}) {
    CAPTURE(bad);
    auto r = with_partitions(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(Contains(r.status().message(), "partitions must list partition numbers and ranges such as '0, 2-3'"));
  }
}

}  // namespace sluice::sql
