// KinesisApi's read path: GetShardIterator and GetRecords.
// Shapes follow the Amazon Kinesis Data Streams API Reference pages of both operations.
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/time.h"
#include "core/value.h"
#include "ingest/http/kinesis_api.h"
#include "ingest/http/kinesis_api_internal.h"
#include "ingest/http/kinesis_token_format.h"

namespace sluice::http {
namespace {

using nlohmann::json;
using namespace kinesis;

enum class IteratorType { kAtSequence, kAfterSequence, kAtTimestamp, kTrimHorizon, kLatest };

std::optional<IteratorType> ParseIteratorType(std::string_view s) {
  if (s == "AT_SEQUENCE_NUMBER") return IteratorType::kAtSequence;
  if (s == "AFTER_SEQUENCE_NUMBER") return IteratorType::kAfterSequence;
  if (s == "AT_TIMESTAMP") return IteratorType::kAtTimestamp;
  if (s == "TRIM_HORIZON") return IteratorType::kTrimHorizon;
  if (s == "LATEST") return IteratorType::kLatest;
  return std::nullopt;
}

// A sequence number as the API carries it: decimal digits, compared as a big integer. nullopt for
// anything that is not a non-negative integer below 2^64 (larger ones never came from Sluice).
std::optional<uint64_t> ParseSequence(std::string_view s) {
  if (s.empty() || s.size() > 129 || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
  if (s.size() > 20) return std::nullopt;
  unsigned __int128 v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v > UINT64_MAX) return std::nullopt;
  return static_cast<uint64_t>(v);
}

std::string ShardNotFound(std::string_view shard, std::string_view stream) {
  return "Shard " + std::string(shard) + " in stream " + std::string(stream) + " under account " +
         std::string(kAccount) + " does not exist";
}

std::string IteratorFor(const log::Stream& s, int shard, uint64_t sequence) {
  KinesisToken t;
  t.kind = TokenKind::kShardIterator;
  t.stream = s.name();
  t.stream_created_ms = s.created_ms();
  t.shard = static_cast<uint32_t>(shard);
  t.sequence = sequence;
  t.issued_ms = WallNow().millis();
  return EncodeToken(t);
}

HttpResponse IteratorResponse(const log::Stream& s, int shard, uint64_t sequence) {
  std::string body = "{\"ShardIterator\":";
  AppendJsonString(IteratorFor(s, shard, sequence), &body);
  body += "}";
  return JsonOk(std::move(body));
}

}  // namespace

void KinesisApi::GetShardIterator(std::string_view body, Responder respond) {
  json j;
  HttpResponse err;
  std::string name, shard_id, type_text, seq_text;
  bool have_shard = false, have_type = false, have_seq = false;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, true, &name, &err) ||
      !ReadString(j, "ShardId", &shard_id, &have_shard, &err) ||
      !ReadString(j, "ShardIteratorType", &type_text, &have_type, &err) ||
      !ReadString(j, "StartingSequenceNumber", &seq_text, &have_seq, &err))
    return respond(std::move(err));
  if (!have_shard) return respond(Validation(NullMember("shardId")));
  if (!have_type) return respond(Validation(NullMember("shardIteratorType")));
  auto type = ParseIteratorType(type_text);
  if (!type)
    return respond(Validation("1 validation error detected: Value '" + type_text.substr(0, 50) +
                              "' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value "
                              "set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]"));
  auto found = log_->GetStream(name);
  if (!found.ok()) return respond(StreamNotFound(name));
  std::shared_ptr<log::Stream> stream = *found;
  const int shard = stream->ShardIndex(shard_id);
  if (shard < 0) return respond(AwsError(400, "ResourceNotFoundException", ShardNotFound(shard_id, name)));
  const log::ShardLog& log = stream->shard(shard);
  const bool by_sequence = *type == IteratorType::kAtSequence || *type == IteratorType::kAfterSequence;
  if (by_sequence != have_seq) {
    if (have_seq)
      return respond(InvalidArgument("Request specified StartingSequenceNumber for an iterator of type " + type_text +
                                     "; it is only valid for AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER."));
    return respond(InvalidArgument("Must specify StartingSequenceNumber for an iterator of type " + type_text + "."));
  }
  const bool have_time = j.contains("Timestamp") && !j["Timestamp"].is_null();
  if ((*type == IteratorType::kAtTimestamp) != have_time) {
    if (have_time)
      return respond(InvalidArgument("Request specified Timestamp for an iterator of type " + type_text +
                                     "; it is only valid for AT_TIMESTAMP."));
    return respond(InvalidArgument(
        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp "
        "parameter."));
  }
  switch (*type) {
    case IteratorType::kTrimHorizon: return respond(IteratorResponse(*stream, shard, log.first_sequence()));
    case IteratorType::kLatest: return respond(IteratorResponse(*stream, shard, log.durable_end()));
    case IteratorType::kAtSequence:
    case IteratorType::kAfterSequence: {
      // Valid: any sequence number the shard has handed out, and for AT_SEQUENCE_NUMBER also the
      // shard's StartingSequenceNumber ("1") while it is still empty. Trimmed ones are fine: the
      // iterator then starts at the trim horizon, as AWS does.
      auto seq = ParseSequence(seq_text);
      const uint64_t end = log.durable_end();
      const bool at = *type == IteratorType::kAtSequence;
      if (!seq || *seq < 1 || *seq > end || (!at && *seq == end) || (at && *seq == end && end != 1))
        return respond(InvalidArgument("StartingSequenceNumber " + seq_text.substr(0, 130) +
                                       " used in GetShardIterator on shard " + log::Stream::ShardIdFor(shard) +
                                       " in stream " + name + " under account " + std::string(kAccount) +
                                       " is invalid because it did not come from this stream."));
      return respond(IteratorResponse(*stream, shard, at ? *seq : *seq + 1));
    }
    case IteratorType::kAtTimestamp: {
      const json& ts = j["Timestamp"];
      if (!ts.is_number()) return respond(Serialization("Timestamp must be a number of epoch seconds"));
      const double seconds = ts.get<double>();
      if (!std::isfinite(seconds) || std::fabs(seconds) > 1e13)
        return respond(InvalidArgument("Timestamp is out of range."));
      // Microseconds first, so 1700000000.123 (inexact in binary) is exactly ...123 ms; then round
      // up, so the first record at or after the instant is chosen.
      const int64_t micros = std::llround(seconds * 1e6);
      const int64_t ms = micros >= 0 ? (micros + 999) / 1000 : micros / 1000;
      const int64_t now = WallNow().millis();
      if (ms > now)
        return respond(InvalidArgument("The timestampInMillis parameter cannot be greater than the "
                                       "currentTimestampInMillis. timestampInMillis: " +
                                       std::to_string(ms) + ", currentTimestampInMillis: " + std::to_string(now)));
      // The lookup reads segment files: do it off the HTTP loop.
      return RunOnReader([stream, shard, ms, respond = std::move(respond)] {
        auto seq = stream->shard(shard).SequenceAtTimestamp(ms);
        if (!seq.ok()) return respond(FromStatus(seq.status()));
        respond(IteratorResponse(*stream, shard, *seq));
      });
    }
  }
}

