#include "core/crc32c.h"

#include <doctest/doctest.h>

#include <string>

using namespace sluice;

TEST_CASE("crc32c known vectors (RFC 3720 B.4)") {
  CHECK(crc32c::Value("123456789", 9) == 0xE3069283u);
  std::string zeros(32, '\0');
  CHECK(crc32c::Value(zeros.data(), zeros.size()) == 0x8A9136AAu);
  std::string ones(32, '\xff');
  CHECK(crc32c::Value(ones.data(), ones.size()) == 0x62A8AB43u);
}

TEST_CASE("crc32c extend equals one pass, any split") {
  std::string s;
  for (int i = 0; i < 1000; ++i) s.push_back(static_cast<char>(i * 7 + 3));
  uint32_t whole = crc32c::Value(s.data(), s.size());
  for (size_t cut : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    uint32_t a = crc32c::Extend(0, s.data(), cut);
    CHECK(crc32c::Extend(a, s.data() + cut, s.size() - cut) == whole);
  }
  s[500] ^= 1;
  CHECK(crc32c::Value(s.data(), s.size()) != whole);
}
