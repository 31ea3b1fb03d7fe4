// KinesisApi: the Kinesis Data Streams JSON 1.1 protocol on `POST /`, over the embedded log.
//
// Requests carry `X-Amz-Target: Kinesis_20131202.<Operation>` and a JSON body
// (Content-Type application/x-amz-json-1.1). Signatures (SigV4) are accepted unchecked: Sluice is
// a local endpoint, like kinesalite. Operations, with AWS's request and response shapes:
//   - data plane: PutRecord, PutRecords, GetShardIterator, GetRecords;
//   - control plane: CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary,
//     ListStreams, ListShards, IncreaseStreamRetentionPeriod, DecreaseStreamRetentionPeriod;
//   - resharding: SplitShard, MergeShards, UpdateShardCount (UNIFORM_SCALING). They finish before
//     answering (the stream stays ACTIVE); parents close (EndingSequenceNumber), children get
//     ParentShardId / AdjacentParentShardId, and GetRecords at the end of a closed shard returns
//     no NextShardIterator, so SDK consumers move on to the children.
// Every operation that names a stream accepts StreamName or StreamARN
// (`arn:aws:kinesis:us-east-1:000000000000:stream/<name>`). docs/kinesis-api.md lists the fields
// each operation reads and answers, and where Sluice differs from AWS.
//
// PutRecord(s) answers only after every record is durable (fsynced by the log's group commit).
// GetRecords and AT_TIMESTAMP GetShardIterator read segment files, so they run on the API's own
// reader thread, never on the HTTP loop; everything else answers on the calling thread.
// Shard iterators and ListShards/ListStreams NextTokens are opaque, CRC-protected strings
// (kinesis_token_format.h) that expire after KinesisLimits::iterator_ttl.
//
// Errors use AWS's shape, `{"__type": "<Exception>", "message": "..."}` (SerializationException
// uses a capital "Message", as AWS does), with HTTP 400 for client errors and 500 for
// InternalFailure: ResourceNotFoundException (unknown stream or shard), ResourceInUseException
// (stream exists; a reshard of a closed shard), InvalidArgumentException (a value AWS rejects by rule: bad iterator, sequence
// number, retention change, parameter combination), ValidationException (a value outside the
// model's constraints: lengths, ranges, enums, missing required members), LimitExceededException
// (too many shards; UpdateShardCount beyond double or below half the open shards), ExpiredIteratorException / ExpiredNextTokenException (older than the TTL),
// SerializationException (not JSON, wrong JSON types, bad base64), UnknownOperationException.
// Limits: 500 records and 5 MiB per PutRecords, 1 MiB per record (data plus partition key),
// partition keys of 1-256 characters; GetRecords returns at most 10,000 records and about
// 10 MiB.
// Sources: Amazon Kinesis Data Streams API Reference (PutRecord, PutRecords, GetShardIterator,
// GetRecords, CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary, ListStreams,
// ListShards, IncreaseStreamRetentionPeriod, DecreaseStreamRetentionPeriod, SplitShard, MergeShards,
// UpdateShardCount, Shard, ShardFilter, Common Errors).
// Thread-safety: Handle() is thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "ingest/http/http_server.h"
#include "ingest/log/log.h"

namespace sluice::http {

/// Limits of the API. Defaults are AWS's. Not changeable after construction.
struct KinesisLimits {
  /// Most records in one PutRecords. Unit: records. Default: 500.
  size_t max_records_per_request = 500;
  /// Most payload (data plus partition keys) in one PutRecords. Unit: bytes. Default: 5 MiB.
  size_t max_request_data_bytes = 5u << 20;
  /// Most payload of one record (data plus partition key). Unit: bytes. Default: 1 MiB.
  size_t max_record_bytes = 1u << 20;
  /// GetRecords' Limit maximum, and its default. Unit: records. Default: 10,000.
  size_t max_get_records = 10000;
  /// A GetRecords response stops adding records once their data and keys reach this (at least one
  /// record is always returned). Unit: bytes. Default: 10 MiB.
  size_t max_get_bytes = 10u << 20;
  /// Shard iterators and pagination NextTokens are refused this long after they were issued.
  /// Trade-off: longer lets slow consumers keep an iterator, but a stale one reads on from an old
  /// position. Unit: milliseconds. Default: 5 minutes (AWS's value).
  std::chrono::milliseconds iterator_ttl{5 * 60 * 1000};
  /// Shards of a stream created in ON_DEMAND mode. Unit: shards. Default: 4 (as AWS starts one).
  int on_demand_shards = 4;
};

/// Builds an AWS JSON error response: `status`, `__type` = `type`, and the message (under
/// "Message" for SerializationException, "message" otherwise), plus the x-amzn-ErrorType header.
HttpResponse AwsError(int status, std::string_view type, std::string_view message);

/// The Kinesis API handler: parses requests, calls the log, builds AWS-shaped answers. Owns one
/// reader thread for disk reads. Thread-safety: Handle() and CountIngested() are thread-safe.
class KinesisApi {
 public:
  /// `log` and `metrics` must outlive this object. Starts the reader thread.
  KinesisApi(log::Log* log, MetricsRegistry* metrics, KinesisLimits limits = {});
  /// Runs the reads already queued, then stops the reader thread. Queued reads hold their stream
  /// (shared_ptr), never the log, so the log may already be gone.
  ~KinesisApi();
  KinesisApi(const KinesisApi&) = delete;
  KinesisApi& operator=(const KinesisApi&) = delete;

