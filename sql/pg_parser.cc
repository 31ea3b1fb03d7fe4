#include "sql/pg_parser.h"

#include <pg_query.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace sluice::sql {
namespace {

constexpr int kMaxTreeDepth = 20000;

bool IsWordStart(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool IsWordChar(unsigned char c) { return std::isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

// Counts tokens per ';'-separated statement with a lexer that mirrors PostgreSQL's for quoting:
// '…' (and E'…' with backslash escapes), "…", $tag$…$tag$, -- and nested /* */ comments.
// Returns the start offset of the first statement with more than kMaxTokensPerStatement tokens,
// or -1. Anything it does not recognise counts as one token per byte, so it never undercounts.
int FindOverlongStatement(std::string_view s) {
  const size_t n = s.size();
  size_t i = 0;
  size_t statement_start = 0;
  int tokens = 0;
  auto skip_quoted = [&](char quote, bool backslash_escapes) {
    ++i;  // opening quote
    while (i < n) {
      if (backslash_escapes && s[i] == '\\') {
        i += 2;
      } else if (s[i] == quote) {
        if (i + 1 < n && s[i + 1] == quote) {
          i += 2;
        } else {
          ++i;
          return;
        }
      } else {
        ++i;
      }
    }
  };
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isspace(c)) {
      ++i;
      continue;
    }
    if (c == '-' && i + 1 < n && s[i + 1] == '-') {
      while (i < n && s[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      int depth = 0;
      while (i < n) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
      continue;
    }
    if (c == ';') {
      ++i;
      statement_start = i;
      tokens = 0;
      continue;
    }
    if (++tokens > kMaxTokensPerStatement) return static_cast<int>(statement_start);
    if ((c == 'e' || c == 'E') && i + 1 < n && s[i + 1] == '\'') {
      ++i;
      skip_quoted('\'', /*backslash_escapes=*/true);
    } else if (c == '\'') {
      skip_quoted('\'', false);
    } else if (c == '"') {
      skip_quoted('"', false);
    } else if (c == '$' && i + 1 < n && !std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      // $tag$ … $tag$, where tag is empty or an identifier.
      size_t j = i + 1;
      while (j < n && IsWordChar(static_cast<unsigned char>(s[j])) && s[j] != '$') ++j;
      if (j < n && s[j] == '$') {
        std::string_view delim = s.substr(i, j - i + 1);
        size_t close = s.find(delim, j + 1);
        i = close == std::string_view::npos ? n : close + delim.size();
      } else {
        ++i;
      }
    } else if (IsWordStart(c) || std::isdigit(c)) {
      while (i < n && (IsWordChar(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    } else {
      ++i;  // operator or punctuation: one token per byte
    }
  }
  return -1;
}

int MinLocationRec(const Json* j, int depth) {
  if (j == nullptr || depth > kMaxTreeDepth) return -1;
  int best = -1;
  auto take = [&](int loc) {
    if (loc >= 0 && (best < 0 || loc < best)) best = loc;
  };
  if (j->is_object()) {
    for (auto it = j->begin(); it != j->end(); ++it) {
      if (it.key() == "location" && it.value().is_number_integer()) {
        int64_t v = it.value().get<int64_t>();
        if (v >= 0 && v <= INT32_MAX) take(static_cast<int>(v));
      } else if (it.value().is_structured()) {
        take(MinLocationRec(&it.value(), depth + 1));
      }
    }
  } else if (j->is_array()) {
    for (const Json& e : *j) {
      if (e.is_structured()) take(MinLocationRec(&e, depth + 1));
    }
  }
  return best;
}

}  // namespace

Result<std::vector<ParsedStatement>> ParseSql(const SourceText& source) {
  std::string_view text = source.text();
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return source.ErrorAt(static_cast<int>(nul), "unexpected NUL byte in SQL text");
  }
  if (int bad = FindInvalidUtf8(text); bad >= 0) {
    return source.ErrorAt(bad, "invalid UTF-8 byte sequence in SQL text");
  }
  if (int at = FindOverlongStatement(text); at >= 0) {
    return source.ErrorAt(source.SkipSpaceAndComments(at, source.size()),
                          "statement is too long (more than " + std::to_string(kMaxTokensPerStatement) +
                              " tokens)");
  }

  std::string owned(text);
  PgQueryParseResult result = pg_query_parse(owned.c_str());
  if (result.error != nullptr) {
    std::string message = result.error->message != nullptr ? result.error->message : "syntax error";
    int cursor = result.error->cursorpos;
    pg_query_free_parse_result(result);
    int offset = cursor > 0 ? source.OffsetOfCharPos(cursor) : 0;
    return source.ErrorAt(offset, message);
  }
  Json root = Json::parse(result.parse_tree != nullptr ? result.parse_tree : "", nullptr,
                          /*allow_exceptions=*/false);
  pg_query_free_parse_result(result);
  if (root.is_discarded() || !root.is_object()) {
    return source.ErrorAt(0, "internal error: libpg_query returned an unreadable parse tree");
  }

  std::vector<ParsedStatement> statements;
  auto stmts = root.find("stmts");
  if (stmts == root.end()) return statements;  // only blanks and comments
  if (!stmts->is_array()) return source.ErrorAt(0, "internal error: parse tree without a statement list");
  for (Json& raw : *stmts) {
    if (!raw.is_object()) continue;
    int64_t location = IntField(&raw, "stmt_location", 0);
    int64_t length = IntField(&raw, "stmt_len", 0);
    location = std::clamp<int64_t>(location, 0, source.size());
    int64_t end = length > 0 ? location + length : source.size();
    end = std::clamp<int64_t>(end, location, source.size());
    ParsedStatement st;
    st.start = source.SkipSpaceAndComments(static_cast<int>(location), static_cast<int>(end));
    st.end = static_cast<int>(end);
    while (st.end > st.start && std::isspace(static_cast<unsigned char>(text[st.end - 1]))) --st.end;
    auto node = raw.find("stmt");
    if (node != raw.end()) st.node = std::move(*node);
    statements.push_back(std::move(st));
  }
  return statements;
}

PgNode AsNode(const Json* j) {
  PgNode node;
  if (j == nullptr || !j->is_object() || j->size() != 1) return node;
  auto it = j->begin();
  if (!it.value().is_object()) return node;
  node.tag = it.key();
  node.body = &it.value();
  return node;
}

const Json* Field(const Json* obj, std::string_view key) {
  if (obj == nullptr || !obj->is_object()) return nullptr;
  auto it = obj->find(key);
  return it == obj->end() ? nullptr : &*it;
}

const Json* ListField(const Json* obj, std::string_view key) {
  const Json* f = Field(obj, key);
  return f != nullptr && f->is_array() && !f->empty() ? f : nullptr;
}

std::string_view StringField(const Json* obj, std::string_view key) {
  const Json* f = Field(obj, key);
  if (f == nullptr || !f->is_string()) return {};
  return f->get_ref<const std::string&>();
}

int64_t IntField(const Json* obj, std::string_view key, int64_t missing) {
  const Json* f = Field(obj, key);
  if (f == nullptr || !f->is_number_integer()) return missing;
  return f->get<int64_t>();
}

bool BoolField(const Json* obj, std::string_view key) {
  const Json* f = Field(obj, key);
  return f != nullptr && f->is_boolean() && f->get<bool>();
}

int LocationOf(const Json* body) {
  int64_t loc = IntField(body, "location", -1);
  return loc >= 0 && loc <= INT32_MAX ? static_cast<int>(loc) : -1;
}

int MinLocation(const Json* j) { return MinLocationRec(j, 0); }

std::optional<std::string_view> StringNodeValue(const Json* j) {
  PgNode node = AsNode(j);
  if (!node.Is("String")) return std::nullopt;
  return StringField(node.body, "sval");
}

std::optional<std::vector<std::string_view>> NameList(const Json* list) {
  if (list == nullptr || !list->is_array()) return std::nullopt;
  std::vector<std::string_view> names;
  for (const Json& e : *list) {
    auto s = StringNodeValue(&e);
    if (!s) return std::nullopt;
    names.push_back(*s);
  }
  return names;
}

std::optional<int64_t> RecoverInteger(const SourceText& source, int location) {
  std::string_view s = source.text();
  if (location < 0 || location >= source.size()) return std::nullopt;
  size_t i = static_cast<size_t>(location);
  bool negative = false;
  while (i < s.size() && (s[i] == '-' || s[i] == '(' || std::isspace(static_cast<unsigned char>(s[i])))) {
    if (s[i] == '-') {
      if (i + 1 < s.size() && s[i + 1] == '-') return std::nullopt;  // a comment, not two signs
      negative = !negative;
    }
    ++i;
  }
  size_t start = i;
  uint64_t magnitude = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    constexpr uint64_t kLimit = static_cast<uint64_t>(INT64_MAX) + 1;
    const uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (magnitude > (kLimit - digit) / 10) return std::nullopt;
    magnitude = magnitude * 10 + digit;
    ++i;
  }
  if (i == start) return std::nullopt;
  if (i < s.size() && (s[i] == '.' || s[i] == 'e' || s[i] == 'E' || IsWordChar(static_cast<unsigned char>(s[i])))) {
    return std::nullopt;
  }
  if (negative) {
    return magnitude == static_cast<uint64_t>(INT64_MAX) + 1 ? INT64_MIN : -static_cast<int64_t>(magnitude);
  }
  if (magnitude > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(magnitude);
}

}  // namespace sluice::sql
