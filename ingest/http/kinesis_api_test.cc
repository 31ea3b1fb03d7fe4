// KinesisApi driven directly through Handle() over a real log::Log in a temporary folder (no
// network): response shapes of every operation and every error path, with AWS's __type names.
#include "ingest/http/kinesis_api.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/base64.h"
#include "core/time.h"
#include "ingest/http/kinesis_api_internal.h"
#include "ingest/http/kinesis_token_format.h"

using namespace sluice;
using namespace sluice::http;
using nlohmann::json;

namespace {

struct Reply {
  int status = 0;
  json body;
  std::string raw;
  std::string type() const { return body.is_object() && body.contains("__type") ? body["__type"].get<std::string>() : ""; }
};

// A log in a fresh folder plus the API over it.
class Fixture {
 public:
  explicit Fixture(KinesisLimits limits = {}, uint64_t shard_records_per_second = 0) {
    char tmpl[] = "/tmp/sluice-kinesis-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    log::LogOptions o;
    o.dir = dir_;
    o.retention_check_interval = std::chrono::milliseconds(0);
    o.shard_records_per_second = shard_records_per_second;
    auto l = log::Log::Open(o);
    REQUIRE(l.ok());
    log_ = std::move(*l);
    api_ = std::make_unique<KinesisApi>(log_.get(), &metrics_, limits);
  }
  ~Fixture() {
    api_.reset();
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  Reply Call(const std::string& op, const std::string& body, int http_version = 0x101) {
    HttpRequest req;
    req.method = "POST";
    req.path = "/";
    req.body = body;
    req.http_version = http_version;
    std::string target = "Kinesis_20131202." + op;
    req.headers = {{"x-amz-target", target}, {"content-type", "application/x-amz-json-1.1"}};
    auto p = std::make_shared<std::promise<HttpResponse>>();
    auto f = p->get_future();
    api_->Handle(req, [p](HttpResponse r) { p->set_value(std::move(r)); });
    REQUIRE(f.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    HttpResponse r = f.get();
    Reply out;
    out.status = r.status;
    out.raw = r.body;
    out.body = json::parse(r.body, nullptr, false);
    if (r.status != 200) {
      INFO(op << " " << body << " -> " << r.body);
      CHECK((r.status == 400 || r.status == 500));
      bool has_type_header = false;
      for (auto& [k, v] : r.headers) has_type_header |= k == "x-amzn-ErrorType" && v == out.type();
      CHECK(has_type_header);
    }
    return out;
  }
  Reply Call(const std::string& op, const json& body, int http_version = 0x101) {
    return Call(op, body.dump(), http_version);
  }

  // Every record of one shard from TRIM_HORIZON, following NextShardIterator with `limit`.
  std::vector<json> ReadShard(const std::string& stream, const std::string& shard, int limit = 7) {
    auto it = Call("GetShardIterator", json{{"StreamName", stream}, {"ShardId", shard}, {"ShardIteratorType", "TRIM_HORIZON"}});
    REQUIRE(it.status == 200);
    std::string iter = it.body["ShardIterator"];
    std::vector<json> out;
    for (int guard = 0; guard < 10000; ++guard) {
      auto r = Call("GetRecords", json{{"ShardIterator", iter}, {"Limit", limit}});
      REQUIRE(r.status == 200);
      for (auto& rec : r.body["Records"]) out.push_back(rec);
      iter = r.body["NextShardIterator"];
      if (r.body["Records"].empty()) break;
    }
    return out;
  }

  log::Log& log() { return *log_; }
  MetricsRegistry& metrics() { return metrics_; }

 private:
  std::string dir_;
  MetricsRegistry metrics_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<KinesisApi> api_;
};

std::string B64(const std::string& s) {
  std::string out;
  Base64Encode(s, &out);
  return out;
}

std::string Unb64(const json& j) {
  std::string out;
  REQUIRE(Base64Decode(j.get<std::string>(), &out));
  return out;
}

json PutRecordsBody(const std::string& stream, const std::vector<std::pair<std::string, std::string>>& recs) {
  json records = json::array();
  for (auto& [k, d] : recs) records.push_back({{"PartitionKey", k}, {"Data", B64(d)}});
  return {{"StreamName", stream}, {"Records", records}};
}

}  // namespace

TEST_CASE("tokens: round trip; corrupted, truncated or foreign tokens are refused") {
  KinesisToken t;
  t.kind = TokenKind::kShardIterator;
  t.stream = "telemetry";
  t.stream_created_ms = 1700000000123;
  t.shard = 3;
  t.sequence = 987654321;
  t.issued_ms = 1700000001000;
  std::string text = EncodeToken(t);
  auto back = DecodeToken(text);
  REQUIRE(back.ok());
  CHECK(back->kind == t.kind);
  CHECK(back->stream == t.stream);
  CHECK(back->stream_created_ms == t.stream_created_ms);
  CHECK(back->shard == 3);
  CHECK(back->sequence == 987654321);
  CHECK(back->issued_ms == t.issued_ms);
  for (size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    if (bad == text) continue;
    CHECK_FALSE(DecodeToken(bad).ok());
  }
  CHECK_FALSE(DecodeToken(text.substr(0, text.size() - 4)).ok());
  CHECK_FALSE(DecodeToken("").ok());
  CHECK_FALSE(DecodeToken("not base64 at all!").ok());
  CHECK_FALSE(DecodeToken(std::string(2000, 'A')).ok());
}

TEST_CASE("AWS error mapping from log statuses") {
  CHECK(kinesis::FromStatus(Status::IOError("disk")).status == 500);
  CHECK(kinesis::FromStatus(Status::IOError("disk")).body.find("\"InternalFailure\"") != std::string::npos);
  CHECK(kinesis::FromStatus(Status::ResourceExhausted("slow down")).body.find("ProvisionedThroughputExceededException") !=
        std::string::npos);
  CHECK(kinesis::FromStatus(Status::NotFound("x")).body.find("ResourceNotFoundException") != std::string::npos);
  CHECK(kinesis::FromStatus(Status::AlreadyExists("x")).body.find("ResourceInUseException") != std::string::npos);
  CHECK(kinesis::FromStatus(Status::InvalidArgument("x")).body.find("InvalidArgumentException") != std::string::npos);
  CHECK(AwsError(400, "SerializationException", "m").body == R"({"__type":"SerializationException","Message":"m"})");
  CHECK(AwsError(400, "ValidationException", "m").body == R"({"__type":"ValidationException","message":"m"})");
  std::string ts;
  kinesis::AppendEpochSeconds(1700000000123, &ts);
  CHECK(ts == "1700000000.123");
  ts.clear();
  kinesis::AppendEpochSeconds(5, &ts);
  CHECK(ts == "0.005");
}

TEST_CASE("CreateStream and DescribeStream(Summary): shapes and errors") {
  Fixture f;
  CHECK(f.Call("CreateStream", json{{"StreamName", "s4"}, {"ShardCount", 4}}).status == 200);
  auto r = f.Call("CreateStream", json{{"StreamName", "s4"}, {"ShardCount", 4}});
  CHECK(r.type() == "ResourceInUseException");
  CHECK(r.body["message"] == "Stream s4 under account 000000000000 already exists.");
  CHECK(f.Call("CreateStream", json{{"ShardCount", 1}}).type() == "ValidationException");
  CHECK(f.Call("CreateStream", json{{"StreamName", "bad/name"}, {"ShardCount", 1}}).type() == "ValidationException");
  CHECK(f.Call("CreateStream", json{{"StreamName", std::string(129, 'a')}, {"ShardCount", 1}}).type() ==
        "ValidationException");
  CHECK(f.Call("CreateStream", json{{"StreamName", "z"}, {"ShardCount", 0}}).type() == "ValidationException");
  CHECK(f.Call("CreateStream", json{{"StreamName", "z"}, {"ShardCount", "2"}}).type() == "SerializationException");
  CHECK(f.Call("CreateStream", json{{"StreamName", "z"}, {"ShardCount", 5000}}).type() == "LimitExceededException");
  CHECK(f.Call("CreateStream", json{{"StreamName", "z"}, {"StreamModeDetails", {{"StreamMode", "FAST"}}}}).type() ==
        "ValidationException");
  CHECK(f.Call("CreateStream", json{{"StreamName", "z"}, {"ShardCount", 2}, {"StreamModeDetails", {{"StreamMode", "ON_DEMAND"}}}})
            .type() == "InvalidArgumentException");
  CHECK(f.Call("CreateStream", json{{"StreamName", "z"}, {"StreamModeDetails", {{"StreamMode", "PROVISIONED"}}}}).type() ==
        "InvalidArgumentException");
  auto ser = f.Call("CreateStream", std::string("{not json"));
  CHECK(ser.type() == "SerializationException");
  CHECK(ser.body.contains("Message"));
  CHECK(f.Call("CreateStream", json{{"StreamName", "od"}, {"StreamModeDetails", {{"StreamMode", "ON_DEMAND"}}}}).status ==
        200);

  auto d = f.Call("DescribeStream", json{{"StreamName", "s4"}});
  REQUIRE(d.status == 200);
  const json& sd = d.body["StreamDescription"];
  CHECK(sd["StreamName"] == "s4");
  CHECK(sd["StreamARN"] == "arn:aws:kinesis:us-east-1:000000000000:stream/s4");
  CHECK(sd["StreamStatus"] == "ACTIVE");
  CHECK(sd["StreamModeDetails"]["StreamMode"] == "PROVISIONED");
  CHECK(sd["RetentionPeriodHours"] == 24);
  CHECK(sd["HasMoreShards"] == false);
  CHECK(sd["EncryptionType"] == "NONE");
  CHECK(sd["StreamCreationTimestamp"].is_number());
  CHECK(std::abs(sd["StreamCreationTimestamp"].get<double>() - WallNow().millis() / 1000.0) < 60);
  REQUIRE(sd["Shards"].size() == 4);
  CHECK(sd["Shards"][0]["ShardId"] == "shardId-000000000000");
  CHECK(sd["Shards"][0]["HashKeyRange"]["StartingHashKey"] == "0");
  CHECK(sd["Shards"][0]["HashKeyRange"]["EndingHashKey"] == "85070591730234615865843651857942052863");
  CHECK(sd["Shards"][1]["HashKeyRange"]["StartingHashKey"] == "85070591730234615865843651857942052864");
  CHECK(sd["Shards"][3]["HashKeyRange"]["EndingHashKey"] == "340282366920938463463374607431768211455");
  CHECK(sd["Shards"][2]["SequenceNumberRange"]["StartingSequenceNumber"] == "1");
  CHECK_FALSE(sd["Shards"][2]["SequenceNumberRange"].contains("EndingSequenceNumber"));

  auto page = f.Call("DescribeStream", json{{"StreamARN", "arn:aws:kinesis:us-east-1:000000000000:stream/s4"},
                                            {"Limit", 2},
                                            {"ExclusiveStartShardId", "shardId-000000000000"}});
  REQUIRE(page.status == 200);
  CHECK(page.body["StreamDescription"]["Shards"].size() == 2);
  CHECK(page.body["StreamDescription"]["Shards"][0]["ShardId"] == "shardId-000000000001");
  CHECK(page.body["StreamDescription"]["HasMoreShards"] == true);
  CHECK(f.Call("DescribeStream", json{{"StreamName", "s4"}, {"Limit", 0}}).type() == "ValidationException");
  auto nf = f.Call("DescribeStream", json{{"StreamName", "nope"}});
  CHECK(nf.type() == "ResourceNotFoundException");
  CHECK(nf.body["message"] == "Stream nope under account 000000000000 not found.");
  CHECK(f.Call("DescribeStream", json::object()).type() == "ValidationException");

  auto sum = f.Call("DescribeStreamSummary", json{{"StreamName", "od"}});
  REQUIRE(sum.status == 200);
  const json& ss = sum.body["StreamDescriptionSummary"];
  CHECK(ss["OpenShardCount"] == 4);
  CHECK(ss["StreamModeDetails"]["StreamMode"] == "ON_DEMAND");
  CHECK(ss["RetentionPeriodHours"] == 24);
  CHECK(ss["ConsumerCount"] == 0);
  CHECK(f.Call("DescribeStreamSummary", json{{"StreamName", "nope"}}).type() == "ResourceNotFoundException");
}

TEST_CASE("ListStreams: Limit, HasMoreStreams, ExclusiveStartStreamName, NextToken, summaries") {
  KinesisLimits limits;
  limits.iterator_ttl = std::chrono::milliseconds(300);
  Fixture f(limits);
  for (const char* n : {"a", "b", "c", "d", "e"}) REQUIRE(f.Call("CreateStream", json{{"StreamName", n}, {"ShardCount", 1}}).status == 200);
  auto all = f.Call("ListStreams", std::string());  // An empty body lists everything.
  REQUIRE(all.status == 200);
  CHECK(all.body["StreamNames"] == json({"a", "b", "c", "d", "e"}));
  CHECK(all.body["HasMoreStreams"] == false);
  CHECK_FALSE(all.body.contains("NextToken"));
  REQUIRE(all.body["StreamSummaries"].size() == 5);
  CHECK(all.body["StreamSummaries"][1]["StreamName"] == "b");
  CHECK(all.body["StreamSummaries"][1]["StreamARN"] == "arn:aws:kinesis:us-east-1:000000000000:stream/b");
  CHECK(all.body["StreamSummaries"][1]["StreamStatus"] == "ACTIVE");
  CHECK(all.body["StreamSummaries"][1]["StreamModeDetails"]["StreamMode"] == "PROVISIONED");
  CHECK(all.body["StreamSummaries"][1]["StreamCreationTimestamp"].is_number());

  auto p1 = f.Call("ListStreams", json{{"Limit", 2}});
  CHECK(p1.body["StreamNames"] == json({"a", "b"}));
  CHECK(p1.body["HasMoreStreams"] == true);
  REQUIRE(p1.body.contains("NextToken"));
  auto p2 = f.Call("ListStreams", json{{"Limit", 2}, {"NextToken", p1.body["NextToken"]}});
  CHECK(p2.body["StreamNames"] == json({"c", "d"}));
  auto p3 = f.Call("ListStreams", json{{"Limit", 2}, {"ExclusiveStartStreamName", "d"}});
  CHECK(p3.body["StreamNames"] == json({"e"}));
  CHECK(p3.body["HasMoreStreams"] == false);
  CHECK(f.Call("ListStreams", json{{"Limit", 0}}).type() == "ValidationException");
  CHECK(f.Call("ListStreams", json{{"Limit", 10001}}).type() == "ValidationException");
  CHECK(f.Call("ListStreams", json{{"Limit", "2"}}).type() == "SerializationException");
  CHECK(f.Call("ListStreams", json{{"NextToken", p1.body["NextToken"]}, {"ExclusiveStartStreamName", "a"}}).type() ==
        "InvalidArgumentException");
  CHECK(f.Call("ListStreams", json{{"NextToken", "garbage"}}).type() == "InvalidArgumentException");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(f.Call("ListStreams", json{{"NextToken", p1.body["NextToken"]}}).type() == "ExpiredNextTokenException");
}

TEST_CASE("ListShards: MaxResults pagination with NextToken; StreamName xor NextToken; filters") {
  Fixture f;
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "s"}, {"ShardCount", 3}}).status == 200);
  auto r = f.Call("ListShards", json{{"StreamName", "s"}});
  REQUIRE(r.status == 200);
  CHECK(r.body["Shards"].size() == 3);
  CHECK_FALSE(r.body.contains("NextToken"));
  CHECK(r.body["Shards"][2]["ShardId"] == "shardId-000000000002");
  CHECK(r.body["Shards"][2]["HashKeyRange"]["EndingHashKey"] == "340282366920938463463374607431768211455");

  std::vector<std::string> ids;
  auto page = f.Call("ListShards", json{{"StreamName", "s"}, {"MaxResults", 1}});
  for (int guard = 0; guard < 10; ++guard) {
    REQUIRE(page.status == 200);
    REQUIRE(page.body["Shards"].size() == 1);
    ids.push_back(page.body["Shards"][0]["ShardId"]);
    if (!page.body.contains("NextToken")) break;
    page = f.Call("ListShards", json{{"NextToken", page.body["NextToken"]}, {"MaxResults", 1}});
  }
  CHECK(ids == std::vector<std::string>{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002"});

  auto first = f.Call("ListShards", json{{"StreamName", "s"}, {"MaxResults", 1}});
  std::string token = first.body["NextToken"];
  CHECK(f.Call("ListShards", json{{"StreamName", "s"}, {"NextToken", token}}).type() == "InvalidArgumentException");
  CHECK(f.Call("ListShards", json{{"NextToken", token}, {"ExclusiveStartShardId", "shardId-000000000000"}}).type() ==
        "InvalidArgumentException");
  CHECK(f.Call("ListShards", json::object()).type() == "InvalidArgumentException");
  CHECK(f.Call("ListShards", json{{"NextToken", "bogus"}}).type() == "InvalidArgumentException");
  CHECK(f.Call("ListShards", json{{"StreamName", "s"}, {"MaxResults", 0}}).type() == "ValidationException");
  CHECK(f.Call("ListShards", json{{"StreamName", "nope"}}).type() == "ResourceNotFoundException");
  auto after = f.Call("ListShards", json{{"StreamName", "s"}, {"ExclusiveStartShardId", "shardId-000000000000"}});
  CHECK(after.body["Shards"].size() == 2);
  auto filtered = f.Call("ListShards", json{{"StreamName", "s"},
                                            {"ShardFilter", {{"Type", "AFTER_SHARD_ID"}, {"ShardId", "shardId-000000000001"}}}});
  REQUIRE(filtered.body["Shards"].size() == 1);
  CHECK(filtered.body["Shards"][0]["ShardId"] == "shardId-000000000002");
  CHECK(f.Call("ListShards", json{{"StreamName", "s"}, {"ShardFilter", {{"Type", "AT_TRIM_HORIZON"}}}}).body["Shards"].size() == 3);
  CHECK(f.Call("ListShards", json{{"StreamName", "s"}, {"ShardFilter", {{"Type", "SIDEWAYS"}}}}).type() ==
        "ValidationException");
  // A token of a deleted (even if re-created) stream finds nothing.
  REQUIRE(f.Call("DeleteStream", json{{"StreamName", "s"}}).status == 200);
  CHECK(f.Call("ListShards", json{{"NextToken", token}}).type() == "ResourceNotFoundException");
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "s"}, {"ShardCount", 3}}).status == 200);
  CHECK(f.Call("ListShards", json{{"NextToken", token}}).type() == "ResourceNotFoundException");
}

