#include "app/prometheus_exporter.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

namespace sluice::app {
namespace {

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type, double v) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) m.counter.value = v;
  else m.gauge.value = v;
  f.metric.push_back(std::move(m));
  return f;
}

// The process collector of the Prometheus client libraries, from /proc/self (Linux).
void AppendProcessFamilies(std::vector<prometheus::MetricFamily>* out) {
  using prometheus::MetricType;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces: field 3 on.
  const size_t close = stat.rfind(')');
  if (close != std::string::npos && ticks > 0) {
    std::istringstream in(stat.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; in >> x;) f.push_back(x);
    // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24 (1-based; f[0] is field 3).
    if (f.size() > 21) {
      const double utime = std::stod(f[11]), stime = std::stod(f[12]), start = std::stod(f[19]);
      out->push_back(Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                            MetricType::Counter, (utime + stime) / ticks));
      out->push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
                            std::stod(f[20])));
      out->push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
                            std::stod(f[21]) * page));
      std::ifstream sys("/proc/stat");
      for (std::string line; std::getline(sys, line);) {
        if (line.rfind("btime ", 0) == 0) {
          out->push_back(Family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                                MetricType::Gauge, std::stod(line.substr(6)) + start / ticks));
          break;
        }
      }
    }
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    double n = 0;
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
    out->push_back(Family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, n - 1));  // minus the DIR's own
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    out->push_back(Family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
                          static_cast<double>(lim.rlim_cur)));
  }
}

}  // namespace

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
  try {
    AppendProcessFamilies(&families);
  } catch (const std::exception&) {  // std::stod on an unexpected /proc line: leave them out
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace sluice::app
