// KinesisApi's resharding operations: SplitShard, MergeShards, UpdateShardCount.
// Shapes follow the Amazon Kinesis Data Streams API Reference pages of each operation. The log does
// the work and the checks that need its lock (log.h); this file reads the request, applies the
// model's constraints (ValidationException) and maps the log's Status to AWS error types:
// NotFound -> ResourceNotFoundException, AlreadyExists (a closed shard) -> ResourceInUseException,
// InvalidArgument -> InvalidArgumentException, ResourceExhausted -> LimitExceededException.
#include <nlohmann/json.hpp>

#include "ingest/http/kinesis_api.h"
#include "ingest/http/kinesis_api_internal.h"

namespace sluice::http {
namespace {

using nlohmann::json;
using namespace kinesis;

// A reshard Status as the AWS error of its kind.
HttpResponse ReshardError(const Status& st) {
  switch (st.code()) {
    case StatusCode::kNotFound: return AwsError(400, "ResourceNotFoundException", st.message());
    case StatusCode::kAlreadyExists: return AwsError(400, "ResourceInUseException", st.message());
    case StatusCode::kInvalidArgument: return InvalidArgument(st.message());
    case StatusCode::kResourceExhausted: return AwsError(400, "LimitExceededException", st.message());
    default: return FromStatus(st);
  }
}

// Reads a required shard id member (model: 1-128 of [a-zA-Z0-9_.-]). `member` is AWS's
// camelCase name for messages.
bool ReadShardId(const json& j, const char* key, const char* member, std::string* out, HttpResponse* err) {
  bool present = false;
  if (!ReadString(j, key, out, &present, err)) return false;
  if (!present) {
    *err = Validation(NullMember(member));
    return false;
  }
  if (out->empty() || out->size() > 128) {
    *err = Validation("1 validation error detected: Value '" + out->substr(0, 200) + "' at '" + member +
                      "' failed to satisfy constraint: Member must have length between 1 and 128");
    return false;
  }
  if (out->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos) {
    *err = Validation("1 validation error detected: Value '" + *out + "' at '" + member +
                      "' failed to satisfy constraint: Member must satisfy regular expression pattern: "
                      "[a-zA-Z0-9_.-]+");
    return false;
  }
  return true;
}

}  // namespace

HttpResponse KinesisApi::SplitShard(std::string_view body) {
  json j;
  HttpResponse err;
  std::string name, shard, key_text;
  bool have_key = false;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, true, &name, &err) ||
      !ReadShardId(j, "ShardToSplit", "shardToSplit", &shard, &err) ||
      !ReadString(j, "NewStartingHashKey", &key_text, &have_key, &err))
    return err;
  if (!have_key) return Validation(NullMember("newStartingHashKey"));
  const bool digits = !key_text.empty() && key_text.find_first_not_of("0123456789") == std::string::npos &&
                      (key_text.size() == 1 || key_text[0] != '0') && key_text.size() <= 39;
  if (!digits)  // The model's pattern is 0|([1-9]\d{0,38}).
    return Validation("1 validation error detected: Value '" + key_text.substr(0, 50) +
                      "' at 'newStartingHashKey' failed to satisfy constraint: Member must satisfy regular "
                      "expression pattern: 0|([1-9]\\d{0,38})");
  auto key = log::ParseHashKey(key_text);
  if (!key)
    return InvalidArgument("NewStartingHashKey " + key_text + " used in SplitShard() on shard " + shard +
                           " in stream " + name + " under account " + std::string(kAccount) +
                           " is outside the hash key range [0, 2^128-1].");
  Status st = log_->SplitShard(name, shard, *key);
  if (st.code() == StatusCode::kNotFound && !log_->GetStream(name).ok()) return StreamNotFound(name);
  if (!st.ok()) return ReshardError(st);
  return JsonOk("{}");
}

HttpResponse KinesisApi::MergeShards(std::string_view body) {
  json j;
  HttpResponse err;
  std::string name, shard, adjacent;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, true, &name, &err) ||
      !ReadShardId(j, "ShardToMerge", "shardToMerge", &shard, &err) ||
      !ReadShardId(j, "AdjacentShardToMerge", "adjacentShardToMerge", &adjacent, &err))
    return err;
  Status st = log_->MergeShards(name, shard, adjacent);
  if (st.code() == StatusCode::kNotFound && !log_->GetStream(name).ok()) return StreamNotFound(name);
  if (!st.ok()) return ReshardError(st);
  return JsonOk("{}");
}

HttpResponse KinesisApi::UpdateShardCount(std::string_view body) {
  json j;
  HttpResponse err;
  std::string name, scaling;
  bool have_scaling = false;
  int64_t target = -1;
  if (!ParseBody(body, &j, &err) || !ReadStreamName(j, true, &name, &err) ||
      !ReadInt(j, "TargetShardCount", "targetShardCount", 1, 100000, &target, &err) ||
      !ReadString(j, "ScalingType", &scaling, &have_scaling, &err))
    return err;
  if (target < 0) return Validation(NullMember("targetShardCount"));
  if (!have_scaling) return Validation(NullMember("scalingType"));
  if (scaling != "UNIFORM_SCALING")
    return Validation("1 validation error detected: Value '" + scaling.substr(0, 50) +
                      "' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: "
                      "[UNIFORM_SCALING]");
  log::ReshardResult result;
  Status st = log_->UpdateShardCount(name, static_cast<int>(target), &result);
  if (st.code() == StatusCode::kNotFound) return StreamNotFound(name);
  if (!st.ok()) return ReshardError(st);
  json out = {{"StreamName", name},
              {"CurrentShardCount", result.open_shards_before},
              {"TargetShardCount", result.open_shards_after},
              {"StreamARN", StreamArn(name)}};
  return JsonOk(out.dump());
}

}  // namespace sluice::http
