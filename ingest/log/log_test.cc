#include "ingest/log/log.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

using namespace sluice;
using namespace sluice::log;

TEST_CASE("streams: create, route by MD5, group-committed puts, reopen") {
  char tmpl[] = "/tmp/sluice-streams-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  {
    auto log = Log::Open({dir, {}});
    REQUIRE(log.ok());
    CHECK((*log)->CreateStream("bad/name", 1).code() == StatusCode::kInvalidArgument);
    CHECK((*log)->CreateStream("s", 0).code() == StatusCode::kInvalidArgument);
    REQUIRE((*log)->CreateStream("telemetry", 4).ok());
    CHECK((*log)->CreateStream("telemetry", 4).code() == StatusCode::kAlreadyExists);

    // Concurrent writers; every callback must see its records durable.
    std::atomic<int> acked{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; i < 50; ++i) {
          std::string k1 = "Shadowfax", k2 = "Rocinante", d = "w" + std::to_string(w) + "-" + std::to_string(i);
          PutEntry e[2] = {{k1, d, {}}, {k2, d, {}}};
          std::vector<PutResult> res;
          std::promise<Status> p;
          auto s = (*log)->Put("telemetry", e, &res, [&](Status st) { p.set_value(st); });
          REQUIRE(s.ok());
          REQUIRE(p.get_future().get().ok());
          CHECK(res[0].shard == 1);  // MD5("Shadowfax") lies in shard 1 of 4.
          CHECK(res[1].shard == 3);
          auto stream = (*log)->GetStream("telemetry");
          CHECK((*stream)->shard(res[0].shard).durable_end() > res[0].sequence);
          acked += 2;
        }
      });
    }
    for (auto& t : writers) t.join();
    CHECK(acked == 400);
    std::vector<PutResult> res;
    PutEntry e{"x", "y", {}};
    CHECK((*log)->Put("nope", {&e, 1}, &res, nullptr).code() == StatusCode::kNotFound);
  }
  auto log = Log::Open({dir, {}});
  REQUIRE(log.ok());
  CHECK((*log)->ListStreams() == std::vector<std::string>{"telemetry"});
  auto s = (*log)->GetStream("telemetry");
  REQUIRE(s.ok());
  CHECK((*s)->shard(1).durable_end() == 201);
  CHECK((*s)->shard(3).durable_end() == 201);
  CHECK((*s)->shard(0).durable_end() == 1);
  std::filesystem::remove_all(dir);
}