TEST_CASE("PutRecords then GetShardIterator + GetRecords read back exactly what was put") {
  Fixture f;
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "t"}, {"ShardCount", 2}}).status == 200);
  std::vector<std::pair<std::string, std::string>> recs;
  for (int i = 0; i < 60; ++i) recs.emplace_back("key-" + std::to_string(i % 9), "payload \x01\xff " + std::to_string(i));
  auto put = f.Call("PutRecords", PutRecordsBody("t", recs));
  REQUIRE(put.status == 200);
  REQUIRE(put.body["FailedRecordCount"] == 0);
  // Expected per shard, in put order.
  std::map<std::string, std::vector<std::tuple<std::string, std::string, std::string>>> expect;
  for (size_t i = 0; i < recs.size(); ++i)
    expect[put.body["Records"][i]["ShardId"]].emplace_back(put.body["Records"][i]["SequenceNumber"], recs[i].first, recs[i].second);
  REQUIRE(expect.size() == 2);
  const double now_s = WallNow().millis() / 1000.0;
  for (auto& [shard, want] : expect) {
    auto got = f.ReadShard("t", shard);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i]["SequenceNumber"] == std::get<0>(want[i]));
      CHECK(got[i]["PartitionKey"] == std::get<1>(want[i]));
      CHECK(Unb64(got[i]["Data"]) == std::get<2>(want[i]));
      CHECK(got[i]["ApproximateArrivalTimestamp"].is_number_float());
      CHECK(std::abs(got[i]["ApproximateArrivalTimestamp"].get<double>() - now_s) < 60);
      CHECK_FALSE(got[i].contains("EncryptionType"));
    }
  }
  // A single GetRecords with the default Limit returns the whole shard and is caught up.
  auto it = f.Call("GetShardIterator", json{{"StreamName", "t"}, {"ShardId", "shardId-000000000001"}, {"ShardIteratorType", "TRIM_HORIZON"}});
  auto all = f.Call("GetRecords", json{{"ShardIterator", it.body["ShardIterator"]}});
  REQUIRE(all.status == 200);
  CHECK(all.body["Records"].size() == expect["shardId-000000000001"].size());
  CHECK(all.body["MillisBehindLatest"] == 0);
  CHECK(all.body["NextShardIterator"].is_string());
  // Behind the tip: MillisBehindLatest is positive.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto partial = f.Call("GetRecords", json{{"ShardIterator", it.body["ShardIterator"]}, {"Limit", 1}});
  CHECK(partial.body["Records"].size() == 1);
  CHECK(partial.body["MillisBehindLatest"].get<int64_t>() >= 20);

  const std::string shard = "shardId-000000000000";
  const auto& want = expect[shard];
  // AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER.
  std::string third = std::get<0>(want[2]);
  auto at = f.Call("GetShardIterator", json{{"StreamName", "t"}, {"ShardId", shard}, {"ShardIteratorType", "AT_SEQUENCE_NUMBER"},
                                            {"StartingSequenceNumber", third}});
  REQUIRE(at.status == 200);
  auto r = f.Call("GetRecords", json{{"ShardIterator", at.body["ShardIterator"]}, {"Limit", 1}});
  CHECK(r.body["Records"][0]["SequenceNumber"] == third);
  auto after = f.Call("GetShardIterator", json{{"StreamName", "t"}, {"ShardId", shard}, {"ShardIteratorType", "AFTER_SEQUENCE_NUMBER"},
                                               {"StartingSequenceNumber", third}});
  r = f.Call("GetRecords", json{{"ShardIterator", after.body["ShardIterator"]}, {"Limit", 1}});
  CHECK(r.body["Records"][0]["SequenceNumber"] == std::get<0>(want[3]));
  // Leading zeros are the same number.
  auto padded = f.Call("GetShardIterator", json{{"StreamName", "t"}, {"ShardId", shard}, {"ShardIteratorType", "AT_SEQUENCE_NUMBER"},
                                                {"StartingSequenceNumber", "000" + third}});
  CHECK(padded.status == 200);

  // LATEST: nothing now; the next put shows up.
  auto latest = f.Call("GetShardIterator", json{{"StreamName", "t"}, {"ShardId", shard}, {"ShardIteratorType", "LATEST"}});
  r = f.Call("GetRecords", json{{"ShardIterator", latest.body["ShardIterator"]}});
  CHECK(r.body["Records"].empty());
  CHECK(r.body["MillisBehindLatest"] == 0);
  std::string next = r.body["NextShardIterator"];
  // AT_TIMESTAMP: records put after a moment are found from that moment.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const int64_t mark_ms = WallNow().millis();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto put2 = f.Call("PutRecord", json{{"StreamName", "t"}, {"PartitionKey", "k"}, {"Data", B64("late")},
                                       {"ExplicitHashKey", "0"}, {"SequenceNumberForOrdering", "1"}});
  REQUIRE(put2.status == 200);
  CHECK(put2.body["ShardId"] == shard);
  r = f.Call("GetRecords", json{{"ShardIterator", next}});
  REQUIRE(r.body["Records"].size() == 1);
  CHECK(Unb64(r.body["Records"][0]["Data"]) == "late");
  auto ts = f.Call("GetShardIterator", json{{"StreamName", "t"}, {"ShardId", shard}, {"ShardIteratorType", "AT_TIMESTAMP"},
                                            {"Timestamp", mark_ms / 1000.0}});
  REQUIRE(ts.status == 200);
  r = f.Call("GetRecords", json{{"ShardIterator", ts.body["ShardIterator"]}});
  REQUIRE(r.body["Records"].size() == 1);
  CHECK(r.body["Records"][0]["SequenceNumber"] == put2.body["SequenceNumber"]);
  auto early = f.Call("GetShardIterator", json{{"StreamName", "t"}, {"ShardId", shard}, {"ShardIteratorType", "AT_TIMESTAMP"},
                                               {"Timestamp", 1000000000}});
  r = f.Call("GetRecords", json{{"ShardIterator", early.body["ShardIterator"]}, {"Limit", 1}});
  CHECK(r.body["Records"][0]["SequenceNumber"] == std::get<0>(want[0]));
  // The bare shard number is accepted as a ShardId, as some clients send it.
  CHECK(f.Call("GetShardIterator", json{{"StreamName", "t"}, {"ShardId", "1"}, {"ShardIteratorType", "LATEST"}}).status == 200);

  // Metrics count requests by operation and HTTP version.
  f.Call("ListStreams", json::object(), 0x200);
  bool saw_h2 = false;
  f.metrics().ForEach([&](const std::string& name, const std::string&, MetricsRegistry::Type,
                          const std::vector<MetricsRegistry::Series>& series) {
    if (name != "sluice_kinesis_requests_total") return;
    for (const auto& s : series)
      if (s.labels == MetricLabels{{"operation", "ListStreams"}, {"http_version", "2"}} && s.counter->value() == 1)
        saw_h2 = true;
  });
  CHECK(saw_h2);
}

