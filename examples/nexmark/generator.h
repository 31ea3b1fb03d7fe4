// The Nexmark event generator (people, auctions, bids), written for Sluice after the rules of the
// nexmark/nexmark project's Flink generator (GeneratorConfig, PersonGenerator, AuctionGenerator,
// BidGenerator), as summarised in shared/NEXMARK.md:
//   - event kind by event id: id % 50 < 1 person, < 4 auction, else bid (1 : 3 : 46);
//   - ids start at 1000 (people, auctions), categories at 10; auctions and bids refer to recent
//     people/auctions ("hot" ones with ratios 2 and 4, within 1,000 active people and 100 auctions
//     in flight, plus a small lead of not-yet-created ids);
//   - dateTime = base_time + event_number * (1e6 / rate) us;
//   - with probability 0.1 an event arrives up to 3 s after its dateTime (out of order), so a
//     watermark of max(dateTime) - 4 s never marks an event late;
//   - field names as in that project: Person {id, name, emailAddress, creditCard, city, state,
//     dateTime, extra}, Auction {id, itemName, description, initialBid, reserve, dateTime,
//     expires, seller, category, extra}, Bid {auction, bidder, price, channel, url, dateTime, extra}.
// Strings (names, extra padding) follow the reference's shapes and average sizes, not its exact
// PRNG stream; the same seed always gives the same events here.
// Thread-safety: a Generator is used by one thread at a time.
#pragma once

#include <cstdint>
#include <queue>
#include <random>
#include <string>
#include <vector>

namespace sluice::nexmark {

struct Person {
  int64_t id = 0;
  std::string name, email_address, credit_card, city, state;
  int64_t date_time_ms = 0;
  std::string extra;
};

struct Auction {
  int64_t id = 0;
  std::string item_name, description;
  int64_t initial_bid = 0, reserve = 0;
  int64_t date_time_ms = 0, expires_ms = 0;
  int64_t seller = 0, category = 0;
  std::string extra;
};

struct Bid {
  int64_t auction = 0, bidder = 0, price = 0;
  std::string channel, url;
  int64_t date_time_ms = 0;
  std::string extra;
};

enum class EventType : uint8_t { kPerson = 0, kAuction = 1, kBid = 2 };

/// One generated event; only the member matching `type` is filled.
struct Event {
  EventType type = EventType::kBid;
  int64_t event_id = 0;  ///< 0-based event number (also the event's "id" in the reference).
  Person person;
  Auction auction;
  Bid bid;
  int64_t date_time_ms() const;
  /// The event as one flat JSON object: "event_type" (0 person, 1 auction, 2 bid, as the
  /// reference's datagen table) first, then the reference's field names (dateTime as RFC 3339).
  std::string ToJson() const;
};

struct GeneratorOptions {
  /// Events per second of event time. Default: 10,000,000 (the suite's cap).
  double rate = 10'000'000;
  /// dateTime of event 0, Unix ms. Default: 2026-01-01T00:00:00Z.
  int64_t base_time_ms = 1767225600000;
  uint64_t seed = 42;
  /// Share of events that arrive late, and by how much at most. Defaults: 0.1, 3 s.
  double prob_delayed_event = 0.1;
  int64_t max_delay_ms = 3000;
  int num_active_people = 1000;
  int num_in_flight_auctions = 100;
  int hot_auction_ratio = 2;
  int hot_seller_ratio = 4;
  int hot_bidder_ratio = 4;
  /// Average encoded sizes the `extra` field pads to. Unit: bytes.
  int avg_person_bytes = 200, avg_auction_bytes = 500, avg_bid_bytes = 100;
};

class Generator {
 public:
  explicit Generator(GeneratorOptions options = {});
  /// Fills `out` with the next event in arrival order. Never runs out.
  void Next(Event* out);
  /// Events handed out so far.
  int64_t count() const { return emitted_; }

 private:
  void Make(int64_t event_number, Event* out);
  int64_t LastPersonId(int64_t event_id) const;
  int64_t LastAuctionId(int64_t event_id) const;
  int64_t NextPersonId(int64_t event_id);
  int64_t NextAuctionId(int64_t event_id);
  int64_t NextPrice();
  std::string NextString(int max_len);
  std::string NextExtra(int current_size, int desired_avg);
  int64_t Uniform(int64_t n) { return n <= 0 ? 0 : static_cast<int64_t>(rng_() % static_cast<uint64_t>(n)); }

  GeneratorOptions o_;
  std::mt19937_64 rng_;
  int64_t next_number_ = 0;
  int64_t emitted_ = 0;
  struct Delayed {
    int64_t arrival_ms;
    int64_t order;
    Event event;
    bool operator>(const Delayed& d) const { return arrival_ms != d.arrival_ms ? arrival_ms > d.arrival_ms : order > d.order; }
  };
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<Delayed>> delayed_;
};

}  // namespace sluice::nexmark
