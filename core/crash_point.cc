#include "core/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/logging.h"

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
  // Called from ordinary threads (never a signal handler), so the logger may be used; it writes
  // and flushes the line before returning.
  SLUICE_LOG_WARN("crash point reached: SIGKILL", {{"component", "crash_point"}, {"name", name}, {"hit", c.target}});
  ::kill(::getpid(), SIGKILL);
}

}  // namespace sluice
