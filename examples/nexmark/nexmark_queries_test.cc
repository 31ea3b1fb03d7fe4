// Checks the Nexmark queries in examples/nexmark/queries/ against an independent computation.
//
// A fixed-seed event set (kEvents events at kRate events/s of event time, so the run spans many
// windows, with the generator's delayed arrivals) is encoded as JSON, decoded by the runtime's
// decoder and fed — spread round-robin over kSplits splits, in arrival order, in batches — to
// the query's ops::QueryPipeline, exactly as the runtime and the golden runner drive it. At the
// end the watermark is advanced past the last event and then everything is flushed. The output
// rows are compared, as sorted multisets of their text, with results computed here in plain C++
// straight from the generated events (no planner, no operators).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/file_util.h"
#include "examples/nexmark/generator.h"
#include "ingest/json_decoder.h"
#include "operators/query_pipeline.h"
#include "sql/planner.h"

namespace sluice::nexmark {
namespace {

constexpr int kEvents = 200'000;
constexpr double kRate = 1000;  // events per second of event time: 200 s of events
constexpr size_t kSplits = 4;
constexpr size_t kBatch = 500;
constexpr int64_t kSecond = 1'000'000;  // µs

const std::vector<Event>& Events() {
  static const std::vector<Event> events = [] {
    GeneratorOptions o;
    o.rate = kRate;
    o.seed = 7;
    Generator g(o);
    std::vector<Event> v(kEvents);
    for (Event& e : v) g.Next(&e);
    return v;
  }();
  return events;
}

std::string Text(const std::vector<Value>& row) {
  std::string s;
  for (const Value& v : row) s += v.ToString() + " | ";
  return s;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

Value Ts(int64_t ms) { return Value::Time(EventTime::FromMillis(ms)); }

// Plans examples/nexmark/queries/<name>.sql and runs its one query over the events.
std::vector<std::string> RunQuery(const std::string& name) {
  auto text = ReadFileToString(std::string(SLUICE_SOURCE_DIR) + "/examples/nexmark/queries/" + name + ".sql");
  REQUIRE(text.ok());
  auto planned = sql::PlanPipeline(*text);
  if (!planned.ok()) FAIL(planned.status().message());
  const Pipeline& p = *planned;
  REQUIRE(p.queries.size() == 1);
  const SourceDef& source = p.sources[0];
  ingest::JsonDecoder decoder(source.schema, source.event_time_column);
  ops::QueryPipeline qp(p, 0, kSplits, EventTime{0});
  static const std::vector<std::string> payloads = [] {
    std::vector<std::string> v;
    v.reserve(Events().size());
    for (const Event& e : Events()) v.push_back(e.ToJson());
    return v;
  }();
  std::vector<Row> out;
  std::vector<ops::LateRow> late;
  std::vector<SourceRecord> records;
  std::vector<Row> rows;
  std::vector<size_t> index;
  std::vector<DecodeError> errors;
  std::vector<uint64_t> position(kSplits, 1);
  size_t bad = 0;
  for (size_t begin = 0; begin < payloads.size(); begin += kBatch) {
    const size_t end = std::min(payloads.size(), begin + kBatch);
    for (size_t split = 0; split < kSplits; ++split) {
      records.clear();
      for (size_t i = begin + split; i < end; i += kSplits) {
        records.push_back(SourceRecord{position[split]++, 0, {}, payloads[i]});
      }
      rows.clear();
      index.clear();
      errors.clear();
      decoder.DecodeBatch(records, &rows, &index, &errors);
      bad += errors.size();
      qp.NoteActivity(split, EventTime{0});
      qp.ProcessBatch(split, rows, &out, &late);
    }
    qp.AdvanceTime(EventTime{0}, &out);
  }
  CHECK(bad == 0);
  CHECK(late.empty());
  // Close every window by event time (a far-future event on every split), then flush.
  std::vector<Row> rows_far;
  Row far(source.schema.size());
  far[static_cast<size_t>(source.event_time_column)] = Value::Time(EventTime{int64_t{1} << 55});
  far[static_cast<size_t>(source.schema.IndexOf("event_type"))] = Value::Int(9);
  rows_far.push_back(far);
  for (size_t split = 0; split < kSplits; ++split) qp.ProcessBatch(split, rows_far, &out, &late);
  qp.AdvanceTime(EventTime{0}, &out);
  CHECK(qp.open_windows() == 0);
  qp.Flush(&out);
  std::vector<std::string> result;
  for (const Row& r : out) result.push_back(Text(r));
  return Sorted(std::move(result));
}

std::vector<std::string> ExpectBids(bool euro, bool every_123rd) {
  std::vector<std::string> v;
  for (const Event& e : Events()) {
    if (e.type != EventType::kBid) continue;
    const Bid& b = e.bid;
    if (every_123rd) {
      if (b.auction % 123 == 0) v.push_back(Text({Value::Int(b.auction), Value::Int(b.price)}));
      continue;
    }
    const Value price = euro ? Value::Float(0.908 * static_cast<double>(b.price)) : Value::Int(b.price);
    v.push_back(Text({Value::Int(b.auction), Value::Int(b.bidder), price, Ts(b.date_time_ms), Value::Text(b.extra)}));
  }
  return Sorted(std::move(v));
}

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

TEST_CASE("nexmark q0, q1, q2 match a direct computation") {
  const auto q0 = RunQuery("q0");
  CHECK(q0.size() > 150'000);
  CHECK(q0 == ExpectBids(false, false));
  CHECK(RunQuery("q1") == ExpectBids(true, false));
  const auto q2 = RunQuery("q2");
  CHECK(!q2.empty());
  CHECK(q2 == ExpectBids(false, true));
}

TEST_CASE("nexmark q5 (hot items, HOP 2 s / 10 s) matches a direct computation") {
  // (window start µs, auction) → bids.
  std::map<std::pair<int64_t, int64_t>, int64_t> counts;
  for (const Event& e : Events()) {
    if (e.type != EventType::kBid) continue;
    const int64_t t = e.bid.date_time_ms * 1000;
    for (int64_t ws = FloorDiv(t, 2 * kSecond) * 2 * kSecond; ws > t - 10 * kSecond; ws -= 2 * kSecond) {
      ++counts[{ws, e.bid.auction}];
    }
  }
  std::map<int64_t, int64_t> max_count;
  for (const auto& [k, n] : counts) max_count[k.first] = std::max(max_count[k.first], n);
  std::vector<std::string> expect;
  for (const auto& [k, n] : counts) {
    if (n == max_count[k.first]) {
      expect.push_back(Text({Value::Int(k.second), Value::Int(n), Value::Time(EventTime{k.first})}));
    }
  }
  CHECK(max_count.size() > 90);
  CHECK(RunQuery("q5") == Sorted(std::move(expect)));
}

TEST_CASE("nexmark q7 (highest bid per 10 s window) matches a direct computation") {
  std::map<int64_t, int64_t> max_price;  // window start µs → max price
  auto window_of = [](const Bid& b) { return FloorDiv(b.date_time_ms * 1000, 10 * kSecond); };
  for (const Event& e : Events()) {
    if (e.type != EventType::kBid) continue;
    auto [it, inserted] = max_price.try_emplace(window_of(e.bid), e.bid.price);
    if (!inserted) it->second = std::max(it->second, e.bid.price);
  }
  std::vector<std::string> expect;
  for (const Event& e : Events()) {
    if (e.type != EventType::kBid || e.bid.price != max_price[window_of(e.bid)]) continue;
    const Bid& b = e.bid;
    expect.push_back(
        Text({Value::Int(b.auction), Value::Int(b.price), Value::Int(b.bidder), Ts(b.date_time_ms), Value::Text(b.extra)}));
  }
  CHECK(max_price.size() >= 20);
  CHECK(RunQuery("q7") == Sorted(std::move(expect)));
}

TEST_CASE("nexmark q8 (new users who sell in the same 10 s window) matches a direct computation") {
  std::set<std::tuple<int64_t, int64_t, std::string>> people;  // (window, id, name)
  std::set<std::pair<int64_t, int64_t>> sellers;                // (window, seller)
  for (const Event& e : Events()) {
    if (e.type == EventType::kPerson) {
      people.emplace(FloorDiv(e.person.date_time_ms * 1000, 10 * kSecond), e.person.id, e.person.name);
    } else if (e.type == EventType::kAuction) {
      sellers.emplace(FloorDiv(e.auction.date_time_ms * 1000, 10 * kSecond), e.auction.seller);
    }
  }
  std::vector<std::string> expect;
  for (const auto& [w, id, name] : people) {
    if (sellers.count({w, id}) != 0) {
      expect.push_back(Text({Value::Int(id), Value::Text(name), Value::Time(EventTime{w * 10 * kSecond})}));
    }
  }
  CHECK(!expect.empty());
  CHECK(RunQuery("q8") == Sorted(std::move(expect)));
}

TEST_CASE("nexmark q11 (bids per bidder session, gap 10 s) matches a direct computation") {
  std::map<int64_t, std::vector<int64_t>> times;  // bidder → bid times, µs
  for (const Event& e : Events()) {
    if (e.type == EventType::kBid) times[e.bid.bidder].push_back(e.bid.date_time_ms * 1000);
  }
  std::vector<std::string> expect;
  auto emit = [&](int64_t bidder, int64_t n, int64_t start, int64_t last) {
    expect.push_back(Text({Value::Int(bidder), Value::Int(n), Value::Time(EventTime{start}),
                           Value::Time(EventTime{last + 10 * kSecond})}));
  };
  for (auto& [bidder, ts] : times) {
    std::sort(ts.begin(), ts.end());
    int64_t start = ts[0], last = ts[0], n = 0;
    for (int64_t t : ts) {
      if (t - last > 10 * kSecond) {  // sessions that touch (t − last == gap) merge
        emit(bidder, n, start, last);
        start = t;
        n = 0;
      }
      last = t;
      ++n;
    }
    emit(bidder, n, start, last);
  }
  CHECK(expect.size() > 1000);
  CHECK(RunQuery("q11") == Sorted(std::move(expect)));
}

}  // namespace
}  // namespace sluice::nexmark
