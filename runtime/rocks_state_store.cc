#include "runtime/rocks_state_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/crash_point.h"

namespace sluice::runtime {
namespace {

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  return Status::IOError(what + ": " + s.ToString());
}

constexpr char kMetaFamily[] = "sluice.meta";

// Checkpoint batches of at least this many bytes are written as SST files and ingested
// (RocksStateStore::Commit). Below it, one synced WriteBatch is cheaper: an ingestion adds one level-0
// file per column family and flushes an overlapping memtable first.
constexpr size_t kDefaultIngestThresholdBytes = 8u << 20;

// An ingested run is written as SST files of its own, beside the others (RocksStateStore::Ingest): one,
// or kRunParts from kSplitRunOps ops on.
constexpr size_t kSplitRunOps = 1u << 16;
constexpr size_t kRunParts = 2;
size_t RunParts(size_t ops) { return ops >= kSplitRunOps ? kRunParts : 1; }

// Folder under the database for SST files being written; emptied at Open().
constexpr char kIngestDir[] = "ingest.tmp";

}  // namespace

struct RocksStateStore::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  rocksdb::ColumnFamilyOptions cf_options;
  rocksdb::ColumnFamilyOptions state_cf_options;  // "state.<query>" spaces: window state
  rocksdb::DBOptions db_options;
  std::string ingest_dir;  // <path>/ingest.tmp: SST files of a commit being ingested
  std::atomic<uint64_t> next_ingest_file{0};
  std::atomic<uint64_t> ingested_commits{0};
  size_t ingest_threshold_bytes = kDefaultIngestThresholdBytes;
  Counter* ingested_checkpoints = nullptr;  // sluice_state_ingested_checkpoints_total
  std::map<std::string, Counter*> ingested_files;  // sluice_state_ingested_files_total, by family kind
  const rocksdb::ColumnFamilyOptions& OptionsFor(std::string_view family) const {
    return family.substr(0, 6) == "state." ? state_cf_options : cf_options;
  }
};

RocksStateStore::RocksStateStore() : impl_(std::make_unique<Impl>()) {}

RocksStateStore::~RocksStateStore() {
  if (impl_->db) {
    for (auto* h : impl_->handles) impl_->db->DestroyColumnFamilyHandle(h);
    impl_->handles.clear();
    impl_->db->Close().PermitUncheckedError();
  }
}

Result<std::unique_ptr<RocksStateStore>> RocksStateStore::Open(const std::string& path) {
  std::unique_ptr<RocksStateStore> store(new RocksStateStore());
  Impl& m = *store->impl_;
  rocksdb::DBOptions& db_options = m.db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  m.cf_options.OptimizeForPointLookup(8);  // 8 MiB block cache; tables are read by key and prefix.
  // A checkpoint with much changed state is one large batch: room for it without a write stall
  // while the previous memtable flushes (docs/checkpoints.md, RocksDB options).
  m.cf_options.max_write_buffer_number = 4;
  // RocksDB 7.8 orders level-0 files by largest sequence number. An ingested file that does not
  // overlap a column family's memtable is ingested without flushing it, so the memtable can
  // hold older entries than the file; an intra-L0 compaction of ingested files followed by that
  // memtable's flush then trips the LSM consistency check, a false positive that stops all
  // writes with a Corruption error (rocksdb PR #10922, fixed in 7.10 by ordering L0 files by
  // epoch number). Reads stay correct in that case, so the check is off for every family.
  m.cf_options.force_consistency_checks = false;
  // Window state spilled by the bounded state cache is read back one group at a time: a larger
  // block cache of its own and no compression (small varint records compress little; Snappy
  // decompression was a visible share of each read).
  m.state_cf_options = m.cf_options;
  {
    rocksdb::BlockBasedTableOptions t;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    t.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
    t.block_cache = rocksdb::NewLRUCache(64u << 20);
    m.state_cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    m.state_cf_options.compression = rocksdb::kNoCompression;
  }
  std::vector<std::string> families;
  rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(db_options, path, &families);
  if (!ls.ok()) families = {rocksdb::kDefaultColumnFamilyName};
  bool have_meta = false;
  for (auto& f : families) have_meta |= f == kMetaFamily;
  if (!have_meta) families.push_back(kMetaFamily);
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (auto& f : families) descs.emplace_back(f, m.OptionsFor(f));
  rocksdb::DB* db = nullptr;
  SLUICE_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(db_options, path, descs, &m.handles, &db), "open " + path));
  m.db.reset(db);
  for (size_t i = 0; i < families.size(); ++i) m.by_name[families[i]] = m.handles[i];
  // SST files of a commit that crashed before its ingestion finished were never part of the
  // database (ingestion is atomic): remove them.
  m.ingest_dir = path + "/" + kIngestDir;
  std::error_code ec;
  std::filesystem::remove_all(m.ingest_dir, ec);
  if (ec) return Status::IOError("remove " + m.ingest_dir + ": " + ec.message());
  std::filesystem::create_directories(m.ingest_dir, ec);
  if (ec) return Status::IOError("create " + m.ingest_dir + ": " + ec.message());
  return store;
}

