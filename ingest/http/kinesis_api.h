// KinesisApi: the Kinesis Data Streams JSON 1.1 protocol on `POST /`, over the embedded log.
//
// Requests carry `X-Amz-Target: Kinesis_20131202.<Operation>` and a JSON body
// (Content-Type application/x-amz-json-1.1). Implemented operations: PutRecord, PutRecords,
// CreateStream, DescribeStreamSummary, ListStreams. Signatures (SigV4) are accepted unchecked:
// Sluice is a local endpoint, like kinesalite.
//
// PutRecord(s) answers only after every record is durable (fsynced by the log's group commit).
// Errors use AWS's shape, `{"__type": "<Exception>", "message": "..."}` (SerializationException
// uses a capital "Message", as AWS does), with HTTP 400 for client errors and 500 for
// InternalFailure. Limits: 500 records and 5 MiB per PutRecords, 1 MiB per record (data plus
// partition key), partition keys of 1-256 characters.
// Sources: Amazon Kinesis Data Streams API Reference (PutRecord, PutRecords, CreateStream,
// DescribeStreamSummary, ListStreams, Common Errors).
// Thread-safety: Handle() is thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "ingest/http/http_server.h"
#include "ingest/log/log.h"

namespace sluice::http {

/// Limits of the API. Unit: bytes or records, as named. Defaults are AWS's.
struct KinesisLimits {
  size_t max_records_per_request = 500;
  size_t max_request_data_bytes = 5u << 20;
  size_t max_record_bytes = 1u << 20;
};

/// Builds an AWS JSON error response.
HttpResponse AwsError(int status, std::string_view type, std::string_view message);

class KinesisApi {
 public:
  /// `log` and `metrics` must outlive this object.
  KinesisApi(log::Log* log, MetricsRegistry* metrics, KinesisLimits limits = {});

  /// Serves one `POST /` request. Always answers through `respond`, possibly later from the log's
  /// sync thread.
  void Handle(const HttpRequest& req, Responder respond);

  /// Counts `n` durable records for (stream, shard) in sluice_records_ingested_total.
  void CountIngested(const std::string& stream, int shard, uint64_t n);

 private:
  void PutRecords(const HttpRequest& req, Responder respond, bool single);
  HttpResponse CreateStream(std::string_view body);
  HttpResponse DescribeStreamSummary(std::string_view body);
  HttpResponse ListStreams();

  log::Log* log_;
  MetricsRegistry* metrics_;
  const KinesisLimits limits_;
  Histogram* put_latency_;
  Counter* bytes_in_;
  std::mutex counters_mu_;
  std::map<std::pair<std::string, int>, Counter*> ingested_;  // GUARDED_BY(counters_mu_)
};

}  // namespace sluice::http
