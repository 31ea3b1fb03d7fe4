// Fuzz-style test: mutated variants of the demo pipeline must never crash the planner; each one
// plans (and then the plan's cross references are consistent) or fails with an InvalidArgument
// in the "line L, column C: …" format. Deterministic: a fixed-seed xorshift PRNG.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "sql/planner.h"

namespace sluice::sql {
namespace {

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
WHERE "Distance" > 0.5 AND NOT "Name" IS NULL
GROUP BY "Name", window_start, window_end;
CREATE TABLE telemetry_archive () WITH (connector = 'files', path = 'archive/unicorns',
  format = 'jsonl', compression = 'gzip', partition = 'hour', buffer_size = '5 MB', buffer_interval = '60 seconds');
INSERT INTO telemetry_archive SELECT * FROM unicorn_telemetry;
)sql";

// Tokens worth splicing in: keywords, punctuation and values the grammar reacts to.
const char* const kDictionary[] = {
    "(", ")", ",", ";", "*", "-", "+", "/", "=", "<>", "::", ".", "NULL", "TRUE", "0", "-1", "1.5", "'x'",
    "'1 minute'", "INTERVAL", "SELECT", "FROM", "WHERE", "GROUP", "BY", "AND", "OR", "NOT", "IS", "AS",
    "TUMBLE", "HOP", "JOIN", "ON", "ORDER", "LIMIT", "DISTINCT", "OVER", "CAST", "window_start", "window_end",
    "\"Name\"", "\"StatusTime\"", "sum", "count", "avg", "min", "INSERT", "INTO", "CREATE", "TABLE", "WITH",
    "connector", "'kv'", "'stream'", "primary_key", "BIGINT", "TEXT", "TIMESTAMPTZ", "$1", "/* c */", "--",
    "é", "\"", "'", "SESSION", "HAVING", "FILTER", "CASE", "WHEN", "THEN", "ELSE", "END", "COALESCE",
    "NULLIF", "LIKE", "'%a_'", "||", "lower", "substring", "date_trunc", "'minute'", "EXTRACT", "approx_percentile",
    "0.5", "stddev_samp", "first_value", "approx_count_distinct", "emit_interval", "allowed_lateness",
};

class XorShift {
 public:
  explicit XorShift(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }

 private:
  uint64_t state_;
};

// Splits SQL into tokens: quoted strings and identifiers, words/numbers, single punctuation.
std::vector<std::string> Tokenize(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isspace(c)) {
      ++i;
    } else if (c == '\'' || c == '"') {
      size_t end = s.find(static_cast<char>(c), i + 1);
      end = end == std::string_view::npos ? s.size() : end + 1;
      out.emplace_back(s.substr(i, end - i));
      i = end;
    } else if (std::isalnum(c) || c == '_') {
      size_t start = i;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_' || s[i] == '.')) ++i;
      out.emplace_back(s.substr(start, i - start));
    } else {
      out.emplace_back(1, static_cast<char>(c));
      ++i;
    }
  }
  return out;
}

std::string Join(const std::vector<std::string>& tokens, XorShift* rng) {
  std::string out;
  for (const std::string& t : tokens) {
    out += t;
    out += rng->Below(8) == 0 ? '\n' : ' ';
  }
  return out;
}

void MutateTokens(std::vector<std::string>* tokens, XorShift* rng) {
  if (tokens->empty()) return;
  size_t i = rng->Below(tokens->size());
  switch (rng->Below(6)) {
    case 0: tokens->erase(tokens->begin() + static_cast<std::ptrdiff_t>(i)); break;
    case 1: tokens->insert(tokens->begin() + static_cast<std::ptrdiff_t>(i), (*tokens)[i]); break;
    case 2: std::swap((*tokens)[i], (*tokens)[rng->Below(tokens->size())]); break;
    case 3: (*tokens)[i] = kDictionary[rng->Below(std::size(kDictionary))]; break;
    case 4:
      tokens->insert(tokens->begin() + static_cast<std::ptrdiff_t>(i), kDictionary[rng->Below(std::size(kDictionary))]);
      break;
    case 5: tokens->resize(i); break;
  }
}

