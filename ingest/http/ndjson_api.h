// NdjsonApi: `POST /streams/{name}/records` with a newline-delimited JSON body, for devices that
// cannot sign AWS requests.
//
// Each non-empty line must be one JSON value (normally an object); it becomes one record whose
// data is the line's bytes. The partition key is the value of the field named by the query
// parameter `partition_key` (`?partition_key=Name`); without it, lines are spread over shards by a
// per-request counter. Lines that are not valid JSON, or lack the key field, are rejected and
// listed in the answer; the good lines are still stored. The answer comes after every stored line
// is durable:
//   200 {"accepted":N,"rejected":M,"errors":[{"line":L,"message":"..."}]}  (errors: first 100)
//   400 when no line was valid; 404 for an unknown stream; when lines were valid but could not be
//   stored, "failed" and "throttled" counts are added, and the status is 429 when every line was
//   refused by a write limit or budget (retry later), 500 when none could be stored otherwise.
// Thread-safety: Handle() is thread-safe.
#pragma once

#include "core/metrics.h"
#include "ingest/http/http_server.h"
#include "ingest/http/kinesis_api.h"
#include "ingest/log/log.h"

namespace sluice::http {

class NdjsonApi {
 public:
  /// All pointers must outlive this object. `kinesis` provides the shared ingest counters.
  NdjsonApi(log::Log* log, MetricsRegistry* metrics, KinesisApi* kinesis, KinesisLimits limits = {});

  /// Serves one request; `stream` is the decoded {name} of the path.
  void Handle(const HttpRequest& req, std::string stream, Responder respond);

 private:
  log::Log* log_;
  MetricsRegistry* metrics_;
  KinesisApi* kinesis_;
  const KinesisLimits limits_;
};

}  // namespace sluice::http
