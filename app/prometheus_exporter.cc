#include "app/prometheus_exporter.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>

namespace sluice::app {

std::string RenderPrometheus(const MetricsRegistry& registry) {
  std::vector<prometheus::MetricFamily> families;
  registry.ForEach([&](const std::string& name, const std::string& help, MetricsRegistry::Type type,
                       const std::vector<MetricsRegistry::Series>& series) {
    prometheus::MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type == MetricsRegistry::Type::kCounter ? prometheus::MetricType::Counter
             : type == MetricsRegistry::Type::kGauge ? prometheus::MetricType::Gauge
                                                     : prometheus::MetricType::Histogram;
    for (const auto& s : series) {
      prometheus::ClientMetric m;
      for (const auto& [k, v] : s.labels) m.label.push_back({k, v});
      if (s.counter) m.counter.value = static_cast<double>(s.counter->value());
      if (s.gauge) m.gauge.value = s.gauge->value();
      if (s.histogram) {
        auto counts = s.histogram->BucketCounts();
        uint64_t cum = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          cum += counts[i];
          double ub = i < s.histogram->bounds().size() ? s.histogram->bounds()[i]
                                                       : std::numeric_limits<double>::infinity();
          m.histogram.bucket.push_back({cum, ub});
        }
        m.histogram.sample_count = cum;
        m.histogram.sample_sum = s.histogram->sum();
      }
      f.metric.push_back(std::move(m));
    }
    families.push_back(std::move(f));
  });
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace sluice::app
