#include "app/golden_test_file.h"

#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/file_util.h"

namespace sluice::app {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsSkippable(std::string_view line) {
  std::string_view t = Trim(line);
  return t.empty() || t.front() == '#';
}

bool IsBlockEnd(std::string_view line) { return Trim(line) == "----"; }

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      if (!cur.empty() && cur.back() == '\r') cur.pop_back();
      lines.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) lines.push_back(std::move(cur));
  return lines;
}

Status LineError(const std::string& path, int line, const std::string& message) {
  return Status::InvalidArgument(path + ":" + std::to_string(line) + ": " + message);
}

Result<GoldenStep> ParseStep(const std::string& path, int line_no, std::string_view line) {
  GoldenStep step;
  step.line = line_no;
  std::string_view t = Trim(line);
  if (t == "flush") {
    step.kind = GoldenStep::Kind::kFlush;
    return step;
  }
  if (t == "batch") {
    step.kind = GoldenStep::Kind::kBatchBegin;
    return step;
  }
  if (t == "end batch") {
    step.kind = GoldenStep::Kind::kBatchEnd;
    return step;
  }
  if (t.starts_with("advance")) {
    std::string_view rest = Trim(t.substr(7));
    if (rest.size() >= 2 && rest.front() == '\'' && rest.back() == '\'') rest = rest.substr(1, rest.size() - 2);
    auto d = ParseInterval(rest);
    if (!d.ok()) return LineError(path, line_no, "advance needs an interval such as '10 seconds': " + d.status().message());
    step.kind = GoldenStep::Kind::kAdvance;
    step.advance = *d;
    return step;
  }
  // [SOURCE:]SHARD PAYLOAD
  size_t space = t.find_first_of(" \t");
  if (space == std::string_view::npos) {
    return LineError(path, line_no, "expected '[source:]shard {json}', 'advance …', 'batch', 'end batch' or 'flush'");
  }
  std::string_view where = t.substr(0, space);
  size_t colon = where.rfind(':');
  std::string_view shard_text = where;
  if (colon != std::string_view::npos) {
    step.source = std::string(where.substr(0, colon));
    shard_text = where.substr(colon + 1);
  }
  auto [ptr, ec] = std::from_chars(shard_text.data(), shard_text.data() + shard_text.size(), step.shard);
  if (shard_text.empty() || ec != std::errc() || ptr != shard_text.data() + shard_text.size() || step.shard < 0) {
    return LineError(path, line_no,
                     "expected '[source:]shard {json}' with a shard number, 'advance …', 'batch', 'end batch' or "
                     "'flush'; got '" + std::string(where) + "'");
  }
  step.kind = GoldenStep::Kind::kEvent;
  step.payload = std::string(Trim(t.substr(space)));
  return step;
}


}  // namespace

Result<GoldenFile> ParseGoldenFile(const std::string& path, const std::string& text) {
  GoldenFile f;
  const std::vector<std::string> lines = SplitLines(text);
  bool have_pipeline = false;
  size_t i = 0;
  // Collects a block's lines up to "----"; returns the index after it.
  auto block = [&](size_t start, int directive_line, bool keep_all, std::vector<std::string>* out) -> Result<size_t> {
    for (size_t k = start; k < lines.size(); ++k) {
      if (IsBlockEnd(lines[k])) return k + 1;
      if (keep_all || !IsSkippable(lines[k])) out->push_back(lines[k]);
    }
    return LineError(path, directive_line, "this block has no closing line '----'");
  };
  while (i < lines.size()) {
    const int line_no = static_cast<int>(i) + 1;
    std::string_view t = Trim(lines[i]);
    if (IsSkippable(t)) {
      ++i;
      continue;
    }
    if (t == "pipeline" || t.starts_with("pipeline ")) {
      if (have_pipeline) return LineError(path, line_no, "a golden file has one pipeline");
      have_pipeline = true;
      std::string_view file = Trim(t.substr(8));
      if (!file.empty()) {
        std::filesystem::path p(file);
        if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
        auto text = ReadFileToString(p.string());
        if (!text.ok()) return LineError(path, line_no, "cannot read pipeline file " + p.string());
        f.pipeline = std::move(*text);
        f.pipeline_path = p.string();
        ++i;
        continue;
      }
      std::vector<std::string> sql;
      SLUICE_ASSIGN_OR_RETURN(i, block(i + 1, line_no, true, &sql));
      f.pipeline_line = line_no + 1;
      for (const std::string& s : sql) f.pipeline += s + "\n";
      continue;
    }
    if (t == "events") {
      std::vector<std::string> body;
      size_t start = i + 1;
      SLUICE_ASSIGN_OR_RETURN(i, block(start, line_no, true, &body));
      for (size_t k = 0; k < body.size(); ++k) {
        if (IsSkippable(body[k])) continue;
        SLUICE_ASSIGN_OR_RETURN(GoldenStep step, ParseStep(path, static_cast<int>(start + k) + 1, body[k]));
        f.steps.push_back(std::move(step));
      }
      continue;
    }
    if (t.starts_with("tolerance")) {
      std::string_view v = Trim(t.substr(9));
      double tol = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), tol);
      if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || tol < 0) {
        return LineError(path, line_no, "tolerance needs a non-negative number such as 1e-6");
      }
      f.tolerance = tol;
      ++i;
      continue;
    }
    if (t.starts_with("expect ")) {
      GoldenExpectation e;
      e.line = line_no;
      std::string_view what = Trim(t.substr(7));
      if (what == "error") {
        e.kind = GoldenExpectation::Kind::kError;
      } else if (what == "late") {
        e.kind = GoldenExpectation::Kind::kLate;
      } else if (what == "bad") {
        e.kind = GoldenExpectation::Kind::kBad;
      } else if (what == "explain") {
        e.kind = GoldenExpectation::Kind::kExplain;
      } else {
        if (what.starts_with("sink ")) what = Trim(what.substr(5));
        if (what.empty()) return LineError(path, line_no, "expect needs a sink name, error, late, bad or explain");
        e.kind = GoldenExpectation::Kind::kSink;
        e.sink = std::string(what);
      }
      SLUICE_ASSIGN_OR_RETURN(i, block(i + 1, line_no, e.kind == GoldenExpectation::Kind::kError, &e.lines));
      f.expectations.push_back(std::move(e));
      continue;
    }
    return LineError(path, line_no,
                     "unknown directive '" + std::string(t.substr(0, 40)) +
                         "'; use pipeline, events, expect, tolerance or a # comment");
  }
  if (!have_pipeline) return LineError(path, 1, "no pipeline");
  return f;
}

}  // namespace sluice::app
