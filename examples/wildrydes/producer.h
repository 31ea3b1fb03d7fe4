// The unicorn fleet producer of the Wild Rydes workshop, in C++.
//
// Each unicorn reports its status once per simulated second with the workshop's fields:
//   {"Name":"Shadowfax","StatusTime":"2026-11-21 10:00:01.000","Latitude":40.74,"Longitude":-73.99,
//    "Distance":12.3,"MagicPoints":150,"HealthPoints":160}
// sent with Kinesis PutRecords over HTTP (JSON 1.1, PartitionKey = Name), up to 500 records per
// call. `speedup` simulated seconds pass per wall second. A share of events is held back and sent
// 1-3 simulated seconds late (out of order, within a 5 s watermark delay), and a smaller share is
// held back 75 s (late: its minute has already been emitted), and a few are malformed.
// Thread-safety: RunProducer() may run on any thread; stop it with `stop`.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice::wildrydes {

struct ProducerOptions {
  /// Base URL of the Kinesis endpoint. Default: http://127.0.0.1:4567.
  std::string endpoint = "http://127.0.0.1:4567";
  std::string stream = "unicorn_telemetry";
  /// Unicorns in the fleet. Default: 20.
  int unicorns = 20;
  /// Simulated seconds per wall second. Default: 10 (a minute window closes every 6 s).
  double speedup = 10;
  /// Share of events sent 1-3 simulated seconds late. Range 0..1. Default: 0.05.
  double out_of_order = 0.05;
  /// Share of events sent 75 simulated seconds late (after their window fired). Default: 0.002.
  double late = 0.002;
  /// Share of records sent malformed, as faulty sensors do (a non-numeric MagicPoints, or JSON
  /// cut short); Sluice dead-letters them. Range 0..1. Default: 0.001.
  double bad = 0.001;
  /// Simulated seconds to run; 0 = until `stop`. Default: 0.
  int64_t simulated_seconds = 0;
  /// Simulated start time, Unix ms; 0 = six hours ago, rounded down to the hour.
  int64_t start_ms = 0;
  /// Seed of the PRNG, so runs can be reproduced.
  uint64_t seed = 1;
  /// Sends one PutRecords request body and returns the answer's HTTP status and body, or a
  /// transport error (Unavailable). Called from RunProducer's thread only. Default (empty):
  /// HTTP/1.1 keep-alive over a plain socket to `endpoint` (ingest/http/http_client.h, 30 s
  /// timeouts). unicorn-producer sets a libcurl one for --http2, so that libcurl stays out of
  /// the `sluice` binary.
  std::function<Result<std::pair<int, std::string>>(const std::string& body)> transport;
};

struct ProducerStats {
  uint64_t records_sent = 0;
  uint64_t records_acked = 0;
  uint64_t records_failed = 0;
  uint64_t requests = 0;
  double wall_seconds = 0;
};

/// One generated status. Used by tests to compute expected results independently.
struct UnicornStatus {
  std::string name;
  int64_t status_time_ms = 0;
  double latitude = 0, longitude = 0, distance = 0;
  int magic_points = 0, health_points = 0;
  /// The workshop's JSON for this status.
  std::string ToJson() const;
};

/// Deterministic fleet: the same seed gives the same statuses.
class Fleet {
 public:
  Fleet(int unicorns, uint64_t seed);
  ~Fleet();
  /// The status of every unicorn at simulated time `t_ms`, in fleet order.
  void Tick(int64_t t_ms, std::vector<UnicornStatus>* out);
  /// Name of unicorn i (workshop names first, then numbered ones).
  static std::string NameOf(int i);

 private:
  struct State;
  std::vector<State> states_;
  uint64_t rng_;
};

/// Runs the fleet until `stop` is set or simulated_seconds pass. `on_progress` (optional) is
/// called about once a second with the running totals.
/// Errors: InvalidArgument for an endpoint that is not an http:// URL (without a custom
/// transport); Unavailable when the endpoint can't be reached at all; records refused by the server
/// are counted in records_failed, not returned as errors.
Status RunProducer(const ProducerOptions& options, const std::atomic<bool>& stop, ProducerStats* stats,
                   const std::function<void(const ProducerStats&)>& on_progress = {});

}  // namespace sluice::wildrydes
