#include "sql/source_text.h"

#include <algorithm>
#include <cctype>

namespace sluice::sql {
namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool IsWordChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

}  // namespace

SourceText::Position SourceText::PositionOf(int offset) const {
  offset = std::clamp(offset, 0, size());
  Position pos;
  int line_start = 0;
  for (int i = 0; i < offset; ++i) {
    if (text_[i] == '\n') {
      ++pos.line;
      line_start = i + 1;
    }
  }
  for (int i = line_start; i < offset; ++i) {
    if (!IsContinuationByte(text_[i])) ++pos.column;
  }
  return pos;
}

Status SourceText::ErrorAt(int offset, std::string_view message) const {
  if (offset >= size()) {
    // "At end of input": point just after the last token rather than at a blank last line.
    offset = size();
    while (offset > 0 && IsSpace(text_[offset - 1])) --offset;
  }
  offset = std::max(offset, 0);
  // Never point into the middle of a UTF-8 sequence.
  while (offset > 0 && offset < size() && IsContinuationByte(text_[offset])) --offset;
  Position pos = PositionOf(offset);
  int line_start = offset;
  while (line_start > 0 && text_[line_start - 1] != '\n') --line_start;
  int line_end = offset;
  while (line_end < size() && text_[line_end] != '\n') ++line_end;
  std::string_view line = text_.substr(line_start, line_end - line_start);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

  std::string out = "line " + std::to_string(pos.line) + ", column " + std::to_string(pos.column) + ": ";
  out.append(message);
  out.push_back('\n');
  // Show invalid UTF-8 (which the parser rejects anyway) as '?' so the message stays printable.
  for (size_t i = 0; i < line.size();) {
    int n = Utf8SequenceLength(line, i);
    if (n == 0) {
      out.push_back('?');
      ++i;
    } else {
      out.append(line.substr(i, static_cast<size_t>(n)));
      i += static_cast<size_t>(n);
    }
  }
  out.push_back('\n');
  for (int i = line_start; i < offset; ++i) {
    if (text_[i] == '\t') {
      out.push_back('\t');
    } else if (!IsContinuationByte(text_[i])) {
      out.push_back(' ');
    }
  }
  out.push_back('^');
  return Status::InvalidArgument(std::move(out));
}

int SourceText::OffsetOfCharPos(int char_pos) const {
  int chars = 0;
  for (int i = 0; i < size(); ++i) {
    if (IsContinuationByte(text_[i])) continue;
    ++chars;
    if (chars == char_pos) return i;
  }
  return size();
}

int SourceText::SkipSpaceAndComments(int offset, int end) const {
  end = std::min(end, size());
  int i = std::max(offset, 0);
  while (i < end) {
    if (IsSpace(text_[i])) {
      ++i;
    } else if (text_[i] == '-' && i + 1 < end && text_[i + 1] == '-') {
      while (i < end && text_[i] != '\n') ++i;
    } else if (text_[i] == '/' && i + 1 < end && text_[i + 1] == '*') {
      // PostgreSQL block comments nest.
      int depth = 0;
      while (i < end) {
        if (text_[i] == '/' && i + 1 < end && text_[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (text_[i] == '*' && i + 1 < end && text_[i + 1] == '/') {
          --depth;
          i += 2;
          if (depth == 0) break;
        } else {
          ++i;
        }
      }
    } else {
      return i;
    }
  }
  return end;
}

int SourceText::FindKeyword(std::string_view keyword, int begin, int end) const {
  begin = std::max(begin, 0);
  end = std::min(end, size());
  const int n = static_cast<int>(keyword.size());
  if (n == 0) return -1;
  for (int i = end - n; i >= begin; --i) {
    bool match = true;
    for (int k = 0; k < n && match; ++k) {
      match = std::tolower(static_cast<unsigned char>(text_[i + k])) ==
              std::tolower(static_cast<unsigned char>(keyword[k]));
    }
    if (!match) continue;
    if (i > 0 && IsWordChar(text_[i - 1])) continue;
    if (i + n < size() && IsWordChar(text_[i + n])) continue;
    return i;
  }
  return -1;
}

int Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  auto cont = [&](size_t k) { return (byte(k) & 0xC0) == 0x80; };
  unsigned c = byte(i);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned hi = c == 0xED ? 0x9F : 0xBF;
    return byte(i + 1) >= lo && byte(i + 1) <= hi && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned hi = c == 0xF4 ? 0x8F : 0xBF;
    return byte(i + 1) >= lo && byte(i + 1) <= hi && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

int FindInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    int n = Utf8SequenceLength(s, i);
    if (n == 0) return static_cast<int>(i);
    i += static_cast<size_t>(n);
  }
  return -1;
}

std::string QuoteIdent(std::string_view name) {
  bool plain = !name.empty() && (std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_');
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '_')) {
      plain = false;
    }
  }
  if (plain) return std::string(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace sluice::sql