Status RocksStateStore::PutMeta(const std::string& key, const std::string& value) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  SLUICE_ASSIGN_OR_RETURN(void* h, Family(kMetaFamily, true));
  return FromRocks(impl_->db->Put(wo, static_cast<rocksdb::ColumnFamilyHandle*>(h), key, value), "put meta " + key);
}

Result<std::string> RocksStateStore::GetMeta(const std::string& key) {
  std::string v;
  SLUICE_ASSIGN_OR_RETURN(void* h, Family(kMetaFamily, true));
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), static_cast<rocksdb::ColumnFamilyHandle*>(h), key, &v);
  if (s.IsNotFound()) return Status::NotFound(key);
  SLUICE_RETURN_IF_ERROR(FromRocks(s, "get meta " + key));
  return v;
}

Result<void*> RocksStateStore::Family(std::string_view space, bool create) {
  std::lock_guard lock(mu_);
  auto it = impl_->by_name.find(std::string(space));
  if (it != impl_->by_name.end()) return static_cast<void*>(it->second);
  if (!create) return static_cast<void*>(nullptr);
  rocksdb::ColumnFamilyHandle* h;
  SLUICE_RETURN_IF_ERROR(FromRocks(impl_->db->CreateColumnFamily(impl_->OptionsFor(space), std::string(space), &h),
                                   "create column family " + std::string(space)));
  impl_->handles.push_back(h);
  impl_->by_name[std::string(space)] = h;
  return static_cast<void*>(h);
}

Status RocksStateStore::Commit(const StoreBatch& batch) {
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  for (const std::string& space : batch.spaces()) {
    SLUICE_ASSIGN_OR_RETURN(void* h, Family(space, true));
    families.push_back(static_cast<rocksdb::ColumnFamilyHandle*>(h));
  }
  if (!batch.empty() && batch.bytes() >= impl_->ingest_threshold_bytes) {
    bool in_order = true;
    Status st = Ingest(batch, families, &in_order);
    if (in_order) return st;
  }
  rocksdb::WriteBatch wb(batch.bytes() + batch.count() * 8 + 64);
  rocksdb::Status status;
  batch.ForEach([&](const StoreBatch::OpView& op) {
    if (!status.ok()) return;
    rocksdb::ColumnFamilyHandle* cf = families[op.space];
    const rocksdb::Slice key(op.key.data(), op.key.size()), value(op.value.data(), op.value.size());
    switch (op.kind) {
      case StoreBatch::OpKind::kPut: status = wb.Put(cf, key, value); break;
      case StoreBatch::OpKind::kDelete: status = wb.Delete(cf, key); break;
      case StoreBatch::OpKind::kDeleteRange: status = wb.DeleteRange(cf, key, value); break;
    }
  });
  SLUICE_RETURN_IF_ERROR(FromRocks(status, "build checkpoint batch"));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(impl_->db->Write(wo, &wb), "commit checkpoint");
}

