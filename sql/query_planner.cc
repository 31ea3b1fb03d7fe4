#include "sql/query_planner.h"

#include <algorithm>
#include <numeric>
#include <cctype>
#include <optional>
#include <memory>
#include <set>

#include "sql/expr_binder.h"

namespace sluice::sql {
namespace {

// Window sizes, slides and gaps are capped so event-time arithmetic cannot overflow
// (ops::kMaxEventTimeMicros).
constexpr Duration kMaxInterval = std::chrono::hours(24 * 3650);

// HOP windows are evaluated by merging size / gcd(slide, size) panes when they fire.
constexpr int64_t kMaxPanesPerWindow = 10000;

bool IsPlainNumber(std::string_view s) {
  bool digit = false;
  for (char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c != '.') {
      return false;
    }
  }
  return digit;
}

// The unit of `INTERVAL '1' MINUTE`: libpg_query encodes the field as a typmod bit mask
// (PostgreSQL's INTERVAL_MASK: DAY = 1 << 3, HOUR = 1 << 10, MINUTE = 1 << 11, SECOND = 1 << 12).
std::string_view IntervalUnit(int64_t mask) {
  switch (mask) {
    case 1 << 3: return "days";
    case 1 << 10: return "hours";
    case 1 << 11: return "minutes";
    case 1 << 12: return "seconds";
    default: return {};
  }
}

void CollectColumns(const Expr& e, std::vector<int>* out) {
  if (e.op == ExprOp::kColumn) out->push_back(e.column);
  for (const Expr& a : e.args) CollectColumns(a, out);
}

// Location of the first ColumnRef in the subtree whose last name is `name`, or -1.
int FindColumnRef(const Json* j, std::string_view name, int depth) {
  if (j == nullptr || depth > 1000) return -1;
  PgNode n = AsNode(j);
  if (n.Is("ColumnRef")) {
    auto names = NameList(Field(n.body, "fields"));
    if (names && !names->empty() && names->back() == name) return LocationOf(n.body);
  }
  if (j->is_structured()) {
    for (const Json& child : *j) {
      if (!child.is_structured()) continue;
      int at = FindColumnRef(&child, name, depth + 1);
      if (at >= 0) return at;
    }
  }
  return -1;
}

// True when the subtree names window_start or window_end (as `binder` sees them).
bool MentionsWindowColumn(const Json* j, const ExprBinder& binder, int depth) {
  if (j == nullptr || depth > 1000) return false;
  if (AsNode(j).Is("ColumnRef")) return binder.WindowColumn(j).has_value();
  if (j->is_structured()) {
    for (const Json& child : *j) {
      if (child.is_structured() && MentionsWindowColumn(&child, binder, depth + 1)) return true;
    }
  }
  return false;
}

// One SELECT list item, classified.
struct Target {
  enum class Kind { kStar, kWindow, kAggregate, kScalar };
  Kind kind = Kind::kScalar;
  const Json* val = nullptr;
  std::string alias;     // AS name, or empty
  int location = -1;     // start of the item
  OutputColumn::Kind window = OutputColumn::Kind::kWindowStart;
  int star_begin = 0, star_end = -1;  // kStar: the columns it expands to (-1: all)
};

// A window-aligned relation built from subqueries in FROM (core/plan.h StagePlan): one node of
// the stage plan, with its columns, which of them hold window_start/window_end, and (for joins)
// the alias of each side's columns.
enum class Role : uint8_t { kNone, kWindowStart, kWindowEnd };
struct Relation {
  int node = -1;
  Schema schema;
  std::vector<Role> roles;  // parallel to schema
  std::vector<BindScope::Part> parts;
  bool Has(Role r) const { return std::find(roles.begin(), roles.end(), r) != roles.end(); }
};

// The stage plan of one INSERT, shared by the planners of its nested SELECTs.
struct StageBuilder {
  StagePlan plan;
  int source = -1;                      // the one source every leaf reads
  int first_location = -1;              // the first subquery, for errors about the whole query
  std::vector<std::string> signatures;  // per leaf, for sharing identical leaves
};

// What identifies a leaf's computation (outputs' names aside), so identical subqueries share one.
std::string LeafSignature(const QueryDef& q) {
  std::string s = std::to_string(q.source) + "|" + std::to_string(static_cast<int>(q.window.kind)) + "|" +
                  std::to_string(q.window.size.count()) + "|" + std::to_string(q.window.slide.count()) + "|W:" +
                  (q.where ? q.where->text : "") + "|K:";
  for (const Expr& k : q.group_keys) s += k.text + "\x1f" + DataTypeName(k.type) + "\x1e";
  s += "|A:";
  for (const AggregateDef& a : q.aggregates) s += a.text + "\x1e";
  s += "|H:" + (q.having ? q.having->text : "") + "|P:";
  for (const Expr& e : q.post_projections) s += e.text + "\x1e";
  s += "|R:";
  for (const Expr& e : q.projections) s += e.text + "\x1e";
  s += "|O:";
  for (const OutputColumn& o : q.outputs) {
    s += std::to_string(static_cast<int>(o.kind)) + "," + std::to_string(o.index) + ";";
  }
  return s;
}

void ShiftColumns(Expr* e, int delta) {
  if (e->op == ExprOp::kColumn) e->column += delta;
  for (Expr& a : e->args) ShiftColumns(&a, delta);
}

// The column a kColumn expression reads, or -1.
int ColumnOf(const Expr& e) { return e.op == ExprOp::kColumn ? e.column : -1; }

// Columns an expression reads lie all in [begin, end) (and it reads at least one).
bool ReadsOnly(const Expr& e, int begin, int end) {
  std::vector<int> columns;
  CollectColumns(e, &columns);
  if (columns.empty()) return false;
  return std::all_of(columns.begin(), columns.end(), [&](int c) { return c >= begin && c < end; });
}

void Conjuncts(Expr e, std::vector<Expr>* out) {
  if (e.op == ExprOp::kAnd) {
    for (Expr& a : e.args) Conjuncts(std::move(a), out);
    return;
  }
  out->push_back(std::move(e));
}

Expr CastTo(Expr e, DataType type) {
  if (e.type == type) return e;
  Expr c;
  c.op = ExprOp::kCast;
  c.type = type;
  c.text = "CAST(" + e.text + " AS " + DataTypeName(type) + ")";
  c.args.push_back(std::move(e));
  return c;
}

class GroupRow;

class SelectPlanner {
 public:
  SelectPlanner(const StatementContext& ctx, const ParsedStatement& statement, const PlanState& state,
                StageBuilder* stages = nullptr)
      : ctx_(ctx), statement_(statement), state_(state), stages_(stages), subquery_(stages != nullptr) {}

  Status Plan(const Json* select, QueryDef* q, std::vector<int>* output_locations);

  // True when FROM held subqueries or a JOIN: `q` from Plan() is then one stage over them, and
  // FinishStages() turns it into the INSERT's QueryDef.
  bool staged() const { return input_.has_value(); }
  Status FinishStages(QueryDef* q, const SinkDef& sink, int sink_location);
  // Plans a subquery's SELECT (this planner was made with the outer StageBuilder) into a relation.
  Result<Relation> PlanSubquery(const Json* select);

 private:
  Status PlanRelation(const Json* item, Relation* rel);
  Status PlanJoin(const Json* join, Relation* rel);
  Result<Relation> MakeNode(QueryDef q, int location);
  Status UseRelation(Relation rel, std::string qualifier);

