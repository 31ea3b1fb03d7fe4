#include "ingest/log/write_throttle.h"

#include <algorithm>

namespace sluice::log {

WriteThrottle::WriteThrottle(uint64_t records_per_second, uint64_t bytes_per_second)
    : records_rate_(static_cast<double>(records_per_second)), bytes_rate_(static_cast<double>(bytes_per_second)) {}

void WriteThrottle::Refill(int64_t now_us) {
  if (last_us_ < 0) {  // Start full: one second's worth.
    records_ = records_rate_;
    bytes_ = bytes_rate_;
  } else if (now_us > last_us_) {
    double secs = static_cast<double>(now_us - last_us_) / 1e6;
    records_ = std::min(records_rate_, records_ + secs * records_rate_);
    bytes_ = std::min(bytes_rate_, bytes_ + secs * bytes_rate_);
  }
  last_us_ = std::max(last_us_, now_us);
}

bool WriteThrottle::TryTake(uint64_t bytes, int64_t now_us) {
  if (unlimited()) return true;
  std::lock_guard lock(mu_);
  Refill(now_us);
  const double b = static_cast<double>(bytes);
  if (records_rate_ > 0 && records_ < 1) return false;
  if (bytes_rate_ > 0 && bytes_ < b) return false;
  if (records_rate_ > 0) records_ -= 1;
  if (bytes_rate_ > 0) bytes_ -= b;
  return true;
}

}  // namespace sluice::log
