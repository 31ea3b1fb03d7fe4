// Renders a MetricsRegistry in the Prometheus text exposition format (version 0.0.4) through
// prometheus-cpp's TextSerializer. The only place prometheus-cpp headers are included.
// Thread-safety: thread-safe (reads atomics; the registry locks its family list).
#pragma once

#include <string>

#include "core/metrics.h"

namespace sluice::app {

/// The whole registry as Prometheus text, for GET /metrics.
std::string RenderPrometheus(const MetricsRegistry& registry);

}  // namespace sluice::app