Status RocksStateStore::Ingest(const StoreBatch& batch, const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                       bool* in_order) {
  // SST files, then one atomic IngestExternalFiles across all of them: no WAL record, no memtable
  // insert and no later flush for the checkpoint's bulk. SstFileWriter::Finish syncs each file;
  // the ingestion links it in, syncs the folder and records it in the (synced) MANIFEST.
  //
  // Each run (a checkpoint's window state: StoreBatch::AddRun) is sorted, then written as SST
  // files of its own: a large one split into kRunParts key ranges, one file each. Two threads
  // take the parts in turn (the first to take a run's part sorts the run) and finish (sync)
  // their files: building SST blocks is most of a large commit. A run's ops are in key order,
  // each key once (StoreBatch::Run's contract). The flat ops of each space go into one more
  // file, which means what applying them in order means only if every DeleteRange comes before
  // the first Put or Delete and the Put/Delete keys strictly increase: a file's entries share
  // one sequence number, and a range tombstone deletes only keys with a lower one, so a file's
  // tombstones never delete its own points. Files of one space must not overlap (then no file's
  // tombstone covers another's key, and the order in which RocksDB numbers them does not
  // matter). Anything else stops the attempt (*in_order = false) and nothing is ingested.
  struct Output {
    uint32_t space = 0;
    std::unique_ptr<rocksdb::SstFileWriter> writer;
    std::string path;
    bool seen_point = false;
    std::string last;  // the flat file's last Put/Delete key
    bool out_of_order = false;
    rocksdb::Status status;
    rocksdb::ExternalSstFileInfo info;
  };
  const size_t spaces = families.size();
  std::vector<Output> outputs(spaces);  // [0, spaces): each space's flat ops; then the runs' parts
  for (uint32_t i = 0; i < spaces; ++i) outputs[i].space = i;
  struct Part {
    size_t run, part, output;
  };
  // Part-major: with two large runs, the two threads sort one each at first.
  std::vector<Part> parts;
  for (size_t part = 0; part < kRunParts; ++part) {
    for (size_t r = 0; r < batch.run_count(); ++r) {
      if (part >= RunParts(batch.run_ops(r))) continue;
      parts.push_back(Part{r, part, outputs.size()});
      outputs.emplace_back().space = batch.run_space(r);
    }
  }
  std::vector<std::once_flag> prepared(batch.run_count());
  auto cleanup = [&] {
    for (Output& o : outputs) {
      if (o.path.empty()) continue;
      std::error_code ec;
      std::filesystem::remove(o.path, ec);
    }
  };
  auto open = [&](Output& o) {
    const std::string& space = batch.spaces()[o.space];
    o.writer = std::make_unique<rocksdb::SstFileWriter>(
        rocksdb::EnvOptions(), rocksdb::Options(impl_->db_options, impl_->OptionsFor(space)), families[o.space],
        /*invalidate_page_cache=*/false);
    o.path = impl_->ingest_dir + "/" + std::to_string(impl_->next_ingest_file.fetch_add(1)) + ".sst";
    o.status = o.writer->Open(o.path);
  };
  auto add = [](Output& o, const StoreBatch::OpView& op) {
    const rocksdb::Slice key(op.key.data(), op.key.size()), value(op.value.data(), op.value.size());
    switch (op.kind) {
      case StoreBatch::OpKind::kPut: o.status = o.writer->Put(key, value); break;
      case StoreBatch::OpKind::kDelete: o.status = o.writer->Delete(key); break;
      case StoreBatch::OpKind::kDeleteRange: o.status = o.writer->DeleteRange(key, value); break;
    }
  };
  // The flat ops' files: checked op by op.
  auto write_flat = [&](const StoreBatch::OpView& op) {
    Output& o = outputs[op.space];
    if (!o.status.ok() || o.out_of_order) return;
    if (op.kind == StoreBatch::OpKind::kDeleteRange ? o.seen_point : o.seen_point && !(o.last < op.key)) {
      o.out_of_order = true;
      return;
    }
    if (op.kind != StoreBatch::OpKind::kDeleteRange) {
      o.seen_point = true;
      o.last.assign(op.key);
    }
    if (o.writer == nullptr) open(o);
    if (o.status.ok()) add(o, op);
  };
  // A run part's file. SstFileWriter rejects a key not above the last one (InvalidArgument);
  // from Put or Delete, that means a run that broke its contract: out of order, not an error. A
  // range delete in a run breaks it too (it would not delete the file's own points).
  auto write_part = [&](const Part& p) {
    Output& o = outputs[p.output];
    std::call_once(prepared[p.run], [&] { batch.PrepareRun(p.run); });  // the other parts wait
    batch.ForEachRunPart(p.run, p.part, RunParts(batch.run_ops(p.run)), [&](const StoreBatch::OpView& op) {
      if (!o.status.ok() || o.out_of_order) return;
      if (op.kind == StoreBatch::OpKind::kDeleteRange) {
        o.out_of_order = true;
        return;
      }
      if (o.writer == nullptr) {
        open(o);
        if (!o.status.ok()) return;
      }
      add(o, op);
      if (o.status.IsInvalidArgument()) {
        o.out_of_order = true;
        o.status = rocksdb::Status::OK();
      }
    });
    if (o.status.ok() && !o.out_of_order && o.writer != nullptr) o.status = o.writer->Finish(&o.info);
  };
  // Runs `tasks` tasks, task(i) for each i, on this thread and (when there are two or more) one
  // more, each taking the next task in turn. An exception from a task (bad_alloc) stops both
  // threads at their next task and is rethrown here, after the join.
  auto on_two_threads = [](size_t tasks, const std::function<void(size_t)>& task) {
    std::atomic<size_t> next{0};
    std::mutex mu;
    std::exception_ptr thrown;
    auto work = [&] {
      try {
        for (size_t t; (t = next.fetch_add(1)) < tasks;) task(t);
      } catch (...) {
        next.store(tasks);
        std::lock_guard lock(mu);
        if (!thrown) thrown = std::current_exception();
      }
    };
    std::thread helper;
    if (tasks > 1) {
      try {
        helper = std::thread(work);
      } catch (const std::system_error&) {
        // No thread to be had: this one does every task.
      }
    }
    work();
    if (helper.joinable()) helper.join();
    if (thrown) std::rethrow_exception(thrown);
  };
  auto write_all = [&](size_t t) {
    if (t < parts.size()) {
      write_part(parts[t]);
      return;
    }
    batch.ForEachFlat(write_flat);
    for (size_t i = 0; i < spaces; ++i) {
      Output& o = outputs[i];
      if (o.status.ok() && !o.out_of_order && o.writer != nullptr) o.status = o.writer->Finish(&o.info);
    }
  };
  try {
    on_two_threads(parts.size() + 1, write_all);
  } catch (...) {
    cleanup();  // the commit's caller sees the exception; nothing was ingested
    throw;
  }
  rocksdb::Status status;
  for (Output& o : outputs) {
    if (o.out_of_order) *in_order = false;
    if (status.ok() && !o.status.ok()) status = o.status;
  }
  if (!*in_order) {
    cleanup();
    return Status::OK();
  }
  // Files of one space must be disjoint: [smallest, largest] over points and range tombstones
  // (a tombstone's end is exclusive; counting it in is stricter than needed).
  if (status.ok()) {
    std::vector<std::pair<std::string, std::string>> ranges;
    for (uint32_t space = 0; space < spaces && *in_order; ++space) {
      ranges.clear();
      for (const Output& o : outputs) {
        if (o.space != space || o.writer == nullptr) continue;
        std::string lo, hi;
        bool any = false;
        auto widen = [&](const std::string& a, const std::string& b) {
          if (!any || a < lo) lo = a;
          if (!any || b > hi) hi = b;
          any = true;
        };
        if (o.info.num_entries > 0) widen(o.info.smallest_key, o.info.largest_key);
        if (o.info.num_range_del_entries > 0) widen(o.info.smallest_range_del_key, o.info.largest_range_del_key);
        if (any) ranges.emplace_back(std::move(lo), std::move(hi));
      }
      std::sort(ranges.begin(), ranges.end());
      for (size_t i = 1; i < ranges.size(); ++i) {
        if (!(ranges[i - 1].second < ranges[i].first)) *in_order = false;
      }
    }
    if (!*in_order) {
      cleanup();
      return Status::OK();
    }
  }
  std::vector<rocksdb::IngestExternalFileArg> args;
  for (uint32_t space = 0; status.ok() && space < spaces; ++space) {
    rocksdb::IngestExternalFileArg arg;
    arg.column_family = families[space];
    for (const Output& o : outputs) {
      if (o.space == space && o.writer != nullptr && o.info.num_entries + o.info.num_range_del_entries > 0) {
        arg.external_files.push_back(o.path);
      }
    }
    if (arg.external_files.empty()) continue;
    arg.options.move_files = true;
    arg.options.failed_move_fall_back_to_copy = true;
    arg.options.snapshot_consistency = true;
    arg.options.allow_global_seqno = true;
    arg.options.allow_blocking_flush = true;  // a memtable holding older versions is flushed first
    arg.options.write_global_seqno = false;   // the sequence number lives in the MANIFEST
    args.push_back(std::move(arg));
  }
  if (status.ok()) {
    CrashPoint("checkpoint.ingest_files_written");
    status = impl_->db->IngestExternalFiles(args);
  }
  cleanup();  // moved files are hard links: the database keeps its own
  SLUICE_RETURN_IF_ERROR(FromRocks(status, "commit checkpoint (ingest)"));
  impl_->ingested_commits.fetch_add(1, std::memory_order_relaxed);
  if (impl_->ingested_checkpoints != nullptr) {
    impl_->ingested_checkpoints->Inc();
    for (const rocksdb::IngestExternalFileArg& arg : args) {
      const std::string& space = arg.column_family->GetName();
      auto it = impl_->ingested_files.find(space.substr(0, space.find('.')));
      if (it != impl_->ingested_files.end()) it->second->Inc(arg.external_files.size());
    }
  }
  return Status::OK();
}

