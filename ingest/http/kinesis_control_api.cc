// KinesisApi's control plane: CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary,
// ListStreams, ListShards, IncreaseStreamRetentionPeriod, DecreaseStreamRetentionPeriod.
// (Resharding is in kinesis_control_api_reshard.cc.)
// Shapes follow the Amazon Kinesis Data Streams API Reference page of each operation.
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/time.h"
#include "ingest/http/kinesis_api.h"
#include "ingest/http/kinesis_api_internal.h"
#include "ingest/http/kinesis_token_format.h"

namespace sluice::http {
namespace {

using nlohmann::json;
using namespace kinesis;

// StreamCreationTimestamp and the like: epoch seconds with a millisecond fraction.
double EpochSeconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

json ModeDetails(const log::Stream& s) { return {{"StreamMode", log::StreamModeName(s.mode())}}; }

// Index of the first shard after `exclusive_start` ("shardId-000000000001"): 0 when empty. Kinesis
// compares shard ids as strings; ours sort like their indexes, and an id after the last one
// lists nothing.
int FirstShardAfter(const log::Stream& s, const std::string& exclusive_start) {
  if (exclusive_start.empty()) return 0;
  for (int i = 0; i < s.shard_count(); ++i)
    if (log::Stream::ShardIdFor(i) > exclusive_start) return i;
  return s.shard_count();
}

// A ListShards ShardFilter other than AFTER_SHARD_ID (which only moves the start). Carried in a
// NextToken's `sequence` field: kind in the top 8 bits, `ms` in the low 56 (kinesis_token_format.h).
enum class FilterKind : uint8_t { kNone, kAtTrimHorizon, kFromTrimHorizon, kAtLatest, kAtTimestamp, kFromTimestamp };
struct ShardFilter {
  FilterKind kind = FilterKind::kNone;
  int64_t ms = 0;  // AT_TIMESTAMP / FROM_TIMESTAMP: the instant, Unix ms.

  uint64_t Encode() const {
    return (static_cast<uint64_t>(kind) << 56) | (static_cast<uint64_t>(std::max<int64_t>(ms, 0)) & ((1ull << 56) - 1));
  }
  static ShardFilter Decode(uint64_t v) {
    ShardFilter f;
    const uint64_t k = v >> 56;
    f.kind = k <= static_cast<uint64_t>(FilterKind::kFromTimestamp) ? static_cast<FilterKind>(k) : FilterKind::kNone;
    f.ms = static_cast<int64_t>(v & ((1ull << 56) - 1));
    return f;
  }
  // Kinesis' rules (ListShards, ShardFilter): AT_* = the shards open at that instant; FROM_* = those
  // plus every shard created after it; AT_LATEST = the open shards. The trim horizon and the
  // instant are taken no earlier than the stream's creation.
  bool Matches(const log::ShardInfo& s, const log::Stream& stream, int64_t now_ms) const {
    const int64_t horizon =
        std::max(stream.created_ms(), now_ms - static_cast<int64_t>(stream.retention_hours()) * 3600 * 1000);
    auto open_at = [&](int64_t t) { return s.created_ms <= t && (s.open() || s.closed_ms >= t); };
    switch (kind) {
      case FilterKind::kNone: return true;
      case FilterKind::kAtTrimHorizon: return open_at(horizon);
      case FilterKind::kFromTrimHorizon: return s.open() || s.closed_ms >= horizon;
      case FilterKind::kAtLatest: return s.open();
      case FilterKind::kAtTimestamp: return open_at(std::max(ms, stream.created_ms()));
      case FilterKind::kFromTimestamp: return s.open() || s.closed_ms >= ms;
    }
    return true;
  }
};

// The ExpiredNextTokenException / InvalidArgumentException answer for a bad NextToken, or
// status 0 and the decoded token.
HttpResponse CheckNextToken(const std::string& text, TokenKind kind, std::chrono::milliseconds ttl,
                            KinesisToken* out) {
  auto t = DecodeToken(text);
  if (!t.ok() || t->kind != kind) return InvalidArgument("Invalid NextToken.");
  const int64_t now = WallNow().millis();
  if (now - t->issued_ms > ttl.count())
    return AwsError(400, "ExpiredNextTokenException",
                    "The NextToken was issued at " + std::to_string(t->issued_ms) + " and expired after " +
                        std::to_string(ttl.count()) + " milliseconds.");
  *out = std::move(*t);
  HttpResponse ok;
  ok.status = 0;
  return ok;
}

}  // namespace

HttpResponse KinesisApi::CreateStream(std::string_view body) {
  json j;
  HttpResponse err;
  std::string name;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, true, &name, &err)) return err;  // Checks the pattern too.
  int64_t shards = -1;
  if (!ReadInt(j, "ShardCount", "shardCount", 1, 100000, &shards, &err)) return err;
  std::optional<log::StreamMode> mode;
  if (auto it = j.find("StreamModeDetails"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Serialization("StreamModeDetails must be an object");
    std::string m;
    bool present = false;
    if (!ReadString(*it, "StreamMode", &m, &present, &err)) return err;
    if (!present) return Validation(NullMember("streamModeDetails.streamMode"));
    if (m == "ON_DEMAND") mode = log::StreamMode::kOnDemand;
    else if (m == "PROVISIONED") mode = log::StreamMode::kProvisioned;
    else
      return Validation("1 validation error detected: Value '" + m.substr(0, 50) +
                        "' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy "
                        "enum value set: [ON_DEMAND, PROVISIONED]");
  }
  if (!mode) mode = shards > 0 ? log::StreamMode::kProvisioned : log::StreamMode::kOnDemand;
  if (*mode == log::StreamMode::kOnDemand) {
    if (shards > 0) return InvalidArgument("ShardCount is not supported for streams in ON_DEMAND mode.");
    shards = limits_.on_demand_shards;
  } else if (shards < 0) {
    return InvalidArgument("ShardCount is required for streams in PROVISIONED mode.");
  }
  if (shards > log::kMaxShardsPerStream)
    return AwsError(400, "LimitExceededException",
                    "This request would exceed the shard limit for the account " + std::string(kAccount) +
                        ". Current limit of shards per stream is " + std::to_string(log::kMaxShardsPerStream) +
                        ". Number of additional shards that would have resulted from this request: " +
                        std::to_string(shards) + ".");
  Status st = log_->CreateStream(name, static_cast<int>(shards), *mode);
  if (st.code() == StatusCode::kAlreadyExists)
    return AwsError(400, "ResourceInUseException",
                    "Stream " + name + " under account " + std::string(kAccount) + " already exists.");
  if (!st.ok()) return FromStatus(st);
  return JsonOk("{}");
}

