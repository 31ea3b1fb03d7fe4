// Helpers shared by the KinesisApi implementation files (kinesis_api.cc, kinesis_read_api.cc,
// kinesis_control_api.cc): AWS error builders and request-field readers. Internal to
// ingest/http; not part of the API. Thread-safety: pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ingest/http/http_server.h"
#include "ingest/log/log.h"

namespace sluice::http::kinesis {

/// The account id Sluice reports in ARNs and messages.
inline constexpr std::string_view kAccount = "000000000000";

/// `arn:aws:kinesis:us-east-1:000000000000:stream/<name>`.
std::string StreamArn(std::string_view name);

/// A 200 answer with an application/x-amz-json-1.1 body.
HttpResponse JsonOk(std::string body);

/// 400 errors of each AWS type.
HttpResponse Validation(std::string_view message);
HttpResponse InvalidArgument(std::string_view message);
HttpResponse Serialization(std::string_view message);
/// ResourceNotFoundException for a stream: "Stream <name> under account ... not found."
HttpResponse StreamNotFound(std::string_view name);
/// ResourceNotFoundException, InvalidArgumentException, ResourceInUseException,
/// LimitExceededException, ProvisionedThroughputExceededException or InternalFailure (500) for a
/// log Status, by code (NotFound, InvalidArgument, AlreadyExists, OutOfRange, ResourceExhausted,
/// anything else).
HttpResponse FromStatus(const Status& st);

/// ValidationException text for a null required member, as AWS words it.
std::string NullMember(std::string_view member);

/// Parses a control-plane body (small: nlohmann is fine). Sets `*err` (SerializationException)
/// and returns false unless the body is a JSON object.
bool ParseBody(std::string_view body, nlohmann::json* out, HttpResponse* err);

/// Reads StreamName, else the name at the end of StreamARN. Sets `*err` and returns false when a
/// member has the wrong JSON type (SerializationException), when the name breaks the model's
/// length or pattern rule ([a-zA-Z0-9_.-]{1,128}), or when both are missing and `required`
/// (ValidationException). Leaves `*name` empty when both are missing and not required.
bool ReadStreamName(const nlohmann::json& j, bool required, std::string* name, HttpResponse* err);

/// Reads an optional integer member. Sets `*err` and returns false for a non-integer
/// (SerializationException) or a value outside [min, max] (ValidationException, AWS wording;
/// `member` is the camelCase name AWS uses in the message). `*out` keeps its value when absent.
bool ReadInt(const nlohmann::json& j, const char* key, const char* member, int64_t min, int64_t max, int64_t* out,
             HttpResponse* err);

/// Reads an optional string member. Sets `*err` (SerializationException) and returns false when
/// it is present but not a string. `*present` tells whether it was there.
bool ReadString(const nlohmann::json& j, const char* key, std::string* out, bool* present, HttpResponse* err);

/// Appends a Unix-ms time as JSON 1.1 epoch seconds with a millisecond fraction ("1700000000.123").
void AppendEpochSeconds(int64_t ms, std::string* out);

/// One shard's JSON object (ShardId, ParentShardId and AdjacentParentShardId when set,
/// HashKeyRange, SequenceNumberRange with EndingSequenceNumber once closed), as DescribeStream and
/// ListShards return it. Source: AWS Kinesis Data Streams API Reference, Shard.
nlohmann::json ShardJson(const log::ShardInfo& shard);

}  // namespace sluice::http::kinesis
