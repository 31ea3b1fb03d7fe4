#include "ingest/http/kinesis_token_format.h"

#include <cstring>

#include "core/base64.h"
#include "core/crc32c.h"

namespace sluice::http {
namespace {

template <typename T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}

template <typename T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

std::string EncodeToken(const KinesisToken& t) {
  std::string raw;
  raw.reserve(kTokenFixedBytes + t.stream.size());
  raw.push_back(static_cast<char>(kTokenVersion));
  raw.push_back(static_cast<char>(t.kind));
  Put<uint16_t>(&raw, static_cast<uint16_t>(t.stream.size()));
  raw.append(t.stream);
  Put<int64_t>(&raw, t.stream_created_ms);
  Put<uint32_t>(&raw, t.shard);
  Put<uint64_t>(&raw, t.sequence);
  Put<int64_t>(&raw, t.issued_ms);
  Put<uint32_t>(&raw, crc32c::Value(raw.data(), raw.size()));
  std::string out;
  Base64Encode(raw, &out);
  return out;
}

Result<KinesisToken> DecodeToken(std::string_view text) {
  std::string raw;
  if (text.size() > 1024 || !Base64Decode(text, &raw)) return Status::InvalidArgument("not base64");
  if (raw.size() < kTokenFixedBytes + 1) return Status::InvalidArgument("too short");
  const char* p = raw.data();
  if (static_cast<uint8_t>(p[0]) != kTokenVersion) return Status::InvalidArgument("unknown version");
  const uint8_t kind = static_cast<uint8_t>(p[1]);
  if (kind < 1 || kind > 3) return Status::InvalidArgument("unknown kind");
  const size_t n = Get<uint16_t>(p + 2);
  if (n < 1 || n > 128 || raw.size() != kTokenFixedBytes + n) return Status::InvalidArgument("bad length");
  if (crc32c::Value(p, raw.size() - 4) != Get<uint32_t>(p + raw.size() - 4)) return Status::InvalidArgument("bad CRC");
  KinesisToken t;
  t.kind = static_cast<TokenKind>(kind);
  t.stream.assign(p + 4, n);
  p += 4 + n;
  t.stream_created_ms = Get<int64_t>(p);
  t.shard = Get<uint32_t>(p + 8);
  t.sequence = Get<uint64_t>(p + 12);
  t.issued_ms = Get<int64_t>(p + 20);
  return t;
}

}  // namespace sluice::http
