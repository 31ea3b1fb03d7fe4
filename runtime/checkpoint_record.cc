#include "runtime/checkpoint_record.h"

#include <cstring>

#include "core/crc32c.h"
#include "operators/key_groups.h"
#include "operators/state_codec.h"

namespace sluice::runtime {

namespace {
constexpr char kMagic[4] = {'S', 'L', 'C', 'P'};
constexpr uint8_t kVersion = 2;  // 2 adds the key-group count; 1 is read as K = 1
}  // namespace

std::string EncodeCheckpointRecord(const CheckpointRecord& r) {
  std::string out(kMagic, 4);
  ops::StateWriter w(&out);
  w.PutU8(kVersion);
  w.PutVarint(r.id);
  w.PutSigned(r.wall_ms);
  w.PutBytes(r.fingerprint);
  w.PutBytes(r.scalars);
  w.PutVarint(r.splits.size());
  for (const SplitPosition& s : r.splits) {
    w.PutBytes(s.id);
    w.PutVarint(s.next_position);
    w.PutSigned(s.max_event_time.micros);
  }
  w.PutVarint(r.key_groups);
  const uint32_t crc = crc32c::Value(out.data(), out.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(crc >> (8 * i)));
  return out;
}

Result<CheckpointRecord> DecodeCheckpointRecord(std::string_view bytes) {
  if (bytes.size() < 9 || std::memcmp(bytes.data(), kMagic, 4) != 0)
    return Status::Corruption("checkpoint record: bad magic");
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[body.size() + i])) << (8 * i);
  if (crc32c::Value(body.data(), body.size()) != stored) return Status::Corruption("checkpoint record: CRC mismatch");
  ops::StateReader r(body.substr(4));
  CheckpointRecord rec;
  uint8_t version;
  uint64_t n;
  std::string_view fp, scalars;
  if (!r.GetU8(&version)) return Status::Corruption("checkpoint record: truncated");
  if (version != kVersion && version != 1)
    return Status::Corruption("checkpoint record: version " + std::to_string(version) + " is not supported");
  if (!r.GetVarint(&rec.id) || !r.GetSigned(&rec.wall_ms) || !r.GetBytes(&fp) || !r.GetBytes(&scalars) ||
      !r.GetVarint(&n) || n > body.size()) {
    return Status::Corruption("checkpoint record: truncated");
  }
  rec.fingerprint = fp;
  rec.scalars = scalars;
  for (uint64_t i = 0; i < n; ++i) {
    SplitPosition s;
    std::string_view id;
    int64_t t;
    if (!r.GetBytes(&id) || !r.GetVarint(&s.next_position) || !r.GetSigned(&t))
      return Status::Corruption("checkpoint record: truncated split");
    s.id = id;
    s.max_event_time = EventTime{t};
    rec.splits.push_back(std::move(s));
  }
  rec.key_groups = 1;
  if (version >= 2) {
    uint64_t k;
    if (!r.GetVarint(&k)) return Status::Corruption("checkpoint record: truncated");
    if (k < 1 || k > ops::kMaxKeyGroups) return Status::Corruption("checkpoint record: bad key-group count " + std::to_string(k));
    rec.key_groups = static_cast<uint32_t>(k);
  }
  if (!r.done()) return Status::Corruption("checkpoint record: trailing bytes");
  return rec;
}

std::string StateFingerprint(const Pipeline& pipeline, const QueryDef& q, bool partition_key_groups) {
  std::string f = "source " + pipeline.sources[static_cast<size_t>(q.source)].name;
  if (q.stages) {
    // Window-aligned stages: the state is the leaves'; a leaf's position is its identity.
    f += "; stages";
    for (size_t i = 0; i < q.stages->leaves.size(); ++i) {
      const QueryDef& leaf = q.stages->leaves[i];
      // A stage plan has one key group whatever its leaves group by: no partition-key placement.
      f += " [" + std::to_string(i) + ": " + StateFingerprint(pipeline, leaf, false);
      if (!leaf.aggregating()) {
        f += "; rows";
        for (const Expr& e : leaf.projections) f += " " + e.text;
      }
      f += "]";
    }
    return f;
  }
  if (!q.aggregating()) {
    if (q.window.kind == WindowKind::kNone) return f + "; no state (projection)";
  }
  switch (q.window.kind) {
    case WindowKind::kNone: f += "; no window"; break;
    case WindowKind::kTumble: f += "; TUMBLE(" + FormatDuration(q.window.size) + ")"; break;
    case WindowKind::kHop:
      f += "; HOP(slide " + FormatDuration(q.window.slide) + ", size " + FormatDuration(q.window.size) + ")";
      break;
    case WindowKind::kSession: f += "; SESSION(gap " + FormatDuration(q.window.gap) + ")"; break;
  }
  f += "; GROUP BY";
  for (const Expr& k : q.group_keys) f += " " + k.text;
  f += "; aggregates";
  for (const AggregateDef& a : q.aggregates) {
    f += " " + a.text;
    if (a.filter) f += " FILTER (" + a.filter->text + ")";
  }
  // Where each key's state lives: by the partition key's hash key instead of XXH3 of the key.
  const int pk = ops::PartitionKeyGroupKey(pipeline.sources[static_cast<size_t>(q.source)], q);
  if (pk >= 0 && partition_key_groups) f += "; key groups by partition key " + q.group_keys[static_cast<size_t>(pk)].text;
  return f;
}

}  // namespace sluice::runtime
