// The libpg_query adapter: SQL text → PostgreSQL 15 raw parse tree (as nlohmann::json), plus
// small accessors that read that tree without ever throwing.
//
// libpg_query returns the tree as JSON in protobuf-JSON style: every node is an object with one
// key, its tag ({"ColumnRef": {...}}), and fields equal to their default (0, false, "") are left
// out. Two consequences the accessors handle: a missing "location" means "no location"
// (we report the statement start instead), and libpg_query 15.4 drops the value of integer
// constants that are 0 or negative ({"ival": {}}), which RecoverInteger() reads back from the
// text. Upstream: https://github.com/pganalyze/libpg_query/issues/243.
//
// Internal to sql/; the only file that includes <pg_query.h>.
// Thread-safety: all functions are pure (libpg_query keeps its memory contexts per thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "sql/source_text.h"

namespace sluice::sql {

using Json = nlohmann::json;

/// One top-level statement of a pipeline file.
struct ParsedStatement {
  Json node;       ///< The statement node, e.g. {"CreateStmt": {...}}.
  int start = 0;   ///< Byte offset of its first token (leading blanks and comments skipped).
  int end = 0;     ///< Byte offset one past its last non-blank byte, before the ';'.
};

/// Upper bound on tokens in one statement. libpg_query serializes the tree recursively, so a
/// very long operator chain (`1+1+...+1`, 100k terms) overflows the stack inside the library;
/// we refuse such statements before calling it.
inline constexpr int kMaxTokensPerStatement = 10000;

/// Parses every statement of `source`.
/// Errors (all InvalidArgument, in SourceText's format): a syntax error from libpg_query at its
/// cursor position; a NUL byte or invalid UTF-8 in the text; a statement with more than kMaxTokensPerStatement
/// tokens; a parse tree that is not the expected JSON (a bug; reported at the start).
Result<std::vector<ParsedStatement>> ParseSql(const SourceText& source);

/// A node split into its tag and body. `body` is null when `j` is not a one-key object whose
/// value is an object.
struct PgNode {
  std::string_view tag;
  const Json* body = nullptr;
  explicit operator bool() const { return body != nullptr; }
  bool Is(std::string_view t) const { return body != nullptr && tag == t; }
};
PgNode AsNode(const Json* j);
inline PgNode AsNode(const Json& j) { return AsNode(&j); }

/// obj[key] when obj is an object holding key, else null.
const Json* Field(const Json* obj, std::string_view key);
/// obj[key] when it is a non-empty array, else null.
const Json* ListField(const Json* obj, std::string_view key);
/// obj[key] when it is a string, else "". The view lives as long as `obj`.
std::string_view StringField(const Json* obj, std::string_view key);
/// obj[key] when it is an integer, else `missing`.
int64_t IntField(const Json* obj, std::string_view key, int64_t missing = 0);
/// obj[key] when it is a boolean, else false.
bool BoolField(const Json* obj, std::string_view key);
/// The body's "location" when present and >= 0, else -1.
int LocationOf(const Json* body);
/// The smallest location anywhere in the subtree, or -1. Depth-limited.
int MinLocation(const Json* j);
/// The value of a {"String": {"sval": ...}} node; nullopt for any other node.
std::optional<std::string_view> StringNodeValue(const Json* j);
/// The list of names in a name list such as funcname or TypeName.names ([{"String"...}, ...]);
/// nullopt when an element is not a String node.
std::optional<std::vector<std::string_view>> NameList(const Json* list);

/// Reads an integer constant back from the text at byte `location`: optional '-' signs
/// (with blanks and '(' between them) and then decimal digits. Used when libpg_query's JSON left
/// the value out. nullopt when the text there is not such a number or does not fit in int64.
std::optional<int64_t> RecoverInteger(const SourceText& source, int location);

}  // namespace sluice::sql
