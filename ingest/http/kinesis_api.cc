#include "ingest/http/kinesis_api.h"

#include <simdjson.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/value.h"
#include "ingest/http/kinesis_api_internal.h"

namespace sluice::http {
namespace {

using Clock = std::chrono::steady_clock;
using kinesis::Validation;

std::string_view StreamFromArn(std::string_view arn) {
  auto p = arn.rfind("stream/");
  return p == std::string_view::npos ? std::string_view() : arn.substr(p + 7);
}

// Operations, in the order of KinesisApi::requests_ (index = position).
constexpr std::string_view kOperationNames[] = {
    "PutRecord",   "PutRecords",  "GetShardIterator", "GetRecords",
    "CreateStream", "DeleteStream", "DescribeStream", "DescribeStreamSummary",
    "ListStreams", "ListShards",  "IncreaseStreamRetentionPeriod", "DecreaseStreamRetentionPeriod",
    "SplitShard",  "MergeShards", "UpdateShardCount", "other"};
constexpr size_t kOtherOperation = std::size(kOperationNames) - 1;

size_t OperationIndex(std::string_view op) {
  for (size_t i = 0; i < kOtherOperation; ++i)
    if (kOperationNames[i] == op) return i;
  return kOtherOperation;
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
  e.partition_key = key;  // e.data is set by ParsePut once every record is decoded.
  if (!ehk.empty()) {
    auto k = log::ParseHashKey(ehk);
    if (!k) {
      const bool digits = ehk.find_first_not_of("0123456789") == std::string_view::npos;
      std::string shown(ehk.substr(0, 50));
      if (!digits)  // The model's pattern is 0|([1-9]\d{0,38}).
        return Validation("1 validation error detected: Value '" + shown +
                          "' at 'explicitHashKey' failed to satisfy constraint: Member must satisfy regular "
                          "expression pattern: 0|([1-9]\\d{0,38})");
      return AwsError(400, "InvalidArgumentException",
                      "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was " +
                          shown);
    }
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
  // Point each entry at its decoded data only now: `datas` may have reallocated while it grew, which
  // moves short (SSO) strings and would leave earlier views dangling.
  for (size_t i = 0; i < req.entries.size(); ++i) req.entries[i].data = req.datas[i];
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

namespace kinesis {

std::string StreamArn(std::string_view name) {
  return "arn:aws:kinesis:us-east-1:" + std::string(kAccount) + ":stream/" + std::string(name);
}

HttpResponse JsonOk(std::string body) {
  HttpResponse r;
  r.content_type = "application/x-amz-json-1.1";
  r.body = std::move(body);
  return r;
}

HttpResponse Validation(std::string_view message) { return AwsError(400, "ValidationException", message); }
HttpResponse InvalidArgument(std::string_view message) { return AwsError(400, "InvalidArgumentException", message); }
HttpResponse Serialization(std::string_view message) { return AwsError(400, "SerializationException", message); }

HttpResponse StreamNotFound(std::string_view name) {
  return AwsError(400, "ResourceNotFoundException",
                  "Stream " + std::string(name) + " under account " + std::string(kAccount) + " not found.");
}

HttpResponse FromStatus(const Status& st) {
  switch (st.code()) {
    case StatusCode::kNotFound: return AwsError(400, "ResourceNotFoundException", st.message());
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange: return InvalidArgument(st.message());
    case StatusCode::kAlreadyExists: return AwsError(400, "ResourceInUseException", st.message());
    case StatusCode::kResourceExhausted: return AwsError(400, "ProvisionedThroughputExceededException", st.message());
    default: return AwsError(500, "InternalFailure", st.message());
  }
}

std::string NullMember(std::string_view member) {
  return "1 validation error detected: Value null at '" + std::string(member) +
         "' failed to satisfy constraint: Member must not be null";
}

bool ParseBody(std::string_view body, nlohmann::json* out, HttpResponse* err) {
  *out = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (out->is_object()) return true;
  *err = Serialization("request body is not a JSON object");
  return false;
}

bool ReadString(const nlohmann::json& j, const char* key, std::string* out, bool* present, HttpResponse* err) {
  auto it = j.find(key);
  *present = it != j.end() && !it->is_null();
  if (!*present) return true;
  if (!it->is_string()) {
    *err = Serialization(std::string(key) + " must be a string");
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool ReadStreamName(const nlohmann::json& j, bool required, std::string* name, HttpResponse* err) {
  bool have_name = false, have_arn = false;
  std::string arn;
  if (!ReadString(j, "StreamName", name, &have_name, err) || !ReadString(j, "StreamARN", &arn, &have_arn, err))
    return false;
  if (!have_name && have_arn) {
    *name = std::string(StreamFromArn(arn));
    if (name->empty()) {
      *err = Validation("1 validation error detected: Value '" + arn.substr(0, 100) +
                        "' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression "
                        "pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
      return false;
    }
    have_name = true;
  }
  if (!have_name && required) {
    *err = Validation(NullMember("streamName"));
    return false;
  }
  if (have_name && (name->empty() || name->size() > 128)) {
    *err = Validation("1 validation error detected: Value '" + name->substr(0, 200) +
                      "' at 'streamName' failed to satisfy constraint: Member must have length between 1 and 128");
    return false;
  }
  if (have_name && !log::IsValidStreamName(*name)) {
    *err = Validation("1 validation error detected: Value '" + *name +
                      "' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression "
                      "pattern: [a-zA-Z0-9_.-]+");
    return false;
  }
  return true;
}

bool ReadInt(const nlohmann::json& j, const char* key, const char* member, int64_t min, int64_t max, int64_t* out,
             HttpResponse* err) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_number_integer()) {
    *err = Serialization(std::string(key) + " must be an integer");
    return false;
  }
  // Unsigned values above INT64_MAX read as huge; anything that big is out of every range.
  int64_t v = it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                  ? INT64_MAX
                  : it->get<int64_t>();
  if (v < min || v > max) {
    *err = Validation("1 validation error detected: Value '" + std::to_string(v) + "' at '" + member +
                      "' failed to satisfy constraint: Member must have value " +
                      (v < min ? "greater than or equal to " + std::to_string(min)
                               : "less than or equal to " + std::to_string(max)));
    return false;
  }
  *out = v;
  return true;
}

void AppendEpochSeconds(int64_t ms, std::string* out) {
  char buf[40];
  const int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  const int64_t frac = ms - sec * 1000;
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64, sec, frac);
  out->append(buf);
}

nlohmann::json ShardJson(const log::ShardInfo& shard) {
  const log::HashKeyRange& r = shard.range;
  nlohmann::json out = {{"ShardId", log::Stream::ShardIdFor(shard.index)}};
  if (shard.parent >= 0) out["ParentShardId"] = log::Stream::ShardIdFor(shard.parent);
  if (shard.adjacent_parent >= 0) out["AdjacentParentShardId"] = log::Stream::ShardIdFor(shard.adjacent_parent);
  out["HashKeyRange"] = {{"StartingHashKey", log::HashKeyToString(r.start)},
                         {"EndingHashKey", log::HashKeyToString(r.end)}};
  // Sequence numbers of every shard start at 1 (the log's first record); see docs/kinesis-api.md.
  nlohmann::json seq = {{"StartingSequenceNumber", "1"}};
  if (!shard.open()) seq["EndingSequenceNumber"] = std::to_string(shard.end_sequence - 1);
  out["SequenceNumberRange"] = std::move(seq);
  return out;
}

}  // namespace kinesis

KinesisApi::KinesisApi(log::Log* log, MetricsRegistry* metrics, KinesisLimits limits)
    : log_(log), metrics_(metrics), limits_(limits) {
  static_assert(std::size(kOperationNames) <= kOperations);
  bytes_out_ = &metrics->GetCounter("sluice_getrecords_bytes_total", "Payload bytes returned by GetRecords");
  records_out_ = &metrics->GetCounter("sluice_getrecords_records_total", "Records returned by GetRecords");
  reader_ = std::thread([this] { ReaderLoop(); });
}

KinesisApi::~KinesisApi() {
  {
    std::lock_guard lock(reader_mu_);
    reader_stopping_ = true;
  }
  reader_cv_.notify_all();
  if (reader_.joinable()) reader_.join();
}

void KinesisApi::RunOnReader(std::function<void()> task) {
  {
    std::lock_guard lock(reader_mu_);
    reader_tasks_.push_back(std::move(task));
  }
  reader_cv_.notify_one();
}

void KinesisApi::ReaderLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(reader_mu_);
      reader_cv_.wait(lock, [&] { return reader_stopping_ || !reader_tasks_.empty(); });
      if (reader_tasks_.empty()) return;  // Stopping, and everything queued has run.
      task = std::move(reader_tasks_.front());
      reader_tasks_.pop_front();
    }
    task();
  }
}

void KinesisApi::CountRequest(size_t op, int http_version) {
  const bool h2 = http_version >= 0x200;
  std::atomic<Counter*>& slot = requests_[op * 2 + (h2 ? 1 : 0)];
  Counter* c = slot.load(std::memory_order_acquire);
  if (!c) {
    // The registry returns the same counter for the same labels, so racing threads agree.
    c = &metrics_->GetCounter("sluice_kinesis_requests_total", "Kinesis API requests by operation and HTTP version",
                              {{"operation", std::string(kOperationNames[op])}, {"http_version", h2 ? "2" : "1.1"}});
    slot.store(c, std::memory_order_release);
  }
  c->Inc();
}

KinesisApi::StreamCounters& KinesisApi::CountersFor(const std::string& stream) {
  StreamCounters& c = counters_[stream];
  if (!c.latency) {
    c.latency = &metrics_->GetHistogram("sluice_putrecords_latency_seconds",
                                        "PutRecord(s) latency from request to durable acknowledgement",
                                        {{"stream", stream}}, LatencyBucketsSeconds());
    const char* kFailedHelp = "Records a put refused, by AWS error code";
    c.throttled = &metrics_->GetCounter("sluice_putrecords_failed_records_total", kFailedHelp,
                                        {{"stream", stream}, {"error_code", "ProvisionedThroughputExceededException"}});
    c.internal = &metrics_->GetCounter("sluice_putrecords_failed_records_total", kFailedHelp,
                                       {{"stream", stream}, {"error_code", "InternalFailure"}});
  }
  return c;
}

void KinesisApi::CountPut(const std::string& stream, const std::vector<log::PutResult>& results,
                          const std::vector<uint32_t>& sizes, const Status& commit) {
  // Sum per shard first, then take the lock once.
  std::map<int, std::pair<uint64_t, uint64_t>> per_shard;
  uint64_t throttled = 0, internal = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const log::PutResult& r = results[i];
    if (!r.status.ok() || !commit.ok()) {
      (r.status.code() == StatusCode::kResourceExhausted ? throttled : internal)++;
      continue;
    }
    auto& [n, bytes] = per_shard[r.shard];
    ++n;
    bytes += sizes[i];
  }
  std::lock_guard lock(counters_mu_);
  StreamCounters& c = CountersFor(stream);
  if (throttled) c.throttled->Inc(throttled);
  if (internal) c.internal->Inc(internal);
  for (const auto& [shard, nb] : per_shard) {
    auto& slot = c.shards[shard];
    if (!slot.first) {
      const MetricLabels l = {{"stream", stream}, {"shard", log::Stream::ShardIdFor(shard)}};
      slot.first = &metrics_->GetCounter("sluice_records_ingested_total", "Records made durable in the log", l);
      slot.second = &metrics_->GetCounter("sluice_ingested_bytes_total",
                                          "Payload bytes (data plus partition key) made durable in the log", l);
    }
    slot.first->Inc(nb.first);
    slot.second->Inc(nb.second);
  }
}

