// The HTTP client of the benchmarks that drive a Sluice server (sluice-bench's t3 and wildrydes):
// keep-alive Kinesis PutRecords and GETs over libcurl. libcurl stays in bench/; the `sluice`
// binary does not link it.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace sluice::bench {

/// Initialises libcurl (curl_global_init) once per process; later calls do nothing.
/// REQUIRES: called before the first BenchHttp is made, before other threads use libcurl.
void InitBenchHttp();

/// A keep-alive HTTP/1.1 connection to a Sluice server (libcurl easy handle).
/// Thread-safety: one thread at a time.
class BenchHttp {
 public:
  /// `base_url` like "http://127.0.0.1:4567". REQUIRES: curl_global_init was called.
  explicit BenchHttp(std::string base_url);
  ~BenchHttp();
  BenchHttp(const BenchHttp&) = delete;
  BenchHttp& operator=(const BenchHttp&) = delete;
  /// Kinesis PutRecords with a pre-built JSON body. Returns the number of records refused
  /// (FailedRecordCount). Errors: Unavailable on a transport error or a non-200 answer.
  Result<int64_t> PutRecords(const std::string& body);
  /// GET `path` ("/queries"). Errors: Unavailable on a transport error or a non-200 answer.
  Result<std::string> Get(const std::string& path);

 private:
  std::string base_;
  void* curl_ = nullptr;
  void* headers_ = nullptr;
};

/// Sums every `"field":<integer>` occurrence in a JSON text (e.g. "records_in" in GET /queries).
int64_t SumJsonField(const std::string& json, const std::string& field);

}  // namespace sluice::bench
