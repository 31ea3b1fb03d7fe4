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

Generator::Generator(GeneratorOptions options) : o_(options), rng_(options.seed) {}

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

int64_t Generator::NextPersonId(int64_t id) {
  int64_t people = LastPersonId(id) + 1;
  int64_t active = std::min<int64_t>(people, o_.num_active_people);
  return people - active + Uniform(active + kIdLead);
}

int64_t Generator::NextAuctionId(int64_t id) {
  int64_t max_a = LastAuctionId(id);
  int64_t min_a = std::max<int64_t>(max_a - o_.num_in_flight_auctions, 0);
  return min_a + Uniform(max_a - min_a + 1 + kIdLead);
}

int64_t Generator::NextPrice() {
  double u = static_cast<double>(rng_() >> 11) / 9007199254740992.0;
  return std::llround(std::pow(10.0, u * 6.0) * 100.0);
}

std::string Generator::NextString(int max_len) {
  int len = 3 + static_cast<int>(Uniform(std::max(1, max_len - 3)));
  std::string s(static_cast<size_t>(len), 'a');
  for (auto& c : s) c = Uniform(13) == 0 ? ' ' : static_cast<char>('a' + Uniform(26));
  return s;
}

std::string Generator::NextExtra(int current, int desired) {
  if (current > desired) return "";
  int delta = desired - current;
  int len = std::max(0, delta + static_cast<int>(Uniform(delta / 5 * 2 + 1)) - delta / 5);
  std::string s(static_cast<size_t>(len), 'x');
  for (auto& c : s) c = static_cast<char>('a' + Uniform(26));
  return s;
}

void Generator::Make(int64_t n, Event* e) {
  const int64_t ts = o_.base_time_ms + static_cast<int64_t>(static_cast<double>(n) * (1e6 / o_.rate)) / 1000;
  const int64_t id = n;
  e->event_id = id;
  const int64_t rem = id % kTotalProportion;
  if (rem < kPersonProportion) {
    e->type = EventType::kPerson;
    Person& p = e->person;
    p.id = LastPersonId(id) + kFirstPersonId;
    p.name = std::string(kFirst[Uniform(std::size(kFirst))]) + " " + kLast[Uniform(std::size(kLast))];
    p.email_address = NextString(7) + "@" + NextString(5) + ".com";
    char cc[24];
    std::snprintf(cc, sizeof cc, "%04d %04d %04d %04d", static_cast<int>(Uniform(10000)), static_cast<int>(Uniform(10000)),
                  static_cast<int>(Uniform(10000)), static_cast<int>(Uniform(10000)));
    p.credit_card = cc;
    p.city = kCities[Uniform(std::size(kCities))];
    p.state = kStates[Uniform(std::size(kStates))];
    p.date_time_ms = ts;
    int size = 8 + static_cast<int>(p.name.size() + p.email_address.size() + p.credit_card.size() + p.city.size() + p.state.size());
    p.extra = NextExtra(size, o_.avg_person_bytes);
  } else if (rem < kPersonProportion + kAuctionProportion) {
    e->type = EventType::kAuction;
    Auction& a = e->auction;
    a.id = LastAuctionId(id) + kFirstAuctionId;
    a.seller = (Uniform(o_.hot_seller_ratio) > 0 ? (LastPersonId(id) / kHotGroup) * kHotGroup : NextPersonId(id)) + kFirstPersonId;
    a.category = kFirstCategoryId + Uniform(kNumCategories);
    a.initial_bid = NextPrice();
    // Auction length: on average the time until num_in_flight_auctions more auctions exist.
    int64_t events_ahead = static_cast<int64_t>(o_.num_in_flight_auctions) * kTotalProportion / kAuctionProportion;
    int64_t horizon_ms = static_cast<int64_t>(static_cast<double>(events_ahead) * (1e6 / o_.rate)) / 1000;
    a.date_time_ms = ts;
    a.expires_ms = ts + 1 + Uniform(std::max<int64_t>(horizon_ms * 2, 1));
    a.item_name = NextString(20);
    a.description = NextString(100);
    a.reserve = a.initial_bid + NextPrice();
    int size = 8 + static_cast<int>(a.item_name.size() + a.description.size()) + 40;
    a.extra = NextExtra(size, o_.avg_auction_bytes);
  } else {
    e->type = EventType::kBid;
    Bid& b = e->bid;
    b.auction = (Uniform(o_.hot_auction_ratio) > 0 ? (LastAuctionId(id) / kHotGroup) * kHotGroup : NextAuctionId(id)) + kFirstAuctionId;
    b.bidder = (Uniform(o_.hot_bidder_ratio) > 0 ? (LastPersonId(id) / kHotGroup) * kHotGroup + 1 : NextPersonId(id)) + kFirstPersonId;
    b.price = NextPrice();
    int ch = static_cast<int>(Uniform(std::size(kChannels)));
    b.channel = kChannels[ch];
    b.url = "https://www.nexmark.com/" + NextString(5) + "/item.htm?query=1&channel_id=" + std::to_string(ch);
    b.date_time_ms = ts;
    b.extra = NextExtra(32, o_.avg_bid_bytes);
  }
}

void Generator::Next(Event* out) {
  // Generate until the earliest pending arrival is not after the newest on-time event.
  for (;;) {
    Event e;
    Make(next_number_, &e);
    int64_t arrival = e.date_time_ms();
    double u = static_cast<double>(rng_() >> 11) / 9007199254740992.0;
    if (u < o_.prob_delayed_event) arrival += 1 + Uniform(o_.max_delay_ms);
    delayed_.push({arrival, next_number_, std::move(e)});
    ++next_number_;
    // The next event's dateTime bounds the arrival of everything not yet generated.
    int64_t horizon = o_.base_time_ms + static_cast<int64_t>(static_cast<double>(next_number_) * (1e6 / o_.rate)) / 1000;
    if (delayed_.top().arrival_ms <= horizon) break;
  }
  *out = std::move(const_cast<Delayed&>(delayed_.top()).event);
  delayed_.pop();
  ++emitted_;
}

}  // namespace sluice::nexmark
