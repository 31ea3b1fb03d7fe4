#include "operators/key_encoder.h"

namespace sluice::ops {

void EncodeValue(const Value& v, std::string* out) {
  out->push_back(static_cast<char>(v.type()));
  switch (v.type()) {
    case DataType::kNull: break;
    case DataType::kBool: out->push_back(v.as_bool() ? 1 : 0); break;
    case DataType::kInt64: {
      int64_t i = v.as_int();
      out->append(reinterpret_cast<const char*>(&i), 8);
      break;
    }
    case DataType::kFloat64: {
      double d = v.as_float();
      if (d == 0) d = 0;  // -0.0 and 0.0 are one value
      out->append(reinterpret_cast<const char*>(&d), 8);
      break;
    }
    case DataType::kText: {
      uint32_t n = static_cast<uint32_t>(v.as_text().size());
      out->append(reinterpret_cast<const char*>(&n), 4);
      out->append(v.as_text());
      break;
    }
    case DataType::kTimestamp: {
      int64_t i = v.as_time().micros;
      out->append(reinterpret_cast<const char*>(&i), 8);
      break;
    }
  }
}

void EncodeKey(const Row& values, std::string* out) {
  for (const Value& v : values) EncodeValue(v, out);
}

}  // namespace sluice::ops