void KinesisApi::ObservePutLatency(const std::string& stream, double seconds) {
  Histogram* h;
  {
    std::lock_guard lock(counters_mu_);
    h = CountersFor(stream).latency;
  }
  h->Observe(seconds);
}

void KinesisApi::CountError(size_t op, const HttpResponse& r) {
  std::string_view type = "unknown";
  for (const auto& [k, v] : r.headers)
    if (k == "x-amzn-ErrorType") type = v;
  metrics_->GetCounter("sluice_kinesis_errors_total", "Kinesis API requests answered with an error, by operation and AWS error type",
                       {{"operation", std::string(kOperationNames[op])}, {"error_code", std::string(type)}})
      .Inc();
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
  const size_t op_index = OperationIndex(op);
  CountRequest(op_index, req.http_version);
  // Every error answer of a known operation, by its AWS error type.
  respond = [this, op_index, inner = std::move(respond)](HttpResponse r) {
    if (r.status >= 400) CountError(op_index, r);
    inner(std::move(r));
  };
  if (op == "PutRecords") return PutRecords(req, std::move(respond), false);
  if (op == "PutRecord") return PutRecords(req, std::move(respond), true);
  if (op == "GetRecords") return GetRecords(req.body, std::move(respond));
  if (op == "GetShardIterator") return GetShardIterator(req.body, std::move(respond));
  if (op == "CreateStream") return respond(CreateStream(req.body));
  if (op == "DeleteStream") return respond(DeleteStream(req.body));
  if (op == "DescribeStream") return respond(DescribeStream(req.body));
  if (op == "DescribeStreamSummary") return respond(DescribeStreamSummary(req.body));
  if (op == "ListStreams") return respond(ListStreams(req.body));
  if (op == "ListShards") return respond(ListShards(req.body));
  if (op == "IncreaseStreamRetentionPeriod") return respond(ChangeRetention(req.body, log::RetentionChange::kIncrease));
  if (op == "DecreaseStreamRetentionPeriod") return respond(ChangeRetention(req.body, log::RetentionChange::kDecrease));
  if (op == "SplitShard") return respond(SplitShard(req.body));
  if (op == "MergeShards") return respond(MergeShards(req.body));
  if (op == "UpdateShardCount") return respond(UpdateShardCount(req.body));
  respond(AwsError(400, "UnknownOperationException", "operation " + std::string(op) + " is not supported"));
}

