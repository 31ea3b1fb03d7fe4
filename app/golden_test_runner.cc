#include "app/golden_test_runner.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "core/file_util.h"
#include "app/explain.h"
#include "app/golden_test_file.h"
#include "core/connector.h"
#include "core/progress.h"
#include "ingest/json_decoder.h"
#include "operators/query_pipeline.h"
#include "sql/planner.h"

namespace sluice::app {
namespace {


std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

// Splits "a | "b|c" | NULL" into cells; a cell in double quotes keeps its text exactly ("" is a
// quote). `quoted[i]` says whether cell i was quoted (a quoted "NULL" is the text NULL).
bool SplitCells(std::string_view line, std::vector<std::string>* cells, std::vector<bool>* quoted) {
  cells->clear();
  quoted->clear();
  size_t i = 0;
  while (true) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::string cell;
    bool q = false;
    if (i < line.size() && line[i] == '"') {
      q = true;
      ++i;
      while (true) {
        if (i >= line.size()) return false;
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            cell.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        cell.push_back(line[i++]);
      }
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    } else {
      size_t end = line.find('|', i);
      if (end == std::string_view::npos) end = line.size();
      cell = std::string(Trim(line.substr(i, end - i)));
      i = end;
    }
    cells->push_back(std::move(cell));
    quoted->push_back(q);
    if (i >= line.size()) return true;
    if (line[i] != '|') return false;
    ++i;
  }
}

// A value as a cell: quoted when it would not read back as the same text.
std::string Cell(const Value& v) {
  if (v.is_null()) return "NULL";
  std::string s = v.type() == DataType::kText ? v.as_text() : v.ToString();
  if (v.type() == DataType::kText &&
      (s.empty() || s == "NULL" || s.find('|') != std::string::npos || s.find('"') != std::string::npos ||
       s.front() == ' ' || s.back() == ' ')) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"') q.push_back('"');
      q.push_back(c);
    }
    return q + "\"";
  }
  return s;
}

std::string RowText(const Row& row, const std::vector<int>& columns) {
  std::string s;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) s += " | ";
    s += Cell(row[static_cast<size_t>(columns[i])]);
  }
  return s;
}

// An expected cell, read as the column's type.
struct ExpectedCell {
  bool null = false;
  Value value;
};

Result<ExpectedCell> ParseCell(const std::string& text, bool quoted, DataType type) {
  ExpectedCell c;
  if (!quoted && text == "NULL") {
    c.null = true;
    return c;
  }
  auto bad = [&] {
    return Status::InvalidArgument(std::string("'") + text + "' is not a " + DataTypeName(type) + " value");
  };
  switch (type) {
    case DataType::kText:
    case DataType::kNull: c.value = Value::Text(text); return c;
    case DataType::kBool:
      if (text == "true" || text == "t") {
        c.value = Value::Bool(true);
      } else if (text == "false" || text == "f") {
        c.value = Value::Bool(false);
      } else {
        return bad();
      }
      return c;
    case DataType::kInt64:
    case DataType::kFloat64: {
      double d = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return bad();
      int64_t i = 0;
      auto [iptr, iec] = std::from_chars(text.data(), text.data() + text.size(), i);
      if (type == DataType::kInt64) {
        if (iec != std::errc() || iptr != text.data() + text.size()) return bad();
        c.value = Value::Int(i);
      } else {
        c.value = Value::Float(d);
      }
      return c;
    }
    case DataType::kTimestamp: {
      auto t = ParseTimestamp(text);
      if (!t.ok()) return bad();
      c.value = Value::Time(*t);
      return c;
    }
  }
  return bad();
}

bool CellMatches(const ExpectedCell& e, const Value& actual, double tolerance) {
  if (e.null || actual.is_null()) return e.null && actual.is_null();
  const bool numeric_e = e.value.type() == DataType::kInt64 || e.value.type() == DataType::kFloat64;
  const bool numeric_a = actual.type() == DataType::kInt64 || actual.type() == DataType::kFloat64;
  if (numeric_e && numeric_a) {
    if (e.value.type() == DataType::kInt64 && actual.type() == DataType::kInt64) {
      return e.value.as_int() == actual.as_int();
    }
    const double x = e.value.ToDouble(), y = actual.ToDouble();
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    return std::fabs(x - y) <= tolerance * std::max(std::fabs(x), std::fabs(y)) + 1e-12;
  }
  return e.value.type() == actual.type() && e.value.Compare(actual) == 0;
}