void RocksStateStore::set_ingest_threshold_bytes(size_t bytes) { impl_->ingest_threshold_bytes = bytes; }

void RocksStateStore::set_metrics(MetricsRegistry* metrics) {
  impl_->ingested_checkpoints = &metrics->GetCounter(
      "sluice_state_ingested_checkpoints_total", "Checkpoints committed by ingesting SST files (large, in key order)", {});
  for (const char* kind : {"state", "table", "sink", "sluice"}) {
    impl_->ingested_files[kind] = &metrics->GetCounter(
        "sluice_state_ingested_files_total", "SST files ingested by checkpoints, by column family kind", {{"kind", kind}});
  }
}

uint64_t RocksStateStore::ingested_commits() const { return impl_->ingested_commits.load(std::memory_order_relaxed); }

Result<std::string> RocksStateStore::Get(std::string_view space, std::string_view key) {
  SLUICE_ASSIGN_OR_RETURN(void* h, Family(space, false));
  if (h == nullptr) return Status::NotFound(std::string(key));
  std::string v;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), static_cast<rocksdb::ColumnFamilyHandle*>(h), rocksdb::Slice(key.data(), key.size()), &v);
  if (s.IsNotFound()) return Status::NotFound(std::string(key));
  SLUICE_RETURN_IF_ERROR(FromRocks(s, "get " + std::string(space)));
  return v;
}

