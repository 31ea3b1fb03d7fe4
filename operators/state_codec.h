// Binary encoding of operator state for checkpoints: values, rows and aggregate accumulators.
//
// Layout (little-endian, no padding; documented in docs/formats/checkpoint.md):
//   varint    LEB128 unsigned (u64); signed integers are zig-zag encoded first
//   f64       8 bytes, IEEE 754 bit pattern
//   bytes     varint length, then the bytes
//   Value     u8 DataType, then: BOOLEAN u8; BIGINT zig-zag varint; FLOAT8 f64; TEXT bytes;
//             TIMESTAMPTZ zig-zag varint microseconds; NULL nothing
//   Row       varint count, then each Value
//   Accumulator  u8 presence flags (bit 0 value, 1 distinct, 2 hll, 3 sketch, 4 overflow,
//             5 isum, 6 dsum and m2, 7 order_time and order_seq), zig-zag count, then only the
//             flagged parts: isum (zig-zag); dsum, m2 (f64); order_time (zig-zag), order_seq
//             (varint); Value; distinct set (varint n, n × bytes); HyperLogLog
//             (HyperLogLog::AppendTo); DDSketch (DDSketch::AppendTo). count(*) takes 2–4 bytes.
// Readers treat the bytes as untrusted (a checkpoint may be corrupt): every read checks bounds
// and returns false instead of reading past the end.
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/value.h"
#include "operators/aggregate_function.h"

namespace sluice::ops {

/// Appends encodings to a string.
class StateWriter {
 public:
  explicit StateWriter(std::string* out) : out_(out) {}
  void PutVarint(uint64_t v);
  void PutSigned(int64_t v) { PutVarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void PutDouble(double d);
  void PutBytes(std::string_view b);
  void PutU8(uint8_t b) { out_->push_back(static_cast<char>(b)); }
  void PutValue(const Value& v);
  void PutRow(const Row& r);
  void PutAccumulator(const Accumulator& acc);

 private:
  std::string* out_;
};

/// Reads encodings back from a byte range it does not own. Each Get returns false, leaving the
/// output unspecified, when the input is truncated or malformed.
class StateReader {
 public:
  explicit StateReader(std::string_view in) : in_(in) {}
  bool GetVarint(uint64_t* v);
  bool GetSigned(int64_t* v);
  bool GetDouble(double* d);
  bool GetBytes(std::string_view* b);
  bool GetU8(uint8_t* b);
  bool GetValue(Value* v);
  bool GetRow(Row* r);
  bool GetAccumulator(Accumulator* acc);
  /// True when every byte was consumed.
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

/// The scalars every window operator checkpoints in full: its watermark and its arrival
/// sequence (first_value/last_value tie-breaks). Get returns false on malformed input.
inline void PutOperatorScalars(StateWriter* w, EventTime watermark, uint64_t seq) {
  w->PutSigned(watermark.micros);
  w->PutVarint(seq);
}
inline bool GetOperatorScalars(StateReader* r, EventTime* watermark, uint64_t* seq) {
  int64_t wm;
  if (!r->GetSigned(&wm) || !r->GetVarint(seq)) return false;
  *watermark = EventTime{wm};
  return true;
}

/// Appends `v` as 8 big-endian bytes with the sign bit flipped, so that encoded keys sort in the
/// numeric order of v (RocksDB compares keys bytewise).
void PutOrderedInt64(int64_t v, std::string* out);
/// Reads what PutOrderedInt64 wrote. REQUIRES: in.size() >= 8.
int64_t GetOrderedInt64(std::string_view in);

}  // namespace sluice::ops