  Status CheckClauses(const Json* select) const;
  Status PlanFrom(const Json* select, QueryDef* q);
  Status ResolveSource(std::string_view name, int location, int* index) const;
  Status PlanWindow(const Json* range_function, QueryDef* q);
  Result<Duration> IntervalArgument(const Json* node, std::string_view what) const;
  Status ReadTargets(const Json* select);
  Status PlanGroupBy(const Json* select, const ExprBinder& binder, QueryDef* q);
  int AddGroupKey(Expr key, QueryDef* q) const;
  Result<AggregateDef> PlanAggregate(const Json* func_call, const ExprBinder& binder) const;
  Status PlanOutputs(const Json* select, const ExprBinder& binder, QueryDef* q, std::vector<int>* output_locations);

  friend class GroupRow;
  int KeywordBefore(std::string_view keyword, const Json* node) const;

  const StatementContext& ctx_;
  const ParsedStatement& statement_;
  const PlanState& state_;
  BindScope scope_;
  int window_location_ = -1;
  std::string window_name_ = "TUMBLE";
  std::vector<Target> targets_;
  bool grouped_by_window_ = false;
  int first_group_location_ = -1;
  StageBuilder* stages_ = nullptr;          // set inside (or at the top of) a stage plan
  std::unique_ptr<StageBuilder> own_stages_; // the top SELECT's, created on the first subquery
  bool subquery_ = false;                   // planning a subquery in FROM
  std::optional<Relation> input_;           // FROM is a relation of subqueries
  std::unique_ptr<SourceDef> input_source_; // its columns, as the binder's source
  int from_location_ = -1;
};

int SelectPlanner::KeywordBefore(std::string_view keyword, const Json* node) const {
  int loc = MinLocation(node);
  int at = ctx_.source().FindKeyword(keyword, statement_.start, loc >= 0 ? loc : statement_.end);
  return at >= 0 ? at : loc;
}

Status SelectPlanner::CheckClauses(const Json* select) const {
  if (Field(select, "valuesLists") != nullptr) {
    return ctx_.Error(KeywordBefore("VALUES", Field(select, "valuesLists")),
                      "VALUES is not supported; INSERT INTO a sink SELECT … FROM a source");
  }
  std::string_view op = StringField(select, "op");
  if (!op.empty() && op != "SETOP_NONE") {
    std::string word = op == "SETOP_UNION" ? "UNION" : op == "SETOP_INTERSECT" ? "INTERSECT" : "EXCEPT";
    return ctx_.Error(KeywordBefore(word, Field(select, "rarg")), word + " is not supported");
  }
  if (const Json* with = Field(select, "withClause")) {
    return ctx_.Error(LocationOf(with), "WITH (common table expressions) is not supported");
  }
  if (Field(select, "intoClause") != nullptr) return ctx_.Error(-1, "SELECT INTO is not supported");
  if (const Json* distinct = Field(select, "distinctClause")) {
    const Json* targets = Field(select, "targetList");
    int at = ctx_.source().FindKeyword("DISTINCT", statement_.start,
                                       targets != nullptr && MinLocation(targets) >= 0 ? MinLocation(targets)
                                                                                       : statement_.end);
    return ctx_.Error(at >= 0 ? at : MinLocation(distinct), "DISTINCT is not supported");
  }
  if (const Json* sort = Field(select, "sortClause")) {
    return ctx_.Error(KeywordBefore("ORDER", sort), "ORDER BY is not supported (a stream has no end to sort)");
  }
  if (const Json* limit = Field(select, "limitCount")) {
    return ctx_.Error(KeywordBefore("LIMIT", limit), "LIMIT is not supported");
  }
  if (const Json* offset = Field(select, "limitOffset")) {
    return ctx_.Error(KeywordBefore("OFFSET", offset), "OFFSET is not supported");
  }
  if (const Json* locking = Field(select, "lockingClause")) {
    return ctx_.Error(KeywordBefore("FOR", locking), "FOR UPDATE/SHARE is not supported");
  }
  if (const Json* window = Field(select, "windowClause")) {
    return ctx_.Error(KeywordBefore("WINDOW", window), "WINDOW clauses are not supported");
  }
  if (BoolField(select, "groupDistinct")) {
    return ctx_.Error(KeywordBefore("DISTINCT", Field(select, "groupClause")), "GROUP BY DISTINCT is not supported");
  }
  return Status::OK();
}

Status SelectPlanner::ResolveSource(std::string_view name, int location, int* index) const {
  *index = state_.SourceIndex(name);
  if (*index >= 0) return Status::OK();
  if (state_.SinkIndex(name) >= 0) {
    return ctx_.Error(location, QuoteIdent(name) + " is a sink table; queries read from source streams");
  }
  return ctx_.Error(location, "source \"" + std::string(name) + "\" does not exist; known sources: " +
                                  state_.SourceNames());
}

Status SelectPlanner::PlanFrom(const Json* select, QueryDef* q) {
  const Json* from = ListField(select, "fromClause");
  if (from == nullptr) {
    return ctx_.Error(MinLocation(Field(select, "targetList")),
                      "SELECT without FROM is not supported; read from a source: FROM <source>");
  }
  if (from->size() > 1) {
    return ctx_.Error(MinLocation(&(*from)[1]), "joins are not supported (FROM lists more than one table)");
  }
  PgNode item = AsNode(&from->front());
  if (item.Is("RangeVar")) {
    int loc = LocationOf(item.body);
    if (!StringField(item.body, "schemaname").empty() || !StringField(item.body, "catalogname").empty()) {
      return ctx_.Error(loc, "schema-qualified table names are not supported");
    }
    std::string_view name = StringField(item.body, "relname");
    SLUICE_RETURN_IF_ERROR(ResolveSource(name, loc, &q->source));
    const Json* alias = Field(item.body, "alias");
    if (ListField(alias, "colnames") != nullptr) return ctx_.Error(loc, "column aliases in FROM are not supported");
    std::string_view alias_name = StringField(alias, "aliasname");
    scope_.source = &state_.pipeline.sources[q->source];
    scope_.qualifier = std::string(alias_name.empty() ? name : alias_name);
    scope_.windowed = false;
    return Status::OK();
  }
  if (item.Is("RangeFunction")) return PlanWindow(item.body, q);
  if (item.Is("JoinExpr") || item.Is("RangeSubselect")) {
    if (stages_ == nullptr) {
      own_stages_ = std::make_unique<StageBuilder>();
      stages_ = own_stages_.get();
    }
    from_location_ = MinLocation(&from->front());
    if (stages_->first_location < 0) stages_->first_location = from_location_;
    Relation rel;
    SLUICE_RETURN_IF_ERROR(PlanRelation(&from->front(), &rel));
    std::string qualifier = rel.parts.size() == 1 ? rel.parts[0].qualifier : "";
    if (rel.parts.size() == 1) rel.parts.clear();
    return UseRelation(std::move(rel), std::move(qualifier));
  }
  return ctx_.Error(MinLocation(&from->front()),
                    "this FROM item is not supported; use a source, TUMBLE(...), HOP(...) or SESSION(...)");
}

Result<Duration> SelectPlanner::IntervalArgument(const Json* node, std::string_view what) const {
  // INTERVAL '1 minute', INTERVAL '1' MINUTE or a plain '1 minute'.
  std::string_view unit;
  PgNode value = AsNode(node);
  const std::string example = "the " + std::string(what) + " must be an interval such as INTERVAL '1 minute'";
  if (value.Is("TypeCast")) {
    const Json* type_name = Field(value.body, "typeName");
    if (!IsIntervalType(type_name)) return ctx_.Error(MinLocation(node), example);
    if (const Json* typmods = ListField(type_name, "typmods")) {
      unit = IntervalUnit(IntField(Field(AsNode(&typmods->front()).body, "ival"), "ival", 0));
    }
    value = AsNode(Field(value.body, "arg"));
  }
  const Json* sval = value.Is("A_Const") ? Field(value.body, "sval") : nullptr;
  if (sval == nullptr) return ctx_.Error(MinLocation(node), example);
  int loc = LocationOf(value.body);
  std::string text(StringField(sval, "sval"));
  if (!unit.empty() && IsPlainNumber(text)) text += " " + std::string(unit);
  auto parsed = ParseInterval(text);
  if (!parsed.ok()) return ctx_.Error(loc, "bad " + std::string(what) + ": " + parsed.status().message());
  if (parsed->count() <= 0) return ctx_.Error(loc, "the " + std::string(what) + " must be positive");
  if (*parsed > kMaxInterval) return ctx_.Error(loc, "the " + std::string(what) + " must be at most 3650 days");
  return *parsed;
}

Status SelectPlanner::PlanWindow(const Json* rf, QueryDef* q) {
  int rf_loc = MinLocation(Field(rf, "functions"));
  if (BoolField(rf, "lateral")) return ctx_.Error(rf_loc, "LATERAL is not supported");
  if (BoolField(rf, "ordinality")) return ctx_.Error(rf_loc, "WITH ORDINALITY is not supported");
  if (BoolField(rf, "is_rowsfrom")) return ctx_.Error(rf_loc, "ROWS FROM is not supported");
  if (ListField(rf, "coldeflist") != nullptr) return ctx_.Error(rf_loc, "column definition lists are not supported");
  const Json* functions = ListField(rf, "functions");
  if (functions == nullptr || functions->size() != 1) {
    return ctx_.Error(rf_loc, "FROM supports exactly one table function: TUMBLE(...), HOP(...) or SESSION(...)");
  }
  const Json* items = ListField(AsNode(&functions->front()).body, "items");
  PgNode call = AsNode(items != nullptr ? &items->front() : nullptr);
  if (!call.Is("FuncCall")) {
    return ctx_.Error(rf_loc, "this FROM item is not supported; use a source, TUMBLE(...), HOP(...) or SESSION(...)");
  }
  int loc = LocationOf(call.body);
  window_location_ = loc;
  auto names = NameList(Field(call.body, "funcname"));
  std::string name = names && names->size() == 1 ? AsciiLower(names->front()) : "?";
  WindowKind kind;
  const char* usage;
  size_t arity;
  if (name == "tumble") {
    kind = WindowKind::kTumble;
    usage = "TUMBLE takes 3 arguments: TUMBLE(source, event_time_column, INTERVAL '1 minute')";
    arity = 3;
  } else if (name == "hop") {
    kind = WindowKind::kHop;
    usage = "HOP takes 4 arguments: HOP(source, event_time_column, INTERVAL '<slide>', INTERVAL '<size>')";
    arity = 4;
  } else if (name == "session") {
    kind = WindowKind::kSession;
    usage = "SESSION takes 3 arguments: SESSION(source, event_time_column, INTERVAL '<gap>')";
    arity = 3;
  } else {
    std::string shown = names && !names->empty() ? std::string(names->back()) : "?";
    return ctx_.Error(loc, "table function " + shown +
                               "() is not supported; use TUMBLE(source, event_time_column, INTERVAL '1 minute'), "
                               "HOP(source, event_time_column, slide, size) or SESSION(source, event_time_column, gap)");
  }
  window_name_ = name == "tumble" ? "TUMBLE" : name == "hop" ? "HOP" : "SESSION";
  const Json* args = ListField(call.body, "args");
  if (args == nullptr || args->size() != arity || BoolField(call.body, "agg_star")) return ctx_.Error(loc, usage);
  // Argument 1: the source, written as a bare name.
  PgNode source_ref = AsNode(&(*args)[0]);
  auto source_names = NameList(Field(source_ref.body, "fields"));
  int source_loc = MinLocation(&(*args)[0]);
  if (!source_ref.Is("ColumnRef") || !source_names || source_names->size() != 1) {
    return ctx_.Error(source_loc, window_name_ + "'s first argument must be the name of a source stream");
  }
  SLUICE_RETURN_IF_ERROR(ResolveSource(source_names->front(), source_loc, &q->source));
  const SourceDef& source = state_.pipeline.sources[q->source];
  std::string_view alias = StringField(Field(rf, "alias"), "aliasname");
  if (ListField(Field(rf, "alias"), "colnames") != nullptr) {
    return ctx_.Error(rf_loc, "column aliases in FROM are not supported");
  }
  scope_.source = &source;
  scope_.qualifier = std::string(alias.empty() ? std::string_view(source.name) : alias);
  scope_.windowed = true;
  scope_.window_name = window_name_;

  // Argument 2: the event-time column.
  int time_loc = MinLocation(&(*args)[1]);
  if (source.event_time_column < 0) {
    return ctx_.Error(time_loc, "source " + QuoteIdent(source.name) +
                                    " has no event_time; windows need one (add event_time = '<column>' to its WITH)");
  }
  BindScope column_scope = scope_;
  column_scope.windowed = false;
  ExprBinder binder(ctx_, column_scope);
  SLUICE_ASSIGN_OR_RETURN(Expr time, binder.Bind(&(*args)[1], Clause::kWindowArgument));
  const std::string& event_time = source.schema[source.event_time_column].name;
  if (time.op != ExprOp::kColumn) {
    return ctx_.Error(time_loc, window_name_ + "'s second argument must be the event_time column " +
                                    QuoteIdent(event_time));
  }
  if (time.column != source.event_time_column) {
    return ctx_.Error(time_loc, window_name_ + " must use the event_time column " + QuoteIdent(event_time) + " of " +
                                    QuoteIdent(source.name) + ", not " + time.text);
  }
  q->window.kind = kind;
  q->window.time_column = source.event_time_column;
  if (kind == WindowKind::kTumble) {
    SLUICE_ASSIGN_OR_RETURN(q->window.size, IntervalArgument(&(*args)[2], "window size"));
    q->window.slide = q->window.size;
  } else if (kind == WindowKind::kHop) {
    SLUICE_ASSIGN_OR_RETURN(q->window.slide, IntervalArgument(&(*args)[2], "window slide"));
    SLUICE_ASSIGN_OR_RETURN(q->window.size, IntervalArgument(&(*args)[3], "window size"));
    if (q->window.slide > q->window.size) {
      return ctx_.Error(MinLocation(&(*args)[2]), "the HOP slide (" + FormatDuration(q->window.slide) +
                                                      ") must not be larger than the window size (" +
                                                      FormatDuration(q->window.size) + ")");
    }
    const int64_t pane = std::gcd(q->window.slide.count(), q->window.size.count());
    const int64_t panes = q->window.size.count() / pane;
    if (panes > kMaxPanesPerWindow) {
      return ctx_.Error(MinLocation(&(*args)[3]),
                        "HOP(" + FormatDuration(q->window.slide) + ", " + FormatDuration(q->window.size) +
                            ") needs " + std::to_string(panes) + " panes of gcd(slide, size) = " +
                            FormatDuration(Duration(pane)) + " per window; at most " +
                            std::to_string(kMaxPanesPerWindow) + " are supported");
    }
  } else {
    SLUICE_ASSIGN_OR_RETURN(q->window.gap, IntervalArgument(&(*args)[2], "session gap"));
  }
  return Status::OK();
}

Status SelectPlanner::ReadTargets(const Json* select) {
  const Json* list = ListField(select, "targetList");
  if (list == nullptr) return ctx_.Error(-1, "SELECT needs at least one output column");
  ExprBinder binder(ctx_, scope_);
  for (const Json& item : *list) {
    PgNode rt = AsNode(&item);
    if (!rt.Is("ResTarget")) return ctx_.Error(MinLocation(&item), "unreadable SELECT item");
    Target t;
    t.val = Field(rt.body, "val");
    t.alias = std::string(StringField(rt.body, "name"));
    t.location = LocationOf(rt.body);
    if (t.location < 0) t.location = MinLocation(t.val);
    if (ListField(rt.body, "indirection") != nullptr) {
      return ctx_.Error(t.location, "subscripts and field selection are not supported");
    }
    PgNode val = AsNode(t.val);
    if (val.Is("ColumnRef")) {
      const Json* fields = ListField(val.body, "fields");
      if (fields != nullptr && AsNode(&fields->back()).Is("A_Star")) {
        if (fields->size() == 2 && !scope_.parts.empty()) {
          auto q = StringNodeValue(&fields->front());
          bool found = false;
          for (const BindScope::Part& part : scope_.parts) {
            if (q && *q == part.qualifier) {
              t.star_begin = part.offset;
              t.star_end = part.offset + part.count;
              found = true;
            }
          }
          if (!found) {
            return ctx_.Error(t.location, "missing FROM-clause entry for table \"" + std::string(q.value_or("?")) + "\"");
          }
        } else if (fields->size() == 2) {
          auto q = StringNodeValue(&fields->front());
          if (!q || *q != scope_.qualifier) {
            return ctx_.Error(t.location, "missing FROM-clause entry for table \"" +
                                              std::string(q.value_or("?")) + "\"; the query reads from " +
                                              QuoteIdent(scope_.qualifier));
          }
        } else if (fields->size() != 1) {
          return ctx_.Error(t.location, "unsupported * reference");
        }
        t.kind = Target::Kind::kStar;
      }
    }
    if (auto window = binder.WindowColumn(t.val)) {
      t.kind = Target::Kind::kWindow;
      t.window = *window;
    } else if (val.Is("FuncCall") && Field(val.body, "over") == nullptr) {
      auto names = NameList(Field(val.body, "funcname"));
      if (names && names->size() == 1 && IsAggregateFunction(names->front())) t.kind = Target::Kind::kAggregate;
    }
    targets_.push_back(std::move(t));
  }
  return Status::OK();
}

// Index of `key` among the group keys (same text and type), appending it when new.
int SelectPlanner::AddGroupKey(Expr key, QueryDef* q) const {
  for (size_t i = 0; i < q->group_keys.size(); ++i) {
    if (q->group_keys[i].text == key.text && q->group_keys[i].type == key.type) return static_cast<int>(i);
  }
  q->group_keys.push_back(std::move(key));
  return static_cast<int>(q->group_keys.size()) - 1;
}

Status SelectPlanner::PlanGroupBy(const Json* select, const ExprBinder& binder, QueryDef* q) {
  const Json* group = ListField(select, "groupClause");
  if (group == nullptr) return Status::OK();
  for (const Json& g : *group) {
    int loc = MinLocation(&g);
    if (first_group_location_ < 0) first_group_location_ = loc;
    PgNode node = AsNode(&g);
    if (node.Is("GroupingSet")) return ctx_.Error(loc, "ROLLUP, CUBE and GROUPING SETS are not supported");
    if (binder.WindowColumn(&g)) {
      grouped_by_window_ = true;
      continue;
    }
    const Json* expr_node = &g;
    const Target* target = nullptr;
    if (node.Is("A_Const") && Field(node.body, "ival") != nullptr) {
      // GROUP BY <position in the SELECT list>.
      int64_t pos = IntField(Field(node.body, "ival"), "ival", 0);
      if (Field(Field(node.body, "ival"), "ival") == nullptr) pos = RecoverInteger(ctx_.source(), loc).value_or(0);
      if (pos < 1 || pos > static_cast<int64_t>(targets_.size())) {
        return ctx_.Error(loc, "GROUP BY position " + std::to_string(pos) + " is not in select list");
      }
      target = &targets_[pos - 1];
    } else if (node.Is("ColumnRef")) {
      // GROUP BY <output alias>, when it is not also an input column (inputs win, as in PostgreSQL).
      auto names = NameList(Field(node.body, "fields"));
      if (names && names->size() == 1 && scope_.source->schema.IndexOf(names->front()) < 0) {
        for (const Target& t : targets_) {
          if (!t.alias.empty() && t.alias == names->front()) {
            target = &t;
            break;
          }
        }
      }
    }
    if (target != nullptr) {
      switch (target->kind) {
        case Target::Kind::kStar:
          return ctx_.Error(loc, "GROUP BY cannot refer to *");
        case Target::Kind::kWindow:
          grouped_by_window_ = true;
          continue;
        case Target::Kind::kAggregate:
          return ctx_.Error(loc, "aggregate functions are not allowed in GROUP BY");
        case Target::Kind::kScalar:
          expr_node = target->val;
          break;
      }
    }
    SLUICE_ASSIGN_OR_RETURN(Expr key, binder.Bind(expr_node, Clause::kGroupBy));
    AddGroupKey(std::move(key), q);
  }
  return Status::OK();
}

Result<AggregateDef> SelectPlanner::PlanAggregate(const Json* node, const ExprBinder& binder) const {
  const Json* call = AsNode(node).body;
  int loc = LocationOf(call);
  auto names = NameList(Field(call, "funcname"));
  std::string name(names->front());
  const bool distinct = BoolField(call, "agg_distinct");
  if (distinct && name != "count") {
    return ctx_.Error(loc, name + "(DISTINCT …) is not supported; only count(DISTINCT …) is");
  }
  if (Field(call, "agg_order") != nullptr) return ctx_.Error(loc, "ORDER BY inside an aggregate is not supported");
  if (BoolField(call, "agg_within_group")) return ctx_.Error(loc, "WITHIN GROUP is not supported");
  if (BoolField(call, "func_variadic")) return ctx_.Error(loc, "VARIADIC is not supported");
  const Json* args = ListField(call, "args");
  AggregateDef agg;
  std::string filter_text;
  if (const Json* filter = Field(call, "agg_filter")) {
    SLUICE_ASSIGN_OR_RETURN(Expr f, binder.Bind(filter, Clause::kFilter));
    if (f.type != DataType::kBool && f.type != DataType::kNull) {
      return ctx_.Error(MinLocation(filter),
                        std::string("argument of FILTER must be type BOOLEAN, not type ") + DataTypeName(f.type));
    }
    filter_text = " FILTER (WHERE " + f.text + ")";
    agg.filter = std::move(f);
  }
  if (BoolField(call, "agg_star")) {
    if (name != "count" || args != nullptr) return ctx_.Error(loc, name + "(*) is not valid; only count(*) takes *");
    agg.kind = AggKind::kCountStar;
    agg.result_type = DataType::kInt64;
    agg.text = "count(*)" + filter_text;
    return agg;
  }
  const size_t arity = name == "approx_percentile" ? 2 : 1;
  if (args == nullptr || args->size() != arity) {
    return ctx_.Error(loc, arity == 2 ? name + "() takes two arguments: " + name + "(value, fraction)"
                                      : name + "() takes exactly one argument");
  }
  SLUICE_ASSIGN_OR_RETURN(agg.arg, binder.Bind(&args->front(), Clause::kAggregateArgument));
  DataType t = agg.arg.type;
  bool numeric = t == DataType::kInt64 || t == DataType::kFloat64;
  bool ok = true;
  std::string extra;
  if (name == "count") {
    agg.kind = distinct ? AggKind::kCountDistinct : AggKind::kCount;
    agg.result_type = DataType::kInt64;
  } else if (name == "sum") {
    agg.kind = AggKind::kSum;
    agg.result_type = t == DataType::kInt64 ? DataType::kInt64 : DataType::kFloat64;
    ok = numeric;
  } else if (name == "avg") {
    agg.kind = AggKind::kAvg;
    agg.result_type = DataType::kFloat64;
    ok = numeric;
  } else if (name == "min" || name == "max") {
    agg.kind = name == "min" ? AggKind::kMin : AggKind::kMax;
    agg.result_type = t;
    ok = numeric || t == DataType::kText || t == DataType::kTimestamp;
  } else if (name == "var_samp" || name == "variance" || name == "var_pop" || name == "stddev_samp" ||
             name == "stddev" || name == "stddev_pop") {
    agg.kind = name == "var_pop"      ? AggKind::kVarPop
               : name == "stddev_pop" ? AggKind::kStddevPop
               : name.starts_with("stddev") ? AggKind::kStddevSamp
                                            : AggKind::kVarSamp;
    agg.result_type = DataType::kFloat64;
    ok = numeric;
  } else if (name == "first_value" || name == "last_value") {
    agg.kind = name == "first_value" ? AggKind::kFirstValue : AggKind::kLastValue;
    agg.result_type = t == DataType::kNull ? DataType::kText : t;
  } else if (name == "approx_count_distinct") {
    agg.kind = AggKind::kApproxCountDistinct;
    agg.result_type = DataType::kInt64;
  } else {  // approx_percentile(x, q)
    agg.kind = AggKind::kApproxPercentile;
    agg.result_type = DataType::kFloat64;
    ok = numeric;
    auto q = binder.Bind(&(*args)[1], Clause::kAggregateArgument);
    bool constant = q.ok() && q->op == ExprOp::kLiteral &&
                    (q->literal.type() == DataType::kInt64 || q->literal.type() == DataType::kFloat64);
    double fraction = constant ? q->literal.ToDouble() : -1;
    if (!constant || !(fraction >= 0 && fraction <= 1)) {
      return ctx_.Error(MinLocation(&(*args)[1]),
                        "approx_percentile's second argument must be a constant fraction from 0 to 1, such as 0.95");
    }
    agg.param = fraction;
    extra = ", " + q->text;
  }
  if (!ok) return ctx_.Error(loc, "function " + name + "(" + DataTypeName(t) + ") does not exist");
  agg.text = name + "(" + (distinct ? "DISTINCT " : "") + agg.arg.text + extra + ")" + filter_text;
  return agg;
}

// Column codes handed out while binding over the group row, renumbered by RemapGroupRow() once
// the number of group keys is final. Source columns never reach these values.
constexpr int kKeyCode = 1 << 20;
constexpr int kAggregateCode = 1 << 21;
constexpr int kWindowCode = 1 << 22;

void RemapGroupRow(Expr* e, size_t keys) {
  if (e->op == ExprOp::kColumn) {
    if (e->column >= kWindowCode) {
      e->column -= kWindowCode;
    } else if (e->column >= kAggregateCode) {
      e->column = static_cast<int>(2 + keys) + (e->column - kAggregateCode);
    } else if (e->column >= kKeyCode) {
      e->column = 2 + (e->column - kKeyCode);
    }
  }
  for (Expr& a : e->args) RemapGroupRow(&a, keys);
}

// Resolves aggregates, window columns and GROUP BY expressions for HAVING and SELECT items over
// aggregates; aggregates are shared by text with the SELECT list.
class GroupRow final : public GroupRowResolver {
 public:
  GroupRow(const SelectPlanner& planner, const ExprBinder& binder, QueryDef* q)
      : planner_(planner), binder_(binder), q_(q) {}