HttpResponse KinesisApi::DeleteStream(std::string_view body) {
  json j;
  HttpResponse err;
  std::string name;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, true, &name, &err)) return err;
  Status st = log_->DeleteStream(name);
  if (st.code() == StatusCode::kNotFound) return StreamNotFound(name);
  if (!st.ok()) return FromStatus(st);
  return JsonOk("{}");
}

HttpResponse KinesisApi::DescribeStream(std::string_view body) {
  json j;
  HttpResponse err;
  std::string name, exclusive_start;
  bool have_start = false;
  int64_t limit = 100;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, true, &name, &err) ||
      !ReadInt(j, "Limit", "limit", 1, 10000, &limit, &err) ||
      !ReadString(j, "ExclusiveStartShardId", &exclusive_start, &have_start, &err))
    return err;
  auto s = log_->GetStream(name);
  if (!s.ok()) return StreamNotFound(name);
  const log::Stream& stream = **s;
  auto topology = stream.topology();
  const int count = static_cast<int>(topology->shards.size());
  json shards = json::array();
  int i = FirstShardAfter(stream, exclusive_start);
  for (; i < count && static_cast<int64_t>(shards.size()) < std::min<int64_t>(limit, 100); ++i)
    shards.push_back(ShardJson(topology->shards[static_cast<size_t>(i)]));
  json out;
  out["StreamDescription"] = {{"StreamName", stream.name()},
                              {"StreamARN", StreamArn(stream.name())},
                              {"StreamStatus", "ACTIVE"},
                              {"StreamModeDetails", ModeDetails(stream)},
                              {"Shards", std::move(shards)},
                              {"HasMoreShards", i < count},
                              {"RetentionPeriodHours", stream.retention_hours()},
                              {"StreamCreationTimestamp", EpochSeconds(stream.created_ms())},
                              {"EnhancedMonitoring", json::array({{{"ShardLevelMetrics", json::array()}}})},
                              {"EncryptionType", "NONE"}};
  return JsonOk(out.dump());
}

