// KafkaSource against librdkafka's in-process mock cluster (rdkafka_mock.h) on 127.0.0.1.
#include "ingest/kafka/kafka_source.h"

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <thread>

#include "tests/kafka_mock.h"

using namespace sluice;
using namespace sluice::ingest;
using sluice::testing::MockKafka;

namespace {

KafkaSourceOptions Options(const MockKafka& k, const std::string& topic) {
  KafkaSourceOptions o;
  o.bootstrap_servers = k.bootstraps();
  o.topic = topic;
  o.metadata_timeout = std::chrono::milliseconds(5000);
  return o;
}

// Reads `split` until `n` records arrived (or 10 s pass), copying them.
struct Copy {
  uint64_t position;
  std::string key, data;
  int64_t arrival_ms;
};
std::vector<Copy> ReadN(SourceSplit* split, size_t n, size_t batch = 64) {
  std::vector<Copy> got;
  std::vector<SourceRecord> recs;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    Status st = split->Read(batch, &recs);
    REQUIRE(st.ok());
    for (const auto& r : recs) got.push_back({r.position, std::string(r.key), std::string(r.data), r.arrival_ms});
    if (recs.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return got;
}

}  // namespace

TEST_CASE("KafkaSource: Open reports unreachable brokers and bad settings") {
  MockKafka k;
  // (A missing topic, NotFound, cannot be shown here: the mock cluster creates every topic a
  // metadata request names, whatever allow.auto.create.topics says.)
  KafkaSourceOptions down;
  down.bootstrap_servers = "127.0.0.1:1";
  down.topic = "t";
  down.metadata_timeout = std::chrono::milliseconds(1000);
  auto unreachable = KafkaSource::Open(down);
  REQUIRE_FALSE(unreachable.ok());
  CHECK(unreachable.status().code() == StatusCode::kUnavailable);

  KafkaSourceOptions no_topic = Options(k, "");
  CHECK(KafkaSource::Open(no_topic).status().code() == StatusCode::kInvalidArgument);
  KafkaSourceOptions bad_setting = Options(k, "t");
  bad_setting.properties["no.such.setting"] = "1";
  auto bad = KafkaSource::Open(bad_setting);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("no.such.setting") != std::string::npos);
}

TEST_CASE("KafkaSource: one split per partition, every record once in offset order, seek, group commit") {
  MockKafka k;
  k.CreateTopic("rides", 3);
  const int kPerPartition = 250;
  for (int i = 0; i < kPerPartition; ++i) {
    for (int p = 0; p < 3; ++p) k.Produce("rides", p, "key-" + std::to_string(p), "{\"p\":" + std::to_string(p) + ",\"i\":" + std::to_string(i) + "}");
  }
  k.Flush();
  auto src = KafkaSource::Open(Options(k, "rides"));
  REQUIRE(src.ok());
  CHECK((*src)->partitions() == 3);

  SUBCASE("reads everything from the earliest offset") {
    auto splits = (*src)->OpenSplits();
    REQUIRE(splits.size() == 3);
    for (int p = 0; p < 3; ++p) {
      CHECK(splits[p]->id() == "rides-" + std::to_string(p));
      auto got = ReadN(splits[p].get(), kPerPartition);
      REQUIRE(got.size() == static_cast<size_t>(kPerPartition));
      for (int i = 0; i < kPerPartition; ++i) {
        CHECK(got[i].position == static_cast<uint64_t>(i) + 1);  // offset i
        CHECK(got[i].key == "key-" + std::to_string(p));
        CHECK(got[i].data == "{\"p\":" + std::to_string(p) + ",\"i\":" + std::to_string(i) + "}");
        CHECK(got[i].arrival_ms > 1700000000000);
      }
      std::vector<SourceRecord> none;
      REQUIRE(splits[p]->Read(64, &none).ok());
      CHECK(none.empty());
    }
  }

  SUBCASE("seek before and after the first read") {
    auto splits = (*src)->OpenSplits();
    REQUIRE(splits[1]->Seek(101).ok());  // before assignment: offset 100
    auto got = ReadN(splits[1].get(), 10, 10);
    REQUIRE(got.size() == 10);
    CHECK(got.front().position == 101);
    CHECK(got.back().position == 110);
    // Consumer lag: 250 records, the next offset to read is 110.
    CHECK(splits[1]->lag().records == kPerPartition - 110);
    CHECK(splits[1]->lag().behind_ms == -1);  // Kinesis' MillisBehindLatest only
    REQUIRE(splits[1]->Seek(31).ok());  // after: purges what was prefetched
    got = ReadN(splits[1].get(), 5, 5);
    REQUIRE(got.size() == 5);
    CHECK(got.front().position == 31);
    // The other partitions still start at the earliest offset.
    auto first = ReadN(splits[2].get(), 1, 1);
    REQUIRE(first.size() == 1);
    CHECK(first[0].position == 1);
  }

  SUBCASE("a committed checkpoint's positions reach the consumer group") {
    auto splits = (*src)->OpenSplits();
    auto got = ReadN(splits[0].get(), 40, 40);
    REQUIRE(got.size() == 40);
    CHECK(k.Committed("sluice-rides", "rides", 0) < 0);  // nothing committed yet
    splits[0]->OnCheckpointCommitted(got.back().position + 1);
    int64_t committed = -1;
    for (int i = 0; i < 100 && committed != 40; ++i) {
      std::vector<SourceRecord> recs;
      REQUIRE(splits[0]->Read(1, &recs).ok());  // serves the consumer's events
      committed = k.Committed("sluice-rides", "rides", 0);
      if (committed != 40) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(committed == 40);  // Kafka's "next offset to read"
  }
}

TEST_CASE("KafkaSource: WaitForData wakes when a partition gets data") {
  MockKafka k;
  k.CreateTopic("t", 2);
  auto src = KafkaSource::Open(Options(k, "t"));
  REQUIRE(src.ok());
  auto splits = (*src)->OpenSplits();
  std::vector<SourceRecord> recs;
  REQUIRE(splits[1]->Read(16, &recs).ok());  // assigns the partitions
  CHECK(recs.empty());
  uint64_t token = (*src)->WaitForData(0, std::chrono::milliseconds(0));
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    k.Produce("t", 1, "k", "v");
    k.Flush();
  });
  std::vector<Copy> got;
  for (int i = 0; i < 50 && got.empty(); ++i) {
    token = (*src)->WaitForData(token, std::chrono::milliseconds(200));
    got = ReadN(splits[1].get(), 0);
    REQUIRE(splits[1]->Read(16, &recs).ok());
    for (const auto& r : recs) got.push_back({r.position, std::string(r.key), std::string(r.data), r.arrival_ms});
  }
  producer.join();
  REQUIRE(got.size() == 1);
  CHECK(got[0].data == "v");
  CHECK(token > 0);  // the partition queue's event reached the notifier
}

