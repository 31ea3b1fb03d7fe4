#include "operators/key_groups.h"

#include <xxhash.h>

#include <charconv>
#include <memory>

namespace sluice::ops {

uint32_t DefaultKeyGroups(const QueryDef& q) {
  if (q.stages) return 1;
  switch (q.window.kind) {
    case WindowKind::kTumble:
    case WindowKind::kHop:
    case WindowKind::kSession:
      return kDefaultKeyGroups;
    default:
      return 1;
  }
}

uint32_t KeyGroupOfKey(std::string_view encoded_key, uint32_t key_groups) {
  if (key_groups <= 1) return 0;
  return static_cast<uint32_t>(XXH3_64bits(encoded_key.data(), encoded_key.size()) % key_groups);
}

int PartitionKeyGroupKey(const SourceDef& source, const QueryDef& q) {
  if (source.partition_key_column < 0 || DefaultKeyGroups(q) == 1) return -1;
  for (size_t i = 0; i < q.group_keys.size(); ++i) {
    const Expr& k = q.group_keys[i];
    if (k.op == ExprOp::kColumn && k.column == source.partition_key_column) return static_cast<int>(i);
  }
  return -1;
}

namespace {

// The partition key a producer sent for value `v`: TEXT as is, BIGINT as its decimal text (in
// `buf`), anything else (NULL) as "".
std::string_view PartitionKeyText(const Value& v, char (&buf)[24]) {
  if (v.type() == DataType::kText) return v.as_text();
  if (v.type() != DataType::kInt64) return {};
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.as_int());
  (void)ec;  // 24 bytes hold every int64
  return std::string_view(buf, static_cast<size_t>(end - buf));
}

}  // namespace

uint32_t KeyGroupOfPartitionKey(const Value& v, uint32_t key_groups) {
  if (key_groups <= 1) return 0;
  char buf[24];
  return KeyGroupOfHashKey(HashPartitionKey(PartitionKeyText(v, buf)), key_groups);
}

uint32_t PartitionKeyGroups::Of(const Value& v) {
  if (key_groups_ <= 1) return 0;
  if (v.type() != DataType::kText && v.type() != DataType::kInt64) return null_group_;
  char buf[24];
  return OfText(PartitionKeyText(v, buf));
}

uint32_t PartitionKeyGroups::OfText(std::string_view key) {
  Slot& s = slots_[XXH3_64bits(key.data(), key.size()) & (kSlots - 1)];
  if (s.used && s.key == key) return s.group;
  s.key.assign(key);
  s.group = KeyGroupOfHashKey(HashPartitionKey(key), key_groups_);
  s.used = true;
  return s.group;
}

KeyGroupRange KeyGroupsOfWorker(uint32_t key_groups, int workers, int worker) {
  // Flink's KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex, end made exclusive.
  const uint64_t k = key_groups, p = static_cast<uint64_t>(workers), w = static_cast<uint64_t>(worker);
  KeyGroupRange r;
  r.count = key_groups;
  r.first = static_cast<uint32_t>((w * k + p - 1) / p);
  r.last = static_cast<uint32_t>(((w + 1) * k - 1) / p + 1);
  if (r.last < r.first) r.last = r.first;
  return r;
}

std::string KeyGroupPrefix(uint32_t group) {
  std::string p(2, '\0');
  p[0] = static_cast<char>((group >> 8) & 0xff);
  p[1] = static_cast<char>(group & 0xff);
  return p;
}

Status PrefixedStateStore::Commit(const StoreBatch&) {
  return Status::InvalidArgument("a key group's view of the state store does not commit; use AppendPrefixed()");
}

Result<std::string> PrefixedStateStore::Get(std::string_view space, std::string_view key) {
  std::string k = prefix_;
  k.append(key);
  return base_->Get(space, k);
}

Status PrefixedStateStore::Scan(std::string_view space, std::string_view prefix,
                                const std::function<Status(std::string_view, std::string_view, bool*)>& fn) {
  std::string p = prefix_;
  p.append(prefix);
  const size_t n = prefix_.size();
  return base_->Scan(space, p, [&](std::string_view key, std::string_view value, bool* more) {
    return fn(key.substr(n), value, more);
  });
}

Status PrefixedStateStore::ScanFrom(std::string_view space, std::string_view start, std::string_view prefix,
                                    const std::function<Status(std::string_view, std::string_view, bool*)>& fn) {
  std::string p = prefix_, s = prefix_;
  p.append(prefix);
  s.append(start);
  const size_t n = prefix_.size();
  return base_->ScanFrom(space, s, p, [&](std::string_view key, std::string_view value, bool* more) {
    return fn(key.substr(n), value, more);
  });
}

namespace {

// A run whose keys get a prefix as they are read (on the committing thread).
class PrefixedRun final : public StoreBatch::Run {
 public:
  PrefixedRun(std::shared_ptr<StoreBatch::Run> inner, std::string prefix)
      : inner_(std::move(inner)), prefix_(std::move(prefix)) {}
  void ForEach(const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) override {
    std::string key = prefix_;
    inner_->ForEach([&](StoreBatch::OpKind kind, std::string_view k, std::string_view v) {
      key.resize(prefix_.size());
      key.append(k);
      fn(kind, key, v);
    });
  }
  void Prepare() override { inner_->Prepare(); }
  void ForEachInPart(size_t part, size_t parts,
                     const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) override {
    std::string key = prefix_;  // one buffer per call: parts may be read on several threads
    inner_->ForEachInPart(part, parts, [&](StoreBatch::OpKind kind, std::string_view k, std::string_view v) {
      key.resize(prefix_.size());
      key.append(k);
      fn(kind, key, v);
    });
  }

 private:
  const std::shared_ptr<StoreBatch::Run> inner_;
  const std::string prefix_;
};

}  // namespace

void AppendPrefixed(const StoreBatch& from, std::string_view prefix, StoreBatch* to) {
  std::string key, end;
  from.ForEachFlat([&](const StoreBatch::OpView& op) {
    const std::string& space = from.spaces()[op.space];
    key.assign(prefix);
    key.append(op.key);
    switch (op.kind) {
      case StoreBatch::OpKind::kPut:
        to->Put(space, key, op.value);
        break;
      case StoreBatch::OpKind::kDelete:
        to->Delete(space, key);
        break;
      case StoreBatch::OpKind::kDeleteRange:
        end.assign(prefix);
        end.append(op.value);
        to->DeleteRange(space, key, end);
        break;
    }
  });
  for (size_t i = 0; i < from.run_count(); ++i) {
    to->AddRun(from.spaces()[from.run_space(i)], std::make_shared<PrefixedRun>(from.run(i), std::string(prefix)),
               from.run_ops(i), from.run_bytes(i) + from.run_ops(i) * prefix.size());
  }
}

}  // namespace sluice::ops
