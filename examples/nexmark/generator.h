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
// PRNG stream; the same seed always gives the same events here. Like the reference, each event
// is computed from its own number (the reference seeds a java.util.Random with the event id).
// Thread-safety: a Generator is used by one thread at a time.
#pragma once

#include <cstdint>
#include <queue>
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
  /// Parallel generation, as the parallel instances of Nexmark's source: this generator makes
  /// the event numbers first_event, first_event + stride, first_event + 2 × stride, … (stride
  /// generators with first_event 0 … stride − 1 make every event once between them).
  /// Defaults: 0 and 1 (every event).
  int64_t first_event = 0;
  int64_t stride = 1;
};

/// The generator. Each event is a pure function of (seed, event number): its fields come from a
/// small counter-seeded PRNG (splitmix64 seeded with the seed and the event number), so the same
/// seed always gives the same events, and an event that arrives late is kept only as its number
/// (16 bytes) until it is due, then made. Memory is therefore bounded by the events in flight
/// (rate × prob_delayed_event × mean delay: about 1.5M numbers, 24 MB, at the suite's 10M
/// events/s), not by how many events are generated. Strings are cut from a pool of random text
/// made once per generator, and written into `out`'s existing buffers: after the first few
/// events, Next() allocates nothing.
/// Thread-safety: one thread at a time; distinct generators are independent.
class Generator {
 public:
  explicit Generator(GeneratorOptions options = {});
  /// Fills `out` with the next event in arrival order: by (arrival time, event number), where
  /// arrival time = dateTime, or dateTime + 1..max_delay_ms for a delayed event. Never runs out.
  /// Only the member of `out` matching its type is written; the others keep old values.
  void Next(Event* out);
  /// Events handed out so far.
  int64_t count() const { return emitted_; }

 private:
  /// The PRNG of one event: splitmix64 (Steele, Lea, Flood 2014), with Lemire's multiply-shift
  /// for bounded integers.
  struct Rng {
    uint64_t state;
    uint64_t Next() {
      uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      return z ^ (z >> 31);
    }
    /// Uniform in [0, n); 0 when n <= 0.
    int64_t Uniform(int64_t n) {
      if (n <= 0) return 0;
      return static_cast<int64_t>((static_cast<unsigned __int128>(Next()) * static_cast<uint64_t>(n)) >> 64);
    }
    /// Uniform in [0, 1).
    double Unit() { return static_cast<double>(Next() >> 11) / 9007199254740992.0; }
  };
  struct Pending {
    int64_t arrival_ms;
    int64_t number;
    bool operator>(const Pending& p) const {
      return arrival_ms != p.arrival_ms ? arrival_ms > p.arrival_ms : number > p.number;
    }
  };

  Rng EventRng(int64_t event_number, uint64_t stream) const;
  int64_t DateTimeMs(int64_t event_number) const;
  /// 0 for an on-time event, else the delay, 1..max_delay_ms. Unit: ms.
  int64_t DelayMs(int64_t event_number) const;
  void Make(int64_t event_number, Event* out) const;
  int64_t LastPersonId(int64_t event_id) const;
  int64_t LastAuctionId(int64_t event_id) const;
  int64_t NextPersonId(Rng& rng, int64_t event_id) const;
  int64_t NextAuctionId(Rng& rng, int64_t event_id) const;
  static int64_t NextPrice(Rng& rng);
  /// Appends 3..max_len-1 characters of letters and spaces (about 1 in 13 a space).
  void AppendString(Rng& rng, int max_len, std::string* out) const;
  /// Sets `out` to lowercase padding so that current + padding averages `desired` bytes.
  void SetExtra(Rng& rng, int current_size, int desired_avg, std::string* out) const;

  GeneratorOptions o_;
  double us_per_event_;        // 1e6 / rate
  std::string letters_;        // random lowercase text, kPoolBytes + slack
  std::string spaced_;         // the same with about 1 in 13 characters a space
  int64_t next_number_ = 0;    // the next event number not yet considered
  int64_t emitted_ = 0;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<Pending>> delayed_;
};

}  // namespace sluice::nexmark
