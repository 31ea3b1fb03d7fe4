// `sluice demo`: the Wild Rydes pipeline end to end in one process. Starts a Server with
// examples/wildrydes/pipeline.sql (embedded at build time), runs the unicorn fleet producer
// against its Kinesis endpoint, and prints each per-minute row as it lands in the KV table, plus
// where to look (metrics URL, a curl line for the table, the archive folder).
#pragma once

#include <atomic>
#include <string>

#include "examples/wildrydes/producer.h"

namespace sluice::app {

struct DemoOptions {
  std::string data_dir = "data/demo";
  std::string host = "127.0.0.1";
  uint16_t port = 4567;
  /// Worker threads of the server's engine (ServerOptions::workers); 0 = one per core.
  /// Default: 0 (`sluice demo` passes the number of cores, or --workers).
  int workers = 0;
  /// The unicorn fleet: count, speed-up, out-of-order, late and malformed shares. Its endpoint
  /// is filled in by RunDemo from host and port.
  wildrydes::ProducerOptions fleet;
  /// Wall seconds to run; 0 = until Ctrl-C.
  double duration_s = 0;
  /// Keep the server up after the producer stops (with --duration), until Ctrl-C.
  bool linger = false;
};

/// Runs the demo until `stop` or the duration. Returns the process exit code.
int RunDemo(const DemoOptions& options, const std::atomic<bool>& stop);

}  // namespace sluice::app
