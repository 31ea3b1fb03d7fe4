#include "operators/state_codec.h"

#include <cstring>

namespace sluice::ops {

void StateWriter::PutVarint(uint64_t v) {
  // Encoded on the stack and appended once: a checkpoint writes millions of these, and a
  // push_back per byte checks the capacity and moves the terminator each time.
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out_->append(buf, n);
}

void StateWriter::PutDouble(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(bits >> (8 * i));
  out_->append(buf, 8);
}

void StateWriter::PutBytes(std::string_view b) {
  PutVarint(b.size());
  out_->append(b);
}

void StateWriter::PutValue(const Value& v) {
  PutU8(static_cast<uint8_t>(v.type()));
  switch (v.type()) {
    case DataType::kNull: break;
    case DataType::kBool: PutU8(v.as_bool() ? 1 : 0); break;
    case DataType::kInt64: PutSigned(v.as_int()); break;
    case DataType::kFloat64: PutDouble(v.as_float()); break;
    case DataType::kText: PutBytes(v.as_text()); break;
    case DataType::kTimestamp: PutSigned(v.as_time().micros); break;
  }
}

void StateWriter::PutRow(const Row& r) {
  PutVarint(r.size());
  for (const Value& v : r) PutValue(v);
}

void StateWriter::PutAccumulator(const Accumulator& acc) {
  // Only the fields in use are written (most aggregates use one or two), flagged in the first byte.
  uint8_t flags = 0;
  if (!acc.value.is_null()) flags |= 1;
  if (acc.distinct) flags |= 2;
  if (acc.hll) flags |= 4;
  if (acc.sketch) flags |= 8;
  if (acc.overflow) flags |= 16;
  if (acc.isum != 0) flags |= 32;
  if (acc.dsum != 0 || acc.m2 != 0) flags |= 64;
  if (acc.order_time != 0 || acc.order_seq != 0) flags |= 128;
  PutU8(flags);
  PutSigned(acc.count);
  if (flags & 32) PutSigned(acc.isum);
  if (flags & 64) {
    PutDouble(acc.dsum);
    PutDouble(acc.m2);
  }
  if (flags & 128) {
    PutSigned(acc.order_time);
    PutVarint(acc.order_seq);
  }
  if (flags & 1) PutValue(acc.value);
  if (flags & 2) {
    PutVarint(acc.distinct->size());
    for (const std::string& s : *acc.distinct) PutBytes(s);
  }
  if (flags & 4) acc.hll->AppendTo(out_);
  if (flags & 8) acc.sketch->AppendTo(out_);
}

bool StateReader::GetVarint(uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63; shift += 7) {
    if (pos_ >= in_.size()) return false;
    const uint8_t b = static_cast<uint8_t>(in_[pos_++]);
    result |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool StateReader::GetSigned(int64_t* v) {
  uint64_t u;
  if (!GetVarint(&u)) return false;
  *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

bool StateReader::GetDouble(double* d) {
  if (in_.size() - pos_ < 8) return false;
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
  pos_ += 8;
  std::memcpy(d, &bits, 8);
  return true;
}

bool StateReader::GetBytes(std::string_view* b) {
  uint64_t n;
  if (!GetVarint(&n) || n > in_.size() - pos_) return false;
  *b = in_.substr(pos_, n);
  pos_ += n;
  return true;
}

bool StateReader::GetU8(uint8_t* b) {
  if (pos_ >= in_.size()) return false;
  *b = static_cast<uint8_t>(in_[pos_++]);
  return true;
}

bool StateReader::GetValue(Value* v) {
  uint8_t t;
  if (!GetU8(&t)) return false;
  switch (static_cast<DataType>(t)) {
    case DataType::kNull: *v = Value::Null(); return true;
    case DataType::kBool: {
      uint8_t b;
      if (!GetU8(&b) || b > 1) return false;
      *v = Value::Bool(b == 1);
      return true;
    }
    case DataType::kInt64: {
      int64_t i;
      if (!GetSigned(&i)) return false;
      *v = Value::Int(i);
      return true;
    }
    case DataType::kFloat64: {
      double d;
      if (!GetDouble(&d)) return false;
      *v = Value::Float(d);
      return true;
    }
    case DataType::kText: {
      std::string_view s;
      if (!GetBytes(&s)) return false;
      *v = Value::Text(std::string(s));
      return true;
    }
    case DataType::kTimestamp: {
      int64_t m;
      if (!GetSigned(&m)) return false;
      *v = Value::Time(EventTime{m});
      return true;
    }
  }
  return false;
}

bool StateReader::GetRow(Row* r) {
  uint64_t n;
  if (!GetVarint(&n) || n > in_.size() - pos_) return false;  // each value takes >= 1 byte
  r->resize(n);
  for (Value& v : *r) {
    if (!GetValue(&v)) return false;
  }
  return true;
}

bool StateReader::GetAccumulator(Accumulator* acc) {
  uint8_t flags;
  int64_t count, isum = 0, order_time = 0;
  uint64_t order_seq = 0;
  double dsum = 0, m2 = 0;
  if (!GetU8(&flags) || !GetSigned(&count)) return false;
  if ((flags & 32) && !GetSigned(&isum)) return false;
  if ((flags & 64) && (!GetDouble(&dsum) || !GetDouble(&m2))) return false;
  if ((flags & 128) && (!GetSigned(&order_time) || !GetVarint(&order_seq))) return false;
  acc->count = count;
  acc->isum = isum;
  acc->dsum = dsum;
  acc->m2 = m2;
  acc->order_time = order_time;
  acc->order_seq = order_seq;
  acc->overflow = (flags & 16) != 0;
  acc->value = Value::Null();
  if ((flags & 1) && !GetValue(&acc->value)) return false;
  acc->distinct.reset();
  acc->hll.reset();
  acc->sketch.reset();
  if (flags & 2) {
    uint64_t n;
    if (!GetVarint(&n) || n > in_.size() - pos_) return false;
    acc->distinct = std::make_unique<std::unordered_set<std::string>>();
    acc->distinct->reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      std::string_view s;
      if (!GetBytes(&s)) return false;
      acc->distinct->emplace(s);
    }
  }
  std::string_view rest = in_.substr(pos_);
  if (flags & 4) {
    acc->hll = std::make_unique<HyperLogLog>();
    if (!acc->hll->ParseFrom(&rest)) return false;
  }
  if (flags & 8) {
    acc->sketch = std::make_unique<DDSketch>();
    if (!acc->sketch->ParseFrom(&rest)) return false;
  }
  pos_ = in_.size() - rest.size();
  return true;
}

void PutOrderedInt64(int64_t v, std::string* out) {
  const uint64_t u = static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(u >> (8 * i)));
}

int64_t GetOrderedInt64(std::string_view in) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(in[static_cast<size_t>(i)]);
  return static_cast<int64_t>(u ^ (uint64_t{1} << 63));
}

}  // namespace sluice::ops