TEST_CASE("GetShardIterator and GetRecords errors") {
  KinesisLimits limits;
  limits.iterator_ttl = std::chrono::milliseconds(200);
  Fixture f(limits);
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "t"}, {"ShardCount", 1}}).status == 200);
  REQUIRE(f.Call("PutRecords", PutRecordsBody("t", {{"a", "1"}, {"b", "2"}, {"c", "3"}})).status == 200);
  auto gsi = [&](json extra) {
    json body = {{"StreamName", "t"}, {"ShardId", "shardId-000000000000"}};
    body.update(extra);
    return f.Call("GetShardIterator", body);
  };
  CHECK(f.Call("GetShardIterator", json{{"StreamName", "nope"}, {"ShardId", "shardId-000000000000"}, {"ShardIteratorType", "LATEST"}})
            .type() == "ResourceNotFoundException");
  auto no_shard = gsi({{"ShardId", "shardId-000000000007"}, {"ShardIteratorType", "LATEST"}});
  CHECK(no_shard.type() == "ResourceNotFoundException");
  CHECK(no_shard.body["message"] == "Shard shardId-000000000007 in stream t under account 000000000000 does not exist");
  CHECK(gsi({{"ShardIteratorType", "SIDEWAYS"}}).type() == "ValidationException");
  CHECK(gsi(json::object()).type() == "ValidationException");
  CHECK(f.Call("GetShardIterator", json{{"StreamName", "t"}, {"ShardIteratorType", "LATEST"}}).type() == "ValidationException");
  CHECK(gsi({{"ShardIteratorType", "AT_SEQUENCE_NUMBER"}}).type() == "InvalidArgumentException");
  CHECK(gsi({{"ShardIteratorType", "LATEST"}, {"StartingSequenceNumber", "1"}}).type() == "InvalidArgumentException");
  for (const char* bad : {"abc", "0", "4", "-1", "1.5", "", "340282366920938463463374607431768211456000"}) {
    INFO(bad);
    CHECK(gsi({{"ShardIteratorType", "AT_SEQUENCE_NUMBER"}, {"StartingSequenceNumber", bad}}).type() ==
          "InvalidArgumentException");
  }
  CHECK(gsi({{"ShardIteratorType", "AFTER_SEQUENCE_NUMBER"}, {"StartingSequenceNumber", "3"}}).status == 200);
  CHECK(gsi({{"ShardIteratorType", "AFTER_SEQUENCE_NUMBER"}, {"StartingSequenceNumber", "4"}}).type() ==
        "InvalidArgumentException");
  CHECK(gsi({{"ShardIteratorType", "AT_SEQUENCE_NUMBER"}, {"StartingSequenceNumber", 3}}).type() ==
        "SerializationException");
  CHECK(gsi({{"ShardIteratorType", "AT_TIMESTAMP"}}).type() == "InvalidArgumentException");
  CHECK(gsi({{"ShardIteratorType", "AT_TIMESTAMP"}, {"Timestamp", "yesterday"}}).type() == "SerializationException");
  CHECK(gsi({{"ShardIteratorType", "AT_TIMESTAMP"}, {"Timestamp", WallNow().millis() / 1000.0 + 3600}}).type() ==
        "InvalidArgumentException");
  CHECK(gsi({{"ShardIteratorType", "TRIM_HORIZON"}, {"Timestamp", 1}}).type() == "InvalidArgumentException");

  auto it = gsi({{"ShardIteratorType", "TRIM_HORIZON"}});
  REQUIRE(it.status == 200);
  std::string iter = it.body["ShardIterator"];
  CHECK(f.Call("GetRecords", json::object()).type() == "ValidationException");
  CHECK(f.Call("GetRecords", json{{"ShardIterator", iter}, {"Limit", 0}}).type() == "ValidationException");
  CHECK(f.Call("GetRecords", json{{"ShardIterator", iter}, {"Limit", 10001}}).type() == "ValidationException");
  CHECK(f.Call("GetRecords", json{{"ShardIterator", std::string(513, 'A')}}).type() == "ValidationException");
  std::string tampered = iter;
  tampered[10] = tampered[10] == 'x' ? 'y' : 'x';
  CHECK(f.Call("GetRecords", json{{"ShardIterator", tampered}}).type() == "InvalidArgumentException");
  CHECK(f.Call("GetRecords", json{{"ShardIterator", "AAAA"}}).type() == "InvalidArgumentException");
  // A ListShards token is not a shard iterator.
  KinesisToken other;
  other.kind = TokenKind::kListShards;
  other.stream = "t";
  other.issued_ms = WallNow().millis();
  CHECK(f.Call("GetRecords", json{{"ShardIterator", EncodeToken(other)}}).type() == "InvalidArgumentException");
  CHECK(f.Call("GetRecords", json{{"ShardIterator", iter}}).status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto expired = f.Call("GetRecords", json{{"ShardIterator", iter}});
  CHECK(expired.status == 400);
  CHECK(expired.type() == "ExpiredIteratorException");

  // After DeleteStream (and after re-creating the name) old iterators find no stream.
  it = gsi({{"ShardIteratorType", "TRIM_HORIZON"}});
  REQUIRE(f.Call("DeleteStream", json{{"StreamName", "t"}}).status == 200);
  CHECK(f.Call("GetRecords", json{{"ShardIterator", it.body["ShardIterator"]}}).type() == "ResourceNotFoundException");
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "t"}, {"ShardCount", 1}}).status == 200);
  CHECK(f.Call("GetRecords", json{{"ShardIterator", it.body["ShardIterator"]}}).type() == "ResourceNotFoundException");
}

