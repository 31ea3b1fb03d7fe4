#include "ingest/log/commit_pool.h"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace sluice::log;

TEST_CASE("commit pool runs every index once per round, in parallel, round after round") {
  CommitPool pool(3);
  for (int round = 0; round < 500; ++round) {
    size_t n = 1 + static_cast<size_t>(round % 9);
    std::vector<std::atomic<int>> hits(n);
    pool.ParallelFor(n, [&](size_t i) { hits[i].fetch_add(1); });
    for (auto& h : hits) REQUIRE(h.load() == 1);
  }
  // Parallelism, without timing: two tasks wait for each other inside fn, which only works when
  // they run at the same time (a sequential pool would give up after 10 s and fail).
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0;
  bool met = true;
  pool.ParallelFor(2, [&](size_t) {
    std::unique_lock lock(mu);
    ++inside;
    cv.notify_all();
    if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return inside == 2; })) met = false;
  });
  CHECK(met);
  CommitPool inline_pool(0);
  int sum = 0;
  inline_pool.ParallelFor(5, [&](size_t i) { sum += static_cast<int>(i); });
  CHECK(sum == 10);
}
