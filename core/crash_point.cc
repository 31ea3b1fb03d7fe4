#include "core/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sluice {
namespace {

struct Config {
  std::string name;
  long target = 0;
  std::atomic<long> hits{0};
  Config() {
    const char* env = std::getenv("SLUICE_CRASH_POINT");
    if (env == nullptr) return;
    std::string spec(env);
    const size_t colon = spec.rfind(':');
    name = spec.substr(0, colon);
    target = colon == std::string::npos ? 1 : std::strtol(spec.c_str() + colon + 1, nullptr, 10);
  }
};

Config& Get() {
  static Config config;
  return config;
}

}  // namespace

void CrashPoint(const char* name) {
  Config& c = Get();
  if (c.name.empty() || c.name != name) return;
  if (c.hits.fetch_add(1) + 1 != c.target) return;
  std::fprintf(stderr, "sluice: crash point %s reached (hit %ld): SIGKILL\n", name, c.target);
  ::kill(::getpid(), SIGKILL);
}

}  // namespace sluice