TEST_CASE("KafkaSource: restarts that seek every partition lose nothing (assignment races)") {
  // A restored query opens a consumer and seeks each partition to its checkpoint before the
  // first read. Fetches that complete right after the assignment must still reach the split.
  MockKafka k;
  const int kPartitions = 64, kPer = 40;
  k.CreateTopic("many", kPartitions);
  for (int i = 0; i < kPer; ++i) {
    for (int p = 0; p < kPartitions; ++p) k.Produce("many", p, "k", std::to_string(p) + ":" + std::to_string(i));
  }
  k.Flush();
  auto src = KafkaSource::Open(Options(k, "many"));
  REQUIRE(src.ok());
  for (int round = 0; round < 12; ++round) {
    CAPTURE(round);
    auto splits = (*src)->OpenSplits();
    REQUIRE(splits.size() == static_cast<size_t>(kPartitions));
    const uint64_t from = 1 + static_cast<uint64_t>(round * 3);  // offset round * 3
    for (auto& s : splits) REQUIRE(s->Seek(from).ok());
    for (int p = 0; p < kPartitions; ++p) {
      auto got = ReadN(splits[p].get(), kPer - (from - 1), 7);
      REQUIRE(got.size() == kPer - (from - 1));
      for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].position == from + i);
        CHECK(got[i].data == std::to_string(p) + ":" + std::to_string(from - 1 + i));
      }
    }
  }
}

TEST_CASE("KafkaSource: two sources splitting a topic's partitions read each record once") {
  MockKafka k;
  k.CreateTopic("split", 4);
  for (int i = 0; i < 30; ++i) {
    for (int p = 0; p < 4; ++p) k.Produce("split", p, "k", std::to_string(p) + ":" + std::to_string(i));
  }
  k.Flush();
  KafkaSourceOptions a = Options(k, "split"), b = Options(k, "split");
  a.partitions = {2, 0};
  b.partitions = {3, 1};
  auto sa = KafkaSource::Open(a), sb = KafkaSource::Open(b);
  REQUIRE(sa.ok());
  REQUIRE(sb.ok());
  CHECK((*sa)->read_partitions() == std::vector<int>{0, 2});
  std::map<std::string, int> seen;
  for (auto* src : {sa->get(), sb->get()}) {
    auto splits = src->OpenSplits();
    REQUIRE(splits.size() == 2);
    for (auto& s : splits) {
      REQUIRE(s->Seek(1).ok());
      for (const Copy& c : ReadN(s.get(), 30, 8)) ++seen[s->id() + "/" + c.data];
    }
  }
  CHECK(seen.size() == 120);
  for (const auto& [key, n] : seen) {
    CAPTURE(key);
    CHECK(n == 1);
    // A split reads only its own partition.
    CHECK(key.substr(6, 1) == key.substr(8, 1));
  }
  KafkaSourceOptions bad = Options(k, "split");
  bad.partitions = {4};
  auto missing = KafkaSource::Open(bad);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kInvalidArgument);
  CHECK(missing.status().message().find("there is no partition 4") != std::string::npos);
  bad.partitions = {1, 1};
  CHECK(KafkaSource::Open(bad).status().code() == StatusCode::kInvalidArgument);
}