HttpResponse KinesisApi::DescribeStreamSummary(std::string_view body) {
  json j;
  HttpResponse err;
  std::string name;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, true, &name, &err)) return err;
  auto s = log_->GetStream(name);
  if (!s.ok()) return StreamNotFound(name);
  const log::Stream& stream = **s;
  json out;
  out["StreamDescriptionSummary"] = {
      {"StreamName", stream.name()},
      {"StreamARN", StreamArn(stream.name())},
      {"StreamStatus", "ACTIVE"},
      {"StreamModeDetails", ModeDetails(stream)},
      {"RetentionPeriodHours", stream.retention_hours()},
      {"StreamCreationTimestamp", EpochSeconds(stream.created_ms())},
      {"EnhancedMonitoring", json::array({{{"ShardLevelMetrics", json::array()}}})},
      {"EncryptionType", "NONE"},
      {"OpenShardCount", stream.open_shard_count()},
      {"ConsumerCount", 0}};
  return JsonOk(out.dump());
}

HttpResponse KinesisApi::ListStreams(std::string_view body) {
  json j;
  HttpResponse err;
  std::string start, token_text;
  bool have_start = false, have_token = false;
  int64_t limit = 100;
  // An empty body is what some clients send for "no parameters".
  if (body.empty()) j = json::object();
  else if (!ParseBody(body, &j, &err)) return err;
  if (!ReadInt(j, "Limit", "limit", 1, 10000, &limit, &err) ||
      !ReadString(j, "ExclusiveStartStreamName", &start, &have_start, &err) ||
      !ReadString(j, "NextToken", &token_text, &have_token, &err))
    return err;
  if (have_token) {
    if (have_start) return InvalidArgument("ExclusiveStartStreamName cannot be combined with NextToken.");
    KinesisToken t;
    HttpResponse bad = CheckNextToken(token_text, TokenKind::kListStreams, limits_.iterator_ttl, &t);
    if (bad.status != 0) return bad;
    start = t.stream;
  }
  limit = std::min<int64_t>(limit, 100);  // AWS returns at most 100 per call.
  json names = json::array(), summaries = json::array();
  bool more = false;
  for (const std::string& n : log_->ListStreams()) {
    if (!start.empty() && n <= start) continue;
    if (static_cast<int64_t>(names.size()) == limit) {
      more = true;
      break;
    }
    auto s = log_->GetStream(n);
    if (!s.ok()) continue;  // Deleted meanwhile.
    names.push_back(n);
    summaries.push_back({{"StreamName", n},
                         {"StreamARN", StreamArn(n)},
                         {"StreamStatus", "ACTIVE"},
                         {"StreamModeDetails", ModeDetails(**s)},
                         {"StreamCreationTimestamp", EpochSeconds((*s)->created_ms())}});
  }
  json out = {{"StreamNames", names}, {"HasMoreStreams", more}, {"StreamSummaries", std::move(summaries)}};
  if (more) {
    KinesisToken t;
    t.kind = TokenKind::kListStreams;
    t.stream = names.back().get<std::string>();
    t.issued_ms = WallNow().millis();
    out["NextToken"] = EncodeToken(t);
  }
  return JsonOk(out.dump());
}

