#include "examples/nexmark/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/time.h"
#include "core/value.h"

namespace sluice::nexmark {
namespace {

constexpr int kPersonProportion = 1, kAuctionProportion = 3, kTotalProportion = 50;
constexpr int64_t kFirstPersonId = 1000, kFirstAuctionId = 1000, kFirstCategoryId = 10;
constexpr int kNumCategories = 5;
constexpr int kIdLead = 10;
constexpr int kHotGroup = 100;  // "hot" ids are the first of the last group of 100.

const char* const kStates[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
const char* const kCities[] = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
                               "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
const char* const kFirst[] = {"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
const char* const kLast[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};
const char* const kChannels[] = {"Google", "Facebook", "Baidu", "Apple"};

void Field(std::string* o, const char* name, int64_t v) {
  *o += '"';
  *o += name;
  *o += "\":";
  *o += std::to_string(v);
  *o += ',';
}
void Field(std::string* o, const char* name, const std::string& v) {
  *o += '"';
  *o += name;
  *o += "\":";
  AppendJsonString(v, o);
  *o += ',';
}
void TimeField(std::string* o, const char* name, int64_t ms) {
  Field(o, name, FormatTimestamp(EventTime::FromMillis(ms)));
}

}  // namespace

int64_t Event::date_time_ms() const {
  switch (type) {
    case EventType::kPerson: return person.date_time_ms;
    case EventType::kAuction: return auction.date_time_ms;
    case EventType::kBid: return bid.date_time_ms;
  }
  return 0;
}

std::string Event::ToJson() const {
  std::string o = "{";
  Field(&o, "event_type", static_cast<int64_t>(type));
  switch (type) {
    case EventType::kPerson:
      Field(&o, "id", person.id);
      Field(&o, "name", person.name);
      Field(&o, "emailAddress", person.email_address);
      Field(&o, "creditCard", person.credit_card);
      Field(&o, "city", person.city);
      Field(&o, "state", person.state);
      TimeField(&o, "dateTime", person.date_time_ms);
      Field(&o, "extra", person.extra);
      break;
    case EventType::kAuction:
      Field(&o, "id", auction.id);
      Field(&o, "itemName", auction.item_name);
      Field(&o, "description", auction.description);
      Field(&o, "initialBid", auction.initial_bid);
      Field(&o, "reserve", auction.reserve);
      TimeField(&o, "dateTime", auction.date_time_ms);
      TimeField(&o, "expires", auction.expires_ms);
      Field(&o, "seller", auction.seller);
      Field(&o, "category", auction.category);
      Field(&o, "extra", auction.extra);
      break;
    case EventType::kBid:
      Field(&o, "auction", bid.auction);
      Field(&o, "bidder", bid.bidder);
      Field(&o, "price", bid.price);
      Field(&o, "channel", bid.channel);
      Field(&o, "url", bid.url);
      TimeField(&o, "dateTime", bid.date_time_ms);
      Field(&o, "extra", bid.extra);
      break;
  }
  o.back() = '}';
  return o;
}

namespace {

// Random text strings are cut from. Small enough that both pools stay in L1/L2 cache next to the
// query's working set; a string starts at any of kPoolBytes offsets.
constexpr size_t kPoolBytes = 1 << 13;
constexpr size_t kMinPoolSlack = 1 << 10;  // longer than any one string at the default sizes
constexpr uint64_t kStreamFields = 0x5851F42D4C957F2DULL, kStreamDelay = 0x2545F4914F6CDD1DULL;

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void AppendFourDigits(int v, std::string* out) {
  const char d[4] = {static_cast<char>('0' + v / 1000), static_cast<char>('0' + v / 100 % 10),
                     static_cast<char>('0' + v / 10 % 10), static_cast<char>('0' + v % 10)};
  out->append(d, 4);
}

}  // namespace

Generator::Generator(GeneratorOptions options)
    : o_(options), us_per_event_(1e6 / options.rate), next_number_(std::max<int64_t>(options.first_event, 0)) {
  o_.stride = std::max<int64_t>(o_.stride, 1);
  Rng rng{Mix(options.seed ^ 0x6A09E667F3BCC908ULL)};
  // The longest extra is 1.2 x the largest average size.
  const int largest = std::max({options.avg_person_bytes, options.avg_auction_bytes, options.avg_bid_bytes, 0});
  const size_t slack = std::max(kMinPoolSlack, static_cast<size_t>(largest) * 6 / 5 + 16);
  letters_.resize(kPoolBytes + slack);
  spaced_.resize(kPoolBytes + slack);
  for (size_t i = 0; i < letters_.size(); ++i) {
    letters_[i] = static_cast<char>('a' + rng.Uniform(26));
    spaced_[i] = rng.Uniform(13) == 0 ? ' ' : static_cast<char>('a' + rng.Uniform(26));
  }
}

Generator::Rng Generator::EventRng(int64_t n, uint64_t stream) const {
  return Rng{Mix(o_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(n) * stream) ^ stream};
}

int64_t Generator::DateTimeMs(int64_t n) const {
  return o_.base_time_ms + static_cast<int64_t>(static_cast<double>(n) * us_per_event_) / 1000;
}

int64_t Generator::DelayMs(int64_t n) const {
  Rng rng = EventRng(n, kStreamDelay);
  if (rng.Unit() >= o_.prob_delayed_event) return 0;
  return 1 + rng.Uniform(o_.max_delay_ms);
}

int64_t Generator::LastPersonId(int64_t id) const {
  int64_t epoch = id / kTotalProportion, offset = id % kTotalProportion;
  if (offset >= kPersonProportion) offset = kPersonProportion - 1;
  return epoch * kPersonProportion + offset;
}

int64_t Generator::LastAuctionId(int64_t id) const {
  int64_t epoch = id / kTotalProportion, offset = id % kTotalProportion;
  if (offset < kPersonProportion) {
    --epoch;
    offset = kAuctionProportion - 1;
  } else if (offset >= kPersonProportion + kAuctionProportion) {
    offset = kAuctionProportion - 1;
  } else {
    offset -= kPersonProportion;
  }
  return epoch * kAuctionProportion + offset;
}

int64_t Generator::NextPersonId(Rng& rng, int64_t id) const {
  int64_t people = LastPersonId(id) + 1;
  int64_t active = std::min<int64_t>(people, o_.num_active_people);
  return people - active + rng.Uniform(active + kIdLead);
}

int64_t Generator::NextAuctionId(Rng& rng, int64_t id) const {
  int64_t max_a = LastAuctionId(id);
  int64_t min_a = std::max<int64_t>(max_a - o_.num_in_flight_auctions, 0);
  return min_a + rng.Uniform(max_a - min_a + 1 + kIdLead);
}

int64_t Generator::NextPrice(Rng& rng) {
  // 10^(6u) * 100: log-uniform between 1.00 and 1,000,000.00 (in cents), as the reference.
  // exp(6u ln 10) is the same value as pow(10, 6u) to within rounding, and costs less.
  constexpr double kSixLn10 = 13.815510557964274;
  return static_cast<int64_t>(std::exp(rng.Unit() * kSixLn10) * 100.0 + 0.5);
}

void Generator::AppendString(Rng& rng, int max_len, std::string* out) const {
  const size_t len = static_cast<size_t>(3 + rng.Uniform(std::max(1, max_len - 3)));
  out->append(spaced_.data() + rng.Uniform(static_cast<int64_t>(kPoolBytes)), len);
}

void Generator::SetExtra(Rng& rng, int current, int desired, std::string* out) const {
  out->clear();
  if (current > desired) return;
  const int delta = desired - current;
  const int len = std::max(0, delta + static_cast<int>(rng.Uniform(delta / 5 * 2 + 1)) - delta / 5);
  out->assign(letters_.data() + rng.Uniform(static_cast<int64_t>(kPoolBytes)),
              std::min(static_cast<size_t>(len), letters_.size() - kPoolBytes));
}

void Generator::Make(int64_t n, Event* e) const {
  Rng rng = EventRng(n, kStreamFields);
  const int64_t ts = DateTimeMs(n);
  const int64_t id = n;
  e->event_id = id;
  const int64_t rem = id % kTotalProportion;
  if (rem < kPersonProportion) {
    e->type = EventType::kPerson;
    Person& p = e->person;
    p.id = LastPersonId(id) + kFirstPersonId;
    p.name.assign(kFirst[rng.Uniform(std::size(kFirst))]);
    p.name += ' ';
    p.name += kLast[rng.Uniform(std::size(kLast))];
    p.email_address.clear();
    AppendString(rng, 7, &p.email_address);
    p.email_address += '@';
    AppendString(rng, 5, &p.email_address);
    p.email_address += ".com";
    p.credit_card.clear();
    for (int i = 0; i < 4; ++i) {
      if (i > 0) p.credit_card += ' ';
      AppendFourDigits(static_cast<int>(rng.Uniform(10000)), &p.credit_card);
    }
    p.city.assign(kCities[rng.Uniform(std::size(kCities))]);
    p.state.assign(kStates[rng.Uniform(std::size(kStates))]);
    p.date_time_ms = ts;
    int size = 8 + static_cast<int>(p.name.size() + p.email_address.size() + p.credit_card.size() + p.city.size() + p.state.size());
    SetExtra(rng, size, o_.avg_person_bytes, &p.extra);
  } else if (rem < kPersonProportion + kAuctionProportion) {
    e->type = EventType::kAuction;
    Auction& a = e->auction;
    a.id = LastAuctionId(id) + kFirstAuctionId;
    a.seller = (rng.Uniform(o_.hot_seller_ratio) > 0 ? (LastPersonId(id) / kHotGroup) * kHotGroup : NextPersonId(rng, id)) + kFirstPersonId;
    a.category = kFirstCategoryId + rng.Uniform(kNumCategories);
    a.initial_bid = NextPrice(rng);
    // Auction length: on average the time until num_in_flight_auctions more auctions exist.
    int64_t events_ahead = static_cast<int64_t>(o_.num_in_flight_auctions) * kTotalProportion / kAuctionProportion;
    int64_t horizon_ms = static_cast<int64_t>(static_cast<double>(events_ahead) * us_per_event_) / 1000;
    a.date_time_ms = ts;
    a.expires_ms = ts + 1 + rng.Uniform(std::max<int64_t>(horizon_ms * 2, 1));
    a.item_name.clear();
    AppendString(rng, 20, &a.item_name);
    a.description.clear();
    AppendString(rng, 100, &a.description);
    a.reserve = a.initial_bid + NextPrice(rng);
    int size = 8 + static_cast<int>(a.item_name.size() + a.description.size()) + 40;
    SetExtra(rng, size, o_.avg_auction_bytes, &a.extra);
  } else {
    e->type = EventType::kBid;
    Bid& b = e->bid;
    b.auction = (rng.Uniform(o_.hot_auction_ratio) > 0 ? (LastAuctionId(id) / kHotGroup) * kHotGroup : NextAuctionId(rng, id)) + kFirstAuctionId;
    b.bidder = (rng.Uniform(o_.hot_bidder_ratio) > 0 ? (LastPersonId(id) / kHotGroup) * kHotGroup + 1 : NextPersonId(rng, id)) + kFirstPersonId;
    b.price = NextPrice(rng);
    const int ch = static_cast<int>(rng.Uniform(std::size(kChannels)));
    b.channel.assign(kChannels[ch]);
    b.url.assign("https://www.nexmark.com/");
    AppendString(rng, 5, &b.url);
    b.url += "/item.htm?query=1&channel_id=";
    b.url += static_cast<char>('0' + ch);  // ch < 10
    b.date_time_ms = ts;
    SetExtra(rng, 32, o_.avg_bid_bytes, &b.extra);
  }
}

void Generator::Next(Event* out) {
  for (;;) {
    const int64_t n = next_number_;
    // A delayed event due no later than the next candidate's dateTime goes first (on a tie its
    // smaller number wins); every event not yet considered arrives at or after that dateTime.
    if (!delayed_.empty() && delayed_.top().arrival_ms <= DateTimeMs(n)) {
      const int64_t m = delayed_.top().number;
      delayed_.pop();
      Make(m, out);
      break;
    }
    next_number_ += o_.stride;
    const int64_t delay = DelayMs(n);
    if (delay == 0) {
      Make(n, out);
      break;
    }
    delayed_.push({DateTimeMs(n) + delay, n});
  }
  ++emitted_;
}

}  // namespace sluice::nexmark