void KinesisApi::GetRecords(std::string_view body, Responder respond) {
  json j;
  HttpResponse err;
  std::string text;
  bool have_iterator = false;
  int64_t limit = static_cast<int64_t>(limits_.max_get_records);
  if (!ParseBody(body, &j, &err) || !ReadString(j, "ShardIterator", &text, &have_iterator, &err) ||
      !ReadInt(j, "Limit", "limit", 1, static_cast<int64_t>(limits_.max_get_records), &limit, &err))
    return respond(std::move(err));
  if (!have_iterator) return respond(Validation(NullMember("shardIterator")));
  if (text.empty() || text.size() > 512)
    return respond(Validation("1 validation error detected: Value at 'shardIterator' failed to satisfy constraint: "
                              "Member must have length between 1 and 512"));
  auto token = DecodeToken(text);
  if (!token.ok() || token->kind != TokenKind::kShardIterator) return respond(InvalidArgument("Invalid ShardIterator."));
  const int64_t now = WallNow().millis();
  if (now - token->issued_ms > limits_.iterator_ttl.count())
    return respond(AwsError(400, "ExpiredIteratorException",
                            "Iterator expired. The iterator was created at time " + std::to_string(token->issued_ms) +
                                " while right now it is " + std::to_string(now) +
                                " which is further in the future than the tolerated delay of " +
                                std::to_string(limits_.iterator_ttl.count()) + " milliseconds."));
  auto found = log_->GetStream(token->stream);
  if (!found.ok() || (*found)->created_ms() != token->stream_created_ms)
    return respond(StreamNotFound(token->stream));
  std::shared_ptr<log::Stream> stream = *found;
  if (token->shard >= static_cast<uint32_t>(stream->shard_count())) return respond(InvalidArgument("Invalid ShardIterator."));
  const int shard = static_cast<int>(token->shard);
  const uint64_t from = token->sequence;
  const size_t max_bytes = limits_.max_get_bytes;
  RunOnReader([this, stream, shard, from, limit, max_bytes, respond = std::move(respond)] {
    const log::ShardLog& log = stream->shard(shard);
    log::LogCursor cursor;
    cursor.next_sequence = from;
    log::ReadBatch batch;
    Status st = log.Read(&cursor, static_cast<size_t>(limit), max_bytes, &batch);
    if (!st.ok()) return respond(FromStatus(st));
    std::string body = "{\"Records\":[";
    size_t payload = 0, taken = 0;
    uint64_t next = cursor.next_sequence;
    int64_t last_arrival_ms = 0;
    for (const log::RecordView& r : batch.records) {
      const size_t size = r.data.size() + r.partition_key.size();
      if (taken > 0 && payload + size > max_bytes) {
        next = r.sequence;  // The rest comes with the next call.
        break;
      }
      if (taken > 0) body += ',';
      body += "{\"SequenceNumber\":\"" + std::to_string(r.sequence) + "\",\"ApproximateArrivalTimestamp\":";
      AppendEpochSeconds(r.arrival_ms, &body);
      body += ",\"Data\":\"";
      Base64Encode(r.data, &body);
      body += "\",\"PartitionKey\":";
      AppendJsonString(r.partition_key, &body);
      body += '}';
      payload += size;
      ++taken;
      last_arrival_ms = r.arrival_ms;
    }
    // How far this response is from the tip: 0 once caught up, else the age of the newest record
    // returned (AWS: "how far behind current time the consumer is").
    const bool caught_up = next >= log.durable_end();
    const int64_t behind = caught_up || taken == 0 ? 0 : std::max<int64_t>(0, WallNow().millis() - last_arrival_ms);
    body += "]";
    // A closed shard read to its end has no next iterator (AWS: "If set to null, the shard has
    // been closed and the requested iterator does not return any more data"); consumers move on
    // to its children. The shard's last records may still await their fsync: until then, go on.
    auto topology = stream->topology();
    const uint64_t end = topology->shards[static_cast<size_t>(shard)].end_sequence;
    const bool at_end = end != 0 && next >= end && log.durable_end() >= end;
    if (!at_end) {
      body += ",\"NextShardIterator\":";
      AppendJsonString(IteratorFor(*stream, shard, next), &body);
    }
    body += ",\"MillisBehindLatest\":" + std::to_string(behind);
    if (at_end) {
      // AWS lists the children once a reader reaches the end of a closed shard.
      body += ",\"ChildShards\":[";
      bool first_child = true;
      {
        for (const log::ShardInfo& c : topology->shards) {
          if (c.parent != shard && c.adjacent_parent != shard) continue;
          if (!first_child) body += ',';
          first_child = false;
          body += "{\"ShardId\":\"" + log::Stream::ShardIdFor(c.index) + "\",\"ParentShards\":[\"" +
                  log::Stream::ShardIdFor(c.parent) + "\"";
          if (c.adjacent_parent >= 0) body += ",\"" + log::Stream::ShardIdFor(c.adjacent_parent) + "\"";
          body += "],\"HashKeyRange\":{\"StartingHashKey\":\"" + log::HashKeyToString(c.range.start) +
                  "\",\"EndingHashKey\":\"" + log::HashKeyToString(c.range.end) + "\"}}";
        }
      }
      body += "]";
    }
    body += "}";
    records_out_->Inc(taken);
    bytes_out_->Inc(payload);
    respond(JsonOk(std::move(body)));
  });
}

}  // namespace sluice::http
