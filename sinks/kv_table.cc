#include "sinks/kv_table.h"

#include <algorithm>

namespace sluice::sinks {

KvTable::KvTable(StateStore* store, std::string name, Schema schema, std::vector<int> pk)
    : store_(store),
      name_(std::move(name)),
      space_("table." + name_),
      schema_(std::move(schema)),
      primary_key_(std::move(pk)) {}

std::string KvTable::KeyOf(const Row& row) const {
  std::string k;
  for (size_t i = 0; i < primary_key_.size(); ++i) {
    if (i) k.push_back('|');
    k += row[static_cast<size_t>(primary_key_[i])].ToString();
  }
  return k;
}

Status KvTable::Write(const std::vector<Row>& rows) {
  if (rows.empty()) return Status::OK();
  StoreBatch batch;
  for (const Row& r : rows) batch.Put(space_, KeyOf(r), RowToJson(schema_, r));
  return store_->Commit(batch);
}

Result<std::optional<std::string>> KvTable::Get(const std::string& key) const {
  auto v = store_->Get(space_, key);
  if (v.ok()) return std::optional<std::string>(std::move(v).value());
  if (v.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return v.status();
}

Result<std::vector<std::pair<std::string, std::string>>> KvTable::Scan(const std::string& prefix,
                                                                       const std::string& start,
                                                                       const std::string& end, size_t limit) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (limit == 0) return out;
  // With a prefix, every key under it from max(prefix, start) on; else [start, end).
  const std::string& from = prefix.empty() ? start : std::max(prefix, start);
  SLUICE_RETURN_IF_ERROR(store_->ScanFrom(space_, from, prefix, [&](std::string_view k, std::string_view v, bool* more) {
    if (prefix.empty() && !end.empty() && k >= end) {
      *more = false;
      return Status::OK();
    }
    out.emplace_back(std::string(k), std::string(v));
    *more = out.size() < limit;
    return Status::OK();
  }));
  return out;
}

Result<KvTable*> KvTables::Open(const std::string& name, const Schema& schema, const std::vector<int>& pk) {
  if (pk.empty()) return Status::InvalidArgument("table " + name + " needs a primary key");
  std::lock_guard lock(mu_);
  auto& slot = tables_[name];
  if (!slot) slot = std::make_unique<KvTable>(store_, name, schema, pk);
  return slot.get();
}

KvTable* KvTables::table(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : it->second.get();
}

Status KvTableWriter::Write(const std::vector<Row>& rows) {
  for (const Row& r : rows) staged_[table_->KeyOf(r)] = {next_seq_++, RowToJson(table_->schema(), r)};
  return Status::OK();
}

std::vector<std::string> KvTable::primary_key_names() const {
  std::vector<std::string> out;
  for (int i : primary_key_) out.push_back(schema_[static_cast<size_t>(i)].name);
  return out;
}

void KvTable::NoteCommitted(uint64_t n, const std::vector<std::string>& latest) {
  rows_written_.fetch_add(n, std::memory_order_relaxed);
  std::lock_guard lock(latest_mu_);
  for (const auto& r : latest) latest_.push_back(r);
  while (latest_.size() > kLatestRows) latest_.pop_front();
}

std::vector<std::string> KvTable::LatestRows() const {
  std::lock_guard lock(latest_mu_);
  return {latest_.rbegin(), latest_.rend()};
}

std::vector<KvTable*> KvTables::tables() const {
  std::lock_guard lock(mu_);
  std::vector<KvTable*> out;
  for (const auto& [_, t] : tables_) out.push_back(t.get());
  return out;
}

Status KvTableWriter::PrepareCheckpoint(uint64_t, StoreBatch* batch) {
  prepared_rows_ = staged_.size();
  prepared_latest_.clear();
  // The last kLatestRows rows written (by write order, not key order), oldest first.
  std::vector<std::pair<uint64_t, const std::string*>> latest;
  for (const auto& [key, staged] : staged_) {
    batch->Put(table_->space(), key, staged.second);
    latest.emplace_back(staged.first, &staged.second);
  }
  const size_t keep = std::min(latest.size(), KvTable::kLatestRows);
  std::partial_sort(latest.begin(), latest.begin() + static_cast<std::ptrdiff_t>(keep), latest.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = keep; i-- > 0;) prepared_latest_.push_back(*latest[i].second);
  staged_.clear();
  return Status::OK();
}

Status KvTableWriter::CommitCheckpoint(uint64_t) {
  if (prepared_rows_ > 0) table_->NoteCommitted(prepared_rows_, prepared_latest_);
  prepared_rows_ = 0;
  prepared_latest_.clear();
  return Status::OK();
}

}  // namespace sluice::sinks