  Result<Ref> Aggregate(const Json* func_call) override {
    SLUICE_ASSIGN_OR_RETURN(AggregateDef agg, planner_.PlanAggregate(func_call, binder_));
    Ref ref{kAggregateCode + Index(std::move(agg)), DataType::kNull, ""};
    const AggregateDef& a = q_->aggregates[static_cast<size_t>(ref.column - kAggregateCode)];
    ref.type = a.result_type;
    ref.text = a.text;
    return ref;
  }
  Ref Window(OutputColumn::Kind kind) const override {
    bool start = kind == OutputColumn::Kind::kWindowStart;
    return Ref{kWindowCode + (start ? 0 : 1), DataType::kTimestamp, start ? "window_start" : "window_end"};
  }
  std::optional<Ref> GroupKey(const Expr& e) const override {
    for (size_t i = 0; i < q_->group_keys.size(); ++i) {
      const Expr& k = q_->group_keys[i];
      if (k.text == e.text && k.type == e.type) return Ref{kKeyCode + static_cast<int>(i), k.type, k.text};
    }
    return std::nullopt;
  }
  // Position of `agg` in q->aggregates, appending it unless an identical one is there.
  int Index(AggregateDef agg) {
    for (size_t i = 0; i < q_->aggregates.size(); ++i) {
      if (q_->aggregates[i].text == agg.text && q_->aggregates[i].result_type == agg.result_type) {
        return static_cast<int>(i);
      }
    }
    q_->aggregates.push_back(std::move(agg));
    return static_cast<int>(q_->aggregates.size()) - 1;
  }

