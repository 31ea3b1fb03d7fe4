// Renders a MetricsRegistry in the Prometheus text exposition format (version 0.0.4) through
// prometheus-cpp's TextSerializer, followed by the standard process metrics. The only place
// prometheus-cpp headers are included.
// Thread-safety: thread-safe (reads atomics; the registry locks its family list).
#pragma once

#include <string>

#include "core/metrics.h"

namespace sluice::app {

/// The whole registry as Prometheus text, for GET /metrics, then the process collector's
/// families as the Prometheus client libraries name them (prometheus-cpp has none of its own):
/// process_cpu_seconds_total (user plus system CPU), process_resident_memory_bytes,
/// process_virtual_memory_bytes, process_open_fds, process_max_fds and
/// process_start_time_seconds (Unix seconds), read from /proc/self at call time. A figure that
/// cannot be read (no /proc) is left out rather than reported as 0.
/// Source: Prometheus "Writing client libraries", Process metrics.
std::string RenderPrometheus(const MetricsRegistry& registry);

}  // namespace sluice::app
