#include "runtime/checkpoint_record.h"

#include <doctest/doctest.h>

using namespace sluice;
using namespace sluice::runtime;

TEST_CASE("checkpoint record: round trip; any flipped bit or cut is Corruption") {
  CheckpointRecord r;
  r.id = 42;
  r.wall_ms = 1767225600123;
  r.fingerprint = "source s; TUMBLE(1 minute); GROUP BY k; aggregates count(*)";
  r.scalars = std::string("\x01\x02\x00\x7f", 4);
  r.splits = {{"shardId-000000000000", 1001, EventTime{5}}, {"shardId-000000000001", 7, EventTime::Min()}};
  const std::string bytes = EncodeCheckpointRecord(r);
  auto back = DecodeCheckpointRecord(bytes);
  REQUIRE(back.ok());
  CHECK(back->id == 42);
  CHECK(back->wall_ms == r.wall_ms);
  CHECK(back->fingerprint == r.fingerprint);
  CHECK(back->scalars == r.scalars);
  REQUIRE(back->splits.size() == 2);
  CHECK(back->splits[0].id == "shardId-000000000000");
  CHECK(back->splits[0].next_position == 1001);
  CHECK(back->splits[1].max_event_time == EventTime::Min());
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      CHECK(DecodeCheckpointRecord(bad).status().code() == StatusCode::kCorruption);
    }
    CHECK(DecodeCheckpointRecord(std::string_view(bytes).substr(0, i)).status().code() == StatusCode::kCorruption);
  }
}
