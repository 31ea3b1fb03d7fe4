// SourceText and StatementContext: turn byte offsets in a pipeline file into the planner's
// error format.
//
// Every planner error is Status::InvalidArgument with the message
//
//   line L, column C: <message>
//   <the source line>
//   <spaces>^
//
// L and C are 1-based; C counts characters (UTF-8 code points), so the caret sits under the
// offending character even after non-ASCII text. Tabs before the caret are kept as tabs so the
// caret lines up in a terminal.
//
// Internal to sql/. Thread-safety: immutable after construction; safe to share.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::sql {

/// A borrowed view of a pipeline file's text with position helpers.
/// REQUIRES: the viewed text outlives the SourceText.
class SourceText {
 public:
  explicit SourceText(std::string_view text) : text_(text) {}

  std::string_view text() const { return text_; }
  int size() const { return static_cast<int>(text_.size()); }

  /// 1-based line and column (in characters) of byte `offset`, clamped into [0, size()].
  struct Position {
    int line = 1;
    int column = 1;
  };
  Position PositionOf(int offset) const;

  /// InvalidArgument in the format above. An offset past the end points just after the last
  /// non-blank character ("at end of input"); a negative offset points at the start.
  Status ErrorAt(int offset, std::string_view message) const;

  /// Byte offset of a 1-based character position, as libpg_query's `cursorpos` reports it.
  /// Invalid UTF-8 counts one character per non-continuation byte. Clamped into [0, size()].
  int OffsetOfCharPos(int char_pos) const;

  /// First offset in [offset, end) that is not whitespace or inside a `--` or `/* */` comment;
  /// `end` when there is none.
  int SkipSpaceAndComments(int offset, int end) const;

  /// The last offset in [begin, end) where `keyword` (ASCII, case-insensitive) occurs as a whole
  /// word, or -1. Strings and comments are not skipped: use only to place a caret.
  int FindKeyword(std::string_view keyword, int begin, int end) const;

 private:
  std::string_view text_;
};

/// Where errors of the statement being planned point when a node has no location.
/// Borrowed SourceText; REQUIRES: it outlives the context.
class StatementContext {
 public:
  StatementContext(const SourceText& source, int statement_start)
      : source_(&source), statement_start_(statement_start) {}

  const SourceText& source() const { return *source_; }
  int statement_start() const { return statement_start_; }

  /// InvalidArgument at byte `location`, or at the statement start when `location` < 0.
  Status Error(int location, std::string_view message) const {
    return source_->ErrorAt(location >= 0 ? location : statement_start_, message);
  }

 private:
  const SourceText* source_;
  int statement_start_;
};

/// Length of the valid UTF-8 sequence starting at byte `i` of `s` (1 to 4), or 0 when the bytes
/// there are not valid UTF-8 (overlong forms, surrogates and truncated sequences included).
/// REQUIRES: i < s.size().
int Utf8SequenceLength(std::string_view s, size_t i);

/// Byte offset of the first invalid UTF-8 sequence in `s`, or -1 when all of it is valid.
int FindInvalidUtf8(std::string_view s);

/// Quotes an SQL identifier when PostgreSQL would need quotes to read it back with this exact
/// spelling: "Name" stays quoted, name does not. Doubles embedded '"'.
std::string QuoteIdent(std::string_view name);

/// ASCII lower-casing, as PostgreSQL folds unquoted identifiers.
std::string AsciiLower(std::string_view s);

/// `s` without leading and trailing ASCII whitespace.
std::string_view TrimSpace(std::string_view s);

/// Quotes an SQL string literal: O'Brien → 'O''Brien'.
std::string QuoteLiteral(std::string_view text);

}  // namespace sluice::sql