size_t RocksStateStore::EstimateKeys(std::string_view space) {
  auto h = Family(space, false);
  if (!h.ok() || *h == nullptr) return 0;
  uint64_t n = 0;
  if (!impl_->db->GetIntProperty(static_cast<rocksdb::ColumnFamilyHandle*>(*h), "rocksdb.estimate-num-keys", &n)) return 0;
  return static_cast<size_t>(n);
}

uint64_t RocksStateStore::EstimateBytes(std::string_view space) {
  auto h = Family(space, false);
  if (!h.ok() || *h == nullptr) return 0;
  auto* cf = static_cast<rocksdb::ColumnFamilyHandle*>(*h);
  uint64_t sst = 0, mem = 0;
  impl_->db->GetIntProperty(cf, "rocksdb.total-sst-files-size", &sst);
  impl_->db->GetIntProperty(cf, "rocksdb.cur-size-all-mem-tables", &mem);
  return sst + mem;
}

Status RocksStateStore::Scan(std::string_view space, std::string_view prefix,
                     const std::function<Status(std::string_view, std::string_view, bool*)>& fn) {
  return ScanFrom(space, prefix, prefix, fn);
}

Status RocksStateStore::ScanFrom(std::string_view space, std::string_view start, std::string_view prefix,
                         const std::function<Status(std::string_view, std::string_view, bool*)>& fn) {
  SLUICE_ASSIGN_OR_RETURN(void* h, Family(space, false));
  if (h == nullptr) return Status::OK();
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), static_cast<rocksdb::ColumnFamilyHandle*>(h)));
  rocksdb::Slice p(prefix.data(), prefix.size());
  const std::string_view from = std::max(start, prefix);
  for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid() && it->key().starts_with(p); it->Next()) {
    bool more = true;
    SLUICE_RETURN_IF_ERROR(fn(std::string_view(it->key().data(), it->key().size()),
                              std::string_view(it->value().data(), it->value().size()), &more));
    if (!more) break;
  }
  return FromRocks(it->status(), "scan " + std::string(space));
}

Status RocksStateStore::CreateSnapshot(const std::string& dir) {
  rocksdb::Checkpoint* cp = nullptr;
  SLUICE_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(impl_->db.get(), &cp), "snapshot"));
  std::unique_ptr<rocksdb::Checkpoint> owned(cp);
  return FromRocks(owned->CreateCheckpoint(dir), "snapshot to " + dir);
}

Status RocksStateStore::Flush() {
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  {
    std::lock_guard lock(mu_);
    all = impl_->handles;
  }
  return FromRocks(impl_->db->Flush(rocksdb::FlushOptions(), all), "flush");
}

}  // namespace sluice::runtime