  /// Serves one `POST /` request. Always answers through `respond`: at once, later from the log's
  /// sync thread (puts), or from the reader thread (GetRecords, AT_TIMESTAMP iterators).
  /// Counts the request in sluice_kinesis_requests_total{operation, http_version}, and an error
  /// answer in sluice_kinesis_errors_total{operation, error_code} (the AWS error type).
  void Handle(const HttpRequest& req, Responder respond);

  /// Counts the outcome of one put of `results.size()` records to `stream`, once the log has
  /// answered: each durable record, and its payload bytes (data plus partition key, as Kinesis
  /// meters them; `sizes[i]` for record i), under its shard in sluice_records_ingested_total and
  /// sluice_ingested_bytes_total; each refused one under its AWS error code
  /// (ProvisionedThroughputExceededException for a limit or budget, else InternalFailure) in
  /// sluice_putrecords_failed_records_total. A failed `commit` fails every record.
  /// REQUIRES: sizes.size() == results.size(). Thread-safe.
  void CountPut(const std::string& stream, const std::vector<log::PutResult>& results,
                const std::vector<uint32_t>& sizes, const Status& commit);
  /// Observes one PutRecord(s) acknowledgement latency in sluice_putrecords_latency_seconds{stream}.
  /// Unit: seconds. Thread-safe.
  void ObservePutLatency(const std::string& stream, double seconds);

 private:
  // Data plane (kinesis_api.cc, kinesis_read_api.cc).
  void PutRecords(const HttpRequest& req, Responder respond, bool single);
  void GetShardIterator(std::string_view body, Responder respond);
  void GetRecords(std::string_view body, Responder respond);
  // Control plane (kinesis_control_api.cc).
  HttpResponse CreateStream(std::string_view body);
  HttpResponse DeleteStream(std::string_view body);
  HttpResponse DescribeStream(std::string_view body);
  HttpResponse DescribeStreamSummary(std::string_view body);
  HttpResponse ListStreams(std::string_view body);
  HttpResponse ListShards(std::string_view body);
  HttpResponse ChangeRetention(std::string_view body, log::RetentionChange change);
  // Resharding (kinesis_control_api_reshard.cc).
  HttpResponse SplitShard(std::string_view body);
  HttpResponse MergeShards(std::string_view body);
  HttpResponse UpdateShardCount(std::string_view body);

  void CountRequest(size_t op, int http_version);
  // sluice_kinesis_errors_total{operation, error_code} for one error answer (its x-amzn-ErrorType).
  void CountError(size_t op, const HttpResponse& r);
  // Runs `task` on the reader thread.
  void RunOnReader(std::function<void()> task);
  void ReaderLoop();

  log::Log* log_;
  MetricsRegistry* metrics_;
  const KinesisLimits limits_;
  Counter* bytes_out_;
  Counter* records_out_;
  // Per stream: the latency histogram, failed records by error code, and per shard the ingested
  // records and bytes. Registered on first use; the registry keeps them alive.
  struct StreamCounters {
    Histogram* latency = nullptr;
    Counter* throttled = nullptr;
    Counter* internal = nullptr;
    std::map<int, std::pair<Counter*, Counter*>> shards;  // index -> (records, bytes)
  };
  StreamCounters& CountersFor(const std::string& stream);  // REQUIRES: counters_mu_ held
  std::mutex counters_mu_;
  std::map<std::string, StreamCounters> counters_;  // GUARDED_BY(counters_mu_)
  // sluice_kinesis_requests_total per (operation, HTTP/1.x or HTTP/2), registered on first use.
  static constexpr size_t kOperations = 16;
  std::array<std::atomic<Counter*>, kOperations * 2> requests_{};

  std::mutex reader_mu_;
  std::condition_variable reader_cv_;
  std::deque<std::function<void()>> reader_tasks_;  // GUARDED_BY(reader_mu_)
  bool reader_stopping_ = false;                    // GUARDED_BY(reader_mu_)
  std::thread reader_;
};

}  // namespace sluice::http