HttpResponse KinesisApi::ListShards(std::string_view body) {
  json j;
  HttpResponse err;
  std::string name, token_text, exclusive_start;
  bool have_token = false, have_start = false;
  int64_t max_results = 1000;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, false, &name, &err) ||
      !ReadString(j, "NextToken", &token_text, &have_token, &err) ||
      !ReadString(j, "ExclusiveStartShardId", &exclusive_start, &have_start, &err) ||
      !ReadInt(j, "MaxResults", "maxResults", 1, 10000, &max_results, &err))
    return err;
  int first = 0;
  std::shared_ptr<log::Stream> stream;
  ShardFilter filter;
  if (have_token) {
    if (!name.empty())
      return InvalidArgument("NextToken and StreamName cannot be provided together.");
    if (have_start)
      return InvalidArgument("NextToken and ExclusiveStartShardId cannot be provided together.");
    if (j.contains("StreamCreationTimestamp"))
      return InvalidArgument("NextToken and StreamCreationTimestamp cannot be provided together.");
    KinesisToken t;
    HttpResponse bad = CheckNextToken(token_text, TokenKind::kListShards, limits_.iterator_ttl, &t);
    if (bad.status != 0) return bad;
    auto s = log_->GetStream(t.stream);
    if (!s.ok() || (*s)->created_ms() != t.stream_created_ms) return StreamNotFound(t.stream);
    stream = *s;
    first = static_cast<int>(std::min<uint32_t>(t.shard, static_cast<uint32_t>(stream->shard_count())));
    filter = ShardFilter::Decode(t.sequence);  // A ShardFilter sent along is ignored: the token's wins.
  } else {
    if (name.empty()) return InvalidArgument("Either StreamName or NextToken should be provided.");
    auto s = log_->GetStream(name);
    if (!s.ok()) return StreamNotFound(name);
    stream = *s;
    first = FirstShardAfter(*stream, exclusive_start);
    if (auto it = j.find("ShardFilter"); it != j.end() && !it->is_null()) {
      if (!it->is_object()) return Serialization("ShardFilter must be an object");
      std::string type, shard_id;
      bool have_type = false, have_shard = false;
      if (!ReadString(*it, "Type", &type, &have_type, &err) || !ReadString(*it, "ShardId", &shard_id, &have_shard, &err))
        return err;
      if (!have_type) return Validation(NullMember("shardFilter.type"));
      if (type == "AFTER_SHARD_ID") {
        if (!have_shard) return InvalidArgument("ShardFilter of type AFTER_SHARD_ID requires a ShardId.");
        first = std::max(first, FirstShardAfter(*stream, shard_id));
      } else if (type == "AT_TIMESTAMP" || type == "FROM_TIMESTAMP") {
        auto ts = it->find("Timestamp");
        if (ts == it->end() || ts->is_null())
          return InvalidArgument("ShardFilter of type " + type + " requires a Timestamp.");
        if (!ts->is_number()) return Serialization("ShardFilter.Timestamp must be a number of epoch seconds");
        const double seconds = ts->get<double>();
        if (!std::isfinite(seconds) || std::fabs(seconds) > 1e13) return InvalidArgument("Timestamp is out of range.");
        filter.kind = type == "AT_TIMESTAMP" ? FilterKind::kAtTimestamp : FilterKind::kFromTimestamp;
        filter.ms = std::max<int64_t>(0, std::llround(seconds * 1000.0));
      } else if (type == "AT_TRIM_HORIZON") {
        filter.kind = FilterKind::kAtTrimHorizon;
      } else if (type == "FROM_TRIM_HORIZON") {
        filter.kind = FilterKind::kFromTrimHorizon;
      } else if (type == "AT_LATEST") {
        filter.kind = FilterKind::kAtLatest;
      } else {
        return Validation("1 validation error detected: Value '" + type.substr(0, 50) +
                          "' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: "
                          "[AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]");
      }
    }
  }
  auto topology = stream->topology();
  const int count = static_cast<int>(topology->shards.size());
  const int64_t now = WallNow().millis();
  json shards = json::array();
  int i = first;
  for (; i < count && static_cast<int64_t>(shards.size()) < max_results; ++i) {
    const log::ShardInfo& info = topology->shards[static_cast<size_t>(i)];
    if (filter.Matches(info, *stream, now)) shards.push_back(ShardJson(info));
  }
  json out = {{"Shards", std::move(shards)}};
  if (i < count) {
    KinesisToken t;
    t.kind = TokenKind::kListShards;
    t.stream = stream->name();
    t.stream_created_ms = stream->created_ms();
    t.shard = static_cast<uint32_t>(i);
    t.sequence = filter.Encode();
    t.issued_ms = WallNow().millis();
    out["NextToken"] = EncodeToken(t);
  }
  return JsonOk(out.dump());
}
HttpResponse KinesisApi::ChangeRetention(std::string_view body, log::RetentionChange change) {
  json j;
  HttpResponse err;
  std::string name;
  int64_t hours = -1;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, true, &name, &err) ||
      !ReadInt(j, "RetentionPeriodHours", "retentionPeriodHours", INT32_MIN, INT32_MAX, &hours, &err))
    return err;
  if (!j.contains("RetentionPeriodHours") || j["RetentionPeriodHours"].is_null())
    return Validation(NullMember("retentionPeriodHours"));
  Status st = log_->SetRetentionHours(name, static_cast<int>(hours), change);
  if (st.code() == StatusCode::kNotFound) return StreamNotFound(name);
  if (!st.ok()) return FromStatus(st);
  return JsonOk("{}");
}

}  // namespace sluice::http