TEST_CASE("GetRecords stops near the response size cap and continues from there") {
  KinesisLimits limits;
  limits.max_get_bytes = 1000;
  Fixture f(limits);
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "big"}, {"ShardCount", 1}}).status == 200);
  std::vector<std::pair<std::string, std::string>> recs;
  for (int i = 0; i < 20; ++i) recs.emplace_back("k", std::string(299, static_cast<char>('a' + i)));
  REQUIRE(f.Call("PutRecords", PutRecordsBody("big", recs)).status == 200);
  REQUIRE(f.Call("PutRecord", json{{"StreamName", "big"}, {"PartitionKey", "k"}, {"Data", B64(std::string(5000, 'z'))}}).status == 200);
  auto it = f.Call("GetShardIterator", json{{"StreamName", "big"}, {"ShardId", "shardId-000000000000"}, {"ShardIteratorType", "TRIM_HORIZON"}});
  std::string iter = it.body["ShardIterator"];
  std::vector<std::string> datas;
  for (int guard = 0; guard < 100; ++guard) {
    auto r = f.Call("GetRecords", json{{"ShardIterator", iter}});
    REQUIRE(r.status == 200);
    if (r.body["Records"].empty()) break;
    CHECK(r.body["Records"].size() <= 3);  // 3 x 300 bytes fit in 1000; a 4th would not.
    for (auto& rec : r.body["Records"]) datas.push_back(Unb64(rec["Data"]));
    iter = r.body["NextShardIterator"];
  }
  REQUIRE(datas.size() == 21);
  CHECK(datas[19] == std::string(299, 't'));
  CHECK(datas[20].size() == 5000);  // Larger than the cap alone: still returned, by itself.
}