void KinesisApi::PutRecords(const HttpRequest& req, Responder respond, bool single) {
  const auto start = Clock::now();
  thread_local Scratch scratch;
  HttpResponse err = ParsePut(&scratch, req.body, single, limits_);
  if (err.status != 0) return respond(std::move(err));
  PutRequest& pr = scratch.req;
  auto results = std::make_shared<std::vector<log::PutResult>>();
  auto stream = std::make_shared<std::string>(pr.stream);
  auto sizes = std::make_shared<std::vector<uint32_t>>();
  sizes->reserve(pr.entries.size());
  for (const auto& e : pr.entries) sizes->push_back(static_cast<uint32_t>(e.partition_key.size() + e.data.size()));
  Status st = log_->Put(pr.stream, pr.entries, results.get(), [this, results, stream, respond, single, start,
                                                              sizes](Status commit) {
    HttpResponse r;
    r.content_type = "application/x-amz-json-1.1";
    CountPut(*stream, *results, *sizes, commit);
    int failed = 0, throttled_count = 0;
    std::string recs;
    for (size_t i = 0; i < results->size(); ++i) {
      const log::PutResult& pr = (*results)[i];
      if (i) recs += ',';
      if (!pr.status.ok() || !commit.ok()) {
        ++failed;
        // Over a limit or budget: Kinesis' throttling error, which SDKs retry with backoff.
        const bool throttled = pr.status.code() == StatusCode::kResourceExhausted;
        if (throttled) ++throttled_count;
        recs += throttled ? "{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":"
                          : "{\"ErrorCode\":\"InternalFailure\",\"ErrorMessage\":";
        AppendJsonString(!pr.status.ok() ? pr.status.message() : commit.message(), &recs);
        recs += '}';
        continue;
      }
      recs += "{\"SequenceNumber\":\"" + std::to_string(pr.sequence) + "\",\"ShardId\":\"" +
              log::Stream::ShardIdFor(pr.shard) + "\"}";
    }
    if (single) {
      if (throttled_count) {
        r = AwsError(400, "ProvisionedThroughputExceededException", (*results)[0].status.message());
      } else if (failed) {
        r = AwsError(500, "InternalFailure", commit.ok() ? (*results)[0].status.message() : commit.message());
      } else {
        r.body = "{" + recs.substr(1, recs.size() - 2) + ",\"EncryptionType\":\"NONE\"}";
      }
    } else {
      r.body = "{\"FailedRecordCount\":" + std::to_string(failed) + ",\"Records\":[" + recs +
               "],\"EncryptionType\":\"NONE\"}";
    }
    ObservePutLatency(*stream, std::chrono::duration<double>(Clock::now() - start).count());
    respond(std::move(r));
  });
  if (!st.ok()) {
    if (st.code() == StatusCode::kNotFound) return respond(kinesis::StreamNotFound(pr.stream));
    return respond(AwsError(500, "InternalFailure", st.message()));
  }
}

}  // namespace sluice::http