// Sinks as tests see them: kv = final table by primary key, files = every row written.
struct SimSink {
  const SinkDef* def = nullptr;
  std::map<std::string, Row> table;
  std::vector<Row> rows;

  void Write(const std::vector<Row>& batch) {
    for (const Row& r : batch) {
      if (def->connector == "kv") {
        std::string key;
        for (size_t i = 0; i < def->primary_key.size(); ++i) {
          if (i > 0) key.push_back('|');
          key += r[static_cast<size_t>(def->primary_key[i])].ToString();
        }
        table[key] = r;
      } else {
        rows.push_back(r);
      }
    }
  }
  std::vector<Row> Contents() const {
    if (def->connector != "kv") return rows;
    std::vector<Row> out;
    for (const auto& [key, row] : table) out.push_back(row);
    return out;
  }
};

struct SimSource {
  const SourceDef* def = nullptr;
  std::unique_ptr<ingest::JsonDecoder> decoder;
  std::vector<uint64_t> next_position;
  std::vector<size_t> queries;
};

// Runs the input script against the planned pipeline.
class Simulation {
 public:
  explicit Simulation(const Pipeline& p) : pipeline_(p) {
    for (const SourceDef& s : p.sources) {
      SimSource src;
      src.def = &s;
      src.decoder = std::make_unique<ingest::JsonDecoder>(s.schema, s.event_time_column);
      src.next_position.assign(static_cast<size_t>(s.shards), 1);
      sources_.push_back(std::move(src));
    }
    for (const SinkDef& s : p.sinks) sinks_.push_back(SimSink{&s, {}, {}});
    for (size_t q = 0; q < p.queries.size(); ++q) {
      const QueryDef& qd = p.queries[q];
      queries_.push_back(std::make_unique<ops::QueryPipeline>(
          p, static_cast<int>(q), static_cast<size_t>(p.sources[static_cast<size_t>(qd.source)].shards), clock_));
      sources_[static_cast<size_t>(qd.source)].queries.push_back(q);
    }
  }

  Status Run(const std::string& path, const std::vector<GoldenStep>& steps) {
    bool in_batch = false;
    for (const GoldenStep& step : steps) {
      auto error = [&](const std::string& m) {
        return Status::InvalidArgument(path + ":" + std::to_string(step.line) + ": " + m);
      };
      switch (step.kind) {
        case GoldenStep::Kind::kEvent: {
          SimSource* src = nullptr;
          if (step.source.empty()) {
            if (sources_.size() != 1) {
              return error("the pipeline has " + std::to_string(sources_.size()) +
                           " sources; write SOURCE:SHARD before the event");
            }
            src = &sources_[0];
          } else {
            for (SimSource& s : sources_) {
              if (s.def->name == step.source) src = &s;
            }
            if (src == nullptr) return error("no source named '" + step.source + "'");
          }
          if (static_cast<size_t>(step.shard) >= src->next_position.size()) {
            return error("source " + src->def->name + " has " + std::to_string(src->next_position.size()) +
                         " shards (0.." + std::to_string(src->next_position.size() - 1) + "), not shard " +
                         std::to_string(step.shard));
          }
          Deliver(src, static_cast<size_t>(step.shard), step.payload);
          if (!in_batch) AdvanceAll();
          break;
        }
        case GoldenStep::Kind::kAdvance:
          clock_ = clock_ + step.advance;
          AdvanceAll();
          break;
        case GoldenStep::Kind::kBatchBegin:
          if (in_batch) return error("batch inside a batch");
          in_batch = true;
          break;
        case GoldenStep::Kind::kBatchEnd:
          if (!in_batch) return error("end batch without batch");
          in_batch = false;
          AdvanceAll();
          break;
        case GoldenStep::Kind::kFlush:
          for (size_t q = 0; q < queries_.size(); ++q) {
            out_.clear();
            queries_[q]->Flush(&out_);
            sinks_[static_cast<size_t>(pipeline_.queries[q].sink)].Write(out_);
          }
          break;
      }
    }
    if (in_batch) return Status::InvalidArgument(path + ": a batch is not closed with 'end batch'");
    return Status::OK();
  }

  const SimSink* sink(const std::string& name) const {
    for (const SimSink& s : sinks_) {
      if (s.def->name == name) return &s;
    }
    return nullptr;
  }
  const std::vector<std::string>& late() const { return late_; }
  const std::vector<std::string>& bad() const { return bad_; }