 private:
  const SelectPlanner& planner_;
  const ExprBinder& binder_;
  QueryDef* q_;
};

Status SelectPlanner::PlanOutputs(const Json* select, const ExprBinder& binder, QueryDef* q,
                                  std::vector<int>* output_locations) {
  bool has_aggregates = false;
  int first_aggregate_location = -1;
  for (const Target& t : targets_) {
    if (t.kind == Target::Kind::kAggregate || (t.kind == Target::Kind::kScalar && ContainsAggregate(t.val))) {
      has_aggregates = true;
      if (first_aggregate_location < 0) first_aggregate_location = t.location;
    }
  }
  const Json* having = Field(select, "havingClause");
  const bool aggregating = has_aggregates || !q->group_keys.empty() || grouped_by_window_ || having != nullptr;
  if (aggregating && q->window.kind == WindowKind::kNone && !input_) {
    int at = has_aggregates ? first_aggregate_location
             : first_group_location_ >= 0 ? first_group_location_
                                          : KeywordBefore("HAVING", having);
    return ctx_.Error(at, "aggregation needs a window (TUMBLE, HOP or SESSION) in a streaming query");
  }
  if (q->window.kind != WindowKind::kNone && !has_aggregates && q->group_keys.empty() && !subquery_) {
    return ctx_.Error(window_location_,
                      "a " + window_name_ +
                          " window needs aggregates or GROUP BY keys, e.g. SELECT window_start, count(*) "
                          "FROM " + window_name_ + "(...) GROUP BY window_start, window_end");
  }
  const Schema& schema = scope_.source->schema;
  // First the plain SELECT items that become extra group keys, so the group row's layout is
  // final before expressions over aggregates are bound.
  std::vector<int> scalar_keys(targets_.size(), -1);
  if (aggregating && q->window.kind == WindowKind::kNone && having != nullptr && !has_aggregates &&
      q->group_keys.empty()) {
    return ctx_.Error(KeywordBefore("HAVING", having), "HAVING needs GROUP BY or aggregates");
  }
  if (aggregating) {
    for (size_t ti = 0; ti < targets_.size(); ++ti) {
      const Target& t = targets_[ti];
      if (t.kind != Target::Kind::kScalar || ContainsAggregate(t.val)) continue;
      if (MentionsWindowColumn(t.val, binder, 0)) continue;  // over the group row, below
      SLUICE_ASSIGN_OR_RETURN(Expr e, binder.Bind(t.val, Clause::kSelect));
      if (e.type == DataType::kNull) e.type = DataType::kText;  // a bare NULL is TEXT, as in PostgreSQL
      int index = -1;
      for (size_t i = 0; i < q->group_keys.size(); ++i) {
        if (q->group_keys[i].text == e.text && q->group_keys[i].type == e.type) index = static_cast<int>(i);
      }
      if (index < 0) {
        // Allowed when every column it reads is itself a GROUP BY column: grouping by it too
        // changes nothing, so it becomes an extra group key.
        std::vector<int> columns;
        CollectColumns(e, &columns);
        for (int c : columns) {
          bool covered = std::any_of(q->group_keys.begin(), q->group_keys.end(), [c](const Expr& k) {
            return k.op == ExprOp::kColumn && k.column == c;
          });
          if (!covered) {
            int at = FindColumnRef(t.val, schema[c].name, 0);
            return ctx_.Error(at >= 0 ? at : t.location, "column \"" + schema[c].name +
                                                             "\" must appear in GROUP BY or be used in an aggregate");
          }
        }
        index = AddGroupKey(std::move(e), q);
      }
      scalar_keys[ti] = index;
    }
  }
  BindScope group_scope = scope_;
  GroupRow group_row(*this, binder, q);
  group_scope.group_row = &group_row;
  ExprBinder group_binder(ctx_, group_scope);

  std::set<std::string> names;
  auto add_output = [&](OutputColumn out, int location) -> Status {
    if (!names.insert(out.name).second) {
      return ctx_.Error(location, "output column \"" + out.name + "\" appears more than once; rename one with AS");
    }
    q->outputs.push_back(std::move(out));
    output_locations->push_back(location);
    return Status::OK();
  };
  for (size_t ti = 0; ti < targets_.size(); ++ti) {
    const Target& t = targets_[ti];
    std::string name = !t.alias.empty() ? t.alias : DefaultOutputName(t.val);
    switch (t.kind) {
      case Target::Kind::kStar: {
        if (aggregating) {
          return ctx_.Error(t.location,
                            "SELECT * is not allowed in an aggregating query; list the GROUP BY columns and aggregates");
        }
        const size_t star_end = t.star_end < 0 ? schema.size() : static_cast<size_t>(t.star_end);
        for (size_t i = static_cast<size_t>(t.star_begin); i < star_end; ++i) {
          Expr e;
          e.op = ExprOp::kColumn;
          e.column = static_cast<int>(i);
          e.type = schema[i].type;
          e.text = QuoteIdent(schema[i].name);
          q->projections.push_back(std::move(e));
          OutputColumn out{schema[i].name, OutputColumn::Kind::kProjection,
                           static_cast<int>(q->projections.size()) - 1, schema[i].type};
          SLUICE_RETURN_IF_ERROR(add_output(std::move(out), t.location));
        }
        break;
      }
      case Target::Kind::kWindow: {
        OutputColumn out{name, t.window, -1, DataType::kTimestamp};
        SLUICE_RETURN_IF_ERROR(add_output(std::move(out), t.location));
        break;
      }
      case Target::Kind::kAggregate: {
        SLUICE_ASSIGN_OR_RETURN(AggregateDef agg, PlanAggregate(t.val, binder));
        DataType type = agg.result_type;
        int index = group_row.Index(std::move(agg));
        OutputColumn out{name, OutputColumn::Kind::kAggregate, index, type};
        SLUICE_RETURN_IF_ERROR(add_output(std::move(out), t.location));
        break;
      }
      case Target::Kind::kScalar: {
        if (!aggregating) {
          SLUICE_ASSIGN_OR_RETURN(Expr e, binder.Bind(t.val, Clause::kSelect));
          if (e.type == DataType::kNull) e.type = DataType::kText;  // a bare NULL is TEXT, as in PostgreSQL
          DataType type = e.type;
          q->projections.push_back(std::move(e));
          OutputColumn out{name, OutputColumn::Kind::kProjection, static_cast<int>(q->projections.size()) - 1, type};
          SLUICE_RETURN_IF_ERROR(add_output(std::move(out), t.location));
          break;
        }
        if (scalar_keys[ti] >= 0) {
          const int index = scalar_keys[ti];
          OutputColumn out{name, OutputColumn::Kind::kGroupKey, index, q->group_keys[index].type};
          SLUICE_RETURN_IF_ERROR(add_output(std::move(out), t.location));
          break;
        }
        // An expression over aggregates (sum(x) / count(*)): evaluated over the group row.
        SLUICE_ASSIGN_OR_RETURN(Expr e, group_binder.Bind(t.val, Clause::kSelect));
        if (e.type == DataType::kNull) e.type = DataType::kText;
        DataType type = e.type;
        q->post_projections.push_back(std::move(e));
        OutputColumn out{name, OutputColumn::Kind::kPostExpr, static_cast<int>(q->post_projections.size()) - 1,
                         type};
        SLUICE_RETURN_IF_ERROR(add_output(std::move(out), t.location));
        break;
      }
    }
  }
  if (having != nullptr) {
    SLUICE_ASSIGN_OR_RETURN(Expr h, group_binder.Bind(having, Clause::kHaving));
    if (h.type != DataType::kBool && h.type != DataType::kNull) {
      return ctx_.Error(MinLocation(having), std::string("argument of HAVING must be type BOOLEAN, not type ") +
                                                 DataTypeName(h.type));
    }
    q->having = std::move(h);
  }
  for (Expr& e : q->post_projections) RemapGroupRow(&e, q->group_keys.size());
  if (q->having) RemapGroupRow(&*q->having, q->group_keys.size());
  return Status::OK();
}

Status SelectPlanner::Plan(const Json* select, QueryDef* q, std::vector<int>* output_locations) {
  SLUICE_RETURN_IF_ERROR(CheckClauses(select));
  SLUICE_RETURN_IF_ERROR(PlanFrom(select, q));
  if (subquery_ && !input_) {
    if (q->window.kind == WindowKind::kNone) {
      return ctx_.Error(MinLocation(ListField(select, "fromClause")),
                        "a subquery in FROM must read a window, FROM TUMBLE(...) or HOP(...), or other subqueries");
    }
    if (q->window.kind == WindowKind::kSession) {
      return ctx_.Error(window_location_, "SESSION windows are not supported in subqueries; use TUMBLE or HOP");
    }
    if (stages_->source >= 0 && stages_->source != q->source) {
      return ctx_.Error(window_location_,
                        "all subqueries of a query must read the same source (" +
                            QuoteIdent(state_.pipeline.sources[static_cast<size_t>(stages_->source)].name) +
                            "); joins of different sources are not supported");
    }
    stages_->source = q->source;
  }
  ExprBinder binder(ctx_, scope_);
  if (const Json* where = Field(select, "whereClause")) {
    SLUICE_ASSIGN_OR_RETURN(Expr filter, binder.Bind(where, Clause::kWhere));
    if (filter.type != DataType::kBool && filter.type != DataType::kNull) {
      return ctx_.Error(MinLocation(where), std::string("argument of WHERE must be type BOOLEAN, not type ") +
                                                DataTypeName(filter.type));
    }
    q->where = std::move(filter);
  }
  SLUICE_RETURN_IF_ERROR(ReadTargets(select));
  SLUICE_RETURN_IF_ERROR(PlanGroupBy(select, binder, q));
  return PlanOutputs(select, binder, q, output_locations);
}


Status SelectPlanner::UseRelation(Relation rel, std::string qualifier) {
  input_source_ = std::make_unique<SourceDef>();
  input_source_->name = qualifier.empty() ? "(join)" : qualifier;
  input_source_->schema = rel.schema;
  input_source_->event_time_column = -1;
  scope_.source = input_source_.get();
  scope_.qualifier = std::move(qualifier);
  scope_.windowed = false;
  scope_.parts = rel.parts;
  input_ = std::move(rel);
  return Status::OK();
}

Status SelectPlanner::PlanRelation(const Json* item, Relation* rel) {
  PgNode n = AsNode(item);
  const int loc = MinLocation(item);
  if (n.Is("JoinExpr")) return PlanJoin(n.body, rel);
  if (!n.Is("RangeSubselect")) {
    return ctx_.Error(loc, "each side of a JOIN must be a subquery over a window, e.g. "
                           "(SELECT …, window_start, window_end FROM TUMBLE(…)) AS name");
  }
  if (BoolField(n.body, "lateral")) return ctx_.Error(loc, "LATERAL is not supported");
  const Json* alias = Field(n.body, "alias");
  std::string_view alias_name = StringField(alias, "aliasname");
  if (alias_name.empty()) return ctx_.Error(loc, "a subquery in FROM must have an alias: (SELECT …) AS name");
  if (ListField(alias, "colnames") != nullptr) return ctx_.Error(loc, "column aliases in FROM are not supported");
  PgNode sub = AsNode(Field(n.body, "subquery"));
  if (!sub.Is("SelectStmt")) return ctx_.Error(loc, "this subquery is not supported");
  SelectPlanner child(ctx_, statement_, state_, stages_);
  SLUICE_ASSIGN_OR_RETURN(*rel, child.PlanSubquery(sub.body));
  rel->parts = {BindScope::Part{std::string(alias_name), 0, static_cast<int>(rel->schema.size())}};
  return Status::OK();
}

Status SelectPlanner::PlanJoin(const Json* join, Relation* rel) {
  const int left_loc = MinLocation(Field(join, "larg"));
  const int right_loc = MinLocation(Field(join, "rarg"));
  int join_loc = ctx_.source().FindKeyword("JOIN", left_loc, right_loc >= 0 ? right_loc : statement_.end);
  if (join_loc < 0) join_loc = right_loc;
  std::string_view type = StringField(join, "jointype");
  if (!type.empty() && type != "JOIN_INNER") {
    return ctx_.Error(join_loc, "only inner joins are supported (JOIN … ON …), not LEFT, RIGHT or FULL joins");
  }
  if (BoolField(join, "isNatural")) return ctx_.Error(join_loc, "NATURAL JOIN is not supported; use JOIN … ON");
  if (ListField(join, "usingClause") != nullptr) return ctx_.Error(join_loc, "JOIN … USING is not supported; use JOIN … ON");
  const Json* quals = Field(join, "quals");
  const std::string window_join =
      "a JOIN needs ON with a.window_start = b.window_start AND a.window_end = b.window_end (a window join of "
      "windowed subqueries); other joins are not supported in a stream";
  if (quals == nullptr) return ctx_.Error(join_loc, window_join);
  Relation left, right;
  SLUICE_RETURN_IF_ERROR(PlanRelation(Field(join, "larg"), &left));
  SLUICE_RETURN_IF_ERROR(PlanRelation(Field(join, "rarg"), &right));
  // The joined relation: left columns, then right columns.
  const int lw = static_cast<int>(left.schema.size());
  const int rw = static_cast<int>(right.schema.size());
  Relation joined;
  joined.schema = left.schema;
  for (const Column& c : right.schema.columns()) joined.schema.Add(c);
  joined.roles = left.roles;
  joined.roles.insert(joined.roles.end(), right.roles.begin(), right.roles.end());
  joined.parts = left.parts;
  for (BindScope::Part p : right.parts) {
    for (const BindScope::Part& q : joined.parts) {
      if (q.qualifier == p.qualifier) {
        return ctx_.Error(right_loc, "table name " + QuoteIdent(p.qualifier) + " specified more than once");
      }
    }
    p.offset += lw;
    joined.parts.push_back(std::move(p));
  }
  SourceDef columns;
  columns.name = "(join)";
  columns.schema = joined.schema;
  BindScope scope;
  scope.source = &columns;
  scope.parts = joined.parts;
  ExprBinder binder(ctx_, scope);
  SLUICE_ASSIGN_OR_RETURN(Expr on, binder.Bind(quals, Clause::kWhere));
  if (on.type != DataType::kBool && on.type != DataType::kNull) {
    return ctx_.Error(MinLocation(quals),
                      std::string("argument of JOIN/ON must be type BOOLEAN, not type ") + DataTypeName(on.type));
  }
  StageNode node;
  node.kind = StageNode::Kind::kJoin;
  node.left = left.node;
  node.right = right.node;
  std::vector<Expr> conjuncts, rest;
  Conjuncts(std::move(on), &conjuncts);
  bool start_matched = false, end_matched = false;
  for (Expr& c : conjuncts) {
    if (c.op == ExprOp::kEq && c.args.size() == 2) {
      Expr a = c.args[0], b = c.args[1];
      if (ReadsOnly(b, 0, lw) && ReadsOnly(a, lw, lw + rw)) std::swap(a, b);
      if (ReadsOnly(a, 0, lw) && ReadsOnly(b, lw, lw + rw)) {
        const int ca = ColumnOf(a), cb = ColumnOf(b);
        if (ca >= 0 && cb >= 0 && joined.roles[static_cast<size_t>(ca)] != Role::kNone &&
            joined.roles[static_cast<size_t>(ca)] == joined.roles[static_cast<size_t>(cb)]) {
          (joined.roles[static_cast<size_t>(ca)] == Role::kWindowStart ? start_matched : end_matched) = true;
        }
        if (a.type != b.type) {
          a = CastTo(std::move(a), DataType::kFloat64);
          b = CastTo(std::move(b), DataType::kFloat64);
        }
        ShiftColumns(&b, -lw);
        node.left_keys.push_back(std::move(a));
        node.right_keys.push_back(std::move(b));
        continue;
      }
    }
    rest.push_back(std::move(c));
  }
  if (!start_matched || !end_matched) {
    if (!left.Has(Role::kWindowStart) || !left.Has(Role::kWindowEnd) || !right.Has(Role::kWindowStart) ||
        !right.Has(Role::kWindowEnd)) {
      const bool left_missing = !left.Has(Role::kWindowStart) || !left.Has(Role::kWindowEnd);
      return ctx_.Error(left_missing ? left_loc : right_loc,
                        "this side of the JOIN must select window_start and window_end, so that the join can "
                        "match windows (a window join)");
    }
    return ctx_.Error(MinLocation(quals), window_join);
  }
  for (Expr& r : rest) {
    if (!node.condition) {
      node.condition = std::move(r);
      continue;
    }
    Expr both;
    both.op = ExprOp::kAnd;
    both.type = DataType::kBool;
    both.text = node.condition->text + " AND " + r.text;
    both.args.push_back(std::move(*node.condition));
    both.args.push_back(std::move(r));
    node.condition = std::move(both);
  }
  node.width = lw + rw;
  stages_->plan.nodes.push_back(std::move(node));
  joined.node = static_cast<int>(stages_->plan.nodes.size()) - 1;
  *rel = std::move(joined);
  return Status::OK();
}

Result<Relation> SelectPlanner::MakeNode(QueryDef q, int location) {
  Relation rel;
  for (const OutputColumn& o : q.outputs) rel.schema.Add(Column{o.name, o.type});
  rel.roles.assign(q.outputs.size(), Role::kNone);
  StagePlan& plan = stages_->plan;
  StageNode node;
  node.width = static_cast<int>(q.outputs.size());
  if (!input_) {
    // A leaf: a windowed subquery over the source.
    for (size_t i = 0; i < q.outputs.size(); ++i) {
      if (q.outputs[i].kind == OutputColumn::Kind::kWindowStart) rel.roles[i] = Role::kWindowStart;
      if (q.outputs[i].kind == OutputColumn::Kind::kWindowEnd) rel.roles[i] = Role::kWindowEnd;
    }
    node.kind = StageNode::Kind::kLeaf;
    const std::string signature = LeafSignature(q);
    for (size_t i = 0; i < stages_->signatures.size(); ++i) {
      if (stages_->signatures[i] == signature) node.leaf = static_cast<int>(i);
    }
    if (node.leaf < 0) {
      q.name = "leaf" + std::to_string(plan.leaves.size());
      plan.leaves.push_back(std::move(q));
      stages_->signatures.push_back(signature);
      node.leaf = static_cast<int>(plan.leaves.size()) - 1;
    }
  } else if (q.aggregating()) {
    // GROUP BY over a windowed relation: must group by its window columns.
    for (size_t i = 0; i < q.group_keys.size(); ++i) {
      const int c = ColumnOf(q.group_keys[i]);
      if (c < 0) continue;
      const Role r = input_->roles[static_cast<size_t>(c)];
      if (r == Role::kWindowStart && node.window_start_column < 0) node.window_start_column = c;
      if (r == Role::kWindowEnd && node.window_end_column < 0) node.window_end_column = c;
    }
    if (node.window_start_column < 0 || node.window_end_column < 0) {
      return ctx_.Error(first_group_location_ >= 0 ? first_group_location_ : location,
                        "an aggregation over a subquery must GROUP BY the subquery's window_start and window_end "
                        "columns (one result per window)");
    }
    for (size_t i = 0; i < q.outputs.size(); ++i) {
      const OutputColumn& o = q.outputs[i];
      if (o.kind != OutputColumn::Kind::kGroupKey) continue;
      const int c = ColumnOf(q.group_keys[static_cast<size_t>(o.index)]);
      if (c >= 0) rel.roles[i] = input_->roles[static_cast<size_t>(c)];
    }
    node.kind = StageNode::Kind::kAggregate;
    node.left = input_->node;
    node.aggregate = std::move(q);
  } else {
    for (size_t i = 0; i < q.outputs.size(); ++i) {
      const int c = ColumnOf(q.projections[static_cast<size_t>(q.outputs[i].index)]);
      if (c >= 0) rel.roles[i] = input_->roles[static_cast<size_t>(c)];
    }
    node.kind = StageNode::Kind::kProject;
    node.left = input_->node;
    node.condition = std::move(q.where);
    for (const OutputColumn& o : q.outputs) node.projections.push_back(q.projections[static_cast<size_t>(o.index)]);
  }
  plan.nodes.push_back(std::move(node));
  rel.node = static_cast<int>(plan.nodes.size()) - 1;
  return rel;
}

Result<Relation> SelectPlanner::PlanSubquery(const Json* select) {
  QueryDef q;
  std::vector<int> locations;
  SLUICE_RETURN_IF_ERROR(Plan(select, &q, &locations));
  return MakeNode(std::move(q), MinLocation(ListField(select, "targetList")));
}

Status SelectPlanner::FinishStages(QueryDef* q, const SinkDef& sink, int sink_location) {
  const SourceDef& source = state_.pipeline.sources[static_cast<size_t>(stages_->source)];
  if (source.allowed_lateness.count() > 0) {
    return ctx_.Error(stages_->first_location,
                      "allowed_lateness is not supported for queries with subqueries or window joins (source " +
                          QuoteIdent(source.name) + " has allowed_lateness = " +
                          FormatDuration(source.allowed_lateness) + ")");
  }
  if (sink.emit_interval.count() > 0) {
    return ctx_.Error(sink_location, "emit_interval is not supported for queries with subqueries or window joins "
                                     "(sink " + QuoteIdent(sink.name) + " has emit_interval = " +
                                     FormatDuration(sink.emit_interval) + ")");
  }
  const int sink_index = q->sink;
  SLUICE_ASSIGN_OR_RETURN(Relation root, MakeNode(std::move(*q), stages_->first_location));
  QueryDef top;
  top.source = stages_->source;
  top.sink = sink_index;
  for (size_t i = 0; i < root.schema.size(); ++i) {
    top.outputs.push_back(OutputColumn{root.schema[i].name, OutputColumn::Kind::kProjection, static_cast<int>(i),
                                       root.schema[i].type});
  }
  top.stages = std::make_shared<const StagePlan>(std::move(stages_->plan));
  *q = std::move(top);
  return Status::OK();
}

}  // namespace

