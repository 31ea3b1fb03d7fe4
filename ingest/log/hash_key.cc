#include "ingest/log/hash_key.h"

#include <algorithm>

namespace sluice::log {

std::string HashKeyToString(HashKey k) {
  if (k == 0) return "0";
  std::string s;
  while (k > 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(k % 10)));
    k /= 10;
  }
  std::reverse(s.begin(), s.end());
  return s;
}

std::optional<HashKey> ParseHashKey(std::string_view s) {
  if (s.empty() || s.size() > 39) return std::nullopt;
  HashKey k = 0;
  const HashKey max = ~static_cast<HashKey>(0);
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    HashKey d = static_cast<HashKey>(c - '0');
    if (k > (max - d) / 10) return std::nullopt;
    k = k * 10 + d;
  }
  return k;
}

std::vector<HashKeyRange> EvenHashKeyRanges(int shard_count) {
  const HashKey max = ~static_cast<HashKey>(0);
  const HashKey n = static_cast<HashKey>(shard_count);
  // 2^128 = q * n + (r + 1) with q = max / n, r = max % n; so floor(i * 2^128 / n) =
  // q * i + floor((r + 1) * i / n).
  const HashKey q = max / n, r1 = max % n + 1;
  std::vector<HashKeyRange> out(static_cast<size_t>(shard_count));
  for (int i = 0; i < shard_count; ++i) {
    HashKey hi = static_cast<HashKey>(i);
    out[static_cast<size_t>(i)].start = q * hi + (r1 * hi) / n;
  }
  for (int i = 0; i + 1 < shard_count; ++i) out[static_cast<size_t>(i)].end = out[static_cast<size_t>(i) + 1].start - 1;
  out.back().end = max;
  return out;
}

int ShardForHashKey(const std::vector<HashKeyRange>& ranges, HashKey k) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), k,
                             [](HashKey key, const HashKeyRange& r) { return key < r.start; });
  return static_cast<int>(it - ranges.begin()) - 1;
}

}  // namespace sluice::log