TEST_CASE("retention period changes follow AWS's rules and show in Describe*") {
  Fixture f;
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "r"}, {"ShardCount", 1}}).status == 200);
  CHECK(f.Call("IncreaseStreamRetentionPeriod", json{{"StreamName", "r"}, {"RetentionPeriodHours", 168}}).status == 200);
  CHECK(f.Call("DescribeStreamSummary", json{{"StreamName", "r"}}).body["StreamDescriptionSummary"]["RetentionPeriodHours"] == 168);
  CHECK(f.Call("IncreaseStreamRetentionPeriod", json{{"StreamName", "r"}, {"RetentionPeriodHours", 100}}).type() ==
        "InvalidArgumentException");
  CHECK(f.Call("IncreaseStreamRetentionPeriod", json{{"StreamName", "r"}, {"RetentionPeriodHours", 8761}}).type() ==
        "InvalidArgumentException");
  CHECK(f.Call("DecreaseStreamRetentionPeriod", json{{"StreamName", "r"}, {"RetentionPeriodHours", 200}}).type() ==
        "InvalidArgumentException");
  CHECK(f.Call("DecreaseStreamRetentionPeriod", json{{"StreamName", "r"}, {"RetentionPeriodHours", 23}}).type() ==
        "InvalidArgumentException");
  CHECK(f.Call("DecreaseStreamRetentionPeriod", json{{"StreamName", "r"}, {"RetentionPeriodHours", 48}}).status == 200);
  CHECK(f.Call("DescribeStream", json{{"StreamName", "r"}}).body["StreamDescription"]["RetentionPeriodHours"] == 48);
  CHECK(f.Call("DecreaseStreamRetentionPeriod", json{{"StreamName", "r"}}).type() == "ValidationException");
  CHECK(f.Call("DecreaseStreamRetentionPeriod", json{{"StreamName", "r"}, {"RetentionPeriodHours", "48"}}).type() ==
        "SerializationException");
  CHECK(f.Call("IncreaseStreamRetentionPeriod", json{{"StreamName", "nope"}, {"RetentionPeriodHours", 48}}).type() ==
        "ResourceNotFoundException");
  CHECK((*f.log().GetStream("r"))->retention_hours() == 48);
}