 private:
  void Deliver(SimSource* src, size_t shard, const std::string& payload) {
    records_.assign(1, SourceRecord{src->next_position[shard]++, clock_.millis(), {}, payload});
    src->decoder->DecodeBatch(records_, &rows_, &index_, &errors_);
    for (size_t e = 0; e < errors_.size(); ++e) bad_.push_back(payload);
    for (size_t q : src->queries) {
      ops::QueryPipeline& qp = *queries_[q];
      qp.NoteActivity(shard, clock_);
      out_.clear();
      late_rows_.clear();
      qp.ProcessBatch(shard, rows_, &out_, &late_rows_);
      for (const ops::LateRow& l : late_rows_) (l.out_of_range ? bad_ : late_).push_back(payload);
      sinks_[static_cast<size_t>(pipeline_.queries[q].sink)].Write(out_);
    }
  }

  void AdvanceAll() {
    for (size_t q = 0; q < queries_.size(); ++q) {
      out_.clear();
      queries_[q]->AdvanceTime(clock_, &out_);
      sinks_[static_cast<size_t>(pipeline_.queries[q].sink)].Write(out_);
    }
  }

  const Pipeline& pipeline_;
  EventTime clock_{0};
  std::vector<SimSource> sources_;
  std::vector<SimSink> sinks_;
  std::vector<std::unique_ptr<ops::QueryPipeline>> queries_;
  std::vector<std::string> late_, bad_;
  // Reused buffers.
  std::vector<SourceRecord> records_;
  std::vector<Row> rows_, out_;
  std::vector<size_t> index_;
  std::vector<DecodeError> errors_;
  std::vector<ops::LateRow> late_rows_;
};

std::string Indent(const std::string& s) { return "    " + s + "\n"; }

// Compares one sink's contents with an `expect` block. Appends a diff to `report`.
bool CheckSink(const GoldenExpectation& e, const SimSink& sink, double tolerance, std::string* report) {
  const Schema& schema = sink.def->schema;
  const std::vector<Row> actual = sink.Contents();
  std::vector<int> all_columns;
  for (size_t i = 0; i < schema.size(); ++i) all_columns.push_back(static_cast<int>(i));
  std::string header_all;
  for (size_t i = 0; i < schema.size(); ++i) header_all += (i ? " | " : "") + schema[i].name;
  auto fail = [&](const std::string& why) {
    *report += "  expect " + sink.def->name + " (line " + std::to_string(e.line) + "): " + why + "\n";
    *report += "  all rows produced (" + std::to_string(actual.size()) + "):\n" + Indent(header_all);
    for (const Row& r : actual) *report += Indent(RowText(r, all_columns));
    return false;
  };
  if (e.lines.empty()) {
    if (actual.empty()) return true;
    return fail("expected no rows, got " + std::to_string(actual.size()));
  }
  std::vector<std::string> cells;
  std::vector<bool> quoted;
  if (!SplitCells(e.lines[0], &cells, &quoted)) return fail("unreadable header '" + e.lines[0] + "'");
  std::vector<int> columns;
  for (const std::string& name : cells) {
    int c = schema.IndexOf(name);
    if (c < 0) return fail("sink " + sink.def->name + " has no column '" + name + "'; its columns are " + header_all);
    columns.push_back(c);
  }
  std::vector<std::vector<ExpectedCell>> expected;
  for (size_t li = 1; li < e.lines.size(); ++li) {
    if (!SplitCells(e.lines[li], &cells, &quoted) || cells.size() != columns.size()) {
      return fail("row '" + e.lines[li] + "' does not have " + std::to_string(columns.size()) + " cells");
    }
    std::vector<ExpectedCell> row;
    for (size_t c = 0; c < cells.size(); ++c) {
      auto cell = ParseCell(cells[c], quoted[c], schema[static_cast<size_t>(columns[c])].type);
      if (!cell.ok()) return fail("row '" + e.lines[li] + "': " + cell.status().message());
      row.push_back(std::move(*cell));
    }
    expected.push_back(std::move(row));
  }
  std::vector<bool> used(actual.size(), false);
  std::vector<size_t> missing;
  for (size_t x = 0; x < expected.size(); ++x) {
    bool found = false;
    for (size_t a = 0; a < actual.size() && !found; ++a) {
      if (used[a]) continue;
      bool match = true;
      for (size_t c = 0; c < columns.size() && match; ++c) {
        match = CellMatches(expected[x][c], actual[a][static_cast<size_t>(columns[c])], tolerance);
      }
      if (match) {
        used[a] = true;
        found = true;
      }
    }
    if (!found) missing.push_back(x);
  }
  const size_t unexpected = static_cast<size_t>(std::count(used.begin(), used.end(), false));
  if (missing.empty() && unexpected == 0) return true;
  *report += "  expect " + sink.def->name + " (line " + std::to_string(e.line) + "): expected " +
             std::to_string(expected.size()) + " rows, got " + std::to_string(actual.size()) + "\n";
  if (!missing.empty()) {
    *report += "  missing (expected, not produced):\n" + Indent(e.lines[0]);
    for (size_t x : missing) *report += Indent(e.lines[x + 1]);
  }
  if (unexpected > 0) {
    *report += "  unexpected (produced, not expected):\n" + Indent(e.lines[0]);
    for (size_t a = 0; a < actual.size(); ++a) {
      if (!used[a]) *report += Indent(RowText(actual[a], columns));
    }
  }
  return false;
}

