// Key encoding: an unambiguous binary encoding of SQL values, used as hash-map keys for GROUP BY
// groups and as the identity of values in count(DISTINCT) and approx_count_distinct.
//
// Layout per value: one type byte (DataType), then BOOLEAN 1 byte; BIGINT, FLOAT8 and
// TIMESTAMPTZ 8 bytes in host order; TEXT a 4-byte host-order length and the bytes. The encoding
// is process-local (never stored or sent), so host byte order is fine.
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <string>

#include "core/value.h"

namespace sluice::ops {

/// Appends the encoding of `v` to `out`.
void EncodeValue(const Value& v, std::string* out);

/// Appends the encodings of `values`, in order, to `out`.
void EncodeKey(const Row& values, std::string* out);

}  // namespace sluice::ops