TEST_CASE("DeleteStream, unknown operations and protocol errors") {
  Fixture f;
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "d"}, {"ShardCount", 1}}).status == 200);
  CHECK(f.Call("DeleteStream", json{{"StreamName", "d"}, {"EnforceConsumerDeletion", true}}).status == 200);
  CHECK(f.Call("DescribeStreamSummary", json{{"StreamName", "d"}}).type() == "ResourceNotFoundException");
  CHECK(f.Call("DeleteStream", json{{"StreamName", "d"}}).type() == "ResourceNotFoundException");
  CHECK(f.Call("PutRecords", PutRecordsBody("d", {{"k", "v"}})).type() == "ResourceNotFoundException");
  CHECK(f.Call("DeleteStream", json::object()).type() == "ValidationException");
  CHECK(f.Call("ListStreams", std::string()).body["StreamNames"].empty());
  auto unknown = f.Call("SubscribeToShard", json::object());
  CHECK(unknown.type() == "UnknownOperationException");
  // ExplicitHashKey: non-digits break the model's pattern; too large a number breaks AWS's rule.
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "e"}, {"ShardCount", 1}}).status == 200);
  CHECK(f.Call("PutRecord", json{{"StreamName", "e"}, {"PartitionKey", "k"}, {"Data", "eA=="}, {"ExplicitHashKey", "x1"}}).type() ==
        "ValidationException");
  CHECK(f.Call("PutRecord", json{{"StreamName", "e"}, {"PartitionKey", "k"}, {"Data", "eA=="},
                                 {"ExplicitHashKey", "340282366920938463463374607431768211456"}})
            .type() == "InvalidArgumentException");
  std::vector<std::pair<std::string, std::string>> many(501, {"k", "v"});
  CHECK(f.Call("PutRecords", PutRecordsBody("e", many)).type() == "ValidationException");
}

TEST_CASE("throttled records fail alone with ProvisionedThroughputExceededException") {
  Fixture f({}, /*shard_records_per_second=*/5);
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "t"}, {"ShardCount", 1}}).status == 200);
  std::vector<std::pair<std::string, std::string>> recs;
  for (int i = 0; i < 20; ++i) recs.emplace_back("k", "r" + std::to_string(i));
  Reply r = f.Call("PutRecords", PutRecordsBody("t", recs));
  REQUIRE(r.status == 200);
  CHECK(r.body["FailedRecordCount"] == 15);
  CHECK(r.body["Records"][0].contains("SequenceNumber"));
  CHECK(r.body["Records"][19]["ErrorCode"] == "ProvisionedThroughputExceededException");
  CHECK(r.body["Records"][19]["ErrorMessage"].get<std::string>().find("Rate exceeded for shard shardId-000000000000") !=
        std::string::npos);
  Reply one = f.Call("PutRecord", json{{"StreamName", "t"}, {"PartitionKey", "k"}, {"Data", B64("x")}});
  CHECK(one.status == 400);
  CHECK(one.type() == "ProvisionedThroughputExceededException");
}