void MutateBytes(std::string* text, XorShift* rng) {
  if (text->empty()) return;
  size_t i = rng->Below(text->size());
  switch (rng->Below(3)) {
    case 0: text->erase(i, 1 + rng->Below(4)); break;
    case 1:  // mostly printable ASCII, so most variants get past the UTF-8 check into the parser
      (*text)[i] = static_cast<char>(rng->Below(4) == 0 ? rng->Next() & 0xFF : 32 + rng->Below(95));
      break;
    case 2: text->insert(i, text->substr(rng->Below(text->size()), 1 + rng->Below(8))); break;
  }
}

// Walks an expression and checks its column references stay inside the source schema.
bool ColumnsInRange(const Expr& e, size_t columns) {
  if (e.op == ExprOp::kColumn && (e.column < 0 || static_cast<size_t>(e.column) >= columns)) return false;
  for (const Expr& a : e.args) {
    if (!ColumnsInRange(a, columns)) return false;
  }
  return true;
}

// Cross references of a successful plan.
void CheckConsistent(const Pipeline& p) {
  for (const SinkDef& sink : p.sinks) {
    for (int k : sink.primary_key) CHECK((k >= 0 && static_cast<size_t>(k) < sink.schema.size()));
  }
  for (const QueryDef& q : p.queries) {
    REQUIRE((q.source >= 0 && static_cast<size_t>(q.source) < p.sources.size()));
    REQUIRE((q.sink >= 0 && static_cast<size_t>(q.sink) < p.sinks.size()));
    const SourceDef& source = p.sources[q.source];
    const size_t columns = source.schema.size();
    CHECK(q.outputs.size() == p.sinks[q.sink].schema.size());
    if (q.where) CHECK(ColumnsInRange(*q.where, columns));
    for (const Expr& e : q.group_keys) CHECK(ColumnsInRange(e, columns));
    for (const Expr& e : q.projections) CHECK(ColumnsInRange(e, columns));
    for (const AggregateDef& a : q.aggregates) {
      CHECK(ColumnsInRange(a.arg, columns));
      if (a.filter) CHECK(ColumnsInRange(*a.filter, columns));
    }
    // HAVING and post-projections read the group row: window_start, window_end, keys, aggregates.
    const size_t group_row = 2 + q.group_keys.size() + q.aggregates.size();
    if (q.having) CHECK(ColumnsInRange(*q.having, group_row));
    for (const Expr& e : q.post_projections) CHECK(ColumnsInRange(e, group_row));
    if (q.window.kind != WindowKind::kNone) CHECK(q.window.time_column == source.event_time_column);
    if (q.window.kind == WindowKind::kTumble) CHECK(q.window.size.count() > 0);
    if (q.window.kind == WindowKind::kHop) {
      CHECK(q.window.slide.count() > 0);
      CHECK(q.window.slide <= q.window.size);
    }
    if (q.window.kind == WindowKind::kSession) CHECK(q.window.gap.count() > 0);
    CHECK((q.aggregating() || q.window.kind == WindowKind::kNone));
    for (const OutputColumn& out : q.outputs) {
      switch (out.kind) {
        case OutputColumn::Kind::kGroupKey: CHECK(static_cast<size_t>(out.index) < q.group_keys.size()); break;
        case OutputColumn::Kind::kAggregate: CHECK(static_cast<size_t>(out.index) < q.aggregates.size()); break;
        case OutputColumn::Kind::kProjection: CHECK(static_cast<size_t>(out.index) < q.projections.size()); break;
        case OutputColumn::Kind::kPostExpr: CHECK(static_cast<size_t>(out.index) < q.post_projections.size()); break;
        case OutputColumn::Kind::kWindowStart:
        case OutputColumn::Kind::kWindowEnd: CHECK(q.window.kind != WindowKind::kNone); break;
      }
    }
  }
}

struct Tally {
  int ok = 0;
  int syntax_errors = 0;
  int plan_errors = 0;
};

