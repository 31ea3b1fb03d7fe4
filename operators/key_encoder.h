// Key encoding: an unambiguous binary encoding of SQL values, used as hash-map keys for GROUP BY
// groups and as the identity of values in count(DISTINCT) and approx_count_distinct.
//
// Layout per value: one type byte (DataType), then BOOLEAN 1 byte; BIGINT, FLOAT8 and
// TIMESTAMPTZ 8 bytes in host order; TEXT a 4-byte host-order length and the bytes. The encoding
// is process-local (never stored or sent), so host byte order is fine.
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/value.h"

namespace sluice::ops {

/// Appends the encoding of `v` to `out`.
void EncodeValue(const Value& v, std::string* out);

/// Appends the encodings of `values`, in order, to `out`.
void EncodeKey(const Row& values, std::string* out);

/// The first 16 bytes of an encoded key as two big-endian integers, zero-padded: comparing heads
/// orders keys as comparing their bytes does (unsigned, as std::string and RocksDB compare),
/// except on a tie, which needs the whole keys. Sorting many keys on inline heads avoids a cache
/// miss per comparison (checkpoints write their batches in key order). Thread-safe.
struct KeyHead {
  uint64_t h0 = 0, h1 = 0;
  static KeyHead Of(std::string_view key) {
    unsigned char b[16] = {};
    std::memcpy(b, key.data(), key.size() < 16 ? key.size() : 16);
    KeyHead h;
    for (int i = 0; i < 8; ++i) {
      h.h0 = h.h0 << 8 | b[i];
      h.h1 = h.h1 << 8 | b[8 + i];
    }
    return h;
  }
  /// -1, 0 or 1 as this head orders before, ties with or after `o`.
  int Compare(const KeyHead& o) const {
    if (h0 != o.h0) return h0 < o.h0 ? -1 : 1;
    if (h1 != o.h1) return h1 < o.h1 ? -1 : 1;
    return 0;
  }
};

}  // namespace sluice::ops