namespace {

// Reads a shard from TRIM_HORIZON until GetRecords returns no NextShardIterator (closed shard,
// read to its end) or, for an open shard, an empty page. Returns the records and whether the end
// of a closed shard was reached; `children` gets GetRecords' ChildShards at that end.
std::vector<json> ReadToEnd(Fixture& f, const std::string& stream, const std::string& shard, bool* closed,
                            json* children = nullptr) {
  auto it = f.Call("GetShardIterator", json{{"StreamName", stream}, {"ShardId", shard}, {"ShardIteratorType", "TRIM_HORIZON"}});
  REQUIRE(it.status == 200);
  std::string iter = it.body["ShardIterator"];
  std::vector<json> out;
  *closed = false;
  for (int guard = 0; guard < 10000; ++guard) {
    auto r = f.Call("GetRecords", json{{"ShardIterator", iter}, {"Limit", 5}});
    REQUIRE(r.status == 200);
    for (auto& rec : r.body["Records"]) out.push_back(rec);
    if (!r.body.contains("NextShardIterator") || r.body["NextShardIterator"].is_null()) {
      *closed = true;
      if (children) *children = r.body["ChildShards"];
      break;
    }
    CHECK(!r.body.contains("ChildShards"));
    iter = r.body["NextShardIterator"];
    if (r.body["Records"].empty()) break;
  }
  return out;
}

json Shards(Fixture& f, const std::string& stream, const json& filter = nullptr) {
  json body = {{"StreamName", stream}};
  if (!filter.is_null()) body["ShardFilter"] = filter;
  auto r = f.Call("ListShards", body);
  REQUIRE(r.status == 200);
  return r.body["Shards"];
}

}  // namespace

