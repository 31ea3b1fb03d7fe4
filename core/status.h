// Status and Result<T>: how every Sluice function reports failure.
//
// Project code never throws. A function that can fail returns Status (no value) or Result<T>
// (a value or a Status). Codes say whether a retry can help (see Status::retryable()).
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace sluice {

/// Error categories. Stable: they map to HTTP statuses and AWS error types in ingest/http.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    ///< The caller's input is malformed or out of range. Retry won't help.
  kNotFound,           ///< A named stream, shard, table or file does not exist.
  kAlreadyExists,      ///< Creating something that is already there.
  kCorruption,         ///< Stored bytes failed a CRC or a length check.
  kIOError,            ///< The operating system refused a file or socket operation.
  kResourceExhausted,  ///< A limit or budget was hit (throughput, memory, disk). Retry later.
  kUnavailable,        ///< The component is shutting down or not started. Retry later.
  kOutOfRange,         ///< A position past the end (an iterator beyond the tip, say).
  kInternal,           ///< A bug: an invariant did not hold.
};

/// Returns the enum name without the leading 'k', for logs ("InvalidArgument").
const char* StatusCodeName(StatusCode code);

/// The outcome of an operation: OK, or a code with a human-readable message.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  /// Factories, one per StatusCode; `m` is the human-readable message.
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  /// True when the same call may succeed later (ResourceExhausted, Unavailable, IOError).
  bool retryable() const {
    return code_ == StatusCode::kResourceExhausted || code_ == StatusCode::kUnavailable ||
           code_ == StatusCode::kIOError;
  }
  /// "OK" or "<CodeName>: <message>".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

/// A value of type T or a non-OK Status.
/// REQUIRES: value() only when ok(); status() is OK when a value is held.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sluice

/// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define SLUICE_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::sluice::Status _st = (expr);            \
    if (!_st.ok()) return _st;                \
  } while (0)

#define SLUICE_CONCAT_INNER(a, b) a##b
#define SLUICE_CONCAT(a, b) SLUICE_CONCAT_INNER(a, b)
/// `SLUICE_ASSIGN_OR_RETURN(auto x, F())`: binds the value or returns the Status.
#define SLUICE_ASSIGN_OR_RETURN(lhs, expr)                                  \
  auto SLUICE_CONCAT(_res_, __LINE__) = (expr);                             \
  if (!SLUICE_CONCAT(_res_, __LINE__).ok())                                 \
    return SLUICE_CONCAT(_res_, __LINE__).status();                         \
  lhs = std::move(SLUICE_CONCAT(_res_, __LINE__)).value()
