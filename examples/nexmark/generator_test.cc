#include "examples/nexmark/generator.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

using namespace sluice::nexmark;

TEST_CASE("nexmark mix is 1:3:46 by event id, ids start at 1000, refs point at existing ids") {
  GeneratorOptions o;
  o.rate = 10000;  // 3 s of delay = at most 30,000 events.
  Generator g(o);
  std::map<int64_t, Event> by_id;
  Event e;
  for (int i = 0; i < 100000; ++i) {
    g.Next(&e);
    by_id[e.event_id] = e;
  }
  int persons = 0, auctions = 0, bids = 0;
  int64_t max_person = 0, max_auction = 0;
  for (int64_t id = 0; id < 50000; ++id) {
    REQUIRE(by_id.count(id) == 1);  // Every event of the first 50,000 has arrived.
    const Event& ev = by_id[id];
    switch (ev.type) {
      case EventType::kPerson:
        ++persons;
        CHECK(ev.person.id == 1000 + persons - 1);  // Dense, ascending person ids.
        max_person = ev.person.id;
        break;
      case EventType::kAuction:
        ++auctions;
        CHECK(ev.auction.id == 1000 + auctions - 1);
        CHECK(ev.auction.seller <= max_person + 10);
        CHECK(ev.auction.category >= 10);
        CHECK(ev.auction.category < 15);
        CHECK(ev.auction.expires_ms > ev.auction.date_time_ms);
        CHECK(ev.auction.reserve >= ev.auction.initial_bid);
        max_auction = ev.auction.id;
        break;
      case EventType::kBid:
        ++bids;
        CHECK(ev.bid.auction >= 1000);
        CHECK(ev.bid.auction <= max_auction + 10);
        CHECK(ev.bid.bidder <= max_person + 10);
        CHECK(ev.bid.price > 0);
        break;
    }
    CHECK(ev.date_time_ms() == o.base_time_ms + id * 1000000 / 10000 / 1000);
  }
  CHECK(persons == 1000);
  CHECK(auctions == 3000);
  CHECK(bids == 46000);
}

TEST_CASE("nexmark arrival order: about 10% delayed, never by more than 3 s") {
  GeneratorOptions o;
  o.rate = 10000;
  Generator g(o);
  Event e;
  int64_t max_seen = INT64_MIN;
  int late_arrivals = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    g.Next(&e);
    if (e.date_time_ms() < max_seen) {
      ++late_arrivals;
      CHECK(max_seen - e.date_time_ms() <= 3000);
    }
    max_seen = std::max(max_seen, e.date_time_ms());
  }
  double share = static_cast<double>(late_arrivals) / n;
  CHECK(share > 0.05);
  CHECK(share < 0.11);
}

TEST_CASE("nexmark is deterministic per seed and encodes the reference field names") {
  Generator a, b;
  Event x, y;
  for (int i = 0; i < 2000; ++i) {
    a.Next(&x);
    b.Next(&y);
    REQUIRE(x.ToJson() == y.ToJson());
  }
  GeneratorOptions o;
  o.seed = 7;
  Generator c(o);
  c.Next(&y);
  Generator d;
  d.Next(&x);
  CHECK(x.ToJson() != y.ToJson());
  Event bid;
  do a.Next(&bid); while (bid.type != EventType::kBid);
  std::string j = bid.ToJson();
  for (const char* f : {"\"auction\":", "\"bidder\":", "\"price\":", "\"channel\":", "\"url\":", "\"dateTime\":\"20", "\"extra\":"})
    CHECK(j.find(f) != std::string::npos);
  CHECK(j.front() == '{');
  CHECK(j.back() == '}');
}

TEST_CASE("nexmark parallel generators (first_event, stride) make every event once between them") {
  GeneratorOptions o;
  o.rate = 1000;  // 3 s of delay = at most 3,000 events
  Generator whole(o);
  std::map<int64_t, std::string> expected, got;
  Event e;
  for (int i = 0; i < 20000; ++i) {
    whole.Next(&e);
    if (e.event_id < 15000) expected[e.event_id] = e.ToJson();
  }
  REQUIRE(expected.size() == 15000);
  for (int k = 0; k < 3; ++k) {
    GeneratorOptions part = o;
    part.first_event = k;
    part.stride = 3;
    Generator g(part);
    for (int i = 0; i < 7000; ++i) {
      g.Next(&e);
      CHECK(e.event_id % 3 == k);
      if (e.event_id < 15000) CHECK(got.emplace(e.event_id, e.ToJson()).second);  // never twice
    }
  }
  CHECK(got == expected);
}