void Run(const std::string& sql, Tally* tally) {
  CAPTURE(sql);
  auto r = PlanPipeline(sql);
  if (r.ok()) {
    ++tally->ok;
    CheckConsistent(r.value());
    return;
  }
  const std::string& m = r.status().message();
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(m.rfind("line ", 0) == 0);
  CHECK(m.back() == '^');
  CHECK(std::count(m.begin(), m.end(), '\n') >= 2);
  if (m.find("syntax error") != std::string::npos) {
    ++tally->syntax_errors;
  } else {
    ++tally->plan_errors;
  }
}

TEST_CASE("fuzz: token mutations of the demo pipeline never crash the planner") {
  XorShift rng(0x5EED5EEDULL);
  const std::vector<std::string> tokens = Tokenize(kDemo);
  REQUIRE(tokens.size() > 100);
  Tally tally;
  Run(Join(tokens, &rng), &tally);
  REQUIRE(tally.ok == 1);  // the unmutated token stream plans
  for (int variant = 0; variant < 600; ++variant) {
    std::vector<std::string> mutated = tokens;
    int mutations = 1 + static_cast<int>(rng.Below(3));
    for (int m = 0; m < mutations; ++m) MutateTokens(&mutated, &rng);
    Run(Join(mutated, &rng), &tally);
  }
  MESSAGE("ok=" << tally.ok << " syntax=" << tally.syntax_errors << " plan=" << tally.plan_errors);
  // The variants reach past the parser into the planner's checks, and some still plan.
  CHECK(tally.plan_errors > 10);
  CHECK(tally.syntax_errors > 100);
  CHECK(tally.ok > 5);
}

// Names and literals of the demo plus near misses: swapping them keeps the grammar happy, so the
// variants exercise the planner's checks rather than the parser's.
bool IsNameOrLiteral(const std::string& t) {
  if (t.empty()) return false;
  unsigned char c = static_cast<unsigned char>(t[0]);
  if (c == '\'' || c == '"' || std::isdigit(c)) return true;
  return std::islower(c) || c == '_';
}

const char* const kNearMisses[] = {
    "\"name\"", "\"Nope\"", "window_start", "window_end", "'1 fortnight'", "'0 seconds'", "'kafka'", "'zip'",
    "'week'", "'-1'", "'2000'", "'Name'", "'name, nope'", "'soon'", "'x'", "0", "5000", "other", "ts", "sum",
    "count", "tumble", "hop", "lower", "unicorn_minutes", "telemetry_archive", "unicorn_telemetry",
};

TEST_CASE("fuzz: swapping names and literals of the demo pipeline never crashes the planner") {
  XorShift rng(0xC0FFEEULL);
  const std::vector<std::string> tokens = Tokenize(kDemo);
  std::vector<std::string> pool;
  for (const std::string& t : tokens) {
    if (IsNameOrLiteral(t)) pool.push_back(t);
  }
  for (const char* t : kNearMisses) pool.emplace_back(t);
  Tally tally;
  for (int variant = 0; variant < 400; ++variant) {
    std::vector<std::string> mutated = tokens;
    int mutations = 1 + static_cast<int>(rng.Below(3));
    for (int m = 0; m < mutations; ++m) {
      size_t i = rng.Below(mutated.size());
      if (IsNameOrLiteral(mutated[i])) mutated[i] = pool[rng.Below(pool.size())];
    }
    Run(Join(mutated, &rng), &tally);
  }
  MESSAGE("ok=" << tally.ok << " syntax=" << tally.syntax_errors << " plan=" << tally.plan_errors);
  CHECK(tally.plan_errors > 100);
  CHECK(tally.ok > 20);
}

TEST_CASE("fuzz: byte mutations of the demo pipeline never crash the planner") {
  XorShift rng(0xB17E5ULL);
  Tally tally;
  for (int variant = 0; variant < 300; ++variant) {
    std::string text(kDemo);
    int mutations = 1 + static_cast<int>(rng.Below(3));
    for (int m = 0; m < mutations; ++m) MutateBytes(&text, &rng);
    Run(text, &tally);
  }
  MESSAGE("ok=" << tally.ok << " syntax=" << tally.syntax_errors << " plan=" << tally.plan_errors);
  CHECK(tally.ok + tally.syntax_errors + tally.plan_errors == 300);
}

}  // namespace
}  // namespace sluice::sql