Status PlanInsert(const StatementContext& ctx, const ParsedStatement& statement, const Json* insert,
                  PlanState* state) {
  const Json* relation = Field(insert, "relation");
  int rel_loc = LocationOf(relation);
  std::string sink_name(StringField(relation, "relname"));
  if (!StringField(relation, "schemaname").empty() || !StringField(relation, "catalogname").empty()) {
    return ctx.Error(rel_loc, "schema-qualified table names are not supported");
  }
  if (const Json* cols = ListField(insert, "cols")) {
    return ctx.Error(MinLocation(cols),
                     "INSERT column lists are not supported; SELECT items map to the sink's columns in order");
  }
  if (const Json* conflict = Field(insert, "onConflictClause")) {
    return ctx.Error(MinLocation(conflict), "ON CONFLICT is not supported");
  }
  if (const Json* returning = ListField(insert, "returningList")) {
    int at = MinLocation(returning);
    int keyword = ctx.source().FindKeyword("RETURNING", statement.start, at >= 0 ? at : statement.end);
    return ctx.Error(keyword >= 0 ? keyword : at, "RETURNING is not supported");
  }
  if (const Json* with = Field(insert, "withClause")) {
    return ctx.Error(LocationOf(with), "WITH (common table expressions) is not supported");
  }
  int sink = state->SinkIndex(sink_name);
  if (sink < 0) {
    if (state->SourceIndex(sink_name) >= 0) {
      return ctx.Error(rel_loc, QuoteIdent(sink_name) +
                                    " is a source stream; INSERT INTO needs a sink table (connector 'kv', 'files' or 'metrics')");
    }
    return ctx.Error(rel_loc, "sink table \"" + sink_name + "\" does not exist; known sinks: " + state->SinkNames());
  }
  PgNode select = AsNode(Field(insert, "selectStmt"));
  if (!select.Is("SelectStmt")) {
    return ctx.Error(rel_loc, "INSERT needs a SELECT: INSERT INTO sink SELECT … FROM source");
  }
  int ordinal = ++state->inserts;
  QueryDef q;
  q.sink = sink;
  std::vector<int> output_locations;
  SelectPlanner planner(ctx, statement, *state);
  SLUICE_RETURN_IF_ERROR(planner.Plan(select.body, &q, &output_locations));
  if (planner.staged()) {
    SLUICE_RETURN_IF_ERROR(planner.FinishStages(&q, state->pipeline.sinks[static_cast<size_t>(sink)], rel_loc));
  }
  q.name = "q" + std::to_string(ordinal) + "_" + sink_name;
  q.text = std::string(ctx.source().text().substr(statement.start, statement.end - statement.start));
  state->pipeline.queries.push_back(std::move(q));
  return ApplyQueryToSink(ctx, state, static_cast<int>(state->pipeline.queries.size()) - 1, rel_loc,
                          output_locations);
}

}  // namespace sluice::sql
