#include "operators/window_stage.h"

#include <algorithm>
#include <iterator>
#include <unordered_map>
#include <utility>

#include "operators/aggregate_function.h"
#include "operators/expr_eval.h"
#include "operators/key_encoder.h"

namespace sluice::ops {

struct WindowStage::Leaf {
  const QueryDef* query = nullptr;
  std::unique_ptr<WindowAggregate> aggregate;  // aggregating leaves
  std::unique_ptr<WindowTagger> tagger;        // row-tagging leaves
};

namespace {

// Encodes the join key of `row` into `out`; false when a key is NULL (never equal in SQL).
bool JoinKey(const std::vector<Expr>& keys, const Row& row, std::string* out) {
  out->clear();
  for (const Expr& k : keys) {
    Value v = Eval(k, row);
    if (v.is_null()) return false;
    EncodeValue(v, out);
  }
  return true;
}

// Inner equi-join of `left` and `right` on the node's keys plus its residual condition; the
// smaller side is hashed. Output rows are left columns ++ right columns.
void HashJoin(const StageNode& node, const std::vector<Row>& left, const std::vector<Row>& right,
              std::vector<Row>* out) {
  if (left.empty() || right.empty()) return;
  const bool build_left = left.size() < right.size();
  const std::vector<Row>& build = build_left ? left : right;
  const std::vector<Row>& probe = build_left ? right : left;
  const std::vector<Expr>& build_keys = build_left ? node.left_keys : node.right_keys;
  const std::vector<Expr>& probe_keys = build_left ? node.right_keys : node.left_keys;
  std::unordered_map<std::string, std::vector<size_t>> table;
  table.reserve(build.size());
  std::string key;
  for (size_t i = 0; i < build.size(); ++i) {
    if (JoinKey(build_keys, build[i], &key)) table[key].push_back(i);
  }
  Row joined;
  for (const Row& p : probe) {
    if (!JoinKey(probe_keys, p, &key)) continue;
    auto it = table.find(key);
    if (it == table.end()) continue;
    for (size_t bi : it->second) {
      const Row& l = build_left ? build[bi] : p;
      const Row& r = build_left ? p : build[bi];
      joined.clear();
      joined.reserve(l.size() + r.size());
      joined.insert(joined.end(), l.begin(), l.end());
      joined.insert(joined.end(), r.begin(), r.end());
      if (node.condition && !EvalPredicate(*node.condition, joined)) continue;
      out->push_back(joined);
    }
  }
}

EventTime TimeOf(const Value& v) { return v.type() == DataType::kTimestamp ? v.as_time() : EventTime{}; }

// GROUP BY over one batch: WHERE, then one group per distinct key (window columns included).
void HashAggregate(const StageNode& node, GroupOutput* output, const std::vector<Row>& in, std::string* scratch,
                   std::vector<Row>* out) {
  const QueryDef& q = node.aggregate;
  struct Group {
    Row keys;
    EventTime window_start, window_end;
    std::vector<Accumulator> accs;
  };
  std::unordered_map<std::string, size_t> index;
  std::vector<Group> groups;
  std::string key;
  Row key_values;
  uint64_t seq = 0;
  for (const Row& row : in) {
    if (q.where && !EvalPredicate(*q.where, row)) continue;
    key_values.clear();
    for (const Expr& k : q.group_keys) key_values.push_back(Eval(k, row));
    key.clear();
    EncodeKey(key_values, &key);
    auto [it, inserted] = index.try_emplace(key, groups.size());
    if (inserted) {
      Group g;
      g.keys = key_values;
      g.window_start = TimeOf(row[static_cast<size_t>(node.window_start_column)]);
      g.window_end = TimeOf(row[static_cast<size_t>(node.window_end_column)]);
      g.accs.resize(q.aggregates.size());
      groups.push_back(std::move(g));
    }
    Group& g = groups[it->second];
    // Input order for first_value/last_value: arrival order within the batch.
    AccumulateRow(q, row, InputOrder{0, seq++}, &g.accs, scratch);
  }
  for (const Group& g : groups) output->Emit(g.keys, g.accs, g.window_start, g.window_end, out);
}

void Project(const StageNode& node, const std::vector<Row>& in, std::vector<Row>* out) {
  for (const Row& row : in) {
    if (node.condition && !EvalPredicate(*node.condition, row)) continue;
    Row o;
    o.reserve(node.projections.size());
    for (const Expr& e : node.projections) o.push_back(Eval(e, row));
    out->push_back(std::move(o));
  }
}

}  // namespace

WindowStage::WindowStage(const QueryDef& query) : plan_(*query.stages) {
  for (const QueryDef& lq : plan_.leaves) {
    auto leaf = std::make_unique<Leaf>();
    leaf->query = &lq;
    if (lq.aggregating()) {
      leaf->aggregate = std::make_unique<WindowAggregate>(lq);
    } else {
      leaf->tagger = std::make_unique<WindowTagger>(lq);
    }
    leaves_.push_back(std::move(leaf));
  }
  for (const StageNode& node : plan_.nodes) {
    group_outputs_.push_back(node.kind == StageNode::Kind::kAggregate ? std::make_unique<GroupOutput>(node.aggregate)
                                                                      : nullptr);
  }
  fired_.resize(leaves_.size());
  results_.resize(plan_.nodes.size());
}

WindowStage::~WindowStage() = default;

AddResult WindowStage::Add(const Row& row, EventTime t) {
  bool considered = false, accepted = false;
  for (auto& leaf : leaves_) {
    if (leaf->query->where && !EvalPredicate(*leaf->query->where, row)) continue;
    considered = true;
    AddResult r = leaf->aggregate ? leaf->aggregate->Add(row, t) : leaf->tagger->Add(row, t);
    if (r == AddResult::kAccepted) accepted = true;
  }
  return considered && !accepted ? AddResult::kLate : AddResult::kAccepted;
}

EventTime WindowStage::LastWindowEnd(EventTime t) const {
  EventTime end = EventTime::Min();
  for (const auto& leaf : leaves_) {
    end = std::max(end, leaf->aggregate ? leaf->aggregate->LastWindowEnd(t) : leaf->tagger->LastWindowEnd(t));
  }
  return end;
}

void WindowStage::AdvanceWatermark(EventTime wm, std::vector<Row>* out) {
  bool any = false;
  for (size_t i = 0; i < leaves_.size(); ++i) {
    fired_[i].clear();
    Leaf& leaf = *leaves_[i];
    if (leaf.aggregate) {
      leaf.aggregate->AdvanceWatermark(wm, &fired_[i]);
    } else {
      leaf.tagger->AdvanceWatermark(wm, &fired_[i]);
    }
    any = any || !fired_[i].empty();
  }
  if (any) Evaluate(out);
}

void WindowStage::FlushAll(std::vector<Row>* out) {
  for (size_t i = 0; i < leaves_.size(); ++i) {
    fired_[i].clear();
    Leaf& leaf = *leaves_[i];
    if (leaf.aggregate) {
      leaf.aggregate->FlushAll(&fired_[i]);
    } else {
      leaf.tagger->FlushAll(&fired_[i]);
    }
  }
  Evaluate(out);
}

void WindowStage::Evaluate(std::vector<Row>* out) {
  const size_t n = plan_.nodes.size();
  std::vector<const std::vector<Row>*> in(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    const StageNode& node = plan_.nodes[i];
    std::vector<Row>& result = results_[i];
    result.clear();
    switch (node.kind) {
      case StageNode::Kind::kLeaf: in[i] = &fired_[static_cast<size_t>(node.leaf)]; continue;
      case StageNode::Kind::kJoin:
        HashJoin(node, *in[static_cast<size_t>(node.left)], *in[static_cast<size_t>(node.right)], &result);
        break;
      case StageNode::Kind::kAggregate:
        HashAggregate(node, group_outputs_[i].get(), *in[static_cast<size_t>(node.left)], &scratch_, &result);
        break;
      case StageNode::Kind::kProject: Project(node, *in[static_cast<size_t>(node.left)], &result); break;
    }
    in[i] = &result;
  }
  if (n == 0) return;
  std::vector<Row>& root = plan_.nodes[n - 1].kind == StageNode::Kind::kLeaf ? fired_[static_cast<size_t>(plan_.nodes[n - 1].leaf)]
                                                                               : results_[n - 1];
  out->insert(out->end(), std::make_move_iterator(root.begin()), std::make_move_iterator(root.end()));
  for (auto& r : results_) r.clear();
}

size_t WindowStage::open_windows() const {
  size_t most = 0;
  for (const auto& leaf : leaves_) {
    most = std::max(most, leaf->aggregate ? leaf->aggregate->open_windows() : leaf->tagger->open_windows());
  }
  return most;
}

size_t WindowStage::open_groups() const {
  size_t total = 0;
  for (const auto& leaf : leaves_) {
    total += leaf->aggregate ? leaf->aggregate->open_groups() : leaf->tagger->buffered_rows();
  }
  return total;
}

size_t WindowStage::StateBytes() const {
  size_t total = 0;
  for (const auto& leaf : leaves_) {
    total += leaf->aggregate ? leaf->aggregate->StateBytes() : leaf->tagger->StateBytes();
  }
  return total;
}

void WindowStage::CheckpointDelta(std::string_view space, StoreBatch* batch) {
  for (size_t i = 0; i < leaves_.size(); ++i) {
    const std::string leaf_space = std::string(space) + "." + std::to_string(i);
    if (leaves_[i]->aggregate) leaves_[i]->aggregate->CheckpointDelta(leaf_space, batch);
    if (leaves_[i]->tagger) leaves_[i]->tagger->CheckpointDelta(leaf_space, batch);
  }
}

void WindowStage::AppendScalars(StateWriter* w) const {
  for (const auto& leaf : leaves_) {
    if (leaf->aggregate) leaf->aggregate->AppendScalars(w);
    if (leaf->tagger) leaf->tagger->AppendScalars(w);
  }
}

Status WindowStage::Restore(StateReader* scalars, StateStore* store, std::string_view space) {
  for (size_t i = 0; i < leaves_.size(); ++i) {
    Leaf& leaf = *leaves_[i];
    if (leaf.aggregate && !leaf.aggregate->RestoreScalars(scalars)) return Status::Corruption("stage: bad scalars");
    if (leaf.tagger && !leaf.tagger->RestoreScalars(scalars)) return Status::Corruption("stage: bad scalars");
    const std::string leaf_space = std::string(space) + "." + std::to_string(i);
    SLUICE_RETURN_IF_ERROR(store->Scan(leaf_space, "", [&](std::string_view k, std::string_view v, bool*) {
      return leaf.aggregate ? leaf.aggregate->RestoreGroup(k, v) : leaf.tagger->RestoreChunk(k, v);
    }));
    if (leaf.aggregate) leaf.aggregate->FinishRestore();
  }
  return Status::OK();
}

}  // namespace sluice::ops
