#include "ingest/http/ndjson_api.h"

#include <simdjson.h>

#include <atomic>
#include <map>
#include <memory>

#include "core/value.h"

namespace sluice::http {

NdjsonApi::NdjsonApi(log::Log* log, MetricsRegistry* metrics, KinesisApi* kinesis, KinesisLimits limits)
    : log_(log), metrics_(metrics), kinesis_(kinesis), limits_(limits) {}

void NdjsonApi::Handle(const HttpRequest& req, std::string stream, Responder respond) {
  auto json_error = [](int status, const std::string& msg) {
    HttpResponse r;
    r.status = status;
    r.body = "{\"error\":";
    AppendJsonString(msg, &r.body);
    r.body += "}";
    return r;
  };
  if (req.method != "POST") return respond(json_error(405, "use POST"));
  if (!log_->GetStream(stream).ok()) return respond(json_error(404, "stream " + stream + " not found"));
  auto params = ParseQueryString(req.query);
  std::string key_field = params.count("partition_key") ? params["partition_key"] : "";
  static std::atomic<uint64_t> spread{0};

  thread_local simdjson::dom::parser parser;
  std::vector<log::PutEntry> entries;
  std::vector<std::string> keys;
  std::vector<std::pair<size_t, std::string>> errors;
  std::vector<std::string_view> lines;
  std::string_view body = req.body;
  size_t line_no = 0;
  size_t total = 0;
  while (!body.empty()) {
    size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    simdjson::dom::element doc;
    if (line.size() > limits_.max_record_bytes) {
      errors.emplace_back(line_no, "line exceeds " + std::to_string(limits_.max_record_bytes) + " bytes");
      continue;
    }
    if (parser.parse(line.data(), line.size(), true).get(doc)) {
      errors.emplace_back(line_no, "not valid JSON");
      continue;
    }
    std::string key;
    if (!key_field.empty()) {
      simdjson::dom::element v;
      std::string_view s;
      int64_t i;
      if (!doc.is_object() || doc[key_field].get(v)) {
        errors.emplace_back(line_no, "partition key field \"" + key_field + "\" is missing");
        continue;
      }
      if (!v.get_string().get(s)) key.assign(s);
      else if (!v.get_int64().get(i)) key = std::to_string(i);
      else {
        errors.emplace_back(line_no, "partition key field \"" + key_field + "\" must be a string or integer");
        continue;
      }
      if (key.empty() || key.size() > 256) {
        errors.emplace_back(line_no, "partition key must have 1 to 256 characters");
        continue;
      }
    } else {
      key = "ndjson-" + std::to_string(spread.fetch_add(1, std::memory_order_relaxed));
    }
    total += line.size();
    keys.push_back(std::move(key));
    lines.push_back(line);
  }
  if (total > limits_.max_request_data_bytes * 4)
    return respond(json_error(413, "body holds more than " + std::to_string(limits_.max_request_data_bytes * 4) + " bytes of records"));
  if (!errors.empty())
    metrics_->GetCounter("sluice_bad_records_total", "Records rejected or sent to a dead-letter destination",
                         {{"stage", "ingest"}, {"source", stream}})
        .Inc(errors.size());
  std::string err_json = "[";
  for (size_t i = 0; i < errors.size() && i < 100; ++i) {
    if (i) err_json += ',';
    err_json += "{\"line\":" + std::to_string(errors[i].first) + ",\"message\":";
    AppendJsonString(errors[i].second, &err_json);
    err_json += '}';
  }
  err_json += ']';
  if (lines.empty()) {
    HttpResponse r;
    r.status = 400;
    r.body = "{\"accepted\":0,\"rejected\":" + std::to_string(errors.size()) + ",\"errors\":" + err_json + "}";
    return respond(std::move(r));
  }
  entries.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) entries.push_back({keys[i], lines[i], {}});
  auto results = std::make_shared<std::vector<log::PutResult>>();
  size_t rejected = errors.size();
  auto sizes = std::make_shared<std::vector<uint32_t>>();
  sizes->reserve(entries.size());
  for (const auto& e : entries) sizes->push_back(static_cast<uint32_t>(e.partition_key.size() + e.data.size()));
  Status st = log_->Put(stream, entries, results.get(), [this, results, sizes, stream, respond, rejected, err_json](Status commit) {
    kinesis_->CountPut(stream, *results, *sizes, commit);
    size_t failed = 0, throttled = 0;
    for (const auto& r : *results) {
      if (!r.status.ok() || !commit.ok()) {
        ++failed;
        throttled += r.status.code() == StatusCode::kResourceExhausted;
        continue;
      }
    }
    HttpResponse r;
    // All refused by a limit or budget: 429, retry later. All failed otherwise: 500.
    r.status = failed < results->size() ? 200 : throttled == failed ? 429 : 500;
    r.body = "{\"accepted\":" + std::to_string(results->size() - failed) + ",\"rejected\":" + std::to_string(rejected) +
             (failed ? ",\"failed\":" + std::to_string(failed) + ",\"throttled\":" + std::to_string(throttled) : "") + ",\"errors\":" + err_json + "}";
    respond(std::move(r));
  });
  if (!st.ok()) {
    if (st.code() == StatusCode::kNotFound) return respond(json_error(404, "stream " + stream + " not found"));
    return respond(json_error(503, st.message()));
  }
}

}  // namespace sluice::http