TEST_CASE("SplitShard, MergeShards, UpdateShardCount: shapes, lineage, closed shards end, key order") {
  Fixture f;
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "rs"}, {"ShardCount", 2}}).status == 200);
  std::vector<std::pair<std::string, std::string>> recs;
  std::map<std::string, std::vector<std::string>> want;  // key -> data in put order
  int n = 0;
  auto put_round = [&] {
    recs.clear();
    for (int k = 0; k < 20; ++k) {
      std::string key = "k" + std::to_string(k), data = std::to_string(n++);
      recs.push_back({key, data});
      want[key].push_back(data);
    }
    auto r = f.Call("PutRecords", PutRecordsBody("rs", recs));
    REQUIRE(r.status == 200);
    CHECK(r.body["FailedRecordCount"] == 0);
    return r.body["Records"];
  };
  put_round();
  json shards = Shards(f, "rs");
  REQUIRE(shards.size() == 2);
  const std::string start0 = shards[0]["HashKeyRange"]["StartingHashKey"];
  const std::string end0 = shards[0]["HashKeyRange"]["EndingHashKey"];
  const std::string mid = log::HashKeyToString(*log::ParseHashKey(end0) / 2);

  // SplitShard errors.
  CHECK(f.Call("SplitShard", json{{"StreamName", "rs"}, {"ShardToSplit", "shardId-000000000000"}}).type() ==
        "ValidationException");
  CHECK(f.Call("SplitShard", json{{"StreamName", "rs"}, {"NewStartingHashKey", mid}}).type() == "ValidationException");
  CHECK(f.Call("SplitShard", json{{"StreamName", "rs"}, {"ShardToSplit", "shardId-000000000000"},
                                  {"NewStartingHashKey", "012"}}).type() == "ValidationException");
  CHECK(f.Call("SplitShard", json{{"StreamName", "rs"}, {"ShardToSplit", "shardId-000000000000"},
                                  {"NewStartingHashKey", 12}}).type() == "SerializationException");
  CHECK(f.Call("SplitShard", json{{"StreamName", "nope"}, {"ShardToSplit", "shardId-000000000000"},
                                  {"NewStartingHashKey", mid}}).type() == "ResourceNotFoundException");
  CHECK(f.Call("SplitShard", json{{"StreamName", "rs"}, {"ShardToSplit", "shardId-000000000009"},
                                  {"NewStartingHashKey", mid}}).type() == "ResourceNotFoundException");
  CHECK(f.Call("SplitShard", json{{"StreamName", "rs"}, {"ShardToSplit", "shardId-000000000000"},
                                  {"NewStartingHashKey", start0}}).type() == "InvalidArgumentException");
  CHECK(f.Call("SplitShard", json{{"StreamName", "rs"}, {"ShardToSplit", "shardId-000000000000"},
                                  {"NewStartingHashKey", "340282366920938463463374607431768211456"}})
            .type() == "InvalidArgumentException");  // 2^128
  auto ok = f.Call("SplitShard", json{{"StreamName", "rs"}, {"ShardToSplit", "shardId-000000000000"},
                                      {"NewStartingHashKey", mid}});
  REQUIRE(ok.status == 200);
  CHECK(ok.body == json::object());
  CHECK(f.Call("SplitShard", json{{"StreamName", "rs"}, {"ShardToSplit", "shardId-000000000000"},
                                  {"NewStartingHashKey", mid}}).type() == "ResourceInUseException");
  shards = Shards(f, "rs");
  REQUIRE(shards.size() == 4);
  CHECK(shards[0]["SequenceNumberRange"].contains("EndingSequenceNumber"));
  CHECK(!shards[1]["SequenceNumberRange"].contains("EndingSequenceNumber"));
  CHECK(shards[2]["ParentShardId"] == "shardId-000000000000");
  CHECK(shards[3]["ParentShardId"] == "shardId-000000000000");
  CHECK(!shards[2].contains("AdjacentParentShardId"));
  CHECK(shards[2]["HashKeyRange"]["StartingHashKey"] == start0);
  CHECK(shards[3]["HashKeyRange"]["StartingHashKey"] == mid);
  CHECK(shards[3]["HashKeyRange"]["EndingHashKey"] == end0);
  for (auto& r : put_round()) CHECK(r["ShardId"] != "shardId-000000000000");

  // MergeShards errors, then a merge.
  CHECK(f.Call("MergeShards", json{{"StreamName", "rs"}, {"ShardToMerge", "shardId-000000000002"}}).type() ==
        "ValidationException");
  CHECK(f.Call("MergeShards", json{{"StreamName", "rs"}, {"ShardToMerge", "shardId-000000000002"},
                                   {"AdjacentShardToMerge", "shardId-000000000001"}}).type() ==
        "InvalidArgumentException");
  CHECK(f.Call("MergeShards", json{{"StreamName", "rs"}, {"ShardToMerge", "shardId-000000000000"},
                                   {"AdjacentShardToMerge", "shardId-000000000002"}}).type() ==
        "ResourceInUseException");
  CHECK(f.Call("MergeShards", json{{"StreamName", "rs"}, {"ShardToMerge", "shardId-000000000002"},
                                   {"AdjacentShardToMerge", "shardId-000000000077"}}).type() ==
        "ResourceNotFoundException");
  REQUIRE(f.Call("MergeShards", json{{"StreamName", "rs"}, {"ShardToMerge", "shardId-000000000003"},
                                     {"AdjacentShardToMerge", "shardId-000000000001"}}).status == 200);
  shards = Shards(f, "rs");
  REQUIRE(shards.size() == 5);
  CHECK(shards[4]["ParentShardId"] == "shardId-000000000003");
  CHECK(shards[4]["AdjacentParentShardId"] == "shardId-000000000001");
  CHECK(shards[4]["HashKeyRange"]["StartingHashKey"] == mid);
  put_round();

  // UpdateShardCount.
  CHECK(f.Call("UpdateShardCount", json{{"StreamName", "rs"}, {"TargetShardCount", 3}}).type() == "ValidationException");
  CHECK(f.Call("UpdateShardCount", json{{"StreamName", "rs"}, {"TargetShardCount", 3}, {"ScalingType", "OTHER"}})
            .type() == "ValidationException");
  CHECK(f.Call("UpdateShardCount", json{{"StreamName", "rs"}, {"TargetShardCount", 0}, {"ScalingType", "UNIFORM_SCALING"}})
            .type() == "ValidationException");
  CHECK(f.Call("UpdateShardCount", json{{"StreamName", "rs"}, {"TargetShardCount", 5}, {"ScalingType", "UNIFORM_SCALING"}})
            .type() == "LimitExceededException");
  CHECK(f.Call("UpdateShardCount", json{{"StreamName", "nope"}, {"TargetShardCount", 2}, {"ScalingType", "UNIFORM_SCALING"}})
            .type() == "ResourceNotFoundException");
  auto up = f.Call("UpdateShardCount", json{{"StreamName", "rs"}, {"TargetShardCount", 3}, {"ScalingType", "UNIFORM_SCALING"}});
  REQUIRE(up.status == 200);
  CHECK(up.body["StreamName"] == "rs");
  CHECK(up.body["CurrentShardCount"] == 2);
  CHECK(up.body["TargetShardCount"] == 3);
  CHECK(up.body["StreamARN"] == "arn:aws:kinesis:us-east-1:000000000000:stream/rs");
  put_round();
  auto summary = f.Call("DescribeStreamSummary", json{{"StreamName", "rs"}});
  CHECK(summary.body["StreamDescriptionSummary"]["OpenShardCount"] == 3);
  CHECK(summary.body["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE");
  auto described = f.Call("DescribeStream", json{{"StreamName", "rs"}});
  shards = Shards(f, "rs");
  CHECK(described.body["StreamDescription"]["Shards"] == shards);

  // ShardFilter: AT_LATEST = the open shards; AT_TRIM_HORIZON = the stream's first shards;
  // FROM_TRIM_HORIZON = all of them.
  json latest = Shards(f, "rs", json{{"Type", "AT_LATEST"}});
  CHECK(latest.size() == 3);
  for (auto& s : latest) CHECK(!s["SequenceNumberRange"].contains("EndingSequenceNumber"));
  json horizon = Shards(f, "rs", json{{"Type", "AT_TRIM_HORIZON"}});
  REQUIRE(horizon.size() == 2);
  CHECK(horizon[0]["ShardId"] == "shardId-000000000000");
  CHECK(horizon[1]["ShardId"] == "shardId-000000000001");
  CHECK(Shards(f, "rs", json{{"Type", "FROM_TRIM_HORIZON"}}).size() == shards.size());
  CHECK(Shards(f, "rs", json{{"Type", "FROM_TIMESTAMP"}, {"Timestamp", WallNow().millis() / 1000.0 + 60}}).size() == 3);
  // The filter carries over pages.
  auto page = f.Call("ListShards", json{{"StreamName", "rs"}, {"MaxResults", 1}, {"ShardFilter", {{"Type", "AT_LATEST"}}}});
  std::vector<std::string> paged;
  for (int guard = 0; guard < 50; ++guard) {
    for (auto& s : page.body["Shards"]) paged.push_back(s["ShardId"]);
    if (!page.body.contains("NextToken")) break;
    page = f.Call("ListShards", json{{"NextToken", page.body["NextToken"]}, {"MaxResults", 1}});
    REQUIRE(page.status == 200);
  }
  REQUIRE(paged.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(paged[i] == latest[i]["ShardId"]);

  // Read parents before children: every record once, per-key order kept; closed shards end with
  // no NextShardIterator and list their children.
  std::set<std::string> done;
  std::map<std::string, std::vector<std::string>> got;
  size_t total = 0;
  for (int pass = 0; pass < 20 && done.size() < shards.size(); ++pass) {
    for (auto& s : shards) {
      const std::string id = s["ShardId"];
      if (done.count(id)) continue;
      bool ready = true;
      for (const char* p : {"ParentShardId", "AdjacentParentShardId"})
        if (s.contains(p)) ready = ready && done.count(s[p].get<std::string>());
      if (!ready) continue;
      bool closed = false;
      json children;
      for (auto& rec : ReadToEnd(f, "rs", id, &closed, &children)) {
        got[rec["PartitionKey"]].push_back(Unb64(rec["Data"]));
        ++total;
      }
      CHECK(closed == s["SequenceNumberRange"].contains("EndingSequenceNumber"));
      if (closed) {
        CHECK(!children.empty());
        for (auto& c : children) {
          bool names_me = false;
          for (auto& p : c["ParentShards"]) names_me = names_me || p == id;
          CHECK(names_me);
        }
      }
      done.insert(id);
    }
  }
  CHECK(done.size() == shards.size());
  CHECK(total == static_cast<size_t>(n));
  CHECK(got == want);

  // LATEST on a closed shard: GetRecords ends it at once.
  auto it = f.Call("GetShardIterator", json{{"StreamName", "rs"}, {"ShardId", "shardId-000000000000"}, {"ShardIteratorType", "LATEST"}});
  auto r = f.Call("GetRecords", json{{"ShardIterator", it.body["ShardIterator"]}});
  CHECK(r.body["Records"].empty());
  CHECK(!r.body.contains("NextShardIterator"));
  CHECK(r.body["ChildShards"].size() == 2);

  // ON_DEMAND streams don't take UpdateShardCount.
  REQUIRE(f.Call("CreateStream", json{{"StreamName", "od"}, {"StreamModeDetails", {{"StreamMode", "ON_DEMAND"}}}}).status == 200);
  CHECK(f.Call("UpdateShardCount", json{{"StreamName", "od"}, {"TargetShardCount", 5}, {"ScalingType", "UNIFORM_SCALING"}})
            .type() == "InvalidArgumentException");
}