bool CheckPayloads(const GoldenExpectation& e, const std::vector<std::string>& actual, const char* what,
                   std::string* report) {
  std::vector<bool> used(actual.size(), false);
  std::vector<std::string> missing;
  for (const std::string& line : e.lines) {
    std::string want(Trim(line));
    bool found = false;
    for (size_t a = 0; a < actual.size() && !found; ++a) {
      if (!used[a] && Trim(actual[a]) == want) used[a] = found = true;
    }
    if (!found) missing.push_back(want);
  }
  if (missing.empty() && std::find(used.begin(), used.end(), false) == used.end()) return true;
  *report += std::string("  expect ") + what + " (line " + std::to_string(e.line) + "): expected " +
             std::to_string(e.lines.size()) + " records, got " + std::to_string(actual.size()) + "\n";
  if (!missing.empty()) {
    *report += "  missing:\n";
    for (const std::string& m : missing) *report += Indent(m);
  }
  for (size_t a = 0; a < actual.size(); ++a) {
    if (!used[a]) *report += "  unexpected:\n" + Indent(actual[a]);
  }
  return false;
}

bool CheckError(const GoldenExpectation& e, const std::string& message, std::string* report) {
  std::vector<std::string> got = SplitLines(message);
  std::vector<std::string> want = e.lines;
  while (!want.empty() && Trim(want.back()).empty()) want.pop_back();
  bool ok = want.size() <= got.size();
  for (size_t i = 0; ok && i < want.size(); ++i) ok = want[i] == got[i];
  if (ok && !want.empty()) return true;
  *report += "  expect error (line " + std::to_string(e.line) + "): the planning error differs\n  expected:\n";
  for (const std::string& w : want) *report += Indent(w);
  *report += "  got:\n";
  for (const std::string& g : got) *report += Indent(g);
  return false;
}

bool CheckExplain(const GoldenExpectation& e, const std::string& explain, std::string* report) {
  size_t at = 0;
  for (const std::string& line : e.lines) {
    std::string want(Trim(line));
    size_t found = explain.find(want, at);
    if (found == std::string::npos) {
      *report += "  expect explain (line " + std::to_string(e.line) + "): not found (in order): " + want +
                 "\n  explain output:\n";
      for (const std::string& l : SplitLines(explain)) *report += Indent(l);
      return false;
    }
    at = found + want.size();
  }
  return true;
}

void PrintActual(const Pipeline& p, const Simulation& sim, std::string* out) {
  for (const SinkDef& def : p.sinks) {
    const SimSink* s = sim.sink(def.name);
    *out += "expect " + def.name + "\n";
    std::vector<int> cols;
    std::string header;
    for (size_t i = 0; i < def.schema.size(); ++i) {
      cols.push_back(static_cast<int>(i));
      header += (i ? " | " : "") + def.schema[i].name;
    }
    *out += header + "\n";
    for (const Row& r : s->Contents()) *out += RowText(r, cols) + "\n";
    *out += "----\n";
  }
  if (!sim.late().empty()) {
    *out += "expect late\n";
    for (const std::string& l : sim.late()) *out += l + "\n";
    *out += "----\n";
  }
  if (!sim.bad().empty()) {
    *out += "expect bad\n";
    for (const std::string& l : sim.bad()) *out += l + "\n";
    *out += "----\n";
  }
}


}  // namespace

