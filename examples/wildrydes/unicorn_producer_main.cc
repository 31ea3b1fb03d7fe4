// unicorn-producer: the Wild Rydes fleet as a standalone program, for any Kinesis endpoint
// (Sluice, kinesalite, or AWS through a local proxy).
//   unicorn-producer [--endpoint URL] [--stream NAME] [--unicorns N] [--speedup X]
//                    [--out-of-order F] [--late F] [--seconds S] [--seed N] [--http2]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "examples/wildrydes/producer.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  sluice::wildrydes::ProducerOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "unicorn-producer: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--endpoint") o.endpoint = next();
    else if (a == "--stream") o.stream = next();
    else if (a == "--unicorns") o.unicorns = std::atoi(next().c_str());
    else if (a == "--speedup") o.speedup = std::atof(next().c_str());
    else if (a == "--out-of-order") o.out_of_order = std::atof(next().c_str());
    else if (a == "--late") o.late = std::atof(next().c_str());
    else if (a == "--seconds") o.simulated_seconds = std::atoll(next().c_str());
    else if (a == "--seed") o.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--http2") o.http2 = true;
    else {
      std::fprintf(stderr, "usage: unicorn-producer [--endpoint URL] [--stream NAME] [--unicorns N] [--speedup X]\n"
                           "         [--out-of-order F] [--late F] [--seconds S] [--seed N] [--http2]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (o.unicorns < 1 || o.speedup <= 0) {
    std::fprintf(stderr, "unicorn-producer: --unicorns and --speedup must be positive\n");
    return 2;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  sluice::wildrydes::ProducerStats stats;
  auto st = sluice::wildrydes::RunProducer(o, g_stop, &stats, [](const auto& s) {
    std::fprintf(stderr, "sent %llu acked %llu failed %llu (%.0f records/s)\n",
                 static_cast<unsigned long long>(s.records_sent), static_cast<unsigned long long>(s.records_acked),
                 static_cast<unsigned long long>(s.records_failed), s.records_acked / std::max(s.wall_seconds, 1e-9));
  });
  std::printf("records_sent=%llu records_acked=%llu records_failed=%llu wall_seconds=%.2f records_per_second=%.0f\n",
              static_cast<unsigned long long>(stats.records_sent), static_cast<unsigned long long>(stats.records_acked),
              static_cast<unsigned long long>(stats.records_failed), stats.wall_seconds,
              stats.records_acked / std::max(stats.wall_seconds, 1e-9));
  if (!st.ok()) {
    std::fprintf(stderr, "unicorn-producer: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}
