#include "ingest/http/kinesis_api.h"

#include <simdjson.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/value.h"

namespace sluice::http {
namespace {

using Clock = std::chrono::steady_clock;

std::string_view StreamFromArn(std::string_view arn) {
  auto p = arn.rfind("stream/");
  return p == std::string_view::npos ? std::string_view() : arn.substr(p + 7);
}

// Parsed PutRecord(s) request. Views point into the parser's buffer or `datas`.
struct PutRequest {
  std::string stream;  // Owned: simdjson's string buffer is reused by the next iterate().
  std::vector<log::PutEntry> entries;
  std::vector<std::string> datas;  // Decoded Data per record.
  size_t total_bytes = 0;
};

// Per-thread scratch for parsing, so PutRecords does not allocate per call once warm.
struct Scratch {
  simdjson::ondemand::parser parser;
  std::string body;
  PutRequest req;
};

// A response with status 0: "no error, go on".
HttpResponse NoError() {
  HttpResponse r;
  r.status = 0;
  return r;
}

HttpResponse Validation(std::string_view message) { return AwsError(400, "ValidationException", message); }

// Reads one record object ({"Data","PartitionKey","ExplicitHashKey"}) into the request.
// Returns an empty response status (0) on success.
HttpResponse ReadRecord(simdjson::ondemand::object obj, PutRequest* req, size_t slot, const KinesisLimits& limits) {
  std::string_view data_b64, key, ehk;
  bool have_data = false;
  for (auto fr : obj) {
    simdjson::ondemand::field f;
    if (std::move(fr).get(f)) return AwsError(400, "SerializationException", "malformed record object");
    std::string_view name;
    if (f.unescaped_key().get(name)) return AwsError(400, "SerializationException", "malformed key");
    std::string_view* target = name == "Data" ? &data_b64 : name == "PartitionKey" ? &key : name == "ExplicitHashKey" ? &ehk : nullptr;
    if (!target) continue;
    if (f.value().get_string().get(*target))
      return AwsError(400, "SerializationException", std::string(name) + " must be a string");
    if (target == &data_b64) have_data = true;
  }
  if (!have_data) return Validation("1 validation error detected: Value null at 'data' failed to satisfy constraint: Member must not be null");
  if (key.empty() || key.size() > 256)
    return Validation("1 validation error detected: Value at 'partitionKey' failed to satisfy constraint: Member must have length between 1 and 256");
  std::string& data = req->datas[slot];
  if (!Base64Decode(data_b64, &data)) return AwsError(400, "SerializationException", "Data is not valid base64");
  if (data.size() + key.size() > limits.max_record_bytes)
    return Validation("1 validation error detected: record of " + std::to_string(data.size() + key.size()) +
                      " bytes (data plus partition key) exceeds the limit of " + std::to_string(limits.max_record_bytes));
  req->total_bytes += data.size() + key.size();
  log::PutEntry e;
  e.partition_key = key;
  e.data = data;
  if (!ehk.empty()) {
    auto k = log::ParseHashKey(ehk);
    if (!k) return Validation("ExplicitHashKey '" + std::string(ehk.substr(0, 50)) + "' is not an integer in [0, 2^128 - 1]");
    e.explicit_hash_key = *k;
  }
  req->entries.push_back(e);
  return NoError();
}

HttpResponse ParsePut(Scratch* s, std::string_view body, bool single, const KinesisLimits& limits) {
  PutRequest& req = s->req;
  req.stream.clear();
  req.entries.clear();
  req.total_bytes = 0;
  s->body.assign(body);
  s->body.resize(body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object top;
  if (s->parser.iterate(s->body.data(), body.size(), s->body.size()).get(doc) || doc.get_object().get(top))
    return AwsError(400, "SerializationException", "request body is not a JSON object");
  size_t n = 0;
  for (auto fr : top) {
    simdjson::ondemand::field f;
    if (std::move(fr).get(f)) return AwsError(400, "SerializationException", "malformed JSON");
    std::string_view name;
    if (f.unescaped_key().get(name)) return AwsError(400, "SerializationException", "malformed JSON key");
    if (name == "StreamName") {
      std::string_view name_view;
      if (f.value().get_string().get(name_view)) return AwsError(400, "SerializationException", "StreamName must be a string");
      req.stream.assign(name_view);
    } else if (name == "StreamARN") {
      std::string_view arn;
      if (f.value().get_string().get(arn)) return AwsError(400, "SerializationException", "StreamARN must be a string");
      if (req.stream.empty()) req.stream = StreamFromArn(arn);
    } else if (single) {
      continue;  // Record fields are read in a second pass below.
    } else if (name == "Records") {
      simdjson::ondemand::array arr;
      if (f.value().get_array().get(arr)) return AwsError(400, "SerializationException", "Records must be an array");
      for (auto er : arr) {
        simdjson::ondemand::object o;
        if (std::move(er).get_object().get(o)) return AwsError(400, "SerializationException", "each record must be an object");
        if (n >= limits.max_records_per_request)
          return Validation("1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to " +
                            std::to_string(limits.max_records_per_request));
        if (req.datas.size() <= n) req.datas.emplace_back();
        HttpResponse r = ReadRecord(o, &req, n, limits);
        if (r.status != 0) return r;
        ++n;
      }
    }
  }
  if (single) {
    // PutRecord: the record's fields are top-level. Re-iterate the document as one record.
    simdjson::ondemand::document doc2;
    simdjson::ondemand::object o;
    if (s->parser.iterate(s->body.data(), body.size(), s->body.size()).get(doc2) || doc2.get_object().get(o))
      return AwsError(400, "SerializationException", "request body is not a JSON object");
    if (req.datas.empty()) req.datas.emplace_back();
    HttpResponse r = ReadRecord(o, &req, 0, limits);
    if (r.status != 0) return r;
  } else if (req.entries.empty()) {
    return Validation("1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1");
  }
  if (req.stream.empty()) return Validation("1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null");
  if (req.total_bytes > limits.max_request_data_bytes)
    return AwsError(400, "InvalidArgumentException", "Records size exceeds " + std::to_string(limits.max_request_data_bytes) + " bytes");
  return NoError();
}

}  // namespace

HttpResponse AwsError(int status, std::string_view type, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/x-amz-json-1.1";
  r.body = "{\"__type\":";
  AppendJsonString(type, &r.body);
  r.body += type == "SerializationException" ? ",\"Message\":" : ",\"message\":";
  AppendJsonString(message, &r.body);
  r.body += "}";
  r.headers.push_back({"x-amzn-ErrorType", std::string(type)});
  return r;
}

KinesisApi::KinesisApi(log::Log* log, MetricsRegistry* metrics, KinesisLimits limits)
    : log_(log), metrics_(metrics), limits_(limits) {
  put_latency_ = &metrics->GetHistogram("sluice_putrecords_latency_seconds",
                                        "PutRecord(s) latency from request to durable acknowledgement", {},
                                        LatencyBucketsSeconds());
  bytes_in_ = &metrics->GetCounter("sluice_ingested_bytes_total", "Payload bytes made durable by the ingest API");
}

void KinesisApi::CountIngested(const std::string& stream, int shard, uint64_t n) {
  Counter* c;
  {
    std::lock_guard lock(counters_mu_);
    auto& slot = ingested_[{stream, shard}];
    if (!slot)
      slot = &metrics_->GetCounter("sluice_records_ingested_total", "Records made durable in the log",
                                   {{"stream", stream}, {"shard", log::Stream::ShardIdFor(shard)}});
    c = slot;
  }
  c->Inc(n);
}

void KinesisApi::Handle(const HttpRequest& req, Responder respond) {
  std::string_view target = req.Header("x-amz-target");
  std::string_view ctype = req.Header("content-type");
  if (req.method != "POST") return respond(AwsError(400, "InvalidAction", "use POST for the Kinesis API"));
  if (ctype.find("cbor") != std::string_view::npos)
    return respond(AwsError(400, "SerializationException",
                            "CBOR is not supported: disable it in the client (AWS_CBOR_DISABLE=1, or "
                            "-Daws.cborEnabled=false for the Java SDK) to use JSON 1.1"));
  constexpr std::string_view kPrefix = "Kinesis_20131202.";
  if (target.substr(0, kPrefix.size()) != kPrefix)
    return respond(AwsError(400, "UnknownOperationException", "missing or unknown X-Amz-Target header"));
  std::string_view op = target.substr(kPrefix.size());
  if (op == "PutRecords") return PutRecords(req, std::move(respond), false);
  if (op == "PutRecord") return PutRecords(req, std::move(respond), true);
  if (op == "CreateStream") return respond(CreateStream(req.body));
  if (op == "DescribeStreamSummary") return respond(DescribeStreamSummary(req.body));
  if (op == "ListStreams") return respond(ListStreams());
  respond(AwsError(400, "UnknownOperationException", "operation " + std::string(op) + " is not supported yet"));
}

void KinesisApi::PutRecords(const HttpRequest& req, Responder respond, bool single) {
  const auto start = Clock::now();
  thread_local Scratch scratch;
  HttpResponse err = ParsePut(&scratch, req.body, single, limits_);
  if (err.status != 0) return respond(std::move(err));
  PutRequest& pr = scratch.req;
  auto results = std::make_shared<std::vector<log::PutResult>>();
  auto stream = std::make_shared<std::string>(pr.stream);
  const uint64_t bytes = pr.total_bytes;
  Status st = log_->Put(pr.stream, pr.entries, results.get(), [this, results, stream, respond, single, start,
                                                              bytes](Status commit) {
    HttpResponse r;
    r.content_type = "application/x-amz-json-1.1";
    std::map<int, uint64_t> per_shard;
    int failed = 0;
    std::string recs;
    for (size_t i = 0; i < results->size(); ++i) {
      const log::PutResult& pr = (*results)[i];
      if (i) recs += ',';
      if (!pr.status.ok() || !commit.ok()) {
        ++failed;
        recs += "{\"ErrorCode\":\"InternalFailure\",\"ErrorMessage\":";
        AppendJsonString(!pr.status.ok() ? pr.status.message() : commit.message(), &recs);
        recs += '}';
        continue;
      }
      per_shard[pr.shard]++;
      recs += "{\"SequenceNumber\":\"" + std::to_string(pr.sequence) + "\",\"ShardId\":\"" +
              log::Stream::ShardIdFor(pr.shard) + "\"}";
    }
    for (auto [shard, n] : per_shard) CountIngested(*stream, shard, n);
    if (failed == 0) bytes_in_->Inc(bytes);
    if (single) {
      if (failed) {
        r = AwsError(500, "InternalFailure", commit.ok() ? (*results)[0].status.message() : commit.message());
      } else {
        r.body = "{" + recs.substr(1, recs.size() - 2) + ",\"EncryptionType\":\"NONE\"}";
      }
    } else {
      r.body = "{\"FailedRecordCount\":" + std::to_string(failed) + ",\"Records\":[" + recs +
               "],\"EncryptionType\":\"NONE\"}";
    }
    put_latency_->Observe(std::chrono::duration<double>(Clock::now() - start).count());
    respond(std::move(r));
  });
  if (!st.ok()) {
    if (st.code() == StatusCode::kNotFound)
      return respond(AwsError(400, "ResourceNotFoundException", "Stream " + std::string(pr.stream) + " under account 000000000000 not found."));
    return respond(AwsError(500, "InternalFailure", st.message()));
  }
}

namespace {
// Control-plane requests are small: nlohmann is fine here. Returns null on a parse error.
nlohmann::json ParseControl(std::string_view body) {
  return nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
}
}  // namespace

HttpResponse KinesisApi::CreateStream(std::string_view body) {
  auto j = ParseControl(body);
  if (!j.is_object()) return AwsError(400, "SerializationException", "request body is not a JSON object");
  if (!j.contains("StreamName") || !j["StreamName"].is_string())
    return Validation("1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null");
  int shards = 4;  // On-demand streams get 4 shards, as Kinesis on-demand starts with.
  if (j.contains("ShardCount")) {
    if (!j["ShardCount"].is_number_integer()) return AwsError(400, "SerializationException", "ShardCount must be an integer");
    shards = j["ShardCount"].get<int>();
  }
  Status st = log_->CreateStream(j["StreamName"].get<std::string>(), shards);
  if (st.code() == StatusCode::kAlreadyExists) return AwsError(400, "ResourceInUseException", st.message());
  if (st.code() == StatusCode::kInvalidArgument) return Validation(st.message());
  if (!st.ok()) return AwsError(500, "InternalFailure", st.message());
  HttpResponse r;
  r.content_type = "application/x-amz-json-1.1";
  r.body = "{}";
  return r;
}

HttpResponse KinesisApi::DescribeStreamSummary(std::string_view body) {
  auto j = ParseControl(body);
  if (!j.is_object() || !j.contains("StreamName") || !j["StreamName"].is_string())
    return Validation("1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null");
  std::string name = j["StreamName"].get<std::string>();
  auto s = log_->GetStream(name);
  if (!s.ok()) return AwsError(400, "ResourceNotFoundException", "Stream " + name + " under account 000000000000 not found.");
  nlohmann::json out;
  out["StreamDescriptionSummary"] = {
      {"StreamName", name},
      {"StreamARN", "arn:aws:kinesis:us-east-1:000000000000:stream/" + name},
      {"StreamStatus", "ACTIVE"},
      {"StreamModeDetails", {{"StreamMode", "PROVISIONED"}}},
      {"RetentionPeriodHours", 24},
      {"StreamCreationTimestamp", static_cast<double>((*s)->created_ms()) / 1000.0},
      {"EnhancedMonitoring", nlohmann::json::array({{{"ShardLevelMetrics", nlohmann::json::array()}}})},
      {"EncryptionType", "NONE"},
      {"OpenShardCount", (*s)->shard_count()},
      {"ConsumerCount", 0}};
  HttpResponse r;
  r.content_type = "application/x-amz-json-1.1";
  r.body = out.dump();
  return r;
}

HttpResponse KinesisApi::ListStreams() {
  nlohmann::json out;
  out["StreamNames"] = log_->ListStreams();
  out["HasMoreStreams"] = false;
  HttpResponse r;
  r.content_type = "application/x-amz-json-1.1";
  r.body = out.dump();
  return r;
}

}  // namespace sluice::http