Result<GoldenResult> RunGoldenText(const std::string& path, const std::string& text, const GoldenOptions& options) {
  SLUICE_ASSIGN_OR_RETURN(GoldenFile f, ParseGoldenFile(path, text));
  if (f.expectations.empty()) {
    return Status::InvalidArgument(path + ": no expect blocks; a golden test must assert something");
  }
  GoldenResult result;
  std::string& report = result.report;
  bool ok = true;
  auto planned = sql::PlanPipeline(f.pipeline);
  const GoldenExpectation* error_expectation = nullptr;
  for (const GoldenExpectation& e : f.expectations) {
    if (e.kind == GoldenExpectation::Kind::kError) error_expectation = &e;
  }
  if (!planned.ok()) {
    if (error_expectation == nullptr) {
      report += "  the pipeline does not plan:\n";
      for (const std::string& l : SplitLines(planned.status().message())) report += Indent(l);
      result.checks = 1;
      return result;
    }
    ok = CheckError(*error_expectation, planned.status().message(), &report);
    result.checks = 1;
    if (f.expectations.size() > 1) {
      report += "  a file that expects a planning error can have no other expectations\n";
      ok = false;
    }
    result.passed = ok;
    return result;
  }
  if (error_expectation != nullptr) {
    report += "  expect error (line " + std::to_string(error_expectation->line) +
              "): the pipeline planned, but a planning error was expected\n";
    result.checks = 1;
    return result;
  }
  const Pipeline& p = *planned;
  Simulation sim(p);
  SLUICE_RETURN_IF_ERROR(sim.Run(path, f.steps));
  for (const GoldenExpectation& e : f.expectations) {
    ++result.checks;
    switch (e.kind) {
      case GoldenExpectation::Kind::kSink: {
        const SimSink* s = sim.sink(e.sink);
        if (s == nullptr) {
          std::string names;
          for (const SinkDef& d : p.sinks) names += (names.empty() ? "" : ", ") + d.name;
          report += "  expect " + e.sink + " (line " + std::to_string(e.line) + "): no sink named " + e.sink +
                    "; sinks: " + names + "\n";
          ok = false;
        } else {
          ok = CheckSink(e, *s, f.tolerance, &report) && ok;
        }
        break;
      }
      case GoldenExpectation::Kind::kLate: ok = CheckPayloads(e, sim.late(), "late", &report) && ok; break;
      case GoldenExpectation::Kind::kBad: ok = CheckPayloads(e, sim.bad(), "bad", &report) && ok; break;
      case GoldenExpectation::Kind::kExplain: ok = CheckExplain(e, ExplainPipeline(p), &report) && ok; break;
      case GoldenExpectation::Kind::kError: break;
    }
  }
  if (options.print_actual) {
    report += "# actual results of " + path + "\n";
    PrintActual(p, sim, &report);
  }
  result.passed = ok;
  return result;
}

Result<GoldenResult> RunGoldenFile(const std::string& path, const GoldenOptions& options) {
  std::string text;
  SLUICE_ASSIGN_OR_RETURN(text, ReadFileToString(path));
  return RunGoldenText(path, text, options);
}

int RunGoldenMain(const std::vector<std::string>& args) {
  GoldenOptions options;
  std::vector<std::string> files;
  for (const std::string& a : args) {
    if (a == "--print") {
      options.print_actual = true;
      continue;
    }
    if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "sluice test: unknown option %s\n", a.c_str());
      return 2;
    }
    std::error_code ec;
    if (std::filesystem::is_directory(a, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : std::filesystem::directory_iterator(a, ec)) {
        const std::string name = entry.path().string();
        if (entry.is_regular_file() && name.ends_with(".sql.test")) found.push_back(name);
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: sluice test [--print] FILE.sql.test|DIR...\n");
    return 2;
  }
  int passed = 0, failed = 0;
  // Files done out of all, on stderr: a bar on a terminal, else a logfmt line every few seconds
  // and a final one. Results go to stdout; the bar is erased before each result line.
  Progress progress({.task = "sluice test", .total = files.size(), .unit = "files"});
  for (const std::string& file : files) {
    auto r = RunGoldenFile(file, options);
    progress.ClearLine();
    if (!r.ok()) {
      ++failed;
      std::printf("FAIL %s\n  %s\n", file.c_str(), r.status().message().c_str());
    } else if (r->passed) {
      ++passed;
      std::printf("ok   %s (%d checks)\n", file.c_str(), r->checks);
      if (options.print_actual) std::fputs(r->report.c_str(), stdout);
    } else {
      ++failed;
      std::printf("FAIL %s\n%s", file.c_str(), r->report.c_str());
    }
    std::fflush(stdout);
    progress.Add(1);
  }
  progress.Finish();
  std::printf("golden: %d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed == 0 ? 0 : 1;
}

}  // namespace sluice::app
